//! What all of a host's modules share, and all that a module needs of its
//! host: the engine, the limits, the registry of live modules and the
//! host-wide memory budget.

use crate::limiter::HostBudget;
use crate::limits::Limits;
use crate::registry::Registry;
use crate::stats::HostStats;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use wasmtime::Engine;

pub(crate) struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) limits: Limits,
    pub(crate) registry: Arc<Registry>,
    pub(crate) budget: Arc<HostBudget>,
    /// Compiled modules alive (not closed or dropped).
    pub(crate) compiled: AtomicU64,
}

impl Runtime {
    pub(crate) fn new(engine: Engine, limits: Limits) -> Runtime {
        Runtime {
            registry: Arc::new(Registry::new(limits.max_modules)),
            budget: Arc::new(HostBudget::new(&limits)),
            compiled: AtomicU64::new(0),
            engine,
            limits,
        }
    }

    pub(crate) fn stats(&self) -> HostStats {
        HostStats {
            live_modules: self.registry.live() as u64,
            compiled_modules: self.compiled.load(Relaxed),
            pooled_instances: self
                .engine
                .pooling_allocator_metrics()
                .map_or(0, |pool| pool.core_instances()),
            memory_bytes: self.budget.meter.current(),
            memory_peak_bytes: self.budget.meter.peak(),
            memory_limit_bytes: self.limits.host_memory_bytes.unwrap_or(0),
        }
    }
}
