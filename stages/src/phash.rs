//! `phash`: the 64-bit DCT perceptual hash, as the `imagehash` library
//! computes it with Pillow: greyscale (`convert("L")`: ITU-R 601 luma,
//! rounded), resized to 32×32 (Pillow's Lanczos, in its fixed point), 2-D
//! DCT-II, the top-left 8×8 coefficients compared against their median; bit 0
//! of the row-major order is the most significant bit. A photo larger than
//! the working image is hashed from the working image (the original hashes
//! the full-size photo), so its hash can differ from the original's by a
//! bit or two near the median.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_array::builder::Int64Builder;
use facet_engine::{
    BuildCx, Built, Diagnostic, PlanCx, Stage, StageCx, StageError, StageKind, StagePlan,
};
use rustdct::DctPlanner;
use serde::Deserialize;

use crate::working::{self, Images, RgbRef, photos_field, with_columns};

pub struct Phash;

/// `with:` of `phash` (no parameters).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhashConfig {}

const N: usize = 32;

impl StageKind for Phash {
    const NAME: &'static str = "phash";
    const DOC: &'static str = "64-bit DCT perceptual hash for duplicate and burst detection.";
    type Config = PhashConfig;

    fn plan(&self, _cfg: &PhashConfig, _cx: &PlanCx) -> Result<StagePlan, Vec<Diagnostic>> {
        Ok(StagePlan {
            reads: working::fields(),
            writes: vec![photos_field("phash")],
            image_side: Some(256),
            bytes_per_photo: 16 << 10,
            ..Default::default()
        })
    }

    fn build(&self, _cfg: &PhashConfig, _cx: &BuildCx) -> Result<Built, StageError> {
        Ok(Built::Transform(Box::new(Hasher {
            dct: DctPlanner::new().plan_dct2(N),
        })))
    }
}

struct Hasher {
    dct: Arc<dyn rustdct::TransformType2And3<f64>>,
}

impl Hasher {
    fn hash(&mut self, img: RgbRef<'_>) -> Result<u64, String> {
        let (w, h) = (img.width as usize, img.height as usize);
        if w == 0 || h == 0 || img.pixels.len() != w * h * 3 {
            return Err(format!(
                "working image has {} bytes for {w}×{h} RGB",
                img.pixels.len()
            ));
        }
        let grey: Vec<u8> = img
            .pixels
            .chunks_exact(3)
            .map(|p| luma(p[0], p[1], p[2]))
            .collect();
        let small = lanczos_32x32(&grey, w, h);
        let mut m: Vec<f64> = small.iter().map(|&v| v as f64).collect();
        Ok(phash_from_32x32(&mut m, self.dct.as_ref()))
    }
}

/// Bits of Pillow's fixed-point resampling coefficients (`PRECISION_BITS`).
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Pillow's Lanczos kernel (`lanczos_filter`, support 3).
fn lanczos(x: f64) -> f64 {
    fn sinc(x: f64) -> f64 {
        if x == 0.0 {
            1.0
        } else {
            let x = x * std::f64::consts::PI;
            x.sin() / x
        }
    }
    if (-3.0..3.0).contains(&x) {
        sinc(x) * sinc(x / 3.0)
    } else {
        0.0
    }
}

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for `in_size` →
/// `out_size` over the whole input: per output pixel, the first input pixel
/// and the fixed-point weights of the input pixels from it.
fn coefficients(in_size: usize, out_size: usize) -> Vec<(usize, Vec<i32>)> {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = 3.0 * filterscale;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            // C's `(int)` truncates toward zero, as `as` does.
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let k: Vec<f64> = (xmin..xmax.max(xmin))
                .map(|x| lanczos((x as f64 - center + 0.5) / filterscale))
                .collect();
            let ww: f64 = k.iter().sum();
            let fixed = k
                .iter()
                .map(|&w| {
                    let w = if ww != 0.0 { w / ww } else { w };
                    let v = w * (1u32 << PRECISION_BITS) as f64;
                    (if v < 0.0 { v - 0.5 } else { v + 0.5 }) as i32
                })
                .collect();
            (xmin, fixed)
        })
        .collect()
}

/// Pillow's `clip8`: the fixed-point sum back to 0–255.
fn clip8(v: i64) -> u8 {
    if v >= 1i64 << (PRECISION_BITS + 8) {
        255
    } else if v <= 0 {
        0
    } else {
        (v >> PRECISION_BITS) as u8
    }
}

/// `image.resize((32, 32), Image.LANCZOS)` of an 8-bit grey image, as Pillow
/// computes it: a horizontal pass into 8 bits, then a vertical one, each
/// skipped when that side is already 32 (fast_image_resize's coefficients
/// round differently and flip hash bits near the median).
pub fn lanczos_32x32(grey: &[u8], w: usize, h: usize) -> Vec<u8> {
    let rounded = |taps: &mut dyn Iterator<Item = (u8, i32)>| {
        clip8(taps.fold(1i64 << (PRECISION_BITS - 1), |s, (p, k)| {
            s + p as i64 * k as i64
        }))
    };
    let horizontal: Vec<u8> = if w == N {
        grey.to_vec()
    } else {
        let cs = coefficients(w, N);
        let mut out = Vec::with_capacity(N * h);
        for row in grey.chunks_exact(w) {
            for (xmin, k) in &cs {
                out.push(rounded(
                    &mut row[*xmin..].iter().copied().zip(k.iter().copied()),
                ));
            }
        }
        out
    };
    if h == N {
        return horizontal;
    }
    let cs = coefficients(h, N);
    let mut out = Vec::with_capacity(N * N);
    for (ymin, k) in &cs {
        for x in 0..N {
            out.push(rounded(
                &mut k
                    .iter()
                    .enumerate()
                    .map(|(i, &k)| (horizontal[(ymin + i) * N + x], k)),
            ));
        }
    }
    out
}

/// Pillow's `convert("L")`: ITU-R 601 luma in 16-bit fixed point, rounded
/// (`(19595 R + 38470 G + 7471 B + 2¹⁵) >> 16`); truncating `(299 R + 587 G +
/// 114 B) / 1000` instead flips pHash bits of flat photos.
pub fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((r as u32 * 19595 + g as u32 * 38470 + b as u32 * 7471 + 0x8000) >> 16) as u8
}

/// The hash of a 32×32 greyscale matrix (row-major), DCT'd in place.
pub fn phash_from_32x32(m: &mut [f64], dct: &dyn rustdct::TransformType2And3<f64>) -> u64 {
    for row in m.chunks_exact_mut(N) {
        dct.process_dct2(row);
    }
    let mut col = [0f64; N];
    for x in 0..N {
        for y in 0..N {
            col[y] = m[y * N + x];
        }
        dct.process_dct2(&mut col);
        for y in 0..N {
            m[y * N + x] = col[y];
        }
    }
    let low: Vec<f64> = (0..8)
        .flat_map(|y| (0..8).map(move |x| (y, x)))
        .map(|(y, x)| m[y * N + x])
        .collect();
    let mut sorted = low.clone();
    sorted.sort_by(f64::total_cmp);
    let median = (sorted[31] + sorted[32]) / 2.0;
    low.iter()
        .fold(0u64, |h, &v| (h << 1) | u64::from(v > median))
}

impl Stage for Hasher {
    fn process(&mut self, batch: RecordBatch, cx: &mut StageCx) -> Result<RecordBatch, StageError> {
        let images = Images::of(&batch)?;
        let mut out = Int64Builder::new();
        for row in 0..batch.num_rows() {
            match images.get(row).map(|img| self.hash(img)) {
                Some(Ok(h)) => out.append_value(h as i64),
                Some(Err(reason)) => {
                    cx.fail(row, reason);
                    out.append_null();
                }
                None => out.append_null(),
            }
        }
        with_columns(
            batch,
            vec![photos_field("phash")],
            vec![Arc::new(out.finish())],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> Hasher {
        Hasher {
            dct: DctPlanner::new().plan_dct2(N),
        }
    }

    fn scene(w: u32, h: u32, shift: f64) -> Vec<u8> {
        let mut px = Vec::with_capacity((w * h * 3) as usize);
        for y in 0..h {
            for x in 0..w {
                let (fx, fy) = (x as f64 / w as f64, y as f64 / h as f64);
                let v = (128.0 + 100.0 * ((fx * 7.0 + shift).sin() * (fy * 5.0).cos())) as u8;
                px.extend([v, v / 2, 255 - v]);
            }
        }
        px
    }

    fn hash_scene(h: &mut Hasher, width: u32, height: u32, shift: f64) -> u64 {
        h.hash(RgbRef {
            width,
            height,
            pixels: &scene(width, height, shift),
        })
        .unwrap()
    }

    #[test]
    fn resized_copies_hash_alike_and_different_scenes_do_not() {
        let mut h = hasher();
        let a = hash_scene(&mut h, 640, 480, 0.0);
        let b = hash_scene(&mut h, 320, 240, 0.0);
        let c = hash_scene(&mut h, 640, 480, 2.5);
        assert!(
            (a ^ b).count_ones() <= 4,
            "resized copy differs by {}",
            (a ^ b).count_ones()
        );
        assert!(
            (a ^ c).count_ones() > 12,
            "other scene differs by only {}",
            (a ^ c).count_ones()
        );
    }

    #[test]
    fn pillows_luma_rounds() {
        // (19595·R + 38470·G + 7471·B + 2¹⁵) >> 16, not truncated.
        assert_eq!(luma(255, 255, 255), 255);
        assert_eq!(luma(0, 0, 0), 0);
        assert_eq!(luma(1, 1, 1), 1);
        // 0.299·200 + 0.587·100 + 0.114·50 = 124.25; 0.299·3 + 0.587·0 + 0.114·5 = 1.467.
        assert_eq!(luma(200, 100, 50), 124);
        assert_eq!(luma(3, 0, 5), 1);
        // Truncating gives 0 where Pillow rounds 0.598 up.
        assert_eq!(luma(2, 0, 0), 1);
    }

    #[test]
    fn pillows_lanczos_keeps_flat_images_flat_and_sums_to_one() {
        for (w, h) in [
            (49, 500),
            (640, 480),
            (32, 100),
            (100, 32),
            (32, 32),
            (7, 3),
        ] {
            let out = lanczos_32x32(&vec![137u8; w * h], w, h);
            assert_eq!(out.len(), N * N);
            assert!(out.iter().all(|&v| v == 137), "{w}×{h}");
        }
        for (inp, out) in [(1024, 32), (49, 32), (7, 32)] {
            for (xmin, k) in coefficients(inp, out) {
                let sum: i64 = k.iter().map(|&v| v as i64).sum();
                assert!(
                    (sum - (1 << PRECISION_BITS)).abs() <= k.len() as i64,
                    "{inp}: {sum}"
                );
                assert!(xmin + k.len() <= inp);
            }
        }
        // 32 × 32 passes through unchanged.
        let ramp: Vec<u8> = (0..N * N).map(|i| (i % 251) as u8).collect();
        assert_eq!(lanczos_32x32(&ramp, N, N), ramp);
    }

    #[test]
    fn median_split_sets_half_the_bits() {
        let mut h = hasher();
        let x = h
            .hash(RgbRef {
                width: 300,
                height: 200,
                pixels: &scene(300, 200, 1.0),
            })
            .unwrap();
        assert_eq!(x.count_ones(), 32);
    }
}
