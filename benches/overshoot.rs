//! Timeout precision through the safe core: how far past a 50 ms deadline an
//! infinite loop is stopped, and how long an interrupt from another thread
//! takes to return the call; the same for a guest sleeping in WASI
//! (`poll_oneoff` on a clock), the two alternating run by run.
//! p50/p99/max over `SBX_BENCH_RUNS` runs (30) each.
//! Target (docs/PERFORMANCE.md): p99 <= 250 us for all.

use sbx::{Host, HostConfig, LoadOptions, Module, Timeout, WasiConfig};
use std::time::{Duration, Instant};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(name: &str, mut micros: Vec<f64>) {
    micros.sort_by(f64::total_cmp);
    println!(
        "{name}\tp50 {:.1} us\tp99 {:.1} us\tmax {:.1} us\t(n={})",
        percentile(&micros, 0.5),
        percentile(&micros, 0.99),
        micros[micros.len() - 1],
        micros.len()
    );
}

/// How far past a 50 ms deadline `func(params)` is stopped.
fn overshoot(module: &Module, func: &[u8], params: &[u64]) -> f64 {
    let deadline = Duration::from_millis(50);
    let start = Instant::now();
    let err = module
        .call(func, params, &mut [0], Timeout::After(deadline), None)
        .unwrap_err();
    assert_eq!(err.status(), sbx::Status::Timeout);
    (start.elapsed().saturating_sub(deadline)).as_secs_f64() * 1e6
}

/// How long after an interrupt from another thread `func(params)` returns.
fn interrupt(module: &Module, func: &'static [u8], params: &[u64]) -> f64 {
    let m = module.clone();
    let params = params.to_vec();
    let runner = std::thread::spawn(move || {
        let err = m
            .call(func, &params, &mut [0], Timeout::Never, None)
            .unwrap_err();
        (err.status(), Instant::now())
    });
    std::thread::sleep(Duration::from_millis(5));
    let sent = Instant::now();
    while !module.interrupt().unwrap() {
        std::thread::yield_now(); // the call has not started yet
    }
    let (status, returned) = runner.join().unwrap();
    assert_eq!(status, sbx::Status::Interrupted);
    returned.duration_since(sent).as_secs_f64() * 1e6
}

fn main() {
    let runs: usize = std::env::var("SBX_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let read =
        |path: &str| std::fs::read(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let host = Host::new(HostConfig::default()).unwrap();
    let looping = host
        .load(
            "loop",
            &read("testdata/infinite_loop.wasm"),
            Timeout::HostDefault,
            None,
        )
        .unwrap();
    let options = LoadOptions {
        wasi: Some(WasiConfig::default()),
        ..LoadOptions::default()
    };
    let sleeping = host
        .load_with("sleep", &read("testdata/wasi/sleep.wasm"), &options)
        .unwrap()
        .0;
    let eight_seconds = [8_000_000_000];

    // Loop and sleep runs alternate, so that both see the same machine load.
    let runs_of = |measure: &mut dyn FnMut(bool) -> f64| {
        let mut looping = Vec::with_capacity(runs);
        let mut sleeping = Vec::with_capacity(runs);
        for _ in 0..runs {
            looping.push(measure(false));
            sleeping.push(measure(true));
        }
        (looping, sleeping)
    };
    let (loop_timeout, sleep_timeout) = runs_of(&mut |sleep| match sleep {
        false => overshoot(&looping, b"loop", &[]),
        true => overshoot(&sleeping, b"sleep", &eight_seconds),
    });
    let (loop_interrupt, sleep_interrupt) = runs_of(&mut |sleep| match sleep {
        false => interrupt(&looping, b"loop", &[]),
        true => interrupt(&sleeping, b"sleep", &eight_seconds),
    });
    report("timeout overshoot, 50 ms deadline", loop_timeout);
    report("timeout overshoot, guest sleeping in WASI", sleep_timeout);
    report("interrupt -> call returns", loop_interrupt);
    report(
        "interrupt -> call returns, guest sleeping in WASI",
        sleep_interrupt,
    );
    println!(
        "queued deadlines after the runs: {}",
        sbx::queued_deadlines()
    );
}
