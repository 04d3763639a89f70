//! Leading lines: Canny edges, Hough lines, and the line segments along them.
//!
//! imageproc's Hough transform finds infinite lines (1 px × 1° bins); the
//! probabilistic variant the reference uses (`cv2.HoughLinesP`) also returns
//! the segments. Here each Hough line is refined by total-least-squares fits
//! of the edge pixels within ±1 px of it ([`REFINE_PASSES`] times, each
//! around the previous fit: 1° bins are coarse, a long line 0.4° off its bin
//! drifts several pixels), lines that refine to the same line are kept once,
//! and each is walked end to end, split into segments at gaps longer than
//! [`MAX_GAP`] steps, as `HoughLinesP` does with `maxLineGap`.

use image::GrayImage;
use imageproc::hough::{LineDetectionOptions, PolarLine, detect_lines};

/// Canny thresholds on imageproc's gradient magnitude (Sobel after a σ = 1.4
/// Gaussian blur). A step edge of height h gives ≈ 2.3·h there, so 30/90 keep
/// the sensitivity of the reference's `cv2.Canny(grey, 50, 150)` on the
/// unsmoothed image (4·h) for step edges.
pub const CANNY_LOW: f32 = 30.0;
pub const CANNY_HIGH: f32 = 90.0;

/// Least-squares refits of a Hough line.
const REFINE_PASSES: usize = 3;
/// Half-width, in pixels, of the band of edge pixels a line is fitted to and
/// traced along.
const BAND: i32 = 1;
/// Refined lines closer than this in angle (degrees) and distance to the
/// origin (pixels) are the same line.
const SAME_ANGLE: f64 = 1.0;
const SAME_DISTANCE: f64 = 2.0;
/// Longest run of steps without an edge inside a segment.
const MAX_GAP: u32 = 4;
/// Shortest segment, as a fraction of the image diagonal.
const MIN_LENGTH: f64 = 0.05;
/// Least fraction of a segment's steps that have an edge.
const MIN_DENSITY: f64 = 0.7;
/// Segments counted in the score.
const TOP_SEGMENTS: usize = 5;
/// Weight of a segment whose angle to the horizontal is within 15°–75°.
const DIAGONAL_BONUS: f64 = 1.5;

/// A line segment found on the edge map.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl Segment {
    pub fn length(&self) -> f64 {
        (self.x1 - self.x0).hypot(self.y1 - self.y0)
    }

    /// Angle to the horizontal, folded into 0–90°.
    pub fn angle_degrees(&self) -> f64 {
        let a = (self.y1 - self.y0)
            .atan2(self.x1 - self.x0)
            .to_degrees()
            .abs();
        if a > 90.0 { 180.0 - a } else { a }
    }

    /// Length / image diagonal, ×1.5 when the angle is within 15°–75°.
    pub fn weight(&self, diagonal: f64) -> f64 {
        let a = self.angle_degrees();
        let bonus = if (15.0..=75.0).contains(&a) {
            DIAGONAL_BONUS
        } else {
            1.0
        };
        self.length() / diagonal * bonus
    }
}

/// `leading_lines_score`: 5 × the sum of the weights ([`Segment::weight`]) of
/// the 5 heaviest segments, capped at 10. One diagonal line across the whole
/// frame gives 7.5; a horizon across the full width of a 3:2 frame ≈ 4.2.
pub fn leading_lines_score(segments: &[Segment], width: u32, height: u32) -> f64 {
    let diagonal = (width as f64).hypot(height as f64).max(1.0);
    let mut weights: Vec<f64> = segments.iter().map(|s| s.weight(diagonal)).collect();
    weights.sort_by(|a, b| b.total_cmp(a));
    (5.0 * weights.iter().take(TOP_SEGMENTS).sum::<f64>()).min(10.0)
}

/// The Canny edge map of a grey image (255 on edges, 0 elsewhere).
pub fn edges(grey: &GrayImage) -> GrayImage {
    imageproc::edges::canny(grey, CANNY_LOW, CANNY_HIGH)
}

/// Line segments of an edge map.
///
/// A Hough line needs max(5 % of the diagonal, 2 × edge density × diagonal)
/// votes: in a textured scene, where a random line collects about
/// density × length votes, only lines that stand out from the texture count.
pub fn segments(edges: &GrayImage) -> Vec<Segment> {
    let (w, h) = edges.dimensions();
    if w < 8 || h < 8 {
        return Vec::new();
    }
    let diagonal = (w as f64).hypot(h as f64);
    let on = edges.as_raw().iter().filter(|&&v| v > 0).count();
    let density = on as f64 / (w as f64 * h as f64);
    let min_len = MIN_LENGTH * diagonal;
    let votes = min_len.max(2.0 * density * diagonal);
    let lines = detect_lines(
        edges,
        LineDetectionOptions {
            vote_threshold: votes.ceil() as u32,
            suppression_radius: 8,
        },
    );
    let mut out = Vec::new();
    let mut seen: Vec<(f64, f64)> = Vec::new();
    for line in lines {
        let Some(refined) = refine(edges, line) else {
            continue;
        };
        let key = refined.polar();
        if seen.iter().any(|&k| same_line(k, key)) {
            continue;
        }
        seen.push(key);
        trace(edges, refined, min_len, &mut out);
    }
    out
}

/// Whether two (angle in degrees, 0–180; signed distance) lines are the same.
fn same_line((a1, r1): (f64, f64), (a2, r2): (f64, f64)) -> bool {
    let da = (a1 - a2).abs();
    if da < SAME_ANGLE {
        (r1 - r2).abs() < SAME_DISTANCE
    } else if da > 180.0 - SAME_ANGLE {
        // Across 0°/180° the normal flips, and so does the distance's sign.
        (r1 + r2).abs() < SAME_DISTANCE
    } else {
        false
    }
}

/// A line as a point on it and a unit direction.
#[derive(Debug, Clone, Copy)]
struct Line {
    px: f64,
    py: f64,
    dx: f64,
    dy: f64,
}

impl Line {
    fn of_polar(l: PolarLine) -> Line {
        // imageproc: x·cos θ + y·sin θ = r, votes binned by truncating r
        // towards zero.
        let theta = (l.angle_in_degrees as f64).to_radians();
        let (nx, ny) = (theta.cos(), theta.sin());
        let r = l.r as f64 + 0.5 * (l.r as f64).signum();
        Line {
            px: r * nx,
            py: r * ny,
            dx: -ny,
            dy: nx,
        }
    }

    /// (angle of the normal in degrees, 0–180; signed distance to the origin).
    fn polar(&self) -> (f64, f64) {
        let (mut nx, mut ny) = (-self.dy, self.dx);
        if ny < 0.0 || (ny == 0.0 && nx < 0.0) {
            (nx, ny) = (-nx, -ny);
        }
        let angle = ny.atan2(nx).to_degrees();
        (angle, self.px * nx + self.py * ny)
    }

    /// The parameter range for which the line lies inside a w×h image.
    fn clip(&self, w: u32, h: u32) -> Option<(f64, f64)> {
        let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
        for (p, d, max) in [
            (self.px, self.dx, (w - 1) as f64),
            (self.py, self.dy, (h - 1) as f64),
        ] {
            if d.abs() < 1e-12 {
                if p < 0.0 || p > max {
                    return None;
                }
            } else {
                let (a, b) = ((0.0 - p) / d, (max - p) / d);
                lo = lo.max(a.min(b));
                hi = hi.min(a.max(b));
            }
        }
        (lo <= hi).then_some((lo, hi))
    }
}

fn is_edge(edges: &GrayImage, x: f64, y: f64) -> bool {
    let (x, y) = (x.round(), y.round());
    x >= 0.0
        && y >= 0.0
        && (x as u32) < edges.width()
        && (y as u32) < edges.height()
        && edges.as_raw()[y as usize * edges.width() as usize + x as usize] > 0
}

/// Refits a Hough line to the edge pixels near it.
fn refine(edges: &GrayImage, polar: PolarLine) -> Option<Line> {
    let mut line = Line::of_polar(polar);
    for _ in 0..REFINE_PASSES {
        line = fit(edges, line)?;
    }
    Some(line)
}

/// The principal axis of the edge pixels within ±`BAND` px of `line`.
fn fit(edges: &GrayImage, line: Line) -> Option<Line> {
    let (t0, t1) = line.clip(edges.width(), edges.height())?;
    let (nx, ny) = (-line.dy, line.dx);
    let (mut n, mut sx, mut sy, mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let mut t = t0;
    while t <= t1 {
        let (cx, cy) = (line.px + t * line.dx, line.py + t * line.dy);
        for k in -BAND..=BAND {
            let (x, y) = ((cx + k as f64 * nx).round(), (cy + k as f64 * ny).round());
            if is_edge(edges, x, y) {
                n += 1.0;
                sx += x;
                sy += y;
                sxx += x * x;
                syy += y * y;
                sxy += x * y;
            }
        }
        t += 1.0;
    }
    if n < 2.0 {
        return None;
    }
    let (mx, my) = (sx / n, sy / n);
    let (cxx, cyy, cxy) = (sxx / n - mx * mx, syy / n - my * my, sxy / n - mx * my);
    // Direction of the principal axis of the covariance matrix.
    let angle = 0.5 * (2.0 * cxy).atan2(cxx - cyy);
    Some(Line {
        px: mx,
        py: my,
        dx: angle.cos(),
        dy: angle.sin(),
    })
}

/// Walks `line` across the image and appends its segments of at least `min_len`.
fn trace(edges: &GrayImage, line: Line, min_len: f64, out: &mut Vec<Segment>) {
    let Some((t0, t1)) = line.clip(edges.width(), edges.height()) else {
        return;
    };
    let (nx, ny) = (-line.dy, line.dx);
    let hit = |t: f64| {
        let (cx, cy) = (line.px + t * line.dx, line.py + t * line.dy);
        (-BAND..=BAND).any(|k| is_edge(edges, cx + k as f64 * nx, cy + k as f64 * ny))
    };
    let mut close = |start: f64, last: f64, hits: u32| {
        let len = last - start;
        if len >= min_len && hits as f64 / (len + 1.0) >= MIN_DENSITY {
            out.push(Segment {
                x0: line.px + start * line.dx,
                y0: line.py + start * line.dy,
                x1: line.px + last * line.dx,
                y1: line.py + last * line.dy,
            });
        }
    };
    // (start, last hit, hits) of the open segment.
    let mut open: Option<(f64, f64, u32)> = None;
    let mut gap = 0;
    let mut t = t0;
    while t <= t1 {
        if hit(t) {
            gap = 0;
            open = Some(match open {
                None => (t, t, 1),
                Some((s, _, n)) => (s, t, n + 1),
            });
        } else if let Some((s, last, n)) = open {
            gap += 1;
            if gap > MAX_GAP {
                close(s, last, n);
                open = None;
            }
        }
        t += 1.0;
    }
    if let Some((s, last, n)) = open {
        close(s, last, n);
    }
}

#[cfg(test)]
mod tests {
    use super::super::metrics::testimg::{Rng, grey_from_fn};
    use super::*;

    /// Distance from (x, y) to the segment (ax, ay)–(bx, by).
    fn dist_to_segment(x: f64, y: f64, (ax, ay): (f64, f64), (bx, by): (f64, f64)) -> f64 {
        let (dx, dy) = (bx - ax, by - ay);
        let t = (((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)).clamp(0.0, 1.0);
        (x - ax - t * dx).hypot(y - ay - t * dy)
    }

    /// A segment from one point to another.
    type Ends = ((f64, f64), (f64, f64));

    /// Light background with dark 4-px lines drawn between the given points.
    fn lines_image(w: u32, h: u32, lines: &[Ends]) -> GrayImage {
        grey_from_fn(w, h, |x, y| {
            let d = lines
                .iter()
                .map(|&(a, b)| dist_to_segment(x as f64, y as f64, a, b))
                .fold(f64::INFINITY, f64::min);
            // 4 px wide, antialiased edges.
            40.0 + 160.0 * (d - 2.0).clamp(0.0, 1.0)
        })
    }

    fn score_of(img: &GrayImage) -> f64 {
        let e = edges(img);
        leading_lines_score(&segments(&e), img.width(), img.height())
    }

    #[test]
    fn a_diagonal_across_the_frame_is_found_whole() {
        let img = lines_image(640, 480, &[((20.0, 30.0), (610.0, 455.0))]);
        let segs = segments(&edges(&img));
        let longest = segs
            .iter()
            .max_by(|a, b| a.length().total_cmp(&b.length()))
            .expect("a segment");
        let true_len = 590f64.hypot(425.0);
        assert!(
            (longest.length() - true_len).abs() < 0.05 * true_len,
            "{longest:?} of {true_len}"
        );
        let true_angle = 425f64.atan2(590.0).to_degrees();
        assert!((longest.angle_degrees() - true_angle).abs() < 1.0);
    }

    #[test]
    fn strong_diagonal_lines_score_higher_than_noise() {
        let (w, h) = (640, 480);
        let diagonal = lines_image(
            w,
            h,
            &[
                ((0.0, 479.0), (639.0, 0.0)),
                ((0.0, 200.0), (400.0, 479.0)),
                ((300.0, 0.0), (639.0, 300.0)),
            ],
        );
        let mut rng = Rng::new(3);
        let noise = grey_from_fn(w, h, |_, _| 128.0 + 60.0 * rng.normal());
        let (sd, sn) = (score_of(&diagonal), score_of(&noise));
        assert!(sd > 7.0, "diagonal lines score {sd}");
        assert!(sn < 1.0, "noise scores {sn}");
        let flat = grey_from_fn(w, h, |_, _| 90.0);
        assert_eq!(score_of(&flat), 0.0);
    }

    #[test]
    fn diagonals_weigh_more_than_horizontals() {
        let (w, h) = (640, 480);
        let horizontal = lines_image(w, h, &[((40.0, 240.0), (600.0, 240.0))]);
        let diagonal = lines_image(w, h, &[((122.0, 42.0), (518.0, 438.0))]);
        let (sh, sd) = (score_of(&horizontal), score_of(&diagonal));
        assert!(sd > sh * 1.3, "diagonal {sd}, horizontal {sh}");
    }

    #[test]
    fn the_score_combines_the_heaviest_segments() {
        let seg = |x1: f64, y1: f64| Segment {
            x0: 0.0,
            y0: 0.0,
            x1,
            y1,
        };
        // 300×400: diagonal 500. A vertical segment of 250: weight 0.5.
        assert!((leading_lines_score(&[seg(0.0, 250.0)], 300, 400) - 2.5).abs() < 1e-9);
        // At 45°: ×1.5.
        let d = 250.0 / 2f64.sqrt();
        assert!((leading_lines_score(&[seg(d, d)], 300, 400) - 3.75).abs() < 1e-9);
        // Capped at 10, and only 5 segments count.
        assert_eq!(leading_lines_score(&[seg(d, d); 3], 300, 400), 10.0);
        let short = vec![seg(0.0, 10.0); 50];
        assert!((leading_lines_score(&short, 300, 400) - 0.5).abs() < 1e-9);
        assert_eq!(leading_lines_score(&[], 300, 400), 0.0);
    }
}
