//! JPEG through libjpeg-turbo (the `mozjpeg` build) with DCT-domain scaling:
//! the decoder produces 1/2, 1/4 or 1/8 of the size directly, which is the
//! largest single speed lever of the whole pipeline.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::working::Rgb;

/// Header facts, read without decoding.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub width: u32,
    pub height: u32,
}

fn unwind_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_else(|| "decoder error".into())
}

/// Reads the header (libjpeg reports errors by unwinding; caught here).
pub fn header(bytes: &[u8]) -> Result<Header, String> {
    catch_unwind(AssertUnwindSafe(|| -> Result<Header, String> {
        let d = mozjpeg::Decompress::new_mem(bytes).map_err(|e| e.to_string())?;
        Ok(Header { width: d.width() as u32, height: d.height() as u32 })
    }))
    .map_err(unwind_message)?
}

/// The smallest DCT scale (n/8, n ∈ {1,2,4,8}) whose output keeps the longest
/// side at least `target`.
pub fn scale_numerator(width: u32, height: u32, target: u32) -> u8 {
    let longest = width.max(height) as u64;
    for n in [1u8, 2, 4] {
        if (longest * n as u64).div_ceil(8) >= target as u64 {
            return n;
        }
    }
    8
}

/// Decodes at `numerator/8` of full size to RGB.
pub fn decode_scaled(bytes: &[u8], numerator: u8) -> Result<Rgb, String> {
    catch_unwind(AssertUnwindSafe(|| -> Result<Rgb, String> {
        let mut d = mozjpeg::Decompress::new_mem(bytes).map_err(|e| e.to_string())?;
        d.scale(numerator);
        let mut started = d.rgb().map_err(|e| e.to_string())?;
        let width = started.width() as u32;
        let height = started.height() as u32;
        let pixels: Vec<u8> = started.read_scanlines().map_err(|e| e.to_string())?;
        if pixels.len() != width as usize * height as usize * 3 {
            return Err("truncated image data".into());
        }
        started.finish().map_err(|e| e.to_string())?;
        Ok(Rgb { width, height, pixels })
    }))
    .map_err(unwind_message)?
}

/// Whether the entropy-coded data of the (first) image ends with an EOI
/// marker. libjpeg silently pads a truncated file with grey; Facet calls it a
/// failure instead. Data after EOI (MPF gain maps, motion photos) is fine.
pub fn is_complete(bytes: &[u8]) -> bool {
    // Walk marker segments to the first SOS, then look for EOI: inside
    // entropy-coded data 0xFF is always followed by 0x00 or a RSTn marker.
    let mut i = 2;
    while i + 4 <= bytes.len() {
        if bytes[i] != 0xFF {
            return false;
        }
        let marker = bytes[i + 1];
        if marker == 0xFF {
            i += 1;
            continue;
        }
        let len = u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]) as usize;
        if marker == 0xDA {
            let data = &bytes[(i + 2 + len).min(bytes.len())..];
            return data.windows(2).any(|w| w == [0xFF, 0xD9]);
        }
        i += 2 + len;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
        out.into_inner()
    }

    #[test]
    fn scale_keeps_the_target() {
        assert_eq!(scale_numerator(6000, 4000, 640), 1);
        assert_eq!(scale_numerator(6000, 4000, 2048), 4);
        assert_eq!(scale_numerator(6000, 4000, 5000), 8);
        assert_eq!(scale_numerator(100, 50, 640), 8);
    }

    #[test]
    fn decodes_at_scale() {
        let data = jpeg(800, 600);
        let h = header(&data).unwrap();
        assert_eq!((h.width, h.height), (800, 600));
        let img = decode_scaled(&data, 2).unwrap();
        assert_eq!((img.width, img.height), (200, 150));
        assert!(is_complete(&data));
    }

    #[test]
    fn truncation_and_garbage_are_errors() {
        let data = jpeg(400, 300);
        assert!(!is_complete(&data[..data.len() / 2]));
        assert!(header(b"\xFF\xD8\xFF\xE0garbage").is_err());
        assert!(decode_scaled(&data[..200], 8).is_err() || !is_complete(&data[..200]));
    }
}
