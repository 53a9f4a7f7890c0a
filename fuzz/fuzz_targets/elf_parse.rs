//! Any bytes as an ELF file: parsed or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(info) = archfn_scan::elf::parse(data) {
        let _ = (info.architecture(), info.machine_name(), info.is_program());
    }
});
