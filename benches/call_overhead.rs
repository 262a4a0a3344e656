//! What sbx adds to a call: `sbx_call_with_timeout` on `add(i32,i32)` with a
//! timeout armed, against a raw typed Wasmtime call on an engine with the same
//! settings (epoch interruption on), in the same process and run.
//!
//! `cargo bench --bench call_overhead` prints medians over repeated rounds.
//! Target (issue 2): at most 40 ns above the raw typed call.

use sbx::capi::*;
use std::hint::black_box;
use std::time::{Duration, Instant};

const ROUNDS: usize = 15;

fn iterations() -> u64 {
    std::env::var("SBX_BENCH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000)
}

/// Median ns per iteration over `ROUNDS` rounds of `iters` calls.
fn measure(iters: u64, mut body: impl FnMut(u64)) -> f64 {
    let mut rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for i in 0..iters {
                body(i);
            }
            start.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[ROUNDS / 2]
}

fn main() {
    let wasm = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/add.wasm"))
        .expect("read add.wasm");
    let noop = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/noop.wasm"))
        .expect("read noop.wasm");
    let iters = iterations();

    // Raw Wasmtime, typed, with the same engine settings as sbx.
    let mut config = wasmtime::Config::new();
    config.epoch_interruption(true);
    let engine = wasmtime::Engine::new(&config).unwrap();
    let module = wasmtime::Module::new(&engine, &wasm).unwrap();
    let mut store = wasmtime::Store::new(&engine, ());
    store.set_epoch_deadline(u64::MAX / 2);
    let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
    let add = instance
        .get_typed_func::<(i32, i32), i32>(&mut store, "add")
        .unwrap();
    let raw_typed = measure(iters, |i| {
        black_box(add.call(&mut store, (black_box(i as i32), 2)).unwrap());
    });
    let add_untyped = instance.get_func(&mut store, "add").unwrap();
    let mut out = [wasmtime::Val::I32(0)];
    let raw_untyped = measure(iters / 4, |i| {
        add_untyped
            .call(
                &mut store,
                &[wasmtime::Val::I32(i as i32), wasmtime::Val::I32(2)],
                &mut out,
            )
            .unwrap();
        black_box(&out);
    });

    // sbx through its C ABI, the way Go calls it: one crossing, export
    // resolved by name inside, 1 s timeout armed on every call.
    let mut host = std::ptr::null_mut();
    assert_eq!(
        sbx_host_new(std::ptr::null(), &mut host, std::ptr::null_mut()),
        sbx::Status::Ok
    );
    let load = |bytes: &[u8]| {
        let mut module = std::ptr::null_mut();
        let status = sbx_load_module(
            host,
            b"bench".as_ptr().cast(),
            5,
            bytes.as_ptr(),
            bytes.len(),
            0,
            std::ptr::null(),
            &mut module,
            std::ptr::null_mut(),
        );
        assert_eq!(status, sbx::Status::Ok);
        module
    };
    let module = load(&wasm);
    let noop_module = load(&noop);
    let timeout_ns = Duration::from_secs(1).as_nanos() as u64;
    let mut results = [0u64; 16];
    let mut n = 0usize;
    let mut sbx_call = |module: *mut sbx_module, func: &[u8], params: &[u64], timeout_ns: u64| {
        let status = sbx_call_with_timeout(
            module,
            func.as_ptr().cast(),
            func.len(),
            params.as_ptr(),
            params.len(),
            results.as_mut_ptr(),
            results.len(),
            &mut n,
            timeout_ns,
            std::ptr::null(),
            std::ptr::null_mut(),
        );
        debug_assert_eq!(status, sbx::Status::Ok);
        black_box(results[0]);
    };
    let sbx_timeout = measure(iters, |i| {
        sbx_call(module, b"add", &[black_box(i), 2], timeout_ns)
    });
    let sbx_no_timeout = measure(iters, |i| {
        sbx_call(module, b"add", &[black_box(i), 2], SBX_TIMEOUT_NONE)
    });
    let sbx_noop = measure(iters, |_| sbx_call(noop_module, b"noop", &[], timeout_ns));

    println!("case\tns_per_call");
    println!("raw wasmtime TypedFunc::call add\t{raw_typed:.1}");
    println!("raw wasmtime Func::call add (untyped)\t{raw_untyped:.1}");
    println!("sbx_call_with_timeout add, 1 s timeout\t{sbx_timeout:.1}");
    println!("sbx_call_with_timeout add, no timeout\t{sbx_no_timeout:.1}");
    println!("sbx_call_with_timeout noop, 1 s timeout\t{sbx_noop:.1}");
    println!(
        "sbx overhead over raw typed (target <= 40 ns)\t{:.1}",
        sbx_timeout - raw_typed
    );

    sbx_module_free(module);
    sbx_module_free(noop_module);
    sbx_close(host);

    // A fresh instance of an already-compiled module: load (a cache hit)
    // plus free, on-demand and pooled. Target (docs/PERFORMANCE.md): <= 10 us.
    for pooling in [false, true] {
        let limits = sbx::Limits {
            pooling,
            max_modules: 16,
            ..Default::default()
        };
        let host = sbx::Host::new(sbx::HostConfig {
            limits,
            ..Default::default()
        })
        .unwrap();
        drop(
            host.load("warm", &wasm, sbx::Timeout::HostDefault, None)
                .unwrap(),
        );
        let fresh = measure(iters / 100, |_| {
            let m = host
                .load("fresh", &wasm, sbx::Timeout::HostDefault, None)
                .unwrap();
            m.close();
        });
        let kind = if pooling { "pooling" } else { "on-demand" };
        println!("fresh instance (cached load + close), {kind}\t{fresh:.1}");
    }

    // Loading an 860 KB module: a cold compile, a hit in the host's memory
    // cache, and a hit in the disk cache from a fresh host (as a new process
    // would). Target: a cached load <= 1 ms and >= 100x faster than compiling.
    let large = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/programs/large.wasm"
    ))
    .unwrap();
    let dir = std::env::temp_dir().join(format!("sbx-bench-cache-{}", std::process::id()));
    let config = || sbx::HostConfig {
        cache_dir: Some(dir.clone()),
        ..Default::default()
    };
    let host = sbx::Host::new(config()).unwrap();
    let timed = |host: &sbx::Host| {
        let start = Instant::now();
        let (m, source) = host
            .load_with("large", &large, &sbx::LoadOptions::default())
            .unwrap();
        let us = start.elapsed().as_secs_f64() * 1e6;
        m.close();
        (us, source)
    };
    let (cold, _) = timed(&host);
    let (memory, _) = timed(&host);
    let mut disk = Vec::new();
    for _ in 0..5 {
        let fresh = sbx::Host::new(config()).unwrap();
        let (us, source) = timed(&fresh);
        assert_eq!(source, sbx::CacheSource::Disk);
        disk.push(us);
    }
    disk.sort_by(f64::total_cmp);
    println!(
        "load large.wasm ({} KB), cold compile, us\t{cold:.0}",
        large.len() / 1024
    );
    println!("load large.wasm, memory cache hit, us\t{memory:.0}");
    println!(
        "load large.wasm, disk cache hit (fresh host), median us\t{:.0}",
        disk[2]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
