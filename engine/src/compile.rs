//! The pipeline compiler: checks a pipeline file as a whole and reports every
//! problem at once, each with its path and line; on success, a [`Plan`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arrow_schema::Field;
use facet_config::FacetConfig;

use crate::diagnostic::nearest;
use crate::locate::locate;
use crate::spec::{self, BudgetSpec, PipelineSpec, StageSpec};
use crate::{Configured, Diagnostic, DynStageKind, PlanCx};

/// A checked pipeline, stages in execution order.
#[derive(Debug)]
pub struct Plan {
    pub store: Option<String>,
    /// Where relative model paths resolve (see [`PlanCx::models_dir`]).
    pub models_dir: Option<std::path::PathBuf>,
    /// The pipeline file's folder, when it was read from a file.
    pub pipeline_dir: Option<std::path::PathBuf>,
    pub budget: BudgetSpec,
    /// The source stage (exactly one).
    pub source: PlannedStage,
    /// Transform stages, ancestors before descendants.
    pub stages: Vec<PlannedStage>,
    /// The stages a `choice:` did not select, with the model files they
    /// would load (`facet models export --alternatives` produces those too).
    pub alternatives: Vec<Alternative>,
}

/// A stage the configuration did not choose (`choice:`).
#[derive(Debug)]
pub struct Alternative {
    pub name: String,
    /// `setting=value` that would select it.
    pub choice: String,
    pub models: Vec<crate::stage::ModelFile>,
}

pub struct PlannedStage {
    pub name: String,
    pub uses: String,
    pub batch: Option<usize>,
    pub needs: spec::Needs,
    /// The stages it runs after (`after:`), as the file names them.
    pub after: Vec<String>,
    pub configured: Arc<dyn Configured>,
    /// For a stage that writes the working image: the largest side read downstream.
    pub image_side: Option<u32>,
}

impl std::fmt::Debug for PlannedStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlannedStage")
            .field("name", &self.name)
            .field("uses", &self.uses)
            .field("image_side", &self.image_side)
            .finish()
    }
}

impl Plan {
    /// Estimated peak bytes per photo in flight through the whole pipeline.
    pub fn bytes_per_photo(&self) -> u64 {
        self.stages
            .iter()
            .map(|s| s.configured.plan().bytes_per_photo)
            .sum::<u64>()
            .max(64 << 10)
    }

    /// Largest batch any stage allows (the smallest `batch:` set), if any.
    pub fn batch_limit(&self) -> Option<usize> {
        self.stages.iter().filter_map(|s| s.batch).min()
    }

    /// The `photos` table this plan writes: the columns `schemas/` declares
    /// and those the pipeline's stages add (a model's outputs, say). Nested
    /// columns of child tables (`faces`) are stored in their own table.
    pub fn photos_table(&self) -> facet_schemas::Table {
        let extra = self.stages.iter().flat_map(|s| {
            s.configured
                .plan()
                .writes
                .iter()
                .filter(|f| {
                    !f.name().starts_with('_') && facet_schemas::child_table(f.name()).is_none()
                })
                .map(|f| {
                    facet_schemas::Column::extra(
                        f,
                        format!("Written by pipeline stage `{}` ({}).", s.name, s.uses),
                    )
                })
        });
        facet_schemas::photos().with_extra(extra)
    }

    /// Every model file of the pipeline, with the stage that loads it.
    pub fn models(&self) -> Vec<(&str, &crate::stage::ModelFile)> {
        self.stages
            .iter()
            .flat_map(|s| {
                s.configured
                    .plan()
                    .models
                    .iter()
                    .map(|m| (s.name.as_str(), m))
            })
            .collect()
    }

    /// Stages that need ONNX Runtime.
    pub fn onnx_stages(&self) -> Vec<&str> {
        self.stages
            .iter()
            .filter(|s| s.configured.plan().onnx_runtime)
            .map(|s| s.name.as_str())
            .collect()
    }

    /// Every column that will be stored (working columns excluded).
    pub fn stored_columns(&self) -> Vec<Field> {
        self.stages
            .iter()
            .flat_map(|s| s.configured.plan().writes.iter())
            .filter(|f| !f.name().starts_with('_'))
            .cloned()
            .collect()
    }
}

/// Checks `text` (the contents of `file`) against the registry.
pub fn compile(
    text: &str,
    registry: &[Box<dyn DynStageKind>],
    config: &FacetConfig,
) -> Result<Plan, Vec<Diagnostic>> {
    compile_at(text, None, registry, config)
}

/// [`compile`] for a pipeline read from a file in `dir`: relative model paths
/// resolve against `dir` joined with the pipeline's `models_dir`.
pub fn compile_at(
    text: &str,
    dir: Option<&std::path::Path>,
    registry: &[Box<dyn DynStageKind>],
    config: &FacetConfig,
) -> Result<Plan, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let finish = |mut diags: Vec<Diagnostic>| {
        for d in &mut diags {
            if d.line.is_none() {
                d.line = locate(text, &d.path);
            }
        }
        diags
    };

    let value: serde_yaml::Value = match serde_yaml::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let mut d = Diagnostic::new("", format!("not valid YAML: {e}"));
            d.line = e.location().map(|l| l.line());
            d.path = "(file)".into();
            return Err(vec![d]);
        }
    };
    let spec: PipelineSpec = match serde_path_to_error::deserialize(value.clone()) {
        Ok(s) => s,
        Err(e) => {
            let path = e.path().to_string();
            diags.push(Diagnostic::new(
                if path == "." {
                    "(top level)".into()
                } else {
                    path
                },
                e.into_inner().to_string(),
            ));
            // Go on with the stages so that their problems are reported too.
            match value
                .get("stages")
                .and_then(|s| serde_yaml::from_value(s.clone()).ok())
            {
                Some(stages) => PipelineSpec {
                    version: value
                        .get("version")
                        .and_then(|v| v.as_u64())
                        .map_or(spec::VERSION, |v| v as u32),
                    store: None,
                    models_dir: None,
                    budget: Default::default(),
                    stages,
                },
                None => return Err(finish(diags)),
            }
        }
    };
    if spec.version != spec::VERSION {
        diags.push(Diagnostic::new(
            "version",
            format!(
                "unsupported version {}, expected {}",
                spec.version,
                spec::VERSION
            ),
        ));
    }

    let kinds: HashMap<&str, &dyn DynStageKind> =
        registry.iter().map(|k| (k.name(), k.as_ref())).collect();
    let models_dir = match (&spec.models_dir, dir) {
        (Some(m), Some(d)) => Some(d.join(m)),
        (Some(m), None) => Some(std::path::PathBuf::from(m)),
        (None, d) => d.map(std::path::Path::to_path_buf),
    };
    let cx = PlanCx {
        config,
        models_dir: models_dir.as_deref(),
        pipeline_dir: dir,
    };
    let mut specs: Vec<(String, StageSpec)> = Vec::new();
    let mut parsed: Vec<(String, StageSpec, Arc<dyn Configured>)> = Vec::new();
    let mut unconfigured = 0;
    for (name, raw) in &spec.stages {
        let at = format!("stages.{name}");
        let stage: StageSpec = match serde_path_to_error::deserialize(raw.clone()) {
            Ok(s) => s,
            Err(e) => {
                let path = e.path().to_string();
                let path = if path == "." {
                    at.clone()
                } else {
                    format!("{at}.{path}")
                };
                diags.push(Diagnostic::new(path, e.into_inner().to_string()));
                unconfigured += 1;
                continue;
            }
        };
        specs.push((name.clone(), stage.clone()));
        let Some(kind) = kinds.get(stage.uses.as_str()) else {
            let hint = nearest(&stage.uses, kinds.keys().copied())
                .map(|n| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default();
            let mut known: Vec<_> = kinds.keys().copied().collect();
            known.sort();
            diags.push(Diagnostic::new(
                format!("{at}.uses"),
                format!(
                    "unknown stage kind `{}`{hint}; known kinds: {}",
                    stage.uses,
                    known.join(", ")
                ),
            ));
            unconfigured += 1;
            continue;
        };
        match kind.configure(&stage.with, &cx) {
            Ok(c) => parsed.push((name.clone(), stage, c)),
            Err(ds) => {
                diags.extend(ds.into_iter().map(|d| d.under(&format!("{at}.with"))));
                unconfigured += 1;
            }
        }
    }

    // `after` references.
    let names: HashSet<&str> = spec.stages.keys().map(String::as_str).collect();
    for (name, stage) in &specs {
        for (i, dep) in stage.after.iter().enumerate() {
            if !names.contains(dep.as_str()) {
                let hint = nearest(dep, names.iter().copied())
                    .map(|n| format!(" (did you mean `{n}`?)"))
                    .unwrap_or_default();
                diags.push(Diagnostic::new(
                    format!("stages.{name}.after[{i}]"),
                    format!("no stage named `{dep}`{hint}"),
                ));
            } else if dep == name {
                diags.push(Diagnostic::new(
                    format!("stages.{name}.after[{i}]"),
                    "a stage cannot run after itself",
                ));
            }
        }
    }
    // Needs within the budget.
    for (name, stage) in &specs {
        for (what, need, have) in [
            ("ram", stage.needs.ram, spec.budget.ram),
            ("vram", stage.needs.vram, spec.budget.vram),
        ] {
            if let (Some(need), Some(have)) = (need, have)
                && need > have
            {
                diags.push(Diagnostic::new(
                    format!("stages.{name}.needs.{what}"),
                    format!(
                        "needs {} but budget.{what} is {}",
                        bytesize::ByteSize(need),
                        bytesize::ByteSize(have)
                    ),
                ));
            }
        }
        if let Some(0) = stage.batch {
            diags.push(Diagnostic::new(
                format!("stages.{name}.batch"),
                "must be at least 1",
            ));
        }
    }
    // The graph and column checks need every stage configured; without that
    // they would only repeat the problems above in other words.
    if unconfigured > 0 {
        return Err(finish(diags));
    }

    // Alternatives chosen by a setting (`choice:`): keep the chosen stage of each.
    let (parsed, alternatives) = choose(parsed, config, &mut diags);

    // Topological order (Kahn); what is left over lies on a cycle.
    let index: HashMap<&str, usize> = parsed
        .iter()
        .enumerate()
        .map(|(i, (n, _, _))| (n.as_str(), i))
        .collect();
    let deps: Vec<Vec<usize>> = parsed
        .iter()
        .map(|(n, s, _)| {
            s.after
                .iter()
                .filter(|d| *d != n)
                .filter_map(|d| index.get(d.as_str()).copied())
                .collect()
        })
        .collect();
    let mut order = Vec::new();
    let mut placed = vec![false; parsed.len()];
    loop {
        let ready: Vec<usize> = (0..parsed.len())
            .filter(|&i| !placed[i] && deps[i].iter().all(|&d| placed[d]))
            .collect();
        if ready.is_empty() {
            break;
        }
        for i in ready {
            placed[i] = true;
            order.push(i);
        }
    }
    if order.len() < parsed.len() {
        let stuck: Vec<usize> = (0..parsed.len()).filter(|&i| !placed[i]).collect();
        let cycle = find_cycle(&stuck, &deps).unwrap_or(stuck.clone());
        let names: Vec<&str> = cycle.iter().map(|&i| parsed[i].0.as_str()).collect();
        diags.push(Diagnostic::new(
            format!("stages.{}.after", names[0]),
            format!("cycle: {} after {}", names.join(" after "), names[0]),
        ));
    }

    // Columns: each stage reads only what its ancestors write, with the right type.
    let mut ancestors: Vec<HashSet<usize>> = vec![HashSet::new(); parsed.len()];
    for &i in &order {
        let mut set = HashSet::new();
        for &d in &deps[i] {
            set.insert(d);
            set.extend(ancestors[d].iter().copied());
        }
        ancestors[i] = set;
    }
    let photos_declared = facet_schemas::photos();
    let mut writers: BTreeMap<&str, usize> = BTreeMap::new();
    for &i in &order {
        for f in &parsed[i].2.plan().writes {
            if let Some(&other) = writers.get(f.name().as_str()) {
                diags.push(Diagnostic::new(
                    format!("stages.{}", parsed[i].0),
                    format!(
                        "column `{}` is already written by stage `{}`",
                        f.name(),
                        parsed[other].0
                    ),
                ));
            } else {
                writers.insert(f.name(), i);
            }
            if let Some(declared) = photos_declared.column(f.name())
                && !f.name().starts_with('_')
                && declared.data_type != *f.data_type()
            {
                diags.push(Diagnostic::new(
                    format!("stages.{}", parsed[i].0),
                    format!(
                        "writes column `{}` as {}, but the photos table declares it as {} (schemas/)",
                        f.name(),
                        f.data_type(),
                        declared.data_type
                    ),
                ));
            }
        }
    }
    for &i in &order {
        let (name, _, c) = &parsed[i];
        for read in &c.plan().reads {
            match writers.get(read.name().as_str()) {
                Some(&w) if ancestors[i].contains(&w) => {
                    let written = parsed[w].2.plan().writes.iter().find(|f| f.name() == read.name()).expect("writer");
                    if written.data_type() != read.data_type() {
                        diags.push(Diagnostic::new(
                            format!("stages.{name}"),
                            format!("reads column `{}` as {} but stage `{}` writes {}", read.name(), read.data_type(), parsed[w].0, written.data_type()),
                        ));
                    }
                }
                Some(&w) => diags.push(Diagnostic::new(
                    format!("stages.{name}.after"),
                    format!("reads column `{}`, written by stage `{}`, which is not among its `after` ancestors", read.name(), parsed[w].0),
                )),
                None => diags.push(Diagnostic::new(
                    format!("stages.{name}"),
                    format!("reads column `{}`, which no earlier stage writes", read.name()),
                )),
            }
        }
    }

    // Exactly one source, with no `after`.
    let sources: Vec<usize> = (0..parsed.len())
        .filter(|&i| parsed[i].2.plan().source)
        .collect();
    match sources.as_slice() {
        [] if !parsed.is_empty() => diags.push(Diagnostic::new(
            "stages",
            "no source stage: add `scan: { uses: scan }`",
        )),
        [] => diags.push(Diagnostic::new("stages", "the pipeline has no stages")),
        [s] if !parsed[*s].1.after.is_empty() => diags.push(Diagnostic::new(
            format!("stages.{}.after", parsed[*s].0),
            "a source stage runs first and takes no `after`",
        )),
        [_] => {}
        many => diags.push(Diagnostic::new(
            format!("stages.{}", parsed[many[1]].0),
            format!(
                "only one source stage is allowed (also `{}`)",
                parsed[many[0]].0
            ),
        )),
    }

    if !diags.is_empty() {
        return Err(finish(diags));
    }

    // Working-image size: the largest side any reader of a column asks for,
    // credited to the stage that writes that column.
    let mut image_side: HashMap<usize, u32> = HashMap::new();
    for &i in &order {
        let plan = parsed[i].2.plan();
        if let Some(side) = plan.image_side {
            for read in &plan.reads {
                if let Some(&w) = writers.get(read.name().as_str()) {
                    let e = image_side.entry(w).or_insert(0);
                    *e = (*e).max(side);
                }
            }
        }
    }
    let mut planned: Vec<Option<PlannedStage>> = parsed
        .into_iter()
        .enumerate()
        .map(|(i, (name, s, configured))| {
            Some(PlannedStage {
                name,
                uses: s.uses,
                batch: s.batch,
                needs: s.needs,
                after: s.after,
                configured,
                image_side: image_side.get(&i).copied(),
            })
        })
        .collect();
    let source = planned[sources[0]].take().expect("source");
    let stages = order
        .into_iter()
        .filter_map(|i| planned[i].take())
        .collect();
    Ok(Plan {
        store: spec.store,
        models_dir,
        pipeline_dir: dir.map(std::path::Path::to_path_buf),
        budget: spec.budget,
        source,
        stages,
        alternatives,
    })
}

/// A stage as parsed: its name, spec and configured kind.
type Parsed = (String, StageSpec, Arc<dyn Configured>);

/// Keeps, of the stages with a `choice:`, those their setting selects: its
/// value, or with `auto` (or no value) the first alternative in the file. A
/// value no stage offers is a problem naming the alternatives.
fn choose(
    parsed: Vec<Parsed>,
    config: &FacetConfig,
    diags: &mut Vec<Diagnostic>,
) -> (Vec<Parsed>, Vec<Alternative>) {
    let json = config.effective_json();
    let mut offered: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for (name, s, _) in &parsed {
        if let Some(c) = &s.choice {
            offered
                .entry(c.setting.as_str())
                .or_default()
                .push((c.value.as_str(), name.as_str()));
        }
    }
    let mut chosen: HashSet<String> = HashSet::new();
    for (setting, alternatives) in &offered {
        let pointer = format!("/{}", setting.replace('.', "/"));
        let value = json
            .pointer(&pointer)
            .and_then(|v| v.as_str())
            .unwrap_or("auto");
        let pick = if value == "auto" {
            alternatives.first()
        } else {
            alternatives.iter().find(|(v, _)| *v == value)
        };
        match pick {
            Some((_, stage)) => {
                chosen.insert(stage.to_string());
            }
            None => {
                let (_, first) = alternatives[0];
                diags.push(Diagnostic::new(
                    format!("stages.{first}.choice"),
                    format!(
                        "the configuration sets {setting} to `{value}`, which this pipeline does not offer (it offers: auto, {})",
                        alternatives.iter().map(|(v, _)| *v).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
    }
    let (kept, dropped): (Vec<_>, Vec<_>) = parsed
        .into_iter()
        .partition(|(name, s, _)| s.choice.is_none() || chosen.contains(name));
    let alternatives = dropped
        .into_iter()
        .map(|(name, s, configured)| {
            let c = s
                .choice
                .as_ref()
                .expect("only stages with a choice are dropped");
            Alternative {
                choice: format!("{}={}", c.setting, c.value),
                models: configured.plan().models.clone(),
                name,
            }
        })
        .collect();
    (kept, alternatives)
}

fn find_cycle(stuck: &[usize], deps: &[Vec<usize>]) -> Option<Vec<usize>> {
    // Walk dependencies from a stuck node until a node repeats.
    let stuck_set: HashSet<usize> = stuck.iter().copied().collect();
    let mut path = vec![*stuck.first()?];
    loop {
        let last = *path.last()?;
        let next = *deps[last].iter().find(|d| stuck_set.contains(d))?;
        if let Some(pos) = path.iter().position(|&p| p == next) {
            return Some(path[pos..].to_vec());
        }
        path.push(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::registry;

    fn check(text: &str) -> Result<Plan, Vec<Diagnostic>> {
        compile(text, &registry(), &FacetConfig::default())
    }

    #[test]
    fn a_good_pipeline_plans_in_order() {
        let plan = check(
            "version: 1\nstages:\n  m: { uses: measure, after: [l], with: { side: 300 } }\n  l: { uses: load, after: [f], with: { bytes: 10 } }\n  f: { uses: files }\n",
        )
        .unwrap();
        assert_eq!(plan.source.name, "f");
        let names: Vec<_> = plan.stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["l", "m"]);
        assert_eq!(
            plan.stages[0].image_side,
            Some(300),
            "the writer of _blob learns the largest side read"
        );
        assert_eq!(
            plan.stored_columns()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>(),
            ["size"]
        );
    }

    #[test]
    fn three_mistakes_are_all_reported_with_lines() {
        let text = "version: 1\nbudget: { ram: 1GiB }\nstages:\n  f: { uses: files }\n  l:\n    uses: lod\n  m:\n    uses: measure\n    after: [f, nope]\n    with:\n      sidee: 3\n";
        let diags = check(text).unwrap_err();
        let shown: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
        assert!(
            shown.iter().any(|d| d.starts_with(
                "line 6: stages.l.uses: unknown stage kind `lod` (did you mean `load`?)"
            )),
            "{shown:#?}"
        );
        assert!(
            shown
                .iter()
                .any(|d| d.starts_with("line 11: stages.m.with.sidee: unknown field `sidee`")),
            "{shown:#?}"
        );
        assert!(
            shown
                .iter()
                .any(|d| d.starts_with("line 9: stages.m.after[1]: no stage named `nope`")),
            "{shown:#?}"
        );
    }

    #[test]
    fn cycles_missing_columns_and_budgets() {
        let text = "version: 1\nbudget: { ram: 1GiB }\nstages:\n  f: { uses: files }\n  a: { uses: load, after: [b], with: { bytes: 1 } }\n  b: { uses: load, after: [a], with: { bytes: 1 } }\n  m: { uses: measure, after: [f], needs: { ram: 2GiB } }\n";
        let shown: Vec<String> = check(text)
            .unwrap_err()
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert!(shown.iter().any(|d| d.contains("cycle: ")), "{shown:#?}");
        assert!(
            shown.iter().any(
                |d| d.contains("stages.m: reads column `_blob`, written by stage")
                    || d.contains("which no earlier stage writes")
                    || d.contains("not among its `after` ancestors")
            ),
            "{shown:#?}"
        );
        assert!(
            shown
                .iter()
                .any(|d| d.contains("stages.m.needs.ram: needs 2.0 GiB but budget.ram is 1.0 GiB")),
            "{shown:#?}"
        );
    }

    #[test]
    fn yaml_errors_name_the_line() {
        let d = check("version: 1\nstages:\n  f: { uses: files\n").unwrap_err();
        assert_eq!(d.len(), 1);
        assert!(
            d[0].line.is_some() && d[0].message.contains("not valid YAML"),
            "{:?}",
            d[0]
        );
    }

    #[test]
    fn stage_config_checks_and_top_level_typos() {
        let shown: Vec<String> = check("version: 2\nstroe: x\nstages:\n  f: { uses: files }\n  l: { uses: load, after: [f], with: { bytes: 0 } }\n")
            .unwrap_err()
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert!(
            shown.iter().any(|d| d.contains("unknown field `stroe`")),
            "{shown:#?}"
        );
        assert!(
            shown
                .iter()
                .any(|d| d.contains("stages.l.with.bytes: must be positive")),
            "{shown:#?}"
        );
    }

    #[test]
    fn a_setting_chooses_between_alternative_stages() {
        let text = "version: 1\nstages:\n  f: { uses: files }\n  l: { uses: load, after: [f], with: { bytes: 10 } }\n  a: { uses: measure, after: [l], choice: { setting: quality.model, value: topiq } }\n  b: { uses: measure, after: [l], choice: { setting: quality.model, value: clip-mlp } }\n";
        let names = |c: &FacetConfig| -> Vec<String> {
            compile(text, &registry(), c)
                .unwrap()
                .stages
                .iter()
                .map(|s| s.name.clone())
                .collect()
        };
        // auto (the default): the first alternative
        assert_eq!(names(&FacetConfig::default()), vec!["l", "a"]);
        let mut c = FacetConfig::default();
        c.other
            .insert("quality".into(), serde_json::json!({ "model": "clip-mlp" }));
        assert_eq!(names(&c), vec!["l", "b"]);
        c.other
            .insert("quality".into(), serde_json::json!({ "model": "hyperiqa" }));
        let d = compile(text, &registry(), &c).unwrap_err();
        assert!(
            d[0].path == "stages.a.choice"
                && d[0].message.contains("offers: auto, topiq, clip-mlp"),
            "{d:?}"
        );
        assert!(d[0].line.is_some());
    }

    #[test]
    fn one_source_is_required() {
        let shown: Vec<String> =
            check("version: 1\nstages:\n  l: { uses: load, with: { bytes: 1 } }\n")
                .unwrap_err()
                .iter()
                .map(|d| d.to_string())
                .collect();
        assert!(
            shown.iter().any(|d| d.contains("no source stage")),
            "{shown:#?}"
        );
    }
}
