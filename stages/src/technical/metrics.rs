//! Pixel metrics of the working image: pure functions of a greyscale image,
//! its 256-bin histogram, or the hue–saturation histogram. The formulas are the
//! reference's (OpenCV conventions); every function documents its definition.

use image::GrayImage;
use imageproc::filter::{filter_clamped, laplacian_filter};
use imageproc::kernel::Kernel;

/// Number of hue bins (OpenCV 8-bit HSV: H in 0..=179).
pub const HUE_BINS: usize = 180;
/// Number of saturation bins (S in 0..=255).
pub const SAT_BINS: usize = 256;
/// `color_score` = hue–saturation entropy in bits × this (the largest possible
/// entropy, log2(180·256) ≈ 15.49 bits, maps to just under 10).
pub const COLOR_ENTROPY_SCALE: f64 = 10.0 / 15.5;

/// Fixed-point precision of OpenCV's 8-bit colour conversions.
const SHIFT: u32 = 14;
const HSV_SHIFT: u32 = 12;

/// Grey level of an RGB pixel as OpenCV's `COLOR_RGB2GRAY` computes it:
/// 0.299 R + 0.587 G + 0.114 B, in 14-bit fixed point, rounded.
#[inline]
pub fn grey(r: u8, g: u8, b: u8) -> u8 {
    ((r as u32 * 4899 + g as u32 * 9617 + b as u32 * 1868 + (1 << (SHIFT - 1))) >> SHIFT) as u8
}

/// OpenCV's division tables for 8-bit RGB → HSV (`hsv_shift` = 12).
pub struct HsvTables {
    sdiv: [i32; 256],
    hdiv: [i32; 256],
}

impl Default for HsvTables {
    fn default() -> Self {
        let mut sdiv = [0; 256];
        let mut hdiv = [0; 256];
        for i in 1..256 {
            sdiv[i] = ((255 << HSV_SHIFT) as f64 / i as f64).round() as i32;
            hdiv[i] = ((180 << HSV_SHIFT) as f64 / (6.0 * i as f64)).round() as i32;
        }
        HsvTables { sdiv, hdiv }
    }
}

impl HsvTables {
    /// (H in 0..=179, S in 0..=255) of an RGB pixel, exactly as OpenCV's
    /// `COLOR_RGB2HSV` computes them for 8-bit images.
    #[inline]
    pub fn hue_sat(&self, r: u8, g: u8, b: u8) -> (u8, u8) {
        let (r, g, b) = (r as i32, g as i32, b as i32);
        let v = r.max(g).max(b);
        let diff = v - r.min(g).min(b);
        let round = 1 << (HSV_SHIFT - 1);
        let s = (diff * self.sdiv[v as usize] + round) >> HSV_SHIFT;
        let h = if v == r {
            g - b
        } else if v == g {
            b - r + 2 * diff
        } else {
            r - g + 4 * diff
        };
        let mut h = (h * self.hdiv[diff as usize] + round) >> HSV_SHIFT;
        if h < 0 {
            h += HUE_BINS as i32;
        }
        (h as u8, s as u8)
    }
}

/// What one pass over the RGB pixels gathers.
pub struct PixelStats {
    /// Grey-level histogram (256 bins, counts).
    pub grey_hist: [u64; 256],
    /// Hue–saturation histogram, `h * 256 + s` (counts).
    pub hs_hist: Vec<u32>,
    /// Sum of S (0..=255) over all pixels.
    pub saturation_sum: u64,
    pub pixels: u64,
}

impl Default for PixelStats {
    fn default() -> Self {
        PixelStats {
            grey_hist: [0; 256],
            hs_hist: vec![0; HUE_BINS * SAT_BINS],
            saturation_sum: 0,
            pixels: 0,
        }
    }
}

impl PixelStats {
    /// One pass over RGB8 pixels: fills `grey` (cleared first) and the
    /// histograms (reset first). Allocates nothing once `grey` has grown.
    pub fn scan(&mut self, rgb: &[u8], tables: &HsvTables, grey_out: &mut Vec<u8>) {
        self.grey_hist = [0; 256];
        self.hs_hist.fill(0);
        self.saturation_sum = 0;
        grey_out.clear();
        grey_out.reserve(rgb.len() / 3);
        let mut sat_sum = 0u64;
        for p in rgb.chunks_exact(3) {
            let (r, g, b) = (p[0], p[1], p[2]);
            let y = grey(r, g, b);
            grey_out.push(y);
            self.grey_hist[y as usize] += 1;
            let (h, s) = tables.hue_sat(r, g, b);
            self.hs_hist[h as usize * SAT_BINS + s as usize] += 1;
            sat_sum += s as u64;
        }
        self.saturation_sum = sat_sum;
        self.pixels = (rgb.len() / 3) as u64;
    }

    /// Mean saturation in 0–1 (mean of S / 255).
    pub fn mean_saturation(&self) -> f64 {
        if self.pixels == 0 {
            return 0.0;
        }
        self.saturation_sum as f64 / self.pixels as f64 / 255.0
    }

    /// Shannon entropy, in bits, of the normalised 180×256 hue–saturation histogram.
    pub fn hue_sat_entropy(&self) -> f64 {
        entropy_bits(&self.hs_hist)
    }
}

/// Shannon entropy in bits of a histogram of counts (normalised to sum 1).
pub fn entropy_bits(counts: &[u32]) -> f64 {
    let n: u64 = counts.iter().map(|&c| c as u64).sum();
    if n == 0 {
        return 0.0;
    }
    let n = n as f64;
    // −Σ p log2 p = log2 n − Σ c log2 c / n
    let sum_c_log_c: f64 = counts
        .iter()
        .filter(|&&c| c > 1)
        .map(|&c| c as f64 * (c as f64).log2())
        .sum();
    (n.log2() - sum_c_log_c / n).max(0.0)
}

/// `color_score`: hue–saturation entropy × 10/15.5, clamped to 0–10.
pub fn color_score(entropy_bits: f64) -> f64 {
    (entropy_bits * COLOR_ENTROPY_SCALE).clamp(0.0, 10.0)
}

/// Tonal statistics of the 256-bin grey histogram (normalised to sum 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tone {
    /// Mean grey level / 255 (0–1).
    pub luminance: f64,
    /// Standard deviation of the pixel grey levels, in 0–255 units:
    /// √(Σᵢ pᵢ (i − μ)²) with pᵢ the normalised histogram and μ = Σᵢ pᵢ i.
    pub spread: f64,
    /// The reference's `-scipy.stats.kurtosis(hist_normalized * 256)`: the
    /// negative excess kurtosis of the 256 *bin heights* (not of the grey
    /// levels), 3 − m₄/m₂² over xᵢ = 256·pᵢ (mean 1). Near 1.2 when the bins
    /// are filled evenly, negative when a few bins hold most pixels (−251 for
    /// a single grey level); 0 when every bin is equal.
    pub bimodality: f64,
    /// Fraction of pixels in bins 0–29.
    pub shadow: f64,
    /// Fraction of pixels in bins 225–255.
    pub highlight: f64,
    /// Fraction of pixels in bins 0–84 (`[0:85]`).
    pub dark: f64,
    /// Fraction of pixels in bins 170–255 (`[170:]`).
    pub bright: f64,
    /// Percentiles of the grey levels (NumPy's default linear interpolation).
    pub p2: f64,
    pub p5: f64,
    pub p95: f64,
    pub p98: f64,
}

/// Tonal statistics of a grey-level histogram of counts.
pub fn tone(hist: &[u64; 256]) -> Tone {
    let n: u64 = hist.iter().sum();
    if n == 0 {
        return Tone {
            luminance: 0.0,
            spread: 0.0,
            bimodality: 0.0,
            shadow: 0.0,
            highlight: 0.0,
            dark: 0.0,
            bright: 0.0,
            p2: 0.0,
            p5: 0.0,
            p95: 0.0,
            p98: 0.0,
        };
    }
    let total = n as f64;
    let p = |i: usize| hist[i] as f64 / total;
    let mass = |r: std::ops::Range<usize>| r.map(p).sum::<f64>();
    let mean: f64 = (0..256).map(|i| i as f64 * p(i)).sum();
    let m2: f64 = (0..256).map(|i| p(i) * (i as f64 - mean).powi(2)).sum();
    let bimodality = bin_height_bimodality(hist, total);
    let percentile = |q: f64| percentile(hist, n, q);
    Tone {
        luminance: mean / 255.0,
        spread: m2.sqrt(),
        bimodality,
        shadow: mass(0..30),
        highlight: mass(225..256),
        dark: mass(0..85),
        bright: mass(170..256),
        p2: percentile(2.0),
        p5: percentile(5.0),
        p95: percentile(95.0),
        p98: percentile(98.0),
    }
}

/// 3 − m₄/m₂² of the bin heights xᵢ = 256·cᵢ/n (population moments, as
/// `scipy.stats.kurtosis(…, fisher=True, bias=True)`); 0 when m₂ = 0.
fn bin_height_bimodality(hist: &[u64; 256], total: f64) -> f64 {
    let (mut m2, mut m4) = (0.0, 0.0);
    for &c in hist {
        let d = 256.0 * c as f64 / total - 1.0;
        let d2 = d * d;
        m2 += d2;
        m4 += d2 * d2;
    }
    let (m2, m4) = (m2 / 256.0, m4 / 256.0);
    if m2 > 1e-12 {
        3.0 - m4 / (m2 * m2)
    } else {
        0.0
    }
}

/// The `q`-th percentile (0–100) of the values a histogram counts, as
/// `numpy.percentile` computes it (linear interpolation between order statistics).
fn percentile(hist: &[u64; 256], n: u64, q: f64) -> f64 {
    let rank = q / 100.0 * (n - 1) as f64;
    let lo = rank.floor() as u64;
    let hi = rank.ceil() as u64;
    let value_at = |k: u64| {
        // The k-th smallest value (0-based).
        let mut cum = 0;
        for (i, &c) in hist.iter().enumerate() {
            cum += c;
            if cum > k {
                return i as f64;
            }
        }
        255.0
    };
    let (a, b) = (value_at(lo), value_at(hi));
    a + (b - a) * (rank - lo as f64)
}

/// `exposure_score`: 7 − 8·|lum − 0.5| + min(4, spread/20) − 0.6·max(0, bimodality − 1)
/// − (4·shadow + 5·highlight), clamped to 0–10; the clipping term is left out
/// for a silhouette ([`is_silhouette`]), as the reference's `get_histogram_data` does.
pub fn exposure_score(t: &Tone) -> f64 {
    let clipping = if is_silhouette(t) {
        0.0
    } else {
        4.0 * t.shadow + 5.0 * t.highlight
    };
    let score = 7.0 - 8.0 * (t.luminance - 0.5).abs() + (t.spread / 20.0).min(4.0)
        - 0.6 * (t.bimodality - 1.0).max(0.0)
        - clipping;
    score.clamp(0.0, 10.0)
}

/// The reference's histogram silhouette test (`is_silhouette` of
/// `get_histogram_data`): more than 35 % of the pixels in bins 0–84 and
/// more than 25 % in bins 170–255 — a backlit subject, whose clipping is
/// intended.
pub fn is_silhouette(t: &Tone) -> bool {
    t.dark > 0.35 && t.bright > 0.25
}

/// `contrast_score`: min(10, 5·(p95 − p5)/255 + 20·std/255).
pub fn contrast_score(t: &Tone) -> f64 {
    (5.0 * (t.p95 - t.p5) / 255.0 + 20.0 * t.spread / 255.0).min(10.0)
}

/// `dynamic_range_stops`: log2(p98 / p2), both floored at 1 (so a black image gives 0).
pub fn dynamic_range_stops(t: &Tone) -> f64 {
    (t.p98.max(1.0) / t.p2.max(1.0)).log2()
}

/// `sharpness`: variance of the 3×3 Laplacian ([0 1 0; 1 −4 1; 0 1 0], as
/// `cv2.Laplacian(grey, CV_64F)`) over every pixel; borders replicate the edge pixel.
pub fn laplacian_variance(grey: &GrayImage) -> f64 {
    let lap = laplacian_filter(grey);
    let n = lap.as_raw().len();
    if n == 0 {
        return 0.0;
    }
    let (mut s, mut s2) = (0i64, 0i64);
    for &v in lap.as_raw() {
        let v = v as i64;
        s += v;
        s2 += v * v;
    }
    let n = n as f64;
    let mean = s as f64 / n;
    (s2 as f64 / n - mean * mean).max(0.0)
}

/// Immerkær's noise kernel (the difference of two Laplacians).
const NOISE_KERNEL: Kernel<'static, i32> = Kernel::new(&[1, -2, 1, -2, 4, -2, 1, -2, 1], 3, 3);

/// `noise_sigma`: Immerkær's fast noise-variance estimator as the reference
/// computes it, Σ|grey ⊛ M| · √(π/2) / (6 (W−2)(H−2)) with
/// M = [1 −2 1; −2 4 −2; 1 −2 1] — the sum over *every* pixel
/// (`cv2.filter2D`'s reflect-101 border: row −1 is row 1), divided by the
/// interior's count. In grey levels (0–255).
pub fn noise_sigma(grey: &GrayImage) -> f64 {
    let (w, h) = grey.dimensions();
    if w < 3 || h < 3 {
        return 0.0;
    }
    // Reflect-101 padding of one pixel, then the interior of the filtered
    // padded image is the filtered image with OpenCV's border.
    let (pw, ph) = (w + 2, h + 2);
    let src = grey.as_raw();
    let reflect = |i: i64, n: u32| -> usize {
        if i < 0 {
            1
        } else if i >= n as i64 {
            n as usize - 2
        } else {
            i as usize
        }
    };
    let padded = GrayImage::from_fn(pw, ph, |x, y| {
        let (sx, sy) = (reflect(x as i64 - 1, w), reflect(y as i64 - 1, h));
        image::Luma([src[sy * w as usize + sx]])
    });
    let conv: image::ImageBuffer<image::Luma<i16>, Vec<i16>> =
        filter_clamped(&padded, NOISE_KERNEL);
    let raw = conv.as_raw();
    let (pw, ph) = (pw as usize, ph as usize);
    let mut sum = 0u64;
    for row in raw.chunks_exact(pw).skip(1).take(ph - 2) {
        sum += row[1..pw - 1]
            .iter()
            .map(|&v| v.unsigned_abs() as u64)
            .sum::<u64>();
    }
    sum as f64 * (std::f64::consts::PI / 2.0).sqrt() / (6.0 * (w - 2) as f64 * (h - 2) as f64)
}

#[cfg(test)]
pub(crate) mod testimg {
    //! Generated test images and a seeded Gaussian source.

    use image::GrayImage;

    /// A small PCG-style generator with Box–Muller normals (seeded, reproducible).
    pub struct Rng(u64);

    impl Rng {
        pub fn new(seed: u64) -> Self {
            Rng(seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407))
        }

        pub fn next_u32(&mut self) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let x = ((self.0 >> 18) ^ self.0) >> 27;
            (x as u32).rotate_right((self.0 >> 59) as u32)
        }

        /// Uniform in (0, 1].
        pub fn uniform(&mut self) -> f64 {
            (self.next_u32() as f64 + 1.0) / 4294967296.0
        }

        /// Standard normal (Box–Muller).
        pub fn normal(&mut self) -> f64 {
            let (u1, u2) = (self.uniform(), self.uniform());
            (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        }
    }

    pub fn grey_from_fn(w: u32, h: u32, mut f: impl FnMut(u32, u32) -> f64) -> GrayImage {
        GrayImage::from_fn(w, h, |x, y| {
            image::Luma([f(x, y).round().clamp(0.0, 255.0) as u8])
        })
    }

    /// A box blur of radius `r` (a softened copy).
    pub fn box_blur(img: &GrayImage, r: i64) -> GrayImage {
        let (w, h) = (img.width() as i64, img.height() as i64);
        grey_from_fn(img.width(), img.height(), |x, y| {
            let (mut s, mut n) = (0.0, 0.0);
            for dy in -r..=r {
                for dx in -r..=r {
                    let (xx, yy) = (x as i64 + dx, y as i64 + dy);
                    if (0..w).contains(&xx) && (0..h).contains(&yy) {
                        s += img.get_pixel(xx as u32, yy as u32)[0] as f64;
                        n += 1.0;
                    }
                }
            }
            s / n
        })
    }
}

#[cfg(test)]
mod tests {
    use super::testimg::*;
    use super::*;

    fn hist_of(img: &GrayImage) -> [u64; 256] {
        let mut h = [0u64; 256];
        for &v in img.as_raw() {
            h[v as usize] += 1;
        }
        h
    }

    /// A detailed scene: checkerboard-ish texture with soft shapes.
    fn detailed(w: u32, h: u32) -> GrayImage {
        grey_from_fn(w, h, |x, y| {
            let c = if (x / 8 + y / 8) % 2 == 0 {
                60.0
            } else {
                190.0
            };
            c + 20.0 * ((x as f64) * 0.05).sin()
        })
    }

    #[test]
    fn grey_matches_opencv_coefficients() {
        assert_eq!(grey(255, 255, 255), 255);
        assert_eq!(grey(0, 0, 0), 0);
        assert_eq!(grey(255, 0, 0), 76); // 0.299 × 255 = 76.2
        assert_eq!(grey(0, 255, 0), 150); // 0.587 × 255 = 149.7
        assert_eq!(grey(0, 0, 255), 29); // 0.114 × 255 = 29.1
    }

    #[test]
    fn hsv_matches_opencv_conventions() {
        let t = HsvTables::default();
        assert_eq!(t.hue_sat(255, 0, 0), (0, 255));
        assert_eq!(t.hue_sat(0, 255, 0), (60, 255));
        assert_eq!(t.hue_sat(0, 0, 255), (120, 255));
        assert_eq!(t.hue_sat(255, 255, 0), (30, 255));
        assert_eq!(t.hue_sat(255, 0, 255), (150, 255));
        assert_eq!(t.hue_sat(128, 128, 128), (0, 0));
        assert_eq!(t.hue_sat(0, 0, 0), (0, 0));
        // Half-saturated red: S = 255 · (200 − 100) / 200 = 127.5, which
        // OpenCV's fixed point (100 · round(255·4096/200) >> 12) makes 127.
        assert_eq!(t.hue_sat(200, 100, 100), (0, 127));
        assert_eq!(t.hue_sat(200, 150, 100), (15, 127));
        // Just below red going through magenta wraps to 179.
        assert_eq!(t.hue_sat(255, 0, 10).0, 179);
        for r in (0..=255).step_by(5) {
            for g in (0..=255).step_by(5) {
                for b in (0..=255).step_by(5) {
                    assert!(t.hue_sat(r, g, b).0 < 180);
                }
            }
        }
    }

    #[test]
    fn entropy_of_known_histograms() {
        assert_eq!(entropy_bits(&[10, 0, 0]), 0.0);
        assert!((entropy_bits(&[5, 5]) - 1.0).abs() < 1e-12);
        assert!((entropy_bits(&[3, 3, 3, 3]) - 2.0).abs() < 1e-12);
        let uniform = vec![1u32; HUE_BINS * SAT_BINS];
        let max = entropy_bits(&uniform);
        assert!((max - 46080f64.log2()).abs() < 1e-9);
        assert!(color_score(max) < 10.0 && color_score(max) > 9.9);
    }

    #[test]
    fn greyscale_is_monochrome_and_colourful_is_not() {
        let t = HsvTables::default();
        let (w, h) = (200u32, 100u32);
        let mut grey_px = Vec::new();
        let mut colour_px = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let v = (x + y) as u8;
                grey_px.extend([v, v, v]);
                let hue = x as f64 / w as f64 * 6.0;
                let (r, g, b) = match hue as u32 {
                    0 => (255.0, hue.fract() * 255.0, 0.0),
                    1 => ((1.0 - hue.fract()) * 255.0, 255.0, 0.0),
                    2 => (0.0, 255.0, hue.fract() * 255.0),
                    3 => (0.0, (1.0 - hue.fract()) * 255.0, 255.0),
                    4 => (hue.fract() * 255.0, 0.0, 255.0),
                    _ => (255.0, 0.0, (1.0 - hue.fract()) * 255.0),
                };
                // Saturation from 0.3 (top) to 1 (bottom): pastel to pure.
                let k = 0.3 + 0.7 * y as f64 / h as f64;
                let mix = |c: f64| (255.0 * (1.0 - k) + c * k) as u8;
                colour_px.extend([mix(r), mix(g), mix(b)]);
            }
        }
        let mut stats = PixelStats::default();
        let mut buf = Vec::new();
        stats.scan(&grey_px, &t, &mut buf);
        assert_eq!(buf.len(), (w * h) as usize);
        assert_eq!(stats.mean_saturation(), 0.0);
        let grey_colour = color_score(stats.hue_sat_entropy());
        assert_eq!(grey_colour, 0.0);
        stats.scan(&colour_px, &t, &mut buf);
        assert!(stats.mean_saturation() > 0.6, "{}", stats.mean_saturation());
        assert!(color_score(stats.hue_sat_entropy()) > 5.0);
    }

    #[test]
    fn tone_of_a_uniform_ramp() {
        let mut hist = [0u64; 256];
        hist.iter_mut().for_each(|c| *c = 100);
        let t = tone(&hist);
        assert!((t.luminance - 0.5).abs() < 1e-12);
        // Discrete uniform on 0..=255: σ² = (256² − 1) / 12.
        assert!((t.spread - ((65536.0f64 - 1.0) / 12.0).sqrt()).abs() < 1e-9);
        // Every bin equally high: no spread of the bin heights.
        assert_eq!(t.bimodality, 0.0);
        assert!((t.shadow - 30.0 / 256.0).abs() < 1e-12);
        assert!((t.highlight - 31.0 / 256.0).abs() < 1e-12);
        assert!((t.dark - 85.0 / 256.0).abs() < 1e-12);
        assert!((t.bright - 86.0 / 256.0).abs() < 1e-12);
        // As np.percentile(np.repeat(np.arange(256), 100), [2, 5, 95, 98]).
        assert_eq!((t.p2, t.p5, t.p95, t.p98), (5.0, 12.0, 243.0, 250.0));
        assert!((dynamic_range_stops(&t) - (250.0f64 / 5.0).log2()).abs() < 1e-9);
    }

    #[test]
    fn bimodality_is_the_kurtosis_of_the_bin_heights() {
        // Two spikes: bin heights 128, 128 and 254 zeros (mean 1). With
        // d = 127 twice and −1 254 times: m2 = (2·127² + 254)/256 = 127,
        // m4 = (2·127⁴ + 254)/256, 3 − m4/m2² = 3 − 127.0078 …
        let mut hist = [0u64; 256];
        hist[20] = 500;
        hist[235] = 500;
        let t = tone(&hist);
        let m2 = (2.0 * 127f64.powi(2) + 254.0) / 256.0;
        let m4 = (2.0 * 127f64.powi(4) + 254.0) / 256.0;
        assert!((t.bimodality - (3.0 - m4 / (m2 * m2))).abs() < 1e-9);
        assert!((t.spread - 107.5).abs() < 1e-9);
        // A single grey level: the reference's −251.0039 (its 10×10 photo).
        let mut flat = [0u64; 256];
        flat[128] = 1000;
        let t = tone(&flat);
        assert!((t.bimodality + 251.0039).abs() < 1e-4, "{}", t.bimodality);
        assert_eq!(t.spread, 0.0);
        // Bins filled unevenly but everywhere score higher than spikes.
        let mut ramp = [0u64; 256];
        for (i, c) in ramp.iter_mut().enumerate() {
            *c = 100 + i as u64;
        }
        let r = tone(&ramp).bimodality;
        // A uniform distribution of heights has kurtosis −1.2 → 1.2.
        assert!((r - 1.2).abs() < 0.01, "{r}");
        assert_eq!(dynamic_range_stops(&t), 0.0);
        assert_eq!(contrast_score(&t), 0.0);
    }

    #[test]
    fn clipped_images_have_clipped_mass() {
        let (w, h) = (300, 200);
        let white = grey_from_fn(w, h, |x, _| if x < 240 { 250.0 } else { 100.0 });
        let t = tone(&hist_of(&white));
        assert!((t.highlight - 0.8).abs() < 1e-9 && t.shadow == 0.0);
        let black = grey_from_fn(w, h, |x, _| if x < 210 { 5.0 } else { 140.0 });
        let t = tone(&hist_of(&black));
        assert!((t.shadow - 0.7).abs() < 1e-9 && t.highlight == 0.0);
        assert!((t.dark - 0.7).abs() < 1e-9);
    }

    #[test]
    fn a_well_spread_mid_grey_image_beats_an_underexposed_one() {
        let (w, h) = (256, 200);
        let good = grey_from_fn(w, h, |x, y| 30.0 + x as f64 * 0.75 + (y % 20) as f64);
        let dark = grey_from_fn(w, h, |x, y| x as f64 * 0.12 + (y % 5) as f64);
        let (tg, td) = (tone(&hist_of(&good)), tone(&hist_of(&dark)));
        assert!((tg.luminance - 0.5).abs() < 0.1, "{}", tg.luminance);
        let (eg, ed) = (exposure_score(&tg), exposure_score(&td));
        assert!(eg > 7.0, "well exposed scores {eg}");
        assert!(ed < 3.0, "underexposed scores {ed}");
        assert!(contrast_score(&tg) > contrast_score(&td));
    }

    #[test]
    fn exposure_score_formula() {
        let t = Tone {
            luminance: 0.25,
            spread: 60.0,
            bimodality: 1.5,
            shadow: 0.1,
            highlight: 0.02,
            dark: 0.0,
            bright: 0.0,
            p2: 0.0,
            p5: 10.0,
            p95: 200.0,
            p98: 0.0,
        };
        let expected = 7.0 - 2.0 + 3.0 - 0.3 - (0.4 + 0.1);
        assert!((exposure_score(&t) - expected).abs() < 1e-12);
        // A silhouette keeps its clipping unpenalised.
        let s = Tone {
            dark: 0.4,
            bright: 0.3,
            ..t
        };
        assert!(is_silhouette(&s) && !is_silhouette(&t));
        assert!((exposure_score(&s) - (expected + 0.5)).abs() < 1e-12);
        let expected = 5.0 * 190.0 / 255.0 + 20.0 * 60.0 / 255.0;
        assert!((contrast_score(&t) - expected).abs() < 1e-12);
    }

    #[test]
    fn a_blurred_copy_is_less_sharp() {
        let img = detailed(320, 240);
        let soft = box_blur(&img, 2);
        let (a, b) = (laplacian_variance(&img), laplacian_variance(&soft));
        assert!(b < a / 4.0, "sharp {a}, blurred {b}");
        let flat = grey_from_fn(50, 50, |_, _| 99.0);
        assert_eq!(laplacian_variance(&flat), 0.0);
    }

    #[test]
    fn laplacian_variance_of_a_known_pattern() {
        // Vertical stripes 0/100 alternating every column: the Laplacian is ±200
        // inside, ±100 in the first and last columns (replicated border).
        let img = grey_from_fn(10, 4, |x, _| if x % 2 == 0 { 0.0 } else { 100.0 });
        let lap: Vec<f64> = (0..10)
            .map(|x| match x {
                0 => 100.0,
                9 => -100.0,
                x if x % 2 == 0 => 200.0,
                _ => -200.0,
            })
            .collect();
        let mean = lap.iter().sum::<f64>() / 10.0;
        let var = lap.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 10.0;
        assert!((laplacian_variance(&img) - var).abs() < 1e-6);
    }

    #[test]
    fn noise_of_known_sigma_is_estimated_within_15_percent() {
        let mut rng = Rng::new(7);
        for sigma in [3.0, 8.0, 20.0] {
            // A smooth gradient plus Gaussian noise.
            let img = grey_from_fn(400, 300, |x, y| {
                60.0 + x as f64 * 0.2 + y as f64 * 0.1 + sigma * rng.normal()
            });
            let est = noise_sigma(&img);
            assert!(
                (est - sigma).abs() / sigma < 0.15,
                "σ = {sigma}, estimated {est}"
            );
        }
        let clean = grey_from_fn(400, 300, |x, y| 60.0 + x as f64 * 0.2 + y as f64 * 0.1);
        assert!(noise_sigma(&clean) < 0.5, "{}", noise_sigma(&clean));
        // Every pixel counts, the border reflected (reflect-101), divided
        // by the interior's count: the definition, computed directly.
        let img = grey_from_fn(6, 4, |x, y| ((x * 7 + y * 13) % 11) as f64 * 9.0);
        let at = |x: i64, y: i64| {
            let r = |i: i64, n: i64| {
                if i < 0 {
                    1
                } else if i >= n {
                    n - 2
                } else {
                    i
                }
            };
            img.get_pixel(r(x, 6) as u32, r(y, 4) as u32)[0] as f64
        };
        let m = [[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]];
        let mut sum = 0.0;
        for y in 0..4i64 {
            for x in 0..6i64 {
                let mut c = 0.0;
                for (dy, row) in m.iter().enumerate() {
                    for (dx, k) in row.iter().enumerate() {
                        c += k * at(x + dx as i64 - 1, y + dy as i64 - 1);
                    }
                }
                sum += f64::abs(c);
            }
        }
        let want = sum * (std::f64::consts::PI / 2.0).sqrt() / (6.0 * 4.0 * 2.0);
        assert!(
            (noise_sigma(&img) - want).abs() < 1e-9,
            "{} vs {want}",
            noise_sigma(&img)
        );
    }
}
