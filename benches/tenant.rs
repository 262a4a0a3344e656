//! Multi-tenant hosting (issue 11), the Rust core next to raw Wasmtime 48
//! with sbx's engine settings, in one process and interleaved round by
//! round, so that load on the machine hits both sides alike:
//! - a fresh instance of a compiled module and its close, pooled and
//!   on-demand (`CompiledModule::instantiate` + `close` + drop against
//!   `Store::new` + `InstancePre::instantiate` + drop), with `Host::load` of
//!   cached bytes beside it;
//! - `Module::reset` after the guest dirtied 64 KiB, 1 MiB or 16 MiB of its
//!   memory (bench/testdata/touch.wat), against raw re-instantiation (drop
//!   the store, `Store::new`, `InstancePre::instantiate`); the touch is
//!   timed apart and reported in the line's `touch_us`;
//! - `Module::call(add)`, now that every call updates the module's stats.
//!
//! Prints one JSON object per line, the format bench/cmd/table reads:
//!   {"runtime":"sbx","case":"tenant.core.reset.pooling.1m","value":95.1,"unit":"us",...}
//!
//! Usage (bench/run does this, as its `tenant` group):
//!   cargo bench --bench tenant -- [--smoke] [--root DIR] [--out FILE] [--only tenant]

use sbx::{CompiledModule, Host, HostConfig, Limits, LoadOptions, Timeout};
use std::fmt::Write as _;
use std::hint::black_box;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, InstancePre, Linker, PoolingAllocationConfig, Store,
};

/// Pool slots on both sides, as in benches/floor.rs.
const SLOTS: u32 = 100;
/// A deadline far enough away that it never fires: "timeouts armed".
const ARMED_TICKS: u64 = 10_000;
const EXEC_TIMEOUT: Duration = Duration::from_secs(10);
/// What touch.wasm's `touch` returns on a pristine instance: its data
/// segment's first byte.
const PRISTINE: u64 = b's' as u64;

struct Opts {
    smoke: bool,
    root: PathBuf,
    out: Option<PathBuf>,
}

struct Out {
    lines: Vec<String>,
}

impl Out {
    /// One result line; `fields` are extra "key":value pairs, already JSON.
    fn push(
        &mut self,
        runtime: &str,
        case: &str,
        value: f64,
        unit: &str,
        fields: &[(&str, String)],
    ) {
        let mut s = format!(
            "{{\"runtime\":\"{runtime}\",\"case\":\"{case}\",\"value\":{},\"unit\":\"{unit}\"",
            num(value)
        );
        for (k, v) in fields {
            let _ = write!(s, ",\"{k}\":{v}");
        }
        s.push('}');
        eprintln!("{s}");
        self.lines.push(s);
    }
}

fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.4}")
    } else {
        "null".into()
    }
}

fn jstr(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Nearest-rank percentile of a sorted sample.
fn pct(sorted: &[f64], q: f64) -> f64 {
    sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// Median and p99 of per-operation samples (ns), as fields in `scale` units.
fn dist(mut xs: Vec<f64>, scale: f64) -> (f64, Vec<(&'static str, String)>) {
    xs.sort_by(f64::total_cmp);
    let fields = vec![
        ("min", num(xs[0] / scale)),
        ("p99", num(pct(&xs, 0.99) / scale)),
        ("max", num(xs[xs.len() - 1] / scale)),
        ("n", xs.len().to_string()),
    ];
    (pct(&xs, 0.5) / scale, fields)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    pct(&xs, 0.5)
}

/// Raw Wasmtime with sbx's engine settings (src/limits.rs): epoch
/// interruption, a 512 KiB wasm stack, and the same pool per slot.
fn raw_engine(pooling: bool) -> Engine {
    let mut c = Config::new();
    c.epoch_interruption(true);
    c.max_wasm_stack(512 * 1024);
    if pooling {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_core_instances(SLOTS)
            .total_memories(SLOTS)
            .total_tables(SLOTS)
            .max_memories_per_module(1)
            .max_tables_per_module(1)
            .max_memory_size(Limits::default().memory_bytes as usize)
            .table_elements(Limits::default().table_elements as usize)
            .total_component_instances(0)
            .total_stacks(0);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    Engine::new(&c).expect("engine")
}

fn raw_pre(engine: &Engine, wasm: &[u8]) -> InstancePre<()> {
    let module = wasmtime::Module::new(engine, wasm).unwrap();
    Linker::<()>::new(engine).instantiate_pre(&module).unwrap()
}

fn sbx_host(pooling: bool) -> Host {
    Host::new(HostConfig {
        limits: Limits {
            pooling,
            max_modules: SLOTS,
            exec_timeout: Some(EXEC_TIMEOUT),
            ..Limits::default()
        },
        ..HostConfig::default()
    })
    .unwrap()
}

fn sbx_compile(host: &Host, wasm: &[u8]) -> CompiledModule {
    host.compile(wasm, Timeout::HostDefault, None).unwrap().0
}

fn read(root: &Path, rel: &str) -> Vec<u8> {
    let p = root.join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

fn timed(xs: &mut Vec<f64>, f: impl FnOnce()) {
    let t = Instant::now();
    f();
    xs.push(t.elapsed().as_nanos() as f64);
}

fn strategy(pooling: bool) -> &'static str {
    if pooling {
        "pooling"
    } else {
        "ondemand"
    }
}

/// A fresh instance and its end, 3 ways, interleaved.
fn case_instantiate(o: &Opts, out: &mut Out) {
    let (rounds, per_round) = if o.smoke { (1, 3) } else { (10, 200) };
    for pooling in [true, false] {
        for (file, tag) in [
            ("testdata/add.wasm", "add"),
            ("testdata/programs/lz77.wasm", "lz77"),
        ] {
            let wasm = read(&o.root, file);
            let engine = raw_engine(pooling);
            let pre = raw_pre(&engine, &wasm);
            let host = sbx_host(pooling);
            let compiled = sbx_compile(&host, &wasm);
            let options = LoadOptions::default();
            let (mut raw, mut inst, mut load) = (Vec::new(), Vec::new(), Vec::new());
            for round in 0..=rounds {
                // Round 0 warms up (pool slots, caches) and is not kept.
                let (mut r, mut i, mut l) = (Vec::new(), Vec::new(), Vec::new());
                for _ in 0..per_round {
                    timed(&mut r, || {
                        let mut store = Store::new(&engine, ());
                        store.set_epoch_deadline(ARMED_TICKS);
                        black_box(pre.instantiate(&mut store).unwrap());
                        drop(store);
                    });
                }
                for _ in 0..per_round {
                    timed(&mut i, || {
                        let m = compiled.instantiate("fresh", &options).unwrap();
                        m.close();
                        drop(m);
                    });
                }
                for _ in 0..per_round {
                    timed(&mut l, || {
                        let m = host
                            .load("fresh", &wasm, Timeout::HostDefault, None)
                            .unwrap();
                        m.close();
                        drop(m);
                    });
                }
                if round > 0 {
                    raw.extend(r);
                    inst.extend(i);
                    load.extend(l);
                }
            }
            let s = strategy(pooling);
            let (v, mut f) = dist(raw, 1e3);
            f.push(("note", jstr("Store::new + InstancePre::instantiate + drop")));
            out.push("raw", &format!("tenant.core.inst.{s}.{tag}"), v, "us", &f);
            let (v, mut f) = dist(inst, 1e3);
            f.push(("note", jstr("CompiledModule::instantiate + close + drop")));
            out.push("sbx", &format!("tenant.core.inst.{s}.{tag}"), v, "us", &f);
            let (v, mut f) = dist(load, 1e3);
            f.push(("note", jstr("Host::load of cached bytes + close + drop")));
            out.push("sbx", &format!("tenant.core.load.{s}.{tag}"), v, "us", &f);
        }
    }
}

/// Reset after touching 64 KiB, 1 MiB, 16 MiB: sbx's `Module::reset`
/// against raw re-instantiation, the touch timed apart.
fn case_reset(o: &Opts, out: &mut Out) {
    let wasm = read(&o.root, "bench/testdata/touch.wasm");
    for pooling in [true, false] {
        let engine = raw_engine(pooling);
        let pre = raw_pre(&engine, &wasm);
        let host = sbx_host(pooling);
        let compiled = sbx_compile(&host, &wasm);
        let module = compiled
            .instantiate("touch", &LoadOptions::default())
            .unwrap();
        let mut store = Store::new(&engine, ());
        let mut instance = pre.instantiate(&mut store).unwrap();
        for (pages, tag) in [(1u32, "64k"), (16, "1m"), (256, "16m")] {
            let (rounds, per_round) = match (o.smoke, pages) {
                (true, _) => (1, 2),
                (false, 256) => (10, 15),
                (false, _) => (10, 60),
            };
            let (mut raw_touch, mut raw_reset) = (Vec::new(), Vec::new());
            let (mut sbx_touch, mut sbx_reset) = (Vec::new(), Vec::new());
            let mut res = [0u64; 1];
            for round in 0..=rounds {
                let (mut rt, mut rr, mut st, mut sr) =
                    (Vec::new(), Vec::new(), Vec::new(), Vec::new());
                for _ in 0..per_round {
                    let touch = instance
                        .get_typed_func::<i32, i32>(&mut store, "touch")
                        .unwrap();
                    timed(&mut rt, || {
                        store.set_epoch_deadline(ARMED_TICKS);
                        let first = touch.call(&mut store, pages as i32).unwrap();
                        assert_eq!(first as u64, PRISTINE, "raw: not a fresh instance");
                    });
                    timed(&mut rr, || {
                        drop(std::mem::replace(&mut store, Store::new(&engine, ())));
                        store.set_epoch_deadline(ARMED_TICKS);
                        instance = pre.instantiate(&mut store).unwrap();
                    });
                }
                for _ in 0..per_round {
                    timed(&mut st, || {
                        let n = module
                            .call(
                                b"touch",
                                &[pages as u64],
                                &mut res,
                                Timeout::HostDefault,
                                None,
                            )
                            .unwrap();
                        assert_eq!((n, res[0]), (1, PRISTINE), "sbx: not a fresh instance");
                    });
                    timed(&mut sr, || {
                        module.reset(Timeout::HostDefault, None).unwrap()
                    });
                }
                if round > 0 {
                    raw_touch.extend(rt);
                    raw_reset.extend(rr);
                    sbx_touch.extend(st);
                    sbx_reset.extend(sr);
                }
            }
            let s = strategy(pooling);
            let case = format!("tenant.core.reset.{s}.{tag}");
            let touch_us = |xs: Vec<f64>| num(median(xs) / 1e3);
            let (v, mut f) = dist(raw_reset, 1e3);
            f.push(("touch_us", touch_us(raw_touch)));
            f.push((
                "note",
                jstr("drop the Store + Store::new + InstancePre::instantiate"),
            ));
            out.push("raw", &case, v, "us", &f);
            let (v, mut f) = dist(sbx_reset, 1e3);
            f.push(("touch_us", touch_us(sbx_touch)));
            f.push(("note", jstr("Module::reset")));
            out.push("sbx", &case, v, "us", &f);
        }
        let stats = module.stats();
        assert_eq!(stats.calls, stats.resets, "one reset per touch");
        module.close();
    }
}

/// Times `f` in batches for about `budget`; returns the median ns per call.
fn per_call_ns(budget: Duration, mut f: impl FnMut()) -> f64 {
    for _ in 0..1000 {
        f();
    }
    let t = Instant::now();
    let mut batch = 0u64;
    while t.elapsed() < Duration::from_millis(5) {
        f();
        batch += 1;
    }
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed() < budget || samples.len() < 3 {
        let t = Instant::now();
        for _ in 0..batch.max(1) {
            f();
        }
        samples.push(t.elapsed().as_nanos() as f64 / batch.max(1) as f64);
    }
    median(samples)
}

/// `Module::call(add)` with its stats, next to the raw typed call, in
/// alternating rounds.
fn case_call(o: &Opts, out: &mut Out) {
    let wasm = read(&o.root, "testdata/add.wasm");
    let budget = Duration::from_millis(if o.smoke { 10 } else { 300 });
    let rounds = if o.smoke { 1 } else { 5 };
    let engine = raw_engine(false);
    let pre = raw_pre(&engine, &wasm);
    let mut store = Store::new(&engine, ());
    let instance = pre.instantiate(&mut store).unwrap();
    let add = instance
        .get_typed_func::<(i32, i32), i32>(&mut store, "add")
        .unwrap();
    let host = sbx_host(false);
    let module = host.load("add", &wasm, Timeout::HostDefault, None).unwrap();
    let mut res = [0u64; 1];
    let (mut raw, mut sbx) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        raw.push(per_call_ns(budget, || {
            store.set_epoch_deadline(ARMED_TICKS);
            let r = add.call(&mut store, (black_box(2), 3)).unwrap();
            debug_assert_eq!(r, 5);
        }));
        sbx.push(per_call_ns(budget, || {
            let n = module
                .call(
                    b"add",
                    &[black_box(2), 3],
                    &mut res,
                    Timeout::HostDefault,
                    None,
                )
                .unwrap();
            debug_assert_eq!((n, res[0]), (1, 5));
        }));
    }
    assert!(module.stats().calls > 0);
    let note = "median of rounds; sbx: Module::call with the host's exec timeout (10 s), stats on; raw: TypedFunc::call, epoch deadline re-armed";
    out.push(
        "raw",
        "tenant.core.call.add",
        median(raw),
        "ns",
        &[("note", jstr(note))],
    );
    out.push(
        "sbx",
        "tenant.core.call.add",
        median(sbx),
        "ns",
        &[("note", jstr(note))],
    );
}

/// One group of measurements, writing its lines to `Out`.
type Case = fn(&Opts, &mut Out);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut o = Opts {
        smoke: std::env::var("BENCH_SMOKE").is_ok_and(|v| v == "1"),
        root: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        out: None,
    };
    // Without --bench (a plain run of the binary), only check quickly that
    // every case runs.
    if !args.iter().any(|a| a == "--bench" || a == "--out") {
        o.smoke = true;
    }
    let mut only: Option<String> = None;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--smoke" => o.smoke = true,
            "--root" => o.root = it.next().expect("--root DIR").into(),
            "--out" => o.out = Some(it.next().expect("--out FILE").into()),
            "--only" => only = it.next(),
            _ => {} // --bench, which cargo bench passes
        }
    }
    let mut out = Out { lines: Vec::new() };
    // One group for bench/run (`--only tenant`), or one case by its name;
    // any other group (floor.rs's) runs nothing here.
    let cases: [(&str, Case); 3] = [
        ("tenant.inst", case_instantiate),
        ("tenant.reset", case_reset),
        ("tenant.call", case_call),
    ];
    for (name, f) in cases {
        if only.as_deref().is_some_and(|o| o != "tenant" && o != name) {
            continue;
        }
        let t = Instant::now();
        f(&o, &mut out);
        eprintln!("tenant: {name} took {:.1}s", t.elapsed().as_secs_f64());
    }
    let text: String = out.lines.iter().map(|l| format!("{l}\n")).collect();
    match &o.out {
        Some(p) => std::fs::write(p, text).expect("write --out"),
        None => std::io::stdout().write_all(text.as_bytes()).unwrap(),
    }
}
