//! What the model benches share: the shared data folder and ONNX Runtime.

use std::path::{Path, PathBuf};

/// `../shared` (models and photos).
pub fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

/// Sets `ORT_DYLIB_PATH` from `tools/onnxruntime` when it is not set.
pub fn ensure_ort() {
    if std::env::var_os("ORT_DYLIB_PATH").is_some() {
        return;
    }
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/onnxruntime");
    let out = std::process::Command::new(tool)
        .output()
        .expect("tools/onnxruntime runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = String::from_utf8(out.stdout).unwrap();
    // SAFETY: set before any thread of this process reads the environment.
    unsafe { std::env::set_var("ORT_DYLIB_PATH", path.trim()) };
}
