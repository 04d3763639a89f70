//! Greedy and beam search over any autoregressive decoder, as Hugging Face
//! `generate()` does them for Marian (transformers 4.37: `greedy_search`,
//! `beam_search` with `BeamSearchScorer`, `length_penalty` 1, `early_stopping`
//! false), so that the same model gives the same token ids.
//!
//! The decoder is a [`Step`]: it keeps the state of each row (the KV cache and
//! the encoder states it reads) and gives the next-token logits of every row
//! from each row's last token. Search only asks it to run a step and to keep,
//! reorder or repeat rows ([`Step::select`]): beam search selects the rows of
//! the beams it continues (a beam's cache follows it), and finished sentences
//! are dropped so that later steps run on fewer rows.

/// What the decoding needs to know about the model and the request.
#[derive(Debug, Clone)]
pub struct Params {
    /// The first decoder token (Marian: the pad id).
    pub start: u32,
    pub eos: u32,
    /// Forced at the last position (`forced_eos_token_id`; Marian: eos).
    pub forced_eos: Option<u32>,
    /// Token sequences never generated: a one-token entry is banned
    /// everywhere, a longer one bans its last token after its prefix.
    pub bad_words: Vec<Vec<u32>>,
    /// Longest output, the start token included (as HF's `max_length`).
    pub max_length: usize,
    /// 1: greedy.
    pub beams: usize,
}

/// One output: its ids (start token first, eos last when it ended on eos)
/// and its score (beam: the length-normalised log-probability HF reports
/// as `sequences_scores`; greedy: the sum of the chosen tokens'
/// log-probabilities, the banned tokens left out of the distribution).
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub ids: Vec<u32>,
    pub score: f64,
}

/// An autoregressive decoder holding one state per row.
pub trait Step {
    /// Token ids of the vocabulary (the logits' row length).
    fn vocab(&self) -> usize;
    /// Next-token logits (`rows × vocab`, row-major) given each row's last
    /// token; the rows' states advance by one token.
    fn step(&mut self, last: &[u32]) -> Result<Vec<f32>, String>;
    /// Row `i` becomes old row `rows[i]` (rows may repeat or be dropped).
    fn select(&mut self, rows: &[usize]) -> Result<(), String>;
}

/// `log_softmax` of one row (f32 values, f64 normaliser).
fn log_softmax(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return;
    }
    let sum: f64 = row.iter().map(|&x| f64::from(x - max).exp()).sum();
    let lse = sum.ln() as f32;
    for x in row.iter_mut() {
        *x = *x - max - lse;
    }
}

impl Params {
    /// HF's logits processors: bad words (−∞), then the forced eos at the
    /// last position (every other token −∞, eos 0). `tokens` is the row so
    /// far (start token included).
    fn process(&self, tokens: &[u32], row: &mut [f32]) {
        for bad in &self.bad_words {
            let Some((&last, prefix)) = bad.split_last() else {
                continue;
            };
            if tokens.ends_with(prefix)
                && let Some(x) = row.get_mut(last as usize)
            {
                *x = f32::NEG_INFINITY;
            }
        }
        if let Some(eos) = self.forced_eos
            && tokens.len() + 1 == self.max_length
        {
            row.fill(f32::NEG_INFINITY);
            if let Some(x) = row.get_mut(eos as usize) {
                *x = 0.0;
            }
        }
    }
}

/// Decodes `n` sentences whose decoder rows are `0..n` in `step` (greedy
/// for `beams` 1, else beam search). Their rows are consumed.
pub fn generate(step: &mut dyn Step, n: usize, p: &Params) -> Result<Vec<Output>, String> {
    if p.max_length < 2 {
        return Err("max_length must be at least 2".into());
    }
    if n == 0 {
        return Ok(Vec::new());
    }
    if p.beams <= 1 {
        greedy(step, n, p)
    } else {
        beam(step, n, p)
    }
}

fn greedy(step: &mut dyn Step, n: usize, p: &Params) -> Result<Vec<Output>, String> {
    let vocab = step.vocab();
    let mut out: Vec<Output> = (0..n)
        .map(|_| Output {
            ids: vec![p.start],
            score: 0.0,
        })
        .collect();
    // The sentences still running, in row order.
    let mut active: Vec<usize> = (0..n).collect();
    while !active.is_empty() {
        let last: Vec<u32> = active
            .iter()
            .map(|&s| *out[s].ids.last().expect("start"))
            .collect();
        let mut logits = step.step(&last)?;
        if logits.len() != active.len() * vocab {
            return Err(format!(
                "the decoder gave {} logits for {} rows of {vocab}",
                logits.len(),
                active.len()
            ));
        }
        let mut keep = Vec::with_capacity(active.len());
        for (r, &s) in active.iter().enumerate() {
            let row = &mut logits[r * vocab..(r + 1) * vocab];
            p.process(&out[s].ids, row);
            // The first maximum, as torch.argmax.
            let (best, _) =
                row.iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |(bi, bx), (i, &x)| {
                        if x > bx { (i, x) } else { (bi, bx) }
                    });
            log_softmax(row);
            let o = &mut out[s];
            if row[best].is_finite() {
                o.score += f64::from(row[best]);
            }
            o.ids.push(best as u32);
            if best as u32 != p.eos && o.ids.len() < p.max_length {
                keep.push(r);
            }
        }
        if keep.len() != active.len() {
            active = keep.iter().map(|&r| active[r]).collect();
            if !active.is_empty() {
                step.select(&keep)?;
            }
        }
    }
    Ok(out)
}

/// The finished hypotheses of one sentence (HF's `BeamHypotheses`).
struct Hypotheses {
    /// (score, ids), in the order added (ties go to the later one).
    beams: Vec<(f64, Vec<u32>)>,
    worst: f64,
    done: bool,
}

impl Hypotheses {
    fn add(&mut self, ids: Vec<u32>, sum_logprobs: f32, generated: usize, keep: usize) {
        let score = f64::from(sum_logprobs) / generated as f64;
        if self.beams.len() < keep || score > self.worst {
            self.beams.push((score, ids));
            if self.beams.len() > keep {
                let mut order: Vec<(f64, usize)> = self
                    .beams
                    .iter()
                    .enumerate()
                    .map(|(i, (s, _))| (*s, i))
                    .collect();
                order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                self.beams.remove(order[0].1);
                self.worst = order[1].0;
            } else {
                self.worst = self.worst.min(score);
            }
        }
    }

    /// HF's `is_done` with `early_stopping=False`: no running beam can beat
    /// the worst kept hypothesis any more (judged at the current length).
    fn is_done(&self, best_running: f32, generated: usize, keep: usize) -> bool {
        self.beams.len() >= keep && self.worst >= f64::from(best_running) / generated as f64
    }

    fn best(self) -> Option<(f64, Vec<u32>)> {
        let mut best: Option<(f64, Vec<u32>)> = None;
        for (s, ids) in self.beams {
            if best.as_ref().is_none_or(|(b, _)| s >= *b) {
                best = Some((s, ids));
            }
        }
        best
    }
}

fn beam(step: &mut dyn Step, n: usize, p: &Params) -> Result<Vec<Output>, String> {
    let k = p.beams;
    let vocab = step.vocab();
    // Every sentence's row repeated once per beam.
    step.select(&(0..n * k).map(|r| r / k).collect::<Vec<_>>())?;
    let mut hyps: Vec<Hypotheses> = (0..n)
        .map(|_| Hypotheses {
            beams: Vec::new(),
            worst: 1e9,
            done: false,
        })
        .collect();
    // The running beams: per sentence still running, k rows (in row order).
    let mut active: Vec<usize> = (0..n).collect();
    let mut tokens: Vec<Vec<u32>> = vec![vec![p.start]; n * k];
    // Only the first beam starts: the others would repeat it.
    let mut scores: Vec<f32> = (0..n * k)
        .map(|r| if r % k == 0 { 0.0 } else { -1e9 })
        .collect();
    loop {
        let len = tokens[0].len();
        let last: Vec<u32> = tokens.iter().map(|t| *t.last().expect("start")).collect();
        let mut logits = step.step(&last)?;
        if logits.len() != tokens.len() * vocab {
            return Err(format!(
                "the decoder gave {} logits for {} rows of {vocab}",
                logits.len(),
                tokens.len()
            ));
        }
        for (r, row) in logits.chunks_mut(vocab).enumerate() {
            log_softmax(row);
            p.process(&tokens[r], row);
            for x in row.iter_mut() {
                *x += scores[r];
            }
        }
        let mut next_tokens = Vec::with_capacity(tokens.len());
        let mut next_scores = Vec::with_capacity(tokens.len());
        let mut next_rows = Vec::with_capacity(tokens.len());
        let mut still = Vec::with_capacity(active.len());
        for (a, &s) in active.iter().enumerate() {
            let block = &logits[a * k * vocab..(a + 1) * k * vocab];
            // The 2k best continuations over the sentence's beams (torch.topk,
            // sorted; equal scores: the lower index first).
            let mut idx: Vec<usize> = (0..block.len()).collect();
            let top = (2 * k).min(block.len());
            idx.select_nth_unstable_by(top - 1, |&i, &j| {
                block[j].total_cmp(&block[i]).then(i.cmp(&j))
            });
            idx.truncate(top);
            idx.sort_by(|&i, &j| block[j].total_cmp(&block[i]).then(i.cmp(&j)));
            let h = &mut hyps[s];
            let mut added = 0;
            for (rank, &i) in idx.iter().enumerate() {
                let (beam, token) = (i / vocab, (i % vocab) as u32);
                let row = a * k + beam;
                if token == p.eos {
                    if rank >= k {
                        continue;
                    }
                    let mut ids = tokens[row].clone();
                    ids.push(p.eos);
                    h.add(ids, block[i], len, k);
                } else {
                    next_tokens.push(token);
                    next_scores.push(block[i]);
                    next_rows.push(row);
                    added += 1;
                }
                if added == k {
                    break;
                }
            }
            if added < k {
                return Err(format!(
                    "beam search: fewer than {k} continuations that are not eos"
                ));
            }
            h.done = h.is_done(block[idx[0]], len, k);
            if h.done {
                // Its beams stop here.
                next_tokens.truncate(next_tokens.len() - k);
                next_scores.truncate(next_scores.len() - k);
                next_rows.truncate(next_rows.len() - k);
            } else {
                still.push(s);
            }
        }
        tokens = next_rows
            .iter()
            .zip(&next_tokens)
            .map(|(&r, &t)| {
                let mut ids = tokens[r].clone();
                ids.push(t);
                ids
            })
            .collect();
        scores = next_scores;
        active = still;
        if active.is_empty() {
            break;
        }
        if len + 1 >= p.max_length {
            // Finalise: the running beams join their sentence's hypotheses.
            for (a, &s) in active.iter().enumerate() {
                for b in 0..k {
                    let r = a * k + b;
                    hyps[s].add(tokens[r].clone(), scores[r], tokens[r].len() - 1, k);
                }
            }
            break;
        }
        step.select(&next_rows)?;
    }
    hyps.into_iter()
        .map(|h| {
            h.best()
                .map(|(score, ids)| Output { ids, score })
                .ok_or_else(|| "beam search ended without a hypothesis".to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A decoder without a model: row `i` starts from a "source" token
    /// `100 + i`, and its logits are a function of everything it has seen
    /// (so that a wrong row selection shows); it counts the rows it runs.
    struct Table {
        vocab: usize,
        rows: Vec<Vec<u32>>,
        logits: fn(&[u32], usize) -> Vec<f32>,
        ran: Vec<usize>,
    }

    impl Table {
        fn new(n: usize, vocab: usize, logits: fn(&[u32], usize) -> Vec<f32>) -> Self {
            Self {
                vocab,
                rows: (0..n).map(|i| vec![100 + i as u32]).collect(),
                logits,
                ran: Vec::new(),
            }
        }
    }

    impl Step for Table {
        fn vocab(&self) -> usize {
            self.vocab
        }
        fn step(&mut self, last: &[u32]) -> Result<Vec<f32>, String> {
            assert_eq!(last.len(), self.rows.len(), "one token per row");
            self.ran.push(last.len());
            let mut out = Vec::new();
            for (r, &t) in self.rows.iter_mut().zip(last) {
                r.push(t);
                out.extend((self.logits)(r, self.vocab));
            }
            Ok(out)
        }
        fn select(&mut self, rows: &[usize]) -> Result<(), String> {
            self.rows = rows.iter().map(|&r| self.rows[r].clone()).collect();
            Ok(())
        }
    }

    fn params(beams: usize, max_length: usize) -> Params {
        Params {
            start: 9,
            eos: 0,
            forced_eos: Some(0),
            bad_words: vec![vec![9]],
            max_length,
            beams,
        }
    }

    /// Sentence 0: token 3 once, then eos; sentence 1: token 3 three times,
    /// then eos. The start/pad token (9) would win but is banned.
    fn threes_then_eos(seen: &[u32], vocab: usize) -> Vec<f32> {
        let mut l = vec![0.0; vocab];
        l[9] = 10.0;
        let wanted = if seen[0] == 100 { 1 } else { 3 };
        if seen.len() - 2 < wanted {
            l[3] = 5.0;
        } else {
            l[0] = 5.0;
        }
        l
    }

    #[test]
    fn greedy_stops_each_row_at_its_eos_and_drops_finished_rows() {
        let mut t = Table::new(2, 10, threes_then_eos);
        let out = generate(&mut t, 2, &params(1, 64)).unwrap();
        assert_eq!(out[0].ids, vec![9, 3, 0]);
        assert_eq!(out[1].ids, vec![9, 3, 3, 3, 0]);
        assert_eq!(t.ran, vec![2, 2, 1, 1], "row 0 stops running after its eos");
    }

    #[test]
    fn greedy_stops_at_max_length_with_the_forced_eos() {
        let flat = |_: &[u32], v: usize| {
            let mut l = vec![0.0; v];
            l[4] = 1.0;
            l
        };
        let mut t = Table::new(1, 10, flat);
        let out = generate(&mut t, 1, &params(1, 5)).unwrap();
        assert_eq!(out[0].ids, vec![9, 4, 4, 4, 0]);
        let mut p = params(1, 5);
        p.forced_eos = None;
        let mut t = Table::new(1, 10, flat);
        assert_eq!(generate(&mut t, 1, &p).unwrap()[0].ids, vec![9, 4, 4, 4, 4]);
    }

    /// Where beam search beats greedy: the greedy first token (1, p=.5)
    /// leads to a flat distribution; token 2 (p=.4) to a sure continuation.
    /// Sentence 1 prefers 3 (p=.1 → sure 6) by the same trick.
    fn lookahead(seen: &[u32], vocab: usize) -> Vec<f32> {
        let mut p = vec![1e-6f32; vocab];
        let other = seen[0] == 101;
        match &seen[1..] {
            [_] => {
                p[1] = 0.45;
                p[2] = if other { 0.1 } else { 0.4 };
                p[3] = if other { 0.4 } else { 0.1 };
            }
            [_, 1] => {
                for x in &mut p[4..8] {
                    *x = 0.25;
                }
            }
            [_, 2] => p[5] = 1.0,
            [_, 3] => p[6] = 1.0,
            _ => p[0] = 1.0,
        }
        p.iter().map(|x| x.ln()).collect()
    }

    #[test]
    fn beams_find_the_better_sequence_and_follow_their_rows() {
        let mut t = Table::new(1, 10, lookahead);
        let greedy = generate(&mut t, 1, &params(1, 10)).unwrap();
        assert_eq!(greedy[0].ids, vec![9, 1, 4, 0]);
        let mut t = Table::new(1, 10, lookahead);
        let beam = generate(&mut t, 1, &params(2, 10)).unwrap();
        assert_eq!(beam[0].ids, vec![9, 2, 5, 0]);
        // score: log(.4 · 1 · 1) over 3 generated tokens (the first step's
        // probabilities sum to .95: log_softmax renormalises them)
        assert!(
            (beam[0].score - (0.4f64 / 0.95).ln() / 3.0).abs() < 1e-4,
            "{beam:?}"
        );
        // Two sentences side by side: each its own.
        let mut t = Table::new(2, 10, lookahead);
        let two = generate(&mut t, 2, &params(2, 10)).unwrap();
        assert_eq!(two[0].ids, vec![9, 2, 5, 0]);
        assert_eq!(two[1].ids, vec![9, 3, 6, 0]);
    }

    /// Beam order swaps at the second step (the second beam's continuation
    /// is the best): a row whose state did not follow its beam sees a
    /// history that leads nowhere (token 7 for ever) instead of eos.
    fn swapping(seen: &[u32], vocab: usize) -> Vec<f32> {
        let mut p = vec![1e-6f32; vocab];
        match &seen[1..] {
            [_] => {
                p[1] = 0.5;
                p[2] = 0.4;
            }
            [_, 1] => {
                p[3] = 0.3;
                p[5] = 0.3;
                p[6] = 0.3;
            }
            [_, 2] => p[4] = 0.9,
            [_, 2, 4] | [_, 1, 3] => p[0] = 1.0,
            _ => p[7] = 1.0,
        }
        p.iter().map(|x| x.ln()).collect()
    }

    #[test]
    fn beam_states_follow_their_beam_when_beams_swap() {
        let mut t = Table::new(2, 10, swapping);
        let out = generate(&mut t, 2, &params(2, 12)).unwrap();
        assert_eq!(out[0].ids, vec![9, 2, 4, 0]);
        assert_eq!(out[1].ids, vec![9, 2, 4, 0]);
        // the rows ran: 2 sentences × 2 beams, until both are done
        assert!(t.ran.iter().all(|&r| r == 4), "{:?}", t.ran);
    }

    #[test]
    fn beams_stop_at_max_length() {
        let mut t = Table::new(1, 10, |_, v| {
            let mut l = vec![0.0; v];
            l[4] = 2.0;
            l[5] = 1.0;
            l
        });
        let out = generate(&mut t, 1, &params(3, 6)).unwrap();
        assert_eq!(out[0].ids.len(), 6);
        assert_eq!(out[0].ids.first(), Some(&9));
        assert_eq!(out[0].ids.last(), Some(&0));
        assert_eq!(t.ran.len(), 5);
    }

    #[test]
    fn multi_token_bad_words_ban_after_their_prefix() {
        let mut p = params(1, 6);
        p.bad_words = vec![vec![9], vec![4, 4]];
        let mut t = Table::new(1, 10, |_, v| {
            let mut l = vec![0.0; v];
            l[4] = 2.0;
            l[5] = 1.0;
            l
        });
        assert_eq!(
            generate(&mut t, 1, &p).unwrap()[0].ids,
            vec![9, 4, 5, 4, 5, 0]
        );
    }
}
