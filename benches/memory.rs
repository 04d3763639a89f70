//! Peak RSS of `facet run` on 1,000 vs 10,000 photos: memory must not grow with
//! the library. Each run is a child process; its peak RSS comes from wait4.
//!
//!   cargo bench --bench memory            (sizes: FACET_MEMORY_SIZES=1000,10000;
//!                                          pipeline: FACET_MEMORY_PIPELINE=file.yaml,
//!                                          default the embedded pipelines/cpu.yaml)

use std::path::Path;
use std::process::Command;

fn photo(seed: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(1024, 768, |x, y| {
        image::Rgb([
            ((x + seed) % 256) as u8,
            ((y * 3 + seed) % 256) as u8,
            ((x ^ y) % 256) as u8,
        ])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// Runs `facet run` and returns (peak RSS in KiB, wall seconds).
fn peak_rss(photos: &Path, store: &Path) -> (i64, f64) {
    let start = std::time::Instant::now();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_facet"));
    cmd.arg("run");
    if let Ok(pipeline) = std::env::var("FACET_MEMORY_PIPELINE") {
        cmd.arg(pipeline);
    }
    // Reaped by wait4 below, which also reports the child's peak RSS.
    #[allow(clippy::zombie_processes)]
    let child = cmd
        .arg(photos)
        .args(["--quiet", "--store"])
        .arg(store)
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: rusage is plain data, zero is a valid value; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    // SAFETY: pid is our child and has not been waited for.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid);
    assert_eq!(status, 0, "facet run failed");
    (usage.ru_maxrss, start.elapsed().as_secs_f64())
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test --all-targets` runs bench binaries without `--bench`: only check it builds.
        return;
    }
    let sizes: Vec<u32> = std::env::var("FACET_MEMORY_SIZES")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let variants: Vec<Vec<u8>> = (0..50).map(photo).collect();
    let mut made = 0;
    let mut results = Vec::new();
    for n in sizes {
        while made < n {
            std::fs::write(
                photos.join(format!("p{made:06}.jpg")),
                &variants[(made % 50) as usize],
            )
            .unwrap();
            made += 1;
        }
        let (kib, secs) = peak_rss(&photos, &dir.path().join(format!("store{n}")));
        println!(
            "photos {n:>6}: peak RSS {:>7.1} MiB, {secs:.1} s ({:.0} photos/s)",
            kib as f64 / 1024.0,
            n as f64 / secs
        );
        results.push((n, kib));
    }
    if let (Some(first), Some(last)) = (results.first(), results.last()) {
        println!(
            "peak RSS ratio {} vs {} photos: {:.2}",
            last.0,
            first.0,
            last.1 as f64 / first.1 as f64
        );
    }
}
