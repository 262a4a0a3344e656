//! Chaos: threads do random operations through the C ABI on shared hosts,
//! modules and cancel tokens: loads, calls, interrupts, module closes, host
//! closes, cancel triggers and resets, and host function definitions, all
//! racing. Guests loop, sleep in WASI, trap, grow memory and call a host
//! function. Checks: every status is one the function documents (and the
//! one the guest's behaviour allows), no call or load outlives its deadline
//! by more than the overshoot budget, and at the end every host's module
//! count and the deadline timer's queue are back to zero.
//!
//! `STRESS_SECONDS` (default 5), `STRESS_THREADS` (default 6),
//! `STRESS_OVERSHOOT_MS` (default 2000: this machine's CPUs are shared and
//! a woken thread can wait that long for one), `STRESS_SEED`. `make stress` runs it
//! for 60 s in release; `make stress-asan` and `make stress-tsan` under the
//! sanitizers.

mod cabi;

use sbx::{Status, TrapCode};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::thread;
use std::time::{Duration, Instant};

const GUEST: &str = r#"
(module
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "env" "add_one" (func $add_one (param i64) (result i64)))
  (memory (export "memory") 1 32)
  (func (export "add") (param i32 i32) (result i32)
    (i32.add (local.get 0) (local.get 1)))
  (func (export "spin")
    (loop $l (br $l)))
  (func (export "trap")
    unreachable)
  (func (export "grow") (param i32) (result i32)
    (memory.grow (local.get 0)))
  (func (export "host") (param i64) (result i64)
    (call $add_one (local.get 0)))
  ;; One relative monotonic clock subscription of `ns`, as nanosleep does.
  (func (export "sleep") (param $ns i64) (result i32)
    (i64.store (i32.const 0) (i64.const 7))
    (i32.store8 (i32.const 8) (i32.const 0))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (local.get $ns))
    (i64.store (i32.const 32) (i64.const 0))
    (i32.store16 (i32.const 40) (i32.const 0))
    (call $poll_oneoff (i32.const 0) (i32.const 256) (i32.const 1) (i32.const 512))))
"#;

/// A start function that spins: loads of it end by their deadline.
const SLOW_START: &str = r#"
(module
  (func $start (loop $l (br $l)))
  (start $start))
"#;

const HOSTS: usize = 3;
const MODULE_SLOTS: usize = 24;
const TOKENS: usize = 2;
/// Modules per host: low enough that loads hit the cap.
const MAX_MODULES: u32 = 10;
/// The longest deadline any call gets; a call may also wait for the module
/// lock behind one running call, itself bounded by this.
const MAX_CALL_NS: u64 = 100_000_000;
/// The longest load deadline: room for a debug build's compile.
const LONG_LOAD_NS: u64 = 3_000_000_000;

extern "C" fn add_one(
    _: *mut std::ffi::c_void,
    caller: *mut sbx::capi::sbx_caller,
    stack: *mut u64,
    len: usize,
) -> i32 {
    // SAFETY: sbx passes the stack of a (i64) -> i64 function.
    let stack = unsafe { cabi::stack(stack, len) };
    assert_eq!(cabi::caller_memory_size(caller).map(|s| s % 65536), Ok(0));
    stack[0] = stack[0].wrapping_add(1);
    0
}

extern "C" fn noop(
    _: *mut std::ffi::c_void,
    _: *mut sbx::capi::sbx_caller,
    _: *mut u64,
    _: usize,
) -> i32 {
    0
}

struct HostSlot {
    host: cabi::Host,
    generation: u64,
    tokens: Vec<Arc<RwLock<cabi::Cancel>>>,
}

struct Entry {
    module: Arc<cabi::Module>,
    host: usize,
    generation: u64,
}

struct World {
    hosts: Vec<RwLock<HostSlot>>,
    modules: Vec<Mutex<Option<Entry>>>,
    guest: Vec<u8>,
    slow_start: Vec<u8>,
    generations: AtomicU64,
    budget: Duration,
    started: Instant,
    stop_at: Instant,
    stats: Stats,
}

#[derive(Default)]
struct Stats {
    ops: AtomicU64,
    loads_ok: AtomicU64,
    calls_ok: AtomicU64,
    timeouts: AtomicU64,
    interrupted: AtomicU64,
    closed: AtomicU64,
    traps: AtomicU64,
    instance_limit: AtomicU64,
    host_closes: AtomicU64,
    /// Largest lateness past a call's own deadline, in microseconds.
    worst_late_us: AtomicU64,
    /// Calls and loads more than 50 ms late.
    late_50ms: AtomicU64,
    /// Calls and loads past their bound (reported at the end, so that one
    /// stall does not hide the rest of the run), with the first few.
    over_budget: AtomicU64,
    first_over: Mutex<Vec<String>>,
}

/// The on-disk cache every host shares, so that a host made to replace a
/// closed one finds its modules compiled.
static CACHE_DIR: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let dir = std::env::temp_dir().join(format!("sbx-stress-cache-{}", std::process::id()));
    dir.to_str().unwrap().to_owned()
});

/// Removes the cache directory however the test ends.
struct RemoveCacheDir;

impl Drop for RemoveCacheDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&*CACHE_DIR);
    }
}

fn new_host(index: usize, generation: u64) -> HostSlot {
    let wasi = cabi::Wasi::new();
    // Pooling on one host, on-demand on the others.
    let config = cabi::Config::new()
        .max_modules(MAX_MODULES)
        .pooling(index == 0)
        .memory_limit(4 << 20)
        .cache_dir(&CACHE_DIR)
        .wasi(&wasi);
    let host = cabi::Host::new(&config).expect("host");
    host.define_func("env", "add_one", &[1], &[1], add_one)
        .expect("define add_one");
    let tokens = (0..TOKENS)
        .map(|_| Arc::new(RwLock::new(host.cancel().expect("cancel"))))
        .collect();
    HostSlot {
        host,
        generation,
        tokens,
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

impl World {
    fn count(&self, status: Status) {
        let counter = match status {
            Status::Timeout => &self.stats.timeouts,
            Status::Interrupted => &self.stats.interrupted,
            Status::HandleClosed => &self.stats.closed,
            Status::Trap => &self.stats.traps,
            Status::InstanceLimit => &self.stats.instance_limit,
            _ => return,
        };
        counter.fetch_add(1, Relaxed);
    }

    /// A token of host `h`, whose slot the caller holds as `held` (or,
    /// rarely, of another host, which every function must refuse with
    /// INVALID_ARGUMENT). The slot is passed in rather than locked again:
    /// a second read lock of a `RwLock` deadlocks behind a waiting writer.
    fn token(
        &self,
        rng: &mut Rng,
        h: usize,
        held: &HostSlot,
    ) -> Option<(Arc<RwLock<cabi::Cancel>>, bool)> {
        if rng.below(3) != 0 {
            return None;
        }
        let t = rng.below(TOKENS as u64) as usize;
        let from = rng.below(HOSTS as u64) as usize;
        if rng.below(20) != 0 || from == h {
            return Some((held.tokens[t].clone(), true));
        }
        let other = self.hosts[from].read().unwrap();
        Some((other.tokens[t].clone(), false))
    }

    fn load(&self, rng: &mut Rng) {
        let h = rng.below(HOSTS as u64) as usize;
        let slow = rng.below(10) == 0;
        let wasm = if slow { &self.slow_start } else { &self.guest };
        // Long enough, at the top, for a debug build's compile to finish.
        let timeout_ns = if slow {
            rng.pick(&[1_000, 1_000_000, 20_000_000, MAX_CALL_NS])
        } else {
            rng.pick(&[1_000, 1_000_000, 20_000_000, MAX_CALL_NS, LONG_LOAD_NS])
        };
        let slot = self.hosts[h].read().unwrap();
        let token = self.token(rng, h, &slot);
        let guard = token.as_ref().map(|(t, _)| t.read().unwrap());
        let began = Instant::now();
        let loaded = if rng.below(2) == 0 {
            slot.host.load("stress", wasm, timeout_ns, guard.as_deref())
        } else {
            slot.host
                .load_with("stress", wasm, timeout_ns, guard.as_deref())
        };
        let took = began.elapsed();
        drop(guard);
        self.check_late(
            &format!(
                "load (slow start {slow}, host {h}, {:?})",
                loaded.as_ref().map(|_| ()).map_err(|e| &e.message)
            ),
            took,
            timeout_ns,
        );
        let foreign = token.as_ref().is_some_and(|(_, same)| !same);
        match loaded {
            Ok(module) => {
                assert!(!slow, "a spinning start function returned");
                assert!(!foreign, "a foreign token was accepted");
                self.stats.loads_ok.fetch_add(1, Relaxed);
                let entry = Entry {
                    module: Arc::new(module),
                    host: h,
                    generation: slot.generation,
                };
                drop(slot);
                let i = rng.below(MODULE_SLOTS as u64) as usize;
                let old = self.modules[i].lock().unwrap().replace(entry);
                if let Some(old) = old {
                    assert_eq!(old.module.close(), Status::Ok);
                }
            }
            Err(e) => {
                // A spinning start function ends by its deadline or a cancel;
                // a compile too, and either may find the host full.
                let allowed: &[Status] = if foreign {
                    &[Status::InvalidArgument]
                } else {
                    &[Status::Timeout, Status::Interrupted, Status::InstanceLimit]
                };
                assert!(allowed.contains(&e.status), "load: {e:?}");
                self.count(e.status);
            }
        }
    }

    /// Flags any call or load that ends later than its deadline allows.
    fn check_late(&self, what: &str, took: Duration, timeout_ns: u64) {
        let late = took.saturating_sub(Duration::from_nanos(timeout_ns));
        self.stats
            .worst_late_us
            .fetch_max(late.as_micros() as u64, Relaxed);
        if late > Duration::from_millis(50) {
            self.stats.late_50ms.fetch_add(1, Relaxed);
        }
        // A call may first wait for the module behind one other call.
        let allowed = Duration::from_nanos(timeout_ns.max(MAX_CALL_NS) + MAX_CALL_NS) + self.budget;
        if took > allowed {
            self.stats.over_budget.fetch_add(1, Relaxed);
            let mut first = self.stats.first_over.lock().unwrap();
            if first.len() < 10 {
                first.push(format!(
                    "{what} with a {timeout_ns} ns deadline took {took:?} (allowed {allowed:?}) \
                     at {:?}",
                    self.started.elapsed()
                ));
            }
        }
    }

    fn entry(&self, rng: &mut Rng) -> Option<(Arc<cabi::Module>, usize, u64)> {
        let i = rng.below(MODULE_SLOTS as u64) as usize;
        let slot = self.modules[i].lock().unwrap();
        slot.as_ref()
            .map(|e| (e.module.clone(), e.host, e.generation))
    }

    fn call(&self, rng: &mut Rng) {
        let Some((module, h, generation)) = self.entry(rng) else {
            return;
        };
        // The token must come from the module's own host generation.
        let token = {
            let slot = self.hosts[h].read().unwrap();
            let current = slot.generation == generation;
            self.token(rng, h, &slot)
                .map(|(t, same)| (t, same && current))
        };
        let foreign = token.as_ref().is_some_and(|(_, same)| !same);
        let export = rng.pick(&["add", "spin", "trap", "grow", "host", "sleep"]);
        let a = rng.next();
        let b = rng.next();
        let (params, cap): (Vec<u64>, usize) = match export {
            "add" => (vec![a, b], 1),
            "spin" | "trap" => (vec![], 0),
            "grow" => (vec![rng.pick(&[0, 1, 2, 40])], 1),
            "host" => (vec![a], 1),
            _ => (vec![rng.below(2 * MAX_CALL_NS)], 1),
        };
        let timeout_ns = rng.pick(&[1_000, 1_000_000, 10_000_000, MAX_CALL_NS]);
        let guard = token.as_ref().map(|(t, _)| t.read().unwrap());
        let began = Instant::now();
        let got = module.call(export, &params, cap, timeout_ns, guard.as_deref());
        let took = began.elapsed();
        drop(guard);
        self.check_late(export, took, timeout_ns);
        match got {
            Ok(results) => {
                assert!(!foreign, "a foreign token was accepted");
                match export {
                    "add" => assert_eq!(results, [(a as u32).wrapping_add(b as u32) as u64]),
                    "grow" => assert!(results[0] <= 32 || results[0] == u32::MAX as u64),
                    "host" => assert_eq!(results, [a.wrapping_add(1)]),
                    "sleep" => assert_eq!(results, [0], "poll_oneoff errno"),
                    other => panic!("{other} returned"),
                }
                self.stats.calls_ok.fetch_add(1, Relaxed);
            }
            Err(e) => {
                if foreign {
                    assert_eq!(e.status, Status::InvalidArgument, "{e:?}");
                    return;
                }
                let stopped = [Status::Timeout, Status::Interrupted, Status::HandleClosed];
                let ok = stopped.contains(&e.status)
                    || (export == "trap"
                        && e.status == Status::Trap
                        && e.trap == TrapCode::Unreachable);
                assert!(ok, "{export}: {e:?}");
                self.count(e.status);
            }
        }
    }

    fn step(&self, rng: &mut Rng) {
        self.stats.ops.fetch_add(1, Relaxed);
        match rng.below(100) {
            0..=24 => self.load(rng),
            25..=79 => self.call(rng),
            80..=86 => {
                if let Some((m, ..)) = self.entry(rng) {
                    let s = m.interrupt();
                    assert!(
                        matches!(s, Status::Ok | Status::HandleClosed),
                        "interrupt: {s:?}"
                    );
                }
            }
            87..=91 => {
                let i = rng.below(MODULE_SLOTS as u64) as usize;
                let taken = if rng.below(2) == 0 {
                    self.modules[i].lock().unwrap().take()
                } else {
                    None
                };
                let module = taken
                    .map(|e| e.module)
                    .or_else(|| self.entry(rng).map(|e| e.0));
                if let Some(m) = module {
                    assert_eq!(m.close(), Status::Ok);
                }
            }
            92..=95 => {
                let h = rng.below(HOSTS as u64) as usize;
                let token =
                    self.hosts[h].read().unwrap().tokens[rng.below(TOKENS as u64) as usize].clone();
                if rng.below(2) == 0 {
                    assert_eq!(token.read().unwrap().trigger(), Status::Ok);
                } else {
                    assert_eq!(token.write().unwrap().reset(), Status::Ok);
                }
            }
            96..=97 => {
                let h = rng.below(HOSTS as u64) as usize;
                let name = format!("f{}", rng.next());
                let slot = self.hosts[h].read().unwrap();
                slot.host
                    .define_func("extra", &name, &[0], &[], noop)
                    .expect("define");
            }
            _ => {
                if rng.below(50) != 0 {
                    return;
                }
                // Close a host while its modules are called from other threads.
                let h = rng.below(HOSTS as u64) as usize;
                let generation = self.generations.fetch_add(1, Relaxed) + 1;
                let mut slot = self.hosts[h].write().unwrap();
                let old = std::mem::replace(&mut *slot, new_host(h, generation));
                drop(slot);
                old.host.close();
                self.stats.host_closes.fetch_add(1, Relaxed);
            }
        }
    }
}

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
fn chaos() {
    let seconds = env_u64("STRESS_SECONDS", 5);
    let threads = env_u64("STRESS_THREADS", 6);
    let seed = env_u64("STRESS_SEED", 0x5b5);
    let _cleanup = RemoveCacheDir;
    let guest = wat::parse_str(GUEST).unwrap();
    let slow_start = wat::parse_str(SLOW_START).unwrap();
    // Compile both modules once into the shared disk cache: a debug build's
    // compile outlives most deadlines here, and every host closed and made
    // anew would otherwise start cold.
    {
        let warm = new_host(1, 0);
        warm.host
            .load("warm", &guest, u64::MAX, None)
            .expect("guest");
        let spun = warm.host.load("warm", &slow_start, 1_500_000_000, None);
        assert_eq!(spun.err().map(|e| e.status), Some(Status::Timeout));
    }
    let world = Arc::new(World {
        hosts: (0..HOSTS).map(|i| RwLock::new(new_host(i, 0))).collect(),
        modules: (0..MODULE_SLOTS).map(|_| Mutex::new(None)).collect(),
        guest,
        slow_start,
        generations: AtomicU64::new(0),
        budget: Duration::from_millis(env_u64("STRESS_OVERSHOOT_MS", 2000)),
        started: Instant::now(),
        stop_at: Instant::now() + Duration::from_secs(seconds),
        stats: Stats::default(),
    });
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let world = world.clone();
            thread::Builder::new()
                .stack_size(4 << 20)
                .spawn(move || {
                    let mut rng = Rng(seed.wrapping_mul(1000).wrapping_add(t));
                    while Instant::now() < world.stop_at {
                        world.step(&mut rng);
                    }
                })
                .unwrap()
        })
        .collect();
    for w in workers {
        w.join().expect("a worker failed");
    }

    // Every module closed: each host is back to zero modules, so a full
    // set of slots loads again, and then nothing is left.
    for slot in &world.modules {
        if let Some(e) = slot.lock().unwrap().take() {
            assert_eq!(e.module.close(), Status::Ok);
        }
    }
    for slot in &world.hosts {
        let slot = slot.read().unwrap();
        assert_eq!(slot.host.live_modules(), 0);
        // Compiles abandoned by timed-out loads end on their own.
        let until = Instant::now() + Duration::from_secs(60);
        while slot.host.abandoned_compiles() != 0 && Instant::now() < until {
            thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(slot.host.abandoned_compiles(), 0);
        let full: Vec<_> = (0..MAX_MODULES)
            .map(|_| {
                slot.host
                    .load("refill", &world.guest, 0, None)
                    .expect("a freed slot")
            })
            .collect();
        assert_eq!(slot.host.live_modules(), MAX_MODULES as usize);
        for m in &full {
            assert_eq!(m.close(), Status::Ok);
        }
        assert_eq!(slot.host.live_modules(), 0);
    }
    let s = &world.stats;
    eprintln!(
        "chaos: {seconds} s, {threads} threads: {} ops, {} loads ok, {} calls ok, {} timeouts, \
         {} interrupted, {} handle closed, {} traps, {} instance limit, {} host closes, \
         worst lateness past a deadline {} us, {} more than 50 ms late, {} over the bound",
        s.ops.load(Relaxed),
        s.loads_ok.load(Relaxed),
        s.calls_ok.load(Relaxed),
        s.timeouts.load(Relaxed),
        s.interrupted.load(Relaxed),
        s.closed.load(Relaxed),
        s.traps.load(Relaxed),
        s.instance_limit.load(Relaxed),
        s.host_closes.load(Relaxed),
        s.worst_late_us.load(Relaxed),
        s.late_50ms.load(Relaxed),
        s.over_budget.load(Relaxed),
    );
    let over = s.first_over.lock().unwrap().clone();
    assert!(over.is_empty(), "late past the budget: {over:#?}");
    drop(world);
    // The timer drops an entry when it comes due, even if its call ended
    // long before: wait out the longest deadline given.
    let until = Instant::now() + Duration::from_nanos(LONG_LOAD_NS) + Duration::from_secs(5);
    while sbx::queued_deadlines() != 0 && Instant::now() < until {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(sbx::queued_deadlines(), 0, "deadlines left queued");
}
