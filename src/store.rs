//! The data every module's Wasmtime store carries: its limiter, the state
//! of the call in flight (read by the epoch callback and WASI sleeps), its
//! WASI state and the embedder's user data; and what a module shares with
//! its stores across resets.

use crate::deadline::{CallState, Cancel, Watch, Watched};
use crate::limiter::{MemoryAccounts, ModuleLimiter};
use crate::wasi::{WasiState, WasiStore};
use std::sync::Arc;
use wasmtime::ResourceLimiter;

/// What a module shares with its stores and with other threads: the watch
/// over its calls and its memory accounts. One allocation per module, one
/// reference per store.
pub(crate) struct ModuleShared {
    pub(crate) watch: Watch,
    pub(crate) memory: MemoryAccounts,
}

impl Watched for ModuleShared {
    fn watch(&self) -> &Watch {
        &self.watch
    }
}

pub(crate) struct StoreData {
    pub(crate) limiter: ModuleLimiter,
    pub(crate) shared: Arc<ModuleShared>,
    call_seq: u64,
    cancel: Option<Arc<Cancel>>,
    /// Boxed: most modules have none, and the store is built per instance.
    wasi: Option<Box<WasiState>>,
    pub(crate) user_data: u64,
}

pub(crate) type ModuleStore = wasmtime::Store<StoreData>;

impl StoreData {
    pub(crate) fn new(
        limiter: ModuleLimiter,
        shared: Arc<ModuleShared>,
        wasi: Option<Box<WasiState>>,
        user_data: u64,
    ) -> StoreData {
        StoreData {
            limiter,
            shared,
            call_seq: 0,
            cancel: None,
            wasi,
            user_data,
        }
    }

    /// Starts call (or load) number `seq`, stopped by `cancel` if given.
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

impl Drop for StoreData {
    fn drop(&mut self) {
        // The store and its memories are going away with this data.
        self.limiter.release(&self.shared.memory);
    }
}

impl ResourceLimiter for StoreData {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let accounts = &self.shared.memory;
        Ok(self
            .limiter
            .memory_growing(accounts, current, desired, maximum))
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limiter.memory_grow_failed(&self.shared.memory);
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.limiter.table_growing(current, desired, maximum))
    }

    fn memories(&self) -> usize {
        ModuleLimiter::MEMORIES
    }
}

impl CallState for StoreData {
    type Watched = ModuleShared;
    fn watched(&self) -> &Arc<ModuleShared> {
        &self.shared
    }
    fn call_seq(&self) -> u64 {
        self.call_seq
    }
    fn cancel(&self) -> Option<&Cancel> {
        self.cancel.as_deref()
    }
}

impl WasiStore for StoreData {
    fn wasi(&mut self) -> &mut WasiState {
        self.wasi
            .as_deref_mut()
            .expect("modules linked with WASI carry a WASI context")
    }
}
