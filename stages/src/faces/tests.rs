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
        crate::fixtures::absent(test, &format!("{} has no models", dir.display()));
        return None;
    }
    if let Err(e) = crate::onnx::runtime::environment() {
        crate::fixtures::absent(test, &e.to_string());
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

/// The test configuration with the MTCNN cascade for a detector.
pub(crate) fn mtcnn_config(models: &std::path::Path) -> FacesConfig {
    let mut cfg = config(models);
    cfg.detector = serde_yaml::from_str(&format!(
        r#"
decoder: mtcnn
model: {m}/mtcnn_pnet.onnx
rnet: {{ model: {m}/mtcnn_rnet.onnx }}
onet: {{ model: {m}/mtcnn_onet.onnx }}
"#,
        m = models.display()
    ))
    .unwrap();
    cfg
}

/// What the MTCNN cascade finds on sample1–6: every face BlazeFace finds
/// but the middle one of sample2 (head bowed, eyes closed, hair across the
/// face), which R-Net scores between 0.3 and 0.7 (O-Net would give it
/// 0.93), below the classic second threshold.
const MTCNN_FACES: [usize; 6] = [3, 2, 3, 4, 5, 4];

#[test]
fn mtcnn_finds_the_faces_and_its_eyes_level_the_crops() {
    let Some(dir) = available("mtcnn_finds_the_faces_and_its_eyes_level_the_crops") else {
        return;
    };
    let mut st = stage(&mtcnn_config(&dir.join("models")));
    let mut blaze = stage(&config(&dir.join("models")));
    let mut counts = Vec::new();
    for i in 1..=6 {
        let img = load(&dir.join(format!("photos/faces/sample{i}.jpg")));
        let dets = st.detect(img.as_ref(), 1.0).unwrap();
        let p = st.analyse(img.as_ref(), 1.0).unwrap();
        let b = blaze.analyse(img.as_ref(), 1.0).unwrap();
        counts.push(p.faces.len());
        assert_eq!(dets.len(), p.faces.len(), "sample{i}");
        for d in &dets {
            assert!(d.score > 0.8, "sample{i}: {d:?}");
            // The eyes (image left, then right) above the nose, above the
            // mouth, all inside the box.
            let k = &d.keypoints;
            assert_eq!(k.len(), 6);
            assert!(k[0][0] < k[1][0], "sample{i}: {k:?}");
            assert!(k[0][1].max(k[1][1]) < k[3][1] && k[2][1] < k[3][1], "{k:?}");
            assert!(
                k.iter()
                    .all(|p| p[0] > d.x && p[0] < d.x + d.w && p[1] > d.y && p[1] < d.y + d.h),
                "{d:?}"
            );
        }
        // Every face is one BlazeFace finds, and has a mesh and an embedding.
        for f in &p.faces {
            assert!(
                b.faces.iter().any(|g| {
                    let (cx, cy) = (f.x + f.w / 2.0, f.y + f.h / 2.0);
                    (cx - g.x - g.w / 2.0).abs() < 0.3 * g.w
                        && (cy - g.y - g.h / 2.0).abs() < 0.3 * g.h
                }),
                "sample{i}: {f:?} is no face BlazeFace found"
            );
            assert!(f.w > 100.0 && f.w < 400.0, "{}", f.w);
            assert_eq!(f.mesh.len(), landmarks::POINTS);
            assert_eq!(f.embedding.len(), 1024);
        }
        assert!(
            p.faces
                .windows(2)
                .all(|w| w[0].x < w[1].x && w[0].index + 1 == w[1].index)
        );
    }
    assert_eq!(counts, MTCNN_FACES);
}

#[test]
fn mtcnn_finds_no_face_on_landscapes() {
    let Some(dir) = available("mtcnn_finds_no_face_on_landscapes") else {
        return;
    };
    let mut st = stage(&mtcnn_config(&dir.join("models")));
    for name in LANDSCAPES {
        let img = load(&dir.join("photos/cameras/jpg").join(name));
        let p = st.analyse(img.as_ref(), 1.0).unwrap();
        assert!(p.faces.is_empty(), "{name}: {:?}", p.faces);
    }
}

/// Camera samples without people (looked at): landscapes, buildings.
const LANDSCAPES: [&str; 4] = [
    "gps/DSCN0010.jpg",
    "gps/DSCN0021.jpg",
    "Canon_40D.jpg",
    "Nikon_D70.jpg",
];

#[test]
fn scrfd_outputs_are_read_by_stride_in_model_order() {
    let det: DetectorConfig = serde_yaml::from_str(
        "{ model: scrfd.onnx, decoder: scrfd, size: 32, strides: [8, 16], anchors_per_layer: 2 }",
    )
    .unwrap();
    // Stride 8: 4×4 cells × 2 = 32 anchors; stride 16: 8.
    let mut s8 = vec![0.0f32; 32];
    s8[0] = 0.9;
    let mut b8 = vec![0.0f32; 128];
    b8[..4].copy_from_slice(&[0.0, 0.0, 2.0, 2.0]);
    let out: Outputs = vec![
        ("score_8".into(), vec![s8]),
        ("score_16".into(), vec![vec![0.0; 8]]),
        ("bbox_8".into(), vec![b8]),
        ("bbox_16".into(), vec![vec![0.0; 32]]),
        ("kps_8".into(), vec![vec![0.0; 320]]),
        ("kps_16".into(), vec![vec![0.0; 80]]),
    ];
    let d = scrfd(&det, 0.5, &out).unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].x, d[0].y, d[0].w, d[0].h), (0.0, 0.0, 16.0, 16.0));
    assert_eq!(d[0].keypoints.len(), 6, "eyes, nose, mouth, its corners");
    // Without keypoints too; a wrong stride is an error that says why.
    assert_eq!(scrfd(&det, 0.5, &out[..4].to_vec()).unwrap().len(), 1);
    let wrong: DetectorConfig = serde_yaml::from_str(
        "{ model: scrfd.onnx, decoder: scrfd, size: 32, strides: [4, 16], anchors_per_layer: 2 }",
    )
    .unwrap();
    let e = scrfd(&wrong, 0.5, &out).unwrap_err();
    assert!(e.contains("SCRFD"), "{e}");
}
