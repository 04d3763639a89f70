//! Auto-tuning (`processing.auto_tuning`): while a run goes, resources are
//! sampled every `monitor_interval_seconds` and the knobs move within their
//! bounds:
//! * GPU memory above `memory_limit_percent` → GPU batch −25 %;
//! * RAM above `memory_limit_percent` → RAM chunk (photos admitted per batch)
//!   −25 %; RAM 20 points under the limit → chunk +25 %.
//!
//! Bounds are limits: the chunk never goes above the smallest `batch:` a
//! stage declares (an upper bound, documented as such) nor above what the
//! memory budget admits ([`Tuner::limited`]), even where the configured
//! `min_ram_chunk_size` is larger; model stages cap their inferences at
//! their own `batch:` whatever the GPU batch knob says.
//!
//! Memory is measured against the cgroup's limit when Facet runs in a
//! container (`memory.max` / `memory.limit_in_bytes`), not the host's total.
//! GPUs are read through NVML (`nvml-wrapper`); without one the tuner runs in
//! RAM-only mode and says so once. The rules are pure ([`Tuner::observe`]),
//! tested against scripted samples.

use std::path::Path;

use facet_config::AutoTuning;
use sysinfo::System;

/// One reading of the machine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// RAM in use, percent of the limit that applies (cgroup or host).
    pub ram_used_percent: f64,
    /// GPU memory in use, percent of the GPU's; `None` without a GPU.
    pub gpu_used_percent: Option<f64>,
}

/// Where samples come from (the system, or a script in tests).
pub trait Probe: Send {
    fn sample(&mut self) -> Sample;
}

/// The knobs the tuner moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Knobs {
    /// Photos admitted per batch (the reference's RAM chunk).
    pub chunk: usize,
    /// Images per model inference call on the GPU.
    pub gpu_batch: usize,
}

/// The tuning rules with their bounds.
#[derive(Debug, Clone)]
pub struct Tuner {
    cfg: AutoTuning,
    pub knobs: Knobs,
    /// The hard ceiling of the chunk: the smallest `batch:` a stage declares
    /// (an upper bound) and what the memory budget admits. The configured
    /// `min_ram_chunk_size` gives way to it.
    most: usize,
}

impl Tuner {
    /// Starts from `initial`, clamped to the configured bounds.
    pub fn new(cfg: &AutoTuning, initial: Knobs) -> Self {
        let mut t = Tuner {
            cfg: cfg.clone(),
            knobs: initial,
            most: usize::MAX,
        };
        t.knobs.chunk = t.clamp_chunk(initial.chunk);
        t.knobs.gpu_batch = initial
            .gpu_batch
            .clamp(cfg.min_gpu_batch_size.max(1), cfg.max_gpu_batch_size.max(1));
        t
    }

    /// Never lets the chunk above `most` (the pipeline's smallest `batch:`,
    /// the memory budget's limit), whatever the configured bounds say.
    pub fn limited(mut self, most: usize) -> Self {
        self.most = most.max(1);
        self.knobs.chunk = self.clamp_chunk(self.knobs.chunk);
        self
    }

    fn clamp_chunk(&self, c: usize) -> usize {
        let hi = self
            .cfg
            .max_ram_chunk_size
            .max(self.cfg.min_ram_chunk_size)
            .max(1)
            .min(self.most);
        c.clamp(self.cfg.min_ram_chunk_size.max(1).min(hi), hi)
    }

    /// Applies the rules to one sample; returns what changed, in words.
    pub fn observe(&mut self, s: Sample) -> Vec<String> {
        let mut said = Vec::new();
        let limit = self.cfg.memory_limit_percent;
        if let Some(gpu) = s.gpu_used_percent
            && gpu > limit
        {
            let b = (self.knobs.gpu_batch * 3 / 4).max(self.cfg.min_gpu_batch_size.max(1));
            if b != self.knobs.gpu_batch {
                said.push(format!(
                    "GPU memory {gpu:.0} % > {limit:.0} %: GPU batch {} -> {b}",
                    self.knobs.gpu_batch
                ));
                self.knobs.gpu_batch = b;
            }
        }
        let ram = s.ram_used_percent;
        let chunk = if ram > limit {
            self.clamp_chunk(self.knobs.chunk * 3 / 4)
        } else if ram < limit - 20.0 {
            self.clamp_chunk((self.knobs.chunk * 5).div_ceil(4))
        } else {
            self.knobs.chunk
        };
        if chunk != self.knobs.chunk {
            let why = if ram > limit {
                format!("RAM {ram:.0} % > {limit:.0} %")
            } else {
                format!("RAM {ram:.0} % < {:.0} %", limit - 20.0)
            };
            said.push(format!("{why}: chunk {} -> {chunk}", self.knobs.chunk));
            self.knobs.chunk = chunk;
        }
        said
    }
}

/// The memory limit of this process's cgroup, if it has one (v2, then v1).
pub fn cgroup_memory_limit() -> Option<u64> {
    cgroup_limit_in(Path::new("/sys/fs/cgroup"))
}

fn cgroup_limit_in(root: &Path) -> Option<u64> {
    let read = |p: &Path| std::fs::read_to_string(p).ok();
    if let Some(v) = read(&root.join("memory.max")) {
        return v.trim().parse().ok(); // "max" → None
    }
    let v: u64 = read(&root.join("memory/memory.limit_in_bytes"))?
        .trim()
        .parse()
        .ok()?;
    // v1 reports "no limit" as a huge page-aligned number.
    (v < 1 << 60).then_some(v)
}

/// RAM in use by the cgroup when it has a limit (v2 `memory.current`), else
/// the host's used memory; and the limit it is measured against.
fn ram_used_and_limit(sys: &mut System) -> (u64, u64) {
    sys.refresh_memory();
    let host_total = sys.total_memory().max(1);
    match cgroup_memory_limit() {
        Some(limit) if limit < host_total => {
            let used = std::fs::read_to_string("/sys/fs/cgroup/memory.current")
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| sys.used_memory());
            (used, limit)
        }
        _ => (sys.used_memory(), host_total),
    }
}

/// The memory the run may plan with: the cgroup's limit when lower than the
/// host's available memory.
pub fn available_memory() -> u64 {
    let mut sys = System::new();
    sys.refresh_memory();
    let avail = sys.available_memory();
    match cgroup_memory_limit() {
        Some(limit) => {
            let (used, _) = ram_used_and_limit(&mut sys);
            avail.min(limit.saturating_sub(used))
        }
        None => avail,
    }
}

/// The first GPU NVML reports: (name, total memory in bytes).
pub fn gpu() -> Result<(String, u64), String> {
    let nvml = nvml_wrapper::Nvml::init().map_err(|e| e.to_string())?;
    let dev = nvml.device_by_index(0).map_err(|e| e.to_string())?;
    let mem = dev.memory_info().map_err(|e| e.to_string())?;
    Ok((dev.name().unwrap_or_else(|_| "GPU".into()), mem.total))
}

/// The real machine: sysinfo (and the cgroup) for RAM, NVML for the GPU.
pub struct SystemProbe {
    sys: System,
    nvml: Option<nvml_wrapper::Nvml>,
}

impl SystemProbe {
    /// Also returns why there is no GPU, when there is none.
    pub fn new() -> (Self, Option<String>) {
        let (nvml, why) = match nvml_wrapper::Nvml::init() {
            Ok(n) => (Some(n), None),
            Err(e) => (None, Some(e.to_string())),
        };
        (
            SystemProbe {
                sys: System::new(),
                nvml,
            },
            why,
        )
    }
}

impl Probe for SystemProbe {
    fn sample(&mut self) -> Sample {
        let (used, limit) = ram_used_and_limit(&mut self.sys);
        let gpu_used_percent = self.nvml.as_ref().and_then(|n| {
            let m = n.device_by_index(0).ok()?.memory_info().ok()?;
            Some(100.0 * m.used as f64 / m.total.max(1) as f64)
        });
        Sample {
            ram_used_percent: 100.0 * used as f64 / limit.max(1) as f64,
            gpu_used_percent,
        }
    }
}

/// A VRAM profile for `facet run --profile auto`: ≥ 20 GB → 24gb, ≥ 14 → 16gb,
/// ≥ 6 → 8gb, else (or without a GPU) legacy; with the reason.
pub fn pick_profile(gpu: Result<(String, u64), String>) -> (&'static str, String) {
    match gpu {
        Err(e) => ("legacy", format!("no GPU found ({e}): the CPU profile")),
        Ok((name, total)) => {
            let gb = total as f64 / 1e9;
            let p = if gb >= 20.0 {
                "24gb"
            } else if gb >= 14.0 {
                "16gb"
            } else if gb >= 6.0 {
                "8gb"
            } else {
                "legacy"
            };
            (p, format!("{name} with {gb:.1} GB of VRAM"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A probe that replays a script.
    struct Script(std::vec::IntoIter<Sample>);

    impl Probe for Script {
        fn sample(&mut self) -> Sample {
            self.0.next().expect("script long enough")
        }
    }

    fn ram(p: f64) -> Sample {
        Sample {
            ram_used_percent: p,
            gpu_used_percent: None,
        }
    }

    #[test]
    fn the_tuner_follows_a_scripted_machine() {
        let cfg = AutoTuning::default(); // limit 85 %, chunk 10..=128, GPU batch 2..=32
        let mut t = Tuner::new(
            &cfg,
            Knobs {
                chunk: 32,
                gpu_batch: 16,
            },
        );
        let mut probe = Script(
            vec![
                ram(50.0), // 35 points under: +25 %
                ram(80.0), // within 20 points: hold
                ram(90.0), // over: −25 %
                ram(95.0),
                Sample {
                    ram_used_percent: 70.0,
                    gpu_used_percent: Some(97.0),
                },
            ]
            .into_iter(),
        );
        let mut chunks = Vec::new();
        let mut said = Vec::new();
        for _ in 0..5 {
            said.extend(t.observe(probe.sample()));
            chunks.push(t.knobs.chunk);
        }
        assert_eq!(chunks, vec![40, 40, 30, 22, 22]);
        assert_eq!(t.knobs.gpu_batch, 12);
        assert!(
            said.iter().any(|s| s.contains("GPU batch 16 -> 12")),
            "{said:?}"
        );
        assert!(
            said.iter().any(|s| s.contains("chunk 40 -> 30")),
            "{said:?}"
        );
    }

    #[test]
    fn knobs_stay_within_bounds() {
        let cfg = AutoTuning::default();
        let mut t = Tuner::new(
            &cfg,
            Knobs {
                chunk: 11,
                gpu_batch: 2,
            },
        );
        for _ in 0..10 {
            t.observe(Sample {
                ram_used_percent: 99.0,
                gpu_used_percent: Some(99.0),
            });
        }
        assert_eq!(t.knobs.chunk, cfg.min_ram_chunk_size);
        assert_eq!(t.knobs.gpu_batch, cfg.min_gpu_batch_size);
        for _ in 0..40 {
            t.observe(ram(1.0));
        }
        assert_eq!(t.knobs.chunk, cfg.max_ram_chunk_size);
    }

    #[test]
    fn the_chunk_never_exceeds_a_stages_batch() {
        // A stage declares `batch: 4`, under the configured minimum chunk
        // (10): the declared batch is an upper bound and wins.
        let cfg = AutoTuning {
            min_ram_chunk_size: 1,
            ..AutoTuning::default()
        };
        let mut t = Tuner::new(
            &cfg,
            Knobs {
                chunk: 4,
                gpu_batch: 16,
            },
        )
        .limited(4);
        assert_eq!(t.knobs.chunk, 4, "the start is within the batch");
        // A machine with room to spare, then pressure, then room again.
        let mut probe = Script(
            std::iter::repeat_n(ram(1.0), 30)
                .chain(std::iter::repeat_n(ram(99.0), 10))
                .chain(std::iter::repeat_n(ram(1.0), 30))
                .collect::<Vec<_>>()
                .into_iter(),
        );
        let mut seen = Vec::new();
        for _ in 0..70 {
            t.observe(probe.sample());
            seen.push(t.knobs.chunk);
        }
        assert!(seen.iter().all(|&c| (1..=4).contains(&c)), "{seen:?}");
        assert_eq!(*seen.last().unwrap(), 4, "grows back to the batch");
        assert!(seen.contains(&1), "shrinks under pressure: {seen:?}");
        // With the configured minimum (10) above the batch, it stays at the batch.
        let mut t = Tuner::new(
            &AutoTuning::default(),
            Knobs {
                chunk: 4,
                gpu_batch: 16,
            },
        )
        .limited(4);
        for s in [ram(1.0), ram(99.0), ram(1.0)] {
            t.observe(s);
            assert_eq!(t.knobs.chunk, 4);
        }
        // Started above it, it is brought down at once.
        let t = Tuner::new(
            &cfg,
            Knobs {
                chunk: 100,
                gpu_batch: 16,
            },
        )
        .limited(6);
        assert_eq!(t.knobs.chunk, 6);
    }

    #[test]
    fn cgroup_limits_are_read_from_v2_and_v1_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("memory.max"), "2147483648\n").unwrap();
        assert_eq!(cgroup_limit_in(d.path()), Some(2 << 30));
        std::fs::write(d.path().join("memory.max"), "max\n").unwrap();
        assert_eq!(cgroup_limit_in(d.path()), None);
        let v1 = tempfile::tempdir().unwrap();
        std::fs::create_dir(v1.path().join("memory")).unwrap();
        std::fs::write(
            v1.path().join("memory/memory.limit_in_bytes"),
            "9223372036854771712",
        )
        .unwrap();
        assert_eq!(cgroup_limit_in(v1.path()), None, "v1's 'no limit'");
        std::fs::write(v1.path().join("memory/memory.limit_in_bytes"), "1073741824").unwrap();
        assert_eq!(cgroup_limit_in(v1.path()), Some(1 << 30));
    }

    #[test]
    fn profiles_follow_vram() {
        let gb = |g: f64| Ok(("GPU".to_string(), (g * 1e9) as u64));
        assert_eq!(pick_profile(gb(24.0)).0, "24gb");
        assert_eq!(pick_profile(gb(16.0)).0, "16gb");
        assert_eq!(pick_profile(gb(8.0)).0, "8gb");
        assert_eq!(pick_profile(gb(4.0)).0, "legacy");
        let (p, why) = pick_profile(Err("NVML not found".into()));
        assert_eq!(p, "legacy");
        assert!(why.contains("NVML not found"));
    }
}
