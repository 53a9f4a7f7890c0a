//! Any bytes as an artifact (zip, tar, .tgz, ELF): a report or an error, never a panic, a hang
//! or unbounded memory.
#![no_main]

use archfn_model::Architecture;
use archfn_scan::{ScanOptions, scan_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut opts = ScanOptions::new(Architecture::Arm64);
    opts.workers = 1;
    opts.runtime = Some("python3.11".into());
    let _ = scan_bytes(data, &opts);
});
