//! RAW files decode through their embedded preview JPEG: every camera RAW
//! (TIFF-based, CR3, RAF) carries one or more full JPEGs; the largest wins.

use super::jpeg;

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
}
