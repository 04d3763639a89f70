//! Format detection by content (the extension only tells RAW from TIFF): a
//! HEIC file named `.jpg` is HEIC. ISO-BMFF files (`ftyp` first) are told
//! apart by the brands of that box: AVIF by `avif`/`avis`, HEIF/HEIC by the
//! HEVC and image-collection brands (`heic`, `heix`, `mif1`, …).

use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    Tiff,
    Webp,
    Gif,
    Bmp,
    Heif,
    Avif,
    Jxl,
    /// A camera RAW file (by extension); decoded through its embedded preview.
    Raw,
    Unknown,
}

impl Format {
    pub fn name(self, path: &Path) -> String {
        match self {
            Format::Jpeg => "jpeg".into(),
            Format::Png => "png".into(),
            Format::Tiff => "tiff".into(),
            Format::Webp => "webp".into(),
            Format::Gif => "gif".into(),
            Format::Bmp => "bmp".into(),
            Format::Heif => "heif".into(),
            Format::Avif => "avif".into(),
            Format::Jxl => "jxl".into(),
            Format::Raw => format!(
                "raw-{}",
                path.extension()
                    .and_then(|e| e.to_str())
                    .unwrap_or("?")
                    .to_ascii_lowercase()
            ),
            Format::Unknown => "unknown".into(),
        }
    }
}

/// Identifies `bytes` (the whole file or its beginning).
pub fn sniff(bytes: &[u8], path: &Path) -> Format {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default();
    if crate::scan::RAW_EXTENSIONS.contains(&ext.as_str()) {
        return Format::Raw;
    }
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => Format::Jpeg,
        [0x89, b'P', b'N', b'G', ..] => Format::Png,
        [b'I', b'I', 42, 0, ..] | [b'M', b'M', 0, 42, ..] => Format::Tiff,
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => Format::Webp,
        [b'G', b'I', b'F', b'8', ..] => Format::Gif,
        [b'B', b'M', ..] => Format::Bmp,
        [0xFF, 0x0A, ..] | [0, 0, 0, 0x0C, b'J', b'X', b'L', b' ', ..] => Format::Jxl,
        [s0, s1, s2, s3, b'f', b't', b'y', b'p', rest @ ..] => {
            // ISO-BMFF: the major brand and compatible brands (the rest of
            // the box, whose size comes first) tell AVIF from HEIF.
            let size = u32::from_be_bytes([*s0, *s1, *s2, *s3]) as usize;
            let brands = &rest[..rest.len().min(size.saturating_sub(8).clamp(4, 256))];
            if brands.windows(4).any(|w| w == b"avif" || w == b"avis") {
                Format::Avif
            } else if brands.windows(4).any(|w| {
                matches!(
                    w,
                    b"heic" | b"heix" | b"mif1" | b"msf1" | b"heim" | b"heis" | b"hevc"
                )
            }) {
                Format::Heif
            } else {
                Format::Unknown
            }
        }
        _ => Format::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_numbers() {
        let p = Path::new("x.bin");
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0], p), Format::Jpeg);
        assert_eq!(sniff(b"\x89PNG\r\n", p), Format::Png);
        assert_eq!(
            sniff(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", p),
            Format::Heif
        );
        assert_eq!(
            sniff(b"\0\0\0\x1cftypavif\0\0\0\0avifmif1", p),
            Format::Avif
        );
        assert_eq!(sniff(b"II*\0", Path::new("x.NEF")), Format::Raw);
        // By content, whatever the name says.
        assert_eq!(
            sniff(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", Path::new("x.jpg")),
            Format::Heif
        );
        // iPhone: the HEVC brand after five others (a 40-byte box).
        assert_eq!(
            sniff(
                b"\0\0\0\x28ftypheic\0\0\0\0mif1MiHEMiPrmiafMiHBheic",
                Path::new("x.heic")
            ),
            Format::Heif
        );
        // AVIF: `avif` as a compatible brand beside `mif1`.
        assert_eq!(
            sniff(b"\0\0\0\x1cftypmif1\0\0\0\0mif1avifmiaf", p),
            Format::Avif
        );
        // An MP4 video is no photo.
        assert_eq!(
            sniff(b"\0\0\0\x18ftypisom\0\0\0\0isomavc1", p),
            Format::Unknown
        );
        assert_eq!(sniff(b"hello", p), Format::Unknown);
        assert_eq!(Format::Raw.name(Path::new("a.NEF")), "raw-nef");
    }

    /// The shared collection's HEIC named `.jpg` (`../shared` is where every
    /// developer and CI has it).
    #[test]
    fn a_heic_named_jpg_is_heic() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/photos/cameras/heic/heic_hdlr_box.jpg");
        let Ok(bytes) = std::fs::read(&p) else {
            crate::fixtures::absent(
                "a_heic_named_jpg_is_heic",
                &format!("{} is absent", p.display()),
            );
            return;
        };
        assert_eq!(sniff(&bytes, &p), Format::Heif);
    }
}
