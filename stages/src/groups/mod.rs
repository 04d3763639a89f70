//! Culling groups: bursts and duplicates, each with its lead (the frame or
//! copy to keep) and why — computed from stored columns (pHash, capture
//! time, camera, scores), never from pixels.
//!
//! * **Bursts** (`burst_detection`): per camera, photos in capture-time order
//!   join the current burst when they follow the previous photo within
//!   `rapid_burst_seconds`, or within `time_window_minutes` with a pHash
//!   similarity of at least `similarity_threshold_percent`. The lead has the
//!   best burst score (`burst_scoring`): `weight_aggregate · aggregate +
//!   weight_aesthetic · aesthetic + weight_sharpness · sharpness + weight_blink
//!   · eyes`, sharpness on 0–10 relative to the burst's sharpest frame, eyes 10
//!   open / 0 blinking, a missing value 5 (neutral).
//! * **Duplicates** (`duplicate_detection`): across the library, pHashes within
//!   the Hamming radius of `similarity_threshold_percent` (90 % → 6 bits),
//!   found through a multi-index hash ([`hamming`]) rather than all pairs, and
//!   grouped transitively. A copy is a copy of one exposure, so two photos
//!   whose capture times are both known and differ are never duplicates
//!   (burst frames and HDR brackets look alike but are different exposures);
//!   when both have embeddings, they must also agree (cosine ≥ 0.9). The lead
//!   is the best copy: the most pixels, then a RAW or lossless format over a
//!   lossy one, then the copy that kept its capture metadata (the original,
//!   not an export), then the best aggregate (a re-encode's artefacts can
//!   raise its sharpness: resolution and provenance come first) — never
//!   simply the largest file.
//! * **Similar photos** (`similarity_groups`, [`similar`]): photos whose
//!   embeddings have a cosine of at least `default_threshold`, found as
//!   nearest neighbours in a vector index (never all pairs), linked strongest
//!   first; a link that would make a group larger than `max_group_size` is
//!   cut (single linkage with a size cap), so an oversized group splits along
//!   its weakest links. The lead has the best aggregate.
//! * **Maintenance** ([`maintain`]): a detection after new photos looks up
//!   only the changed photos (and the groups they touch) in the indexes and
//!   regroups the connected regions they reach; other groups keep their
//!   members and ids.
//! * **Decisions** a user made — this photo leads its group, or keep every
//!   photo of the group — are stored apart and applied at every detection,
//!   so re-runs never undo them.

pub mod hamming;
pub mod maintain;
pub mod similar;
pub mod table;

use std::collections::{BTreeMap, HashMap, HashSet};

use facet_config::{BurstDetection, BurstScoring, DuplicateDetection, hamming_radius};
use petgraph::unionfind::UnionFind;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use hamming::HammingIndex;

/// What groups are made of: one photo's stored facts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Photo {
    pub path: String,
    pub phash: Option<u64>,
    /// Capture time in seconds (local time as recorded, sub-seconds included).
    pub taken: Option<f64>,
    /// Camera make and model: bursts never mix cameras.
    pub camera: Option<String>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub format: Option<String>,
    pub aggregate: Option<f64>,
    pub aesthetic: Option<f64>,
    /// Raw sharpness (Laplacian variance).
    pub sharpness: Option<f64>,
    pub blink: Option<bool>,
    /// L2-normalised image embedding, when a model stage made one.
    pub embedding: Option<Vec<f32>>,
}

/// The kind of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Burst,
    Duplicate,
    Similar,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Burst, Kind::Duplicate, Kind::Similar];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Burst => "burst",
            Kind::Duplicate => "duplicate",
            Kind::Similar => "similar",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A user's decision about a group, kept across detections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// This photo is the group's lead.
    Lead,
    /// Keep every photo of the group this photo is in.
    KeepAll,
}

/// Decisions by (kind, photo path).
pub type Decisions = HashMap<(Kind, String), Decision>;

/// One group: members (indices into the photos), leads, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub kind: Kind,
    /// Stable id: derived from the kind and the group's first path.
    pub id: String,
    pub members: Vec<usize>,
    /// The lead (all members when the user keeps all).
    pub leads: Vec<usize>,
    pub reason: String,
}

/// A group's id: the kind and its smallest path, hashed.
pub fn group_id(kind: Kind, first_path: &str) -> String {
    let h = Sha256::digest(format!("{}:{first_path}", kind.as_str()));
    format!("{}-{}", &kind.as_str()[..1], hex::encode(&h[..6]))
}

/// Parses a stored `date_taken` (ISO 8601 local time, optional sub-seconds
/// and offset) into seconds; the offset is ignored (one camera, one clock).
pub fn parse_taken(s: &str) -> Option<f64> {
    let ns = crate::exif::local_time_ns(s)?;
    Some(ns.div_euclid(1_000_000_000) as f64 + ns.rem_euclid(1_000_000_000) as f64 / 1e9)
}

pub(crate) fn finish(
    kind: Kind,
    photos: &[Photo],
    mut members: Vec<usize>,
    decisions: &Decisions,
    rank: impl Fn(&[usize]) -> (usize, String),
) -> Group {
    members.sort_by(|&a, &b| photos[a].path.cmp(&photos[b].path));
    let id = group_id(kind, &photos[members[0]].path);
    let decided = |d: Decision| {
        members
            .iter()
            .copied()
            .find(|&m| decisions.get(&(kind, photos[m].path.clone())) == Some(&d))
    };
    let (leads, reason) = if decided(Decision::KeepAll).is_some() {
        (members.clone(), "keep all: chosen by the user".to_string())
    } else if let Some(m) = decided(Decision::Lead) {
        (vec![m], "chosen by the user".to_string())
    } else {
        let (lead, why) = rank(&members);
        (vec![lead], why)
    };
    Group {
        kind,
        id,
        members,
        leads,
        reason,
    }
}

fn similar(a: &Photo, b: &Photo, radius: u32) -> bool {
    matches!((a.phash, b.phash), (Some(x), Some(y)) if (x ^ y).count_ones() <= radius)
}

/// The burst score of each member (see the module docs).
fn burst_scores(photos: &[Photo], members: &[usize], w: &BurstScoring) -> Vec<f64> {
    let sharpest = members
        .iter()
        .filter_map(|&m| photos[m].sharpness)
        .fold(0.0f64, f64::max);
    members
        .iter()
        .map(|&m| {
            let p = &photos[m];
            let sharp = match (p.sharpness, sharpest > 0.0) {
                (Some(s), true) => 10.0 * s / sharpest,
                _ => 5.0,
            };
            let eyes = match p.blink {
                Some(true) => 0.0,
                Some(false) => 10.0,
                None => 5.0,
            };
            w.weight_aggregate * p.aggregate.unwrap_or(5.0)
                + w.weight_aesthetic * p.aesthetic.unwrap_or(5.0)
                + w.weight_sharpness * sharp
                + w.weight_blink * eyes
        })
        .collect()
}

/// The longest capture-time gap a burst link can span (seconds): photos
/// further apart are never in one burst.
pub fn burst_reach(detect: &BurstDetection) -> f64 {
    detect
        .rapid_burst_seconds
        .max(detect.time_window_minutes * 60.0)
}

/// Whether photo `b`, the next of its camera in capture-time order after
/// `a`, continues `a`'s burst.
pub fn burst_link(a: &Photo, b: &Photo, detect: &BurstDetection) -> bool {
    let dt = b.taken.unwrap_or(0.0) - a.taken.unwrap_or(0.0);
    dt <= detect.rapid_burst_seconds
        || (dt <= detect.time_window_minutes * 60.0
            && similar(a, b, hamming_radius(detect.similarity_threshold_percent)))
}

/// The photos with a capture time, per camera, in capture-time order (then by path).
pub fn camera_sequences(photos: &[Photo]) -> BTreeMap<&str, Vec<usize>> {
    let mut by_camera: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, p) in photos.iter().enumerate() {
        if p.taken.is_some() {
            by_camera
                .entry(p.camera.as_deref().unwrap_or(""))
                .or_default()
                .push(i);
        }
    }
    for idx in by_camera.values_mut() {
        idx.sort_by(|&a, &b| {
            photos[a]
                .taken
                .partial_cmp(&photos[b].taken)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| photos[a].path.cmp(&photos[b].path))
        });
    }
    by_camera
}

/// The lead of a burst and why.
pub(crate) fn burst_lead(photos: &[Photo], m: &[usize], scoring: &BurstScoring) -> (usize, String) {
    let s = burst_scores(photos, m, scoring);
    let best = (0..m.len())
        .max_by(|&a, &b| s[a].total_cmp(&s[b]).then(b.cmp(&a)))
        .expect("non-empty");
    (
        m[best],
        format!(
            "best burst score {:.2} of {} frames (aggregate, aesthetic, sharpness, open eyes)",
            s[best],
            m.len()
        ),
    )
}

/// The bursts of one camera's photos in capture-time order (`seq`), a
/// consecutive stretch of them.
pub(crate) fn bursts_of_sequence(
    photos: &[Photo],
    seq: &[usize],
    detect: &BurstDetection,
    scoring: &BurstScoring,
    decisions: &Decisions,
    out: &mut Vec<Group>,
) {
    let mut current: Vec<usize> = Vec::new();
    let mut close = |current: &mut Vec<usize>| {
        if current.len() >= 2 {
            let members = std::mem::take(current);
            out.push(finish(Kind::Burst, photos, members, decisions, |m| {
                burst_lead(photos, m, scoring)
            }));
        }
        current.clear();
    };
    for &i in seq {
        if let Some(&last) = current.last()
            && !burst_link(&photos[last], &photos[i], detect)
        {
            close(&mut current);
        }
        current.push(i);
    }
    close(&mut current);
}

/// Bursts of `photos` (groups of at least two).
pub fn bursts(
    photos: &[Photo],
    detect: &BurstDetection,
    scoring: &BurstScoring,
    decisions: &Decisions,
) -> Vec<Group> {
    let mut out = Vec::new();
    for seq in camera_sequences(photos).values() {
        bursts_of_sequence(photos, seq, detect, scoring, decisions, &mut out);
    }
    out
}

/// How good a format is as the copy to keep: RAW, then lossless, then lossy.
fn format_rank(f: Option<&str>) -> u8 {
    match f.unwrap_or("") {
        f if f.starts_with("raw") => 3,
        "tiff" | "png" => 2,
        "jpeg" | "jxl" | "heif" | "avif" | "webp" => 1,
        _ => 0,
    }
}

pub(crate) fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Minimum embedding cosine for two look-alike photos to be duplicates.
pub const DUPLICATE_MIN_COSINE: f32 = 0.9;

/// Whether two photos within the pHash radius are copies of one exposure.
fn same_exposure(a: &Photo, b: &Photo) -> bool {
    if let (Some(x), Some(y)) = (a.taken, b.taken)
        && (x - y).abs() > 1e-3
    {
        return false;
    }
    match (&a.embedding, &b.embedding) {
        (Some(x), Some(y)) => cosine(x, y) >= DUPLICATE_MIN_COSINE,
        _ => true,
    }
}

/// The pHash index of `photos`: the index, and the photo of each indexed hash.
pub(crate) fn phash_index(photos: &[Photo]) -> (HammingIndex, Vec<usize>) {
    let mut index = HammingIndex::new();
    let mut ids = Vec::new();
    for (i, p) in photos.iter().enumerate() {
        if let Some(h) = p.phash {
            index.insert(h);
            ids.push(i);
        }
    }
    (index, ids)
}

/// Candidate duplicates of photo `i` (pHash within `radius`, one exposure):
/// `(distance, other photo)`.
pub(crate) fn duplicate_candidates(
    photos: &[Photo],
    index: &HammingIndex,
    ids: &[usize],
    i: usize,
    radius: u32,
) -> Vec<(u32, usize)> {
    let Some(h) = photos[i].phash else {
        return Vec::new();
    };
    index
        .within(h, radius)
        .into_iter()
        .map(|(j, d)| (d, ids[j as usize]))
        .filter(|&(_, j)| j != i && same_exposure(&photos[i], &photos[j]))
        .collect()
}

/// Duplicate groups of `photos`.
pub fn duplicates(
    photos: &[Photo],
    detect: &DuplicateDetection,
    decisions: &Decisions,
) -> Vec<Group> {
    let radius = hamming_radius(detect.similarity_threshold_percent);
    let (index, ids) = phash_index(photos);
    let mut pairs: Vec<(u32, usize, usize)> = Vec::new();
    for &i in &ids {
        for (d, j) in duplicate_candidates(photos, &index, &ids, i, radius) {
            if j > i {
                pairs.push((d, i, j));
            }
        }
    }
    duplicate_groups(photos, pairs, decisions)
}

/// Duplicate groups from candidate pairs `(distance, a, b)` (each pair once).
pub(crate) fn duplicate_groups(
    photos: &[Photo],
    mut pairs: Vec<(u32, usize, usize)>,
    decisions: &Decisions,
) -> Vec<Group> {
    // Candidate pairs, closest first (then by path, so that the order does
    // not depend on where photos sit in `photos`); a pair joins two groups
    // only when the groups are still copies of one exposure (their known
    // capture times agree), so a copy without EXIF cannot chain two exposures
    // together.
    let key = |&(d, a, b): &(u32, usize, usize)| {
        let (x, y) = (&photos[a].path, &photos[b].path);
        (d, x.min(y), x.max(y))
    };
    pairs.sort_unstable_by(|p, q| key(p).cmp(&key(q)));
    let mut uf = UnionFind::<usize>::new(photos.len());
    let mut time: HashMap<usize, f64> = HashMap::new();
    let mut linked = HashSet::new();
    for (_, i, j) in pairs {
        let (ri, rj) = (uf.find(i), uf.find(j));
        if ri == rj {
            continue;
        }
        let ti = time.get(&ri).copied().or(photos[i].taken);
        let tj = time.get(&rj).copied().or(photos[j].taken);
        if let (Some(a), Some(b)) = (ti, tj)
            && (a - b).abs() > 1e-3
        {
            continue;
        }
        uf.union(i, j);
        if let Some(t) = ti.or(tj) {
            time.insert(uf.find(i), t);
        }
        linked.insert(i);
        linked.insert(j);
    }
    let mut sets: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in linked {
        sets.entry(uf.find(i)).or_default().push(i);
    }
    sets.into_values()
        .map(|members| {
            finish(Kind::Duplicate, photos, members, decisions, |m| {
                duplicate_lead(photos, m)
            })
        })
        .collect()
}

/// The lead of a duplicate group (the copy to keep) and why.
pub(crate) fn duplicate_lead(photos: &[Photo], m: &[usize]) -> (usize, String) {
    let key = |&i: &usize| {
        let p = &photos[i];
        (
            p.width.unwrap_or(0) * p.height.unwrap_or(0),
            format_rank(p.format.as_deref()),
            p.taken.is_some() as u8,
            (p.aggregate.unwrap_or(0.0) * 1000.0) as i64,
        )
    };
    let best = *m
        .iter()
        .max_by(|a, b| {
            key(a)
                .cmp(&key(b))
                .then(photos[**b].path.cmp(&photos[**a].path))
        })
        .expect("non-empty");
    // Why: the first criterion on which the lead beats the runner-up.
    let runner = m
        .iter()
        .filter(|&&i| i != best)
        .max_by(|a, b| key(a).cmp(&key(b)))
        .map(key)
        .expect("a group has two members");
    let (px, fmt, meta, agg) = key(&best);
    let why = if px > runner.0 {
        format!(
            "highest resolution ({}×{})",
            photos[best].width.unwrap_or(0),
            photos[best].height.unwrap_or(0)
        )
    } else if fmt > runner.1 {
        "best format (RAW or lossless) at the highest resolution".to_string()
    } else if meta > runner.2 {
        "the copy that kept its capture metadata".to_string()
    } else if agg > runner.3 {
        format!(
            "best aggregate ({:.2}) among equal copies",
            agg as f64 / 1000.0
        )
    } else {
        "equal copies: the first by path".to_string()
    };
    (best, why)
}

#[cfg(test)]
mod tests;
