//! Pre-EXIF camera metadata in JPEG files from the late 1990s, which exiftool reads too:
//! Canon's CIFF heap in an APP0 segment (early PowerShots: make, model, focal length, capture
//! time) and Olympus' APP12 "[picture info]" text (capture time, shutter, aperture).

/// What these blocks carry.
#[derive(Debug, Default, PartialEq)]
pub struct Legacy {
    pub make: Option<String>,
    pub model: Option<String>,
    pub focal_length: Option<f64>,
    pub f_number: Option<f64>,
    pub exposure: Option<f64>,
    /// "YYYY-MM-DDTHH:MM:SS" (the camera's clock, no zone).
    pub date: Option<String>,
}

/// Reads the APP0 CIFF and APP12 picture-info segments before the image data of a JPEG.
pub fn read(jpeg: &[u8]) -> Legacy {
    let mut out = Legacy::default();
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        return out;
    }
    let mut i = 2;
    while i + 4 <= jpeg.len() && jpeg[i] == 0xFF {
        let code = jpeg[i + 1];
        if code == 0xDA || code == 0xD9 {
            break;
        }
        let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        if len < 2 {
            break;
        }
        let seg = &jpeg[(i + 4).min(jpeg.len())..(i + 2 + len).min(jpeg.len())];
        if code == 0xE0 && seg.len() > 14 && &seg[6..14] == b"HEAPJPGM" {
            ciff(seg, &mut out);
        } else if code == 0xEC {
            picture_info(seg, &mut out);
        }
        i += 2 + len;
    }
    out
}

fn unix_date(secs: i64) -> Option<String> {
    let t = chrono::DateTime::from_timestamp(secs, 0)?;
    Some(t.naive_utc().format("%Y-%m-%dT%H:%M:%S").to_string())
}

/// CIFF: "II" + header length (u32) + "HEAPJPGM"; a heap block ends with the offset of its
/// directory (u16 count, then 10-byte records: type, size, offset within the block).
fn ciff(seg: &[u8], out: &mut Legacy) {
    if !seg.starts_with(b"II") {
        return;
    }
    let Some(header) = seg
        .get(2..6)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize)
    else {
        return;
    };
    if let Some(heap) = seg.get(header..) {
        ciff_block(heap, out, 0);
    }
}

fn ciff_block(block: &[u8], out: &mut Legacy, depth: usize) {
    if depth > 8 || block.len() < 6 {
        return;
    }
    let u16at = |b: &[u8], i: usize| b.get(i..i + 2).map(|x| u16::from_le_bytes([x[0], x[1]]));
    let u32at = |b: &[u8], i: usize| {
        b.get(i..i + 4)
            .map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]))
    };
    let Some(dir) = u32at(block, block.len() - 4).map(|o| o as usize) else {
        return;
    };
    let Some(count) = u16at(block, dir) else {
        return;
    };
    for r in 0..usize::from(count).min(256) {
        let at = dir + 2 + 10 * r;
        let (Some(kind), Some(size), Some(offset)) =
            (u16at(block, at), u32at(block, at + 2), u32at(block, at + 6))
        else {
            return;
        };
        let data = if kind & 0xC000 == 0x4000 {
            block.get(at + 2..at + 10)
        } else {
            let (o, s) = (offset as usize, size as usize);
            block.get(o..o.saturating_add(s))
        };
        let Some(data) = data else {
            continue;
        };
        if matches!(kind & 0x3800, 0x2800 | 0x3000) {
            ciff_block(data, out, depth + 1);
            continue;
        }
        match kind & 0x3FFF {
            // CanonRawMakeModel: "Canon\0Canon PowerShot A5\0"
            0x080A => {
                let mut parts = data
                    .split(|&b| b == 0)
                    .map(|p| String::from_utf8_lossy(p).trim().to_string());
                out.make = parts.next().filter(|s| !s.is_empty());
                out.model = parts.next().filter(|s| !s.is_empty());
            }
            // TimeStamp: int32u[3], the first the camera's clock as seconds since 1970.
            0x180E => {
                out.date = u32at(data, 0)
                    .filter(|&s| s > 0)
                    .and_then(|s| unix_date(i64::from(s)));
            }
            // CanonFocalLength: int16u[4] (focal type, focal length in mm, ...).
            0x1029 => {
                out.focal_length = u16at(data, 2).filter(|&f| f > 0).map(f64::from);
            }
            _ => {}
        }
    }
}

/// Olympus APP12: "[picture info]" lines "TimeDate=909698819", "Shutter=33363" (µs),
/// "FNumber=F2.8".
fn picture_info(seg: &[u8], out: &mut Legacy) {
    let text = String::from_utf8_lossy(seg);
    if !text.contains("[picture info]") {
        return;
    }
    for line in text.split(['\r', '\n']) {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "TimeDate" => out.date = value.parse::<i64>().ok().and_then(unix_date),
            "Shutter" => {
                out.exposure = value
                    .parse::<f64>()
                    .ok()
                    .filter(|&s| s > 0.0)
                    .map(|s| s / 1e6);
            }
            "FNumber" => {
                out.f_number = value
                    .trim_start_matches(['F', 'f'])
                    .parse::<f64>()
                    .ok()
                    .filter(|&f| f > 0.0);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg_with(code: u8, payload: &[u8]) -> Vec<u8> {
        let mut j = vec![0xFF, 0xD8, 0xFF, code];
        j.extend(u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
        j.extend(payload);
        j.extend([0xFF, 0xDA, 0, 2]);
        j
    }

    #[test]
    fn olympus_picture_info() {
        let l = read(&jpeg_with(
            0xEC,
            b"OLYMPUS OPTICAL CO.,LTD.\0[picture info]\r\nTimeDate=909698819\r\nShutter=33363\r\nFNumber=F2.8\r\n",
        ));
        assert_eq!(l.date.as_deref(), Some("1998-10-29T22:06:59"));
        assert_eq!(l.exposure, Some(0.033363));
        assert_eq!(l.f_number, Some(2.8));
    }

    #[test]
    fn canon_ciff_heap() {
        // Heap: make/model string, then a directory with two records.
        let mut heap = b"Canon\0Canon PowerShot A5\0\0".to_vec(); // 26 bytes at 0
        let ts_at = heap.len();
        heap.extend(946_684_800u32.to_le_bytes()); // 2000-01-01T00:00:00
        heap.extend([0u8; 8]);
        let dir = heap.len();
        heap.extend(3u16.to_le_bytes());
        heap.extend(0x080Au16.to_le_bytes());
        heap.extend(26u32.to_le_bytes());
        heap.extend(0u32.to_le_bytes());
        heap.extend(0x180Eu16.to_le_bytes());
        heap.extend(12u32.to_le_bytes());
        heap.extend(u32::try_from(ts_at).unwrap().to_le_bytes());
        // CanonFocalLength stored in the record (0x4000 | 0x1029): type 1, 5 mm.
        heap.extend((0x5029u16).to_le_bytes());
        heap.extend([1, 0, 5, 0, 0, 0, 0, 0]);
        heap.extend(u32::try_from(dir).unwrap().to_le_bytes());
        let mut seg = b"II\x0e\0\0\0HEAPJPGM".to_vec();
        seg.extend(heap);
        let l = read(&jpeg_with(0xE0, &seg));
        assert_eq!(l.make.as_deref(), Some("Canon"));
        assert_eq!(l.model.as_deref(), Some("Canon PowerShot A5"));
        assert_eq!(l.date.as_deref(), Some("2000-01-01T00:00:00"));
        assert_eq!(l.focal_length, Some(5.0));
    }

    #[test]
    fn garbage_is_ignored() {
        assert_eq!(read(b"not a jpeg"), Legacy::default());
        let mut seg = b"II\xff\xff\xff\x7fHEAPJPGM".to_vec();
        seg.extend([0xFF; 40]);
        assert_eq!(read(&jpeg_with(0xE0, &seg)), Legacy::default());
    }
}
