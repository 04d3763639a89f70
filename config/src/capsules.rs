//! `capsules`: curated slideshows built from the library (the gallery's
//! `/api/capsules`). Every key and default is the reference's; an unknown
//! key is a warning naming its path and the nearest known key, as in every
//! other section (`sections::known_keys`).

use serde::{Deserialize, Serialize};

use crate::Checks;

/// `capsules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Capsules {
    /// Minimum aggregate score for a photo to be shown in a capsule (6.0).
    pub min_aggregate: f64,
    /// Most photos per capsule (40); MMR diversity picks them above 5.
    pub max_photos_per_capsule: u64,
    /// Largest fraction of shared photos between two capsules before the
    /// later one is dropped (0.2).
    pub max_photo_overlap: f64,
    /// MMR weight: 0 = most diverse, 1 = best scores only (0.5).
    pub mmr_lambda: f64,
    /// Cache lifetime and rotation period of covers and seeded capsules, in
    /// hours (24).
    pub freshness_hours: f64,
    /// Place names for location and journey titles from the bundled GeoNames
    /// cities (true); false: coordinates.
    pub reverse_geocoding: bool,
    pub journey: Journey,
    pub faces_of: MinPhotos,
    pub seasonal: MinPhotos,
    pub golden: Golden,
    pub color_story: ColorStory,
    pub this_week_years_ago: ThisWeek,
    pub seeded: Seeded,
    pub progress: Progress,
    pub color_palette: MinPhotos,
    pub rare_pair: RarePair,
    pub favorites: MinPhotos,
}

impl Default for Capsules {
    fn default() -> Self {
        Self {
            min_aggregate: 6.0,
            max_photos_per_capsule: 40,
            max_photo_overlap: 0.2,
            mmr_lambda: 0.5,
            freshness_hours: 24.0,
            reverse_geocoding: true,
            journey: Journey::default(),
            faces_of: MinPhotos { min_photos: 10 },
            seasonal: MinPhotos { min_photos: 10 },
            golden: Golden::default(),
            color_story: ColorStory::default(),
            this_week_years_ago: ThisWeek::default(),
            seeded: Seeded::default(),
            progress: Progress::default(),
            color_palette: MinPhotos { min_photos: 8 },
            rare_pair: RarePair::default(),
            favorites: MinPhotos { min_photos: 5 },
        }
    }
}

/// A capsule type whose only setting is its smallest size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinPhotos {
    /// Fewest photos for the capsule to exist.
    pub min_photos: u64,
}

/// `capsules.journey`: trips away from home.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Journey {
    /// Least distance from home, in km (50).
    pub min_distance_km: f64,
    /// Fewest photos of a trip (8).
    pub min_photos: u64,
    /// A gap longer than this (hours) between photos ends a trip (24).
    pub time_gap_hours: f64,
}

impl Default for Journey {
    fn default() -> Self {
        Self {
            min_distance_km: 50.0,
            min_photos: 8,
            time_gap_hours: 24.0,
        }
    }
}

/// `capsules.golden`: the library's best.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Golden {
    /// Photos at or above this percentile of the aggregate score (99).
    pub percentile: f64,
    /// Most photos shown (50).
    pub max_photos: u64,
}

impl Default for Golden {
    fn default() -> Self {
        Self {
            percentile: 99.0,
            max_photos: 50,
        }
    }
}

/// `capsules.color_story`: visually similar groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ColorStory {
    /// Least cosine similarity of a photo's embedding to its group's (0.75).
    pub embedding_threshold: f64,
    /// Fewest photos of a group (8).
    pub min_group_size: u64,
    /// Most groups (5).
    pub max_groups: u64,
}

impl Default for ColorStory {
    fn default() -> Self {
        Self {
            embedding_threshold: 0.75,
            min_group_size: 8,
            max_groups: 5,
        }
    }
}

/// `capsules.this_week_years_ago`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ThisWeek {
    /// A year counts when it has this many photos of the week (3).
    pub min_photos_per_year: u64,
}

impl Default for ThisWeek {
    fn default() -> Self {
        Self {
            min_photos_per_year: 3,
        }
    }
}

/// `capsules.seeded`: discovery from random seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Seeded {
    /// Seeds drawn per period (20).
    pub num_seeds: u64,
    /// Fewest photos of a seeded capsule (8).
    pub min_photos: u64,
    /// How long a draw of seeds lasts, in minutes (1440).
    pub seed_lifetime_minutes: u64,
    /// A time seed gathers the photos this many days around it (7).
    pub time_window_days: f64,
    /// A similarity seed gathers embeddings at least this close (0.7).
    pub embedding_threshold: f64,
    /// A location seed gathers the photos this close, in km (30).
    pub location_radius_km: f64,
}

impl Default for Seeded {
    fn default() -> Self {
        Self {
            num_seeds: 20,
            min_photos: 8,
            seed_lifetime_minutes: 1440,
            time_window_days: 7.0,
            embedding_threshold: 0.7,
            location_radius_km: 30.0,
        }
    }
}

/// `capsules.progress`: "your photography is improving".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Progress {
    /// Least rise of the mean score, in percent (5).
    pub min_improvement_pct: f64,
    /// Fewest photos of a period for it to count (10).
    pub min_photos: u64,
    /// The period's length in months (3: quarters).
    pub period_months: u64,
}

impl Default for Progress {
    fn default() -> Self {
        Self {
            min_improvement_pct: 5.0,
            min_photos: 10,
            period_months: 3,
        }
    }
}

/// `capsules.rare_pair`: people seldom photographed together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RarePair {
    /// A pair is rare with at most this many photos together (5).
    pub max_shared_photos: u64,
    /// Only photos with at least this aggregate count (7.0).
    pub min_score: f64,
    /// Fewest such photos (3).
    pub min_photos: u64,
}

impl Default for RarePair {
    fn default() -> Self {
        Self {
            max_shared_photos: 5,
            min_score: 7.0,
            min_photos: 3,
        }
    }
}

impl Capsules {
    /// The ranges types cannot express.
    pub(crate) fn validate(&self, v: &mut Checks) {
        v.range("capsules.min_aggregate", self.min_aggregate, 0.0, 10.0);
        if self.max_photos_per_capsule == 0 {
            v.push("capsules.max_photos_per_capsule", "must be at least 1");
        }
        v.range(
            "capsules.max_photo_overlap",
            self.max_photo_overlap,
            0.0,
            1.0,
        );
        v.range("capsules.mmr_lambda", self.mmr_lambda, 0.0, 1.0);
        if !(self.freshness_hours.is_finite() && self.freshness_hours > 0.0) {
            v.push(
                "capsules.freshness_hours",
                format!("{} must be above 0", self.freshness_hours),
            );
        }
        let j = &self.journey;
        v.range(
            "capsules.journey.min_distance_km",
            j.min_distance_km,
            0.0,
            20_100.0,
        );
        v.range(
            "capsules.journey.time_gap_hours",
            j.time_gap_hours,
            0.0,
            f64::INFINITY,
        );
        v.percent("capsules.golden.percentile", self.golden.percentile);
        let c = &self.color_story;
        v.range(
            "capsules.color_story.embedding_threshold",
            c.embedding_threshold,
            -1.0,
            1.0,
        );
        let s = &self.seeded;
        if s.seed_lifetime_minutes == 0 {
            v.push(
                "capsules.seeded.seed_lifetime_minutes",
                "must be at least 1",
            );
        }
        v.range(
            "capsules.seeded.time_window_days",
            s.time_window_days,
            0.0,
            f64::INFINITY,
        );
        v.range(
            "capsules.seeded.embedding_threshold",
            s.embedding_threshold,
            -1.0,
            1.0,
        );
        v.range(
            "capsules.seeded.location_radius_km",
            s.location_radius_km,
            0.0,
            20_100.0,
        );
        let p = &self.progress;
        v.range(
            "capsules.progress.min_improvement_pct",
            p.min_improvement_pct,
            0.0,
            f64::INFINITY,
        );
        if !(1..=12).contains(&p.period_months) {
            v.push(
                "capsules.progress.period_months",
                format!("{} is out of range 1..=12", p.period_months),
            );
        }
        v.range(
            "capsules.rare_pair.min_score",
            self.rare_pair.min_score,
            0.0,
            10.0,
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::FacetConfig;

    #[test]
    fn the_defaults_are_the_references() {
        let c = FacetConfig::parse("{}", "t.json", false)
            .unwrap()
            .config
            .capsules;
        let json = serde_json::to_value(&c).unwrap();
        let reference = serde_json::json!({
            "min_aggregate": 6.0, "max_photos_per_capsule": 40, "max_photo_overlap": 0.2,
            "mmr_lambda": 0.5, "freshness_hours": 24.0, "reverse_geocoding": true,
            "journey": {"min_distance_km": 50.0, "min_photos": 8, "time_gap_hours": 24.0},
            "faces_of": {"min_photos": 10}, "seasonal": {"min_photos": 10},
            "golden": {"percentile": 99.0, "max_photos": 50},
            "color_story": {"embedding_threshold": 0.75, "min_group_size": 8, "max_groups": 5},
            "this_week_years_ago": {"min_photos_per_year": 3},
            "seeded": {"num_seeds": 20, "min_photos": 8, "seed_lifetime_minutes": 1440,
                "time_window_days": 7.0, "embedding_threshold": 0.7, "location_radius_km": 30.0},
            "progress": {"min_improvement_pct": 5.0, "min_photos": 10, "period_months": 3},
            "color_palette": {"min_photos": 8},
            "rare_pair": {"max_shared_photos": 5, "min_score": 7.0, "min_photos": 3},
            "favorites": {"min_photos": 5}
        });
        assert_eq!(json, reference);
    }

    #[test]
    fn a_partial_section_keeps_the_other_defaults() {
        let c = FacetConfig::parse(
            r#"{"capsules": {"mmr_lambda": 0.8, "journey": {"min_photos": 3}}}"#,
            "t.json",
            false,
        )
        .unwrap()
        .config
        .capsules;
        assert_eq!(c.mmr_lambda, 0.8);
        assert_eq!(c.journey.min_photos, 3);
        assert_eq!(c.journey.min_distance_km, 50.0);
        assert_eq!(c.golden.max_photos, 50);
    }

    #[test]
    fn bad_keys_and_values_name_their_path() {
        let w = FacetConfig::parse(
            r#"{"capsules": {"journey": {"min_distnce_km": 5}, "goldn": {}}}"#,
            "t.json",
            false,
        )
        .unwrap()
        .warnings;
        assert!(
            w.contains(
                &"capsules.journey.min_distnce_km: unknown key (did you mean `min_distance_km`?)"
                    .to_string()
            ) && w.contains(&"capsules.goldn: unknown key (did you mean `golden`?)".to_string()),
            "{w:?}"
        );
        let e = FacetConfig::parse(r#"{"capsules": {"mmr_lambda": 1.5}}"#, "t.json", false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("capsules.mmr_lambda"), "{e}");
        let e = FacetConfig::parse(
            r#"{"capsules": {"golden": {"percentile": "high"}}}"#,
            "t.json",
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("capsules.golden.percentile"), "{e}");
    }
}
