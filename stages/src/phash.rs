//! `phash`: the 64-bit DCT perceptual hash, as the `imagehash` library
//! computes it: greyscale (ITU-R 601 luma), resized to 32×32 (Lanczos3), 2-D
//! DCT-II, the top-left 8×8 coefficients compared against their median; bit 0
//! of the row-major order is the most significant bit.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_array::builder::Int64Builder;
use facet_engine::{
    BuildCx, Built, Diagnostic, PlanCx, Stage, StageCx, StageError, StageKind, StagePlan,
};
use fast_image_resize as fr;
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
            resizer: fr::Resizer::new(),
        })))
    }
}

struct Hasher {
    dct: Arc<dyn rustdct::TransformType2And3<f64>>,
    resizer: fr::Resizer,
}

impl Hasher {
    fn hash(&mut self, img: RgbRef<'_>) -> Result<u64, String> {
        let grey: Vec<u8> = img
            .pixels
            .chunks_exact(3)
            .map(|p| ((p[0] as u32 * 299 + p[1] as u32 * 587 + p[2] as u32 * 114) / 1000) as u8)
            .collect();
        let src = fr::images::Image::from_vec_u8(img.width, img.height, grey, fr::PixelType::U8)
            .map_err(|e| e.to_string())?;
        let mut dst = fr::images::Image::new(N as u32, N as u32, fr::PixelType::U8);
        let opts = fr::ResizeOptions::new()
            .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3));
        self.resizer
            .resize(&src, &mut dst, &opts)
            .map_err(|e| e.to_string())?;
        let mut m: Vec<f64> = dst.buffer().iter().map(|&v| v as f64).collect();
        Ok(phash_from_32x32(&mut m, self.dct.as_ref()))
    }
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
            resizer: fr::Resizer::new(),
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
