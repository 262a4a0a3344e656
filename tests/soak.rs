//! Soak: many load/call/close cycles and host create/close cycles through
//! the C ABI, sampling resident memory, open file descriptors, mappings and
//! threads; after a warm-up they must stay flat.
//!
//! `cargo test --test soak` runs the short version (20,000 module cycles,
//! 1,000 host cycles). `make soak` runs the full one in release:
//! `cargo test --release --test soak -- --ignored --nocapture`, 1,000,000
//! module cycles and 100,000 host cycles, sampled at 10k, 100k and 1M.

mod cabi;

use sbx::Status;
use std::time::Instant;

const GUEST: &str = r#"
(module
  (memory (export "memory") 1)
  (func (export "add") (param i32 i32) (result i32)
    (i32.store (i32.const 0) (local.get 0))
    (i32.add (local.get 0) (local.get 1))))
"#;

/// What the process holds, from /proc/self.
#[derive(Clone, Copy, Debug)]
struct Sample {
    rss_kib: u64,
    fds: usize,
    maps: usize,
    threads: usize,
}

fn sample() -> Sample {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    let count = |dir: &str| std::fs::read_dir(dir).unwrap().count();
    Sample {
        rss_kib,
        fds: count("/proc/self/fd"),
        maps: std::fs::read_to_string("/proc/self/maps")
            .unwrap()
            .lines()
            .count(),
        threads: count("/proc/self/task"),
    }
}

/// Flat: after the warm-up sample, resident memory grows by at most 16 MiB
/// or 25% (allocator caches settle), mappings by at most 64 lines, and file
/// descriptors and threads not at all.
fn assert_flat(what: &str, base: Sample, now: Sample) {
    let rss_allowed = base.rss_kib + (16 * 1024).max(base.rss_kib / 4);
    assert!(
        now.rss_kib <= rss_allowed,
        "{what}: RSS {} KiB > {rss_allowed} KiB (warm-up {base:?})",
        now.rss_kib
    );
    assert!(
        now.maps <= base.maps + 64,
        "{what}: mappings {now:?} vs {base:?}"
    );
    assert!(now.fds <= base.fds, "{what}: fds {now:?} vs {base:?}");
    assert!(
        now.threads <= base.threads,
        "{what}: threads {now:?} vs {base:?}"
    );
}

/// Runs `cycles` of `cycle`, sampling at each of `marks` (the first is the
/// warm-up baseline) and checking the later ones against it.
fn soak(what: &str, cycles: u64, marks: &[u64], mut cycle: impl FnMut(u64)) {
    let began = Instant::now();
    let mut base = None;
    for i in 1..=cycles {
        cycle(i);
        if marks.contains(&i) {
            let s = sample();
            eprintln!(
                "{what} {i:>8}: RSS {:>7} KiB, {:>3} fds, {:>5} mappings, {:>3} threads ({:.1?})",
                s.rss_kib,
                s.fds,
                s.maps,
                s.threads,
                began.elapsed()
            );
            match base {
                None => base = Some(s),
                Some(b) => assert_flat(&format!("{what} at {i}"), b, s),
            }
        }
    }
}

fn module_cycles(cycles: u64, marks: &[u64]) {
    let host = cabi::Host::new(&cabi::Config::new()).unwrap();
    let wasm = wat::parse_str(GUEST).unwrap();
    soak("load/call/close", cycles, marks, |i| {
        let module = host.load("soak", &wasm, 0, None).unwrap();
        // A deadline on every call, so the timer's queue is part of it.
        let got = module.call("add", &[i, 1], 1, 100_000_000, None).unwrap();
        assert_eq!(got, [(i as u32).wrapping_add(1) as u64]);
        assert_eq!(module.close(), Status::Ok);
    });
    assert_eq!(host.live_modules(), 0);
}

fn host_cycles(cycles: u64, marks: &[u64]) {
    let dir = std::env::temp_dir().join(format!("sbx-soak-cache-{}", std::process::id()));
    let dir_str = dir.to_str().unwrap().to_owned();
    let _cleanup = RemoveDir(dir.clone());
    let wasm = wat::parse_str(GUEST).unwrap();
    soak("host create/close", cycles, marks, |i| {
        let host = cabi::Host::new(&cabi::Config::new().cache_dir(&dir_str)).unwrap();
        // Every tenth host loads and calls (from the disk cache).
        if i % 10 == 0 {
            let module = host.load("soak", &wasm, 0, None).unwrap();
            assert_eq!(module.call("add", &[1, 2], 1, 0, None).unwrap(), [3]);
        }
        host.close();
    });
}

/// Removes a directory however the test ends.
struct RemoveDir(std::path::PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn soak_short() {
    module_cycles(20_000, &[5_000, 10_000, 20_000]);
    host_cycles(1_000, &[250, 500, 1_000]);
}

#[test]
#[ignore = "minutes long; run by make soak"]
fn soak_full() {
    module_cycles(1_000_000, &[10_000, 100_000, 1_000_000]);
    host_cycles(100_000, &[10_000, 100_000]);
}
