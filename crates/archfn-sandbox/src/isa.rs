//! Making an execution environment behave like a processor of the function's ISA, not the
//! host's: inside the environment's own user namespace, `env-init` (init/env-init.c, built
//! statically for the host; also the environment's identity, limits and seccomp filter) mounts
//! a private binfmt_misc, registers QEMU for the function's ISA when it is foreign, and a
//! refusing handler for the other ISA, makes it read-only, then executes the runtime.
//! An x86_64 helper inside an arm64 function then fails with "Exec format error" (exit 126) as
//! on Graviton, instead of quietly running on the x86_64 host; an arm64 binary inside an x86_64
//! function fails the same way instead of running under the host's QEMU.
//!
//! The helpers and QEMU are host-ISA programs too, so they would match the refusing entry:
//! their copies have one ELF identification padding byte (`EI_PAD`, byte 15, ignored by the
//! kernel's loader) set, which the entries' mask requires to be 0.

use std::path::Path;

use archfn_model::Architecture;

use crate::SandboxError;
use crate::binfmt;

/// env-init, built for the host by the build script.
const INIT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/env-init"));

/// Where the helpers are inside an environment (`/var/runtime` is archfn's runtime directory).
pub const INSIDE: &str = "/var/runtime/isa";

/// A copy of an ELF program that the refusing entry does not match.
fn marked(mut elf: Vec<u8>) -> Vec<u8> {
    if elf.len() > 16 && elf.starts_with(b"\x7fELF") {
        elf[15] = 1;
    }
    elf
}

/// Writes a file through a temporary name and a rename, so that a running environment's copy
/// is never rewritten in place.
fn write_executable(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(&tmp, path)
}

fn qemu_name(arch: Architecture) -> String {
    format!("qemu-{}", arch.as_str())
}

/// Writes the helpers into `dir` (which environments see at [`INSIDE`]): `env-init`,
/// `isa-refuse`, and a marked copy of QEMU for the foreign ISA when it is installed.
pub fn install(dir: &Path) -> Result<(), SandboxError> {
    let io = SandboxError::Io;
    std::fs::create_dir_all(dir).map_err(io)?;
    let init = marked(INIT.to_vec());
    write_executable(&dir.join("env-init"), &init).map_err(io)?;
    write_executable(&dir.join("isa-refuse"), &init).map_err(io)?;
    if let Some(host) = Architecture::host() {
        let foreign = host.other();
        let qemu = binfmt::qemu_path(foreign);
        if let Ok(bytes) = std::fs::read(qemu) {
            write_executable(&dir.join(qemu_name(foreign)), &marked(bytes)).map_err(io)?;
        }
    }
    Ok(())
}

/// The command that starts an environment of `arch` (before the runtime's own argv): env-init
/// with its binfmt_misc entries (when `enforce`, and the host is of an ISA archfn knows) and the
/// extensions to start (paths inside the environment), then `--`.
pub fn init_argv(
    arch: Architecture,
    dir: &Path,
    enforce: bool,
    extensions: &[String],
) -> Vec<String> {
    let mut argv = vec![format!("{INSIDE}/env-init")];
    let host = Architecture::host().filter(|_| enforce);
    if let Some(host) = host {
        push_entries(&mut argv, arch, host, dir);
    }
    for e in extensions {
        argv.push("--extension".into());
        argv.push(e.clone());
    }
    argv.push("--".into());
    argv
}

fn push_entries(argv: &mut Vec<String>, arch: Architecture, host: Architecture, dir: &Path) {
    if arch != host && dir.join(qemu_name(arch)).exists() {
        let (magic, mask) = binfmt::magic_and_mask(arch);
        argv.push("--register".into());
        argv.push(format!(
            ":archfn-{}:M::{magic}:{mask}:{INSIDE}/{}:F",
            arch.as_str(),
            qemu_name(arch)
        ));
    }
    let (magic, mask) = binfmt::magic_and_mask(arch.other());
    argv.push("--register".into());
    argv.push(format!(
        ":archfn-refuse:M::{magic}:{mask}:{INSIDE}/isa-refuse:F"
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_only_the_padding_byte() {
        let init = INIT.to_vec();
        let m = marked(init.clone());
        assert_eq!(m.len(), init.len());
        assert_eq!(m[15], 1);
        assert_eq!(init[15], 0, "a fresh ELF file has a zero EI_PAD byte");
        assert_eq!(&m[..15], &init[..15]);
        assert_eq!(&m[16..], &init[16..]);
    }

    #[test]
    fn refuses_the_other_isa_and_emulates_a_foreign_one() {
        let dir = std::env::temp_dir().join(format!("archfn-isa-test-{}", std::process::id()));
        let _ = install(&dir);
        let Some(host) = Architecture::host() else {
            return;
        };
        let native = init_argv(host, &dir, true, &[]);
        assert_eq!(
            native.first().map(String::as_str),
            Some("/var/runtime/isa/env-init")
        );
        let unenforced = init_argv(host, &dir, false, &[]);
        assert!(!unenforced.iter().any(|a| a == "--register"));
        assert_eq!(native.last().map(String::as_str), Some("--"));
        assert!(
            native.iter().any(|a| a.starts_with(":archfn-refuse:")
                && a.ends_with("/var/runtime/isa/isa-refuse:F"))
        );
        let (other_magic, _) = binfmt::magic_and_mask(host.other());
        assert!(native.iter().any(|a| a.contains(other_magic)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
