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
eyes: {{ model: {m}/iris_landmark.onnx }}
embedding: {{ model: {m}/faceres_1024.onnx, input: "input_1:0", output: "global_pooling/Mean", size: 224, layout: nhwc, range: byte }}
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

/// Clearly visible faces per sample photo, counted by eye: sample1–6.
const FACES: [usize; 6] = [3, 3, 3, 4, 5, 4];

#[test]
fn detects_every_clearly_visible_face() {
    let Some(dir) = available("detects_every_clearly_visible_face") else {
        return;
    };
    let mut st = stage(&config(&dir.join("models")));
    for (i, want) in FACES.iter().enumerate() {
        let img = load(&dir.join(format!("photos/faces/sample{}.jpg", i + 1)));
        let p = st.analyse(img.as_ref(), 1.0).unwrap();
        assert_eq!(p.faces.len(), *want, "sample{}", i + 1);
        for f in &p.faces {
            assert!(
                f.x >= -f.w * 0.2 && f.x + f.w <= img.width as f32 * 1.05,
                "{f:?}"
            );
            assert!(
                f.w > 100.0 && f.w < 400.0,
                "a face of these photos is 150–300 px: {}",
                f.w
            );
            assert_eq!(f.mesh.len(), landmarks::POINTS);
            assert_eq!(f.embedding.len(), 1024);
            assert!(
                f.thumbnail
                    .as_ref()
                    .is_some_and(|t| t.starts_with(&[0xFF, 0xD8]))
            );
        }
        assert_eq!(p.is_group_portrait, *want >= 4);
        assert!(p.face_quality.is_some_and(|q| q > 6.5 && q <= 10.0));
        // Faces are numbered left to right.
        assert!(
            p.faces
                .windows(2)
                .all(|w| w[0].x < w[1].x && w[0].index + 1 == w[1].index)
        );
    }
}

#[test]
fn boxes_map_back_to_the_original_frame() {
    let Some(dir) = available("boxes_map_back_to_the_original_frame") else {
        return;
    };
    let mut st = stage(&config(&dir.join("models")));
    let img = load(&dir.join("photos/faces/sample6.jpg"));
    let full = st.analyse(img.as_ref(), 1.0).unwrap();
    // The same photo decoded at half size: boxes in original pixels agree.
    let mut r = fr::Resizer::new();
    let half = crate::decode::resize(&mut r, &img, img.width / 2, img.height / 2).unwrap();
    let small = st.analyse(half.as_ref(), 2.0).unwrap();
    assert_eq!(full.faces.len(), small.faces.len());
    for (a, b) in full.faces.iter().zip(&small.faces) {
        assert!(
            (a.x - b.x).abs() < 0.15 * a.w && (a.w - b.w).abs() < 0.2 * a.w,
            "{a:?} vs {b:?}"
        );
    }
}

#[test]
fn closed_eyes_blink_and_open_eyes_do_not() {
    let Some(dir) = available("closed_eyes_blink_and_open_eyes_do_not") else {
        return;
    };
    let mut st = stage(&config(&dir.join("models")));
    // Four frontal faces with open eyes.
    let mut img = load(&dir.join("photos/faces/sample6.jpg"));
    let open = st.analyse(img.as_ref(), 1.0).unwrap();
    assert_eq!(open.is_blink, Some(false));
    assert!(
        open.faces.iter().all(|f| f.is_blink == Some(false)),
        "{:?}",
        open.faces.iter().map(|f| f.ear_left).collect::<Vec<_>>()
    );
    assert!(open.eyes_open.is_some_and(|e| e > 5.0));
    close_eyes(&mut img, &open.faces);
    let closed = st.analyse(img.as_ref(), 1.0).unwrap();
    assert_eq!(closed.faces.len(), 4);
    assert_eq!(closed.is_blink, Some(true));
    assert!(
        closed.faces.iter().all(|f| f.is_blink == Some(true)),
        "{:?}",
        closed
            .faces
            .iter()
            .map(|f| (f.ear_left, f.ear_right))
            .collect::<Vec<_>>()
    );
    assert!(closed.eyes_open.is_some_and(|e| e < 5.0));
}

#[test]
fn embeddings_separate_people_at_the_byte_scale() {
    let Some(dir) = available("embeddings_separate_people_at_the_byte_scale") else {
        return;
    };
    // faceres takes 0–255: at 0–1 every face looks alike (cosine ≥ 0.99).
    for (range, separates) in [(Range::Byte, true), (Range::Unit, false)] {
        let mut cfg = config(&dir.join("models"));
        cfg.embedding.as_mut().unwrap().range = range;
        let mut st = stage(&cfg);
        let mut all = Vec::new();
        for i in [1, 3, 6] {
            let img = load(&dir.join(format!("photos/faces/sample{i}.jpg")));
            let a = st.analyse(img.as_ref(), 1.0).unwrap();
            let b = st.analyse(mirrored(&img).as_ref(), 1.0).unwrap();
            let n = a.faces.len();
            assert_eq!(b.faces.len(), n);
            for (k, f) in a.faces.iter().enumerate() {
                all.push((format!("{i}.{k}"), f.embedding.clone()));
            }
            // Mirrored: the faces come in reverse order.
            for (k, f) in b.faces.iter().enumerate() {
                all.push((format!("{i}.{}", n - 1 - k), f.embedding.clone()));
            }
        }
        let (mut same, mut diff) = (f32::MAX, f32::MIN);
        for x in 0..all.len() {
            for y in x + 1..all.len() {
                let s: f32 = all[x].1.iter().zip(&all[y].1).map(|(a, b)| a * b).sum();
                if all[x].0 == all[y].0 {
                    same = same.min(s)
                } else {
                    diff = diff.max(s)
                }
            }
        }
        assert_eq!(
            same > diff + 0.1,
            separates,
            "{range:?}: same ≥ {same}, different ≤ {diff}"
        );
    }
}

/// `img` mirrored left–right.
pub(crate) fn mirrored(img: &Rgb) -> Rgb {
    Rgb {
        pixels: measure::mirror(&img.pixels, img.width),
        ..*img
    }
}

/// Paints each eye of each face (from its mesh) with the colour of the
/// face's cheek: closed eyes, as far as any model can tell.
pub(crate) fn close_eyes(img: &mut Rgb, faces: &[Face]) {
    let w = img.width as usize;
    for f in faces {
        let cheek = f.mesh[205];
        let at = |x: f32, y: f32| {
            ((y as usize).min(img.height as usize - 1) * w + (x as usize).min(w - 1)) * 3
        };
        let i = at(cheek[0], cheek[1]);
        let skin = [img.pixels[i], img.pixels[i + 1], img.pixels[i + 2]];
        for eye in [landmarks::LEFT_EYE, landmarks::RIGHT_EYE] {
            let ([cx, cy], ew) = landmarks::eye_box(&f.mesh, &eye);
            let (hw, hh) = (ew * 0.75, ew * 0.45);
            // Skin over the eye, then the closed lids' dark lash line.
            let lash = skin.map(|c| c / 4);
            for y in (cy - hh) as usize..(cy + hh) as usize {
                for x in (cx - hw) as usize..(cx + hw) as usize {
                    let i = at(x as f32, y as f32);
                    let on_line = (y as f32 - cy).abs() < (ew * 0.04).max(1.0)
                        && (x as f32 - cx).abs() < ew * 0.5;
                    img.pixels[i..i + 3].copy_from_slice(if on_line { &lash } else { &skin });
                }
            }
        }
    }
}

#[test]
fn hdbscan_pairs_each_face_with_its_mirror_image() {
    let Some(dir) = available("hdbscan_pairs_each_face_with_its_mirror_image") else {
        return;
    };
    let mut st = stage(&config(&dir.join("models")));
    let mut pts = Vec::new();
    let mut names = Vec::new();
    for i in 1..=3 {
        let img = load(&dir.join(format!("photos/faces/sample{i}.jpg")));
        for (tag, im) in [("o", img.clone()), ("m", mirrored(&img))] {
            let p = st.analyse(im.as_ref(), 1.0).unwrap();
            let n = p.faces.len();
            for (k, f) in p.faces.iter().enumerate() {
                pts.push(f.embedding.clone());
                names.push(format!(
                    "{i}.{}{tag}",
                    if tag == "m" { n - 1 - k } else { k }
                ));
            }
        }
    }
    let refs: Vec<&[f32]> = pts.iter().map(Vec::as_slice).collect();
    let cl = people::clusters(&refs, &Default::default());
    assert_eq!(cl.len(), 9, "nine people");
    for c in &cl {
        let who: Vec<&str> = c.iter().map(|&i| &names[i][..3]).collect();
        assert!(c.len() == 2 && who[0] == who[1], "{who:?}");
    }
}
