//! Caption translation through the real binary: MobileNetV2 writes an
//! ImageNet label per photo, the `translate` stage runs the tiny Marian
//! export of `tests/fixtures/marian-tiny` (random weights, made by
//! `tools/export`) over that column into `label_fr`.

use crate::common::*;

const TRANSLATE: &str = "tests/pipelines/models/translate.yaml";

#[test]
fn labels_are_translated_into_a_new_column() {
    let (Some(photos), Some(_)) = (shared_photos(), shared_models()) else {
        return;
    };
    let check = ran(facet()
        .current_dir(root())
        .args(["check", TRANSLATE])
        .output()
        .unwrap());
    assert_eq!(check.status, 0, "{}\n{}", check.stdout, check.stderr);
    assert!(
        !check.stderr.contains("warning") && !check.stderr.contains("missing"),
        "facet check is not clean:\n{}",
        check.stderr
    );

    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let r = run_into(
        facet_ort(),
        Some(TRANSLATE),
        &photos.join("objects"),
        &store,
        &[],
    );
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    let rows = sql_json(
        &store,
        "SELECT path, label, label_fr FROM photos ORDER BY path",
    );
    assert_eq!(rows.len(), 9, "{rows:?}");
    let mut labelled = 0;
    for row in &rows {
        let path = row["path"].as_str().unwrap();
        match row["label"].as_str() {
            Some(label) => {
                assert!(!label.is_empty(), "{path}");
                let fr = row["label_fr"].as_str().unwrap_or_else(|| {
                    panic!("{path}: label `{label}` but no translation: {row:?}")
                });
                assert!(
                    !fr.trim().is_empty(),
                    "{path}: empty translation of `{label}`"
                );
                labelled += 1;
            }
            None => assert!(row["label_fr"].is_null(), "{path}: {row:?}"),
        }
    }
    assert_eq!(labelled, 9, "every photo gets a label: {rows:?}");
    let failures = sql_json(&store, "SELECT count(*) AS n FROM failures");
    assert_eq!(failures[0]["n"], 0, "{failures:?}");
}

#[test]
fn check_names_the_stage_that_reads_an_unwritten_column() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = root().join("tests/fixtures/marian-tiny");
    let p = tmp.path().join("p.yaml");
    std::fs::write(
        &p,
        format!(
            "version: 1
models_dir: {}
stages:
  scan: {{ uses: scan }}
  exif: {{ uses: exif, after: [scan] }}
  translate:
    uses: translate
    after: [exif]
    with:
      encoder: opus-mt-en-fr-encoder.onnx
      decoder: opus-mt-en-fr-decoder.onnx
      tokenizer: opus-mt-en-fr-tokenizer.json
      config: opus-mt-en-fr-config.json
      from: no_such_caption
",
            fixture.display()
        ),
    )
    .unwrap();
    let r = ran(facet().arg("check").arg(&p).output().unwrap());
    assert_eq!(r.status, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("stages.translate")
            && r.stderr
                .contains("reads column `no_such_caption`, which no earlier stage writes"),
        "{}",
        r.stderr
    );
    // An unknown setting is an error naming it.
    std::fs::write(
        &p,
        std::fs::read_to_string(&p)
            .unwrap()
            .replace("from: no_such_caption", "beam: 2"),
    )
    .unwrap();
    let r = ran(facet().arg("check").arg(&p).output().unwrap());
    assert_eq!(r.status, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("stages.translate.with.beam: unknown field `beam`"),
        "{}",
        r.stderr
    );
}
