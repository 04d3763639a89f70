//! Rule-based composition: where the subject is, and how well it is placed.
//!
//! Until faces are detected, the subject is the centroid of the Canny edge
//! map (where the detail is); the scoring model may later place it on faces.

use image::GrayImage;

/// Composition weights (`composition` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    /// `composition.power_point_weight` (reference default 2.0).
    pub power_point: f64,
    /// `composition.line_weight` (reference default 1.0).
    pub line: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            power_point: 2.0,
            line: 1.0,
        }
    }
}

/// Subject position in 0–1 image coordinates: the centroid of the non-zero
/// pixels of `edges` (the centre when there are none).
pub fn subject_position(edges: &GrayImage) -> (f64, f64) {
    let (w, h) = edges.dimensions();
    let (mut n, mut sx, mut sy) = (0u64, 0u64, 0u64);
    for (y, row) in edges.as_raw().chunks_exact(w.max(1) as usize).enumerate() {
        let mut row_n = 0u64;
        for (x, &v) in row.iter().enumerate() {
            if v > 0 {
                row_n += 1;
                sx += x as u64;
            }
        }
        n += row_n;
        sy += row_n * y as u64;
    }
    if n == 0 {
        return (0.5, 0.5);
    }
    // Pixel centres: pixel i covers [i, i + 1) of the width.
    (
        (sx as f64 / n as f64 + 0.5) / w as f64,
        (sy as f64 / n as f64 + 0.5) / h as f64,
    )
}

/// Closeness in 0–1: 1 at distance 0, falling linearly to 0 at `reach`.
fn closeness(distance: f64, reach: f64) -> f64 {
    (1.0 - distance / reach).max(0.0)
}

/// `composition_score` of a subject at (x, y) (0–1 image coordinates):
///
/// 4 + 2·power_point_weight·P + line_weight·L + C − 4·E, clamped to 0–10, where
/// * P = closeness to the nearest rule-of-thirds power point (Euclidean
///   distance, 1 at the point, 0 from 0.15 away);
/// * L = closeness to the nearest thirds line (|x − ⅓|, |x − ⅔|, |y − ⅓|,
///   |y − ⅔|; 0 from 0.1 away);
/// * C = closeness to the centre (0 from 0.15 away): a centred subject is
///   acceptable, a symmetric composition;
/// * E = closeness to the frame's nearest border (0 from 0.15 away): a subject
///   pushed against the edge.
///
/// With the default weights: 9 on a power point, 5 at the centre, 4 elsewhere
/// in the middle of the frame, 0–4 near a border.
pub fn composition_score(x: f64, y: f64, w: Weights) -> f64 {
    const THIRDS: [f64; 2] = [1.0 / 3.0, 2.0 / 3.0];
    let power = THIRDS
        .iter()
        .flat_map(|&px| THIRDS.iter().map(move |&py| (x - px).hypot(y - py)))
        .fold(f64::INFINITY, f64::min);
    let line = THIRDS
        .iter()
        .flat_map(|&t| [(x - t).abs(), (y - t).abs()])
        .fold(f64::INFINITY, f64::min);
    let centre = (x - 0.5).hypot(y - 0.5);
    let border = x.min(1.0 - x).min(y).min(1.0 - y).max(0.0);
    let score = 4.0
        + 2.0 * w.power_point * closeness(power, 0.15)
        + w.line * closeness(line, 0.1)
        + closeness(centre, 0.15)
        - 4.0 * closeness(border, 0.15);
    score.clamp(0.0, 10.0)
}

#[cfg(test)]
mod tests {
    use super::super::lines::edges;
    use super::super::metrics::testimg::grey_from_fn;
    use super::*;

    /// A flat background with a textured disc of radius `r` centred at (cx, cy) (0–1).
    fn subject_at(w: u32, h: u32, cx: f64, cy: f64, r: f64) -> GrayImage {
        grey_from_fn(w, h, |x, y| {
            let (dx, dy) = (x as f64 - cx * w as f64, y as f64 - cy * h as f64);
            if dx.hypot(dy) < r {
                if (x / 6 + y / 6) % 2 == 0 {
                    40.0
                } else {
                    220.0
                }
            } else {
                128.0
            }
        })
    }

    #[test]
    fn the_subject_is_found_where_the_detail_is() {
        for (cx, cy) in [(1.0 / 3.0, 1.0 / 3.0), (0.7, 0.6), (0.1, 0.12)] {
            let (x, y) = subject_position(&edges(&subject_at(600, 400, cx, cy, 30.0)));
            assert!(
                (x - cx).abs() < 0.01 && (y - cy).abs() < 0.01,
                "({x}, {y}) for ({cx}, {cy})"
            );
        }
        let flat = grey_from_fn(60, 40, |_, _| 7.0);
        assert_eq!(subject_position(&edges(&flat)), (0.5, 0.5));
    }

    #[test]
    fn a_subject_on_a_power_point_beats_one_in_a_corner() {
        let score = |cx, cy| {
            let (x, y) = subject_position(&edges(&subject_at(600, 400, cx, cy, 30.0)));
            composition_score(x, y, Weights::default())
        };
        let (power, corner, centre) = (
            score(2.0 / 3.0, 1.0 / 3.0),
            score(0.06, 0.08),
            score(0.5, 0.5),
        );
        assert!(power > 8.5, "power point {power}");
        assert!(corner < 2.0, "corner {corner}");
        assert!(power > centre && centre > corner, "centre {centre}");
    }

    #[test]
    fn the_formula_at_known_points() {
        let d = Weights::default();
        assert!((composition_score(1.0 / 3.0, 1.0 / 3.0, d) - 9.0).abs() < 1e-9);
        assert!((composition_score(0.5, 0.5, d) - 5.0).abs() < 1e-9);
        assert_eq!(composition_score(0.0, 0.0, d), 0.0);
        // On a thirds line but away from the power points.
        assert!((composition_score(1.0 / 3.0, 0.5, d) - 5.0).abs() < 1e-9);
        let heavy = Weights {
            power_point: 4.0,
            line: 0.0,
        };
        assert_eq!(composition_score(2.0 / 3.0, 2.0 / 3.0, heavy), 10.0);
    }
}
