//! binfmt_misc: the kernel hook that hands a foreign-ISA ELF file to QEMU.
//!
//! archfn registers `qemu-<arch>-static` with flag `F` (the interpreter is opened at
//! registration, so it works inside any mount namespace) when the entry is missing.

use std::path::Path;

use archfn_model::Architecture;

use crate::SandboxError;

const BINFMT: &str = "/proc/sys/fs/binfmt_misc";

struct Entry {
    name: &'static str,
    magic: &'static str,
    mask: &'static str,
    qemu: &'static str,
}

fn entry(arch: Architecture) -> Entry {
    match arch {
        Architecture::Arm64 => Entry {
            name: "qemu-aarch64",
            magic: r"\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00",
            mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff",
            qemu: "/usr/bin/qemu-aarch64-static",
        },
        Architecture::X86_64 => Entry {
            name: "qemu-x86_64",
            magic: r"\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00",
            mask: r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff",
            qemu: "/usr/bin/qemu-x86_64-static",
        },
    }
}

/// Where Debian's qemu-user-static puts the emulator of `arch`.
pub fn qemu_path(arch: Architecture) -> &'static str {
    entry(arch).qemu
}

/// The binfmt_misc magic and mask (escaped, as `register` takes them) that match 64-bit
/// little-endian ELF executables and shared objects of `arch` with a zero `EI_PAD` byte 15.
pub fn magic_and_mask(arch: Architecture) -> (&'static str, &'static str) {
    let e = entry(arch);
    (e.magic, e.mask)
}

/// Makes sure `arch` code can run here: nothing to do natively; for a foreign ISA, an enabled
/// binfmt_misc entry for QEMU, registered now if missing.
pub fn ensure(arch: Architecture) -> Result<(), SandboxError> {
    if Architecture::host() == Some(arch) {
        return Ok(());
    }
    let e = entry(arch);
    let no = |reason: String| SandboxError::NoEmulation { arch, reason };
    let path = Path::new(BINFMT).join(e.name);
    if let Ok(status) = std::fs::read_to_string(&path) {
        if status.lines().next() == Some("enabled") {
            return Ok(());
        }
        return Err(no(format!(
            "binfmt_misc entry {} is disabled",
            path.display()
        )));
    }
    if !Path::new(e.qemu).exists() {
        return Err(no(format!(
            "{} is missing (apt-get install qemu-user-static)",
            e.qemu
        )));
    }
    if !Path::new(BINFMT).join("register").exists() {
        let status = std::process::Command::new("mount")
            .args(["-t", "binfmt_misc", "binfmt_misc", BINFMT])
            .status()
            .map_err(|err| no(format!("mounting binfmt_misc: {err}")))?;
        if !status.success() {
            return Err(no(
                "binfmt_misc is not mounted and could not be mounted (run as root)".into(),
            ));
        }
    }
    let line = format!(":{}:M::{}:{}:{}:F", e.name, e.magic, e.mask, e.qemu);
    std::fs::write(Path::new(BINFMT).join("register"), line).map_err(|err| {
        no(format!(
            "registering {} in binfmt_misc: {err} (run as root)",
            e.name
        ))
    })?;
    tracing::info!(
        entry = e.name,
        interpreter = e.qemu,
        "registered QEMU in binfmt_misc (flag F)"
    );
    Ok(())
}
