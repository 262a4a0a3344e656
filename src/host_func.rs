//! Host functions: imports the embedder defines on a host, for every module
//! loaded afterwards. Values cross as on the call path (`u64`, wazero's
//! encoding) on one stack: params in, results out.

use crate::deadline::CallState;
use crate::error::{Error, HostFuncError, Result, Status};
use crate::memory;
use crate::store::StoreData;
use crate::value::ValueType;
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::{FuncType, ValRaw, ValType};

/// A host function's body: it reads params from the front of `stack` and
/// writes results there. It runs on the thread of the call, while the guest waits.
pub type HostCallback =
    dyn Fn(&mut Caller<'_>, &mut [u64]) -> Result<(), HostFuncError> + Send + Sync;

/// What a host function sees of the module that called it.
pub struct Caller<'a> {
    inner: wasmtime::Caller<'a, StoreData>,
}

impl Caller<'_> {
    /// The `user_data` the module was loaded with.
    pub fn user_data(&self) -> u64 {
        self.inner.data().user_data
    }

    /// The time left before the deadline of the call (or load) in flight:
    /// `None` without one, zero once it has passed. The guest cannot be
    /// interrupted while a host function runs, so one that may block should
    /// bound its wait by this.
    pub fn time_left(&self) -> Option<Duration> {
        self.inner
            .data()
            .watch()
            .time_left_ns()
            .map(Duration::from_nanos)
    }

    fn memory(&mut self) -> Result<wasmtime::Memory> {
        match self.inner.get_export("memory") {
            Some(wasmtime::Extern::Memory(m)) => Ok(m),
            _ => Err(Error::new(
                Status::ExportNotFound,
                "the calling module exports no `memory`",
            )),
        }
    }

    /// The size of the caller's exported `memory`, in bytes.
    pub fn memory_size(&mut self) -> Result<u64> {
        let m = self.memory()?;
        Ok(m.data_size(&self.inner) as u64)
    }

    /// Copies `buf.len()` bytes at `offset` out of the caller's memory.
    pub fn memory_read(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let m = self.memory()?;
        memory::read(m.data(&self.inner), offset, buf)
    }

    /// Copies `data` into the caller's memory at `offset`.
    pub fn memory_write(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let m = self.memory()?;
        memory::write(m.data_mut(&mut self.inner), offset, data)
    }
}

fn wasm_type(t: ValueType) -> Result<ValType> {
    t.number_type().ok_or_else(|| {
        Error::invalid(format!(
            "host functions take and return i32, i64, f32 and f64, not {}",
            t.name()
        ))
    })
}

/// Defines `module.name` in `linker`, calling `callback` with a `u64` stack.
pub(crate) fn define(
    linker: &mut wasmtime::Linker<StoreData>,
    module: &str,
    name: &str,
    params: &[ValueType],
    results: &[ValueType],
    callback: Arc<HostCallback>,
) -> Result<()> {
    let ty = FuncType::new(
        linker.engine(),
        params
            .iter()
            .map(|t| wasm_type(*t))
            .collect::<Result<Vec<_>>>()?,
        results
            .iter()
            .map(|t| wasm_type(*t))
            .collect::<Result<Vec<_>>>()?,
    );
    let params: Box<[ValueType]> = params.into();
    let results: Box<[ValueType]> = results.into();
    let qualified = format!("{module}.{name}");
    let body = move |caller: wasmtime::Caller<'_, StoreData>, raw: &mut [MaybeUninit<ValRaw>]| {
        let mut inline = [0u64; 16];
        let mut spilled = Vec::new();
        let stack: &mut [u64] = if raw.len() <= inline.len() {
            &mut inline[..raw.len()]
        } else {
            spilled.resize(raw.len(), 0);
            &mut spilled
        };
        for ((slot, ty), value) in stack.iter_mut().zip(params.iter()).zip(raw.iter()) {
            // SAFETY: Wasmtime initialises the param slots of an unchecked host call.
            *slot = ty.decode(unsafe { value.assume_init_ref() });
        }
        let mut caller = Caller { inner: caller };
        callback(&mut caller, stack).map_err(|e| {
            wasmtime::Error::new(HostFuncError(format!(
                "host function `{qualified}`: {}",
                e.0
            )))
        })?;
        for ((slot, ty), value) in raw.iter_mut().zip(results.iter()).zip(stack.iter()) {
            slot.write(ty.encode(*value));
        }
        Ok(())
    };
    // SAFETY: the body reads exactly the params and writes exactly the
    // results of `ty`, with the types `ty` declares.
    unsafe { linker.func_new_unchecked(module, name, ty, body) }
        .map_err(|e| Error::invalid(format!("define {module}.{name}: {e:#}")))?;
    Ok(())
}
