//! BRISQUE, the no-reference image quality model of Mittal, Moorthy and Bovik
//! ("No-Reference Image Quality Assessment in the Spatial Domain", IEEE TIP
//! 2012), computed as OpenCV contrib's `cv::quality::QualityBRISQUE` computes
//! it, in pure Rust, with OpenCV's trained model files.
//!
//! The steps, as in OpenCV's `qualitybrisque.cpp`:
//!
//! 1. grey: OpenCV's 8-bit `COLOR_BGR2GRAY` (15-bit fixed-point weights
//!    0.299/0.587/0.114, rounded to 8 bits), then `f32` times 1/255;
//! 2. two scales: the image itself and a bicubic (`INTER_CUBIC`, a = −0.75)
//!    resize to `(w/2, h/2)`;
//! 3. per scale, the MSCN image `(I − μ) / (σ + 1/255)`, μ and σ² from a 7×7
//!    Gaussian (σ = 7/6, `BORDER_REPLICATE`), all in `f32` as in OpenCV;
//! 4. per scale, an AGGD fit of the MSCN image (shape, variance) and of its
//!    products with the right, lower, lower-right and upper-right neighbour
//!    (shape, mean, left and right variance each): 18 features per scale;
//! 5. each feature scaled to [−1, 1] with the range file's min/max rows, then
//!    the ε-SVR with RBF kernel, `Σ αᵢ·exp(−γ‖x − svᵢ‖²) − ρ`, clamped to
//!    [0, 100] as OpenCV does. Lower is better.
//!
//! # Agreement with OpenCV
//!
//! The arithmetic is OpenCV's reference (non-IPP) code path, operation for
//! operation: `f32` images, `f64` sums, the same summation orders, fused
//! multiply-adds where OpenCV's AVX2 kernels use them, OpenCV's own `exp`
//! for the kernel values. Checked against OpenCV 5.0 with IPP disabled: the
//! Gaussian, resize, exp and grey conversion are bit-identical (but for
//! 1-ulp differences in the last `w % 4` columns of the blur), features agree
//! to 1e-7 and scores to 1e-5 (to ~1e-3 when a scale's width is not a
//! multiple of 4). OpenCV's x86-64 wheels route `resize` and `exp` through
//! Intel IPP, which rounds differently: their scores differ from these, and
//! from OpenCV's own non-IPP scores, by up to about 0.01.
//!
//! JPEG decoders differ by a grey level here and there, which moves scores by
//! up to ~0.1: compare on the same pixels.

use std::path::Path;
use std::sync::OnceLock;

/// Number of BRISQUE features: 18 per scale, two scales.
pub const FEATURES: usize = 36;

/// A loaded BRISQUE model: the ε-SVR (RBF kernel) and the feature ranges.
#[derive(Debug, Clone)]
pub struct Brisque {
    /// RBF γ.
    gamma: f64,
    /// Decision function offset ρ.
    rho: f64,
    /// Support vectors, `FEATURES` values each, one after the other.
    support_vectors: Vec<f32>,
    /// One coefficient per support vector.
    alpha: Vec<f64>,
    /// Per-feature minimum (row 0 of the range matrix).
    min: [f32; FEATURES],
    /// Per-feature maximum (row 1 of the range matrix).
    max: [f32; FEATURES],
}

impl Brisque {
    /// Loads the SVR model and the feature range files (OpenCV FileStorage
    /// YAML, as OpenCV ships them: `brisque_model_live.yml`,
    /// `brisque_range_live.yml`). Errors name the file and what is wrong.
    pub fn load(model: &Path, range: &Path) -> Result<Brisque, String> {
        let (gamma, rho, support_vectors, alpha) =
            load_model(model).map_err(|e| format!("BRISQUE model {}: {e}", model.display()))?;
        let (min, max) = load_range(range)
            .map_err(|e| format!("BRISQUE range file {}: {e}", range.display()))?;
        Ok(Brisque {
            gamma,
            rho,
            support_vectors,
            alpha,
            min,
            max,
        })
    }

    /// Number of support vectors of the loaded model.
    pub fn support_vector_count(&self) -> usize {
        self.alpha.len()
    }

    /// The 36 BRISQUE features of an RGB8 image (row-major, `width*height*3`
    /// bytes), as OpenCV's `QualityBRISQUE::computeFeatures` computes them
    /// (OpenCV's `f32` values, widened). For each scale: the MSCN shape and
    /// variance, then for the horizontal, vertical, main- and anti-diagonal
    /// neighbour products the AGGD shape, mean, left and right variance.
    ///
    /// Needs at least 2×2 pixels. A featureless image (one flat grey) gives
    /// NaN features, as in OpenCV.
    pub fn features(width: u32, height: u32, rgb: &[u8]) -> Result<[f64; FEATURES], String> {
        let (w, h) = (width as usize, height as usize);
        if w < 2 || h < 2 {
            return Err(format!(
                "BRISQUE needs at least 2x2 pixels, the image is {width}x{height}"
            ));
        }
        let expected = w
            .checked_mul(h)
            .and_then(|n| n.checked_mul(3))
            .ok_or_else(|| format!("image size {width}x{height} overflows"))?;
        if rgb.len() != expected {
            return Err(format!(
                "the RGB8 buffer has {} bytes, {width}x{height}x3 needs {expected}",
                rgb.len()
            ));
        }

        let grey = grey_f32(rgb);
        let first = scale_features(&grey, w, h);
        let half = resize_cubic(&grey, w, h, w / 2, h / 2);
        drop(grey);
        let second = scale_features(&half, w / 2, h / 2);

        let mut out = [0f64; FEATURES];
        for (o, v) in out.iter_mut().zip(first.iter().chain(&second)) {
            *o = f64::from(*v);
        }
        Ok(out)
    }

    /// The BRISQUE score of an RGB8 image (row-major, `width*height*3`
    /// bytes) on OpenCV's scale: about 0 for pristine photos, up to 100 for
    /// the worst (the SVR output is clamped to [0, 100], as OpenCV does).
    /// Higher is worse.
    ///
    /// Errors on a malformed buffer, an image under 2×2 pixels and a
    /// featureless image (one flat grey: BRISQUE is undefined there, OpenCV's
    /// features are NaN and its score meaningless).
    pub fn score(&self, width: u32, height: u32, rgb: &[u8]) -> Result<f64, String> {
        let features = Self::features(width, height, rgb)?;
        if features.iter().any(|v| !v.is_finite()) {
            return Err(format!(
                "BRISQUE is undefined for this {width}x{height} image: it has no texture \
                 (one flat grey), so its features are not finite"
            ));
        }
        Ok(self.predict(&features))
    }

    /// The SVR prediction for raw (unscaled) features such as
    /// [`Brisque::features`] returns, clamped to [0, 100].
    pub fn predict(&self, features: &[f64; FEATURES]) -> f64 {
        // quality_utils::scale in f32: lower + (upper - lower) * (x - min) / (max - min).
        let mut x = [0f32; FEATURES];
        for (i, xi) in x.iter_mut().enumerate() {
            let (lo, hi) = (self.min[i], self.max[i]);
            *xi = -1.0f32 + (2.0f32 * (features[i] as f32 - lo)) / (hi - lo);
        }
        // cv::ml::SVM: squared distance in f64 (4 features per step), kernel
        // value as f32 (`Qfloat`) through cv::exp, weighted sum in f64.
        let mut sum = -self.rho;
        for (sv, &alpha) in self.support_vectors.chunks_exact(FEATURES).zip(&self.alpha) {
            let mut s = 0f64;
            for k in (0..FEATURES).step_by(4) {
                let t0 = f64::from(sv[k] - x[k]);
                let t1 = f64::from(sv[k + 1] - x[k + 1]);
                s += t0 * t0 + t1 * t1;
                let t0 = f64::from(sv[k + 2] - x[k + 2]);
                let t1 = f64::from(sv[k + 3] - x[k + 3]);
                s += t0 * t0 + t1 * t1;
            }
            let kernel = exp32f((s * -self.gamma) as f32);
            sum += alpha * f64::from(kernel);
        }
        f64::from((sum as f32).clamp(0.0, 100.0))
    }
}

// ---------------------------------------------------------------------------
// Features
// ---------------------------------------------------------------------------

/// OpenCV's `cvtColor(COLOR_BGR2GRAY)` on 8 bits (weights 9798, 19235, 3735
/// over 2^15, rounded), then `convertTo(CV_32F, 1/255)`.
fn grey_f32(rgb: &[u8]) -> Vec<f32> {
    const R: u32 = 9798;
    const G: u32 = 19235;
    const B: u32 = 3735;
    let scale = (1.0f64 / 255.0) as f32;
    rgb.chunks_exact(3)
        .map(|p| {
            let y =
                (u32::from(p[0]) * R + u32::from(p[1]) * G + u32::from(p[2]) * B + (1 << 14)) >> 15;
            y as f32 * scale
        })
        .collect()
}

/// The 18 features of one scale.
fn scale_features(img: &[f32], w: usize, h: usize) -> [f32; 18] {
    let n = w * h;
    let mut mu = vec![0f32; n];
    gaussian_blur(img, w, h, false, &mut mu);
    let mut mscn = vec![0f32; n];
    gaussian_blur(img, w, h, true, &mut mscn);

    // MSCN, in place of blur(I²): (I - mu) / (sqrt(blur(I²) - mu²) + 1/255).
    // A variance that rounds below zero gives NaN, as in OpenCV; the fits
    // skip NaN.
    let c = (1.0f64 / 255.0) as f32;
    for ((m, &mu), &v) in mscn.iter_mut().zip(&mu).zip(img) {
        let sigma = (*m - mu * mu).sqrt() + c;
        *m = (v - mu) / sigma;
    }
    drop(mu);

    let mut out = [0f32; 18];
    let mut moments = Moments::default();
    for &v in &mscn {
        moments.push(v);
    }
    let fit = moments.fit(n);
    out[0] = fit.gamma as f32;
    out[1] = (fit.left * fit.left + fit.right * fit.right) as f32 / 2.0;

    // Products with the neighbour at (row + di, column + dj); outside the
    // image the neighbour is 0 (so that NaN stays NaN, as in OpenCV).
    let shifts: [(isize, usize); 4] = [(0, 1), (1, 0), (1, 1), (-1, 1)];
    for (s, &(di, dj)) in shifts.iter().enumerate() {
        let mut moments = Moments::default();
        for i in 0..h {
            let row = &mscn[i * w..(i + 1) * w];
            let ii = i as isize + di;
            if ii < 0 || ii >= h as isize {
                for &a in row {
                    moments.push(a * 0.0);
                }
                continue;
            }
            let ii = ii as usize;
            let other = &mscn[ii * w + dj..(ii + 1) * w];
            for (&a, &b) in row.iter().zip(other) {
                moments.push(a * b);
            }
            for &a in &row[w - dj..] {
                moments.push(a * 0.0);
            }
        }
        let fit = moments.fit(n);
        let g = fit.gamma;
        let constant = tgamma(1.0 / g).sqrt() / tgamma(3.0 / g).sqrt();
        let mean = (fit.right - fit.left) * (tgamma(2.0 / g) / tgamma(1.0 / g)) * constant;
        out[2 + 4 * s] = g as f32;
        out[3 + 4 * s] = mean as f32;
        out[4 + 4 * s] = fit.left.powf(2.0) as f32;
        out[5 + 4 * s] = fit.right.powf(2.0) as f32;
    }
    out
}

/// Sums for an asymmetric generalized Gaussian fit, accumulated in `f64` in
/// row-major order as OpenCV's `AGGDfit`; zeros and NaN are skipped (but
/// count in the total).
#[derive(Default)]
struct Moments {
    pos: u64,
    neg: u64,
    pos_sq: f64,
    neg_sq: f64,
    abs: f64,
}

/// An AGGD fit: left and right standard deviations, shape.
struct Aggd {
    left: f64,
    right: f64,
    gamma: f64,
}

impl Moments {
    #[inline]
    fn push(&mut self, v: f32) {
        let v = f64::from(v);
        if v > 0.0 {
            self.pos += 1;
            self.pos_sq += v * v;
            self.abs += v;
        } else if v < 0.0 {
            self.neg += 1;
            self.neg_sq += v * v;
            self.abs -= v;
        }
    }

    /// OpenCV's `AGGDfit`: the shape is the first γ of the grid 0.2, 0.201,
    /// … < 10 after which the distance between ρ(γ) = Γ(2/γ)²/(Γ(1/γ)Γ(3/γ))
    /// and the moment estimate grows.
    fn fit(&self, total: usize) -> Aggd {
        let left = (self.neg_sq / self.neg as f64).sqrt();
        let right = (self.pos_sq / self.pos as f64).sqrt();
        let gammahat = left / right;
        let total = total as f64;
        let rhat = (self.abs / total).powf(2.0) / ((self.neg_sq + self.pos_sq) / total);
        let rhatnorm = rhat * (gammahat.powf(3.0) + 1.0) * (gammahat + 1.0)
            / (gammahat.powf(2.0) + 1.0).powf(2.0);

        let mut prevgamma = 0.0;
        let mut prevdiff = 1e10;
        for &(gam, r_gam) in gamma_table() {
            let diff = (r_gam - rhatnorm).abs();
            if diff > prevdiff {
                break;
            }
            prevdiff = diff;
            prevgamma = gam;
        }
        Aggd {
            left,
            right,
            gamma: prevgamma,
        }
    }
}

/// `(γ, Γ(2/γ)² / (Γ(1/γ)·Γ(3/γ)))` over OpenCV's grid, γ accumulated as
/// OpenCV does (`for (gam = 0.2; gam < 10; gam += 0.001)`).
fn gamma_table() -> &'static [(f64, f64)] {
    static TABLE: OnceLock<Vec<(f64, f64)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = Vec::with_capacity(9801);
        let mut gam = 0.2f64;
        while gam < 10.0 {
            let r = tgamma(2.0 / gam) * tgamma(2.0 / gam) / (tgamma(1.0 / gam) * tgamma(3.0 / gam));
            table.push((gam, r));
            gam += 0.001;
        }
        table
    })
}

/// Γ(x) for x > 0: Lanczos approximation (g = 7, 9 terms), with
/// Γ(x) = Γ(x + 1)/x below 1. Relative error about 1e-14 over the arguments
/// used here (0.1 … 15), far below the 1.7e-6 between neighbouring grid
/// values of ρ(γ).
#[allow(clippy::excessive_precision)]
fn tgamma(x: f64) -> f64 {
    const P: [f64; 9] = [
        0.999_999_999_999_809_93,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_13,
        -176.615_029_162_140_59,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_571_6e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if !(x > 0.0 && x.is_finite()) {
        return f64::NAN;
    }
    let mut x = x;
    let mut divisor = 1.0;
    while x < 1.0 {
        divisor *= x;
        x += 1.0;
    }
    let z = x - 1.0;
    let mut a = P[0];
    for (i, p) in P.iter().enumerate().skip(1) {
        a += p / (z + i as f64);
    }
    let t = z + 7.5;
    (2.0 * std::f64::consts::PI).sqrt() * t.powf(z + 0.5) * (-t).exp() * a / divisor
}

/// OpenCV's `getGaussianKernel(7, 7/6, CV_32F)` (symmetric, normalized in
/// `f64`, rounded to `f32`).
fn gaussian_kernel() -> &'static [f32; 7] {
    static KERNEL: OnceLock<[f32; 7]> = OnceLock::new();
    KERNEL.get_or_init(|| {
        let sigma = 7.0f64 / 6.0;
        let scale2x = -0.5 / (sigma * sigma);
        let t: [f64; 7] = std::array::from_fn(|i| {
            let x = i as f64 - 3.0;
            (scale2x * x * x).exp()
        });
        let sum: f64 = t.iter().sum();
        std::array::from_fn(|i| (t[i.min(6 - i)] / sum) as f32)
    })
}

/// `GaussianBlur(src, 7×7, σ = 7/6, BORDER_REPLICATE)` of an `f32` image (of
/// its square when `square`), as OpenCV's separable filter engine computes
/// it: a row pass (taps summed in order) into a ring of 7 rows, then a
/// symmetric column pass (`k₃·c + Σ kᵢ·(upᵢ + downᵢ)`).
fn gaussian_blur(src: &[f32], w: usize, h: usize, square: bool, dst: &mut [f32]) {
    let k = gaussian_kernel();
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has FMA, checked just above.
            unsafe { gaussian_blur_fma(src, w, h, square, k, dst) };
            return;
        }
    }
    gaussian_blur_impl(src, w, h, square, k, dst);
}

/// [`gaussian_blur_impl`] compiled with hardware FMA (otherwise `mul_add`
/// is a library call).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
unsafe fn gaussian_blur_fma(
    src: &[f32],
    w: usize,
    h: usize,
    square: bool,
    k: &[f32; 7],
    dst: &mut [f32],
) {
    gaussian_blur_impl(src, w, h, square, k, dst);
}

#[inline(always)]
fn gaussian_blur_impl(
    src: &[f32],
    w: usize,
    h: usize,
    square: bool,
    k: &[f32; 7],
    dst: &mut [f32],
) {
    let mut padded = vec![0f32; w + 6];
    // Row-filtered rows; source row `y` lives in slot `y % 7`.
    let mut ring = vec![0f32; 7 * w];
    let mut next = 0;
    // OpenCV's AVX2 kernels use fused multiply-adds but for their scalar
    // tails: the last `w % 4` pixels of the row pass, the last `w % 8` of the
    // column pass.
    let row_simd = w - w % 4;
    let col_simd = w - w % 8;
    for y in 0..h {
        while next <= (y + 3).min(h - 1) {
            let row = &src[next * w..(next + 1) * w];
            if square {
                for (p, &v) in padded[3..3 + w].iter_mut().zip(row) {
                    *p = v * v;
                }
            } else {
                padded[3..3 + w].copy_from_slice(row);
            }
            let (first, last) = (padded[3], padded[w + 2]);
            padded[..3].fill(first);
            padded[w + 3..].fill(last);
            let slot = next % 7;
            let out = &mut ring[slot * w..(slot + 1) * w];
            let taps: [&[f32]; 7] = std::array::from_fn(|t| &padded[t..t + row_simd]);
            for (x, o) in out[..row_simd].iter_mut().enumerate() {
                let mut s = taps[0][x] * k[0];
                s = taps[1][x].mul_add(k[1], s);
                s = taps[2][x].mul_add(k[2], s);
                s = taps[3][x].mul_add(k[3], s);
                s = taps[4][x].mul_add(k[4], s);
                s = taps[5][x].mul_add(k[5], s);
                s = taps[6][x].mul_add(k[6], s);
                *o = s;
            }
            for (x, o) in out.iter_mut().enumerate().skip(row_simd) {
                let p = &padded[x..x + 7];
                let mut s = k[0] * p[0];
                for t in 1..7 {
                    s += k[t] * p[t];
                }
                *o = s;
            }
            next += 1;
        }

        let row = |d: isize| -> &[f32] {
            let slot = (y as isize + d).clamp(0, h as isize - 1) as usize % 7;
            &ring[slot * w..(slot + 1) * w]
        };
        let (c, u1, d1, u2, d2, u3, d3) =
            (row(0), row(-1), row(1), row(-2), row(2), row(-3), row(3));
        let out = &mut dst[y * w..(y + 1) * w];
        for x in 0..col_simd {
            let mut s = c[x] * k[3];
            s = (d1[x] + u1[x]).mul_add(k[4], s);
            s = (d2[x] + u2[x]).mul_add(k[5], s);
            s = (d3[x] + u3[x]).mul_add(k[6], s);
            out[x] = s;
        }
        for x in col_simd..w {
            let mut s = k[3] * c[x];
            s += k[4] * (d1[x] + u1[x]);
            s += k[5] * (d2[x] + u2[x]);
            s += k[6] * (d3[x] + u3[x]);
            out[x] = s;
        }
    }
}

/// OpenCV's `interpolateCubic` (a = −0.75), in `f32`.
fn cubic_coeffs(x: f32) -> [f32; 4] {
    const A: f32 = -0.75;
    let c0 = ((A * (x + 1.0) - 5.0 * A) * (x + 1.0) + 8.0 * A) * (x + 1.0) - 4.0 * A;
    let c1 = ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let c2 = ((A + 2.0) * (1.0 - x) - (A + 3.0)) * (1.0 - x) * (1.0 - x) + 1.0;
    let c3 = 1.0 - c0 - c1 - c2;
    [c0, c1, c2, c3]
}

/// For each destination coordinate, the 4 source taps and their weights, as
/// OpenCV's `resize` computes them: `f = (float)((d + 0.5)·scale − 0.5)`,
/// taps `floor(f) − 1 … floor(f) + 2` clamped to the image (replicated
/// border), weights of `f − floor(f)`.
fn cubic_taps(src_len: usize, dst_len: usize) -> Vec<([usize; 4], [f32; 4])> {
    let scale = 1.0 / (dst_len as f64 / src_len as f64);
    let last = src_len as isize - 1;
    (0..dst_len)
        .map(|d| {
            let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let floor = f.floor();
            let frac = f - floor;
            let s = floor as isize;
            let taps = [-1, 0, 1, 2].map(|o| (s + o).clamp(0, last) as usize);
            (taps, cubic_coeffs(frac))
        })
        .collect()
}

/// OpenCV's `resize(INTER_CUBIC)` of a one-channel `f32` image (its generic,
/// non-IPP code): a horizontal pass of every source row, then a vertical
/// pass over 4 of those rows. Same size is a copy, as in OpenCV.
///
/// No crate reproduces OpenCV's rounding, and BRISQUE's scale-2 features
/// depend on it, hence this small implementation.
fn resize_cubic(src: &[f32], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<f32> {
    if sw == dw && sh == dh {
        return src.to_vec();
    }
    let xt = cubic_taps(sw, dw);
    let yt = cubic_taps(sh, dh);
    let mut horizontal = vec![0f32; dw * sh];
    for (s, d) in src.chunks_exact(sw).zip(horizontal.chunks_exact_mut(dw)) {
        for (o, (i, a)) in d.iter_mut().zip(&xt) {
            *o = s[i[0]] * a[0] + s[i[1]] * a[1] + s[i[2]] * a[2] + s[i[3]] * a[3];
        }
    }
    let mut dst = vec![0f32; dw * dh];
    // OpenCV's vector part (4 lanes, baseline SSE, no FMA) sums
    // S0·b0 + (S1·b1 + (S2·b2 + S3·b3)); its scalar tail sums left to right.
    let simd = dw - dw % 4;
    for (d, (i, b)) in dst.chunks_exact_mut(dw).zip(&yt) {
        let r = |k: usize| &horizontal[i[k] * dw..(i[k] + 1) * dw];
        let (s0, s1, s2, s3) = (r(0), r(1), r(2), r(3));
        for x in 0..simd {
            d[x] = s0[x] * b[0] + (s1[x] * b[1] + (s2[x] * b[2] + s3[x] * b[3]));
        }
        for x in simd..dw {
            d[x] = s0[x] * b[0] + s1[x] * b[1] + s2[x] * b[2] + s3[x] * b[3];
        }
    }
    dst
}

/// OpenCV's `cv::exp` for `f32` (`hal::exp32f`, its portable SIMD code, no
/// IPP): eˣ = 2^(x·log₂e) as a power of two times a 64-entry table of
/// 2^(i/64) times a degree-4 polynomial, with OpenCV's literal constants. It
/// is within a few ulps of the true exponential; as the SVR sums 774 kernel
/// values weighted by ±1024, using OpenCV's exact values keeps scores equal
/// to OpenCV's to about 1e-5 instead of 1e-3.
#[allow(clippy::excessive_precision)]
fn exp32f(x: f32) -> f32 {
    const A0: f64 = 0.967_037_113_957_233_771_912_584_041_367_200_440_928_8e-2;
    const PRESCALE: f64 = std::f64::consts::LOG2_E * 64.0;
    const MAX_VAL: f64 = 3000.0 * 64.0;
    static TABLE: OnceLock<[f32; 64]> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0f32; 64];
        for (i, v) in t.iter_mut().enumerate() {
            *v = ((i as f64 / 64.0).exp2() * A0) as f32;
        }
        t
    });
    let a4 = (1.000_000_000_000_002_438_532_970_795_181_890_933_776 / A0) as f32;
    let a3 = (0.693_147_180_552_144_819_680_066_961_586_477_314_464_1 / A0) as f32;
    let a2 = (0.240_226_510_951_330_149_010_337_242_268_653_552_657_3 / A0) as f32;
    let a1 = (0.555_033_936_675_312_521_191_532_204_700_466_693_912_8e-1 / A0) as f32;
    let minval = (-MAX_VAL / PRESCALE) as f32;
    let maxval = (MAX_VAL / PRESCALE) as f32;

    let x0 = x.max(minval).min(maxval) * PRESCALE as f32;
    let xi = x0.round_ties_even() as i32;
    let xf = (x0 - xi as f32) * (1.0f64 / 64.0) as f32;
    let exponent = ((xi >> 6) + 127).clamp(0, 255) as u32;
    let y = table[(xi & 63) as usize] * f32::from_bits(exponent << 23);
    let mut z = xf + a1;
    z = z.mul_add(xf, a2);
    z = z.mul_add(xf, a3);
    z = z.mul_add(xf, a4);
    z * y
}

// ---------------------------------------------------------------------------
// Model files: a small reader for OpenCV FileStorage YAML
// ---------------------------------------------------------------------------

type Model = (f64, f64, Vec<f32>, Vec<f64>);

fn load_model(path: &Path) -> Result<Model, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let root = yaml::parse(&text)?;
    let svm = root
        .get("opencv_ml_svm")
        .ok_or("no `opencv_ml_svm` node: not an OpenCV SVM model")?;
    let svm_type = svm
        .get("svmType")
        .and_then(yaml::Node::as_str)
        .unwrap_or("");
    if svm_type != "EPS_SVR" && svm_type != "NU_SVR" {
        return Err(format!(
            "svmType is `{svm_type}`, expected a regression SVM (EPS_SVR)"
        ));
    }
    let kernel = svm.get("kernel").ok_or("no `kernel` node")?;
    let kernel_type = kernel
        .get("type")
        .and_then(yaml::Node::as_str)
        .unwrap_or("");
    if kernel_type != "RBF" {
        return Err(format!("kernel type is `{kernel_type}`, expected RBF"));
    }
    let gamma = kernel.number("gamma")?;
    if !gamma.is_finite() || gamma <= 0.0 {
        return Err(format!("kernel gamma {gamma} is not positive"));
    }
    let var_count = svm.number("var_count")?;
    if var_count != FEATURES as f64 {
        return Err(format!(
            "var_count is {var_count}, BRISQUE has {FEATURES} features"
        ));
    }
    let svs = svm
        .get("support_vectors")
        .and_then(yaml::Node::as_seq)
        .ok_or("no `support_vectors` sequence")?;
    let mut support_vectors = Vec::with_capacity(svs.len() * FEATURES);
    for (i, sv) in svs.iter().enumerate() {
        let values = sv
            .numbers()
            .map_err(|e| format!("support vector {i}: {e}"))?;
        if values.len() != FEATURES {
            return Err(format!(
                "support vector {i} has {} values, expected {FEATURES}",
                values.len()
            ));
        }
        support_vectors.extend(values.iter().map(|&v| v as f32));
    }
    if svs.is_empty() {
        return Err("no support vectors".into());
    }
    if let Some(total) = svm.get("sv_total") {
        let total = total.as_number().ok_or("sv_total is not a number")?;
        if total != svs.len() as f64 {
            return Err(format!(
                "sv_total is {total} but {} support vectors are listed",
                svs.len()
            ));
        }
    }
    let dfs = svm
        .get("decision_functions")
        .and_then(yaml::Node::as_seq)
        .ok_or("no `decision_functions` sequence")?;
    if dfs.len() != 1 {
        return Err(format!(
            "{} decision functions, a regression SVM has exactly one",
            dfs.len()
        ));
    }
    let df = &dfs[0];
    let rho = df.number("rho")?;
    let df_alpha = df
        .get("alpha")
        .ok_or("decision function without `alpha`")?
        .numbers()
        .map_err(|e| format!("alpha: {e}"))?;
    let mut alpha = vec![0f64; svs.len()];
    match df.get("index") {
        Some(index) => {
            let index = index.numbers().map_err(|e| format!("index: {e}"))?;
            if index.len() != df_alpha.len() {
                return Err("decision function `index` and `alpha` differ in length".into());
            }
            for (&i, &a) in index.iter().zip(&df_alpha) {
                if i < 0.0 || i.fract() != 0.0 || i >= alpha.len() as f64 {
                    return Err(format!("support vector index {i} out of range"));
                }
                alpha[i as usize] += a;
            }
        }
        None => {
            if df_alpha.len() != svs.len() {
                return Err(format!(
                    "{} alpha values for {} support vectors",
                    df_alpha.len(),
                    svs.len()
                ));
            }
            alpha.copy_from_slice(&df_alpha);
        }
    }
    if !rho.is_finite() || alpha.iter().any(|a| !a.is_finite()) {
        return Err("rho or alpha is not finite".into());
    }
    Ok((gamma, rho, support_vectors, alpha))
}

type Range = ([f32; FEATURES], [f32; FEATURES]);

fn load_range(path: &Path) -> Result<Range, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let root = yaml::parse(&text)?;
    let range = root
        .get("range")
        .ok_or("no `range` matrix: not a BRISQUE range file")?;
    let rows = range.number("rows")?;
    let cols = range.number("cols")?;
    if rows != 2.0 || cols != FEATURES as f64 {
        return Err(format!(
            "range matrix is {rows}x{cols}, expected 2x{FEATURES} (min row, max row)"
        ));
    }
    let data = range
        .get("data")
        .ok_or("range matrix without `data`")?
        .numbers()
        .map_err(|e| format!("data: {e}"))?;
    if data.len() != 2 * FEATURES {
        return Err(format!(
            "range data has {} values, expected {}",
            data.len(),
            2 * FEATURES
        ));
    }
    let mut min = [0f32; FEATURES];
    let mut max = [0f32; FEATURES];
    for i in 0..FEATURES {
        min[i] = data[i] as f32;
        max[i] = data[FEATURES + i] as f32;
        if !min[i].is_finite() || !max[i].is_finite() || max[i] <= min[i] {
            return Err(format!(
                "feature {i}: max {} is not above min {}",
                max[i], min[i]
            ));
        }
    }
    Ok((min, max))
}

/// The subset of YAML that OpenCV's FileStorage writes: a `%YAML:1.0`
/// header, block mappings and sequences by indentation, flow sequences and
/// mappings (`[ … ]`, `{ … }`, which may span lines), plain scalars, and tags
/// (`!!opencv-matrix`), which are ignored.
mod yaml {
    #[derive(Debug, Clone, PartialEq)]
    pub enum Node {
        Scalar(String),
        Seq(Vec<Node>),
        Map(Vec<(String, Node)>),
    }

    impl Node {
        pub fn get(&self, key: &str) -> Option<&Node> {
            match self {
                Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
                _ => None,
            }
        }

        pub fn as_str(&self) -> Option<&str> {
            match self {
                Node::Scalar(s) => Some(s),
                _ => None,
            }
        }

        pub fn as_seq(&self) -> Option<&[Node]> {
            match self {
                Node::Seq(items) => Some(items),
                _ => None,
            }
        }

        pub fn as_number(&self) -> Option<f64> {
            self.as_str().and_then(parse_number)
        }

        /// A required numeric entry of a mapping.
        pub fn number(&self, key: &str) -> Result<f64, String> {
            let node = self.get(key).ok_or_else(|| format!("no `{key}` entry"))?;
            node.as_number()
                .ok_or_else(|| format!("`{key}` is not a number: {node:?}"))
        }

        /// A flow or block sequence of numbers.
        pub fn numbers(&self) -> Result<Vec<f64>, String> {
            let items = self.as_seq().ok_or("expected a sequence of numbers")?;
            items
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    n.as_number()
                        .ok_or_else(|| format!("item {i} is not a number: {n:?}"))
                })
                .collect()
        }
    }

    fn parse_number(s: &str) -> Option<f64> {
        match s.to_ascii_lowercase().as_str() {
            ".nan" => Some(f64::NAN),
            ".inf" | "+.inf" => Some(f64::INFINITY),
            "-.inf" => Some(f64::NEG_INFINITY),
            t => t.parse().ok(),
        }
    }

    struct Line<'a> {
        number: usize,
        indent: usize,
        text: &'a str,
    }

    /// Parses a document; the root is a mapping.
    pub fn parse(text: &str) -> Result<Node, String> {
        let mut lines = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let trimmed = raw.trim_end();
            let content = trimmed.trim_start();
            if content.is_empty()
                || content.starts_with('#')
                || content.starts_with('%')
                || content == "---"
                || content == "..."
            {
                continue;
            }
            if raw.contains('\t') && raw[..raw.len() - raw.trim_start().len()].contains('\t') {
                return Err(format!("line {}: tab in indentation", i + 1));
            }
            lines.push(Line {
                number: i + 1,
                indent: trimmed.len() - content.len(),
                text: content,
            });
        }
        if lines.is_empty() {
            return Err("empty file, not OpenCV FileStorage YAML".into());
        }
        let mut p = Parser { lines, pos: 0 };
        let indent = p.lines[0].indent;
        let root = p.block(indent)?;
        if let Some(l) = p.lines.get(p.pos) {
            return Err(format!("line {}: unexpected `{}`", l.number, l.text));
        }
        match root {
            Node::Map(_) => Ok(root),
            _ => Err("the top level is not a mapping: not OpenCV FileStorage YAML".into()),
        }
    }

    struct Parser<'a> {
        lines: Vec<Line<'a>>,
        pos: usize,
    }

    fn is_dash(text: &str) -> bool {
        text == "-" || text.starts_with("- ")
    }

    /// Splits `key: value` (or `key:`) at the first `:` followed by a space
    /// or the end of the line.
    fn split_key(text: &str) -> Option<(&str, &str)> {
        let bytes = text.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            if b == b':' && (i + 1 == bytes.len() || bytes[i + 1] == b' ') {
                let key = text[..i].trim();
                let key = key.trim_matches('"').trim_matches('\'');
                return Some((key, text[i + 1..].trim()));
            }
            if b == b'[' || b == b'{' {
                return None;
            }
        }
        None
    }

    /// Drops a leading tag such as `!!opencv-matrix`.
    fn strip_tag(value: &str) -> &str {
        if value.starts_with('!') {
            match value.find(' ') {
                Some(i) => value[i..].trim_start(),
                None => "",
            }
        } else {
            value
        }
    }

    impl<'a> Parser<'a> {
        fn block(&mut self, indent: usize) -> Result<Node, String> {
            let line = &self.lines[self.pos];
            if is_dash(line.text) {
                self.seq(indent)
            } else {
                self.map(indent)
            }
        }

        fn seq(&mut self, indent: usize) -> Result<Node, String> {
            let mut items = Vec::new();
            while let Some(line) = self.lines.get(self.pos) {
                if line.indent != indent || !is_dash(line.text) {
                    if line.indent > indent {
                        return Err(format!("line {}: unexpected indentation", line.number));
                    }
                    break;
                }
                let rest = strip_tag(line.text[1..].trim_start());
                if rest.is_empty() {
                    self.pos += 1;
                    items.push(self.child(indent)?);
                } else if rest.starts_with('[') || rest.starts_with('{') {
                    items.push(self.flow(rest)?);
                } else if split_key(rest).is_some() {
                    // `- key: value` starts a mapping indented at `key`.
                    let column = indent + (line.text.len() - rest.len());
                    let number = line.number;
                    self.lines[self.pos] = Line {
                        number,
                        indent: column,
                        text: rest,
                    };
                    items.push(self.map(column)?);
                } else {
                    items.push(Node::Scalar(unquote(rest)));
                    self.pos += 1;
                }
            }
            Ok(Node::Seq(items))
        }

        fn map(&mut self, indent: usize) -> Result<Node, String> {
            let mut entries = Vec::new();
            while let Some(line) = self.lines.get(self.pos) {
                if line.indent < indent || (line.indent == indent && is_dash(line.text)) {
                    break;
                }
                if line.indent > indent {
                    return Err(format!("line {}: unexpected indentation", line.number));
                }
                let (key, value) = split_key(line.text).ok_or_else(|| {
                    format!(
                        "line {}: expected `key: value`, got `{}`",
                        line.number, line.text
                    )
                })?;
                let (key, value) = (key.to_string(), strip_tag(value));
                let node = if value.is_empty() {
                    self.pos += 1;
                    match self.lines.get(self.pos) {
                        // A block sequence may sit at the key's own indent.
                        Some(next) if next.indent == indent && is_dash(next.text) => {
                            self.seq(indent)?
                        }
                        _ => self.child(indent)?,
                    }
                } else if value.starts_with('[') || value.starts_with('{') {
                    self.flow(value)?
                } else {
                    self.pos += 1;
                    Node::Scalar(unquote(value))
                };
                entries.push((key, node));
            }
            Ok(Node::Map(entries))
        }

        /// The block nested under the previous line, or an empty scalar.
        fn child(&mut self, parent_indent: usize) -> Result<Node, String> {
            match self.lines.get(self.pos) {
                Some(next) if next.indent > parent_indent => {
                    let indent = next.indent;
                    self.block(indent)
                }
                _ => Ok(Node::Scalar(String::new())),
            }
        }

        /// A flow collection starting with `first` on the current line and
        /// continuing on the following lines until its brackets balance.
        fn flow(&mut self, first: &str) -> Result<Node, String> {
            let start = self.lines[self.pos].number;
            let mut text = String::from(first);
            self.pos += 1;
            while !balanced(&text) {
                let line = self.lines.get(self.pos).ok_or_else(|| {
                    format!("line {start}: unterminated `[` or `{{` at the end of the file")
                })?;
                text.push(' ');
                text.push_str(line.text);
                self.pos += 1;
            }
            let mut chars = Flow {
                s: text.as_bytes(),
                i: 0,
            };
            let node = chars.value().map_err(|e| format!("line {start}: {e}"))?;
            chars.skip_ws();
            if chars.i != chars.s.len() {
                return Err(format!("line {start}: text after the closing bracket"));
            }
            Ok(node)
        }
    }

    fn balanced(text: &str) -> bool {
        let mut depth = 0i64;
        let mut quote: Option<char> = None;
        for c in text.chars() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None => match c {
                    '"' | '\'' => quote = Some(c),
                    '[' | '{' => depth += 1,
                    ']' | '}' => depth -= 1,
                    _ => {}
                },
            }
        }
        depth <= 0
    }

    fn unquote(s: &str) -> String {
        let s = s.trim();
        if s.len() >= 2
            && ((s.starts_with('"') && s.ends_with('"'))
                || (s.starts_with('\'') && s.ends_with('\'')))
        {
            s[1..s.len() - 1].to_string()
        } else {
            s.to_string()
        }
    }

    struct Flow<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl Flow<'_> {
        fn skip_ws(&mut self) {
            while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
                self.i += 1;
            }
        }

        fn peek(&self) -> Option<u8> {
            self.s.get(self.i).copied()
        }

        fn value(&mut self) -> Result<Node, String> {
            self.skip_ws();
            match self.peek() {
                Some(b'[') => {
                    self.i += 1;
                    let mut items = Vec::new();
                    loop {
                        self.skip_ws();
                        match self.peek() {
                            Some(b']') => {
                                self.i += 1;
                                return Ok(Node::Seq(items));
                            }
                            None => return Err("unterminated `[`".into()),
                            _ => {}
                        }
                        items.push(self.value()?);
                        self.skip_ws();
                        match self.peek() {
                            Some(b',') => self.i += 1,
                            Some(b']') => {}
                            _ => return Err("expected `,` or `]` in a flow sequence".into()),
                        }
                    }
                }
                Some(b'{') => {
                    self.i += 1;
                    let mut entries = Vec::new();
                    loop {
                        self.skip_ws();
                        match self.peek() {
                            Some(b'}') => {
                                self.i += 1;
                                return Ok(Node::Map(entries));
                            }
                            None => return Err("unterminated `{`".into()),
                            _ => {}
                        }
                        let key = self.scalar(true);
                        self.skip_ws();
                        if self.peek() != Some(b':') {
                            return Err(format!("expected `:` after key `{key}`"));
                        }
                        self.i += 1;
                        let value = self.value()?;
                        entries.push((key, value));
                        self.skip_ws();
                        match self.peek() {
                            Some(b',') => self.i += 1,
                            Some(b'}') => {}
                            _ => return Err("expected `,` or `}` in a flow mapping".into()),
                        }
                    }
                }
                _ => Ok(Node::Scalar(self.scalar(false))),
            }
        }

        /// A plain or quoted scalar; a key also stops at `:`.
        fn scalar(&mut self, key: bool) -> String {
            self.skip_ws();
            if let Some(q @ (b'"' | b'\'')) = self.peek() {
                let start = self.i + 1;
                let mut end = start;
                while end < self.s.len() && self.s[end] != q {
                    end += 1;
                }
                self.i = (end + 1).min(self.s.len());
                return String::from_utf8_lossy(&self.s[start..end]).into_owned();
            }
            let start = self.i;
            while let Some(c) = self.peek() {
                if c == b',' || c == b']' || c == b'}' || (key && c == b':') {
                    break;
                }
                self.i += 1;
            }
            let raw = String::from_utf8_lossy(&self.s[start..self.i]);
            strip_tag(raw.trim()).to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// The shared models and photos next to the workspace, when present.
    fn shared() -> Option<PathBuf> {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        [manifest.join("../../shared"), manifest.join("../shared")]
            .into_iter()
            .find(|d| d.join("models/brisque_model_live.yml").is_file())
    }

    fn shared_or_skip(test: &str) -> Option<PathBuf> {
        let found = shared();
        if found.is_none() {
            crate::fixtures::absent(
                test,
                &format!(
                    "shared/models/brisque_model_live.yml is absent (looked in ../../shared and \
                     ../shared from {}), so BRISQUE was not checked on real photos",
                    env!("CARGO_MANIFEST_DIR")
                ),
            );
        }
        found
    }

    fn live_model(shared: &Path) -> Brisque {
        let models = shared.join("models");
        Brisque::load(
            &models.join("brisque_model_live.yml"),
            &models.join("brisque_range_live.yml"),
        )
        .unwrap()
    }

    fn open_rgb(path: &Path) -> image::RgbImage {
        image::open(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .to_rgb8()
    }

    fn score_of(model: &Brisque, img: &image::RgbImage) -> f64 {
        model
            .score(img.width(), img.height(), img.as_raw())
            .unwrap()
    }

    /// Adds uniform noise in [-amp, amp] from a fixed LCG.
    fn noisy(img: &image::RgbImage, amp: i32, seed: u64) -> image::RgbImage {
        let mut out = img.clone();
        let mut state = seed;
        for p in out.iter_mut() {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let r = ((state >> 33) % (2 * amp as u64 + 1)) as i32 - amp;
            *p = (i32::from(*p) + r).clamp(0, 255) as u8;
        }
        out
    }

    #[derive(Clone, Copy, Debug)]
    enum Variant {
        AsIs,
        /// `image::imageops::blur(σ = 2)`.
        Blur2,
        /// `noisy(amp 25, seed 42)`.
        Noise25,
    }

    /// (photo under shared/photos, variant, OpenCV's default score,
    /// OpenCV's score with IPP off).
    ///
    /// Produced with opencv-contrib-python-headless 5.0.0.93 (OpenCV 5.0.0,
    /// x86-64 wheel with IPP 2026.0.0): the image decoded and modified by the
    /// code of this test (`image` crate, so JPEG decoding is the same as
    /// here) was saved as PNG, read with `cv2.imread`, and scored with
    /// `cv2.quality.QualityBRISQUE_compute(img, model, range)`, then again
    /// after `cv2.ipp.setUseIPP(False)`. OpenCV's reference code path (no
    /// IPP) is what this module reproduces; IPP's resize and exp round
    /// differently, by up to ~0.01 on scores.
    const REFERENCE: [(&str, Variant, f64, f64); 6] = [
        (
            "objects/astronaut.png",
            Variant::AsIs,
            0.4950694143772125,
            0.4951368570327759,
        ),
        // 451 px wide: odd size and a blur tail.
        (
            "objects/chelsea.png",
            Variant::AsIs,
            2.064814329147339,
            2.0667173862457275,
        ),
        (
            "objects/motorcycle_left.png",
            Variant::AsIs,
            17.882375717163086,
            17.883108139038086,
        ),
        // cv2.imread's own JPEG decoding gives 9.2123 (decoders differ).
        (
            "objects/rocket.jpg",
            Variant::AsIs,
            9.300168991088867,
            9.30040168762207,
        ),
        (
            "objects/astronaut.png",
            Variant::Blur2,
            57.6758918762207,
            57.676517486572266,
        ),
        (
            "objects/astronaut.png",
            Variant::Noise25,
            42.26546859741211,
            42.26530075073242,
        ),
    ];

    #[test]
    fn scores_match_opencv_on_real_photos() {
        let Some(shared) = shared_or_skip("scores_match_opencv_on_real_photos") else {
            return;
        };
        let model = live_model(&shared);
        assert_eq!(model.support_vector_count(), 774);
        for (file, variant, opencv, opencv_no_ipp) in REFERENCE {
            let img = open_rgb(&shared.join("photos").join(file));
            let img = match variant {
                Variant::AsIs => img,
                Variant::Blur2 => image::imageops::blur(&img, 2.0),
                Variant::Noise25 => noisy(&img, 25, 42),
            };
            let ours = score_of(&model, &img);
            eprintln!(
                "{file} {variant:?}: ours {ours:.5}, OpenCV {opencv:.5}, OpenCV without IPP {opencv_no_ipp:.5}"
            );
            assert!(
                (ours - opencv_no_ipp).abs() < 2e-3,
                "{file} {variant:?}: {ours} vs OpenCV (no IPP) {opencv_no_ipp}"
            );
            assert!(
                (ours - opencv).abs() < 0.02,
                "{file} {variant:?}: {ours} vs OpenCV {opencv}"
            );
        }
    }

    /// OpenCV's `QualityBRISQUE_computeFeatures` on astronaut.png, first scale
    /// (the same with and without IPP), OpenCV 5.0.0 as above.
    const ASTRONAUT_SCALE1: [f64; 18] = [
        1.4470000267028809,
        0.2165878266096115,
        0.5809999704360962,
        0.018563013523817062,
        0.05135364085435867,
        0.06664334982633591,
        0.5740000009536743,
        0.022668424993753433,
        0.05206333473324776,
        0.07123468816280365,
        0.5809999704360962,
        -0.013125033117830753,
        0.06557897478342056,
        0.05465460941195488,
        0.5889999866485596,
        -0.018073374405503273,
        0.06643214821815491,
        0.0516289621591568,
    ];

    #[test]
    fn features_match_opencv() {
        let Some(shared) = shared_or_skip("features_match_opencv") else {
            return;
        };
        let img = open_rgb(&shared.join("photos/objects/astronaut.png"));
        let f = Brisque::features(img.width(), img.height(), img.as_raw()).unwrap();
        for (i, (&ours, &opencv)) in f.iter().zip(&ASTRONAUT_SCALE1).enumerate() {
            assert!(
                (ours - opencv).abs() < 1e-6,
                "feature {i}: {ours} vs OpenCV {opencv}"
            );
        }
    }

    #[test]
    fn degraded_copies_score_worse() {
        let Some(shared) = shared_or_skip("degraded_copies_score_worse") else {
            return;
        };
        let model = live_model(&shared);
        for file in [
            "objects/astronaut.png",
            "objects/coffee.png",
            "faces/sample2.jpg",
        ] {
            let mut img = open_rgb(&shared.join("photos").join(file));
            if img.width() > 1000 {
                let h = 1000 * img.height() / img.width();
                img = image::imageops::resize(&img, 1000, h, image::imageops::FilterType::Triangle);
            }
            let original = score_of(&model, &img);
            let blurred = score_of(&model, &image::imageops::blur(&img, 2.5));
            let noisy = score_of(&model, &noisy(&img, 30, 7));
            eprintln!("{file}: original {original:.2}, blurred {blurred:.2}, noisy {noisy:.2}");
            assert!(
                blurred > original + 10.0,
                "{file}: blurred {blurred} vs {original}"
            );
            assert!(
                noisy > original + 10.0,
                "{file}: noisy {noisy} vs {original}"
            );
        }
    }

    // ---- always-run tests: no shared files needed ----

    /// A fresh path in the temporary directory (tests run in parallel).
    fn temp_path(name: &str) -> PathBuf {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        std::env::temp_dir().join(format!("facet-brisque-{}-{n}-{name}", std::process::id()))
    }

    /// A model with 2 support vectors whose prediction is easy by hand.
    const TINY_MODEL: &str = "%YAML:1.0\n---\nopencv_ml_svm:\n   format: 3\n   svmType: EPS_SVR\n   kernel:\n      type: RBF\n      gamma: 5.0000000000000003e-02\n   C: 1024.\n   p: 1.0000000000000001e-01\n   term_criteria: { epsilon:1.0000000000000000e-03 }\n   var_count: 36\n   sv_total: 2\n   support_vectors:\n      - [ 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0.,\n          0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0. ]\n      - [ 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1.,\n          1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1. ]\n   decision_functions:\n      -\n         sv_count: 2\n         rho: -10.\n         alpha: [ 20., -5. ]\n";

    /// min 0 and max 2 for every feature: x maps to x - 1.
    fn tiny_range() -> String {
        let mut data = vec!["0."; FEATURES];
        data.extend(vec!["2."; FEATURES]);
        format!(
            "%YAML:1.0\n---\nrange: !!opencv-matrix\n   rows: 2\n   cols: 36\n   dt: f\n   data: [ {} ]\n",
            data.join(", ")
        )
    }

    fn write(name: &str, text: &str) -> PathBuf {
        let path = temp_path(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn tiny_model() -> Brisque {
        let model = write("tiny-model.yml", TINY_MODEL);
        let range = write("tiny-range.yml", &tiny_range());
        let loaded = Brisque::load(&model, &range).unwrap();
        let _ = std::fs::remove_file(model);
        let _ = std::fs::remove_file(range);
        loaded
    }

    #[test]
    fn tiny_model_predicts_as_computed_by_hand() {
        let model = tiny_model();
        assert_eq!(model.support_vector_count(), 2);
        // Features 1.5 scale to 0.5: distances² 36·0.25 to both vectors.
        let f = [1.5f64; FEATURES];
        let k = (-0.05f64 * 9.0).exp();
        let expected = 10.0 + 20.0 * k - 5.0 * k;
        assert!((model.predict(&f) - expected).abs() < 1e-4);
        // Clamped to [0, 100] as OpenCV.
        let far = [1000.0f64; FEATURES];
        assert_eq!(model.predict(&far), 10.0);
    }

    #[test]
    fn missing_files_are_errors_naming_them() {
        let missing = temp_path("does-not-exist.yml");
        let range = write("range-for-missing.yml", &tiny_range());
        let e = Brisque::load(&missing, &range).unwrap_err();
        assert!(e.contains(&missing.display().to_string()), "{e}");
        assert!(e.contains("model"), "{e}");
        let model = write("model-for-missing.yml", TINY_MODEL);
        let e = Brisque::load(&model, &missing).unwrap_err();
        assert!(e.contains(&missing.display().to_string()), "{e}");
        assert!(e.contains("range"), "{e}");
        let _ = std::fs::remove_file(range);
        let _ = std::fs::remove_file(model);
    }

    #[test]
    fn malformed_files_are_errors_naming_them_and_the_problem() {
        let range = write("range-ok.yml", &tiny_range());
        let cases = [
            ("garbage", "this is: [ not closed\n", "unterminated"),
            ("not-svm", "%YAML:1.0\n---\nfoo: 1\n", "opencv_ml_svm"),
            (
                "classifier",
                &TINY_MODEL.replace("EPS_SVR", "C_SVC"),
                "C_SVC",
            ),
            (
                "linear",
                &TINY_MODEL.replace("type: RBF", "type: LINEAR"),
                "RBF",
            ),
            (
                "short-sv",
                &TINY_MODEL.replace("[ 0., 0., 0., ", "[ 0., "),
                "support vector 0",
            ),
            (
                "alpha",
                &TINY_MODEL.replace("[ 20., -5. ]", "[ 20. ]"),
                "alpha",
            ),
            (
                "bad-number",
                &TINY_MODEL.replace("rho: -10.", "rho: minus ten"),
                "rho",
            ),
        ];
        for (name, text, what) in cases {
            let path = write(&format!("bad-{name}.yml"), text);
            let e = Brisque::load(&path, &range).unwrap_err();
            assert!(e.contains(&path.display().to_string()), "{name}: {e}");
            assert!(e.contains(what), "{name}: `{what}` not in: {e}");
            let _ = std::fs::remove_file(path);
        }
        let model = write("model-ok.yml", TINY_MODEL);
        let short = tiny_range().replace("cols: 36", "cols: 35");
        let bad_range = write("bad-range.yml", &short);
        let e = Brisque::load(&model, &bad_range).unwrap_err();
        assert!(
            e.contains(&bad_range.display().to_string()) && e.contains("2x35"),
            "{e}"
        );
        for p in [range, model, bad_range] {
            let _ = std::fs::remove_file(p);
        }
    }

    #[test]
    fn reads_opencv_filestorage_yaml() {
        let doc = yaml::parse(
            "%YAML:1.0\n---\nm: !!opencv-matrix\n   rows: 1\n   dt: f\n   data: [ 1., -2.5e-01,\n       .5, 3 ]\n\
             svm:\n   flow: { epsilon:1.0e-03, b: x }\n   seq:\n      - [ 1, 2 ]\n      - [ 3,\n          4 ]\n   maps:\n      -\n         a: 1\n      - b: 2\n        c: three\n   empty:\n",
        )
        .unwrap();
        let m = doc.get("m").unwrap();
        assert_eq!(m.number("rows").unwrap(), 1.0);
        assert_eq!(m.get("dt").unwrap().as_str(), Some("f"));
        assert_eq!(
            m.get("data").unwrap().numbers().unwrap(),
            vec![1.0, -0.25, 0.5, 3.0]
        );
        let svm = doc.get("svm").unwrap();
        assert_eq!(svm.get("flow").unwrap().number("epsilon").unwrap(), 1e-3);
        let seq = svm.get("seq").unwrap().as_seq().unwrap();
        assert_eq!(seq[1].numbers().unwrap(), vec![3.0, 4.0]);
        let maps = svm.get("maps").unwrap().as_seq().unwrap();
        assert_eq!(maps[0].number("a").unwrap(), 1.0);
        assert_eq!(maps[1].get("c").unwrap().as_str(), Some("three"));
        assert_eq!(svm.get("empty").unwrap().as_str(), Some(""));
    }

    /// A deterministic textured RGB image.
    fn texture(w: u32, h: u32) -> image::RgbImage {
        let base = image::RgbImage::from_fn(w, h, |x, y| {
            let v = (128.0
                + 60.0 * ((x as f32) * 0.21).sin() * ((y as f32) * 0.13).cos()
                + 30.0 * ((x + 2 * y) as f32 * 0.05).sin()) as u8;
            image::Rgb([v, v.wrapping_add(10), v / 2])
        });
        noisy(&base, 12, 1)
    }

    #[test]
    fn features_are_sane_on_a_synthetic_texture() {
        let img = texture(67, 45);
        let f = Brisque::features(67, 45, img.as_raw()).unwrap();
        for scale in 0..2 {
            let s = &f[scale * 18..][..18];
            assert!((0.2..10.0).contains(&s[0]), "shape {}", s[0]);
            assert!(s[1] > 0.0);
            for pair in 0..4 {
                let p = &s[2 + 4 * pair..][..4];
                assert!((0.2..10.0).contains(&p[0]), "{p:?}");
                assert!(p[2] > 0.0 && p[3] > 0.0, "{p:?}");
            }
        }
        // Deterministic.
        assert_eq!(f, Brisque::features(67, 45, img.as_raw()).unwrap());
    }

    #[test]
    fn tiny_images_work() {
        for (w, h) in [(2u32, 2u32), (3, 2), (2, 5), (7, 3), (17, 9)] {
            let img = texture(w, h);
            Brisque::features(w, h, img.as_raw()).unwrap();
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(
            Brisque::features(4, 4, &[0; 47])
                .unwrap_err()
                .contains("48")
        );
        assert!(
            Brisque::features(1, 9, &[0; 27])
                .unwrap_err()
                .contains("2x2")
        );
        assert!(Brisque::features(0, 0, &[]).is_err());
        // One flat grey: OpenCV's features are NaN but for the shapes, which
        // its search leaves at the last grid value; `score` says why it fails.
        let flat = vec![90u8; 32 * 32 * 3];
        let f = Brisque::features(32, 32, &flat).unwrap();
        assert!(f[0] > 9.99 && f[1].is_nan(), "{f:?}");
        let e = tiny_model().score(32, 32, &flat).unwrap_err();
        assert!(e.contains("no texture"), "{e}");
    }

    /// 12×5 test image: ((7x + 13y) mod 17) / 17.
    fn ramp() -> Vec<f32> {
        (0..5)
            .flat_map(|y| (0..12).map(move |x| ((x * 7 + y * 13) % 17) as f32 / 17.0))
            .collect()
    }

    /// Bit patterns from OpenCV 5.0.0 with IPP off (`cv2.ipp.setUseIPP(False)`).
    #[test]
    fn kernels_match_opencv_bit_for_bit() {
        let k = gaussian_kernel().map(f32::to_bits);
        assert_eq!(
            k,
            [
                1011730765, 1033990286, 1047723454, 1051684198, 1047723454, 1033990286, 1011730765
            ]
        );

        // cv2.GaussianBlur(a, (7, 7), 7/6, 0, borderType=cv2.BORDER_REPLICATE)
        const BLUR: [u32; 60] = [
            1050497715, 1053880633, 1055763001, 1055034785, 1054081942, 1054033367, 1055636967,
            1057077602, 1056700064, 1055709862, 1054892394, 1054563332, 1054938217, 1055848338,
            1055789695, 1054901999, 1054652670, 1054693878, 1055012705, 1055669053, 1055620479,
            1055479866, 1055133752, 1053900212, 1056290038, 1056964063, 1056533114, 1056017722,
            1055937704, 1055418811, 1054895016, 1055154603, 1055195812, 1054965416, 1054971668,
            1054413317, 1053608310, 1056148605, 1057055737, 1057133682, 1057009018, 1056162231,
            1056010739, 1056439637, 1055920744, 1054958906, 1055199379, 1056412151, 1050158236,
            1054929910, 1057338635, 1057419046, 1056920641, 1056077744, 1057122643, 1057802573,
            1057356975, 1056059532, 1055741781, 1057230677,
        ];
        let mut blurred = vec![0f32; 60];
        gaussian_blur(&ramp(), 12, 5, false, &mut blurred);
        assert_eq!(
            blurred.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            BLUR
        );

        // cv2.resize(a, (6, 2), interpolation=cv2.INTER_CUBIC)
        const RESIZED: [u32; 12] = [
            1051401517, 1050908310, 1059730974, 1057810673, 1045737231, 1058146424, 1055480893,
            1049458087, 1059005862, 1058467961, 1051235991, 1058803712,
        ];
        let resized = resize_cubic(&ramp(), 12, 5, 6, 2);
        assert_eq!(
            resized.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            RESIZED
        );

        // cv2.exp on f32
        let x = [-0.0f32, -0.5, -1.0, -3.25, -7.1, -12.0, -20.5, -33.3];
        const EXP: [u32; 8] = [
            1065353216, 1058751896, 1052531378, 1025429940, 978865117, 919480936, 816566741,
            662221540,
        ];
        assert_eq!(x.map(|v| exp32f(v).to_bits()), EXP);

        // cv2.cvtColor(BGR2GRAY) on 8 bits: the weights matched OpenCV on
        // 1M random pixels; spot values here.
        let grey = grey_f32(&[255, 255, 255, 0, 0, 0, 10, 200, 30, 1, 2, 3]);
        let scale = (1.0f64 / 255.0) as f32;
        assert_eq!(grey, vec![255.0 * scale, 0.0, 124.0 * scale, 2.0 * scale]);
    }

    #[test]
    fn gamma_grid_is_opencvs() {
        let t = gamma_table();
        assert_eq!(t.len(), 9801);
        assert_eq!(t[0].0, 0.2);
        assert!(t.last().unwrap().0 < 10.0);
        // ρ(γ) rises from 0 towards 3/4 (Gaussian: γ = 2 → 2/π).
        assert!(t.windows(2).all(|p| p[1].1 > p[0].1));
        let two = t.iter().find(|p| (p.0 - 2.0).abs() < 1e-6).unwrap();
        assert!((two.1 - 2.0 / std::f64::consts::PI).abs() < 1e-12);
        assert!((tgamma(5.0) - 24.0).abs() < 1e-12);
        assert!((tgamma(0.5) - std::f64::consts::PI.sqrt()).abs() < 1e-14);
    }
}
