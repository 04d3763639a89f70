//! The faces stage on the shared models and photos (skipped, saying so,
//! when they or ONNX Runtime are absent).

use std::path::PathBuf;
use std::sync::Arc;

use facet_engine::{Budget, BuildCx, PlanCx, StageKind};

use super::*;
use crate::working::Rgb;

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

/// The shared models and photos and ONNX Runtime, or `None` with a note.
pub(crate) fn available(test: &str) -> Option<PathBuf> {
    let dir = shared();
    if !dir.join("models/blazeface_short_range.onnx").is_file() {
        eprintln!("SKIPPED {test}: {} has no models", dir.display());
        return None;
    }
    if let Err(e) = crate::onnx::runtime::environment() {
        eprintln!("SKIPPED {test}: {e}");
        return None;
    }
    Some(dir.canonicalize().unwrap())
}

/// The test pipeline's configuration: full-range BlazeFace, mesh, faceres.
pub(crate) fn config(models: &std::path::Path) -> FacesConfig {
    let yaml = format!(
        r#"
detector: {{ model: {m}/blazeface_full_range.onnx, size: 192, strides: [4], anchors_per_layer: 1 }}
landmarks: {{ model: {m}/face_landmark_468.onnx }}
embedding: {{ model: {m}/faceres_1024.onnx, input: "input_1:0", output: "global_pooling/Mean", size: 224, layout: nhwc, range: unit }}
"#,
        m = models.display()
    );
    serde_yaml::from_str(&yaml).unwrap()
}

pub(crate) fn stage(cfg: &FacesConfig) -> FaceStage {
    let cx = BuildCx {
        config: Arc::new(Default::default()),
        store_dir: PathBuf::from("."),
        image_side: Some(cfg.side),
        budget: Budget::new(1 << 30),
        worker: 0,
        models_dir: None,
        pipeline_dir: None,
        gpu_batch: Arc::new(std::sync::atomic::AtomicUsize::new(8)),
    };
    let plan_cx = PlanCx {
        config: &cx.config,
        models_dir: None,
        pipeline_dir: None,
    };
    Faces.plan(cfg, &plan_cx).expect("plans");
    match Faces.build_stage(cfg, &cx) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

pub(crate) fn load(path: &std::path::Path) -> Rgb {
    let img = image::open(path).unwrap().to_rgb8();
    Rgb {
        width: img.width(),
        height: img.height(),
        pixels: img.into_raw(),
    }
}

#[test]
fn explore_samples() {
    let Some(dir) = available("explore_samples") else {
        return;
    };
    let mut st = stage(&config(&dir.join("models")));
    for i in 1..=6 {
        let img = load(&dir.join(format!("photos/faces/sample{i}.jpg")));
        let t = std::time::Instant::now();
        let p = st.analyse(img.as_ref(), 1.0).unwrap();
        eprintln!("sample{i}: {} faces in {:?}", p.faces.len(), t.elapsed());
        for f in &p.faces {
            eprintln!(
                "  x {:.0} y {:.0} w {:.0} conf {:.2} ear {:?}/{:?} turn {:?} blink {:?} sharp {:?} eye {:?}",
                f.x, f.y, f.w, f.confidence, f.ear_left, f.ear_right, f.head_turn, f.is_blink, f.sharpness, f.eye_sharpness
            );
        }
    }
}
