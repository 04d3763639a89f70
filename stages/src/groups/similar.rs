//! Similarity groups: photos that look alike by their embeddings (cosine of
//! the L2-normalised vectors at least `similarity_groups.default_threshold`).
//!
//! The links come from a [`Neighbours`] source — Lance's vector index over
//! the stored `embedding` column in `facet`, an exact scan ([`Flat`]) in
//! tests and for vectors held in memory — so a detection costs one
//! k-nearest-neighbour query per photo looked up, not a comparison of every
//! pair. Groups are then linked strongest first (single linkage); a link
//! that would make a group larger than `max_group_size` is cut, so an
//! oversized cluster splits along its weakest links into groups of at most
//! that size. Groups smaller than `min_group_size` are dropped.

use std::collections::BTreeMap;

use facet_config::SimilarityGroups;
use petgraph::unionfind::UnionFind;

use super::{Decisions, Group, Kind, Photo, finish};

/// A link between two photos (indices) with their cosine similarity.
pub type Link = (usize, usize, f32);

/// Where the neighbours of a photo come from.
pub trait Neighbours {
    /// For each photo of `of`, the other photos of `photos` (indices) whose
    /// embedding has a cosine of at least `threshold` with its own.
    fn similar(
        &mut self,
        photos: &[Photo],
        of: &[usize],
        threshold: f32,
    ) -> Result<Vec<Vec<(usize, f32)>>, String>;
}

/// An exact scan over the embeddings held in `photos` (every pair: for
/// tests and small sets).
#[derive(Debug, Default, Clone, Copy)]
pub struct Flat;

impl Neighbours for Flat {
    fn similar(
        &mut self,
        photos: &[Photo],
        of: &[usize],
        threshold: f32,
    ) -> Result<Vec<Vec<(usize, f32)>>, String> {
        Ok(of
            .iter()
            .map(|&i| {
                let Some(a) = &photos[i].embedding else {
                    return Vec::new();
                };
                photos
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != i)
                    .filter_map(|(j, p)| {
                        let c = super::cosine(a, p.embedding.as_ref()?);
                        (c >= threshold).then_some((j, c))
                    })
                    .collect()
            })
            .collect())
    }
}

/// The lead of a similarity group: the best aggregate, then the first path.
pub(crate) fn similar_lead(photos: &[Photo], m: &[usize]) -> (usize, String) {
    let best = *m
        .iter()
        .max_by(|&&a, &&b| {
            let (x, y) = (photos[a].aggregate, photos[b].aggregate);
            x.unwrap_or(f64::NEG_INFINITY)
                .total_cmp(&y.unwrap_or(f64::NEG_INFINITY))
                .then(photos[b].path.cmp(&photos[a].path))
        })
        .expect("non-empty");
    let why = match photos[best].aggregate {
        Some(a) => format!("best aggregate ({a:.2}) of {} similar photos", m.len()),
        None => format!("{} similar photos, none scored: the first by path", m.len()),
    };
    (best, why)
}

/// Similarity groups from `links` (each pair once or twice, in any order).
pub fn similar_groups(
    photos: &[Photo],
    links: &[Link],
    cfg: &SimilarityGroups,
    decisions: &Decisions,
) -> Vec<Group> {
    let threshold = cfg.default_threshold as f32;
    let max = (cfg.max_group_size as usize).max(2);
    let min = (cfg.min_group_size as usize).max(2);
    // Strongest first; ties by path, so that the result does not depend on
    // where photos sit in `photos` or on the order the index answered in.
    let mut links: Vec<(f32, &str, &str, usize, usize)> = links
        .iter()
        .filter(|l| l.0 != l.1 && l.2 >= threshold)
        .map(|&(a, b, c)| {
            let (a, b) = if photos[a].path <= photos[b].path {
                (a, b)
            } else {
                (b, a)
            };
            (c, photos[a].path.as_str(), photos[b].path.as_str(), a, b)
        })
        .collect();
    links.sort_by(|x, y| {
        y.0.total_cmp(&x.0)
            .then_with(|| x.1.cmp(y.1))
            .then_with(|| x.2.cmp(y.2))
    });
    links.dedup_by(|x, y| x.3 == y.3 && x.4 == y.4);
    // Union-find over the linked photos only.
    let mut slot: BTreeMap<usize, usize> = BTreeMap::new();
    for l in &links {
        let n = slot.len();
        slot.entry(l.3).or_insert(n);
        let n = slot.len();
        slot.entry(l.4).or_insert(n);
    }
    let mut uf = UnionFind::<usize>::new(slot.len());
    let mut size = vec![1usize; slot.len()];
    for &(_, _, _, a, b) in &links {
        let (ra, rb) = (uf.find(slot[&a]), uf.find(slot[&b]));
        if ra == rb || size[ra] + size[rb] > max {
            continue;
        }
        uf.union(ra, rb);
        size[uf.find(ra)] = size[ra] + size[rb];
    }
    let mut sets: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (&photo, &s) in &slot {
        sets.entry(uf.find(s)).or_default().push(photo);
    }
    sets.into_values()
        .filter(|m| m.len() >= min)
        .map(|members| {
            finish(Kind::Similar, photos, members, decisions, |m| {
                similar_lead(photos, m)
            })
        })
        .collect()
}

/// Similarity groups of `photos`, every photo looked up in `neighbours`.
pub fn similar(
    photos: &[Photo],
    cfg: &SimilarityGroups,
    decisions: &Decisions,
    neighbours: &mut dyn Neighbours,
) -> Result<Vec<Group>, String> {
    let of: Vec<usize> = (0..photos.len())
        .filter(|&i| photos[i].embedding.is_some())
        .collect();
    let found = neighbours.similar(photos, &of, cfg.default_threshold as f32)?;
    let links: Vec<Link> = of
        .iter()
        .zip(found)
        .flat_map(|(&i, n)| n.into_iter().map(move |(j, c)| (i, j, c)))
        .collect();
    Ok(similar_groups(photos, &links, cfg, decisions))
}
