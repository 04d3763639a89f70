//! Rule-based composition, as the reference's `CompositionAnalyzer` computes
//! it for a photo without faces (`detect_subject_region`, then
//! `get_placement_data`):
//!
//! **Subject region.** `cv2.Canny(grey, ⌊0.5·median⌋, ⌊min(255, 1.5·median)⌋)`
//! on the unblurred grey image (median of the grey levels, as `numpy.median`);
//! the outer contours of the edge map (`cv2.findContours(…, RETR_EXTERNAL)`:
//! Suzuki–Abe border following, imageproc's [`find_contours`], on the map
//! padded with a 1-pixel black border as OpenCV pads it); of those enclosing
//! more than 0.01 % of the frame (shoelace area, `cv2.contourArea`), the one
//! with the largest area/frame × (1 + max(0, 1 − (dx + dy))), dx and dy the
//! distances of its centroid (polygon moments, `cv2.moments`) to the nearest
//! vertical and horizontal thirds line as fractions of width and height. The
//! subject is that contour's bounding box; a photo without such a contour has
//! none. (The reference then tries OpenCV's spectral-residual saliency, which
//! its pinned `opencv-python` does not include: no subject either, as the
//! reference's values show for flat and contour-less photos.)
//!
//! **Placement** of the box's centre (x, y) in 0–1 coordinates:
//! * power point P = max(0, 10 − 25·d), d the distance to the nearest
//!   intersection of thirds lines;
//! * line L = max(0, 10 − 15·(dx + dy)), the distances to the nearest thirds
//!   line in each direction;
//! * centre C = max(0, 10 − 10·(|x − ½| + |y − ½|));
//! * `composition_score` = max((w_p·P + w_l·L) / (w_p + w_l), C) with
//!   `composition.power_point_weight` w_p and `line_weight` w_l; 7 without a
//!   subject (the reference's "assume a centred subject").
//!
//! Both parts are scale-free (thresholds from the median, areas as fractions
//! of the frame), so the working image needs no scaled constants.

use image::GrayImage;
use imageproc::contours::{BorderType, find_contours};
use imageproc::geometry::contour_area;
use imageproc::point::Point;

use super::edges::{canny, histogram, median};

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

/// `composition_score` without a subject.
pub const NO_SUBJECT_SCORE: f64 = 7.0;
/// Least contour area, as a fraction of the frame.
const MIN_AREA: f64 = 0.0001;

/// A subject's bounding box in pixels: `[x0, y0, x1, y1)` as the reference's
/// `[x, y, x + w, y + h]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    pub x0: i32,
    pub y0: i32,
    pub x1: i32,
    pub y1: i32,
}

impl BBox {
    /// The box's centre in 0–1 image coordinates.
    pub fn centre(&self, width: u32, height: u32) -> (f64, f64) {
        (
            (self.x0 + self.x1) as f64 / 2.0 / width as f64,
            (self.y0 + self.y1) as f64 / 2.0 / height as f64,
        )
    }
}

/// The reference's subject region of a grey image (module documentation).
pub fn subject_region(grey: &GrayImage) -> Option<BBox> {
    let (w, h) = grey.dimensions();
    if w == 0 || h == 0 {
        return None;
    }
    let m = median(&histogram(grey));
    let low = (0.5 * m).max(0.0).floor();
    let high = (1.5 * m).min(255.0).floor();
    let edges = canny(grey, low, high);
    // Pad with black, as cv2.findContours does, so that edges along the
    // border start outer borders too.
    let mut padded = GrayImage::new(w + 2, h + 2);
    image::imageops::replace(&mut padded, &edges, 1, 1);
    let contours = find_contours::<i32>(&padded);
    let frame = w as f64 * h as f64;
    let min_area = frame * MIN_AREA;
    let thirds_x = [w as f64 / 3.0, 2.0 * w as f64 / 3.0];
    let thirds_y = [h as f64 / 3.0, 2.0 * h as f64 / 3.0];
    let mut best: Option<(f64, usize)> = None;
    for (k, c) in contours.iter().enumerate() {
        if c.border_type != BorderType::Outer || c.parent.is_some() {
            continue;
        }
        let area = contour_area(&c.points);
        if area <= min_area {
            continue;
        }
        let Some((cx, cy)) = centroid(&c.points) else {
            continue;
        };
        // Back to unpadded coordinates.
        let (cx, cy) = (cx - 1.0, cy - 1.0);
        let dx = thirds_x
            .iter()
            .map(|t| (cx - t).abs())
            .fold(f64::INFINITY, f64::min)
            / w as f64;
        let dy = thirds_y
            .iter()
            .map(|t| (cy - t).abs())
            .fold(f64::INFINITY, f64::min)
            / h as f64;
        let bonus = (1.0 - (dx + dy)).max(0.0);
        let score = area / frame * (1.0 + bonus);
        if score > best.map_or(0.0, |b| b.0) {
            best = Some((score, k));
        }
    }
    let (_, k) = best?;
    let pts = &contours[k].points;
    // Padded coordinates: the first pixel is at 1, so the padded maximum is
    // the unpadded one + 1, the box's exclusive end (`x + w`).
    Some(BBox {
        x0: pts.iter().map(|p| p.x).min()? - 1,
        y0: pts.iter().map(|p| p.y).min()? - 1,
        x1: pts.iter().map(|p| p.x).max()?,
        y1: pts.iter().map(|p| p.y).max()?,
    })
}

/// The centroid (m10/m00, m01/m00) of a closed polygon, as `cv2.moments` of
/// a contour computes it (Green's theorem); `None` when its area is ~0.
fn centroid(points: &[Point<i32>]) -> Option<(f64, f64)> {
    let (mut a00, mut a10, mut a01) = (0.0, 0.0, 0.0);
    let mut prev = *points.last()?;
    for &p in points {
        let (x0, y0, x1, y1) = (prev.x as f64, prev.y as f64, p.x as f64, p.y as f64);
        let dxy = x0 * y1 - x1 * y0;
        a00 += dxy;
        a10 += dxy * (x0 + x1);
        a01 += dxy * (y0 + y1);
        prev = p;
    }
    if a00.abs() <= f32::EPSILON as f64 {
        return None;
    }
    Some((a10 / (3.0 * a00), a01 / (3.0 * a00)))
}

/// The placement scores of a subject centred at (x, y) (0–1 coordinates).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    pub power_point: f64,
    pub line: f64,
    pub centre: f64,
}

/// Power-point, thirds-line and centre scores (module documentation).
pub fn placement(x: f64, y: f64) -> Placement {
    const THIRDS: [f64; 2] = [1.0 / 3.0, 2.0 / 3.0];
    let power = THIRDS
        .iter()
        .flat_map(|&px| THIRDS.iter().map(move |&py| (x - px).hypot(y - py)))
        .fold(f64::INFINITY, f64::min);
    let near = |v: f64| {
        THIRDS
            .iter()
            .map(|t| (v - t).abs())
            .fold(f64::INFINITY, f64::min)
    };
    Placement {
        power_point: (10.0 - power * 25.0).max(0.0),
        line: (10.0 - (near(x) + near(y)) * 15.0).max(0.0),
        centre: (10.0 - ((x - 0.5).abs() + (y - 0.5).abs()) * 10.0).max(0.0),
    }
}

/// `composition_score` of a subject centred at (x, y), or of none.
pub fn composition_score(subject: Option<(f64, f64)>, w: Weights) -> f64 {
    let Some((x, y)) = subject else {
        return NO_SUBJECT_SCORE;
    };
    let p = placement(x, y);
    let sum = w.power_point + w.line;
    let thirds = if sum > 0.0 {
        (p.power_point * w.power_point + p.line * w.line) / sum
    } else {
        0.0
    };
    thirds.max(p.centre)
}

#[cfg(test)]
mod tests {
    use super::super::metrics::testimg::grey_from_fn;
    use super::*;

    /// A mid-grey background with a light square of side `s` px whose
    /// top-left corner is at (x, y).
    fn square_at(w: u32, h: u32, x: u32, y: u32, s: u32) -> GrayImage {
        grey_from_fn(w, h, |px, py| {
            if (x..x + s).contains(&px) && (y..y + s).contains(&py) {
                220.0
            } else {
                100.0
            }
        })
    }

    #[test]
    fn the_subject_is_the_box_of_the_closed_edge_contour() {
        let img = square_at(300, 200, 180, 40, 50);
        let b = subject_region(&img).expect("a subject");
        // Canny puts the step's edge on the darker side's last pixel or the
        // lighter side's first: within a pixel of the square.
        assert!((b.x0 - 180).abs() <= 1 && (b.y0 - 40).abs() <= 1, "{b:?}");
        assert!((b.x1 - 230).abs() <= 1 && (b.y1 - 90).abs() <= 1, "{b:?}");
        let (x, y) = b.centre(300, 200);
        assert!((x - 205.0 / 300.0).abs() < 0.01 && (y - 65.0 / 200.0).abs() < 0.01);
    }

    #[test]
    fn a_flat_image_and_open_lines_have_no_subject() {
        assert_eq!(subject_region(&grey_from_fn(60, 40, |_, _| 7.0)), None);
        // A single straight step encloses nothing.
        let step = grey_from_fn(60, 40, |x, _| if x < 30 { 50.0 } else { 200.0 });
        assert_eq!(subject_region(&step), None);
        assert_eq!(
            composition_score(None, Weights::default()),
            NO_SUBJECT_SCORE
        );
    }

    #[test]
    fn the_larger_subject_wins_and_thirds_break_near_ties() {
        // A small square at a power point and a larger one at the centre.
        let img = grey_from_fn(600, 600, |x, y| {
            let big = (270..330).contains(&x) && (270..330).contains(&y);
            let small = (190..210).contains(&x) && (190..210).contains(&y);
            if big || small { 220.0 } else { 100.0 }
        });
        let b = subject_region(&img).unwrap();
        assert!((b.x0 - 270).abs() <= 1, "{b:?}");
        // Two equal squares: the one on a power point.
        let img = grey_from_fn(600, 600, |x, y| {
            let centre = (280..320).contains(&x) && (280..320).contains(&y);
            let power = (380..420).contains(&x) && (180..220).contains(&y);
            if centre || power { 220.0 } else { 100.0 }
        });
        let b = subject_region(&img).unwrap();
        assert!((b.x0 - 380).abs() <= 1, "{b:?}");
    }

    #[test]
    fn placement_at_known_points() {
        let d = Weights::default();
        let p = placement(1.0 / 3.0, 1.0 / 3.0);
        assert!((p.power_point - 10.0).abs() < 1e-9 && (p.line - 10.0).abs() < 1e-9);
        assert!((composition_score(Some((1.0 / 3.0, 1.0 / 3.0)), d) - 10.0).abs() < 1e-9);
        // The centre: power points 0.2357 away (10 − 5.89), lines 1/6 + 1/6
        // (10 − 5), centre 10.
        assert!((composition_score(Some((0.5, 0.5)), d) - 10.0).abs() < 1e-9);
        // A corner: every score at its floor.
        let p = placement(0.0, 0.0);
        assert!(
            p.power_point == 0.0 && p.line < 1e-9 && p.centre == 0.0,
            "{p:?}"
        );
        assert!(composition_score(Some((0.0, 0.0)), d) < 1e-9);
        // Between: (0.25, 0.25) is 0.118 from a power point (7.05), 1/6
        // from the lines (7.5), 0.5 from the centre (5): (2·7.05 + 7.5) / 3.
        let p = placement(0.25, 0.25);
        let want = (2.0 * (10.0 - 25.0 * (2.0f64).sqrt() / 12.0) + 7.5) / 3.0;
        assert!(
            (composition_score(Some((0.25, 0.25)), d) - want).abs() < 1e-9,
            "{p:?}"
        );
        // The reference's value for its first photo: box [42, 13, 81, 44] of
        // 100×68 → power 7.5, line 7.94, centre 8.04, score 8.04.
        let (x, y) = BBox {
            x0: 42,
            y0: 13,
            x1: 81,
            y1: 44,
        }
        .centre(100, 68);
        let p = placement(x, y);
        assert!((p.power_point - 7.5).abs() < 0.005, "{p:?}");
        assert!((p.line - 7.94).abs() < 0.005 && (p.centre - 8.04).abs() < 0.005);
        assert!((composition_score(Some((x, y)), d) - 8.04).abs() < 0.005);
        // Weights: all on the lines.
        let lines = Weights {
            power_point: 0.0,
            line: 1.0,
        };
        assert!(
            (composition_score(Some((1.0 / 3.0, 0.9)), lines)
                - placement(1.0 / 3.0, 0.9)
                    .line
                    .max(placement(1.0 / 3.0, 0.9).centre))
            .abs()
                < 1e-12
        );
    }
}
