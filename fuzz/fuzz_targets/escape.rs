//! Shared by the extraction targets: a fresh place per input, and the check that whatever the
//! input did stayed beneath the extraction root.
//!
//! `<tmp>/victim/file` and `<tmp>/victim/dir/inner` sit beside `<tmp>/scratch/code`, the root:
//! a link climbing `../../victim` out of the root reaches them.

use std::path::{Path, PathBuf};

/// A fresh temporary place; dropped (and removed, never following a link) after each input.
pub struct Place {
    top: tempfile::TempDir,
}

impl Place {
    pub fn new() -> Place {
        let top = tempfile::tempdir().expect("a temporary directory");
        std::fs::create_dir_all(top.path().join("victim/dir")).expect("victim");
        std::fs::write(top.path().join("victim/file"), b"precious").expect("victim");
        std::fs::write(top.path().join("victim/dir/inner"), b"precious").expect("victim");
        std::fs::create_dir(top.path().join("scratch")).expect("scratch");
        Place { top }
    }

    /// The extraction root (not created).
    pub fn dest(&self) -> PathBuf {
        self.top.path().join("scratch/code")
    }

    /// Panics unless everything outside the root is as `new` left it.
    pub fn assert_untouched(&self) {
        let top = self.top.path();
        assert_eq!(names(top), ["scratch", "victim"], "beside the root");
        let work = names(&top.join("scratch"));
        assert!(
            work.is_empty() || work == ["code"],
            "beside the root: {work:?}"
        );
        assert_eq!(
            names(&top.join("victim")),
            ["dir", "file"],
            "in the victim directory"
        );
        assert_eq!(
            names(&top.join("victim/dir")),
            ["inner"],
            "in the victim directory"
        );
        for f in ["victim/file", "victim/dir/inner"] {
            let meta = std::fs::symlink_metadata(top.join(f)).expect("victim");
            assert!(meta.is_file() && meta.len() == 8, "{f} changed");
            assert_eq!(
                std::fs::read(top.join(f)).ok().as_deref(),
                Some(&b"precious"[..])
            );
        }
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
