//! The cost of the *next* run as the library grows: for each size, a library
//! of small generated JPEG files on disk, analysed by the real `facet run`
//! (`pipelines/cpu.yaml`), then:
//!
//! * the full first run: photos/s and peak RSS,
//! * two runs that each add 100 photos in a new folder: wall time, peak RSS
//!   and what the run says it read for the scores,
//! * `facet recompute` after one category's weights changed,
//! * `facet recompute` with nothing changed,
//! * the gallery (`facet serve` on the store, requests over loopback): the
//!   first `/api/photos` after a run that adds 100 photos, how long until
//!   the list shows them, and the p95/p99 of `/api/photos` while that run
//!   commits (a client asking back to back).
//! * live mode: `facet watch` on a new folder of the library while a
//!   gallery serves it; one photo at a time is written in: the time until
//!   `/api/photos` lists it and the watcher's CPU time for it, against a
//!   one-shot `facet run` that adds one photo (wall and CPU time).
//!
//! Each command is a child process; its peak RSS comes from wait4. Printed as
//! one table, with each figure's ratio to the first (smallest) size, all
//! measured back to back in this run.
//!
//!   cargo bench --bench scale -- 10000 100000 1000000   (sizes; default 10000 100000)
//!
//! Sizes from 500,000 on are not analysed from files (a million small JPEGs
//! would take hours to decode here): their store is written directly, the
//! rows of the first size's analysed store repeated under other paths (each
//! copy's pHash changed, so that copies are not duplicates), then scored
//! and grouped by `facet recompute` and `facet detect-duplicates --full`
//! (timed, not part of the table). The add runs scan folders of real files
//! as for the other sizes; their skip check reads the rows under the folder
//! they scan.
//!
//! `FACET_SCALE_DIR=DIR` keeps the libraries and stores in DIR and reuses a
//! library of the same size (its full run is then not measured again).
//! Without `--bench` (as `cargo test --all-targets` runs it) one small size
//! checks that the whole procedure works.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};

/// Sizes from this one on are written into the store, not analysed.
const SYNTHETIC_FROM: u32 = 500_000;

/// Writes a store of `n` photo rows at `to` from the analysed rows of the
/// store at `from` (see the module docs).
fn synthesize(from: &Path, to: &Path, n: u32) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t = Instant::now();
    let src = facet_store::Store::open(from).unwrap();
    let dst = facet_store::Store::open(to).unwrap();
    let ds = rt
        .block_on(src.dataset("photos"))
        .unwrap()
        .expect("an analysed store");
    let names: Vec<String> = ds.schema().fields.iter().map(|f| f.name.clone()).collect();
    let columns: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut rows: Vec<RecordBatch> = Vec::new();
    let mut scan = rt.block_on(facet_store::scan(&ds, &columns, None)).unwrap();
    while let Some(b) = rt.block_on(scan.next()).unwrap() {
        rows.push(b);
    }
    let base: usize = rows.iter().map(RecordBatch::num_rows).sum();
    // The analysed store's columns: the pipeline's stage outputs too.
    let stored = arrow::datatypes::Schema::from(ds.schema());
    let table = facet_schemas::photos().with_extra(
        stored
            .fields()
            .iter()
            .map(|f| facet_schemas::Column::extra(f, "a stage output")),
    );
    let mut written = 0usize;
    let mut copy = 0u64;
    'copies: loop {
        for b in &rows {
            let left = n as usize - written;
            if left == 0 {
                break 'copies;
            }
            let b = b.slice(0, b.num_rows().min(left));
            let paths = b
                .column_by_name("path")
                .unwrap()
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap();
            let path: ArrayRef =
                Arc::new(StringArray::from_iter_values((0..b.num_rows()).map(|i| {
                    let p = paths.value(i);
                    let name = p.rsplit('/').next().unwrap();
                    format!(
                        "/synthetic/{copy:04}/{:04}/{name}",
                        written / 1000 + i / 1000
                    )
                })));
            let phash = b
                .column_by_name("phash")
                .unwrap()
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            let phash: ArrayRef = Arc::new(Int64Array::from_iter((0..b.num_rows()).map(|i| {
                (!phash.is_null(i)).then(|| {
                    let mut x =
                        (copy << 32 | (written + i) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    x ^= x >> 29;
                    phash.value(i) ^ x as i64
                })
            })));
            let mut cols: Vec<ArrayRef> = b.columns().to_vec();
            let schema = b.schema();
            cols[schema.index_of("path").unwrap()] = path;
            cols[schema.index_of("phash").unwrap()] = phash;
            let batch = RecordBatch::try_new(schema, cols).unwrap();
            written += batch.num_rows();
            rt.block_on(dst.append(&table, batch)).unwrap();
        }
        copy += 1;
    }
    eprintln!(
        "{n}: store written from {base} analysed rows in {:.1}s",
        t.elapsed().as_secs_f64()
    );
}

/// A small photo whose content (and so pHash) differs by seed; every 7th
/// is greyscale and every 11th dark, so that the library has `monochrome`
/// and `night` photos besides `default` ones (a weight edit of one category
/// then touches a part of it, as in a real library).
fn photo(seed: u32) -> Vec<u8> {
    let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(12_345);
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        s
    };
    let cells: Vec<[u8; 3]> = (0..64)
        .map(|_| {
            let v = next();
            [v as u8, (v >> 8) as u8, (v >> 16) as u8]
        })
        .collect();
    let (grey, dark) = (seed % 7 == 3, seed % 11 == 5);
    let img = image::RgbImage::from_fn(96, 72, |x, y| {
        let c = cells[((y / 9) * 8 + x / 12) as usize % 64];
        let t = ((x * 7 + y * 3 + seed) % 32) as u8;
        let mut px = [c[0].wrapping_add(t), c[1], c[2].wrapping_sub(t)];
        if grey {
            let l = ((px[0] as u32 * 3 + px[1] as u32 * 6 + px[2] as u32) / 10) as u8;
            px = [l; 3];
        }
        if dark {
            px = px.map(|v| v / 10);
        }
        image::Rgb(px)
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// `n` photos from `first` in folders of 1,000 under `dir`.
fn library(dir: &Path, first: u32, n: u32) {
    for i in first..first + n {
        let sub = dir.join(format!("{:04}", i / 1000));
        if i % 1000 == 0 || i == first {
            std::fs::create_dir_all(&sub).unwrap();
        }
        std::fs::write(sub.join(format!("p{i:07}.jpg")), photo(i)).unwrap();
    }
}

struct Ran {
    seconds: f64,
    /// User + system CPU time.
    cpu: f64,
    peak_rss_mib: f64,
    stdout: String,
}

/// Runs `facet ARGS` and measures it.
fn facet(args: &[&str], cwd: &Path) -> Ran {
    let start = Instant::now();
    // Reaped by wait4 below, which also reports the child's peak RSS.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_facet"))
        .current_dir(cwd)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: rusage is plain data, zero is a valid value; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut text).unwrap();
    // SAFETY: pid is our child and has not been waited for.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid);
    assert_eq!(status, 0, "facet {args:?} failed:\n{text}");
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    Ran {
        seconds: start.elapsed().as_secs_f64(),
        cpu: secs(usage.ru_utime) + secs(usage.ru_stime),
        peak_rss_mib: usage.ru_maxrss as f64 / 1024.0,
        stdout: text,
    }
}

/// The category whose weights the recompute measurement edits.
const EDITED: &str = "night";

/// The reference's categories with [`EDITED`]'s largest weight moved by 10 points.
fn edited_config(root: &Path, to: &Path) {
    let mut cats: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("config/default_categories.json")).unwrap(),
    )
    .unwrap();
    for c in cats.as_array_mut().unwrap() {
        if c["name"] == EDITED {
            let w = c["weights"].as_object_mut().unwrap();
            let big = w
                .iter()
                .max_by(|a, b| a.1.as_f64().unwrap().total_cmp(&b.1.as_f64().unwrap()))
                .map(|(k, _)| k.clone())
                .unwrap();
            let other = if big == "exposure_percent" {
                "contrast_percent"
            } else {
                "exposure_percent"
            };
            let b = w[&big].as_f64().unwrap();
            w.insert(big.clone(), serde_json::json!(b - 10.0));
            let o = w.get(other).and_then(|v| v.as_f64()).unwrap_or(0.0);
            w.insert(other.to_string(), serde_json::json!(o + 10.0));
        }
    }
    std::fs::write(
        to,
        serde_json::to_string_pretty(&serde_json::json!({ "categories": cats })).unwrap(),
    )
    .unwrap();
}

/// One `GET` over a fresh connection: the status line's code and the body.
fn get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    let code = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// `total` of a `/api/photos` answer.
fn total(body: &str) -> Option<u64> {
    serde_json::from_str::<serde_json::Value>(body).ok()?["total"].as_u64()
}

#[derive(Default, Clone)]
struct Gallery {
    /// The first list once the server is up (builds the listing).
    cold: f64,
    /// During an add run: p50, p95, p99 (seconds) and requests.
    during: (f64, f64, f64, usize),
    /// The first list after the run, and until the list shows its photos.
    first_after: f64,
    fresh_after: f64,
    serve_rss: f64,
}

const LIST: &str = "/api/photos?sort=aggregate&dir=desc&page=1";

/// Starts `facet serve` on `store`, adds the photos of `folder` with a run
/// while a client lists back to back, then measures the first list after it.
/// `facet serve` on `store`: the child, its address and its stdout (kept
/// open until the server is stopped: it may print more).
fn serve(
    dir: &Path,
    store: &Path,
) -> (
    std::process::Child,
    String,
    std::io::BufReader<std::process::ChildStdout>,
) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_facet"))
        .current_dir(dir)
        .args([
            "serve",
            "--store",
            store.to_str().unwrap(),
            "--bind",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .expect("the address line")
        .to_string();
    (child, addr, out)
}

fn gallery(dir: &Path, store: &Path, pipeline: &str, folder: &Path) -> Gallery {
    let (mut child, addr, out) = serve(dir, store);
    let mut g = Gallery::default();
    let t = Instant::now();
    let (code, body) = get(&addr, LIST);
    assert_eq!(code, 200, "{body}");
    g.cold = t.elapsed().as_secs_f64();
    let before = total(&body).expect("a total");
    // The run, with a client listing back to back.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let client = {
        let (stop, addr) = (stop.clone(), addr.clone());
        std::thread::spawn(move || {
            let mut times = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let t = Instant::now();
                let (code, _) = get(&addr, LIST);
                assert_eq!(code, 200);
                times.push(t.elapsed().as_secs_f64());
            }
            times
        })
    };
    facet(
        &[
            "run",
            pipeline,
            folder.to_str().unwrap(),
            "--quiet",
            "--store",
            store.to_str().unwrap(),
        ],
        dir,
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut times = client.join().unwrap();
    times.sort_by(f64::total_cmp);
    let q = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    g.during = (q(0.5), q(0.95), q(0.99), times.len());
    let t = Instant::now();
    let (_, body) = get(&addr, LIST);
    g.first_after = t.elapsed().as_secs_f64();
    let mut seen = total(&body).unwrap_or(0);
    while seen <= before && t.elapsed().as_secs() < 600 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        seen = total(&get(&addr, LIST).1).unwrap_or(0);
    }
    g.fresh_after = t.elapsed().as_secs_f64();
    if let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", child.id())) {
        g.serve_rss = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0);
    }
    let _ = child.kill();
    let _ = child.wait();
    drop(out);
    g
}

/// Live mode against one-shot runs, one new photo at a time (medians of
/// [`LIVE_PHOTOS`]).
#[derive(Default, Clone)]
struct Live {
    /// `facet run` over a folder holding one new photo: wall and CPU seconds.
    oneshot: (f64, f64),
    /// `facet watch`: from the file's appearance to its row in `/api/photos`.
    latency: f64,
    /// The watcher's CPU seconds for the photo (analysis included).
    cpu: f64,
}

const LIVE_PHOTOS: u32 = 3;

/// CPU seconds (user + system) process `pid` has used.
fn cpu_of(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command name's closing parenthesis: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // SAFETY: sysconf has no preconditions.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let v = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (v(11) + v(12)) / tick
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One-shot runs that each add one photo, then `facet watch` on a folder
/// that one photo at a time is written into (see [`Live`]).
fn live(dir: &Path, store: &Path, pipeline: &str, first_seed: u32) -> Live {
    use std::io::BufRead;
    let store_s = store.to_str().unwrap();
    let mut once = (Vec::new(), Vec::new());
    for i in 0..LIVE_PHOTOS {
        let folder = dir.join(format!("one-{first_seed}-{i}"));
        library(&folder, first_seed + i, 1);
        let r = facet(
            &[
                "run",
                pipeline,
                folder.to_str().unwrap(),
                "--quiet",
                "--store",
                store_s,
            ],
            dir,
        );
        once.0.push(r.seconds);
        once.1.push(r.cpu);
    }
    let folder = dir.join(format!("live-{first_seed}"));
    std::fs::create_dir_all(&folder).unwrap();
    let mut watcher = Command::new(env!("CARGO_BIN_EXE_facet"))
        .current_dir(dir)
        .args([
            "watch",
            pipeline,
            folder.to_str().unwrap(),
            "--quiet",
            "--settle-ms",
            "200",
            "--store",
            store_s,
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let out = watcher.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let wait_line = |prefix: &str| loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(600))
            .expect("facet watch goes on printing");
        if line.starts_with(prefix) {
            return line;
        }
    };
    wait_line("watching ");
    let (mut server, addr, server_out) = serve(dir, store);
    let mut seen = total(&get(&addr, LIST).1).expect("a total");
    let (mut latency, mut cpu) = (Vec::new(), Vec::new());
    for i in 0..LIVE_PHOTOS {
        let before = cpu_of(watcher.id());
        // Written under a hidden name, then renamed: it appears whole.
        let staging = folder.join(format!(".p{i}.part"));
        std::fs::write(&staging, photo(first_seed + LIVE_PHOTOS + i)).unwrap();
        let t = Instant::now();
        std::fs::rename(&staging, folder.join(format!("p{i}.jpg"))).unwrap();
        loop {
            let n = total(&get(&addr, LIST).1).unwrap_or(0);
            if n > seen {
                seen = n;
                break;
            }
            assert!(t.elapsed().as_secs() < 600, "the new photo never showed");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        latency.push(t.elapsed().as_secs_f64());
        let line = wait_line("watch: ");
        cpu.push(cpu_of(watcher.id()) - before);
        eprintln!("live: {line}");
    }
    let _ = watcher.kill();
    let _ = watcher.wait();
    let _ = server.kill();
    let _ = server.wait();
    drop(server_out);
    Live {
        oneshot: (median(once.0), median(once.1)),
        latency: median(latency),
        cpu: median(cpu),
    }
}

#[derive(Default, Clone)]
struct Row {
    size: u32,
    full_photos_per_s: Option<f64>,
    full_rss: Option<f64>,
    add: Vec<(f64, f64, String)>,
    recompute_weight: (f64, f64),
    recompute_none: (f64, f64),
    gallery: Gallery,
    live: Live,
}

fn scores_line(stdout: &str) -> String {
    let scores = stdout
        .lines()
        .find(|l| l.contains("photos scored"))
        .map(|l| l.split(" in ").next().unwrap_or(l).to_string())
        .unwrap_or_default();
    let groups = stdout
        .lines()
        .find(|l| l.starts_with("groups: "))
        .unwrap_or_default();
    format!("{scores}; {groups}")
}

fn measure(base: &Path, size: u32, add: u32, synthetic_from: Option<&Path>) -> Row {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let pipeline = root.join("pipelines/cpu.yaml");
    let pipeline = pipeline.to_str().unwrap();
    let dir = base.join(format!("n{size}"));
    let lib = dir.join("library");
    let store = dir.join("store");
    let marker = dir.join("complete");
    let mut row = Row {
        size,
        ..Default::default()
    };
    if !marker.exists() && size >= SYNTHETIC_FROM {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        synthesize(synthetic_from.expect("a smaller size first"), &store, size);
        for args in [
            vec!["recompute", "--store", store.to_str().unwrap()],
            vec![
                "detect-duplicates",
                "--full",
                "--store",
                store.to_str().unwrap(),
            ],
        ] {
            let r = facet(&args, &dir);
            eprintln!(
                "{size}: {} in {:.1}s, peak RSS {:.0} MiB",
                args[0], r.seconds, r.peak_rss_mib
            );
        }
        std::fs::write(&marker, "").unwrap();
    }
    if !marker.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        let t = Instant::now();
        library(&lib, 0, size);
        eprintln!(
            "{size}: library written in {:.1}s",
            t.elapsed().as_secs_f64()
        );
        let r = facet(
            &[
                "run",
                pipeline,
                lib.to_str().unwrap(),
                "--quiet",
                "--store",
                store.to_str().unwrap(),
            ],
            &dir,
        );
        row.full_photos_per_s = Some(size as f64 / r.seconds);
        row.full_rss = Some(r.peak_rss_mib);
        std::fs::write(&marker, "").unwrap();
    }
    // Each measurement adds photos (paths and content) no earlier one added.
    let counter = dir.join("adds");
    let done: u32 = std::fs::read_to_string(&counter)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    for k in done..done + 2 {
        std::fs::write(&counter, (k + 1).to_string()).unwrap();
        let folder = dir.join(format!("add-{k}"));
        library(&folder, size + k * add, add);
        let r = facet(
            &[
                "run",
                pipeline,
                folder.to_str().unwrap(),
                "--quiet",
                "--store",
                store.to_str().unwrap(),
            ],
            &dir,
        );
        row.add
            .push((r.seconds, r.peak_rss_mib, scores_line(&r.stdout)));
    }
    // The gallery while a third add run commits.
    let k = done + 2;
    std::fs::write(&counter, (k + 1).to_string()).unwrap();
    let folder = dir.join(format!("add-{k}"));
    library(&folder, size + k * add, add);
    row.gallery = gallery(&dir, &store, pipeline, &folder);
    // Live mode, after a fourth add's worth of seeds.
    row.live = live(&dir, &store, pipeline, size + (k + 1) * add);
    std::fs::write(&counter, (k + 2).to_string()).unwrap();
    let cfg = dir.join("edited.json");
    edited_config(&root, &cfg);
    // After the edit, then again with nothing changed.
    for (what, slot) in [
        ("after a weight edit", &mut row.recompute_weight),
        ("nothing changed", &mut row.recompute_none),
    ] {
        let r = facet(
            &[
                "--config",
                cfg.to_str().unwrap(),
                "recompute",
                "--store",
                store.to_str().unwrap(),
            ],
            &dir,
        );
        *slot = (r.seconds, r.peak_rss_mib);
        eprintln!("{size}: {what}: {}", r.stdout.trim());
    }
    row
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let mut sizes: Vec<u32> = std::env::args()
        .skip(1)
        .filter_map(|a| a.replace('_', "").parse().ok())
        .collect();
    if sizes.is_empty() {
        sizes = if bench {
            vec![10_000, 100_000]
        } else {
            vec![300]
        };
    }
    let add = if bench { 100 } else { 10 };
    let tmp;
    let base = match std::env::var_os("FACET_SCALE_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            tmp = tempfile::tempdir().unwrap();
            tmp.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&base).unwrap();
    let first_store = base.join(format!("n{}", sizes[0])).join("store");
    let rows: Vec<Row> = sizes
        .iter()
        .map(|&n| {
            measure(
                &base,
                n,
                add,
                (n != sizes[0]).then_some(first_store.as_path()),
            )
        })
        .collect();
    let first = rows[0].clone();
    let ratio = |a: f64, b: f64| format!("{:.2}×", a / b);
    println!(
        "\n| photos | full run photos/s | full run peak RSS | add {add} (1st, 2nd) | add peak RSS | recompute after a weight edit | recompute, nothing new |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.2} s, {:.2} s ({}) | {:.0} MiB ({}) | {:.2} s ({}), {:.0} MiB | {:.2} s ({}) |",
            r.size,
            r.full_photos_per_s
                .map_or("reused".into(), |v| format!("{v:.0}")),
            r.full_rss
                .map_or("reused".into(), |v| format!("{v:.0} MiB")),
            r.add[0].0,
            r.add[1].0,
            ratio(r.add[1].0, first.add[1].0),
            r.add[1].1,
            ratio(r.add[1].1, first.add[1].1),
            r.recompute_weight.0,
            ratio(r.recompute_weight.0, first.recompute_weight.0),
            r.recompute_weight.1,
            r.recompute_none.0,
            ratio(r.recompute_none.0, first.recompute_none.0),
        );
    }
    println!(
        "\n| photos | first list (server start) | list p50 / p95 / p99 during an add run (requests) | first list after it | until it shows the new photos | serve peak RSS |"
    );
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        let g = &r.gallery;
        println!(
            "| {} | {:.2} s ({}) | {:.0} / {:.0} / {:.0} ms ({}) | {:.0} ms ({}) | {:.2} s ({}) | {:.0} MiB ({}) |",
            r.size,
            g.cold,
            ratio(g.cold, first.gallery.cold),
            g.during.0 * 1e3,
            g.during.1 * 1e3,
            g.during.2 * 1e3,
            g.during.3,
            g.first_after * 1e3,
            ratio(g.first_after, first.gallery.first_after),
            g.fresh_after,
            ratio(g.fresh_after, first.gallery.fresh_after),
            g.serve_rss,
            ratio(g.serve_rss, first.gallery.serve_rss),
        );
    }
    println!(
        "\n| photos | one-shot run adding 1 photo: wall, CPU | live: new file → /api/photos | live: watcher CPU per photo | live CPU / one-shot CPU |"
    );
    println!("|---|---|---|---|---|");
    for r in &rows {
        let l = &r.live;
        println!(
            "| {} | {:.2} s, {:.2} s | {:.2} s ({}) | {:.3} s ({}) | {:.2} |",
            r.size,
            l.oneshot.0,
            l.oneshot.1,
            l.latency,
            ratio(l.latency, first.live.latency),
            l.cpu,
            ratio(l.cpu, first.live.cpu),
            l.cpu / l.oneshot.1,
        );
    }
    for r in &rows {
        println!(
            "{}: the 2nd add's scores and groups: {}",
            r.size, r.add[1].2
        );
    }
}
