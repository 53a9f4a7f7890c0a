//! Python: every platform wheel installed in the package (a `*.dist-info/WHEEL` whose tags
//! name another architecture) is replaced by the target's wheel of the same version, fetched
//! with `pip download --platform manylinux_…_<arch> --only-binary=:all:`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use archfn_extract::{Kind, RelPath};

use crate::{MigrateError, Options, Outcome, tree};

/// One installed wheel, read from its dist-info.
struct Installed {
    name: String,
    version: String,
    /// The directory the wheel was installed into (holds the dist-info).
    base: String,
    dist_info: String,
    tags: Vec<String>,
}

fn installed(root: &Path) -> Vec<Installed> {
    tree::files(root)
        .into_iter()
        .filter(|f| f.ends_with(".dist-info/WHEEL"))
        .filter_map(|wheel| {
            let dist_info = wheel.strip_suffix("/WHEEL")?.to_string();
            let (base, dir) = match dist_info.rsplit_once('/') {
                Some((b, d)) => (format!("{b}/"), d.to_string()),
                None => (String::new(), dist_info.clone()),
            };
            let (name, version) = dir.strip_suffix(".dist-info")?.rsplit_once('-')?;
            let text = fs::read_to_string(root.join(&wheel)).ok()?;
            let tags = text
                .lines()
                .filter_map(|l| l.strip_prefix("Tag:"))
                .map(|t| t.trim().to_string())
                .collect();
            Some(Installed {
                name: name.to_string(),
                version: version.to_string(),
                base,
                dist_info,
                tags,
            })
        })
        .collect()
}

/// `cp311` → `3.11`.
fn python_version(tag: &str) -> Option<String> {
    let digits = tag.strip_prefix("cp")?;
    let (major, minor) = digits.split_at(1);
    (!minor.is_empty() && digits.chars().all(|c| c.is_ascii_digit()))
        .then(|| format!("{major}.{minor}"))
}

/// Replaces every platform wheel of another architecture.
pub(crate) fn migrate(
    root: &Path,
    opts: &Options,
    progress: &mut dyn FnMut(&str),
) -> Result<Outcome, MigrateError> {
    let want = opts.target.machine();
    let wheels: Vec<Installed> = installed(root)
        .into_iter()
        .filter(|w| {
            let platforms: Vec<&str> = w.tags.iter().filter_map(|t| t.rsplit('-').next()).collect();
            !platforms.is_empty()
                && !platforms.iter().all(|p| *p == "any")
                && !platforms
                    .iter()
                    .any(|p| p.split('.').any(|q| q.ends_with(want)))
        })
        .collect();
    let mut outcome = Outcome::default();
    let download = tempfile::tempdir().map_err(|e| MigrateError::Io(e.to_string()))?;
    for (i, w) in wheels.iter().enumerate() {
        progress(&format!(
            "[{}/{}] {} {}: fetching the {want} wheel",
            i + 1,
            wheels.len(),
            w.name,
            w.version
        ));
        let py = opts.python_version.clone().or_else(|| {
            w.tags
                .iter()
                .find_map(|t| python_version(t.split('-').next().unwrap_or("")))
        });
        let dest = download.path().join(i.to_string());
        let mut cmd = Command::new(&opts.python);
        cmd.args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(["--only-binary=:all:", "--no-deps", "--implementation", "cp"])
        .arg("-d")
        .arg(&dest);
        for minor in 17..=opts.glibc.1 {
            cmd.arg("--platform")
                .arg(format!("manylinux_2_{minor}_{want}"));
        }
        cmd.arg("--platform").arg(format!("manylinux2014_{want}"));
        if let Some(py) = &py {
            cmd.args(["--python-version", py]);
        }
        cmd.arg(format!("{}=={}", w.name, w.version));
        let out = cmd
            .output()
            .map_err(|e| MigrateError::Tool(format!("{} -m pip: {e}", opts.python)))?;
        let Some(new_wheel) = tree::fetched(&dest, "whl").filter(|_| out.status.success()) else {
            let why = String::from_utf8_lossy(&out.stderr);
            outcome.left.push(format!(
                "{} {}: no {want} wheel on PyPI for this version and Python {} ({})",
                w.name,
                w.version,
                py.as_deref().unwrap_or("?"),
                why.lines().last().unwrap_or("pip failed").trim()
            ));
            continue;
        };
        remove_installed(root, w)?;
        install_wheel(&new_wheel, root, w.base.trim_end_matches('/'))?;
        outcome.swapped.push(format!(
            "{} {} → {}",
            w.name,
            w.version,
            new_wheel
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
    }
    Ok(outcome)
}

/// Deletes the files an installed wheel's RECORD lists, and its dist-info, through the tree's
/// `Root` (never through a symbolic link).
fn remove_installed(root: &Path, w: &Installed) -> Result<(), MigrateError> {
    let record = fs::read_to_string(root.join(&w.dist_info).join("RECORD")).unwrap_or_default();
    let tree = tree::open(root)?;
    let base = w.base.trim_end_matches('/');
    for line in record.lines() {
        let file = line.split(',').next().unwrap_or("").trim_matches('"');
        if tree::inside(Path::new(""), file).is_none() {
            continue;
        }
        let Ok(path) = RelPath::new(Path::new(base).join(file)) else {
            continue;
        };
        if !matches!(
            tree.kind(&path).map_err(tree::refused(file))?,
            Some(Kind::File | Kind::Symlink)
        ) {
            continue;
        }
        tree.remove(&path).map_err(tree::refused(file))?;
        // Drop directories the wheel leaves empty.
        let mut dir = path.as_path().parent();
        while let Some(d) = dir {
            if d == Path::new(base) || d.as_os_str().is_empty() {
                break;
            }
            let Ok(rel) = RelPath::new(d) else { break };
            if !tree.remove_empty_dir(&rel).map_err(tree::refused(file))? {
                break;
            }
            dir = d.parent();
        }
    }
    if let Ok(dist_info) = RelPath::new(&w.dist_info) {
        tree.remove(&dist_info)
            .map_err(tree::refused(&w.dist_info))?;
    }
    Ok(())
}

/// Installs a wheel's files into `base` of the tree `root`: purelib and platlib data land in
/// `base` too. Files are written through the tree's `Root`.
fn install_wheel(wheel: &Path, root: &Path, base: &str) -> Result<(), MigrateError> {
    let staging = tempfile::tempdir().map_err(|e| MigrateError::Io(e.to_string()))?;
    let file = fs::File::open(wheel).map_err(|e| MigrateError::Io(e.to_string()))?;
    tree::unzip(file, staging.path())?;
    let tree = tree::open(root)?;
    for rel in tree::files(staging.path()) {
        let target = match rel.split_once(".data/") {
            Some((_, rest)) => match rest.split_once('/') {
                Some(("purelib" | "platlib", inner)) => inner.to_string(),
                _ => continue,
            },
            None => rel.clone(),
        };
        if tree::inside(Path::new(""), &target).is_none() {
            continue;
        }
        let Ok(dest) = RelPath::new(Path::new(base).join(&target)) else {
            continue;
        };
        let from = staging.path().join(&rel);
        let mut input = fs::File::open(&from).map_err(|e| MigrateError::Io(e.to_string()))?;
        let mode = input
            .metadata()
            .map_err(|e| MigrateError::Io(e.to_string()))?
            .permissions()
            .mode();
        let mut out = tree
            .create_file(&dest, mode & 0o777, true)
            .map_err(tree::refused(&target))?;
        std::io::copy(&mut input, &mut out)
            .map_err(|e| MigrateError::Io(format!("{target}: {e}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_python_versions_from_tags() {
        assert_eq!(python_version("cp311").as_deref(), Some("3.11"));
        assert_eq!(python_version("cp38").as_deref(), Some("3.8"));
        assert_eq!(python_version("py3"), None);
    }
}
