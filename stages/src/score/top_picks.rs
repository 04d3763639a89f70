//! Top Picks: the viewer's blend of the aggregate with the aesthetic,
//! composition and face-quality scores (`viewer.photo_types`).
//!
//! With a face covering at least `top_picks_min_face_ratio` of the frame:
//! `aggregate · a + aesthetic · b + composition · c + face_quality · d`;
//! otherwise face quality's weight is split evenly between aesthetic and
//! composition: `aggregate · a + aesthetic · (b + d/2) + composition · (c + d/2)`.
//! Each weight is `percent / 100` rounded to 2 decimals (the reference writes
//! them into SQL with `:.2f`); a missing score counts as 0 (`COALESCE(…, 0)`).
//! A photo is a Top Pick when its score is at least `top_picks_min_score`.

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
    let v = |x: Option<f64>| x.unwrap_or(0.0);
    let r = |x: f64| round_to(x, 2);
    if v(p.face_ratio) >= types.top_picks_min_face_ratio {
        v(p.aggregate) * r(agg_w)
            + v(p.aesthetic) * r(aes_w)
            + v(p.composition) * r(comp_w)
            + v(p.face_quality) * r(face_w)
    } else {
        v(p.aggregate) * r(agg_w)
            + v(p.aesthetic) * r(aes_w + face_w / 2.0)
            + v(p.composition) * r(comp_w + face_w / 2.0)
    }
}

/// Whether a Top Picks score makes the photo a Top Pick.
pub fn is_top_pick(top_picks_score: f64, types: &PhotoTypes) -> bool {
    top_picks_score >= types.top_picks_min_score
}
