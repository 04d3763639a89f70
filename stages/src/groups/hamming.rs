//! Near neighbours of 64-bit hashes under the Hamming distance, without
//! comparing every pair: multi-index hashing (Norouzi, Punjani & Fleet,
//! "Fast Search in Hamming Space with Multi-Index Hashing", CVPR 2012).
//!
//! The hash is cut into four 16-bit chunks, each with its own table. Two
//! hashes within distance `r` differ in at most `r` bits, so (pigeonhole) some
//! chunk differs in at most `⌊r / 4⌋` bits: probing every chunk value within
//! that distance of the query's chunks finds every candidate, and candidates
//! are then checked on the whole hash. For the duplicate radius (6) that is 17
//! probes per chunk, and a query touches a few dozen hashes, not the library.
//! (A BK-tree degrades on 64-bit Hamming spaces: with only 65 distances, a
//! radius-6 query visits a large part of the tree.)

pub const CHUNKS: usize = 4;
const BUCKETS: usize = 1 << 16;

fn chunk(h: u64, i: usize) -> u16 {
    (h >> (16 * i)) as u16
}

/// Every 16-bit value within `r` bits of `v`.
fn ball(v: u16, r: u32, out: &mut Vec<u16>) {
    fn rec(v: u16, from: u32, left: u32, out: &mut Vec<u16>) {
        out.push(v);
        if left == 0 {
            return;
        }
        for b in from..16 {
            rec(v ^ (1 << b), b + 1, left - 1, out);
        }
    }
    rec(v, 0, r.min(16), out);
}

/// The four 16-bit chunks of `h` (the tables' keys).
pub fn chunks(h: u64) -> [u16; CHUNKS] {
    std::array::from_fn(|i| chunk(h, i))
}

/// An index of hashes, each with a caller's id. Each table is indexed by
/// the chunk value directly, and its buckets hold the whole hashes, so that a
/// probe scans memory in order instead of chasing ids.
pub struct HammingIndex {
    len: u32,
    tables: [Vec<Vec<(u64, u32)>>; CHUNKS],
}

impl Default for HammingIndex {
    fn default() -> Self {
        HammingIndex {
            len: 0,
            tables: std::array::from_fn(|_| vec![Vec::new(); BUCKETS]),
        }
    }
}

impl HammingIndex {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a hash; returns its id (0, 1, 2, … in insertion order).
    pub fn insert(&mut self, h: u64) -> u32 {
        let id = self.len;
        self.len += 1;
        for (i, t) in self.tables.iter_mut().enumerate() {
            t[chunk(h, i) as usize].push((h, id));
        }
        id
    }

    /// Ids of the hashes within `radius` of `h` (each once), with their distance.
    pub fn within(&self, h: u64, radius: u32) -> Vec<(u32, u32)> {
        let mut probes = Vec::new();
        let mut found: Vec<(u32, u32)> = Vec::new();
        for (i, t) in self.tables.iter().enumerate() {
            probes.clear();
            ball(chunk(h, i), radius / CHUNKS as u32, &mut probes);
            for &p in &probes {
                for &(x, id) in &t[p as usize] {
                    let d = (x ^ h).count_ones();
                    if d <= radius {
                        found.push((id, d));
                    }
                }
            }
        }
        found.sort_unstable();
        found.dedup();
        found
    }

    /// The positions in `hashes` of those within `radius` of some indexed
    /// hash: a pass over `hashes` (a library's, with few indexed ones) that
    /// tests each chunk against a bitmap of the probed values before
    /// comparing whole hashes.
    pub fn near_any(&self, hashes: &[u64], radius: u32) -> Vec<usize> {
        let mut probed: [Vec<u64>; CHUNKS] = std::array::from_fn(|_| vec![0; BUCKETS / 64]);
        let mut values = Vec::new();
        for (i, t) in self.tables.iter().enumerate() {
            for (v, bucket) in t.iter().enumerate() {
                if bucket.is_empty() {
                    continue;
                }
                values.clear();
                ball(v as u16, radius / CHUNKS as u32, &mut values);
                for &p in &values {
                    probed[i][p as usize / 64] |= 1 << (p % 64);
                }
            }
        }
        let hit = |i: usize, h: u64| {
            let c = chunk(h, i) as usize;
            probed[i][c / 64] & (1 << (c % 64)) != 0
        };
        hashes
            .iter()
            .enumerate()
            .filter(|&(_, &h)| (0..CHUNKS).any(|i| hit(i, h)) && !self.within(h, radius).is_empty())
            .map(|(k, _)| k)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random hash.
    fn rnd(i: u64) -> u64 {
        let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
        x ^= x >> 31;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^ (x >> 29)
    }

    #[test]
    fn finds_exactly_what_a_full_scan_finds() {
        let mut idx = HammingIndex::new();
        let mut all = Vec::new();
        for i in 0..3000u64 {
            // Clusters: every tenth hash is a base, the others flip a few bits of it.
            let base = rnd(i / 10);
            let h = base ^ (rnd(i) & rnd(i + 7) & rnd(i + 13) & rnd(i + 17));
            idx.insert(h);
            all.push(h);
        }
        for radius in [0, 3, 6, 9] {
            for q in (0..3000).step_by(97) {
                let h = all[q];
                let mut want: Vec<(u32, u32)> = all
                    .iter()
                    .enumerate()
                    .filter_map(|(i, &x)| {
                        let d = (x ^ h).count_ones();
                        (d <= radius).then_some((i as u32, d))
                    })
                    .collect();
                want.sort_unstable();
                assert_eq!(idx.within(h, radius), want, "radius {radius}, query {q}");
            }
        }
    }

    #[test]
    fn near_any_is_a_full_comparison() {
        let library: Vec<u64> = (0..5000u64)
            .map(|i| rnd(i / 3) ^ (rnd(i) & rnd(i + 5) & rnd(i + 11) & rnd(i + 17)))
            .collect();
        let mut idx = HammingIndex::new();
        let queries: Vec<u64> = (0..40).map(|q| library[q * 120] ^ (1 << q)).collect();
        for &h in &queries {
            idx.insert(h);
        }
        for radius in [0, 6, 9] {
            let want: Vec<usize> = (0..library.len())
                .filter(|&k| {
                    queries
                        .iter()
                        .any(|q| (q ^ library[k]).count_ones() <= radius)
                })
                .collect();
            assert!(
                radius == 0 || want.len() > queries.len(),
                "{radius}: {want:?}"
            );
            assert_eq!(idx.near_any(&library, radius), want, "radius {radius}");
        }
    }

    #[test]
    fn ball_sizes() {
        let mut v = Vec::new();
        ball(0, 1, &mut v);
        assert_eq!(v.len(), 17);
        v.clear();
        ball(0, 2, &mut v);
        assert_eq!(v.len(), 1 + 16 + 120);
    }
}
