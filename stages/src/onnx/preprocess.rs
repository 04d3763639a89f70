//! From the working RGB8 image to a model's input tensor: resize (squash,
//! centre crop or letterbox), channel order, value range, mean/std, layout.

use fast_image_resize as fr;
use serde::Deserialize;

use crate::working::RgbRef;

/// How the image reaches the model's input size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resize {
    /// Stretch to the input size, ignoring the aspect ratio.
    #[default]
    Squash,
    /// Cut the centre region of the input's aspect ratio (`crop_fraction` of
    /// the largest such region), then resize — ImageNet's "resize 256, crop 224"
    /// is `crop` with `crop_fraction: 0.875`.
    Crop,
    /// Fit inside the input size, keeping the aspect ratio; pad the rest.
    Letterbox,
}

/// Tensor layout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Batch, channels, height, width.
    #[default]
    Nchw,
    /// Batch, height, width, channels.
    Nhwc,
}

/// Channel order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channels {
    #[default]
    Rgb,
    Bgr,
}

/// Pixel values before `mean` and `std` are applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Range {
    /// 0–1 (value / 255).
    #[default]
    Unit,
    /// 0–255.
    Byte,
    /// −1–1 (value / 127.5 − 1).
    Symmetric,
}

/// Everything that turns an image into input values.
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocess {
    pub width: u32,
    pub height: u32,
    pub resize: Resize,
    pub crop_fraction: f64,
    pub pad: [u8; 3],
    pub layout: Layout,
    pub channels: Channels,
    pub range: Range,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Preprocess {
    /// Values per image.
    pub fn len(&self) -> usize {
        3 * self.width as usize * self.height as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The resized RGB8 image the model sees.
    pub fn resized(&self, resizer: &mut fr::Resizer, img: RgbRef<'_>) -> Result<Vec<u8>, String> {
        let src = fr::images::ImageRef::new(img.width, img.height, img.pixels, fr::PixelType::U8x3)
            .map_err(|e| e.to_string())?;
        let (w, h) = (self.width, self.height);
        let alg = fr::ResizeAlg::Convolution(fr::FilterType::Bilinear);
        match self.resize {
            Resize::Squash | Resize::Crop => {
                let mut dst = fr::images::Image::new(w, h, fr::PixelType::U8x3);
                let mut opts = fr::ResizeOptions::new().resize_alg(alg);
                if self.resize == Resize::Crop {
                    let (sw, sh) = (img.width as f64, img.height as f64);
                    let aspect = w as f64 / h as f64;
                    let full_w = sw.min(sh * aspect);
                    let cw = full_w * self.crop_fraction;
                    let ch = cw / aspect;
                    opts = opts.crop((sw - cw) / 2.0, (sh - ch) / 2.0, cw, ch);
                }
                resizer
                    .resize(&src, &mut dst, &opts)
                    .map_err(|e| e.to_string())?;
                Ok(dst.into_vec())
            }
            Resize::Letterbox => {
                let f = (w as f64 / img.width as f64).min(h as f64 / img.height as f64);
                let iw = ((img.width as f64 * f).round() as u32).clamp(1, w);
                let ih = ((img.height as f64 * f).round() as u32).clamp(1, h);
                let mut inner = fr::images::Image::new(iw, ih, fr::PixelType::U8x3);
                resizer
                    .resize(&src, &mut inner, &fr::ResizeOptions::new().resize_alg(alg))
                    .map_err(|e| e.to_string())?;
                let mut out: Vec<u8> = self.pad.repeat((w * h) as usize);
                let (x0, y0) = ((w - iw) / 2, (h - ih) / 2);
                let inner = inner.into_vec();
                for y in 0..ih as usize {
                    let from = &inner[y * iw as usize * 3..(y + 1) * iw as usize * 3];
                    let at = ((y0 as usize + y) * w as usize + x0 as usize) * 3;
                    out[at..at + from.len()].copy_from_slice(from);
                }
                Ok(out)
            }
        }
    }

    /// Writes the input values of `img` into `out` (`len()` values).
    pub fn write(
        &self,
        resizer: &mut fr::Resizer,
        img: RgbRef<'_>,
        out: &mut [f32],
    ) -> Result<(), String> {
        let rgb = self.resized(resizer, img)?;
        let plane = self.width as usize * self.height as usize;
        let value = |v: u8, c: usize| -> f32 {
            let x = match self.range {
                Range::Unit => v as f32 / 255.0,
                Range::Byte => v as f32,
                Range::Symmetric => v as f32 / 127.5 - 1.0,
            };
            (x - self.mean[c]) / self.std[c]
        };
        for (i, px) in rgb.chunks_exact(3).enumerate() {
            for c in 0..3 {
                let src = match self.channels {
                    Channels::Rgb => c,
                    Channels::Bgr => 2 - c,
                };
                let v = value(px[src], c);
                match self.layout {
                    Layout::Nchw => out[c * plane + i] = v,
                    Layout::Nhwc => out[i * 3 + c] = v,
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pre(resize: Resize, layout: Layout) -> Preprocess {
        Preprocess {
            width: 4,
            height: 2,
            resize,
            crop_fraction: 1.0,
            pad: [0, 0, 0],
            layout,
            channels: Channels::Rgb,
            range: Range::Byte,
            mean: [0.0; 3],
            std: [1.0; 3],
        }
    }

    /// A 8×2 image: left half red, right half blue.
    fn halves() -> Vec<u8> {
        (0..16)
            .flat_map(|i| if i % 8 < 4 { [255, 0, 0] } else { [0, 0, 255] })
            .collect()
    }

    fn img(p: &[u8], w: u32, h: u32) -> RgbRef<'_> {
        RgbRef {
            width: w,
            height: h,
            pixels: p,
        }
    }

    #[test]
    fn layouts_place_channels() {
        let px = halves();
        let mut r = fr::Resizer::new();
        let mut nchw = vec![0.0; 24];
        pre(Resize::Squash, Layout::Nchw)
            .write(&mut r, img(&px, 8, 2), &mut nchw)
            .unwrap();
        // Red plane first: the left pixels are 255, the right ones 0.
        assert_eq!(nchw[0], 255.0);
        assert_eq!(nchw[3], 0.0);
        assert_eq!(nchw[16 + 3], 255.0, "blue plane, right pixel");
        let mut nhwc = vec![0.0; 24];
        pre(Resize::Squash, Layout::Nhwc)
            .write(&mut r, img(&px, 8, 2), &mut nhwc)
            .unwrap();
        assert_eq!(&nhwc[..3], &[255.0, 0.0, 0.0]);
        assert_eq!(&nhwc[9..12], &[0.0, 0.0, 255.0]);
    }

    #[test]
    fn crop_keeps_the_centre_and_letterbox_pads() {
        // 16×2 source (left red, right blue) into 2×2: crop sees the middle 2×2 region.
        let px: Vec<u8> = (0..32)
            .flat_map(|i| if i % 16 < 8 { [255, 0, 0] } else { [0, 0, 255] })
            .collect();
        let mut r = fr::Resizer::new();
        let p = Preprocess {
            width: 2,
            height: 2,
            ..pre(Resize::Crop, Layout::Nhwc)
        };
        let out = p.resized(&mut r, img(&px, 16, 2)).unwrap();
        assert_eq!(&out[..3], &[255, 0, 0], "left of the centre is red");
        assert_eq!(&out[3..6], &[0, 0, 255], "right of the centre is blue");
        let lb = Preprocess {
            width: 4,
            height: 4,
            pad: [7, 7, 7],
            ..pre(Resize::Letterbox, Layout::Nhwc)
        };
        let out = lb.resized(&mut r, img(&px, 16, 2)).unwrap();
        // 16×2 fits 4×4 as 4×1 (rounded up to 1 row) in the middle: first row is padding.
        assert_eq!(&out[..3], &[7, 7, 7]);
        assert_eq!(out.len(), 4 * 4 * 3);
    }

    #[test]
    fn ranges_and_normalisation() {
        let px = vec![255u8; 3 * 8 * 2];
        let mut r = fr::Resizer::new();
        let mut out = vec![0.0; 24];
        let p = Preprocess {
            range: Range::Symmetric,
            ..pre(Resize::Squash, Layout::Nchw)
        };
        p.write(&mut r, img(&px, 8, 2), &mut out).unwrap();
        assert!(out.iter().all(|&v| (v - 1.0).abs() < 1e-6));
        let p = Preprocess {
            range: Range::Unit,
            mean: [0.5; 3],
            std: [0.25; 3],
            ..pre(Resize::Squash, Layout::Nchw)
        };
        p.write(&mut r, img(&px, 8, 2), &mut out).unwrap();
        assert!(out.iter().all(|&v| (v - 2.0).abs() < 1e-6), "{out:?}");
    }
}
