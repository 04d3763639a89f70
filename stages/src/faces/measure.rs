//! Per-face and per-photo measures: mesh-derived eyes, sharpness, eye
//! sharpness, isolation, face quality, thumbnails, and the Arrow columns of
//! the `faces` rows.

use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_array::builder::{BinaryBuilder, BooleanBuilder, Float32Builder, ListBuilder};
use arrow_schema::Field;

use super::crop::{Region, grey_box};
use super::detection::Detection;
use super::landmarks::{self, LEFT_EYE, RIGHT_EYE};
use crate::technical::metrics::laplacian_variance;
use crate::working::RgbRef;

/// What the measures depend on (from `face_detection`, `face_processing`
/// and the stage's `with:`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub min_confidence: f32,
    /// Pixels of the original frame.
    pub min_face_size: f32,
    pub blink_ear: f32,
    pub min_faces_for_group: usize,
    pub max_head_turn: f32,
    pub crop_padding: f32,
    pub thumbnail_size: u32,
    pub thumbnail_quality: u8,
}

/// One face, coordinates in the original frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Face {
    /// Position in its photo, left to right.
    pub index: usize,
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
    pub confidence: f32,
    /// Mesh points, original frame pixels (empty without a landmark model).
    pub mesh: Vec<[f32; 2]>,
    pub embedding: Vec<f32>,
    pub ear_left: Option<f32>,
    pub ear_right: Option<f32>,
    pub head_turn: Option<f32>,
    /// `None`: not judged (no mesh, or the head turned too far).
    pub is_blink: Option<bool>,
    pub eyes_open: Option<f32>,
    pub sharpness: Option<f64>,
    pub eye_sharpness: Option<f64>,
    pub thumbnail: Option<Vec<u8>>,
}

/// The faces of one photo and its face metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhotoFaces {
    pub faces: Vec<Face>,
    pub face_ratio: f64,
    pub is_group_portrait: bool,
    pub face_quality: Option<f64>,
    pub eye_sharpness: Option<f64>,
    pub face_sharpness: Option<f64>,
    pub isolation_ratio: Option<f64>,
    pub is_blink: Option<bool>,
    pub eyes_open: Option<f64>,
}

/// The detector's eye keypoints' angle (radians): the face upright when
/// the crop is rotated by it. BlazeFace's first two keypoints are the eyes.
fn eye_angle(d: &Detection) -> f32 {
    match d.keypoints.as_slice() {
        [a, b, ..] => (b[1] - a[1]).atan2(b[0] - a[0]),
        _ => 0.0,
    }
}

/// The face mesh's crop: MediaPipe's, the box made square and enlarged 1.5×,
/// upright.
pub fn mesh_region(d: &Detection) -> Region {
    Region {
        cx: d.x + d.w / 2.0,
        cy: d.y + d.h / 2.0,
        side: d.w.max(d.h) * 1.5,
        angle: eye_angle(d),
    }
}

impl Face {
    pub fn from_detection(index: usize, d: &Detection, scale: f32) -> Face {
        Face {
            index,
            x: d.x * scale,
            y: d.y * scale,
            w: d.w * scale,
            h: d.h * scale,
            confidence: d.score,
            ..Default::default()
        }
    }

    /// Takes the mesh (`values`: x, y, z per point in crop pixels of a
    /// `size` crop of `region`) and judges the eyes.
    pub fn set_mesh(
        &mut self,
        values: &[f32],
        region: &Region,
        size: u32,
        scale: f32,
        s: &Settings,
    ) {
        let crop: Vec<[f32; 2]> = values.chunks_exact(3).map(|p| [p[0], p[1]]).collect();
        let left = landmarks::eye_aspect_ratio(&crop, &LEFT_EYE);
        let right = landmarks::eye_aspect_ratio(&crop, &RIGHT_EYE);
        let turn = landmarks::head_turn(&crop);
        self.head_turn = Some(turn);
        self.set_ears(left, right, s);
        self.mesh = crop
            .iter()
            .map(|&[u, v]| {
                let [x, y] = region.to_frame(u, v, size);
                [x * scale, y * scale]
            })
            .collect();
    }

    /// Takes the eye aspect ratios and judges the eyes (when the head is
    /// turned little enough).
    pub fn set_ears(&mut self, left: f32, right: f32, s: &Settings) {
        self.ear_left = Some(left);
        self.ear_right = Some(right);
        if self.head_turn.is_some_and(|t| t <= s.max_head_turn) {
            let ear = (left + right) / 2.0;
            self.is_blink = Some(ear < s.blink_ear);
            self.eyes_open = Some(landmarks::eyes_open(ear, s.blink_ear));
        }
    }

    /// The crop the recognition model sees: the face (the mesh's extent when
    /// there is one, else the detector's box) with 10 % margin, upright.
    pub fn embedding_region(&self, d: &Detection, scale: f32) -> Region {
        let angle = eye_angle(d);
        if self.mesh.is_empty() {
            return Region {
                cx: d.x + d.w / 2.0,
                cy: d.y + d.h / 2.0,
                side: d.w.max(d.h) * 1.1,
                angle,
            };
        }
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for &[x, y] in &self.mesh {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
        Region {
            cx: (x0 + x1) / 2.0 / scale,
            cy: (y0 + y1) / 2.0 / scale,
            side: (x1 - x0).max(y1 - y0) / scale * 1.1,
            angle,
        }
    }

    /// Eye centres and widths in working pixels: from the mesh, else the
    /// detector's eye keypoints with a quarter of the box width.
    fn eyes(&self, d: &Detection, scale: f32) -> Vec<([f32; 2], f32)> {
        if !self.mesh.is_empty() {
            return [LEFT_EYE, RIGHT_EYE]
                .iter()
                .map(|e| {
                    let ([x, y], w) = landmarks::eye_box(&self.mesh, e);
                    ([x / scale, y / scale], w / scale)
                })
                .collect();
        }
        d.keypoints
            .iter()
            .take(2)
            .map(|&k| (k, d.w / 4.0))
            .collect()
    }
}

/// The eye model's crops (working pixels) of a face with a mesh: MediaPipe's,
/// centred on the eye corners, 2.3 × their distance, along them; the second
/// eye mirrored (the model sees every eye as the first).
pub fn eye_regions(face: &Face, scale: f32) -> [(Region, bool); 2] {
    let region = |eye: &[usize; 6]| {
        let (a, b) = (face.mesh[eye[0]], face.mesh[eye[3]]);
        let ([cx, cy], w) = landmarks::eye_box(&face.mesh, eye);
        Region {
            cx: cx / scale,
            cy: cy / scale,
            side: 2.3 * w / scale,
            angle: (b[1] - a[1]).atan2(b[0] - a[0]),
        }
    };
    [(region(&LEFT_EYE), false), (region(&RIGHT_EYE), true)]
}

/// RGB8 rows of `width` pixels mirrored left–right.
pub fn mirror(px: &[u8], width: u32) -> Vec<u8> {
    let w = width as usize;
    let mut out = px.to_vec();
    for (dst, src) in out.chunks_exact_mut(w * 3).zip(px.chunks_exact(w * 3)) {
        for x in 0..w {
            dst[x * 3..x * 3 + 3].copy_from_slice(&src[(w - 1 - x) * 3..(w - x) * 3]);
        }
    }
    out
}

/// Sharpness, eye sharpness, thumbnails and the photo's face metrics.
/// `dets` are `faces`' detections (working pixels).
pub fn measure(
    img: RgbRef<'_>,
    mut faces: Vec<Face>,
    dets: &[Detection],
    scale: f32,
    s: &Settings,
) -> PhotoFaces {
    let frame_area = (img.width as f64 * img.height as f64).max(1.0);
    for (f, d) in faces.iter_mut().zip(dets) {
        f.sharpness = grey_box(img, d.x, d.y, d.w, d.h).map(|g| laplacian_variance(&g));
        let eyes: Vec<f64> = f
            .eyes(d, scale)
            .into_iter()
            .filter_map(|([cx, cy], w)| {
                let side = (w * 1.5).max(4.0);
                grey_box(img, cx - side / 2.0, cy - side / 2.0, side, side)
                    .map(|g| laplacian_variance(&g))
            })
            .collect();
        f.eye_sharpness = match (f.sharpness, eyes.is_empty()) {
            (Some(face), false) => {
                Some(eyes.iter().sum::<f64>() / eyes.len() as f64 / face.max(1e-6))
            }
            _ => None,
        };
        let pad = d.w.max(d.h) * (1.0 + 2.0 * s.crop_padding);
        let out = (pad.round() as u32).clamp(16, s.thumbnail_size.max(16));
        let region = Region {
            cx: d.x + d.w / 2.0,
            cy: d.y + d.h / 2.0,
            side: pad,
            angle: 0.0,
        };
        let px = region.sample(img, out, [0; 3]);
        f.thumbnail = crate::thumbnail::encode_jpeg(
            RgbRef {
                width: out,
                height: out,
                pixels: &px,
            },
            s.thumbnail_quality,
        )
        .ok();
    }
    let n = faces.len();
    let mut p = PhotoFaces {
        is_group_portrait: n >= s.min_faces_for_group,
        face_ratio: dets
            .iter()
            .map(|d| d.area() as f64 / frame_area)
            .fold(0.0, f64::max)
            .min(1.0),
        ..Default::default()
    };
    if n > 0 {
        let conf: Vec<f64> = faces.iter().map(|f| f.confidence as f64).collect();
        let min = conf.iter().copied().fold(f64::MAX, f64::min);
        let mean = conf.iter().sum::<f64>() / n as f64;
        p.face_quality = Some(10.0 * (0.5 * min + 0.5 * mean));
        let max_of = |v: Vec<f64>| v.into_iter().reduce(f64::max);
        p.face_sharpness = max_of(faces.iter().filter_map(|f| f.sharpness).collect());
        p.eye_sharpness = max_of(faces.iter().filter_map(|f| f.eye_sharpness).collect());
        if let Some(fs) = p.face_sharpness {
            let frame = grey_box(img, 0.0, 0.0, img.width as f32, img.height as f32)
                .map_or(0.0, |g| laplacian_variance(&g));
            p.isolation_ratio = Some((fs / (frame + 1.0)).max(1.0));
        }
        let judged: Vec<&Face> = faces.iter().filter(|f| f.is_blink.is_some()).collect();
        if !judged.is_empty() {
            p.is_blink = Some(judged.iter().any(|f| f.is_blink == Some(true)));
            p.eyes_open = judged
                .iter()
                .filter_map(|f| f.eyes_open.map(f64::from))
                .reduce(f64::min);
        }
    }
    p.faces = faces;
    p
}

/// The `faces` item columns (in `fields`' order) of `faces`.
pub fn face_columns(fields: &[Field], faces: &[&Face]) -> Result<Vec<ArrayRef>, String> {
    let floats = |get: &dyn Fn(&Face) -> Vec<f32>| -> ArrayRef {
        let mut b = ListBuilder::new(Float32Builder::new());
        for f in faces {
            b.values().append_slice(&get(f));
            b.append(true);
        }
        Arc::new(b.finish())
    };
    let f64s = |get: &dyn Fn(&Face) -> Option<f64>| -> ArrayRef {
        Arc::new(
            faces
                .iter()
                .map(|f| get(f))
                .collect::<arrow_array::Float64Array>(),
        )
    };
    let ints = |get: &dyn Fn(&Face) -> f32| -> ArrayRef {
        Arc::new(
            faces
                .iter()
                .map(|f| Some(get(f).round() as i32))
                .collect::<arrow_array::Int32Array>(),
        )
    };
    fields
        .iter()
        .map(|field| -> Result<ArrayRef, String> {
            let a: ArrayRef = match field.name().as_str() {
                "face_index" => Arc::new(
                    faces
                        .iter()
                        .map(|f| Some(f.index as i32))
                        .collect::<arrow_array::Int32Array>(),
                ),
                "box_x" => ints(&|f| f.x),
                "box_y" => ints(&|f| f.y),
                "box_width" => ints(&|f| f.w),
                "box_height" => ints(&|f| f.h),
                "confidence" => f64s(&|f| Some(f.confidence as f64)),
                "landmarks" => floats(&|f| f.mesh.iter().flatten().copied().collect()),
                "embedding" => floats(&|f| f.embedding.clone()),
                "eye_aspect_left" => f64s(&|f| f.ear_left.map(f64::from)),
                "eye_aspect_right" => f64s(&|f| f.ear_right.map(f64::from)),
                "head_turn" => f64s(&|f| f.head_turn.map(f64::from)),
                "eyes_open" => f64s(&|f| f.eyes_open.map(f64::from)),
                "sharpness" => f64s(&|f| f.sharpness),
                "eye_sharpness" => f64s(&|f| f.eye_sharpness),
                "is_blink" => {
                    let mut b = BooleanBuilder::new();
                    faces.iter().for_each(|f| b.append_option(f.is_blink));
                    Arc::new(b.finish())
                }
                "thumbnail" => {
                    let mut b = BinaryBuilder::new();
                    faces
                        .iter()
                        .for_each(|f| b.append_option(f.thumbnail.as_deref()));
                    Arc::new(b.finish())
                }
                other => return Err(format!("faces.{other}: no value for this column")),
            };
            Ok(a)
        })
        .collect::<Result<Vec<_>, _>>()
}
