//! The edge maps of the leading lines and the subject region, as the
//! reference's OpenCV 4 calls compute them, so that thresholds calibrated on
//! the reference mean the same here:
//!
//! * [`gaussian_blur`]: `cv2.GaussianBlur(grey, (5, 5), 0)` — OpenCV's fixed
//!   5-tap kernel [1 4 6 4 1]/16 in both directions (the kernel OpenCV uses
//!   for a 5×5 size with σ = 0), reflect-101 borders, rounded half up as
//!   OpenCV's bit-exact 8-bit filter does. On a working image `scale` times
//!   the original's size the kernel is a sampled Gaussian of σ = 1.1 ·
//!   `scale` (1.1 is the σ of OpenCV's 5-tap kernel), none under σ = 0.3 (the
//!   downsizing has smoothed as much already).
//! * [`canny`]: `cv2.Canny(img, low, high)` — 3×3 Sobel gradients (replicated
//!   borders, imageproc's [`horizontal_sobel`] / [`vertical_sobel`]), the L1
//!   magnitude |dx| + |dy|, non-maximum suppression in four directions with
//!   OpenCV's tan 22.5° fixed-point sectors and tie rules (strictly greater
//!   than the neighbour behind, at least the one ahead), then hysteresis:
//!   pixels above `high` are edges, and so is every pixel above `low`
//!   8-connected to an edge. imageproc's own `canny` blurs first (σ = 1.4)
//!   and uses the L2 magnitude, so its thresholds are not the reference's.

use image::GrayImage;
use imageproc::gradients::{horizontal_sobel, vertical_sobel};

/// OpenCV's 5-tap Gaussian for a 5×5 kernel with σ = 0 (sum 16).
const TAPS_5: [u32; 5] = [1, 4, 6, 4, 1];
/// σ of that kernel (OpenCV: 0.3·((5 − 1)/2 − 1) + 0.8).
pub const BLUR_SIGMA: f64 = 1.1;
/// Below this σ, in pixels, no blur is applied.
const MIN_SIGMA: f64 = 0.3;

/// Reflect-101 index (OpenCV's default border): −1 → 1, n → n − 2.
fn reflect101(i: i64, n: i64) -> usize {
    if n == 1 {
        return 0;
    }
    let mut i = i;
    while i < 0 || i >= n {
        i = if i < 0 { -i } else { 2 * (n - 1) - i };
    }
    i as usize
}

/// `cv2.GaussianBlur(grey, (5, 5), 0)` at `scale` × the original's size (see
/// the module documentation); `scale` ≥ 1 is the reference's exact kernel.
pub fn gaussian_blur(grey: &GrayImage, scale: f64) -> GrayImage {
    let sigma = BLUR_SIGMA * scale.min(1.0);
    if sigma < MIN_SIGMA {
        return grey.clone();
    }
    // Integer taps summing to 16 (exact for the reference's kernel), so that
    // the two passes sum to 256 and round half up as OpenCV does.
    let taps: [u32; 5] = if scale >= 1.0 {
        TAPS_5
    } else {
        let g: Vec<f64> = (-2..=2)
            .map(|k: i32| (-(k * k) as f64 / (2.0 * sigma * sigma)).exp())
            .collect();
        let sum: f64 = g.iter().sum();
        let side = (g[0] / sum * 16.0).round() as u32;
        let near = (g[1] / sum * 16.0).round() as u32;
        [side, near, 16 - 2 * side - 2 * near, near, side]
    };
    let (w, h) = grey.dimensions();
    let (wi, hi) = (w as i64, h as i64);
    let src = grey.as_raw();
    // Horizontal pass, in sixteenths.
    let mut rows = vec![0u32; src.len()];
    for y in 0..h as usize {
        let row = &src[y * w as usize..(y + 1) * w as usize];
        for x in 0..wi {
            let mut s = 0;
            for (k, &t) in taps.iter().enumerate() {
                s += t * row[reflect101(x + k as i64 - 2, wi)] as u32;
            }
            rows[y * w as usize + x as usize] = s;
        }
    }
    let mut out = vec![0u8; src.len()];
    for y in 0..hi {
        for x in 0..w as usize {
            let mut s = 0;
            for (k, &t) in taps.iter().enumerate() {
                s += t * rows[reflect101(y + k as i64 - 2, hi) * w as usize + x];
            }
            out[y as usize * w as usize + x] = ((s + 128) >> 8).min(255) as u8;
        }
    }
    GrayImage::from_raw(w, h, out).expect("same size")
}

/// tan 22.5° in OpenCV's 15-bit fixed point.
const CANNY_SHIFT: u32 = 15;
const TG22: i64 = 13573; // round(0.41421356 · 2^15)

/// `cv2.Canny(grey, low, high)` (aperture 3, L1 gradient): 255 on edges.
pub fn canny(grey: &GrayImage, low: f64, high: f64) -> GrayImage {
    let (w, h) = grey.dimensions();
    let (wu, hu) = (w as usize, h as usize);
    if wu == 0 || hu == 0 {
        return GrayImage::new(w, h);
    }
    let (low, high) = if low > high { (high, low) } else { (low, high) };
    let (low, high) = (low.floor() as i32, high.floor() as i32);
    let dx = horizontal_sobel(grey);
    let dy = vertical_sobel(grey);
    let (dx, dy) = (dx.as_raw(), dy.as_raw());
    let mag: Vec<i32> = dx
        .iter()
        .zip(dy)
        .map(|(&a, &b)| (a as i32).abs() + (b as i32).abs())
        .collect();
    let at = |x: i64, y: i64| -> i32 {
        if x < 0 || y < 0 || x >= w as i64 || y >= h as i64 {
            0
        } else {
            mag[y as usize * wu + x as usize]
        }
    };
    // 0: candidate (above low, a local maximum), 1: not an edge, 2: edge.
    let mut map = vec![1u8; wu * hu];
    let mut stack: Vec<usize> = Vec::new();
    for y in 0..hu {
        for x in 0..wu {
            let i = y * wu + x;
            let m = mag[i];
            if m <= low {
                continue;
            }
            let (xs, ys) = (dx[i] as i64, dy[i] as i64);
            let (xi, yi) = (x as i64, y as i64);
            let ax = xs.abs();
            let ay = ys.abs() << CANNY_SHIFT;
            let tg22x = ax * TG22;
            let is_max = if ay < tg22x {
                m > at(xi - 1, yi) && m >= at(xi + 1, yi)
            } else {
                let tg67x = tg22x + (ax << (CANNY_SHIFT + 1));
                if ay > tg67x {
                    m > at(xi, yi - 1) && m >= at(xi, yi + 1)
                } else {
                    let s = if (xs ^ ys) < 0 { -1 } else { 1 };
                    m > at(xi - s, yi - 1) && m > at(xi + s, yi + 1)
                }
            };
            if !is_max {
                continue;
            }
            if m > high {
                map[i] = 2;
                stack.push(i);
            } else {
                map[i] = 0;
            }
        }
    }
    while let Some(i) = stack.pop() {
        let (x, y) = ((i % wu) as i64, (i / wu) as i64);
        for ny in y - 1..=y + 1 {
            for nx in x - 1..=x + 1 {
                if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                    continue;
                }
                let j = ny as usize * wu + nx as usize;
                if map[j] == 0 {
                    map[j] = 2;
                    stack.push(j);
                }
            }
        }
    }
    let out: Vec<u8> = map.iter().map(|&v| if v == 2 { 255 } else { 0 }).collect();
    GrayImage::from_raw(w, h, out).expect("same size")
}

/// The median grey level as `numpy.median` gives it (the mean of the two
/// middle values for an even count), from the 256-bin histogram.
pub fn median(hist: &[u64; 256]) -> f64 {
    let n: u64 = hist.iter().sum();
    if n == 0 {
        return 0.0;
    }
    let value_at = |k: u64| {
        let mut cum = 0;
        for (i, &c) in hist.iter().enumerate() {
            cum += c;
            if cum > k {
                return i as f64;
            }
        }
        255.0
    };
    if n % 2 == 1 {
        value_at(n / 2)
    } else {
        (value_at(n / 2 - 1) + value_at(n / 2)) / 2.0
    }
}

/// A grey image's 256-bin histogram.
pub fn histogram(grey: &GrayImage) -> [u64; 256] {
    let mut h = [0u64; 256];
    for &v in grey.as_raw() {
        h[v as usize] += 1;
    }
    h
}

#[cfg(test)]
mod tests {
    use super::super::metrics::testimg::grey_from_fn;
    use super::*;
    use image::Luma;

    #[test]
    fn the_blur_is_opencvs_5_tap_kernel_with_reflected_borders() {
        // One bright pixel: the output is the outer product of [1 4 6 4 1]/16
        // (× 256 / 256), rounded half up.
        let mut img = GrayImage::new(9, 9);
        img.put_pixel(4, 4, Luma([255]));
        let b = gaussian_blur(&img, 1.0);
        let k = [1u32, 4, 6, 4, 1];
        for y in 0..5 {
            for x in 0..5 {
                let want = ((k[x] * k[y] * 255 + 128) >> 8) as u8;
                assert_eq!(b.get_pixel(x as u32 + 2, y as u32 + 2)[0], want, "{x},{y}");
            }
        }
        assert_eq!(b.get_pixel(0, 0)[0], 0);
        // Reflect-101 at the border: columns −1 and −2 are columns 1 and 2,
        // so a bright first column is seen once, by its own tap.
        let edge = grey_from_fn(6, 3, |x, _| if x == 0 { 160.0 } else { 0.0 });
        // Column 0: taps 6 on itself, 4 + 1 elsewhere on zeros → 160·6/16 = 60.
        assert_eq!(edge_blur_at(&edge, 0), 60);
        // Column 1: tap 4 on column 0 → 40.
        assert_eq!(edge_blur_at(&edge, 1), 40);
        // A small scale hardly blurs.
        assert_eq!(gaussian_blur(&img, 0.2), img);
    }

    fn edge_blur_at(img: &GrayImage, x: u32) -> u8 {
        gaussian_blur(img, 1.0).get_pixel(x, 1)[0]
    }

    #[test]
    fn canny_finds_a_step_once_and_follows_the_thresholds() {
        // A vertical step of 40 grey levels: |dx| = 4 · 40 = 160 on both
        // sides of the step, the left one kept (strictly greater than behind).
        let step = grey_from_fn(20, 10, |x, _| if x < 10 { 50.0 } else { 90.0 });
        let e = canny(&step, 50.0, 150.0);
        for y in 0..10 {
            let row: Vec<u32> = (0..20).filter(|&x| e.get_pixel(x, y)[0] > 0).collect();
            assert_eq!(row, vec![9], "row {y}");
        }
        // Above the high threshold nothing is an edge.
        assert!(canny(&step, 50.0, 160.0).as_raw().iter().all(|&v| v == 0));
        // A weak step connected to a strong one is kept by hysteresis.
        let mixed = grey_from_fn(20, 10, |x, y| {
            let h = if y < 5 { 40.0 } else { 20.0 };
            if x < 10 { 50.0 } else { 50.0 + h }
        });
        let e = canny(&mixed, 50.0, 150.0);
        // (Where the two steps meet, the edge may shift by one column.)
        for y in 0..10 {
            assert!((9..=10).any(|x| e.get_pixel(x, y)[0] > 0), "row {y}");
        }
        assert!((7..10).all(|y| e.get_pixel(9, y)[0] > 0));
        // Alone, the weak step is not an edge.
        let weak = grey_from_fn(20, 10, |x, _| if x < 10 { 50.0 } else { 70.0 });
        assert!(canny(&weak, 50.0, 150.0).as_raw().iter().all(|&v| v == 0));
    }

    #[test]
    fn median_as_numpy() {
        let mut h = [0u64; 256];
        h[10] = 2;
        h[20] = 2;
        assert_eq!(median(&h), 15.0);
        h[30] = 1;
        assert_eq!(median(&h), 20.0);
        assert_eq!(median(&[0; 256]), 0.0);
    }
}
