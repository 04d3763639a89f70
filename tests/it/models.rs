//! Model stages on ONNX Runtime with the real models of `../shared/models`:
//! added by YAML alone, checked before the run, fetched with checksums.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;

use crate::common::*;

const IMAGENET: &str = "tests/pipelines/models/imagenet.yaml";

fn vector(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn imagenet_tags_and_two_embeddings_from_yaml() {
    let (Some(photos), Some(_)) = (shared_photos(), shared_models()) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let r = run_into(
        facet_ort(),
        Some(IMAGENET),
        &photos.join("objects"),
        &store,
        &[],
    );
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    let rows = sql_json(
        &store,
        "SELECT path, tags, embedding, face_embedding FROM photos ORDER BY path",
    );
    assert_eq!(rows.len(), 9, "{rows:?}");
    let by_name = |name: &str| {
        rows.iter()
            .find(|r| r["path"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("{name} not stored"))
    };
    let tags = |name: &str| -> Vec<String> {
        by_name(name)["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        tags("chelsea.png").contains(&"cat".to_string()),
        "{:?}",
        tags("chelsea.png")
    );
    assert!(
        tags("coffee.png").contains(&"coffee".to_string()),
        "{:?}",
        tags("coffee.png")
    );
    for r in &rows {
        let name = r["path"].as_str().unwrap();
        if !name.ends_with("chelsea.png") {
            assert!(
                !tags(name).contains(&"cat".to_string()),
                "{name}: {:?}",
                tags(name)
            );
        }
        let e = vector(&r["embedding"]);
        assert_eq!(e.len(), 1280, "{name}");
        assert!(
            (cosine(&e, &e) - 1.0).abs() < 1e-3,
            "{name}: not unit length"
        );
        assert_eq!(vector(&r["face_embedding"]).len(), 1024, "{name}");
    }
    // The stereo pair of the motorcycle is closer than the motorcycle and the moon.
    let e = |n: &str| vector(&by_name(n)["embedding"]);
    let pair = cosine(&e("motorcycle_left.png"), &e("motorcycle_right.png"));
    let apart = cosine(&e("motorcycle_left.png"), &e("moon.png"));
    assert!(pair > apart + 0.2, "pair {pair:.3} vs unrelated {apart:.3}");
    // A second run over the same photos skips them all (no model runs).
    let again = run_into(
        facet_ort(),
        Some(IMAGENET),
        &photos.join("objects"),
        &store,
        &[],
    );
    assert!(again.stdout.contains("9 skipped"), "{}", again.stdout);
}

#[test]
fn a_model_pipeline_without_onnx_runtime_stops_before_starting() {
    let (Some(photos), Some(_)) = (shared_photos(), shared_models()) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let r = ran(facet()
        .current_dir(root())
        .env("ORT_DYLIB_PATH", tmp.path().join("libonnxruntime.so"))
        .args(["run", IMAGENET])
        .arg(photos.join("objects"))
        .arg("--store")
        .arg(tmp.path().join("store"))
        .output()
        .unwrap());
    assert_eq!(r.status, 2, "{}", r.stderr);
    for want in [
        "classify",
        "ORT_DYLIB_PATH",
        "tools/onnxruntime",
        "pip install onnxruntime",
    ] {
        assert!(r.stderr.contains(want), "`{want}` in {}", r.stderr);
    }
    assert!(!tmp.path().join("store").exists(), "nothing was written");
}

fn write_pipeline(dir: &Path, with: &str) -> std::path::PathBuf {
    let p = dir.join("p.yaml");
    std::fs::write(
        &p,
        format!(
            "version: 1\nstages:\n  scan: {{ uses: scan }}\n  decode: {{ uses: decode, after: [scan] }}\n  m:\n    uses: onnx\n    after: [decode]\n    with: {with}\n"
        ),
    )
    .unwrap();
    p
}

#[test]
fn missing_weights_are_a_warning_for_check_and_stop_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write_pipeline(
        tmp.path(),
        "{ model: weights/absent.onnx, size: [64, 64], outputs: { out: { column: absent_score, as: scalar } } }",
    );
    let check = ran(facet().arg("check").arg(&p).output().unwrap());
    assert_eq!(check.status, 0, "{}", check.stderr);
    assert!(
        check.stderr.contains("warning") && check.stderr.contains("stages.m.with.model"),
        "{}",
        check.stderr
    );
    let photos = tmp.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    let run = ran(facet()
        .arg("run")
        .arg(&p)
        .arg(&photos)
        .arg("--store")
        .arg(tmp.path().join("store"))
        .output()
        .unwrap());
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("weights/absent.onnx is missing"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("neither a url nor an export recipe"),
        "{}",
        run.stderr
    );
}

/// A stand-in for `tools/export/facet_export.py` (PyTorch does not fit CI:
/// benches/export-models.sh runs the real recipes): it writes the recipe's
/// file and the report the real exporters write, and logs its arguments.
const STAND_IN_EXPORTER: &str = r#"
import argparse, hashlib, json, os, sys
p = argparse.ArgumentParser()
p.add_argument("--recipe"); p.add_argument("--out-dir"); p.add_argument("--report")
p.add_argument("--random-weights", action="store_true"); p.add_argument("--small", action="store_true")
a = p.parse_args()
with open(os.environ["STAND_IN_LOG"], "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\n")
if a.recipe == "broken":
    sys.exit("broken: cannot reach the model hub (try --random-weights)")
data = b"onnx bytes of " + a.recipe.encode()
name = a.recipe + ".onnx"
with open(os.path.join(a.out_dir, name), "wb") as f:
    f.write(data)
json.dump({"recipe": a.recipe, "weights": "random" if a.random_weights else "pretrained",
           "small": a.small, "source": "stand-in", "opset": 17, "seconds": 0.1,
           "files": [{"file": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "role": "image"}],
           "max_abs_diff": {"score": 1e-6}}, open(a.report, "w"))
"#;

#[test]
fn export_runs_the_recipe_records_the_lock_and_never_replaces_silently() {
    use sha2::Digest;
    let tmp = tempfile::tempdir().unwrap();
    let scripts = tmp.path().join("exporters");
    std::fs::create_dir(&scripts).unwrap();
    std::fs::write(scripts.join("facet_export.py"), STAND_IN_EXPORTER).unwrap();
    std::fs::write(scripts.join("requirements.txt"), "# nothing: a stand-in\n").unwrap();
    let log = tmp.path().join("calls.log");
    let p = write_pipeline(
        tmp.path(),
        "{ model: weights/tiny.onnx, export: tiny, size: [64, 64], outputs: { score: { column: tiny_score, as: scalar } } }",
    );
    let exporter = |args: &[&str]| {
        ran(facet()
            .args(["models"])
            .args(args)
            .arg(&p)
            .env("FACET_EXPORT_SCRIPTS", &scripts)
            .env("FACET_TOOLS_DIR", tmp.path().join("tools"))
            .env_remove("FACET_EXPORT_VENV")
            .env("STAND_IN_LOG", &log)
            .output()
            .unwrap())
    };
    let calls = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let model = tmp.path().join("weights/tiny.onnx");

    // `facet check` names the one command that produces the missing file.
    let check = ran(facet().arg("check").arg(&p).output().unwrap());
    assert!(
        check.stderr.contains(&format!(
            "`facet models export {} --only tiny`",
            p.display()
        )),
        "{}",
        check.stderr
    );

    let first = exporter(&["export", "--random-weights"]);
    assert_eq!(first.status, 0, "{}\n{}", first.stdout, first.stderr);
    assert_eq!(std::fs::read(&model).unwrap(), b"onnx bytes of tiny");
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("--random-weights")
    );
    assert!(first.stdout.contains("random weights"), "{}", first.stdout);
    let lock: serde_json::Value = serde_json::from_slice(
        &std::fs::read(tmp.path().join("weights/facet-models.lock.json")).unwrap(),
    )
    .unwrap();
    let entry = &lock["files"]["tiny.onnx"];
    assert_eq!(entry["recipe"], "tiny");
    assert_eq!(entry["weights"], "random");
    assert_eq!(
        entry["sha256"].as_str().unwrap(),
        hex::encode(sha2::Sha256::digest(b"onnx bytes of tiny"))
    );
    // No staging folder is left beside the models.
    let left: Vec<_> = std::fs::read_dir(tmp.path().join("weights"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");

    let list = exporter(&["list"]);
    let line = list
        .stdout
        .lines()
        .find(|l| l.contains("tiny.onnx"))
        .unwrap();
    assert!(
        line.contains("verified") && line.contains("export tiny (random weights)"),
        "{line}"
    );

    // Up to date: the exporter is not run again.
    let again = exporter(&["export", "--random-weights"]);
    assert_eq!(again.status, 0, "{}", again.stderr);
    assert!(again.stdout.contains("up to date"), "{}", again.stdout);
    assert_eq!(calls(), 1);

    // A file changed since its export: listed as such, and not replaced
    // without --force.
    std::fs::write(&model, b"edited by hand").unwrap();
    let list = exporter(&["list"]);
    let line = list
        .stdout
        .lines()
        .find(|l| l.contains("tiny.onnx"))
        .unwrap();
    assert!(line.contains("CHANGED"), "{line}");
    let refused = exporter(&["export", "--random-weights"]);
    assert_eq!(refused.status, 1, "{}", refused.stdout);
    assert!(
        refused.stderr.contains("--force replaces them") && refused.stderr.contains("CHANGED"),
        "{}",
        refused.stderr
    );
    assert_eq!(std::fs::read(&model).unwrap(), b"edited by hand");
    assert_eq!(calls(), 1);
    let forced = exporter(&["export", "--random-weights", "--force"]);
    assert_eq!(forced.status, 0, "{}", forced.stderr);
    assert_eq!(std::fs::read(&model).unwrap(), b"onnx bytes of tiny");
    assert_eq!(calls(), 2);

    // An exporter that fails is reported with its own words; nothing moves.
    let broken = write_pipeline(
        tmp.path(),
        "{ model: weights/broken.onnx, export: broken, size: [64, 64], outputs: { score: { column: b, as: scalar } } }",
    );
    let failed = ran(facet()
        .args(["models", "export"])
        .arg(&broken)
        .env("FACET_EXPORT_SCRIPTS", &scripts)
        .env("FACET_TOOLS_DIR", tmp.path().join("tools"))
        .env_remove("FACET_EXPORT_VENV")
        .env("STAND_IN_LOG", &log)
        .output()
        .unwrap());
    assert_eq!(failed.status, 1, "{}", failed.stdout);
    assert!(
        failed.stderr.contains("cannot reach the model hub"),
        "{}",
        failed.stderr
    );
    assert!(!tmp.path().join("weights/broken.onnx").exists());
}

#[test]
fn a_size_the_model_does_not_take_is_named() {
    let (Some(photos), Some(models)) = (shared_photos(), shared_models()) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let p = write_pipeline(
        tmp.path(),
        &format!(
            "{{ model: {}, size: [128, 128], outputs: {{ logits: {{ column: top_label_score, as: scalar }} }} }}",
            models.join("mobilenet_v2_imagenet.onnx").display()
        ),
    );
    let r = ran(facet_ort()
        .arg("run")
        .arg(&p)
        .arg(photos.join("objects/coffee.png"))
        .arg("--store")
        .arg(tmp.path().join("store"))
        .output()
        .unwrap());
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains("[-1, 3, 224, 224]"), "{}", r.stderr);
    assert!(
        r.stderr.contains("check `size` and `layout`"),
        "{}",
        r.stderr
    );
}

/// Serves `body` at any path to `n` requests on a loopback port.
fn serve(body: Vec<u8>, n: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(n) {
            let mut s = stream.unwrap();
            let mut req = [0u8; 4096];
            let _ = s.read(&mut req);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(&body).unwrap();
        }
    });
    port
}

#[test]
fn models_fetch_downloads_and_verifies_checksums() {
    let tmp = tempfile::tempdir().unwrap();
    let body: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&body))
    };
    let port = serve(body.clone(), 2);
    let with = |sha: &str| {
        format!(
            "{{ model: weights/m.onnx, url: \"http://127.0.0.1:{port}/m.onnx\", sha256: {sha}, size: [64, 64], outputs: {{ out: {{ column: m_score, as: scalar }} }} }}"
        )
    };
    // A wrong checksum: refused, nothing kept.
    let bad = write_pipeline(tmp.path(), &with(&"0".repeat(64)));
    let r = ran(facet()
        .args(["models", "fetch"])
        .arg(&bad)
        .output()
        .unwrap());
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert!(r.stderr.contains("SHA-256"), "{}", r.stderr);
    assert!(!tmp.path().join("weights/m.onnx").exists());

    let good = write_pipeline(tmp.path(), &with(&sha));
    let list = ran(facet()
        .args(["models", "list"])
        .arg(&good)
        .output()
        .unwrap());
    assert!(list.stdout.contains("missing"), "{}", list.stdout);
    let r = ran(facet()
        .args(["models", "fetch"])
        .arg(&good)
        .output()
        .unwrap());
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(
        std::fs::read(tmp.path().join("weights/m.onnx")).unwrap(),
        body
    );
    let list = ran(facet()
        .args(["models", "list"])
        .arg(&good)
        .output()
        .unwrap());
    // Checked against the pipeline's sha256, and recorded in the lock.
    assert!(list.stdout.contains("verified"), "{}", list.stdout);
    assert!(list.stdout.contains("0.2 MiB"), "{}", list.stdout);
    let lock: serde_json::Value = serde_json::from_slice(
        &std::fs::read(tmp.path().join("weights/facet-models.lock.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        lock["files"]["m.onnx"]["sha256"].as_str(),
        Some(sha.as_str())
    );
}

#[test]
fn brisque_ranks_a_blurred_copy_below_its_original_without_onnx_runtime() {
    let (Some(photos), Some(_)) = (shared_photos(), shared_models()) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("photos");
    std::fs::create_dir(&dir).unwrap();
    for name in ["astronaut.png", "chelsea.png"] {
        let img = image::open(photos.join("objects").join(name)).unwrap();
        img.save(dir.join(name)).unwrap();
        img.blur(2.5)
            .save(dir.join(format!("blurred_{name}")))
            .unwrap();
    }
    let store = tmp.path().join("store");
    let mut without_ort = facet();
    without_ort.env("ORT_DYLIB_PATH", tmp.path().join("no-onnx-runtime.so"));
    let r = run_into(
        without_ort,
        Some("tests/pipelines/models/brisque.yaml"),
        &dir,
        &store,
        &[],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    let rows = sql_json(
        &store,
        "SELECT path, brisque, aesthetic, score_breakdown FROM photos ORDER BY path",
    );
    assert_eq!(rows.len(), 4);
    let get = |name: &str, col: &str| {
        rows.iter()
            .find(|r| r["path"].as_str().unwrap().ends_with(&format!("/{name}")))
            .unwrap()[col]
            .as_f64()
            .unwrap()
    };
    for name in ["astronaut.png", "chelsea.png"] {
        let blurred = format!("blurred_{name}");
        assert!(
            get(&blurred, "brisque") > get(name, "brisque") + 10.0,
            "{name}: {} vs blurred {}",
            get(name, "brisque"),
            get(&blurred, "brisque")
        );
        assert!(get(&blurred, "aesthetic") < get(name, "aesthetic"));
    }
    // The score reads it: aesthetic is measured, not neutral.
    let critique: serde_json::Value =
        serde_json::from_str(rows[0]["score_breakdown"].as_str().unwrap()).unwrap();
    let aesthetic = critique
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["metric"] == "aesthetic")
        .unwrap();
    assert_eq!(aesthetic["neutral"], false, "{aesthetic}");
}

#[test]
fn multi_pass_and_single_pass_store_identical_results() {
    let (Some(photos), Some(_)) = (shared_photos(), shared_models()) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut results = Vec::new();
    for (mode, keep) in [
        ("single-pass", "never"),
        ("multi-pass", "never"),
        ("multi-pass", "always"),
    ] {
        let config = tmp.path().join(format!("{mode}-{keep}.json"));
        let json = serde_json::json!({
            "processing": { "mode": mode, "ram_chunk_size": 4, "num_workers": 1 },
            "models": { "keep_in_ram": keep }
        });
        std::fs::write(&config, json.to_string()).unwrap();
        let store = tmp.path().join(format!("store-{mode}-{keep}"));
        let r = run_into(
            facet_ort(),
            Some(IMAGENET),
            &photos.join("objects"),
            &store,
            &["--config", config.to_str().unwrap()],
        );
        assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
        if mode == "multi-pass" {
            // Two model stages, one per pass; 9 photos in RAM chunks of 4 =
            // 3 chunks: each pass loads once per chunk unless kept in RAM.
            let loads = if keep == "never" { 6 } else { 2 };
            assert!(
                r.stdout
                    .contains("multi-pass, 2 passes [classify] -> [faceres]")
                    && r.stdout
                        .contains(&format!("{loads} model loads over chunks of 4")),
                "{}",
                r.stdout
            );
        } else {
            assert!(r.stdout.contains("models: single-pass"), "{}", r.stdout);
        }
        results.push(sql_json(
            &store,
            "SELECT path, tags, embedding, face_embedding FROM photos ORDER BY path",
        ));
    }
    assert_eq!(results[0].len(), 9);
    assert_eq!(
        results[0], results[1],
        "multi-pass differs from single-pass"
    );
    assert_eq!(results[0], results[2], "keep_in_ram changes results");
}
