//! Helpers: running the `facet` binary, making photos with known EXIF.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn facet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_facet"))
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/<what>`, or `None` with a note on stderr (tests then say they skipped).
fn shared(what: &str) -> Option<PathBuf> {
    let p = root().join("../shared").join(what);
    if p.is_dir() {
        Some(p.canonicalize().unwrap())
    } else {
        facet_stages::fixtures::absent(
            std::thread::current().name().unwrap_or("a test"),
            &format!(
                "{} is absent; this test needs the shared {what}",
                p.display()
            ),
        );
        None
    }
}

/// `../shared/photos`, or `None` with a note on stderr.
pub fn shared_photos() -> Option<PathBuf> {
    shared("photos")
}

/// The HDR pairs of `../shared/photos/cameras/jpg/hdr` (two bursts of two).
pub const HDR_PAIRS: [&str; 4] = [
    "hdr/canon_hdr_NO.jpg",
    "hdr/canon_hdr_YES.jpg",
    "hdr/iphone_hdr_NO.jpg",
    "hdr/iphone_hdr_YES.jpg",
];

/// Copies `files` (paths under `from`) into the folder `to`, made if needed,
/// each under its file name.
pub fn copy_photos(from: &Path, files: &[&str], to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in files {
        let src = from.join(f);
        std::fs::copy(&src, to.join(src.file_name().unwrap()))
            .unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    }
}

pub struct Ran {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn ran(out: Output) -> Ran {
    Ran {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `facet <args>` in `cwd`.
pub fn run_in(cwd: &Path, args: &[&str]) -> Ran {
    ran(facet()
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("facet runs"))
}

/// `facet run PHOTOS --quiet --store DIR/store` (the default pipeline), in
/// `dir`, which must succeed: the store.
pub fn analysed_store(dir: &Path, photos: &Path) -> PathBuf {
    let store = dir.join("store");
    let r = run_in(
        dir,
        &[
            "run",
            photos.to_str().unwrap(),
            "--quiet",
            "--store",
            store.to_str().unwrap(),
        ],
    );
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    store
}

/// `cmd run [PIPELINE] PHOTOS --store STORE --quiet EXTRA…` from the checkout's
/// root (pipelines are named relative to it).
pub fn run_into(
    mut cmd: Command,
    pipeline: Option<&str>,
    photos: &Path,
    store: &Path,
    extra: &[&str],
) -> Ran {
    cmd.current_dir(root()).arg("run");
    if let Some(p) = pipeline {
        cmd.arg(p);
    }
    ran(cmd
        .arg(photos)
        .arg("--store")
        .arg(store)
        .arg("--quiet")
        .args(extra)
        .output()
        .expect("facet runs"))
}

/// Every row of `table`, every column but the write times (`…_at`), sorted:
/// what two runs over the same photos must agree on.
pub fn stored(store: &Path, table: &str) -> Vec<String> {
    let mut rows: Vec<String> = sql_json(store, &format!("SELECT * FROM {table}"))
        .into_iter()
        .map(|mut r| {
            r.retain(|k, _| !k.ends_with("_at"));
            serde_json::Value::Object(r).to_string()
        })
        .collect();
    rows.sort();
    rows
}

/// The pipelines whose stored results must not depend on how the run is
/// spread (workers, passes, processes): the default pipeline on `generated`
/// photos, and every pipeline of `tests/pipelines/models/` on the shared
/// photos it is meant for — each with the tables it writes.
pub fn spread_cases(generated: &Path) -> Vec<(&'static str, PathBuf, Vec<&'static str>)> {
    let photos = shared_photos().expect("../shared/photos");
    shared_models().expect("../shared/models");
    vec![
        (
            "pipelines/cpu.yaml",
            generated.to_path_buf(),
            vec!["photos", "failures", "scores", "photo_groups"],
        ),
        (
            "tests/pipelines/models/imagenet.yaml",
            photos.join("objects"),
            vec!["photos", "scores"],
        ),
        (
            "tests/pipelines/models/brisque.yaml",
            photos.join("objects"),
            vec!["photos"],
        ),
        (
            "tests/pipelines/models/translate.yaml",
            photos.join("objects"),
            vec!["photos"],
        ),
        (
            "tests/pipelines/models/faces.yaml",
            photos.join("faces"),
            vec!["photos", "faces"],
        ),
        (
            "tests/pipelines/models/faces-mtcnn.yaml",
            photos.join("faces"),
            vec!["photos", "faces"],
        ),
    ]
}

/// Photos for [`spread_cases`]' default pipeline: `n` generated JPEGs with
/// EXIF, a duplicate pair (groups across batches) and a file that fails.
pub fn spread_library(dir: &Path, n: u32) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        std::fs::write(
            dir.join(format!("p{i:03}.jpg")),
            jpeg_with_exif(1200, 900, i, &META),
        )
        .unwrap();
    }
    std::fs::copy(dir.join("p000.jpg"), dir.join("p000-copy.jpg")).unwrap();
    std::fs::write(dir.join("broken.jpg"), b"not a photo").unwrap();
}

/// `facet sql --format json` → rows.
pub fn sql_json(store: &Path, query: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let r = ran(facet()
        .args(["sql", "--format", "json", "--store"])
        .arg(store)
        .arg(query)
        .output()
        .unwrap());
    assert_eq!(r.status, 0, "sql failed: {}", r.stderr);
    let v: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout));
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_object().unwrap().clone())
        .collect()
}

/// A textured JPEG (noise-free but detailed, so that hashes differ by seed).
pub fn jpeg(width: u32, height: u32, seed: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        let v = ((x * (3 + seed) + y * (5 + seed * 2)) % 256) as u8;
        let w = (((x / 16 + y / 16 + seed) % 2) * 200) as u8;
        image::Rgb([v, w, v.wrapping_add(w)])
    });
    let mut c = Cursor::new(Vec::new());
    img.write_to(&mut c, image::ImageFormat::Jpeg).unwrap();
    c.into_inner()
}

/// Known EXIF written into test photos.
pub struct Meta {
    pub make: &'static str,
    pub model: &'static str,
    pub lens: &'static str,
    pub iso: u16,
    pub f_number: (u32, u32),
    pub exposure: (u32, u32),
    pub focal: (u32, u32),
    pub focal35: u16,
    pub date: &'static str,
    pub subsec: &'static str,
    pub offset: &'static str,
    /// degrees, minutes, seconds×100, ref
    pub lat: (u32, u32, u32, &'static str),
    pub lon: (u32, u32, u32, &'static str),
    pub alt: (u32, u32, u8),
    pub orientation: u16,
}

pub const META: Meta = Meta {
    make: "Canon",
    model: "Canon EOS R5",
    lens: "RF24-70mm F2.8 L IS USM",
    iso: 400,
    f_number: (28, 10),
    exposure: (1, 250),
    focal: (50, 1),
    focal35: 50,
    date: "2021:07:14 09:30:05",
    subsec: "25",
    offset: "+02:00",
    lat: (33, 51, 3180, "S"),
    lon: (151, 12, 3060, "E"),
    alt: (125, 10, 1),
    orientation: 1,
};

/// A JPEG of pseudo-random coloured cells: photos of different seeds are
/// far apart in pHash (unlike [`jpeg`]'s stripes).
pub fn cells_jpeg(width: u32, height: u32, seed: u32) -> Vec<u8> {
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
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        cells[((y * 8 / height) * 8 + x * 8 / width) as usize % 64].into()
    });
    let mut c = Cursor::new(Vec::new());
    img.write_to(&mut c, image::ImageFormat::Jpeg).unwrap();
    c.into_inner()
}

/// A JPEG carrying `m` as EXIF (written with kamadak-exif's writer).
pub fn jpeg_with_exif(width: u32, height: u32, seed: u32, m: &Meta) -> Vec<u8> {
    with_exif(jpeg(width, height, seed), m)
}

/// `base` (a JPEG) with `m` as its EXIF.
pub fn with_exif(base: Vec<u8>, m: &Meta) -> Vec<u8> {
    use exif::{Field, In, Rational, Tag, Value};
    let ascii = |s: &str| Value::Ascii(vec![s.as_bytes().to_vec()]);
    let rat = |(n, d): (u32, u32)| Rational { num: n, denom: d };
    let fields = vec![
        Field {
            tag: Tag::Make,
            ifd_num: In::PRIMARY,
            value: ascii(m.make),
        },
        Field {
            tag: Tag::Model,
            ifd_num: In::PRIMARY,
            value: ascii(m.model),
        },
        Field {
            tag: Tag::Orientation,
            ifd_num: In::PRIMARY,
            value: Value::Short(vec![m.orientation]),
        },
        Field {
            tag: Tag::LensModel,
            ifd_num: In::PRIMARY,
            value: ascii(m.lens),
        },
        Field {
            tag: Tag::PhotographicSensitivity,
            ifd_num: In::PRIMARY,
            value: Value::Short(vec![m.iso]),
        },
        Field {
            tag: Tag::FNumber,
            ifd_num: In::PRIMARY,
            value: Value::Rational(vec![rat(m.f_number)]),
        },
        Field {
            tag: Tag::ExposureTime,
            ifd_num: In::PRIMARY,
            value: Value::Rational(vec![rat(m.exposure)]),
        },
        Field {
            tag: Tag::FocalLength,
            ifd_num: In::PRIMARY,
            value: Value::Rational(vec![rat(m.focal)]),
        },
        Field {
            tag: Tag::FocalLengthIn35mmFilm,
            ifd_num: In::PRIMARY,
            value: Value::Short(vec![m.focal35]),
        },
        Field {
            tag: Tag::DateTimeOriginal,
            ifd_num: In::PRIMARY,
            value: ascii(m.date),
        },
        Field {
            tag: Tag::SubSecTimeOriginal,
            ifd_num: In::PRIMARY,
            value: ascii(m.subsec),
        },
        Field {
            tag: Tag::OffsetTimeOriginal,
            ifd_num: In::PRIMARY,
            value: ascii(m.offset),
        },
        Field {
            tag: Tag::GPSLatitudeRef,
            ifd_num: In::PRIMARY,
            value: ascii(m.lat.3),
        },
        Field {
            tag: Tag::GPSLatitude,
            ifd_num: In::PRIMARY,
            value: Value::Rational(vec![
                rat((m.lat.0, 1)),
                rat((m.lat.1, 1)),
                rat((m.lat.2, 100)),
            ]),
        },
        Field {
            tag: Tag::GPSLongitudeRef,
            ifd_num: In::PRIMARY,
            value: ascii(m.lon.3),
        },
        Field {
            tag: Tag::GPSLongitude,
            ifd_num: In::PRIMARY,
            value: Value::Rational(vec![
                rat((m.lon.0, 1)),
                rat((m.lon.1, 1)),
                rat((m.lon.2, 100)),
            ]),
        },
        Field {
            tag: Tag::GPSAltitudeRef,
            ifd_num: In::PRIMARY,
            value: Value::Byte(vec![m.alt.2]),
        },
        Field {
            tag: Tag::GPSAltitude,
            ifd_num: In::PRIMARY,
            value: Value::Rational(vec![rat((m.alt.0, m.alt.1))]),
        },
    ];
    let mut w = exif::experimental::Writer::new();
    for f in &fields {
        w.push_field(f);
    }
    let mut tiff = Cursor::new(Vec::new());
    w.write(&mut tiff, false).unwrap();
    let tiff = tiff.into_inner();
    let mut out = base[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(((tiff.len() + 8) as u16).to_be_bytes());
    out.extend(b"Exif\0\0");
    out.extend(&tiff);
    out.extend(&base[2..]);
    out
}

/// The signed decimal degrees of a (d, m, s×100, ref) triple.
pub fn degrees((d, m, s100, r): (u32, u32, u32, &str)) -> f64 {
    let v = d as f64 + m as f64 / 60.0 + s100 as f64 / 100.0 / 3600.0;
    if r == "S" || r == "W" { -v } else { v }
}

/// `../shared/models`, or `None` with a note on stderr.
pub fn shared_models() -> Option<PathBuf> {
    shared("models")
}

/// ONNX Runtime for the model tests: `ORT_DYLIB_PATH`, else the library
/// `tools/onnxruntime` obtains from PyPI (as the README's test command does).
pub fn ort_dylib() -> PathBuf {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
            return PathBuf::from(p);
        }
        let out = Command::new(root().join("tools/onnxruntime"))
            .output()
            .expect("tools/onnxruntime runs");
        assert!(
            out.status.success(),
            "tools/onnxruntime could not obtain ONNX Runtime: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
    .clone()
}

/// `facet` with ONNX Runtime available.
pub fn facet_ort() -> Command {
    let mut c = facet();
    c.env("ORT_DYLIB_PATH", ort_dylib());
    c
}

/// Rows of `table` with just `columns` (name, values), typed as the table
/// declares them: what a test writes into a store as a stage would.
pub fn batch(
    table: &facet_schemas::Table,
    columns: Vec<(&str, arrow_array::ArrayRef)>,
) -> arrow_array::RecordBatch {
    let fields: Vec<_> = columns
        .iter()
        .map(|(n, _)| table.column(n).unwrap().field())
        .collect();
    arrow_array::RecordBatch::try_new(
        std::sync::Arc::new(arrow::datatypes::Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap()
}
