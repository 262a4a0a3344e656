//! What every fuzz target shares: the C ABI called exactly as C would call
//! it, wrapped with the oracles of issue 9. Every call into `sbx::capi`
//! lives in this file, so a renamed C function is adapted here only.
//!
//! Oracles, checked on every call:
//! - the status is one the function's comment in include/sbx.h documents,
//!   and never SBX_STATUS_INTERNAL;
//! - out-params are untouched on failure (they are pre-filled with canaries)
//!   and the error out-param is untouched on success;
//! - an error's status matches the call's, its message is one line, its
//!   trap code is NONE unless the status is TRAP, and it has an exit code
//!   exactly when the status is EXIT.

use sbx::capi::*;
use std::ffi::{c_void, CStr};
use std::path::{Path, PathBuf};
use std::ptr::{null, null_mut};

pub use sbx::capi::{sbx_caller, sbx_cancel, sbx_host, sbx_module};
pub use sbx::{Status, TrapCode};

/// A pointer no sbx function would write: pre-fills pointer out-params.
const CANARY_PTR: usize = 0x5b5_5b50;
/// Pre-fills integer out-params and result buffers.
pub const CANARY: u64 = 0xca11_ab1e_dead_beef;

/// `SBX_TIMEOUT_NONE`.
pub const TIMEOUT_NONE: u64 = u64::MAX;

use Status::*;

/// The documented statuses of each function (include/sbx.h), without
/// INTERNAL, which `check` refuses everywhere.
pub mod documented {
    use super::Status::{self, *};
    pub const HOST_NEW: &[Status] = &[Ok, InvalidArgument, Io, ResourceLimit];
    pub const LOAD: &[Status] = &[
        Ok,
        InvalidArgument,
        HandleClosed,
        CompileError,
        LinkError,
        InstanceLimit,
        ResourceLimit,
        Io,
        Timeout,
        Interrupted,
        FuelExhausted,
        Trap,
        Exit,
        HostError,
    ];
    pub const CALL: &[Status] = &[
        Ok,
        InvalidArgument,
        HandleClosed,
        ExportNotFound,
        SignatureMismatch,
        Timeout,
        Interrupted,
        FuelExhausted,
        Trap,
        Exit,
        HostError,
    ];
    pub const HANDLE_OP: &[Status] = &[Ok, InvalidArgument, HandleClosed];
    pub const CLOSE: &[Status] = &[Ok];
    pub const DESCRIBE: &[Status] = &[Ok, InvalidArgument];
    pub const MEMORY_SIZE: &[Status] = &[Ok, InvalidArgument, HandleClosed, ExportNotFound];
    pub const MEMORY_ACCESS: &[Status] = &[
        Ok,
        InvalidArgument,
        OutOfBounds,
        HandleClosed,
        ExportNotFound,
    ];
    pub const CALLER_MEMORY: &[Status] = &[Ok, InvalidArgument, OutOfBounds, ExportNotFound];
    pub const SETTER: &[Status] = &[Ok, InvalidArgument];
}

/// Panics unless `status` is one of `allowed` (and so never INTERNAL).
#[track_caller]
pub fn check(function: &str, status: Status, allowed: &[Status]) {
    assert!(
        status != Internal,
        "{function} returned SBX_STATUS_INTERNAL"
    );
    assert!(
        allowed.contains(&status),
        "{function} returned {status:?}, not one of its documented {allowed:?}"
    );
}

/// A failure's status and its error's message and trap code.
#[derive(Debug, Clone)]
pub struct Failure {
    pub status: Status,
    pub message: String,
    pub trap: TrapCode,
}

fn canary_ptr<T>() -> *mut T {
    CANARY_PTR as *mut T
}

/// Checks the error a failed call wrote and frees it.
#[track_caller]
fn take_error(function: &str, status: Status, err: *mut sbx_error) -> Failure {
    assert!(
        !err.is_null() && err != canary_ptr(),
        "{function} failed with {status:?} but wrote no error"
    );
    assert_eq!(sbx_error_status(err), status, "{function}: error status");
    let message = c_string(sbx_error_message(err)).expect("message of a non-NULL error");
    assert!(
        !message.contains(['\n', '\r']),
        "{function}: message is not one line: {message:?}"
    );
    assert!(c_string(sbx_error_backtrace(err)).is_some());
    let trap = sbx_error_trap_code(err);
    if status != Trap {
        assert_eq!(trap, TrapCode::None, "{function}: trap code for {status:?}");
    } else {
        assert_ne!(trap, TrapCode::None, "{function}: a trap without a code");
    }
    let mut code = 0x5b5_i32;
    let exit = sbx_error_exit_code(err, &mut code);
    if status == Exit {
        assert_eq!(exit, Ok);
    } else {
        assert_eq!(exit, InvalidArgument);
        assert_eq!(code, 0x5b5, "exit code written on failure");
    }
    sbx_error_free(err);
    Failure {
        status,
        message,
        trap,
    }
}

/// Runs `f` with an error out-param pre-filled with a canary, checks the
/// status against `allowed` and the error against the status.
#[track_caller]
fn with_error(
    function: &str,
    allowed: &[Status],
    f: impl FnOnce(*mut *mut sbx_error) -> Status,
) -> Result<(), Failure> {
    let mut err: *mut sbx_error = canary_ptr();
    let status = f(&mut err);
    check(function, status, allowed);
    if status == Ok {
        assert_eq!(err, canary_ptr(), "{function}: error written on success");
        return Result::Ok(());
    }
    Err(take_error(function, status, err))
}

fn c_string(ptr: *const std::ffi::c_char) -> Option<String> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: sbx returns NUL-terminated strings valid while their object lives.
    Some(
        unsafe { CStr::from_ptr(ptr) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// The NULL-argument checks every error accessor documents.
pub fn check_null_error_accessors() {
    assert_eq!(sbx_error_status(null()), InvalidArgument);
    assert!(sbx_error_message(null()).is_null());
    assert!(sbx_error_backtrace(null()).is_null());
    assert_eq!(sbx_error_trap_code(null()), TrapCode::None);
    let mut code = 7;
    assert_eq!(sbx_error_exit_code(null(), &mut code), InvalidArgument);
    assert_eq!(code, 7);
    sbx_error_free(null_mut());
}

/// Every status name is static and never NULL, known or not.
pub fn check_names(status: u32, trap: u8) {
    assert!(c_string(sbx_status_name(status)).is_some());
    assert!(c_string(sbx_trap_code_name(trap)).is_some());
}

/// Host settings the targets choose from.
#[derive(Clone, Debug, Default)]
pub struct HostSettings {
    pub fuel: u64,
    pub exec_timeout_ns: u64,
    pub load_timeout_ns: u64,
    pub memory_bytes: Option<u64>,
    pub max_modules: Option<u32>,
    pub max_wasm_stack: Option<u64>,
    pub pooling: bool,
    pub cache_dir: Option<PathBuf>,
}

/// Creates a host, panicking if a setting the header accepts is refused.
pub fn host_new(settings: &HostSettings) -> *mut sbx_host {
    let config = sbx_config_new();
    assert!(!config.is_null());
    let set = |name: &str, status: Status| check(name, status, &[Ok]);
    set("fuel", sbx_config_set_fuel(config, settings.fuel));
    set(
        "exec timeout",
        sbx_config_set_exec_timeout_ns(config, settings.exec_timeout_ns),
    );
    set(
        "load timeout",
        sbx_config_set_load_timeout_ns(config, settings.load_timeout_ns),
    );
    if let Some(bytes) = settings.memory_bytes {
        set("memory", sbx_config_set_memory_limit(config, bytes));
    }
    if let Some(n) = settings.max_modules {
        set("max modules", sbx_config_set_max_modules(config, n));
    }
    if let Some(bytes) = settings.max_wasm_stack {
        set("stack", sbx_config_set_max_wasm_stack(config, bytes));
    }
    set("pooling", sbx_config_set_pooling(config, settings.pooling));
    if let Some(dir) = &settings.cache_dir {
        let dir = dir.to_str().expect("UTF-8 cache dir");
        set(
            "cache dir",
            sbx_config_set_cache_dir(config, dir.as_ptr().cast(), dir.len()),
        );
    }
    let mut host: *mut sbx_host = canary_ptr();
    let result = with_error("sbx_host_new", documented::HOST_NEW, |e| {
        sbx_host_new(config, &mut host, e)
    });
    sbx_config_free(config);
    if let Err(f) = result {
        panic!("sbx_host_new: {f:?}");
    }
    assert!(!host.is_null() && host != canary_ptr());
    host
}

/// `sbx_close` (NULL is a no-op).
pub fn host_close(host: *mut sbx_host) {
    sbx_close(host);
}

/// Checks the NULL cases of the host-level functions.
pub fn check_null_host() {
    sbx_close(null_mut());
    let mut cancel: *mut sbx_cancel = canary_ptr();
    assert_eq!(sbx_cancel_new(null(), &mut cancel), InvalidArgument);
    assert_eq!(cancel, canary_ptr());
    assert_eq!(sbx_cancel_trigger(null()), InvalidArgument);
    assert_eq!(sbx_cancel_reset(null_mut()), InvalidArgument);
    sbx_cancel_free(null_mut());
    let wasm = b"\0asm\x01\0\0\0";
    let mut module: *mut sbx_module = canary_ptr();
    let r = with_error("sbx_load_module", &[InvalidArgument], |e| {
        sbx_load_module(
            null(),
            b"m".as_ptr().cast(),
            1,
            wasm.as_ptr(),
            8,
            0,
            null(),
            &mut module,
            e,
        )
    });
    assert!(r.is_err());
    assert_eq!(module, canary_ptr());
    // No out-param: INVALID_ARGUMENT, and no host leaks.
    let r = with_error("sbx_host_new", &[InvalidArgument], |e| {
        sbx_host_new(null(), null_mut(), e)
    });
    assert!(r.is_err());
}

/// A WASI config built through the C API (freed on drop).
#[derive(Debug)]
pub struct Wasi(*mut sbx_wasi_config);

impl Wasi {
    pub fn new() -> Wasi {
        let c = sbx_wasi_config_new();
        assert!(!c.is_null());
        Wasi(c)
    }

    /// Adds a preopen; returns the status (OK or INVALID_ARGUMENT).
    pub fn preopen(&mut self, host_path: &Path, guest_path: &str, writable: bool) -> Status {
        let host_path = host_path.to_str().expect("UTF-8 path");
        let s = sbx_wasi_config_add_preopen_dir(
            self.0,
            host_path.as_ptr().cast(),
            host_path.len(),
            guest_path.as_ptr().cast(),
            guest_path.len(),
            writable,
        );
        check("sbx_wasi_config_add_preopen_dir", s, documented::SETTER);
        s
    }
}

impl Default for Wasi {
    fn default() -> Self {
        Wasi::new()
    }
}

impl Drop for Wasi {
    fn drop(&mut self) {
        sbx_wasi_config_free(self.0);
    }
}

/// Options of one load.
#[derive(Default)]
pub struct Load<'a> {
    pub timeout_ns: u64,
    pub cancel: *const sbx_cancel,
    /// Goes through `sbx_load_module_with` when set (or when `user_data` is).
    pub wasi: Option<&'a Wasi>,
    pub user_data: Option<u64>,
}

/// Loads `wasm`; on failure checks that `module_out` was not written.
#[track_caller]
pub fn load(
    host: *const sbx_host,
    name: &[u8],
    wasm: &[u8],
    opts: &Load,
) -> Result<*mut sbx_module, Failure> {
    let mut module: *mut sbx_module = canary_ptr();
    let result = if opts.wasi.is_some() || opts.user_data.is_some() {
        let o = sbx_load_options_new();
        assert!(!o.is_null());
        check(
            "timeout",
            sbx_load_options_set_timeout_ns(o, opts.timeout_ns),
            &[Ok],
        );
        check("cancel", sbx_load_options_set_cancel(o, opts.cancel), &[Ok]);
        if let Some(w) = opts.wasi {
            check("wasi", sbx_load_options_set_wasi(o, w.0), &[Ok]);
        }
        if let Some(u) = opts.user_data {
            check("user data", sbx_load_options_set_user_data(o, u), &[Ok]);
        }
        let r = with_error("sbx_load_module_with", documented::LOAD, |e| {
            sbx_load_module_with(
                host,
                name.as_ptr().cast(),
                name.len(),
                wasm.as_ptr(),
                wasm.len(),
                o,
                &mut module,
                e,
            )
        });
        sbx_load_options_free(o);
        r
    } else {
        with_error("sbx_load_module", documented::LOAD, |e| {
            sbx_load_module(
                host,
                name.as_ptr().cast(),
                name.len(),
                wasm.as_ptr(),
                wasm.len(),
                opts.timeout_ns,
                opts.cancel,
                &mut module,
                e,
            )
        })
    };
    match result {
        Result::Ok(()) => {
            assert!(!module.is_null() && module != canary_ptr());
            Result::Ok(module)
        }
        Err(f) => {
            assert_eq!(module, canary_ptr(), "module_out written on failure");
            Err(f)
        }
    }
}

/// One call: the results on success. On failure the result buffer and
/// the count out-param must be untouched.
#[track_caller]
pub fn call(
    module: *const sbx_module,
    func: &[u8],
    params: &[u64],
    results_cap: usize,
    timeout_ns: u64,
    cancel: *const sbx_cancel,
) -> Result<Vec<u64>, Failure> {
    let mut results = vec![CANARY; results_cap];
    let mut len = CANARY as usize;
    let r = with_error("sbx_call_with_timeout", documented::CALL, |e| {
        sbx_call_with_timeout(
            module,
            func.as_ptr().cast(),
            func.len(),
            params.as_ptr(),
            params.len(),
            results.as_mut_ptr(),
            results_cap,
            &mut len,
            timeout_ns,
            cancel,
            e,
        )
    });
    match r {
        Result::Ok(()) => {
            assert!(
                len <= results_cap,
                "{len} results for a capacity of {results_cap}"
            );
            assert!(
                results[len..].iter().all(|&v| v == CANARY),
                "results written past the count"
            );
            results.truncate(len);
            Result::Ok(results)
        }
        Err(f) => {
            assert_eq!(len, CANARY as usize, "results_len_out written on failure");
            assert!(
                results.iter().all(|&v| v == CANARY),
                "results written on failure ({:?})",
                f.status
            );
            Err(f)
        }
    }
}

/// A call with a NULL `func` and a length: INVALID_ARGUMENT, untouched outs.
pub fn call_null_name(module: *const sbx_module, len: usize) -> Status {
    let mut results = [CANARY; 2];
    let mut n = CANARY as usize;
    let r = with_error("sbx_call_with_timeout", documented::CALL, |e| {
        sbx_call_with_timeout(
            module,
            null(),
            len,
            null(),
            0,
            results.as_mut_ptr(),
            2,
            &mut n,
            0,
            null(),
            e,
        )
    });
    let status = r.err().map_or(Ok, |f| f.status);
    if status != Ok {
        assert_eq!(n, CANARY as usize);
        assert_eq!(results, [CANARY; 2]);
    }
    status
}

#[track_caller]
pub fn interrupt(module: *const sbx_module) -> Status {
    let s = sbx_module_interrupt(module);
    check("sbx_module_interrupt", s, documented::HANDLE_OP);
    s
}

#[track_caller]
pub fn module_close(module: *const sbx_module) {
    check(
        "sbx_module_close",
        sbx_module_close(module),
        documented::CLOSE,
    );
}

/// Frees a module handle; it must not be used again.
pub fn module_free(module: *mut sbx_module) {
    sbx_module_free(module);
}

#[track_caller]
pub fn last_call_fuel(module: *const sbx_module) -> Result<u64, Status> {
    let mut fuel = CANARY;
    let s = sbx_module_last_call_fuel(module, &mut fuel);
    check("sbx_module_last_call_fuel", s, documented::HANDLE_OP);
    if s == Ok {
        Result::Ok(fuel)
    } else {
        assert_eq!(fuel, CANARY);
        Err(s)
    }
}

/// One exported function as `sbx_module_function_at` describes it.
#[derive(Clone, Debug)]
pub struct FuncInfo {
    pub name: Vec<u8>,
    pub params: Vec<u8>,
    pub results: Vec<u8>,
}

impl FuncInfo {
    /// Whether every type crosses as a `uint64_t` (i32, i64, f32, f64).
    pub fn numeric(&self) -> bool {
        self.params.iter().chain(&self.results).all(|&t| t <= 3)
    }
}

/// The module's name and exports; these work on a closed module too.
#[track_caller]
pub fn describe(module: *const sbx_module) -> (Vec<u8>, Vec<FuncInfo>) {
    let mut name: *const std::ffi::c_char = canary_ptr();
    let mut name_len = CANARY as usize;
    check(
        "sbx_module_name",
        sbx_module_name(module, &mut name, &mut name_len),
        &[Ok],
    );
    // SAFETY: borrowed from the module, `name_len` bytes plus a NUL.
    let name = unsafe { std::slice::from_raw_parts(name.cast::<u8>(), name_len + 1) };
    assert_eq!(name[name_len], 0, "module name not NUL-terminated");
    let name = name[..name_len].to_vec();
    let mut count = CANARY as usize;
    check(
        "sbx_module_function_count",
        sbx_module_function_count(module, &mut count),
        &[Ok],
    );
    let mut funcs = Vec::with_capacity(count);
    for i in 0..count {
        let mut info = std::mem::MaybeUninit::<sbx_function_info>::uninit();
        check(
            "sbx_module_function_at",
            sbx_module_function_at(module, i, info.as_mut_ptr()),
            &[Ok],
        );
        // SAFETY: written on OK.
        let info = unsafe { info.assume_init() };
        // SAFETY: pointers borrowed from the module, with their lengths.
        let (name, params, results) = unsafe {
            (
                std::slice::from_raw_parts(info.name.cast::<u8>(), info.name_len + 1),
                slice_or_empty(info.params, info.params_len),
                slice_or_empty(info.results, info.results_len),
            )
        };
        assert_eq!(name[info.name_len], 0, "export name not NUL-terminated");
        assert!(
            params.iter().chain(results).all(|&t| t <= 7),
            "unknown value type"
        );
        funcs.push(FuncInfo {
            name: name[..info.name_len].to_vec(),
            params: params.to_vec(),
            results: results.to_vec(),
        });
    }
    // One past the end: INVALID_ARGUMENT, and the out-param untouched.
    let mut info = [0xa5u8; std::mem::size_of::<sbx_function_info>()];
    let s = sbx_module_function_at(module, count, info.as_mut_ptr().cast());
    check("sbx_module_function_at", s, &[InvalidArgument]);
    assert!(info.iter().all(|&b| b == 0xa5));
    (name, funcs)
}

unsafe fn slice_or_empty<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(ptr, len)
    }
}

#[track_caller]
pub fn memory_size(module: *const sbx_module) -> Result<u64, Status> {
    let mut size = CANARY;
    let s = sbx_module_memory_size(module, &mut size);
    check("sbx_module_memory_size", s, documented::MEMORY_SIZE);
    if s == Ok {
        Result::Ok(size)
    } else {
        assert_eq!(size, CANARY);
        Err(s)
    }
}

/// Reads `len` bytes at `offset`; on failure the buffer is untouched.
#[track_caller]
pub fn memory_read(module: *const sbx_module, offset: u64, len: usize) -> Result<Vec<u8>, Status> {
    let mut buf = vec![0xa5u8; len];
    let s = sbx_module_memory_read(module, offset, buf.as_mut_ptr(), len);
    check("sbx_module_memory_read", s, documented::MEMORY_ACCESS);
    if s == Ok {
        Result::Ok(buf)
    } else {
        assert!(buf.iter().all(|&b| b == 0xa5), "buffer written on failure");
        Err(s)
    }
}

#[track_caller]
pub fn memory_write(module: *const sbx_module, offset: u64, data: &[u8]) -> Status {
    let s = sbx_module_memory_write(module, offset, data.as_ptr(), data.len());
    check("sbx_module_memory_write", s, documented::MEMORY_ACCESS);
    s
}

/// The NULL-pointer cases of the module functions: each INVALID_ARGUMENT.
pub fn check_null_module_args(module: *const sbx_module) {
    assert_eq!(sbx_module_interrupt(null()), InvalidArgument);
    assert_eq!(sbx_module_close(null()), Ok);
    sbx_module_free(null_mut());
    assert_eq!(
        sbx_module_last_call_fuel(module, null_mut()),
        InvalidArgument
    );
    assert_eq!(
        sbx_module_name(module, null_mut(), null_mut()),
        InvalidArgument
    );
    assert_eq!(
        sbx_module_function_count(module, null_mut()),
        InvalidArgument
    );
    assert_eq!(
        sbx_module_function_at(module, 0, null_mut()),
        InvalidArgument
    );
    assert_eq!(sbx_module_memory_size(module, null_mut()), InvalidArgument);
    assert_eq!(
        sbx_module_memory_read(module, 0, null_mut(), 1),
        InvalidArgument
    );
    assert_eq!(
        sbx_module_memory_write(module, 0, null(), 1),
        InvalidArgument
    );
    let mut n = CANARY as usize;
    assert_eq!(sbx_module_function_count(null(), &mut n), InvalidArgument);
    assert_eq!(n, CANARY as usize);
}

pub fn cancel_new(host: *const sbx_host) -> Result<*mut sbx_cancel, Status> {
    let mut c: *mut sbx_cancel = canary_ptr();
    let s = sbx_cancel_new(host, &mut c);
    check("sbx_cancel_new", s, documented::HANDLE_OP);
    if s == Ok {
        assert!(!c.is_null() && c != canary_ptr());
        Result::Ok(c)
    } else {
        assert_eq!(c, canary_ptr());
        Err(s)
    }
}

pub fn cancel_trigger(c: *const sbx_cancel) {
    check("sbx_cancel_trigger", sbx_cancel_trigger(c), &[Ok]);
}

pub fn cancel_reset(c: *mut sbx_cancel) {
    check("sbx_cancel_reset", sbx_cancel_reset(c), &[Ok]);
}

pub fn cancel_free(c: *mut sbx_cancel) {
    sbx_cancel_free(c);
}

/// A host function callback: `stack` holds the params, then the results.
pub type HostCallback = extern "C" fn(*mut c_void, *mut sbx_caller, *mut u64, usize) -> i32;

/// Defines `module.name` on `host`; `Err` carries the failure.
#[track_caller]
pub fn define_func(
    host: *const sbx_host,
    module: &[u8],
    name: &[u8],
    params: &[u8],
    results: &[u8],
    callback: Option<HostCallback>,
    user_data: *mut c_void,
) -> Result<(), Failure> {
    with_error("sbx_host_define_func", documented::HANDLE_OP, |e| {
        sbx_host_define_func(
            host,
            module.as_ptr().cast(),
            module.len(),
            name.as_ptr().cast(),
            name.len(),
            params.as_ptr(),
            params.len(),
            results.as_ptr(),
            results.len(),
            callback,
            user_data,
            None,
            e,
        )
    })
}

/// The caller-side functions a host function may use.
pub mod caller {
    use super::*;

    #[track_caller]
    pub fn memory_size(caller: *mut sbx_caller) -> Result<u64, Status> {
        let mut size = CANARY;
        let s = sbx_caller_memory_size(caller, &mut size);
        check(
            "sbx_caller_memory_size",
            s,
            &[Ok, InvalidArgument, ExportNotFound],
        );
        if s == Ok {
            Result::Ok(size)
        } else {
            assert_eq!(size, CANARY);
            Err(s)
        }
    }

    #[track_caller]
    pub fn memory_read(caller: *mut sbx_caller, offset: u64, len: usize) -> Status {
        let mut buf = vec![0xa5u8; len];
        let s = sbx_caller_memory_read(caller, offset, buf.as_mut_ptr(), len);
        check("sbx_caller_memory_read", s, documented::CALLER_MEMORY);
        if s != Ok {
            assert!(buf.iter().all(|&b| b == 0xa5));
        }
        s
    }

    #[track_caller]
    pub fn memory_write(caller: *mut sbx_caller, offset: u64, data: &[u8]) -> Status {
        let s = sbx_caller_memory_write(caller, offset, data.as_ptr(), data.len());
        check("sbx_caller_memory_write", s, documented::CALLER_MEMORY);
        s
    }

    pub fn user_data(caller: *mut sbx_caller) -> u64 {
        let mut u = CANARY;
        check(
            "sbx_caller_user_data",
            sbx_caller_user_data(caller, &mut u),
            &[Ok],
        );
        u
    }

    pub fn time_left(caller: *mut sbx_caller) -> u64 {
        let mut ns = CANARY;
        check(
            "sbx_caller_time_left",
            sbx_caller_time_left(caller, &mut ns),
            &[Ok],
        );
        ns
    }

    pub fn set_error(caller: *mut sbx_caller, message: &[u8]) {
        check(
            "sbx_caller_set_error",
            sbx_caller_set_error(caller, message.as_ptr().cast(), message.len()),
            &[Ok],
        );
    }

    /// NULL callers: INVALID_ARGUMENT everywhere.
    pub fn check_null() {
        let mut v = CANARY;
        assert_eq!(sbx_caller_memory_size(null_mut(), &mut v), InvalidArgument);
        assert_eq!(sbx_caller_user_data(null_mut(), &mut v), InvalidArgument);
        assert_eq!(sbx_caller_time_left(null_mut(), &mut v), InvalidArgument);
        assert_eq!(v, CANARY);
        assert_eq!(sbx_caller_set_error(null_mut(), null(), 0), InvalidArgument);
    }
}

/// The bytes of `testdata/<name>.wasm` of the repository.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A known-good call of a fixture and its expected results, to check that a
/// module still answers after a failure.
pub struct Probe {
    pub export: &'static str,
    pub params: &'static [u64],
    pub results: Option<&'static [u64]>,
}

/// The fixtures the `call` and `ops` targets drive, each with its probe.
pub const FIXTURES: &[(&str, Option<Probe>)] = &[
    (
        "add",
        Some(Probe {
            export: "add",
            params: &[2, 3],
            results: Some(&[5]),
        }),
    ),
    (
        "all_types",
        Some(Probe {
            export: "id_i32",
            params: &[7],
            results: Some(&[7]),
        }),
    ),
    (
        "counter",
        Some(Probe {
            export: "get",
            params: &[],
            results: None,
        }),
    ),
    (
        "fib",
        Some(Probe {
            export: "fib",
            params: &[10],
            results: Some(&[55]),
        }),
    ),
    (
        "noop",
        Some(Probe {
            export: "noop",
            params: &[],
            results: Some(&[]),
        }),
    ),
    (
        "memory_bomb",
        Some(Probe {
            export: "grow",
            params: &[0],
            results: None,
        }),
    ),
    (
        "multi_memory",
        Some(Probe {
            export: "pages",
            params: &[],
            results: None,
        }),
    ),
    (
        "multi_table",
        Some(Probe {
            export: "elements",
            params: &[],
            results: None,
        }),
    ),
    ("stack_bomb", None),
    ("infinite_loop", None),
    ("trap_unreachable", None),
    ("trap_divide_by_zero", None),
    ("trap_memory_out_of_bounds", None),
    ("trap_indirect_call_to_null", None),
    ("trap_indirect_call_type_mismatch", None),
    ("trap_integer_overflow", None),
    ("trap_bad_conversion", None),
    ("trap_table_out_of_bounds", None),
];

/// Runs `probe` on `module`, which must answer it.
#[track_caller]
pub fn probe(module: *const sbx_module, probe: &Probe) {
    let want = probe.results.map_or(1, <[u64]>::len);
    match call(
        module,
        probe.export.as_bytes(),
        probe.params,
        want,
        TIMEOUT_NONE,
        null(),
    ) {
        Result::Ok(got) => {
            if let Some(expected) = probe.results {
                assert_eq!(got, expected, "{} after a failure", probe.export);
            }
        }
        Err(f) => panic!("known-good call {} failed: {f:?}", probe.export),
    }
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sbx-fuzz-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
