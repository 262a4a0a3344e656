//! Timeout precision through the safe core: how far past a 50 ms deadline an
//! infinite loop is stopped, and how long an interrupt from another thread
//! takes to return the call. p50/p99/max over `SBX_BENCH_RUNS` runs (30).
//! Target (PERFORMANCE.md): p99 <= 250 us for both.

use sbx::{Host, HostConfig, Timeout};
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

fn main() {
    let runs: usize = std::env::var("SBX_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let wasm = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/infinite_loop.wasm"
    ))
    .unwrap();
    let host = Host::new(HostConfig::default()).unwrap();
    let module = host
        .load("loop", &wasm, Timeout::HostDefault, None)
        .unwrap();
    let deadline = Duration::from_millis(50);

    let overshoot = (0..runs)
        .map(|_| {
            let start = Instant::now();
            let err = module
                .call(b"loop", &[], &mut [], Timeout::After(deadline), None)
                .unwrap_err();
            assert_eq!(err.status(), sbx::Status::Timeout);
            (start.elapsed().saturating_sub(deadline)).as_secs_f64() * 1e6
        })
        .collect();
    report("timeout overshoot, 50 ms deadline", overshoot);

    let interrupt = (0..runs)
        .map(|_| {
            let m = module.clone();
            let runner = std::thread::spawn(move || {
                let err = m
                    .call(b"loop", &[], &mut [], Timeout::Never, None)
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
        })
        .collect();
    report("interrupt -> call returns", interrupt);
    println!(
        "queued deadlines after the runs: {}",
        sbx::queued_deadlines()
    );
}
