//! The built-in actions: `copy_to_folder` and `send_notification`.
//!
//! # `copy_to_folder`
//!
//! Copies the event's photo (`path`, or a burst's `best_path`) into the
//! action's folder (created if needed), under the photo's own file name:
//!
//! 1. The candidates are `NAME.EXT`, `NAME (2).EXT`, `NAME (3).EXT`, … in
//!    that order. An existing candidate with the same bytes as the photo
//!    (size, then content compared) means the copy is already there:
//!    nothing is done, so re-runs and re-deliveries are idempotent. An
//!    existing different file is never touched: the next candidate is tried.
//! 2. The first free candidate gets the copy: the bytes go to a hidden
//!    temporary file in the folder, which gets the photo's permissions and
//!    modification time and is then hard-linked to the candidate name —
//!    which fails rather than overwrite, should another process take the
//!    name meanwhile (then the next candidate is tried) — and removed. A
//!    crash leaves at most the temporary file, never half a photo under
//!    the name. Where hard links are not supported (some network or FAT
//!    file systems), the candidate is created with `create_new` and
//!    written in place.
//!
//! # `send_notification`
//!
//! Writes `notification: <event> <path> <aggregate>` to stderr, and keeps
//! the line in the delivery report ([`crate::Delivered::notifications`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// What `copy_to_folder` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Copied {
    /// Copied to this path.
    New(PathBuf),
    /// A byte-identical copy was already there.
    Present(PathBuf),
}

/// `NAME.EXT` for `n` = 1, `NAME (n).EXT` after.
fn candidate(folder: &Path, file_name: &str, n: u32) -> PathBuf {
    if n == 1 {
        return folder.join(file_name);
    }
    let p = Path::new(file_name);
    match (p.file_stem(), p.extension()) {
        (Some(stem), Some(ext)) if !stem.is_empty() => folder.join(format!(
            "{} ({n}).{}",
            stem.to_string_lossy(),
            ext.to_string_lossy()
        )),
        _ => folder.join(format!("{file_name} ({n})")),
    }
}

/// Copies `src` into `folder` (see the module doc).
pub fn copy_to_folder(src: &Path, folder: &Path) -> io::Result<Copied> {
    let meta = fs::metadata(src)?;
    if !meta.is_file() {
        return Err(io::Error::other(format!("{} is not a file", src.display())));
    }
    let file_name = src
        .file_name()
        .ok_or_else(|| io::Error::other(format!("{} has no file name", src.display())))?
        .to_string_lossy()
        .into_owned();
    fs::create_dir_all(folder)?;
    let mut tmp: Option<PathBuf> = None;
    let result = (|| {
        for n in 1..=10_000u32 {
            let dest = candidate(folder, &file_name, n);
            match fs::symlink_metadata(&dest) {
                Ok(m) => {
                    if m.is_file() && m.len() == meta.len() && same_bytes(src, &dest)? {
                        return Ok(Copied::Present(dest));
                    }
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            if tmp.is_none() {
                tmp = Some(prepare(src, folder, &file_name, &meta)?);
            }
            let t = tmp.as_ref().expect("prepared");
            match fs::hard_link(t, &dest) {
                Ok(()) => return Ok(Copied::New(dest)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(_) => match write_new(src, &dest, &meta) {
                    Ok(()) => return Ok(Copied::New(dest)),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(e),
                },
            }
        }
        Err(io::Error::other(format!(
            "no free name for {file_name} in {}",
            folder.display()
        )))
    })();
    if let Some(t) = tmp {
        let _ = fs::remove_file(t);
    }
    result
}

/// The photo's bytes in a hidden temporary file of `folder`, with its
/// permissions and modification time.
fn prepare(src: &Path, folder: &Path, file_name: &str, meta: &fs::Metadata) -> io::Result<PathBuf> {
    for i in 0..1000u32 {
        let tmp = folder.join(format!(".{file_name}.facet-{}-{i}.tmp", std::process::id()));
        match write_new(src, &tmp, meta) {
            Ok(()) => return Ok(tmp),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("no temporary name free"))
}

/// Creates `dest` (failing if it exists) with `src`'s bytes, permissions and
/// modification time.
fn write_new(src: &Path, dest: &Path, meta: &fs::Metadata) -> io::Result<()> {
    let mut out = OpenOptions::new().write(true).create_new(true).open(dest)?;
    let copied = (|| {
        io::copy(&mut File::open(src)?, &mut out)?;
        out.set_permissions(meta.permissions())?;
        if let Ok(mtime) = meta.modified() {
            out.set_modified(mtime)?;
        }
        out.sync_all()
    })();
    if copied.is_err() {
        let _ = fs::remove_file(dest);
    }
    copied
}

/// Whether two files hold the same bytes.
fn same_bytes(a: &Path, b: &Path) -> io::Result<bool> {
    let (mut fa, mut fb) = (File::open(a)?, File::open(b)?);
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let na = read_full(&mut fa, &mut ba)?;
        let nb = read_full(&mut fb, &mut bb)?;
        if na != nb || ba[..na] != bb[..nb] {
            return Ok(false);
        }
        if na == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The notification line of an event.
pub fn notification(event: &str, data: &serde_json::Value) -> String {
    let path = data
        .get("path")
        .or_else(|| data.get("best_path"))
        .and_then(|p| p.as_str())
        .unwrap_or("-");
    let aggregate = match data.get("aggregate").and_then(|a| a.as_f64()) {
        Some(a) => format!("{a:?}"),
        None => "-".to_string(),
    };
    format!("notification: {event} {path} {aggregate}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    #[test]
    fn copies_keep_name_and_mtime_never_overwrite_and_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("IMG_1.jpg");
        fs::write(&src, b"photo one").unwrap();
        let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_500_000_000);
        File::options()
            .write(true)
            .open(&src)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let folder = dir.path().join("best");
        fs::create_dir_all(&folder).unwrap();
        // A different file of the same name is already there.
        fs::write(folder.join("IMG_1.jpg"), b"someone else's").unwrap();
        let c = copy_to_folder(&src, &folder).unwrap();
        assert_eq!(c, Copied::New(folder.join("IMG_1 (2).jpg")));
        assert_eq!(
            fs::read(folder.join("IMG_1.jpg")).unwrap(),
            b"someone else's"
        );
        assert_eq!(
            fs::read(folder.join("IMG_1 (2).jpg")).unwrap(),
            b"photo one"
        );
        assert_eq!(
            fs::metadata(folder.join("IMG_1 (2).jpg"))
                .unwrap()
                .modified()
                .unwrap(),
            old
        );
        // Again: the copy is found, nothing is added.
        let again = copy_to_folder(&src, &folder).unwrap();
        assert_eq!(again, Copied::Present(folder.join("IMG_1 (2).jpg")));
        let names: Vec<_> = fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        // A changed photo gets the next name.
        fs::write(&src, b"photo one, edited").unwrap();
        assert_eq!(
            copy_to_folder(&src, &folder).unwrap(),
            Copied::New(folder.join("IMG_1 (3).jpg"))
        );
        // No extension.
        assert_eq!(candidate(&folder, "README", 2), folder.join("README (2)"));
        assert!(copy_to_folder(&dir.path().join("missing.jpg"), &folder).is_err());
    }

    #[test]
    fn notification_line() {
        let d = serde_json::json!({"path": "/p/a.jpg", "aggregate": 9.25});
        assert_eq!(
            notification("on_high_score", &d),
            "notification: on_high_score /p/a.jpg 9.25"
        );
    }
}
