//! The MTCNN cascade (Zhang et al., 2016, as in FaceNet's `detect_face`):
//!
//! 1. **P-Net**, fully convolutional, on an image pyramid (from the scale at
//!    which the smallest face asked for is 12 pixels, shrinking by
//!    `scale_factor`, 0.709): every 12×12 window (stride 2) whose face
//!    probability reaches the first threshold is a candidate, its box
//!    refined by the regression; non-maximum suppression per scale (IoU
//!    0.5) and across scales (0.7); boxes made square.
//! 2. **R-Net** on 24×24 crops of the candidates: those above the second
//!    threshold, suppressed (0.7), refined, made square.
//! 3. **O-Net** on 48×48 crops: boxes above the third threshold, refined,
//!    with five landmarks (eyes, nose tip, mouth corners, left to right in
//!    the image), suppressed by intersection over the smaller box (0.7).
//!
//! The three models (Keras ports of the original Caffe weights) take NHWC
//! batches of images with width and height swapped — the original was
//! trained on MATLAB's column-major, transposed images — scaled as
//! (x − 127.5) / 128; their outputs come back in the same transposed layout.

use crate::onnx::shared::Client;
use fast_image_resize as fr;

use super::detection::Detection;
use crate::working::RgbRef;

/// P-Net's window side and stride in pyramid pixels.
const CELL: f32 = 12.0;
const STRIDE: f32 = 2.0;
/// R-Net and O-Net crops per run.
const BATCH: usize = 128;

/// A candidate face: corners (x1, y1, x2, y2, inclusive, frame pixels), its
/// probability and the box regression of the net that scored it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub b: [f32; 4],
    pub score: f32,
    pub reg: [f32; 4],
}

/// The pyramid's scales for a `width`×`height` frame: the first maps
/// `min_face` pixels to P-Net's 12, each next one is `factor` times smaller,
/// down to where the short side still holds one window.
pub fn scales(width: u32, height: u32, min_face: f32, factor: f32) -> Vec<f32> {
    let m = CELL / min_face.max(1.0);
    let mut short = width.min(height) as f32 * m;
    let mut out = Vec::new();
    let mut s = m;
    while short >= CELL && out.len() < 64 {
        out.push(s);
        s *= factor;
        short *= factor;
    }
    out
}

/// Candidates from P-Net's maps at one scale. `prob` holds the two class
/// probabilities and `reg` the four offsets per cell, cells in the models'
/// transposed order (`along_x` columns of `along_y` cells each).
pub fn pnet_candidates(
    prob: &[f32],
    reg: &[f32],
    along_x: usize,
    along_y: usize,
    scale: f32,
    threshold: f32,
) -> Vec<Candidate> {
    let mut out = Vec::new();
    for a in 0..along_x {
        for b in 0..along_y {
            let cell = a * along_y + b;
            let Some(&score) = prob.get(cell * 2 + 1) else {
                continue;
            };
            if score < threshold {
                continue;
            }
            let (x, y) = (a as f32, b as f32);
            let r = &reg[cell * 4..cell * 4 + 4];
            out.push(Candidate {
                b: [
                    ((STRIDE * x + 1.0) / scale).trunc(),
                    ((STRIDE * y + 1.0) / scale).trunc(),
                    ((STRIDE * x + CELL) / scale).trunc(),
                    ((STRIDE * y + CELL) / scale).trunc(),
                ],
                score,
                reg: [r[0], r[1], r[2], r[3]],
            });
        }
    }
    out
}

/// Greedy non-maximum suppression, best first: a box goes when its overlap
/// with a kept one exceeds `threshold` — intersection over union, or over
/// the smaller box (`by_min`). Areas count pixels inclusively.
pub fn nms(mut cands: Vec<Candidate>, threshold: f32, by_min: bool) -> Vec<Candidate> {
    cands.sort_by(|a, b| b.score.total_cmp(&a.score));
    let area = |b: &[f32; 4]| (b[2] - b[0] + 1.0).max(0.0) * (b[3] - b[1] + 1.0).max(0.0);
    let mut kept: Vec<Candidate> = Vec::new();
    for c in cands {
        let overlaps = kept.iter().any(|k| {
            let w = (k.b[2].min(c.b[2]) - k.b[0].max(c.b[0]) + 1.0).max(0.0);
            let h = (k.b[3].min(c.b[3]) - k.b[1].max(c.b[1]) + 1.0).max(0.0);
            let inter = w * h;
            let o = if by_min {
                inter / area(&k.b).min(area(&c.b))
            } else {
                inter / (area(&k.b) + area(&c.b) - inter)
            };
            o > threshold
        });
        if !overlaps {
            kept.push(c);
        }
    }
    kept
}

/// The box moved by its regression, in units of its size (`plus_one`: the
/// size counted inclusively, as R-Net and O-Net's refinement does).
fn refined(c: &Candidate, plus_one: bool) -> [f32; 4] {
    let extra = if plus_one { 1.0 } else { 0.0 };
    let w = c.b[2] - c.b[0] + extra;
    let h = c.b[3] - c.b[1] + extra;
    [
        c.b[0] + c.reg[0] * w,
        c.b[1] + c.reg[1] * h,
        c.b[2] + c.reg[2] * w,
        c.b[3] + c.reg[3] * h,
    ]
}

/// The square of the box's longer side around its centre.
fn squared(b: [f32; 4]) -> [f32; 4] {
    let (w, h) = (b[2] - b[0], b[3] - b[1]);
    let l = w.max(h);
    let x = b[0] + w * 0.5 - l * 0.5;
    let y = b[1] + h * 0.5 - l * 0.5;
    [x, y, x + l, y + l]
}

/// An RGB8 image as the models take it: transposed (x major), (v − 127.5)/128.
fn write_transposed(pixels: &[u8], width: usize, height: usize, out: &mut [f32]) {
    for x in 0..width {
        for y in 0..height {
            let src = (y * width + x) * 3;
            let dst = (x * height + y) * 3;
            for c in 0..3 {
                out[dst + c] = (pixels[src + c] as f32 - 127.5) * 0.0078125;
            }
        }
    }
}

/// `img` resized to `w`×`h` (bilinear convolution, area-aware when shrinking).
fn resized(resizer: &mut fr::Resizer, img: RgbRef<'_>, w: u32, h: u32) -> Result<Vec<u8>, String> {
    let src = fr::images::ImageRef::new(img.width, img.height, img.pixels, fr::PixelType::U8x3)
        .map_err(|e| e.to_string())?;
    let mut dst = fr::images::Image::new(w, h, fr::PixelType::U8x3);
    let opts =
        fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Bilinear));
    resizer
        .resize(&src, &mut dst, &opts)
        .map_err(|e| e.to_string())?;
    Ok(dst.into_vec())
}

/// The box's pixels (corners inclusive, outside the frame black) resized to
/// `size`×`size`; `None` for an empty or absurd box.
fn crop(
    resizer: &mut fr::Resizer,
    img: RgbRef<'_>,
    b: &[f32; 4],
    size: u32,
) -> Result<Option<Vec<u8>>, String> {
    let (x1, y1, x2, y2) = (b[0] as i64, b[1] as i64, b[2] as i64, b[3] as i64);
    let (w, h) = (x2 - x1 + 1, y2 - y1 + 1);
    let limit = 4 * i64::from(img.width.max(img.height));
    if w < 2 || h < 2 || w > limit || h > limit {
        return Ok(None);
    }
    let mut buf = vec![0u8; (w * h * 3) as usize];
    let (iw, ih) = (i64::from(img.width), i64::from(img.height));
    let (sx0, sx1) = (x1.max(0), (x2 + 1).min(iw));
    for y in y1.max(0)..(y2 + 1).min(ih) {
        if sx1 <= sx0 {
            break;
        }
        let src = ((y * iw + sx0) * 3) as usize;
        let dst = (((y - y1) * w + (sx0 - x1)) * 3) as usize;
        let n = ((sx1 - sx0) * 3) as usize;
        buf[dst..dst + n].copy_from_slice(&img.pixels[src..src + n]);
    }
    let patch = RgbRef {
        width: w as u32,
        height: h as u32,
        pixels: &buf,
    };
    resized(resizer, patch, size, size).map(Some)
}

/// Boxes and their crops.
type Crops = (Vec<[f32; 4]>, Vec<Vec<u8>>);

/// One of the three nets: its session (the process's, shared with the
/// other workers) and input name.
pub struct Net {
    client: Client,
    input: String,
}

/// A net's outputs: (shape, values) in the model's order.
type NetOutputs = Vec<(Vec<i64>, Vec<f32>)>;

impl Net {
    pub fn new(client: Client, field: &str) -> Result<Net, String> {
        let inputs: Vec<String> = client
            .info()
            .inputs
            .iter()
            .map(|(n, _)| n.clone())
            .collect();
        let [input] = inputs.as_slice() else {
            return Err(format!(
                "{field}: an MTCNN net has one input, this one has {}",
                inputs.len()
            ));
        };
        Ok(Net {
            input: input.clone(),
            client,
        })
    }

    fn run(&mut self, shape: [usize; 4], data: Vec<f32>) -> Result<NetOutputs, String> {
        // Gathered with other workers' requests of the same shape.
        let out = self
            .client
            .run(&self.input, shape.to_vec(), data, usize::MAX, false)?;
        Ok(out
            .into_iter()
            .map(|(_, shape, values)| (shape, values))
            .collect())
    }

    /// Runs on `size`×`size` crops in batches; per crop, the values of the
    /// outputs whose last dimension is each of `widths`.
    fn run_crops<const K: usize>(
        &mut self,
        crops: &[Vec<u8>],
        size: usize,
        widths: [usize; K],
    ) -> Result<Vec<[Vec<f32>; K]>, String> {
        let mut out = Vec::with_capacity(crops.len());
        let len = size * size * 3;
        for batch in crops.chunks(BATCH) {
            let mut data = vec![0.0f32; batch.len() * len];
            for (c, d) in batch.iter().zip(data.chunks_exact_mut(len)) {
                write_transposed(c, size, size, d);
            }
            let res = self.run([batch.len(), size, size, 3], data)?;
            let pick = |w: usize| -> Result<&Vec<f32>, String> {
                res.iter()
                    .find(|(s, v)| s.last() == Some(&(w as i64)) && v.len() == batch.len() * w)
                    .map(|(_, v)| v)
                    .ok_or_else(|| {
                        format!(
                            "no output of {w} values per crop (outputs: {:?})",
                            res.iter().map(|(s, _)| s).collect::<Vec<_>>()
                        )
                    })
            };
            let cols: Vec<&Vec<f32>> = widths.iter().map(|&w| pick(w)).collect::<Result<_, _>>()?;
            for i in 0..batch.len() {
                out.push(std::array::from_fn(|k| {
                    let w = widths[k];
                    cols[k][i * w..(i + 1) * w].to_vec()
                }));
            }
        }
        Ok(out)
    }
}

/// The cascade: the three nets and their settings.
pub struct Cascade {
    pub pnet: Net,
    pub rnet: Net,
    pub onet: Net,
    /// Face probability each net's candidates must reach.
    pub thresholds: [f32; 3],
    /// The pyramid's step (0.709: half the area per two steps).
    pub factor: f32,
    resizer: fr::Resizer,
}

impl Cascade {
    pub fn new(pnet: Net, rnet: Net, onet: Net, thresholds: [f32; 3], factor: f32) -> Cascade {
        Cascade {
            pnet,
            rnet,
            onet,
            thresholds,
            factor,
            resizer: fr::Resizer::new(),
        }
    }

    /// The faces of `img` at least `min_face` pixels wide: boxes, O-Net's
    /// probability, and as keypoints the eyes (left, right in the image:
    /// the subject's right eye first, as BlazeFace gives them), the nose tip
    /// and the mouth's centre, then the two mouth corners.
    pub fn detect(&mut self, img: RgbRef<'_>, min_face: f32) -> Result<Vec<Detection>, String> {
        let [t1, t2, t3] = self.thresholds;
        // 1. P-Net over the pyramid.
        let mut all = Vec::new();
        for scale in scales(img.width, img.height, min_face, self.factor) {
            let w = ((img.width as f32 * scale).ceil() as usize).max(1);
            let h = ((img.height as f32 * scale).ceil() as usize).max(1);
            let small = resized(&mut self.resizer, img, w as u32, h as u32)?;
            let mut data = vec![0.0f32; w * h * 3];
            write_transposed(&small, w, h, &mut data);
            let out = self.pnet.run([1, w, h, 3], data)?;
            let map = |c: i64| {
                out.iter()
                    .find(|(s, _)| s.len() == 4 && s[3] == c)
                    .ok_or_else(|| format!("with.detector: P-Net has no output of {c} channels"))
            };
            let (prob_shape, prob) = map(2)?;
            let (_, reg) = map(4)?;
            let (along_x, along_y) = (prob_shape[1] as usize, prob_shape[2] as usize);
            let found = pnet_candidates(prob, reg, along_x, along_y, scale, t1);
            all.extend(nms(found, 0.5, false));
        }
        let boxes: Vec<[f32; 4]> = nms(all, 0.7, false)
            .iter()
            .map(|c| squared(refined(c, false)).map(f32::trunc))
            .collect();
        if boxes.is_empty() {
            return Ok(Vec::new());
        }
        // 2. R-Net.
        let (boxes, crops) = self.crops(img, &boxes, 24)?;
        let outs = self.rnet.run_crops(&crops, 24, [2, 4])?;
        let passed: Vec<Candidate> = boxes
            .iter()
            .zip(outs)
            .filter(|(_, [p, _])| p[1] > t2)
            .map(|(b, [p, r])| Candidate {
                b: *b,
                score: p[1],
                reg: [r[0], r[1], r[2], r[3]],
            })
            .collect();
        let boxes: Vec<[f32; 4]> = nms(passed, 0.7, false)
            .iter()
            .map(|c| squared(refined(c, true)).map(f32::trunc))
            .collect();
        if boxes.is_empty() {
            return Ok(Vec::new());
        }
        // 3. O-Net.
        let (boxes, crops) = self.crops(img, &boxes, 48)?;
        let outs = self.onet.run_crops(&crops, 48, [2, 4, 10])?;
        let mut faces: Vec<(Candidate, Vec<[f32; 2]>)> = Vec::new();
        for (b, [p, r, l]) in boxes.iter().zip(outs) {
            if p[1] <= t3 {
                continue;
            }
            let (w, h) = (b[2] - b[0] + 1.0, b[3] - b[1] + 1.0);
            let points: Vec<[f32; 2]> = (0..5)
                .map(|k| [w * l[k] + b[0] - 1.0, h * l[5 + k] + b[1] - 1.0])
                .collect();
            let c = Candidate {
                b: *b,
                score: p[1],
                reg: [r[0], r[1], r[2], r[3]],
            };
            let c = Candidate {
                b: refined(&c, true),
                ..c
            };
            faces.push((c, points));
        }
        let kept = nms(faces.iter().map(|(c, _)| *c).collect(), 0.7, true);
        Ok(kept
            .into_iter()
            .map(|c| {
                let (_, p) = faces.iter().find(|(f, _)| *f == c).expect("kept");
                let mouth = [(p[3][0] + p[4][0]) / 2.0, (p[3][1] + p[4][1]) / 2.0];
                Detection {
                    x: c.b[0],
                    y: c.b[1],
                    w: c.b[2] - c.b[0],
                    h: c.b[3] - c.b[1],
                    score: c.score,
                    keypoints: vec![p[0], p[1], p[2], mouth, p[3], p[4]],
                }
            })
            .collect())
    }

    /// The boxes that make a crop, and their crops.
    fn crops(&mut self, img: RgbRef<'_>, boxes: &[[f32; 4]], size: u32) -> Result<Crops, String> {
        let mut kept = Vec::new();
        let mut crops = Vec::new();
        for b in boxes {
            if let Some(c) = crop(&mut self.resizer, img, b, size)? {
                kept.push(*b);
                crops.push(c);
            }
        }
        Ok((kept, crops))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pyramid_starts_at_the_smallest_face() {
        let s = scales(1000, 600, 20.0, 0.709);
        assert!((s[0] - 0.6).abs() < 1e-6);
        assert!((s[1] - 0.6 * 0.709).abs() < 1e-6);
        // The smallest level's short side still holds a 12-pixel window.
        let last = *s.last().unwrap();
        assert!(600.0 * last >= 12.0 && 600.0 * last * 0.709 < 12.0);
        assert!(scales(10, 10, 20.0, 0.709).is_empty());
    }

    #[test]
    fn pnet_cells_become_boxes_in_the_frame() {
        // 3 cells along x, 2 along y, transposed order; the cell (x 2, y 1)
        // is a face with a regression.
        let (ax, ay) = (3, 2);
        let mut prob = vec![0.0f32; ax * ay * 2];
        let mut reg = vec![0.0f32; ax * ay * 4];
        let cell = 2 * ay + 1;
        prob[cell * 2 + 1] = 0.9;
        reg[cell * 4..cell * 4 + 4].copy_from_slice(&[0.1, -0.1, 0.0, 0.2]);
        let c = pnet_candidates(&prob, &reg, ax, ay, 0.5, 0.6);
        assert_eq!(c.len(), 1);
        // Window at (4, 2) of the half-size image: (10, 6)–(32, 28) here.
        assert_eq!(c[0].b, [10.0, 6.0, 32.0, 28.0]);
        assert_eq!(c[0].score, 0.9);
        let r = refined(&c[0], false);
        assert!((r[0] - 12.2).abs() < 1e-4 && (r[1] - 3.8).abs() < 1e-4);
        assert!((r[3] - 32.4).abs() < 1e-4);
        assert_eq!(squared([0.0, 0.0, 10.0, 20.0]), [-5.0, 0.0, 15.0, 20.0]);
    }

    #[test]
    fn suppression_by_union_and_by_the_smaller_box() {
        let c = |b: [f32; 4], score: f32| Candidate {
            b,
            score,
            reg: [0.0; 4],
        };
        let cands = vec![
            c([0.0, 0.0, 9.0, 9.0], 0.8),
            c([1.0, 1.0, 10.0, 10.0], 0.9),
            c([2.0, 2.0, 5.0, 5.0], 0.95),
            c([50.0, 50.0, 59.0, 59.0], 0.7),
        ];
        // By union the small box inside overlaps little (16/100).
        let union: Vec<f32> = nms(cands.clone(), 0.5, false)
            .iter()
            .map(|c| c.score)
            .collect();
        assert_eq!(union, [0.95, 0.9, 0.7]);
        let by_min: Vec<f32> = nms(cands, 0.7, true).iter().map(|c| c.score).collect();
        assert_eq!(by_min, [0.95, 0.7]);
    }

    #[test]
    fn images_are_given_transposed() {
        // 2×1 image: pixel (0, 0) black, (1, 0) white.
        let px = [0u8, 0, 0, 255, 255, 255];
        let mut out = [0.0f32; 6];
        write_transposed(&px, 2, 1, &mut out);
        assert_eq!(out[0], -127.5 / 128.0);
        assert_eq!(out[3], 127.5 / 128.0);
    }
}
