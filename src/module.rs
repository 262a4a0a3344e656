//! A loaded module: its own store and instance, serialized calls, and a
//! close that interrupts whatever runs and waits for it.

use crate::call::{Exports, FunctionInfo};
use crate::deadline::{self, CallState, Cancel, Watch};
use crate::error::{Error, Result, Status, Stopped};
use crate::host::{Host, HostInner, LoadOptions};
use crate::limiter::ModuleLimiter;
use crate::wasi::WasiState;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard};
use wasmtime::{Instance, InstancePre, Memory};

/// What each store carries: its limits and the state of the call in flight.
pub struct StoreData {
    limiter: ModuleLimiter,
    pub(crate) watch: Arc<Watch>,
    call_seq: u64,
    cancel: Option<Arc<Cancel>>,
    pub(crate) wasi: Option<WasiState>,
    pub(crate) user_data: u64,
}

impl StoreData {
    pub(crate) fn set_call(&mut self, seq: u64, cancel: Option<&Arc<Cancel>>) {
        self.call_seq = seq;
        if cancel.is_some() || self.cancel.is_some() {
            self.cancel = cancel.cloned();
        }
        if let Some(wasi) = &self.wasi {
            wasi.reset_output_budget();
        }
    }
}

impl CallState for StoreData {
    fn watch(&self) -> &Watch {
        &self.watch
    }
    fn call_seq(&self) -> u64 {
        self.call_seq
    }
    fn cancel(&self) -> Option<&Cancel> {
        self.cancel.as_deref()
    }
}

pub(crate) type ModuleStore = wasmtime::Store<StoreData>;

/// A loaded module. Cheap to clone; all clones are the same module.
/// Safe to use from many threads: calls on one module run one at a time.
#[derive(Clone)]
pub struct Module {
    pub(crate) inner: Arc<ModuleInner>,
}

pub(crate) struct ModuleInner {
    pub(crate) name: String,
    /// `name`'s exact bytes and a NUL; see [`crate::call::nul_terminated`].
    pub(crate) c_name: Box<[u8]>,
    pub(crate) functions: Box<[FunctionInfo]>,
    pub(crate) id: u64,
    pub(crate) host: Arc<HostInner>,
    pub(crate) watch: Arc<Watch>,
    pub(crate) closed: AtomicBool,
    pub(crate) live: Mutex<Option<Live>>,
    pub(crate) last_fuel: AtomicU64,
}

/// The parts that exist until the module is closed.
pub(crate) struct Live {
    pub(crate) store: ModuleStore,
    #[allow(dead_code)] // kept so the instance's lifetime is explicit
    pub(crate) instance: Instance,
    pub(crate) exports: Exports,
    pub(crate) memory: Option<Memory>,
    pub(crate) next_seq: u64,
}

impl ModuleInner {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn instantiate(
        host: Arc<HostInner>,
        name: &str,
        id: u64,
        pre: &InstancePre<StoreData>,
        watch: Arc<Watch>,
        deadline: Option<u64>,
        options: &LoadOptions,
        wasi: Option<WasiState>,
    ) -> Result<ModuleInner> {
        let cancel = options.cancel.as_ref();
        let data = StoreData {
            limiter: ModuleLimiter::new(&host.limits),
            watch: watch.clone(),
            call_seq: 1,
            cancel: cancel.cloned(),
            wasi,
            user_data: options.user_data,
        };
        let mut store = ModuleStore::new(&host.engine, data);
        store.limiter(|data| &mut data.limiter);
        deadline::install_callback(&mut store);
        if let Some(fuel) = host.limits.fuel {
            store
                .set_fuel(fuel)
                .expect("fuel is enabled on this engine");
        }
        watch.begin(1, deadline);
        // Each failure names what ran: instantiation itself (segments), the
        // start function, or a reactor's `_initialize`.
        let started = if cancel.is_some_and(|c| c.is_triggered()) {
            Err((wasmtime::Error::new(Stopped::Interrupted), "instantiate"))
        } else {
            pre.instantiate(&mut store)
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
                    // Looked up as an Option: a failed typed lookup builds an error,
                    // and with RUST_BACKTRACE set that captures a backtrace per load.
                    if let Some(init) = instance.get_func(&mut store, "_initialize") {
                        init.typed::<(), ()>(&store)
                            .and_then(|init| init.call(&mut store, ()))
                            .map_err(|e| (e, "`_initialize`"))?;
                    }
                    Ok(instance)
                })
        };
        watch.end();
        let fuel_used = host.limits.fuel.map(|f| f - store.get_fuel().unwrap_or(0));
        let instance = started
            .map_err(|(e, what)| classify_instantiate_error(e, what, &store.data().limiter))?;
        store.data_mut().cancel = None;
        let (exports, functions) = Exports::collect(&mut store, &instance);
        let memory = instance.get_memory(&mut store, "memory").or_else(|| {
            let exports: Vec<_> = instance
                .exports(&mut store)
                .filter_map(|e| e.into_memory())
                .collect();
            exports.into_iter().next()
        });
        Ok(ModuleInner {
            name: name.to_owned(),
            c_name: crate::call::nul_terminated(name),
            functions: functions.into(),
            id,
            host,
            watch,
            closed: AtomicBool::new(false),
            live: Mutex::new(Some(Live {
                store,
                instance,
                exports,
                memory,
                next_seq: 2,
            })),
            last_fuel: AtomicU64::new(fuel_used.unwrap_or(0)),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Option<Live>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// [`ModuleInner::lock`], refusing instead of deadlocking when a host
    /// function of this module's own call tries to use the module again.
    pub(crate) fn lock_outside_call(&self) -> Result<MutexGuard<'_, Option<Live>>> {
        if self.watch.is_reentry() {
            return Err(Error::invalid(
                "the module is running a call on this thread; inside a host function use the caller",
            ));
        }
        Ok(self.lock())
    }

    /// Interrupts the call in flight, waits for it, then frees the instance
    /// (returning its pool slot). Idempotent.
    pub(crate) fn close(&self) {
        if self.closed.swap(true, SeqCst) {
            return;
        }
        // A call that marked itself running before `closed` was set is
        // interrupted here; one that starts after sees `closed` (Module::call).
        self.watch.interrupt();
        if self.watch.is_reentry() {
            // Closed from a host function of this module's own call: that
            // call frees the instance when it returns (see Module::call).
            return;
        }
        let live = self.lock().take();
        drop(live);
        Host::release_slot(&self.host, self.id);
    }
}

impl Drop for ModuleInner {
    fn drop(&mut self) {
        if !self.closed.swap(true, SeqCst) {
            Host::release_slot(&self.host, self.id);
        }
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
        || err
            .downcast_ref::<crate::host_func::HostFuncError>()
            .is_some()
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
        || err
            .downcast_ref::<crate::host_func::HostFuncError>()
            .is_some()
        || err.downcast_ref::<Stopped>().is_some()
        || err.downcast_ref::<wasmtime::WasmBacktrace>().is_some();
    if from_guest {
        Error::from_guest(err, what)
    } else if let Some(refusal) = limiter.refusal() {
        // Refused by the limiter: a case `Limits::check_module` cannot see.
        Error::new(Status::ResourceLimit, format!("instantiate: {refusal}"))
    } else {
        // Not the guest's code: memory or table allocation failed.
        Error::new(Status::ResourceLimit, format!("instantiate: {err:#}"))
    }
}

impl Module {
    /// The name given at load.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Stops the call in flight, if any. Later calls are not affected.
    /// Returns whether a call was in flight. Safe from any thread.
    pub fn interrupt(&self) -> Result<bool> {
        if self.is_closed() {
            return Err(Error::closed("module"));
        }
        Ok(self.inner.watch.interrupt())
    }

    /// Closes the module; see [`ModuleInner::close`].
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
        Ok(self.inner.last_fuel.load(SeqCst))
    }
}
