//! Test helpers: a control plane on a temporary directory with a function deployed in it, and,
//! for the hostile-archive tests, a fresh place with a victim outside the extraction root and a
//! look at everything around the root afterwards.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

use crate::{CodeInput, Control, ControlConfig, CreateFunctionInput};

/// The account of [`control`]'s ARNs.
pub(crate) const ACCOUNT: &str = "123456789012";

/// A control plane whose store, blobs, code and images are under `dir` (SQLite, files), with
/// the default account concurrency.
pub(crate) async fn control(dir: &tempfile::TempDir) -> Control {
    let store = archfn_store::SqliteStore::open(&dir.path().join("archfn.db"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let blobs =
        archfn_blob::FsBlobStore::open(dir.path().join("blobs")).unwrap_or_else(|e| panic!("{e}"));
    Control::start(ControlConfig {
        objects: Arc::new(store.clone()),
        store: Arc::new(store),
        blobs: Arc::new(blobs),
        code_root: dir.path().join("code"),
        images: Arc::new(
            crate::image::FsImageCatalog::open(dir.path().join("images"))
                .unwrap_or_else(|e| panic!("{e}")),
        ),
        account: ACCOUNT.into(),
        policy_date: None,
        account_concurrency: archfn_model::limits::ACCOUNT_CONCURRENCY,
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

/// A zip holding one file.
pub(crate) fn zip_of(name: &str, data: &[u8]) -> Bytes {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file(name, zip::write::SimpleFileOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    w.write_all(data).unwrap_or_else(|e| panic!("{e}"));
    Bytes::from(w.finish().unwrap_or_else(|e| panic!("{e}")).into_inner())
}

/// Creates a Python function `name` in `region` (its code is prepared in the background).
pub(crate) async fn create_function(control: &Control, region: &str, name: &str) {
    control
        .create_function(
            region,
            CreateFunctionInput {
                function_name: name.into(),
                runtime: Some("python3.12".into()),
                role: Some(format!("arn:aws:iam::{ACCOUNT}:role/test")),
                handler: Some("app.handler".into()),
                code: CodeInput {
                    zip: Some(zip_of("app.py", b"def handler(e, c):\n    return e\n")),
                    ..CodeInput::default()
                },
                ..CreateFunctionInput::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// A fresh temporary directory `top` holding `victim/file` (and `victim/dir/inner`), and
/// `work/`, whose `code` (not created) is where an extraction goes: links in an archive that
/// climb out of `code` land in `work`, then `top`, never anywhere else.
#[derive(Debug)]
pub(crate) struct Place {
    top: tempfile::TempDir,
    before: BTreeMap<PathBuf, String>,
}

impl Place {
    pub(crate) fn new() -> Place {
        let top = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let victim = top.path().join("victim");
        std::fs::create_dir_all(victim.join("dir")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(victim.join("file"), b"precious").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(victim.join("dir/inner"), b"precious too").unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir(top.path().join("work")).unwrap_or_else(|e| panic!("{e}"));
        let mut place = Place {
            top,
            before: BTreeMap::new(),
        };
        place.before = place.outside();
        place
    }

    /// The extraction root (not created).
    pub(crate) fn dest(&self) -> PathBuf {
        self.top.path().join("work").join("code")
    }

    /// The victim directory, outside the root.
    pub(crate) fn victim(&self) -> PathBuf {
        self.top.path().join("victim")
    }

    /// Everything in the place but the extraction root: each path with its kind and content.
    fn outside(&self) -> BTreeMap<PathBuf, String> {
        let mut seen = BTreeMap::new();
        let dest = self.dest();
        let mut todo = vec![self.top.path().to_path_buf()];
        while let Some(dir) = todo.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path == dest {
                    continue;
                }
                let Ok(meta) = std::fs::symlink_metadata(&path) else {
                    continue;
                };
                let what = if meta.file_type().is_symlink() {
                    format!("link {:?}", std::fs::read_link(&path).ok())
                } else if meta.is_dir() {
                    todo.push(path.clone());
                    "dir".to_string()
                } else {
                    format!("file {:?}", std::fs::read(&path).ok())
                };
                seen.insert(path, what);
            }
        }
        seen
    }

    /// Asserts that nothing outside the extraction root changed: the victim is there with the
    /// same content, and nothing was created, removed or replaced around the root.
    pub(crate) fn assert_untouched(&self, case: &str) {
        assert_eq!(
            std::fs::read(self.victim().join("file")).ok().as_deref(),
            Some(&b"precious"[..]),
            "{case}: the victim file"
        );
        assert_eq!(self.outside(), self.before, "{case}: outside the root");
    }

    /// Whether `rel` exists under the extraction root (without following it).
    pub(crate) fn inside(&self, rel: &str) -> bool {
        std::fs::symlink_metadata(self.dest().join(rel)).is_ok()
    }
}

/// Asserts that an extraction's error reads as a refusal (not a crash): it names `expect`.
pub(crate) fn assert_refused(result: Result<(), String>, expect: &str, case: &str) {
    match result {
        Ok(()) => panic!("{case}: extracted, expected a refusal naming {expect:?}"),
        Err(e) => assert!(e.contains(expect), "{case}: {e:?} should name {expect:?}"),
    }
}

/// Removes the extraction root between cases of one test.
pub(crate) fn reset(place: &Place) {
    let _ = std::fs::remove_dir_all(place.dest());
}
