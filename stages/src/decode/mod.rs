//! `decode`: one decode per photo, to a working image no larger than the
//! largest side any later stage asks for.
//!
//! JPEG uses DCT-domain downscaling (1/2, 1/4, 1/8) then a resize to the
//! working size; RAW files decode through their largest embedded preview JPEG
//! when it covers the working size, else from the sensor data (`raw`, rawler);
//! PNG, TIFF, WebP, GIF and BMP through the `image` crate; JPEG XL through
//! `jxl-oxide`; HEIF/HEIC and AVIF through libheif, loaded at run time
//! (`heif`: grid images, `irot`/`imir`, a covering thumbnail when there is
//! one). The EXIF orientation is applied, except to HEIF/AVIF, whose
//! transforms libheif applies from the container. The format is told by the
//! content, not the name (`sniff`: a HEIC named `.jpg` decodes as HEIC).
//! Zero-byte, truncated and corrupt files, decoder panics and absurd
//! dimensions fail the photo with a reason; the run goes on.

pub mod heif;
pub mod jpeg;
pub mod raw;
pub mod sniff;

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{Float32Builder, Int32Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use facet_engine::{
    Budget, BuildCx, Built, Diagnostic, PlanCx, Stage, StageCx, StageError, StageKind, StagePlan,
};
use fast_image_resize as fr;
use serde::Deserialize;

use crate::working::{self, Rgb, photos_field, with_columns};
use sniff::Format;

pub struct Decode;

/// `with:` of `decode`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecodeConfig {
    /// Upper bound of the working image's longest side; the planner lowers it
    /// to the largest side a later stage asks for.
    #[serde(default = "default_max_side")]
    pub max_side: u32,
    /// Photos with more pixels than this are rejected as absurd.
    #[serde(default = "default_max_pixels")]
    pub max_megapixels: f64,
}

fn default_max_side() -> u32 {
    2048
}
fn default_max_pixels() -> f64 {
    400.0
}

impl StageKind for Decode {
    const NAME: &'static str = "decode";
    const DOC: &'static str =
        "Decodes each photo once (DCT-scaled JPEG, RAW previews), applies EXIF orientation.";
    type Config = DecodeConfig;

    fn plan(&self, cfg: &DecodeConfig, _cx: &PlanCx) -> Result<StagePlan, Vec<Diagnostic>> {
        let mut problems = Vec::new();
        if !(16..=16384).contains(&cfg.max_side) {
            problems.push(Diagnostic::new(
                "max_side",
                format!("{} is out of range 16..=16384", cfg.max_side),
            ));
        }
        if cfg.max_megapixels.is_nan() || cfg.max_megapixels <= 0.0 {
            problems.push(Diagnostic::new("max_megapixels", "must be positive"));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut writes = working::fields();
        writes.extend(["format", "width", "height", "decode_scale"].map(photos_field));
        let side = cfg.max_side as u64;
        Ok(StagePlan {
            reads: vec![photos_field("path")],
            writes,
            // The working image, plus the scaled decode it is resized from.
            bytes_per_photo: side * side * 3 * 2,
            ..Default::default()
        })
    }

    fn build(&self, cfg: &DecodeConfig, cx: &BuildCx) -> Result<Built, StageError> {
        let side = cx.image_side.map_or(cfg.max_side, |s| s.min(cfg.max_side));
        Ok(Built::Transform(Box::new(Decoder {
            side,
            max_pixels: (cfg.max_megapixels * 1e6) as u64,
            budget: cx.budget.clone(),
            resizer: fr::Resizer::new(),
        })))
    }
}

/// A decoded photo.
#[derive(Debug)]
pub struct Decoded {
    pub format: String,
    /// Original size after orientation.
    pub width: u32,
    pub height: u32,
    pub image: Rgb,
    pub scale: f32,
}

pub struct Decoder {
    pub side: u32,
    pub max_pixels: u64,
    pub budget: Budget,
    resizer: fr::Resizer,
}

impl Decoder {
    /// A decoder outside a pipeline (benchmarks, tests).
    pub fn new(side: u32, budget: Budget) -> Self {
        Decoder {
            side,
            max_pixels: (default_max_pixels() * 1e6) as u64,
            budget,
            resizer: fr::Resizer::new(),
        }
    }

    /// Decodes one file; `Err` is the reason the photo fails.
    pub fn decode_file(&mut self, path: &Path) -> Result<Decoded, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
        if bytes.is_empty() {
            return Err("empty file (0 bytes)".into());
        }
        match catch_unwind(AssertUnwindSafe(|| self.decode_bytes(&bytes, path))) {
            Ok(r) => r,
            Err(p) => Err(format!(
                "decoder panicked: {}",
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            )),
        }
    }

    pub fn decode_bytes(&mut self, bytes: &[u8], path: &Path) -> Result<Decoded, String> {
        let format = sniff::sniff(bytes, path);
        // HEIF's transforms are container properties that libheif applies;
        // its EXIF Orientation only repeats them.
        let orientation = match format {
            Format::Heif | Format::Avif => 1,
            _ => orientation(bytes),
        };
        let (image, full_w, full_h) = match format {
            Format::Jpeg => self.jpeg(bytes)?,
            Format::Raw => self.raw(bytes)?,
            Format::Png | Format::Tiff | Format::Webp | Format::Gif | Format::Bmp => {
                self.generic(bytes)?
            }
            Format::Jxl => self.jxl(bytes)?,
            Format::Heif => self.heif(bytes, heif::Codec::Hevc)?,
            Format::Avif => self.heif(bytes, heif::Codec::Av1)?,
            Format::Unknown => {
                return Err("unsupported or corrupt: not a recognised image format".into());
            }
        };
        let image = self.fit(image)?;
        let (image, width, height) = orient(image, full_w, full_h, orientation);
        let scale = image.width.max(image.height) as f32 / width.max(height).max(1) as f32;
        Ok(Decoded {
            format: format.name(path),
            width,
            height,
            image,
            scale,
        })
    }

    fn check_dims(&self, w: u32, h: u32) -> Result<(), String> {
        if w == 0 || h == 0 {
            return Err(format!("corrupt: image dimensions {w}x{h}"));
        }
        if w as u64 * h as u64 > self.max_pixels {
            return Err(format!(
                "absurd dimensions {w}x{h} ({:.0} MP, limit {:.0} MP)",
                w as f64 * h as f64 / 1e6,
                self.max_pixels as f64 / 1e6
            ));
        }
        Ok(())
    }

    fn jpeg(&mut self, bytes: &[u8]) -> Result<(Rgb, u32, u32), String> {
        let h = jpeg::header(bytes).map_err(|e| format!("corrupt JPEG: {e}"))?;
        self.check_dims(h.width, h.height)?;
        if !jpeg::is_complete(bytes) {
            return Err("truncated JPEG: the image data ends before its end marker".into());
        }
        let n = jpeg::scale_numerator(h.width, h.height, self.side);
        let out_bytes =
            (h.width as u64 * n as u64).div_ceil(8) * (h.height as u64 * n as u64).div_ceil(8) * 3;
        let _r = self.budget.reserve_transient(out_bytes)?;
        match jpeg::decode_scaled(bytes, n) {
            Ok(img) => Ok((img, h.width, h.height)),
            // CMYK and other colour spaces libjpeg will not convert to RGB.
            Err(e) if e.contains("color") || e.contains("colour") || e.contains("Unsupported") => {
                self.generic(bytes)
            }
            Err(e) => Err(format!("corrupt JPEG: {e}")),
        }
    }

    /// RAW: the largest embedded preview when it covers the working size,
    /// else the sensor data; the preview after all when the sensor data
    /// cannot be developed.
    fn raw(&mut self, bytes: &[u8]) -> Result<(Rgb, u32, u32), String> {
        let preview = raw::largest_preview(bytes);
        if let Some((offset, h)) = preview
            && h.width.max(h.height) >= self.side
        {
            return self.jpeg(&bytes[offset..]);
        }
        // rawler may panic on a camera it half knows: the preview stays an option.
        let developed = catch_unwind(AssertUnwindSafe(|| {
            let sensor = raw::Sensor::decode(bytes)?;
            let (w, h) = sensor.size();
            self.check_dims(w, h)?;
            let _r = self
                .budget
                .reserve_transient(w as u64 * h as u64 * raw::Sensor::BYTES_PER_PIXEL)?;
            sensor.develop()
        }))
        .unwrap_or_else(|_| Err("rawler panicked".into()));
        match (developed, preview) {
            (Ok(d), _) => Ok(d),
            (Err(_), Some((offset, _))) => self.jpeg(&bytes[offset..]),
            (Err(e), None) => Err(format!(
                "RAW file without an embedded preview JPEG, and its sensor data cannot be decoded: {e}"
            )),
        }
    }

    /// HEIF/HEIC or AVIF: libheif decodes the primary image (or a thumbnail
    /// that covers the working size) in display orientation.
    fn heif(&mut self, bytes: &[u8], codec: heif::Codec) -> Result<(Rgb, u32, u32), String> {
        let mut reservation = None;
        let d = heif::decode(bytes, codec, self.side, |w, h| {
            self.check_dims(w, h)?;
            // The RGB image, libheif's YCbCr planes and its grid's tiles.
            reservation = Some(self.budget.reserve_transient(w as u64 * h as u64 * 6)?);
            Ok(())
        })?;
        drop(reservation);
        Ok((d.image, d.width, d.height))
    }

    fn generic(&mut self, bytes: &[u8]) -> Result<(Rgb, u32, u32), String> {
        let reader = image::ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| e.to_string())?;
        let (w, h) = reader
            .into_dimensions()
            .map_err(|e| format!("corrupt: {e}"))?;
        self.check_dims(w, h)?;
        let _r = self.budget.reserve_transient(w as u64 * h as u64 * 8)?;
        let mut reader = image::ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| e.to_string())?;
        reader.no_limits();
        let img = reader
            .decode()
            .map_err(|e| format!("corrupt: {e}"))?
            .to_rgb8();
        Ok((
            Rgb {
                width: w,
                height: h,
                pixels: img.into_raw(),
            },
            w,
            h,
        ))
    }

    fn jxl(&mut self, bytes: &[u8]) -> Result<(Rgb, u32, u32), String> {
        let image = jxl_oxide::JxlImage::builder()
            .read(Cursor::new(bytes))
            .map_err(|e| format!("corrupt JPEG XL: {e}"))?;
        let (w, h) = (image.width(), image.height());
        self.check_dims(w, h)?;
        let _r = self.budget.reserve_transient(w as u64 * h as u64 * 16)?;
        let render = image
            .render_frame(0)
            .map_err(|e| format!("corrupt JPEG XL: {e}"))?;
        let fb = render.image_all_channels();
        let channels = fb.channels();
        let (fw, fh) = (fb.width() as u32, fb.height() as u32);
        let buf = fb.buf();
        let mut pixels = Vec::with_capacity(fw as usize * fh as usize * 3);
        for px in buf.chunks_exact(channels) {
            let (r, g, b) = if channels >= 3 {
                (px[0], px[1], px[2])
            } else {
                (px[0], px[0], px[0])
            };
            pixels.extend([r, g, b].map(|v| (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8));
        }
        Ok((
            Rgb {
                width: fw,
                height: fh,
                pixels,
            },
            w,
            h,
        ))
    }

    /// Resizes so that the longest side is at most `self.side`.
    fn fit(&mut self, img: Rgb) -> Result<Rgb, String> {
        let longest = img.width.max(img.height);
        if longest <= self.side {
            return Ok(img);
        }
        let f = self.side as f64 / longest as f64;
        let w = ((img.width as f64 * f).round() as u32).max(1);
        let h = ((img.height as f64 * f).round() as u32).max(1);
        resize(&mut self.resizer, &img, w, h)
    }
}

/// Resizes an RGB image with a bilinear convolution (area-aware when shrinking).
pub fn resize(resizer: &mut fr::Resizer, img: &Rgb, w: u32, h: u32) -> Result<Rgb, String> {
    let src = fr::images::ImageRef::new(img.width, img.height, &img.pixels, fr::PixelType::U8x3)
        .map_err(|e| e.to_string())?;
    let mut dst = fr::images::Image::new(w, h, fr::PixelType::U8x3);
    let opts =
        fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Bilinear));
    resizer
        .resize(&src, &mut dst, &opts)
        .map_err(|e| e.to_string())?;
    Ok(Rgb {
        width: w,
        height: h,
        pixels: dst.into_vec(),
    })
}

/// The EXIF orientation (1 when absent).
pub fn orientation(bytes: &[u8]) -> u8 {
    exif::Reader::new()
        .read_from_container(&mut Cursor::new(bytes))
        .ok()
        .and_then(|e| {
            e.get_field(exif::Tag::Orientation, exif::In::PRIMARY)
                .and_then(|f| f.value.get_uint(0))
        })
        .map(|o| o as u8)
        .filter(|o| (1..=8).contains(o))
        .unwrap_or(1)
}

/// Applies an EXIF orientation to the working image and the original size.
fn orient(img: Rgb, w: u32, h: u32, orientation: u8) -> (Rgb, u32, u32) {
    let Some(o) = image::metadata::Orientation::from_exif(orientation) else {
        return (img, w, h);
    };
    if orientation == 1 {
        return (img, w, h);
    }
    let buf = image::RgbImage::from_raw(img.width, img.height, img.pixels)
        .expect("buffer matches its size");
    let mut dynimg = image::DynamicImage::ImageRgb8(buf);
    dynimg.apply_orientation(o);
    let out = dynimg.into_rgb8();
    let (ow, oh) = if orientation >= 5 { (h, w) } else { (w, h) };
    (
        Rgb {
            width: out.width(),
            height: out.height(),
            pixels: out.into_raw(),
        },
        ow,
        oh,
    )
}

impl Stage for Decoder {
    fn process(&mut self, batch: RecordBatch, cx: &mut StageCx) -> Result<RecordBatch, StageError> {
        let paths = working::paths(&batch)?;
        let mut images = working::Builder::default();
        let mut format = StringBuilder::new();
        let mut width = Int32Builder::new();
        let mut height = Int32Builder::new();
        let mut scale = Float32Builder::new();
        for row in 0..batch.num_rows() {
            match self.decode_file(Path::new(paths.value(row))) {
                Ok(d) => {
                    images.push(Some(&d.image));
                    format.append_value(&d.format);
                    width.append_value(d.width as i32);
                    height.append_value(d.height as i32);
                    scale.append_value(d.scale);
                }
                Err(reason) => {
                    cx.fail(row, reason);
                    images.push(None);
                    format.append_null();
                    width.append_null();
                    height.append_null();
                    scale.append_null();
                }
            }
        }
        let mut fields = working::fields();
        fields.extend(["format", "width", "height", "decode_scale"].map(photos_field));
        let mut columns = images.finish();
        columns.extend([
            Arc::new(format.finish()) as ArrayRef,
            Arc::new(width.finish()),
            Arc::new(height.finish()),
            Arc::new(scale.finish()),
        ]);
        with_columns(batch, fields, columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(img: &image::RgbImage, fmt: image::ImageFormat) -> Vec<u8> {
        let mut c = Cursor::new(Vec::new());
        img.write_to(&mut c, fmt).unwrap();
        c.into_inner()
    }

    fn decoder(side: u32) -> Decoder {
        Decoder::new(side, Budget::new(1 << 30))
    }

    #[test]
    fn jpeg_is_scaled_to_the_working_side() {
        let img = image::RgbImage::from_fn(3000, 2000, |x, _| image::Rgb([(x / 12) as u8, 0, 0]));
        let d = decoder(640)
            .decode_bytes(&encode(&img, image::ImageFormat::Jpeg), Path::new("a.jpg"))
            .unwrap();
        assert_eq!((d.width, d.height), (3000, 2000));
        assert_eq!((d.image.width, d.image.height), (640, 427));
        assert_eq!(d.format, "jpeg");
    }

    #[test]
    fn png_and_small_images_keep_their_size() {
        let img = image::RgbImage::from_fn(300, 200, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let d = decoder(640)
            .decode_bytes(&encode(&img, image::ImageFormat::Png), Path::new("a.png"))
            .unwrap();
        assert_eq!((d.image.width, d.image.height), (300, 200));
        assert_eq!(d.image.pixels, img.into_raw());
    }

    #[test]
    fn bad_inputs_fail_with_reasons() {
        let mut d = decoder(640);
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.jpg");
        std::fs::write(&empty, b"").unwrap();
        assert!(d.decode_file(&empty).unwrap_err().contains("0 bytes"));
        let img = image::RgbImage::from_fn(400, 300, |x, y| image::Rgb([x as u8, y as u8, 0]));
        let data = encode(&img, image::ImageFormat::Jpeg);
        assert!(
            d.decode_bytes(&data[..data.len() / 2], Path::new("t.jpg"))
                .unwrap_err()
                .contains("truncated")
        );
        assert!(
            d.decode_bytes(b"\xFF\xD8\xFF\xE0 not really", Path::new("c.jpg"))
                .unwrap_err()
                .contains("corrupt")
        );
        // A HEIC with its `ftyp` box and nothing else.
        let e = d
            .decode_bytes(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", Path::new("x.heic"))
            .unwrap_err();
        assert!(e.contains("corrupt HEIF"), "{e}");
        assert!(
            d.decode_bytes(b"hello world", Path::new("x.jpg"))
                .unwrap_err()
                .contains("not a recognised")
        );
    }

    #[test]
    fn absurd_dimensions_are_refused_before_allocating() {
        // A PNG header claiming 100000 x 100000 pixels.
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend(100_000u32.to_be_bytes());
        png.extend(100_000u32.to_be_bytes());
        png.extend([8, 2, 0, 0, 0]);
        png.extend(crc32fast::hash(&png[12..]).to_be_bytes());
        // An empty IDAT so that the header parses completely.
        png.extend(b"\0\0\0\0IDAT");
        png.extend(crc32fast::hash(b"IDAT").to_be_bytes());
        let e = decoder(640)
            .decode_bytes(&png, Path::new("huge.png"))
            .unwrap_err();
        assert!(e.contains("absurd dimensions 100000x100000"), "{e}");
    }

    #[test]
    fn orientation_rotates_image_and_size() {
        let img = Rgb {
            width: 4,
            height: 2,
            pixels: vec![0; 24],
        };
        let (o, w, h) = orient(img, 400, 200, 6);
        assert_eq!((o.width, o.height, w, h), (2, 4, 200, 400));
    }

    /// `../shared/photos/cameras` (every developer and CI has it beside the
    /// checkout), or `None` with a note.
    fn shared_cameras() -> Option<std::path::PathBuf> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/photos/cameras");
        if p.is_dir() {
            Some(p)
        } else {
            crate::fixtures::absent("decode", &format!("{} is absent", p.display()));
            None
        }
    }

    /// Every HEIF/HEIC and AVIF file of the shared collection, through
    /// libheif: grid images assembled, `irot` applied (the sizes are those in
    /// display orientation), the EXIF Orientation of a HEIC not applied twice.
    #[test]
    fn heif_and_avif_decode_in_display_orientation() {
        let Some(dir) = shared_cameras() else {
            return;
        };
        let mut d = decoder(1024);
        // (file, format, size after the transforms, how they get there)
        let cases = [
            // 6 × 8 grid of 512 px HEVC tiles, irot 270 (EXIF says 4032 × 3024, orientation 6).
            ("heic/mobile/iphone_13_pro_max.heic", "heif", (3024, 4032)),
            // 7 × 9 grid, ispe 4608 × 3456, irot 270, EXIF orientation 1.
            ("heic/mobile/HMD_Nokia_8.3_5G.heif", "heif", (3456, 4608)),
            // 9 × 7 grid, no transform.
            (
                "heic/mobile/HMD_Nokia_8.3_5G_hdr.heif",
                "heif",
                (4608, 3456),
            ),
            // A 3 × 3 grid in a file named .jpg.
            ("heic/heic_hdlr_box.jpg", "heif", (1440, 1440)),
            ("heic/spring_1440x960.heic", "heif", (1440, 960)),
            ("heic/samplefilehub.heif", "heif", (640, 426)),
            ("avif/mountains.avif", "avif", (1920, 1080)),
        ];
        for (file, format, size) in cases {
            let got = d
                .decode_file(&dir.join(file))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(got.format, format, "{file}");
            assert_eq!((got.width, got.height), size, "{file}");
            // The working image has the photo's shape, at the working size.
            let (w, h) = (got.image.width, got.image.height);
            assert_eq!(w.max(h), 1024.min(size.0.max(size.1)), "{file}: {w}x{h}");
            assert!(
                (w as f64 / h as f64 - size.0 as f64 / size.1 as f64).abs() < 0.01,
                "{file}: {w}x{h}"
            );
            // Real pixels: not one flat colour (a failed tile decodes grey).
            let px = &got.image.pixels;
            let mean = px.iter().map(|&v| v as f64).sum::<f64>() / px.len() as f64;
            let var = px.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / px.len() as f64;
            assert!(var > 100.0, "{file}: variance {var}");
        }
    }

    /// A working size that the iPhone's 240 × 320 thumbnail covers decodes
    /// the thumbnail: the same picture, the same way up, as the primary
    /// image brought to that size.
    #[test]
    fn a_covering_heic_thumbnail_shows_the_primary_image() {
        let Some(dir) = shared_cameras() else {
            return;
        };
        let path = dir.join("heic/mobile/iphone_13_pro_max.heic");
        let small = decoder(320).decode_file(&path).unwrap();
        let large = decoder(1024).decode_file(&path).unwrap();
        assert_eq!((small.width, small.height), (3024, 4032));
        assert_eq!((small.image.width, small.image.height), (240, 320));
        let mut resizer = fr::Resizer::new();
        let shrunk = resize(&mut resizer, &large.image, 240, 320).unwrap();
        let diff = |a: &Rgb, b: &Rgb| {
            a.pixels
                .iter()
                .zip(&b.pixels)
                .map(|(x, y)| x.abs_diff(*y) as f64)
                .sum::<f64>()
                / a.pixels.len() as f64
        };
        let same = diff(&small.image, &shrunk);
        assert!(same < 12.0, "thumbnail vs primary: mean difference {same}");
        // Upside down, the same comparison fails: the test can tell.
        let (flipped, _, _) = orient(
            Rgb {
                width: 240,
                height: 320,
                pixels: shrunk.pixels.clone(),
            },
            240,
            320,
            3,
        );
        assert!(diff(&small.image, &flipped) > 2.0 * same);
    }

    /// The primary image's EXIF of a HEIC, through libheif: the values
    /// exiftool reads (tests/fixtures/exiftool.json).
    #[test]
    fn heic_exif_is_the_primary_images() {
        let Some(dir) = shared_cameras() else {
            return;
        };
        let bytes = std::fs::read(dir.join("heic/mobile/iphone_13_pro_max.heic")).unwrap();
        let tiff = heif::primary_exif(&bytes).unwrap().expect("an EXIF block");
        assert!(tiff.starts_with(b"MM\0*") || tiff.starts_with(b"II*\0"));
        let e = crate::exif::extract(&bytes).unwrap();
        assert_eq!(e.camera_model.as_deref(), Some("iPhone 13 Pro Max"));
        assert_eq!(e.orientation, Some(6));
        assert_eq!(e.iso, Some(250));
        assert_eq!(
            e.date_taken.as_deref(),
            Some("2022-02-16T12:55:41.762+01:00")
        );
        // The AVIF's, too.
        let bytes = std::fs::read(dir.join("avif/mountains.avif")).unwrap();
        let e = crate::exif::extract(&bytes).unwrap();
        assert_eq!(e.camera_model.as_deref(), Some("E-PL8"));
        // The Olympus maker note's lens type, named as exiftool names it.
        assert_eq!(e.lens.as_deref(), Some("Leica DG Summilux 25mm F1.4 Asph."));
        // A HEIC without EXIF has none.
        let bytes = std::fs::read(dir.join("heic/heic_hdlr_box.jpg")).unwrap();
        assert_eq!(heif::primary_exif(&bytes).unwrap(), None);
    }

    /// The shared collection's Sony ARW holds its metadata only (8 KB: the
    /// preview and the sensor data it points to lie past its end), so it
    /// fails, saying so; the Nikon DNG's sensor data is decoded or its
    /// preview used.
    #[test]
    fn raw_files_without_a_covering_preview_use_the_sensor_data() {
        let Some(dir) = shared_cameras() else {
            return;
        };
        let mut d = decoder(1024);
        let e = d
            .decode_file(&dir.join("raw/sony_alpha_a7iii_raw_image.ARW"))
            .unwrap_err();
        assert!(e.contains("sensor data cannot be decoded"), "{e}");
        let dng = d
            .decode_file(
                &dir.join(
                    "raw/nikon_z_9_high_efficiency_compressed_dx_cropped_max_overexposed.dng",
                ),
            )
            .unwrap();
        assert_eq!(dng.format, "raw-dng");
        eprintln!(
            "DNG: {}x{} from a {}x{} working image",
            dng.width, dng.height, dng.image.width, dng.image.height
        );
    }
}
