//! `facet`: tells you which photos are worth keeping.

mod compare;
mod events;
mod models;
mod recommend;
mod run;
mod serve;
mod sql;
mod user;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use facet_config::FacetConfig;
use facet_library::derive::{groups, people, scores};

/// The default pipeline, embedded so that `facet run <folder>` needs no file.
pub const DEFAULT_PIPELINE: &str = include_str!("../pipelines/cpu.yaml");
/// The VRAM profiles' pipelines, for `facet run --profile`.
pub const PROFILES: [(&str, &str); 4] = [
    ("legacy", include_str!("../pipelines/legacy.yaml")),
    ("8gb", include_str!("../pipelines/8gb.yaml")),
    ("16gb", include_str!("../pipelines/16gb.yaml")),
    ("24gb", include_str!("../pipelines/24gb.yaml")),
];
pub const DEFAULT_STORE: &str = "./facet-data";

/// Opens the store at `dir`, upgrading one an earlier Facet wrote to this
/// one's format first (`facet_library::upgrade`; said on stderr).
pub fn open_store(dir: &std::path::Path) -> Result<facet_store::Store> {
    let (store, upgraded) = facet_library::upgrade::open(dir)
        .with_context(|| format!("opening the store {}", dir.display()))?;
    if let Some(u) = upgraded {
        eprintln!("{}: {u}", dir.display());
    }
    Ok(store)
}

#[derive(Parser)]
#[command(
    name = "facet",
    version,
    about = "Tells you which photos are worth keeping"
)]
struct Cli {
    /// scoring_config.json (or .yaml); default ./scoring_config.json when present.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Analyse photos: `facet run [PIPELINE.yaml] <paths…>` (default pipeline: cpu).
    Run(run::RunArgs),
    /// Live mode: analyse the folders, then keep the library current as
    /// photos are added, edited, moved and deleted (`facet watch
    /// [PIPELINE.yaml] <folders…>`).
    Watch(watch::WatchArgs),
    /// Check a pipeline file and report every problem, with paths and lines.
    Check { pipeline: PathBuf },
    /// Detect bursts, duplicates and similar photos (also done at the end of
    /// every run): only what changed since the last detection, unless --full.
    DetectDuplicates {
        #[arg(long)]
        store: Option<PathBuf>,
        /// Detect every group again (as after a change of settings).
        #[arg(long)]
        full: bool,
    },
    /// Decide about a burst or duplicate group; decisions survive re-runs.
    Groups {
        #[command(subcommand)]
        what: GroupsCommand,
        #[arg(long, global = true)]
        store: Option<PathBuf>,
    },
    /// The model files a pipeline loads.
    /// People from faces: cluster, name, assign a face by hand, hide.
    Faces {
        #[command(subcommand)]
        what: FacesCommand,
        #[arg(long, global = true)]
        store: Option<PathBuf>,
    },
    Models {
        #[command(subcommand)]
        what: ModelsCommand,
    },
    /// Run SQL over the store's tables (photos, failures).
    Sql(sql::SqlArgs),
    /// Export the store.
    Export {
        #[command(subcommand)]
        what: Export,
    },
    /// Re-score the library from stored metrics (after editing scoring_config.json).
    Recompute {
        #[arg(long)]
        store: Option<PathBuf>,
    },
    /// Remove the photos marked missing (their file gone at the last run
    /// over their folder) and every row that hangs off them.
    Prune {
        #[arg(long)]
        store: Option<PathBuf>,
        /// List what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The Analysis checks: findings about the scored library and concrete
    /// changes to scoring_config.json.
    Recommend {
        #[arg(long)]
        store: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The configuration.
    Config {
        #[command(subcommand)]
        what: ConfigCommand,
    },
    /// The gallery: browse, filter and rate the photos in a web browser.
    Serve(serve::ServeArgs),
    /// Comparison mode: the category weights the gallery's pairwise choices
    /// suggest (Bradley-Terry); `apply` writes them and re-scores.
    Compare {
        #[command(subcommand)]
        what: CompareCommand,
        #[arg(long, global = true)]
        store: Option<PathBuf>,
    },
    /// Users of the family NAS mode (written into the configuration file).
    User {
        #[command(subcommand)]
        what: UserCommand,
    },
    /// XMP sidecars for Lightroom, darktable, digiKam and Capture One:
    /// ratings, labels, keywords, people, Facet's scores.
    Xmp {
        #[command(subcommand)]
        what: XmpCommand,
        #[arg(long, global = true)]
        store: Option<PathBuf>,
        /// Whose ratings, favourites and rejects (the multi-user mode's
        /// member; leave out in the single-user mode).
        #[arg(long, global = true)]
        user: Option<String>,
        /// Sidecar names: `extension` (IMG_1234.CR2.xmp: darktable, digiKam)
        /// or `stem` (IMG_1234.xmp: Lightroom, Capture One); default
        /// `xmp.sidecar_naming`, else extension.
        #[arg(long, global = true, value_parser = clap::builder::PossibleValuesParser::new(facet_library::xmp_sidecar::Naming::NAMES))]
        naming: Option<String>,
    },
    /// List the stage kinds pipelines can use.
    Stages,
    /// Print the tables' schemas as Markdown.
    Schema,
}

#[derive(Subcommand)]
enum GroupsCommand {
    /// This photo leads its group.
    Lead {
        path: String,
        #[arg(long, value_parser = ["burst", "duplicate", "similar"])]
        kind: String,
    },
    /// Keep every photo of this photo's group.
    KeepAll {
        path: String,
        #[arg(long, value_parser = ["burst", "duplicate", "similar"])]
        kind: String,
    },
    /// Forget the decision about this photo.
    Reset {
        path: String,
        #[arg(long, value_parser = ["burst", "duplicate", "similar"])]
        kind: String,
    },
}

#[derive(Subcommand)]
enum XmpCommand {
    /// Write each photo's sidecar, merged into the existing one (other
    /// applications' fields are kept byte for byte).
    Export,
    /// Read ratings, labels and keywords back from the sidecars (the newer
    /// of the sidecar and Facet's state wins; keywords are merged).
    Import,
}

#[derive(Subcommand)]
enum CompareCommand {
    /// Print the current and the suggested weights of a category.
    Suggest { category: String },
    /// Write the suggested weights into the configuration file and re-score.
    Apply { category: String },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user (or set a user's password): prompts for the password.
    /// Setting an existing user's password ends their gallery sessions.
    Add {
        name: String,
        #[arg(long, value_parser = ["user", "admin", "superadmin"], default_value = "user")]
        role: String,
        #[arg(long)]
        display_name: Option<String>,
        /// The store whose gallery sessions end (default: the current
        /// directory's).
        #[arg(long)]
        store: Option<PathBuf>,
    },
    /// Remove a user from the configuration and end their gallery sessions.
    Remove {
        name: String,
        /// The store whose gallery sessions end (default: the current
        /// directory's).
        #[arg(long)]
        store: Option<PathBuf>,
    },
    /// Copy the single-user ratings, favourites and rejects of the photos in
    /// a user's folders into that user's own (kept where already set).
    MigratePreferences {
        #[arg(long)]
        user: String,
        /// The store (default: the current directory's).
        #[arg(long)]
        store: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum FacesCommand {
    /// Groups the stored faces into people (HDBSCAN, `face_clustering`),
    /// reading every face; existing ids, names and manual assignments are
    /// kept. (`facet run` and the other `faces` commands read only the
    /// faces a change reaches, to the same outcome.)
    Cluster,
    /// Names a person ("" removes the name).
    Name { person_id: i64, name: String },
    /// Puts a face (`faces.face_id`) in a person by hand, for good.
    Assign { face_id: String, person_id: i64 },
    /// Hides a person (`--show`: shows it again).
    Hide {
        person_id: i64,
        #[arg(long)]
        show: bool,
    },
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Each model file: stage, size, status (missing, present, verified,
    /// CHANGED since its export, BAD HASH), source, SHA-256, path.
    List { pipeline: PathBuf },
    /// Download the missing model files from the pipeline's URLs, checking SHA-256.
    Fetch { pipeline: PathBuf },
    /// Export the pipeline's models from their published PyTorch weights
    /// with the recipes of tools/export (in a Python environment this
    /// creates once), checked against PyTorch and recorded in the lock file.
    Export {
        pipeline: PathBuf,
        #[command(flatten)]
        options: models::ExportOptions,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration, defaults filled in.
    Show,
    /// Check the configuration and print every problem.
    Check,
}

#[derive(Subcommand)]
enum Export {
    /// Write each table as <dir>/<table>.parquet.
    Parquet {
        dir: PathBuf,
        #[arg(long)]
        store: Option<PathBuf>,
    },
}

fn load_config(path: Option<&PathBuf>) -> Result<FacetConfig> {
    let path = match path {
        Some(p) => p.clone(),
        None => {
            let default = PathBuf::from("scoring_config.json");
            if !default.exists() {
                return Ok(FacetConfig::default());
            }
            default
        }
    };
    let loaded = FacetConfig::load(&path)?;
    for w in &loaded.warnings {
        eprintln!("warning: {}: {w}", path.display());
    }
    Ok(loaded.config)
}

fn main() -> ExitCode {
    // Tests stop a run at named points (`FAILPOINTS`, see facet_library::failpoint).
    let _failpoints = facet_library::failpoint::setup();
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    let config = load_config(cli.config.as_ref())?;
    match cli.command {
        Command::Run(args) => run::run(args, config),
        Command::Watch(args) => watch::watch(args, config),
        Command::Check { pipeline } => {
            let text = std::fs::read_to_string(&pipeline)
                .with_context(|| format!("cannot read {}", pipeline.display()))?;
            let registry = facet_stages::registry();
            match facet_engine::compile_at(&text, pipeline.parent(), &registry, &config) {
                Ok(plan) => {
                    println!(
                        "{}: ok ({} stages: {})",
                        pipeline.display(),
                        plan.stages.len() + 1,
                        std::iter::once(plan.source.name.as_str())
                            .chain(plan.stages.iter().map(|s| s.name.as_str()))
                            .collect::<Vec<_>>()
                            .join(" -> ")
                    );
                    let missing = models::missing(&pipeline, &plan);
                    for m in &missing {
                        eprintln!("  warning: {}:{m}", pipeline.display());
                    }
                    if !missing.is_empty() {
                        eprintln!("  {} model file(s) missing", missing.len());
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(diags) => {
                    eprintln!("{}: {} problem(s)", pipeline.display(), diags.len());
                    for d in diags {
                        eprintln!("  {}:{d}", pipeline.display());
                    }
                    Ok(ExitCode::from(2))
                }
            }
        }
        Command::DetectDuplicates { store, full } => {
            let store = store.unwrap_or_else(|| PathBuf::from(DEFAULT_STORE));
            let rt = tokio::runtime::Runtime::new()?;
            let store = crate::open_store(&store)?;
            let d = groups::detect(&rt, &store, &config, full)?;
            println!(
                "{} photos: {} duplicate group(s) of {} photos, {} burst(s) of {} photos, {} similarity group(s) of {} photos in {:.2}s",
                d.photos,
                d.duplicate_groups,
                d.duplicates,
                d.bursts,
                d.in_bursts,
                d.similar_groups,
                d.similar,
                d.seconds
            );
            println!(
                "{} detection: {} photo(s) looked up, {} read, {} row(s) written, {} removed{}",
                if d.full { "full" } else { "incremental" },
                d.looked_up,
                d.read,
                d.written,
                d.removed,
                d.why_full
                    .as_ref()
                    .map(|w| format!(" ({w})"))
                    .unwrap_or_default()
            );
            println!("facet sql \"SELECT * FROM groups ORDER BY kind, group_id\" lists them");
            Ok(ExitCode::SUCCESS)
        }
        Command::Groups { what, store } => {
            let store = store.unwrap_or_else(|| PathBuf::from(DEFAULT_STORE));
            let rt = tokio::runtime::Runtime::new()?;
            let store = crate::open_store(&store)?;
            let (path, kind, decision) = match what {
                GroupsCommand::Lead { path, kind } => {
                    (path, kind, Some(facet_stages::groups::Decision::Lead))
                }
                GroupsCommand::KeepAll { path, kind } => {
                    (path, kind, Some(facet_stages::groups::Decision::KeepAll))
                }
                GroupsCommand::Reset { path, kind } => (path, kind, None),
            };
            let kind = facet_stages::groups::Kind::parse(&kind).expect("clap checked it");
            groups::decide(&rt, &store, kind, &path, decision)?;
            groups::detect(&rt, &store, &config, false)?;
            println!("ok");
            Ok(ExitCode::SUCCESS)
        }
        Command::Faces { what, store } => {
            let store = store.unwrap_or_else(|| PathBuf::from(DEFAULT_STORE));
            let rt = tokio::runtime::Runtime::new()?;
            let store = crate::open_store(&store)?;
            match &what {
                FacesCommand::Cluster => {}
                FacesCommand::Name { person_id, name } => {
                    people::edit_person(&rt, &store, *person_id, Some(Some(name.clone())), None)?
                }
                FacesCommand::Assign { face_id, person_id } => {
                    people::assign(&rt, &store, face_id, *person_id)?
                }
                FacesCommand::Hide { person_id, show } => {
                    people::edit_person(&rt, &store, *person_id, None, Some(!show))?
                }
            }
            let full = matches!(what, FacesCommand::Cluster);
            let c = people::cluster(&rt, &store, &config, full)?;
            println!("{}", c.summary());
            Ok(ExitCode::SUCCESS)
        }
        Command::Models { what } => match what {
            ModelsCommand::List { pipeline } => {
                models::list(&models::compile_file(&pipeline, &config)?)?;
                Ok(ExitCode::SUCCESS)
            }
            ModelsCommand::Fetch { pipeline } => {
                let failed = models::fetch(&models::compile_file(&pipeline, &config)?);
                Ok(if failed == 0 {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                })
            }
            ModelsCommand::Export { pipeline, options } => {
                let plan = models::compile_file(&pipeline, &config)?;
                let failed = models::export(&plan, &options.located())?;
                Ok(if failed == 0 {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                })
            }
        },
        Command::Sql(args) => sql::sql(args),
        Command::Export {
            what: Export::Parquet { dir, store },
        } => {
            let store = store.unwrap_or_else(|| PathBuf::from(DEFAULT_STORE));
            let rt = tokio::runtime::Runtime::new()?;
            let store = crate::open_store(&store)?;
            let files = rt.block_on(store.export_parquet(&dir))?;
            for f in files {
                println!("{}", f.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Recommend { store, json } => {
            let store = store.unwrap_or_else(|| PathBuf::from(DEFAULT_STORE));
            let rt = tokio::runtime::Runtime::new()?;
            let store = crate::open_store(&store)?;
            recommend::recommend(&rt, &store, &config, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Prune { store, dry_run } => {
            let store = store.unwrap_or_else(|| PathBuf::from(DEFAULT_STORE));
            let rt = tokio::runtime::Runtime::new()?;
            let store = crate::open_store(&store)?;
            let p = rt.block_on(facet_library::lifecycle::prune(&store, dry_run))?;
            for path in &p.photos {
                println!(
                    "{}missing: {path}",
                    if dry_run { "would remove " } else { "removed " }
                );
            }
            for (table, n) in &p.rows {
                if *n > 0 {
                    println!(
                        "{table}: {n} row(s) {}",
                        if dry_run {
                            "would be removed"
                        } else {
                            "removed"
                        }
                    );
                }
            }
            println!(
                "{} missing photo(s) {}",
                p.photos.len(),
                if dry_run {
                    "would be removed (dry run)"
                } else {
                    "removed"
                }
            );
            if !dry_run && !p.photos.is_empty() {
                // The library-wide results without them.
                scores::recompute(&rt, &store, &config)?;
                groups::detect(&rt, &store, &config, true)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Recompute { store } => {
            let store = store.unwrap_or_else(|| PathBuf::from(DEFAULT_STORE));
            let rt = tokio::runtime::Runtime::new()?;
            let store = crate::open_store(&store)?;
            let plugins = facet_events::Plugins::load(&config)?;
            let mark = events::Mark::now(&rt, &store)?;
            let r = scores::recompute(&rt, &store, &config)?;
            let queued = events::emit(&rt, &store, &plugins, &mark, &Default::default())?;
            if queued > 0 {
                println!("plugins: {queued} event delivery(ies) queued");
            }
            events::deliver(&rt, &store, &plugins, std::time::Duration::from_secs(30))?;
            println!(
                "{} photos re-scored, {} unchanged, {} removed in {:.2}s ({})",
                r.scored,
                r.kept,
                r.removed,
                r.seconds,
                match &r.full {
                    Some(why) => format!("every photo read: {why}"),
                    None => "only the photos analysed since read".into(),
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Config {
            what: ConfigCommand::Show,
        } => {
            println!(
                "{}",
                serde_json::to_string_pretty(&config.effective_json())?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Config {
            what: ConfigCommand::Check,
        } => {
            // Loading already checked it (errors and warnings are printed on the way).
            println!("ok");
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => serve::serve(args, config, cli.config.clone()),
        Command::Compare { what, store } => {
            let store = store.unwrap_or_else(|| PathBuf::from(DEFAULT_STORE));
            let path = cli
                .config
                .clone()
                .unwrap_or_else(|| PathBuf::from("scoring_config.json"));
            let (category, apply) = match what {
                CompareCommand::Suggest { category } => (category, false),
                CompareCommand::Apply { category } => (category, true),
            };
            compare::compare(&store, &path, &config, &category, apply)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::User {
            what: UserCommand::MigratePreferences { user, store },
        } => {
            let dir = store.unwrap_or_else(|| PathBuf::from(DEFAULT_STORE));
            user::migrate_preferences(&dir, &config, &user)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::User {
            what:
                UserCommand::Add {
                    name,
                    role,
                    display_name,
                    store,
                },
        } => {
            let path = cli
                .config
                .clone()
                .unwrap_or_else(|| PathBuf::from("scoring_config.json"));
            let existed = user::add(&path, &name, &role, display_name.as_deref())?;
            if existed {
                let dir = store.unwrap_or_else(|| PathBuf::from(DEFAULT_STORE));
                user::end_sessions(&dir, &config, &name)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::User {
            what: UserCommand::Remove { name, store },
        } => {
            let path = cli
                .config
                .clone()
                .unwrap_or_else(|| PathBuf::from("scoring_config.json"));
            user::remove(&path, &name)?;
            let dir = store.unwrap_or_else(|| PathBuf::from(DEFAULT_STORE));
            user::end_sessions(&dir, &config, &name)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Xmp {
            what,
            store,
            user,
            naming,
        } => xmp(what, store, user.as_deref(), naming.as_deref(), &config),
        Command::Stages => {
            for k in facet_stages::registry() {
                println!("{:<12} {}", k.name(), k.doc());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema => {
            for t in facet_schemas::tables() {
                println!("{}", t.markdown());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `facet xmp export|import`.
fn xmp(
    what: XmpCommand,
    store: Option<PathBuf>,
    user: Option<&str>,
    naming: Option<&str>,
    config: &FacetConfig,
) -> Result<ExitCode> {
    use facet_library::xmp_sidecar::{self as xmp, Member, Naming, XmpSettings};
    let settings = XmpSettings::from_config(config)?;
    let naming = match naming {
        Some(n) => Naming::parse(n).context("clap checked it")?,
        None => settings.naming,
    };
    let member = Member::resolve(config, user)?;
    let store = store.unwrap_or_else(|| PathBuf::from(DEFAULT_STORE));
    let rt = tokio::runtime::Runtime::new()?;
    let store = crate::open_store(&store)?;
    let failed = match what {
        XmpCommand::Export => {
            let e = rt.block_on(xmp::export(&store, &member, naming, &settings))?;
            println!(
                "{} sidecar(s) written ({} new, {} merged), {} unchanged, {} photo(s) skipped (file gone or not yours), {} failed",
                e.created + e.merged,
                e.created,
                e.merged,
                e.unchanged,
                e.skipped,
                e.failed.len()
            );
            e.failed
        }
        XmpCommand::Import => {
            let i = rt.block_on(xmp::import(&store, &member, naming, &settings))?;
            println!(
                "{} sidecar(s) read: {} photo(s) with a new rating, favourite or reject, {} with new keywords, {} older than Facet's state (kept), {} failed",
                i.read,
                i.states,
                i.keywords,
                i.older,
                i.failed.len()
            );
            i.failed
        }
    };
    for f in &failed {
        eprintln!("error: {}: {}", f.sidecar.display(), f.error);
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
