//! Differential testing: the same wasm-smith module runs through sbx's C ABI
//! and through raw Wasmtime with the same engine settings, and the two must
//! agree on every result bit (NaN payloads included), every trap kind, the
//! fuel each call used and the final memory. This is what catches an
//! encoding, signature or trap-classification bug in sbx's layer.
//!
//! `cargo test --test differential` runs `SBX_DIFF_SEEDS` seeds (default
//! 150, each with fuel on and with fuel off) from `SBX_DIFF_START` (default
//! 0); `make diff DIFF_SEEDS=N` runs more in release. The harness itself is
//! in differential/harness.rs, which the `diff` fuzz target (fuzz/) runs
//! unbounded on the fuzzer's inputs.

mod cabi;
#[path = "differential/harness.rs"]
mod harness;

use harness::{differential, generate, raw_engine, Tally};
use std::time::Instant;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
        })
        .unwrap_or(default)
}

#[test]
fn sbx_agrees_with_raw_wasmtime() {
    let start = env_u64("SBX_DIFF_START", 0);
    let seeds = env_u64("SBX_DIFF_SEEDS", 150);
    let engines = [raw_engine(false), raw_engine(true)];
    let mut tally = Tally::default();
    let began = Instant::now();
    for seed in start..start + seeds {
        if seed > start && (seed - start).is_multiple_of(1000) {
            eprintln!(
                "differential: {} seeds in {:.1?}",
                seed - start,
                began.elapsed()
            );
        }
        let Some(wasm) = generate(seed) else {
            tally.not_generated += 1;
            continue;
        };
        for (fuel, engine) in [false, true].into_iter().zip(&engines) {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                differential(&wasm, fuel, seed ^ 0x5b5, engine, &mut tally)
            }));
            if let Err(panic) = result {
                let path = std::env::temp_dir().join(format!("sbx-diff-{seed}.wasm"));
                std::fs::write(&path, &wasm).unwrap();
                eprintln!(
                    "seed {seed} (fuel {fuel}) disagrees; module in {}",
                    path.display()
                );
                std::panic::resume_unwind(panic);
            }
        }
    }
    eprintln!(
        "differential: seeds {start}..{} in {:.1?}: {tally:?}",
        start + seeds,
        began.elapsed()
    );
    // The generator must keep producing modules both sides run; a config
    // change that made every module invalid would otherwise pass silently.
    assert!(
        tally.modules as u64 >= seeds,
        "only {} of {} module runs loaded: {tally:?}",
        tally.modules,
        2 * seeds
    );
    assert!(
        tally.calls as u64 >= seeds,
        "only {} calls: {tally:?}",
        tally.calls
    );
}
