//! The host: one Wasmtime engine with its limits, its compiled-module cache,
//! and the registry of the modules loaded from it.

use crate::cache::{CacheSource, ModuleCache};
use crate::call::ValueType;
use crate::deadline::{deadline_after, Cancel, Watch};
use crate::error::{Error, Result, Status};
use crate::host_func::{self, HostCallback};
use crate::limits::Limits;
use crate::module::{Module, ModuleInner, StoreData};
use crate::wasi::{WasiConfig, WasiState};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;
use wasmtime::{Engine, Linker};

/// Everything fixed at host creation.
#[derive(Clone, Debug, Default)]
pub struct HostConfig {
    /// Guest limits; see [`Limits::default`] for the sandboxing defaults.
    pub limits: Limits,
    /// Directory for the on-disk compiled-module cache; `None` for memory only.
    /// It must be trusted: its contents are run as machine code.
    pub cache_dir: Option<PathBuf>,
    /// WASI for every module, unless a load gives its own; `None` leaves
    /// WASI imports unresolved (a link error) for modules loaded without one.
    pub wasi: Option<WasiConfig>,
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
}

/// How long something may run: the host's default, no limit, or a duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Timeout {
    /// The host's configured default (`exec_timeout` or `load_timeout`).
    #[default]
    HostDefault,
    /// No deadline at all.
    Never,
    /// This long from the start of the call or load.
    After(Duration),
}

impl Timeout {
    pub(crate) fn deadline(self, host_default: Option<Duration>) -> Option<u64> {
        match self {
            Timeout::HostDefault => deadline_after(host_default),
            Timeout::Never => None,
            Timeout::After(d) => deadline_after(Some(d)),
        }
    }
}

/// A sandbox host. Cheap to clone; all clones are the same host.
/// Safe to use from many threads at once.
#[derive(Clone)]
pub struct Host {
    pub(crate) inner: Arc<HostInner>,
}

pub(crate) struct HostInner {
    pub(crate) engine: Engine,
    pub(crate) limits: Limits,
    linkers: RwLock<Linkers>,
    wasi: Option<WasiConfig>,
    cache: ModuleCache,
    registry: Mutex<Registry>,
}

/// Host functions are defined in both; modules with WASI link against the
/// second, so a module without WASI gets a link error naming the import.
struct Linkers {
    plain: Linker<StoreData>,
    wasi: Linker<StoreData>,
}

#[derive(Default)]
struct Registry {
    closed: bool,
    /// Loads that passed the module cap but have not registered yet.
    pending: usize,
    next_id: u64,
    live: HashMap<u64, Weak<ModuleInner>>,
}

impl Host {
    /// Creates a host. Fails with `InvalidArgument` for a bad limit and `Io`
    /// for a cache directory that cannot be created.
    pub fn new(config: HostConfig) -> Result<Host> {
        config.limits.validate()?;
        let mut wasm_config = wasmtime::Config::new();
        config.limits.configure_engine(&mut wasm_config);
        let engine = Engine::new(&wasm_config)
            .map_err(|e| Error::new(Status::Internal, format!("create engine: {e:#}")))?;
        let cache = ModuleCache::new(
            &engine,
            config.cache_dir.as_deref(),
            config.limits.max_abandoned_compiles,
        )?;
        let mut wasi = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut wasi, |data: &mut StoreData| {
            &mut data
                .wasi
                .as_mut()
                .expect("modules linked with WASI carry a WASI context")
                .ctx
        })
        .and_then(|()| crate::wasi::bound_blocking_calls(&mut wasi))
        .map_err(|e| Error::new(Status::Internal, format!("add WASI to the linker: {e:#}")))?;
        crate::wasi::report_every_exit(&mut wasi)?;
        let linkers = Linkers {
            plain: Linker::new(&engine),
            wasi,
        };
        Ok(Host {
            inner: Arc::new(HostInner {
                engine,
                limits: config.limits,
                linkers: RwLock::new(linkers),
                wasi: config.wasi,
                cache,
                registry: Mutex::new(Registry::default()),
            }),
        })
    }

    /// The limits this host was created with.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// A cancel token for calls and loads on this host.
    pub fn new_cancel(&self) -> Arc<Cancel> {
        Arc::new(Cancel::new(&self.inner.engine))
    }

    /// Defines the host function `module.name`, importable by every module
    /// loaded afterwards. Fails with `InvalidArgument` for a type that cannot
    /// cross as `u64` or a name already defined, `HandleClosed` after close.
    pub fn define_func(
        &self,
        module: &str,
        name: &str,
        params: &[ValueType],
        results: &[ValueType],
        callback: Arc<HostCallback>,
    ) -> Result<()> {
        if self.is_closed() {
            return Err(Error::closed("host"));
        }
        let mut linkers = self
            .inner
            .linkers
            .write()
            .unwrap_or_else(|p| p.into_inner());
        let linkers = &mut *linkers;
        // All or nothing: the WASI linker goes first because it refuses
        // everything the plain one does (the same user definitions) and
        // also WASI's own names; once it accepts, the plain one cannot fail.
        for linker in [&mut linkers.wasi, &mut linkers.plain] {
            host_func::define(linker, module, name, params, results, callback.clone())?;
        }
        Ok(())
    }

    /// Compiles (or finds in the cache) and instantiates a module; `timeout`
    /// and `cancel` bound both the compile and the start function. A compile
    /// given up on keeps running on its own thread (see
    /// [`Limits::max_abandoned_compiles`]) and is never cached.
    pub fn load(
        &self,
        name: &str,
        wasm: &[u8],
        timeout: Timeout,
        cancel: Option<&Arc<Cancel>>,
    ) -> Result<Module> {
        let options = LoadOptions {
            timeout,
            cancel: cancel.cloned(),
            ..LoadOptions::default()
        };
        self.load_with(name, wasm, &options).map(|(m, _)| m)
    }

    /// Loads a module with every per-load setting, saying where the
    /// compiled code came from.
    pub fn load_with(
        &self,
        name: &str,
        wasm: &[u8],
        options: &LoadOptions,
    ) -> Result<(Module, CacheSource)> {
        if name.trim().is_empty() {
            return Err(Error::invalid("module name is empty or whitespace"));
        }
        if options
            .cancel
            .as_ref()
            .is_some_and(|c| !c.belongs_to(&self.inner.engine))
        {
            return Err(Error::invalid("cancel token belongs to another host"));
        }
        let deadline = options.timeout.deadline(self.inner.limits.load_timeout);
        let id = self.reserve_slot()?;
        let loaded = self.instantiate(name, id, wasm, deadline, options);
        let mut registry = self.registry();
        registry.pending -= 1;
        let (module, source) = loaded?;
        if registry.closed {
            drop(registry);
            module.close();
            return Err(Error::closed("host"));
        }
        registry.live.insert(id, Arc::downgrade(&module.inner));
        Ok((module, source))
    }

    fn instantiate(
        &self,
        name: &str,
        id: u64,
        wasm: &[u8],
        deadline: Option<u64>,
        options: &LoadOptions,
    ) -> Result<(Module, CacheSource)> {
        let inner = &self.inner;
        // Before compiling: a pooled engine's compile rejects what does not
        // fit its slots with a compile error, and a refusal costs no compile.
        inner.limits.check_module(wasm)?;
        let (compiled, source) =
            inner
                .cache
                .get_or_compile(&inner.engine, wasm, deadline, options.cancel.as_deref())?;
        let wasi_config = options.wasi.as_ref().or(inner.wasi.as_ref());
        let pre = {
            let linkers = inner.linkers.read().unwrap_or_else(|p| p.into_inner());
            let linker = if wasi_config.is_some() {
                &linkers.wasi
            } else {
                &linkers.plain
            };
            linker
                .instantiate_pre(&compiled)
                .map_err(|e| Error::new(Status::LinkError, format!("link: {e:#}")))?
        };
        let wasi = wasi_config.map(WasiState::new).transpose()?;
        let watch = Watch::new(&inner.engine);
        let module = ModuleInner::instantiate(
            inner.clone(),
            name,
            id,
            &pre,
            watch,
            deadline,
            options,
            wasi,
        )?;
        Ok((
            Module {
                inner: Arc::new(module),
            },
            source,
        ))
    }

    fn reserve_slot(&self) -> Result<u64> {
        let mut registry = self.registry();
        if registry.closed {
            return Err(Error::closed("host"));
        }
        let max = self.inner.limits.max_modules as usize;
        if registry.live.len() + registry.pending >= max {
            return Err(Error::new(
                Status::InstanceLimit,
                format!("host already has {max} modules loaded (its max_modules)"),
            ));
        }
        registry.pending += 1;
        registry.next_id += 1;
        Ok(registry.next_id)
    }

    /// Called by a module when it closes, to return its slot.
    pub(crate) fn release_slot(host: &HostInner, id: u64) {
        host.registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .live
            .remove(&id);
    }

    /// Closes the host and every module loaded from it. Module handles stay
    /// valid and report `HandleClosed`. Idempotent.
    pub fn close(&self) {
        let modules: Vec<_> = {
            let mut registry = self.registry();
            registry.closed = true;
            registry.live.values().filter_map(Weak::upgrade).collect()
        };
        self.inner.cache.close();
        for module in modules {
            module.close();
        }
    }

    /// Whether [`Host::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.registry().closed
    }

    /// How many compiles abandoned by a timed-out, cancelled or closed load
    /// are still running (see [`Limits::max_abandoned_compiles`]).
    pub fn abandoned_compiles(&self) -> usize {
        self.inner.cache.abandoned_compiles()
    }

    /// How many modules are loaded and not closed.
    pub fn live_modules(&self) -> usize {
        self.registry().live.len()
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.inner
            .registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}
