//! `/api/photos` on a million rows: an in-memory listing of the `photos`
//! view's list columns, built once per version of `photos_stored`, `scores`
//! and `photo_groups` (a run), with the user state (`user_state`, written
//! by every rating click) kept apart as dense per-row arrays rebuilt from its
//! small table. A query walks the listing's order for its sort key (each
//! key's order computed once per listing, the default one when the listing
//! is built), keeps the rows its filters pass, and keeps that answer with
//! the listing: its next pages and its repeats — a gallery refreshing while
//! a run commits — are slices of it. A sort by the user's rating (which
//! changes with each click) filters with a loop over interned ids and
//! numbers and picks the page with a partial selection. Either way only the
//! page's rows are taken: no join, no scan, no sort of the library per
//! request.
//!
//! Semantics: a filter on a missing or null value matches nothing, sort keys put nulls
//! last in both directions, ties go by path in the same direction.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use arrow::array::{Array, AsArray, RecordBatch, StringArray, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::{DataType, Float64Type, Int32Type};
use facet_store::Snapshot;

use crate::api::LIST_COLUMNS;
use crate::auth::Who;
use crate::error::{ApiError, ApiResult};
use crate::query::{Filters, Hiding, Page, has_column};

/// A comparator of listing rows.
type RowOrder<'a> = Box<dyn Fn(&u32, &u32) -> Ordering + 'a>;

const USER: &[&str] = &["rating", "favorite", "rejected"];
/// Columns read besides the listed ones: sort keys and group leads.
const EXTRA: &[&str] = &[
    "sharpness",
    "exposure_score",
    "color_score",
    "burst_group_id",
    "is_burst_lead",
    "duplicate_group_id",
    "is_duplicate_lead",
    "gps_lat",
    "gps_lon",
    "is_blink",
    "missing_since",
];
const NUMERIC: &[&str] = &[
    "aggregate",
    "aesthetic",
    "sharpness",
    "exposure_score",
    "color_score",
    "top_picks_score",
    "gps_lat",
    "gps_lon",
];
const NONE: u32 = u32::MAX;
/// Why a photo is hidden by default, in the bit order of `hidden_bits`.
pub(crate) const HIDDEN_REASONS: [&str; 4] = ["rejected", "burst", "duplicate", "blink"];

/// The table holding `who`'s ratings, favourites and rejects.
pub fn state_table(who: &Who) -> &'static str {
    if who.user().is_some() {
        "user_preferences"
    } else {
        "user_state"
    }
}

/// The versions a listing was built from.
pub type ListingKey = [Option<u64>; 3];

/// Whether a listing of versions `built` shows every write of versions
/// `wanted` (each table at the same version or a later one).
pub fn covers(built: &ListingKey, wanted: &ListingKey) -> bool {
    built.iter().zip(wanted).all(|(b, w)| b >= w)
}

pub fn listing_key(s: &Snapshot) -> ListingKey {
    [
        s.version("photos"),
        s.version("scores"),
        s.version("photo_groups"),
    ]
}

/// A column the filter dropdowns count.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Facet {
    Category,
    Camera,
    Lens,
    Tag,
}

/// Interned strings of one column.
#[derive(Default)]
struct Dict {
    ids: HashMap<String, u32>,
}

impl Dict {
    fn id(&mut self, s: &str) -> u32 {
        let n = self.ids.len() as u32;
        *self.ids.entry(s.to_string()).or_insert(n)
    }
    fn get(&self, s: &str) -> u32 {
        self.ids.get(s).copied().unwrap_or(NONE - 1)
    }
}

pub struct Listing {
    pub key: ListingKey,
    /// Made by [`Listing::extend`] rather than read whole.
    pub extended: bool,
    /// The rows in path order, listed and extra columns.
    batch: RecordBatch,
    /// The indices of the listed columns in `batch`, in `LIST_COLUMNS` order.
    listed: Vec<usize>,
    /// Whether the view has the user columns (always, unless a store predates them).
    user_columns: Vec<&'static str>,
    paths: StringArray,
    dates: Option<StringArray>,
    category: (Dict, Vec<u32>),
    camera: (Dict, Vec<u32>),
    lens: (Dict, Vec<u32>),
    tags: (Dict, Vec<u32>, Vec<u32>),
    /// `left(date_taken, 10)`: the bytes and their count, `None` when null.
    date10: Vec<Option<([u8; 10], u8)>>,
    /// The capture day as `yyyymmdd` (0 when unknown): the timeline's and
    /// memories' key.
    ymd: Vec<u32>,
    /// Web-Mercator position in [0, 1)² (x east, y south), NaN without GPS.
    mercator: Vec<[f32; 2]>,
    numbers: HashMap<&'static str, Vec<f64>>,
    top_pick: Vec<bool>,
    burst_ok: Vec<bool>,
    duplicate_ok: Vec<bool>,
    /// A judged face blinks.
    blink: Vec<bool>,
    /// The file is gone (`missing_since` set).
    missing: Vec<bool>,
    /// The rows in the order of a sort key, computed once per listing
    /// ([`Listing::order`]).
    orders: Mutex<HashMap<&'static str, Arc<Order>>>,
    /// The last queries' answers ([`Listing::answer`]).
    answers: Mutex<Vec<(String, Arc<Answer>)>>,
}

/// Every row in the ascending order of one sort key: `rows[..valued]` by
/// value then path, `rows[valued..]` (null keys) by path. The descending
/// order is each part reversed (nulls last either way).
struct Order {
    rows: Vec<u32>,
    valued: usize,
}

impl Order {
    fn iter(&self, asc: bool) -> Box<dyn Iterator<Item = u32> + '_> {
        let (valued, nulls) = self.rows.split_at(self.valued);
        if asc {
            Box::new(valued.iter().chain(nulls).copied())
        } else {
            Box::new(valued.iter().rev().chain(nulls.iter().rev()).copied())
        }
    }
}

/// One query's answer over a listing: every matching row in the page's
/// order (so that each page of it, and each repeat of it while a run
/// commits, is a slice), and the first page's counts of what the default
/// hiding hides ([`Listing::hidden_counts`]).
pub struct Answer {
    rows: Vec<u32>,
    hidden: OnceLock<(u64, [u64; 4])>,
}

/// Answers kept per listing (each at most 4 bytes per photo).
const ANSWERS: usize = 8;

/// One session's view of the listing: ratings, favourites and rejects per
/// row (the single-user `user_state`, or a member's `user_preferences`),
/// and which rows the member may see.
pub struct UserCols {
    /// Whose state: `""` in single-user mode, else the member's name.
    owner: String,
    /// The version of the table the state was read from.
    pub version: Option<u64>,
    rating: Vec<i32>,
    favorite: Vec<bool>,
    rejected: Vec<bool>,
    /// Rows inside the member's folders; `None`: every row.
    visible: Option<Arc<Vec<bool>>>,
}

impl UserCols {
    /// No user state, every row visible.
    fn empty(n: usize) -> UserCols {
        UserCols {
            owner: String::new(),
            version: None,
            rating: vec![0; n],
            favorite: vec![false; n],
            rejected: vec![false; n],
            visible: None,
        }
    }

    /// Whether row `i` is visible to this session.
    pub(crate) fn visible(&self, i: usize) -> bool {
        self.visible.as_ref().is_none_or(|v| v[i])
    }
}

pub(crate) fn strings(b: &RecordBatch, name: &str) -> Option<StringArray> {
    let c = b.column_by_name(name)?;
    let c = arrow::compute::cast(c, &DataType::Utf8).ok()?;
    Some(c.as_string::<i32>().clone())
}

/// `batch` in path order (as it is when already so).
fn sorted_by_path(batch: RecordBatch) -> ApiResult<RecordBatch> {
    let paths = strings(&batch, "path").ok_or_else(|| ApiError::internal("no path column"))?;
    if (1..paths.len()).all(|i| paths.value(i - 1) <= paths.value(i)) {
        return Ok(batch);
    }
    let mut order: Vec<u32> = (0..batch.num_rows() as u32).collect();
    order.sort_unstable_by(|&a, &b| paths.value(a as usize).cmp(paths.value(b as usize)));
    take_record_batch(&batch, &UInt32Array::from(order)).map_err(ApiError::internal)
}

fn interned(b: &RecordBatch, name: &str) -> (Dict, Vec<u32>) {
    let mut d = Dict::default();
    let ids = match strings(b, name) {
        Some(a) => a.iter().map(|v| v.map_or(NONE, |s| d.id(s))).collect(),
        None => vec![NONE; b.num_rows()],
    };
    (d, ids)
}

pub(crate) fn bools(b: &RecordBatch, name: &str) -> Vec<Option<bool>> {
    match b.column_by_name(name).and_then(|c| c.as_boolean_opt()) {
        Some(a) => a.iter().collect(),
        None => vec![None; b.num_rows()],
    }
}

/// A numeric column as f64 per row, NaN where null or absent.
pub(crate) fn floats(b: &RecordBatch, name: &str) -> Vec<f64> {
    match b
        .column_by_name(name)
        .and_then(|a| arrow::compute::cast(a, &DataType::Float64).ok())
    {
        Some(a) => a
            .as_primitive::<Float64Type>()
            .iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect(),
        None => vec![f64::NAN; b.num_rows()],
    }
}

fn nulls(b: &RecordBatch, name: &str) -> Vec<bool> {
    match b.column_by_name(name) {
        Some(c) => (0..c.len()).map(|i| c.is_null(i)).collect(),
        None => vec![true; b.num_rows()],
    }
}

impl Listing {
    pub async fn build(snap: &Snapshot) -> ApiResult<Listing> {
        let df = snap.ctx.table("photos").await?;
        let listed_names: Vec<&str> = LIST_COLUMNS
            .iter()
            .copied()
            .filter(|c| !USER.contains(c) && has_column(&df, c))
            .collect();
        let user_columns: Vec<&'static str> = USER
            .iter()
            .copied()
            .filter(|c| has_column(&df, c))
            .collect();
        let mut wanted = listed_names.clone();
        for c in EXTRA {
            if !wanted.contains(c) && has_column(&df, c) {
                wanted.push(c);
            }
        }
        // Each table read by itself, not the view's join (its hash tables
        // would hold the library once per table).
        let batch = snap.view_all(&wanted).await?;
        Listing::of_rows(snap, batch, &listed_names, user_columns)
    }

    /// The listing of `snap` from this one (of an earlier version of the
    /// same store): the rows of the photos whose `photos`, `scores` or
    /// `photo_groups` rows were written since are looked up by path and
    /// replace theirs, the others are kept — the cost of a run that added
    /// 100 photos to a million is those rows and one pass over the kept
    /// arrays, not the view's join of every table. `None` when this cannot
    /// be known (a table rewritten, photos removed, more than an eighth of
    /// the library changed): then [`Listing::build`] is the way.
    pub async fn extend(&self, snap: &Snapshot) -> ApiResult<Option<Listing>> {
        let mut changed: Vec<String> = Vec::new();
        for (table, before) in ["photos", "scores", "photo_groups"]
            .into_iter()
            .zip(self.key)
        {
            match (snap.dataset(table), before) {
                (None, None) => {}
                (Some(ds), before) => match facet_store::paths_written_since(ds, before).await? {
                    Some(paths) => changed.extend(paths),
                    None => return Ok(None),
                },
                (None, Some(_)) => return Ok(None),
            }
        }
        changed.sort_unstable();
        changed.dedup();
        let n = self.len();
        if changed.len() > (n / 8).max(1_000) {
            return Ok(None);
        }
        // Photos removed since: the counts tell.
        let new = changed.iter().filter(|p| self.find(p).is_err()).count();
        let stored = match snap.dataset("photos") {
            Some(ds) => ds.count_rows(None).await.map_err(ApiError::internal)?,
            None => 0,
        };
        if stored != n + new {
            return Ok(None);
        }
        let schema = self.batch.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let rows = snap.view_rows(&changed, &names).await?;
        // The same columns (nullability aside: a join of in-memory tables).
        let Ok(rows) = RecordBatch::try_new(schema.clone(), rows.columns().to_vec()) else {
            return Ok(None);
        };
        // One copy in path order: the kept rows (in path order already)
        // merged with the looked-up ones (where a filter, a concatenation
        // and a sort made three copies of the library's columns).
        let rows = sorted_by_path(rows)?;
        let fresh = strings(&rows, "path").ok_or_else(|| ApiError::internal("no path column"))?;
        let is_changed = |i: usize| {
            !self.paths.is_null(i)
                && changed
                    .binary_search_by(|p| p.as_str().cmp(self.paths.value(i)))
                    .is_ok()
        };
        let mut order: Vec<(usize, usize)> = Vec::with_capacity(n + rows.num_rows());
        let mut j = 0;
        for i in (0..n).filter(|&i| !is_changed(i)) {
            while j < fresh.len() && fresh.value(j) < self.paths.value(i) {
                order.push((1, j));
                j += 1;
            }
            order.push((0, i));
        }
        order.extend((j..fresh.len()).map(|j| (1, j)));
        let batch = arrow::compute::interleave_record_batch(&[&self.batch, &rows], &order)
            .map_err(ApiError::internal)?;
        let listed: Vec<&str> = self.listed.iter().map(|&i| names[i]).collect();
        let mut l = Listing::of_rows(snap, batch, &listed, self.user_columns.clone())?;
        l.extended = true;
        Ok(Some(l))
    }

    /// The listing of the view's `batch` (its listed columns `listed_names`).
    fn of_rows(
        snap: &Snapshot,
        batch: RecordBatch,
        listed_names: &[&str],
        user_columns: Vec<&'static str>,
    ) -> ApiResult<Listing> {
        // Path order: user state rows are found by binary search.
        let batch = sorted_by_path(batch)?;
        let paths = strings(&batch, "path").ok_or_else(|| ApiError::internal("no path column"))?;
        let n = batch.num_rows();
        let listed = listed_names
            .iter()
            .map(|c| batch.schema().index_of(c).map_err(ApiError::internal))
            .collect::<ApiResult<Vec<_>>>()?;
        let dates = strings(&batch, "date_taken");
        let date10 = match &dates {
            Some(a) => a
                .iter()
                .map(|v| {
                    v.map(|s| {
                        // `left(s, 10)` counts characters.
                        let end = s.char_indices().nth(10).map_or(s.len(), |(i, _)| i);
                        let mut out = [0u8; 10];
                        let bytes = &s.as_bytes()[..end.min(10)];
                        out[..bytes.len()].copy_from_slice(bytes);
                        // Longer than 10 bytes (non-ASCII): compare the first 10 bytes.
                        (out, bytes.len() as u8)
                    })
                })
                .collect(),
            None => vec![None; n],
        };
        let ymd = date10
            .iter()
            .map(|d| d.map_or(0, |(b, len)| day_key(&b[..len as usize])))
            .collect();
        let mut tag_dict = Dict::default();
        let (mut offsets, mut tag_ids) = (vec![0u32], Vec::new());
        if let Some(list) = batch
            .column_by_name("tags")
            .and_then(|c| c.as_list_opt::<i32>())
        {
            let values =
                arrow::compute::cast(list.values(), &DataType::Utf8).map_err(ApiError::internal)?;
            let values = values.as_string::<i32>();
            let offs = list.value_offsets();
            for i in 0..n {
                if list.is_valid(i) {
                    for j in offs[i] as usize..offs[i + 1] as usize {
                        if values.is_valid(j) {
                            tag_ids.push(tag_dict.id(values.value(j)));
                        }
                    }
                }
                offsets.push(tag_ids.len() as u32);
            }
        } else {
            offsets.resize(n + 1, 0);
        }
        let mut numbers = HashMap::new();
        for c in NUMERIC {
            numbers.insert(*c, floats(&batch, c));
        }
        let mercator = numbers["gps_lat"]
            .iter()
            .zip(&numbers["gps_lon"])
            .map(|(&lat, &lon)| mercator(lat, lon))
            .collect();
        let top_pick = bools(&batch, "is_top_pick")
            .into_iter()
            .map(|v| v == Some(true))
            .collect();
        let lead_or_alone = |lead: &str, group: &str| -> Vec<bool> {
            bools(&batch, lead)
                .into_iter()
                .zip(nulls(&batch, group))
                .map(|(l, alone)| alone || l == Some(true))
                .collect()
        };
        if std::env::var_os("FACET_TRACE").is_some() {
            let mut cols: Vec<(usize, &str)> = batch
                .schema_ref()
                .fields()
                .iter()
                .zip(batch.columns())
                .map(|(f, c)| (c.get_array_memory_size(), f.name().as_str()))
                .collect();
            cols.sort_unstable_by(|a, b| b.cmp(a));
            eprintln!(
                "facet-trace listing {n} rows: batch {} MiB ({:?}), numbers {} MiB, date10 {} MiB",
                batch.get_array_memory_size() >> 20,
                cols.iter()
                    .take(12)
                    .map(|(b, c)| format!("{c} {}", b >> 20))
                    .collect::<Vec<_>>(),
                (numbers.len() * n * 8) >> 20,
                (n * std::mem::size_of::<Option<([u8; 10], u8)>>()) >> 20,
            );
        }
        Ok(Listing {
            key: listing_key(snap),
            extended: false,
            category: interned(&batch, "category"),
            camera: interned(&batch, "camera_model"),
            lens: interned(&batch, "lens"),
            tags: (tag_dict, offsets, tag_ids),
            burst_ok: lead_or_alone("is_burst_lead", "burst_group_id"),
            duplicate_ok: lead_or_alone("is_duplicate_lead", "duplicate_group_id"),
            blink: bools(&batch, "is_blink")
                .into_iter()
                .map(|v| v == Some(true))
                .collect(),
            missing: nulls(&batch, "missing_since")
                .into_iter()
                .map(|null| !null)
                .collect(),
            top_pick,
            numbers,
            date10,
            ymd,
            mercator,
            dates,
            paths,
            listed,
            user_columns,
            batch,
            orders: Mutex::default(),
            answers: Mutex::default(),
        })
    }

    pub fn len(&self) -> usize {
        self.batch.num_rows()
    }

    /// The user state of `who` in `snap`: the `user_state` table in
    /// single-user mode, the member's rows of `user_preferences` and their
    /// folders' rows in multi-user mode.
    /// The rows `who` may see (`None`: every row).
    pub fn visible(&self, who: &Who) -> Option<Arc<Vec<bool>>> {
        who.scope().map(|s| {
            Arc::new(
                (0..self.len())
                    .map(|i| !self.paths.is_null(i) && s.allows(self.paths.value(i)))
                    .collect(),
            )
        })
    }

    /// `who`'s user state over this listing, with the rows they may see
    /// ([`Listing::visible`], computed once per listing by the caller).
    pub async fn user(
        &self,
        snap: &Snapshot,
        who: &Who,
        visible: Option<Arc<Vec<bool>>>,
    ) -> ApiResult<UserCols> {
        let n = self.len();
        let table = state_table(who);
        let mut u = UserCols {
            owner: who.user().unwrap_or("").to_string(),
            version: snap.version(table),
            rating: vec![0; n],
            favorite: vec![false; n],
            rejected: vec![false; n],
            visible,
        };
        let mut df = match snap.ctx.table(table).await {
            Ok(df) => df,
            // A member's table before anyone rated anything.
            Err(_) if who.user().is_some() => return Ok(u),
            Err(e) => return Err(e.into()),
        };
        if let Some(user) = who.user() {
            df = df.filter(
                datafusion::prelude::col("user").eq(datafusion::prelude::lit(user.to_string())),
            )?;
        }
        let batches = df
            .select_columns(&["path", "rating", "favorite", "rejected"])?
            .collect()
            .await?;
        for b in batches {
            let (Some(p), r, f, x) = (
                strings(&b, "path"),
                b.column(1).as_primitive_opt::<Int32Type>(),
                b.column(2).as_boolean_opt(),
                b.column(3).as_boolean_opt(),
            ) else {
                continue;
            };
            for k in 0..b.num_rows() {
                if p.is_null(k) {
                    continue;
                }
                let path = p.value(k);
                let Ok(i) = self.find(path) else { continue };
                if let Some(r) = r.filter(|r| r.is_valid(k)) {
                    u.rating[i] = r.value(k);
                }
                u.favorite[i] = f.is_some_and(|f| f.is_valid(k) && f.value(k));
                u.rejected[i] = x.is_some_and(|x| x.is_valid(k) && x.value(k));
            }
        }
        Ok(u)
    }

    /// The user state of row `i` as JSON values (rating, favorite, rejected).
    pub(crate) fn user_values(
        &self,
        u: &UserCols,
        i: usize,
    ) -> [(&'static str, serde_json::Value); 3] {
        [
            ("rating", u.rating[i].into()),
            ("favorite", u.favorite[i].into()),
            ("rejected", u.rejected[i].into()),
        ]
    }

    pub(crate) fn find(&self, path: &str) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.paths.value(mid).cmp(path) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    pub(crate) fn num(&self, c: &str) -> &[f64] {
        &self.numbers[c]
    }

    /// The capture day of row `i` as `yyyymmdd`, 0 when unknown.
    pub(crate) fn day(&self, i: u32) -> u32 {
        self.ymd[i as usize]
    }

    /// The Web-Mercator position of row `i`, `None` without GPS.
    pub(crate) fn mercator(&self, i: u32) -> Option<[f32; 2]> {
        let m = self.mercator[i as usize];
        (!m[0].is_nan()).then_some(m)
    }

    /// Capture time, then path: the timeline's order.
    pub(crate) fn by_time(&self, a: u32, b: u32) -> Ordering {
        let key = |i: u32| {
            self.dates
                .as_ref()
                .filter(|d| d.is_valid(i as usize))
                .map(|d| d.value(i as usize))
        };
        match (key(a), key(b)) {
            (Some(x), Some(y)) => x.cmp(y),
            (x, y) => y.is_some().cmp(&x.is_some()),
        }
        .then_with(|| {
            self.paths
                .value(a as usize)
                .cmp(self.paths.value(b as usize))
        })
    }

    /// Best first: aggregate descending (unscored last), then path.
    pub(crate) fn by_score(&self, a: u32, b: u32) -> Ordering {
        let v = self.num("aggregate");
        let (x, y) = (v[a as usize], v[b as usize]);
        match (x.is_nan(), y.is_nan()) {
            (false, false) => y.total_cmp(&x),
            (nx, ny) => nx.cmp(&ny),
        }
        .then_with(|| {
            self.paths
                .value(a as usize)
                .cmp(self.paths.value(b as usize))
        })
    }

    /// The rows `filters` keep, in no order.
    pub(crate) fn matching(&self, f: &Filters, u: &UserCols) -> Vec<u32> {
        let keep = self.matcher(f, u);
        match &f.only {
            Some(rows) => rows.iter().copied().filter(|&i| keep(i as usize)).collect(),
            None => (0..self.len() as u32)
                .filter(|&i| keep(i as usize))
                .collect(),
        }
    }

    /// Whether `filters` keep a row (`only` aside: the caller walks it).
    fn matcher<'a>(&'a self, f: &'a Filters, u: &'a UserCols) -> impl Fn(usize) -> bool + 'a {
        let id = |d: &Dict, v: &Option<String>| v.as_ref().map(|s| d.get(s));
        let category = id(&self.category.0, &f.category);
        let camera = id(&self.camera.0, &f.camera);
        let lens = id(&self.lens.0, &f.lens);
        let tag = id(&self.tags.0, &f.tag);
        let date_from = f.date_from.as_deref().map(str::as_bytes);
        let date_to = f.date_to.as_deref().map(str::as_bytes);
        let agg = self.num("aggregate");
        let aes = self.num("aesthetic");
        let ge = |v: f64, min: Option<f64>| min.is_none_or(|m| !v.is_nan() && v >= m);
        let le = |v: f64, max: Option<f64>| max.is_none_or(|m| !v.is_nan() && v <= m);
        let has_user = |c: &str| self.user_columns.contains(&c);
        let rating_min = f.rating_min.filter(|&r| r > 0).map(|r| r as i32);
        let (lat, lon) = (self.num("gps_lat"), self.num("gps_lon"));
        let (offsets, tag_ids) = (&self.tags.1, &self.tags.2);
        move |i: usize| -> bool {
            u.visible(i)
                && category.is_none_or(|c| self.category.1[i] == c)
                && camera.is_none_or(|c| self.camera.1[i] == c)
                && lens.is_none_or(|c| self.lens.1[i] == c)
                && tag.is_none_or(|t| {
                    tag_ids[offsets[i] as usize..offsets[i + 1] as usize].contains(&t)
                })
                && (date_from.is_none() && date_to.is_none()
                    || self.date10[i].is_some_and(|(d, len)| {
                        let d = &d[..len as usize];
                        date_from.is_none_or(|from| d >= from) && date_to.is_none_or(|to| d <= to)
                    }))
                && ge(agg[i], f.min_score)
                && le(agg[i], f.max_score)
                && ge(aes[i], f.min_aesthetic)
                && (!f.top_picks || self.top_pick[i])
                && rating_min.is_none_or(|r| has_user("rating") && u.rating[i] >= r)
                && (!f.favorites || has_user("favorite") && u.favorite[i])
                && (!f.hide_rejected || !u.rejected[i])
                && (!f.hide_bursts || self.burst_ok[i])
                && (!f.hide_duplicates || self.duplicate_ok[i])
                && (!f.hide_blinks || !self.blink[i])
                && (f.show_missing || !self.missing[i])
                && f.bbox.is_none_or(|b| b.contains(lat[i], lon[i]))
        }
    }

    /// Why `hiding` hides row `i` (`rejected`, `burst`: not its burst's
    /// lead, `duplicate`: not its duplicate set's lead, `blink`); empty when
    /// it is shown.
    pub(crate) fn hidden_by(&self, i: u32, u: &UserCols, hiding: &Hiding) -> Vec<&'static str> {
        let bits = self.hidden_bits(i, u, hiding);
        HIDDEN_REASONS
            .iter()
            .enumerate()
            .filter(|(k, _)| bits & (1 << k) != 0)
            .map(|(_, w)| *w)
            .collect()
    }

    /// [`Listing::hidden_by`] as bits of [`HIDDEN_REASONS`] (no allocation:
    /// the first page counts them over every matching row).
    pub(crate) fn hidden_bits(&self, i: u32, u: &UserCols, hiding: &Hiding) -> u8 {
        let i = i as usize;
        u8::from(hiding.rejected && u.rejected[i])
            | u8::from(hiding.bursts && !self.burst_ok[i]) << 1
            | u8::from(hiding.duplicates && !self.duplicate_ok[i]) << 2
            | u8::from(hiding.blinks && self.blink[i]) << 3
    }

    /// Top Picks relative to the library (`viewer.photo_types.top_picks_percent`):
    /// besides the stored rule (`is_top_pick`: a Top Picks score of at least
    /// `top_picks_min_score`), the best `percent` % of the photos of at least
    /// `min_megapixels` (size unknown: not held against them) by Top Picks
    /// score — ties included, at least one photo when any is eligible.
    pub fn calibrate_top_picks(&mut self, percent: f64, min_megapixels: f64) {
        if percent <= 0.0 {
            return;
        }
        let (w, h) = (floats(&self.batch, "width"), floats(&self.batch, "height"));
        let score = &self.numbers["top_picks_score"];
        let eligible: Vec<usize> = (0..self.len())
            .filter(|&i| {
                let mp = w[i] * h[i] / 1e6;
                score[i].is_finite() && (mp.is_nan() || mp >= min_megapixels)
            })
            .collect();
        if eligible.is_empty() {
            return;
        }
        let mut scores: Vec<f64> = eligible.iter().map(|&i| score[i]).collect();
        let k = ((eligible.len() as f64 * percent / 100.0).ceil() as usize).clamp(1, scores.len());
        let (_, kth, _) = scores.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
        let threshold = *kth;
        for i in eligible {
            if score[i] >= threshold {
                self.top_pick[i] = true;
            }
        }
    }

    pub(crate) fn is_top_pick(&self, i: u32) -> bool {
        self.top_pick[i as usize]
    }

    /// `value, count` over `rows` of a dropdown's column (tags: each item),
    /// most frequent first then by value, empty values left out, at most
    /// `limit`.
    pub(crate) fn value_counts(
        &self,
        rows: &[u32],
        facet: Facet,
        limit: Option<usize>,
    ) -> Vec<(String, i64)> {
        let (dict, ids) = match facet {
            Facet::Category => (&self.category.0, &self.category.1),
            Facet::Camera => (&self.camera.0, &self.camera.1),
            Facet::Lens => (&self.lens.0, &self.lens.1),
            Facet::Tag => (&self.tags.0, &self.tags.2),
        };
        let mut counts = vec![0i64; dict.ids.len()];
        for &i in rows {
            let i = i as usize;
            match facet {
                Facet::Tag => {
                    let (a, b) = (self.tags.1[i] as usize, self.tags.1[i + 1] as usize);
                    for &t in &ids[a..b] {
                        counts[t as usize] += 1;
                    }
                }
                _ if ids[i] != NONE => counts[ids[i] as usize] += 1,
                _ => {}
            }
        }
        let mut out: Vec<(String, i64)> = dict
            .ids
            .iter()
            .filter(|(v, id)| counts[**id as usize] > 0 && !v.is_empty())
            .map(|(v, id)| (v.clone(), counts[*id as usize]))
            .collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        if let Some(l) = limit {
            out.truncate(l);
        }
        out
    }

    fn filename(&self, i: u32) -> &str {
        let p = self.paths.value(i as usize);
        p.rfind(['/', '\\']).map_or(p, |k| &p[k + 1..])
    }

    /// Whether some row's path satisfies `f`.
    pub(crate) fn any_path(&self, f: impl Fn(&str) -> bool) -> bool {
        (0..self.len()).any(|i| !self.paths.is_null(i) && f(self.paths.value(i)))
    }

    /// The stored path of row `i`.
    pub(crate) fn path(&self, i: u32) -> &str {
        self.paths.value(i as usize)
    }

    /// The rows of one page and the count of all matching rows.
    pub fn page(&self, f: &Filters, page: &Page, u: &UserCols) -> (Vec<u32>, usize) {
        match self.answer(f, page, u) {
            Some(a) => {
                let total = a.rows.len();
                let offset = (page.page - 1).saturating_mul(page.per_page).min(total);
                let end = offset.saturating_add(page.per_page).min(total);
                (a.rows[offset..end].to_vec(), total)
            }
            None => self.sort_page(self.matching(f, u), page, u),
        }
    }

    /// What the `hiding` defaults hide among the rows `f` keeps when shown
    /// (`f` with every hiding filter off): how many, and how many per
    /// [`HIDDEN_REASONS`]; kept with the query's answer.
    pub fn hidden_counts(
        &self,
        f: &Filters,
        page: &Page,
        u: &UserCols,
        hiding: &Hiding,
    ) -> (u64, [u64; 4]) {
        let count = || {
            let (mut total, mut per) = (0u64, [0u64; 4]);
            for i in self.matching(&f.showing_all(), u) {
                let bits = self.hidden_bits(i, u, hiding);
                total += u64::from(bits != 0);
                for (k, n) in per.iter_mut().enumerate() {
                    *n += u64::from(bits >> k & 1);
                }
            }
            (total, per)
        };
        match self.answer(f, page, u) {
            Some(a) => *a.hidden.get_or_init(count),
            None => count(),
        }
    }

    /// Every row `f` keeps in `page`'s order, from the answers kept for
    /// this listing or computed and kept: a gallery asks the same query
    /// again and again (its next pages, its refreshes while a run commits),
    /// and on a million photos each filter-and-select costs tens of
    /// milliseconds. `None` for a sort by the user's rating (its order
    /// changes with each rating: each request selects its page).
    fn answer(&self, f: &Filters, page: &Page, u: &UserCols) -> Option<Arc<Answer>> {
        let order = self.order(page.sort, u)?;
        let key = format!(
            "{}\u{0}{:?}\u{0}{}\u{0}{}\u{0}{f:?}",
            u.owner, u.version, page.sort, page.asc
        );
        let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = answers.iter().position(|(k, _)| *k == key) {
            let hit = answers.remove(k);
            let a = hit.1.clone();
            answers.insert(0, hit);
            return Some(a);
        }
        drop(answers);
        let keep = self.matcher(f, u);
        let rows: Vec<u32> = match &f.only {
            // A person's photos: few, sorted by themselves.
            Some(only) => {
                let mut rows: Vec<u32> =
                    only.iter().copied().filter(|&i| keep(i as usize)).collect();
                rows.sort_unstable_by(&self.comparator(page.sort, page.asc, u));
                rows
            }
            None => order.iter(page.asc).filter(|&i| keep(i as usize)).collect(),
        };
        let a = Arc::new(Answer {
            rows,
            hidden: OnceLock::new(),
        });
        let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        answers.insert(0, (key, a.clone()));
        answers.truncate(ANSWERS);
        Some(a)
    }

    /// Every row in the ascending order of `sort` (computed on first use
    /// and kept with the listing; the gallery's default order is computed
    /// when the listing is built). `None` for the user's rating.
    fn order(&self, sort: &'static str, u: &UserCols) -> Option<Arc<Order>> {
        if sort == "rating" && self.user_columns.contains(&"rating") {
            return None;
        }
        if let Some(o) = self
            .orders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(sort)
        {
            return Some(o.clone());
        }
        let mut rows: Vec<u32> = (0..self.len() as u32).collect();
        rows.sort_unstable_by(&self.comparator(sort, true, u));
        let valued = rows.partition_point(|&i| !self.null_key(sort, i));
        let o = Arc::new(Order { rows, valued });
        self.orders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sort, o.clone());
        Some(o)
    }

    /// Computes the order of the gallery's default sort (off the request
    /// path: the listing's build calls it).
    pub fn prepare_order(&self, sort: &str) {
        if let Some(sort) = crate::query::sort_key(sort) {
            let nobody = UserCols::empty(self.len());
            let _ = self.order(sort, &nobody);
        }
    }

    /// Whether row `i` has no value of sort key `sort` (sorted last).
    fn null_key(&self, sort: &str, i: u32) -> bool {
        let i = i as usize;
        match sort {
            "filename" => false,
            "date" => self.dates.as_ref().is_some_and(|d| d.is_null(i)),
            _ => crate::query::sort_column(sort)
                .and_then(|c| self.numbers.get(c))
                .is_some_and(|v| v[i].is_nan()),
        }
    }

    /// The order of sort key `sort` in direction `asc`: nulls last whatever
    /// the direction, ties by path in the same direction (the rows are in
    /// path order: by index).
    fn comparator<'a>(&'a self, sort: &str, asc: bool, u: &'a UserCols) -> RowOrder<'a> {
        let dir = move |o: Ordering| if asc { o } else { o.reverse() };
        let by_path = move |a: u32, b: u32| dir(a.cmp(&b));
        let opt = move |a: Ordering, x: bool, y: bool| match (x, y) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => dir(a),
        };
        let column = crate::query::sort_column(sort).unwrap_or("aggregate");
        if sort == "filename" {
            Box::new(move |&a, &b| {
                dir(self.filename(a).cmp(self.filename(b))).then_with(|| by_path(a, b))
            })
        } else if sort == "rating" && self.user_columns.contains(&"rating") {
            Box::new(move |&a, &b| {
                dir(u.rating[a as usize].cmp(&u.rating[b as usize])).then_with(|| by_path(a, b))
            })
        } else if sort == "date" {
            match &self.dates {
                Some(d) => Box::new(move |&a, &b| {
                    let (x, y) = (a as usize, b as usize);
                    opt(d.value(x).cmp(d.value(y)), d.is_null(x), d.is_null(y))
                        .then_with(|| by_path(a, b))
                }),
                None => Box::new(move |&a, &b| by_path(a, b)),
            }
        } else if let Some(v) = self.numbers.get(column) {
            Box::new(move |&a, &b| {
                let (x, y) = (v[a as usize], v[b as usize]);
                opt(x.total_cmp(&y), x.is_nan(), y.is_nan()).then_with(|| by_path(a, b))
            })
        } else {
            Box::new(move |&a, &b| by_path(a, b))
        }
    }

    /// One page of `rows` in the page's order, and how many rows there are.
    pub fn sort_page(&self, mut rows: Vec<u32>, page: &Page, u: &UserCols) -> (Vec<u32>, usize) {
        let total = rows.len();
        let offset = (page.page - 1).saturating_mul(page.per_page);
        if offset >= total {
            return (Vec::new(), total);
        }
        let end = offset.saturating_add(page.per_page).min(total);
        let cmp = self.comparator(page.sort, page.asc, u);
        if end < total {
            rows.select_nth_unstable_by(end, &cmp);
            rows.truncate(end);
        }
        rows.sort_unstable_by(&cmp);
        (rows[offset..end].to_vec(), total)
    }

    /// The rows' listed columns as JSON objects, with the user state.
    pub fn rows(
        &self,
        rows: &[u32],
        u: &UserCols,
    ) -> ApiResult<Vec<serde_json::Map<String, serde_json::Value>>> {
        let b = take_record_batch(&self.batch, &UInt32Array::from(rows.to_vec()))
            .map_err(ApiError::internal)?
            .project(&self.listed)
            .map_err(ApiError::internal)?;
        let mut out = crate::json::rows(&[b]);
        for (row, &i) in out.iter_mut().zip(rows) {
            let i = i as usize;
            // The gallery's Top Picks (see `calibrate_top_picks`).
            if row.contains_key("is_top_pick") {
                row.insert("is_top_pick".into(), self.top_pick[i].into());
            }
            for c in &self.user_columns {
                let v = match *c {
                    "rating" => serde_json::Value::from(u.rating[i]),
                    "favorite" => serde_json::Value::from(u.favorite[i]),
                    _ => serde_json::Value::from(u.rejected[i]),
                };
                row.insert((*c).to_string(), v);
            }
        }
        Ok(out)
    }
}

/// `yyyymmdd` of a date's first ten bytes (`YYYY-MM-DD`, any separators), 0
/// when they are no date.
fn day_key(b: &[u8]) -> u32 {
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let d = b.get(r)?;
        d.iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    match (num(0..4), num(5..7), num(8..10)) {
        (Some(y), Some(m), Some(d)) if y > 0 && (1..=12).contains(&m) && (1..=31).contains(&d) => {
            y * 10_000 + m * 100 + d
        }
        _ => 0,
    }
}

/// Web-Mercator x, y in [0, 1) (NaN when either is missing or out of range;
/// latitudes clamped to the projection's ±85.0511°).
pub(crate) fn mercator(lat: f64, lon: f64) -> [f32; 2] {
    // NaN and infinities are outside both ranges.
    if !((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)) {
        return [f32::NAN; 2];
    }
    let lat = lat.clamp(-85.051_128, 85.051_128).to_radians();
    let x = (lon + 180.0) / 360.0;
    let y = (1.0 - lat.tan().asinh() / std::f64::consts::PI) / 2.0;
    [x.clamp(0.0, 1.0) as f32, y.clamp(0.0, 1.0) as f32]
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
    use facet_store::Store;

    use super::Listing;
    use crate::tests::{batch, ts, write_rows};

    /// A listing answers a request when every table is at least at the
    /// version the request saw; a table not written yet is older than any.
    #[test]
    fn a_listing_covers_the_versions_it_was_built_from_and_earlier_ones() {
        let seen = [Some(4), Some(2), None];
        assert!(super::covers(&seen, &seen));
        assert!(super::covers(&[Some(5), Some(2), Some(1)], &seen));
        assert!(!super::covers(&[Some(3), Some(9), Some(9)], &seen));
        assert!(!super::covers(&[Some(4), None, None], &seen));
    }

    /// A run's writes — a new photo, new and rewritten scores, new group
    /// rows — folded into the previous listing give the listing built
    /// whole; a removed photo makes the extension decline.
    #[tokio::test]
    async fn an_extended_listing_equals_one_built_whole() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("lib");
        let store = Store::open(&dir.path().join("store")).unwrap();
        write_rows(&store, &lib, &dir.path().join("t.jpg")).await;
        let first = Listing::build(&store.snapshot().await.unwrap())
            .await
            .unwrap();
        let p = |n: &str| lib.join(n).to_string_lossy().into_owned();
        store
            .append(
                &facet_schemas::photos(),
                batch(vec![
                    // One after every stored path, one between two.
                    (
                        "path",
                        Arc::new(StringArray::from(vec![p("e.jpg"), p("bb.jpg")])) as ArrayRef,
                    ),
                    ("file_size", Arc::new(Int64Array::from(vec![5, 6]))),
                    ("file_mtime", ts(1, 2)),
                    ("format", Arc::new(StringArray::from(vec!["jpeg", "jpeg"]))),
                ]),
            )
            .await
            .unwrap();
        store
            .upsert(
                &facet_schemas::scores(),
                batch(vec![
                    (
                        "path",
                        Arc::new(StringArray::from(vec![p("a.jpg"), p("e.jpg")])) as ArrayRef,
                    ),
                    (
                        "category",
                        Arc::new(StringArray::from(vec!["night", "portrait"])),
                    ),
                    ("aggregate", Arc::new(Float64Array::from(vec![1.5, 9.0]))),
                    (
                        "is_top_pick",
                        Arc::new(BooleanArray::from(vec![false, true])),
                    ),
                ]),
            )
            .await
            .unwrap();
        store
            .upsert(
                &facet_schemas::photo_groups(),
                batch(vec![
                    (
                        "path",
                        Arc::new(StringArray::from(vec![p("a.jpg"), p("e.jpg")])) as ArrayRef,
                    ),
                    (
                        "burst_group_id",
                        Arc::new(StringArray::from(vec!["b-1", "b-1"])),
                    ),
                    (
                        "is_burst_lead",
                        Arc::new(BooleanArray::from(vec![false, true])),
                    ),
                ]),
            )
            .await
            .unwrap();
        let snap = store.snapshot().await.unwrap();
        let extended = first.extend(&snap).await.unwrap().expect("extended");
        let whole = Listing::build(&snap).await.unwrap();
        assert!(extended.extended && !whole.extended);
        // Built without the view's join, it holds what the join gives.
        let schema = whole.batch.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let joined = snap
            .ctx
            .table("photos")
            .await
            .unwrap()
            .select_columns(&names)
            .unwrap()
            .sort(vec![datafusion::prelude::col("path").sort(true, false)])
            .unwrap()
            .collect()
            .await
            .unwrap();
        let joined = arrow::compute::concat_batches(&joined[0].schema(), &joined).unwrap();
        assert_eq!(joined.num_rows(), whole.len());
        for (i, name) in names.iter().enumerate() {
            assert_eq!(
                joined.column(i).to_data(),
                whole.batch.column(i).to_data(),
                "{name}"
            );
        }
        assert_eq!(extended.batch, whole.batch);
        assert_eq!(extended.burst_ok, whole.burst_ok);
        for (k, v) in &whole.numbers {
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&extended.numbers[k]), bits(v), "{k}");
        }
        assert_eq!(extended.len(), 6);

        store
            .delete_keys(&facet_schemas::photos(), &[p("b.png")])
            .await
            .unwrap();
        let snap = store.snapshot().await.unwrap();
        assert!(extended.extend(&snap).await.unwrap().is_none());
    }

    /// The kept answers and per-key orders give, page by page, what a
    /// selection over the matching rows gives, for every sort key in both
    /// directions with nulls and ties; a user state of another version is
    /// not answered from a kept answer.
    #[tokio::test]
    async fn kept_answers_page_as_a_fresh_selection_does() {
        use crate::query::{Filters, Page, SORTS};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let n = 240;
        let paths: Vec<String> = (0..n)
            .map(|i| format!("/lib/{}/p{:03}.jpg", i % 7, (i * 37) % n))
            .collect();
        // Ties (a tenth of the values) and nulls (every ninth photo).
        let value =
            |i: usize, k: usize| (!i.is_multiple_of(9)).then(|| ((i * k) % 23) as f64 / 2.3);
        let dates: Vec<Option<String>> = (0..n)
            .map(|i: usize| {
                (!i.is_multiple_of(5)).then(|| format!("2020-01-{:02}T10:00:00", 1 + i % 9))
            })
            .collect();
        store
            .append(
                &facet_schemas::photos(),
                batch(vec![
                    (
                        "path",
                        Arc::new(StringArray::from(paths.clone())) as ArrayRef,
                    ),
                    ("file_size", Arc::new(Int64Array::from(vec![5; n]))),
                    ("file_mtime", ts(1, n)),
                    ("format", Arc::new(StringArray::from(vec!["jpeg"; n]))),
                    ("date_taken", Arc::new(StringArray::from(dates))),
                    (
                        "aesthetic",
                        Arc::new(Float64Array::from(
                            (0..n).map(|i| value(i, 3)).collect::<Vec<_>>(),
                        )),
                    ),
                ]),
            )
            .await
            .unwrap();
        store
            .upsert(
                &facet_schemas::scores(),
                batch(vec![
                    (
                        "path",
                        Arc::new(StringArray::from(paths.clone())) as ArrayRef,
                    ),
                    (
                        "category",
                        Arc::new(StringArray::from(
                            (0..n)
                                .map(|i| ["night", "portrait", "default"][i % 3])
                                .collect::<Vec<_>>(),
                        )),
                    ),
                    (
                        "aggregate",
                        Arc::new(Float64Array::from(
                            (0..n).map(|i| value(i, 7)).collect::<Vec<_>>(),
                        )),
                    ),
                ]),
            )
            .await
            .unwrap();
        let snap = store.snapshot().await.unwrap();
        let listing = Listing::build(&snap).await.unwrap();
        listing.prepare_order("aggregate");
        let user = |version: u64, rating: i32| super::UserCols {
            owner: String::new(),
            version: Some(version),
            rating: (0..n)
                .map(|i| if i.is_multiple_of(4) { rating } else { 1 })
                .collect(),
            favorite: vec![false; n],
            rejected: (0..n).map(|i| i.is_multiple_of(11)).collect(),
            visible: None,
        };
        // The definition: nulls last, else the value in the direction, then
        // the path in the direction.
        let expected = |l: &Listing, f: &Filters, sort: &str, asc: bool, u: &super::UserCols| {
            let mut rows = l.matching(f, u);
            let key = |i: u32| -> Option<String> {
                let i = i as usize;
                match sort {
                    "filename" => Some(l.filename(i as u32).to_string()),
                    "rating" => Some(format!("{:010}", u.rating[i])),
                    "date" => l
                        .dates
                        .as_ref()
                        .filter(|d| d.is_valid(i))
                        .map(|d| d.value(i).to_string()),
                    _ => {
                        let v = l.num(crate::query::sort_column(sort).unwrap())[i];
                        // Non-negative: the bits order as the values.
                        (!v.is_nan()).then(|| format!("{:020}", v.to_bits()))
                    }
                }
            };
            rows.sort_by(|&a, &b| {
                let d = |o: std::cmp::Ordering| if asc { o } else { o.reverse() };
                match (key(a), key(b)) {
                    (Some(x), Some(y)) => d(x.cmp(&y)),
                    (x, y) => x.is_none().cmp(&y.is_none()),
                }
                .then_with(|| d(l.path(a).cmp(l.path(b))))
            });
            rows
        };
        let filters = [
            Filters::default(),
            Filters {
                category: Some("night".into()),
                ..Filters::default()
            },
            Filters {
                min_score: Some(3.0),
                hide_rejected: true,
                ..Filters::default()
            },
            Filters {
                rating_min: Some(2),
                ..Filters::default()
            },
        ];
        let u1 = user(1, 5);
        for (sort, _) in SORTS {
            for asc in [true, false] {
                for f in &filters {
                    let want = expected(&listing, f, sort, asc, &u1);
                    let mut got = Vec::new();
                    for page in 1..=(want.len() / 17 + 2) {
                        let p = Page {
                            sort,
                            asc,
                            page,
                            per_page: 17,
                        };
                        let (rows, total) = listing.page(f, &p, &u1);
                        assert_eq!(total, want.len(), "{sort} {asc} {f:?}");
                        got.extend(rows);
                    }
                    assert_eq!(got, want, "{sort} asc={asc} {f:?}");
                }
            }
        }
        // A newer user state (other ratings) is answered anew.
        let u2 = user(2, 1);
        let f = &filters[3];
        let p = Page {
            sort: "aggregate",
            asc: false,
            page: 1,
            per_page: 500,
        };
        assert_eq!(
            listing.page(f, &p, &u2).0,
            expected(&listing, f, "aggregate", false, &u2)
        );
        assert!(listing.page(f, &p, &u2).1 < listing.page(f, &p, &u1).1);
    }
}
