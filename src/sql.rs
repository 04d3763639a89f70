//! `facet sql`: DataFusion over the store, printed as a table, CSV or JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use arrow::array::RecordBatch;
use clap::{Args, ValueEnum};

#[derive(Args)]
pub struct SqlArgs {
    /// The query, e.g. "SELECT camera_model, count(*) FROM photos GROUP BY 1".
    query: String,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    #[arg(long)]
    store: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Csv,
    Json,
}

pub fn sql(args: SqlArgs) -> Result<ExitCode> {
    let dir = args
        .store
        .unwrap_or_else(|| PathBuf::from(crate::DEFAULT_STORE));
    let rt = tokio::runtime::Runtime::new()?;
    let store = crate::open_store(&dir)?;
    let (schema, batches) = match rt.block_on(store.sql(&args.query)) {
        Ok(r) => r,
        Err(facet_store::StoreError::Query(msg)) => {
            eprintln!("error: {msg}");
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e.into()),
    };
    let mut out = std::io::stdout().lock();
    write(&mut out, args.format, &schema, &batches)?;
    Ok(ExitCode::SUCCESS)
}

fn write(
    out: &mut impl std::io::Write,
    format: Format,
    schema: &arrow::datatypes::SchemaRef,
    batches: &[RecordBatch],
) -> Result<()> {
    match format {
        Format::Table => {
            let empty = [RecordBatch::new_empty(schema.clone())];
            let shown = if batches.is_empty() {
                &empty[..]
            } else {
                batches
            };
            writeln!(
                out,
                "{}",
                arrow::util::pretty::pretty_format_batches(shown)?
            )?;
        }
        Format::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            if batches.is_empty() {
                w.write(&RecordBatch::new_empty(schema.clone()))?;
            }
            for b in batches {
                w.write(b)?;
            }
        }
        Format::Json => {
            let mut w = arrow::json::ArrayWriter::new(&mut *out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
            writeln!(out)?;
        }
    }
    Ok(())
}
