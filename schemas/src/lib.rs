//! Arrow schemas of Facet's tables: their column names are a public interface
//! (`facet sql`, Parquet export, the gallery), so they are defined and documented
//! here, once. `facet schema` prints these tables as Markdown.

use std::borrow::Cow;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// One documented column of a table.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: Cow<'static, str>,
    pub data_type: DataType,
    pub nullable: bool,
    pub doc: Cow<'static, str>,
}

impl Column {
    pub fn field(&self) -> Field {
        Field::new(self.name.as_ref(), self.data_type.clone(), self.nullable)
    }

    /// A nullable column that `schemas/` does not declare: one a pipeline's
    /// stage writes (a model's output, say), documented by `doc`.
    pub fn extra(field: &Field, doc: impl Into<String>) -> Column {
        Column {
            name: Cow::Owned(field.name().clone()),
            data_type: field.data_type().clone(),
            nullable: true,
            doc: Cow::Owned(doc.into()),
        }
    }
}

/// A documented table.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: &'static str,
    pub doc: &'static str,
    pub key: &'static str,
    pub columns: Vec<Column>,
}

impl Table {
    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns.iter().map(Column::field).collect::<Vec<_>>(),
        ))
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The table with `extra` columns appended, except those it already has.
    pub fn with_extra(mut self, extra: impl IntoIterator<Item = Column>) -> Table {
        for c in extra {
            if self.column(&c.name).is_none() {
                self.columns.push(c);
            }
        }
        self
    }

    /// Markdown documentation of the table.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "## `{}`\n\n{}\n\nKey: `{}`.\n\n| column | type | doc |\n|---|---|---|\n",
            self.name, self.doc, self.key
        );
        for c in &self.columns {
            out.push_str(&format!(
                "| `{}` | {}{} | {} |\n",
                c.name,
                c.data_type,
                if c.nullable { "" } else { " (not null)" },
                c.doc
            ));
        }
        out
    }
}

fn col(name: &'static str, data_type: DataType, doc: &'static str) -> Column {
    Column {
        name: Cow::Borrowed(name),
        data_type,
        nullable: true,
        doc: Cow::Borrowed(doc),
    }
}

fn key(name: &'static str, data_type: DataType, doc: &'static str) -> Column {
    Column {
        name: Cow::Borrowed(name),
        data_type,
        nullable: false,
        doc: Cow::Borrowed(doc),
    }
}

/// Nanosecond UTC timestamps: file modification times are compared exactly.
pub fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

/// The file identity columns every table keyed by photo carries: a file whose
/// path, size and modification time are unchanged is not analysed again.
fn file_identity() -> Vec<Column> {
    vec![
        key(
            "path",
            DataType::Utf8,
            "Absolute path of the photo (the key).",
        ),
        key(
            "file_size",
            DataType::Int64,
            "File size in bytes when analysed.",
        ),
        key(
            "file_mtime",
            timestamp(),
            "File modification time when analysed.",
        ),
    ]
}

/// `photos`: one row per analysed photo.
pub fn photos() -> Table {
    let mut columns = file_identity();
    columns.extend([
        col("format", DataType::Utf8, "Container format by content: jpeg, png, tiff, webp, heif, avif, jxl, or raw-<ext>."),
        col("width", DataType::Int32, "Pixel width of the original, after EXIF orientation."),
        col("height", DataType::Int32, "Pixel height of the original, after EXIF orientation."),
        col("decode_scale", DataType::Float32, "Working-image size / original size (DCT-domain scaling for JPEG)."),
        col("camera_make", DataType::Utf8, "EXIF Make."),
        col("camera_model", DataType::Utf8, "EXIF Model."),
        col("lens", DataType::Utf8, "EXIF LensModel (or LensMake + LensModel)."),
        col("iso", DataType::Int64, "EXIF PhotographicSensitivity (ISO)."),
        col("f_number", DataType::Float64, "Aperture, EXIF FNumber."),
        col("shutter_speed", DataType::Float64, "Exposure time in seconds."),
        col("shutter_speed_text", DataType::Utf8, "Exposure time as photographers write it: 1/250, 0.5, 30."),
        col("focal_length", DataType::Float64, "Focal length in mm."),
        col("focal_length_35mm", DataType::Float64, "35 mm-equivalent focal length in mm."),
        col("date_taken", DataType::Utf8, "Capture time, ISO 8601 local time with sub-seconds and UTC offset when recorded (2019-06-01T14:03:22.45+02:00)."),
        col("taken_local", DataType::Timestamp(TimeUnit::Nanosecond, None), "date_taken as a timestamp of the local (wall-clock) time it shows, without its offset: for date arithmetic in SQL (`date_part('month', taken_local)`)."),
        col("gps_lat", DataType::Float64, "Latitude, signed decimal degrees (south negative)."),
        col("gps_lon", DataType::Float64, "Longitude, signed decimal degrees (west negative)."),
        col("gps_alt", DataType::Float64, "Altitude in metres (below sea level negative)."),
        col("orientation", DataType::Int32, "EXIF orientation 1-8 as recorded."),
        col("phash", DataType::Int64, "64-bit DCT perceptual hash (bit pattern stored as a signed integer)."),
        col("sharpness", DataType::Float64, "Variance of the 3×3 Laplacian of the grey image (working image at `technical.side`, 1024)."),
        col("noise_sigma", DataType::Float64, "Noise standard deviation in grey levels, Immerkær's estimator."),
        col("luminance", DataType::Float64, "Mean grey level, 0–1."),
        col("histogram_spread", DataType::Float64, "Standard deviation of the grey levels, in 0–255 units."),
        col("histogram_bimodality", DataType::Float64, "Negative excess kurtosis of the 256 grey-histogram bin heights, 3 − m4/m2² of 256·pᵢ (the original's -kurtosis(hist × 256)): about 1.2 for evenly filled bins, negative when a few bins hold most pixels (−251 for one grey level); the bimodality penalty is above penalties.bimodality_threshold (2.5)."),
        col("shadow_clipped_fraction", DataType::Float64, "Fraction of pixels with grey level 0–29."),
        col("highlight_clipped_fraction", DataType::Float64, "Fraction of pixels with grey level 225–255."),
        col("shadow_clipped", DataType::Boolean, "shadow_clipped_fraction above exposure.shadow_clip_threshold_percent when analysed."),
        col("highlight_clipped", DataType::Boolean, "highlight_clipped_fraction above exposure.highlight_clip_threshold_percent when analysed."),
        col("dark_mass", DataType::Float64, "Fraction of pixels with grey level 0–84 (silhouette test)."),
        col("bright_mass", DataType::Float64, "Fraction of pixels with grey level 170–255 (silhouette test)."),
        col("exposure_score", DataType::Float64, "0–10: 7 − 8·|luminance − 0.5| + min(4, spread/20) − 0.6·max(0, histogram_bimodality − 1) − (4·shadow + 5·highlight fractions), the clipping term left out for a histogram silhouette (dark_mass > 0.35 and bright_mass > 0.25)."),
        col("contrast_score", DataType::Float64, "0–10: min(10, 5·(p95 − p5)/255 + 20·spread/255) of the grey levels."),
        col("dynamic_range_stops", DataType::Float64, "log2(p98 / p2) of the grey levels, both floored at 1."),
        col("color_score", DataType::Float64, "0–10: Shannon entropy (bits) of the 180×256 hue–saturation histogram × 10/15.5."),
        col("mean_saturation", DataType::Float64, "Mean HSV saturation, 0–1."),
        col("is_monochrome", DataType::Boolean, "mean_saturation below monochrome_detection.saturation_threshold_percent when analysed."),
        col("leading_lines_score", DataType::Float64, "0–10: 5×5 Gaussian blur, Canny(50, 150) and OpenCV's probabilistic Hough (votes 80, min length 15 % of the shorter side, gap 20; votes, gap and blur scaled by measured/original size) on the grey image at `technical.side`; 2 × the mean segment score (length/diagonal × 10, × 1.5 at 15–75°), capped; 0 without segments."),
        col("subject_x", DataType::Float64, "Subject position, 0–1 from the left: centre of the bounding box of the largest closed edge contour (Canny from the median grey level, outer contours, thirds bonus; grey image at `technical.side`); null without such a contour."),
        col("subject_y", DataType::Float64, "Subject position, 0–1 from the top: centre of the bounding box of the largest closed edge contour (see subject_x); null without such a contour."),
        col("composition_score", DataType::Float64, "0–10 placement of the subject (subject_x, subject_y): max of the weighted power-point and thirds-line scores (composition.power_point_weight, line_weight) and the centre score; 7 without a subject."),
        col("aesthetic", DataType::Float64, "0–10 aesthetic / quality score from a model stage (an onnx model, or brisque on CPU); feeds the `aesthetic` weight."),
        col("brisque", DataType::Float64, "BRISQUE no-reference quality (OpenCV's LIVE model): about 0 (pristine) to 100+ (heavily distorted); lower is better."),
        col("tags", DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), "Tags from a model stage (classifier labels through a mapping, or zero-shot from an embedding), best first; feed the categories' required/excluded tags."),
        col("composition_pattern", DataType::Utf8, "Composition pattern from a classifier model (rule_of_thirds, center, symmetric, …)."),
        col("face_count", DataType::Int32, "Faces detected (confidence at least face_detection.min_confidence_percent, shorter side at least min_face_size px); 0: none."),
        col("face_ratio", DataType::Float64, "Area of the largest face box / area of the frame (0–1)."),
        col("is_group_portrait", DataType::Boolean, "face_count at least face_detection.min_faces_for_group when analysed."),
        col("face_quality", DataType::Float64, "0–10 face quality: detector confidence, 0.5·min + 0.5·mean over the faces, × 10."),
        col("eye_sharpness", DataType::Float64, "Laplacian variance in boxes around the eyes (mesh eye corners) relative to the face's, best face; raw, percentile-normalised by scoring."),
        col("face_sharpness", DataType::Float64, "Laplacian variance of the grey face crop (the sharpest face)."),
        col("isolation_ratio", DataType::Float64, "Subject isolation: face_sharpness / (sharpness of the whole frame + 1), at least 1."),
        col("is_blink", DataType::Boolean, "A judged face has closed eyes (eye aspect ratio below face_detection.blink_ear_threshold); null when no face could be judged (none, or heads turned too far)."),
        col("eyes_open", DataType::Float64, "0–10 openness of the least open judged pair of eyes (see faces.eyes_open); null when none judged."),
        col("thumbnail", DataType::Binary, "JPEG thumbnail (storage.mode = database)."),
        col("thumbnail_path", DataType::Utf8, "Thumbnail file (storage.mode = filesystem)."),
        col("analyzed_at", timestamp(), "When this row was written."),
        col("content_hash", DataType::Utf8, "The photo's identity across moves: xxh3-128 (hex) of the file size and its first and last 64 KiB (the whole file when smaller). A run that finds an unknown path with the hash of a stored photo whose file is gone moves that photo's rows instead of analysing it. Null for rows written before it existed."),
        col("missing_since", timestamp(), "When a run over the photo's folder last found its file gone (null while present); `facet prune` removes such photos, the gallery hides them unless asked."),
    ]);
    Table {
        name: "photos",
        doc: "One row per analysed photo: file identity, metadata and every stored metric.",
        key: "path",
        columns,
    }
}

/// `scores`: derived from the stored metrics and the configuration by every
/// re-score (`facet run`, `facet recompute`), replaced as a whole. In SQL,
/// `photos` shows these columns too (a view joining `photos` and `scores`).
pub fn scores() -> Table {
    let mut columns = vec![key(
        "path",
        DataType::Utf8,
        "Absolute path of the photo (the key).",
    )];
    columns.extend([
        col("category", DataType::Utf8, "Scoring category: the first (by priority) whose filters the photo meets."),
        col("aggregate", DataType::Float64, "The 0-10 score: the category's weighted metrics, then penalties and bonuses (see score_breakdown)."),
        col("score_breakdown", DataType::Utf8, "JSON critique: each metric's raw and 0-10 value, weight and points; each adjustment's points and reason."),
        col("top_picks_score", DataType::Float64, "viewer.photo_types Top Picks blend of aggregate, aesthetic, composition and face quality."),
        col("is_top_pick", DataType::Boolean, "top_picks_score at least viewer.photo_types.top_picks_min_score."),
        col("scored_with", DataType::Utf8, "Fingerprint of what the score depends on besides the photo's metrics (scoring settings, the category's weights, the percentiles used): `facet recompute` re-scores only rows whose fingerprint changed."),
        col("scored_at", timestamp(), "When the score was computed."),
    ]);
    Table {
        name: "scores",
        doc: "Category, aggregate score, critique and Top Picks score of every analysed photo.",
        key: "path",
        columns,
    }
}

/// `score_state`: what the last re-score knew, so that the next one does the
/// work of the photos added since (`facet_library::derive::scores`).
pub fn score_state() -> Table {
    let columns = vec![
        key(
            "key",
            DataType::Utf8,
            "`run` (the re-score itself), `category/<name>` (a category's fingerprint) or `norm/<scope>/<metric>` (a normalization window; the scope is a category or empty for the library).",
        ),
        col(
            "count",
            DataType::Int64,
            "run: photos scored; norm: values in the group.",
        ),
        col("below", DataType::Int64, "norm: values under the window."),
        col(
            "window",
            DataType::List(Arc::new(Field::new("item", DataType::Float64, true))),
            "norm: the sorted values around the percentile's rank.",
        ),
        col(
            "percentile",
            DataType::Float64,
            "norm: the exact percentile (the scores use it rounded down to three significant digits).",
        ),
        col(
            "fingerprint",
            DataType::Utf8,
            "run: the scoring settings that decide categories and normalization; category: its scores' fingerprint (scores.scored_with).",
        ),
        col(
            "fragment",
            DataType::Int64,
            "run: the last fragment of `photos` read; rows in later fragments were written since (new or re-analysed photos).",
        ),
        col(
            "scores_version",
            DataType::Int64,
            "run: the version of `scores` this state describes; another means it is stale and the next re-score reads every photo.",
        ),
    ];
    Table {
        name: "score_state",
        doc: "The normalization summaries and fingerprints of the last re-score (derived, rewritten by each).",
        key: "key",
        columns,
    }
}

/// `failures`: one row per photo that could not be analysed, with the reason.
pub fn failures() -> Table {
    let mut columns = file_identity();
    columns.extend([
        key(
            "stage",
            DataType::Utf8,
            "The pipeline stage that rejected the photo.",
        ),
        key("reason", DataType::Utf8, "Why, in words."),
        col("failed_at", timestamp(), "When the failure was recorded."),
    ]);
    Table {
        name: "failures",
        doc: "Photos a run could not analyse (corrupt, truncated, unsupported, …), with the stage and reason. A later successful analysis removes the row.",
        key: "path",
        columns,
    }
}

/// `photo_groups`: one row per photo in a burst or duplicate group (derived:
/// replaced at every detection).
pub fn photo_groups() -> Table {
    let columns = vec![
        key(
            "path",
            DataType::Utf8,
            "Absolute path of the photo (the key).",
        ),
        col(
            "burst_group_id",
            DataType::Utf8,
            "The burst the photo belongs to (b-…), null outside bursts.",
        ),
        col(
            "is_burst_lead",
            DataType::Boolean,
            "The burst's best frame (burst_scoring), or chosen by the user.",
        ),
        col(
            "burst_lead_reason",
            DataType::Utf8,
            "Why this photo leads its burst.",
        ),
        col("burst_size", DataType::Int32, "Photos in the burst."),
        col(
            "duplicate_group_id",
            DataType::Utf8,
            "The duplicate group (d-…): copies of one exposure.",
        ),
        col(
            "is_duplicate_lead",
            DataType::Boolean,
            "The best copy (resolution, aggregate, format), or chosen by the user.",
        ),
        col(
            "duplicate_lead_reason",
            DataType::Utf8,
            "Why this copy leads its group.",
        ),
        col("duplicate_size", DataType::Int32, "Copies in the group."),
        col(
            "similar_group_id",
            DataType::Utf8,
            "The similarity group (s-…): photos whose embeddings have a cosine of at least similarity_groups.default_threshold.",
        ),
        col(
            "is_similar_lead",
            DataType::Boolean,
            "The similarity group's best aggregate, or chosen by the user.",
        ),
        col(
            "similar_lead_reason",
            DataType::Utf8,
            "Why this photo leads its similarity group.",
        ),
        col(
            "similar_size",
            DataType::Int32,
            "Photos in the similarity group.",
        ),
        col(
            "phash_q0",
            DataType::Int32,
            "The pHash's lowest 16 bits (with phash_q1..q3, its four quarters): indexed, they are the store's multi-index hash, through which a detection finds a new photo's near copies without reading the library.",
        ),
        col("phash_q1", DataType::Int32, "The pHash's bits 16–31."),
        col("phash_q2", DataType::Int32, "The pHash's bits 32–47."),
        col("phash_q3", DataType::Int32, "The pHash's bits 48–63."),
        col(
            "grouped_at",
            timestamp(),
            "When the photo's groups were last detected: a photo analysed after it is looked up again.",
        ),
        col(
            "grouped_with",
            DataType::Utf8,
            "Fingerprint of the group settings the row was detected with: another one makes the next detection a full one.",
        ),
    ];
    Table {
        name: "photo_groups",
        doc: "One row per photo: its burst, duplicate and similarity groups (null outside groups) with their leads (see the `groups` view for one row per member and group).",
        key: "path",
        columns,
    }
}

/// `group_state`: what the last group detection knew, so that the next one
/// looks up only what changed since (`facet_library::derive::groups`).
pub fn group_state() -> Table {
    let columns = vec![
        key("key", DataType::Utf8, "`run`: the only row."),
        col(
            "fingerprint",
            DataType::Utf8,
            "The group settings detected with: another one makes the next detection a full one.",
        ),
        col(
            "fragment",
            DataType::Int64,
            "The last fragment of `photos` read: rows in later fragments were written since (new or re-analysed photos).",
        ),
        col(
            "scores_version",
            DataType::Int64,
            "The version of `scores` the leads were chosen with; rows written since change leads.",
        ),
        col(
            "decisions",
            DataType::Utf8,
            "The users' group decisions applied (JSON): a changed one re-leads its groups.",
        ),
        col(
            "totals",
            DataType::Utf8,
            "The library's groups and their members per kind (JSON), kept by each detection from what it regrouped.",
        ),
    ];
    Table {
        name: "group_state",
        doc: "The last group detection's watermarks (derived, rewritten by each).",
        key: "key",
        columns,
    }
}

/// `group_decisions`: what a user decided about a group; never rewritten by detection.
pub fn group_decisions() -> Table {
    let columns = vec![
        key("decision_key", DataType::Utf8, "`<kind>:<path>` (the key)."),
        col("kind", DataType::Utf8, "burst or duplicate."),
        col("path", DataType::Utf8, "The photo the decision is about."),
        col(
            "decision",
            DataType::Utf8,
            "`lead`: this photo leads its group; `keep_all`: keep every photo of its group.",
        ),
        col("decided_at", timestamp(), "When the user decided."),
    ];
    Table {
        name: "group_decisions",
        doc: "Users' choices of lead and keep-all for burst and duplicate groups; applied at every detection.",
        key: "decision_key",
        columns,
    }
}

/// `user_state`: what the user said about a photo in the gallery (rating,
/// favourite, reject). Its own table, written only by the gallery: re-scans and
/// re-scores never rewrite it. In SQL, `photos` shows these columns too.
pub fn user_state() -> Table {
    let columns = vec![
        key(
            "path",
            DataType::Utf8,
            "Absolute path of the photo (the key).",
        ),
        col(
            "rating",
            DataType::Int32,
            "Star rating 0-5 given in the gallery (0: not rated).",
        ),
        col(
            "favorite",
            DataType::Boolean,
            "Marked as a favourite in the gallery.",
        ),
        col(
            "rejected",
            DataType::Boolean,
            "Rejected in the gallery (hidden while viewer.defaults.hide_rejected).",
        ),
        col(
            "updated_at",
            timestamp(),
            "When the user last changed the rating, favourite or reject.",
        ),
    ];
    Table {
        name: "user_state",
        doc: "Ratings, favourites and rejects from the gallery, kept across re-scans.",
        key: "path",
        columns,
    }
}

/// `user_preferences`: each member's own ratings, favourites and rejects in
/// the multi-user (family NAS) mode; `user_state` stays the single-user
/// mode's. Written only by the gallery (and `facet user
/// migrate-preferences`).
pub fn user_preferences() -> Table {
    let columns = vec![
        key(
            "preference_id",
            DataType::Utf8,
            "`<user>:<path>` (the key).",
        ),
        col("user", DataType::Utf8, "The member (a key of `users`)."),
        col("path", DataType::Utf8, "Absolute path of the photo."),
        col(
            "rating",
            DataType::Int32,
            "Star rating 0-5 given in the gallery (0: not rated).",
        ),
        col(
            "favorite",
            DataType::Boolean,
            "Marked as a favourite in the gallery.",
        ),
        col(
            "rejected",
            DataType::Boolean,
            "Rejected in the gallery (hidden while viewer.defaults.hide_rejected).",
        ),
        col(
            "updated_at",
            timestamp(),
            "When the member last changed the rating, favourite or reject.",
        ),
    ];
    Table {
        name: "user_preferences",
        doc: "Per-member ratings, favourites and rejects (multi-user mode), kept across re-scans.",
        key: "preference_id",
        columns,
    }
}

/// `user_keywords`: keywords a member gave a photo in another application,
/// brought in by `facet xmp import` from the sidecars' `dc:subject` (the
/// model's `photos.tags` are not repeated here). Kept across re-scans;
/// `facet xmp export` writes them back with the tags.
pub fn user_keywords() -> Table {
    let columns = vec![
        key(
            "keyword_id",
            DataType::Utf8,
            "`<user>:<path>` (the key); `<user>` is empty in the single-user mode.",
        ),
        col(
            "user",
            DataType::Utf8,
            "The member (a key of `users`); empty in the single-user mode.",
        ),
        col("path", DataType::Utf8, "Absolute path of the photo."),
        col(
            "keywords",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            "The keywords, in the order first met.",
        ),
        col(
            "updated_at",
            timestamp(),
            "When an import last changed them.",
        ),
    ];
    Table {
        name: "user_keywords",
        doc: "Keywords from XMP sidecars (`facet xmp import`), per member, kept across re-scans.",
        key: "keyword_id",
        columns,
    }
}

/// `albums`: the gallery's albums, manual (photos added by hand, in
/// `album_photos`) or smart (a saved filter of `/api/photos`).
pub fn albums() -> Table {
    let columns = vec![
        key(
            "album_id",
            DataType::Utf8,
            "Random id, 16 hex digits (the key).",
        ),
        col(
            "owner",
            DataType::Utf8,
            "The member who made it (multi-user mode); null in single-user mode.",
        ),
        col("name", DataType::Utf8, "The album's name."),
        col("kind", DataType::Utf8, "`manual` or `smart`."),
        col(
            "query",
            DataType::Utf8,
            "A smart album's filter: the query string of `/api/photos` (e.g. `category=portrait&min_score=7`).",
        ),
        col(
            "share_nonce",
            DataType::Utf8,
            "Set while the album is shared: part of the signed link; a new one (or none) revokes older links.",
        ),
        col("created_at", timestamp(), "When the album was made."),
        col("updated_at", timestamp(), "When the album last changed."),
    ];
    Table {
        name: "albums",
        doc: "Albums of the gallery, manual or smart, shareable by signed link.",
        key: "album_id",
        columns,
    }
}

/// `album_photos`: the photos of manual albums.
pub fn album_photos() -> Table {
    let columns = vec![
        key("entry_id", DataType::Utf8, "`<album_id>:<path>` (the key)."),
        col("album_id", DataType::Utf8, "The album."),
        col("path", DataType::Utf8, "The photo."),
        col("added_at", timestamp(), "When the photo was added."),
    ];
    Table {
        name: "album_photos",
        doc: "Which photos manual albums hold.",
        key: "entry_id",
        columns,
    }
}

/// `faces`: one row per detected face (written by the `faces` stage through
/// the run's writer, see [`child_tables`]).
pub fn faces() -> Table {
    let floats = DataType::List(Arc::new(Field::new("item", DataType::Float32, true)));
    let columns = vec![
        key(
            "face_id",
            DataType::Utf8,
            "`<path>#<face_index>` (the key).",
        ),
        col("path", DataType::Utf8, "The photo the face is in."),
        col(
            "face_index",
            DataType::Int32,
            "Position of the face in its photo, 0-based, left to right.",
        ),
        col(
            "box_x",
            DataType::Int32,
            "Left edge of the face box, pixels of the original frame (after EXIF orientation).",
        ),
        col(
            "box_y",
            DataType::Int32,
            "Top edge of the face box, pixels of the original frame.",
        ),
        col(
            "box_width",
            DataType::Int32,
            "Face box width, pixels of the original frame.",
        ),
        col(
            "box_height",
            DataType::Int32,
            "Face box height, pixels of the original frame.",
        ),
        col("confidence", DataType::Float64, "Detector confidence, 0–1."),
        col(
            "landmarks",
            floats.clone(),
            "Face mesh (468 points) as x, y pairs in pixels of the original frame; empty without a landmark model.",
        ),
        col(
            "embedding",
            floats,
            "L2-normalised face embedding (recognition model); feeds `facet faces cluster`.",
        ),
        col(
            "eye_aspect_left",
            DataType::Float64,
            "Eye aspect ratio (|p2−p6| + |p3−p5|) / 2|p1−p4| of the eye on the image's left, from the eye contour model (else the mesh).",
        ),
        col(
            "eye_aspect_right",
            DataType::Float64,
            "Eye aspect ratio of the other eye.",
        ),
        col(
            "head_turn",
            DataType::Float64,
            "How far the head is turned, 0 (frontal) to 1 (profile): asymmetry of the eye-corner distances to the nose tip.",
        ),
        col(
            "is_blink",
            DataType::Boolean,
            "Eyes closed (mean eye aspect ratio below face_detection.blink_ear_threshold); null when the head is turned too far to judge.",
        ),
        col(
            "eyes_open",
            DataType::Float64,
            "0–10 eye openness, linear in the mean eye aspect ratio from blink_ear_threshold/2 (0) to 1.5 × blink_ear_threshold (10); null when not judged.",
        ),
        col(
            "sharpness",
            DataType::Float64,
            "Laplacian variance of the grey face crop.",
        ),
        col(
            "eye_sharpness",
            DataType::Float64,
            "Laplacian variance around the eyes / the face's (1: as sharp as the face).",
        ),
        col(
            "thumbnail",
            DataType::Binary,
            "JPEG face crop (face_processing: crop_padding, face_thumbnail_size, face_thumbnail_quality).",
        ),
        col(
            "person_id",
            DataType::Int64,
            "The person (`persons`) the face belongs to; null until `facet faces cluster`, or for a face that fits nobody.",
        ),
    ];
    Table {
        name: "faces",
        doc: "Faces detected in photos: box, confidence, landmarks, embedding, eyes and person. Rewritten with their photo; person_id set by `facet faces cluster`.",
        key: "face_id",
        columns,
    }
}

/// `persons`: people found by face clustering. Ids are stable across runs;
/// names and `hidden` are the user's and never rewritten by clustering.
pub fn persons() -> Table {
    let columns = vec![
        key(
            "person_id",
            DataType::Int64,
            "The person (the key); never reused or renumbered.",
        ),
        col(
            "name",
            DataType::Utf8,
            "Name given by the user (`facet faces name`); null until then.",
        ),
        col(
            "representative_face",
            DataType::Utf8,
            "face_id of the face nearest the centroid among the most confident.",
        ),
        col("face_count", DataType::Int64, "Faces of this person."),
        col(
            "centroid",
            DataType::List(Arc::new(Field::new("item", DataType::Float32, true))),
            "L2-normalised mean of the person's face embeddings.",
        ),
        col(
            "hidden",
            DataType::Boolean,
            "Hidden by the user (`facet faces hide`).",
        ),
        col(
            "updated_at",
            timestamp(),
            "When clustering last touched the person.",
        ),
    ];
    Table {
        name: "persons",
        doc: "People: clusters of faces, with name, representative face, count and centroid.",
        key: "person_id",
        columns,
    }
}

/// `face_assignments`: faces a user put in a person by hand; clustering
/// never undoes them.
pub fn face_assignments() -> Table {
    let columns = vec![
        key(
            "face_id",
            DataType::Utf8,
            "The face (`faces.face_id`, the key).",
        ),
        col(
            "person_id",
            DataType::Int64,
            "The person the user put it in.",
        ),
        col("assigned_at", timestamp(), "When."),
    ];
    Table {
        name: "face_assignments",
        doc: "Manual face-to-person assignments (`facet faces assign`), applied by every clustering.",
        key: "face_id",
        columns,
    }
}

/// A table whose rows a stage emits nested in a `photos` column: a
/// `List<Struct>` column named `column`, one list per photo, whose struct
/// fields are `item_fields`. The run's writer takes the column out of the
/// photo rows and stores one row per item in `table`, with `parent` set to
/// the photo's path and `key` to `<path>#<position>`; the table's other
/// columns (filled later, `faces.person_id` say) are null. Re-analysing a
/// photo replaces its rows.
#[derive(Debug, Clone)]
pub struct ChildTable {
    pub column: &'static str,
    pub table: Table,
    pub parent: &'static str,
    pub item_fields: Vec<Field>,
}

impl ChildTable {
    /// The type of the nested column.
    pub fn data_type(&self) -> DataType {
        DataType::List(Arc::new(Field::new(
            "item",
            DataType::Struct(self.item_fields.clone().into()),
            true,
        )))
    }

    /// The nested column's field.
    pub fn field(&self) -> Field {
        Field::new(self.column, self.data_type(), true)
    }
}

/// Tables written through a nested `photos` column (see [`ChildTable`]).
pub fn child_tables() -> Vec<ChildTable> {
    let table = faces();
    let item_fields = table
        .columns
        .iter()
        .filter(|c| !["face_id", "path", "person_id"].contains(&c.name.as_ref()))
        .map(Column::field)
        .collect();
    vec![ChildTable {
        column: "faces",
        table,
        parent: "path",
        item_fields,
    }]
}

/// The child table written through nested column `column`, if any.
pub fn child_table(column: &str) -> Option<ChildTable> {
    child_tables().into_iter().find(|c| c.column == column)
}

/// Every table of the store.
/// `comparisons`: choices made in the gallery's comparison mode.
pub fn comparisons() -> Table {
    let columns = vec![
        key(
            "comparison_id",
            DataType::Utf8,
            "`<compared_at ns>:<winner>:<loser>` (the key).",
        ),
        col(
            "winner",
            DataType::Utf8,
            "Path of the photo chosen as better.",
        ),
        col("loser", DataType::Utf8, "Path of the other photo."),
        col(
            "tie",
            DataType::Boolean,
            "Neither was better (counts half a win each way).",
        ),
        col(
            "category",
            DataType::Utf8,
            "The category both photos were in.",
        ),
        col(
            "strategy",
            DataType::Utf8,
            "How the pair was picked: uncertainty, boundary, random.",
        ),
        col("compared_at", timestamp(), "When the choice was made."),
        col(
            "user",
            DataType::Utf8,
            "The member who chose (multi-user mode); null in single-user mode.",
        ),
    ];
    Table {
        name: "comparisons",
        doc: "Pairwise choices from the gallery's comparison mode; the Bradley-Terry fit of category weights reads them.",
        key: "comparison_id",
        columns,
    }
}

/// `moves`: the journal of path moves being applied (see [`path_refs`]).
pub fn moves() -> Table {
    let columns = vec![
        key(
            "old_path",
            DataType::Utf8,
            "The path the photo was known by (the key).",
        ),
        col("new_path", DataType::Utf8, "The path it was found at."),
        col("recorded_at", timestamp(), "When the move was found."),
    ];
    Table {
        name: "moves",
        doc: "Moves found by a run and not yet applied to every table: written before any table is rewritten, removed after; a run or prune applies what a killed one left.",
        key: "old_path",
        columns,
    }
}

/// `event_outbox`: the deliveries of events to webhooks, actions and plugins
/// (`facet_events`), kept until delivered and after, so that enqueuing the
/// same event for the same target again delivers nothing new.
pub fn event_outbox() -> Table {
    let columns = vec![
        key(
            "id",
            DataType::Utf8,
            "SHA-256 (hex) of target, event name and payload (the key): the delivery's identity, so one event is delivered once to each target however often it is enqueued; sent as the X-Facet-Delivery header.",
        ),
        col(
            "target",
            DataType::Utf8,
            "Who receives it: `webhook:<host>#<url hash>`, `action:<name>`, `plugin:<file name>`.",
        ),
        col(
            "event",
            DataType::Utf8,
            "on_new_photo, on_score_complete, on_high_score or on_burst_detected.",
        ),
        col(
            "payload",
            DataType::Utf8,
            "The event's data (JSON), as the receiver gets it.",
        ),
        col(
            "state",
            DataType::Utf8,
            "`pending` (to deliver, at next_attempt_at), `delivered`, or `failed` (gave up after the last attempt; last_error says why).",
        ),
        col("attempts", DataType::Int32, "Failed attempts so far."),
        col(
            "next_attempt_at",
            timestamp(),
            "When a pending delivery is due (exponential backoff after failures).",
        ),
        col(
            "last_error",
            DataType::Utf8,
            "Why the last attempt failed (null when none did).",
        ),
        col("created_at", timestamp(), "When the event was enqueued."),
        col(
            "finished_at",
            timestamp(),
            "When it was delivered or given up (null while pending).",
        ),
    ];
    Table {
        name: "event_outbox",
        doc: "Event deliveries to webhooks, built-in actions and plugins: pending ones survive a restart and are retried with backoff; delivered and given-up ones stay as the record of what was sent.",
        key: "id",
        columns,
    }
}

/// How a column refers to a photo's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRef {
    /// The column holds the path itself.
    Path(&'static str),
    /// `<path><sep><rest>` (`faces.face_id` is `<path>#<index>`).
    Prefix(&'static str, char),
    /// A key built as `<kept ':'-separated fields of the old key>:<the
    /// row's (new) values of these columns joined by ':'>`, e.g.
    /// `group_decisions.decision_key` = `<kind>:<path>`.
    Rebuilt {
        column: &'static str,
        kept: usize,
        from: &'static [&'static str],
    },
}

impl PathRef {
    pub fn column(&self) -> &'static str {
        match self {
            PathRef::Path(c) | PathRef::Prefix(c, _) => c,
            PathRef::Rebuilt { column, .. } => column,
        }
    }
}

/// Every table's columns that hold a photo's path or a key made from one:
/// a move rewrites them, `facet prune` deletes the rows they match
/// (`facet_library::lifecycle`). A unit test checks that every column
/// documented as a path or face id is here.
pub fn path_refs() -> Vec<(Table, Vec<PathRef>)> {
    use PathRef::*;
    vec![
        (faces(), vec![Path("path"), Prefix("face_id", '#')]),
        (face_assignments(), vec![Prefix("face_id", '#')]),
        (persons(), vec![Prefix("representative_face", '#')]),
        (scores(), vec![Path("path")]),
        (failures(), vec![Path("path")]),
        (photo_groups(), vec![Path("path")]),
        (
            group_decisions(),
            vec![
                Path("path"),
                Rebuilt {
                    column: "decision_key",
                    kept: 1,
                    from: &["path"],
                },
            ],
        ),
        (user_state(), vec![Path("path")]),
        (
            user_preferences(),
            vec![
                Path("path"),
                Rebuilt {
                    column: "preference_id",
                    kept: 1,
                    from: &["path"],
                },
            ],
        ),
        (
            user_keywords(),
            vec![
                Path("path"),
                Rebuilt {
                    column: "keyword_id",
                    kept: 1,
                    from: &["path"],
                },
            ],
        ),
        (
            comparisons(),
            vec![
                Path("winner"),
                Path("loser"),
                Rebuilt {
                    column: "comparison_id",
                    kept: 1,
                    from: &["winner", "loser"],
                },
            ],
        ),
        (
            album_photos(),
            vec![
                Path("path"),
                Rebuilt {
                    column: "entry_id",
                    kept: 1,
                    from: &["path"],
                },
            ],
        ),
        // Last: a photo counts as moved once its own row is.
        (photos(), vec![Path("path")]),
    ]
}

pub fn tables() -> Vec<Table> {
    vec![
        photos(),
        faces(),
        persons(),
        face_assignments(),
        scores(),
        score_state(),
        failures(),
        photo_groups(),
        group_state(),
        group_decisions(),
        user_state(),
        user_preferences(),
        user_keywords(),
        comparisons(),
        albums(),
        album_photos(),
        moves(),
        event_outbox(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn column_names_are_unique_snake_case() {
        for t in tables() {
            let mut seen = HashSet::new();
            for c in &t.columns {
                assert!(seen.insert(c.name.clone()), "{}.{} twice", t.name, c.name);
                assert!(
                    c.name
                        .chars()
                        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_'),
                    "{}.{} is not snake_case",
                    t.name,
                    c.name
                );
            }
            assert!(t.column(t.key).is_some_and(|c| !c.nullable));
        }
    }

    #[test]
    fn every_path_column_is_in_path_refs() {
        // Columns that mention paths without holding a photo's.
        let not_photo_paths = ["photos.thumbnail_path", "moves.old_path", "moves.new_path"];
        let refs = path_refs();
        for t in tables() {
            for c in &t.columns {
                let name = format!("{}.{}", t.name, c.name);
                let doc = c.doc.to_lowercase();
                let holds = c.data_type == DataType::Utf8
                    && (c.name.contains("path")
                        || doc.contains("path of")
                        || doc.contains("<path>")
                        || doc.contains("face_id")
                        || c.name == "face_id");
                if !holds || not_photo_paths.contains(&name.as_str()) {
                    continue;
                }
                assert!(
                    refs.iter().any(
                        |(rt, rs)| rt.name == t.name && rs.iter().any(|r| r.column() == c.name)
                    ),
                    "{name} holds a path but is not in schemas::path_refs()"
                );
            }
        }
        for (t, rs) in &refs {
            for r in rs {
                assert!(
                    t.column(r.column()).is_some(),
                    "{}.{} undeclared",
                    t.name,
                    r.column()
                );
                if let PathRef::Rebuilt { from, .. } = r {
                    for f in *from {
                        assert!(rs.contains(&PathRef::Path(f)), "{}.{f}", t.name);
                    }
                }
            }
        }
    }

    #[test]
    fn markdown_lists_every_column() {
        let t = photos();
        let md = t.markdown();
        for c in &t.columns {
            assert!(md.contains(&format!("`{}`", c.name)));
        }
    }
}
