//! Limits: what a guest may use, the defaults that sandbox without any
//! configuration, and how they map onto Wasmtime's engine and store settings.

use crate::error::{Error, Result};
use std::time::Duration;
use wasmtime::{InstanceAllocationStrategy, PoolingAllocationConfig};

/// One wasm page.
pub(crate) const WASM_PAGE: u64 = 64 * 1024;
/// The largest 32-bit linear memory.
pub(crate) const MAX_MEMORY_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// Upper bound on `max_wasm_stack`: the calling thread needs this much native
/// stack plus headroom, and 8 MiB is the usual thread stack on Linux.
pub(crate) const MAX_WASM_STACK_BYTES: u64 = 4 * 1024 * 1024;
/// Upper bound on a pooled host's slots; each reserves ~4 GiB of address space.
pub(crate) const MAX_POOL_SLOTS: u32 = 4096;
/// Linear memories one module may define without pooling (a pooled host
/// allows one). Each reserves ~4 GiB of address space however small it is,
/// so this bounds a host's reservation at max_modules x 4 x 4 GiB.
pub(crate) const MAX_MEMORIES_PER_MODULE: u32 = 4;
/// Wasmtime's default, kept when a larger `max_wasm_stack` does not need more.
const DEFAULT_ASYNC_STACK_BYTES: u64 = 2 * 1024 * 1024;

/// The guest resource limits of one host. Every module loaded on the host
/// gets these; every call gets the per-call ones afresh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory per module, in bytes: the sum of all its memories.
    /// `memory.grow` past it returns -1; a limit between two multiples of
    /// 64 KiB allows the whole pages below it.
    pub memory_bytes: u64,
    /// Linear memory of all the host's modules together, in bytes; `None`
    /// for no host-wide budget. Growth past it returns -1 in the guest, and
    /// an instantiation that would pass it fails with `ResourceLimit`.
    pub host_memory_bytes: Option<u64>,
    /// Table elements per module: the sum over all its tables.
    /// `table.grow` past it returns -1.
    pub table_elements: u64,
    /// Bytes of native stack wasm may use before it traps with a stack overflow.
    pub max_wasm_stack: u64,
    /// Live modules per host; with pooling, the number of pool slots.
    pub max_modules: u32,
    /// Default deadline of a call; `None` means no timeout.
    pub exec_timeout: Option<Duration>,
    /// Default deadline of a load (compile plus start function); `None` means none.
    pub load_timeout: Option<Duration>,
    /// Compiles that may keep running after their load gave up on them (a
    /// timeout, a cancel, a close), at least 1. Cranelift cannot be stopped,
    /// so such a compile runs to its end on its own thread; while this many
    /// do, loads that need a compile fail with `InstanceLimit`.
    pub max_abandoned_compiles: u32,
    /// Fuel per call; `None` turns fuel metering off (it costs ~2x on loops).
    pub fuel: Option<u64>,
    /// Use Wasmtime's pooling allocator, with `max_modules` slots; a slot
    /// holds one memory and one table, so modules with more do not load.
    pub pooling: bool,
}

impl Default for Limits {
    /// ADR-002's "SandboxConfig with sensible limits".
    fn default() -> Limits {
        Limits {
            memory_bytes: 256 * 1024 * 1024,
            host_memory_bytes: None,
            table_elements: 10_000,
            max_wasm_stack: 512 * 1024,
            max_modules: 1_000,
            exec_timeout: None,
            load_timeout: None,
            max_abandoned_compiles: 2,
            fuel: None,
            pooling: false,
        }
    }
}

impl Limits {
    /// Checks every value, so that a bad one is reported at host creation
    /// rather than as a confusing failure later.
    pub fn validate(&self) -> Result<()> {
        if self.memory_bytes < WASM_PAGE || self.memory_bytes > MAX_MEMORY_BYTES {
            return Err(Error::invalid(format!(
                "memory limit {} is outside 64 KiB..=4 GiB",
                self.memory_bytes
            )));
        }
        if self.host_memory_bytes.is_some_and(|b| b < WASM_PAGE) {
            return Err(Error::invalid(format!(
                "host memory limit {} is below one 64 KiB page",
                self.host_memory_bytes.unwrap_or(0)
            )));
        }
        if self.table_elements == 0 || self.table_elements > u32::MAX as u64 {
            return Err(Error::invalid("table elements limit must be 1..=2^32-1"));
        }
        if self.max_wasm_stack < 16 * 1024 || self.max_wasm_stack > MAX_WASM_STACK_BYTES {
            return Err(Error::invalid(format!(
                "max wasm stack {} is outside 16 KiB..=4 MiB",
                self.max_wasm_stack
            )));
        }
        if self.max_modules == 0 {
            return Err(Error::invalid("max modules must be at least 1"));
        }
        if self.max_abandoned_compiles == 0 {
            return Err(Error::invalid(
                "max abandoned compiles must be at least 1: at 0 every compile would be refused",
            ));
        }
        if self.pooling && self.max_modules > MAX_POOL_SLOTS {
            return Err(Error::invalid(format!(
                "a pooled host has at most {MAX_POOL_SLOTS} slots, not {}",
                self.max_modules
            )));
        }
        if self.fuel == Some(0) {
            return Err(Error::invalid(
                "a fuel budget of 0 would stop every call; use None",
            ));
        }
        Ok(())
    }

    /// Applies the engine-wide parts of the limits.
    pub(crate) fn configure_engine(&self, config: &mut wasmtime::Config) {
        config.epoch_interruption(true);
        config.consume_fuel(self.fuel.is_some());
        config.max_wasm_stack(self.max_wasm_stack as usize);
        // sbx never runs wasm on async stacks, but wasmtime-wasi compiles in
        // Wasmtime's `async` feature, which requires max_wasm_stack <=
        // async_stack_size. Nothing is allocated at that size: the pool has
        // no stacks (`total_stacks(0)`) and on-demand allocates them only
        // for async calls.
        config.async_stack_size(self.max_wasm_stack.max(DEFAULT_ASYNC_STACK_BYTES) as usize);
        // Stated rather than inherited, because the limits depend on them:
        // several memories and 64-bit memories (both Wasm 3.0, on by default
        // in Wasmtime 48) count toward the one memory limit; custom page
        // sizes stay off, so every page is 64 KiB and the limiter's
        // accounting holds (see `limiter::ModuleLimiter::memory_grow_failed`).
        config.wasm_multi_memory(true);
        config.wasm_memory64(true);
        config.wasm_custom_page_sizes(false);
        if self.pooling {
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(self.pool()));
        }
    }

    /// The pool: one slot per module, each sized by the memory and table limits.
    fn pool(&self) -> PoolingAllocationConfig {
        let mut pool = PoolingAllocationConfig::default();
        let slots = self.max_modules;
        pool.total_core_instances(slots)
            .total_memories(slots)
            .total_tables(slots)
            .max_memories_per_module(1)
            .max_tables_per_module(1)
            .max_memory_size(self.memory_bytes as usize)
            .table_elements(self.table_elements as usize)
            // WASI (preview 1 adapter) never instantiates components here.
            .total_component_instances(0)
            .total_stacks(0);
        pool
    }

    /// Address space the pool reserves up front: each memory slot is the
    /// 4 GiB static reservation (which lets Cranelift drop bounds checks) plus
    /// a 32 MiB guard, and each table slot is 8 bytes per element.
    pub fn pool_reservation_bytes(&self) -> u64 {
        if !self.pooling {
            return 0;
        }
        let memory_slot = self.memory_bytes.max(MAX_MEMORY_BYTES) + 32 * 1024 * 1024;
        let table_slot = (self.table_elements * 8).next_multiple_of(4096);
        self.max_modules as u64 * (memory_slot + table_slot)
    }
}
