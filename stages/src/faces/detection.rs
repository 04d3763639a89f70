//! Face detection with an anchor-based SSD detector (MediaPipe BlazeFace):
//! anchors, box decoding, non-maximum suppression, and tiling of large
//! frames so that small faces reach the detector at a size it sees. (The
//! MTCNN cascade is in [`super::mtcnn`].)

use serde::Deserialize;

/// A face box in some frame's pixels, with the detector's keypoints
/// (BlazeFace: right eye, left eye, nose tip, mouth, right ear, left ear —
/// the subject's sides; MTCNN: the same first four, then the mouth's
/// corners). The first two, the eyes, set the crops' roll.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
    /// 0–1.
    pub score: f32,
    pub keypoints: Vec<[f32; 2]>,
}

impl Detection {
    pub fn area(&self) -> f32 {
        self.w.max(0.0) * self.h.max(0.0)
    }

    /// Intersection over union with `other`.
    pub fn iou(&self, other: &Detection) -> f32 {
        let x0 = self.x.max(other.x);
        let y0 = self.y.max(other.y);
        let x1 = (self.x + self.w).min(other.x + other.w);
        let y1 = (self.y + self.h).min(other.y + other.h);
        let inter = (x1 - x0).max(0.0) * (y1 - y0).max(0.0);
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    /// Intersection over the smaller box: a face found whole in one tile
    /// and cut in another overlaps mostly inside the larger box.
    pub fn overlap_of_smaller(&self, other: &Detection) -> f32 {
        let x0 = self.x.max(other.x);
        let y0 = self.y.max(other.y);
        let x1 = (self.x + self.w).min(other.x + other.w);
        let y1 = (self.y + self.h).min(other.y + other.h);
        let inter = (x1 - x0).max(0.0) * (y1 - y0).max(0.0);
        let small = self.area().min(other.area());
        if small <= 0.0 { 0.0 } else { inter / small }
    }

    /// The same detection with every coordinate mapped by `f(x, y)` for
    /// points and scaled by `s` for sizes (`f` must be `p ↦ o + s·p`).
    pub fn mapped(&self, ox: f32, oy: f32, s: f32) -> Detection {
        Detection {
            x: ox + s * self.x,
            y: oy + s * self.y,
            w: s * self.w,
            h: s * self.h,
            score: self.score,
            keypoints: self
                .keypoints
                .iter()
                .map(|[x, y]| [ox + s * x, oy + s * y])
                .collect(),
        }
    }
}

/// Which decoder reads the detector's outputs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decoder {
    /// MediaPipe BlazeFace: `[1, anchors, 16]` regressors (box centre and
    /// size, six keypoints, relative to the anchor and the input size) and
    /// `[1, anchors, 1]` logits.
    #[default]
    Blazeface,
    /// The MTCNN cascade (P-Net, R-Net, O-Net; [`super::mtcnn`]): boxes,
    /// O-Net's probability, five landmarks.
    Mtcnn,
    /// InsightFace SCRFD: per stride (`strides`, usually 8, 16, 32) and
    /// `anchors_per_layer` (2) anchors per cell, face probabilities
    /// `[anchors, 1]`, box distances `[anchors, 4]` (left, top, right,
    /// bottom of the cell's corner, in strides) and optionally five
    /// keypoints `[anchors, 10]`, outputs in that order: every stride's
    /// scores, then boxes, then keypoints ([`decode_scrfd`]).
    Scrfd,
}

/// MediaPipe's SSD anchors with a fixed anchor size (`SsdAnchorsCalculator`
/// with `fixed_anchor_size: true`): per layer of stride `s`, a grid of
/// `ceil(size / s)` cells, `per_layer` anchors per cell centred on it;
/// consecutive layers of equal stride share the grid. Centres are in 0–1.
pub fn anchors(size: u32, strides: &[u32], per_layer: usize) -> Vec<[f32; 2]> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < strides.len() {
        let stride = strides[i];
        let mut layers = 0;
        while i < strides.len() && strides[i] == stride {
            layers += 1;
            i += 1;
        }
        let cells = size.div_ceil(stride);
        for y in 0..cells {
            for x in 0..cells {
                let c = [
                    (x as f32 + 0.5) / cells as f32,
                    (y as f32 + 0.5) / cells as f32,
                ];
                out.extend(std::iter::repeat_n(c, layers * per_layer));
            }
        }
    }
    out
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x.clamp(-100.0, 100.0)).exp())
}

/// Decodes BlazeFace outputs for one image: every anchor whose score is at
/// least `min_score`, as boxes in input pixels (0–`size`).
pub fn decode_blazeface(
    regressors: &[f32],
    logits: &[f32],
    anchors: &[[f32; 2]],
    size: f32,
    min_score: f32,
) -> Vec<Detection> {
    let per = regressors.len() / anchors.len().max(1);
    let mut out = Vec::new();
    for (a, (anchor, &logit)) in anchors.iter().zip(logits).enumerate() {
        let score = sigmoid(logit);
        if score < min_score {
            continue;
        }
        let r = &regressors[a * per..(a + 1) * per];
        // Offsets are in input pixels, relative to the anchor centre.
        let cx = r[0] + anchor[0] * size;
        let cy = r[1] + anchor[1] * size;
        let (w, h) = (r[2], r[3]);
        let keypoints = r[4..]
            .chunks_exact(2)
            .map(|k| [k[0] + anchor[0] * size, k[1] + anchor[1] * size])
            .collect();
        out.push(Detection {
            x: cx - w / 2.0,
            y: cy - h / 2.0,
            w,
            h,
            score,
            keypoints,
        });
    }
    out
}

/// One stride's SCRFD outputs for one image.
#[derive(Debug, Clone, Copy)]
pub struct ScrfdLevel<'a> {
    pub stride: u32,
    /// Face probability per anchor (sigmoid applied by the model).
    pub scores: &'a [f32],
    /// Distances from the anchor point to the box's left, top, right and
    /// bottom edges, in strides.
    pub boxes: &'a [f32],
    /// Five keypoints (x, y) per anchor, offsets from the anchor point in
    /// strides; empty for models without them.
    pub keypoints: &'a [f32],
}

/// Decodes SCRFD outputs for a square input of `size` pixels: anchor
/// points on the grid of each stride (the cell's top-left corner, which is
/// how SCRFD places them), `per_cell` anchors each; every anchor whose score
/// is at least `min_score`, as boxes in input pixels. Keypoints as MTCNN
/// gives them (eyes, nose tip, mouth corners, left to right in the image)
/// become BlazeFace's order: the eyes, the nose tip, the mouth's centre,
/// then the two corners.
pub fn decode_scrfd(
    levels: &[ScrfdLevel<'_>],
    size: u32,
    per_cell: usize,
    min_score: f32,
) -> Vec<Detection> {
    let mut out = Vec::new();
    for level in levels {
        let s = level.stride as f32;
        let cells = size.div_ceil(level.stride) as usize;
        let anchors = (cells * cells * per_cell).min(level.scores.len());
        for a in 0..anchors {
            let score = level.scores[a];
            if score < min_score {
                continue;
            }
            let cell = a / per_cell;
            let (cx, cy) = ((cell % cells) as f32 * s, (cell / cells) as f32 * s);
            let Some(d) = level.boxes.get(a * 4..a * 4 + 4) else {
                continue;
            };
            let (x1, y1) = (cx - d[0] * s, cy - d[1] * s);
            let (x2, y2) = (cx + d[2] * s, cy + d[3] * s);
            let keypoints = match level.keypoints.get(a * 10..a * 10 + 10) {
                Some(k) => {
                    let p: Vec<[f32; 2]> = k
                        .chunks_exact(2)
                        .map(|k| [cx + k[0] * s, cy + k[1] * s])
                        .collect();
                    let mouth = [(p[3][0] + p[4][0]) / 2.0, (p[3][1] + p[4][1]) / 2.0];
                    vec![p[0], p[1], p[2], mouth, p[3], p[4]]
                }
                None => Vec::new(),
            };
            out.push(Detection {
                x: x1,
                y: y1,
                w: x2 - x1,
                h: y2 - y1,
                score,
                keypoints,
            });
        }
    }
    out
}

/// Greedy non-maximum suppression: best first, dropping boxes whose IoU
/// with a kept one exceeds `iou`, or that lie mostly (`contained`) inside a
/// kept one (the same face cut by a tile border, or found at two scales).
pub fn nms(mut dets: Vec<Detection>, iou: f32, contained: f32) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::new();
    for d in dets {
        if kept
            .iter()
            .all(|k| k.iou(&d) <= iou && k.overlap_of_smaller(&d) <= contained)
        {
            kept.push(d);
        }
    }
    kept
}

/// A square region of the frame the detector looks at: `side` pixels from
/// (`x`, `y`); parts outside the frame are padded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tile {
    pub x: f32,
    pub y: f32,
    pub side: f32,
}

/// The tiles of a frame: for each `n` of `grids`, squares of side
/// `long side / n` (`n = 1`: the whole frame, letterboxed), laid with
/// `overlap` (fraction of the side) so that a face on a border is whole in
/// some tile.
pub fn tiles(width: u32, height: u32, grids: &[u32], overlap: f32) -> Vec<Tile> {
    let (w, h) = (width as f32, height as f32);
    let long = w.max(h);
    let mut out = Vec::new();
    for &n in grids {
        if n <= 1 {
            out.push(Tile {
                x: (w - long) / 2.0,
                y: (h - long) / 2.0,
                side: long,
            });
            continue;
        }
        let side = long / n as f32 * (1.0 + overlap);
        let starts = |extent: f32| -> Vec<f32> {
            if extent <= side {
                return vec![(extent - side) / 2.0];
            }
            let count = ((extent - side) / (long / n as f32)).ceil() as usize + 1;
            let step = (extent - side) / (count - 1) as f32;
            (0..count).map(|i| i as f32 * step).collect()
        };
        for y in starts(h) {
            for x in starts(w) {
                out.push(Tile { x, y, side });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mediapipe_anchor_counts() {
        // Short range: strides 8, 16, 16, 16 with two anchors per layer.
        let a = anchors(128, &[8, 16, 16, 16], 2);
        assert_eq!(a.len(), 896);
        assert_eq!(a[0], [0.5 / 16.0, 0.5 / 16.0]);
        assert_eq!(a[1], a[0], "two anchors per cell");
        assert_eq!(a[512], [0.5 / 8.0, 0.5 / 8.0], "the 8×8 grid follows");
        assert_eq!(a[512 + 5], a[512], "six anchors per cell there");
        // Full range: one layer of stride 4, one anchor.
        assert_eq!(anchors(192, &[4], 1).len(), 2304);
    }

    #[test]
    fn decoding_places_boxes_on_their_anchor() {
        let anchors = vec![[0.25, 0.5], [0.75, 0.5]];
        let mut reg = vec![0.0; 32];
        // Second anchor: offset (+4, −2) px, 20×30 px box, a keypoint at +1 px.
        reg[16..22].copy_from_slice(&[4.0, -2.0, 20.0, 30.0, 1.0, 0.0]);
        let dets = decode_blazeface(&reg, &[-5.0, 3.0], &anchors, 128.0, 0.5);
        assert_eq!(dets.len(), 1, "the first anchor's score is sigmoid(−5)");
        let d = &dets[0];
        assert!((d.x - (96.0 + 4.0 - 10.0)).abs() < 1e-4);
        assert!((d.y - (64.0 - 2.0 - 15.0)).abs() < 1e-4);
        assert_eq!((d.w, d.h), (20.0, 30.0));
        assert!((d.score - 0.952_574).abs() < 1e-4);
        assert_eq!(d.keypoints[0], [97.0, 64.0]);
    }

    #[test]
    fn scrfd_distances_are_in_strides_from_the_cell_corner() {
        // A 32-pixel input: stride 8 is a 4×4 grid, stride 16 a 2×2 one,
        // two anchors per cell.
        let mut s8 = vec![0.1f32; 32];
        let mut b8 = vec![0.0f32; 32 * 4];
        let mut k8 = vec![0.0f32; 32 * 10];
        // Cell (x 2, y 1) = index 6, its second anchor = 13; its point
        // (16, 8); a box 1 stride left and up, 2 right and down.
        s8[13] = 0.9;
        b8[13 * 4..13 * 4 + 4].copy_from_slice(&[1.0, 1.0, 2.0, 2.0]);
        // Eyes at (−0.5, −0.25) and (0.5, −0.25) strides, nose at the
        // point, mouth corners at (∓0.5, 0.5).
        k8[13 * 10..13 * 10 + 10]
            .copy_from_slice(&[-0.5, -0.25, 0.5, -0.25, 0.0, 0.0, -0.5, 0.5, 0.5, 0.5]);
        let mut s16 = vec![0.2f32; 8];
        s16[7] = 0.8;
        let mut b16 = vec![0.0f32; 8 * 4];
        b16[7 * 4..7 * 4 + 4].copy_from_slice(&[0.5, 0.5, 0.5, 0.5]);
        let levels = [
            ScrfdLevel {
                stride: 8,
                scores: &s8,
                boxes: &b8,
                keypoints: &k8,
            },
            ScrfdLevel {
                stride: 16,
                scores: &s16,
                boxes: &b16,
                keypoints: &[],
            },
        ];
        let d = decode_scrfd(&levels, 32, 2, 0.5);
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!((d[0].x, d[0].y, d[0].w, d[0].h), (8.0, 0.0, 24.0, 24.0));
        assert_eq!(d[0].score, 0.9);
        assert_eq!(
            d[0].keypoints,
            vec![
                [12.0, 6.0],
                [20.0, 6.0],
                [16.0, 8.0],
                [16.0, 12.0],
                [12.0, 12.0],
                [20.0, 12.0]
            ]
        );
        // Stride 16, cell (x 1, y 1) = index 3, second anchor: point (16, 16).
        assert_eq!((d[1].x, d[1].y, d[1].w, d[1].h), (8.0, 8.0, 16.0, 16.0));
        assert!(d[1].keypoints.is_empty());
    }

    fn det(x: f32, y: f32, s: f32, score: f32) -> Detection {
        Detection {
            x,
            y,
            w: s,
            h: s,
            score,
            keypoints: vec![],
        }
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes() {
        let kept = nms(
            vec![
                det(0.0, 0.0, 10.0, 0.7),
                det(1.0, 1.0, 10.0, 0.9),
                det(50.0, 50.0, 10.0, 0.8),
                // Inside the best box: the same face, cut.
                det(2.0, 2.0, 5.0, 0.85),
            ],
            0.3,
            0.8,
        );
        let scores: Vec<f32> = kept.iter().map(|d| d.score).collect();
        assert_eq!(scores, [0.9, 0.8]);
    }

    #[test]
    fn tiles_cover_the_frame() {
        let t = tiles(1000, 600, &[1, 2], 0.25);
        assert_eq!(
            t[0],
            Tile {
                x: 0.0,
                y: -200.0,
                side: 1000.0
            }
        );
        let grid = &t[1..];
        // Every pixel of the frame lies in some tile of the grid.
        for (px, py) in [(0.0, 0.0), (999.0, 599.0), (500.0, 300.0), (999.0, 0.0)] {
            assert!(
                grid.iter()
                    .any(|t| px >= t.x && px < t.x + t.side && py >= t.y && py < t.y + t.side),
                "({px}, {py}) uncovered by {grid:?}"
            );
        }
        assert!(grid.iter().all(|t| (t.side - 625.0).abs() < 1e-3));
    }
}
