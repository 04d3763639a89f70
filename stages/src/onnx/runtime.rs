//! Finding and loading ONNX Runtime (`libonnxruntime.so`) at run time.
//!
//! Facet links no ONNX Runtime: `ort` loads the library on first use, so a
//! CPU-only pipeline never needs it. The library is looked for, in order:
//! 1. `ORT_DYLIB_PATH` (a file);
//! 2. `$FACET_TOOLS_DIR/onnxruntime/`, then `.tools/onnxruntime/` in the working
//!    directory and beside the `facet` binary (where `tools/onnxruntime` puts
//!    it);
//! 3. the system's library path (`libonnxruntime.so` through the dynamic loader).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;

/// What to tell a user who has no ONNX Runtime.
pub const INSTALL_HINT: &str = "install ONNX Runtime with `tools/onnxruntime` (downloads the `onnxruntime` wheel from PyPI into .tools/) or `pip install onnxruntime`, then set ORT_DYLIB_PATH to the library (for pip: …/site-packages/onnxruntime/capi/libonnxruntime.so.<version>)";

/// The library file name in a folder, whatever its version suffix.
fn in_dir(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libonnxruntime.so"))
        })
        .collect();
    found.sort();
    found.pop()
}

/// Where the library is, or why it cannot be found.
pub fn locate() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "ORT_DYLIB_PATH={} is not a file; {INSTALL_HINT}",
                p.display()
            ))
        };
    }
    let mut dirs = Vec::new();
    if let Some(t) = std::env::var_os("FACET_TOOLS_DIR") {
        dirs.push(PathBuf::from(t).join("onnxruntime"));
    }
    dirs.push(PathBuf::from(".tools/onnxruntime"));
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        dirs.push(exe_dir.join(".tools/onnxruntime"));
        dirs.push(exe_dir.clone());
    }
    if let Some(p) = dirs.iter().find_map(|d| in_dir(d)) {
        return Ok(p);
    }
    // Last: let the dynamic loader search the system's paths.
    Ok(PathBuf::from("libonnxruntime.so"))
}

static ENV: OnceLock<Result<Environment, String>> = OnceLock::new();

/// The process's ONNX Runtime environment, loading the library on first use.
/// Fails with a message saying what to install when the library is missing
/// or unusable.
pub fn environment() -> Result<&'static Environment, String> {
    ENV.get_or_init(|| {
        let path = locate()?;
        // `ort` panics (rather than erring) on some loader failures: contain it.
        let loaded = std::panic::catch_unwind(|| {
            ort::init_from(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| b.with_name("facet").build().map_err(|e| e.to_string()))
        });
        match loaded {
            Ok(Ok(env)) => Ok(env),
            Ok(Err(e)) => Err(format!(
                "cannot load ONNX Runtime from {}: {e}; {INSTALL_HINT}",
                path.display()
            )),
            Err(_) => Err(format!(
                "cannot load ONNX Runtime from {}; {INSTALL_HINT}",
                path.display()
            )),
        }
    })
    .as_ref()
    .map_err(Clone::clone)
}
