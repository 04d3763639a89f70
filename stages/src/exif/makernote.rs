//! The maker-note fields people sort by, where the standard EXIF tags lack them: the lens
//! (maker lens IDs resolved to names as exiftool names them), the ISO and the camera's own
//! capture date. A focused reader of the maker notes of the cameras that need it; everything
//! else comes from the standard tags (`extract.rs`).
//!
//! Covered: Canon (CameraSettings / ShotInfo: ISO of compacts, lens focal range when the lens
//! type is unknown), Nikon (LensData, decrypted where the camera encrypts it, resolved through
//! the F-mount lens ID table), Olympus / OM System (Equipment LensType), Sony A-mount
//! (LensType through the Minolta table), Casio (ISO) and Reconyx trail cameras (date). The
//! lens tables (`lens_tables.rs`) are generated from exiftool's by `make_lens_tables.py`. Every reader is bounds-checked: a broken maker note yields nothing, never a panic.

use exif::{Exif, In, Tag, Value};

/// What the maker notes add.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MakerNote {
    pub lens: Option<String>,
    pub iso: Option<f64>,
    /// "YYYY-MM-DDTHH:MM:SS".
    pub date: Option<String>,
}

/// Reads the maker note of `exif` (whose TIFF buffer `exif.buf()` it indexes into).
pub fn read(exif: &Exif, make: &str) -> MakerNote {
    let Some(field) = exif.get_field(Tag::MakerNote, In::PRIMARY) else {
        return MakerNote::default();
    };
    let Value::Undefined(bytes, offset) = &field.value else {
        return MakerNote::default();
    };
    let buf = exif.buf();
    let offset = *offset as usize;
    let le = exif.little_endian();
    let make = make.to_ascii_lowercase();
    let note = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if make.starts_with("canon") {
            canon(buf, offset, le, bytes.len())
        } else if make.starts_with("nikon") {
            nikon(bytes)
        } else if make.starts_with("olympus") || make.starts_with("om digital") {
            olympus(bytes)
        } else if make.starts_with("sony") {
            sony(buf, offset, le, exif)
        } else if make.starts_with("casio") {
            casio(bytes, buf, offset, le)
        } else if make.is_empty() || make.starts_with("reconyx") {
            reconyx(bytes)
        } else {
            None
        }
    }));
    note.ok().flatten().unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// A minimal IFD reader
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct Tiff<'a> {
    /// The buffer offsets are relative to.
    data: &'a [u8],
    le: bool,
    /// Subtracted from value offsets: a maker note moved by editing software still points
    /// into its original place (Canon records that place in a footer).
    shift: i64,
}

struct Entry<'a> {
    tag: u16,
    /// The 4-byte value-or-offset field, as a number.
    raw: u32,
    kind: u16,
    count: usize,
    /// The value's bytes (inline or at its offset), empty when out of bounds.
    value: &'a [u8],
}

impl<'a> Tiff<'a> {
    fn u16(&self, at: usize) -> Option<u16> {
        let b: [u8; 2] = self.data.get(at..at + 2)?.try_into().ok()?;
        Some(if self.le {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }

    fn u32(&self, at: usize) -> Option<u32> {
        let b: [u8; 4] = self.data.get(at..at + 4)?.try_into().ok()?;
        Some(if self.le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    /// The entries of the IFD at `at`.
    fn ifd(&self, at: usize) -> Vec<Entry<'a>> {
        let Some(n) = self.u16(at) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for i in 0..usize::from(n).min(512) {
            let e = at + 2 + 12 * i;
            let (Some(tag), Some(kind), Some(count)) =
                (self.u16(e), self.u16(e + 2), self.u32(e + 4))
            else {
                break;
            };
            let unit = match kind {
                1 | 2 | 6 | 7 => 1,
                3 | 8 => 2,
                4 | 9 | 11 | 13 => 4,
                5 | 10 | 12 => 8,
                _ => continue,
            };
            let count = count as usize;
            let Some(len) = count.checked_mul(unit) else {
                continue;
            };
            let value = if len <= 4 {
                self.data.get(e + 8..e + 8 + len)
            } else {
                self.u32(e + 8)
                    .and_then(|o| usize::try_from(i64::from(o) - self.shift).ok())
                    .and_then(|o| self.data.get(o..o.checked_add(len)?))
            };
            out.push(Entry {
                tag,
                raw: self.u32(e + 8).unwrap_or(0),
                kind,
                count,
                value: value.unwrap_or(&[]),
            });
        }
        out
    }

    /// A SHORT / SSHORT array's elements.
    fn shorts(&self, e: &Entry) -> Vec<u16> {
        if !matches!(e.kind, 3 | 8) {
            return Vec::new();
        }
        let t = Tiff {
            data: e.value,
            le: self.le,
            shift: 0,
        };
        (0..e.count).filter_map(|i| t.u16(2 * i)).collect()
    }

    /// The first element of an integer entry.
    fn first_int(&self, e: &Entry) -> Option<u32> {
        let t = Tiff {
            data: e.value,
            le: self.le,
            shift: 0,
        };
        match e.kind {
            1 | 7 => e.value.first().map(|&b| u32::from(b)),
            3 | 8 => t.u16(0).map(u32::from),
            4 | 9 => t.u32(0),
            _ => None,
        }
    }
}

fn find<'a, 'b>(entries: &'b [Entry<'a>], tag: u16) -> Option<&'b Entry<'a>> {
    entries.iter().find(|e| e.tag == tag)
}

// ---------------------------------------------------------------------------------------------
// Canon
// ---------------------------------------------------------------------------------------------

/// Canon: an IFD at the maker note's offset, offsets relative to the EXIF TIFF header.
fn canon(buf: &[u8], offset: usize, le: bool, len: usize) -> Option<MakerNote> {
    // A footer "II*\0" + the note's original offset: the note was moved, its offsets were not.
    let shift = buf
        .get((offset + len).checked_sub(8)?..offset + len)
        .filter(|f| f.starts_with(b"II*\0") || f.starts_with(b"MM\0*"))
        .and_then(|f| {
            let o: [u8; 4] = f[4..8].try_into().ok()?;
            let original = if f[0] == b'I' {
                u32::from_le_bytes(o)
            } else {
                u32::from_be_bytes(o)
            };
            Some(i64::from(original) - offset as i64)
        })
        .unwrap_or(0);
    // The note's own byte order, which can differ from the EXIF's (an image re-saved
    // big-endian): the footer's, else the one that reads a plausible entry count.
    let footer_le = buf
        .get((offset + len).saturating_sub(8)..offset + len)
        .and_then(|f| match f.get(0..4)? {
            b"II*\0" => Some(true),
            b"MM\0*" => Some(false),
            _ => None,
        });
    let le = footer_le.unwrap_or_else(|| {
        let count = Tiff {
            data: buf,
            le,
            shift: 0,
        }
        .u16(offset);
        if count.is_some_and(|n| (1..512).contains(&n)) {
            le
        } else {
            !le
        }
    });
    let t = Tiff {
        data: buf,
        le,
        shift,
    };
    let entries = t.ifd(offset);
    let settings = find(&entries, 0x0001)
        .map(|e| t.shorts(e))
        .unwrap_or_default();
    let shot = find(&entries, 0x0004)
        .map(|e| t.shorts(e))
        .unwrap_or_default();
    Some(MakerNote {
        lens: canon_lens(&settings),
        iso: canon_iso(&settings, &shot),
        date: None,
    })
}

/// exiftool's Canon LensID where the lens type is unknown (-1 / 65535, as compacts record
/// it): "Unknown 7-21mm" from the focal range (truncated to whole mm). Named lens types
/// would need Canon's lens table; those cameras record LensModel, which `extract` uses.
fn canon_lens(settings: &[u16]) -> Option<String> {
    let lens_type = *settings.get(22)?;
    if lens_type != 0xFFFF {
        return None;
    }
    let units = f64::from(settings.get(25).copied().filter(|&u| u > 0).unwrap_or(1));
    let long = f64::from(*settings.get(23)?) / units;
    let short = f64::from(*settings.get(24)?) / units;
    if short <= 0.0 {
        return Some("Unknown".into());
    }
    let mut s = format!("Unknown {}", short as i64);
    if long > 0.0 && long != short {
        s += &format!("-{}", long as i64);
    }
    Some(s + "mm")
}

/// exiftool's Canon composite ISO: CameraISO when it is a number, else BaseISO × AutoISO / 100
/// from ShotInfo (both stored as APEX-like values in 1/32 EV).
fn canon_iso(settings: &[u16], shot: &[u16]) -> Option<f64> {
    if let Some(&raw) = settings.get(16)
        && raw != 0x7FFF
    {
        let iso = if raw & 0x4000 != 0 {
            Some(f64::from(raw & 0x3FFF))
        } else {
            match raw {
                16 => Some(50.0),
                17 => Some(100.0),
                18 => Some(200.0),
                19 => Some(400.0),
                20 => Some(800.0),
                _ => None,
            }
        };
        if iso.is_some_and(|i| i > 0.0) {
            return iso;
        }
    }
    let auto = f64::from(*shot.get(1)? as i16);
    let base = f64::from(*shot.get(2)? as i16);
    if base == 0.0 {
        return None;
    }
    let ev = |v: f64| (v / 32.0 * std::f64::consts::LN_2).exp();
    Some(ev(base) * 100.0 / 32.0 * ev(auto) * 100.0 / 100.0)
}

// ---------------------------------------------------------------------------------------------
// Nikon
// ---------------------------------------------------------------------------------------------

/// Nikon type 3: "Nikon\0" + version, then a TIFF header of its own at byte 10.
fn nikon(note: &[u8]) -> Option<MakerNote> {
    let tiff = note.strip_prefix(b"Nikon\0")?.get(4..)?;
    let le = match tiff.get(0..2)? {
        b"II" => true,
        b"MM" => false,
        _ => return None,
    };
    let t = Tiff {
        data: tiff,
        le,
        shift: 0,
    };
    let first = t.u32(4)? as usize;
    let entries = t.ifd(first);
    let lens_type = find(&entries, 0x0083).and_then(|e| t.first_int(e))?;
    let data = find(&entries, 0x0098)?.value;
    let version = std::str::from_utf8(data.get(0..4)?).ok()?;
    let mut data = data.to_vec();
    let start = match version {
        "0100" => 6,
        "0101" | "0201" | "0202" | "0203" => 11,
        "0204" => 12,
        _ => return None,
    };
    if version.starts_with("02") {
        let serial = find(&entries, 0x001D).and_then(|e| nikon_serial(e.value))?;
        let count = find(&entries, 0x00A7).and_then(|e| t.first_int(e))?;
        nikon_decrypt(&mut data[4..], serial, count);
    }
    let id = data.get(start..start + 7)?;
    let key = format!(
        "{:02X} {:02X} {:02X} {:02X} {:02X} {:02X} {:02X} {:02X}",
        id[0], id[1], id[2], id[3], id[4], id[5], id[6], lens_type
    );
    Some(MakerNote {
        lens: nikon_lens_name(&key),
        ..Default::default()
    })
}

/// The decryption key from the serial number: its digits as a number, else exiftool's fallback
/// (0x22 for D50-era cameras, 0x60 for others).
fn nikon_serial(value: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(value)
        .ok()?
        .trim_end_matches('\0')
        .trim();
    if let Ok(n) = s.parse::<u64>() {
        return Some((n & 0xFF) as u32);
    }
    Some(0x60)
}

/// Nikon's LensData encryption (exiftool's Nikon::Decrypt), from byte 4 of the block.
fn nikon_decrypt(data: &mut [u8], serial: u32, count: u32) {
    let key = (0..4).fold(0u8, |k, i| k ^ ((count >> (i * 8)) & 0xFF) as u8);
    let ci = super::lens_tables::NIKON_XLAT[0][(serial & 0xFF) as usize];
    let mut cj = super::lens_tables::NIKON_XLAT[1][usize::from(key)];
    let mut ck: u8 = 0x60;
    for b in data.iter_mut() {
        cj = cj.wrapping_add(ci.wrapping_mul(ck));
        ck = ck.wrapping_add(1);
        *b ^= cj;
    }
}

/// exiftool's LensIDConv: the exact key, else the same lens with other f-stops / lens type bits.
fn nikon_lens_name(key: &str) -> Option<String> {
    let table = super::lens_tables::NIKON_LENSES;
    // The first entry is exiftool's name for the key (its "KEY.1" alternatives come after).
    if let Some((_, name)) = table.iter().find(|(k, _)| *k == key) {
        return Some(name.to_string());
    }
    // Same lens with another LensFStops (the 2nd byte).
    let (id, rest) = key.split_at(2);
    let rest = &rest[3..];
    table
        .iter()
        .find(|(k, _)| k.starts_with(id) && &k[5..] == rest)
        .map(|(_, v)| v.to_string())
}

// ---------------------------------------------------------------------------------------------
// Olympus / OM System
// ---------------------------------------------------------------------------------------------

/// Olympus type 2 ("OLYMPUS\0II\x03\0") and OM System ("OM SYSTEM\0\0\0II\x04\0"): an IFD
/// after the header, offsets relative to the note; the Equipment sub-IFD (0x2010) holds
/// LensType (0x0201: make, ?, model, sub-model, ?, ?).
fn olympus(note: &[u8]) -> Option<MakerNote> {
    let header = if note.starts_with(b"OLYMPUS\0") {
        8
    } else if note.starts_with(b"OM SYSTEM\0") {
        12
    } else {
        return None;
    };
    let le = match note.get(header..header + 2)? {
        b"II" => true,
        b"MM" => false,
        _ => return None,
    };
    let t = Tiff {
        data: note,
        le,
        shift: 0,
    };
    let entries = t.ifd(header + 4);
    let equipment = find(&entries, 0x2010)?;
    let sub = t.ifd(equipment.raw as usize);
    let lens = find(&sub, 0x0201)?.value;
    if lens.len() < 4 {
        return None;
    }
    let key = format!("{:x} {:02x} {:02x}", lens[0], lens[2], lens[3]);
    let name = super::lens_tables::OLYMPUS_LENSES
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_string())
        .filter(|v| v != "None")?;
    Some(MakerNote {
        lens: Some(name),
        ..Default::default()
    })
}

// ---------------------------------------------------------------------------------------------
// Sony (A-mount)
// ---------------------------------------------------------------------------------------------

/// Sony ("SONY DSC \0\0\0" + an IFD, offsets relative to the EXIF TIFF): LensType (0xB027)
/// of A-mount lenses through the Minolta table. Several lenses sharing an ID are told apart as
/// exiftool does, by the focal range and maximum apertures the camera records (EXIF
/// LensSpecification or the lens model text).
fn sony(buf: &[u8], offset: usize, le: bool, exif: &Exif) -> Option<MakerNote> {
    let note = buf.get(offset..)?;
    let start = if note.starts_with(b"SONY DSC \0\0\0") || note.starts_with(b"SONY CAM \0\0\0") {
        offset + 12
    } else {
        return None;
    };
    let t = Tiff {
        data: buf,
        le,
        shift: 0,
    };
    let entries = t.ifd(start);
    let lens_type = find(&entries, 0xB027).and_then(|e| t.first_int(e))?;
    // 65535: E-mount, T-mount, other or no lens (the LensModel then names it).
    if lens_type == 0xFFFF || lens_type == 0xFFFF_FFFF {
        return None;
    }
    let id = lens_type.to_string();
    let table = super::lens_tables::MINOLTA_LENSES;
    let base = table.iter().find(|(k, _)| *k == id)?.1;
    let prefix = format!("{id}.");
    let alternatives: Vec<&str> = table
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(_, v)| *v)
        .collect();
    if alternatives.is_empty() {
        return Some(MakerNote {
            lens: Some(base.to_string()),
            ..Default::default()
        });
    }
    // The base entry lists "X or Y"; its first lens is a candidate too.
    let first = base.split(" or ").next().unwrap_or(base);
    let candidates: Vec<&str> = std::iter::once(first).chain(alternatives).collect();
    let recorded = recorded_lens_spec(exif);
    let matching: Vec<&str> = candidates
        .iter()
        .copied()
        .filter(|c| recorded.is_some_and(|r| lens_spec_of_name(c).is_some_and(|n| same_spec(n, r))))
        .collect();
    let lens = if matching.is_empty() {
        base.to_string()
    } else {
        matching.join(" or ")
    };
    Some(MakerNote {
        lens: Some(lens),
        ..Default::default()
    })
}

/// (short focal, long focal, aperture at short, aperture at long).
type Spec = (f64, f64, f64, f64);

fn same_spec(a: Spec, b: Spec) -> bool {
    (a.0 - b.0).abs() < 0.9
        && (a.1 - b.1).abs() < 0.9
        && (a.2 - b.2).abs() < 0.15
        && (a.3 - b.3).abs() < 0.15
}

/// "70-300mm F4-5.6", "50mm f/1.4" in a lens name.
fn lens_spec_of_name(name: &str) -> Option<Spec> {
    let mm = name.find("mm")?;
    let focal = name[..mm].rsplit(' ').next()?;
    let (short, long) = match focal.split_once('-') {
        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
        None => {
            let f: f64 = focal.parse().ok()?;
            (f, f)
        }
    };
    let rest = &name[mm..];
    let f = rest.find(['F', 'f'])?;
    let ap: String = rest[f + 1..]
        .trim_start_matches('/')
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '-')
        .collect();
    let (a, b) = match ap.split_once('-') {
        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
        None => {
            let a: f64 = ap.parse().ok()?;
            (a, a)
        }
    };
    Some((short, long, a, b))
}

/// The lens the camera describes in standard tags: LensSpecification, else the LensModel text.
fn recorded_lens_spec(exif: &Exif) -> Option<Spec> {
    if let Some(f) = exif.get_field(Tag::LensSpecification, In::PRIMARY)
        && let Value::Rational(r) = &f.value
        && r.len() == 4
        && r.iter().all(|x| x.denom != 0 && x.num != 0)
    {
        let v: Vec<f64> = r.iter().map(|x| x.to_f64()).collect();
        return Some((v[0], v[1], v[2], v[3]));
    }
    let model = exif.get_field(Tag::LensModel, In::PRIMARY)?;
    let Value::Ascii(parts) = &model.value else {
        return None;
    };
    lens_spec_of_name(std::str::from_utf8(parts.first()?).ok()?)
}

// ---------------------------------------------------------------------------------------------
// Casio, Reconyx
// ---------------------------------------------------------------------------------------------

/// Casio type 1 (an IFD at the note's offset, offsets relative to the EXIF TIFF): ISO (0x0014,
/// ISO; 0, which some models write, means unknown); type 2 ("QVC\0"): ISO at 0x3014.
fn casio(note: &[u8], buf: &[u8], offset: usize, le: bool) -> Option<MakerNote> {
    let (t, at, tag) = if note.starts_with(b"QVC\0") {
        // exiftool: byte order unknown, so the one giving a plausible entry count.
        let be = Tiff {
            data: buf,
            le: false,
            shift: 0,
        };
        let t = if be.u16(offset + 6).is_some_and(|n| n < 512) {
            be
        } else {
            Tiff {
                data: buf,
                le: true,
                shift: 0,
            }
        };
        (t, offset + 6, 0x3014)
    } else {
        (
            Tiff {
                data: buf,
                le,
                shift: 0,
            },
            offset,
            0x0014,
        )
    };
    let entries = t.ifd(at);
    // ISO 0 (some Casio models) means unknown.
    let iso = find(&entries, tag)
        .and_then(|e| t.first_int(e))
        .filter(|&i| i > 0)?;
    Some(MakerNote {
        iso: Some(f64::from(iso)),
        ..Default::default()
    })
}

/// Reconyx HyperFire (version 0xF101): int16u values; the date is 6 of them at index 0x0b
/// (seconds, minutes, hours, month, day, year), sometimes written big-endian.
fn reconyx(note: &[u8]) -> Option<MakerNote> {
    if note.get(0..2) != Some(&[0x01, 0xF1]) {
        return None;
    }
    let mut a = [0u16; 6];
    for (i, v) in a.iter_mut().enumerate() {
        *v = u16::from_le_bytes(note.get(22 + 2 * i..24 + 2 * i)?.try_into().ok()?);
    }
    if a[0] & 0xFF00 != 0 && a[0] & 0xFF == 0 {
        for v in &mut a {
            *v = v.swap_bytes();
        }
    }
    let [s, mi, h, mo, d, y] = a;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 || y < 1900
    {
        return None;
    }
    Some(MakerNote {
        date: Some(format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}")),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canon_unknown_lens_is_its_focal_range() {
        let mut s = vec![0u16; 30];
        s[22] = 0xFFFF;
        s[23] = 682; // 21.3125 mm at 32 units/mm
        s[24] = 227; // 7.09375 mm
        s[25] = 32;
        assert_eq!(canon_lens(&s).as_deref(), Some("Unknown 7-21mm"));
        s[22] = 0x0001;
        assert_eq!(canon_lens(&s), None);
    }

    #[test]
    fn canon_iso_from_camera_iso_or_base_times_auto() {
        let mut s = vec![0u16; 30];
        s[16] = 17;
        assert_eq!(canon_iso(&s, &[]), Some(100.0));
        s[16] = 0x4000 | 1600;
        assert_eq!(canon_iso(&s, &[]), Some(1600.0));
        s[16] = 0; // n/a: BaseISO (ShotInfo[2]) × AutoISO (ShotInfo[1]) / 100
        let shot = [0u16, 0, 160];
        let iso = canon_iso(&s, &shot).unwrap();
        assert!(
            (iso - 100.0 * 32f64.log2().exp2() / 32.0).abs() < 1e-9,
            "{iso}"
        );
    }

    #[test]
    fn nikon_lens_ids_resolve_as_exiftool_does() {
        assert_eq!(
            nikon_lens_name("01 58 50 50 14 14 02 00").as_deref(),
            Some("AF Nikkor 50mm f/1.8")
        );
        // Another LensFStops byte still finds the lens.
        assert_eq!(
            nikon_lens_name("01 FF 50 50 14 14 02 00").as_deref(),
            Some("AF Nikkor 50mm f/1.8")
        );
        assert_eq!(nikon_lens_name("FF FF FF FF FF FF FF FF"), None);
    }

    #[test]
    fn nikon_decryption_round_trips() {
        let mut data = b"0204 some lens data".to_vec();
        let orig = data.clone();
        nikon_decrypt(&mut data[4..], 0x12, 0x3456);
        assert_ne!(data, orig);
        nikon_decrypt(&mut data[4..], 0x12, 0x3456);
        assert_eq!(data, orig);
    }

    #[test]
    fn lens_specs_are_read_from_names() {
        assert_eq!(
            lens_spec_of_name("Tamron SP 70-300mm F4-5.6 Di USD"),
            Some((70.0, 300.0, 4.0, 5.6))
        );
        assert_eq!(
            lens_spec_of_name("AF Nikkor 50mm f/1.8"),
            Some((50.0, 50.0, 1.8, 1.8))
        );
        assert!(!same_spec(
            lens_spec_of_name("Sony 70-300mm F4.5-5.6 G SSM II (SAL70300G2)").unwrap(),
            (70.0, 300.0, 4.0, 5.6)
        ));
    }

    #[test]
    fn olympus_equipment_lens_type() {
        // "OLYMPUS\0II\x03\0", IFD at 12 with 0x2010 -> sub-IFD at 30 with 0x0201.
        let mut note = b"OLYMPUS\0II\x03\0".to_vec();
        note.extend([1, 0, 0x10, 0x20, 13, 0, 1, 0, 0, 0, 30, 0, 0, 0]);
        note.extend([0, 0, 0, 0]);
        note.extend([1, 0, 0x01, 0x02, 1, 0, 6, 0, 0, 0, 48, 0, 0, 0]);
        note.extend([0, 0, 0, 0]);
        note.extend([2, 0, 0x12, 0x10, 0, 0x10]);
        assert_eq!(
            olympus(&note).and_then(|n| n.lens).as_deref(),
            Some("Leica DG Summilux 25mm F1.4 Asph.")
        );
    }

    #[test]
    fn broken_notes_yield_nothing() {
        assert_eq!(olympus(b"OLYMPUS\0II\x03\0\xff\xff"), None);
        assert_eq!(nikon(b"Nikon\0\x02\x10\0\0II*\0\xff\xff\xff\xff"), None);
        assert_eq!(nikon(b"garbage"), None);
        assert_eq!(reconyx(b"\x01\xF1short"), None);
        assert!(canon(&[0u8; 4], 4, true, 0).is_none());
        assert!(canon(&[0u8; 40], 10, true, 30).is_some_and(|n| n == MakerNote::default()));
    }
}
