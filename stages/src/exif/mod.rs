//! `exif`: camera, lens, exposure, capture time and GPS from the photo's
//! metadata (JPEG, TIFF and TIFF-based RAW, HEIF/AVIF, PNG, WebP, JPEG XL),
//! completed from maker notes, XMP and pre-EXIF blocks where exiftool does so.
//! Values agree with exiftool on the photos in `shared/photos`
//! (`tests/it/exif_oracle.rs`; `tests/fixtures/exiftool.json`).

mod extract;
mod legacy;
mod lens_tables;
mod makernote;
mod xmp;

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, Int32Builder, Int64Builder, StringBuilder, TimestampNanosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use facet_engine::{
    BuildCx, Built, Diagnostic, PlanCx, Stage, StageCx, StageError, StageKind, StagePlan,
};
use serde::Deserialize;

pub use extract::{ExifData, extract};

use crate::working::{self, photos_field, with_columns};

pub struct Exif;

/// `with:` of `exif` (no parameters yet).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExifConfig {}

/// The local (wall-clock) time a `date_taken` text shows, offset left out,
/// as nanoseconds since 1970-01-01T00:00:00 (`photos.taken_local`).
/// `date_taken` is `YYYY-MM-DDTHH:MM:SS`, then optional sub-seconds, then an
/// optional UTC offset or `Z`.
pub fn local_time_ns(date_taken: &str) -> Option<i64> {
    let s = date_taken.trim();
    let local = match s.get(19..) {
        Some(rest) => {
            let cut = rest.find(['+', '-', 'Z']).map_or(s.len(), |i| 19 + i);
            &s[..cut]
        }
        None => s,
    };
    chrono::NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()?
        .and_utc()
        .timestamp_nanos_opt()
}

/// The columns this stage writes.
pub const COLUMNS: &[&str] = &[
    "camera_make",
    "camera_model",
    "lens",
    "iso",
    "f_number",
    "shutter_speed",
    "shutter_speed_text",
    "focal_length",
    "focal_length_35mm",
    "date_taken",
    "taken_local",
    "gps_lat",
    "gps_lon",
    "gps_alt",
    "orientation",
];

impl StageKind for Exif {
    const NAME: &'static str = "exif";
    const DOC: &'static str =
        "Reads camera, lens, exposure, capture time and GPS from the photo's metadata.";
    type Config = ExifConfig;

    fn plan(&self, _cfg: &ExifConfig, _cx: &PlanCx) -> Result<StagePlan, Vec<Diagnostic>> {
        Ok(StagePlan {
            reads: vec![photos_field("path")],
            writes: COLUMNS.iter().map(|c| photos_field(c)).collect(),
            bytes_per_photo: 64 << 10,
            ..Default::default()
        })
    }

    fn build(&self, _cfg: &ExifConfig, _cx: &BuildCx) -> Result<Built, StageError> {
        Ok(Built::Transform(Box::new(ExifStage)))
    }
}

struct ExifStage;

#[derive(Default)]
struct Builders {
    make: StringBuilder,
    model: StringBuilder,
    lens: StringBuilder,
    iso: Int64Builder,
    f_number: Float64Builder,
    shutter: Float64Builder,
    shutter_text: StringBuilder,
    focal: Float64Builder,
    focal35: Float64Builder,
    date: StringBuilder,
    taken_local: TimestampNanosecondBuilder,
    lat: Float64Builder,
    lon: Float64Builder,
    alt: Float64Builder,
    orientation: Int32Builder,
}

impl Builders {
    fn push(&mut self, e: &ExifData) {
        self.make.append_option(e.camera_make.as_deref());
        self.model.append_option(e.camera_model.as_deref());
        self.lens.append_option(e.lens.as_deref());
        self.iso.append_option(e.iso);
        self.f_number.append_option(e.f_number);
        self.shutter.append_option(e.shutter_speed);
        self.shutter_text
            .append_option(e.shutter_speed_text.as_deref());
        self.focal.append_option(e.focal_length);
        self.focal35.append_option(e.focal_length_35mm);
        self.date.append_option(e.date_taken.as_deref());
        self.taken_local
            .append_option(e.date_taken.as_deref().and_then(local_time_ns));
        self.lat.append_option(e.gps_lat);
        self.lon.append_option(e.gps_lon);
        self.alt.append_option(e.gps_alt);
        self.orientation.append_option(e.orientation.map(i32::from));
    }

    fn finish(mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.make.finish()),
            Arc::new(self.model.finish()),
            Arc::new(self.lens.finish()),
            Arc::new(self.iso.finish()),
            Arc::new(self.f_number.finish()),
            Arc::new(self.shutter.finish()),
            Arc::new(self.shutter_text.finish()),
            Arc::new(self.focal.finish()),
            Arc::new(self.focal35.finish()),
            Arc::new(self.date.finish()),
            Arc::new(self.taken_local.finish()),
            Arc::new(self.lat.finish()),
            Arc::new(self.lon.finish()),
            Arc::new(self.alt.finish()),
            Arc::new(self.orientation.finish()),
        ]
    }
}

impl Stage for ExifStage {
    fn process(
        &mut self,
        batch: RecordBatch,
        _cx: &mut StageCx,
    ) -> Result<RecordBatch, StageError> {
        let paths = working::paths(&batch)?;
        let mut b = Builders::default();
        for row in 0..batch.num_rows() {
            // Metadata problems never fail a photo: its pixels may still be fine.
            let data = std::fs::read(Path::new(paths.value(row)))
                .ok()
                .and_then(|bytes| extract(&bytes).ok())
                .unwrap_or_default();
            b.push(&data);
        }
        with_columns(
            batch,
            COLUMNS.iter().map(|c| photos_field(c)).collect(),
            b.finish(),
        )
    }
}
