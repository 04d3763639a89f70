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

/// The rows of one child table (see [`facet_schemas::ChildTable`]) taken out
/// of a batch of photos.
pub struct ChildRows {
    pub child: facet_schemas::ChildTable,
    /// The parent keys (photo paths) whose rows these replace: every photo
    /// of the batch, with or without items.
    pub parents: Vec<String>,
    /// One row per item: the key, the parent, then the item's fields.
    pub rows: RecordBatch,
}

/// Splits the nested child-table columns (`faces`) out of a batch of photo
/// rows: the photo rows without them, and per child table its rows, keyed
/// `<path>#<position>`. A null list is a photo without items.
pub fn split_children(batch: RecordBatch) -> Result<(RecordBatch, Vec<ChildRows>), ArrowError> {
    use arrow_array::cast::AsArray;
    use arrow_array::{Array, StringArray};
    let mut children = Vec::new();
    let mut keep_fields = Vec::new();
    let mut keep_columns = Vec::new();
    let schema = batch.schema();
    let parents_of = |name: &str| -> Result<StringArray, ArrowError> {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_string_opt::<i32>())
            .cloned()
            .ok_or_else(|| ArrowError::SchemaError(format!("no utf8 `{name}` column")))
    };
    for (f, c) in schema.fields().iter().zip(batch.columns()) {
        let Some(child) = facet_schemas::child_table(f.name()) else {
            keep_fields.push(f.as_ref().clone());
            keep_columns.push(c.clone());
            continue;
        };
        let parents = parents_of(child.parent)?;
        let list = c.as_list_opt::<i32>().ok_or_else(|| {
            ArrowError::SchemaError(format!("`{}` is not a list column", f.name()))
        })?;
        let mut keys = Vec::new();
        let mut parent_of_row = Vec::new();
        let mut take = Vec::new();
        for row in 0..batch.num_rows() {
            if list.is_null(row) || parents.is_null(row) {
                continue;
            }
            let (start, end) = (list.value_offsets()[row], list.value_offsets()[row + 1]);
            for (pos, item) in (start..end).enumerate() {
                keys.push(format!("{}#{pos}", parents.value(row)));
                parent_of_row.push(parents.value(row).to_string());
                take.push(item as u32);
            }
        }
        let items = arrow_select::take::take(
            list.values().as_ref(),
            &arrow_array::UInt32Array::from(take),
            None,
        )?;
        let items = items.as_struct_opt().ok_or_else(|| {
            ArrowError::SchemaError(format!("`{}` is not a list of structs", f.name()))
        })?;
        let mut fields = vec![
            child
                .table
                .column(child.table.key)
                .expect("declared")
                .field(),
            child.table.column(child.parent).expect("declared").field(),
        ];
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(keys)),
            Arc::new(StringArray::from(parent_of_row)),
        ];
        for (sf, sc) in items.fields().iter().zip(items.columns()) {
            fields.push(sf.as_ref().clone());
            columns.push(sc.clone());
        }
        let rows = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
        children.push(ChildRows {
            parents: parents.iter().flatten().map(str::to_string).collect(),
            child,
            rows,
        });
    }
    let photos = RecordBatch::try_new(Arc::new(Schema::new(keep_fields)), keep_columns)?;
    Ok((photos, children))
}

/// The nested column of `child` for a batch of photos: `items` holds one
/// array per item field (all items of all photos, in order) and `lengths`
/// the number of items of each photo (`None`: null, a photo not analysed).
pub fn nest(
    child: &facet_schemas::ChildTable,
    items: Vec<ArrayRef>,
    lengths: &[Option<usize>],
) -> Result<ArrayRef, ArrowError> {
    use arrow_array::{ListArray, StructArray};
    let values = StructArray::try_new(child.item_fields.clone().into(), items, None)?;
    let offsets = arrow_buffer::OffsetBuffer::from_lengths(lengths.iter().map(|l| l.unwrap_or(0)));
    let nulls =
        arrow_buffer::NullBuffer::from(lengths.iter().map(Option::is_some).collect::<Vec<_>>());
    let arrow_schema::DataType::List(item) = child.data_type() else {
        unreachable!("a child column is a list")
    };
    Ok(Arc::new(ListArray::try_new(
        item,
        offsets,
        Arc::new(values),
        Some(nulls),
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::{Array, StringArray, new_null_array};

    #[test]
    fn child_rows_leave_the_photo_rows() {
        let child = facet_schemas::child_table("faces").unwrap();
        // Photo a: two faces; b: not analysed (null); c: one; d: none.
        let lengths = [Some(2), None, Some(1), Some(0)];
        let items: Vec<ArrayRef> = child
            .item_fields
            .iter()
            .map(|f| -> ArrayRef {
                if f.name() == "face_index" {
                    Arc::new(arrow_array::Int32Array::from(vec![0, 1, 0]))
                } else {
                    new_null_array(f.data_type(), 3)
                }
            })
            .collect();
        let faces = nest(&child, items, &lengths).unwrap();
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("path", arrow_schema::DataType::Utf8, false),
                child.field(),
            ])),
            vec![
                Arc::new(StringArray::from(vec!["/a", "/b", "/c", "/d"])),
                faces,
            ],
        )
        .unwrap();
        let (photos, children) = split_children(batch).unwrap();
        assert_eq!(photos.num_columns(), 1, "the nested column left");
        assert_eq!(children.len(), 1);
        let c = &children[0];
        assert_eq!(c.parents, ["/a", "/b", "/c", "/d"]);
        let keys: Vec<&str> = c
            .rows
            .column(0)
            .as_string::<i32>()
            .iter()
            .flatten()
            .collect();
        assert_eq!(keys, ["/a#0", "/a#1", "/c#0"]);
        let idx = c
            .rows
            .column_by_name("face_index")
            .unwrap()
            .as_primitive::<arrow_array::types::Int32Type>();
        assert_eq!(idx.values().to_vec(), [0, 1, 0]);
        assert!(c.rows.column_by_name("box_x").unwrap().is_null(0));
        assert_eq!(
            c.rows
                .column_by_name("path")
                .unwrap()
                .as_string::<i32>()
                .value(2),
            "/c"
        );
    }
}
