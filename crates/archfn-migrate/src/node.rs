//! Node.js: every npm platform package in `node_modules` whose `cpu` excludes the target
//! (`@esbuild/linux-x64`, `@img/sharp-linux-x64`, `@rollup/rollup-linux-x64-gnu`, …) is
//! replaced by the target's package of the same version, fetched with `npm pack`.

use std::fs;
use std::path::Path;
use std::process::Command;

use archfn_extract::RelPath;

use crate::{MigrateError, Options, Outcome, tree};

/// `node_modules/@scope/pkg/package.json` → `node_modules/@scope/pkg`, for package roots only.
fn package_root(path: &str) -> Option<&str> {
    let dir = path.strip_suffix("/package.json")?;
    let idx = dir.rfind("node_modules/")?;
    let name = &dir[idx + "node_modules/".len()..];
    let segments = name.split('/').count();
    let scoped = name.starts_with('@');
    ((scoped && segments == 2) || (!scoped && segments == 1)).then_some(dir)
}

/// Replaces every platform package of another architecture.
pub(crate) fn migrate(
    root: &Path,
    opts: &Options,
    progress: &mut dyn FnMut(&str),
) -> Result<Outcome, MigrateError> {
    let want = opts.target.node_arch();
    let other = opts.target.other().node_arch();
    let mut todo = Vec::new();
    for file in tree::files(root) {
        let Some(dir) = package_root(&file) else {
            continue;
        };
        let Ok(raw) = fs::read(root.join(&file)) else {
            continue;
        };
        let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&raw) else {
            continue;
        };
        let Some(cpu) = doc.get("cpu").and_then(|c| c.as_array()) else {
            continue;
        };
        let cpu: Vec<&str> = cpu.iter().filter_map(|c| c.as_str()).collect();
        let allowed = cpu
            .iter()
            .any(|c| *c == want || c.strip_prefix('!').is_some_and(|x| x != want));
        if allowed && !cpu.contains(&format!("!{want}").as_str()) {
            continue;
        }
        let field = |k: &str| {
            doc.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        todo.push((dir.to_string(), field("name"), field("version")));
    }
    let mut outcome = Outcome::default();
    let download = tempfile::tempdir().map_err(|e| MigrateError::Io(e.to_string()))?;
    for (i, (dir, name, version)) in todo.iter().enumerate() {
        let replacement = name.replace(other, want);
        progress(&format!(
            "[{}/{}] {name} {version}: fetching {replacement}",
            i + 1,
            todo.len()
        ));
        if replacement == *name {
            outcome.left.push(format!(
                "{name} {version}: no {want} counterpart can be named from it"
            ));
            continue;
        }
        let dest = download.path().join(i.to_string());
        fs::create_dir_all(&dest).map_err(|e| MigrateError::Io(e.to_string()))?;
        let out = Command::new(&opts.npm)
            .args(["pack", "--silent", "--pack-destination"])
            .arg(&dest)
            .arg(format!("{replacement}@{version}"))
            .output()
            .map_err(|e| MigrateError::Tool(format!("{} pack: {e}", opts.npm)))?;
        let Some(tgz) = tree::fetched(&dest, "tgz").filter(|_| out.status.success()) else {
            let why = String::from_utf8_lossy(&out.stderr);
            outcome.left.push(format!(
                "{name} {version}: {replacement}@{version} could not be fetched ({})",
                why.lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("npm pack failed")
                    .trim()
            ));
            continue;
        };
        let Some(old) = tree::inside(Path::new(""), dir).and_then(|p| RelPath::new(p).ok()) else {
            continue;
        };
        let new_dir = match dir.rsplit_once(name.as_str()) {
            Some((head, tail)) => format!("{head}{replacement}{tail}"),
            None => continue,
        };
        let Some(new) = tree::inside(Path::new(""), &new_dir).and_then(|p| RelPath::new(p).ok())
        else {
            continue;
        };
        let tree = tree::open(root)?;
        tree.remove(&old).map_err(tree::refused(dir))?;
        tree::untar_npm(&tgz, &tree, &new)?;
        outcome
            .swapped
            .push(format!("{name} {version} → {replacement} {version}"));
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_package_roots() {
        assert_eq!(
            package_root("node_modules/@esbuild/linux-x64/package.json"),
            Some("node_modules/@esbuild/linux-x64")
        );
        assert_eq!(
            package_root("node_modules/esbuild/package.json"),
            Some("node_modules/esbuild")
        );
        assert_eq!(package_root("node_modules/esbuild/lib/package.json"), None);
        assert_eq!(package_root("package.json"), None);
    }
}
