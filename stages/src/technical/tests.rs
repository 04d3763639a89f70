//! Stage-level tests: columns per row, resolution stability, settings.

use std::sync::Arc;

use arrow_array::{Array, BooleanArray, Float64Array, RecordBatch, StringArray};
use arrow_schema::Schema;

use super::*;
use crate::working::{Builder, Rgb};

/// A synthetic landscape, defined on the unit square so that it can be
/// rendered at any resolution: a sky gradient, a textured green ground, a
/// dark diagonal road and a ringed subject near the upper-right power point.
fn scene(w: u32, h: u32) -> Rgb {
    let mut pixels = Vec::with_capacity(w as usize * h as usize * 3);
    let aspect = w as f64 / h as f64;
    for y in 0..h {
        let v = (y as f64 + 0.5) / h as f64;
        for x in 0..w {
            let u = (x as f64 + 0.5) / w as f64;
            let (mut r, mut g, mut b) = if v < 0.55 {
                (90.0 + 120.0 * v, 140.0 + 120.0 * v, 230.0)
            } else {
                let t = 0.5 + 0.5 * (u * 60.0).sin() * (v * 45.0).cos();
                (50.0 + 40.0 * t, 110.0 + 60.0 * t, 40.0 + 20.0 * t)
            };
            // A road, rising to the right.
            let (ax, ay, bx, by) = (0.1, 0.95, 0.42, 0.62);
            let (dx, dy) = (bx - ax, by - ay);
            let s = (((u - ax) * dx + (v - ay) * dy) / (dx * dx + dy * dy)).clamp(0.0, 1.0);
            let dist = ((u - ax - s * dx) * aspect).hypot(v - ay - s * dy);
            if dist < 0.012 {
                (r, g, b) = (35.0, 35.0, 40.0);
            }
            // The subject: a disc with rings.
            let d = ((u - 0.66) * aspect).hypot(v - 0.36);
            if d < 0.09 {
                let stripe = (d * 250.0).sin() > 0.0;
                (r, g, b) = if stripe {
                    (230.0, 200.0, 60.0)
                } else {
                    (120.0, 40.0, 30.0)
                };
            }
            pixels.extend([r as u8, g as u8, b as u8]);
        }
    }
    Rgb {
        width: w,
        height: h,
        pixels,
    }
}

fn batch_of(images: &[Option<&Rgb>]) -> RecordBatch {
    let mut b = Builder::default();
    for i in images {
        b.push(*i);
    }
    let paths: Vec<String> = (0..images.len()).map(|i| format!("/p/{i}.jpg")).collect();
    let mut fields = vec![photos_field("path")];
    fields.extend(working::fields());
    let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from(paths))];
    columns.extend(b.finish());
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

#[test]
fn process_adds_every_column_and_leaves_nulls_without_an_image() {
    let img = scene(300, 200);
    let grey = Rgb {
        width: 120,
        height: 80,
        pixels: vec![100; 120 * 80 * 3],
    };
    let batch = batch_of(&[Some(&img), None, Some(&grey)]);
    let mut stage = Analyzer::new(1024, Settings::default());
    let mut cx = StageCx::default();
    let out = stage.process(batch, &mut cx).unwrap();
    assert!(cx.take_failed().is_empty());
    assert_eq!(out.num_rows(), 3);
    for name in COLUMNS {
        let col = out
            .column_by_name(name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(col.data_type(), photos_field(name).data_type(), "{name}");
        if name.starts_with("subject_") {
            // Null without a subject: the flat grey image has none.
            assert!(col.is_null(1) && col.is_null(2), "{name}");
        } else {
            assert!(
                col.is_valid(0) && col.is_null(1) && col.is_valid(2),
                "{name}"
            );
        }
    }
    let f = |name: &str| {
        out.column_by_name(name)
            .unwrap()
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap()
            .clone()
    };
    let b = |name: &str| {
        out.column_by_name(name)
            .unwrap()
            .as_any()
            .downcast_ref::<BooleanArray>()
            .unwrap()
            .clone()
    };
    assert!(b("is_monochrome").value(2) && !b("is_monochrome").value(0));
    assert_eq!(f("sharpness").value(2), 0.0);
    assert!(f("sharpness").value(0) > 0.0);
    assert!((f("luminance").value(2) - 100.0 / 255.0).abs() < 1e-9);
    // The working image's columns are passed on untouched.
    assert!(out.column_by_name(working::IMAGE).is_some());
}

#[test]
fn a_malformed_working_image_fails_its_row_only() {
    let good = scene(90, 60);
    let bad = Rgb {
        width: 10,
        height: 10,
        pixels: vec![0; 7],
    };
    let mut stage = Analyzer::new(1024, Settings::default());
    let mut cx = StageCx::default();
    let out = stage
        .process(batch_of(&[Some(&bad), Some(&good)]), &mut cx)
        .unwrap();
    let failed = cx.take_failed();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, 0);
    let col = out.column_by_name("sharpness").unwrap();
    assert!(col.is_null(0) && col.is_valid(1));
}

#[test]
fn the_schema_declares_each_column_with_the_type_written() {
    let m = Analyzer::new(1024, Settings::default())
        .measure(scene(64, 48).as_ref())
        .unwrap();
    for (name, cell) in COLUMNS.iter().zip(m.cells()) {
        let expected = match cell {
            Cell::F(_) | Cell::Null => DataType::Float64,
            Cell::B(_) => DataType::Boolean,
        };
        let field = photos_field(name);
        assert_eq!(field.data_type(), &expected, "{name}");
        assert!(field.is_nullable(), "{name}");
    }
}

/// Relative tolerance of the resolution-stability test, plus an absolute
/// allowance for values near zero.
const REL_TOL: f64 = 0.05;
const ABS_TOL: f64 = 0.02;

/// Wider tolerances, (column, relative, absolute): the bin-height kurtosis
/// spans −251…1.5, so near 0 a tenth is small; the leading lines' Hough
/// votes and gap scale with the original's size (24 MP: 14 votes at 1024 px,
/// 6 MP: 27), and a line walked at the nearest whole degree may split
/// differently into segments.
const WIDER: [(&str, f64, f64); 2] = [
    ("histogram_bimodality", REL_TOL, 0.1),
    ("leading_lines_score", 0.1, ABS_TOL),
];

#[test]
fn a_24mp_and_a_6mp_copy_measure_alike() {
    let mut stage = Analyzer::new(1024, Settings::default());
    let big = stage.measure(scene(6000, 4000).as_ref()).unwrap();
    let small = stage.measure(scene(3000, 2000).as_ref()).unwrap();
    let mut problems = Vec::new();
    for ((name, a), b) in COLUMNS.iter().zip(big.cells()).zip(small.cells()) {
        match (a, b) {
            (Cell::F(a), Cell::F(b)) => {
                let (rel, abs) = WIDER
                    .iter()
                    .find(|w| w.0 == *name)
                    .map_or((REL_TOL, ABS_TOL), |w| (w.1, w.2));
                if (a - b).abs() > rel * a.abs().max(b.abs()) + abs {
                    problems.push(format!("{name}: {a} at 24 MP, {b} at 6 MP"));
                }
            }
            (a, b) => {
                if a != b {
                    problems.push(format!("{name}: {a:?} at 24 MP, {b:?} at 6 MP"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}\n{big:#?}");
    // And the scene reads as designed (leading lines below the cap of 10,
    // so that their stability is tested).
    assert!(
        big.leading_lines_score > 2.0 && big.leading_lines_score < 10.0,
        "{big:#?}"
    );
    assert!(!big.is_monochrome && !big.shadow_clipped && !big.highlight_clipped);
    // The subject is found at both sizes (its position compared above).
    assert!(big.subject.is_some() && small.subject.is_some(), "{big:#?}");
}

#[test]
fn settings_come_from_the_configuration() {
    let c = FacetConfig::parse(
        r#"{"exposure": {"shadow_clip_threshold_percent": 40},
            "monochrome_detection": {"saturation_threshold_percent": 12},
            "composition": {"power_point_weight": 3.5}}"#,
        "c.json",
        false,
    )
    .unwrap()
    .config;
    let s = Settings::of(&c);
    assert_eq!(s.shadow_clip_percent, 40.0);
    assert_eq!(s.highlight_clip_percent, 10.0);
    assert_eq!(s.monochrome_saturation_percent, 12.0);
    assert_eq!(s.composition.power_point, 3.5);
    assert_eq!(s.composition.line, 1.0);
    assert_eq!(Settings::of(&FacetConfig::default()), Settings::default());
}

#[test]
fn clipping_flags_follow_the_thresholds() {
    // 20 % black, 12 % white, the rest mid-grey.
    let (w, h) = (100u32, 100u32);
    let mut pixels = Vec::new();
    for _ in 0..h {
        for x in 0..w {
            let v = match x {
                0..20 => 0,
                20..32 => 255,
                _ => 128,
            };
            pixels.extend([v, v, v]);
        }
    }
    let img = Rgb {
        width: w,
        height: h,
        pixels,
    };
    let m = Analyzer::new(1024, Settings::default())
        .measure(img.as_ref())
        .unwrap();
    assert!(m.shadow_clipped && m.highlight_clipped, "{m:#?}");
    let lenient = Settings {
        shadow_clip_percent: 25.0,
        highlight_clip_percent: 15.0,
        ..Settings::default()
    };
    let m = Analyzer::new(1024, lenient).measure(img.as_ref()).unwrap();
    assert!(!m.shadow_clipped && !m.highlight_clipped);
}

#[test]
fn plan_rejects_a_bad_side_and_asks_for_its_side() {
    let config = FacetConfig::default();
    let cx = PlanCx {
        config: &config,
        models_dir: None,
        pipeline_dir: None,
    };
    let plan = Technical
        .plan(&TechnicalConfig { side: 2048 }, &cx)
        .unwrap();
    assert_eq!(plan.image_side, Some(2048));
    assert_eq!(plan.writes.len(), COLUMNS.len());
    let e = Technical
        .plan(&TechnicalConfig { side: 10 }, &cx)
        .unwrap_err();
    assert_eq!(e[0].path, "side");
}
