//! The C ABI behind small owning wrappers, for the differential, stress,
//! soak and fault tests. Every `sbx_*` call of those tests is in this file,
//! so a renamed C function is adapted here once.
#![allow(dead_code)]

use sbx::capi::*;
use sbx::{Status, TrapCode};
use std::ffi::{c_void, CStr};
use std::ptr::{null, null_mut};

/// A failed C call: its status, and what its `sbx_error` said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub status: Status,
    pub trap: TrapCode,
    pub message: String,
}

/// Runs `f` with an error out-param; checks that an error is written exactly
/// when the status is not OK and that it carries the same status.
fn checked(f: impl FnOnce(*mut *mut sbx_error) -> Status) -> Result<(), Failure> {
    let mut err: *mut sbx_error = null_mut();
    let status = f(&mut err);
    if status == Status::Ok {
        assert!(err.is_null(), "an error was written on success");
        return Ok(());
    }
    assert!(!err.is_null(), "no error written for {status:?}");
    let failure = Failure {
        status: sbx_error_status(err),
        trap: sbx_error_trap_code(err),
        message: unsafe { CStr::from_ptr(sbx_error_message(err)) }
            .to_string_lossy()
            .into_owned(),
    };
    sbx_error_free(err);
    assert_eq!(failure.status, status, "{}", failure.message);
    Err(failure)
}

fn status_only(status: Status) -> Result<(), Failure> {
    match status {
        Status::Ok => Ok(()),
        status => Err(Failure {
            status,
            trap: TrapCode::None,
            message: String::new(),
        }),
    }
}

/// `sbx_config`, freed on drop.
pub struct Config(*mut sbx_config);

impl Config {
    pub fn new() -> Config {
        let ptr = sbx_config_new();
        assert!(!ptr.is_null());
        Config(ptr)
    }
    pub fn fuel(self, fuel: u64) -> Config {
        assert_eq!(sbx_config_set_fuel(self.0, fuel), Status::Ok);
        self
    }
    pub fn max_modules(self, n: u32) -> Config {
        assert_eq!(sbx_config_set_max_modules(self.0, n), Status::Ok);
        self
    }
    pub fn pooling(self, on: bool) -> Config {
        assert_eq!(sbx_config_set_pooling(self.0, on), Status::Ok);
        self
    }
    pub fn memory_limit(self, bytes: u64) -> Config {
        assert_eq!(sbx_config_set_memory_limit(self.0, bytes), Status::Ok);
        self
    }
    pub fn exec_timeout_ns(self, ns: u64) -> Config {
        assert_eq!(sbx_config_set_exec_timeout_ns(self.0, ns), Status::Ok);
        self
    }
    pub fn cache_dir(self, dir: &str) -> Config {
        assert_eq!(
            sbx_config_set_cache_dir(self.0, dir.as_ptr().cast(), dir.len()),
            Status::Ok
        );
        self
    }
    pub fn wasi(self, wasi: &Wasi) -> Config {
        assert_eq!(sbx_config_set_wasi(self.0, wasi.0), Status::Ok);
        self
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        sbx_config_free(self.0);
    }
}

/// `sbx_wasi_config`, freed on drop.
pub struct Wasi(*mut sbx_wasi_config);

impl Wasi {
    pub fn new() -> Wasi {
        let ptr = sbx_wasi_config_new();
        assert!(!ptr.is_null());
        Wasi(ptr)
    }
}

impl Drop for Wasi {
    fn drop(&mut self) {
        sbx_wasi_config_free(self.0);
    }
}

/// A host callback as the C header declares it.
pub type HostFn = extern "C" fn(*mut c_void, *mut sbx_caller, *mut u64, usize) -> i32;

/// `sbx_host`; closed by [`Host::close`] or on drop.
pub struct Host(*mut sbx_host);

// SAFETY: the header makes sbx_host safe to use from several threads.
unsafe impl Send for Host {}
unsafe impl Sync for Host {}

impl Host {
    pub fn new(config: &Config) -> Result<Host, Failure> {
        let mut host = null_mut();
        checked(|e| sbx_host_new(config.0, &mut host, e))?;
        assert!(!host.is_null());
        Ok(Host(host))
    }

    /// Defines `module.name` with the given `SBX_VALUE_TYPE_*` types and a
    /// callback without user data.
    pub fn define_func(
        &self,
        module: &str,
        name: &str,
        params: &[u8],
        results: &[u8],
        callback: HostFn,
    ) -> Result<(), Failure> {
        checked(|e| {
            sbx_host_define_func(
                self.0,
                module.as_ptr().cast(),
                module.len(),
                name.as_ptr().cast(),
                name.len(),
                params.as_ptr(),
                params.len(),
                results.as_ptr(),
                results.len(),
                Some(callback),
                null_mut(),
                None,
                e,
            )
        })
    }

    pub fn load(
        &self,
        name: &str,
        wasm: &[u8],
        timeout_ns: u64,
        cancel: Option<&Cancel>,
    ) -> Result<Module, Failure> {
        let mut module = null_mut();
        checked(|e| {
            sbx_load_module(
                self.0,
                name.as_ptr().cast(),
                name.len(),
                wasm.as_ptr(),
                wasm.len(),
                timeout_ns,
                cancel.map_or(null(), |c| c.0),
                &mut module,
                e,
            )
        })?;
        assert!(!module.is_null());
        Ok(Module(module))
    }

    /// `sbx_load_module_with` through load options carrying a timeout and
    /// a cancel token.
    pub fn load_with(
        &self,
        name: &str,
        wasm: &[u8],
        timeout_ns: u64,
        cancel: Option<&Cancel>,
    ) -> Result<Module, Failure> {
        let options = sbx_load_options_new();
        assert!(!options.is_null());
        assert_eq!(
            sbx_load_options_set_timeout_ns(options, timeout_ns),
            Status::Ok
        );
        assert_eq!(
            sbx_load_options_set_cancel(options, cancel.map_or(null(), |c| c.0)),
            Status::Ok
        );
        let mut module = null_mut();
        let loaded = checked(|e| {
            sbx_load_module_with(
                self.0,
                name.as_ptr().cast(),
                name.len(),
                wasm.as_ptr(),
                wasm.len(),
                options,
                &mut module,
                e,
            )
        });
        sbx_load_options_free(options);
        loaded?;
        assert!(!module.is_null());
        Ok(Module(module))
    }

    pub fn cancel(&self) -> Result<Cancel, Failure> {
        let mut cancel = null_mut();
        status_only(sbx_cancel_new(self.0, &mut cancel))?;
        Ok(Cancel(cancel))
    }

    /// Modules loaded and not closed. The C ABI has no such count; an
    /// `sbx_host` is a boxed [`sbx::Host`] (src/capi/castable.rs), so the
    /// test reads the Rust one.
    pub fn live_modules(&self) -> usize {
        // SAFETY: `into_handle` made the pointer from a `Box<sbx::Host>`.
        unsafe { &*self.0.cast::<sbx::Host>() }.live_modules()
    }

    /// Compiles abandoned by loads that gave up on them and still running.
    pub fn abandoned_compiles(&self) -> usize {
        // SAFETY: as in `live_modules`.
        unsafe { &*self.0.cast::<sbx::Host>() }.abandoned_compiles()
    }

    /// `sbx_close`. The caller guarantees no other thread uses the host.
    pub fn close(self) {
        let ptr = self.0;
        std::mem::forget(self);
        sbx_close(ptr);
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        sbx_close(self.0);
    }
}

/// `sbx_cancel`, freed on drop.
pub struct Cancel(*mut sbx_cancel);

// SAFETY: the header makes trigger safe from any thread; reset and free
// need exclusive access, which `&mut self` and drop give.
unsafe impl Send for Cancel {}
unsafe impl Sync for Cancel {}

impl Cancel {
    pub fn trigger(&self) -> Status {
        sbx_cancel_trigger(self.0)
    }
    pub fn reset(&mut self) -> Status {
        sbx_cancel_reset(self.0)
    }
}

impl Drop for Cancel {
    fn drop(&mut self) {
        sbx_cancel_free(self.0);
    }
}

/// An exported function: name and `SBX_VALUE_TYPE_*` params and results.
#[derive(Clone, Debug)]
pub struct Function {
    pub name: String,
    pub params: Vec<u8>,
    pub results: Vec<u8>,
}

/// `sbx_module`, freed on drop.
pub struct Module(*mut sbx_module);

// SAFETY: the header makes sbx_module safe to use from several threads;
// free happens on drop, when no other thread holds it.
unsafe impl Send for Module {}
unsafe impl Sync for Module {}

impl Module {
    /// Calls `func`, returning its results (`results_cap` slots offered).
    pub fn call(
        &self,
        func: &str,
        params: &[u64],
        results_cap: usize,
        timeout_ns: u64,
        cancel: Option<&Cancel>,
    ) -> Result<Vec<u64>, Failure> {
        let mut results = vec![0u64; results_cap];
        let mut len = usize::MAX;
        checked(|e| {
            sbx_call_with_timeout(
                self.0,
                func.as_ptr().cast(),
                func.len(),
                params.as_ptr(),
                params.len(),
                results.as_mut_ptr(),
                results.len(),
                &mut len,
                timeout_ns,
                cancel.map_or(null(), |c| c.0),
                e,
            )
        })?;
        assert!(len <= results_cap, "results_len {len} > cap {results_cap}");
        results.truncate(len);
        Ok(results)
    }

    pub fn interrupt(&self) -> Status {
        sbx_module_interrupt(self.0)
    }

    pub fn close(&self) -> Status {
        sbx_module_close(self.0)
    }

    pub fn last_call_fuel(&self) -> Result<u64, Failure> {
        let mut fuel = u64::MAX;
        status_only(sbx_module_last_call_fuel(self.0, &mut fuel))?;
        Ok(fuel)
    }

    pub fn memory_size(&self) -> Result<u64, Failure> {
        let mut size = u64::MAX;
        status_only(sbx_module_memory_size(self.0, &mut size))?;
        Ok(size)
    }

    pub fn memory_read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Failure> {
        status_only(sbx_module_memory_read(
            self.0,
            offset,
            buf.as_mut_ptr(),
            buf.len(),
        ))
    }

    pub fn memory_write(&self, offset: u64, data: &[u8]) -> Result<(), Failure> {
        status_only(sbx_module_memory_write(
            self.0,
            offset,
            data.as_ptr(),
            data.len(),
        ))
    }

    /// The exported functions, in export order.
    pub fn functions(&self) -> Vec<Function> {
        let mut count = 0;
        assert_eq!(sbx_module_function_count(self.0, &mut count), Status::Ok);
        (0..count)
            .map(|i| {
                let mut info = std::mem::MaybeUninit::<sbx_function_info>::uninit();
                assert_eq!(
                    sbx_module_function_at(self.0, i, info.as_mut_ptr()),
                    Status::Ok
                );
                // SAFETY: written on OK; the pointers live as long as the module.
                let info = unsafe { info.assume_init() };
                let bytes = |p: *const u8, n: usize| unsafe { std::slice::from_raw_parts(p, n) };
                Function {
                    name: String::from_utf8(bytes(info.name.cast(), info.name_len).to_vec())
                        .expect("export names are UTF-8"),
                    params: bytes(info.params, info.params_len).to_vec(),
                    results: bytes(info.results, info.results_len).to_vec(),
                }
            })
            .collect()
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        sbx_module_free(self.0);
    }
}

/// Reads the result of a host callback's stack, for callbacks in tests.
///
/// # Safety
/// `stack` and `len` as sbx passes them to a host callback.
pub unsafe fn stack<'a>(stack: *mut u64, len: usize) -> &'a mut [u64] {
    if len == 0 {
        return &mut [];
    }
    unsafe { std::slice::from_raw_parts_mut(stack, len) }
}

/// `sbx_caller_memory_size` for a callback.
pub fn caller_memory_size(caller: *mut sbx_caller) -> Result<u64, Failure> {
    let mut size = u64::MAX;
    status_only(sbx_caller_memory_size(caller, &mut size))?;
    Ok(size)
}
