//! A module: one instance in its own store, calls that run one at a time,
//! host-side access to its memory, reset, stats, and close.
//!
//! # Lifecycle
//! - **Load** ([`Module::instantiate`]): a [`Slot`] is reserved in the
//!   host's registry (its `max_modules` cap), then [`ModuleInner::start`]
//!   builds a store and runs instantiation, the start function and a
//!   reactor's `_initialize` under the load's deadline. The store and the
//!   slot then live together in [`Live`].
//! - **Reset** builds a new `Live` from the same pre-linked module; the
//!   name, handle and stats stay. A failed reset leaves the module closed.
//! - **Close** (its own, its host's, or a failed reset) sets `closed`,
//!   interrupts the call in flight and waits for it, then drops `Live`:
//!   dropping the store frees the instance (its pool slot) and dropping
//!   the slot gives back the registry place. A close from a host function
//!   of the module's own call cannot wait for that call, so the call drops
//!   `Live` itself when it returns. Handles stay valid after close and
//!   report `HandleClosed`.

use crate::deadline::{Cancel, Timeout, Watch, Watched};
use crate::error::{Error, HostFuncError, Result, Status, Stopped};
use crate::exports::{ExportTable, InstanceExports};
use crate::limiter::{MemoryAccounts, ModuleLimiter};
use crate::memory;
use crate::registry::{Member, Slot};
use crate::runtime::Runtime;
use crate::stats::{CallCounters, ModuleStats};
use crate::store::{ModuleShared, ModuleStore, StoreData};
use crate::value::Signature;
use crate::wasi::{WasiConfig, WasiState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use wasmtime::{InstancePre, ValRaw};

/// When a module goes back to its state right after load by itself
/// (`uint32_t` in C).
#[repr(u32)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResetPolicy {
    /// Only when [`Module::reset`] is called.
    #[default]
    Never = 0,
    /// After a call fails in the guest (a trap, timeout, interrupt, fuel
    /// exhaustion, host-function failure or non-zero exit): the next call or
    /// memory write starts fresh. Until then the failed state stays readable.
    AfterFailure = 1,
    /// After every call: the next call or memory write starts fresh, so no
    /// data from one call is visible to the next. Results stay readable
    /// until then.
    AfterEachCall = 2,
}

impl ResetPolicy {
    /// The policy whose value is `value`, if there is one.
    pub fn from_u32(value: u32) -> Option<ResetPolicy> {
        [
            ResetPolicy::Never,
            ResetPolicy::AfterFailure,
            ResetPolicy::AfterEachCall,
        ]
        .into_iter()
        .find(|p| *p as u32 == value)
    }
}

/// Per-load settings.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Bounds compile plus start function (and a reactor's `_initialize`).
    pub timeout: Timeout,
    /// Stops the load when triggered.
    pub cancel: Option<Arc<Cancel>>,
    /// This module's WASI world, replacing the host's.
    pub wasi: Option<WasiConfig>,
    /// A value host functions can read back with [`crate::Caller::user_data`].
    pub user_data: u64,
    /// When the module resets itself.
    pub reset: ResetPolicy,
}

/// What a module is instantiated from, again at every reset. Made once per
/// compiled module and WASI choice, and shared by their instances.
pub(crate) struct Blueprint {
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) pre: InstancePre<StoreData>,
    pub(crate) exports: Arc<ExportTable>,
    /// Whether instantiating may run code (a start function, Wasmtime's
    /// startup code for initialisers, `_initialize`), which then runs as a
    /// call does: metered, under the deadline, interruptible.
    pub(crate) runs_code: bool,
}

/// A loaded module. Cheap to clone; all clones are the same module.
/// Safe to use from many threads: calls on one module run one at a time.
#[derive(Clone)]
pub struct Module {
    inner: Arc<ModuleInner>,
}

struct ModuleInner {
    name: Name,
    blueprint: Arc<Blueprint>,
    wasi: Option<WasiConfig>,
    user_data: u64,
    reset: ResetPolicy,
    shared: Arc<ModuleShared>,
    closed: AtomicBool,
    live: Mutex<Option<Live>>,
    counters: CallCounters,
    last_fuel: AtomicU64,
}

/// The parts that exist until the module is closed.
struct Live {
    store: ModuleStore,
    exports: InstanceExports,
    next_seq: u64,
    /// Set when the reset policy asks for a reset before the next call.
    stale: bool,
    /// Dropped after the store: the registry place goes with the instance.
    _slot: Slot,
}

impl Module {
    /// Instantiates `blueprint` as a new module named `name`; `deadline`
    /// and `options.cancel` bound its start function.
    pub(crate) fn instantiate(
        blueprint: Arc<Blueprint>,
        name: &str,
        options: &LoadOptions,
        wasi: Option<WasiConfig>,
        deadline: Option<u64>,
    ) -> Result<Module> {
        check_name(name)?;
        check_cancel(&blueprint.runtime, options.cancel.as_ref())?;
        let runtime = &blueprint.runtime;
        let shared = Arc::new(ModuleShared {
            watch: Watch::new(),
            memory: MemoryAccounts::new(runtime.budget.clone()),
        });
        let inner = Arc::new(ModuleInner {
            name: Name::new(name),
            shared,
            blueprint,
            wasi,
            user_data: options.user_data,
            reset: options.reset,
            closed: AtomicBool::new(false),
            live: Mutex::new(None),
            counters: CallCounters::default(),
            last_fuel: AtomicU64::new(0),
        });
        // From here a host close reaches the module, and stops its start function.
        let member: Weak<dyn Member> = Arc::downgrade(&inner) as Weak<ModuleInner>;
        let slot = inner.blueprint.runtime.registry.join(member)?;
        let started = inner.start(slot, 1, deadline, options.cancel.as_ref());
        let mut guard = inner.lock();
        // `close` sets `closed` before it takes this lock: either it finds
        // the instance here, or this sees `closed`.
        if inner.closed.load(SeqCst) {
            return Err(Error::new(
                Status::HandleClosed,
                "instantiate: host was closed during the load",
            ));
        }
        let (live, fuel) = started?;
        inner.last_fuel.store(fuel, Relaxed);
        *guard = Some(live);
        drop(guard);
        Ok(Module { inner })
    }

    /// The name given at load.
    pub fn name(&self) -> &str {
        self.inner.name.as_str()
    }

    /// The exported functions with their signatures, in export order.
    /// Available after close too.
    pub fn exported_functions(&self) -> Vec<(String, Signature)> {
        self.inner.blueprint.exports.functions().to_vec()
    }

    /// Stops the call in flight, if any. Later calls are not affected.
    /// Returns whether a call was in flight. Safe from any thread.
    pub fn interrupt(&self) -> Result<bool> {
        if self.is_closed() {
            return Err(Error::closed("module"));
        }
        Ok(self
            .inner
            .shared
            .watch
            .interrupt(&self.inner.blueprint.runtime.engine))
    }

    /// Closes the module: interrupts the call in flight, waits for it, and
    /// frees the instance. Idempotent; see the module docs.
    pub fn close(&self) {
        self.inner.close()
    }

    /// Whether the module (or its host) was closed.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(SeqCst)
    }

    /// Fuel the last call used; 0 when fuel metering is off.
    pub fn last_call_fuel(&self) -> Result<u64> {
        if self.is_closed() {
            return Err(Error::closed("module"));
        }
        Ok(self.inner.last_fuel.load(Relaxed))
    }

    /// What the module has done since it was loaded. Lock-free: readable
    /// while a call runs, and after close.
    pub fn stats(&self) -> ModuleStats {
        self.inner.counters.read(&self.inner.shared.memory.module)
    }

    /// Makes the module exactly what it was right after it was loaded: a new
    /// instance, so memories, globals (exported or not) and tables start
    /// over, and the start function and a reactor's `_initialize` run again
    /// under `timeout` and `cancel`. If they fail, the module is closed and
    /// the error says so.
    pub fn reset(&self, timeout: Timeout, cancel: Option<&Arc<Cancel>>) -> Result<()> {
        let inner = &*self.inner;
        let runtime = &inner.blueprint.runtime;
        check_cancel(runtime, cancel)?;
        let deadline = timeout.deadline(runtime.limits.load_timeout);
        let mut guard = inner.lock_outside_call()?;
        inner.reset_locked(&mut guard, deadline, cancel)
    }

    /// Calls the exported function `func` with `params`, writing its results
    /// to the front of `results` and returning how many it wrote.
    ///
    /// The deadline is re-armed and the fuel refilled for every call; the
    /// module stays usable after a timeout, interrupt, fuel exhaustion or
    /// trap, with its memory and globals as the guest left them unless its
    /// [`ResetPolicy`] says otherwise.
    pub fn call(
        &self,
        func: &[u8],
        params: &[u64],
        results: &mut [u64],
        timeout: Timeout,
        cancel: Option<&Arc<Cancel>>,
    ) -> Result<usize> {
        let inner = &*self.inner;
        let runtime = &*inner.blueprint.runtime;
        check_cancel(runtime, cancel)?;
        let started = crate::clock::ticks();
        let deadline = timeout.deadline(runtime.limits.exec_timeout);
        let mut guard = inner.lock_outside_call()?;
        if guard.as_ref().is_some_and(|live| live.stale) {
            inner.reset_locked(&mut guard, deadline, cancel)?;
        }
        let Some(live) = guard.as_mut() else {
            return Err(Error::closed("module"));
        };
        let exports = &inner.blueprint.exports;
        let (export_func, export) = live.exports.get(exports, &mut live.store, func)?;
        let sig = &export.signature;
        let shown = || String::from_utf8_lossy(func);
        if !export.callable {
            return Err(Error::new(
                Status::SignatureMismatch,
                format!(
                    "export `{}` has signature {sig}; only i32, i64, f32 and f64 cross as uint64",
                    shown()
                ),
            ));
        }
        if params.len() != sig.params.len() || results.len() < sig.results.len() {
            return Err(Error::new(
                Status::SignatureMismatch,
                format!(
                    "export `{}` has signature {sig}; called with {} params and room for {} results",
                    shown(),
                    params.len(),
                    results.len()
                ),
            ));
        }

        let slots = sig.params.len().max(sig.results.len());
        // v128 fills all 16 bytes of each slot: a narrower constructor writes 8
        // and the copy then reads 16, a store-forwarding stall measured at
        // a quarter of this function's time.
        let mut inline = [ValRaw::v128(0); INLINE_VALUES];
        let mut spilled = Vec::new();
        let values: &mut [ValRaw] = if slots <= INLINE_VALUES {
            &mut inline[..slots]
        } else {
            spilled.resize(slots, ValRaw::v128(0));
            &mut spilled
        };
        for ((slot, ty), value) in values.iter_mut().zip(&sig.params).zip(params) {
            *slot = ty.encode(*value);
        }

        let seq = live.next_seq;
        live.next_seq += 1;
        let store = &mut live.store;
        let fuel = runtime.limits.fuel;
        if let Some(fuel) = fuel {
            store
                .set_fuel(fuel)
                .expect("fuel is enabled on this engine");
        }
        store.set_epoch_deadline(1);
        store.data_mut().set_call(seq, cancel);
        let in_flight = inner.shared.begin_guard(&runtime.engine, seq, deadline)?;
        let outcome = if inner.closed.load(Relaxed) {
            Err(Error::closed("module"))
        } else if cancel.is_some_and(|c| c.is_triggered()) {
            Err(Error::new(
                Status::Interrupted,
                format!("call `{}`: interrupted", shown()),
            ))
        } else {
            // SAFETY: `values` holds max(params, results) slots, and the
            // params were encoded from the export's own signature.
            unsafe { export_func.call_unchecked(&mut *store, values as *mut [ValRaw]) }
                .map_err(|e| Error::from_guest(e, &format!("call `{}`", shown())))
        };
        drop(in_flight);
        let used = fuel.map_or(0, |fuel| fuel - store.get_fuel().unwrap_or(0));
        if inner.closed.load(Relaxed) {
            // Closed during the call, perhaps by one of its own host functions.
            // One rule whatever the guest was doing (the close's interrupt,
            // a trap, or a return at the same moment): `HandleClosed`,
            // counted as an interrupt.
            let mut stale = false;
            inner.finish(&mut stale, started, used, Some(Status::Interrupted));
            *guard = None;
            return Err(Error::new(
                Status::HandleClosed,
                format!("call `{}`: module was closed during the call", shown()),
            ));
        }
        if cancel.is_some() {
            store.data_mut().set_call(seq, None);
        }
        if fuel.is_some() {
            inner.last_fuel.store(used, Relaxed);
        }
        // A WASI program that calls exit(0) has succeeded; it returns nothing.
        if let Err(e) = outcome {
            if e.exit_code() == Some(0) {
                inner.finish(&mut live.stale, started, used, None);
                return Ok(0);
            }
            inner.finish(&mut live.stale, started, used, Some(e.status()));
            return Err(e);
        }
        inner.finish(&mut live.stale, started, used, None);
        for ((out, ty), raw) in results.iter_mut().zip(&sig.results).zip(values.iter()) {
            *out = ty.decode(raw);
        }
        Ok(sig.results.len())
    }

    fn with_memory<R>(
        &self,
        write: bool,
        f: impl FnOnce(&mut ModuleStore, wasmtime::Memory) -> Result<R>,
    ) -> Result<R> {
        let inner = &*self.inner;
        let mut guard = inner.lock_outside_call()?;
        // Input written for the next call must land in the fresh instance.
        if write && guard.as_ref().is_some_and(|live| live.stale) {
            let deadline =
                Timeout::HostDefault.deadline(inner.blueprint.runtime.limits.load_timeout);
            inner.reset_locked(&mut guard, deadline, None)?;
        }
        let live = guard.as_mut().ok_or_else(|| Error::closed("module"))?;
        let memory = live
            .exports
            .memory
            .ok_or_else(|| Error::new(Status::ExportNotFound, "module exports no memory"))?;
        f(&mut live.store, memory)
    }

    /// The size of the module's exported memory, in bytes.
    pub fn memory_size(&self) -> Result<u64> {
        self.with_memory(false, |store, m| Ok(m.data_size(&*store) as u64))
    }

    /// Copies `buf.len()` bytes at `offset` out of the module's memory.
    pub fn memory_read(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.with_memory(false, |store, m| memory::read(m.data(&*store), offset, buf))
    }

    /// Copies `data` into the module's memory at `offset`. Under a
    /// [`ResetPolicy`] that has marked the module for reset, the reset
    /// happens first, so the write is seen by the next call.
    pub fn memory_write(&self, offset: u64, data: &[u8]) -> Result<()> {
        self.with_memory(true, |store, m| {
            memory::write(m.data_mut(store), offset, data)
        })
    }
}

/// A module's name, kept inline when short (most are), so that an
/// instantiation allocates once less.
enum Name {
    Short { len: u8, bytes: [u8; SHORT_NAME] },
    Long(Box<str>),
}

const SHORT_NAME: usize = 30;

impl Name {
    fn new(name: &str) -> Name {
        let mut bytes = [0; SHORT_NAME];
        match bytes.get_mut(..name.len()) {
            Some(short) => {
                short.copy_from_slice(name.as_bytes());
                Name::Short {
                    len: name.len() as u8,
                    bytes,
                }
            }
            None => Name::Long(name.into()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Name::Short { len, bytes } => {
                std::str::from_utf8(&bytes[..*len as usize]).expect("copied from a str")
            }
            Name::Long(name) => name,
        }
    }
}

/// Values crossing on the stack; larger signatures spill to the heap.
const INLINE_VALUES: usize = 8;

pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::invalid("module name is empty or whitespace"));
    }
    Ok(())
}

pub(crate) fn check_cancel(runtime: &Runtime, cancel: Option<&Arc<Cancel>>) -> Result<()> {
    if cancel.is_some_and(|c| !c.belongs_to(&runtime.engine)) {
        return Err(Error::invalid("cancel token belongs to another host"));
    }
    Ok(())
}

impl ModuleInner {
    fn lock(&self) -> MutexGuard<'_, Option<Live>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// [`ModuleInner::lock`], refusing instead of deadlocking when a host
    /// function of this module's own call tries to use the module again.
    fn lock_outside_call(&self) -> Result<MutexGuard<'_, Option<Live>>> {
        if self.shared.watch.is_reentry() {
            return Err(Error::invalid(
                "the module is running a call on this thread; inside a host function use the caller",
            ));
        }
        Ok(self.lock())
    }

    /// Builds a store and instance (call number `seq`) holding `slot`, and
    /// runs the start function and `_initialize`; returns them with the
    /// fuel that used.
    fn start(
        &self,
        slot: Slot,
        seq: u64,
        deadline: Option<u64>,
        cancel: Option<&Arc<Cancel>>,
    ) -> Result<(Live, u64)> {
        let blueprint = &self.blueprint;
        let runtime = &*blueprint.runtime;
        let wasi = self
            .wasi
            .as_ref()
            .map(|config| WasiState::new(config).map(Box::new))
            .transpose()?;
        let limiter = ModuleLimiter::new(&runtime.limits);
        let data = StoreData::new(limiter, self.shared.clone(), wasi, self.user_data);
        let mut store = ModuleStore::new(&runtime.engine, data);
        store.limiter(|data| data);
        crate::deadline::install_callback(&mut store);
        // Code that runs here runs as a call does; every call sets its own fuel.
        let fuel = runtime.limits.fuel.filter(|_| blueprint.runs_code);
        if let Some(fuel) = fuel {
            store
                .set_fuel(fuel)
                .expect("fuel is enabled on this engine");
        }
        if blueprint.runs_code {
            store.data_mut().set_call(seq, cancel);
            self.shared.begin(&runtime.engine, seq, deadline)?;
        }
        // Each failure names what ran: instantiation itself (segments), the
        // start function, or a reactor's `_initialize`.
        // A close that came first is seen here, one that comes later
        // interrupts (`Watched::begin` orders the two); with no code to run,
        // `Module::instantiate` sees it after.
        let started = if cancel.is_some_and(|c| c.is_triggered()) || self.closed.load(Relaxed) {
            Err((wasmtime::Error::new(Stopped::Interrupted), "instantiate"))
        } else {
            blueprint
                .pre
                .instantiate(&mut store)
                .map_err(|e| {
                    let what = if ran_guest_code(&e) {
                        "start function"
                    } else {
                        "instantiate"
                    };
                    (e, what)
                })
                .and_then(|instance| {
                    // A WASI reactor initialises its libc in `_initialize`.
                    if let Some(init) = blueprint.exports.initialize(instance, &mut store) {
                        init.typed::<(), ()>(&store)
                            .and_then(|init| init.call(&mut store, ()))
                            .map_err(|e| (e, "`_initialize`"))?;
                    }
                    Ok(instance)
                })
        };
        let fuel = fuel.map_or(0, |f| f - store.get_fuel().unwrap_or(0));
        if blueprint.runs_code {
            self.shared.watch.end();
            store.data_mut().set_call(seq, None);
        }
        let instance = started
            .map_err(|(e, what)| classify_instantiate_error(e, what, &store.data().limiter))?;
        let exports = InstanceExports::new(&blueprint.exports, instance, &mut store);
        let live = Live {
            store,
            exports,
            next_seq: seq + 1,
            stale: false,
            _slot: slot,
        };
        Ok((live, fuel))
    }

    /// Replaces the instance in `guard` with a fresh one; on failure the
    /// module is closed.
    fn reset_locked(
        &self,
        guard: &mut MutexGuard<'_, Option<Live>>,
        deadline: Option<u64>,
        cancel: Option<&Arc<Cancel>>,
    ) -> Result<()> {
        let Some(old) = guard.take() else {
            return Err(Error::closed("module"));
        };
        let Live {
            store,
            next_seq,
            _slot: slot,
            ..
        } = old;
        // The old instance goes first: on a pooled host its slot is the one
        // the new instance takes.
        drop(store);
        self.counters.resets.add(1);
        let started = self.start(slot, next_seq, deadline, cancel);
        if self.closed.load(SeqCst) {
            // Closed meanwhile: its close interrupted the start function.
            return Err(Error::new(
                Status::HandleClosed,
                "reset: module was closed during the reset",
            ));
        }
        match started {
            Ok((live, _)) => {
                **guard = Some(live);
                Ok(())
            }
            Err(e) => {
                self.closed.store(true, SeqCst);
                Err(Error::new(
                    e.status(),
                    format!("reset failed, so the module is closed: {}", e.message()),
                ))
            }
        }
    }

    /// Counts a call that ran since tick `started`, and marks the module
    /// for reset when its policy says so.
    #[inline]
    fn finish(&self, stale: &mut bool, started: u64, fuel: u64, failed: Option<Status>) {
        let ended = crate::clock::ticks();
        self.counters
            .record(ended.saturating_sub(started), fuel, failed);
        *stale = match self.reset {
            ResetPolicy::Never => false,
            ResetPolicy::AfterFailure => failed.is_some(),
            ResetPolicy::AfterEachCall => true,
        };
    }

    /// See the module docs. Idempotent.
    fn close(&self) {
        if self.closed.swap(true, SeqCst) {
            return;
        }
        // A call that marked itself running before `closed` was set is
        // interrupted here; one that starts after sees `closed` (Module::call).
        self.shared.watch.interrupt(&self.blueprint.runtime.engine);
        if self.shared.watch.is_reentry() {
            // Closed from a host function of this module's own call: that
            // call drops the instance when it returns (see Module::call).
            return;
        }
        let live = self.lock().take();
        drop(live);
    }
}

impl Member for ModuleInner {
    fn close(&self) {
        ModuleInner::close(self)
    }
}

/// Whether `err` came from the start function rather than from setting up
/// the instance: a trap raised before any code ran (a segment that does not
/// fit) has no wasm frames; a start function that is itself an import has
/// none either, but only a called function can exit or fail as a host function.
fn ran_guest_code(err: &wasmtime::Error) -> bool {
    err.downcast_ref::<wasmtime::WasmBacktrace>()
        .is_some_and(|bt| !bt.frames().is_empty())
        || err.downcast_ref::<wasmtime_wasi::I32Exit>().is_some()
        || err.downcast_ref::<HostFuncError>().is_some()
        || err.downcast_ref::<Stopped>().is_some()
}

fn classify_instantiate_error(err: wasmtime::Error, what: &str, limiter: &ModuleLimiter) -> Error {
    if err
        .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        return Error::new(
            Status::InstanceLimit,
            format!("{what}: {}", err.root_cause()),
        );
    }
    let from_guest = err.downcast_ref::<wasmtime::Trap>().is_some()
        || err.downcast_ref::<wasmtime_wasi::I32Exit>().is_some()
        || err.downcast_ref::<HostFuncError>().is_some()
        || err.downcast_ref::<Stopped>().is_some()
        || err.downcast_ref::<wasmtime::WasmBacktrace>().is_some();
    if from_guest {
        Error::from_guest(err, what)
    } else if let Some(refusal) = limiter.refusal() {
        // Refused by the limiter: a case the shape check cannot see.
        Error::new(Status::ResourceLimit, format!("instantiate: {refusal}"))
    } else {
        // Not the guest's code: memory or table allocation failed.
        Error::new(Status::ResourceLimit, format!("instantiate: {err:#}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_every_length_read_back() {
        for name in [
            "a",
            "ü",
            &"x".repeat(SHORT_NAME),
            &"y".repeat(SHORT_NAME + 1),
        ] {
            assert_eq!(Name::new(name).as_str(), name);
        }
        let long = "é".repeat(SHORT_NAME);
        assert!(matches!(Name::new(&long), Name::Long(_)));
        assert_eq!(Name::new(&long).as_str(), long);
    }
}
