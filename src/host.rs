//! The host: one Wasmtime engine with its limits, its compiled-module
//! cache, its host functions, and the modules loaded from it.

use crate::cache::{CacheSource, ModuleCache};
use crate::compiled::CompiledModule;
use crate::deadline::{Cancel, Timeout};
use crate::error::{Error, Result, Status};
use crate::host_func::HostCallback;
use crate::limits::Limits;
use crate::linkers::Linkers;
use crate::module::{self, LoadOptions, Module};
use crate::runtime::Runtime;
use crate::shape::ModuleShape;
use crate::stats::HostStats;
use crate::value::ValueType;
use crate::wasi::WasiConfig;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use wasmtime::Engine;

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

/// A sandbox host. Cheap to clone; all clones are the same host.
/// Safe to use from many threads at once.
#[derive(Clone)]
pub struct Host {
    inner: Arc<HostInner>,
}

struct HostInner {
    runtime: Arc<Runtime>,
    linkers: Arc<RwLock<Linkers>>,
    wasi: Option<WasiConfig>,
    cache: ModuleCache,
}

/// Classifies a failure to create the engine. The settings are validated,
/// so with pooling on, the expected cause is the OS refusing the pool's
/// up-front reservation (an address-space limit, overcommit off): a
/// resource the process lacks, as when a load cannot map a memory.
/// Anything else is a bug in sbx.
fn engine_error(e: wasmtime::Error, pooling: bool) -> Error {
    let status = if pooling {
        Status::ResourceLimit
    } else {
        Status::Internal
    };
    Error::new(status, format!("create engine: {e:#}"))
}

impl Host {
    /// Creates a host. Fails with `InvalidArgument` for a bad limit,
    /// `ResourceLimit` when the OS refuses the pool's reservation and `Io`
    /// for a cache directory that cannot be created.
    pub fn new(config: HostConfig) -> Result<Host> {
        config.limits.validate()?;
        crate::clock::init();
        let mut wasm_config = wasmtime::Config::new();
        config.limits.configure_engine(&mut wasm_config);
        let engine =
            Engine::new(&wasm_config).map_err(|e| engine_error(e, config.limits.pooling))?;
        let cache = ModuleCache::new(
            &engine,
            config.cache_dir.as_deref(),
            config.limits.max_abandoned_compiles,
        )?;
        let linkers = Linkers::new(&engine)?;
        Ok(Host {
            inner: Arc::new(HostInner {
                runtime: Arc::new(Runtime::new(engine, config.limits)),
                linkers: Arc::new(RwLock::new(linkers)),
                wasi: config.wasi,
                cache,
            }),
        })
    }

    /// The limits this host was created with.
    pub fn limits(&self) -> &Limits {
        &self.inner.runtime.limits
    }

    /// A cancel token for calls and loads on this host.
    pub fn new_cancel(&self) -> Arc<Cancel> {
        Arc::new(Cancel::new(&self.inner.runtime.engine))
    }

    /// Defines the host function `module.name`, importable by every module
    /// loaded afterwards. Fails with `InvalidArgument` for a type that cannot
    /// cross as `u64` or a name already defined (nothing is defined then),
    /// `HandleClosed` after close.
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
        self.inner
            .linkers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .define(module, name, params, results, callback)
    }

    /// Compiles `wasm` (or finds it in the cache) once, for instantiating
    /// many times. `timeout` (the host's load timeout by default) and
    /// `cancel` bound the compile; a compile given up on keeps running on
    /// its own thread (see [`Limits::max_abandoned_compiles`]) and is never
    /// cached.
    pub fn compile(
        &self,
        wasm: &[u8],
        timeout: Timeout,
        cancel: Option<&Arc<Cancel>>,
    ) -> Result<(CompiledModule, CacheSource)> {
        let deadline = timeout.deadline(self.limits().load_timeout);
        self.compile_until(wasm, deadline, cancel)
    }

    fn compile_until(
        &self,
        wasm: &[u8],
        deadline: Option<u64>,
        cancel: Option<&Arc<Cancel>>,
    ) -> Result<(CompiledModule, CacheSource)> {
        let inner = &*self.inner;
        let runtime = &inner.runtime;
        if self.is_closed() {
            return Err(Error::closed("host"));
        }
        module::check_cancel(runtime, cancel)?;
        // Before compiling: a pooled engine's compile rejects what does not
        // fit its slots with a compile error, and a refusal costs no compile.
        let shape = ModuleShape::check(wasm, &runtime.limits)?;
        let (compiled, source) =
            inner
                .cache
                .get_or_compile(&runtime.engine, wasm, deadline, cancel.map(|c| &**c))?;
        let compiled = CompiledModule::new(
            runtime.clone(),
            inner.linkers.clone(),
            compiled,
            shape.is_none_or(|shape| shape.startup),
            inner.wasi.clone(),
        );
        compiled.check_instantiable()?;
        Ok((compiled, source))
    }

    /// Compiles (or finds in the cache) and instantiates a module; `timeout`
    /// and `cancel` bound both the compile and the start function.
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
    /// compiled code came from: [`Host::compile`] then
    /// [`CompiledModule::instantiate`] under one deadline.
    pub fn load_with(
        &self,
        name: &str,
        wasm: &[u8],
        options: &LoadOptions,
    ) -> Result<(Module, CacheSource)> {
        // Argument checks before the capacity check: a bad call is a bad
        // call whether or not the host is full.
        module::check_name(name)?;
        module::check_cancel(&self.inner.runtime, options.cancel.as_ref())?;
        self.inner.runtime.registry.check_room()?;
        let deadline = options.timeout.deadline(self.limits().load_timeout);
        let (compiled, source) = self.compile_until(wasm, deadline, options.cancel.as_ref())?;
        let module = compiled.instantiate_until(name, options, deadline)?;
        compiled.close();
        Ok((module, source))
    }

    /// Closes the host and every module loaded from it. Module handles stay
    /// valid and report `HandleClosed`. Idempotent.
    pub fn close(&self) {
        let modules = self.inner.runtime.registry.close();
        self.inner.cache.close();
        for module in modules {
            module.close();
        }
    }

    /// Whether [`Host::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.runtime.registry.is_closed()
    }

    /// How many compiles abandoned by a timed-out, cancelled or closed load
    /// are still running (see [`Limits::max_abandoned_compiles`]).
    pub fn abandoned_compiles(&self) -> usize {
        self.inner.cache.abandoned_compiles()
    }

    /// How many modules are loaded and not closed, loads in flight included.
    pub fn live_modules(&self) -> usize {
        self.inner.runtime.registry.live()
    }

    /// What the host holds now. Lock-free but for the module count.
    pub fn stats(&self) -> HostStats {
        self.inner.runtime.stats()
    }
}
