//! Square, rotated crops of the working image (bilinear), for the detector's
//! tiles, the landmark model and the embedding model, and the mapping of
//! crop coordinates back to the frame.

use crate::working::RgbRef;

/// A square region of the frame, possibly rotated: centre, side and angle
/// (radians, the crop's x axis rotated by `angle` in the frame).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Region {
    pub cx: f32,
    pub cy: f32,
    pub side: f32,
    pub angle: f32,
}

impl Region {
    /// The frame point of crop point (`u`, `v`) in a crop of `size` pixels.
    pub fn to_frame(&self, u: f32, v: f32, size: u32) -> [f32; 2] {
        let s = self.side / size as f32;
        let (dx, dy) = ((u - size as f32 / 2.0) * s, (v - size as f32 / 2.0) * s);
        let (sin, cos) = self.angle.sin_cos();
        [self.cx + dx * cos - dy * sin, self.cy + dx * sin + dy * cos]
    }

    /// The RGB8 crop, `size`×`size`; outside the frame is `pad`.
    pub fn sample(&self, img: RgbRef<'_>, size: u32, pad: [u8; 3]) -> Vec<u8> {
        let mut out = Vec::with_capacity((size * size * 3) as usize);
        let (w, h) = (img.width as i64, img.height as i64);
        let px = |x: i64, y: i64, c: usize| -> f32 {
            if x < 0 || y < 0 || x >= w || y >= h {
                pad[c] as f32
            } else {
                img.pixels[((y * w + x) * 3) as usize + c] as f32
            }
        };
        for v in 0..size {
            for u in 0..size {
                let [fx, fy] = self.to_frame(u as f32 + 0.5, v as f32 + 0.5, size);
                let (fx, fy) = (fx - 0.5, fy - 0.5);
                let (x0, y0) = (fx.floor() as i64, fy.floor() as i64);
                let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
                for c in 0..3 {
                    let top = px(x0, y0, c) * (1.0 - ax) + px(x0 + 1, y0, c) * ax;
                    let bottom = px(x0, y0 + 1, c) * (1.0 - ax) + px(x0 + 1, y0 + 1, c) * ax;
                    out.push((top * (1.0 - ay) + bottom * ay).round().clamp(0.0, 255.0) as u8);
                }
            }
        }
        out
    }
}

/// Grey levels (OpenCV's weights) of an axis-aligned box of the frame,
/// clipped to it; `None` when less than 3×3 pixels remain.
pub fn grey_box(img: RgbRef<'_>, x: f32, y: f32, w: f32, h: f32) -> Option<image::GrayImage> {
    let x0 = x.max(0.0).floor() as u32;
    let y0 = y.max(0.0).floor() as u32;
    let x1 = ((x + w).ceil().max(0.0) as u32).min(img.width);
    let y1 = ((y + h).ceil().max(0.0) as u32).min(img.height);
    if x1 < x0 + 3 || y1 < y0 + 3 {
        return None;
    }
    let mut g = image::GrayImage::new(x1 - x0, y1 - y0);
    for yy in y0..y1 {
        for xx in x0..x1 {
            let i = ((yy * img.width + xx) * 3) as usize;
            let p = &img.pixels[i..i + 3];
            g.put_pixel(
                xx - x0,
                yy - y0,
                image::Luma([crate::technical::metrics::grey(p[0], p[1], p[2])]),
            );
        }
    }
    Some(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unrotated_crop_copies_and_maps_back() {
        // 8×8 image whose red channel is x·10 and green y·10.
        let px: Vec<u8> = (0..64)
            .flat_map(|i| [(i % 8 * 10) as u8, (i / 8 * 10) as u8, 0])
            .collect();
        let img = RgbRef {
            width: 8,
            height: 8,
            pixels: &px,
        };
        let r = Region {
            cx: 4.0,
            cy: 4.0,
            side: 4.0,
            angle: 0.0,
        };
        let out = r.sample(img, 4, [0; 3]);
        // Crop pixel (0, 0) is frame pixel (2, 2).
        assert_eq!(&out[..3], &[20, 20, 0]);
        assert_eq!(r.to_frame(0.0, 0.0, 4), [2.0, 2.0]);
        // Rotated by 90°: the crop's x axis runs down the frame.
        let q = Region {
            angle: std::f32::consts::FRAC_PI_2,
            ..r
        };
        let [x, y] = q.to_frame(4.0, 2.0, 4);
        assert!((x - 4.0).abs() < 1e-5 && (y - 6.0).abs() < 1e-5, "{x} {y}");
        // Outside the frame: padding.
        let far = Region { cx: -10.0, ..r };
        assert!(
            far.sample(img, 2, [7, 8, 9])
                .chunks(3)
                .all(|p| p == [7, 8, 9])
        );
    }
}
