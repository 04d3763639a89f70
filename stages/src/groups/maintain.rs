//! Groups maintained as photos arrive, change and leave.
//!
//! A detection with the previous one's groups ([`Since`]) looks up only the
//! *seeds* — photos new or analysed again since, and the members of the
//! previous groups they or removed photos belonged to — and grows from them
//! the connected regions of the link graph they reach:
//!
//! * duplicates: pHash neighbours within the radius (multi-index hash),
//! * similar photos: embedding neighbours above the threshold (vector index),
//! * bursts: the linked stretch of the camera's capture-time sequence around
//!   each seed (and around the place a new photo took in it).
//!
//! Those regions are grouped again by the same rules as a full detection
//! (a region is a union of whole connected components, so the result is the
//! one a full detection gives: tested); every previous group outside them
//! keeps its members and id, only its lead is chosen again (scores and
//! users' decisions may have changed). Adding 100 photos to a library of
//! 100,000 therefore costs about 100 index look-ups, not 100,000.

use std::collections::{HashMap, HashSet};

use facet_config::{
    BurstDetection, BurstScoring, DuplicateDetection, FacetConfig, SimilarityGroups, hamming_radius,
};

use super::similar::{Link, Neighbours, similar_groups, similar_lead};
use super::{
    Decisions, Group, Kind, Photo, burst_lead, burst_link, bursts, bursts_of_sequence,
    camera_sequences, duplicate_candidates, duplicate_groups, duplicate_lead, finish, phash_index,
};

/// The settings groups are made with.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    pub bursts: &'a BurstDetection,
    pub scoring: &'a BurstScoring,
    pub duplicates: &'a DuplicateDetection,
    pub similarity: &'a SimilarityGroups,
}

impl<'a> Settings<'a> {
    pub fn of(config: &'a FacetConfig) -> Self {
        Settings {
            bursts: &config.burst_detection,
            scoring: &config.burst_scoring,
            duplicates: &config.duplicate_detection,
            similarity: &config.similarity_groups,
        }
    }
}

/// What a previous detection left, and what changed since.
#[derive(Debug, Clone, Default)]
pub struct Since {
    /// The previous groups: kind and member paths (members no longer among
    /// the photos were removed).
    pub groups: Vec<(Kind, Vec<String>)>,
    /// Photos (indices) new or analysed again since.
    pub changed: Vec<usize>,
}

/// A detection's groups and what it took.
#[derive(Debug, Clone, Default)]
pub struct Detection {
    pub groups: Vec<Group>,
    /// Photos looked up in an index (pHash or embedding neighbours).
    pub looked_up: usize,
    /// Photos in the regions grouped again.
    pub regrouped: usize,
    /// Kinds detected over the whole library (no previous detection, or
    /// similarity over a truncated library: see `max_photos`).
    pub full: Vec<Kind>,
}

/// The previous groups of one kind as indices, and whether each is touched
/// (a member changed or left).
fn previous(
    since: &Since,
    kind: Kind,
    index_of: &HashMap<&str, usize>,
    changed: &[bool],
) -> Vec<(Vec<usize>, bool)> {
    since
        .groups
        .iter()
        .filter(|(k, _)| *k == kind)
        .map(|(_, paths)| {
            let idx: Vec<usize> = paths
                .iter()
                .filter_map(|p| index_of.get(p.as_str()).copied())
                .collect();
            let touched = idx.len() < paths.len() || idx.iter().any(|&i| changed[i]);
            (idx, touched)
        })
        .collect()
}

/// The seeds of one kind: changed photos it considers and the members of
/// its touched previous groups.
fn seeds(
    prev: &[(Vec<usize>, bool)],
    changed: &[bool],
    considered: impl Fn(usize) -> bool,
) -> Vec<usize> {
    let mut out: Vec<usize> = (0..changed.len())
        .filter(|&i| changed[i] && considered(i))
        .collect();
    for (m, touched) in prev {
        if *touched {
            out.extend(m.iter().copied().filter(|&i| considered(i)));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Previous groups untouched by the regrouped `region`, with leads chosen again.
fn kept(
    kind: Kind,
    photos: &[Photo],
    prev: Vec<(Vec<usize>, bool)>,
    region: &[bool],
    decisions: &Decisions,
    lead: impl Fn(&[usize]) -> (usize, String),
) -> Vec<Group> {
    prev.into_iter()
        .filter(|(m, touched)| !touched && m.len() >= 2 && !m.iter().any(|&i| region[i]))
        .map(|(m, _)| finish(kind, photos, m, decisions, &lead))
        .collect()
}

/// A grown region: which photos are in it, and every link met (`a`, `b`, label).
type Region<L> = (Vec<bool>, Vec<(usize, usize, L)>);

/// Breadth-first growth from `seeds` through `links` (which answers, for a
/// frontier, each member's neighbours); returns the region and every link met.
fn grow<L>(
    n: usize,
    seeds: &[usize],
    mut links: impl FnMut(&[usize]) -> Result<Vec<Vec<(usize, L)>>, String>,
) -> Result<Region<L>, String> {
    let mut region = vec![false; n];
    let mut frontier: Vec<usize> = Vec::new();
    for &s in seeds {
        if !region[s] {
            region[s] = true;
            frontier.push(s);
        }
    }
    let mut met = Vec::new();
    while !frontier.is_empty() {
        let found = links(&frontier)?;
        let mut next = Vec::new();
        for (&i, ns) in frontier.iter().zip(found) {
            for (j, l) in ns {
                if !region[j] {
                    region[j] = true;
                    next.push(j);
                }
                met.push((i, j, l));
            }
        }
        frontier = next;
    }
    Ok((region, met))
}

/// Detects the groups of `photos`: all of them without `since`, else only
/// the regions reached from what changed (see the module docs).
pub fn detect(
    photos: &[Photo],
    settings: Settings<'_>,
    decisions: &Decisions,
    since: Option<&Since>,
    neighbours: &mut dyn Neighbours,
) -> Result<Detection, String> {
    let n = photos.len();
    let index_of: HashMap<&str, usize> = photos
        .iter()
        .enumerate()
        .map(|(i, p)| (p.path.as_str(), i))
        .collect();
    let mut changed = vec![false; n];
    for &i in since.map_or(&[][..], |s| &s.changed[..]) {
        changed[i] = true;
    }
    let mut out = Detection::default();

    // Bursts: the camera sequences are sorted (no index look-up), the
    // linked stretches around seeds grouped again.
    match since {
        None => {
            out.full.push(Kind::Burst);
            let g = bursts(photos, settings.bursts, settings.scoring, decisions);
            out.regrouped += g.iter().map(|g| g.members.len()).sum::<usize>();
            out.groups.extend(g);
        }
        Some(since) => {
            let prev = previous(since, Kind::Burst, &index_of, &changed);
            let mut seed = vec![false; n];
            for s in seeds(&prev, &changed, |i| photos[i].taken.is_some()) {
                seed[s] = true;
            }
            let mut region = vec![false; n];
            for seq in camera_sequences(photos).values() {
                let mut marked = vec![false; seq.len()];
                for (k, &i) in seq.iter().enumerate() {
                    if seed[i] {
                        marked[k] = true;
                    }
                    // A new or moved photo also cuts (or bridges) the link
                    // between the photos now before and after it.
                    if changed[i] {
                        marked[k.saturating_sub(1)] = true;
                        if k + 1 < seq.len() {
                            marked[k + 1] = true;
                        }
                    }
                }
                let mut k = 0;
                while k < seq.len() {
                    if !marked[k] {
                        k += 1;
                        continue;
                    }
                    let mut lo = k;
                    while lo > 0
                        && burst_link(&photos[seq[lo - 1]], &photos[seq[lo]], settings.bursts)
                    {
                        lo -= 1;
                    }
                    let mut hi = k;
                    while hi + 1 < seq.len()
                        && (marked[hi + 1]
                            || burst_link(&photos[seq[hi]], &photos[seq[hi + 1]], settings.bursts))
                    {
                        hi += 1;
                    }
                    let run = &seq[lo..=hi];
                    for &i in run {
                        region[i] = true;
                    }
                    out.regrouped += run.len();
                    bursts_of_sequence(
                        photos,
                        run,
                        settings.bursts,
                        settings.scoring,
                        decisions,
                        &mut out.groups,
                    );
                    k = hi + 1;
                }
            }
            out.groups
                .extend(kept(Kind::Burst, photos, prev, &region, decisions, |m| {
                    burst_lead(photos, m, settings.scoring)
                }));
        }
    }

    // Duplicates: pHash neighbours through the multi-index hash.
    let radius = hamming_radius(settings.duplicates.similarity_threshold_percent);
    let (index, ids) = phash_index(photos);
    let dup_prev = since.map(|s| previous(s, Kind::Duplicate, &index_of, &changed));
    let dup_seeds = match &dup_prev {
        None => {
            out.full.push(Kind::Duplicate);
            ids.clone()
        }
        Some(prev) => seeds(prev, &changed, |i| photos[i].phash.is_some()),
    };
    let (region, met) = grow(n, &dup_seeds, |frontier| {
        Ok(frontier
            .iter()
            .map(|&i| {
                duplicate_candidates(photos, &index, &ids, i, radius)
                    .into_iter()
                    .map(|(d, j)| (j, d))
                    .collect()
            })
            .collect())
    })?;
    let mut seen = HashSet::new();
    let pairs: Vec<(u32, usize, usize)> = met
        .into_iter()
        .filter(|&(i, j, _)| seen.insert((i.min(j), i.max(j))))
        .map(|(i, j, d)| (d, i, j))
        .collect();
    let reached = region.iter().filter(|&&r| r).count();
    out.looked_up += reached;
    out.regrouped += reached;
    out.groups
        .extend(duplicate_groups(photos, pairs, decisions));
    if let Some(prev) = dup_prev {
        out.groups.extend(kept(
            Kind::Duplicate,
            photos,
            prev,
            &region,
            decisions,
            |m| duplicate_lead(photos, m),
        ));
    }

    // Similar photos: embedding neighbours through `neighbours`.
    let cfg = settings.similarity;
    let threshold = cfg.default_threshold as f32;
    let mut with: Vec<usize> = (0..n).filter(|&i| photos[i].embedding.is_some()).collect();
    let truncated = with.len() as u64 > cfg.max_photos;
    if truncated {
        // The most recent `max_photos` photos (by capture time, then path).
        with.sort_by(|&a, &b| {
            photos[b]
                .taken
                .unwrap_or(f64::NEG_INFINITY)
                .total_cmp(&photos[a].taken.unwrap_or(f64::NEG_INFINITY))
                .then_with(|| photos[a].path.cmp(&photos[b].path))
        });
        with.truncate(cfg.max_photos as usize);
        with.sort_unstable();
    }
    let mut considered = vec![false; n];
    for &i in &with {
        considered[i] = true;
    }
    let prev = match since {
        Some(since) if !truncated => Some(previous(since, Kind::Similar, &index_of, &changed)),
        _ => None,
    };
    let sim_seeds = match &prev {
        None => {
            out.full.push(Kind::Similar);
            with.clone()
        }
        Some(prev) => seeds(prev, &changed, |i| considered[i]),
    };
    let (region, met) = grow(n, &sim_seeds, |frontier| {
        let found = neighbours.similar(photos, frontier, threshold)?;
        Ok(found
            .into_iter()
            .map(|ns| ns.into_iter().filter(|&(j, _)| considered[j]).collect())
            .collect())
    })?;
    let reached = region.iter().filter(|&&r| r).count();
    out.looked_up += reached;
    out.regrouped += reached;
    let links: Vec<Link> = met;
    out.groups
        .extend(similar_groups(photos, &links, cfg, decisions));
    if let Some(prev) = prev {
        out.groups
            .extend(kept(Kind::Similar, photos, prev, &region, decisions, |m| {
                similar_lead(photos, m)
            }));
    }
    Ok(out)
}
