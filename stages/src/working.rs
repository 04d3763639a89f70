//! The working image: `decode` writes it as three working columns (RGB8 pixels,
//! width, height) that later stages read and that are never stored.

use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, UInt32Builder};
use arrow_array::{Array, ArrayRef, BinaryArray, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType, Field};
use facet_engine::StageError;

pub const IMAGE: &str = "_image";
pub const IMAGE_WIDTH: &str = "_image_width";
pub const IMAGE_HEIGHT: &str = "_image_height";

/// The three columns, as `plan` declares them.
pub fn fields() -> Vec<Field> {
    vec![
        Field::new(IMAGE, DataType::Binary, true),
        Field::new(IMAGE_WIDTH, DataType::UInt32, true),
        Field::new(IMAGE_HEIGHT, DataType::UInt32, true),
    ]
}

/// An RGB8 image, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Rgb {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

/// A borrowed view of one row's working image.
#[derive(Debug, Clone, Copy)]
pub struct RgbRef<'a> {
    pub width: u32,
    pub height: u32,
    pub pixels: &'a [u8],
}

impl Rgb {
    pub fn as_ref(&self) -> RgbRef<'_> {
        RgbRef {
            width: self.width,
            height: self.height,
            pixels: &self.pixels,
        }
    }
}

/// Builds the working columns, row by row (`None` for failed rows).
#[derive(Default)]
pub struct Builder {
    pixels: BinaryBuilder,
    width: UInt32Builder,
    height: UInt32Builder,
}

impl Builder {
    pub fn push(&mut self, image: Option<&Rgb>) {
        match image {
            Some(i) => {
                self.pixels.append_value(&i.pixels);
                self.width.append_value(i.width);
                self.height.append_value(i.height);
            }
            None => {
                self.pixels.append_null();
                self.width.append_null();
                self.height.append_null();
            }
        }
    }

    pub fn finish(mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.pixels.finish()),
            Arc::new(self.width.finish()),
            Arc::new(self.height.finish()),
        ]
    }
}

/// Reads the working columns of a batch.
pub struct Images<'a> {
    pixels: &'a BinaryArray,
    width: &'a UInt32Array,
    height: &'a UInt32Array,
}

impl<'a> Images<'a> {
    pub fn of(batch: &'a RecordBatch) -> Result<Self, StageError> {
        Ok(Images {
            pixels: column(batch, IMAGE)?,
            width: column(batch, IMAGE_WIDTH)?,
            height: column(batch, IMAGE_HEIGHT)?,
        })
    }

    pub fn get(&self, row: usize) -> Option<RgbRef<'a>> {
        if self.pixels.is_null(row) {
            return None;
        }
        Some(RgbRef {
            width: self.width.value(row),
            height: self.height.value(row),
            pixels: self.pixels.value(row),
        })
    }
}

/// A typed column of a batch, or an internal error naming it.
pub fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T, StageError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| StageError::Internal(format!("column `{name}` missing or of another type")))
}

/// The `path` column.
pub fn paths(batch: &RecordBatch) -> Result<&StringArray, StageError> {
    column(batch, "path")
}

/// `batch` with `columns` appended.
pub fn with_columns(
    batch: RecordBatch,
    fields: Vec<Field>,
    columns: Vec<ArrayRef>,
) -> Result<RecordBatch, StageError> {
    facet_engine::with_columns(batch, fields, columns)
        .map_err(|e| StageError::Internal(format!("adding columns: {e}")))
}

/// The field of a stored column, as `schemas/` declares it.
pub fn photos_field(name: &str) -> Field {
    facet_schemas::photos()
        .column(name)
        .unwrap_or_else(|| panic!("photos.{name} is not declared in schemas/"))
        .field()
}
