//! The XMP packet's camera fields, for what the EXIF lacks (exiftool reads them too): a PNG
//! whose only metadata is XMP, a JPEG whose EXIF IFD is unreadable. Found by its
//! `<x:xmpmeta` … `</x:xmpmeta>` markers anywhere in the file, in element or attribute form
//! (`<exif:FNumber>8/1</exif:FNumber>`, `exif:FNumber="8/1"`). Compressed packets are not read.

/// The camera fields of the file's XMP packet.
#[derive(Debug, Default, PartialEq)]
pub struct Xmp {
    pub make: Option<String>,
    pub model: Option<String>,
    pub iso: Option<f64>,
    pub f_number: Option<f64>,
    pub exposure: Option<f64>,
    pub focal_length: Option<f64>,
    pub focal_length_35mm: Option<f64>,
    /// exif:DateTimeOriginal as written (ISO 8601).
    pub date_original: Option<String>,
}

pub fn read(bytes: &[u8]) -> Option<Xmp> {
    let start = find(bytes, b"<x:xmpmeta")?;
    let end = find(&bytes[start..], b"</x:xmpmeta>")? + start;
    let text = std::str::from_utf8(&bytes[start..end]).ok()?;
    let number = |name: &str| value(text, name).as_deref().and_then(rational);
    Some(Xmp {
        make: value(text, "tiff:Make").filter(|s| !s.is_empty()),
        model: value(text, "tiff:Model").filter(|s| !s.is_empty()),
        iso: number("exif:ISOSpeedRatings").or_else(|| number("exifEX:PhotographicSensitivity")),
        f_number: number("exif:FNumber"),
        exposure: number("exif:ExposureTime"),
        focal_length: number("exif:FocalLength"),
        focal_length_35mm: number("exif:FocalLengthIn35mmFilm"),
        date_original: value(text, "exif:DateTimeOriginal"),
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The property's text: an attribute `name="v"`, an element `<name>v</name>`, or the first
/// `<rdf:li>` of an element holding a list. Trimmed, XML entities for & < > " ' decoded.
fn value(text: &str, name: &str) -> Option<String> {
    let raw = attribute(text, name).or_else(|| element(text, name))?;
    let v = raw
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&");
    Some(v.trim().to_string())
}

fn attribute<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(i) = text[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        if !text[..at].ends_with(char::is_whitespace) {
            continue;
        }
        let Some(rest) = text[from..].trim_start().strip_prefix('=') else {
            continue;
        };
        let rest = rest.trim_start();
        let Some(quote) = rest.chars().next().filter(|q| *q == '"' || *q == '\'') else {
            continue;
        };
        let body = &rest[1..];
        return body.find(quote).map(|e| &body[..e]);
    }
    None
}

fn element<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}");
    let close = format!("</{name}>");
    let mut from = 0;
    while let Some(i) = text[from..].find(&open) {
        let after = &text[from + i + open.len()..];
        from += i + open.len();
        // `<name>` or `<name attr…>`, not `<nameSuffix`.
        if !after.starts_with(['>', ' ', '\t', '\r', '\n']) {
            continue;
        }
        let body_start = after.find('>')? + 1;
        if after[..body_start].ends_with("/>") {
            continue;
        }
        let body = &after[body_start..];
        let body = &body[..body.find(&close)?];
        if let Some(li) = body.find("<rdf:li") {
            let li = &body[li..];
            let s = li.find('>')? + 1;
            let e = li.find("</rdf:li>")?;
            return li.get(s..e);
        }
        return Some(body);
    }
    None
}

/// "8/1", "8.0", "55.0 mm" as a positive number.
fn rational(s: &str) -> Option<f64> {
    let s = s.trim().trim_end_matches("mm").trim();
    let v = match s.split_once('/') {
        Some((n, d)) => {
            let (n, d): (f64, f64) = (n.trim().parse().ok()?, d.trim().parse().ok()?);
            (d != 0.0).then(|| n / d)?
        }
        None => s.parse().ok()?,
    };
    (v.is_finite() && v > 0.0).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_attributes_and_lists() {
        let packet = br#"junk<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description
            tiff:Make="PENTAX Corporation " exif:DateTimeOriginal="2013-07-05T03:18:27Z">
            <tiff:Model>PENTAX K100D Super </tiff:Model>
            <exif:FNumber>8/1</exif:FNumber><exif:ExposureTime>1/6</exif:ExposureTime>
            <exif:FocalLengthIn35mmFilm>82</exif:FocalLengthIn35mmFilm>
            <exif:FocalLength>55/1</exif:FocalLength>
            <exif:ISOSpeedRatings><rdf:Seq><rdf:li>800</rdf:li></rdf:Seq></exif:ISOSpeedRatings>
            </rdf:Description></rdf:RDF></x:xmpmeta>junk"#;
        let x = read(packet).unwrap();
        assert_eq!(x.make.as_deref(), Some("PENTAX Corporation"));
        assert_eq!(x.model.as_deref(), Some("PENTAX K100D Super"));
        assert_eq!(x.iso, Some(800.0));
        assert_eq!(x.f_number, Some(8.0));
        assert_eq!(x.exposure, Some(1.0 / 6.0));
        assert_eq!(x.focal_length, Some(55.0));
        assert_eq!(x.focal_length_35mm, Some(82.0));
        assert_eq!(x.date_original.as_deref(), Some("2013-07-05T03:18:27Z"));
    }

    #[test]
    fn absent_or_broken_packets() {
        assert_eq!(read(b"no packet"), None);
        assert_eq!(read(b"<x:xmpmeta unterminated"), None);
        let x = read(b"<x:xmpmeta><exif:FNumber>0/0</exif:FNumber></x:xmpmeta>").unwrap();
        assert_eq!(x, Xmp::default());
    }
}
