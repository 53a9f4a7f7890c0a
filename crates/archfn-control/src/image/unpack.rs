//! Unpacking an image's layers, lowest first and with their whiteouts applied
//! (`archfn_extract::layer`), into a directory execution environments run from.

use std::io::{BufReader, Read};
use std::path::Path;

use archfn_extract::layer::apply_layer_to;
use archfn_extract::{ExtractError, RelPath, Root};
use tokio::runtime::Handle;
use tokio_util::io::SyncIoBridge;

use super::{ImageError, ImageStore, StoredImage, blob_key, io};

impl ImageStore {
    /// Unpacks an image's layers into `dest` (which must not exist), lowest first, applying
    /// whiteouts, and adds the mount points an execution environment needs. Blocking: call it
    /// from a blocking thread of a tokio runtime (layers are streamed from the blob store).
    pub fn unpack(&self, image: &StoredImage, dest: &Path) -> Result<(), ImageError> {
        let handle = Handle::try_current().map_err(io)?;
        std::fs::create_dir_all(dest).map_err(io)?;
        let root = Root::open(dest).map_err(io)?;
        for digest in &image.layers {
            let key = blob_key(digest)
                .ok_or_else(|| ImageError::Unreadable(format!("bad layer digest {digest}")))?;
            let blob = handle.block_on(self.blobs.open(&key)).map_err(|e| {
                ImageError::Unreadable(format!("layer {digest} is missing from the store: {e}"))
            })?;
            let mut reader = BufReader::with_capacity(
                1 << 16,
                SyncIoBridge::new_with_handle(blob.reader, handle.clone()),
            );
            let mut magic = [0u8; 2];
            let n = read_head(&mut reader, &mut magic).map_err(io)?;
            let head = std::io::Cursor::new(magic[..n].to_vec()).chain(reader);
            if magic[..n] == [0x1f, 0x8b] {
                apply_layer_to(flate2::read::GzDecoder::new(head), &root)
            } else {
                apply_layer_to(head, &root)
            }
            .map_err(|e| ImageError::Unreadable(format!("layer {digest}: {e}")))?;
        }
        for dir in ["var/task", "var/runtime", "opt", "proc", "dev", "tmp"] {
            make_dir_inside(&root, dir)?;
        }
        Ok(())
    }
}

/// Reads up to `buf.len()` bytes (fewer only at the end of the stream).
fn read_head(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Creates `rel` under `root` unless a component on the way is not a directory (a symbolic
/// link, which could point out of the image): the environment then fails to start, visibly,
/// instead.
fn make_dir_inside(root: &Root, rel: &str) -> Result<(), ImageError> {
    let path = RelPath::new(rel).map_err(io)?;
    match root.create_dir_all(&path) {
        Ok(()) | Err(ExtractError::NotADirectory { .. }) => Ok(()),
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::image::apply_layer;

    #[test]
    fn whiteouts_remove_what_lower_layers_put_there() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let layer = |files: &[(&str, &[u8])]| {
            let mut b = tar::Builder::new(Vec::new());
            for (name, data) in files {
                let mut h = tar::Header::new_gnu();
                h.set_size(data.len() as u64);
                h.set_mode(0o644);
                h.set_cksum();
                b.append_data(&mut h, name, *data)
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            b.into_inner().unwrap_or_else(|e| panic!("{e}"))
        };
        let lower = layer(&[
            ("a/keep", b"1"),
            ("a/gone", b"2"),
            ("b/x", b"3"),
            ("b/y", b"4"),
        ]);
        let upper = layer(&[("a/.wh.gone", b""), ("b/z", b"5"), ("b/.wh..wh..opq", b"")]);
        apply_layer(&lower[..], dir.path()).unwrap_or_else(|e| panic!("{e}"));
        apply_layer(&upper[..], dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o4755);
        h.set_cksum();
        b.append_data(&mut h, "a/suid", &b"x"[..])
            .unwrap_or_else(|e| panic!("{e}"));
        let suid = b.into_inner().unwrap_or_else(|e| panic!("{e}"));
        apply_layer(&suid[..], dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let d = dir.path();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("a/suid"))
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(mode, 0o755, "setuid dropped, the rest kept");
        assert!(d.join("a/keep").is_file() && !d.join("a/gone").exists());
        assert!(!d.join("b/x").exists() && !d.join("b/y").exists() && d.join("b/z").is_file());
        assert!(!d.join("a/.wh.gone").exists());
    }

    /// An entry of a hand-made layer; names and link targets are written as given, unchecked.
    enum T<'a> {
        File(&'a str, &'a [u8]),
        Dir(&'a str),
        Link(&'a str, &'a str),
        Hard(&'a str, &'a str),
    }

    fn layer_of(entries: &[T]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for e in entries {
            let mut h = tar::Header::new_gnu();
            let (name, kind, link, data): (&str, tar::EntryType, &str, &[u8]) = match e {
                T::File(n, d) => (n, tar::EntryType::Regular, "", d),
                T::Dir(n) => (n, tar::EntryType::Directory, "", b""),
                T::Link(n, t) => (n, tar::EntryType::Symlink, t, b""),
                T::Hard(n, t) => (n, tar::EntryType::Link, t, b""),
            };
            let gnu = h.as_gnu_mut().unwrap_or_else(|| panic!("a GNU header"));
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
            h.set_entry_type(kind);
            h.set_size(data.len() as u64);
            h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
            h.set_mtime(1_700_000_000);
            h.set_cksum();
            b.append(&h, data).unwrap_or_else(|e| panic!("{e}"));
        }
        b.into_inner().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Applies `layers` in order into a fresh root; the first error, if any.
    fn apply_all(dest: &Path, layers: &[Vec<u8>]) -> Result<(), String> {
        let root = Root::create(dest).map_err(|e| e.to_string())?;
        for layer in layers {
            apply_layer_to(&layer[..], &root).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Hostile layers: each a list of layers (lowest first), and what the result must be: a
    /// refusal naming the given words, or (`None`) an extraction that stayed inside.
    /// A hostile case: its name, its layers, and the words its refusal names (`None`: the
    /// extraction stays inside).
    type Case = (&'static str, Vec<Vec<u8>>, Option<&'static str>);

    fn hostile_layers(victim: &str) -> Vec<Case> {
        let file = format!("{victim}/file");
        let up = "../../victim";
        vec![
            (
                "a whiteout through a symlink to the victim directory",
                vec![
                    layer_of(&[T::Link("l", victim)]),
                    layer_of(&[T::File("l/dir/.wh.inner", b"")]),
                ],
                Some("not a directory"),
            ),
            (
                "a whiteout directly under a symlink to the victim directory",
                vec![
                    layer_of(&[T::Link("l", victim)]),
                    layer_of(&[T::File("l/.wh.file", b"")]),
                ],
                Some("not a directory"),
            ),
            (
                "an opaque whiteout through a symlink to the victim directory",
                vec![
                    layer_of(&[T::Link("l", victim)]),
                    layer_of(&[T::File("l/dir/.wh..wh..opq", b"")]),
                ],
                Some("not a directory"),
            ),
            (
                "an opaque whiteout of a symlink to the victim directory",
                vec![
                    layer_of(&[T::Link("l", victim)]),
                    layer_of(&[T::File("l/.wh..wh..opq", b"")]),
                ],
                Some("not a directory"),
            ),
            (
                "whiteouts through a relative symlink climbing out",
                vec![
                    layer_of(&[T::Link("l", up)]),
                    layer_of(&[T::File("l/.wh.file", b""), T::File("l/dir/.wh.inner", b"")]),
                ],
                Some("not a directory"),
            ),
            (
                "both in one layer, the whiteout under a nested path",
                vec![layer_of(&[
                    T::Dir("a/"),
                    T::Link("a/l", "../../../victim"),
                    T::File("a/l/dir/.wh..wh..opq", b""),
                ])],
                Some("not a directory"),
            ),
            (
                "a whiteout of `..` (the directory holding the root)",
                vec![layer_of(&[T::File(".wh...", b"")])],
                Some("whiteout"),
            ),
            (
                "a whiteout of `..` below the top",
                vec![layer_of(&[T::Dir("a/"), T::File("a/.wh...", b"")])],
                Some("whiteout"),
            ),
            (
                "a whiteout of `.`",
                vec![layer_of(&[T::File("x", b"1"), T::File(".wh..", b"")])],
                Some("whiteout"),
            ),
            (
                "a whiteout of nothing",
                vec![layer_of(&[T::File(".wh.", b"")])],
                Some("whiteout"),
            ),
            (
                "a name climbing out",
                vec![layer_of(&[T::File("../escaped", b"x")])],
                Some("outside the image root"),
            ),
            (
                "a name climbing out from below",
                vec![layer_of(&[T::File("a/../../../victim/file", b"x")])],
                Some("outside the image root"),
            ),
            (
                "an absolute name (read beneath the root, as Docker does)",
                vec![layer_of(&[T::File(&file, b"overwritten")])],
                None,
            ),
            (
                "a file through a symlink",
                vec![layer_of(&[
                    T::Link("l", victim),
                    T::File("l/file", b"overwritten"),
                ])],
                Some("not a directory"),
            ),
            (
                "a directory and a link through a symlink",
                vec![
                    layer_of(&[T::Link("l", up)]),
                    layer_of(&[T::Dir("l/newdir/"), T::Link("l/newlink", "x")]),
                ],
                Some("not a directory"),
            ),
            (
                "a hard link to an absolute path outside",
                vec![layer_of(&[T::Hard("stolen", &file)])],
                Some("hard link"),
            ),
            (
                "a hard link climbing out",
                vec![layer_of(&[T::Hard("stolen", "../../victim/file")])],
                Some("outside the image root"),
            ),
            (
                "a hard link through a symlink",
                vec![
                    layer_of(&[T::Link("l", victim)]),
                    layer_of(&[T::Hard("stolen", "l/file")]),
                ],
                Some("hard link"),
            ),
            (
                "a hard link to a symlink",
                vec![layer_of(&[T::Link("s", &file), T::Hard("stolen", "s")])],
                Some("hard link"),
            ),
            (
                "a hard link to a directory",
                vec![layer_of(&[T::Dir("d/"), T::Hard("stolen", "d")])],
                Some("hard link"),
            ),
        ]
    }

    #[test]
    fn hostile_layers_are_refused_or_stay_inside() {
        let place = crate::testing::Place::new();
        let victim = place.victim().display().to_string();
        for (case, layers, expect) in hostile_layers(&victim) {
            let result = apply_all(&place.dest(), &layers);
            match expect {
                Some(words) => crate::testing::assert_refused(result, words, case),
                None => assert!(result.is_ok(), "{case}: {result:?}"),
            }
            place.assert_untouched(case);
            assert!(place.inside(""), "{case}: the root itself is still there");
            crate::testing::reset(&place);
        }
        // The absolute name landed inside.
        let layers = [layer_of(&[T::File(&format!("{victim}/file"), b"inside")])];
        assert!(apply_all(&place.dest(), &layers).is_ok());
        assert!(place.inside(&format!("{}/file", victim.trim_start_matches('/'))));
    }

    /// An image whose layer is refused fails to unpack with an error naming the layer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_refused_layer_is_named() {
        let place = crate::testing::Place::new();
        let store = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let images = crate::image::tests::store_in(store.path());
        let mut layers = Vec::new();
        for layer in [
            layer_of(&[T::Dir("etc/"), T::File("etc/x", b"1")]),
            layer_of(&[T::File(".wh...", b"")]),
        ] {
            let digest = images
                .blobs
                .put(layer.into())
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            layers.push(format!("sha256:{digest}"));
        }
        let image = StoredImage {
            id: "0".repeat(64),
            architecture: "amd64".into(),
            config: serde_json::Value::Null,
            layers: layers.clone(),
            size: 0,
            platforms: Vec::new(),
            manifest: String::new(),
            manifest_media_type: String::new(),
            config_digest: String::new(),
        };
        let dest = place.dest();
        let err = tokio::task::spawn_blocking(move || images.unpack(&image, &dest))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(&format!("layer {}", layers[1])), "{err}");
        assert!(err.contains("whiteout"), "{err}");
        place.assert_untouched("an image with a whiteout of `..`");
    }

    /// A layer missing from the blob store is named too.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_missing_layer_is_named() {
        let place = crate::testing::Place::new();
        let store = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let images = crate::image::tests::store_in(store.path());
        let missing = format!("sha256:{}", "9".repeat(64));
        let image = StoredImage {
            id: "0".repeat(64),
            architecture: "amd64".into(),
            config: serde_json::Value::Null,
            layers: vec![missing.clone()],
            size: 0,
            platforms: Vec::new(),
            manifest: String::new(),
            manifest_media_type: String::new(),
            config_digest: String::new(),
        };
        let dest = place.dest();
        let err = tokio::task::spawn_blocking(move || images.unpack(&image, &dest))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains(&format!("layer {missing} is missing from the store")),
            "{err}"
        );
    }

    #[test]
    fn layers_replace_lower_entries_and_keep_links_and_times() {
        use std::os::unix::fs::MetadataExt;
        let place = crate::testing::Place::new();
        let layers = [
            layer_of(&[
                T::Dir("usr/bin/"),
                T::File("usr/bin/tool", b"v1"),
                T::Link("bin", "/usr/bin"),
                T::Link("sbin", "usr/bin"),
                T::File("etc/conf", b"1"),
                T::Dir("opt/lower/"),
            ]),
            layer_of(&[
                T::Dir("sbin/"),
                T::File("sbin/own", b"mine"),
                T::Hard("usr/bin/twin", "usr/bin/tool"),
                T::Hard("etc/twin", "/usr/bin/tool"),
                T::File("opt", b"a file now"),
                T::Dir("etc/"),
                T::File("etc/.wh..wh..opq", b""),
                T::File("etc/new", b"2"),
            ]),
        ];
        apply_all(&place.dest(), &layers).unwrap_or_else(|e| panic!("{e}"));
        let d = place.dest();
        assert_eq!(
            std::fs::read_link(d.join("bin")).ok(),
            Some(PathBuf::from("/usr/bin")),
            "absolute links are kept as they are, never followed here"
        );
        assert!(std::fs::symlink_metadata(d.join("sbin")).is_ok_and(|m| m.is_dir()));
        assert_eq!(
            std::fs::read(d.join("sbin/own")).unwrap_or_default(),
            b"mine"
        );
        let ino = |p: &str| std::fs::metadata(d.join(p)).map(|m| m.ino()).ok();
        assert_eq!(ino("usr/bin/twin"), ino("usr/bin/tool"));
        assert_eq!(
            ino("etc/twin"),
            ino("usr/bin/tool"),
            "a hard link named from the root, made by this layer: kept by its opaque directory"
        );
        assert_eq!(
            std::fs::read(d.join("opt")).unwrap_or_default(),
            b"a file now"
        );
        assert!(!d.join("etc/conf").exists() && d.join("etc/new").is_file());
        assert_eq!(
            std::fs::metadata(d.join("etc/new")).map(|m| m.mtime()).ok(),
            Some(1_700_000_000)
        );
        place.assert_untouched("a legitimate image");
    }
}
