//! Groups as tables: stored photo columns in, `photo_groups` rows out.

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Int32Builder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Schema};

use super::{Group, Kind, Photo, parse_taken};
use crate::score::table::f64s;

/// Columns read (from the `photos` view); any may be absent but `path`.
pub const INPUT_COLUMNS: &[&str] = &[
    "path",
    "phash",
    "date_taken",
    "camera_make",
    "camera_model",
    "width",
    "height",
    "format",
    "aggregate",
    "aesthetic",
    "sharpness",
    "embedding",
];

fn strings(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let n = b.num_rows();
    match b
        .column_by_name(name)
        .and_then(|c| c.as_string_opt::<i32>())
    {
        Some(a) => (0..n)
            .map(|i| (!a.is_null(i)).then(|| a.value(i).to_string()))
            .collect(),
        None => vec![None; n],
    }
}

/// The photos of a batch with [`INPUT_COLUMNS`].
pub fn photos_of(b: &RecordBatch) -> Result<Vec<Photo>, String> {
    let paths = strings(b, "path");
    if b.column_by_name("path").is_none() {
        return Err("no `path` column".into());
    }
    let phash: Vec<Option<u64>> = match b.column_by_name("phash") {
        Some(c) if c.data_type() == &DataType::Int64 => {
            let a = c.as_primitive::<Int64Type>();
            (0..b.num_rows())
                .map(|i| (!a.is_null(i)).then(|| a.value(i) as u64))
                .collect()
        }
        _ => vec![None; b.num_rows()],
    };
    let (taken, make, model, format) = (
        strings(b, "date_taken"),
        strings(b, "camera_make"),
        strings(b, "camera_model"),
        strings(b, "format"),
    );
    let (w, h, agg, aes, sharp) = (
        f64s(b, "width"),
        f64s(b, "height"),
        f64s(b, "aggregate"),
        f64s(b, "aesthetic"),
        f64s(b, "sharpness"),
    );
    let emb = b
        .column_by_name("embedding")
        .and_then(|c| c.as_fixed_size_list_opt());
    Ok((0..b.num_rows())
        .map(|i| Photo {
            path: paths[i].clone().unwrap_or_default(),
            phash: phash[i],
            taken: taken[i].as_deref().and_then(parse_taken),
            camera: match (&make[i], &model[i]) {
                (None, None) => None,
                (a, b) => Some(format!(
                    "{} {}",
                    a.as_deref().unwrap_or(""),
                    b.as_deref().unwrap_or("")
                )),
            },
            width: w[i].map(|v| v as i64),
            height: h[i].map(|v| v as i64),
            format: format[i].clone(),
            aggregate: agg[i],
            aesthetic: aes[i],
            sharpness: sharp[i],
            blink: None,
            embedding: emb.filter(|e| !e.is_null(i)).and_then(|e| {
                e.value(i)
                    .as_primitive_opt::<Float32Type>()
                    .map(|v| v.values().to_vec())
            }),
        })
        .collect())
}

/// One `photo_groups` row per photo in any group (columns as `schemas/`
/// declares them, `grouped_at` excepted).
pub fn rows(photos: &[Photo], groups: &[Group]) -> Result<RecordBatch, String> {
    #[derive(Default, Clone)]
    struct Slot {
        id: Option<String>,
        lead: bool,
        reason: Option<String>,
        size: Option<i32>,
    }
    let mut slots: Vec<[Slot; 2]> = vec![Default::default(); photos.len()];
    for g in groups {
        let k = match g.kind {
            Kind::Burst => 0,
            Kind::Duplicate => 1,
        };
        for &m in &g.members {
            let lead = g.leads.contains(&m);
            slots[m][k] = Slot {
                id: Some(g.id.clone()),
                lead,
                reason: lead.then(|| g.reason.clone()),
                size: Some(g.members.len() as i32),
            };
        }
    }
    let table = facet_schemas::photo_groups();
    let mut path = StringBuilder::new();
    let mut ids = [StringBuilder::new(), StringBuilder::new()];
    let mut leads = [BooleanBuilder::new(), BooleanBuilder::new()];
    let mut reasons = [StringBuilder::new(), StringBuilder::new()];
    let mut sizes = [Int32Builder::new(), Int32Builder::new()];
    for (i, s) in slots.iter().enumerate() {
        if s.iter().all(|k| k.id.is_none()) {
            continue;
        }
        path.append_value(&photos[i].path);
        for k in 0..2 {
            ids[k].append_option(s[k].id.as_deref());
            leads[k].append_option(s[k].id.as_ref().map(|_| s[k].lead));
            reasons[k].append_option(s[k].reason.as_deref());
            sizes[k].append_option(s[k].size);
        }
    }
    let [mut bi, mut di] = ids;
    let [mut bl, mut dl] = leads;
    let [mut br, mut dr] = reasons;
    let [mut bs, mut ds] = sizes;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(path.finish()),
        Arc::new(bi.finish()),
        Arc::new(bl.finish()),
        Arc::new(br.finish()),
        Arc::new(bs.finish()),
        Arc::new(di.finish()),
        Arc::new(dl.finish()),
        Arc::new(dr.finish()),
        Arc::new(ds.finish()),
    ];
    let names = [
        "path",
        "burst_group_id",
        "is_burst_lead",
        "burst_lead_reason",
        "burst_size",
        "duplicate_group_id",
        "is_duplicate_lead",
        "duplicate_lead_reason",
        "duplicate_size",
    ];
    let schema = Arc::new(Schema::new(
        names
            .iter()
            .map(|n| table.column(n).expect("declared in schemas/").field())
            .collect::<Vec<_>>(),
    ));
    RecordBatch::try_new(schema, columns).map_err(|e| e.to_string())
}
