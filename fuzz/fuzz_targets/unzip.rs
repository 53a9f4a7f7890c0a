//! Any bytes as a zip unpacked by `archfn_extract::unzip` into a fresh root: written beneath it
//! or refused, never a panic, and nothing created, changed or removed outside it (links of the
//! archive aimed at a victim beside the root included).
#![no_main]

use libfuzzer_sys::fuzz_target;

mod escape;

fuzz_target!(|data: &[u8]| {
    let place = escape::Place::new();
    let _ = archfn_extract::unzip::unzip(data, &place.dest());
    place.assert_untouched();
});
