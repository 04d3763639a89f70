//! Zero-shot tagging end to end with a dual encoder the test builds itself:
//! an image tower (mean colour → a 4-d embedding) and a text tower (token
//! embeddings summed under the attention mask) in the same space, written as
//! real ONNX files, with a real `tokenizer.json` read by the `tokenizers`
//! crate. The pipeline runs the image tower through the generic `onnx` stage
//! and `zero_shot_tags` against the configured vocabulary; the tags then
//! choose the category.

use std::path::Path;

use onnx_protobuf::{
    AttributeProto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto, attribute_proto, tensor_proto, tensor_shape_proto,
    type_proto,
};

use crate::common::*;

/// The token vocabulary and each token's embedding (r, g, b, "filler").
const TOKENS: &[(&str, [f32; 4])] = &[
    ("[PAD]", [0.0; 4]),
    ("[UNK]", [0.0; 4]),
    ("a", [0.0, 0.0, 0.0, 0.1]),
    ("photo", [0.0, 0.0, 0.0, 0.1]),
    ("of", [0.0, 0.0, 0.0, 0.1]),
    ("red", [1.0, 0.0, 0.0, 0.0]),
    ("crimson", [0.9, 0.1, 0.0, 0.0]),
    ("green", [0.0, 1.0, 0.0, 0.0]),
    ("blue", [0.0, 0.0, 1.0, 0.0]),
];

fn value_info(
    name: &str,
    elem: tensor_proto::DataType,
    dims: &[Result<i64, &str>],
) -> ValueInfoProto {
    let mut shape = TensorShapeProto::new();
    for d in dims {
        let mut dim = tensor_shape_proto::Dimension::new();
        match d {
            Ok(v) => dim.set_dim_value(*v),
            Err(p) => dim.set_dim_param(p.to_string()),
        }
        shape.dim.push(dim);
    }
    let mut tensor = type_proto::Tensor::new();
    tensor.elem_type = elem as i32;
    tensor.shape = Some(shape).into();
    let mut tp = TypeProto::new();
    tp.set_tensor_type(tensor);
    let mut vi = ValueInfoProto::new();
    vi.name = name.into();
    vi.type_ = Some(tp).into();
    vi
}

fn floats(name: &str, dims: &[i64], data: Vec<f32>) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = name.into();
    t.dims = dims.to_vec();
    t.data_type = tensor_proto::DataType::FLOAT as i32;
    t.float_data = data;
    t
}

fn ints(name: &str, data: Vec<i64>) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = name.into();
    t.dims = vec![data.len() as i64];
    t.data_type = tensor_proto::DataType::INT64 as i32;
    t.int64_data = data;
    t
}

fn node(op: &str, inputs: &[&str], output: &str, attrs: Vec<AttributeProto>) -> NodeProto {
    let mut n = NodeProto::new();
    n.op_type = op.into();
    n.name = output.into();
    n.input = inputs.iter().map(|s| s.to_string()).collect();
    n.output = vec![output.into()];
    n.attribute = attrs;
    n
}

fn int_attr(name: &str, v: i64) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = attribute_proto::AttributeType::INT.into();
    a.i = v;
    a
}

fn save(path: &Path, graph: GraphProto) {
    let mut m = ModelProto::new();
    m.ir_version = 8;
    let mut opset = OperatorSetIdProto::new();
    opset.version = 13;
    m.opset_import.push(opset);
    m.producer_name = "facet tests".into();
    m.graph = Some(graph).into();
    std::fs::write(path, m.write_to_bytes().unwrap()).unwrap();
}

/// Image tower: [N,3,8,8] → global average pool → [N,3] → × W → [N,4].
fn image_tower(path: &Path) {
    use tensor_proto::DataType::FLOAT;
    let mut g = GraphProto::new();
    g.name = "image".into();
    g.input.push(value_info(
        "pixel_values",
        FLOAT,
        &[Err("n"), Ok(3), Ok(8), Ok(8)],
    ));
    g.output
        .push(value_info("image_embeds", FLOAT, &[Err("n"), Ok(4)]));
    #[rustfmt::skip]
    let w = vec![
        1.0, 0.0, 0.0, 0.0,
        0.0, 1.0, 0.0, 0.0,
        0.0, 0.0, 1.0, 0.0,
    ];
    g.initializer.push(floats("w", &[3, 4], w));
    g.node.push(node(
        "GlobalAveragePool",
        &["pixel_values"],
        "pooled",
        vec![],
    ));
    g.node.push(node(
        "Flatten",
        &["pooled"],
        "flat",
        vec![int_attr("axis", 1)],
    ));
    g.node
        .push(node("MatMul", &["flat", "w"], "image_embeds", vec![]));
    save(path, g);
}

/// Text tower: ids [N,L] → token embeddings [N,L,4] × mask → sum over L → [N,4].
fn text_tower(path: &Path) {
    use tensor_proto::DataType::{FLOAT, INT64};
    let mut g = GraphProto::new();
    g.name = "text".into();
    g.input
        .push(value_info("input_ids", INT64, &[Err("n"), Err("l")]));
    g.input
        .push(value_info("attention_mask", INT64, &[Err("n"), Err("l")]));
    g.output
        .push(value_info("text_embeds", FLOAT, &[Err("n"), Ok(4)]));
    let table: Vec<f32> = TOKENS.iter().flat_map(|(_, e)| *e).collect();
    g.initializer
        .push(floats("table", &[TOKENS.len() as i64, 4], table));
    g.initializer.push(ints("axis2", vec![2]));
    g.initializer.push(ints("axis1", vec![1]));
    g.node
        .push(node("Gather", &["table", "input_ids"], "tokens", vec![]));
    g.node.push(node(
        "Cast",
        &["attention_mask"],
        "maskf",
        vec![int_attr("to", FLOAT as i64)],
    ));
    g.node
        .push(node("Unsqueeze", &["maskf", "axis2"], "mask3", vec![]));
    g.node
        .push(node("Mul", &["tokens", "mask3"], "masked", vec![]));
    g.node.push(node(
        "ReduceSum",
        &["masked", "axis1"],
        "text_embeds",
        vec![int_attr("keepdims", 0)],
    ));
    save(path, g);
}

fn tokenizer(path: &Path) {
    let vocab: serde_json::Map<String, serde_json::Value> = TOKENS
        .iter()
        .enumerate()
        .map(|(i, (t, _))| (t.to_string(), i.into()))
        .collect();
    let json = serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [],
        "normalizer": { "type": "Lowercase" },
        "pre_tokenizer": { "type": "Whitespace" },
        "post_processor": null,
        "decoder": null,
        "model": { "type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]" }
    });
    std::fs::write(path, json.to_string()).unwrap();
}

fn png(path: &Path, rgb: [u8; 3]) {
    image::RgbImage::from_pixel(16, 16, image::Rgb(rgb))
        .save(path)
        .unwrap();
}

const PIPELINE: &str = r#"
version: 1
models_dir: models
stages:
  scan:   { uses: scan }
  decode: { uses: decode, after: [scan] }
  clip:
    uses: onnx
    after: [decode]
    with:
      model: image.onnx
      size: [8, 8]
      outputs:
        image_embeds: { column: embedding, as: vector, dim: 4 }
  tags:
    uses: zero_shot_tags
    after: [clip]
    with:
      text_model: text.onnx
      tokenizer: tokenizer.json
      dim: 4
      prompt: "a photo of {}"
"#;

/// The dual encoder, the pipeline, five one-colour photos and the
/// configuration of the vocabulary, written under `t`: `(pipeline, photos,
/// scoring_config.json)`.
pub(crate) fn dual_encoder_library(
    t: &Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    std::fs::create_dir_all(t.join("models")).unwrap();
    image_tower(&t.join("models/image.onnx"));
    text_tower(&t.join("models/text.onnx"));
    tokenizer(&t.join("models/tokenizer.json"));
    std::fs::write(t.join("pipeline.yaml"), PIPELINE).unwrap();
    let photos = t.join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for (name, rgb) in [
        ("red", [255, 0, 0]),
        ("green", [0, 255, 0]),
        ("blue", [0, 0, 255]),
        ("yellow", [255, 255, 0]),
        ("grey", [128, 128, 128]),
    ] {
        png(&photos.join(format!("{name}.png")), rgb);
    }
    // The vocabulary: a category's tags and standalone tags; the threshold
    // from `models.clip`, the count from `tagging`.
    let config = serde_json::json!({
        "models": { "clip": { "similarity_threshold_percent": 65 } },
        "tagging": { "max_tags": 1 },
        "standalone_tags": { "green": ["green"], "blue_sky": ["blue"] },
        "categories": [
            {
                "name": "reds", "priority": 1,
                "filters": { "required_tags": ["red"] },
                "weights": { "aesthetic_percent": 50, "tech_sharpness_percent": 50 },
                "tags": { "red": ["red", "crimson"] }
            },
            {
                "name": "default", "priority": 100,
                "weights": { "aesthetic_percent": 50, "tech_sharpness_percent": 50 }
            }
        ]
    });
    std::fs::write(t.join("scoring_config.json"), config.to_string()).unwrap();
    (
        t.join("pipeline.yaml"),
        photos,
        t.join("scoring_config.json"),
    )
}

#[test]
fn zero_shot_tags_from_a_dual_encoder_choose_the_category() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (pipeline, photos, config_path) = dual_encoder_library(t);
    let store = t.join("store");
    let r = run_into(
        facet_ort(),
        Some(pipeline.to_str().unwrap()),
        &photos,
        &store,
        &["--config", config_path.to_str().unwrap()],
    );
    assert_eq!(r.status, 0, "{}\n{}", r.stdout, r.stderr);
    let rows = sql_json(
        &store,
        "SELECT path, tags, category FROM photos ORDER BY path",
    );
    let got: Vec<(String, Vec<String>, String)> = rows
        .iter()
        .map(|r| {
            let name = Path::new(r["path"].as_str().unwrap())
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let tags = r["tags"]
                .as_array()
                .unwrap_or_else(|| panic!("no tags: {r:?}"))
                .iter()
                .map(|t| t.as_str().unwrap().to_string())
                .collect();
            (name, tags, r["category"].as_str().unwrap_or("").to_string())
        })
        .collect();
    let expect = |name: &str, tags: &[&str], category: &str| {
        let row = got.iter().find(|g| g.0 == name).unwrap();
        assert_eq!(row.1, tags, "{name}: {got:?}");
        assert_eq!(row.2, category, "{name}: {got:?}");
    };
    // cos(red photo, "a photo of red") = 0.96
    expect("red", &["red"], "reds");
    expect("green", &["green"], "default");
    expect("blue", &["blue_sky"], "default");
    // yellow is 0.74 from red (its synonym crimson) and 0.68 from green:
    // both pass 65 %, `max_tags: 1` keeps the best.
    expect("yellow", &["red"], "reds");
    // grey is at most 0.61 from any tag (crimson): under the threshold.
    expect("grey", &[], "default");

    // A tagger expecting another embedding width than the image tower
    // writes is refused before the first photo, naming the column.
    let wrong = PIPELINE.replace("dim: 4\n      prompt", "dim: 3\n      prompt");
    std::fs::write(t.join("wrong.yaml"), wrong).unwrap();
    let r = run_into(
        facet_ort(),
        Some(t.join("wrong.yaml").to_str().unwrap()),
        &photos,
        &t.join("store2"),
        &["--config", config_path.to_str().unwrap()],
    );
    assert_ne!(r.status, 0);
    assert!(
        r.stderr.contains("stages.tags") && r.stderr.contains("`embedding`"),
        "{}",
        r.stderr
    );
}
