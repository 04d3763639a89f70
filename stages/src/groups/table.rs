//! Groups as tables: stored photo columns in, `photo_groups` rows out.

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Int32Builder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
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

/// The `photo_groups` columns of one kind.
fn kind_columns(kind: Kind) -> [String; 4] {
    let k = kind.as_str();
    [
        format!("{k}_group_id"),
        format!("is_{k}_lead"),
        format!("{k}_lead_reason"),
        format!("{k}_size"),
    ]
}

/// One `photo_groups` row per photo (columns as `schemas/` declares them,
/// `grouped_at` and `grouped_with` excepted): a photo outside every group
/// has a row of nulls, which records that it was considered.
pub fn rows(photos: &[Photo], groups: &[Group]) -> Result<RecordBatch, String> {
    #[derive(Default, Clone)]
    struct Slot {
        id: Option<String>,
        lead: bool,
        reason: Option<String>,
        size: Option<i32>,
    }
    const KINDS: usize = Kind::ALL.len();
    let slot_of = |k: Kind| Kind::ALL.iter().position(|&x| x == k).expect("listed");
    let mut slots: Vec<[Slot; KINDS]> = vec![Default::default(); photos.len()];
    for g in groups {
        let k = slot_of(g.kind);
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
    let mut fields = vec![table.column("path").expect("declared").field()];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from_iter_values(
        photos.iter().map(|p| p.path.as_str()),
    ))];
    for kind in Kind::ALL {
        let k = slot_of(kind);
        let mut ids = StringBuilder::new();
        let mut leads = BooleanBuilder::new();
        let mut reasons = StringBuilder::new();
        let mut sizes = Int32Builder::new();
        for s in &slots {
            let s = &s[k];
            ids.append_option(s.id.as_deref());
            leads.append_option(s.id.as_ref().map(|_| s.lead));
            reasons.append_option(s.reason.as_deref());
            sizes.append_option(s.size);
        }
        for name in kind_columns(kind) {
            fields.push(table.column(&name).expect("declared in schemas/").field());
        }
        columns.push(Arc::new(ids.finish()));
        columns.push(Arc::new(leads.finish()));
        columns.push(Arc::new(reasons.finish()));
        columns.push(Arc::new(sizes.finish()));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| e.to_string())
}

/// The groups of stored `photo_groups` rows: kind and member paths.
pub fn stored_groups(b: &RecordBatch) -> Vec<(Kind, Vec<String>)> {
    let paths = strings(b, "path");
    let mut out = Vec::new();
    for kind in Kind::ALL {
        let [id, ..] = kind_columns(kind);
        let mut by_id: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (p, g) in paths.iter().zip(strings(b, &id)) {
            if let (Some(p), Some(g)) = (p, g) {
                by_id.entry(g).or_default().push(p.clone());
            }
        }
        out.extend(by_id.into_values().map(|m| (kind, m)));
    }
    out
}
