//! A compiled module: compiled (or found in the cache) once, linked once
//! per WASI choice, then instantiated as often as needed with no hashing,
//! compiling or linking on the way.

use crate::error::{Error, Result};
use crate::exports::ExportTable;
use crate::linkers::Linkers;
use crate::module::{Blueprint, LoadOptions, Module};
use crate::runtime::Runtime;
use crate::store::StoreData;
use crate::value::Signature;
use crate::wasi::WasiConfig;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, OnceLock, RwLock};
use wasmtime::InstancePre;

/// A compiled module. Cheap to clone; all clones are the same compiled
/// module. Safe to use from many threads at once.
#[derive(Clone)]
pub struct CompiledModule {
    inner: Arc<Compiled>,
}

struct Compiled {
    runtime: Arc<Runtime>,
    linkers: Arc<RwLock<Linkers>>,
    module: wasmtime::Module,
    exports: Arc<ExportTable>,
    /// Whether instantiating may run code: startup code (see
    /// `ModuleShape::startup`) or `_initialize`.
    runs_code: bool,
    /// The host's WASI world, for instances loaded without their own.
    host_wasi: Option<WasiConfig>,
    /// Linked without WASI (0) and with it (1), each at first use.
    linked: [OnceLock<Arc<Blueprint>>; 2],
    closed: AtomicBool,
}

impl CompiledModule {
    pub(crate) fn new(
        runtime: Arc<Runtime>,
        linkers: Arc<RwLock<Linkers>>,
        module: wasmtime::Module,
        startup: bool,
        host_wasi: Option<WasiConfig>,
    ) -> CompiledModule {
        runtime.compiled.fetch_add(1, Relaxed);
        let exports = Arc::new(ExportTable::new(&module));
        CompiledModule {
            inner: Arc::new(Compiled {
                runs_code: startup || exports.has_initialize(),
                exports,
                runtime,
                linkers,
                module,
                host_wasi,
                linked: [OnceLock::new(), OnceLock::new()],
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// Fails with `CompileError` for a module no instantiation could start
    /// (see [`ExportTable::check_initialize`]).
    pub(crate) fn check_instantiable(&self) -> Result<()> {
        self.inner.exports.check_initialize()
    }

    /// The exported functions with their signatures, in export order.
    pub fn exported_functions(&self) -> Vec<(String, Signature)> {
        self.inner.exports.functions().to_vec()
    }

    /// Makes a new module from this compiled module; `options.timeout` and
    /// `options.cancel` bound its start function. Its imports are resolved
    /// at the first instantiation with (or without) WASI, against the host
    /// functions defined by then.
    pub fn instantiate(&self, name: &str, options: &LoadOptions) -> Result<Module> {
        let deadline = options
            .timeout
            .deadline(self.inner.runtime.limits.load_timeout);
        self.instantiate_until(name, options, deadline)
    }

    /// [`CompiledModule::instantiate`] with the deadline already counting
    /// (a load's, which began with the compile).
    pub(crate) fn instantiate_until(
        &self,
        name: &str,
        options: &LoadOptions,
        deadline: Option<u64>,
    ) -> Result<Module> {
        let inner = &*self.inner;
        if self.is_closed() {
            return Err(Error::closed("compiled module"));
        }
        let wasi = options.wasi.as_ref().or(inner.host_wasi.as_ref());
        let blueprint = self.blueprint(wasi.is_some())?;
        Module::instantiate(blueprint, name, options, wasi.cloned(), deadline)
    }

    fn blueprint(&self, with_wasi: bool) -> Result<Arc<Blueprint>> {
        let inner = &*self.inner;
        let cell = &inner.linked[with_wasi as usize];
        if let Some(blueprint) = cell.get() {
            return Ok(blueprint.clone());
        }
        // A failure is not kept: a host function defined later may fix it.
        let pre: InstancePre<StoreData> = inner
            .linkers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .link(&inner.module, with_wasi)?;
        let blueprint = cell.get_or_init(|| {
            Arc::new(Blueprint {
                runtime: inner.runtime.clone(),
                pre,
                exports: inner.exports.clone(),
                runs_code: inner.runs_code,
            })
        });
        Ok(blueprint.clone())
    }

    /// Closes the compiled module: later instantiations fail with
    /// `HandleClosed`; modules already made keep working. Idempotent.
    pub fn close(&self) {
        if !self.inner.closed.swap(true, SeqCst) {
            self.inner.runtime.compiled.fetch_sub(1, Relaxed);
        }
    }

    /// Whether [`CompiledModule::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(SeqCst)
    }
}

impl Drop for Compiled {
    fn drop(&mut self) {
        if !self.closed.load(SeqCst) {
            self.runtime.compiled.fetch_sub(1, Relaxed);
        }
    }
}
