//! A compile that outlives its load's timeout (issue 8): a module of one
//! function with 20,000 nested empty `loop`s, loaded under a 1 s timeout.
//! Reports how long after the deadline the load returns (target,
//! docs/PERFORMANCE.md: within 50 ms), and how much CPU and wall time the
//! abandoned compile still burns after that. Also times the bomb's full
//! compile at 8,000 and 20,000 loops, and a small module's compile while two
//! abandoned bombs run. `SBX_BENCH_RUNS` sets the timed-out loads (5); each
//! waits for the previous abandoned compile to end.

#[path = "../tests/common/compile_bomb.rs"]
mod compile_bomb;

use sbx::{Host, HostConfig, Status, Timeout};
use std::time::{Duration, Instant};

/// User plus system CPU time of the whole process.
fn process_cpu() -> Duration {
    // SAFETY: `usage` is a valid out-pointer for getrusage.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn summary(mut values: Vec<f64>, unit: &str) -> String {
    values.sort_by(f64::total_cmp);
    format!(
        "p50 {:.1} {unit}\tmax {:.1} {unit}\t(n={})",
        percentile(&values, 0.5),
        values[values.len() - 1],
        values.len()
    )
}

fn main() {
    let runs: usize = std::env::var("SBX_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);

    for depth in [8_000, 20_000] {
        let wasm = compile_bomb::nested_loops(depth);
        let host = Host::new(HostConfig::default()).unwrap();
        let start = Instant::now();
        host.load("bomb", &wasm, Timeout::Never, None).unwrap();
        println!(
            "compile bomb, {depth} nested loops ({} KB): compiled in {:.2} s",
            wasm.len() / 1000,
            start.elapsed().as_secs_f64()
        );
    }

    let wasm = compile_bomb::nested_loops(20_000);
    let host = Host::new(HostConfig::default()).unwrap();
    let timeout = Duration::from_secs(1);
    let (mut late, mut cpu_after, mut wall_after) = (vec![], vec![], vec![]);
    for _ in 0..runs {
        let start = Instant::now();
        let err = host
            .load("bomb", &wasm, Timeout::After(timeout), None)
            .err()
            .expect("the bomb outlives the timeout");
        let returned = Instant::now();
        let cpu_at_return = process_cpu();
        assert_eq!(err.status(), Status::Timeout, "{err}");
        late.push((returned - start).saturating_sub(timeout).as_secs_f64() * 1e3);
        while host.abandoned_compiles() > 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        cpu_after.push((process_cpu() - cpu_at_return).as_secs_f64());
        wall_after.push(returned.elapsed().as_secs_f64());
    }

    // Two abandoned bombs (the default cap) must not delay another compile.
    for _ in 0..2 {
        let timeout = Timeout::After(Duration::from_millis(100));
        assert!(host.load("bomb", &wasm, timeout, None).is_err());
    }
    let add = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/add.wasm")).unwrap();
    let other = Host::new(HostConfig::default()).unwrap();
    let start = Instant::now();
    other.load("add", &add, Timeout::Never, None).unwrap();
    let add_took = start.elapsed();
    while host.abandoned_compiles() > 0 {
        std::thread::sleep(Duration::from_millis(5));
    }

    println!(
        "compile bomb (20,000 loops), 1 s load timeout: deadline -> return\t{}",
        summary(late, "ms")
    );
    println!(
        "  CPU the abandoned compile burnt after the return\t{}",
        summary(cpu_after, "s")
    );
    println!(
        "  wall time from the return to the compile's end\t{}",
        summary(wall_after, "s")
    );
    println!(
        "compile of add.wasm while 2 abandoned bombs run\t{:.1} ms",
        add_took.as_secs_f64() * 1e3
    );
}
