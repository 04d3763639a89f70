//! `technical`: the pixel metrics of each photo — sharpness, noise, exposure,
//! contrast, dynamic range, colour, monochrome, leading lines and rule-based
//! composition — computed on the working image downsized to `side` (1024) on
//! its longest side, so that a 24 MP and a 6 MP copy of a photo measure alike.
//! Each metric is the reference's definition (the Python Facet's analyzers
//! with OpenCV 4), so that its thresholds and weights mean what they say;
//! `tests/it/fidelity.rs` compares every stored metric with the reference's
//! own values for `../shared/photos`.
//!
//! Raw values are stored beside the 0–10 scores (and every configurable
//! decision is stored with the value it is made from) so that scores can be
//! recomputed with other settings without decoding any image again.
//! A working image smaller than `side` is measured as it is (never enlarged).
//! The reference measures the photo at its full size: where its definitions
//! use lengths in pixels (the leading lines' blur, Hough votes and gap), they
//! are scaled by the measured image's size / the original's (`width` and
//! `height` from `decode`), see [`lines`]; the other metrics are ratios,
//! histograms or thresholds from the median, and need no scaling.

mod composition;
mod edges;
mod lines;
pub(crate) mod metrics;

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BooleanArray, Float64Array, Int32Array, RecordBatch};
use arrow_schema::DataType;
use facet_config::FacetConfig;
use facet_engine::{
    BuildCx, Built, Diagnostic, PlanCx, Stage, StageCx, StageError, StageKind, StagePlan,
};
use fast_image_resize as fr;
use image::GrayImage;
use serde::Deserialize;

pub use composition::{BBox, Placement, Weights, composition_score, placement, subject_region};
pub use edges::{canny, gaussian_blur};
pub use lines::{HoughParams, Segment, hough_segments, leading_lines_score};
pub use metrics::{Tone, exposure_score, is_silhouette};

use crate::working::{self, Images, RgbRef, photos_field, with_columns};

pub struct Technical;

/// `with:` of `technical`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TechnicalConfig {
    /// Longest side, in pixels, of the image the metrics are computed on; the
    /// working image is downsized to it when larger (default 1024, 64–8192).
    #[serde(default = "default_side")]
    pub side: u32,
}

fn default_side() -> u32 {
    1024
}

impl Default for TechnicalConfig {
    fn default() -> Self {
        TechnicalConfig {
            side: default_side(),
        }
    }
}

/// The stored columns, in the order `schemas/` declares them.
pub const COLUMNS: [&str; 21] = [
    "sharpness",
    "noise_sigma",
    "luminance",
    "histogram_spread",
    "histogram_bimodality",
    "shadow_clipped_fraction",
    "highlight_clipped_fraction",
    "shadow_clipped",
    "highlight_clipped",
    "dark_mass",
    "bright_mass",
    "exposure_score",
    "contrast_score",
    "dynamic_range_stops",
    "color_score",
    "mean_saturation",
    "is_monochrome",
    "leading_lines_score",
    "subject_x",
    "subject_y",
    "composition_score",
];

impl StageKind for Technical {
    const NAME: &'static str = "technical";
    const DOC: &'static str = "Pixel metrics: sharpness, noise, exposure, contrast, colour, monochrome, leading lines, composition.";
    type Config = TechnicalConfig;

    fn plan(&self, cfg: &TechnicalConfig, _cx: &PlanCx) -> Result<StagePlan, Vec<Diagnostic>> {
        if !(64..=8192).contains(&cfg.side) {
            return Err(vec![Diagnostic::new(
                "side",
                format!("{} is out of range 64..=8192", cfg.side),
            )]);
        }
        let mut reads = working::fields();
        // The original's size, which the pixel-size constants scale with.
        reads.extend(["width", "height"].map(photos_field));
        Ok(StagePlan {
            reads,
            writes: COLUMNS.map(photos_field).to_vec(),
            image_side: Some(cfg.side),
            // The stored values; the scratch images (≈ 12 bytes per pixel of
            // the downsized image) are reused from photo to photo.
            bytes_per_photo: 4 << 10,
            ..Default::default()
        })
    }

    fn build(&self, cfg: &TechnicalConfig, cx: &BuildCx) -> Result<Built, StageError> {
        let settings = Settings::of(&cx.config);
        Ok(Built::Transform(Box::new(Analyzer::new(
            cfg.side, settings,
        ))))
    }
}

/// The configuration the metrics' decisions read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// `exposure.shadow_clip_threshold_percent` (15).
    pub shadow_clip_percent: f64,
    /// `exposure.highlight_clip_threshold_percent` (10).
    pub highlight_clip_percent: f64,
    /// `monochrome_detection.saturation_threshold_percent` (5).
    pub monochrome_saturation_percent: f64,
    /// `composition.power_point_weight` (2.0), `composition.line_weight` (1.0).
    pub composition: Weights,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            shadow_clip_percent: 15.0,
            highlight_clip_percent: 10.0,
            monochrome_saturation_percent: 5.0,
            composition: Weights::default(),
        }
    }
}

impl Settings {
    /// The settings of a configuration (`exposure`, `monochrome_detection`, `composition`).
    pub fn of(config: &FacetConfig) -> Settings {
        Settings {
            shadow_clip_percent: config.exposure.shadow_clip_threshold_percent,
            highlight_clip_percent: config.exposure.highlight_clip_threshold_percent,
            monochrome_saturation_percent: config.monochrome_detection.saturation_threshold_percent,
            composition: Weights {
                power_point: config.composition.power_point_weight,
                line: config.composition.line_weight,
            },
        }
    }
}

/// Every metric of one photo.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    pub sharpness: f64,
    pub noise_sigma: f64,
    pub tone: Tone,
    pub shadow_clipped: bool,
    pub highlight_clipped: bool,
    pub exposure_score: f64,
    pub contrast_score: f64,
    pub dynamic_range_stops: f64,
    pub color_score: f64,
    pub mean_saturation: f64,
    pub is_monochrome: bool,
    pub leading_lines_score: f64,
    /// Centre of the subject's box, 0–1; `None` without a subject.
    pub subject: Option<(f64, f64)>,
    pub composition_score: f64,
}

/// One stored value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell {
    F(f64),
    B(bool),
    /// A float column's null (no subject, say).
    Null,
}

impl Metrics {
    /// The values of [`COLUMNS`], in order.
    pub fn cells(&self) -> [Cell; 21] {
        use Cell::{B, F, Null};
        let t = &self.tone;
        let (subject_x, subject_y) = match self.subject {
            Some((x, y)) => (F(x), F(y)),
            None => (Null, Null),
        };
        [
            F(self.sharpness),
            F(self.noise_sigma),
            F(t.luminance),
            F(t.spread),
            F(t.bimodality),
            F(t.shadow),
            F(t.highlight),
            B(self.shadow_clipped),
            B(self.highlight_clipped),
            F(t.dark),
            F(t.bright),
            F(self.exposure_score),
            F(self.contrast_score),
            F(self.dynamic_range_stops),
            F(self.color_score),
            F(self.mean_saturation),
            B(self.is_monochrome),
            F(self.leading_lines_score),
            subject_x,
            subject_y,
            F(self.composition_score),
        ]
    }
}

/// The built stage: settings plus scratch buffers reused from photo to photo.
pub struct Analyzer {
    side: u32,
    settings: Settings,
    resizer: fr::Resizer,
    resized: Vec<u8>,
    grey: Vec<u8>,
    tables: metrics::HsvTables,
    stats: metrics::PixelStats,
}

impl Analyzer {
    pub fn new(side: u32, settings: Settings) -> Self {
        Analyzer {
            side,
            settings,
            resizer: fr::Resizer::new(),
            resized: Vec::new(),
            grey: Vec::new(),
            tables: metrics::HsvTables::default(),
            stats: metrics::PixelStats::default(),
        }
    }

    /// The metrics of an image that is the original photo.
    pub fn measure(&mut self, img: RgbRef<'_>) -> Result<Metrics, String> {
        self.measure_of(img, None)
    }

    /// The metrics of one working image of a photo whose original is
    /// `original` (width, height; `None`: the working image is the
    /// original); `Err` is why it cannot be measured.
    pub fn measure_of(
        &mut self,
        img: RgbRef<'_>,
        original: Option<(u32, u32)>,
    ) -> Result<Metrics, String> {
        let (w, h) = (img.width, img.height);
        if w == 0 || h == 0 {
            return Err("empty working image".into());
        }
        if img.pixels.len() != w as usize * h as usize * 3 {
            return Err(format!(
                "working image has {} bytes for {w}×{h} RGB",
                img.pixels.len()
            ));
        }
        let longest = w.max(h);
        let (w, h) = if longest > self.side {
            let f = self.side as f64 / longest as f64;
            let nw = ((w as f64 * f).round() as u32).max(1);
            let nh = ((h as f64 * f).round() as u32).max(1);
            let src = fr::images::ImageRef::new(w, h, img.pixels, fr::PixelType::U8x3)
                .map_err(|e| e.to_string())?;
            let mut buf = std::mem::take(&mut self.resized);
            buf.resize(nw as usize * nh as usize * 3, 0);
            let mut dst = fr::images::Image::from_vec_u8(nw, nh, buf, fr::PixelType::U8x3)
                .map_err(|e| e.to_string())?;
            let opts = fr::ResizeOptions::new()
                .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Bilinear));
            self.resizer
                .resize(&src, &mut dst, &opts)
                .map_err(|e| e.to_string())?;
            self.resized = dst.into_vec();
            self.stats.scan(&self.resized, &self.tables, &mut self.grey);
            (nw, nh)
        } else {
            self.stats.scan(img.pixels, &self.tables, &mut self.grey);
            (w, h)
        };
        let grey = GrayImage::from_raw(w, h, std::mem::take(&mut self.grey))
            .ok_or("grey image of the wrong size")?;
        // Measured size / the original's, on the longest side.
        let original_longest = original
            .map(|(ow, oh)| ow.max(oh))
            .filter(|&l| l > 0)
            .unwrap_or(longest);
        let scale = (w.max(h) as f64 / original_longest as f64).min(1.0);
        let m = self.metrics(&grey, scale);
        self.grey = grey.into_raw();
        Ok(m)
    }

    /// The metrics of the grey image, `scale` × the original's size.
    fn metrics(&self, grey: &GrayImage, scale: f64) -> Metrics {
        let s = &self.settings;
        let tone = metrics::tone(&self.stats.grey_hist);
        let mean_saturation = self.stats.mean_saturation();
        let segments = lines::segments(grey, scale);
        let subject = subject_region(grey).map(|b| b.centre(grey.width(), grey.height()));
        Metrics {
            sharpness: metrics::laplacian_variance(grey),
            noise_sigma: metrics::noise_sigma(grey),
            tone,
            shadow_clipped: tone.shadow * 100.0 > s.shadow_clip_percent,
            highlight_clipped: tone.highlight * 100.0 > s.highlight_clip_percent,
            exposure_score: exposure_score(&tone),
            contrast_score: metrics::contrast_score(&tone),
            dynamic_range_stops: metrics::dynamic_range_stops(&tone),
            color_score: metrics::color_score(self.stats.hue_sat_entropy()),
            mean_saturation,
            is_monochrome: mean_saturation * 100.0 < s.monochrome_saturation_percent,
            leading_lines_score: leading_lines_score(&segments, grey.width(), grey.height()),
            subject,
            composition_score: composition_score(subject, s.composition),
        }
    }
}

impl Stage for Analyzer {
    fn process(&mut self, batch: RecordBatch, cx: &mut StageCx) -> Result<RecordBatch, StageError> {
        let images = Images::of(&batch)?;
        let size = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<Int32Array>().cloned())
        };
        let (widths, heights) = (size("width"), size("height"));
        let original = |row: usize| match (&widths, &heights) {
            (Some(w), Some(h)) if w.is_valid(row) && h.is_valid(row) => {
                Some((w.value(row).max(0) as u32, h.value(row).max(0) as u32))
            }
            _ => None,
        };
        let mut rows: Vec<Option<[Cell; 21]>> = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            let measured = images
                .get(row)
                .map(|img| self.measure_of(img, original(row)));
            rows.push(match measured {
                Some(Ok(m)) => Some(m.cells()),
                Some(Err(reason)) => {
                    cx.fail(row, reason);
                    None
                }
                None => None,
            });
        }
        let fields: Vec<_> = COLUMNS.iter().map(|c| photos_field(c)).collect();
        let columns: Vec<ArrayRef> = fields
            .iter()
            .enumerate()
            .map(|(i, f)| -> ArrayRef {
                let cell = |r: &Option<[Cell; 21]>| r.map(|c| c[i]);
                match f.data_type() {
                    DataType::Boolean => Arc::new(
                        rows.iter()
                            .map(|r| match cell(r) {
                                Some(Cell::B(b)) => Some(b),
                                _ => None,
                            })
                            .collect::<BooleanArray>(),
                    ),
                    _ => Arc::new(
                        rows.iter()
                            .map(|r| match cell(r) {
                                Some(Cell::F(v)) => Some(v),
                                _ => None,
                            })
                            .collect::<Float64Array>(),
                    ),
                }
            })
            .collect();
        with_columns(batch, fields, columns)
    }
}

#[cfg(test)]
mod tests;
