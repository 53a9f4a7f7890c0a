//! The one reading of an ELF file's machine: which Lambda architecture a 64-bit little-endian
//! ELF file was built for, from the first 20 bytes of its header.

use crate::Architecture;

/// `e_machine` of x86-64.
pub const EM_X86_64: u16 = 62;
/// `e_machine` of AArch64.
pub const EM_AARCH64: u16 = 183;

/// The Lambda architecture of an `e_machine` value, if it is one.
pub fn architecture(e_machine: u16) -> Option<Architecture> {
    match e_machine {
        EM_X86_64 => Some(Architecture::X86_64),
        EM_AARCH64 => Some(Architecture::Arm64),
        _ => None,
    }
}

/// The architecture an ELF file was built for, from the start of the file (`e_ident` and
/// `e_machine`); `None` when `head` is not a 64-bit little-endian ELF header of a Lambda
/// architecture, or too short to say.
pub fn machine(head: &[u8]) -> Option<Architecture> {
    let ident = head.get(..6)?;
    if &ident[..4] != b"\x7fELF" || ident[4] != 2 || ident[5] != 1 {
        return None;
    }
    let m = head.get(18..20)?;
    architecture(u16::from_le_bytes([m[0], m[1]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(class: u8, data: u8, machine: u16) -> Vec<u8> {
        let mut h = vec![0x7f, b'E', b'L', b'F', class, data, 1, 0];
        h.resize(20, 0);
        h[18..20].copy_from_slice(&machine.to_le_bytes());
        h
    }

    #[test]
    fn reads_the_machine_of_64_bit_little_endian_headers() {
        assert_eq!(
            machine(&header(2, 1, EM_AARCH64)),
            Some(Architecture::Arm64)
        );
        assert_eq!(
            machine(&header(2, 1, EM_X86_64)),
            Some(Architecture::X86_64)
        );
        assert_eq!(machine(&header(2, 1, 3)), None, "i386");
        assert_eq!(machine(&header(1, 1, EM_X86_64)), None, "32-bit class");
        assert_eq!(machine(&header(2, 2, EM_X86_64)), None, "big-endian");
    }

    #[test]
    fn refuses_short_and_foreign_heads() {
        let h = header(2, 1, EM_AARCH64);
        for n in 0..h.len() {
            assert_eq!(machine(&h[..n]), None, "{n} bytes");
        }
        assert_eq!(machine(b"#!/bin/sh\n"), None);
        assert_eq!(machine(b""), None);
    }
}
