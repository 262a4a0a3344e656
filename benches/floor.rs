//! The raw-Wasmtime floor for `make bench`: the same cases as the Go side
//! (bench/), driven straight through Wasmtime 48 with the engine settings
//! sbx uses (epoch interruption on, Cranelift at its default opt level, a
//! 512 KiB wasm stack). Nothing of sbx is used, so this is the cost of the
//! engine alone.
//!
//! Prints one JSON object per line, the format bench/cmd/table reads:
//!   {"runtime":"raw","case":"call.add","value":16.2,"unit":"ns",...}
//!
//! Usage (bench/run does this):
//!   cargo bench --bench floor -- [--smoke] [--root DIR] [--out FILE]
//! and, internally, `floor --child diskload FILE` / `floor --child rss FILE`
//! for the cases that need a fresh process.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, InstancePre, Linker, Module,
    PoolingAllocationConfig, Store, TypedFunc, Val,
};

const RUNTIME: &str = "raw";
/// A deadline far enough away that it never fires: "timeouts armed".
const ARMED_TICKS: u64 = 10_000;
/// The ticker period used by the armed deadlines and the overshoot case.
const TICK: Duration = Duration::from_millis(1);

struct Opts {
    smoke: bool,
    /// Run by `cargo test`: a wrong checksum fails instead of printing n/a.
    test: bool,
    root: PathBuf,
    out: Option<PathBuf>,
}

struct Out {
    lines: Vec<String>,
}

/// One result line. `fields` are extra "key":value pairs, already JSON.
fn line(case: &str, value: f64, unit: &str, fields: &[(&str, String)]) -> String {
    let mut s = format!(
        "{{\"runtime\":\"{RUNTIME}\",\"case\":\"{case}\",\"value\":{},\"unit\":\"{unit}\"",
        num(value)
    );
    for (k, v) in fields {
        let _ = write!(s, ",\"{k}\":{v}");
    }
    s.push('}');
    s
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

impl Out {
    fn push(&mut self, l: String) {
        eprintln!("{l}");
        self.lines.push(l);
    }
    fn na(&mut self, case: &str, why: &str) {
        self.push(line(case, f64::NAN, "", &[("na", jstr(why))]));
    }
}

/// Percentiles of a sample, nearest-rank.
struct Stats {
    min: f64,
    p50: f64,
    p99: f64,
    max: f64,
    n: usize,
}

fn stats(mut xs: Vec<f64>) -> Stats {
    assert!(!xs.is_empty());
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let at = |q: f64| xs[((q * xs.len() as f64).ceil() as usize).clamp(1, xs.len()) - 1];
    Stats {
        min: xs[0],
        p50: at(0.5),
        p99: at(0.99),
        max: *xs.last().unwrap(),
        n: xs.len(),
    }
}

fn stat_fields(s: &Stats, scale: f64) -> Vec<(&'static str, String)> {
    vec![
        ("min", num(s.min / scale)),
        ("p99", num(s.p99 / scale)),
        ("max", num(s.max / scale)),
        ("n", s.n.to_string()),
    ]
}

fn engine(pooling: Option<u32>) -> Engine {
    let mut c = Config::new();
    c.epoch_interruption(true);
    c.max_wasm_stack(512 * 1024);
    if let Some(slots) = pooling {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_core_instances(slots)
            .total_memories(slots)
            .total_tables(slots)
            .max_memories_per_module(1)
            .max_tables_per_module(1)
            .max_memory_size(256 << 20)
            .table_elements(10_000)
            .total_component_instances(0)
            .total_stacks(0);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    Engine::new(&c).expect("engine")
}

/// A thread that bumps the engine's epoch every `TICK` while it lives: the
/// usual way to arm Wasmtime epoch deadlines.
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: &Engine) -> Ticker {
        let stop = Arc::new(AtomicBool::new(false));
        let (e, s) = (engine.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                std::thread::sleep(TICK);
                e.increment_epoch();
            }
        });
        Ticker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read(root: &Path, rel: &str) -> Vec<u8> {
    let p = root.join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// Times `f` in batches until about `budget` has passed; returns ns per call
/// (median over batches) after a warm-up.
fn per_call_ns(budget: Duration, mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..1000 {
        f();
    }
    // Size a batch to ~5 ms.
    let t = Instant::now();
    let mut n = 0u64;
    while t.elapsed() < Duration::from_millis(5) {
        f();
        n += 1;
    }
    let batch = n.max(1);
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed() < budget || samples.len() < 3 {
        let t = Instant::now();
        for _ in 0..batch {
            f();
        }
        samples.push(t.elapsed().as_nanos() as f64 / batch as f64);
    }
    let s = stats(samples);
    (s.p50, s.p99)
}

struct Program {
    name: String,
    file: String,
    export: String,
    arg: i64,
    expected: i64,
}

fn programs(root: &Path) -> Vec<Program> {
    let text = String::from_utf8(read(root, "testdata/programs/programs.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Program {
                name: f[0].into(),
                file: f[1].into(),
                export: f[2].into(),
                arg: f[3].parse().unwrap(),
                expected: f[4].parse().unwrap(),
            }
        })
        .collect()
}

/// Calls a program's entry point (i32 -> i32 or i32 -> i64) through the
/// typed API, and returns the result sign-extended to i64.
enum Entry {
    I32(TypedFunc<i32, i32>),
    I64(TypedFunc<i32, i64>),
}

impl Entry {
    fn get(store: &mut Store<()>, inst: &wasmtime::Instance, name: &str) -> Entry {
        if let Ok(f) = inst.get_typed_func::<i32, i64>(&mut *store, name) {
            return Entry::I64(f);
        }
        Entry::I32(inst.get_typed_func::<i32, i32>(&mut *store, name).unwrap())
    }
    fn call(&self, store: &mut Store<()>, arg: i32) -> i64 {
        store.set_epoch_deadline(ARMED_TICKS);
        match self {
            Entry::I32(f) => f.call(store, arg).unwrap() as i64,
            Entry::I64(f) => f.call(store, arg).unwrap(),
        }
    }
}

fn instantiate(engine: &Engine, module: &Module) -> (Store<()>, wasmtime::Instance) {
    let mut store = Store::new(engine, ());
    store.set_epoch_deadline(ARMED_TICKS);
    let linker = Linker::new(engine);
    let inst = linker.instantiate(&mut store, module).unwrap();
    (store, inst)
}

fn case_calls(o: &Opts, out: &mut Out) {
    let engine = engine(None);
    let budget = Duration::from_millis(if o.smoke { 20 } else { 1000 });
    let add = Module::new(&engine, read(&o.root, "testdata/add.wasm")).unwrap();
    let (mut store, inst) = instantiate(&engine, &add);
    let f = inst
        .get_typed_func::<(i32, i32), i32>(&mut store, "add")
        .unwrap();
    let (p50, p99) = per_call_ns(budget, || {
        // What an armed deadline costs per call: re-arm, then call.
        store.set_epoch_deadline(ARMED_TICKS);
        assert_eq!(f.call(&mut store, (2, 3)).unwrap(), 5);
    });
    let note = jstr("TypedFunc::call, epoch deadline re-armed per call");
    out.push(line(
        "call.add",
        p50,
        "ns",
        &[
            ("p99", num(p99)),
            ("allocs", "0".into()),
            ("note", note.clone()),
        ],
    ));
    out.push(line(
        "call.add.cancelctx",
        p50,
        "ns",
        &[("p99", num(p99)), ("allocs", "0".into()), ("note", note)],
    ));
    let untyped = inst.get_func(&mut store, "add").unwrap();
    let mut res = [Val::I32(0)];
    let (p50, p99) = per_call_ns(budget, || {
        store.set_epoch_deadline(ARMED_TICKS);
        untyped
            .call(&mut store, &[Val::I32(2), Val::I32(3)], &mut res)
            .unwrap();
    });
    out.push(line(
        "call.add.untyped",
        p50,
        "ns",
        &[
            ("p99", num(p99)),
            ("note", jstr("Func::call with Val slices")),
        ],
    ));

    let noop = Module::new(&engine, read(&o.root, "testdata/noop.wasm")).unwrap();
    let (mut store, inst) = instantiate(&engine, &noop);
    let f = inst.get_typed_func::<(), ()>(&mut store, "noop").unwrap();
    let (p50, p99) = per_call_ns(budget, || {
        store.set_epoch_deadline(ARMED_TICKS);
        f.call(&mut store, ()).unwrap();
    });
    out.push(line("call.noop", p50, "ns", &[("p99", num(p99))]));
}

fn case_programs(o: &Opts, out: &mut Out) {
    let engine = engine(None);
    let _ticker = Ticker::start(&engine);
    let reps = if o.smoke { 2 } else { 15 };
    for p in programs(&o.root) {
        let module = Module::new(&engine, read(&o.root, &p.file)).unwrap();
        let (mut store, inst) = instantiate(&engine, &module);
        let entry = Entry::get(&mut store, &inst, &p.export);
        let got = entry.call(&mut store, p.arg as i32);
        assert!(
            !o.test || got == p.expected,
            "{}: checksum {got}, want {}",
            p.name,
            p.expected
        );
        if got != p.expected {
            out.na(
                &format!("prog.{}", p.name),
                &format!("wrong checksum {got}, want {}", p.expected),
            );
            continue;
        }
        let mut xs = Vec::new();
        for _ in 0..reps {
            let t = Instant::now();
            let r = entry.call(&mut store, p.arg as i32);
            xs.push(t.elapsed().as_nanos() as f64);
            assert_eq!(r, p.expected);
        }
        let s = stats(xs);
        let mut fields = stat_fields(&s, 1e6);
        fields.push(("checksum", jstr(&got.to_string())));
        out.push(line(
            &format!("prog.{}", p.name),
            s.p50 / 1e6,
            "ms",
            &fields,
        ));
    }
}

fn case_memory(o: &Opts, out: &mut Out) {
    let engine = engine(None);
    let _ticker = Ticker::start(&engine);
    let module = Module::new(&engine, read(&o.root, "testdata/programs/memops.wasm")).unwrap();
    let (mut store, inst) = instantiate(&engine, &module);
    let memory = inst.get_memory(&mut store, "memory").unwrap();
    let buf = inst.get_typed_func::<(), i32>(&mut store, "buf").unwrap();
    let base = buf.call(&mut store, ()).unwrap() as usize;
    let data: Vec<u8> = (0..1 << 20)
        .map(|i: u32| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let mut back = vec![0u8; 1 << 20];
    let reps = if o.smoke { 3 } else { 200 };
    let mut xs = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        memory.write(&mut store, base, &data).unwrap();
        memory.read(&store, base, &mut back).unwrap();
        xs.push(t.elapsed().as_nanos() as f64);
    }
    assert_eq!(back, data);
    let s = stats(xs);
    out.push(line("mem.hostio", s.p50 / 1e3, "us", &stat_fields(&s, 1e3)));
    let run = inst.get_typed_func::<i32, i64>(&mut store, "run").unwrap();
    let n = 64;
    store.set_epoch_deadline(ARMED_TICKS);
    let want = run.call(&mut store, n).unwrap();
    let mut xs = Vec::new();
    for _ in 0..if o.smoke { 2 } else { 15 } {
        store.set_epoch_deadline(ARMED_TICKS);
        let t = Instant::now();
        let got = run.call(&mut store, n).unwrap();
        xs.push(t.elapsed().as_nanos() as f64);
        assert_eq!(got, want);
    }
    let s = stats(xs);
    let mut f = stat_fields(&s, 1e6);
    f.push(("checksum", jstr(&want.to_string())));
    out.push(line("mem.guestcopy", s.p50 / 1e6, "ms", &f));
}

fn large_path(o: &Opts) -> PathBuf {
    o.root.join("testdata/programs/large.wasm")
}

fn case_loading(o: &Opts, out: &mut Out) {
    let engine = engine(None);
    let bytes = std::fs::read(large_path(o)).unwrap();
    let reps = if o.smoke { 1 } else { 5 };
    let mut xs = Vec::new();
    let mut module = None;
    for _ in 0..reps {
        let t = Instant::now();
        module = Some(Module::new(&engine, &bytes).unwrap());
        xs.push(t.elapsed().as_nanos() as f64);
    }
    let s = stats(xs);
    let mut f = stat_fields(&s, 1e6);
    f.push((
        "note",
        jstr(&format!("Module::new, {} KB", bytes.len() / 1000)),
    ));
    out.push(line("load.cold", s.p50 / 1e6, "ms", &f));

    // Raw Wasmtime has no cache of its own; the floor of a cache hit is
    // Module::deserialize of bytes already in memory.
    let serialized = module.unwrap().serialize().unwrap();
    let mut xs = Vec::new();
    for _ in 0..if o.smoke { 2 } else { 20 } {
        let t = Instant::now();
        // SAFETY: the bytes were produced by serialize() on this engine.
        let m = unsafe { Module::deserialize(&engine, &serialized) }.unwrap();
        xs.push(t.elapsed().as_nanos() as f64);
        drop(m);
    }
    let s = stats(xs);
    let mut f = stat_fields(&s, 1e6);
    f.push(("note", jstr("Module::deserialize from memory")));
    out.push(line("load.memcache", s.p50 / 1e6, "ms", &f));

    let dir = std::env::temp_dir().join(format!("sbx-floor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("large.cwasm");
    std::fs::write(&file, &serialized).unwrap();
    let mut xs = Vec::new();
    for _ in 0..if o.smoke { 1 } else { 5 } {
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--child", "diskload"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(child.status.success(), "{child:?}");
        let ns: f64 = String::from_utf8_lossy(&child.stdout)
            .trim()
            .parse()
            .unwrap();
        xs.push(ns);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let s = stats(xs);
    let mut f = stat_fields(&s, 1e6);
    f.push(("note", jstr("Module::deserialize_file in a new process")));
    out.push(line("load.diskcache", s.p50 / 1e6, "ms", &f));
}

fn child_diskload(file: &Path) {
    let engine = engine(None);
    let t = Instant::now();
    // SAFETY: written by the parent from serialize() with the same settings.
    let m = unsafe { Module::deserialize_file(&engine, file) }.unwrap();
    let ns = t.elapsed().as_nanos();
    drop(m);
    println!("{ns}");
}

fn case_instantiate(o: &Opts, out: &mut Out) {
    for (case, pooling) in [("inst.pooling", Some(100)), ("inst.ondemand", None)] {
        for (file, tag) in [
            ("testdata/add.wasm", "add"),
            ("testdata/programs/lz77.wasm", "lz77"),
        ] {
            let engine = engine(pooling);
            let module = Module::new(&engine, read(&o.root, file)).unwrap();
            let linker = Linker::<()>::new(&engine);
            let pre: InstancePre<()> = linker.instantiate_pre(&module).unwrap();
            let reps = if o.smoke { 5 } else { 2000 };
            let mut xs = Vec::with_capacity(reps);
            for _ in 0..reps {
                let t = Instant::now();
                let mut store = Store::new(&engine, ());
                store.set_epoch_deadline(ARMED_TICKS);
                let inst = pre.instantiate(&mut store).unwrap();
                xs.push(t.elapsed().as_nanos() as f64);
                let _ = inst;
                drop(store);
            }
            let s = stats(xs);
            let mut f = stat_fields(&s, 1e3);
            f.push(("note", jstr("Store::new + InstancePre::instantiate")));
            out.push(line(&format!("{case}.{tag}"), s.p50 / 1e3, "us", &f));
        }
    }
}

fn case_timeouts(o: &Opts, out: &mut Out) {
    let engine = engine(None);
    let module = Module::new(&engine, read(&o.root, "testdata/infinite_loop.wasm")).unwrap();
    let (mut store, inst) = instantiate(&engine, &module);
    store.epoch_deadline_trap();
    let f = inst.get_typed_func::<(), ()>(&mut store, "loop").unwrap();
    let runs = if o.smoke { 3 } else { 100 };
    {
        // The usual precise setup: a 1 ms ticker, and a callback that reads
        // the clock on every tick (counting ticks alone drifts, since each
        // sleep oversleeps).
        let _ticker = Ticker::start(&engine);
        let mut xs = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            let deadline = t + Duration::from_millis(50);
            store.epoch_deadline_callback(move |_| {
                if Instant::now() >= deadline {
                    Err(wasmtime::Error::msg("deadline"))
                } else {
                    Ok(wasmtime::UpdateDeadline::Continue(1))
                }
            });
            store.set_epoch_deadline(1);
            assert!(f.call(&mut store, ()).is_err());
            let over = t.elapsed().as_nanos() as f64 - 50e6;
            xs.push(over);
        }
        let s = stats(xs);
        let mut fs = stat_fields(&s, 1e3);
        fs.push((
            "note",
            jstr("1 ms epoch ticker; a callback compares the clock with the deadline"),
        ));
        out.push(line("timeout.overshoot", s.p50 / 1e3, "us", &fs));
    }
    store.epoch_deadline_trap();
    // Cancel: a thread bumps the epoch once; the guest has a 1-tick deadline.
    let mut xs = Vec::new();
    for _ in 0..runs {
        store.set_epoch_deadline(1);
        let e = engine.clone();
        let barrier = Arc::new(Barrier::new(2));
        let b = barrier.clone();
        let bumper = std::thread::spawn(move || {
            b.wait();
            std::thread::sleep(Duration::from_millis(5));
            let t = Instant::now();
            e.increment_epoch();
            t
        });
        barrier.wait();
        assert!(f.call(&mut store, ()).is_err());
        let returned = Instant::now();
        let bumped = bumper.join().unwrap();
        xs.push(returned.duration_since(bumped).as_nanos() as f64);
    }
    let s = stats(xs);
    let mut fs = stat_fields(&s, 1e3);
    fs.push(("note", jstr("increment_epoch -> call returns")));
    out.push(line("cancel.latency", s.p50 / 1e3, "us", &fs));
}

fn case_hostfn(o: &Opts, out: &mut Out) {
    let engine = engine(None);
    let module = Module::new(&engine, read(&o.root, "bench/testdata/hostcall.wasm")).unwrap();
    let mut linker = Linker::<()>::new(&engine);
    linker
        .func_wrap("env", "inc", |x: i32| x.wrapping_add(1))
        .unwrap();
    let mut store = Store::new(&engine, ());
    store.set_epoch_deadline(ARMED_TICKS);
    let inst = linker.instantiate(&mut store, &module).unwrap();
    let run = inst.get_typed_func::<i32, i32>(&mut store, "run").unwrap();
    let n = if o.smoke { 1000 } else { 1_000_000 };
    let mut xs = Vec::new();
    for _ in 0..if o.smoke { 2 } else { 10 } {
        store.set_epoch_deadline(ARMED_TICKS);
        let t = Instant::now();
        assert_eq!(run.call(&mut store, n).unwrap(), n);
        xs.push(t.elapsed().as_nanos() as f64 / n as f64);
    }
    let s = stats(xs);
    let mut fs = stat_fields(&s, 1.0);
    fs.push(("note", jstr("Linker::func_wrap, per guest->host call")));
    out.push(line("hostfn.roundtrip", s.p50, "ns", &fs));
}

fn case_concurrency(o: &Opts, out: &mut Out) {
    let engine = engine(None);
    let _ticker = Ticker::start(&engine);
    let module = Module::new(&engine, read(&o.root, "testdata/fib.wasm")).unwrap();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let dur = Duration::from_millis(if o.smoke { 100 } else { 1500 });
    for (tag, threads) in [("1", 1), ("2", 2), ("4xP", 4 * cpus)] {
        let barrier = Arc::new(Barrier::new(threads + 1));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (engine, module, barrier) = (engine.clone(), module.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let (mut store, inst) = instantiate(&engine, &module);
                    let f = inst.get_typed_func::<i32, i32>(&mut store, "fib").unwrap();
                    barrier.wait();
                    let start = Instant::now();
                    let mut lat = Vec::new();
                    while start.elapsed() < dur {
                        let t = Instant::now();
                        store.set_epoch_deadline(ARMED_TICKS);
                        assert_eq!(f.call(&mut store, 25).unwrap(), 75025);
                        lat.push(t.elapsed().as_nanos() as f64);
                    }
                    (lat, start.elapsed())
                })
            })
            .collect();
        barrier.wait();
        let mut all = Vec::new();
        let mut calls = 0.0;
        for h in handles {
            let (lat, took) = h.join().unwrap();
            calls += lat.len() as f64 / took.as_secs_f64();
            all.extend(lat);
        }
        let s = stats(all);
        out.push(line(
            &format!("conc.{tag}"),
            calls,
            "calls/s",
            &[
                ("p99", num(s.p99 / 1e6)),
                ("p99_unit", jstr("ms")),
                ("threads", threads.to_string()),
                ("note", jstr("fib(25) per call, one store per thread")),
            ],
        ));
    }
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn child_rss(file: &Path) {
    let engine = engine(None);
    let bytes = std::fs::read(file).unwrap();
    let before = rss_bytes();
    let mut keep = Vec::new();
    for _ in 0..100 {
        // Like sbx's loads: compile once (its cache), one store each.
        let module = keep
            .first()
            .map(|(_, _, m): &(Store<()>, wasmtime::Instance, Module)| m.clone())
            .unwrap_or_else(|| Module::new(&engine, &bytes).unwrap());
        let (mut store, inst) = instantiate(&engine, &module);
        let entry = Entry::get(&mut store, &inst, "run");
        entry.call(&mut store, 1);
        keep.push((store, inst, module));
    }
    let after = rss_bytes();
    println!("{} {}", before, after);
}

fn case_rss(o: &Opts, out: &mut Out) {
    let file = o.root.join("testdata/programs/lz77.wasm");
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--child", "rss"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(child.status.success(), "{child:?}");
    let text = String::from_utf8_lossy(&child.stdout);
    let v: Vec<f64> = text
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    out.push(line(
        "rss.100",
        (v[1] - v[0]) / (1 << 20) as f64,
        "MiB",
        &[
            ("total", num(v[1] / (1 << 20) as f64)),
            ("note", jstr("lz77.wasm x100, each called once; RSS growth")),
        ],
    ));
}

/// One group of measurements, writing its lines to `Out`.
type Case = fn(&Opts, &mut Out);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let file = PathBuf::from(&args[2]);
        match args[1].as_str() {
            "diskload" => child_diskload(&file),
            "rss" => child_rss(&file),
            other => panic!("unknown child {other}"),
        }
        return;
    }
    let mut o = Opts {
        smoke: std::env::var("BENCH_SMOKE").is_ok_and(|v| v == "1"),
        test: false,
        root: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        out: None,
    };
    let mut only: Option<String> = None;
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this
    // binary without it (in the debug profile): then only check, quickly,
    // that every program returns its expected checksum.
    let bench_mode = args.iter().any(|a| a == "--bench" || a == "--out");
    if !bench_mode {
        o.smoke = true;
        o.test = true;
        only = Some("programs".into());
    }
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--smoke" => o.smoke = true,
            "--root" => o.root = it.next().expect("--root DIR").into(),
            "--out" => o.out = Some(it.next().expect("--out FILE").into()),
            "--only" => only = it.next(),
            "--test" => {}
            "--bench" => {} // cargo bench passes this to harness = false benches
            _ => {}
        }
    }
    let mut out = Out { lines: Vec::new() };
    let cases: [(&str, Case); 9] = [
        ("calls", case_calls),
        ("programs", case_programs),
        ("memory", case_memory),
        ("loading", case_loading),
        ("instantiate", case_instantiate),
        ("timeouts", case_timeouts),
        ("hostfn", case_hostfn),
        ("concurrency", case_concurrency),
        ("rss", case_rss),
    ];
    for (name, f) in cases {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let t = Instant::now();
        f(&o, &mut out);
        eprintln!("floor: {name} took {:.1}s", t.elapsed().as_secs_f64());
    }
    let text: String = out.lines.iter().map(|l| format!("{l}\n")).collect();
    match &o.out {
        Some(p) => std::fs::write(p, text).expect("write --out"),
        None => std::io::stdout().write_all(text.as_bytes()).unwrap(),
    }
}
