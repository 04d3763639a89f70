//! Which photos a request may see, and which files it may read.
//!
//! In the family NAS mode each user sees the photos under their
//! `users.<name>.directories` and the `users.shared_directories`; a
//! [`Scope`] holds those directories, lexically normalised, and answers for
//! a stored path. Paths are compared as whole components (`/a/Bob` does not
//! contain `/a/Bobby/x.jpg`), after the same normalisation, so `..`, `.`,
//! doubled separators and backslashes cannot walk out of a directory.
//!
//! Serving a file adds a second check on the disk itself ([`contained`]):
//! the file the store's path leads to (after `viewer.path_mapping`) is
//! resolved, symlinks included, and must lie inside one of the allowed
//! directories, resolved the same way — a link in Alice's folder to Bob's
//! photo is refused.

use std::path::{Component, Path, PathBuf};

/// `path` made absolute-looking and clean without touching the disk:
/// backslashes become `/`, empty and `.` components go, `..` removes the
/// component before it. `None` for a relative path, a `..` above the root,
/// or a NUL byte.
pub fn normalize(path: &str) -> Option<String> {
    if path.contains('\0') {
        return None;
    }
    let path = path.replace('\\', "/");
    if !path.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

/// Whether the normalised `path` is `dir` or lies under it.
fn under(path: &str, dir: &str) -> bool {
    dir == "/"
        || path == dir
        || path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/'
}

/// The directories one user may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    dirs: Vec<String>,
}

impl Scope {
    /// From configured directories; relative or malformed ones are dropped
    /// (and so grant nothing).
    pub fn new<'a>(dirs: impl IntoIterator<Item = &'a String>) -> Scope {
        let mut dirs: Vec<String> = dirs.into_iter().filter_map(|d| normalize(d)).collect();
        dirs.sort();
        dirs.dedup();
        Scope { dirs }
    }

    pub fn dirs(&self) -> &[String] {
        &self.dirs
    }

    /// Whether a stored photo path lies inside the scope.
    pub fn allows(&self, path: &str) -> bool {
        match normalize(path) {
            Some(p) => self.dirs.iter().any(|d| under(&p, d)),
            None => false,
        }
    }
}

/// Whether the file at `local` (already mapped with `path_mapping`),
/// resolved on disk with its symlinks, lies inside one of `roots` (resolved
/// the same way). A missing file or root is not contained.
pub fn contained(local: &Path, roots: &[PathBuf]) -> bool {
    if local
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return false;
    }
    let Ok(real) = std::fs::canonicalize(local) else {
        return false;
    };
    roots
        .iter()
        .filter_map(|r| std::fs::canonicalize(r).ok())
        .any(|root| real.starts_with(&root))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn scope(dirs: &[&str]) -> Scope {
        let owned: Vec<String> = dirs.iter().map(|s| s.to_string()).collect();
        Scope::new(&owned)
    }

    #[test]
    fn paths_are_normalised_lexically() {
        assert_eq!(normalize("/a//b/./c/").as_deref(), Some("/a/b/c"));
        assert_eq!(normalize("/a/b/../c").as_deref(), Some("/a/c"));
        assert_eq!(normalize("\\a\\b").as_deref(), Some("/a/b"));
        assert_eq!(normalize("/"), Some("/".into()));
        assert_eq!(normalize("/.."), None, "above the root");
        assert_eq!(normalize("a/b"), None, "relative");
        assert_eq!(normalize("/a\0/b"), None);
    }

    #[test]
    fn a_scope_holds_whole_directories() {
        let s = scope(&["/lib/Alice/", "/lib/Family", "relative/x"]);
        assert_eq!(s.dirs(), ["/lib/Alice", "/lib/Family"]);
        assert!(s.allows("/lib/Alice/a.jpg"));
        assert!(s.allows("/lib/Family/2020/b.jpg"));
        assert!(
            !s.allows("/lib/Alicea/a.jpg"),
            "a prefix is not a directory"
        );
        assert!(!s.allows("/lib/Bob/a.jpg"));
        assert!(!s.allows("/lib/Alice/../Bob/a.jpg"));
        assert!(!s.allows("/lib/Alice/..\\Bob/a.jpg"));
        assert!(!s.allows("lib/Alice/a.jpg"));
        assert!(
            !scope(&[]).allows("/lib/Alice/a.jpg"),
            "no directories, nothing"
        );
    }

    #[cfg(unix)]
    #[test]
    fn files_are_resolved_before_the_check() {
        let d = tempfile::tempdir().unwrap();
        let alice = d.path().join("Alice");
        let bob = d.path().join("Bob");
        std::fs::create_dir_all(&alice).unwrap();
        std::fs::create_dir_all(&bob).unwrap();
        std::fs::write(alice.join("a.jpg"), b"a").unwrap();
        std::fs::write(bob.join("b.jpg"), b"b").unwrap();
        std::os::unix::fs::symlink(bob.join("b.jpg"), alice.join("link.jpg")).unwrap();
        std::os::unix::fs::symlink(&bob, alice.join("dir")).unwrap();
        let roots = vec![alice.clone()];
        assert!(contained(&alice.join("a.jpg"), &roots));
        assert!(!contained(&alice.join("link.jpg"), &roots), "a link out");
        assert!(
            !contained(&alice.join("dir/b.jpg"), &roots),
            "a linked directory"
        );
        assert!(!contained(&alice.join("../Bob/b.jpg"), &roots));
        assert!(!contained(&alice.join("missing.jpg"), &roots));
        assert!(!contained(&bob.join("b.jpg"), &roots));
    }

    /// A path component an attacker might write.
    fn component() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("..".to_string()),
            Just(".".to_string()),
            Just(String::new()),
            Just("Alice".to_string()),
            Just("Bob".to_string()),
            Just("Alicex".to_string()),
            Just("%2e%2e".to_string()),
            Just("..\\..".to_string()),
            "[a-zA-Z0-9 ._~%-]{1,8}",
        ]
    }

    proptest! {
        /// Whatever the path, the scope allows it exactly when its
        /// normalised form has `/lib/Alice` as its first two components.
        #[test]
        fn no_path_escapes_the_scope(parts in prop::collection::vec(component(), 0..10), sep in prop_oneof![Just("/"), Just("\\"), Just("//")]) {
            let s = scope(&["/lib/Alice"]);
            let path = format!("/lib/Alice{sep}{}", parts.join(sep));
            let allowed = s.allows(&path);
            let norm = normalize(&path);
            let expected = norm.as_deref().is_some_and(|n| {
                let c: Vec<&str> = n.split('/').collect();
                c.len() >= 3 && c[1] == "lib" && c[2] == "Alice"
            });
            prop_assert_eq!(allowed, expected, "{}", path);
            if allowed {
                // And the path, walked on a real filesystem, ends inside.
                let n = norm.unwrap();
                prop_assert!(!n.split('/').any(|c| c == ".." || c == "."));
            }
        }

        /// Paths not starting in the scope are refused, however they are
        /// written.
        #[test]
        fn other_folders_are_refused(parts in prop::collection::vec(component(), 0..8)) {
            let s = scope(&["/lib/Alice"]);
            let path = format!("/lib/Bob/{}", parts.join("/"));
            let norm = normalize(&path);
            let expected = norm.as_deref().is_some_and(|n| n == "/lib/Alice" || n.starts_with("/lib/Alice/"));
            prop_assert_eq!(s.allows(&path), expected, "{}", path);
        }
    }
}
