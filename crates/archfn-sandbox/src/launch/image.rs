//! Container image functions: the command an image starts with, and the launch errors Lambda
//! reports before anything runs (an entrypoint that is missing, or built for the other ISA).

use std::path::{Component, Path, PathBuf};

use archfn_model::{Architecture, ImageLaunch};

/// Symbolic links followed while resolving one path inside an image, as the kernel's limit.
const MAX_LINKS: usize = 40;

/// `path` as the image sees it (`/usr/bin/x`, or relative to `cwd`), resolved to where it is on
/// the host under `root`, following the image's own symbolic links without ever leaving `root`.
fn resolve_inside(root: &Path, cwd: &str, path: &str) -> Option<PathBuf> {
    let mut pending: Vec<String> = Vec::new();
    let start = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{cwd}/{path}")
    };
    pending.extend(start.split('/').rev().map(str::to_string));
    let mut at: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                at.pop();
                continue;
            }
            _ => {}
        }
        let host = root.join(at.join("/")).join(&part);
        let meta = std::fs::symlink_metadata(&host).ok()?;
        if meta.file_type().is_symlink() {
            links += 1;
            if links > MAX_LINKS {
                return None;
            }
            let target = std::fs::read_link(&host).ok()?;
            if target.is_absolute() {
                at.clear();
            }
            let parts: Vec<String> = target
                .components()
                .filter_map(|c| match c {
                    Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                    Component::ParentDir => Some("..".into()),
                    _ => None,
                })
                .collect();
            pending.extend(parts.into_iter().rev());
        } else {
            at.push(part);
        }
    }
    Some(root.join(at.join("/")))
}

/// The first bytes of a file, enough for an ELF header or a `#!` line.
fn head(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut buf = vec![0u8; 256];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut buf))
        .unwrap_or(0);
    buf.truncate(n);
    buf
}

/// The command an image function starts with (ENTRYPOINT then CMD), or the launch error
/// Lambda reports: `Runtime.InvalidEntrypoint` when the program is missing or was built for
/// the other ISA (a script's interpreter counts).
pub(super) fn image_argv(
    image: &ImageLaunch,
    root: &Path,
    arch: Architecture,
) -> Result<Vec<String>, (String, String)> {
    let argv: Vec<String> = image
        .entrypoint
        .iter()
        .chain(&image.command)
        .cloned()
        .collect();
    let invalid = |m: String| Err(("Runtime.InvalidEntrypoint".to_string(), m));
    let Some(program) = argv.first() else {
        return invalid(
            "fork/exec : no such file or directory (the image has neither ENTRYPOINT nor CMD)"
                .into(),
        );
    };
    let found = if program.contains('/') {
        resolve_inside(root, &image.working_dir, program)
    } else {
        let path = image.env.iter().rev().find(|(k, _)| k == "PATH").map_or(
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            |(_, v)| v.as_str(),
        );
        path.split(':')
            .filter_map(|dir| resolve_inside(root, "/", &format!("{dir}/{program}")))
            .find(|p| p.is_file())
    };
    let Some(file) = found.filter(|p| p.is_file()) else {
        return invalid(format!("fork/exec {program}: no such file or directory"));
    };
    let mut bytes = head(&file);
    // A script runs on its interpreter: that is the program whose ISA counts.
    if let Some(line) = bytes.strip_prefix(b"#!") {
        let line = String::from_utf8_lossy(line.split(|b| *b == b'\n').next().unwrap_or(&[]))
            .trim()
            .to_string();
        let interpreter = line.split_whitespace().next().unwrap_or("");
        bytes = resolve_inside(root, "/", interpreter)
            .map(|p| head(&p))
            .unwrap_or_default();
    }
    match archfn_model::elf::machine(&bytes) {
        Some(built) if built != arch => invalid(format!("fork/exec {program}: exec format error")),
        _ => Ok(argv),
    }
}

/// Lambda's log line for an image that could not be launched.
pub(super) fn image_launch_error_line(image: &ImageLaunch, message: &str) -> String {
    format!(
        "IMAGE\tLaunch error: {message}\tEntrypoint: [{}]\tCmd: [{}]\tWorkingDir: [{}]\n",
        image.entrypoint.join(" "),
        image.command.join(" "),
        image.working_dir
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_through_the_images_own_links_and_never_leave_it() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let root = dir.path();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(root.join("usr/bin/tool"), b"x").unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink("usr/bin", root.join("bin")).unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink("/etc/passwd", root.join("usr/bin/escape"))
            .unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink("../../../../..", root.join("usr/bin/up"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            resolve_inside(root, "/", "/bin/tool"),
            Some(root.join("usr/bin/tool"))
        );
        // An absolute link means the image's /etc/passwd, which it does not have.
        assert_eq!(resolve_inside(root, "/", "/bin/escape"), None);
        assert_eq!(
            resolve_inside(root, "/usr", "bin/up/usr/bin/tool"),
            Some(root.join("usr/bin/tool"))
        );
    }
}
