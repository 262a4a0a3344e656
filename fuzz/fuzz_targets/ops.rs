//! Arbitrary sequences of C API operations on a few hosts, modules and
//! cancel tokens: loads, calls, interrupts, cancels, closes, frees, host
//! functions that misuse sbx from inside their callback, memory access and
//! the error accessors, with NULLs and closed-but-valid handles (a freed
//! handle is never used, as the header requires).
//!
//! Oracles beyond the shared ones: a closed module answers HANDLE_CLOSED
//! and an open one never does; a triggered token stops a call with
//! INTERRUPTED; a host function's misuse gets the status its comment
//! promises; after a failure an open module still answers its known-good call.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sbx_fuzz::*;
use std::cell::RefCell;
use std::ffi::c_void;
use std::ptr::{null, null_mut};
use std::sync::LazyLock;

/// Fixtures this target loads: the shared ones with probes, plus the guest
/// that calls a host function.
const OPS_FIXTURES: &[&str] = &[
    "add",
    "all_types",
    "counter",
    "infinite_loop",
    "memory_bomb",
];
const HOSTFUNC: usize = OPS_FIXTURES.len();

static WASM: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let mut w: Vec<Vec<u8>> = OPS_FIXTURES.iter().map(|n| fixture(n)).collect();
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/hostfunc.wat");
    w.push(wat::parse_file(src).expect("hostfunc.wat"));
    w
});

/// One disk cache for every host of the process: fresh hosts each input,
/// without recompiling the fixtures each time.
static CACHE: LazyLock<TempDir> = LazyLock::new(|| TempDir::new("ops-cache"));

fn probe_of(fixture: usize) -> Option<&'static Probe> {
    let name = OPS_FIXTURES.get(fixture)?;
    FIXTURES
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, p)| p.as_ref())
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum ModName {
    Plain,
    Empty,
    Blank,
    WithNul,
    NotUtf8,
}

impl ModName {
    fn bytes(self) -> (&'static [u8], bool) {
        match self {
            ModName::Plain => (b"m", true),
            ModName::Empty => (b"", false),
            ModName::Blank => (b" \t", false),
            ModName::WithNul => (b"a\0b", true),
            ModName::NotUtf8 => (b"\xff\xfe", false),
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Deadline {
    Default,
    Never,
    Nanos(u16),
}

#[derive(Arbitrary, Debug)]
enum Op {
    NewHost {
        fuel: bool,
        max_modules: u8,
        pooling: bool,
        hf: bool,
    },
    CloseHost(u8),
    Load {
        host: u8,
        fixture: u8,
        name: ModName,
        deadline: Deadline,
        cancel: Option<u8>,
        user_data: Option<u64>,
    },
    Call {
        module: u8,
        export: u8,
        raw: Option<Vec<u8>>,
        params: Vec<u64>,
        cap: u8,
        deadline: Deadline,
        cancel: Option<u8>,
    },
    CallHf {
        module: u8,
        behavior: u8,
        arg: u32,
        cancel: Option<u8>,
    },
    Interrupt(u8),
    Close(u8),
    Free(u8),
    CancelNew(u8),
    CancelTrigger(u8),
    CancelReset(u8),
    CancelFree(u8),
    Define {
        host: u8,
        module: Vec<u8>,
        name: Vec<u8>,
        params: Vec<u8>,
        results: Vec<u8>,
        null_callback: bool,
    },
    MemRead {
        module: u8,
        offset: u64,
        len: u16,
    },
    MemWrite {
        module: u8,
        offset: u64,
        data: Vec<u8>,
    },
    MemSize(u8),
    Fuel(u8),
    Describe(u8),
    Nulls(u8),
    Names(u32, u8),
}

struct HostSlot {
    ptr: *mut sbx_host,
    id: u32,
    fuel: bool,
}

struct ModSlot {
    ptr: *mut sbx_module,
    host: u32,
    fixture: usize,
    user_data: u64,
    closed: bool,
}

struct CancelSlot {
    ptr: *mut sbx_cancel,
    host: u32,
    triggered: bool,
}

#[derive(Default)]
struct World {
    hosts: Vec<HostSlot>,
    modules: Vec<ModSlot>,
    cancels: Vec<CancelSlot>,
    next_id: u32,
}

/// What the host function sees of the call it runs in.
struct Current {
    host: *mut sbx_host,
    module: *mut sbx_module,
    cancel: *const sbx_cancel,
    user_data: u64,
    /// Set by the callback: what the guest's call must then return.
    closed_itself: bool,
    triggered: bool,
}

thread_local! {
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
}

fn with_current<R>(f: impl FnOnce(&mut Current) -> R) -> R {
    CURRENT.with(|c| {
        f(c.borrow_mut()
            .as_mut()
            .expect("a host function outside a call"))
    })
}

/// env.hf: `param & 0xff` picks what to do, `param >> 8` is its argument.
extern "C" fn hf(_: *mut c_void, caller: *mut sbx_caller, stack: *mut u64, len: usize) -> i32 {
    assert_eq!(len, 1);
    // SAFETY: sbx passes a stack of `len` values.
    let stack = unsafe { &mut *stack };
    let param = *stack;
    let arg = param >> 8;
    let (host, module, cancel, user_data) =
        with_current(|c| (c.host, c.module, c.cancel, c.user_data));
    *stack = param.wrapping_add(1);
    match param & 0xff {
        1 => {
            caller::set_error(caller, &arg.to_le_bytes());
            return 1;
        }
        2 => return -1,
        3 => {
            // Re-entry into the module's own call: refused, not a deadlock.
            let r = call(module, b"call_hf", &[0], 1, TIMEOUT_NONE, null());
            assert_eq!(r.unwrap_err().status, Status::InvalidArgument);
        }
        4 => {
            assert_eq!(memory_read(module, 0, 4), Err(Status::InvalidArgument));
            assert_eq!(memory_write(module, 0, &[1]), Status::InvalidArgument);
        }
        5 => assert_eq!(interrupt(module), Status::Ok),
        6 => {
            module_close(module);
            with_current(|c| c.closed_itself = true);
        }
        7 if !cancel.is_null() => {
            cancel_trigger(cancel);
            with_current(|c| c.triggered = true);
        }
        8 => {
            let size = caller::memory_size(caller).expect("hostfunc exports memory");
            let offset = arg & 0x1_ffff;
            let n = (arg >> 17) as usize & 0xff;
            let fits = offset + n as u64 <= size;
            let want = if fits {
                Status::Ok
            } else {
                Status::OutOfBounds
            };
            assert_eq!(caller::memory_read(caller, offset, n), want);
            assert_eq!(caller::memory_write(caller, offset, &vec![0x5a; n]), want);
            assert_eq!(caller::user_data(caller), user_data);
            let _ = caller::time_left(caller);
        }
        9 => {
            // Another module of the same host, loaded and called from here.
            let m = load(host, b"nested", &WASM[0], &Load::default());
            if let Ok(m) = m {
                assert_eq!(
                    call(m, b"add", &[1, 2], 1, 0, null()).map_err(|f| f.status),
                    Ok(vec![3])
                );
                module_free(m);
            }
        }
        10 => {
            let _ = define_func(
                host,
                b"env",
                &arg.to_le_bytes(),
                &[1],
                &[1],
                Some(hf),
                null_mut(),
            );
            if let Ok(c) = cancel_new(host) {
                cancel_free(c);
            }
        }
        _ => {}
    }
    0
}

impl World {
    fn new_host(&mut self, fuel: bool, max_modules: u32, pooling: bool, hf_defined: bool) {
        if self.hosts.len() >= 3 {
            return;
        }
        let ptr = host_new(&HostSettings {
            fuel: if fuel { 1_000_000 } else { 0 },
            exec_timeout_ns: 10_000_000,
            memory_bytes: Some(8 << 20),
            max_modules: Some(max_modules),
            pooling,
            cache_dir: Some(CACHE.0.clone()),
            ..Default::default()
        });
        if hf_defined {
            define_func(ptr, b"env", b"hf", &[1], &[1], Some(hf), null_mut())
                .expect("define env.hf");
        }
        self.next_id += 1;
        self.hosts.push(HostSlot {
            ptr,
            id: self.next_id,
            fuel,
        });
    }

    fn host(&self, i: u8) -> Option<&HostSlot> {
        (!self.hosts.is_empty()).then(|| &self.hosts[i as usize % self.hosts.len()])
    }

    fn module(&self, i: u8) -> Option<usize> {
        (!self.modules.is_empty()).then(|| i as usize % self.modules.len())
    }

    fn cancel(&self, i: Option<u8>) -> Option<usize> {
        let i = i?;
        (!self.cancels.is_empty()).then(|| i as usize % self.cancels.len())
    }

    fn host_fuel(&self, id: u32) -> bool {
        self.hosts
            .iter()
            .find(|h| h.id == id)
            .is_some_and(|h| h.fuel)
    }

    /// The timeout to pass: never "none" on a host without fuel.
    fn timeout(&self, host: u32, d: Deadline) -> u64 {
        match d {
            Deadline::Default => 0,
            Deadline::Never if self.host_fuel(host) => TIMEOUT_NONE,
            Deadline::Never => 0,
            Deadline::Nanos(n) => 1 + n as u64 * 100,
        }
    }

    /// After a failed call: an open module still answers.
    fn probe(&self, m: usize) {
        let slot = &self.modules[m];
        if slot.closed {
            return;
        }
        if let Some(p) = probe_of(slot.fixture) {
            probe(slot.ptr, p);
        } else if slot.fixture == HOSTFUNC {
            let ptr = slot.ptr;
            let r = self.with_current(m, None, |_| {
                call(ptr, b"call_hf", &[0x100], 1, TIMEOUT_NONE, null())
            });
            CURRENT.with(|cur| *cur.borrow_mut() = None);
            assert_eq!(r.map_err(|f| f.status), Ok(vec![0x101]));
        }
    }

    fn run(&mut self, op: Op) {
        match op {
            Op::NewHost {
                fuel,
                max_modules,
                pooling,
                hf,
            } => self.new_host(fuel, 1 + max_modules as u32 % 4, pooling, hf),
            Op::CloseHost(i) => {
                if self.hosts.is_empty() {
                    return;
                }
                let h = self.hosts.remove(i as usize % self.hosts.len());
                host_close(h.ptr);
                for m in self.modules.iter_mut().filter(|m| m.host == h.id) {
                    m.closed = true;
                }
            }
            Op::Load {
                host,
                fixture,
                name,
                deadline,
                cancel,
                user_data,
            } => {
                let Some(h) = self.host(host) else { return };
                if self.modules.len() >= 6 {
                    return;
                }
                let (hptr, hid) = (h.ptr, h.id);
                let fixture = fixture as usize % WASM.len();
                let (name_bytes, valid) = name.bytes();
                let c = self.cancel(cancel);
                let opts = Load {
                    timeout_ns: self.timeout(hid, deadline),
                    cancel: c.map_or(null(), |c| self.cancels[c].ptr),
                    wasi: None,
                    user_data,
                };
                match load(hptr, name_bytes, &WASM[fixture], &opts) {
                    Ok(ptr) => {
                        assert!(valid, "a load named {name_bytes:?} succeeded");
                        if let Some(c) = c {
                            assert!(
                                !self.cancels[c].triggered,
                                "a load with a triggered token succeeded"
                            );
                            assert_eq!(
                                self.cancels[c].host, hid,
                                "a load with another host's token succeeded"
                            );
                        }
                        let (got, _) = describe(ptr);
                        assert_eq!(got, name_bytes);
                        self.modules.push(ModSlot {
                            ptr,
                            host: hid,
                            fixture,
                            user_data: user_data.unwrap_or(0),
                            closed: false,
                        });
                    }
                    Err(f) => {
                        if !valid {
                            assert_eq!(f.status, Status::InvalidArgument);
                        }
                        assert_ne!(f.status, Status::HandleClosed, "an open host");
                    }
                }
            }
            Op::Call {
                module,
                export,
                raw,
                params,
                cap,
                deadline,
                cancel,
            } => {
                let Some(m) = self.module(module) else { return };
                let slot = &self.modules[m];
                let (_, funcs) = describe(slot.ptr);
                let name = match raw {
                    Some(raw) => raw,
                    None if funcs.is_empty() => Vec::new(),
                    None => funcs[export as usize % funcs.len()].name.clone(),
                };
                let export = funcs.iter().find(|f| f.name == name);
                let mut params = params;
                params.truncate(6);
                if let Some(f) = export {
                    params.resize(f.params.len(), 0);
                }
                let c = self.cancel(cancel);
                let timeout = self.timeout(slot.host, deadline);
                let ptr = slot.ptr;
                let r = self.with_current(m, c, |cancel| {
                    call(ptr, &name, &params, cap as usize % 4, timeout, cancel)
                });
                self.after_call(
                    m,
                    c,
                    r.as_ref().map(|_| ()).map_err(|f| f.status),
                    std::str::from_utf8(&name).is_ok(),
                );
            }
            Op::CallHf {
                module,
                behavior,
                arg,
                cancel,
            } => {
                let Some(m) = self.module(module) else { return };
                if self.modules[m].fixture != HOSTFUNC {
                    return;
                }
                let c = self.cancel(cancel);
                let ptr = self.modules[m].ptr;
                let param = (behavior % 12) as u64 | (arg as u64) << 8;
                let was_closed = self.modules[m].closed;
                let pre_triggered = c.is_some_and(|c| self.cancels[c].triggered);
                let foreign = c.is_some_and(|c| self.cancels[c].host != self.modules[m].host);
                let r =
                    self.with_current(m, c, |cancel| call(ptr, b"call_hf", &[param], 1, 0, cancel));
                let (closed_itself, triggered) = CURRENT.with(|cur| {
                    cur.borrow()
                        .as_ref()
                        .map_or((false, false), |c| (c.closed_itself, c.triggered))
                });
                CURRENT.with(|cur| *cur.borrow_mut() = None);
                let status = r.as_ref().map_or_else(|f| f.status, |_| Status::Ok);
                if was_closed {
                    assert!(
                        matches!(status, Status::HandleClosed | Status::InvalidArgument),
                        "{status:?}"
                    );
                } else if foreign {
                    assert_eq!(status, Status::InvalidArgument);
                } else if pre_triggered {
                    assert_eq!(status, Status::Interrupted);
                } else if closed_itself {
                    assert_eq!(status, Status::HandleClosed);
                } else {
                    let mut allowed = match param & 0xff {
                        0 | 3 | 4 | 8 | 9 | 10 | 11 => vec![Status::Ok],
                        1 | 2 => vec![Status::HostError],
                        _ => vec![Status::Ok, Status::Interrupted],
                    };
                    // Every host has an exec timeout, which a nested load
                    // in the callback (behavior 9) can outlast.
                    allowed.push(Status::Timeout);
                    assert!(
                        allowed.contains(&status),
                        "behavior {}: {r:?}",
                        param & 0xff
                    );
                    if status == Status::Ok {
                        assert_eq!(r.unwrap(), vec![param.wrapping_add(1)]);
                    }
                }
                if closed_itself {
                    self.modules[m].closed = true;
                }
                if triggered {
                    self.cancels[c.unwrap()].triggered = true;
                }
                if status != Status::Ok {
                    self.probe(m);
                }
            }
            Op::Interrupt(i) => {
                let Some(m) = self.module(i) else { return };
                let want = if self.modules[m].closed {
                    Status::HandleClosed
                } else {
                    Status::Ok
                };
                assert_eq!(interrupt(self.modules[m].ptr), want);
                // An interrupt with no call running does not stop the next one.
                self.probe(m);
            }
            Op::Close(i) => {
                let Some(m) = self.module(i) else { return };
                module_close(self.modules[m].ptr);
                self.modules[m].closed = true;
            }
            Op::Free(i) => {
                let Some(m) = self.module(i) else { return };
                module_free(self.modules.remove(m).ptr);
            }
            Op::CancelNew(h) => {
                let Some(h) = self.host(h) else { return };
                if self.cancels.len() >= 3 {
                    return;
                }
                let id = h.id;
                let ptr = cancel_new(h.ptr).expect("a token of an open host");
                self.cancels.push(CancelSlot {
                    ptr,
                    host: id,
                    triggered: false,
                });
            }
            Op::CancelTrigger(i) => {
                let Some(c) = self.cancel(Some(i)) else {
                    return;
                };
                cancel_trigger(self.cancels[c].ptr);
                self.cancels[c].triggered = true;
            }
            Op::CancelReset(i) => {
                let Some(c) = self.cancel(Some(i)) else {
                    return;
                };
                cancel_reset(self.cancels[c].ptr);
                self.cancels[c].triggered = false;
            }
            Op::CancelFree(i) => {
                let Some(c) = self.cancel(Some(i)) else {
                    return;
                };
                cancel_free(self.cancels.remove(c).ptr);
            }
            Op::Define {
                host,
                module,
                name,
                params,
                results,
                null_callback,
            } => {
                let Some(h) = self.host(host) else { return };
                let cb = if null_callback {
                    None
                } else {
                    Some(hf as HostCallback)
                };
                let r = define_func(h.ptr, &module, &name, &params, &results, cb, null_mut());
                let types_ok = params.iter().chain(&results).all(|&t| t <= 3);
                let names_ok =
                    std::str::from_utf8(&module).is_ok() && std::str::from_utf8(&name).is_ok();
                if !types_ok || !names_ok || null_callback {
                    assert_eq!(r.map_err(|f| f.status), Err(Status::InvalidArgument));
                }
            }
            Op::MemRead {
                module,
                offset,
                len,
            } => {
                let Some(m) = self.module(module) else { return };
                let slot = &self.modules[m];
                let size = memory_size(slot.ptr);
                let r = memory_read(slot.ptr, offset, len as usize);
                self.check_memory_op(m, size, offset, len as usize, r.map(|_| ()).map_err(|s| s));
            }
            Op::MemWrite {
                module,
                offset,
                data,
            } => {
                let Some(m) = self.module(module) else { return };
                let slot = &self.modules[m];
                let size = memory_size(slot.ptr);
                let s = memory_write(slot.ptr, offset, &data);
                let r = if s == Status::Ok { Ok(()) } else { Err(s) };
                self.check_memory_op(m, size, offset, data.len(), r);
            }
            Op::MemSize(i) => {
                let Some(m) = self.module(i) else { return };
                let r = memory_size(self.modules[m].ptr);
                if self.modules[m].closed {
                    assert_eq!(r, Err(Status::HandleClosed));
                } else {
                    assert_ne!(r, Err(Status::HandleClosed));
                }
            }
            Op::Fuel(i) => {
                let Some(m) = self.module(i) else { return };
                let slot = &self.modules[m];
                match last_call_fuel(slot.ptr) {
                    Ok(f) => {
                        assert!(!slot.closed);
                        if !self.host_fuel(slot.host) {
                            assert_eq!(f, 0, "fuel used with metering off");
                        }
                    }
                    Err(s) => {
                        assert!(slot.closed);
                        assert_eq!(s, Status::HandleClosed);
                    }
                }
            }
            Op::Describe(i) => {
                let Some(m) = self.module(i) else { return };
                let _ = describe(self.modules[m].ptr);
            }
            Op::Nulls(i) => {
                check_null_error_accessors();
                check_null_host();
                caller::check_null();
                if let Some(m) = self.module(i) {
                    check_null_module_args(self.modules[m].ptr);
                    let want = if self.modules[m].closed {
                        Status::HandleClosed
                    } else {
                        Status::InvalidArgument
                    };
                    let got = call_null_name(self.modules[m].ptr, 1);
                    assert!(got == Status::InvalidArgument || got == want, "{got:?}");
                }
            }
            Op::Names(s, t) => check_names(s, t),
        }
    }

    /// Runs a call with CURRENT set for the host function.
    fn with_current<R>(
        &self,
        m: usize,
        c: Option<usize>,
        f: impl FnOnce(*const sbx_cancel) -> R,
    ) -> R {
        let slot = &self.modules[m];
        let host = self
            .hosts
            .iter()
            .find(|h| h.id == slot.host)
            .map_or(null_mut(), |h| h.ptr);
        let cancel = c.map_or(null(), |c| self.cancels[c].ptr as *const _);
        CURRENT.with(|cur| {
            *cur.borrow_mut() = Some(Current {
                host,
                module: slot.ptr,
                cancel,
                user_data: slot.user_data,
                closed_itself: false,
                triggered: false,
            })
        });
        f(cancel)
    }

    fn after_call(&mut self, m: usize, c: Option<usize>, r: Result<(), Status>, utf8: bool) {
        let (closed_itself, triggered) = CURRENT.with(|cur| {
            let cur = cur.borrow_mut().take().expect("set by with_current");
            (cur.closed_itself, cur.triggered)
        });
        let was_closed = self.modules[m].closed;
        if closed_itself {
            assert_eq!(
                r,
                Err(Status::HandleClosed),
                "a call whose host function closed its module"
            );
            self.modules[m].closed = true;
        }
        if triggered {
            self.cancels[c.expect("the host function triggered the call's token")].triggered = true;
        }
        let slot = &self.modules[m];
        // Another host's token is INVALID_ARGUMENT, even on a closed module.
        let foreign = c.is_some_and(|c| self.cancels[c].host != slot.host);
        match r {
            Ok(()) => {
                assert!(!slot.closed, "a call on a closed module succeeded");
                if let (Some(c), false) = (c, triggered) {
                    assert!(
                        !self.cancels[c].triggered,
                        "a call with a triggered token succeeded"
                    );
                    assert_eq!(
                        self.cancels[c].host, slot.host,
                        "a call with another host's token succeeded"
                    );
                }
            }
            Err(s) => {
                if was_closed || closed_itself {
                    assert!(
                        s == Status::HandleClosed
                            || (s == Status::InvalidArgument && (!utf8 || foreign)),
                        "{s:?}"
                    );
                } else {
                    assert_ne!(s, Status::HandleClosed, "an open module");
                }
                self.probe(m);
            }
        }
    }

    fn check_memory_op(
        &self,
        m: usize,
        size: Result<u64, Status>,
        offset: u64,
        len: usize,
        r: Result<(), Status>,
    ) {
        let slot = &self.modules[m];
        if slot.closed {
            assert_eq!(r, Err(Status::HandleClosed));
            return;
        }
        match size {
            Ok(size) => {
                let fits = offset
                    .checked_add(len as u64)
                    .is_some_and(|end| end <= size);
                assert_eq!(
                    r,
                    if fits {
                        Ok(())
                    } else {
                        Err(Status::OutOfBounds)
                    },
                    "{len} at {offset} of {size}"
                );
            }
            Err(s) => assert_eq!(r, Err(s)),
        }
    }

    fn end(self) {
        for m in self.modules {
            module_free(m.ptr);
        }
        for c in self.cancels {
            cancel_free(c.ptr);
        }
        for h in self.hosts {
            host_close(h.ptr);
        }
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let mut world = World::default();
    world.new_host(true, 4, false, true);
    for op in ops.into_iter().take(64) {
        world.run(op);
    }
    world.end();
});
