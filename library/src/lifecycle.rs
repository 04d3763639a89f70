//! A library that stays true to the disk: photo identity that survives a
//! move, photos whose file is gone, and `facet prune`.
//!
//! * **Identity.** [`content_hash`]: xxh3-128 of the file's size and its
//!   first and last 64 KiB (the whole file when smaller), stored in
//!   `photos.content_hash` by the run's writer.
//! * **Moves.** Before analysis a run hashes the files it does not know at
//!   their path ([`move_candidates`]) and looks the hashes up among the
//!   stored photos ([`find_moves`]: a filtered scan `content_hash IN (…)`
//!   answered by a BTree index on the column). A stored photo with that
//!   hash whose file no longer exists has moved: [`record_moves`] writes the
//!   moves to the `moves` journal first, then [`apply_pending`] rewrites
//!   every table of [`facet_schemas::path_refs`] — the rows found by their
//!   old paths are merged in under their new keys, then the old keys are
//!   deleted (both idempotent) — and removes the journal rows last. A kill
//!   anywhere leaves the journal, which the next run (or prune) applies
//!   first: nothing is lost, and applying a journal twice equals once.
//! * **Missing.** [`mark_missing`]: after the scan, the stored photos under
//!   the scanned roots that the scan did not find get `missing_since`; the
//!   ones found again lose it.
//! * **Prune.** [`prune`]: the missing photos and every row that hangs off
//!   them, table by table, the `photos` rows last.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, TimestampNanosecondArray};
use arrow::datatypes::{DataType, Field, Schema};
use facet_schemas::{PathRef, Table};
use facet_store::{Filter, Store, filter, scan_where};

use crate::{Result, now_ns};

/// Bytes hashed at each end of a file.
pub const EDGE: u64 = 64 * 1024;

/// The photo's identity: xxh3-128 (32 hex digits) of its size and its first
/// and last [`EDGE`] bytes, the whole file when smaller than two of them.
/// The head of a JPEG, HEIC or RAW file holds its EXIF (capture time to the
/// second, camera serial, exposure) and the start of its compressed data,
/// the tail the end of its entropy-coded data: two different exposures
/// agree on neither, and an edit that changes pixels changes the tail.
pub fn content_hash(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&len.to_le_bytes());
    if len <= 2 * EDGE {
        let mut all = Vec::with_capacity(len as usize);
        f.read_to_end(&mut all)?;
        h.update(&all);
    } else {
        let mut buf = vec![0u8; EDGE as usize];
        f.read_exact(&mut buf)?;
        h.update(&buf);
        f.seek(SeekFrom::End(-(EDGE as i64)))?;
        f.read_exact(&mut buf)?;
        h.update(&buf);
    }
    Ok(format!("{:032x}", h.digest128()))
}

/// A photo found at a new path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub old: String,
    pub new: String,
}

/// The photo files of `files` (what the pipeline's own source found: its
/// settings for hidden folders, links and RAW files apply) that `known`
/// does not hold, with their content hash: what may be a moved photo.
pub fn move_candidates(
    files: impl IntoIterator<Item = std::path::PathBuf>,
    known: impl Fn(&str) -> bool,
) -> Vec<(String, String)> {
    files
        .into_iter()
        .filter_map(|file| {
            let path = file.to_string_lossy().into_owned();
            if known(&path) {
                return None;
            }
            content_hash(&file).ok().map(|h| (path, h))
        })
        .collect()
}

/// The moves among `candidates` (new path, content hash): a stored photo
/// with that hash whose file is gone. A photo whose file still exists is a
/// copy, not a move (two photos); each stored photo moves at most once.
pub async fn find_moves(store: &Store, candidates: &[(String, String)]) -> Result<Vec<Move>> {
    moves_among(store, candidates, true).await
}

/// [`find_moves`] for a reader of a store another process writes (a
/// cluster run's other processes): the `content_hash` index is used as it
/// is, never brought up to date here (that is a commit, which would
/// conflict with the writer's).
pub async fn find_moves_reading(
    store: &Store,
    candidates: &[(String, String)],
) -> Result<Vec<Move>> {
    moves_among(store, candidates, false).await
}

async fn moves_among(
    store: &Store,
    candidates: &[(String, String)],
    index: bool,
) -> Result<Vec<Move>> {
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let Some(ds) = store.dataset("photos").await? else {
        return Ok(Vec::new());
    };
    if ds.schema().field("content_hash").is_none() {
        return Ok(Vec::new());
    }
    let ds = if index {
        store.index_scalar("photos", "content_hash").await?;
        store.dataset("photos").await?.expect("just read")
    } else {
        ds
    };
    let mut by_hash: HashMap<String, Vec<String>> = HashMap::new();
    let hashes: Vec<&str> = {
        let mut h: Vec<&str> = candidates.iter().map(|(_, h)| h.as_str()).collect();
        h.sort_unstable();
        h.dedup();
        h
    };
    for chunk in hashes.chunks(500) {
        let mut scan = scan_where(
            &ds,
            &["path", "content_hash"],
            filter::one_of("content_hash", chunk.iter().copied()),
        )
        .await?;
        while let Some(b) = scan.next().await? {
            let (p, h) = (strings(&b, "path")?, strings(&b, "content_hash")?);
            for i in 0..b.num_rows() {
                if p.is_valid(i) && h.is_valid(i) {
                    by_hash
                        .entry(h.value(i).to_string())
                        .or_default()
                        .push(p.value(i).to_string());
                }
            }
        }
    }
    let mut claimed = HashSet::new();
    let mut moves = Vec::new();
    for (new, h) in candidates {
        let Some(olds) = by_hash.get_mut(h) else {
            continue;
        };
        olds.sort();
        if let Some(old) = olds
            .iter()
            .find(|o| *o != new && !claimed.contains(*o) && !Path::new(o).exists())
        {
            claimed.insert(old.clone());
            moves.push(Move {
                old: old.clone(),
                new: new.clone(),
            });
        }
    }
    Ok(moves)
}

/// Journals `moves` (one commit) and applies them ([`apply_pending`]).
pub async fn record_moves(store: &Store, moves: &[Move]) -> Result<usize> {
    if moves.is_empty() {
        return Ok(0);
    }
    let t = facet_schemas::moves();
    let now = now_ns();
    let batch = RecordBatch::try_new(
        t.schema(),
        vec![
            Arc::new(StringArray::from_iter_values(
                moves.iter().map(|m| m.old.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                moves.iter().map(|m| m.new.as_str()),
            )),
            Arc::new(
                TimestampNanosecondArray::from_iter_values(moves.iter().map(|_| now))
                    .with_timezone("UTC"),
            ),
        ],
    )?;
    store.upsert(&t, batch).await?;
    crate::failpoint::point!("lifecycle::moves_journaled");
    apply_pending(store).await
}

/// Applies the journaled moves to every table and clears the journal;
/// returns how many were applied. Idempotent: run at the start of every
/// run and prune, it finishes what a killed one began.
pub async fn apply_pending(store: &Store) -> Result<usize> {
    let t = facet_schemas::moves();
    let Some(ds) = store.dataset(t.name).await? else {
        return Ok(0);
    };
    let mut scan = facet_store::scan(&ds, &["old_path", "new_path"], None).await?;
    let mut map: Vec<(String, String)> = Vec::new();
    while let Some(b) = scan.next().await? {
        let (o, n) = (strings(&b, "old_path")?, strings(&b, "new_path")?);
        for i in 0..b.num_rows() {
            map.push((o.value(i).to_string(), n.value(i).to_string()));
        }
    }
    if map.is_empty() {
        return Ok(0);
    }
    for chunk in map.chunks(200) {
        let moves: HashMap<String, String> = chunk.iter().cloned().collect();
        for (table, refs) in facet_schemas::path_refs() {
            rename_in(store, &table, &refs, &moves).await?;
            crate::failpoint::point!("lifecycle::table_moved");
        }
    }
    let olds: Vec<String> = map.iter().map(|(o, _)| o.clone()).collect();
    store.delete_keys(&t, &olds).await?;
    Ok(map.len())
}

/// The predicate matching the rows of a table with `refs` (those of its
/// `columns`) that refer to one of `paths`. `keys_only`: only the columns
/// whose rows belong to the photo (its path, or a key made from it), not
/// mere references (`persons.representative_face`).
fn match_filter(
    table: &Table,
    refs: &[PathRef],
    columns: &[String],
    paths: &[&str],
    keys_only: bool,
) -> Option<Filter> {
    let mut parts = Vec::new();
    for r in refs {
        if !columns.iter().any(|c| c == r.column()) {
            continue;
        }
        match *r {
            PathRef::Path(c) => parts.push(filter::one_of(c, paths.iter().copied())),
            PathRef::Prefix(c, sep) if !keys_only || c == table.key => {
                parts.extend(paths.iter().map(|p| filter::prefixed(c, p, sep)));
            }
            _ => {}
        }
    }
    filter::any(parts)
}

/// Rewrites the rows of `table` that refer to the old paths of `moves`.
async fn rename_in(
    store: &Store,
    table: &Table,
    refs: &[PathRef],
    moves: &HashMap<String, String>,
) -> Result<usize> {
    let Some(ds) = store.dataset(table.name).await? else {
        return Ok(0);
    };
    let columns: Vec<String> = ds.schema().fields.iter().map(|f| f.name.clone()).collect();
    let olds: Vec<&str> = moves.keys().map(String::as_str).collect();
    let Some(filter) = match_filter(table, refs, &columns, &olds, false) else {
        return Ok(0);
    };
    let cols: Vec<&str> = columns.iter().map(String::as_str).collect();
    let mut scan = scan_where(&ds, &cols, filter).await?;
    let mut batches = Vec::new();
    while let Some(b) = scan.next().await? {
        batches.push(b);
    }
    let batch = arrow::compute::concat_batches(&scan.schema, &batches)?;
    if batch.num_rows() == 0 {
        return Ok(0);
    }
    let (batch, old_keys) = rewrite(table, refs, batch, moves)?;
    let effective = table.clone().with_extra(
        batch
            .schema()
            .fields()
            .iter()
            .map(|f| facet_schemas::Column::extra(f, "written by an earlier pipeline")),
    );
    let new_keys = batch
        .column_by_name(table.key)
        .map(|c| arrow::compute::cast(c, &DataType::Utf8))
        .transpose()?;
    let stale: Vec<String> = match &new_keys {
        Some(k) => {
            let k = k
                .as_any()
                .downcast_ref::<StringArray>()
                .expect("cast to utf8");
            old_keys
                .iter()
                .enumerate()
                .filter_map(|(i, o)| o.clone().filter(|o| !k.is_valid(i) || k.value(i) != o))
                .collect()
        }
        None => Vec::new(),
    };
    let n = batch.num_rows();
    // New keys in first, old ones out after: a kill between leaves both,
    // and the next application merges the same rows again.
    store.upsert(&effective, batch).await?;
    store.delete_keys(&effective, &stale).await?;
    Ok(n)
}

/// `batch` with its path columns moved; and its old key values (as text).
fn rewrite(
    table: &Table,
    refs: &[PathRef],
    batch: RecordBatch,
    moves: &HashMap<String, String>,
) -> Result<(RecordBatch, Vec<Option<String>>)> {
    let old_keys: Vec<Option<String>> = match batch.column_by_name(table.key) {
        Some(c) => {
            let c = arrow::compute::cast(c, &DataType::Utf8)?;
            let c = c
                .as_any()
                .downcast_ref::<StringArray>()
                .expect("utf8")
                .clone();
            c.iter().map(|v| v.map(str::to_string)).collect()
        }
        None => vec![None; batch.num_rows()],
    };
    let schema = batch.schema();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    let idx = |name: &str| schema.index_of(name).ok();
    let get = |columns: &Vec<ArrayRef>, i: usize| -> StringArray {
        columns[i]
            .as_any()
            .downcast_ref::<StringArray>()
            .cloned()
            .unwrap_or_else(|| StringArray::new_null(columns[i].len()))
    };
    let mut changed = vec![false; batch.num_rows()];
    // Paths and prefixes first, then the keys rebuilt from them.
    for r in refs {
        let Some(i) = idx(r.column()) else { continue };
        let col = get(&columns, i);
        let new: StringArray = match *r {
            PathRef::Path(_) => col
                .iter()
                .enumerate()
                .map(|(row, v)| {
                    v.map(|v| match moves.get(v) {
                        Some(n) => {
                            changed[row] = true;
                            n.clone()
                        }
                        None => v.to_string(),
                    })
                })
                .collect(),
            PathRef::Prefix(_, sep) => col
                .iter()
                .map(|v| {
                    v.map(|v| match v.rfind(sep) {
                        Some(at) => match moves.get(&v[..at]) {
                            Some(n) => format!("{n}{}", &v[at..]),
                            None => v.to_string(),
                        },
                        None => v.to_string(),
                    })
                })
                .collect(),
            PathRef::Rebuilt { .. } => continue,
        };
        columns[i] = Arc::new(new);
    }
    for r in refs {
        let PathRef::Rebuilt { column, kept, from } = *r else {
            continue;
        };
        let Some(i) = idx(column) else { continue };
        let col = get(&columns, i);
        let parts: Vec<StringArray> = from
            .iter()
            .filter_map(|f| idx(f))
            .map(|j| get(&columns, j))
            .collect();
        let new: StringArray = col
            .iter()
            .enumerate()
            .map(|(row, v)| {
                v.map(|v| {
                    if !changed[row] {
                        return v.to_string();
                    }
                    let mut out: Vec<&str> = v.splitn(kept + 1, ':').take(kept).collect();
                    for p in &parts {
                        out.push(if p.is_valid(row) { p.value(row) } else { "" });
                    }
                    out.join(":")
                })
            })
            .collect();
        columns[i] = Arc::new(new);
    }
    Ok((RecordBatch::try_new(schema, columns)?, old_keys))
}

fn strings(b: &RecordBatch, name: &str) -> Result<StringArray> {
    let c = b
        .column_by_name(name)
        .ok_or_else(|| crate::Error::Internal(format!("no column {name}")))?;
    let c = arrow::compute::cast(c, &DataType::Utf8)?;
    Ok(c.as_any()
        .downcast_ref::<StringArray>()
        .expect("utf8")
        .clone())
}

/// What [`mark_missing`] changed.
#[derive(Debug, Default)]
pub struct Missing {
    /// Photos found gone this time.
    pub marked: Vec<String>,
    /// Photos found again.
    pub cleared: Vec<String>,
}

/// Sets `missing_since` on the stored photos under `roots` that the scan
/// did not `found` (except those under `unsure`: folders the scan could not
/// read), and clears it on those it found again.
pub async fn mark_missing(
    store: &Store,
    roots: &[String],
    found: &HashSet<String>,
    unsure: &[String],
) -> Result<Missing> {
    let mut out = Missing::default();
    let Some(ds) = store.dataset("photos").await? else {
        return Ok(out);
    };
    if roots.is_empty() {
        return Ok(out);
    }
    let has_col = ds.schema().field("missing_since").is_some();
    let mut scan = scan_where(&ds, &["path", "missing_since"], filter::paths_under(roots)).await?;
    while let Some(b) = scan.next().await? {
        let paths = strings(&b, "path")?;
        let since = b.column_by_name("missing_since");
        for i in 0..b.num_rows() {
            let p = paths.value(i);
            let is_missing = has_col && since.is_some_and(|c| c.is_valid(i));
            let unsure_here = unsure
                .iter()
                .any(|u| p == u || p.starts_with(&format!("{}/", u.trim_end_matches('/'))));
            if found.contains(p) {
                if is_missing {
                    out.cleared.push(p.to_string());
                }
            } else if !is_missing && !unsure_here {
                out.marked.push(p.to_string());
            }
        }
    }
    let now = now_ns();
    for (paths, value) in [(&out.marked, Some(now)), (&out.cleared, None)] {
        if paths.is_empty() {
            continue;
        }
        let field = facet_schemas::photos()
            .column("missing_since")
            .expect("declared")
            .field();
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("path", DataType::Utf8, false),
                field,
            ])),
            vec![
                Arc::new(StringArray::from_iter_values(paths.iter())),
                Arc::new(
                    TimestampNanosecondArray::from(vec![value; paths.len()]).with_timezone("UTC"),
                ),
            ],
        )?;
        store
            .update_columns(&facet_schemas::photos(), batch)
            .await?;
    }
    Ok(out)
}

/// Sets the file identity (`file_size`, `file_mtime`) of moved photos to
/// their new file's, so that the next run finds them unchanged.
pub async fn refresh_identity(store: &Store, moves: &[Move]) -> Result<()> {
    let mut paths = Vec::new();
    let mut sizes = Vec::new();
    let mut mtimes = Vec::new();
    for m in moves {
        let Ok(md) = std::fs::metadata(&m.new) else {
            continue;
        };
        let mtime = md
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i64);
        paths.push(m.new.clone());
        sizes.push(md.len() as i64);
        mtimes.push(mtime);
    }
    if paths.is_empty() {
        return Ok(());
    }
    let t = facet_schemas::photos();
    let fields: Vec<Field> = ["path", "file_size", "file_mtime"]
        .iter()
        .map(|c| t.column(c).expect("declared").field())
        .collect();
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        vec![
            Arc::new(StringArray::from(paths)),
            Arc::new(arrow::array::Int64Array::from(sizes)),
            Arc::new(TimestampNanosecondArray::from(mtimes).with_timezone("UTC")),
        ],
    )?;
    store.update_columns(&t, batch).await?;
    Ok(())
}

/// What [`prune`] removed (or, in a dry run, would remove).
#[derive(Debug, Default)]
pub struct Pruned {
    /// The missing photos.
    pub photos: Vec<String>,
    /// Rows per table.
    pub rows: Vec<(&'static str, usize)>,
}

/// Removes the photos marked missing and every row that hangs off them
/// (their faces and face assignments, scores, group rows, failures, user
/// state, preferences, album entries, comparisons, group decisions), the
/// `photos` rows last so that a killed prune is finished by the next one.
/// `dry_run`: counts only.
pub async fn prune(store: &Store, dry_run: bool) -> Result<Pruned> {
    let mut out = Pruned::default();
    if !dry_run {
        apply_pending(store).await?;
    }
    let Some(ds) = store.dataset("photos").await? else {
        return Ok(out);
    };
    if ds.schema().field("missing_since").is_none() {
        return Ok(out);
    }
    let mut scan = scan_where(&ds, &["path"], filter::not_null("missing_since")).await?;
    while let Some(b) = scan.next().await? {
        let p = strings(&b, "path")?;
        out.photos.extend(p.iter().flatten().map(str::to_string));
    }
    out.photos.sort();
    let mut counts: HashMap<&'static str, usize> = HashMap::new();
    for (table, refs) in facet_schemas::path_refs() {
        counts.insert(table.name, 0);
        for chunk in out.photos.chunks(200) {
            let Some(ds) = store.dataset(table.name).await? else {
                break;
            };
            let columns: Vec<String> = ds.schema().fields.iter().map(|f| f.name.clone()).collect();
            let paths: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let Some(filter) = match_filter(&table, &refs, &columns, &paths, true) else {
                break;
            };
            let n = facet_store::count_where(&ds, filter.clone()).await?;
            *counts.get_mut(table.name).expect("inserted") += n;
            if !dry_run && n > 0 {
                store.delete_where(&table, filter).await?;
            }
        }
    }
    out.rows = facet_schemas::path_refs()
        .iter()
        .map(|(t, _)| (t.name, counts.get(t.name).copied().unwrap_or(0)))
        .collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int32Array, Int64Array};

    fn photos_rows(paths: &[&str], hashes: &[&str]) -> RecordBatch {
        let t = facet_schemas::photos();
        let fields: Vec<Field> = ["path", "file_size", "file_mtime", "content_hash"]
            .iter()
            .map(|c| t.column(c).unwrap().field())
            .collect();
        RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            vec![
                Arc::new(StringArray::from_iter_values(paths.iter())),
                Arc::new(Int64Array::from(vec![1; paths.len()])),
                Arc::new(TimestampNanosecondArray::from(vec![1; paths.len()]).with_timezone("UTC")),
                Arc::new(StringArray::from_iter_values(hashes.iter())),
            ],
        )
        .unwrap()
    }

    fn batch(t: &Table, columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        let fields: Vec<Field> = columns
            .iter()
            .map(|(c, _)| t.column(c).unwrap().field())
            .collect();
        RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns.into_iter().map(|(_, a)| a).collect(),
        )
        .unwrap()
    }

    /// Every table of `path_refs` as sorted `key|path columns` lines.
    async fn dump(store: &Store) -> Vec<String> {
        let mut out = Vec::new();
        for (t, refs) in facet_schemas::path_refs() {
            let Some(ds) = store.dataset(t.name).await.unwrap() else {
                continue;
            };
            let mut cols: Vec<&str> = vec![t.key];
            cols.extend(refs.iter().map(PathRef::column).filter(|c| *c != t.key));
            let mut scan = facet_store::scan(&ds, &cols, None).await.unwrap();
            while let Some(b) = scan.next().await.unwrap() {
                let arrays: Vec<StringArray> = cols
                    .iter()
                    .map(|c| match b.column_by_name(c) {
                        Some(_) => strings(&b, c).unwrap(),
                        None => StringArray::new_null(b.num_rows()),
                    })
                    .collect();
                for i in 0..b.num_rows() {
                    let line: Vec<String> = arrays
                        .iter()
                        .map(|a| {
                            if a.is_valid(i) {
                                a.value(i).to_string()
                            } else {
                                String::new()
                            }
                        })
                        .collect();
                    out.push(format!("{}: {}", t.name, line.join("|")));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn a_journaled_move_applied_twice_equals_once() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let here = dir.path().join("b.jpg");
        std::fs::write(&here, b"x").unwrap();
        let other = here.to_str().unwrap();
        let (old, new) = ("/gone/a.jpg", "/moved/a2.jpg");
        rt.block_on(async {
            store
                .append(
                    &facet_schemas::photos(),
                    photos_rows(&[old, other], &["h1", "h2"]),
                )
                .await
                .unwrap();
            let us = facet_schemas::user_state();
            store
                .append(
                    &us,
                    batch(
                        &us,
                        vec![
                            ("path", Arc::new(StringArray::from(vec![old, other]))),
                            ("rating", Arc::new(Int32Array::from(vec![4, 2]))),
                        ],
                    ),
                )
                .await
                .unwrap();
            let f = facet_schemas::faces();
            store
                .append(
                    &f,
                    batch(
                        &f,
                        vec![
                            (
                                "face_id",
                                Arc::new(StringArray::from(vec![
                                    format!("{old}#0"),
                                    format!("{other}#0"),
                                ])),
                            ),
                            ("path", Arc::new(StringArray::from(vec![old, other]))),
                        ],
                    ),
                )
                .await
                .unwrap();
            let fa = facet_schemas::face_assignments();
            store
                .append(
                    &fa,
                    batch(
                        &fa,
                        vec![
                            (
                                "face_id",
                                Arc::new(StringArray::from(vec![format!("{old}#0")])),
                            ),
                            ("person_id", Arc::new(Int64Array::from(vec![7]))),
                        ],
                    ),
                )
                .await
                .unwrap();
            let gd = facet_schemas::group_decisions();
            store
                .append(
                    &gd,
                    batch(
                        &gd,
                        vec![
                            (
                                "decision_key",
                                Arc::new(StringArray::from(vec![format!("duplicate:{old}")])),
                            ),
                            ("kind", Arc::new(StringArray::from(vec!["duplicate"]))),
                            ("path", Arc::new(StringArray::from(vec![old]))),
                        ],
                    ),
                )
                .await
                .unwrap();
            let c = facet_schemas::comparisons();
            store
                .append(
                    &c,
                    batch(
                        &c,
                        vec![
                            (
                                "comparison_id",
                                Arc::new(StringArray::from(vec![format!("5:{other}:{old}")])),
                            ),
                            ("winner", Arc::new(StringArray::from(vec![other]))),
                            ("loser", Arc::new(StringArray::from(vec![old]))),
                        ],
                    ),
                )
                .await
                .unwrap();
            // The move is found by hash: `old` is gone from disk.
            let moves = find_moves(&store, &[(new.to_string(), "h1".to_string())])
                .await
                .unwrap();
            assert_eq!(
                moves,
                vec![Move {
                    old: old.into(),
                    new: new.into()
                }]
            );
            // A hash whose stored file is not gone is a copy, not a move.
            assert!(
                find_moves(&store, &[(new.to_string(), "h2".to_string())])
                    .await
                    .unwrap()
                    .is_empty()
            );

            assert_eq!(record_moves(&store, &moves).await.unwrap(), 1);
            let once = dump(&store).await;
            assert!(once.iter().all(|l| !l.contains(old)), "{once:#?}");
            for want in [
                format!("photos: {new}"),
                format!("user_state: {new}"),
                format!("faces: {new}#0|{new}"),
                format!("face_assignments: {new}#0"),
                format!("group_decisions: duplicate:{new}|{new}"),
                format!("comparisons: 5:{other}:{new}|{other}|{new}"),
            ] {
                assert!(once.contains(&want), "{want} not in {once:#?}");
            }
            // The same journal again (a kill before its rows were removed):
            // nothing changes.
            let t = facet_schemas::moves();
            store
                .upsert(
                    &t,
                    batch(
                        &t,
                        vec![
                            ("old_path", Arc::new(StringArray::from(vec![old]))),
                            ("new_path", Arc::new(StringArray::from(vec![new]))),
                        ],
                    ),
                )
                .await
                .unwrap();
            assert_eq!(apply_pending(&store).await.unwrap(), 1);
            assert_eq!(dump(&store).await, once);
            assert_eq!(apply_pending(&store).await.unwrap(), 0);
            let us = store.dataset("user_state").await.unwrap().unwrap();
            assert_eq!(us.count_rows(None).await.unwrap(), 2);
        });
    }
}
