//! Differential fuzzing: the fuzzer's input becomes a wasm-smith module
//! (termination ensured), which runs through sbx's C ABI and through raw
//! Wasmtime with the same engine settings, with fuel on and off. Any
//! disagreement in results (bit for bit), trap kind, fuel or final memory
//! panics. The harness is tests/differential/harness.rs, which
//! `cargo test --test differential` runs on fixed seeds.
#![no_main]

#[path = "../../tests/cabi/mod.rs"]
mod cabi;
#[path = "../../tests/differential/harness.rs"]
mod harness;

use harness::{differential, generate_from, raw_engine, Tally};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

/// Raw Wasmtime's engines, fuel off and on: made once, as a host would.
static ENGINES: LazyLock<[wasmtime::Engine; 2]> =
    LazyLock::new(|| [raw_engine(false), raw_engine(true)]);

fuzz_target!(|data: &[u8]| {
    let Some(wasm) = generate_from(data) else {
        return;
    };
    // The params come from the input too, so that a crash reproduces.
    let params_seed = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let mut tally = Tally::default();
    for (fuel, engine) in [false, true].into_iter().zip(ENGINES.iter()) {
        differential(&wasm, fuel, params_seed, engine, &mut tally);
    }
});
