//! Choosing a capsule's photos, and which capsules stay.
//!
//! - [`one_per_group`]: a burst's frames and a duplicate's copies never
//!   appear together: the group's lead when it is among the candidates, else
//!   its best-scored member (a member who cannot see the lead still gets one
//!   frame of the burst).
//! - [`mmr`]: Maximal Marginal Relevance. Photo by photo, the candidate with
//!   the highest `λ·relevance − (1−λ)·max cosine(candidate, chosen)` is
//!   taken, relevance being the aggregate score over 10: λ = 1 takes the best
//!   scores, λ = 0 the most different photos. Applied when more than
//!   [`MMR_ABOVE`] photos are candidates; photos without an embedding count
//!   as unlike every other. Only the best [`MMR_POOL_FACTOR`]× as many
//!   candidates as wanted are considered (a year of 10,000 photos: 200
//!   candidates for 40), which keeps a library's capsules to milliseconds.
//! - [`dedup`]: capsules in priority order; one sharing more than
//!   `max_photo_overlap` of its photos (of the smaller of the two) with a
//!   capsule kept before is dropped.
//! - [`cover`]: a capsule's cover is one of its best photos, drawn anew each
//!   freshness slot (a hash of the capsule's id and the slot: stable within
//!   a slot, different across slots).

use std::collections::{HashMap, HashSet};

use crate::Library;

/// MMR only picks among more candidates than this.
pub const MMR_ABOVE: usize = 5;
/// MMR considers the best `k × this` candidates.
pub const MMR_POOL_FACTOR: usize = 5;
/// The cover is drawn from the best this-many photos.
pub const COVER_CHOICES: usize = 5;

/// SplitMix64: a small deterministic generator (seeds, rotations).
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// FNV-1a of a string: stable ids and seeds.
pub fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The aggregate of photo `i` as relevance in 0–1 (unscored: 0).
fn relevance(lib: &Library, i: u32) -> f64 {
    lib.photos[i as usize]
        .aggregate
        .map_or(0.0, |a| (a / 10.0).clamp(0.0, 1.0))
}

/// Best first: aggregate descending (unscored last), then path.
pub fn by_score(lib: &Library, a: u32, b: u32) -> std::cmp::Ordering {
    let (pa, pb) = (&lib.photos[a as usize], &lib.photos[b as usize]);
    let s = |p: &crate::PhotoFacts| p.aggregate.unwrap_or(f64::NEG_INFINITY);
    s(pb).total_cmp(&s(pa)).then_with(|| pa.path.cmp(&pb.path))
}

/// Capture time, undated last, then path.
pub fn by_time(lib: &Library, a: u32, b: u32) -> std::cmp::Ordering {
    let (pa, pb) = (&lib.photos[a as usize], &lib.photos[b as usize]);
    match (pa.taken, pb.taken) {
        (Some(x), Some(y)) => x.cmp(&y),
        (x, y) => y.is_some().cmp(&x.is_some()),
    }
    .then_with(|| pa.path.cmp(&pb.path))
}

/// At most one photo per burst and per duplicate group: the lead first,
/// else the best scored. Order of the result: best first.
pub fn one_per_group(lib: &Library, rows: &[u32]) -> Vec<u32> {
    let mut order: Vec<u32> = rows.to_vec();
    let lead = |i: u32| {
        let p = &lib.photos[i as usize];
        p.burst.as_ref().is_some_and(|g| g.lead) as u8
            + p.duplicate.as_ref().is_some_and(|g| g.lead) as u8
    };
    order.sort_by(|&a, &b| lead(b).cmp(&lead(a)).then_with(|| by_score(lib, a, b)));
    let mut seen: HashSet<(u8, &str)> = HashSet::new();
    let mut out = Vec::with_capacity(order.len());
    for i in order {
        let p = &lib.photos[i as usize];
        let b = p.burst.as_ref().map(|g| (0u8, g.id.as_str()));
        let d = p.duplicate.as_ref().map(|g| (1u8, g.id.as_str()));
        if b.is_some_and(|k| seen.contains(&k)) || d.is_some_and(|k| seen.contains(&k)) {
            continue;
        }
        seen.extend(b);
        seen.extend(d);
        out.push(i);
    }
    out.sort_by(|&a, &b| by_score(lib, a, b));
    out
}

/// The cosine of two photos' embeddings (normalised by [`Library::new`]);
/// 0 when either has none.
pub fn cosine(lib: &Library, a: u32, b: u32) -> f64 {
    match (
        &lib.photos[a as usize].embedding,
        &lib.photos[b as usize].embedding,
    ) {
        (Some(x), Some(y)) if x.len() == y.len() => {
            x.iter().zip(y.iter()).map(|(a, b)| a * b).sum::<f32>() as f64
        }
        _ => 0.0,
    }
}

/// The best `k` of `rows` by score, best first.
pub fn top(lib: &Library, rows: &[u32], k: usize) -> Vec<u32> {
    let mut r = rows.to_vec();
    r.sort_by(|&a, &b| by_score(lib, a, b));
    r.truncate(k);
    r
}

/// `k` photos of `rows` by MMR (see the module), in the order chosen. At
/// most [`MMR_ABOVE`] candidates: the best by score.
pub fn mmr(lib: &Library, rows: &[u32], k: usize, lambda: f64) -> Vec<u32> {
    if rows.len() <= MMR_ABOVE {
        return top(lib, rows, k);
    }
    let mut pool = top(lib, rows, k.saturating_mul(MMR_POOL_FACTOR).max(k));
    let mut max_sim = vec![f64::NEG_INFINITY; pool.len()];
    let mut chosen = Vec::with_capacity(k.min(pool.len()));
    while chosen.len() < k && !pool.is_empty() {
        let (best, _) = pool
            .iter()
            .enumerate()
            .map(|(j, &i)| {
                let penalty = if chosen.is_empty() {
                    0.0
                } else {
                    max_sim[j].max(0.0)
                };
                (j, lambda * relevance(lib, i) - (1.0 - lambda) * penalty)
            })
            .fold(
                (0, f64::NEG_INFINITY),
                |acc, x| if x.1 > acc.1 { x } else { acc },
            );
        let picked = pool.swap_remove(best);
        max_sim.swap_remove(best);
        for (j, &i) in pool.iter().enumerate() {
            max_sim[j] = max_sim[j].max(cosine(lib, picked, i));
        }
        chosen.push(picked);
    }
    chosen
}

/// The mean pairwise cosine distance (1 − cosine) of `rows`' embeddings.
pub fn mean_pairwise_distance(lib: &Library, rows: &[u32]) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for (x, &a) in rows.iter().enumerate() {
        for &b in &rows[x + 1..] {
            sum += 1.0 - cosine(lib, a, b);
            n += 1;
        }
    }
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// The fraction of the smaller set's photos the two share.
pub fn overlap(a: &[u32], b: &[u32]) -> f64 {
    let small = a.len().min(b.len());
    if small == 0 {
        return 0.0;
    }
    let set: HashSet<u32> = a.iter().copied().collect();
    b.iter().filter(|i| set.contains(i)).count() as f64 / small as f64
}

/// Keeps, in order, each capsule that shares at most `max_overlap` of its
/// photos with every capsule kept before it (see the module).
pub fn dedup<T>(items: Vec<T>, photos: impl Fn(&T) -> &[u32], max_overlap: f64) -> Vec<T> {
    // Photo → the kept capsules holding it.
    let mut holders: HashMap<u32, Vec<usize>> = HashMap::new();
    let mut sizes: Vec<usize> = Vec::new();
    let mut kept = Vec::new();
    for item in items {
        let rows = photos(&item);
        let mut shared: HashMap<usize, usize> = HashMap::new();
        for i in rows {
            for &k in holders.get(i).map(Vec::as_slice).unwrap_or_default() {
                *shared.entry(k).or_default() += 1;
            }
        }
        let too_close = shared.iter().any(|(&k, &n)| {
            let small = sizes[k].min(rows.len()).max(1);
            n as f64 / small as f64 > max_overlap
        });
        if too_close {
            continue;
        }
        let k = sizes.len();
        sizes.push(rows.len());
        for &i in rows {
            holders.entry(i).or_default().push(k);
        }
        kept.push(item);
    }
    kept
}

/// The cover of a capsule `id` with photos `rows` in freshness slot `slot`:
/// one of its best [`COVER_CHOICES`], drawn by a hash of both.
pub fn cover(lib: &Library, id: &str, rows: &[u32], slot: u64) -> Option<u32> {
    let best = top(lib, rows, COVER_CHOICES);
    if best.is_empty() {
        return None;
    }
    let mut r = SplitMix(hash(id) ^ slot.wrapping_mul(0xA24B_AED4_963E_E407));
    Some(best[r.below(best.len())])
}
