//! Reads the camera metadata (EXIF) Facet needs from a photo's bytes.
//!
//! Containers are located by small, bounds-checked walkers of our own (JPEG, PNG, WebP, JPEG XL,
//! bare TIFF / TIFF-based RAW, a raw `Exif\0\0` blob); HEIF/HEIC/AVIF through libheif (the
//! primary image's EXIF item, `decode::heif::primary_exif`), else through
//! `exif::Reader::read_from_container`. The TIFF structure itself is always parsed by
//! kamadak-exif with `continue_on_error`, so one broken IFD does not hide the others.
//!
//! Values follow exiftool's reading of the standard EXIF tags; where they are missing, the
//! maker notes (`makernote.rs`: lens IDs resolved to names, ISO, the camera's own date) and the
//! XMP packet (`xmp.rs`) fill in, as exiftool's composite tags do. `tests/it/exif_oracle.rs`
//! compares the result with exiftool itself on the shared photo collection.

use std::io::Cursor;

use exif::{Context, Exif, In, Reader, Tag, Value};

/// Everything Facet reads from a photo's metadata. All optional: a photo without EXIF yields all None.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExifData {
    /// Trimmed, e.g. "Canon".
    pub camera_make: Option<String>,
    pub camera_model: Option<String>,
    /// LensModel; when absent, the LensSpecification range ("24-70mm f/4", exiftool's LensInfo
    /// wording) prefixed with LensMake when that is recorded.
    pub lens: Option<String>,
    /// PhotographicSensitivity (ISOSpeedRatings). When it is saturated at 65535 (or missing), the
    /// value that SensitivityType names (ISOSpeed, RecommendedExposureIndex,
    /// StandardOutputSensitivity), as the EXIF 2.3 specification prescribes.
    pub iso: Option<i64>,
    pub f_number: Option<f64>,
    /// ExposureTime in seconds.
    pub shutter_speed: Option<f64>,
    /// Like exiftool's ExposureTime print: "1/250", "0.5", "2", "30".
    pub shutter_speed_text: Option<String>,
    /// Millimetres.
    pub focal_length: Option<f64>,
    /// FocalLengthIn35mmFilm.
    pub focal_length_35mm: Option<f64>,
    /// ISO 8601 local time from DateTimeOriginal (fallback DateTimeDigitized, DateTime) with
    /// sub-seconds (SubSecTimeOriginal etc.) and offset (OffsetTimeOriginal etc.) when present:
    /// "2019-06-01T14:03:22.45+02:00" or "2019-06-01T14:03:22".
    pub date_taken: Option<String>,
    /// Signed decimal degrees (S negative).
    pub gps_lat: Option<f64>,
    /// Signed decimal degrees (W negative).
    pub gps_lon: Option<f64>,
    /// Metres, negative when GPSAltitudeRef = 1.
    pub gps_alt: Option<f64>,
    /// 1..=8.
    pub orientation: Option<u16>,
    /// True when `date_taken` is only the file's DateTime (ModifyDate): an XMP
    /// DateTimeOriginal then wins, as in exiftool.
    pub date_is_modify_time: bool,
    /// PixelXDimension / ImageWidth as recorded.
    pub exif_width: Option<u32>,
    pub exif_height: Option<u32>,
}

/// Reads metadata from the whole file's bytes. Handles JPEG, TIFF and TIFF-based RAW (DNG, NEF, ARW, CR2, ORF, PEF, SRW, RW2 where kamadak-exif can), HEIF/HEIC/AVIF containers, PNG and WebP (whatever `exif::Reader::read_from_container` supports).
/// Ok(ExifData::default()) when the file simply has no EXIF; Err(reason) only for malformed metadata that a user should hear about (the caller treats it as a warning, not a failure).
///
/// Also reads JPEG XL containers (an uncompressed `Exif` box) and a bare `Exif\0\0` + TIFF blob.
/// When the EXIF structure is only partly readable, whatever could be read is returned as `Ok`;
/// `Err` comes only when nothing usable could be read from metadata that is there but broken.
pub fn extract(bytes: &[u8]) -> Result<ExifData, String> {
    // The walkers below are bounds-checked and the TIFF parser is meant not to panic, but this
    // runs on untrusted files: a panic deep inside a dependency must become a warning, not a crash.
    std::panic::catch_unwind(|| extract_inner(bytes))
        .unwrap_or_else(|_| Err("EXIF parser failed on malformed metadata".to_string()))
}

fn extract_inner(bytes: &[u8]) -> Result<ExifData, String> {
    let found = match locate(bytes) {
        Located::Tiff(tiff) => parse_tiff(tiff),
        Located::Container => parse_container(bytes),
        Located::None => Ok(ExifData::default()),
    };
    let mut data = match found {
        Ok(d) => d,
        Err(e) => {
            // Broken EXIF: the XMP may still say something.
            let mut d = ExifData::default();
            fill_from_legacy(&mut d, bytes);
            fill_from_xmp(&mut d, bytes);
            return if d == ExifData::default() {
                Err(e)
            } else {
                Ok(d)
            };
        }
    };
    fill_from_legacy(&mut data, bytes);
    fill_from_xmp(&mut data, bytes);
    Ok(data)
}

/// Pre-EXIF JPEG metadata (Canon CIFF, Olympus picture info) where the EXIF lacks a field.
fn fill_from_legacy(data: &mut ExifData, bytes: &[u8]) {
    if !bytes.starts_with(&[0xFF, 0xD8])
        || (data.camera_make.is_some()
            && data.f_number.is_some()
            && data.shutter_speed.is_some()
            && data.focal_length.is_some()
            && data.date_taken.is_some())
    {
        return;
    }
    let l = super::legacy::read(bytes);
    data.camera_make = data.camera_make.take().or(l.make);
    data.camera_model = data.camera_model.take().or(l.model);
    data.f_number = data.f_number.or(l.f_number);
    if data.shutter_speed.is_none() {
        data.shutter_speed = l.exposure;
        data.shutter_speed_text = l.exposure.map(exposure_text);
    }
    data.focal_length = data.focal_length.or(l.focal_length);
    if data.date_taken.is_none() {
        data.date_taken = l.date;
    }
}

/// The XMP packet's camera fields where the EXIF lacks them (exiftool reads both).
fn fill_from_xmp(data: &mut ExifData, bytes: &[u8]) {
    let missing = data.camera_make.is_none()
        || data.camera_model.is_none()
        || data.iso.is_none()
        || data.f_number.is_none()
        || data.shutter_speed.is_none()
        || data.focal_length.is_none()
        || data.date_taken.is_none()
        || data.date_is_modify_time;
    if !missing {
        return;
    }
    let Some(x) = super::xmp::read(bytes) else {
        return;
    };
    data.camera_make = data.camera_make.take().or(x.make);
    data.camera_model = data.camera_model.take().or(x.model);
    data.iso = data.iso.or(x
        .iso
        .filter(|i| (1.0..1e9).contains(i))
        .map(|i| i.round() as i64));
    data.f_number = data.f_number.or(x.f_number);
    if data.shutter_speed.is_none() {
        data.shutter_speed = x.exposure;
        data.shutter_speed_text = x.exposure.map(exposure_text);
    }
    data.focal_length = data.focal_length.or(x.focal_length);
    data.focal_length_35mm = data.focal_length_35mm.or(x.focal_length_35mm);
    if (data.date_taken.is_none() || data.date_is_modify_time)
        && let Some(date) = x.date_original.as_deref().and_then(iso_text_date)
    {
        data.date_taken = Some(date);
        data.date_is_modify_time = false;
    }
}

/// An ISO 8601 / EXIF date text in Facet's form (fraction and offset kept).
fn iso_text_date(raw: &str) -> Option<String> {
    let parsed = parse_datetime(raw)?;
    let mut out = parsed.local;
    if let Some(f) = parsed.fraction {
        out.push('.');
        out.push_str(&f);
    }
    if let Some(o) = parsed.offset {
        out.push_str(&o);
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// Containers
// ---------------------------------------------------------------------------------------------

enum Located {
    /// A TIFF structure (possibly truncated) to hand to kamadak-exif.
    Tiff(Vec<u8>),
    /// A container only kamadak-exif's reader understands (HEIF family).
    Container,
    /// No EXIF in this file (or a format that cannot carry any we read).
    None,
}

const EXIF_ID: &[u8] = b"Exif\0\0";
const PNG_SIG: &[u8] = b"\x89PNG\r\n\x1a\n";
const JXL_CONTAINER_SIG: &[u8] = b"\0\0\0\x0cJXL \r\n\x87\n";

fn locate(bytes: &[u8]) -> Located {
    let found = if bytes.starts_with(&[0xFF, 0xD8]) {
        jpeg_exif(bytes)
    } else if bytes.starts_with(PNG_SIG) {
        if let Some(tiff) = png_exif(bytes)
            .map(|p| strip_exif_id(p).to_vec())
            .or_else(|| png_raw_profile(bytes))
        {
            return Located::Tiff(tiff);
        }
        None
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        webp_exif(bytes)
    } else if bytes.starts_with(JXL_CONTAINER_SIG) {
        jxl_exif(bytes)
    } else if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        return Located::Container;
    } else if let Some(tiff) = tiff_like(bytes) {
        return Located::Tiff(tiff);
    } else {
        bytes.strip_prefix(EXIF_ID)
    };
    match found {
        Some(payload) => Located::Tiff(strip_exif_id(payload).to_vec()),
        None => Located::None,
    }
}

/// Some writers keep the JPEG-style `Exif\0\0` prefix inside PNG / WebP / JXL payloads.
fn strip_exif_id(payload: &[u8]) -> &[u8] {
    payload.strip_prefix(EXIF_ID).unwrap_or(payload)
}

/// A TIFF header, or a TIFF-based RAW whose header uses another magic number than 42
/// (Olympus ORF "IIRO"/"MMOR"/"IIRS", Panasonic RW2 "IIU\0"): those are rewritten to 42 so that
/// kamadak-exif accepts the otherwise standard IFD structure.
fn tiff_like(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.len() < 8 {
        return None;
    }
    let (le, magic) = match &bytes[0..2] {
        b"II" => (true, u16::from_le_bytes([bytes[2], bytes[3]])),
        b"MM" => (false, u16::from_be_bytes([bytes[2], bytes[3]])),
        _ => return None,
    };
    match magic {
        42 => Some(bytes.to_vec()),
        0x4F52 | 0x5352 | 0x0055 => {
            let mut copy = bytes.to_vec();
            let forty_two = if le {
                42u16.to_le_bytes()
            } else {
                42u16.to_be_bytes()
            };
            copy[2..4].copy_from_slice(&forty_two);
            Some(copy)
        }
        _ => None,
    }
}

/// The payload of the first APP1 `Exif\0\0` segment (identifier removed), looking only at the
/// marker segments before the image data. A segment cut short by the end of the file yields
/// what is there; the TIFF parser then reports what it could not read.
fn jpeg_exif(bytes: &[u8]) -> Option<&[u8]> {
    let mut i = 2;
    loop {
        // Find the next marker: 0xFF followed by a non-0xFF code (0xFF fill bytes are allowed).
        while i < bytes.len() && bytes[i] != 0xFF {
            i += 1;
        }
        while i < bytes.len() && bytes[i] == 0xFF {
            i += 1;
        }
        let code = *bytes.get(i)?;
        i += 1;
        match code {
            // Start of scan / end of image: EXIF must come before.
            0xDA | 0xD9 => return None,
            // Stand-alone markers without a length.
            0x00 | 0x01 | 0xD0..=0xD8 => continue,
            _ => {}
        }
        let len = usize::from(u16::from_be_bytes([*bytes.get(i)?, *bytes.get(i + 1)?]));
        if len < 2 {
            return None;
        }
        let start = i + 2;
        let end = (i + len).min(bytes.len());
        let segment = bytes.get(start..end)?;
        if code == 0xE1 && segment.starts_with(EXIF_ID) {
            return Some(&segment[EXIF_ID.len()..]);
        }
        i += len;
    }
}

/// The `eXIf` chunk of a PNG file.
fn png_exif(bytes: &[u8]) -> Option<&[u8]> {
    let mut i = PNG_SIG.len();
    while i + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[i..i + 4].try_into().ok()?) as usize;
        let kind = &bytes[i + 4..i + 8];
        let start = i + 8;
        let end = start.checked_add(len)?;
        if kind == b"eXIf" {
            return Some(&bytes[start..end.min(bytes.len())]);
        }
        if kind == b"IEND" {
            return None;
        }
        i = end.checked_add(4)?; // + CRC
    }
    None
}

/// The legacy `Raw profile type exif` (or `APP1`) text chunk ImageMagick and old
/// exiftool versions write to PNG: `tEXt`, `zTXt` or `iTXt` whose text is
/// "\nexif\n   LENGTH\nHEX…", the hex being the APP1 payload (`Exif\0\0` + TIFF).
fn png_raw_profile(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut i = PNG_SIG.len();
    while i + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[i..i + 4].try_into().ok()?) as usize;
        let kind = &bytes[i + 4..i + 8];
        let start = i + 8;
        let end = start.checked_add(len)?;
        let data = bytes.get(start..end.min(bytes.len()))?;
        if matches!(kind, b"tEXt" | b"zTXt" | b"iTXt")
            && let Some(tiff) = raw_profile_chunk(kind, data)
        {
            return Some(tiff);
        }
        if kind == b"IEND" {
            return None;
        }
        i = end.checked_add(4)?;
    }
    None
}

fn raw_profile_chunk(kind: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    let nul = data.iter().position(|&b| b == 0)?;
    let keyword = &data[..nul];
    if keyword != b"Raw profile type exif" && keyword != b"Raw profile type APP1" {
        return None;
    }
    let rest = &data[nul + 1..];
    let text: Vec<u8> = match kind {
        b"tEXt" => rest.to_vec(),
        // compression method byte (0 = zlib), then the stream
        b"zTXt" => {
            miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(rest.get(1..)?, 64 << 20)
                .ok()?
        }
        _ => {
            // iTXt: compression flag, method, language\0, translated keyword\0, text
            let (&flag, rest) = rest.split_first()?;
            let rest = rest.get(1..)?;
            let lang = rest.iter().position(|&b| b == 0)?;
            let rest = &rest[lang + 1..];
            let tk = rest.iter().position(|&b| b == 0)?;
            let rest = &rest[tk + 1..];
            if flag == 1 {
                miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(rest, 64 << 20).ok()?
            } else {
                rest.to_vec()
            }
        }
    };
    // "\nexif\n    1234\n" then hex digits (whitespace between them).
    let mut lines = text.splitn(4, |&b| b == b'\n');
    let _blank = lines.next()?;
    let _name = lines.next()?;
    let length: usize = std::str::from_utf8(lines.next()?)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let hex = lines.next()?;
    let mut out = Vec::with_capacity(length.min(1 << 20));
    let mut high: Option<u8> = None;
    for &c in hex {
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            c if c.is_ascii_whitespace() => continue,
            _ => return None,
        };
        match high.take() {
            Some(h) => out.push(h << 4 | v),
            None => high = Some(v),
        }
        if out.len() == length {
            break;
        }
    }
    let tiff = strip_exif_id(&out);
    tiff_like(tiff).is_some().then(|| tiff.to_vec())
}

/// The `EXIF` chunk of a WebP (RIFF) file.
fn webp_exif(bytes: &[u8]) -> Option<&[u8]> {
    let mut i = 12;
    while i + 8 <= bytes.len() {
        let kind = &bytes[i..i + 4];
        let len = u32::from_le_bytes(bytes[i + 4..i + 8].try_into().ok()?) as usize;
        let start = i + 8;
        let end = start.checked_add(len)?;
        if kind == b"EXIF" {
            return Some(&bytes[start..end.min(bytes.len())]);
        }
        i = end.checked_add(len % 2)?; // chunks are padded to even sizes
    }
    None
}

/// The `Exif` box of a JPEG XL container: a 4-byte offset to the TIFF header, then the TIFF data.
/// (A Brotli-compressed `brob` box cannot be read without a Brotli decoder; it is skipped.)
fn jxl_exif(bytes: &[u8]) -> Option<&[u8]> {
    let mut i = 0;
    while i + 8 <= bytes.len() {
        let size32 = u32::from_be_bytes(bytes[i..i + 4].try_into().ok()?);
        let kind = &bytes[i + 4..i + 8];
        let (header, size) = match size32 {
            0 => (8, bytes.len() - i),
            1 => {
                let large = u64::from_be_bytes(bytes.get(i + 8..i + 16)?.try_into().ok()?);
                (16, usize::try_from(large).ok()?)
            }
            n => (8, n as usize),
        };
        if size < header {
            return None;
        }
        let end = i.checked_add(size)?;
        if kind == b"Exif" {
            let body = &bytes[i + header..end.min(bytes.len())];
            let offset = u32::from_be_bytes(body.get(0..4)?.try_into().ok()?) as usize;
            return body.get(4usize.checked_add(offset)?..);
        }
        i = end;
    }
    None
}

/// HEIF/HEIC and AVIF: the EXIF attached to the primary image, through libheif when it can
/// be loaded (a file with several images may list another image's EXIF first); otherwise, and
/// for other ISO-BMFF files, the first EXIF item kamadak-exif finds.
fn parse_container(bytes: &[u8]) -> Result<ExifData, String> {
    use crate::decode::sniff::{Format, sniff};
    if matches!(
        sniff(bytes, std::path::Path::new("")),
        Format::Heif | Format::Avif
    ) {
        match crate::decode::heif::primary_exif(bytes) {
            Ok(Some(tiff)) => return parse_tiff(tiff),
            Ok(None) => return Ok(ExifData::default()),
            Err(_) => {}
        }
    }
    let mut reader = Reader::new();
    reader.continue_on_error(true);
    match reader.read_from_container(&mut Cursor::new(bytes)) {
        Ok(exif) => Ok(from_exif(&exif)),
        Err(exif::Error::PartialResult(partial)) => from_partial(partial),
        // No EXIF item, or an ISO base media file that is not HEIF (MP4, CR3, ...).
        Err(exif::Error::NotFound(_)) => Ok(ExifData::default()),
        Err(exif::Error::InvalidFormat(msg))
            if msg.contains("No compatible brand") || msg.contains("Unknown image format") =>
        {
            Ok(ExifData::default())
        }
        Err(e) => Err(format!("unreadable EXIF metadata: {e}")),
    }
}

fn parse_tiff(tiff: Vec<u8>) -> Result<ExifData, String> {
    let mut reader = Reader::new();
    reader.continue_on_error(true);
    match reader.read_raw(tiff) {
        Ok(exif) => Ok(from_exif(&exif)),
        Err(exif::Error::PartialResult(partial)) => from_partial(partial),
        Err(e) => Err(format!("malformed EXIF: {e}")),
    }
}

/// Keeps what a damaged EXIF block still yields; only an unusable one becomes an error.
fn from_partial(partial: exif::PartialResult) -> Result<ExifData, String> {
    let (exif, errors) = partial.into_inner();
    let data = from_exif(&exif);
    if data != ExifData::default() {
        return Ok(data);
    }
    let reasons: Vec<String> = errors.iter().map(ToString::to_string).collect();
    Err(format!("malformed EXIF: {}", reasons.join("; ")))
}

// ---------------------------------------------------------------------------------------------
// Fields
// ---------------------------------------------------------------------------------------------

/// EXIF tag numbers that are looked up in several IFDs (some writers misplace them: JPEG XL
/// encoders put Make in the Exif IFD, Nikon puts FocalLengthIn35mmFilm in IFD0 as well).
mod num {
    pub const MAKE: u16 = 0x010F;
    pub const MODEL: u16 = 0x0110;
}

const TIFF_FIRST: &[Context] = &[Context::Tiff, Context::Exif];
const EXIF_FIRST: &[Context] = &[Context::Exif, Context::Tiff];

/// The primary-image field with this tag number, trying the IFDs in order.
fn field<'a>(exif: &'a Exif, contexts: &[Context], number: u16) -> Option<&'a Value> {
    contexts
        .iter()
        .find_map(|&ctx| exif.get_field(Tag(ctx, number), In::PRIMARY))
        .map(|f| &f.value)
}

fn tag_field<'a>(exif: &'a Exif, tag: Tag, contexts: &[Context]) -> Option<&'a Value> {
    field(exif, contexts, tag.number())
}

fn from_exif(exif: &Exif) -> ExifData {
    let shutter_speed = tag_field(exif, Tag::ExposureTime, EXIF_FIRST)
        .and_then(first_f64)
        .filter(|&s| s > 0.0);
    let camera_make = field(exif, TIFF_FIRST, num::MAKE).and_then(text);
    let note = super::makernote::read(exif, camera_make.as_deref().unwrap_or(""));
    let (date_taken, date_is_modify_time) = match date_taken(exif) {
        Some((date, modify)) => (Some(date), modify),
        None => (note.date.clone(), false),
    };
    ExifData {
        camera_make,
        camera_model: field(exif, TIFF_FIRST, num::MODEL).and_then(text),
        // A maker-note lens ID resolved to a name is what exiftool's LensID shows.
        lens: note.lens.or_else(|| lens(exif)),
        iso: iso(exif).or(note
            .iso
            .filter(|i| (1.0..1e9).contains(i))
            .map(|i| i.round() as i64)),
        f_number: positive(tag_field(exif, Tag::FNumber, EXIF_FIRST)),
        shutter_speed,
        shutter_speed_text: shutter_speed.map(exposure_text),
        focal_length: positive(tag_field(exif, Tag::FocalLength, EXIF_FIRST)),
        focal_length_35mm: positive(tag_field(exif, Tag::FocalLengthIn35mmFilm, EXIF_FIRST)),
        date_taken,
        date_is_modify_time,
        gps_lat: gps_coordinate(exif, Tag::GPSLatitude, Tag::GPSLatitudeRef, b'S', 90.0),
        gps_lon: gps_coordinate(exif, Tag::GPSLongitude, Tag::GPSLongitudeRef, b'W', 180.0),
        gps_alt: gps_altitude(exif),
        orientation: tag_field(exif, Tag::Orientation, &[Context::Tiff])
            .and_then(first_u32)
            .filter(|o| (1..=8).contains(o))
            .and_then(|o| u16::try_from(o).ok()),
        exif_width: dimension(exif, Tag::PixelXDimension, Tag::ImageWidth),
        exif_height: dimension(exif, Tag::PixelYDimension, Tag::ImageLength),
    }
}

/// A string value: up to the first NUL, decoded as UTF-8 (Latin-1 when it is not valid UTF-8),
/// trimmed of whitespace; empty means absent.
fn text(value: &Value) -> Option<String> {
    let raw: &[u8] = match value {
        Value::Ascii(parts) => parts.first()?,
        Value::Byte(b) | Value::Undefined(b, _) => b,
        _ => return None,
    };
    let raw = raw.split(|&b| b == 0).next().unwrap_or_default();
    let decoded = match std::str::from_utf8(raw) {
        Ok(s) => s.to_string(),
        Err(_) => raw.iter().map(|&b| char::from(b)).collect(),
    };
    let trimmed = decoded.trim_matches(|c: char| c.is_whitespace() || c.is_control());
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

fn ratio(num: f64, denom: f64) -> Option<f64> {
    if denom == 0.0 {
        return None;
    }
    Some(num / denom)
}

/// Every element of a numeric value as f64 (None for an element that is not a finite number).
fn f64s(value: &Value) -> Vec<Option<f64>> {
    let finite = |x: f64| x.is_finite().then_some(x);
    match value {
        Value::Byte(v) => v.iter().map(|&x| Some(f64::from(x))).collect(),
        Value::Short(v) => v.iter().map(|&x| Some(f64::from(x))).collect(),
        Value::Long(v) => v.iter().map(|&x| Some(f64::from(x))).collect(),
        Value::SByte(v) => v.iter().map(|&x| Some(f64::from(x))).collect(),
        Value::SShort(v) => v.iter().map(|&x| Some(f64::from(x))).collect(),
        Value::SLong(v) => v.iter().map(|&x| Some(f64::from(x))).collect(),
        Value::Rational(v) => v
            .iter()
            .map(|r| ratio(f64::from(r.num), f64::from(r.denom)).and_then(finite))
            .collect(),
        Value::SRational(v) => v
            .iter()
            .map(|r| ratio(f64::from(r.num), f64::from(r.denom)).and_then(finite))
            .collect(),
        Value::Float(v) => v.iter().map(|&x| finite(f64::from(x))).collect(),
        Value::Double(v) => v.iter().map(|&x| finite(x)).collect(),
        // Some writers store numbers as text.
        Value::Ascii(_) => {
            let Some(s) = text(value) else {
                return Vec::new();
            };
            s.split_whitespace()
                .map(|t| t.parse::<f64>().ok().and_then(finite))
                .collect()
        }
        Value::Undefined(..) | Value::Unknown(..) => Vec::new(),
    }
}

fn first_f64(value: &Value) -> Option<f64> {
    f64s(value).into_iter().next().flatten()
}

fn first_u32(value: &Value) -> Option<u32> {
    let x = first_f64(value)?;
    (x >= 0.0 && x <= f64::from(u32::MAX) && x.fract() == 0.0).then_some(x as u32)
}

/// A strictly positive measurement (0 is what cameras write for "unknown").
fn positive(value: Option<&Value>) -> Option<f64> {
    value.and_then(first_f64).filter(|&x| x > 0.0)
}

fn lens(exif: &Exif) -> Option<String> {
    if let Some(model) = tag_field(exif, Tag::LensModel, EXIF_FIRST).and_then(text) {
        return Some(model);
    }
    let spec = tag_field(exif, Tag::LensSpecification, EXIF_FIRST).and_then(lens_spec_text)?;
    match tag_field(exif, Tag::LensMake, EXIF_FIRST).and_then(text) {
        Some(make) => Some(format!("{make} {spec}")),
        None => Some(spec),
    }
}

/// LensSpecification (min focal, max focal, min F at min focal, min F at max focal) worded as
/// exiftool prints LensInfo: "24-70mm f/4", "18-55mm f/3.5-5.6", "50mm f/1.8".
fn lens_spec_text(value: &Value) -> Option<String> {
    let vals: Vec<Option<f64>> = f64s(value);
    if vals.len() != 4 || vals.iter().all(|v| v.is_none_or(|x| x == 0.0)) {
        return None;
    }
    // exiftool writes '?' for unknown (0/0 or x/0) values.
    let words: Vec<String> = vals
        .iter()
        .map(|v| v.map_or_else(|| "?".to_string(), fmt_g10))
        .collect();
    let nonzero = |i: usize| words[i] != "0";
    let mut out = words[0].clone();
    if nonzero(1) && words[1] != words[0] {
        out.push('-');
        out.push_str(&words[1]);
    }
    out.push_str("mm f/");
    out.push_str(&words[2]);
    if nonzero(3) && words[3] != words[2] {
        out.push('-');
        out.push_str(&words[3]);
    }
    Some(out)
}

/// A number with at most 10 significant digits and no trailing zeros (Perl's "%.10g" for the
/// magnitudes that occur in lens data).
fn fmt_g10(x: f64) -> String {
    if x == 0.0 {
        return "0".to_string();
    }
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = usize::try_from((9 - magnitude).clamp(0, 20)).unwrap_or(0);
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// exiftool's PrintExposureTime: "1/N" below a quarter second, else one decimal without ".0".
fn exposure_text(seconds: f64) -> String {
    if seconds > 0.0 && seconds < 0.25001 {
        return format!("1/{}", (0.5 + 1.0 / seconds).floor() as i64);
    }
    let s = format!("{seconds:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

fn iso(exif: &Exif) -> Option<i64> {
    let positive_int = |v: Option<&Value>| {
        v.and_then(first_f64)
            .filter(|x| (1.0..1e9).contains(x))
            .map(|x| x.round() as i64)
    };
    let recorded = positive_int(tag_field(exif, Tag::PhotographicSensitivity, EXIF_FIRST));
    if recorded.is_some_and(|iso| iso != 65535) {
        return recorded;
    }
    // PhotographicSensitivity saturates at 65535; SensitivityType then tells which of the
    // 32-bit tags holds the real value (EXIF 2.3, 4.6.5).
    let kind = tag_field(exif, Tag::SensitivityType, EXIF_FIRST).and_then(first_u32);
    let (has_sos, has_rei, has_iso_speed) = match kind {
        Some(1) => (true, false, false),
        Some(2) => (false, true, false),
        Some(3) => (false, false, true),
        Some(4) => (true, true, false),
        Some(5) => (true, false, true),
        Some(6) => (false, true, true),
        Some(7) => (true, true, true),
        _ => (false, false, false),
    };
    let candidates = [
        (has_iso_speed, Tag::ISOSpeed),
        (has_rei, Tag::RecommendedExposureIndex),
        (has_sos, Tag::StandardOutputSensitivity),
    ];
    candidates
        .iter()
        .filter(|(present, _)| *present)
        .find_map(|&(_, tag)| positive_int(tag_field(exif, tag, EXIF_FIRST)))
        .or(recorded)
}

fn dimension(exif: &Exif, exif_tag: Tag, tiff_tag: Tag) -> Option<u32> {
    tag_field(exif, exif_tag, &[Context::Exif])
        .and_then(first_u32)
        .filter(|&x| x > 0)
        .or_else(|| {
            tag_field(exif, tiff_tag, &[Context::Tiff])
                .and_then(first_u32)
                .filter(|&x| x > 0)
        })
}

fn gps_coordinate(
    exif: &Exif,
    value_tag: Tag,
    ref_tag: Tag,
    negative_ref: u8,
    max: f64,
) -> Option<f64> {
    let parts = f64s(tag_field(exif, value_tag, &[Context::Gps])?);
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    let mut degrees = 0.0;
    for (part, scale) in parts.iter().zip([1.0, 60.0, 3600.0]) {
        degrees += part.as_ref()?.abs() / scale;
    }
    let negative_value = parts[0].is_some_and(|d| d < 0.0);
    let negative_ref = tag_field(exif, ref_tag, &[Context::Gps])
        .and_then(text)
        .is_some_and(|r| r.as_bytes()[0].eq_ignore_ascii_case(&negative_ref));
    if !degrees.is_finite() || degrees > max {
        return None;
    }
    Some(if negative_ref || negative_value {
        -degrees
    } else {
        degrees
    })
}

fn gps_altitude(exif: &Exif) -> Option<f64> {
    let altitude = tag_field(exif, Tag::GPSAltitude, &[Context::Gps]).and_then(first_f64)?;
    let below_sea_level = tag_field(exif, Tag::GPSAltitudeRef, &[Context::Gps])
        .and_then(|v| match v {
            Value::Ascii(_) => text(v).and_then(|t| t.parse::<f64>().ok()),
            _ => first_f64(v),
        })
        .is_some_and(|r| r == 1.0);
    Some(if below_sea_level {
        -altitude.abs()
    } else {
        altitude
    })
}

// ---------------------------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------------------------

/// The capture date, and whether it is only the file's DateTime (ModifyDate).
fn date_taken(exif: &Exif) -> Option<(String, bool)> {
    let candidates = [
        (
            Tag::DateTimeOriginal,
            Tag::SubSecTimeOriginal,
            Tag::OffsetTimeOriginal,
            EXIF_FIRST,
        ),
        (
            Tag::DateTimeDigitized,
            Tag::SubSecTimeDigitized,
            Tag::OffsetTimeDigitized,
            EXIF_FIRST,
        ),
        (Tag::DateTime, Tag::SubSecTime, Tag::OffsetTime, TIFF_FIRST),
    ];
    candidates
        .iter()
        .find_map(|&(date_tag, subsec_tag, offset_tag, contexts)| {
            let raw = field(exif, contexts, date_tag.number()).and_then(text)?;
            let parsed = parse_datetime(&raw)?;
            let subsec = parsed.fraction.or_else(|| {
                let s = tag_field(exif, subsec_tag, EXIF_FIRST).and_then(text)?;
                s.bytes().all(|b| b.is_ascii_digit()).then_some(s)
            });
            let offset = parsed.offset.or_else(|| {
                let s = tag_field(exif, offset_tag, EXIF_FIRST).and_then(text)?;
                parse_offset(&s)
                    .filter(|(_, rest)| rest.is_empty())
                    .map(|(o, _)| o)
            });
            let mut out = parsed.local;
            if let Some(digits) = subsec {
                out.push('.');
                out.push_str(&digits);
            }
            if let Some(offset) = offset {
                out.push_str(&offset);
            }
            Some((out, date_tag == Tag::DateTime))
        })
}

struct ParsedDateTime {
    /// "YYYY-MM-DDTHH:MM:SS"
    local: String,
    /// Digits after the decimal point, when the text carries them.
    fraction: Option<String>,
    /// "+HH:MM", when the text carries it.
    offset: Option<String>,
}

/// Parses "YYYY:MM:DD HH:MM:SS" (EXIF) and the ISO-like "YYYY-MM-DDTHH:MM:SS" some software
/// writes, with an optional fraction and zone offset after the seconds. Blank, zeroed or
/// out-of-range dates ("0000:00:00 00:00:00") are None. Text after that is ignored.
fn parse_datetime(s: &str) -> Option<ParsedDateTime> {
    let b = s.as_bytes();
    if b.len() < 19 || !b.is_ascii() {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = &s[range];
        digits
            .bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| digits.parse().ok())
            .flatten()
    };
    let date_sep = |c: u8| c == b':' || c == b'-';
    if !(date_sep(b[4])
        && date_sep(b[7])
        && (b[10] == b' ' || b[10] == b'T')
        && b[13] == b':'
        && b[16] == b':')
    {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if year == 0
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let local = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
    let mut rest = &s[19..];
    let mut fraction = None;
    if let Some(after_dot) = rest.strip_prefix('.') {
        let len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
        if len > 0 {
            fraction = Some(after_dot[..len].to_string());
            rest = &after_dot[len..];
        }
    }
    let offset = parse_offset(rest).map(|(o, _)| o);
    Some(ParsedDateTime {
        local,
        fraction,
        offset,
    })
}

/// "+HH:MM", "+HHMM", "-HH:MM" or "Z" at the start of `s`, normalised to "+HH:MM"; also returns
/// the text after it.
fn parse_offset(s: &str) -> Option<(String, &str)> {
    if let Some(rest) = s.strip_prefix('Z') {
        return Some(("+00:00".to_string(), rest));
    }
    let b = s.as_bytes();
    let sign = match b.first()? {
        b'+' => '+',
        b'-' => '-',
        _ => return None,
    };
    let digit = |i: usize| {
        b.get(i)
            .filter(|c| c.is_ascii_digit())
            .map(|c| u32::from(c - b'0'))
    };
    let hours = digit(1)? * 10 + digit(2)?;
    let (minutes, used) = if b.get(3) == Some(&b':') {
        (digit(4)? * 10 + digit(5)?, 6)
    } else {
        (digit(3)? * 10 + digit(4)?, 5)
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some((format!("{sign}{hours:02}:{minutes:02}"), &s[used..]))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use exif::experimental::Writer;
    use exif::{Field, Rational, SRational};

    use super::*;

    // -----------------------------------------------------------------------------------------
    // Building EXIF by hand
    // -----------------------------------------------------------------------------------------

    fn f(tag: Tag, value: Value) -> Field {
        Field {
            tag,
            ifd_num: In::PRIMARY,
            value,
        }
    }

    fn ascii(s: &str) -> Value {
        Value::Ascii(vec![s.as_bytes().to_vec()])
    }

    fn rational(num: u32, denom: u32) -> Value {
        Value::Rational(vec![Rational { num, denom }])
    }

    fn rationals(parts: &[(u32, u32)]) -> Value {
        Value::Rational(
            parts
                .iter()
                .map(|&(num, denom)| Rational { num, denom })
                .collect(),
        )
    }

    fn tiff_blob(fields: &[Field], little_endian: bool) -> Vec<u8> {
        let mut writer = Writer::new();
        for field in fields {
            writer.push_field(field);
        }
        let mut out = Cursor::new(Vec::new());
        writer
            .write(&mut out, little_endian)
            .expect("EXIF blob writes");
        out.into_inner()
    }

    /// SOI, APP0 (JFIF), APP1 (Exif), a bogus SOS with some scan bytes, EOI.
    fn jpeg_with(tiff: &[u8]) -> Vec<u8> {
        let mut out = vec![0xFF, 0xD8];
        out.extend_from_slice(&[0xFF, 0xE0, 0x00, 0x10]);
        out.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        let len = u16::try_from(2 + EXIF_ID.len() + tiff.len()).expect("small blob");
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(EXIF_ID);
        out.extend_from_slice(tiff);
        out.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x02, 0x12, 0x34, 0xFF, 0x00, 0x56]);
        out.extend_from_slice(&[0xFF, 0xD9]);
        out
    }

    fn png_with(tiff: &[u8]) -> Vec<u8> {
        let chunk = |kind: &[u8], data: &[u8]| {
            let mut c = u32::try_from(data.len())
                .expect("small")
                .to_be_bytes()
                .to_vec();
            c.extend_from_slice(kind);
            c.extend_from_slice(data);
            c.extend_from_slice(&[0, 0, 0, 0]); // CRC is not checked
            c
        };
        let mut out = PNG_SIG.to_vec();
        out.extend(chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]));
        out.extend(chunk(b"eXIf", tiff));
        out.extend(chunk(b"IDAT", &[1, 2, 3]));
        out.extend(chunk(b"IEND", &[]));
        out
    }

    /// A PNG whose EXIF is the legacy "Raw profile type exif" text chunk (as ImageMagick
    /// writes it: hex of `Exif\0\0` + TIFF, 72 digits a line).
    fn png_raw_profile_with(tiff: &[u8], kind: &[u8]) -> Vec<u8> {
        let payload = [EXIF_ID, tiff].concat();
        let mut text = format!("\nexif\n{:8}\n", payload.len()).into_bytes();
        for line in payload.chunks(36) {
            for b in line {
                text.extend(format!("{b:02x}").bytes());
            }
            text.push(b'\n');
        }
        let mut data = b"Raw profile type exif\0".to_vec();
        match kind {
            b"tEXt" => data.extend(text),
            b"zTXt" => {
                data.push(0);
                data.extend(miniz_oxide::deflate::compress_to_vec_zlib(&text, 6));
            }
            _ => {
                data.extend([1, 0, 0, 0]); // compressed, zlib, no language, no translation
                data.extend(miniz_oxide::deflate::compress_to_vec_zlib(&text, 6));
            }
        }
        let mut png = png_with(&[]);
        // Replace the empty eXIf chunk (4 + 4 + 0 + 4 bytes after IHDR) by the text chunk.
        let at = PNG_SIG.len() + 25;
        let mut chunk = u32::try_from(data.len()).unwrap().to_be_bytes().to_vec();
        chunk.extend_from_slice(kind);
        chunk.extend(data);
        chunk.extend([0, 0, 0, 0]);
        png.splice(at..at + 12, chunk);
        png
    }

    fn webp_with(tiff: &[u8]) -> Vec<u8> {
        let mut body = b"WEBP".to_vec();
        body.extend_from_slice(b"VP8X");
        body.extend_from_slice(&10u32.to_le_bytes());
        body.extend_from_slice(&[0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        body.extend_from_slice(b"EXIF");
        body.extend_from_slice(&u32::try_from(tiff.len()).expect("small").to_le_bytes());
        body.extend_from_slice(tiff);
        if tiff.len() % 2 == 1 {
            body.push(0);
        }
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&u32::try_from(body.len()).expect("small").to_le_bytes());
        out.extend(body);
        out
    }

    fn jxl_with(tiff: &[u8]) -> Vec<u8> {
        let mut out = JXL_CONTAINER_SIG.to_vec();
        out.extend_from_slice(&20u32.to_be_bytes());
        out.extend_from_slice(b"ftypjxl \0\0\0\0jxl ");
        out.extend_from_slice(
            &u32::try_from(8 + 4 + tiff.len())
                .expect("small")
                .to_be_bytes(),
        );
        out.extend_from_slice(b"Exif");
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(tiff);
        out.extend_from_slice(&[0, 0, 0, 10]);
        out.extend_from_slice(b"jxlc\xff\x0a");
        out
    }

    fn full_fields() -> Vec<Field> {
        vec![
            f(Tag::Make, ascii("Canon  ")),
            f(Tag::Model, ascii("Canon EOS 5D Mark IV")),
            f(Tag::Orientation, Value::Short(vec![6])),
            f(Tag::DateTime, ascii("2019:06:02 10:00:00")),
            f(Tag::LensModel, ascii("EF24-70mm f/2.8L II USM")),
            f(Tag::PhotographicSensitivity, Value::Short(vec![400])),
            f(Tag::FNumber, rational(28, 10)),
            f(Tag::ExposureTime, rational(1, 250)),
            f(Tag::FocalLength, rational(50, 1)),
            f(Tag::FocalLengthIn35mmFilm, Value::Short(vec![50])),
            f(Tag::DateTimeOriginal, ascii("2019:06:01 14:03:22")),
            f(Tag::SubSecTimeOriginal, ascii("45")),
            f(Tag::OffsetTimeOriginal, ascii("+02:00")),
            f(Tag::PixelXDimension, Value::Long(vec![6720])),
            f(Tag::PixelYDimension, Value::Long(vec![4480])),
            f(Tag::GPSLatitudeRef, ascii("S")),
            f(
                Tag::GPSLatitude,
                rationals(&[(33, 1), (51, 1), (3540, 100)]),
            ),
            f(Tag::GPSLongitudeRef, ascii("W")),
            f(
                Tag::GPSLongitude,
                rationals(&[(70, 1), (39, 1), (3000, 100)]),
            ),
            f(Tag::GPSAltitudeRef, Value::Byte(vec![1])),
            f(Tag::GPSAltitude, rational(125, 10)),
        ]
    }

    fn assert_close(actual: Option<f64>, expected: f64, tolerance: f64) {
        let a = actual.unwrap_or_else(|| panic!("expected {expected}, got None"));
        assert!(
            (a - expected).abs() <= tolerance,
            "expected {expected}, got {a}"
        );
    }

    fn check_full(data: &ExifData) {
        assert_eq!(data.camera_make.as_deref(), Some("Canon"));
        assert_eq!(data.camera_model.as_deref(), Some("Canon EOS 5D Mark IV"));
        assert_eq!(data.lens.as_deref(), Some("EF24-70mm f/2.8L II USM"));
        assert_eq!(data.iso, Some(400));
        assert_close(data.f_number, 2.8, 1e-12);
        assert_close(data.shutter_speed, 0.004, 1e-12);
        assert_eq!(data.shutter_speed_text.as_deref(), Some("1/250"));
        assert_close(data.focal_length, 50.0, 0.0);
        assert_close(data.focal_length_35mm, 50.0, 0.0);
        assert_eq!(
            data.date_taken.as_deref(),
            Some("2019-06-01T14:03:22.45+02:00")
        );
        assert_close(data.gps_lat, -(33.0 + 51.0 / 60.0 + 35.4 / 3600.0), 1e-12);
        assert_close(data.gps_lon, -(70.0 + 39.0 / 60.0 + 30.0 / 3600.0), 1e-12);
        assert_close(data.gps_alt, -12.5, 1e-12);
        assert_eq!(data.orientation, Some(6));
        assert_eq!(data.exif_width, Some(6720));
        assert_eq!(data.exif_height, Some(4480));
    }

    // -----------------------------------------------------------------------------------------
    // Hand-built EXIF
    // -----------------------------------------------------------------------------------------

    #[test]
    fn reads_every_field_from_every_container() {
        for little_endian in [false, true] {
            let tiff = tiff_blob(&full_fields(), little_endian);
            let mut exif_blob = EXIF_ID.to_vec();
            exif_blob.extend_from_slice(&tiff);
            let containers = [
                ("jpeg", jpeg_with(&tiff)),
                ("tiff", tiff.clone()),
                ("png", png_with(&tiff)),
                ("webp", webp_with(&tiff)),
                ("jxl", jxl_with(&tiff)),
                ("bare Exif blob", exif_blob),
                (
                    "png with Exif prefix",
                    png_with(&[EXIF_ID, tiff.as_slice()].concat()),
                ),
                ("png tEXt raw profile", png_raw_profile_with(&tiff, b"tEXt")),
                ("png zTXt raw profile", png_raw_profile_with(&tiff, b"zTXt")),
                ("png iTXt raw profile", png_raw_profile_with(&tiff, b"iTXt")),
            ];
            for (name, bytes) in containers {
                let data = extract(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
                check_full(&data);
            }
        }
    }

    #[test]
    fn northern_eastern_gps_and_altitude_above_sea_level() {
        let fields = vec![
            f(Tag::GPSLatitudeRef, ascii("N")),
            f(
                Tag::GPSLatitude,
                rationals(&[(48, 1), (51, 1), (2988, 100)]),
            ),
            f(Tag::GPSLongitudeRef, ascii("E")),
            f(
                Tag::GPSLongitude,
                rationals(&[(2, 1), (17, 1), (4020, 100)]),
            ),
            f(Tag::GPSAltitudeRef, Value::Byte(vec![0])),
            f(Tag::GPSAltitude, rational(35, 1)),
        ];
        let data = extract(&jpeg_with(&tiff_blob(&fields, false))).expect("readable");
        assert_close(data.gps_lat, 48.0 + 51.0 / 60.0 + 29.88 / 3600.0, 1e-12);
        assert_close(data.gps_lon, 2.0 + 17.0 / 60.0 + 40.2 / 3600.0, 1e-12);
        assert_close(data.gps_alt, 35.0, 0.0);
        assert_eq!(data.camera_make, None);
        assert_eq!(data.date_taken, None);
    }

    #[test]
    fn gps_decimal_degrees_missing_refs_and_out_of_range() {
        // A single rational in decimal degrees, no refs: unsigned; altitude without ref is above sea level.
        let fields = vec![
            f(Tag::GPSLatitude, rational(4_512_345, 100_000)),
            f(Tag::GPSLongitude, rationals(&[(200, 1), (0, 1), (0, 1)])), // > 180°: garbage
            f(Tag::GPSAltitude, rational(42_123, 1000)),
        ];
        let data = extract(&tiff_blob(&fields, true)).expect("readable");
        assert_close(data.gps_lat, 45.12345, 1e-12);
        assert_eq!(data.gps_lon, None);
        assert_close(data.gps_alt, 42.123, 1e-12);
    }

    #[test]
    fn date_fallbacks_and_formats() {
        let date = |fields: Vec<Field>| {
            extract(&tiff_blob(&fields, false))
                .expect("readable")
                .date_taken
        };
        // DateTimeDigitized when there is no DateTimeOriginal, with its own sub-seconds and offset.
        assert_eq!(
            date(vec![
                f(Tag::DateTimeDigitized, ascii("2020:12:03 15:04:31")),
                f(Tag::SubSecTimeDigitized, ascii("04")),
                f(Tag::OffsetTimeDigitized, ascii("-05:00")),
                f(Tag::SubSecTimeOriginal, ascii("99")),
            ]),
            Some("2020-12-03T15:04:31.04-05:00".to_string())
        );
        // DateTime (IFD0) last, with SubSecTime; blank and zeroed originals are skipped.
        assert_eq!(
            date(vec![
                f(Tag::DateTimeOriginal, ascii("    :  :     :  :  ")),
                f(Tag::DateTimeDigitized, ascii("0000:00:00 00:00:00")),
                f(Tag::DateTime, ascii("2022:01:12 07:30:14")),
                f(Tag::SubSecTime, ascii("364")),
                f(Tag::OffsetTime, ascii("   :  ")),
            ]),
            Some("2022-01-12T07:30:14.364".to_string())
        );
        // ISO-like text some editors write, with its own offset.
        assert_eq!(
            date(vec![f(Tag::DateTime, ascii("2012-09-17T15:53:45-04:00"))]),
            Some("2012-09-17T15:53:45-04:00".to_string())
        );
        // Plain, with non-numeric sub-seconds ignored.
        assert_eq!(
            date(vec![
                f(Tag::DateTimeOriginal, ascii("2008:05:30 15:56:01")),
                f(Tag::SubSecTimeOriginal, ascii("ab"))
            ]),
            Some("2008-05-30T15:56:01".to_string())
        );
        assert_eq!(
            date(vec![f(Tag::DateTimeOriginal, ascii("2008:13:30 15:56:01"))]),
            None
        );
        assert_eq!(
            date(vec![f(Tag::DateTimeOriginal, ascii("yesterday"))]),
            None
        );
    }

    #[test]
    fn garbage_values_become_none() {
        let fields = vec![
            f(Tag::Make, Value::Undefined(b"  \0\0\0".to_vec(), 0)),
            f(
                Tag::Model,
                Value::Undefined(b"NIKON D70\0\0\0   ".to_vec(), 0),
            ),
            f(Tag::LensModel, ascii("   ")),
            f(Tag::PhotographicSensitivity, Value::Short(vec![0])),
            f(Tag::FNumber, rational(0, 10)),
            f(Tag::ExposureTime, rational(1, 0)),
            f(Tag::FocalLength, Value::Double(vec![f64::NAN])),
            f(Tag::FocalLengthIn35mmFilm, Value::Short(vec![0])),
            f(Tag::Orientation, Value::Short(vec![9])),
            f(Tag::PixelXDimension, Value::Short(vec![0])),
            f(Tag::PixelYDimension, ascii("wide")),
            f(Tag::GPSLatitudeRef, ascii("N")),
            f(Tag::GPSLatitude, rationals(&[(10, 0), (3, 1), (0, 1)])),
            f(Tag::GPSLongitude, ascii("east")),
            f(Tag::GPSAltitude, rational(0, 0)),
        ];
        let data = extract(&jpeg_with(&tiff_blob(&fields, true))).expect("readable");
        let expected = ExifData {
            camera_model: Some("NIKON D70".to_string()),
            ..ExifData::default()
        };
        assert_eq!(data, expected);
    }

    #[test]
    fn wrong_types_are_tolerated() {
        let fields = vec![
            f(Tag::Make, Value::Short(vec![1, 2])),
            f(Tag::Model, Value::Byte(b"Model from bytes".to_vec())),
            f(Tag::PhotographicSensitivity, Value::Long(vec![800, 0])),
            f(
                Tag::FNumber,
                Value::SRational(vec![SRational { num: 56, denom: 10 }]),
            ),
            f(Tag::ExposureTime, ascii("0.5")),
            f(Tag::FocalLength, Value::Float(vec![35.0])),
            f(Tag::FocalLengthIn35mmFilm, Value::Long(vec![52])),
            f(Tag::Orientation, Value::Long(vec![3])),
            f(Tag::PixelXDimension, Value::Short(vec![640, 0])),
            f(
                Tag::GPSLatitude,
                Value::SRational(vec![SRational { num: -12, denom: 1 }]),
            ),
            f(Tag::GPSAltitudeRef, ascii("1")),
            f(Tag::GPSAltitude, Value::Double(vec![3.5])),
        ];
        let data = extract(&tiff_blob(&fields, false)).expect("readable");
        assert_eq!(data.camera_make, None);
        assert_eq!(data.camera_model.as_deref(), Some("Model from bytes"));
        assert_eq!(data.iso, Some(800));
        assert_close(data.f_number, 5.6, 1e-12);
        assert_close(data.shutter_speed, 0.5, 0.0);
        assert_eq!(data.shutter_speed_text.as_deref(), Some("0.5"));
        assert_close(data.focal_length, 35.0, 0.0);
        assert_close(data.focal_length_35mm, 52.0, 0.0);
        assert_eq!(data.orientation, Some(3));
        assert_eq!(data.exif_width, Some(640));
        assert_close(data.gps_lat, -12.0, 0.0);
        assert_close(data.gps_alt, -3.5, 0.0);
    }

    #[test]
    fn saturated_iso_uses_the_sensitivity_type_tag() {
        let iso = |fields: Vec<Field>| extract(&tiff_blob(&fields, false)).expect("readable").iso;
        assert_eq!(
            iso(vec![
                f(Tag::PhotographicSensitivity, Value::Short(vec![65535])),
                f(Tag::SensitivityType, Value::Short(vec![2])),
                f(Tag::RecommendedExposureIndex, Value::Long(vec![102_400])),
            ]),
            Some(102_400)
        );
        assert_eq!(
            iso(vec![
                f(Tag::PhotographicSensitivity, Value::Short(vec![65535])),
                f(Tag::SensitivityType, Value::Short(vec![6])),
                f(Tag::RecommendedExposureIndex, Value::Long(vec![100_000])),
                f(Tag::ISOSpeed, Value::Long(vec![128_000])),
            ]),
            Some(128_000)
        );
        // A real ISO 65535 without a sensitivity type stays as recorded.
        assert_eq!(
            iso(vec![f(
                Tag::PhotographicSensitivity,
                Value::Short(vec![65535])
            )]),
            Some(65535)
        );
        // Below saturation the recorded value wins even if the other tags disagree.
        assert_eq!(
            iso(vec![
                f(Tag::PhotographicSensitivity, Value::Short(vec![320])),
                f(Tag::SensitivityType, Value::Short(vec![3])),
                f(Tag::ISOSpeed, Value::Long(vec![400])),
            ]),
            Some(320)
        );
    }

    #[test]
    fn lens_falls_back_to_lens_specification() {
        let lens = |fields: Vec<Field>| extract(&tiff_blob(&fields, false)).expect("readable").lens;
        let spec = |v: &[(u32, u32)]| f(Tag::LensSpecification, rationals(v));
        assert_eq!(
            lens(vec![spec(&[(24, 1), (70, 1), (4, 1), (4, 1)])]),
            Some("24-70mm f/4".to_string())
        );
        assert_eq!(
            lens(vec![
                spec(&[(18, 1), (55, 1), (35, 10), (56, 10)]),
                f(Tag::LensMake, ascii("Canon"))
            ]),
            Some("Canon 18-55mm f/3.5-5.6".to_string())
        );
        assert_eq!(
            lens(vec![spec(&[(415, 100), (415, 100), (22, 10), (22, 10)])]),
            Some("4.15mm f/2.2".to_string())
        );
        assert_eq!(
            lens(vec![spec(&[(50, 1), (0, 1), (18, 10), (0, 0)])]),
            Some("50mm f/1.8-?".to_string())
        );
        assert_eq!(lens(vec![spec(&[(0, 1), (0, 1), (0, 1), (0, 1)])]), None);
        // LensModel wins; LensMake is not prepended to it.
        assert_eq!(
            lens(vec![
                spec(&[(24, 1), (70, 1), (4, 1), (4, 1)]),
                f(Tag::LensMake, ascii("Apple")),
                f(Tag::LensModel, ascii("iPhone 6 back camera 4.15mm f/2.2"))
            ]),
            Some("iPhone 6 back camera 4.15mm f/2.2".to_string())
        );
    }

    #[test]
    fn make_recorded_in_the_exif_ifd_is_found() {
        // JPEG XL encoders have been seen writing Make/Model into the Exif IFD.
        let fields = vec![
            f(Tag(Context::Exif, num::MAKE), ascii("Lab 308")),
            f(Tag(Context::Exif, num::MODEL), ascii("Smart Pilot Cam")),
            f(Tag::ExposureTime, rational(1, 1)),
        ];
        let data = extract(&jxl_with(&tiff_blob(&fields, true))).expect("readable");
        assert_eq!(data.camera_make.as_deref(), Some("Lab 308"));
        assert_eq!(data.camera_model.as_deref(), Some("Smart Pilot Cam"));
        assert_eq!(data.shutter_speed_text.as_deref(), Some("1"));
    }

    #[test]
    fn exposure_text_matches_exiftool() {
        let cases = [
            (1.0 / 250.0, "1/250"),
            (1.0 / 60.0, "1/60"),
            (0.25, "1/4"),
            (0.3, "0.3"),
            (0.5, "0.5"),
            (1.0, "1"),
            (2.0, "2"),
            (2.5, "2.5"),
            (30.0, "30"),
            (0.004_572_473_708, "1/219"),
            (1.0 / 8000.0, "1/8000"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(exposure_text(seconds), expected, "{seconds}");
        }
    }

    #[test]
    fn orf_and_rw2_magic_numbers_are_accepted() {
        let tiff = tiff_blob(&[f(Tag::Make, ascii("OLYMPUS"))], true);
        for magic in [*b"RO", *b"U\0"] {
            let mut raw = tiff.clone();
            raw[2..4].copy_from_slice(&magic);
            assert_eq!(
                extract(&raw).expect("readable").camera_make.as_deref(),
                Some("OLYMPUS")
            );
        }
    }

    #[test]
    fn files_without_exif_are_empty_not_errors() {
        let no_exif_jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0, 0, 0xFF, 0xDA, 0x00, 0x02, 1, 2, 3,
        ];
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", Vec::new()),
            ("text", b"hello, world".to_vec()),
            ("jpeg without APP1", no_exif_jpeg.to_vec()),
            ("truncated jpeg", vec![0xFF, 0xD8, 0xFF]),
            ("png without eXIf", png_with(&[])[..33].to_vec()),
            ("bare jxl codestream", vec![0xFF, 0x0A, 1, 2, 3]),
            ("gif", b"GIF89a\x01\0\x01\0\0\0\0;".to_vec()),
            ("mp4-ish ftyp", b"\0\0\0\x14ftypisom\0\0\0\0isom".to_vec()),
        ];
        for (name, bytes) in cases {
            assert_eq!(extract(&bytes), Ok(ExifData::default()), "{name}");
        }
    }

    #[test]
    fn malformed_exif_is_an_error() {
        // An APP1 Exif segment whose TIFF header is garbage.
        let bad = jpeg_with(b"XX\0*\0\0\0\x08");
        let err = extract(&bad).expect_err("garbage TIFF header");
        assert!(err.contains("EXIF"), "{err}");
        // A truncated IFD with nothing usable in it.
        let truncated = jpeg_with(b"MM\0*\0\0\0\x08\0\x05\x01\x0f");
        assert!(extract(&truncated).is_err());
    }

    #[test]
    fn partially_broken_exif_keeps_what_it_can() {
        let tiff = tiff_blob(&full_fields(), false);
        // Cut the blob in the middle: IFD0 is intact, later directories are not.
        let cut = &tiff[..tiff.len() * 2 / 3];
        if let Ok(data) = extract(&jpeg_with(cut)) {
            assert_ne!(data, ExifData::default());
        }
    }

    /// Deterministic mutation fuzzing: no input may panic (checked without the catch_unwind net).
    #[test]
    fn hostile_inputs_never_panic() {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let seeds: Vec<Vec<u8>> = [false, true]
            .into_iter()
            .flat_map(|le| {
                let tiff = tiff_blob(&full_fields(), le);
                vec![
                    jpeg_with(&tiff),
                    tiff.clone(),
                    png_with(&tiff),
                    webp_with(&tiff),
                    jxl_with(&tiff),
                ]
            })
            .collect();
        for round in 0..3000 {
            let mut bytes = seeds[round % seeds.len()].clone();
            let flips = 1 + next() % 8;
            for _ in 0..flips {
                let at = (next() % bytes.len() as u64) as usize;
                bytes[at] = (next() & 0xFF) as u8;
            }
            if next() % 4 == 0 {
                let keep = (next() % bytes.len() as u64) as usize;
                bytes.truncate(keep);
            }
            let outcome = std::panic::catch_unwind(|| extract_inner(&bytes));
            assert!(
                outcome.is_ok(),
                "panic on round {round}, input {bytes:02x?}"
            );
        }
    }

    // -----------------------------------------------------------------------------------------
    // Agreement with exiftool on the shared photo collection
    // -----------------------------------------------------------------------------------------

    fn photos_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/photos")
    }

    fn fixture_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/exiftool.json")
    }

    /// The fixture is JSON; serde_yaml (already a dependency) reads it as YAML's JSON subset.
    fn load_fixture() -> BTreeMap<String, BTreeMap<String, serde_yaml::Value>> {
        let text = std::fs::read_to_string(fixture_path())
            .expect("tests/fixtures/exiftool.json is readable");
        serde_yaml::from_str(&text).expect("tests/fixtures/exiftool.json parses")
    }

    fn fixture_f64(v: &serde_yaml::Value) -> Option<f64> {
        match v {
            serde_yaml::Value::Number(n) => n.as_f64(),
            serde_yaml::Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    fn fixture_str(v: &serde_yaml::Value) -> Option<String> {
        match v {
            serde_yaml::Value::String(s) => Some(s.trim().to_string()),
            serde_yaml::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    enum Kind {
        Text,
        Float { tolerance: f64, absolute: bool },
    }

    fn actual_value(data: &ExifData, column: &str) -> Option<(Kind, Option<String>, Option<f64>)> {
        let text = |v: &Option<String>| Some((Kind::Text, v.clone(), None));
        let rel = |v: Option<f64>| {
            Some((
                Kind::Float {
                    tolerance: 1e-3,
                    absolute: false,
                },
                None,
                v,
            ))
        };
        let deg = |v: Option<f64>| {
            Some((
                Kind::Float {
                    tolerance: 1e-5,
                    absolute: true,
                },
                None,
                v,
            ))
        };
        match column {
            "camera_make" => text(&data.camera_make),
            "camera_model" => text(&data.camera_model),
            "lens" => text(&data.lens),
            "shutter_speed_text" => text(&data.shutter_speed_text),
            "date_taken" => text(&data.date_taken),
            "iso" => rel(data.iso.map(|x| x as f64)),
            "f_number" => rel(data.f_number),
            "shutter_speed" => rel(data.shutter_speed),
            "focal_length" => rel(data.focal_length),
            "focal_length_35mm" => rel(data.focal_length_35mm),
            "gps_lat" => deg(data.gps_lat),
            "gps_lon" => deg(data.gps_lon),
            // Altitudes are metres; 1e-3 relative like the other measurements, 1 mm near 0.
            "gps_alt" => Some((
                Kind::Float {
                    tolerance: 1e-3,
                    absolute: false,
                },
                None,
                data.gps_alt,
            )),
            "orientation" => rel(data.orientation.map(f64::from)),
            "exif_width" => rel(data.exif_width.map(f64::from)),
            "exif_height" => rel(data.exif_height.map(f64::from)),
            _ => None,
        }
    }

    fn compare(column: &str, expected: &serde_yaml::Value, data: &ExifData) -> Result<(), String> {
        let (kind, actual_text, actual_num) = actual_value(data, column)
            .ok_or_else(|| format!("unknown fixture column {column:?}"))?;
        match kind {
            Kind::Text => {
                let want = fixture_str(expected);
                if want != actual_text {
                    return Err(format!(
                        "{column}: exiftool {want:?}, extract {actual_text:?}"
                    ));
                }
            }
            Kind::Float {
                tolerance,
                absolute,
            } => {
                let want = fixture_f64(expected);
                let ok = match (want, actual_num) {
                    (None, None) => true,
                    (Some(w), Some(a)) => {
                        let allowed = if absolute {
                            tolerance
                        } else {
                            tolerance * w.abs().max(1e-3)
                        };
                        (w - a).abs() <= allowed
                    }
                    _ => false,
                };
                if !ok {
                    return Err(format!(
                        "{column}: exiftool {want:?}, extract {actual_num:?}"
                    ));
                }
            }
        }
        Ok(())
    }

    #[test]
    fn agrees_with_exiftool_on_shared_photos() {
        let photos = photos_dir();
        if !photos.is_dir() {
            crate::fixtures::absent(
                "agrees_with_exiftool_on_shared_photos",
                &format!(
                    "{} is absent, so extract() was not checked against exiftool",
                    photos.display()
                ),
            );
            return;
        }
        let fixture = load_fixture();
        assert!(
            fixture.len() >= 100,
            "fixture unexpectedly small: {} files",
            fixture.len()
        );
        let mut failures = Vec::new();
        let mut compared = 0usize;
        for (relative, columns) in &fixture {
            let path = photos.join(relative);
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) => {
                    failures.push(format!("{relative}: cannot read {}: {e}", path.display()));
                    continue;
                }
            };
            let data = match extract(&bytes) {
                Ok(d) => d,
                Err(e) => {
                    // A warning is fine only where exiftool saw no EXIF value either.
                    if columns.values().any(|v| !v.is_null()) {
                        failures.push(format!(
                            "{relative}: extract failed ({e}) but exiftool read values"
                        ));
                    }
                    continue;
                }
            };
            for (column, expected) in columns {
                compared += 1;
                if let Err(msg) = compare(column, expected, &data) {
                    failures.push(format!("{relative}: {msg}"));
                }
            }
        }
        eprintln!(
            "compared {compared} values over {} files against exiftool",
            fixture.len()
        );
        assert!(
            failures.is_empty(),
            "{} mismatches with exiftool:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    /// Every file in the shared collection, including invalid ones and non-images, goes through
    /// `extract` without panicking.
    #[test]
    fn every_shared_file_is_handled() {
        let photos = photos_dir();
        if !photos.is_dir() {
            crate::fixtures::absent(
                "every_shared_file_is_handled",
                &format!("{} is absent", photos.display()),
            );
            return;
        }
        let mut seen = 0;
        for entry in walkdir::WalkDir::new(&photos)
            .into_iter()
            .filter_map(Result::ok)
        {
            if !entry.file_type().is_file() {
                continue;
            }
            let bytes = std::fs::read(entry.path()).expect("readable file");
            let outcome = std::panic::catch_unwind(|| extract_inner(&bytes));
            assert!(outcome.is_ok(), "panic on {}", entry.path().display());
            seen += 1;
        }
        assert!(seen > 100, "only {seen} files under {}", photos.display());
    }
}
