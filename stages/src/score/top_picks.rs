//! Top Picks: the viewer's blend of the aggregate with the aesthetic,
//! composition and face-quality scores (`viewer.photo_types`).
//!
//! With a face covering at least `top_picks_min_face_ratio` of the frame:
//! `aggregate · a + aesthetic · b + composition · c + face_quality · d`;
//! otherwise face quality's weight is split evenly between aesthetic and
//! composition: `aggregate · a + aesthetic · (b + d/2) + composition · (c + d/2)`.
//! Each weight is `percent / 100` rounded to 2 decimals (the reference writes
//! them into SQL with `:.2f`). A score that was not measured (a pipeline
//! without an aesthetic or composition model, a photo without a face)
//! weighs nothing and the others' weights are rescaled to their sum, as in
//! the aggregate; the reference counts it as 0 (`COALESCE(…, 0)`), so that
//! a library analysed without an aesthetic model has no Top Picks at all.
//!
//! A photo is a Top Pick when its score is at least `top_picks_min_score`
//! and it has at least `top_picks_min_megapixels` (a Facet setting, default
//! 1 MP): a thumbnail-sized image is never one of the best photos, whatever
//! its sharpness and exposure scores say.

use facet_config::PhotoTypes;
use serde::{Deserialize, Serialize};

use super::round_to;

/// The stored scores Top Picks reads (`None` = not measured, counts as 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TopPicksInputs {
    /// The aggregate score.
    pub aggregate: Option<f64>,
    /// `aesthetic` (0–10).
    pub aesthetic: Option<f64>,
    /// `composition_score` as stored (without the leading-lines blend).
    pub composition: Option<f64>,
    /// `face_quality` (0–10).
    pub face_quality: Option<f64>,
    /// Largest face area / frame area (0–1).
    pub face_ratio: Option<f64>,
}

/// The Top Picks score of a photo.
pub fn top_picks_score(p: &TopPicksInputs, types: &PhotoTypes) -> f64 {
    let w = &types.top_picks_weights;
    let weight = |percent: f64| percent / 100.0;
    let (agg_w, aes_w, comp_w, face_w) = (
        weight(w.aggregate_percent),
        weight(w.aesthetic_percent),
        weight(w.composition_percent),
        weight(w.face_quality_percent),
    );
    let r = |x: f64| round_to(x, 2);
    let face = p.face_ratio.unwrap_or(0.0) >= types.top_picks_min_face_ratio;
    let terms = if face {
        [
            (p.aggregate, r(agg_w)),
            (p.aesthetic, r(aes_w)),
            (p.composition, r(comp_w)),
            (p.face_quality, r(face_w)),
        ]
    } else {
        [
            (p.aggregate, r(agg_w)),
            (p.aesthetic, r(aes_w + face_w / 2.0)),
            (p.composition, r(comp_w + face_w / 2.0)),
            (None, 0.0),
        ]
    };
    let measured = |x: &Option<f64>| x.is_some_and(f64::is_finite);
    let all: f64 = terms.iter().map(|(_, w)| w).sum();
    let weight: f64 = terms
        .iter()
        .filter(|(x, _)| measured(x))
        .map(|(_, w)| w)
        .sum();
    if weight <= 0.0 {
        return 0.0;
    }
    let sum: f64 = terms
        .iter()
        .filter_map(|(x, w)| x.filter(|x| x.is_finite()).map(|x| x * w))
        .sum();
    sum * all / weight
}

/// Whether a photo with this Top Picks score and size (`None`: unknown,
/// not held against it) is a Top Pick.
pub fn is_top_pick(top_picks_score: f64, megapixels: Option<f64>, types: &PhotoTypes) -> bool {
    top_picks_score >= types.top_picks_min_score
        && megapixels.is_none_or(|mp| mp >= types.top_picks_min_megapixels)
}
