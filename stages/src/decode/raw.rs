//! Camera RAW files: the embedded preview JPEG when it covers the working
//! size, else the sensor data, developed by `rawler` (dnglab's maintained RAW
//! decoder).
//!
//! Every camera RAW (TIFF-based, CR3, RAF) usually carries one or more full
//! JPEGs; [`largest_preview`] finds the largest by scanning for JPEG headers,
//! which needs no knowledge of each maker's layout. When there is none, or it
//! is smaller than the working image (old cameras keep 160 × 120 ones), the
//! sensor data is developed ([`develop`]):
//! - black and white levels scale the mosaic to 0..1 (`apply_scaling`);
//! - a Bayer mosaic is demosaiced at half size by rawler's superpixel method
//!   (each 2 × 2 quad gives one RGB pixel), which is what a working image of
//!   at most 2048 px needs from a 12–60 MP sensor, at a quarter of the memory
//!   and time of a full demosaic;
//! - white balance and the camera's colour matrix (D65, else the first
//!   illuminant Bradford-adapted to D65), as rawler's own development does,
//!   map camera RGB to linear sRGB; highlights are clipped the same way;
//! - the recommended crop (halved), then the sRGB transfer curve, to 8 bits.
//!
//! Other sensors (X-Trans, four-colour, linear DNG, Fuji's rotated ones) go
//! through rawler's full development (`RawDevelop`) and are resized later.
//! A file whose image data is missing (a metadata-only sample, a truncated
//! copy) fails with rawler's reason.

use rawler::RawImageData;
use rawler::decoders::RawDecodeParams;
use rawler::imgop::chromatic_adaption::adapt_bradford;
use rawler::imgop::develop::RawDevelop;
use rawler::imgop::matrix::{multiply, normalize, pseudo_inverse, transform_1d};
use rawler::imgop::raw::clip_euclidean_norm_avg;
use rawler::imgop::sensor::bayer::superpixel::Superpixel3Channel;
use rawler::imgop::sensor::{Demosaic, SensorType};
use rawler::imgop::srgb::srgb_apply_gamma;
use rawler::imgop::xyz::{Illuminant, SRGB_TO_XYZ_D65};
use rawler::imgop::{Dim2, Point, Rect};
use rawler::pixarray::PixF32;
use rawler::rawimage::RawPhotometricInterpretation;
use rawler::rawsource::RawSource;

use super::jpeg;
use crate::working::Rgb;

/// Byte range of the largest embedded JPEG.
pub fn largest_preview(bytes: &[u8]) -> Option<(usize, jpeg::Header)> {
    let mut best: Option<(usize, jpeg::Header)> = None;
    let mut i = 0;
    while let Some(off) = find(&bytes[i..], &[0xFF, 0xD8, 0xFF]) {
        let start = i + off;
        if let Ok(h) = jpeg::header(&bytes[start..])
            && h.width >= 160
            && best.is_none_or(|(_, b)| {
                h.width as u64 * h.height as u64 > b.width as u64 * b.height as u64
            })
        {
            best = Some((start, h));
        }
        i = start + 3;
    }
    best
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A RAW file's sensor data before development: its size, so that the
/// caller can vet it and reserve memory before the work.
pub struct Sensor(rawler::RawImage);

impl Sensor {
    /// Decodes (decompresses) the sensor data.
    pub fn decode(bytes: &[u8]) -> Result<Sensor, String> {
        let source = RawSource::new_from_slice(bytes);
        rawler::decode(&source, &RawDecodeParams::default())
            .map(Sensor)
            .map_err(|e| e.to_string())
    }

    /// The mosaic's size (before the crop).
    pub fn size(&self) -> (u32, u32) {
        (self.0.width as u32, self.0.height as u32)
    }

    /// Bytes the development needs at most per sensor pixel (the full
    /// development's floating-point copies; the half-size path needs less).
    pub const BYTES_PER_PIXEL: u64 = 40;

    /// Develops the sensor data to 8-bit sRGB; returns the image and the
    /// cropped sensor size it shows (the photo's size before orientation).
    pub fn develop(self) -> Result<(Rgb, u32, u32), String> {
        let raw = self.0;
        if let RawPhotometricInterpretation::Cfa(config) = &raw.photometric
            && config.sensor == SensorType::Bayer
            && matches!(config.cfa.name.as_str(), "RGGB" | "BGGR" | "GBRG" | "GRBG")
            && raw.cpp == 1
            && raw.fuji_rotation_width.is_none()
        {
            return half_size(raw);
        }
        let developed = RawDevelop::default()
            .develop_intermediate(&raw)
            .map_err(|e| e.to_string())?
            .to_dynamic_image()
            .ok_or("rawler developed no image")?
            .to_rgb8();
        let (w, h) = developed.dimensions();
        Ok((
            Rgb {
                width: w,
                height: h,
                pixels: developed.into_raw(),
            },
            w,
            h,
        ))
    }
}

/// The XYZ → camera matrix for D65 (see the module's documentation).
fn xyz_to_cam(raw: &rawler::RawImage) -> [[f32; 3]; 4] {
    let (illuminant, matrix) = raw
        .color_matrix_find_first([
            Illuminant::D65,
            Illuminant::A,
            Illuminant::B,
            Illuminant::C,
            Illuminant::D50,
            Illuminant::D55,
            Illuminant::D75,
            Illuminant::Daylight,
            Illuminant::Flash,
        ])
        .unwrap_or((
            Illuminant::D65,
            vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        ));
    let matrix = match (illuminant, transform_1d::<3, 3>(&matrix)) {
        (Illuminant::D65, _) | (_, None) => matrix,
        (other, Some(m)) => adapt_bradford(&other, &Illuminant::D65, &m)
            .as_flattened()
            .to_vec(),
    };
    let mut xyz2cam = [[0.0f32; 3]; 4];
    for (i, row) in matrix.chunks_exact(3).take(4).enumerate() {
        xyz2cam[i].copy_from_slice(row);
    }
    xyz2cam
}

/// Superpixel development of a 2 × 2 Bayer mosaic at half size.
fn half_size(mut raw: rawler::RawImage) -> Result<(Rgb, u32, u32), String> {
    let RawPhotometricInterpretation::Cfa(config) = raw.photometric.clone() else {
        unreachable!("checked by the caller");
    };
    raw.apply_scaling().map_err(|e| e.to_string())?;
    let data = match std::mem::replace(&mut raw.data, RawImageData::Float(Vec::new())) {
        RawImageData::Float(v) => v,
        RawImageData::Integer(v) => v.into_iter().map(|x| x as f32 / 65535.0).collect(),
    };
    let full = Rect::new(Point::new(0, 0), Dim2::new(raw.width, raw.height));
    let active = raw.active_area.unwrap_or(full);
    let mosaic = PixF32::new_with(data, raw.width, raw.height);
    let rgb = Superpixel3Channel::new().demosaic(&mosaic, &config.cfa, &config.colors, active);
    drop(mosaic);

    let wb = if raw.wb_coeffs[0].is_nan() {
        [1.0; 4]
    } else {
        raw.wb_coeffs
    };
    let cam2rgb = pseudo_inverse(normalize(multiply(&xyz_to_cam(&raw), &SRGB_TO_XYZ_D65)));

    // The recommended crop, relative to the active area, at half size.
    let mut crop = Rect::new(Point::new(0, 0), Dim2::new(rgb.width, rgb.height));
    if let Some(c) = raw.crop_area
        && c.p.x >= active.p.x
        && c.p.y >= active.p.y
        && c.d.w <= active.d.w
        && c.d.h <= active.d.h
    {
        let mut c = c.adapt(&active);
        c.scale(0.5);
        if c.p.x + c.d.w <= rgb.width && c.p.y + c.d.h <= rgb.height && c.d.w > 0 && c.d.h > 0 {
            crop = c;
        }
    }
    let (w, h) = (crop.d.w, crop.d.h);
    let mut pixels = Vec::with_capacity(w * h * 3);
    for y in crop.p.y..crop.p.y + h {
        for px in &rgb.data[y * rgb.width + crop.p.x..y * rgb.width + crop.p.x + w] {
            let (r, g, b) = (px[0] * wb[0], px[1] * wb[1], px[2] * wb[2]);
            let srgb = clip_euclidean_norm_avg(&[
                cam2rgb[0][0] * r + cam2rgb[0][1] * g + cam2rgb[0][2] * b,
                cam2rgb[1][0] * r + cam2rgb[1][1] * g + cam2rgb[1][2] * b,
                cam2rgb[2][0] * r + cam2rgb[2][1] * g + cam2rgb[2][2] * b,
            ]);
            pixels.extend(srgb.map(|v| (srgb_apply_gamma(v).clamp(0.0, 1.0) * 255.0 + 0.5) as u8));
        }
    }
    Ok((
        Rgb {
            width: w as u32,
            height: h as u32,
            pixels,
        },
        (w * 2) as u32,
        (h * 2) as u32,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_largest_embedded_jpeg() {
        let small = {
            let img = image::RgbImage::new(200, 100);
            let mut c = std::io::Cursor::new(Vec::new());
            img.write_to(&mut c, image::ImageFormat::Jpeg).unwrap();
            c.into_inner()
        };
        let big = {
            let img = image::RgbImage::new(640, 480);
            let mut c = std::io::Cursor::new(Vec::new());
            img.write_to(&mut c, image::ImageFormat::Jpeg).unwrap();
            c.into_inner()
        };
        let mut raw = b"II*\0 some raw sensor data \xFF\xD8 not jpeg".to_vec();
        raw.extend(&small);
        raw.extend(b"more");
        let at = raw.len();
        raw.extend(&big);
        let (off, h) = largest_preview(&raw).unwrap();
        assert_eq!((off, h.width, h.height), (at, 640, 480));
        assert!(largest_preview(b"II*\0 nothing").is_none());
    }

    /// A minimal uncompressed DNG: a `w` × `h` RGGB mosaic of 16-bit
    /// samples, identity colour matrix (D65), neutral white balance.
    pub(crate) fn dng(w: u32, h: u32, sample: impl Fn(u32, u32, usize) -> u16) -> Vec<u8> {
        // (tag, type, count, value bytes): SHORT 3, LONG 4, RATIONAL 5, BYTE 1,
        // ASCII 2, SRATIONAL 10.
        let short = |v: &[u16]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let long = |v: &[u32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let rational = |v: &[(i32, i32)]| {
            v.iter()
                .flat_map(|(n, d)| [n.to_le_bytes(), d.to_le_bytes()].concat())
                .collect::<Vec<u8>>()
        };
        let identity: Vec<(i32, i32)> = (0..9).map(|i| ((i % 4 == 0) as i32, 1)).collect();
        let strip_len = w * h * 2;
        let mut entries: Vec<(u16, u16, u32, Vec<u8>)> = vec![
            (254, 4, 1, long(&[0])),
            (256, 4, 1, long(&[w])),
            (257, 4, 1, long(&[h])),
            (258, 3, 1, short(&[16])),
            (259, 3, 1, short(&[1])),
            (262, 3, 1, short(&[32803])),
            (271, 2, 6, b"Facet\0".to_vec()),
            (272, 2, 5, b"Test\0".to_vec()),
            (273, 4, 1, long(&[0])), // patched below
            (274, 3, 1, short(&[1])),
            (277, 3, 1, short(&[1])),
            (278, 4, 1, long(&[h])),
            (279, 4, 1, long(&[strip_len])),
            (33421, 3, 2, short(&[2, 2])),
            (33422, 1, 4, vec![0, 1, 1, 2]),
            (50706, 1, 4, vec![1, 4, 0, 0]),
            (50708, 2, 11, b"Facet Test\0".to_vec()),
            (50714, 4, 1, long(&[0])),
            (50717, 4, 1, long(&[65535])),
            (50721, 10, 9, rational(&identity)),
            (50728, 5, 3, rational(&[(1, 1), (1, 1), (1, 1)])),
            (50778, 3, 1, short(&[21])),
        ];
        let ifd_len = 2 + entries.len() * 12 + 4;
        let extra_start = 8 + ifd_len;
        let extra_len: usize = entries
            .iter()
            .filter(|e| e.3.len() > 4)
            .map(|e| e.3.len().next_multiple_of(2))
            .sum();
        let strip_at = (extra_start + extra_len) as u32;
        entries[8].3 = long(&[strip_at]);
        let mut out = b"II*\0".to_vec();
        out.extend(8u32.to_le_bytes());
        out.extend((entries.len() as u16).to_le_bytes());
        let mut extra = Vec::new();
        for (tag, kind, count, value) in &entries {
            out.extend(tag.to_le_bytes());
            out.extend(kind.to_le_bytes());
            out.extend(count.to_le_bytes());
            if value.len() <= 4 {
                let mut v = value.clone();
                v.resize(4, 0);
                out.extend(v);
            } else {
                out.extend(((extra_start + extra.len()) as u32).to_le_bytes());
                extra.extend(value);
                if extra.len() % 2 == 1 {
                    extra.push(0);
                }
            }
        }
        out.extend(0u32.to_le_bytes());
        out.extend(extra);
        assert_eq!(out.len(), strip_at as usize);
        for y in 0..h {
            for x in 0..w {
                // RGGB: colour 0 red, 1 green, 2 blue.
                let c = match (y % 2, x % 2) {
                    (0, 0) => 0,
                    (1, 1) => 2,
                    _ => 1,
                };
                out.extend(sample(x, y, c).to_le_bytes());
            }
        }
        out
    }

    /// rawler decodes the mosaic, and the superpixel development gives a
    /// half-size sRGB image of the scene: red on the left, blue on the right.
    #[test]
    fn a_bayer_mosaic_is_developed_at_half_size() {
        let (w, h) = (64, 48);
        let file = dng(w, h, |x, _, c| match (x < w / 2, c) {
            // Unclipped (rawler's highlight handling desaturates what exceeds white).
            (true, 0) | (false, 2) => 12000,
            (_, 1) => 2000,
            _ => 500,
        });
        let sensor = Sensor::decode(&file).unwrap_or_else(|e| panic!("rawler: {e}"));
        assert_eq!(sensor.size(), (w, h));
        let (img, full_w, full_h) = sensor.develop().unwrap();
        assert_eq!((img.width, img.height, full_w, full_h), (32, 24, 64, 48));
        let px = |x: u32, y: u32| {
            let i = ((y * img.width + x) * 3) as usize;
            [img.pixels[i], img.pixels[i + 1], img.pixels[i + 2]].map(u32::from)
        };
        let (left, right) = (px(4, 12), px(28, 12));
        // (sRGB's transfer curve lifts the weak channels.)
        assert!(
            2 * left[0] > 3 * left[2].max(left[1]).max(1),
            "left {left:?}"
        );
        assert!(
            2 * right[2] > 3 * right[0].max(right[1]).max(1),
            "right {right:?}"
        );
    }

    /// A TIFF-based RAW whose strips lie past the end of the file (a
    /// metadata-only copy) is refused by rawler with a reason.
    #[test]
    fn a_raw_without_its_sensor_data_fails() {
        let file = dng(64, 48, |_, _, _| 1000);
        let cut = &file[..file.len() - 64 * 48];
        assert!(Sensor::decode(cut).is_err());
    }
}
