//! Throughput of the `technical` stage's metrics on one photo.
//!
//!   cargo bench -p facet-stages --bench technical
//!
//! `technical/1024`: a working image already at the stage's side (1024 on the
//! longest side: what `decode` hands it in the default pipeline);
//! `technical/2048`: a larger working image, downsized by the stage first.
//! Real photos when `../shared/photos` is there, synthetic ones otherwise.

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use facet_stages::technical::{Analyzer, Settings};
use facet_stages::working::Rgb;

fn photo(side: u32) -> Rgb {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/photos/cameras/jpg");
    let src = ["hdr/canon_hdr_YES.jpg", "gps/DSCN0010.jpg", "Canon_40D.jpg"]
        .iter()
        .map(|p| shared.join(p))
        .find(|p| p.exists())
        .map(|p| image::open(p).unwrap().to_rgb8());
    let img = match src {
        Some(src) => {
            let f = side as f64 / src.width().max(src.height()) as f64;
            let (w, h) = (
                (src.width() as f64 * f).round() as u32,
                (src.height() as f64 * f).round() as u32,
            );
            image::imageops::resize(&src, w, h, image::imageops::FilterType::Triangle)
        }
        None => {
            eprintln!("../shared/photos is absent: benchmarking a synthetic photo");
            image::RgbImage::from_fn(side, side * 2 / 3, |x, y| {
                let v = ((x / 7 + y / 5) % 256) as u8;
                image::Rgb([v, (((x ^ y) >> 3) % 256) as u8, ((x * y) >> 12) as u8])
            })
        }
    };
    Rgb {
        width: img.width(),
        height: img.height(),
        pixels: img.into_raw(),
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("technical");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    for side in [1024, 2048] {
        let img = photo(side);
        let mut stage = Analyzer::new(1024, Settings::default());
        g.bench_function(side.to_string(), |b| {
            b.iter(|| stage.measure(img.as_ref()).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
