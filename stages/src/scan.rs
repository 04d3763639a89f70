//! `scan`: walks the given paths recursively and yields every photo file.
//!
//! JPEG, PNG, TIFF, HEIC/HEIF, AVIF, WebP, JPEG XL and the RAW formats CR2, CR3,
//! NEF, ARW, RAF, RW2, DNG, ORF, SRW, PEF. A RAW file with a same-stem JPEG
//! beside it is skipped (the JPEG stands for it). Hidden directories are skipped
//! per `scanning.skip_hidden_directories`. Symlink loops and unreadable folders
//! are reported, never fatal.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use facet_engine::stage::{Found, ScanIssue};
use facet_engine::{
    BuildCx, Built, Diagnostic, FileEntry, PlanCx, Source, StageError, StageKind, StagePlan,
};
use serde::Deserialize;

use crate::working::photos_field;

pub const JPEG_EXTENSIONS: &[&str] = &["jpg", "jpeg", "jpe"];
pub const RAW_EXTENSIONS: &[&str] = &[
    "cr2", "cr3", "nef", "arw", "raf", "rw2", "dng", "orf", "srw", "pef",
];
pub const OTHER_EXTENSIONS: &[&str] =
    &["png", "tif", "tiff", "heic", "heif", "avif", "webp", "jxl"];

pub struct Scan;

/// `with:` of `scan`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanConfig {
    /// Skip directories whose name starts with `.`; default `scanning.skip_hidden_directories`.
    #[serde(default)]
    pub skip_hidden_directories: Option<bool>,
    /// Follow symbolic links (loops are detected and reported). Default true.
    #[serde(default)]
    pub follow_symlinks: Option<bool>,
    /// Skip a RAW file when a JPEG of the same stem lies beside it. Default true.
    #[serde(default)]
    pub skip_raw_with_jpeg: Option<bool>,
}

impl StageKind for Scan {
    const NAME: &'static str = "scan";
    const DOC: &'static str =
        "Finds photo files under the given paths (the source of every pipeline).";
    type Config = ScanConfig;

    fn plan(&self, _cfg: &ScanConfig, _cx: &PlanCx) -> Result<StagePlan, Vec<Diagnostic>> {
        Ok(StagePlan {
            writes: ["path", "file_size", "file_mtime"]
                .iter()
                .map(|n| photos_field(n))
                .collect(),
            source: true,
            ..Default::default()
        })
    }

    fn build(&self, cfg: &ScanConfig, cx: &BuildCx) -> Result<Built, StageError> {
        Ok(Built::Source(Box::new(Scanner {
            skip_hidden: cfg
                .skip_hidden_directories
                .unwrap_or(cx.config.scanning.skip_hidden_directories),
            follow_symlinks: cfg.follow_symlinks.unwrap_or(true),
            skip_raw_with_jpeg: cfg.skip_raw_with_jpeg.unwrap_or(true),
        })))
    }
}

/// The walker.
pub struct Scanner {
    pub skip_hidden: bool,
    pub follow_symlinks: bool,
    pub skip_raw_with_jpeg: bool,
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
}

/// Whether the file name looks like a photo Facet analyses.
pub fn is_photo(path: &Path) -> bool {
    extension(path).is_some_and(|e| {
        JPEG_EXTENSIONS.contains(&e.as_str())
            || RAW_EXTENSIONS.contains(&e.as_str())
            || OTHER_EXTENSIONS.contains(&e.as_str())
    })
}

fn has_jpeg_sibling(path: &Path) -> bool {
    let (Some(dir), Some(stem)) = (path.parent(), path.file_stem()) else {
        return false;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        p.file_stem() == Some(stem)
            && extension(&p).is_some_and(|x| JPEG_EXTENSIONS.contains(&x.as_str()))
    })
}

impl Source for Scanner {
    fn scan<'a>(&'a mut self, roots: &'a [PathBuf]) -> Box<dyn Iterator<Item = Found> + 'a> {
        let skip_hidden = self.skip_hidden;
        let skip_raw = self.skip_raw_with_jpeg;
        let follow = self.follow_symlinks;
        Box::new(roots.iter().flat_map(move |root| {
            let root_abs = std::path::absolute(root).unwrap_or_else(|_| root.clone());
            let walker = walkdir::WalkDir::new(root_abs)
                .follow_links(follow)
                .sort_by_file_name()
                .into_iter()
                .filter_entry(move |e| {
                    !(skip_hidden
                        && e.depth() > 0
                        && e.file_type().is_dir()
                        && e.file_name().to_str().is_some_and(|n| n.starts_with('.')))
                });
            walker.filter_map(move |entry| match entry {
                Err(e) => {
                    let path = e.path().map(Path::to_path_buf).unwrap_or_default();
                    let reason = if e.loop_ancestor().is_some() {
                        format!(
                            "symlink loop back to {}",
                            e.loop_ancestor().unwrap_or(Path::new("?")).display()
                        )
                    } else {
                        e.io_error()
                            .map(|io| io.to_string())
                            .unwrap_or_else(|| e.to_string())
                    };
                    Some(Found::Issue(ScanIssue { path, reason }))
                }
                Ok(e) if e.file_type().is_file() && is_photo(e.path()) => {
                    let path = e.path().to_path_buf();
                    if skip_raw
                        && extension(&path).is_some_and(|x| RAW_EXTENSIONS.contains(&x.as_str()))
                        && has_jpeg_sibling(&path)
                    {
                        return None;
                    }
                    match e.metadata() {
                        Ok(m) => {
                            let mtime_ns = m
                                .modified()
                                .ok()
                                .map(|t| match t.duration_since(UNIX_EPOCH) {
                                    Ok(d) => d.as_nanos() as i64,
                                    Err(before) => -(before.duration().as_nanos() as i64),
                                })
                                .unwrap_or(0);
                            Some(Found::File(FileEntry {
                                path,
                                size: m.len(),
                                mtime_ns,
                            }))
                        }
                        Err(err) => Some(Found::Issue(ScanIssue {
                            path,
                            reason: err.to_string(),
                        })),
                    }
                }
                Ok(_) => None,
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn files(found: Vec<Found>) -> (Vec<String>, Vec<String>) {
        let mut f = Vec::new();
        let mut i = Vec::new();
        for x in found {
            match x {
                Found::File(e) => {
                    f.push(e.path.file_name().unwrap().to_string_lossy().into_owned())
                }
                Found::Issue(s) => i.push(s.reason),
            }
        }
        (f, i)
    }

    #[test]
    fn finds_photos_skips_hidden_and_raw_pairs() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir_all(r.join("a/.hidden")).unwrap();
        for p in [
            "a/x.JPG",
            "a/x.NEF",
            "a/y.cr3",
            "a/notes.txt",
            "a/.hidden/z.png",
            "b.webp",
            "c.HEIC",
        ] {
            fs::write(r.join(p), b"data").unwrap();
        }
        let mut s = Scanner {
            skip_hidden: true,
            follow_symlinks: true,
            skip_raw_with_jpeg: true,
        };
        let roots = vec![r.to_path_buf()];
        let (found, issues) = files(s.scan(&roots).collect());
        assert_eq!(found, ["x.JPG", "y.cr3", "b.webp", "c.HEIC"]);
        assert!(issues.is_empty());
        let mut s = Scanner {
            skip_hidden: false,
            follow_symlinks: true,
            skip_raw_with_jpeg: false,
        };
        let (found, _) = files(s.scan(&roots).collect());
        assert!(found.contains(&"z.png".to_string()) && found.contains(&"x.NEF".to_string()));
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loops_and_unreadable_folders_are_reported() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir_all(r.join("a")).unwrap();
        fs::write(r.join("a/p.jpg"), b"x").unwrap();
        std::os::unix::fs::symlink(r, r.join("a/loop")).unwrap();
        let mut s = Scanner {
            skip_hidden: true,
            follow_symlinks: true,
            skip_raw_with_jpeg: true,
        };
        let roots = vec![r.to_path_buf(), r.join("missing")];
        let (found, issues) = files(s.scan(&roots).collect());
        assert_eq!(found, ["p.jpg"]);
        assert!(
            issues.iter().any(|i| i.contains("symlink loop")),
            "{issues:?}"
        );
        assert!(
            issues.iter().any(|i| i.contains("No such file")),
            "{issues:?}"
        );
    }
}
