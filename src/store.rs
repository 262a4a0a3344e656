//! The data every module's Wasmtime store carries: its limiter, the state
//! of the call in flight (read by the epoch callback and WASI sleeps), its
//! WASI state and the embedder's user data.

use crate::deadline::{CallState, Cancel, Watch};
use crate::limiter::ModuleLimiter;
use crate::wasi::{WasiState, WasiStore};
use std::sync::Arc;

pub(crate) struct StoreData {
    pub(crate) limiter: ModuleLimiter,
    pub(crate) watch: Arc<Watch>,
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
        watch: Arc<Watch>,
        wasi: Option<Box<WasiState>>,
        user_data: u64,
    ) -> StoreData {
        StoreData {
            limiter,
            watch,
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

impl CallState for StoreData {
    fn watch(&self) -> &Arc<Watch> {
        &self.watch
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
