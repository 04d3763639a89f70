//! Small helpers over Arrow record batches shared by the engine, the stages and the binary.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, Field, Schema};

/// `batch` with `columns` (described by `fields`) appended.
pub fn with_columns(
    batch: RecordBatch,
    fields: Vec<Field>,
    columns: Vec<ArrayRef>,
) -> Result<RecordBatch, ArrowError> {
    let mut all_fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut all_columns = batch.columns().to_vec();
    all_fields.extend(fields);
    all_columns.extend(columns);
    RecordBatch::try_new(Arc::new(Schema::new(all_fields)), all_columns)
}
