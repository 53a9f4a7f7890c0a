//! Any bytes as two image layers (the first two bytes say where the second begins) applied by
//! `archfn_extract::layer` on one fresh root: applied or refused, never a panic, and nothing
//! created, changed or removed outside the root (whiteouts, symbolic and hard links of the
//! first layer used by the second one included).
#![no_main]

use libfuzzer_sys::fuzz_target;

mod escape;

fuzz_target!(|data: &[u8]| {
    let (cut, layers) = match data {
        [a, b, rest @ ..] if !rest.is_empty() => (
            usize::from(u16::from_le_bytes([*a, *b])) % (rest.len() + 1),
            rest,
        ),
        _ => (0, data),
    };
    let place = escape::Place::new();
    let root = archfn_extract::Root::create(&place.dest()).expect("the root");
    let (lower, upper) = layers.split_at(cut);
    for layer in [lower, upper] {
        if archfn_extract::layer::apply_layer_to(layer, &root).is_err() {
            break;
        }
    }
    place.assert_untouched();
});
