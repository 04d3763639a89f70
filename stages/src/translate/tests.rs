//! The `translate` stage against the tiny random-weights Marian export of
//! `tests/fixtures/marian-tiny` and the outputs Hugging Face `generate()`
//! gave for it (`opus-mt-en-fr-expected.json`, written by the exporter).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use facet_engine::{PlanCx, Stage, StageCx, StageKind};
use serde_json::Value;

use super::marian::{Files, Marian};
use super::*;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/marian-tiny")
}

fn files_in(dir: &Path) -> Files {
    Files {
        encoder: dir.join("opus-mt-en-fr-encoder.onnx"),
        decoder: dir.join("opus-mt-en-fr-decoder.onnx"),
        tokenizer: dir.join("opus-mt-en-fr-tokenizer.json"),
        config: dir.join("opus-mt-en-fr-config.json"),
    }
}

/// ONNX Runtime, or `None` after reporting the skip.
fn runtime(test: &str) -> Option<()> {
    match crate::onnx::runtime::environment() {
        Ok(_) => Some(()),
        Err(e) => {
            crate::fixtures::absent(test, &e);
            None
        }
    }
}

fn open(test: &str) -> Option<Marian> {
    runtime(test)?;
    Some(Marian::open(&files_in(&fixture_dir()), Provider::Cpu, 1).unwrap())
}

fn expected() -> Value {
    let p = fixture_dir().join("opus-mt-en-fr-expected.json");
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn texts(e: &Value) -> Vec<String> {
    e["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn tokenizer_round_trip_on_the_fixture() {
    let Some(m) = open("tokenizer_round_trip_on_the_fixture") else {
        return;
    };
    let e = expected();
    for (text, want) in texts(&e).iter().zip(e["input_ids"].as_array().unwrap()) {
        let got = m.tokenize(text).unwrap();
        // MarianTokenizer's ids, `</s>` (0) last.
        assert_eq!(got, ids(want), "{text}");
        assert_eq!(got.last(), Some(&m.config.eos_token_id));
        assert_eq!(m.detokenize(&got).unwrap(), *text);
    }
}

/// Decodes the expected texts in one batch (as `generate()` did) and
/// compares ids, text and score with Hugging Face's.
fn against_generate(test: &str, key: &str, beams: usize, score_tolerance: f64) {
    let Some(mut m) = open(test) else {
        return;
    };
    let e = expected();
    let want = &e[key];
    assert_eq!(want["num_beams"], beams);
    let sources: Vec<Vec<u32>> = texts(&e).iter().map(|t| m.tokenize(t).unwrap()).collect();
    let p = m.params(Some(beams), None);
    assert_eq!(p.max_length, e["max_length"].as_u64().unwrap() as usize);
    let out = m.generate(&sources, &p).unwrap();
    assert_eq!(out.len(), sources.len());
    for (i, o) in out.iter().enumerate() {
        assert_eq!(o.ids, ids(&want["ids"][i]), "{key}: text {i}");
        assert_eq!(
            m.detokenize(&o.ids).unwrap(),
            want["text"][i].as_str().unwrap(),
            "{key}: text {i}"
        );
        let s = want["scores"][i].as_f64().unwrap();
        assert!(
            (o.score - s).abs() < score_tolerance,
            "{key}: text {i}: score {} but generate() gave {s}",
            o.score
        );
    }
    // The scores tell the texts apart (the tiny model's ids barely depend on
    // the source): a decoder that ignored the encoder would not match them all.
    let scores: Vec<f64> = out.iter().map(|o| o.score).collect();
    assert!(
        scores
            .iter()
            .any(|s| (s - scores[0]).abs() > 2.0 * score_tolerance),
        "{scores:?}"
    );
}

#[test]
fn greedy_decode_equals_hf_generate() {
    against_generate("greedy_decode_equals_hf_generate", "greedy", 1, 2e-4);
}

#[test]
fn beam_search_of_4_equals_hf_generate() {
    against_generate("beam_search_of_4_equals_hf_generate", "beam", 4, 4e-6);
}

#[test]
fn a_text_alone_translates_as_in_a_batch() {
    let Some(mut m) = open("a_text_alone_translates_as_in_a_batch") else {
        return;
    };
    let e = expected();
    let t = &texts(&e)[3];
    for (key, beams) in [("greedy", 1), ("beam", 4)] {
        let p = m.params(Some(beams), None);
        let alone = m.generate(&[m.tokenize(t).unwrap()], &p).unwrap();
        assert_eq!(alone[0].ids, ids(&e[key]["ids"][3]), "{key}");
    }
}

#[test]
fn decoding_stops_at_max_length_and_at_eos() {
    let Some(mut m) = open("decoding_stops_at_max_length_and_at_eos") else {
        return;
    };
    let e = expected();
    let sources: Vec<Vec<u32>> = texts(&e).iter().map(|t| m.tokenize(t).unwrap()).collect();
    let eos = m.config.eos_token_id;
    let start = m.config.decoder_start_token_id;
    for beams in [1, 4] {
        // max_length counts the start token; the last one is the forced eos.
        let p = m.params(Some(beams), Some(5));
        for o in m.generate(&sources, &p).unwrap() {
            assert_eq!(o.ids.len(), 5, "beams {beams}: {:?}", o.ids);
            assert_eq!(o.ids[0], start);
            assert_eq!(o.ids[4], eos);
            assert!(!o.ids[1..4].contains(&eos));
        }
        // The same prefix as the full-length decoding (greedy).
        if beams == 1 {
            let full = ids(&e["greedy"]["ids"][0]);
            let o = &m.generate(&sources[..1], &p).unwrap()[0];
            assert_eq!(o.ids[..4], full[..4]);
        }
        // Without the forced eos: exactly max_length tokens, no eos.
        let mut free = m.params(Some(beams), Some(7));
        free.forced_eos = None;
        for o in m.generate(&sources, &free).unwrap() {
            assert_eq!(o.ids.len(), 7, "beams {beams}: {:?}", o.ids);
        }
        // This random model never chooses `</s>` on its own: call the token
        // it does choose second the eos, and decoding stops right there.
        let second = ids(&e["greedy"]["ids"][0])[2];
        let mut early = m.params(Some(beams), None);
        early.eos = second;
        early.forced_eos = Some(second);
        for o in m.generate(&sources[..1], &early).unwrap() {
            assert_eq!(o.ids.last(), Some(&second), "beams {beams}: {:?}", o.ids);
            assert!(o.ids.len() < 10, "beams {beams}: {:?}", o.ids);
        }
    }
}

fn stage_config(yaml: &str) -> TranslateConfig {
    serde_yaml::from_str(yaml).unwrap()
}

const WITH: &str = "encoder: opus-mt-en-fr-encoder.onnx
decoder: opus-mt-en-fr-decoder.onnx
tokenizer: opus-mt-en-fr-tokenizer.json
config: opus-mt-en-fr-config.json
export: marian-opus-mt
";

#[test]
fn nulls_stay_null_through_the_stage() {
    let Some(m) = open("nulls_stay_null_through_the_stage") else {
        return;
    };
    let config = facet_config::FacetConfig::default();
    let cfg = stage_config(&format!("{WITH}beams: 2\nmax_length: 8\n"));
    let mut stage = Translator::new(Arc::new(Mutex::new(m)), &cfg, &config);
    let schema = Arc::new(Schema::new(vec![Field::new(
        "caption",
        DataType::Utf8,
        true,
    )]));
    let batch = RecordBatch::try_new(
        schema,
        vec![Arc::new(StringArray::from(vec![
            Some("a dog running on the beach at sunset"),
            None,
            Some("a small house"),
            Some(""),
            None,
        ]))],
    )
    .unwrap();
    let mut cx = StageCx::default();
    let out = stage.process(batch, &mut cx).unwrap();
    assert!(cx.take_failed().is_empty());
    let col = out
        .column_by_name("caption_fr")
        .expect("caption_<target_language>")
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert_eq!(col.len(), 5);
    assert!(col.is_null(1) && col.is_null(4));
    assert!(!col.value(0).is_empty() && !col.value(2).is_empty());
    assert!(!col.is_null(3) && col.value(3).is_empty());
    // batch_size 1 gives the same translations
    let m = Marian::open(&files_in(&fixture_dir()), Provider::Cpu, 1).unwrap();
    let cfg = stage_config(&format!("{WITH}beams: 2\nmax_length: 8\nbatch_size: 1\n"));
    let mut one = Translator::new(Arc::new(Mutex::new(m)), &cfg, &config);
    let again = one
        .translate(&[
            Some("a dog running on the beach at sunset"),
            None,
            Some("a small house"),
        ])
        .unwrap();
    assert_eq!(again[0].as_deref(), Some(col.value(0)));
    assert_eq!(again[1], None);
    assert_eq!(again[2].as_deref(), Some(col.value(2)));
}

/// The fixture copied into a temporary folder, `edit` applied.
fn edited(edit: impl FnOnce(&Path)) -> (tempfile::TempDir, Files) {
    let tmp = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(fixture_dir()).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, tmp.path().join(f.file_name().unwrap())).unwrap();
    }
    edit(tmp.path());
    let files = files_in(tmp.path());
    (tmp, files)
}

fn open_err(files: &Files) -> String {
    match Marian::open(files, Provider::Cpu, 1) {
        Ok(_) => panic!("opened"),
        Err(e) => e.to_string(),
    }
}

fn edit_config(dir: &Path, key: &str, value: Value) {
    let p = dir.join("opus-mt-en-fr-config.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    v[key] = value;
    std::fs::write(&p, v.to_string()).unwrap();
}

#[test]
fn mismatched_or_missing_files_are_errors_naming_the_field() {
    if runtime("mismatched_or_missing_files_are_errors_naming_the_field").is_none() {
        return;
    }
    // A missing file.
    let (_t, files) =
        edited(|d| std::fs::remove_file(d.join("opus-mt-en-fr-decoder.onnx")).unwrap());
    let e = open_err(&files);
    assert!(
        e.contains("with.decoder: file not found") && e.contains("opus-mt-en-fr-decoder.onnx"),
        "{e}"
    );
    // A tokenizer with another vocabulary than the model.
    let (_t, files) = edited(|d| edit_config(d, "vocab_size", 87.into()));
    let e = open_err(&files);
    assert!(
        e.contains("with.tokenizer:") && e.contains("86 token ids") && e.contains("vocab_size 87"),
        "{e}"
    );
    // The config of another model (layers).
    let (_t, files) = edited(|d| edit_config(d, "num_layers", 2.into()));
    let e = open_err(&files);
    assert!(
        e.contains("with.decoder:") && e.contains("num_layers 2"),
        "{e}"
    );
    // The encoder given as the decoder: wrong input names.
    let (_t, mut files) = edited(|_| {});
    files.decoder = files.encoder.clone();
    let e = open_err(&files);
    assert!(
        e.contains("with.decoder:") && e.contains("no input `encoder_hidden_states`"),
        "{e}"
    );
    let (_t, mut files) = edited(|_| {});
    files.encoder = files.decoder.clone();
    let e = open_err(&files);
    assert!(
        e.contains("with.encoder:") && e.contains("unexpected input"),
        "{e}"
    );
    // A config.json without a key.
    let (_t, files) = edited(|d| {
        let p = d.join("opus-mt-en-fr-config.json");
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        v.as_object_mut().unwrap().remove("eos_token_id");
        std::fs::write(&p, v.to_string()).unwrap();
    });
    let e = open_err(&files);
    assert!(
        e.contains("with.config:") && e.contains("no `eos_token_id`"),
        "{e}"
    );
}

fn plan_cx(config: &facet_config::FacetConfig) -> PlanCx<'_> {
    PlanCx {
        config,
        models_dir: Some(Path::new("/models")),
        pipeline_dir: None,
    }
}

#[test]
fn plan_reads_from_writes_caption_target_language_and_lists_the_models() {
    let mut config = facet_config::FacetConfig::default();
    let cfg = stage_config(WITH);
    let plan = Translate.plan(&cfg, &plan_cx(&config)).unwrap();
    assert_eq!(
        plan.reads,
        vec![Field::new("caption", DataType::Utf8, true)]
    );
    assert_eq!(
        plan.writes,
        vec![Field::new("caption_fr", DataType::Utf8, true)]
    );
    assert!(plan.onnx_runtime);
    let fields: Vec<&str> = plan.models.iter().map(|m| m.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "with.encoder",
            "with.decoder",
            "with.tokenizer",
            "with.config"
        ]
    );
    assert!(
        plan.models
            .iter()
            .all(|m| m.export.as_deref() == Some("marian-opus-mt"))
    );
    assert_eq!(
        plan.models[1].path,
        Path::new("/models/opus-mt-en-fr-decoder.onnx")
    );

    config.translation.target_language = "de".into();
    let plan = Translate.plan(&cfg, &plan_cx(&config)).unwrap();
    assert_eq!(plan.writes[0].name(), "caption_de");
    let cfg = stage_config(&format!("{WITH}from: label\ninto: label_fr\n"));
    let plan = Translate.plan(&cfg, &plan_cx(&config)).unwrap();
    assert_eq!(plan.reads[0].name(), "label");
    assert_eq!(plan.writes[0].name(), "label_fr");
}

#[test]
fn plan_rejects_bad_settings_and_unknown_fields() {
    let config = facet_config::FacetConfig::default();
    let cfg = stage_config(&format!(
        "{WITH}beams: 0\nmax_length: 1\nfrom: t\ninto: t\n"
    ));
    let d = Translate.plan(&cfg, &plan_cx(&config)).unwrap_err();
    let paths: Vec<&str> = d.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, ["into", "beams", "max_length"], "{d:?}");
    let e = serde_yaml::from_str::<TranslateConfig>(&format!("{WITH}beam: 2\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field `beam`"), "{e}");
}

#[test]
fn every_workers_translate_stage_shares_one_model() {
    if runtime("every_workers_translate_stage_shares_one_model").is_none() {
        return;
    }
    let config = Arc::new(facet_config::FacetConfig::default());
    let cfg = stage_config(WITH);
    let cx = |worker: usize| facet_engine::BuildCx {
        config: config.clone(),
        store_dir: PathBuf::from("."),
        image_side: None,
        budget: facet_engine::Budget::new(1 << 30),
        worker,
        models_dir: Some(fixture_dir()),
        pipeline_dir: None,
        gpu_batch: Arc::new(std::sync::atomic::AtomicUsize::new(8)),
    };
    let (a, b) = (model(&cfg, &cx(0)).unwrap(), model(&cfg, &cx(1)).unwrap());
    assert!(Arc::ptr_eq(&a, &b), "each worker opened its own model");
    // Another thread count is another session.
    let mut other = cfg.clone();
    other.threads = Some(cfg.threads.unwrap_or(1) + 1);
    let c = model(&other, &cx(0)).unwrap();
    assert!(!Arc::ptr_eq(&a, &c));
}
