//! `processing.mode`: which model stages are loaded together.
//!
//! *Single-pass* builds every stage once per worker and keeps it for the whole
//! run; a model stage's sessions are not per worker, though: each model is
//! loaded once per process and shared by every worker's instance of the
//! stage (see `facet_stages::onnx::shared`), so what is loaded — and what
//! the packing below and the run's memory reservation count — is each model
//! once, however many workers there are. *Multi-pass* packs the model stages (those that load model files), in
//! execution order, into passes whose declared `needs.vram` fit the VRAM
//! budget. Each admitted batch is a RAM chunk (`processing.ram_chunk_size`):
//! its images are decoded once, then each pass loads its models, runs the
//! chunk and is unloaded when the next pass loads — so at most one pass is
//! resident at a time. `models.keep_in_ram` keeps CPU-resident models
//! (stages without `needs.vram`) loaded between chunks when RAM allows;
//! sessions on a GPU are always unloaded, since ONNX Runtime cannot park a
//! device session in host memory. *Auto* is single-pass when every model
//! fits the VRAM budget together (or there is no GPU to juggle), else
//! multi-pass.

use facet_config::{KeepInRam, ProcessingMode};

use crate::Plan;

/// How a run loads its model stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passes {
    /// `true`: every stage stays loaded for the whole run.
    pub single: bool,
    /// Per transform stage (index into [`Plan::stages`]): its pass, `None` for
    /// stages without models (always loaded).
    pub pass_of: Vec<Option<usize>>,
    /// Per transform stage: keep it loaded between chunks (multi-pass only).
    pub keep: Vec<bool>,
    /// Stage names per pass, for the run's report.
    pub names: Vec<Vec<String>>,
    /// Why this mode.
    pub why: String,
}

fn gib(b: u64) -> String {
    format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64)
}

/// Packs `plan`'s model stages into passes.
///
/// `vram`: the VRAM budget (the pipeline's `budget.vram`, else the GPU's),
/// `None` without a GPU. `ram`: the RAM budget, for `keep_in_ram: auto`.
pub fn plan_passes(
    plan: &Plan,
    mode: ProcessingMode,
    keep_in_ram: KeepInRam,
    vram: Option<u64>,
    ram: u64,
) -> Passes {
    let n = plan.stages.len();
    let is_model: Vec<bool> = plan
        .stages
        .iter()
        .map(|s| !s.configured.plan().models.is_empty())
        .collect();
    let need: Vec<u64> = plan
        .stages
        .iter()
        .map(|s| s.needs.vram.unwrap_or(0))
        .collect();
    let models: Vec<usize> = (0..n).filter(|&i| is_model[i]).collect();
    let total: u64 = models.iter().map(|&i| need[i]).sum();
    let single = |why: String| Passes {
        single: true,
        pass_of: vec![None; n],
        keep: vec![true; n],
        names: if models.is_empty() {
            Vec::new()
        } else {
            vec![
                models
                    .iter()
                    .map(|&i| plan.stages[i].name.clone())
                    .collect(),
            ]
        },
        why,
    };
    let why = match (mode, vram) {
        _ if models.len() < 2 && mode != ProcessingMode::MultiPass => {
            return single(format!("{} model stage(s): nothing to split", models.len()));
        }
        (ProcessingMode::SinglePass, _) => {
            return single("processing.mode: single-pass".into());
        }
        (ProcessingMode::Auto, None) => {
            return single("no GPU: the models share RAM, loaded once".into());
        }
        (ProcessingMode::Auto, Some(v)) if total <= v => {
            return single(format!(
                "the model stages need {} of VRAM together, within the {} budget",
                gib(total),
                gib(v)
            ));
        }
        (ProcessingMode::Auto, Some(v)) => format!(
            "the model stages need {} of VRAM together, over the {} budget",
            gib(total),
            gib(v)
        ),
        (ProcessingMode::MultiPass, Some(v)) => {
            format!("processing.mode: multi-pass, passes packed into {}", gib(v))
        }
        (ProcessingMode::MultiPass, None) => {
            "processing.mode: multi-pass without a VRAM budget: one model stage per pass".into()
        }
    };
    // Greedy, in execution order: a pass takes stages while they fit.
    let cap = vram.unwrap_or(0);
    let mut pass_of = vec![None; n];
    let mut names: Vec<Vec<String>> = Vec::new();
    let mut used = 0u64;
    for &i in &models {
        let fits = vram.is_some() && !names.is_empty() && used + need[i] <= cap;
        if !fits {
            names.push(Vec::new());
            used = 0;
        }
        used += need[i];
        pass_of[i] = Some(names.len() - 1);
        names
            .last_mut()
            .expect("a pass")
            .push(plan.stages[i].name.clone());
    }
    // Kept between chunks: CPU-resident models (no VRAM need), when allowed.
    let model_bytes = model_bytes(plan, models.iter().copied());
    let keep_cpu = match keep_in_ram {
        KeepInRam::Always => true,
        KeepInRam::Never => false,
        // Room for the weights (and as much again for the sessions) in a
        // quarter of the RAM budget: the rest is for the images.
        KeepInRam::Auto => model_bytes.saturating_mul(2) <= ram / 4,
    };
    let keep = (0..n)
        .map(|i| !is_model[i] || (keep_cpu && need[i] == 0))
        .collect();
    Passes {
        single: false,
        pass_of,
        keep,
        names,
        why,
    }
}

/// Bytes of the model files that stages `stages` (indices into
/// [`Plan::stages`]) load, each file once: a model is loaded once per
/// process, whatever the number of workers, and two stages naming the same
/// file share its session.
pub fn model_bytes(plan: &Plan, stages: impl Iterator<Item = usize>) -> u64 {
    let mut seen = std::collections::HashSet::new();
    stages
        .flat_map(|i| plan.stages[i].configured.plan().models.iter())
        .filter_map(|m| {
            let meta = std::fs::metadata(&m.path).ok()?;
            let key = std::fs::canonicalize(&m.path).unwrap_or_else(|_| m.path.clone());
            seen.insert(key).then_some(meta.len())
        })
        .sum()
}

/// What stays loaded at the worst moment of a run, in model-file bytes:
/// every model in single-pass; in multi-pass the largest pass with the
/// models kept between chunks. Counted once per process (see [`model_bytes`]).
pub fn resident_model_bytes(plan: &Plan, passes: &Passes) -> u64 {
    let n = plan.stages.len();
    let is_model = |i: usize| !plan.stages[i].configured.plan().models.is_empty();
    if passes.single {
        return model_bytes(plan, (0..n).filter(|&i| is_model(i)));
    }
    (0..passes.names.len())
        .map(|p| {
            model_bytes(
                plan,
                (0..n).filter(|&i| is_model(i) && (passes.pass_of[i] == Some(p) || passes.keep[i])),
            )
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::registry;

    fn plan(needs: &[(&str, u64)]) -> Plan {
        let mut yaml = String::from(
            "version: 1\nbudget: { vram: 64GiB }\nstages:\n  f: { uses: files }\n  l: { uses: load, after: [f], with: { bytes: 10 } }\n",
        );
        for (name, vram) in needs {
            yaml.push_str(&format!(
                "  {name}: {{ uses: model, after: [l], needs: {{ vram: {vram} }}, with: {{ column: {name}, model: {name}.onnx }} }}\n"
            ));
        }
        crate::compile(&yaml, &registry(), &Default::default()).unwrap_or_else(|d| panic!("{d:?}"))
    }

    const G: u64 = 1 << 30;

    #[test]
    fn auto_is_single_pass_when_everything_fits_or_there_is_no_gpu() {
        let p = plan(&[("clip", 4 * G), ("samp", G)]);
        let fits = plan_passes(
            &p,
            ProcessingMode::Auto,
            KeepInRam::Never,
            Some(8 * G),
            8 * G,
        );
        assert!(fits.single, "{fits:?}");
        let no_gpu = plan_passes(&p, ProcessingMode::Auto, KeepInRam::Never, None, 8 * G);
        assert!(no_gpu.single && no_gpu.why.contains("no GPU"), "{no_gpu:?}");
    }

    #[test]
    fn passes_are_packed_in_order_within_the_vram_budget() {
        let p = plan(&[("clip", 4 * G), ("samp", G), ("faces", G), ("topiq", 6 * G)]);
        let m = plan_passes(
            &p,
            ProcessingMode::Auto,
            KeepInRam::Never,
            Some(7 * G),
            8 * G,
        );
        assert!(!m.single);
        assert_eq!(
            m.names,
            vec![vec!["clip", "samp", "faces"], vec!["topiq"]],
            "{}",
            m.why
        );
        // decode is not a model stage: no pass, always loaded.
        assert_eq!(m.pass_of[0], None);
        assert!(m.keep[0]);
        // GPU stages are never kept between chunks.
        let kept = plan_passes(
            &p,
            ProcessingMode::MultiPass,
            KeepInRam::Always,
            Some(7 * G),
            8 * G,
        );
        assert!(kept.keep[1..].iter().all(|k| !k), "{kept:?}");
        let single = plan_passes(
            &p,
            ProcessingMode::SinglePass,
            KeepInRam::Never,
            Some(G),
            8 * G,
        );
        assert!(single.single);
    }

    #[test]
    fn models_are_counted_once_per_process() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("m.onnx"), vec![0u8; 1000]).unwrap();
        std::fs::write(dir.path().join("n.onnx"), vec![0u8; 10]).unwrap();
        let m = dir.path().join("m.onnx");
        let n = dir.path().join("n.onnx");
        // Two stages on the same file and one on another.
        let yaml = format!(
            "version: 1\nstages:\n  f: {{ uses: files }}\n  l: {{ uses: load, after: [f], with: {{ bytes: 10 }} }}\n  a: {{ uses: model, after: [l], with: {{ column: a, model: {m} }} }}\n  b: {{ uses: model, after: [l], with: {{ column: b, model: {m} }} }}\n  c: {{ uses: model, after: [l], with: {{ column: c, model: {n} }} }}\n",
            m = m.display(),
            n = n.display()
        );
        let p = crate::compile(&yaml, &registry(), &Default::default())
            .unwrap_or_else(|d| panic!("{d:?}"));
        let single = plan_passes(
            &p,
            ProcessingMode::SinglePass,
            KeepInRam::Never,
            None,
            8 * G,
        );
        assert_eq!(resident_model_bytes(&p, &single), 1010);
        let multi = plan_passes(&p, ProcessingMode::MultiPass, KeepInRam::Never, None, 8 * G);
        assert_eq!(multi.names.len(), 3);
        assert_eq!(resident_model_bytes(&p, &multi), 1000, "the largest pass");
    }

    #[test]
    fn forced_multi_pass_without_a_gpu_runs_one_model_per_pass() {
        let p = plan(&[("a", 0), ("b", 0)]);
        let m = plan_passes(
            &p,
            ProcessingMode::MultiPass,
            KeepInRam::Always,
            None,
            8 * G,
        );
        assert_eq!(m.names, vec![vec!["a"], vec!["b"]]);
        // CPU models are kept when asked to.
        assert!(m.keep.iter().all(|k| *k));
        let never = plan_passes(&p, ProcessingMode::MultiPass, KeepInRam::Never, None, 8 * G);
        assert!(!never.keep[1] && !never.keep[2]);
    }
}
