//! Arrow rows as JSON objects: numbers stay numbers (NaN and infinities
//! become null), timestamps RFC 3339 strings, lists arrays; binary columns are
//! left out.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float32Type, Float64Type, Int32Type, Int64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::{Map, Value};

/// Whether a column carries bytes or vectors that the JSON API leaves out
/// (thumbnails, embeddings).
pub fn is_blob(t: &DataType) -> bool {
    match t {
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => true,
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => !matches!(
            f.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ),
        _ => false,
    }
}

/// One JSON object per row.
pub fn rows(batches: &[RecordBatch]) -> Vec<Map<String, Value>> {
    let mut out = Vec::new();
    for b in batches {
        let schema = b.schema();
        let columns: Vec<(&str, &dyn Array)> = schema
            .fields()
            .iter()
            .zip(b.columns())
            .filter(|(f, _)| !is_blob(f.data_type()))
            .map(|(f, c)| (f.name().as_str(), c.as_ref()))
            .collect();
        for i in 0..b.num_rows() {
            let mut row = Map::new();
            for (name, c) in &columns {
                row.insert((*name).to_string(), value(*c, i));
            }
            out.push(row);
        }
    }
    out
}

fn float(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// The JSON value of row `i` of `c`.
pub fn value(c: &dyn Array, i: usize) -> Value {
    if c.is_null(i) {
        return Value::Null;
    }
    match c.data_type() {
        DataType::Boolean => Value::Bool(c.as_boolean().value(i)),
        DataType::Int32 => Value::from(c.as_primitive::<Int32Type>().value(i)),
        DataType::Int64 => Value::from(c.as_primitive::<Int64Type>().value(i)),
        DataType::Float32 => float(c.as_primitive::<Float32Type>().value(i) as f64),
        DataType::Float64 => float(c.as_primitive::<Float64Type>().value(i)),
        DataType::Utf8 => Value::from(c.as_string::<i32>().value(i)),
        DataType::LargeUtf8 => Value::from(c.as_string::<i64>().value(i)),
        DataType::Utf8View => Value::from(c.as_string_view().value(i)),
        DataType::List(_) => {
            let l = c.as_list::<i32>().value(i);
            Value::Array((0..l.len()).map(|j| value(l.as_ref(), j)).collect())
        }
        DataType::LargeList(_) => {
            let l = c.as_list::<i64>().value(i);
            Value::Array((0..l.len()).map(|j| value(l.as_ref(), j)).collect())
        }
        _ => match ArrayFormatter::try_new(c, &FormatOptions::default()) {
            Ok(f) => Value::from(f.value(i).to_string()),
            Err(_) => Value::Null,
        },
    }
}

/// The file name of a stored path (either slash).
pub fn filename(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}
