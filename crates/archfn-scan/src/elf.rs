//! A small, bounds-checked ELF header reader: the machine, 32/64-bit, and whether the file is
//! dynamically linked (and through which interpreter).

use archfn_model::Architecture;

/// What an ELF file says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    /// `e_machine`.
    pub machine: u16,
    /// 64-bit class.
    pub is_64: bool,
    /// `PT_INTERP`, for dynamically linked executables.
    pub interpreter: Option<String>,
    /// `e_type`: 2 executable, 3 shared object (or PIE).
    pub elf_type: u16,
}

/// `EM_X86_64`.
pub const EM_X86_64: u16 = 62;
/// `EM_AARCH64`.
pub const EM_AARCH64: u16 = 183;

impl ElfInfo {
    /// The Lambda architecture this code runs on, if any.
    pub fn architecture(&self) -> Option<Architecture> {
        match (self.machine, self.is_64) {
            (EM_X86_64, true) => Some(Architecture::X86_64),
            (EM_AARCH64, true) => Some(Architecture::Arm64),
            _ => None,
        }
    }

    /// A name for the machine, as `uname -m` or the ELF spec says it.
    pub fn machine_name(&self) -> String {
        match self.machine {
            EM_X86_64 => "x86_64".into(),
            EM_AARCH64 => "aarch64".into(),
            3 => "i386".into(),
            40 => "arm (32-bit)".into(),
            243 => "riscv".into(),
            other => format!("machine {other}"),
        }
    }
}

fn bytes_at<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    bytes_at(b, at).map(u16::from_le_bytes)
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    bytes_at(b, at).map(u32::from_le_bytes)
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    bytes_at(b, at).map(u64::from_le_bytes)
}

/// Whether `bytes` starts like an ELF file.
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

/// `PT_INTERP` of a 64-bit ELF file; `None` when absent or unreadable.
fn interpreter64(bytes: &[u8]) -> Option<String> {
    let phoff = usize::try_from(u64_at(bytes, 32)?).ok()?;
    let phentsize = usize::from(u16_at(bytes, 54)?);
    let phnum = usize::from(u16_at(bytes, 56)?);
    if phentsize < 56 {
        return None;
    }
    for i in 0..phnum.min(256) {
        let ph = phoff.checked_add(i.checked_mul(phentsize)?)?;
        if u32_at(bytes, ph) == Some(3) {
            let off = usize::try_from(u64_at(bytes, ph.checked_add(8)?)?).ok()?;
            let len = usize::try_from(u64_at(bytes, ph.checked_add(32)?)?)
                .ok()?
                .min(256);
            let raw = bytes.get(off..off.checked_add(len)?)?;
            let end = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
            return Some(String::from_utf8_lossy(&raw[..end]).into_owned());
        }
    }
    None
}

/// Reads the header of a little-endian ELF file. `None` for anything else, including a
/// truncated or malformed header.
pub fn parse(bytes: &[u8]) -> Option<ElfInfo> {
    if !is_elf(bytes) || bytes.get(5) != Some(&1) {
        return None;
    }
    let is_64 = match bytes.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let elf_type = u16_at(bytes, 16)?;
    let machine = u16_at(bytes, 18)?;
    let interpreter = if is_64 { interpreter64(bytes) } else { None };
    Some(ElfInfo {
        machine,
        is_64,
        interpreter,
        elf_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal 64-bit ELF header with one PT_INTERP program header.
    pub(crate) fn elf64(machine: u16, interp: Option<&str>) -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[6] = 1;
        b[16..18].copy_from_slice(&2u16.to_le_bytes());
        b[18..20].copy_from_slice(&machine.to_le_bytes());
        if let Some(i) = interp {
            b[32..40].copy_from_slice(&64u64.to_le_bytes());
            b[54..56].copy_from_slice(&56u16.to_le_bytes());
            b[56..58].copy_from_slice(&1u16.to_le_bytes());
            let mut ph = vec![0u8; 56];
            ph[..4].copy_from_slice(&3u32.to_le_bytes());
            ph[8..16].copy_from_slice(&120u64.to_le_bytes());
            ph[32..40].copy_from_slice(&((i.len() + 1) as u64).to_le_bytes());
            b.extend(ph);
            b.extend(i.as_bytes());
            b.push(0);
        }
        b
    }

    #[test]
    fn reads_machine_and_interpreter() {
        let e = parse(&elf64(EM_AARCH64, Some("/lib/ld-linux-aarch64.so.1")))
            .unwrap_or_else(|| panic!("not parsed"));
        assert_eq!(e.architecture(), Some(Architecture::Arm64));
        assert_eq!(e.interpreter.as_deref(), Some("/lib/ld-linux-aarch64.so.1"));
        let s = parse(&elf64(EM_X86_64, None)).unwrap_or_else(|| panic!("not parsed"));
        assert_eq!(
            (s.architecture(), s.interpreter),
            (Some(Architecture::X86_64), None)
        );
    }

    #[test]
    fn survives_truncated_and_hostile_headers() {
        let full = elf64(EM_X86_64, Some("/lib64/ld-linux-x86-64.so.2"));
        for cut in 0..full.len() {
            let _ = parse(&full[..cut]);
        }
        let mut evil = elf64(EM_X86_64, Some("x"));
        evil[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(parse(&evil).is_some_and(|e| e.interpreter.is_none()));
        assert!(parse(b"#!/bin/sh\n").is_none());
    }
}
