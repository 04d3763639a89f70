//! Leading lines, as the reference's `detect_leading_lines` computes them:
//!
//! 1. `cv2.GaussianBlur(grey, (5, 5), 0)`, then `cv2.Canny(blurred, 50, 150)`
//!    ([`super::edges`]);
//! 2. `cv2.HoughLinesP(edges, 1, π/180, 80, minLineLength = ⌊15 % of the
//!    shorter side⌋, maxLineGap = 20)` — OpenCV's progressive probabilistic
//!    Hough transform, reproduced step by step in [`hough_segments`]
//!    (including OpenCV's random generator, seeded as `HoughLinesP` seeds it,
//!    so that on the same edge map the same segments come out);
//! 3. each segment scores length / image diagonal × 10, × 1.5 when its angle
//!    to the horizontal is within 15°–75°; `leading_lines_score` is the *mean*
//!    over the segments × 2, capped at 10 (0 without segments).
//!
//! The reference measures the photo at its full size; Facet measures the
//! working image, `scale` times that size. The constants that are lengths in
//! pixels are scaled with it (votes 80·scale, gap 20·scale, blur σ 1.1·scale;
//! the minimum length is already a fraction of the image), so that a segment
//! found at full size is found, with the same length relative to the frame,
//! at ¼ or ⅛ of it. At scale 1 it is the reference's computation exactly.

use image::GrayImage;

use super::edges::{canny, gaussian_blur};

/// Canny thresholds of the reference (on the L1 gradient of the blurred image).
pub const CANNY_LOW: f64 = 50.0;
pub const CANNY_HIGH: f64 = 150.0;
/// `HoughLinesP` accumulator threshold at the original's size, in votes.
pub const VOTES: f64 = 80.0;
/// `maxLineGap` at the original's size, in pixels.
pub const MAX_GAP: f64 = 20.0;
/// `minLineLength` as a fraction of the shorter side.
pub const MIN_LENGTH: f64 = 0.15;
/// Weight of a segment whose angle to the horizontal is within 15°–75°.
const DIAGONAL_BONUS: f64 = 1.5;

/// A line segment between two pixel centres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    pub x0: i32,
    pub y0: i32,
    pub x1: i32,
    pub y1: i32,
}

impl Segment {
    pub fn length(&self) -> f64 {
        ((self.x1 - self.x0) as f64).hypot((self.y1 - self.y0) as f64)
    }

    /// Angle to the horizontal in 0–90° (`|atan(dy / dx)|`, 90 when vertical).
    pub fn angle_degrees(&self) -> f64 {
        let (dx, dy) = ((self.x1 - self.x0) as f64, (self.y1 - self.y0) as f64);
        if dx == 0.0 {
            90.0
        } else {
            (dy / dx).atan().to_degrees().abs()
        }
    }

    /// length / diagonal × 10, × 1.5 when the angle is within 15°–75°.
    pub fn score(&self, diagonal: f64) -> f64 {
        let bonus = if (15.0..=75.0).contains(&self.angle_degrees()) {
            DIAGONAL_BONUS
        } else {
            1.0
        };
        self.length() / diagonal * 10.0 * bonus
    }
}

/// `leading_lines_score`: 2 × the mean [`Segment::score`], capped at 10.
pub fn leading_lines_score(segments: &[Segment], width: u32, height: u32) -> f64 {
    if segments.is_empty() {
        return 0.0;
    }
    let diagonal = (width as f64).hypot(height as f64).max(1.0);
    let total: f64 = segments.iter().map(|s| s.score(diagonal)).sum();
    (total / segments.len() as f64 * 2.0).min(10.0)
}

/// The Hough parameters at `scale` × the original's size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HoughParams {
    pub threshold: i32,
    pub min_length: i32,
    pub max_gap: i32,
}

impl HoughParams {
    /// For a `width`×`height` image at `scale` × the original's size.
    pub fn at(width: u32, height: u32, scale: f64) -> HoughParams {
        let scale = scale.min(1.0);
        HoughParams {
            threshold: ((VOTES * scale).round() as i32).max(1),
            // `int(min(h, w) * 0.15)`.
            min_length: (width.min(height) as f64 * MIN_LENGTH) as i32,
            max_gap: (MAX_GAP * scale).round() as i32,
        }
    }
}

/// The segments of a grey image at `scale` × the original's size: blur,
/// Canny, probabilistic Hough (module documentation).
pub fn segments(grey: &GrayImage, scale: f64) -> Vec<Segment> {
    let edges = canny(&gaussian_blur(grey, scale), CANNY_LOW, CANNY_HIGH);
    let (w, h) = edges.dimensions();
    hough_segments(&edges, HoughParams::at(w, h, scale))
}

/// OpenCV's random generator (`cv::RNG`, multiply-with-carry).
struct CvRng(u64);

impl CvRng {
    fn next_u32(&mut self) -> u32 {
        self.0 = (self.0 as u32 as u64)
            .wrapping_mul(4164903690)
            .wrapping_add(self.0 >> 32);
        self.0 as u32
    }

    /// `rng.uniform(a, b)` for integers: a + next() mod (b − a).
    fn uniform(&mut self, a: u32, b: u32) -> u32 {
        if a == b {
            a
        } else {
            self.next_u32() % (b - a) + a
        }
    }
}

/// Number of angle bins of `HoughLinesP(…, θ = π/180, …)` over [0, π).
const NUM_ANGLE: usize = 180;

/// `cv2.HoughLinesP(edges, ρ = 1, θ = π/180, threshold, minLineLength,
/// maxLineGap)`: OpenCV's `HoughLinesProbabilistic`.
///
/// The edge pixels are visited in a random order (OpenCV's generator seeded
/// with 2⁶⁴ − 1). Each votes for the 180 lines through it; when its best line
/// reaches `threshold` votes, the line is walked from the pixel both ways in
/// fixed point (16 bits), until the border or more than `max_gap`
/// consecutive steps without an edge pixel; the walk's ends are the segment.
/// The pixels walked over are removed from later votes (and, when the segment
/// is long enough — |Δx| or |Δy| at least `min_length` — their votes are
/// withdrawn and the segment is kept).
pub fn hough_segments(edges: &GrayImage, p: HoughParams) -> Vec<Segment> {
    let (width, height) = (edges.width() as i32, edges.height() as i32);
    let mut out = Vec::new();
    if width == 0 || height == 0 {
        return out;
    }
    let theta = std::f64::consts::PI / 180.0;
    let num_rho = ((width + height) * 2 + 1) as usize;
    let offset = (num_rho as i32 - 1) / 2;
    let trig: Vec<(f32, f32)> = (0..NUM_ANGLE)
        .map(|n| {
            (
                (n as f64 * theta).cos() as f32,
                (n as f64 * theta).sin() as f32,
            )
        })
        .collect();
    let rho = |n: usize, x: i32, y: i32| -> usize {
        let (c, s) = trig[n];
        ((x as f32 * c + y as f32 * s).round_ties_even() as i32 + offset) as usize
    };
    let mut accum = vec![0i32; NUM_ANGLE * num_rho];
    let mut mask: Vec<bool> = edges.as_raw().iter().map(|&v| v != 0).collect();
    let mut points: Vec<(i32, i32)> = Vec::new();
    for y in 0..height {
        for x in 0..width {
            if mask[(y * width + x) as usize] {
                points.push((x, y));
            }
        }
    }
    const SHIFT: i32 = 16;
    let mut rng = CvRng(u64::MAX);
    let mut count = points.len();
    while count > 0 {
        let idx = rng.uniform(0, count as u32) as usize;
        let (j, i) = points[idx];
        points[idx] = points[count - 1];
        count -= 1;
        if !mask[(i * width + j) as usize] {
            continue;
        }
        let (mut max_val, mut max_n) = (p.threshold - 1, 0);
        for n in 0..NUM_ANGLE {
            let cell = &mut accum[n * num_rho + rho(n, j, i)];
            *cell += 1;
            if max_val < *cell {
                max_val = *cell;
                max_n = n;
            }
        }
        if max_val < p.threshold {
            continue;
        }
        // Walk along the line in fixed point: one pixel a step along the
        // major axis.
        let a = -trig[max_n].1;
        let b = trig[max_n].0;
        let (mut x0, mut y0) = (j, i);
        let xflag = a.abs() > b.abs();
        let (dx0, dy0) = if xflag {
            y0 = (y0 << SHIFT) + (1 << (SHIFT - 1));
            (
                if a > 0.0 { 1 } else { -1 },
                (b * (1 << SHIFT) as f32 / a.abs()).round_ties_even() as i32,
            )
        } else {
            x0 = (x0 << SHIFT) + (1 << (SHIFT - 1));
            (
                (a * (1 << SHIFT) as f32 / b.abs()).round_ties_even() as i32,
                if b > 0.0 { 1 } else { -1 },
            )
        };
        let pixel = |x: i32, y: i32| {
            if xflag {
                (x, y >> SHIFT)
            } else {
                (x >> SHIFT, y)
            }
        };
        let mut ends = [(j, i); 2];
        for (k, end) in ends.iter_mut().enumerate() {
            let (mut gap, mut x, mut y) = (0, x0, y0);
            let (dx, dy) = if k == 0 { (dx0, dy0) } else { (-dx0, -dy0) };
            loop {
                let (j1, i1) = pixel(x, y);
                if j1 < 0 || j1 >= width || i1 < 0 || i1 >= height {
                    break;
                }
                if mask[(i1 * width + j1) as usize] {
                    gap = 0;
                    *end = (j1, i1);
                } else {
                    gap += 1;
                    if gap > p.max_gap {
                        break;
                    }
                }
                x += dx;
                y += dy;
            }
        }
        let good = (ends[1].0 - ends[0].0).abs() >= p.min_length
            || (ends[1].1 - ends[0].1).abs() >= p.min_length;
        for (k, end) in ends.iter().enumerate() {
            let (mut x, mut y) = (x0, y0);
            let (dx, dy) = if k == 0 { (dx0, dy0) } else { (-dx0, -dy0) };
            loop {
                let (j1, i1) = pixel(x, y);
                let m = (i1 * width + j1) as usize;
                if mask[m] {
                    if good {
                        for n in 0..NUM_ANGLE {
                            accum[n * num_rho + rho(n, j1, i1)] -= 1;
                        }
                    }
                    mask[m] = false;
                }
                if (j1, i1) == *end {
                    break;
                }
                x += dx;
                y += dy;
            }
        }
        if good {
            out.push(Segment {
                x0: ends[0].0,
                y0: ends[0].1,
                x1: ends[1].0,
                y1: ends[1].1,
            });
        }
    }
    out
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
            40.0 + 160.0 * (d - 2.0).clamp(0.0, 1.0)
        })
    }

    fn score_of(img: &GrayImage) -> f64 {
        leading_lines_score(&segments(img, 1.0), img.width(), img.height())
    }

    #[test]
    fn opencvs_generator_from_its_seed() {
        // cv::RNG((uint64)-1): state = (u32)state · 4164903690 + (state >> 32).
        let mut r = CvRng(u64::MAX);
        let s1 = 0xFFFF_FFFFu64 * 4164903690 + 0xFFFF_FFFF;
        assert_eq!(r.next_u32(), s1 as u32);
        let s2 = (s1 as u32 as u64) * 4164903690 + (s1 >> 32);
        assert_eq!(r.next_u32(), s2 as u32);
        assert_eq!(r.uniform(5, 5), 5);
        assert!((0..1000).all(|_| r.uniform(3, 10) < 10));
    }

    #[test]
    fn a_diagonal_across_the_frame_is_found_whole() {
        let img = lines_image(640, 480, &[((20.0, 30.0), (610.0, 455.0))]);
        let segs = segments(&img, 1.0);
        let longest = segs
            .iter()
            .max_by(|a, b| a.length().total_cmp(&b.length()))
            .expect("a segment");
        // The walk follows the nearest whole degree (35.8° is walked at
        // 36°), so it leaves a long line before its end, as OpenCV's does:
        // the segment is a good part of the line, along it.
        let true_len = 590f64.hypot(425.0);
        assert!(
            longest.length() > 0.5 * true_len,
            "{longest:?} of {true_len}"
        );
        let true_angle = 425f64.atan2(590.0).to_degrees();
        assert!((longest.angle_degrees() - true_angle).abs() < 1.0);
        // At a whole degree (45°) the segment is the line's whole length.
        let img = lines_image(640, 480, &[((100.0, 40.0), (500.0, 440.0))]);
        let longest = segments(&img, 1.0)
            .into_iter()
            .max_by(|a, b| a.length().total_cmp(&b.length()))
            .expect("a segment");
        let true_len = 400.0 * 2f64.sqrt();
        assert!(
            (longest.length() - true_len).abs() < 0.03 * true_len,
            "{longest:?}"
        );
    }

    #[test]
    fn long_diagonals_score_higher_than_noise_and_flat_scores_0() {
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
        // Faint noise (σ 3) has no edges above Canny's thresholds after the
        // blur. (Strong noise does, and the reference's Hough then finds
        // "lines" in it, with a gap of 20 px: that is its definition.)
        let mut rng = Rng::new(3);
        let noise = grey_from_fn(w, h, |_, _| 128.0 + 3.0 * rng.normal());
        let (sd, sn) = (score_of(&diagonal), score_of(&noise));
        assert!(sd > 5.0, "diagonal lines score {sd}");
        assert_eq!(sn, 0.0, "noise scores {sn}");
        let flat = grey_from_fn(w, h, |_, _| 90.0);
        assert_eq!(score_of(&flat), 0.0);
    }

    #[test]
    fn diagonals_weigh_more_than_horizontals() {
        let (w, h) = (640, 480);
        // 200 px long (0.25 of the diagonal: 5 before the bonus, not capped).
        let horizontal = lines_image(w, h, &[((220.0, 240.0), (420.0, 240.0))]);
        let d = 100.0 * 2f64.sqrt();
        let diagonal = lines_image(
            w,
            h,
            &[(
                (320.0 - d / 2.0, 240.0 - d / 2.0),
                (320.0 + d / 2.0, 240.0 + d / 2.0),
            )],
        );
        let (sh, sd) = (score_of(&horizontal), score_of(&diagonal));
        assert!(sd > sh * 1.3, "diagonal {sd}, horizontal {sh}");
    }

    #[test]
    fn the_score_is_twice_the_mean_segment_score() {
        let seg = |x1, y1| Segment {
            x0: 0,
            y0: 0,
            x1,
            y1,
        };
        // 300×400: diagonal 500. A vertical segment of 250: 5 → score 10.
        assert_eq!(leading_lines_score(&[seg(0, 250)], 300, 400), 10.0);
        // A vertical 100: 2 → 4; with a 45° one of 100·√2 (≈ 2.83 × 1.5): mean.
        assert!((leading_lines_score(&[seg(0, 100)], 300, 400) - 4.0).abs() < 1e-9);
        let diag = 200f64.sqrt() * 10.0 / 500.0 * 10.0 * 1.5;
        let both = leading_lines_score(&[seg(0, 100), seg(100, 100)], 300, 400);
        assert!((both - (2.0 + diag) / 2.0 * 2.0).abs() < 1e-9, "{both}");
        // Short segments lower the mean (the reference's definition).
        assert!(leading_lines_score(&[seg(0, 100), seg(0, 10)], 300, 400) < 4.0);
        assert_eq!(leading_lines_score(&[], 300, 400), 0.0);
    }

    #[test]
    fn the_parameters_scale_with_the_image() {
        assert_eq!(
            HoughParams::at(640, 480, 1.0),
            HoughParams {
                threshold: 80,
                min_length: 72,
                max_gap: 20
            }
        );
        assert_eq!(
            HoughParams::at(160, 120, 0.25),
            HoughParams {
                threshold: 20,
                min_length: 18,
                max_gap: 5
            }
        );
    }

    #[test]
    fn a_line_drawn_at_full_size_scores_alike_at_a_quarter_and_an_eighth() {
        // Three lines on a 3200×2400 frame, measured at full size and at ¼
        // and ⅛ (rendered directly at those sizes: the downsized photo).
        // At whole degrees (45°, 0°, 90°: walked without drift), so that the
        // segments are the lines at every size.
        let lines = [
            ((0.2, 0.2), (0.6, 0.2 + 0.4 * 4.0 / 3.0)),
            ((0.1, 0.1), (0.9, 0.1)),
            ((0.8, 0.3), (0.8, 0.9)),
        ];
        let at = |w: u32, h: u32| {
            let l: Vec<Ends> = lines
                .iter()
                .map(|&((ax, ay), (bx, by))| {
                    (
                        (ax * w as f64, ay * h as f64),
                        (bx * w as f64, by * h as f64),
                    )
                })
                .collect();
            // Line width 0.4 % of the width at every size.
            let half = 0.002 * w as f64;
            grey_from_fn(w, h, |x, y| {
                let d = l
                    .iter()
                    .map(|&(a, b)| dist_to_segment(x as f64, y as f64, a, b))
                    .fold(f64::INFINITY, f64::min);
                40.0 + 160.0 * (d - half).clamp(0.0, 1.0)
            })
        };
        let full = at(1600, 1200);
        let reference = leading_lines_score(&segments(&full, 1.0), 1600, 1200);
        assert!(reference > 3.0, "{reference}");
        for (div, scale) in [(4, 0.25), (8, 0.125)] {
            let img = at(1600 / div, 1200 / div);
            let s = leading_lines_score(&segments(&img, scale), img.width(), img.height());
            assert!(
                (s - reference).abs() < 0.1 * reference,
                "1/{div}: {s}, full size {reference}"
            );
        }
    }
}
