//! XMP sidecars: Facet's verdicts for Lightroom, darktable, digiKam and
//! Capture One (`facet xmp export`), and their culls back into Facet
//! (`facet xmp import`).
//!
//! # What a sidecar holds
//!
//! For each photo, in an `rdf:Description` of the sidecar's `x:xmpmeta`:
//!
//! * `xmp:Rating` — the member's stars (0–5), `-1` for a reject;
//! * `xmp:Label` — the colour label [`XmpSettings::favorite_label`]
//!   (`Red` by default) for a favourite;
//! * `dc:subject` — keywords: the model's tags (`photos.tags`), the member's
//!   imported keywords (`user_keywords`) and the keywords the sidecar already
//!   had, in that order of first appearance;
//! * `mwg-rs:Regions` — the named people as Metadata Working Group face
//!   regions: `stArea` centre, width and height normalised to the frame
//!   (the photo's stored width and height, after EXIF orientation, given as
//!   `mwg-rs:AppliedToDimensions` in pixels), `mwg-rs:Type` `Face`,
//!   `mwg-rs:Name` the person's name;
//! * Facet's own namespace [`FACET_NS`] (prefix `facet`): `Score`
//!   (aggregate, 0–10), `Category`, `TopPicksScore`, `TopPick`, and the key
//!   metrics `Aesthetic`, `Sharpness`, `Exposure`, `Composition`,
//!   `FaceCount`.
//!
//! The sidecar is `IMG_1234.CR2.xmp` ([`Naming::Extension`]: darktable,
//! digiKam) or `IMG_1234.xmp` ([`Naming::Stem`]: Lightroom, Capture One),
//! chosen by `--naming` or the configuration's `xmp.sidecar_naming`.
//!
//! # Merging, not overwriting
//!
//! An existing sidecar is read with quick-xml's namespace-aware reader, which
//! yields every event with its byte offsets. The properties Facet owns are
//! found by namespace URI and local name (whatever prefix the file binds),
//! whether written as elements or as attributes of `rdf:Description`, and
//! the new file is the old one with exactly those byte ranges cut out and
//! Facet's properties inserted before the first `rdf:Description`'s end tag
//! (with an `xmlns` declaration added to that tag for each namespace it does
//! not bind yet). Every other byte — other applications' properties and
//! namespaces (darktable's history, Lightroom's `crs:` settings),
//! comments, whitespace, the attribute quoting — is copied unchanged.
//! Facet's properties are written last, so a second export of unchanged
//! data gives the same bytes, and an unchanged sidecar is not rewritten (its
//! modification time keeps meaning "last edited").
//!
//! Which properties are Facet's in a given export:
//!
//! * `xmp:Rating` and `xmp:Label` only when the member has a state row for
//!   the photo (rated, favourited or rejected in Facet; otherwise another
//!   application's rating stays). An existing label other than the
//!   favourite label is kept when the photo is not a favourite.
//! * `dc:subject` only when Facet adds a keyword the sidecar lacks (the
//!   union is written; Facet never drops another application's keyword).
//! * `mwg-rs:Regions` only when Facet knows named people in the photo.
//! * Everything in [`FACET_NS`], always.
//!
//! Files are written to a temporary file beside the sidecar and renamed
//! over it, so a crash leaves the old sidecar or the new one, never half.
//!
//! # Import
//!
//! `xmp:Rating`, `xmp:Label` and `dc:subject` are read back (elements or
//! attributes, any prefix). Ratings and labels replace the member's state
//! when the sidecar was modified after the state's `updated_at` (newest
//! wins; `-1` rejects the photo and keeps its stars, a rating of 0–5
//! un-rejects it; the favourite label makes a favourite, any other or none
//! does not). Keywords that are not already the photo's model tags are
//! merged into the member's `user_keywords` (never removed). The changes are
//! written with the store's upsert by key, in one commit per table, as the
//! gallery writes ratings.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int32Array, ListArray, RecordBatch, StringArray,
    TimestampNanosecondArray,
};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::scalar::ScalarValue;
use facet_config::FacetConfig;
use facet_store::Store;
use quick_xml::NsReader;
use quick_xml::events::{BytesText, Event};
use quick_xml::name::{QName, ResolveResult};
use quick_xml::writer::Writer;

use crate::{Error, Result};

/// Facet's XMP namespace.
pub const FACET_NS: &str = "http://facet.photos/ns/1.0/";
const RDF_NS: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";
const XMP_NS: &str = "http://ns.adobe.com/xap/1.0/";
const DC_NS: &str = "http://purl.org/dc/elements/1.1/";
const MWG_RS_NS: &str = "http://www.metadataworkinggroup.com/schemas/regions/";
const ST_AREA_NS: &str = "http://ns.adobe.com/xmp/sType/Area#";
const ST_DIM_NS: &str = "http://ns.adobe.com/xap/1.0/sType/Dimensions#";

/// The namespaces Facet writes, with their usual prefixes.
const NAMESPACES: [(&str, &str); 6] = [
    (XMP_NS, "xmp"),
    (DC_NS, "dc"),
    (MWG_RS_NS, "mwg-rs"),
    (ST_AREA_NS, "stArea"),
    (ST_DIM_NS, "stDim"),
    (FACET_NS, "facet"),
];

/// A problem with one sidecar: reported with its path, the others go on.
#[derive(Debug, thiserror::Error)]
pub enum SidecarError {
    #[error("cannot read or write: {0}")]
    Io(#[from] std::io::Error),
    #[error("not UTF-8 text")]
    NotUtf8,
    #[error("not well-formed XML at byte {position}: {source}")]
    Xml {
        position: u64,
        source: quick_xml::Error,
    },
    #[error("no rdf:Description element (not an XMP packet?)")]
    NoDescription,
}

/// How a photo's sidecar is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// `IMG_1234.CR2.xmp` (darktable, digiKam).
    Extension,
    /// `IMG_1234.xmp` (Lightroom, Capture One).
    Stem,
}

impl Naming {
    /// The names `--naming` and `xmp.sidecar_naming` take: `extension` (or
    /// `darktable`, `digikam`), `stem` (or `lightroom`, `capture-one`).
    pub const NAMES: [&str; 6] = [
        "extension",
        "darktable",
        "digikam",
        "stem",
        "lightroom",
        "capture-one",
    ];

    pub fn parse(s: &str) -> Option<Naming> {
        match s.to_ascii_lowercase().as_str() {
            "extension" | "darktable" | "digikam" => Some(Naming::Extension),
            "stem" | "lightroom" | "capture-one" | "captureone" => Some(Naming::Stem),
            _ => None,
        }
    }

    /// The sidecar of `photo`.
    pub fn sidecar(self, photo: &Path) -> PathBuf {
        match self {
            Naming::Extension => {
                let mut s = photo.as_os_str().to_owned();
                s.push(".xmp");
                PathBuf::from(s)
            }
            Naming::Stem => photo.with_extension("xmp"),
        }
    }

    fn other(self) -> Naming {
        match self {
            Naming::Extension => Naming::Stem,
            Naming::Stem => Naming::Extension,
        }
    }
}

/// The configuration's `xmp` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmpSettings {
    /// `xmp.sidecar_naming` (default `extension`).
    pub naming: Naming,
    /// `xmp.favorite_label`: the colour label of a favourite (default `Red`).
    pub favorite_label: String,
}

impl XmpSettings {
    /// Reads the `xmp` section (`sidecar_naming`, `favorite_label`).
    pub fn from_config(config: &FacetConfig) -> Result<XmpSettings> {
        let mut s = XmpSettings {
            naming: Naming::Extension,
            favorite_label: "Red".into(),
        };
        let Some(section) = config.other.get("xmp") else {
            return Ok(s);
        };
        let Some(map) = section.as_object() else {
            return Err(Error::Config("xmp: expected an object".into()));
        };
        for (k, v) in map {
            match (k.as_str(), v.as_str()) {
                ("sidecar_naming", Some(n)) => {
                    s.naming = Naming::parse(n).ok_or_else(|| {
                        Error::Config(format!(
                            "xmp.sidecar_naming: `{n}` is not one of {:?}",
                            Naming::NAMES
                        ))
                    })?
                }
                ("favorite_label", Some(l)) if !l.trim().is_empty() => {
                    s.favorite_label = l.trim().to_string()
                }
                ("sidecar_naming" | "favorite_label", _) => {
                    return Err(Error::Config(format!(
                        "xmp.{k}: expected a non-empty string"
                    )));
                }
                _ => {
                    return Err(Error::Config(format!(
                        "xmp.{k}: unknown setting (known: sidecar_naming, favorite_label)"
                    )));
                }
            }
        }
        Ok(s)
    }
}

/// Whose state: the single-user mode's `user_state`, or a member's rows of
/// `user_preferences` (and the photos under their folders).
#[derive(Debug, Clone)]
pub enum Member {
    Single,
    User { name: String, dirs: Vec<String> },
}

impl Member {
    /// `user` in `config`: required in the multi-user mode (a `users`
    /// section), refused in the single-user mode.
    pub fn resolve(config: &FacetConfig, user: Option<&str>) -> Result<Member> {
        let users = &config.users;
        match (user, users.enabled()) {
            (None, false) => Ok(Member::Single),
            (Some(u), true) => {
                let Some(found) = users.users.get(u) else {
                    let known: Vec<&String> = users.users.keys().collect();
                    return Err(Error::NotFound(format!(
                        "no user `{u}` in the configuration's `users` (known: {known:?})"
                    )));
                };
                Ok(Member::User {
                    name: u.to_string(),
                    dirs: found
                        .directories
                        .iter()
                        .chain(&users.shared_directories)
                        .cloned()
                        .collect(),
                })
            }
            (None, true) => {
                let known: Vec<&String> = users.users.keys().collect();
                Err(Error::Config(format!(
                    "the configuration has users: say whose ratings with --user (one of {known:?})"
                )))
            }
            (Some(u), false) => Err(Error::Config(format!(
                "--user {u}: the configuration has no `users` section (single-user mode: leave --user out)"
            ))),
        }
    }

    fn name(&self) -> &str {
        match self {
            Member::Single => "",
            Member::User { name, .. } => name,
        }
    }

    /// The photo is the member's (under one of their folders, whole path
    /// components).
    fn sees(&self, path: &str) -> bool {
        match self {
            Member::Single => true,
            Member::User { dirs, .. } => dirs.iter().any(|d| {
                let d = d.trim_end_matches('/');
                path == d || (path.starts_with(d) && path[d.len()..].starts_with('/'))
            }),
        }
    }
}

/// What Facet knows of a photo for its sidecar.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhotoXmp {
    /// The member's state, when they have one for the photo.
    pub state: Option<UserState>,
    /// Tags and keywords, in order.
    pub keywords: Vec<String>,
    pub regions: Vec<FaceRegion>,
    /// The frame the regions apply to (pixels).
    pub dimensions: Option<(i64, i64)>,
    /// `facet:` properties, in order (local name, value).
    pub facet: Vec<(&'static str, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserState {
    pub rating: i32,
    pub favorite: bool,
    pub rejected: bool,
    /// ns since the epoch.
    pub updated_at: Option<i64>,
}

/// A named face, its box in pixels of the oriented frame.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceRegion {
    pub name: String,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

/// What a sidecar says (import).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SidecarValues {
    pub rating: Option<i32>,
    pub label: Option<String>,
    pub keywords: Vec<String>,
}

// ---------------------------------------------------------------------
// Reading a sidecar: byte ranges of Facet's properties, and their values.
// ---------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rdf,
    Description,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Prop {
    Rating,
    Label,
    Subject,
    Regions,
    Facet,
}

fn prop_of(ns: &str, local: &str) -> Option<Prop> {
    match (ns, local) {
        (XMP_NS, "Rating") => Some(Prop::Rating),
        (XMP_NS, "Label") => Some(Prop::Label),
        (DC_NS, "subject") => Some(Prop::Subject),
        (MWG_RS_NS, "Regions") => Some(Prop::Regions),
        (FACET_NS, _) => Some(Prop::Facet),
        _ => None,
    }
}

/// The first `rdf:Description`: where Facet's properties go.
#[derive(Debug, Clone)]
struct Anchor {
    /// Its start tag's qualified name.
    qname: String,
    /// The byte range of its start tag (or empty-element tag).
    tag: Range<usize>,
    /// Written as `<rdf:Description …/>`.
    empty: bool,
    /// Where the end tag starts (with the whitespace before it), when not empty.
    insert_at: usize,
    /// The whitespace before its start tag on its line, for indenting.
    indent: String,
    /// Namespace URI -> prefix in scope at the tag.
    bound: HashMap<String, String>,
    /// Prefixes in scope.
    prefixes: HashSet<String>,
}

#[derive(Debug, Default)]
struct Scanned {
    /// Facet-owned property spans (elements with the whitespace before
    /// them, or attributes with theirs).
    spans: Vec<(Prop, Range<usize>)>,
    values: SidecarValues,
    anchor: Option<Anchor>,
}

fn xml_err(reader: &NsReader<&[u8]>, e: quick_xml::Error) -> SidecarError {
    SidecarError::Xml {
        position: reader.error_position(),
        source: e,
    }
}

fn ns_str(r: &ResolveResult) -> Option<String> {
    match r {
        ResolveResult::Bound(ns) => Some(ns.as_ref().to_string()),
        _ => None,
    }
}

/// The attributes of a start tag (`<name a="v" …>` or `…/>`): each key with
/// the byte range (in `tag`) of the attribute and the whitespace before it.
fn attribute_spans(tag: &str) -> Vec<(String, Range<usize>)> {
    let b = tag.as_bytes();
    let mut i = 1;
    while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' && b[i] != b'/' {
        i += 1;
    }
    let mut out = Vec::new();
    loop {
        let start = i;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() || b[i] == b'>' || b[i] == b'/' {
            break;
        }
        let k0 = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' {
            i += 1;
        }
        let key = tag[k0..i].to_string();
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'=') {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let quote = b[i];
        i += 1;
        while i < b.len() && b[i] != quote {
            i += 1;
        }
        i += 1;
        out.push((key, start..i.min(b.len())));
    }
    out
}

/// Text of a property element, as the reader gives it in pieces.
fn push_text(buf: &mut String, e: &Event) {
    match e {
        Event::Text(t) => buf.push_str(&t.xml10_content()),
        Event::CData(t) => buf.push_str(&t.xml10_content()),
        Event::GeneralRef(r) => {
            if let Ok(Some(c)) = r.resolve_char_ref() {
                buf.push(c);
            } else if let Some(s) = quick_xml::escape::resolve_predefined_entity(&r.xml10_content())
            {
                buf.push_str(s);
            }
        }
        _ => {}
    }
}

fn scan(text: &str) -> Result<Scanned, SidecarError> {
    let mut reader = NsReader::from_str(text);
    reader.config_mut().trim_text(false);
    let mut out = Scanned::default();
    // The element stack: each element's kind (rdf:RDF, a top-level
    // rdf:Description, other) and the owned property it is, if any.
    let mut stack: Vec<(Kind, Option<Prop>)> = Vec::new();
    // The owned element being cut: its property, start byte, stack depth.
    let mut cutting: Option<(Prop, usize, usize)> = None;
    let mut prev_ws: Option<Range<usize>> = None;
    let mut text_buf = String::new();
    let mut in_li = false;
    let mut anchor_depth: Option<usize> = None;
    loop {
        let before = reader.buffer_position() as usize;
        let read = reader.read_resolved_event().map(|(ns, e)| (ns_str(&ns), e));
        let (ns, event) = match read {
            Ok(v) => v,
            Err(e) => return Err(xml_err(&reader, e)),
        };
        let after = reader.buffer_position() as usize;
        let ws_before = prev_ws.take();
        match &event {
            Event::Start(e) | Event::Empty(e) => {
                let empty = matches!(event, Event::Empty(_));
                let local = e.local_name().as_ref().to_string();
                let in_rdf = ns.as_deref() == Some(RDF_NS);
                let parent = stack.last().map(|s| s.0);
                let is_desc = in_rdf && local == "Description" && parent == Some(Kind::Rdf);
                let parent_is_desc = parent == Some(Kind::Description);
                let owned = if parent_is_desc && cutting.is_none() {
                    ns.as_deref().and_then(|n| prop_of(n, &local))
                } else {
                    None
                };
                if let Some(p) = owned {
                    let start = ws_before.as_ref().map_or(before, |w| w.start);
                    if empty {
                        out.spans.push((p, start..after));
                        // An empty property element may carry its value as
                        // `rdf:resource`; Facet's are plain literals.
                    } else {
                        cutting = Some((p, start, stack.len()));
                        text_buf.clear();
                    }
                }
                if let Some((Prop::Subject, _, _)) = cutting
                    && ns.as_deref() == Some(RDF_NS)
                    && local == "li"
                    && !empty
                {
                    in_li = true;
                    text_buf.clear();
                }
                if is_desc {
                    let tag = &text[before..after];
                    for (key, span) in attribute_spans(tag) {
                        if key.starts_with("xmlns") {
                            continue;
                        }
                        let (r, l) = reader.resolver().resolve_attribute(QName(&key));
                        let Some(n) = ns_str(&r) else { continue };
                        let local = l.as_ref().to_string();
                        let Some(p) = prop_of(&n, &local) else {
                            continue;
                        };
                        let value = e
                            .attributes()
                            .flatten()
                            .find(|a| a.key.as_ref() == key)
                            .and_then(|a| {
                                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                    .ok()
                                    .map(|v| v.into_owned())
                            })
                            .unwrap_or_default();
                        record_value(&mut out.values, p, &value);
                        out.spans.push((p, before + span.start..before + span.end));
                    }
                    if out.anchor.is_none() {
                        let mut bound = HashMap::new();
                        let mut prefixes = HashSet::new();
                        for (p, n) in reader.resolver().bindings() {
                            if let quick_xml::name::PrefixDeclaration::Named(p) = p {
                                let p = p.to_string();
                                bound.entry(n.as_ref().to_string()).or_insert(p.clone());
                                prefixes.insert(p);
                            }
                        }
                        let line = text[..before].rsplit('\n').next().unwrap_or("");
                        let indent = if line.trim().is_empty() { line } else { "" };
                        out.anchor = Some(Anchor {
                            qname: e.name().as_ref().to_string(),
                            tag: before..after,
                            empty,
                            insert_at: after,
                            indent: indent.to_string(),
                            bound,
                            prefixes,
                        });
                        if !empty {
                            anchor_depth = Some(stack.len());
                        }
                    }
                }
                if !empty {
                    let kind = if is_desc {
                        Kind::Description
                    } else if in_rdf && local == "RDF" {
                        Kind::Rdf
                    } else {
                        Kind::Other
                    };
                    stack.push((kind, owned));
                }
            }
            Event::End(_) => {
                let Some((_, owned)) = stack.pop() else {
                    break;
                };
                if in_li {
                    in_li = false;
                    let k = text_buf.trim().to_string();
                    if !k.is_empty() && !out.values.keywords.contains(&k) {
                        out.values.keywords.push(k);
                    }
                    text_buf.clear();
                }
                if let Some((p, start, depth)) = cutting
                    && depth == stack.len()
                {
                    debug_assert_eq!(owned, Some(p));
                    if matches!(p, Prop::Rating | Prop::Label) {
                        let v = std::mem::take(&mut text_buf);
                        record_value(&mut out.values, p, &v);
                    }
                    out.spans.push((p, start..after));
                    cutting = None;
                }
                if anchor_depth == Some(stack.len()) {
                    anchor_depth = None;
                    let a = out.anchor.as_mut().expect("set with its depth");
                    a.insert_at = ws_before.as_ref().map_or(before, |w| w.start);
                }
            }
            Event::Text(t) => {
                if t.trim_ascii().is_empty() {
                    prev_ws = Some(before..after);
                }
                if cutting.is_some() {
                    push_text(&mut text_buf, &event);
                }
            }
            Event::CData(_) | Event::GeneralRef(_) if cutting.is_some() => {
                push_text(&mut text_buf, &event);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if out.anchor.is_none() {
        return Err(SidecarError::NoDescription);
    }
    Ok(out)
}

fn record_value(values: &mut SidecarValues, p: Prop, v: &str) {
    let v = v.trim();
    match p {
        Prop::Rating => {
            values.rating = v
                .parse::<f64>()
                .ok()
                .map(|r| (r.round() as i32).clamp(-1, 5))
        }
        Prop::Label if !v.is_empty() => values.label = Some(v.to_string()),
        _ => {}
    }
}

/// What a sidecar's text says about rating, label and keywords.
pub fn read_values(text: &str) -> Result<SidecarValues, SidecarError> {
    Ok(scan(text)?.values)
}

// ---------------------------------------------------------------------
// Writing: the merge.
// ---------------------------------------------------------------------

/// A new sidecar: an empty XMP packet (then merged into like any other).
fn empty_packet() -> String {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 1);
    let write = |w: &mut Writer<Vec<u8>>| -> std::io::Result<()> {
        w.write_event(Event::PI(quick_xml::events::BytesPI::new(
            "xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"",
        )))?;
        w.create_element("x:xmpmeta")
            .with_attribute(("xmlns:x", "adobe:ns:meta/"))
            .with_attribute(("x:xmptk", "Facet"))
            .write_inner_content(|w| {
                w.create_element("rdf:RDF")
                    .with_attribute(("xmlns:rdf", RDF_NS))
                    .write_inner_content(|w| {
                        w.create_element("rdf:Description")
                            .with_attribute(("rdf:about", ""))
                            .write_empty()?;
                        Ok(())
                    })?;
                Ok(())
            })?;
        w.write_event(Event::PI(quick_xml::events::BytesPI::new(
            "xpacket end=\"w\"",
        )))?;
        Ok(())
    };
    write(&mut w).expect("writing to memory");
    let mut s = String::from_utf8(w.into_inner()).expect("UTF-8 in, UTF-8 out");
    s.push('\n');
    s
}

/// The prefixes the new properties use, and the declarations to add.
struct Prefixes {
    of: HashMap<&'static str, String>,
    declare: Vec<(String, &'static str)>,
}

fn prefixes(anchor: &Anchor, needed: &[&'static str]) -> Prefixes {
    let mut of = HashMap::new();
    let mut declare = Vec::new();
    let mut taken = anchor.prefixes.clone();
    for uri in [RDF_NS].iter().chain(needed) {
        if of.contains_key(uri) {
            continue;
        }
        if let Some(p) = anchor.bound.get(*uri) {
            of.insert(*uri, p.clone());
            continue;
        }
        let base = NAMESPACES
            .iter()
            .find(|(u, _)| u == uri)
            .map_or("rdf", |(_, p)| p);
        let mut p = base.to_string();
        let mut n = 1;
        while taken.contains(&p) {
            n += 1;
            p = format!("{base}{n}");
        }
        taken.insert(p.clone());
        of.insert(*uri, p.clone());
        declare.push((p, *uri));
    }
    Prefixes { of, declare }
}

fn fmt_num(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// Facet's properties as XML elements (indented one level below `indent`).
fn properties(
    p: &Prefixes,
    write_rating: Option<i32>,
    write_label: Option<&str>,
    keywords: Option<&[String]>,
    photo: &PhotoXmp,
    write_regions: bool,
    indent: &str,
) -> String {
    let q = |uri: &str, local: &str| format!("{}:{local}", p.of[uri]);
    let rdf = |local: &str| q(RDF_NS, local);
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 1);
    let write = |w: &mut Writer<Vec<u8>>| -> std::io::Result<()> {
        let simple = |w: &mut Writer<Vec<u8>>, name: String, v: &str| -> std::io::Result<()> {
            w.create_element(name.as_str())
                .write_text_content(BytesText::new(v))?;
            Ok(())
        };
        // Keywords first: a dc:subject that a later export keeps in place
        // stays before the properties it cuts and writes again.
        if let Some(k) = keywords {
            w.create_element(q(DC_NS, "subject").as_str())
                .write_inner_content(|w| {
                    w.create_element(rdf("Bag").as_str())
                        .write_inner_content(|w| {
                            for k in k {
                                w.create_element(rdf("li").as_str())
                                    .write_text_content(BytesText::new(k))?;
                            }
                            Ok(())
                        })?;
                    Ok(())
                })?;
        }
        if let Some(r) = write_rating {
            simple(w, q(XMP_NS, "Rating"), &r.to_string())?;
        }
        if let Some(l) = write_label {
            simple(w, q(XMP_NS, "Label"), l)?;
        }
        if write_regions {
            let resource = (rdf("parseType"), "Resource");
            let resource = (resource.0.as_str(), resource.1);
            w.create_element(q(MWG_RS_NS, "Regions").as_str())
                .with_attribute(resource)
                .write_inner_content(|w| {
                    if let Some((width, height)) = photo.dimensions {
                        w.create_element(q(MWG_RS_NS, "AppliedToDimensions").as_str())
                            .with_attribute(resource)
                            .write_inner_content(|w| {
                                simple(w, q(ST_DIM_NS, "w"), &width.to_string())?;
                                simple(w, q(ST_DIM_NS, "h"), &height.to_string())?;
                                simple(w, q(ST_DIM_NS, "unit"), "pixel")?;
                                Ok(())
                            })?;
                    }
                    w.create_element(q(MWG_RS_NS, "RegionList").as_str())
                        .write_inner_content(|w| {
                            w.create_element(rdf("Bag").as_str())
                                .write_inner_content(|w| {
                                    for r in &photo.regions {
                                        region(w, r, photo.dimensions, &q, resource)?;
                                    }
                                    Ok(())
                                })?;
                            Ok(())
                        })?;
                    Ok(())
                })?;
        }
        for (local, v) in &photo.facet {
            simple(w, q(FACET_NS, local), v)?;
        }
        Ok(())
    };
    write(&mut w).expect("writing to memory");
    let body = String::from_utf8(w.into_inner()).expect("UTF-8 in, UTF-8 out");
    let inner = format!("{indent} ");
    let mut out = String::new();
    for line in body.lines() {
        out.push('\n');
        out.push_str(&inner);
        out.push_str(line);
    }
    out
}

fn region(
    w: &mut Writer<Vec<u8>>,
    r: &FaceRegion,
    dims: Option<(i64, i64)>,
    q: &dyn Fn(&str, &str) -> String,
    resource: (&str, &str),
) -> std::io::Result<()> {
    let (fw, fh) = dims.map_or((1.0, 1.0), |(w, h)| (w.max(1) as f64, h.max(1) as f64));
    let clamp = |v: f64| v.clamp(0.0, 1.0);
    let (cx, cy) = (
        clamp((r.x + r.width / 2.0) / fw),
        clamp((r.y + r.height / 2.0) / fh),
    );
    let (nw, nh) = (clamp(r.width / fw), clamp(r.height / fh));
    w.create_element(q(RDF_NS, "li").as_str())
        .with_attribute(resource)
        .write_inner_content(|w| {
            let simple = |w: &mut Writer<Vec<u8>>, name: String, v: &str| -> std::io::Result<()> {
                w.create_element(name.as_str())
                    .write_text_content(BytesText::new(v))?;
                Ok(())
            };
            w.create_element(q(MWG_RS_NS, "Area").as_str())
                .with_attribute(resource)
                .write_inner_content(|w| {
                    simple(w, q(ST_AREA_NS, "x"), &fmt_num(cx))?;
                    simple(w, q(ST_AREA_NS, "y"), &fmt_num(cy))?;
                    simple(w, q(ST_AREA_NS, "w"), &fmt_num(nw))?;
                    simple(w, q(ST_AREA_NS, "h"), &fmt_num(nh))?;
                    simple(w, q(ST_AREA_NS, "unit"), "normalized")?;
                    Ok(())
                })?;
            simple(w, q(MWG_RS_NS, "Name"), &r.name)?;
            simple(w, q(MWG_RS_NS, "Type"), "Face")?;
            Ok(())
        })?;
    Ok(())
}

/// `existing` (a sidecar's text, `None` for a new one) with Facet's
/// properties for `photo`: every byte outside Facet's properties kept.
pub fn merge(
    existing: Option<&str>,
    photo: &PhotoXmp,
    favorite_label: &str,
) -> Result<String, SidecarError> {
    let fresh;
    let text = match existing {
        Some(t) => t,
        None => {
            fresh = empty_packet();
            &fresh
        }
    };
    let scanned = scan(text)?;
    let anchor = scanned.anchor.as_ref().expect("scan checks it");
    let old = &scanned.values;

    // Which of Facet's properties this export replaces, and with what.
    let mut cut: HashSet<Prop> = HashSet::from([Prop::Facet]);
    let (mut rating, mut label) = (None, None);
    if let Some(s) = &photo.state {
        cut.insert(Prop::Rating);
        rating = Some(if s.rejected { -1 } else { s.rating.clamp(0, 5) });
        if s.favorite {
            cut.insert(Prop::Label);
            label = Some(favorite_label);
        } else if old
            .label
            .as_deref()
            .is_some_and(|l| l.eq_ignore_ascii_case(favorite_label))
        {
            cut.insert(Prop::Label);
        }
    }
    let mut keywords = old.keywords.clone();
    for k in &photo.keywords {
        if !keywords.contains(k) {
            keywords.push(k.clone());
        }
    }
    let keywords = (keywords.len() > old.keywords.len()).then_some(keywords);
    if keywords.is_some() {
        cut.insert(Prop::Subject);
    }
    let regions = !photo.regions.is_empty();
    if regions {
        cut.insert(Prop::Regions);
    }

    let mut needed: Vec<&'static str> = Vec::new();
    if rating.is_some() || label.is_some() {
        needed.push(XMP_NS);
    }
    if keywords.is_some() {
        needed.push(DC_NS);
    }
    if regions {
        needed.extend([MWG_RS_NS, ST_AREA_NS, ST_DIM_NS]);
    }
    if !photo.facet.is_empty() {
        needed.push(FACET_NS);
    }
    let pre = prefixes(anchor, &needed);
    let body = properties(
        &pre,
        rating,
        label,
        keywords.as_deref(),
        photo,
        regions,
        &anchor.indent,
    );

    // The edits, by position: cuts, declarations, the insertion.
    let mut edits: Vec<(Range<usize>, String)> = scanned
        .spans
        .iter()
        .filter(|(p, _)| cut.contains(p))
        .map(|(_, r)| (r.clone(), String::new()))
        .collect();
    let tag = &text[anchor.tag.clone()];
    let tag_end = anchor.tag.start
        + if anchor.empty {
            tag.trim_end_matches('>')
                .trim_end()
                .trim_end_matches('/')
                .len()
        } else {
            tag.len() - 1
        };
    // Declarations go where the tag's last attribute ends.
    let decl_at = anchor.tag.start + tag[..tag_end - anchor.tag.start].trim_end().len();
    let decls: String = pre
        .declare
        .iter()
        .map(|(p, uri)| format!(" xmlns:{p}=\"{}\"", quick_xml::escape::escape(*uri)))
        .collect();
    if !decls.is_empty() {
        edits.push((decl_at..decl_at, decls));
    }
    if anchor.empty {
        if !body.is_empty() {
            edits.push((
                tag_end..anchor.tag.end,
                format!(">{body}\n{}</{}>", anchor.indent, anchor.qname),
            ));
        }
    } else if !body.is_empty() {
        edits.push((anchor.insert_at..anchor.insert_at, body));
    }
    edits.sort_by_key(|(r, _)| (r.start, r.end));
    let mut out = String::with_capacity(text.len() + 1024);
    let mut at = 0;
    for (r, with) in edits {
        if r.start < at {
            // Nested in a range already cut (cannot happen for well-formed
            // input: owned spans never overlap).
            continue;
        }
        out.push_str(&text[at..r.start]);
        out.push_str(&with);
        at = r.end;
    }
    out.push_str(&text[at..]);
    Ok(out)
}

// ---------------------------------------------------------------------
// The store side.
// ---------------------------------------------------------------------

/// One sidecar's outcome.
#[derive(Debug)]
pub struct Failed {
    pub sidecar: PathBuf,
    pub error: SidecarError,
}

#[derive(Debug, Default)]
pub struct Exported {
    pub created: usize,
    pub merged: usize,
    pub unchanged: usize,
    /// Photos whose file is gone (missing) or outside the member's folders.
    pub skipped: usize,
    pub failed: Vec<Failed>,
}

#[derive(Debug, Default)]
pub struct Imported {
    /// Sidecars read.
    pub read: usize,
    /// Photos whose rating, favourite or reject changed.
    pub states: usize,
    /// Photos given new keywords.
    pub keywords: usize,
    /// Sidecars older than the member's state for their photo.
    pub older: usize,
    pub failed: Vec<Failed>,
}

fn column<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    b.column_by_name(name)
        .ok_or_else(|| Error::Internal(format!("query result without `{name}`")))
}

fn strings(b: &RecordBatch, name: &str) -> Result<Vec<Option<String>>> {
    let a = arrow::compute::cast(column(b, name)?, &DataType::Utf8)?;
    let a = a.as_string::<i32>();
    Ok((0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i).to_string()))
        .collect())
}

fn floats(b: &RecordBatch, name: &str) -> Result<Vec<Option<f64>>> {
    let a = arrow::compute::cast(column(b, name)?, &DataType::Float64)?;
    let a = a.as_primitive::<Float64Type>();
    Ok((0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i)))
        .collect())
}

fn ints(b: &RecordBatch, name: &str) -> Result<Vec<Option<i64>>> {
    let c = arrow::compute::cast(column(b, name)?, &DataType::Int64)?;
    let a = c.as_primitive::<Int64Type>();
    Ok((0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i)))
        .collect())
}

fn opt_bools(b: &RecordBatch, name: &str) -> Result<Vec<Option<bool>>> {
    let a = arrow::compute::cast(column(b, name)?, &DataType::Boolean)?;
    let a = a.as_boolean();
    Ok((0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i)))
        .collect())
}

fn bools(b: &RecordBatch, name: &str) -> Result<Vec<bool>> {
    Ok(opt_bools(b, name)?
        .into_iter()
        .map(|v| v == Some(true))
        .collect())
}

fn lists(b: &RecordBatch, name: &str) -> Result<Vec<Vec<String>>> {
    let c = column(b, name)?;
    let Some(l) = c.as_list_opt::<i32>() else {
        return Ok(vec![Vec::new(); b.num_rows()]);
    };
    Ok((0..l.len())
        .map(|i| {
            if l.is_null(i) {
                return Vec::new();
            }
            let v = l.value(i);
            let Some(s) = v.as_string_opt::<i32>() else {
                return Vec::new();
            };
            (0..s.len())
                .filter(|&j| s.is_valid(j))
                .map(|j| s.value(j).to_string())
                .collect()
        })
        .collect())
}

/// A query whose values are parameters (`$1`…), never text in the SQL.
async fn query(store: &Store, sql: &str, params: Vec<ScalarValue>) -> Result<Vec<RecordBatch>> {
    Ok(store.sql_with(sql, params).await?.1)
}

/// Facet's view of every photo the member sees (not missing), by path.
async fn load(store: &Store, member: &Member) -> Result<BTreeMap<String, PhotoXmp>> {
    let mut photos: BTreeMap<String, PhotoXmp> = BTreeMap::new();
    for b in query(
        store,
        "SELECT path, width, height, tags, aggregate, category, top_picks_score, is_top_pick, \
         aesthetic, sharpness, exposure_score, composition_score, face_count \
         FROM photos WHERE missing_since IS NULL",
        vec![],
    )
    .await?
    {
        let paths = strings(&b, "path")?;
        let (w, h) = (ints(&b, "width")?, ints(&b, "height")?);
        let tags = lists(&b, "tags")?;
        let category = strings(&b, "category")?;
        let top = opt_bools(&b, "is_top_pick")?;
        let nums: Vec<(&'static str, Vec<Option<f64>>)> = vec![
            ("Score", floats(&b, "aggregate")?),
            ("TopPicksScore", floats(&b, "top_picks_score")?),
            ("Aesthetic", floats(&b, "aesthetic")?),
            ("Sharpness", floats(&b, "sharpness")?),
            ("Exposure", floats(&b, "exposure_score")?),
            ("Composition", floats(&b, "composition_score")?),
        ];
        let faces = ints(&b, "face_count")?;
        for i in 0..b.num_rows() {
            let Some(path) = paths[i].clone() else {
                continue;
            };
            if !member.sees(&path) {
                continue;
            }
            let mut facet: Vec<(&'static str, String)> = Vec::new();
            for (name, v) in &nums[..1] {
                if let Some(v) = v[i] {
                    facet.push((*name, format!("{v:.2}")));
                }
            }
            if let Some(c) = &category[i] {
                facet.push(("Category", c.clone()));
            }
            for (name, v) in &nums[1..2] {
                if let Some(v) = v[i] {
                    facet.push((*name, format!("{v:.2}")));
                }
            }
            if let Some(t) = top[i] {
                facet.push(("TopPick", if t { "True" } else { "False" }.into()));
            }
            for (name, v) in &nums[2..] {
                if let Some(v) = v[i] {
                    facet.push((*name, format!("{v:.2}")));
                }
            }
            if let Some(n) = faces[i] {
                facet.push(("FaceCount", n.to_string()));
            }
            photos.insert(
                path,
                PhotoXmp {
                    keywords: tags[i].clone(),
                    dimensions: w[i].zip(h[i]),
                    facet,
                    ..Default::default()
                },
            );
        }
    }
    for (path, s) in load_states(store, member).await? {
        if let Some(p) = photos.get_mut(&path) {
            p.state = Some(s);
        }
    }
    for (path, k) in load_keywords(store, member).await? {
        if let Some(p) = photos.get_mut(&path) {
            for k in k {
                if !p.keywords.contains(&k) {
                    p.keywords.push(k);
                }
            }
        }
    }
    for b in query(
        store,
        "SELECT f.path, f.face_index, f.box_x, f.box_y, f.box_width, f.box_height, p.name \
         FROM faces f JOIN persons p ON f.person_id = p.person_id \
         WHERE p.name IS NOT NULL AND p.name <> '' AND (p.hidden IS NULL OR NOT p.hidden) \
         AND f.box_width IS NOT NULL AND f.box_height IS NOT NULL \
         ORDER BY f.path, f.face_index",
        vec![],
    )
    .await?
    {
        let paths = strings(&b, "path")?;
        let names = strings(&b, "name")?;
        let (x, y) = (floats(&b, "box_x")?, floats(&b, "box_y")?);
        let (w, h) = (floats(&b, "box_width")?, floats(&b, "box_height")?);
        for i in 0..b.num_rows() {
            let (Some(path), Some(name)) = (&paths[i], &names[i]) else {
                continue;
            };
            if let Some(p) = photos.get_mut(path) {
                p.regions.push(FaceRegion {
                    name: name.clone(),
                    x: x[i].unwrap_or(0.0),
                    y: y[i].unwrap_or(0.0),
                    width: w[i].unwrap_or(0.0),
                    height: h[i].unwrap_or(0.0),
                });
            }
        }
    }
    Ok(photos)
}

async fn load_states(store: &Store, member: &Member) -> Result<HashMap<String, UserState>> {
    let (sql, params) = match member {
        Member::Single => (
            "SELECT path, rating, favorite, rejected, updated_at FROM user_state",
            vec![],
        ),
        Member::User { name, .. } => (
            "SELECT path, rating, favorite, rejected, updated_at FROM user_preferences \
             WHERE \"user\" = $1",
            vec![ScalarValue::from(name.as_str())],
        ),
    };
    let mut out = HashMap::new();
    for b in query(store, sql, params).await? {
        let paths = strings(&b, "path")?;
        let ratings = ints(&b, "rating")?;
        let (fav, rej) = (bools(&b, "favorite")?, bools(&b, "rejected")?);
        let at = ints(&b, "updated_at")?;
        for i in 0..b.num_rows() {
            if let Some(p) = &paths[i] {
                out.insert(
                    p.clone(),
                    UserState {
                        rating: ratings[i].unwrap_or(0) as i32,
                        favorite: fav[i],
                        rejected: rej[i],
                        updated_at: at[i],
                    },
                );
            }
        }
    }
    Ok(out)
}

async fn load_keywords(store: &Store, member: &Member) -> Result<HashMap<String, Vec<String>>> {
    let sql = "SELECT path, keywords FROM user_keywords WHERE \"user\" = $1";
    let mut out = HashMap::new();
    for b in query(store, sql, vec![ScalarValue::from(member.name())]).await? {
        let paths = strings(&b, "path")?;
        let kw = lists(&b, "keywords")?;
        for (p, k) in paths.into_iter().zip(kw) {
            if let Some(p) = p {
                out.insert(p, k);
            }
        }
    }
    Ok(out)
}

/// Replaces `path` with `text`: a temporary file beside it, renamed over it.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.facet-tmp"));
    fn write(tmp: &Path, path: &Path, text: &str) -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(tmp, path)
    }
    let result = write(&tmp, path, text);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn read_text(path: &Path) -> Result<Option<String>, SidecarError> {
    match std::fs::read(path) {
        Ok(b) => String::from_utf8(b)
            .map(Some)
            .map_err(|_| SidecarError::NotUtf8),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Writes `sidecar` for `photo`: `None` when unchanged, else whether it is new.
fn export_one(
    sidecar: &Path,
    photo: &PhotoXmp,
    favorite_label: &str,
) -> Result<Option<bool>, SidecarError> {
    let existing = read_text(sidecar)?;
    let merged = merge(existing.as_deref(), photo, favorite_label)?;
    if existing.as_deref() == Some(merged.as_str()) {
        return Ok(None);
    }
    write_atomically(sidecar, &merged)?;
    Ok(Some(existing.is_none()))
}

/// A sidecar's values and modification time (ns since the epoch).
fn read_sidecar(sidecar: &Path) -> Result<(SidecarValues, Option<i64>), SidecarError> {
    let text = read_text(sidecar)?.unwrap_or_default();
    let mtime = std::fs::metadata(sidecar)?
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i64);
    Ok((read_values(&text)?, mtime))
}

/// `facet xmp export`: a sidecar for every photo the member sees whose file
/// is there, merged into the existing one.
pub async fn export(
    store: &Store,
    member: &Member,
    naming: Naming,
    settings: &XmpSettings,
) -> Result<Exported> {
    let photos = load(store, member).await?;
    let mut out = Exported::default();
    for (path, photo) in &photos {
        let path = Path::new(path);
        if !path.is_file() {
            out.skipped += 1;
            continue;
        }
        let sidecar = naming.sidecar(path);
        match export_one(&sidecar, photo, &settings.favorite_label) {
            Ok(None) => out.unchanged += 1,
            Ok(Some(true)) => out.created += 1,
            Ok(Some(false)) => out.merged += 1,
            Err(error) => out.failed.push(Failed { sidecar, error }),
        }
    }
    Ok(out)
}

/// `facet xmp import`: ratings, labels and keywords from the sidecars of
/// the member's photos (`naming` first, then the other naming).
pub async fn import(
    store: &Store,
    member: &Member,
    naming: Naming,
    settings: &XmpSettings,
) -> Result<Imported> {
    let photos = load(store, member).await?;
    let stored_keywords = load_keywords(store, member).await?;
    let tags: HashMap<String, Vec<String>> = photos
        .iter()
        .map(|(p, x)| (p.clone(), x.keywords.clone()))
        .collect();
    let mut out = Imported::default();
    let mut states: Vec<(String, UserState)> = Vec::new();
    let mut keywords: Vec<(String, Vec<String>)> = Vec::new();
    let now = crate::now_ns();
    for (path, photo) in &photos {
        let p = Path::new(path);
        let Some(sidecar) = [naming, naming.other()]
            .map(|n| n.sidecar(p))
            .into_iter()
            .find(|s| s.is_file())
        else {
            continue;
        };
        let (values, mtime) = match read_sidecar(&sidecar) {
            Ok(v) => v,
            Err(error) => {
                out.failed.push(Failed { sidecar, error });
                continue;
            }
        };
        out.read += 1;
        if values.rating.is_some() || values.label.is_some() {
            let newer = match (photo.state.and_then(|s| s.updated_at), mtime) {
                (Some(at), Some(m)) => m > at,
                (Some(_), None) => false,
                (None, _) => true,
            };
            if newer {
                let old = photo.state.unwrap_or(UserState {
                    rating: 0,
                    favorite: false,
                    rejected: false,
                    updated_at: None,
                });
                let mut new = old;
                match values.rating {
                    Some(-1) => new.rejected = true,
                    Some(r) => {
                        new.rating = r.clamp(0, 5);
                        new.rejected = false;
                    }
                    None => {}
                }
                new.favorite = values
                    .label
                    .as_deref()
                    .is_some_and(|l| l.eq_ignore_ascii_case(&settings.favorite_label));
                if (new.rating, new.favorite, new.rejected)
                    != (old.rating, old.favorite, old.rejected)
                {
                    new.updated_at = Some(mtime.unwrap_or(now));
                    states.push((path.clone(), new));
                }
            } else {
                out.older += 1;
            }
        }
        let model_tags = &tags[path];
        let mut mine = stored_keywords.get(path).cloned().unwrap_or_default();
        let before = mine.len();
        for k in values.keywords {
            if !model_tags.contains(&k) && !mine.contains(&k) {
                mine.push(k);
            }
        }
        if mine.len() > before {
            keywords.push((path.clone(), mine));
        }
    }
    out.states = states.len();
    out.keywords = keywords.len();
    write_states(store, member, &states).await?;
    write_keywords(store, member, &keywords, now).await?;
    Ok(out)
}

async fn write_states(store: &Store, member: &Member, rows: &[(String, UserState)]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut columns: Vec<ArrayRef> = Vec::new();
    let table = match member {
        Member::User { name, .. } => {
            columns.push(Arc::new(StringArray::from_iter_values(
                rows.iter().map(|(p, _)| format!("{name}:{p}")),
            )));
            columns.push(Arc::new(StringArray::from(vec![name.as_str(); rows.len()])));
            facet_schemas::user_preferences()
        }
        Member::Single => facet_schemas::user_state(),
    };
    columns.extend([
        Arc::new(StringArray::from_iter_values(rows.iter().map(|(p, _)| p))) as ArrayRef,
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|(_, s)| s.rating),
        )),
        Arc::new(BooleanArray::from_iter(
            rows.iter().map(|(_, s)| Some(s.favorite)),
        )),
        Arc::new(BooleanArray::from_iter(
            rows.iter().map(|(_, s)| Some(s.rejected)),
        )),
        Arc::new(
            TimestampNanosecondArray::from_iter_values(
                rows.iter().map(|(_, s)| s.updated_at.unwrap_or(0)),
            )
            .with_timezone("UTC"),
        ),
    ]);
    let batch = RecordBatch::try_new(table.schema(), columns)?;
    store.upsert(&table, batch).await?;
    Ok(())
}

async fn write_keywords(
    store: &Store,
    member: &Member,
    rows: &[(String, Vec<String>)],
    now: i64,
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let table = facet_schemas::user_keywords();
    let user = member.name();
    let lists = ListArray::from_iter_primitive_strings(rows.iter().map(|(_, k)| k));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|(p, _)| format!("{user}:{p}")),
        )),
        Arc::new(StringArray::from(vec![user; rows.len()])),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|(p, _)| p))),
        Arc::new(lists),
        Arc::new(TimestampNanosecondArray::from(vec![now; rows.len()]).with_timezone("UTC")),
    ];
    let batch = RecordBatch::try_new(table.schema(), columns)?;
    store.upsert(&table, batch).await?;
    Ok(())
}

/// A `List<Utf8>` array from lists of strings.
trait FromStrings {
    fn from_iter_primitive_strings<'a>(rows: impl Iterator<Item = &'a Vec<String>>) -> ListArray;
}

impl FromStrings for ListArray {
    fn from_iter_primitive_strings<'a>(rows: impl Iterator<Item = &'a Vec<String>>) -> ListArray {
        let mut b = arrow::array::ListBuilder::new(arrow::array::StringBuilder::new());
        for r in rows {
            for k in r {
                b.values().append_value(k);
            }
            b.append(true);
        }
        b.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DARKTABLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
    xmlns:darktable="http://darktable.sf.net/"
    xmp:Rating="1"
    xmpMM:DerivedFrom="IMG_1234.CR2"
    darktable:xmp_version="5"
    darktable:history_end="2">
   <darktable:history>
    <rdf:Seq>
     <rdf:li darktable:operation="exposure" darktable:enabled="1" darktable:params="0000000000000000"/>
     <rdf:li darktable:operation="colorin" darktable:enabled="1" darktable:params="gz48eJzjZhgFo4BWAAAA"/>
    </rdf:Seq>
   </darktable:history>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"#;

    fn photo() -> PhotoXmp {
        PhotoXmp {
            state: Some(UserState {
                rating: 4,
                favorite: true,
                rejected: false,
                updated_at: Some(1),
            }),
            keywords: vec!["beach".into(), "sunset & sea".into()],
            regions: vec![FaceRegion {
                name: "Ann".into(),
                x: 100.0,
                y: 50.0,
                width: 200.0,
                height: 100.0,
            }],
            dimensions: Some((1000, 500)),
            facet: vec![("Score", "7.25".into()), ("Category", "portrait".into())],
        }
    }

    #[test]
    fn a_new_sidecar_reads_back() {
        let text = merge(None, &photo(), "Red").unwrap();
        let v = read_values(&text).unwrap();
        assert_eq!(v.rating, Some(4));
        assert_eq!(v.label.as_deref(), Some("Red"));
        assert_eq!(v.keywords, ["beach", "sunset & sea"]);
        assert!(text.contains("<stArea:x>0.2</stArea:x>"), "{text}");
        assert!(text.contains("<stArea:w>0.2</stArea:w>"), "{text}");
        assert!(text.contains("<facet:Score>7.25</facet:Score>"), "{text}");
        assert!(
            text.contains(&format!("xmlns:facet=\"{FACET_NS}\"")),
            "{text}"
        );
        // Merging again changes nothing.
        assert_eq!(merge(Some(&text), &photo(), "Red").unwrap(), text);
    }

    #[test]
    fn another_applications_fields_are_kept_byte_for_byte() {
        let merged = merge(Some(DARKTABLE), &photo(), "Red").unwrap();
        let start = DARKTABLE.find("<darktable:history>").unwrap();
        let end = DARKTABLE.find("</darktable:history>").unwrap();
        assert!(merged.contains(&DARKTABLE[start..end]), "{merged}");
        assert!(
            merged.contains(
                "    xmpMM:DerivedFrom=\"IMG_1234.CR2\"\n    darktable:xmp_version=\"5\""
            )
        );
        // The attribute rating was replaced, not repeated.
        assert!(!merged.contains("xmp:Rating=\"1\""), "{merged}");
        assert_eq!(read_values(&merged).unwrap().rating, Some(4));
        // Only Facet's parts differ: cut them out of both and compare.
        let again = merge(Some(&merged), &photo(), "Red").unwrap();
        assert_eq!(again, merged);
        // Everything up to the Description tag is the same bytes.
        let head = DARKTABLE.find("<rdf:Description").unwrap();
        assert_eq!(&merged[..head], &DARKTABLE[..head]);
        let tail = DARKTABLE.find("  </rdf:Description>").unwrap();
        assert!(merged.ends_with(&DARKTABLE[tail..]), "{merged}");
    }

    #[test]
    fn no_state_keeps_another_rating_and_keywords_are_a_union() {
        let mut p = photo();
        p.state = None;
        p.regions.clear();
        p.keywords = vec!["sea".into()];
        let lr = merge(None, &PhotoXmp::default(), "Red").unwrap();
        let lr = lr.replace(
            "<rdf:Description rdf:about=\"\"/>",
            "<rdf:Description rdf:about=\"\" xmlns:xap=\"http://ns.adobe.com/xap/1.0/\" xap:Rating=\"3\" xap:Label=\"Blue\"><dc:subject xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><rdf:Bag><rdf:li>trip</rdf:li></rdf:Bag></dc:subject></rdf:Description>",
        );
        let merged = merge(Some(&lr), &p, "Red").unwrap();
        let v = read_values(&merged).unwrap();
        assert_eq!(v.rating, Some(3));
        assert_eq!(v.label.as_deref(), Some("Blue"));
        assert_eq!(v.keywords, ["trip", "sea"]);
        assert!(merged.contains("xap:Rating=\"3\""));
        // A reject with the state is -1 and the other label stays.
        p.state = Some(UserState {
            rating: 2,
            favorite: false,
            rejected: true,
            updated_at: None,
        });
        let v = read_values(&merge(Some(&lr), &p, "Red").unwrap()).unwrap();
        assert_eq!((v.rating, v.label.as_deref()), (Some(-1), Some("Blue")));
    }

    #[test]
    fn a_taken_prefix_gets_another() {
        let odd = merge(None, &PhotoXmp::default(), "Red").unwrap().replace(
            "<rdf:Description rdf:about=\"\"/>",
            "<rdf:Description rdf:about=\"\" xmlns:facet=\"urn:other\" facet:x=\"1\"/>",
        );
        let merged = merge(Some(&odd), &photo(), "Red").unwrap();
        assert!(merged.contains("facet:x=\"1\""));
        assert!(
            merged.contains(&format!("xmlns:facet2=\"{FACET_NS}\"")),
            "{merged}"
        );
        assert!(
            merged.contains("<facet2:Score>7.25</facet2:Score>"),
            "{merged}"
        );
        assert_eq!(merge(Some(&merged), &photo(), "Red").unwrap(), merged);
    }

    fn config(json: &str) -> FacetConfig {
        FacetConfig::parse(json, "test.json", false).unwrap().config
    }

    #[test]
    fn members_and_settings() {
        let single = config("{}");
        assert!(matches!(Member::resolve(&single, None), Ok(Member::Single)));
        assert!(Member::resolve(&single, Some("ann")).is_err());
        let dk = "0".repeat(64);
        let family = config(
            &r#"{"users": {"ann": {"password_hash": "00:{}", "directories": ["/photos/ann/"]},
                "shared_directories": ["/photos/shared"]}, "xmp": {"sidecar_naming": "lightroom"}}"#
                .replace("{}", &dk),
        );
        assert!(Member::resolve(&family, None).is_err());
        assert!(Member::resolve(&family, Some("bob")).is_err());
        let ann = Member::resolve(&family, Some("ann")).unwrap();
        assert!(ann.sees("/photos/ann/a.jpg"));
        assert!(ann.sees("/photos/shared/x/b.jpg"));
        assert!(!ann.sees("/photos/anne/c.jpg"));
        assert!(!ann.sees("/photos/bob/d.jpg"));
        let s = XmpSettings::from_config(&family).unwrap();
        assert_eq!((s.naming, s.favorite_label.as_str()), (Naming::Stem, "Red"));
        assert!(XmpSettings::from_config(&config(r#"{"xmp": {"sidecar_naming": "x"}}"#)).is_err());
        assert_eq!(
            Naming::Extension.sidecar(Path::new("/p/IMG_1.CR2")),
            Path::new("/p/IMG_1.CR2.xmp")
        );
        assert_eq!(
            Naming::Stem.sidecar(Path::new("/p/IMG_1.CR2")),
            Path::new("/p/IMG_1.xmp")
        );
    }

    #[test]
    fn broken_xml_is_an_error() {
        assert!(matches!(
            merge(Some("<x:xmpmeta><rdf:RDF>"), &photo(), "Red"),
            Err(SidecarError::Xml { .. }) | Err(SidecarError::NoDescription)
        ));
        assert!(matches!(
            read_values("<a/>"),
            Err(SidecarError::NoDescription)
        ));
    }
}
