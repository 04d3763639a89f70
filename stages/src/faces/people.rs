//! People: faces grouped by their embeddings (`face_clustering`).
//!
//! HDBSCAN (petal-clustering, Borůvka or Prim over a ball tree) runs on the
//! L2-normalised embeddings of the faces that belong to nobody yet, projected
//! onto their first [`HDBSCAN_DIMENSIONS`] principal components ([`Pca`],
//! fitted on those faces: a ball tree prunes well in a few dozen dimensions,
//! not in a thousand), in chunks of at most `chunk_size` nearby faces
//! (k-means in that space, one centre per chunk); clusters whose centroids
//! are within `auto_merge_distance_percent` (cosine distance, in the
//! embedding space) are merged. Everything after HDBSCAN works on the full
//! embeddings: a cluster keeps the faces whose cosine similarity to its
//! centroid reaches `merge_threshold` (the others are noise), and
//! centroids, merging, matching and noise are as without the projection.
//! Then, so that a person's id never changes:
//!
//! * a face keeps its person; a manual assignment always wins;
//! * a new cluster whose centroid has cosine similarity at least
//!   `merge_threshold` with an existing person's joins that person, else it
//!   becomes a new person with the next free id (ids are never reused);
//! * faces HDBSCAN calls noise that lie within the auto-merge distance of
//!   each other, `min_faces_per_person` or more, are a cluster too (matched
//!   or new as above); a lone one joins the nearest person when within the
//!   auto-merge distance of its centroid, else stays unassigned.
//!
//! Names and `hidden` belong to the user and are carried over untouched.

use std::collections::{BTreeMap, HashMap};

use facet_config::FaceClustering;
use ndarray::Array2;
use petal_clustering::{Fit, HDbscan};
use petal_neighbors::distance::Euclidean;

/// A face as clustering sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceIn {
    pub face_id: String,
    pub embedding: Vec<f32>,
    /// Its person from an earlier clustering.
    pub person_id: Option<i64>,
    pub confidence: f32,
}

/// A person from an earlier clustering.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Person {
    pub person_id: i64,
    pub name: Option<String>,
    pub hidden: bool,
    pub centroid: Vec<f32>,
    pub representative_face: Option<String>,
    pub face_count: usize,
}

/// What a clustering decided.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    /// Per face (in input order), its person.
    pub assignments: Vec<Option<i64>>,
    /// Every person, old and new, by id.
    pub persons: Vec<Person>,
    /// Clusters HDBSCAN found among the unassigned faces (after auto-merge).
    pub clusters: usize,
    /// Persons created by this clustering.
    pub new_persons: usize,
}

fn normalised(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter().map(|x| x / n).collect()
    } else {
        v.to_vec()
    }
}

/// Dot product, in eight lanes (which the compiler vectorises; a plain
/// running sum it cannot reorder).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for ((a, x), y) in acc.iter_mut().zip(x).zip(y) {
            *a += x * y;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Dimensions HDBSCAN clusters in: the embeddings' first principal
/// components. Face embeddings (128–1024-d) keep who is who in far fewer
/// dimensions, and Borůvka over a ball tree is orders of magnitude faster
/// there (100,000 faces: minutes instead of hours).
pub const HDBSCAN_DIMENSIONS: usize = 48;
/// Faces the principal components are fitted on, at most (evenly spread
/// over the input).
const PCA_SAMPLE: usize = 4096;
/// Subspace iterations on the covariance.
const PCA_ITERATIONS: usize = 30;

/// A projection onto principal components: `basis` holds orthonormal
/// directions of the embedding space, those of largest variance about
/// `mean` (the top eigenvectors of the covariance, found by subspace
/// iteration; the basis spans them in no particular order, which
/// Euclidean distances do not mind). Directions the data do not span (fewer
/// faces than dimensions) are left out, so that few faces are projected
/// without loss.
#[derive(Debug, Clone)]
pub struct Pca {
    mean: Vec<f32>,
    basis: Vec<Vec<f32>>,
    /// `basis[r] · mean`.
    offsets: Vec<f32>,
}

impl Pca {
    /// Fits `dims` principal components of `points` (of equal length).
    pub fn fit(points: &[&[f32]], dims: usize) -> Pca {
        let d = points.first().map_or(0, |p| p.len());
        let n = points.len();
        let m = n.min(PCA_SAMPLE);
        let sample: Vec<&[f32]> = (0..m).map(|i| points[i * n / m.max(1)]).collect();
        let mut mean = vec![0.0f32; d];
        for p in &sample {
            mean.iter_mut().zip(*p).for_each(|(a, x)| *a += x);
        }
        mean.iter_mut().for_each(|a| *a /= m.max(1) as f32);
        // The centred sample by dimension, then the covariance (symmetric).
        let mut by_dim = vec![vec![0.0f32; m]; d];
        for (s, p) in sample.iter().enumerate() {
            for (j, x) in p.iter().enumerate() {
                by_dim[j][s] = x - mean[j];
            }
        }
        let mut cov = vec![vec![0.0f32; d]; d];
        for i in 0..d {
            for j in i..d {
                let c = dot(&by_dim[i], &by_dim[j]) / m.max(1) as f32;
                cov[i][j] = c;
                cov[j][i] = c;
            }
        }
        drop(by_dim);
        let k = dims.min(d);
        // Deterministic start (xorshift), then Q ← orth(C·Q).
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut basis: Vec<Vec<f32>> = (0..k)
            .map(|_| {
                (0..d)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                    })
                    .collect()
            })
            .collect();
        orthonormalise(&mut basis);
        for _ in 0..PCA_ITERATIONS {
            basis = basis
                .iter()
                .map(|q| cov.iter().map(|row| dot(row, q)).collect())
                .collect();
            orthonormalise(&mut basis);
        }
        basis.retain(|q| q.iter().any(|&x| x != 0.0));
        let offsets = basis.iter().map(|q| dot(q, &mean)).collect();
        Pca {
            mean,
            basis,
            offsets,
        }
    }

    /// Dimensions of the projection.
    pub fn dims(&self) -> usize {
        self.basis.len()
    }

    /// `p`'s coordinates along the components.
    pub fn project(&self, p: &[f32]) -> Vec<f32> {
        debug_assert_eq!(p.len(), self.mean.len());
        self.basis
            .iter()
            .zip(&self.offsets)
            .map(|(q, o)| dot(q, p) - o)
            .collect()
    }
}

/// Modified Gram–Schmidt, twice (for rounding); vectors that are (nearly)
/// combinations of the earlier ones become zero.
fn orthonormalise(vs: &mut [Vec<f32>]) {
    let scale = vs.iter().map(|v| dot(v, v).sqrt()).fold(0.0f32, f32::max);
    for i in 0..vs.len() {
        let (done, rest) = vs.split_at_mut(i);
        let v = &mut rest[0];
        for _ in 0..2 {
            for u in done.iter() {
                let c = dot(u, v);
                v.iter_mut().zip(u).for_each(|(x, y)| *x -= c * y);
            }
        }
        let norm = dot(v, v).sqrt();
        if norm > scale * 1e-4 && norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        } else {
            v.iter_mut().for_each(|x| *x = 0.0);
        }
    }
}

/// The normalised mean of some unit vectors.
fn centroid<'a>(vs: impl Iterator<Item = &'a [f32]>, dim: usize) -> Vec<f32> {
    let mut c = vec![0.0f32; dim];
    for v in vs {
        c.iter_mut().zip(v).for_each(|(c, x)| *c += x);
    }
    normalised(&c)
}

/// HDBSCAN clusters (indices into `points`) of the points `chunk` names;
/// noise left out.
fn hdbscan_chunk(points: &[&[f32]], chunk: &[usize], cfg: &FaceClustering) -> Vec<Vec<usize>> {
    let dim = points.first().map_or(0, |p| p.len());
    let min_size = cfg.min_faces_per_person.max(2);
    if chunk.len() < min_size {
        return Vec::new();
    }
    let data = Array2::from_shape_fn((chunk.len(), dim), |(i, j)| points[chunk[i]][j]);
    let mut model = HDbscan {
        alpha: 1.0f32,
        min_samples: cfg.min_samples.max(1),
        min_cluster_size: min_size,
        metric: Euclidean::default(),
        boruvka: cfg.clustering_algorithm.boruvka(),
    };
    let (found, _noise, _) = model.fit(&data, None);
    let mut found: Vec<Vec<usize>> = found
        .into_values()
        .map(|m| m.into_iter().map(|i| chunk[i]).collect())
        .collect();
    found.iter_mut().for_each(|m| m.sort_unstable());
    found.sort();
    found
}

/// Lloyd iterations of the k-means that lays out the chunks.
const CHUNK_KMEANS_ITERATIONS: usize = 8;

/// The chunks HDBSCAN runs on (indices into `points`), each at most `size`:
/// all points when they fit in one; else groups of nearby points — k-means
/// with one centre per chunk, seeded with points spread over the input —
/// each in input order, those larger than a chunk split the same way. Chunks of whole
/// identities keep each chunk's clusters large and far apart, which is what
/// HDBSCAN finds quickly; chunks in input order would hold a few faces of
/// every identity (and 100,000 faces of 2,000 people would take hours).
fn chunks(points: &[&[f32]], size: usize) -> Vec<Vec<usize>> {
    split(points, (0..points.len()).collect(), size.max(1))
}

/// [`chunks`] of the points `idx` names: k-means groups, split again while
/// larger than a chunk (cut in input order only where k-means cannot split).
fn split(points: &[&[f32]], idx: Vec<usize>, size: usize) -> Vec<Vec<usize>> {
    let n = idx.len();
    if n <= size {
        return vec![idx];
    }
    let k = n.div_ceil(size).max(2);
    let mut centres: Vec<Vec<f32>> = (0..k).map(|c| points[idx[c * n / k]].to_vec()).collect();
    let mut of = vec![0usize; n];
    for _ in 0..CHUNK_KMEANS_ITERATIONS {
        for (o, &i) in of.iter_mut().zip(&idx) {
            *o = centres
                .iter()
                .enumerate()
                .map(|(c, m)| (c, squared_distance(points[i], m)))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map_or(0, |(c, _)| c);
        }
        let mut sums = vec![vec![0.0f32; points[idx[0]].len()]; k];
        let mut counts = vec![0usize; k];
        for (&c, &i) in of.iter().zip(&idx) {
            sums[c].iter_mut().zip(points[i]).for_each(|(s, x)| *s += x);
            counts[c] += 1;
        }
        for ((c, s), count) in centres.iter_mut().zip(sums).zip(counts) {
            if count > 0 {
                *c = s.into_iter().map(|x| x / count as f32).collect();
            }
        }
    }
    let mut groups = vec![Vec::new(); k];
    for (&c, &i) in of.iter().zip(&idx) {
        groups[c].push(i);
    }
    if groups.iter().any(|g| g.len() == n) {
        return idx.chunks(size).map(<[usize]>::to_vec).collect();
    }
    groups
        .into_iter()
        .filter(|g| !g.is_empty())
        .flat_map(|g| split(points, g, size))
        .collect()
}

fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    for (x, y) in ca.zip(cb) {
        for ((a, x), y) in acc.iter_mut().zip(x).zip(y) {
            *a += (x - y) * (x - y);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The members of a cluster found in the reduced space that are like its
/// centroid in the full one (cosine at least `threshold`, twice over): a
/// projection can bring two people close together, their embeddings still
/// tell them apart. The others are left to the noise step.
fn coherent(points: &[&[f32]], mut members: Vec<usize>, threshold: f32) -> Vec<usize> {
    let dim = points.first().map_or(0, |p| p.len());
    for _ in 0..2 {
        let c = centroid(members.iter().map(|&i| points[i]), dim);
        let before = members.len();
        members.retain(|&i| dot(points[i], &c) >= threshold);
        if members.len() == before {
            break;
        }
    }
    members
}

/// Clusters of unit vectors: HDBSCAN on their first
/// [`HDBSCAN_DIMENSIONS`] principal components over chunks of at most
/// `cfg.chunk_size` nearby faces, each chunk's clusters merged into those found so far
/// whose centroid is within `auto_merge_distance_percent` (cosine distance
/// of the full vectors), so that the work grows with the number of chunks
/// and clusters, not the square of the faces.
pub fn clusters(points: &[&[f32]], cfg: &FaceClustering) -> Vec<Vec<usize>> {
    clusters_in(points, cfg, Some(HDBSCAN_DIMENSIONS))
}

/// [`clusters`] with HDBSCAN on `dims` principal components, or on the
/// vectors themselves (`None`, or vectors of no more dimensions).
pub fn clusters_in(
    points: &[&[f32]],
    cfg: &FaceClustering,
    dims: Option<usize>,
) -> Vec<Vec<usize>> {
    let dim = points.first().map_or(0, |p| p.len());
    let reduced: Option<Vec<Vec<f32>>> = dims.filter(|&k| k < dim).map(|k| {
        let pca = Pca::fit(points, k);
        points.iter().map(|p| pca.project(p)).collect()
    });
    let hdbscan_points: Vec<&[f32]> = match &reduced {
        Some(r) => r.iter().map(Vec::as_slice).collect(),
        None => points.to_vec(),
    };
    let distance = (cfg.auto_merge_distance_percent / 100.0) as f32;
    let chunk = cfg.chunk_size.max(cfg.min_faces_per_person.max(2));
    // (sum of the members' vectors, its normalised direction, members)
    let mut groups: Vec<(Vec<f32>, Vec<f32>, Vec<usize>)> = Vec::new();
    let min_size = cfg.min_faces_per_person.max(2);
    for part in chunks(&hdbscan_points, chunk) {
        for members in hdbscan_chunk(&hdbscan_points, &part, cfg) {
            let members = match reduced {
                Some(_) => coherent(points, members, cfg.merge_threshold as f32),
                None => members,
            };
            if members.len() < min_size {
                continue;
            }
            let mut sum = vec![0.0f32; dim];
            for &i in &members {
                sum.iter_mut().zip(points[i]).for_each(|(s, x)| *s += x);
            }
            let dir = normalised(&sum);
            // The nearest group of the earlier chunks, or of this one.
            let near = groups
                .iter()
                .enumerate()
                .map(|(g, (_, d, _))| (g, dot(d, &dir)))
                .filter(|&(_, sim)| 1.0 - sim <= distance)
                .max_by(|a, b| a.1.total_cmp(&b.1));
            match near {
                Some((g, _)) => {
                    let (gs, gd, gm) = &mut groups[g];
                    gs.iter_mut().zip(&sum).for_each(|(a, b)| *a += b);
                    *gd = normalised(gs);
                    gm.extend(members);
                }
                None => groups.push((sum, dir, members)),
            }
        }
    }
    groups.into_iter().map(|(_, _, m)| m).collect()
}

/// Clusters `faces` into people, keeping `persons`' ids and the `manual`
/// assignments (face id → person id).
pub fn cluster(
    faces: &[FaceIn],
    persons: &[Person],
    manual: &HashMap<String, i64>,
    cfg: &FaceClustering,
) -> Outcome {
    let unit: Vec<Vec<f32>> = faces.iter().map(|f| normalised(&f.embedding)).collect();
    let dim = unit.iter().map(Vec::len).max().unwrap_or(0);
    let known: HashMap<i64, &Person> = persons.iter().map(|p| (p.person_id, p)).collect();
    let mut assigned: Vec<Option<i64>> = faces
        .iter()
        .map(|f| {
            manual
                .get(&f.face_id)
                .copied()
                .or(f.person_id.filter(|p| known.contains_key(p)))
        })
        .collect();
    // Centroids of the existing persons: their current faces, else as stored.
    let mut centroids: BTreeMap<i64, Vec<f32>> = persons
        .iter()
        .map(|p| (p.person_id, normalised(&p.centroid)))
        .collect();
    let mut members: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, a) in assigned.iter().enumerate() {
        if let Some(p) = a {
            members.entry(*p).or_default().push(i);
        }
    }
    for (p, m) in &members {
        centroids.insert(*p, centroid(m.iter().map(|&i| unit[i].as_slice()), dim));
    }
    let pending: Vec<usize> = (0..faces.len())
        .filter(|&i| assigned[i].is_none() && unit[i].len() == dim && dim > 0)
        .collect();
    let points: Vec<&[f32]> = pending.iter().map(|&i| unit[i].as_slice()).collect();
    let clusters = clusters(&points, cfg);
    let mut next_id = persons.iter().map(|p| p.person_id).max().unwrap_or(0) + 1;
    // New clusters are matched at `merge_threshold` against the persons of
    // earlier clusterings only: this clustering already told its own apart.
    let prior: std::collections::HashSet<i64> = centroids.keys().copied().collect();
    let best =
        |c: &[f32], centroids: &BTreeMap<i64, Vec<f32>>, only_prior: bool| -> Option<(i64, f32)> {
            centroids
                .iter()
                .filter(|(id, v)| v.len() == c.len() && (!only_prior || prior.contains(id)))
                .map(|(&id, v)| (id, dot(c, v)))
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        };
    let threshold = cfg.merge_threshold as f32;
    let mut new_persons = 0;
    let n_clusters = clusters.len();
    let mut in_cluster = vec![false; points.len()];
    for members_of in &clusters {
        let c = centroid(members_of.iter().map(|&k| points[k]), dim);
        let id = match best(&c, &centroids, true) {
            Some((id, sim)) if sim >= threshold => id,
            _ => {
                let id = next_id;
                next_id += 1;
                new_persons += 1;
                id
            }
        };
        for &k in members_of {
            assigned[pending[k]] = Some(id);
            in_cluster[k] = true;
        }
        let all: Vec<usize> = (0..faces.len())
            .filter(|&i| assigned[i] == Some(id))
            .collect();
        centroids.insert(id, centroid(all.iter().map(|&i| unit[i].as_slice()), dim));
    }
    // Noise. Faces within the auto-merge distance of each other, enough of
    // them, are a cluster too; the others join the nearest person when
    // within that distance of its centroid, else stay unassigned.
    let close = 1.0 - (cfg.auto_merge_distance_percent / 100.0) as f32;
    let noise: Vec<usize> = (0..pending.len()).filter(|&k| !in_cluster[k]).collect();
    let mut group: Vec<usize> = (0..noise.len()).collect();
    fn root(g: &mut [usize], mut i: usize) -> usize {
        while g[i] != i {
            g[i] = g[g[i]];
            i = g[i];
        }
        i
    }
    for a in 0..noise.len() {
        for b in a + 1..noise.len() {
            if dot(points[noise[a]], points[noise[b]]) >= close {
                let (ra, rb) = (root(&mut group, a), root(&mut group, b));
                group[ra.max(rb)] = ra.min(rb);
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (a, &k) in noise.iter().enumerate() {
        let r = root(&mut group, a);
        groups.entry(r).or_default().push(k);
    }
    for members_of in groups.into_values() {
        let c = centroid(members_of.iter().map(|&k| points[k]), dim);
        let enough = members_of.len() >= cfg.min_faces_per_person.max(2);
        let id = match (best(&c, &centroids, false), best(&c, &centroids, true)) {
            (Some((id, sim)), _) if sim >= close => Some(id),
            (_, Some((id, sim))) if enough && sim >= threshold => Some(id),
            _ if enough => {
                let id = next_id;
                next_id += 1;
                new_persons += 1;
                Some(id)
            }
            _ => None,
        };
        if let Some(id) = id {
            for &k in &members_of {
                assigned[pending[k]] = Some(id);
            }
            let all: Vec<usize> = (0..faces.len())
                .filter(|&i| assigned[i] == Some(id))
                .collect();
            centroids.insert(id, centroid(all.iter().map(|&i| unit[i].as_slice()), dim));
        }
    }
    // Every person, with its members' centroid, count and representative.
    let mut by_person: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, a) in assigned.iter().enumerate() {
        if let Some(p) = a {
            by_person.entry(*p).or_default().push(i);
        }
    }
    let mut out: BTreeMap<i64, Person> = persons
        .iter()
        .map(|p| {
            (
                p.person_id,
                Person {
                    face_count: 0,
                    ..p.clone()
                },
            )
        })
        .collect();
    for (id, m) in by_person {
        let c = centroid(m.iter().map(|&i| unit[i].as_slice()), dim);
        let rep = m
            .iter()
            .copied()
            .max_by(|&a, &b| {
                let s = |i: usize| dot(&unit[i], &c) * faces[i].confidence;
                s(a).total_cmp(&s(b)).then(b.cmp(&a))
            })
            .map(|i| faces[i].face_id.clone());
        let p = out.entry(id).or_insert_with(|| Person {
            person_id: id,
            ..Default::default()
        });
        p.face_count = m.len();
        p.centroid = c;
        p.representative_face = rep;
    }
    Outcome {
        assignments: assigned,
        persons: out.into_values().collect(),
        clusters: n_clusters,
        new_persons,
    }
}

/// Deterministic test embeddings: `people` identities, `per_person` faces
/// each, unit vectors of `dim` whose cosine similarity to their identity is
/// about `similarity` (a Gaussian perturbation). For tests and benches.
pub fn synthetic(
    people: usize,
    per_person: usize,
    dim: usize,
    similarity: f32,
    seed: u64,
) -> Vec<(usize, Vec<f32>)> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    let mut normal = move || -> f32 {
        // xorshift64* then Box-Muller.
        let mut u = || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            ((state.wrapping_mul(2685821657736338717) >> 11) as f64 / (1u64 << 53) as f64)
                .max(1e-12)
        };
        let (a, b) = (u(), u());
        ((-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos()) as f32
    };
    let centres: Vec<Vec<f32>> = (0..people)
        .map(|_| normalised(&(0..dim).map(|_| normal()).collect::<Vec<_>>()))
        .collect();
    // Noise of norm r around a unit centre gives cosine ≈ 1/√(1 + r²).
    let r = ((1.0 / similarity.powi(2)) - 1.0).max(0.0).sqrt();
    let sigma = r / (dim as f32).sqrt();
    let mut out = Vec::with_capacity(people * per_person);
    for _ in 0..per_person {
        for (p, c) in centres.iter().enumerate() {
            let v: Vec<f32> = c.iter().map(|x| x + sigma * normal()).collect();
            out.push((p, normalised(&v)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faces_of(points: &[(usize, Vec<f32>)], prefix: &str) -> Vec<FaceIn> {
        points
            .iter()
            .enumerate()
            .map(|(i, (_, e))| FaceIn {
                face_id: format!("{prefix}{i}"),
                embedding: e.clone(),
                person_id: None,
                confidence: 0.9,
            })
            .collect()
    }

    /// Whether faces of one identity share one person and different
    /// identities differ.
    fn one_person_per_identity(truth: &[usize], got: &[Option<i64>]) {
        let mut by_truth: HashMap<usize, i64> = HashMap::new();
        let mut by_person: HashMap<i64, usize> = HashMap::new();
        for (t, g) in truth.iter().zip(got) {
            let g = g.unwrap_or_else(|| panic!("identity {t} has an unassigned face: {got:?}"));
            assert_eq!(*by_truth.entry(*t).or_insert(g), g, "identity {t} split");
            assert_eq!(
                *by_person.entry(g).or_insert(*t),
                *t,
                "person {g} mixes identities"
            );
        }
    }

    #[test]
    fn clusters_identities_and_keeps_ids_when_more_faces_come() {
        let cfg = FaceClustering::default();
        let points = synthetic(6, 4, 128, 0.9, 7);
        let truth: Vec<usize> = points.iter().map(|(t, _)| *t).collect();
        let faces = faces_of(&points, "a");
        let first = cluster(&faces, &[], &HashMap::new(), &cfg);
        one_person_per_identity(&truth, &first.assignments);
        assert_eq!(first.persons.len(), 6);
        assert_eq!(first.new_persons, 6);

        // A user names a person and moves one face by hand.
        let mut persons = first.persons.clone();
        persons[0].name = Some("Ada".into());
        let moved = faces[1].face_id.clone();
        let target = first.assignments[2].unwrap();
        let manual = HashMap::from([(moved.clone(), target)]);

        // More photos: 3 more faces of each identity, and a new identity.
        let more = synthetic(7, 7, 128, 0.9, 7);
        let mut all: Vec<FaceIn> = faces
            .iter()
            .zip(&first.assignments)
            .map(|(f, p)| FaceIn {
                person_id: *p,
                ..f.clone()
            })
            .collect();
        // Identities 0–5 of `more` are new faces of the same people only if
        // the seed gives the same centres: it does (same seed, centres first).
        let extra: Vec<(usize, Vec<f32>)> = more.into_iter().skip(7 * 4).collect();
        all.extend(faces_of(&extra, "b"));
        let second = cluster(&all, &persons, &manual, &cfg);
        for (i, f) in faces.iter().enumerate() {
            let want = if f.face_id == moved {
                Some(target)
            } else {
                first.assignments[i]
            };
            assert_eq!(second.assignments[i], want, "{} changed person", f.face_id);
        }
        // The new faces of known people join them; the new identity is new.
        for (k, (t, _)) in extra.iter().enumerate() {
            let got = second.assignments[faces.len() + k];
            if *t < 6 {
                let old = truth.iter().position(|x| x == t).unwrap();
                assert_eq!(got, first.assignments[old], "identity {t}");
            } else {
                assert!(
                    got.is_some_and(|p| p > 6),
                    "a new person for the new identity: {got:?}"
                );
            }
        }
        assert_eq!(second.new_persons, 1);
        let ada = second
            .persons
            .iter()
            .find(|p| p.person_id == persons[0].person_id)
            .unwrap();
        assert_eq!(ada.name.as_deref(), Some("Ada"), "names are kept");
    }

    #[test]
    fn chunks_are_merged_by_centroid() {
        let cfg = FaceClustering {
            chunk_size: 10,
            ..Default::default()
        };
        // 4 identities × 8 faces, interleaved: every chunk holds every identity.
        let points = synthetic(4, 8, 64, 0.92, 3);
        let truth: Vec<usize> = points.iter().map(|(t, _)| *t).collect();
        let out = cluster(&faces_of(&points, "f"), &[], &HashMap::new(), &cfg);
        one_person_per_identity(&truth, &out.assignments);
        assert_eq!(out.persons.len(), 4);
    }

    #[test]
    fn clustering_in_principal_components_finds_the_identities() {
        // 60 identities × 12 faces of 512-d: far more faces and identities
        // than the HDBSCAN dimensions, so the projection is lossy.
        let cfg = FaceClustering::default();
        let points = synthetic(60, 12, 512, 0.9, 11);
        let truth: Vec<usize> = points.iter().map(|(t, _)| *t).collect();
        let refs: Vec<&[f32]> = points.iter().map(|(_, v)| v.as_slice()).collect();
        let reduced = clusters_in(&refs, &cfg, Some(HDBSCAN_DIMENSIONS));
        let full = clusters_in(&refs, &cfg, None);
        let sorted = |mut c: Vec<Vec<usize>>| {
            c.iter_mut().for_each(|m| m.sort_unstable());
            c.sort();
            c
        };
        let mut want: Vec<Vec<usize>> = vec![Vec::new(); 60];
        for (i, t) in truth.iter().enumerate() {
            want[*t].push(i);
        }
        assert_eq!(sorted(reduced), sorted(want.clone()), "in 48 dimensions");
        assert_eq!(sorted(full), sorted(want), "in 512");
        let out = cluster(&faces_of(&points, "r"), &[], &HashMap::new(), &cfg);
        one_person_per_identity(&truth, &out.assignments);
        assert_eq!(out.persons.len(), 60);
    }

    #[test]
    fn few_faces_are_projected_without_loss() {
        // 20 points span at most 19 directions: 48 components keep every
        // distance.
        let points = synthetic(5, 4, 256, 0.8, 5);
        let refs: Vec<&[f32]> = points.iter().map(|(_, v)| v.as_slice()).collect();
        let pca = Pca::fit(&refs, HDBSCAN_DIMENSIONS);
        assert!(pca.dims() <= 19, "{}", pca.dims());
        let proj: Vec<Vec<f32>> = refs.iter().map(|p| pca.project(p)).collect();
        let dist = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).powi(2))
                .sum::<f32>()
                .sqrt()
        };
        for i in 0..refs.len() {
            for j in 0..i {
                let (full, low) = (dist(refs[i], refs[j]), dist(&proj[i], &proj[j]));
                assert!((full - low).abs() < 1e-3, "{i}–{j}: {full} vs {low}");
            }
        }
    }

    #[test]
    fn principal_components_follow_the_variance() {
        // Points spread along 3 axes of 64 (variances 9, 4, 1) plus a little
        // noise: 3 components hold the spread, and project back near the
        // data.
        let noise = synthetic(1, 500, 64, 0.999, 9);
        let data: Vec<Vec<f32>> = noise
            .iter()
            .enumerate()
            .map(|(i, (_, n))| {
                let mut v: Vec<f32> = n.iter().map(|x| x * 0.01).collect();
                let t = i as f32 * 0.7;
                v[5] += 3.0 * t.sin();
                v[17] += 2.0 * (1.3 * t).cos();
                v[40] += (2.1 * t).sin();
                v
            })
            .collect();
        let refs: Vec<&[f32]> = data.iter().map(Vec::as_slice).collect();
        let pca = Pca::fit(&refs, 3);
        assert_eq!(pca.dims(), 3);
        for q in &pca.basis {
            let on_axes = q[5].powi(2) + q[17].powi(2) + q[40].powi(2);
            assert!(on_axes > 0.99, "{on_axes}");
        }
    }

    #[test]
    fn chunks_hold_nearby_faces() {
        // 20 identities × 10 faces, interleaved, in chunks of 50: every face
        // in exactly one chunk, and identities (mostly) whole in one.
        let points = synthetic(20, 10, 128, 0.9, 4);
        let refs: Vec<&[f32]> = points.iter().map(|(_, v)| v.as_slice()).collect();
        let pca = Pca::fit(&refs, HDBSCAN_DIMENSIONS);
        let low: Vec<Vec<f32>> = refs.iter().map(|p| pca.project(p)).collect();
        let low: Vec<&[f32]> = low.iter().map(Vec::as_slice).collect();
        let parts = chunks(&low, 50);
        assert!(parts.iter().all(|c| !c.is_empty() && c.len() <= 50));
        let mut all: Vec<usize> = parts.concat();
        all.sort_unstable();
        assert_eq!(all, (0..200).collect::<Vec<_>>());
        let whole = (0..20)
            .filter(|&t| {
                parts
                    .iter()
                    .filter(|c| c.iter().any(|&i| points[i].0 == t))
                    .count()
                    == 1
            })
            .count();
        assert!(whole >= 16, "{whole} of 20 identities in one chunk");
        // Chunked, the identities still come out one person each.
        let cfg = FaceClustering {
            chunk_size: 50,
            ..Default::default()
        };
        let out = cluster(&faces_of(&points, "c"), &[], &HashMap::new(), &cfg);
        let truth: Vec<usize> = points.iter().map(|(t, _)| *t).collect();
        one_person_per_identity(&truth, &out.assignments);
        assert_eq!(out.persons.len(), 20);
    }

    #[test]
    fn clusters_keep_the_faces_like_their_centroid() {
        // A cluster the projection mixed: 10 faces of one identity, 3 of
        // another; in the embedding space the 3 are far from the centroid.
        let points = synthetic(2, 10, 256, 0.9, 8);
        let refs: Vec<&[f32]> = points.iter().map(|(_, v)| v.as_slice()).collect();
        let a: Vec<usize> = (0..20).filter(|&i| points[i].0 == 0).collect();
        let b: Vec<usize> = (0..20).filter(|&i| points[i].0 == 1).take(3).collect();
        let kept = coherent(&refs, [a.clone(), b].concat(), 0.6);
        assert_eq!(kept, a);
        assert_eq!(coherent(&refs, a.clone(), 0.6), a, "a pure cluster stays");
    }

    #[test]
    fn synthetic_similarity_is_as_asked() {
        let p = synthetic(2, 2, 512, 0.9, 1);
        let same = dot(&p[0].1, &p[2].1);
        let other = dot(&p[0].1, &p[1].1);
        assert!(
            (same - 0.81).abs() < 0.05,
            "two faces of one identity: {same}"
        );
        assert!(other.abs() < 0.2, "{other}");
    }
}
