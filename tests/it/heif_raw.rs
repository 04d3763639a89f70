//! Phone and camera formats of `../shared/photos` through the default
//! pipeline: every HEIC/HEIF (grid images, `irot`, one named `.jpg`) and the
//! AVIF stored with their size in display orientation and an upright
//! thumbnail, the gallery's `/image` serving them as JPEG; the RAW files
//! decoded from their sensor data or failed for the file's own fault.
//! libheif comes as for a user: `FACET_LIBHEIF`, `.tools/libheif`, the
//! system's, or `tools/libheif` run by `facet` itself.

use std::collections::HashMap;

use crate::common::*;

/// (file under `cameras/`, stored format, width × height as shown: after
/// `irot`/`imir`, as exiftool's ImageWidth/ImageHeight with the EXIF
/// orientation applied).
const STORED: &[(&str, &str, (i64, i64))] = &[
    // ispe 4032 × 3024, irot 270; EXIF 4032 × 3024 with orientation 6.
    ("heic/mobile/iphone_13_pro_max.heic", "heif", (3024, 4032)),
    // ispe 4608 × 3456, irot 270; EXIF orientation 1 (the transform is the
    // container's alone).
    ("heic/mobile/HMD_Nokia_8.3_5G.heif", "heif", (3456, 4608)),
    (
        "heic/mobile/HMD_Nokia_8.3_5G_hdr.heif",
        "heif",
        (4608, 3456),
    ),
    ("heic/heic_hdlr_box.jpg", "heif", (1440, 1440)),
    ("heic/spring_1440x960.heic", "heif", (1440, 960)),
    ("heic/samplefilehub.heif", "heif", (640, 426)),
    ("avif/mountains.avif", "avif", (1920, 1080)),
];

const DNG: &str = "raw/nikon_z_9_high_efficiency_compressed_dx_cropped_max_overexposed.dng";
const ARW: &str = "raw/sony_alpha_a7iii_raw_image.ARW";

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `GET url` → status, content type, body.
fn get(url: &str) -> (u16, String, Vec<u8>) {
    let r = ureq::get(url)
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = r.status().as_u16();
    let media = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = r.into_body().read_to_vec().unwrap();
    (status, media, body)
}

#[test]
fn heic_avif_and_raw_are_stored_upright_with_thumbnails_and_served_as_jpeg() {
    let Some(shared) = shared_photos() else {
        return;
    };
    let cameras = shared.join("cameras");
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    let mut files: Vec<&str> = STORED.iter().map(|(f, _, _)| *f).collect();
    files.extend([DNG, ARW]);
    copy_photos(&cameras, &files, &photos);
    let store = tmp.path().join("store");
    let pipeline = root().join("pipelines/cpu.yaml");
    let r = run_in(
        tmp.path(),
        &[
            "run",
            pipeline.to_str().unwrap(),
            photos.to_str().unwrap(),
            "--quiet",
            "--store",
            store.to_str().unwrap(),
        ],
    );
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);

    let name = |p: &str| p.rsplit('/').next().unwrap().to_string();
    let stored: HashMap<String, (String, i64, i64)> =
        sql_json(&store, "SELECT path, format, width, height FROM photos")
            .into_iter()
            .map(|r| {
                (
                    name(r["path"].as_str().unwrap()),
                    (
                        r["format"].as_str().unwrap().to_string(),
                        r["width"].as_i64().unwrap(),
                        r["height"].as_i64().unwrap(),
                    ),
                )
            })
            .collect();
    let failed: HashMap<String, String> = sql_json(&store, "SELECT path, reason FROM failures")
        .into_iter()
        .map(|r| {
            (
                name(r["path"].as_str().unwrap()),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (file, format, (w, h)) in STORED {
        let n = name(file);
        let got = stored
            .get(&n)
            .unwrap_or_else(|| panic!("{file} not stored: {:?}", failed.get(&n)));
        assert_eq!(got, &(format.to_string(), *w, *h), "{file}");
    }
    // The DNG: its sensor data or, where rawler cannot decode the codec,
    // its preview.
    let dng = &stored[&name(DNG)];
    assert_eq!(dng.0, "raw-dng");
    // The ARW is a metadata-only sample (8 KB; its preview and sensor data
    // lie past the end of the file): the file's fault, said as such.
    let arw = failed
        .get(&name(ARW))
        .unwrap_or_else(|| panic!("the ARW has no image data, yet: {:?}", stored[&name(ARW)]));
    assert!(
        arw.contains("without an embedded preview JPEG")
            && arw.contains("sensor data cannot be decoded"),
        "{arw}"
    );
    assert_eq!(failed.len(), 1, "{failed:?}");

    // Upright thumbnails, and `/image` as JPEG (browsers show no HEIC).
    let config = tmp.path().join("gallery.json");
    std::fs::write(&config, "{}").unwrap();
    let server = crate::gallery::Server::start(&store, &config);
    for &(file, _, (w, h)) in STORED {
        let path = photos.join(name(file)).canonicalize().unwrap();
        let path = enc(path.to_str().unwrap());
        let (status, media, body) = get(&format!("{}/thumbnail?path={path}", server.url));
        assert_eq!((status, media.as_str()), (200, "image/jpeg"), "{file}");
        let thumb = image::load_from_memory_with_format(&body, image::ImageFormat::Jpeg)
            .unwrap_or_else(|e| panic!("{file}: thumbnail: {e}"));
        let (tw, th) = (thumb.width() as i64, thumb.height() as i64);
        assert!(
            (tw * h - th * w).abs() <= w.max(h),
            "{file}: a {tw}x{th} thumbnail of a {w}x{h} photo"
        );
        let (status, media, body) = get(&format!("{}/image?path={path}", server.url));
        assert_eq!((status, media.as_str()), (200, "image/jpeg"), "{file}");
        let full = image::load_from_memory_with_format(&body, image::ImageFormat::Jpeg)
            .unwrap_or_else(|e| panic!("{file}: /image: {e}"));
        let (iw, ih) = (full.width() as i64, full.height() as i64);
        // Full size, or 3840 px on the long side (a 4K screen's).
        assert_eq!(iw.max(ih), w.max(h).min(3840), "{file}: {iw}x{ih}");
        assert!((iw * h - ih * w).abs() <= w.max(h), "{file}: {iw}x{ih}");
    }
}

/// Without libheif, a HEIC fails with a reason that says what to install.
#[test]
fn without_libheif_a_heic_fails_saying_what_to_install() {
    let Some(shared) = shared_photos() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    copy_photos(
        &shared.join("cameras"),
        &["heic/spring_1440x960.heic"],
        &photos,
    );
    let store = tmp.path().join("store");
    let r = ran(facet()
        .current_dir(tmp.path())
        .env("FACET_LIBHEIF", tmp.path().join("no-libheif.so.1"))
        .args(["run", root().join("pipelines/cpu.yaml").to_str().unwrap()])
        .arg(&photos)
        .args(["--quiet", "--store"])
        .arg(&store)
        .output()
        .unwrap());
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    let failed = sql_json(&store, "SELECT reason FROM failures");
    assert_eq!(failed.len(), 1, "{failed:?}");
    let reason = failed[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("no-libheif.so.1")
            && reason.contains("tools/libheif")
            && reason.contains("libheif-plugin-libde265"),
        "{reason}"
    );
}
