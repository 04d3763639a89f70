use std::collections::BTreeMap;

use facet_config::{Category, FacetConfig, Normalization, PhotoTypes, default_categories};

use super::*;

/// A category from JSON fragments (parsed as YAML, a superset of JSON).
fn cat(name: &str, weights: &str, modifiers: &str) -> Category {
    serde_yaml::from_str(&format!(
        r#"{{"name": "{name}", "priority": 1, "weights": {weights}, "modifiers": {modifiers}}}"#
    ))
    .unwrap()
}

/// aesthetic 60 %, exposure 40 %, no modifiers (a name without special defaults).
fn plain(name: &str) -> Category {
    cat(
        name,
        r#"{"aesthetic_percent": 60, "exposure_percent": 40}"#,
        r#"{}"#,
    )
}

/// aesthetic 8, exposure 6: 8 · 0.6 + 6 · 0.4 = 7.2.
fn good() -> PhotoMetrics {
    PhotoMetrics {
        aesthetic: Some(8.0),
        exposure: Some(6.0),
        ..PhotoMetrics::default()
    }
}

fn inputs() -> ScoringInputs {
    ScoringInputs::default()
}

fn agg(c: &Category, m: &PhotoMetrics) -> f64 {
    score(c, m, &NormStats::default(), &inputs()).aggregate
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn points(s: &Score, name: &str) -> f64 {
    s.adjustment(name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", s.breakdown))
        .points()
}

#[test]
fn weighted_sum_of_metrics() {
    let s = score(&plain("x"), &good(), &NormStats::default(), &inputs());
    assert_eq!(s.category, "x");
    assert_eq!(s.aggregate, 7.2);
    assert_eq!(s.breakdown.len(), 2, "{:?}", s.breakdown);
    match s.metric("aesthetic").unwrap() {
        BreakdownItem::Metric {
            raw,
            normalized,
            weight_percent,
            points,
            neutral,
            ..
        } => {
            assert_eq!(*raw, Some(8.0));
            assert_eq!(*normalized, 8.0);
            assert!(close(*weight_percent, 60.0));
            assert!(close(*points, 4.8));
            assert!(!neutral);
        }
        other => panic!("{other:?}"),
    }
    assert!(close(s.metric("exposure").unwrap().points(), 2.4));
    // Unweighted metrics do not appear.
    assert!(s.metric("color").is_none());
    // Metric values are clamped to 0–10.
    let wild = PhotoMetrics {
        aesthetic: Some(14.0),
        exposure: Some(-3.0),
        ..PhotoMetrics::default()
    };
    assert_eq!(agg(&plain("x"), &wild), 6.0);
}

#[test]
fn an_unmeasured_metric_does_not_change_the_aggregate() {
    let m = PhotoMetrics {
        aesthetic: None,
        exposure: Some(6.0),
        ..PhotoMetrics::default()
    };
    let s = score(&plain("x"), &m, &NormStats::default(), &inputs());
    // Judged on exposure alone: 6, not 5 · 0.6 + 6 · 0.4 = 5.4.
    assert_eq!(s.aggregate, 6.0);
    let only_exposure = cat("x", r#"{"exposure_percent": 100}"#, r#"{}"#);
    assert_eq!(agg(&only_exposure, &m), s.aggregate);
    // Whatever the unmeasured metric's default or weight.
    for weights in [
        r#"{"aesthetic_percent": 90, "exposure_percent": 10}"#,
        r#"{"leading_lines_percent": 50, "exposure_percent": 50}"#,
        r#"{"isolation_percent": 30, "dynamic_range_percent": 30, "exposure_percent": 40}"#,
    ] {
        assert_eq!(agg(&cat("x", weights, r#"{}"#), &m), 6.0, "{weights}");
    }
    match s.metric("aesthetic").unwrap() {
        BreakdownItem::Metric {
            raw,
            neutral,
            weight_percent,
            points,
            ..
        } => {
            assert_eq!(*raw, None);
            assert!(neutral);
            assert_eq!((*weight_percent, *points), (0.0, 0.0));
        }
        other => panic!("{other:?}"),
    }
    match s.metric("exposure").unwrap() {
        BreakdownItem::Metric { weight_percent, .. } => assert!(close(*weight_percent, 100.0)),
        other => panic!("{other:?}"),
    }
    // A value outside −100…100 (the reference's guard) or NaN is missing too.
    for bad in [f64::NAN, 250.0] {
        let m = PhotoMetrics {
            aesthetic: Some(bad),
            ..good()
        };
        assert_eq!(agg(&plain("x"), &m), 6.0);
    }
    // Nothing measured: the reference's defaults (5 each).
    assert_eq!(agg(&plain("x"), &PhotoMetrics::default()), 5.0);
}

#[test]
fn weights_are_rescaled_when_they_do_not_sum_to_100() {
    let half = cat(
        "x",
        r#"{"aesthetic_percent": 30, "exposure_percent": 20}"#,
        r#"{}"#,
    );
    assert_eq!(agg(&half, &good()), 7.2);
    let w = weight_fractions(&half);
    assert_eq!(w.len(), 2);
    assert!(close(w[0].1, 0.6) && close(w[1].1, 0.4), "{w:?}");
    // Within 0.1 %: not rescaled. 8 · 0.6 + 6 · 0.4005 = 7.2030
    let near = cat(
        "x",
        r#"{"aesthetic_percent": 60, "exposure_percent": 40.05}"#,
        r#"{}"#,
    );
    assert_eq!(agg(&near, &good()), 7.2);
    assert!(close(weight_fractions(&near)[1].1, 0.4005));
}

#[test]
fn blink_multiplier_only_where_the_category_says_so() {
    let blink = PhotoMetrics {
        is_blink: Some(true),
        ..good()
    };
    let portrait = cat(
        "portrait",
        r#"{"aesthetic_percent": 60, "exposure_percent": 40}"#,
        r#"{}"#,
    );
    // portrait applies it by default: 7.2 · 0.5
    let s = score(&portrait, &blink, &NormStats::default(), &inputs());
    assert_eq!(s.aggregate, 3.6);
    assert!(close(points(&s, "blink"), -3.6));
    // Not without a blink.
    assert_eq!(agg(&portrait, &good()), 7.2);
    // Other categories do not, unless they set the flag.
    assert_eq!(agg(&plain("landscape"), &blink), 7.2);
    let flagged = cat(
        "x",
        r#"{"aesthetic_percent": 60, "exposure_percent": 40}"#,
        r#"{"_apply_blink_penalty": true}"#,
    );
    assert_eq!(agg(&flagged, &blink), 3.6);
    let off = cat(
        "portrait",
        r#"{"aesthetic_percent": 60, "exposure_percent": 40}"#,
        r#"{"_apply_blink_penalty": false}"#,
    );
    assert_eq!(agg(&off, &blink), 7.2);
    // The percentage comes from thresholds; 0 reads as 50 (the reference's `or 50`).
    let mut cfg = inputs();
    cfg.thresholds.blink_penalty_percent = 25.0;
    assert_eq!(
        score(&portrait, &blink, &NormStats::default(), &cfg).aggregate,
        1.8
    );
    cfg.thresholds.blink_penalty_percent = 0.0;
    assert_eq!(
        score(&portrait, &blink, &NormStats::default(), &cfg).aggregate,
        3.6
    );
    // The multiplier applies before the bonus: 7.2 · 0.5 + 1
    let bonus = cat(
        "x",
        r#"{"aesthetic_percent": 60, "exposure_percent": 40}"#,
        r#"{"_apply_blink_penalty": true, "bonus": 1.0}"#,
    );
    assert_eq!(agg(&bonus, &blink), 4.6);
}

#[test]
fn bonus_is_added() {
    let c = cat(
        "x",
        r#"{"aesthetic_percent": 60, "exposure_percent": 40}"#,
        r#"{"bonus": 0.5}"#,
    );
    let s = score(&c, &good(), &NormStats::default(), &inputs());
    assert_eq!(s.aggregate, 7.7);
    assert_eq!(points(&s, "bonus"), 0.5);
}

#[test]
fn clipping_penalty_and_its_exemptions() {
    let both = PhotoMetrics {
        shadow_clipped: Some(true),
        highlight_clipped: Some(true),
        ..good()
    };
    let shadow = PhotoMetrics {
        shadow_clipped: Some(true),
        highlight_clipped: Some(false),
        ..good()
    };
    // 0.5 · 1 + 1 · 1 = 1.5
    let s = score(&plain("x"), &both, &NormStats::default(), &inputs());
    assert_eq!(s.aggregate, 5.7);
    assert_eq!(points(&s, "clipping"), -1.5);
    assert_eq!(agg(&plain("x"), &shadow), 6.7);
    // `default` multiplies by 1.5 by default: 7.2 − 2.25 = 4.95
    assert_eq!(agg(&plain("default"), &both), 4.95);
    let custom = cat(
        "x",
        r#"{"aesthetic_percent": 60, "exposure_percent": 40}"#,
        r#"{"_clipping_multiplier": 2.0}"#,
    );
    assert_eq!(agg(&custom, &both), 4.2);
    // Skipped for silhouettes…
    let silhouette = PhotoMetrics {
        is_silhouette: Some(true),
        ..both.clone()
    };
    let s = score(&plain("x"), &silhouette, &NormStats::default(), &inputs());
    assert_eq!(s.aggregate, 7.2);
    assert_eq!(points(&s, "clipping"), 0.0);
    // … unless silhouette detection is off.
    let mut cfg = inputs();
    cfg.exposure.silhouette_detection = false;
    assert_eq!(
        score(&plain("x"), &silhouette, &NormStats::default(), &cfg).aggregate,
        5.7
    );
    // Skipped by the category flag (`silhouette` sets it by default).
    assert_eq!(agg(&plain("silhouette"), &both), 7.2);
    let skip = cat(
        "x",
        r#"{"aesthetic_percent": 60, "exposure_percent": 40}"#,
        r#"{"_skip_clipping_penalty": true}"#,
    );
    assert_eq!(agg(&skip, &both), 7.2);
    // Nothing clipped: no item.
    let s = score(&plain("x"), &good(), &NormStats::default(), &inputs());
    assert!(s.adjustment("clipping").is_none());
}

#[test]
fn noise_penalty_is_capped_and_scaled_by_tolerance() {
    let noisy = |sigma| PhotoMetrics {
        noise_sigma: Some(sigma),
        ..good()
    };
    // (6 − 4) · 0.3 = 0.6
    let s = score(&plain("x"), &noisy(6.0), &NormStats::default(), &inputs());
    assert_eq!(s.aggregate, 6.6);
    assert!(close(points(&s, "noise"), -0.6));
    // (20 − 4) · 0.3 = 4.8, capped at 1.5
    assert_eq!(agg(&plain("x"), &noisy(20.0)), 5.7);
    // At the threshold: none.
    assert_eq!(agg(&plain("x"), &noisy(4.0)), 7.2);
    // Tolerance 0.5 halves it.
    let tolerant = cat(
        "x",
        r#"{"aesthetic_percent": 60, "exposure_percent": 40}"#,
        r#"{"noise_tolerance_multiplier": 0.5}"#,
    );
    assert_eq!(agg(&tolerant, &noisy(6.0)), 6.9);
    assert_eq!(agg(&tolerant, &noisy(20.0)), 6.45);
    // Configured threshold, rate and cap.
    let mut cfg = inputs();
    cfg.penalties.noise_sigma_threshold = 2.0;
    cfg.penalties.noise_penalty_per_sigma = 1.0;
    cfg.penalties.noise_max_penalty_points = 3.0;
    assert_eq!(
        score(&plain("x"), &noisy(4.5), &NormStats::default(), &cfg).aggregate,
        4.7
    );
    assert_eq!(
        score(&plain("x"), &noisy(9.0), &NormStats::default(), &cfg).aggregate,
        4.2
    );
}

#[test]
fn bimodality_penalty_above_threshold() {
    let m = |b| PhotoMetrics {
        histogram_bimodality: Some(b),
        ..good()
    };
    assert_eq!(agg(&plain("x"), &m(2.6)), 6.7);
    assert_eq!(agg(&plain("x"), &m(2.5)), 7.2);
}

#[test]
fn oversaturation_penalty_and_skip() {
    let vivid = PhotoMetrics {
        mean_saturation: Some(0.95),
        ..good()
    };
    let s = score(&plain("x"), &vivid, &NormStats::default(), &inputs());
    assert_eq!(s.aggregate, 6.7);
    assert_eq!(points(&s, "oversaturation"), -0.5);
    let at = PhotoMetrics {
        mean_saturation: Some(0.9),
        ..good()
    };
    assert_eq!(agg(&plain("x"), &at), 7.2);
    // night, astro and concert skip it by default; any category may.
    for name in ["night", "astro", "concert"] {
        let s = score(&plain(name), &vivid, &NormStats::default(), &inputs());
        assert_eq!(s.aggregate, 7.2, "{name}");
        assert_eq!(points(&s, "oversaturation"), 0.0);
    }
    let skip = cat(
        "x",
        r#"{"aesthetic_percent": 60, "exposure_percent": 40}"#,
        r#"{"_skip_oversaturation_penalty": true}"#,
    );
    assert_eq!(agg(&skip, &vivid), 7.2);
}

#[test]
fn clamped_to_range_and_rounded() {
    let top = PhotoMetrics {
        aesthetic: Some(10.0),
        exposure: Some(10.0),
        ..PhotoMetrics::default()
    };
    let boosted = cat(
        "x",
        r#"{"aesthetic_percent": 60, "exposure_percent": 40}"#,
        r#"{"bonus": 2.0}"#,
    );
    let s = score(&boosted, &top, &NormStats::default(), &inputs());
    assert_eq!(s.aggregate, 10.0);
    assert!(close(points(&s, "clamp"), -2.0));
    // Below the minimum.
    let awful = PhotoMetrics {
        aesthetic: Some(0.5),
        exposure: Some(0.5),
        shadow_clipped: Some(true),
        highlight_clipped: Some(true),
        noise_sigma: Some(30.0),
        ..PhotoMetrics::default()
    };
    let s = score(&plain("x"), &awful, &NormStats::default(), &inputs());
    assert_eq!(s.aggregate, 0.0);
    assert!(close(points(&s, "clamp"), 2.5));
    // Configured range.
    let mut cfg = inputs();
    cfg.scoring.score_min = 1.0;
    cfg.scoring.score_max = 7.0;
    assert_eq!(
        score(&plain("x"), &good(), &NormStats::default(), &cfg).aggregate,
        7.0
    );
    assert_eq!(
        score(&plain("x"), &awful, &NormStats::default(), &cfg).aggregate,
        1.0
    );
    // 7.25 · 0.5 + 7 · 0.5 = 7.125 exactly: half to even.
    let even = cat(
        "x",
        r#"{"aesthetic_percent": 50, "exposure_percent": 50}"#,
        r#"{}"#,
    );
    let m = PhotoMetrics {
        aesthetic: Some(7.25),
        exposure: Some(7.0),
        ..PhotoMetrics::default()
    };
    assert_eq!(agg(&even, &m), 7.12);
    let mut cfg = inputs();
    cfg.scoring.score_precision = 1;
    assert_eq!(score(&even, &m, &NormStats::default(), &cfg).aggregate, 7.1);
    cfg.scoring.score_precision = 4;
    assert_eq!(
        score(&even, &m, &NormStats::default(), &cfg).aggregate,
        7.125
    );
}

#[test]
fn round_to_matches_python_round() {
    // Python: round(x, 2) for each.
    for (x, want) in [
        (0.125, 0.12),
        (0.375, 0.38),
        (2.675, 2.67),
        (1.005, 1.0),
        (7.455, 7.46),
        (-0.001, 0.0),
    ] {
        assert_eq!(round_to(x, 2), want, "{x}");
    }
    assert_eq!(round_to(2.5, 0), 2.0);
    assert_eq!(round_to(3.5, 0), 4.0);
    assert!(round_to(-0.001, 2).is_sign_positive());
}

#[test]
fn iso_compensation_raises_sharpness() {
    let c = cat("x", r#"{"tech_sharpness_percent": 100}"#, r#"{}"#);
    let norm = NormStats {
        library: BTreeMap::from([("tech_sharpness".to_string(), 200.0)]),
        ..NormStats::default()
    };
    let m = |iso| PhotoMetrics {
        tech_sharpness: Some(100.0),
        iso,
        ..PhotoMetrics::default()
    };
    // 100 / 200 · 10 = 5
    let s = score(&c, &m(None), &norm, &inputs());
    assert_eq!(s.aggregate, 5.0);
    match s.metric("tech_sharpness").unwrap() {
        BreakdownItem::Metric {
            raw, normalized, ..
        } => {
            assert_eq!(*raw, Some(100.0));
            assert_eq!(*normalized, 5.0);
        }
        other => panic!("{other:?}"),
    }
    // ISO 3200: + 0.5 · log2(4) = 1
    let s = score(&c, &m(Some(3200.0)), &norm, &inputs());
    assert_eq!(s.aggregate, 6.0);
    assert!(close(points(&s, "iso_sharpness_compensation"), 1.0));
    assert_eq!(score(&c, &m(Some(800.0)), &norm, &inputs()).aggregate, 5.0);
    // Capped at 10.
    let sharp = PhotoMetrics {
        tech_sharpness: Some(190.0),
        iso: Some(25600.0),
        ..PhotoMetrics::default()
    };
    assert_eq!(score(&c, &sharp, &norm, &inputs()).aggregate, 10.0);
    let mut off = inputs();
    off.exif_adjustments.iso_sharpness_compensation = false;
    assert_eq!(score(&c, &m(Some(3200.0)), &norm, &off).aggregate, 5.0);
}

#[test]
fn aperture_boosts_isolation() {
    let c = cat("x", r#"{"isolation_percent": 100}"#, r#"{}"#);
    let m = |ratio, f| PhotoMetrics {
        isolation: ratio,
        f_number: f,
        ..PhotoMetrics::default()
    };
    // (1.6 − 1) · 5 = 3
    assert_eq!(agg(&c, &m(Some(1.6), None)), 3.0);
    assert_eq!(agg(&c, &m(Some(1.6), Some(4.0))), 3.0);
    // f/2.8: 1.6 · 1.3 = 2.08 → 5.4
    let s = score(
        &c,
        &m(Some(1.6), Some(2.8)),
        &NormStats::default(),
        &inputs(),
    );
    assert_eq!(s.aggregate, 5.4);
    assert!(close(points(&s, "aperture_isolation_boost"), 2.4));
    // f/1.8: 1.6 · 1.5 = 2.4 → 7
    assert_eq!(agg(&c, &m(Some(1.6), Some(1.8))), 7.0);
    // Boosted ratio capped at 3 → 10.
    assert_eq!(agg(&c, &m(Some(2.5), Some(1.4))), 10.0);
    // Missing ratio: the reference's 1.0 (score 0), boosted to 1.5 at f/2.
    let s = score(&c, &m(None, Some(2.0)), &NormStats::default(), &inputs());
    assert_eq!(s.aggregate, 2.5);
    match s.metric("isolation").unwrap() {
        BreakdownItem::Metric {
            normalized,
            neutral,
            ..
        } => {
            assert_eq!(*normalized, 0.0);
            assert!(neutral);
        }
        other => panic!("{other:?}"),
    }
    let mut off = inputs();
    off.exif_adjustments.aperture_isolation_boost = false;
    assert_eq!(
        score(&c, &m(Some(1.6), Some(1.8)), &NormStats::default(), &off).aggregate,
        3.0
    );
}

#[test]
fn leading_lines_blend_into_composition_except_portraits() {
    let weights = r#"{"composition_percent": 100}"#;
    let m = PhotoMetrics {
        composition: Some(5.0),
        leading_lines: Some(2.0),
        ..PhotoMetrics::default()
    };
    // 2 · 1.77 = 3.54; 30 % of it = 1.062 → 6.062
    let s = score(
        &cat("landscape", weights, r#"{}"#),
        &m,
        &NormStats::default(),
        &inputs(),
    );
    assert_eq!(s.aggregate, 6.06);
    assert!(close(points(&s, "leading_lines_blend"), 1.062));
    for exempt in ["portrait", "group_portrait"] {
        assert_eq!(agg(&cat(exempt, weights, r#"{}"#), &m), 5.0);
    }
    // Leading lines as a metric of its own: × 1.77, capped at 10; missing = 0.
    let ll = cat("x", r#"{"leading_lines_percent": 100}"#, r#"{}"#);
    assert_eq!(agg(&ll, &m), 3.54);
    let strong = PhotoMetrics {
        leading_lines: Some(7.0),
        ..PhotoMetrics::default()
    };
    assert_eq!(agg(&ll, &strong), 10.0);
    assert_eq!(agg(&ll, &PhotoMetrics::default()), 0.0);
}

#[test]
fn monochrome_colour_is_neutral_and_dynamic_range_from_spread() {
    let c = cat("x", r#"{"color_percent": 100}"#, r#"{}"#);
    let m = PhotoMetrics {
        color: Some(8.0),
        ..PhotoMetrics::default()
    };
    assert_eq!(agg(&c, &m), 8.0);
    let mono = PhotoMetrics {
        is_monochrome: Some(true),
        ..m
    };
    let s = score(&c, &mono, &NormStats::default(), &inputs());
    assert_eq!(s.aggregate, 5.0);
    assert!(matches!(
        s.metric("color").unwrap(),
        BreakdownItem::Metric { neutral: true, .. }
    ));

    let dr = cat("x", r#"{"dynamic_range_percent": 100}"#, r#"{}"#);
    let spread = |v| PhotoMetrics {
        dynamic_range: v,
        ..PhotoMetrics::default()
    };
    assert_eq!(agg(&dr, &spread(Some(30.0))), 5.0);
    assert_eq!(agg(&dr, &spread(Some(90.0))), 10.0);
    assert_eq!(agg(&dr, &spread(None)), 0.0);
}

#[test]
fn quality_weight_goes_to_aesthetic() {
    let c = cat(
        "x",
        r#"{"aesthetic_percent": 50, "quality_percent": 10, "exposure_percent": 40}"#,
        r#"{}"#,
    );
    let m = PhotoMetrics {
        aesthetic: Some(6.0),
        exposure: Some(5.0),
        quality: Some(9.0),
        ..PhotoMetrics::default()
    };
    // aesthetic value 6 + 0.1 / 0.5 = 6.2: 6.2 · 0.5 + 0 · 0.1 + 5 · 0.4 = 5.1
    let s = score(&c, &m, &NormStats::default(), &inputs());
    assert_eq!(s.aggregate, 5.1);
    assert_eq!(s.metric("quality").unwrap().points(), 0.0);
    assert!(close(points(&s, "quality_to_aesthetic"), 0.1));
    // Without an aesthetic weight the quality weight is lost.
    let q = cat(
        "x",
        r#"{"quality_percent": 50, "exposure_percent": 50}"#,
        r#"{}"#,
    );
    assert_eq!(agg(&q, &m), 2.5);
}

#[test]
fn normalized_metrics_use_the_stats() {
    let c = cat(
        "x",
        r#"{"tech_sharpness_percent": 50, "eye_sharpness_percent": 25, "color_percent": 25}"#,
        r#"{}"#,
    );
    let norm = NormStats {
        library: BTreeMap::from([
            ("tech_sharpness".to_string(), 400.0),
            ("eye_sharpness".to_string(), 40.0),
            ("color".to_string(), 8.0),
        ]),
        ..NormStats::default()
    };
    let m = PhotoMetrics {
        tech_sharpness: Some(300.0),
        eye_sharpness: Some(50.0),
        color: Some(4.0),
        ..PhotoMetrics::default()
    };
    // 7.5 · 0.5 + 10 (clamped) · 0.25 + 5 · 0.25 = 7.5
    assert_eq!(score(&c, &m, &norm, &inputs()).aggregate, 7.5);
    // Without statistics a raw Laplacian variance over 100 is unusable: neutral 5.
    let s = score(&c, &m, &NormStats::default(), &inputs());
    assert!(matches!(
        s.metric("tech_sharpness").unwrap(),
        BreakdownItem::Metric { normalized, neutral: true, .. } if *normalized == 5.0
    ));
}

#[test]
fn breakdown_adds_up_and_serializes() {
    let c = cat(
        "landscape",
        r#"{"aesthetic_percent": 40, "composition_percent": 30, "tech_sharpness_percent": 20, "quality_percent": 10}"#,
        r#"{"bonus": 0.3, "_apply_blink_penalty": true}"#,
    );
    let norm = NormStats {
        library: BTreeMap::from([("tech_sharpness".to_string(), 100.0)]),
        ..NormStats::default()
    };
    let m = PhotoMetrics {
        aesthetic: Some(7.3),
        composition: Some(6.1),
        leading_lines: Some(3.0),
        tech_sharpness: Some(64.0),
        iso: Some(1600.0),
        is_blink: Some(true),
        shadow_clipped: Some(true),
        noise_sigma: Some(5.5),
        histogram_bimodality: Some(3.0),
        mean_saturation: Some(0.95),
        ..PhotoMetrics::default()
    };
    let s = score(&c, &m, &norm, &inputs());
    assert!(
        (s.breakdown_total() - s.aggregate).abs() < 0.005 + 1e-9,
        "{} vs {}",
        s.breakdown_total(),
        s.aggregate
    );
    for name in [
        "quality_to_aesthetic",
        "leading_lines_blend",
        "iso_sharpness_compensation",
        "blink",
        "bonus",
        "clipping",
        "noise",
        "bimodality",
        "oversaturation",
    ] {
        assert!(s.adjustment(name).is_some(), "{name}");
    }
    let text = serde_yaml::to_string(&s).unwrap();
    let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(v["category"], "landscape");
    assert_eq!(v["breakdown"][0]["kind"], "metric");
    assert_eq!(v["breakdown"][0]["metric"], "aesthetic");
    assert!(
        v["breakdown"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|i| i["kind"] == "adjustment" && i["name"] == "blink")
    );
    // Floats may come back within an ulp or so.
    let back: Score = serde_yaml::from_str(&text).unwrap();
    assert_eq!(back.category, s.category);
    assert_eq!(back.aggregate, s.aggregate);
    assert_eq!(back.breakdown.len(), s.breakdown.len());
    for (a, b) in back.breakdown.iter().zip(&s.breakdown) {
        assert!(close(a.points(), b.points()), "{a:?} vs {b:?}");
    }
}

#[test]
fn default_categories_score_within_range() {
    let cfg = ScoringInputs::from_config(&FacetConfig::default());
    let m = PhotoMetrics {
        aesthetic: Some(6.5),
        exposure: Some(7.0),
        tech_sharpness: Some(120.0),
        color: Some(6.0),
        composition: Some(5.5),
        contrast: Some(6.0),
        dynamic_range: Some(40.0),
        leading_lines: Some(2.0),
        noise_sigma: Some(3.0),
        ..PhotoMetrics::default()
    };
    let norm = NormStats::build(&cfg.normalization, [("x", &m)]);
    for c in default_categories() {
        let s = score(&c, &m, &norm, &cfg);
        assert!(
            (0.0..=10.0).contains(&s.aggregate),
            "{}: {}",
            c.name,
            s.aggregate
        );
        assert!(
            (s.breakdown_total() - s.aggregate).abs() < 0.005 + 1e-9,
            "{}",
            c.name
        );
        let w: f64 = s
            .breakdown
            .iter()
            .map(|i| match i {
                BreakdownItem::Metric { weight_percent, .. } => *weight_percent,
                BreakdownItem::Adjustment { .. } => 0.0,
            })
            .sum();
        assert!((w - 100.0).abs() < 1e-6, "{}: weights {w}", c.name);
    }
}

#[test]
fn changing_one_categorys_weight_changes_only_its_photos() {
    let alpha = |aes: f64| {
        cat(
            "alpha",
            &format!(
                r#"{{"aesthetic_percent": {aes}, "exposure_percent": {}}}"#,
                100.0 - aes
            ),
            r#"{}"#,
        )
    };
    let beta = cat(
        "beta",
        r#"{"aesthetic_percent": 50, "exposure_percent": 30, "color_percent": 20}"#,
        r#"{"bonus": 0.2}"#,
    );
    let photos = [
        ("alpha", 8.0, 4.0, 6.0),
        ("alpha", 3.0, 9.0, 2.0),
        ("beta", 8.0, 4.0, 6.0),
        ("beta", 3.0, 9.0, 2.0),
    ]
    .map(|(c, a, e, col)| {
        (
            c,
            PhotoMetrics {
                aesthetic: Some(a),
                exposure: Some(e),
                color: Some(col),
                ..PhotoMetrics::default()
            },
        )
    });
    let cfg = inputs();
    let norm = NormStats::build(&cfg.normalization, photos.iter().map(|(c, m)| (*c, m)));
    let table = |alpha_cat: &Category| -> Vec<f64> {
        photos
            .iter()
            .map(|(c, m)| {
                let category = if *c == "alpha" { alpha_cat } else { &beta };
                score(category, m, &norm, &cfg).aggregate
            })
            .collect()
    };
    let before = table(&alpha(60.0));
    let after = table(&alpha(30.0));
    // alpha: 8·0.6 + 4·0.4 = 6.4 → 8·0.3 + 4·0.7 = 5.2; 3·0.6 + 9·0.4 = 5.4 → 3·0.3 + 9·0.7 = 7.2
    assert_eq!(&before[..2], &[6.4, 5.4]);
    assert_eq!(&after[..2], &[5.2, 7.2]);
    // beta unchanged.
    assert_eq!(&before[2..], &after[2..]);
}

// ---- normalization ----

#[test]
fn percentile_is_nearest_rank() {
    let v: Vec<f64> = (1..=10).map(f64::from).collect();
    assert_eq!(percentile_of_sorted(&v, 90.0), Some(10.0)); // idx 9
    assert_eq!(percentile_of_sorted(&v, 50.0), Some(6.0)); // idx 5
    assert_eq!(percentile_of_sorted(&v, 95.0), Some(10.0)); // idx 9.5 → 9
    assert_eq!(percentile_of_sorted(&v, 100.0), Some(10.0)); // idx 10 → clamped
    assert_eq!(percentile_of_sorted(&v, 0.0), Some(1.0));
    assert_eq!(percentile_of_sorted(&[], 90.0), None);
    // Unsorted input, non-finite values ignored.
    let mixed = [7.0, f64::NAN, 1.0, 3.0, f64::INFINITY, 5.0];
    assert_eq!(library_percentile(&mixed, 50.0), Some(5.0)); // [1,3,5,7] idx 2
    assert_eq!(library_percentile(&[f64::NAN], 50.0), None);
}

#[test]
fn percentile_of_counts_matches_the_expanded_multiset() {
    let counts = [(1.0, 3), (2.5, 0), (4.0, 2), (9.0, 5)];
    let expanded: Vec<f64> = counts
        .iter()
        .flat_map(|&(v, c)| std::iter::repeat_n(v, c as usize))
        .collect();
    for target in [0.0, 10.0, 25.0, 30.0, 45.0, 50.0, 90.0, 99.0, 100.0] {
        assert_eq!(
            percentile_of_counts(&counts, target, 0),
            percentile_of_sorted(&expanded, target),
            "{target}"
        );
    }
    assert_eq!(percentile_of_counts(&counts, 90.0, 11), None);
    assert_eq!(percentile_of_counts(&counts, 90.0, 10), Some(9.0));
    assert_eq!(percentile_of_counts(&[], 90.0, 0), None);
}

#[test]
fn category_percentile_needs_min_samples() {
    assert_eq!(category_percentile(&[1.0, 2.0], 90.0, 3), None);
    assert_eq!(category_percentile(&[1.0, 2.0, 3.0], 90.0, 3), Some(3.0));
    assert_eq!(category_percentile(&[1.0, 2.0, f64::NAN], 90.0, 3), None);
}

fn sharp(v: f64) -> PhotoMetrics {
    PhotoMetrics {
        tech_sharpness: Some(v),
        ..PhotoMetrics::default()
    }
}

#[test]
fn norm_stats_per_category_with_library_fallback() {
    let cfg = Normalization {
        percentile_target: 90.0,
        per_category: true,
        category_min_samples: 3,
        ..Normalization::default()
    };
    let big: Vec<PhotoMetrics> = [10.0, 20.0, 30.0, 40.0].map(sharp).to_vec();
    let small = [sharp(1000.0)];
    let photos = big
        .iter()
        .map(|m| ("big", m))
        .chain(small.iter().map(|m| ("small", m)));
    let stats = NormStats::build(&cfg, photos);
    // big: [10,20,30,40] idx ⌊3.6⌋ = 3 → 40; library: 5 values, idx ⌊4.5⌋ = 4 → 1000.
    assert_eq!(stats.percentile("tech_sharpness", "big"), Some(40.0));
    assert_eq!(stats.percentile("tech_sharpness", "small"), Some(1000.0));
    assert_eq!(stats.percentile("tech_sharpness", "unknown"), Some(1000.0));
    assert_eq!(stats.library["tech_sharpness"], 1000.0);
    assert!(
        !stats
            .by_category
            .contains_key(&("small".to_string(), "tech_sharpness".to_string()))
    );
    assert_eq!(stats.normalize("tech_sharpness", 20.0, "big"), 5.0);
    assert_eq!(stats.normalize("tech_sharpness", 80.0, "big"), 10.0);
    assert_eq!(stats.normalize("tech_sharpness", 500.0, "small"), 5.0);
    assert_eq!(stats.normalize("tech_sharpness", 20.0, "small"), 0.2);
    // Metrics without values have no percentile: pass-through.
    assert_eq!(stats.percentile("color", "big"), None);
    assert_eq!(stats.normalize("color", 7.5, "big"), 7.5);
    // Metrics that are not normalized: pass-through.
    assert_eq!(stats.normalize("aesthetic", 42.0, "big"), 42.0);

    // per_category off: the library's percentile everywhere.
    let off = Normalization {
        per_category: false,
        ..cfg.clone()
    };
    let stats = NormStats::build(
        &off,
        big.iter()
            .map(|m| ("big", m))
            .chain(small.iter().map(|m| ("small", m))),
    );
    assert!(stats.by_category.is_empty());
    assert_eq!(stats.percentile("tech_sharpness", "big"), Some(1000.0));
}

#[test]
fn zero_percentile_passes_raw_through() {
    let cfg = Normalization::default();
    let zeros: Vec<PhotoMetrics> = (0..10).map(|_| sharp(0.0)).collect();
    let stats = NormStats::build(&cfg, zeros.iter().map(|m| ("x", m)));
    assert_eq!(stats.percentile("tech_sharpness", "x"), Some(0.0));
    assert_eq!(stats.normalize("tech_sharpness", 3.0, "x"), 3.0);
    assert_eq!(scale_to_percentile(3.0, None), 3.0);
    assert_eq!(scale_to_percentile(-3.0, Some(10.0)), 0.0);
}

#[test]
fn per_category_normalization_changes_the_aggregate() {
    let c = cat("macro", r#"{"tech_sharpness_percent": 100}"#, r#"{}"#);
    let cfg = ScoringInputs {
        normalization: Normalization {
            percentile_target: 90.0,
            per_category: true,
            category_min_samples: 2,
            ..Normalization::default()
        },
        ..ScoringInputs::default()
    };
    let macro_photos = [sharp(400.0), sharp(800.0)];
    let others = [sharp(100.0), sharp(200.0), sharp(50.0)];
    let stats = NormStats::build(
        &cfg.normalization,
        macro_photos
            .iter()
            .map(|m| ("macro", m))
            .chain(others.iter().map(|m| ("landscape", m))),
    );
    // macro p90 = 800: 400 → 5. (Library p90 = 800 too; check landscape instead.)
    assert_eq!(score(&c, &sharp(400.0), &stats, &cfg).aggregate, 5.0);
    // landscape p90 of [50,100,200] = 200: 100 → 5
    let l = cat("landscape", r#"{"tech_sharpness_percent": 100}"#, r#"{}"#);
    assert_eq!(score(&l, &sharp(100.0), &stats, &cfg).aggregate, 5.0);
}

// ---- Top Picks ----

#[test]
fn top_picks_with_and_without_a_face() {
    let types = PhotoTypes::default(); // 30 / 28 / 18 / 24, min face ratio 0.2, min score 7
    let p = TopPicksInputs {
        aggregate: Some(8.0),
        aesthetic: Some(7.0),
        composition: Some(6.0),
        face_quality: Some(9.0),
        face_ratio: Some(0.3),
    };
    // 8·0.30 + 7·0.28 + 6·0.18 + 9·0.24 = 2.4 + 1.96 + 1.08 + 2.16 = 7.6
    let s = top_picks_score(&p, &types);
    assert!(close(s, 7.6), "{s}");
    assert!(is_top_pick(s, None, &types));
    // Small face: face weight split: aesthetic 0.40, composition 0.30.
    // 2.4 + 2.8 + 1.8 = 7.0
    let small = TopPicksInputs {
        face_ratio: Some(0.1),
        ..p
    };
    let s = top_picks_score(&small, &types);
    assert!(close(s, 7.0), "{s}");
    // At exactly the ratio: the face branch.
    let at = TopPicksInputs {
        face_ratio: Some(0.2),
        ..p
    };
    assert!(close(top_picks_score(&at, &types), 7.6));
    // Nothing measured: 0.
    assert_eq!(top_picks_score(&TopPicksInputs::default(), &types), 0.0);
    // Unmeasured scores weigh nothing: aggregate 8 and aesthetic 7 over
    // their weights 0.30 and 0.40 (the face's share), rescaled to the sum.
    let no_composition = TopPicksInputs {
        aggregate: Some(8.0),
        aesthetic: Some(7.0),
        ..TopPicksInputs::default()
    };
    let s = top_picks_score(&no_composition, &types);
    assert!(close(s, (2.4 + 2.8) / 0.7), "{s}");
    // Without an aesthetic model, the aggregate alone.
    let only = TopPicksInputs {
        aggregate: Some(8.0),
        ..TopPicksInputs::default()
    };
    assert!(close(top_picks_score(&only, &types), 8.0));
    assert!(!is_top_pick(6.99, Some(12.0), &types));
    assert!(is_top_pick(7.0, Some(12.0), &types));
    assert!(
        is_top_pick(7.0, None, &types),
        "an unknown size is not held against it"
    );
}

#[test]
fn images_under_the_minimum_size_are_never_top_picks() {
    let types = PhotoTypes::default();
    assert_eq!(types.top_picks_min_megapixels, 1.0);
    // A 75 × 100 image with perfect scores.
    assert!(!is_top_pick(10.0, Some(75.0 * 100.0 / 1e6), &types));
    assert!(!is_top_pick(10.0, Some(0.99), &types));
    assert!(is_top_pick(10.0, Some(1.0), &types));
    let strict = PhotoTypes {
        top_picks_min_megapixels: 12.0,
        ..PhotoTypes::default()
    };
    assert!(!is_top_pick(9.0, Some(6.0), &strict));
}

#[test]
fn top_picks_weights_are_rounded_to_two_decimals() {
    let mut types = PhotoTypes::default();
    types.top_picks_weights.aggregate_percent = 33.333;
    types.top_picks_weights.aesthetic_percent = 33.333;
    types.top_picks_weights.composition_percent = 33.334;
    types.top_picks_weights.face_quality_percent = 0.0;
    let p = TopPicksInputs {
        aggregate: Some(10.0),
        aesthetic: Some(10.0),
        composition: Some(10.0),
        face_quality: Some(10.0),
        face_ratio: Some(0.5),
    };
    // 0.33 each: 9.9
    assert!(close(top_picks_score(&p, &types), 9.9));
}
