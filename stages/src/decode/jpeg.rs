//! JPEG through libjpeg-turbo (the `mozjpeg` build) with DCT-domain scaling:
//! the decoder produces 1/2, 1/4 or 1/8 of the size directly, which is the
//! largest single speed lever of the whole pipeline.

use std::cell::RefCell;
use std::os::raw::c_int;
use std::panic::{AssertUnwindSafe, catch_unwind};

use mozjpeg_sys::jpeg_common_struct;

use crate::working::Rgb;

thread_local! {
    /// libjpeg's warnings during the current decode on this thread.
    static WARNINGS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn message(cinfo: &mut jpeg_common_struct) -> String {
    // SAFETY: `err` points to the error manager libjpeg was set up with; its
    // format_message writes at most 80 bytes into the buffer (JMSG_LENGTH_MAX).
    unsafe {
        let Some(format) = cinfo.err.as_ref().and_then(|e| e.format_message) else {
            return "libjpeg error".into();
        };
        let mut buffer = [0u8; 80];
        let format: unsafe extern "C-unwind" fn(&mut jpeg_common_struct, &mut [u8; 80]) =
            std::mem::transmute(format);
        format(cinfo, &mut buffer);
        let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
        String::from_utf8_lossy(&buffer[..end]).into_owned()
    }
}

unsafe extern "C-unwind" fn on_message(cinfo: &mut jpeg_common_struct, level: c_int) {
    if level < 0 {
        let m = message(cinfo);
        WARNINGS.with(|w| w.borrow_mut().push(m));
    }
}

unsafe extern "C-unwind" fn on_error(cinfo: &mut jpeg_common_struct) {
    // libjpeg must not continue after a fatal error: unwind to the catch_unwind below.
    std::panic::resume_unwind(Box::new(message(cinfo)));
}

fn error_manager() -> mozjpeg_sys::jpeg_error_mgr {
    // SAFETY: jpeg_std_error initialises every field of a zeroed error manager.
    let mut err: mozjpeg_sys::jpeg_error_mgr = unsafe { std::mem::zeroed() };
    unsafe { mozjpeg_sys::jpeg_std_error(&mut err) };
    err.error_exit = Some(on_error);
    err.emit_message = Some(on_message);
    err
}

/// Warnings that mean the image data itself is damaged (libjpeg would paint
/// the rest grey), as opposed to harmless ones (extraneous bytes, odd JFIF versions).
fn is_damage(warning: &str) -> bool {
    let w = warning.to_ascii_lowercase();
    w.contains("premature end")
        || w.contains("bad huffman")
        || w.contains("resync")
        || w.contains("corrupt jpeg data: bad")
}

fn decompress(bytes: &[u8]) -> Result<mozjpeg::Decompress<&[u8]>, String> {
    mozjpeg::Decompress::with_err(error_manager())
        .from_mem(bytes)
        .map_err(|e| e.to_string())
}

/// Header facts, read without decoding.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub width: u32,
    pub height: u32,
}

fn unwind_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "decoder error".into())
}

/// Reads the header (libjpeg reports errors by unwinding; caught here).
pub fn header(bytes: &[u8]) -> Result<Header, String> {
    catch_unwind(AssertUnwindSafe(|| -> Result<Header, String> {
        let d = decompress(bytes)?;
        Ok(Header {
            width: d.width() as u32,
            height: d.height() as u32,
        })
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

/// Whether libjpeg-turbo decodes with SIMD here: built with it (the
/// `jpeg-simd` feature, and `nasm` at build time on x86) and supported by
/// this CPU.
pub fn simd() -> bool {
    unsafe extern "C" {
        // libjpeg-turbo's SIMD dispatch (jsimd.c, or jsimd_none.c without SIMD).
        fn jsimd_can_idct_islow() -> std::ffi::c_int;
    }
    // SAFETY: takes nothing, reads the CPU's features once.
    unsafe { jsimd_can_idct_islow() != 0 }
}

/// Decodes at `numerator/8` of full size to RGB.
pub fn decode_scaled(bytes: &[u8], numerator: u8) -> Result<Rgb, String> {
    WARNINGS.with(|w| w.borrow_mut().clear());
    let rgb = catch_unwind(AssertUnwindSafe(|| -> Result<Rgb, String> {
        let mut d = decompress(bytes)?;
        d.scale(numerator);
        let mut started = d.rgb().map_err(|e| e.to_string())?;
        let width = started.width() as u32;
        let height = started.height() as u32;
        let pixels: Vec<u8> = started.read_scanlines().map_err(|e| e.to_string())?;
        if pixels.len() != width as usize * height as usize * 3 {
            return Err("truncated image data".into());
        }
        started.finish().map_err(|e| e.to_string())?;
        Ok(Rgb {
            width,
            height,
            pixels,
        })
    }))
    .map_err(unwind_message)??;
    let damage = WARNINGS.with(|w| w.borrow_mut().drain(..).find(|m| is_damage(m)));
    match damage {
        Some(warning) => Err(format!("damaged image data: {warning}")),
        None => Ok(rgb),
    }
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

    /// Where `nasm` is here (as in CI), the SIMD build is the one linked.
    #[test]
    fn simd_is_on_where_nasm_could_build_it() {
        let nasm = std::process::Command::new("nasm")
            .arg("-v")
            .output()
            .is_ok();
        if cfg!(feature = "jpeg-simd") && cfg!(target_arch = "x86_64") && nasm {
            assert!(super::simd(), "built with nasm and jpeg-simd, yet no SIMD");
        } else {
            eprintln!("no nasm or no jpeg-simd: SIMD is {}", super::simd());
        }
    }

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
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
    fn damaged_entropy_data_is_an_error() {
        // Cut a piece out of the scan data: libjpeg warns and paints grey; Facet fails the photo.
        let mut data = jpeg(640, 480);
        let mid = data.len() / 2;
        data.drain(mid..mid + 4000);
        let e = decode_scaled(&data, 1).unwrap_err();
        assert!(e.contains("damaged image data"), "{e}");
        // The same decoder still works afterwards (warnings are per decode).
        assert!(decode_scaled(&jpeg(64, 64), 8).is_ok());
    }

    #[test]
    fn truncation_and_garbage_are_errors() {
        let data = jpeg(400, 300);
        assert!(!is_complete(&data[..data.len() / 2]));
        assert!(header(b"\xFF\xD8\xFF\xE0garbage").is_err());
        assert!(decode_scaled(&data[..200], 8).is_err() || !is_complete(&data[..200]));
    }
}
