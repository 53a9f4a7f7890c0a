//! A small, bounds-checked ELF reader: the machine, 32/64-bit, static or dynamic (and through
//! which interpreter), the libraries it needs, the newest `GLIBC_x.y` symbol version it
//! requires, and whether it is a Go program.
//!
//! It works on a prefix of the file: [`parse`] says, through [`ElfInfo::wants`], how many more
//! bytes would complete the picture, so a caller reading a stream can read just that far.

use archfn_model::Architecture;

/// What an ELF file says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ElfInfo {
    /// `e_machine`.
    pub machine: u16,
    /// 64-bit class.
    pub is_64: bool,
    /// `PT_INTERP`, for dynamically linked executables.
    pub interpreter: Option<String>,
    /// `e_type`: 2 executable, 3 shared object (or PIE).
    pub elf_type: u16,
    /// True when the file has a `PT_DYNAMIC` segment.
    pub dynamic: bool,
    /// `DT_NEEDED` libraries (at most 64).
    pub needed: Vec<String>,
    /// The newest `GLIBC_x.y` version it requires, as (x, y).
    pub glibc: Option<(u32, u32)>,
    /// True when a `Go` build-id note is present.
    pub go_note: bool,
    /// Where the first `PT_LOAD` segment ends in the file (it holds the dynamic string table).
    pub first_load_end: Option<u64>,
    /// The prefix length that would let the reader finish (dynamic section, version needs,
    /// string table), when the prefix given was too short.
    pub wants: Option<usize>,
}

pub use archfn_model::elf::{EM_AARCH64, EM_X86_64};

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const PT_NOTE: u32 = 4;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_STRSZ: u64 = 10;
const DT_VERNEED: u64 = 0x6fff_fffe;
const DT_VERNEEDNUM: u64 = 0x6fff_ffff;
/// Most program headers, dynamic entries and version records read: hostile counts stop here.
const MAX_RECORDS: usize = 4096;

impl ElfInfo {
    /// The Lambda architecture this code runs on, if any (a 64-bit file of its machine).
    pub fn architecture(&self) -> Option<Architecture> {
        if self.is_64 {
            archfn_model::elf::architecture(self.machine)
        } else {
            None
        }
    }

    /// A name for the machine, as `uname -m` or the ELF spec says it.
    pub fn machine_name(&self) -> String {
        if let Some(arch) = archfn_model::elf::architecture(self.machine) {
            return arch.machine().into();
        }
        match self.machine {
            3 => "i386".into(),
            40 => "arm (32-bit)".into(),
            243 => "riscv".into(),
            other => format!("machine {other}"),
        }
    }

    /// True for a program (an executable, or a PIE with an interpreter), false for a library.
    pub fn is_program(&self) -> bool {
        self.elf_type == 2 || self.interpreter.is_some()
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

fn usize_at(b: &[u8], at: usize) -> Option<usize> {
    u64_at(b, at).and_then(|v| usize::try_from(v).ok())
}

/// A NUL-terminated string at `at` (at most 256 bytes).
fn c_str(b: &[u8], at: usize) -> Option<String> {
    let raw = b.get(at..)?;
    let raw = &raw[..raw.len().min(256)];
    let end = raw.iter().position(|&c| c == 0)?;
    Some(String::from_utf8_lossy(&raw[..end]).into_owned())
}

/// Whether `bytes` starts like an ELF file.
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

/// `GLIBC_2.34` → (2, 34).
fn glibc_version(name: &str) -> Option<(u32, u32)> {
    let v = name.strip_prefix("GLIBC_")?;
    let mut parts = v.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().unwrap_or("0").parse().ok()?;
    Some((major, minor))
}

/// One program header.
#[derive(Debug, Clone, Copy)]
struct Segment {
    kind: u32,
    offset: usize,
    vaddr: u64,
    filesz: usize,
}

/// Reads the header of a little-endian ELF file. `None` for anything else, including a
/// truncated header.
pub fn parse(bytes: &[u8]) -> Option<ElfInfo> {
    if !is_elf(bytes) || bytes.get(5) != Some(&1) {
        return None;
    }
    let is_64 = match bytes.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let mut info = ElfInfo {
        elf_type: u16_at(bytes, 16)?,
        machine: u16_at(bytes, 18)?,
        is_64,
        ..ElfInfo::default()
    };
    if is_64 {
        read64(bytes, &mut info);
    }
    Some(info)
}

/// The program headers; on a short prefix, records how far they reach in `wants`.
fn segments(bytes: &[u8], info: &mut ElfInfo) -> Vec<Segment> {
    let (Some(phoff), Some(phentsize), Some(phnum)) =
        (usize_at(bytes, 32), u16_at(bytes, 54), u16_at(bytes, 56))
    else {
        return Vec::new();
    };
    let (phentsize, phnum) = (usize::from(phentsize), usize::from(phnum).min(MAX_RECORDS));
    if phentsize < 56 {
        return Vec::new();
    }
    let Some(end) = phnum
        .checked_mul(phentsize)
        .and_then(|n| n.checked_add(phoff))
    else {
        return Vec::new();
    };
    if end > bytes.len() {
        info.wants = Some(end);
        return Vec::new();
    }
    (0..phnum)
        .filter_map(|i| {
            let ph = phoff + i * phentsize;
            Some(Segment {
                kind: u32_at(bytes, ph)?,
                offset: usize_at(bytes, ph + 8)?,
                vaddr: u64_at(bytes, ph + 16)?,
                filesz: usize_at(bytes, ph + 32)?,
            })
        })
        .collect()
}

/// The file offset of a virtual address, through the `PT_LOAD` segment that maps it.
fn file_offset(segments: &[Segment], addr: u64) -> Option<usize> {
    segments.iter().find_map(|s| {
        let len = u64::try_from(s.filesz).ok()?;
        if s.kind == PT_LOAD && addr >= s.vaddr && addr - s.vaddr < len {
            s.offset.checked_add(usize::try_from(addr - s.vaddr).ok()?)
        } else {
            None
        }
    })
}

fn read64(bytes: &[u8], info: &mut ElfInfo) {
    let segs = segments(bytes, info);
    info.first_load_end = segs
        .iter()
        .find(|s| s.kind == PT_LOAD)
        .and_then(|s| s.offset.checked_add(s.filesz))
        .and_then(|e| u64::try_from(e).ok());
    let mut wants = info.wants.unwrap_or(0);
    let mut want = |end: Option<usize>| {
        if let Some(end) = end.filter(|e| *e > bytes.len()) {
            wants = wants.max(end);
        }
    };
    for s in &segs {
        let end = s.offset.checked_add(s.filesz);
        match s.kind {
            PT_INTERP => {
                let len = s.filesz.min(256);
                match bytes.get(s.offset..s.offset.saturating_add(len)) {
                    Some(raw) => {
                        let end = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
                        info.interpreter = Some(String::from_utf8_lossy(&raw[..end]).into_owned());
                    }
                    None => want(s.offset.checked_add(len)),
                }
            }
            PT_NOTE => match bytes.get(s.offset..end.unwrap_or(usize::MAX)) {
                Some(notes) => info.go_note |= has_go_note(notes),
                None => want(end.map(|e| e.min(s.offset.saturating_add(64 * 1024)))),
            },
            PT_DYNAMIC => {
                info.dynamic = true;
                match bytes.get(s.offset..end.unwrap_or(usize::MAX)) {
                    Some(dynamic) => want(read_dynamic(bytes, dynamic, &segs, info)),
                    None => want(end),
                }
            }
            _ => {}
        }
    }
    info.wants = (wants > bytes.len()).then_some(wants);
}

/// Reads `DT_NEEDED` and the version needs; returns how far the file must reach to read them.
fn read_dynamic(
    bytes: &[u8],
    dynamic: &[u8],
    segs: &[Segment],
    info: &mut ElfInfo,
) -> Option<usize> {
    let (mut strtab, mut strsz, mut verneed, mut verneednum) = (None, 0usize, None, 0usize);
    let mut needed = Vec::new();
    for i in 0..(dynamic.len() / 16).min(MAX_RECORDS) {
        let (Some(tag), Some(val)) = (u64_at(dynamic, i * 16), u64_at(dynamic, i * 16 + 8)) else {
            break;
        };
        match tag {
            0 => break,
            DT_NEEDED => needed.push(val),
            DT_STRTAB => strtab = file_offset(segs, val),
            DT_STRSZ => strsz = usize::try_from(val).unwrap_or(0),
            DT_VERNEED => verneed = file_offset(segs, val),
            DT_VERNEEDNUM => verneednum = usize::try_from(val).unwrap_or(0).min(MAX_RECORDS),
            _ => {}
        }
    }
    let strtab = strtab?;
    let str_end = strtab.checked_add(strsz)?;
    let mut wants = None;
    if str_end > bytes.len() {
        wants = Some(str_end);
    } else {
        info.needed = needed
            .iter()
            .take(64)
            .filter_map(|off| c_str(bytes, strtab.checked_add(usize::try_from(*off).ok()?)?))
            .collect();
    }
    let mut at = verneed?;
    for _ in 0..verneednum {
        let (Some(count), Some(aux), Some(next)) = (
            u16_at(bytes, at.checked_add(2)?),
            u32_at(bytes, at.checked_add(8)?),
            u32_at(bytes, at.checked_add(12)?),
        ) else {
            return Some(wants.unwrap_or(0).max(at.checked_add(16)?));
        };
        let mut a = at.checked_add(usize::try_from(aux).ok()?)?;
        for _ in 0..usize::from(count).min(MAX_RECORDS) {
            let (Some(name), Some(next_aux)) = (
                u32_at(bytes, a.checked_add(8)?),
                u32_at(bytes, a.checked_add(12)?),
            ) else {
                return Some(wants.unwrap_or(0).max(a.checked_add(16)?));
            };
            let name_at = strtab.checked_add(usize::try_from(name).ok()?)?;
            if let Some(v) = c_str(bytes, name_at).as_deref().and_then(glibc_version) {
                info.glibc = info.glibc.max(Some(v));
            }
            if next_aux == 0 {
                break;
            }
            a = a.checked_add(usize::try_from(next_aux).ok()?)?;
        }
        if next == 0 {
            break;
        }
        at = at.checked_add(usize::try_from(next).ok()?)?;
    }
    wants
}

/// Whether a note segment holds a `Go` build-id note (owner `Go`, type 4).
fn has_go_note(notes: &[u8]) -> bool {
    let mut at = 0usize;
    for _ in 0..64 {
        let (Some(namesz), Some(descsz), Some(kind)) = (
            u32_at(notes, at),
            u32_at(notes, at + 4),
            u32_at(notes, at + 8),
        ) else {
            return false;
        };
        let (Ok(namesz), Ok(descsz)) = (usize::try_from(namesz), usize::try_from(descsz)) else {
            return false;
        };
        let name = notes.get(at + 12..at + 12 + namesz.min(notes.len()));
        if kind == 4 && name.is_some_and(|n| n.starts_with(b"Go\0")) {
            return true;
        }
        let align = |n: usize| n.saturating_add(3) & !3;
        at = at
            .saturating_add(12)
            .saturating_add(align(namesz))
            .saturating_add(align(descsz));
    }
    false
}

#[cfg(test)]
pub(crate) mod tests {
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

    /// A shared object whose dynamic section needs `libc.so.6` at GLIBC_2.17 and `glibc`.
    pub(crate) fn elf64_needing(machine: u16, glibc: &str) -> Vec<u8> {
        let mut b = elf64(machine, None);
        b[16..18].copy_from_slice(&3u16.to_le_bytes());
        // Layout: header 64, two phdrs (LOAD, DYNAMIC) at 64..176, strtab at 176,
        // verneed at 256, dynamic at 320. One LOAD maps the file at vaddr 0x1000.
        let strtab: Vec<u8> = [
            b"\0libc.so.6\0GLIBC_2.17\0".as_slice(),
            glibc.as_bytes(),
            b"\0",
        ]
        .concat();
        let strsz = strtab.len() as u64;
        let name_217 = 11u32;
        let name_new = 22u32;
        b[32..40].copy_from_slice(&64u64.to_le_bytes());
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[56..58].copy_from_slice(&2u16.to_le_bytes());
        let ph = |kind: u32, off: u64, vaddr: u64, size: u64| {
            let mut p = vec![0u8; 56];
            p[..4].copy_from_slice(&kind.to_le_bytes());
            p[8..16].copy_from_slice(&off.to_le_bytes());
            p[16..24].copy_from_slice(&vaddr.to_le_bytes());
            p[32..40].copy_from_slice(&size.to_le_bytes());
            p
        };
        b.extend(ph(PT_LOAD, 0, 0x1000, 4096));
        b.extend(ph(PT_DYNAMIC, 320, 0x1000 + 320, 6 * 16));
        b.resize(176, 0);
        b.extend(&strtab);
        b.resize(256, 0);
        // Verneed: version 1, 2 entries, file "libc.so.6", aux at +16, next 0.
        let mut vn = vec![];
        vn.extend(1u16.to_le_bytes());
        vn.extend(2u16.to_le_bytes());
        vn.extend(1u32.to_le_bytes());
        vn.extend(16u32.to_le_bytes());
        vn.extend(0u32.to_le_bytes());
        for (name, next) in [(name_217, 16u32), (name_new, 0)] {
            vn.extend(0u32.to_le_bytes());
            vn.extend(0u16.to_le_bytes());
            vn.extend(0u16.to_le_bytes());
            vn.extend(name.to_le_bytes());
            vn.extend(next.to_le_bytes());
        }
        b.extend(vn);
        b.resize(320, 0);
        for (tag, val) in [
            (DT_NEEDED, 1u64),
            (DT_STRTAB, 0x1000 + 176),
            (DT_STRSZ, strsz),
            (DT_VERNEED, 0x1000 + 256),
            (DT_VERNEEDNUM, 1),
            (0, 0),
        ] {
            b.extend(tag.to_le_bytes());
            b.extend(val.to_le_bytes());
        }
        b.resize(4096, 0);
        b
    }

    #[test]
    fn reads_machine_and_interpreter() {
        let e = parse(&elf64(EM_AARCH64, Some("/lib/ld-linux-aarch64.so.1")))
            .unwrap_or_else(|| panic!("not parsed"));
        assert_eq!(e.architecture(), Some(Architecture::Arm64));
        assert_eq!(e.interpreter.as_deref(), Some("/lib/ld-linux-aarch64.so.1"));
        assert!(e.is_program());
        let s = parse(&elf64(EM_X86_64, None)).unwrap_or_else(|| panic!("not parsed"));
        assert_eq!(
            (s.architecture(), s.interpreter),
            (Some(Architecture::X86_64), None)
        );
    }

    #[test]
    fn reads_needed_libraries_and_the_glibc_floor() {
        let e =
            parse(&elf64_needing(EM_X86_64, "GLIBC_2.38")).unwrap_or_else(|| panic!("not parsed"));
        assert_eq!(e.needed, vec!["libc.so.6".to_string()]);
        assert_eq!(e.glibc, Some((2, 38)));
        assert!(e.dynamic && e.wants.is_none());
        // A prefix that stops inside the string table asks for the rest.
        let full = elf64_needing(EM_X86_64, "GLIBC_2.38");
        let short = parse(&full[..200]).unwrap_or_else(|| panic!("not parsed"));
        assert_eq!(short.glibc, None);
        assert!(short.wants.is_some_and(|w| w > 200 && w <= full.len()));
    }

    #[test]
    fn survives_truncated_and_hostile_headers() {
        let full = elf64_needing(EM_X86_64, "GLIBC_2.34");
        for cut in 0..full.len() {
            let _ = parse(&full[..cut]);
        }
        let mut evil = elf64(EM_X86_64, Some("x"));
        evil[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(parse(&evil).is_some_and(|e| e.interpreter.is_none()));
        // Every byte of a valid file flipped to 0xff: still no panic.
        for i in 0..400 {
            let mut b = full.clone();
            b[i] = 0xff;
            let _ = parse(&b);
        }
        assert!(parse(b"#!/bin/sh\n").is_none());
    }
}
