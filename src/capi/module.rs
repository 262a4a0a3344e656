//! `sbx_module`: load, call, interrupt, close.

use super::cancel::sbx_cancel;
use super::castable::{from_handle, handle, into_handle, optional_handle, Castable};
use super::host::sbx_host;
use super::load_options::{self, sbx_load_options};
use super::wasi_config;
use super::{
    bytes, guarded, guarded_status, guarded_value, out, sbx_error, slice, slice_mut, text, timeout,
};
use crate::{CacheSource, Error, LoadOptions, Module, Signature, Status, ValueType};
use std::ffi::c_char;
use std::sync::{Arc, OnceLock};

/// A loaded module with its own memory, globals and instance.
/// Created by `sbx_load_module` or `sbx_load_module_with`, owned by the
/// caller, closed by `sbx_module_close` (or `sbx_close` of its host) and
/// freed by `sbx_module_free` (which closes it if still open). Safe to use
/// from several threads at once: calls are serialized per module, and calls
/// on different modules run in parallel.
pub struct sbx_module {
    _private: [u8; 0],
}

impl Castable for sbx_module {
    type RustType = ModuleHandle;
    const WHAT: &'static str = "module";
}

/// What an `sbx_module` points to: the module, and the C copies of what C
/// may borrow from it, made once so that they outlive a close.
pub(crate) struct ModuleHandle {
    module: Module,
    /// The name's bytes and a NUL, made at the first `sbx_module_name`.
    name: OnceLock<Box<[u8]>>,
    /// Shared with the compiled module it came from, if any.
    functions: Arc<[FunctionEntry]>,
    source: CacheSource,
}

/// One exported function as `sbx_function_info` lends it.
pub(crate) struct FunctionEntry {
    /// The export name's bytes and a NUL.
    name: Box<[u8]>,
    params: Box<[ValueType]>,
    results: Box<[ValueType]>,
}

/// `text`'s bytes followed by a NUL (the text itself may hold NULs: C gets
/// the length too).
fn nul_terminated(text: &str) -> Box<[u8]> {
    let mut bytes = Vec::with_capacity(text.len() + 1);
    bytes.extend_from_slice(text.as_bytes());
    bytes.push(0);
    bytes.into_boxed_slice()
}

impl FunctionEntry {
    /// The C copies of a module's (or compiled module's) exported functions.
    pub(crate) fn all(functions: Vec<(String, Signature)>) -> Arc<[FunctionEntry]> {
        functions
            .into_iter()
            .map(|(name, signature)| FunctionEntry {
                name: nul_terminated(&name),
                params: signature.params.into(),
                results: signature.results.into(),
            })
            .collect()
    }

    /// Describes entry `index` of `functions`, for `*_function_at`.
    pub(crate) fn describe(
        functions: &[FunctionEntry],
        index: usize,
    ) -> crate::Result<sbx_function_info> {
        let f = functions
            .get(index)
            .ok_or_else(|| Error::invalid(format!("function index {index} is past the count")))?;
        Ok(sbx_function_info {
            name: f.name.as_ptr().cast(),
            name_len: f.name.len() - 1,
            params: f.params.as_ptr().cast(),
            params_len: f.params.len(),
            results: f.results.as_ptr().cast(),
            results_len: f.results.len(),
        })
    }
}

impl ModuleHandle {
    pub(crate) fn new(module: Module, source: CacheSource) -> ModuleHandle {
        let functions = FunctionEntry::all(module.exported_functions());
        ModuleHandle::with_functions(module, source, functions)
    }

    /// A module made from a compiled module, sharing its C copies of the
    /// exports: an instantiation then copies no export names.
    pub(crate) fn with_functions(
        module: Module,
        source: CacheSource,
        functions: Arc<[FunctionEntry]>,
    ) -> ModuleHandle {
        ModuleHandle {
            name: OnceLock::new(),
            functions,
            source,
            module,
        }
    }
}

impl std::ops::Deref for ModuleHandle {
    type Target = Module;
    fn deref(&self) -> &Module {
        &self.module
    }
}

/// Where a load found its compiled module (`sbx_module_cache_source`).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum sbx_cache_source {
    /// Compiled by this load.
    Compiled = 0,
    /// Found in the host's in-memory cache.
    Memory = 1,
    /// Read from the host's cache directory (`sbx_config_set_cache_dir`).
    Disk = 2,
}

impl From<CacheSource> for sbx_cache_source {
    fn from(source: CacheSource) -> sbx_cache_source {
        match source {
            CacheSource::Compiled => sbx_cache_source::Compiled,
            CacheSource::Memory => sbx_cache_source::Memory,
            CacheSource::Disk => sbx_cache_source::Disk,
        }
    }
}

/// One exported function, as `sbx_module_function_at` describes it. Every
/// pointer is borrowed from the module and valid until `sbx_module_free`.
#[repr(C)]
pub struct sbx_function_info {
    /// The export name, UTF-8, `name_len` bytes, also NUL-terminated.
    pub name: *const c_char,
    /// Length of `name` in bytes, without the NUL.
    pub name_len: usize,
    /// Parameter types (`SBX_VALUE_TYPE_*`), `params_len` of them.
    pub params: *const u8,
    /// Number of parameters.
    pub params_len: usize,
    /// Result types (`SBX_VALUE_TYPE_*`), `results_len` of them.
    pub results: *const u8,
    /// Number of results.
    pub results_len: usize,
}

/// Compiles (or takes from the cache) and instantiates `wasm`, running its
/// start function, and writes the new module to `*module_out` (owned by the
/// caller; free with `sbx_module_free`).
///
/// - `name`: `name_len` bytes of UTF-8, not empty or only whitespace. It is
///   length-delimited, so it may contain NUL bytes; `sbx_module_name` gives
///   it back with its length.
/// - `wasm`: `wasm_len` bytes of a binary module; read only during the call.
/// - `timeout_ns`: bounds the load; 0 for the host's load timeout,
///   `SBX_TIMEOUT_NONE` for none.
/// - `cancel`: NULL, or a token of this host that stops the load when triggered.
///
/// Instantiation runs guest code: the start function, then a WASI reactor's
/// `_initialize`; the error message says which failed ("start function:",
/// "`_initialize`:", or "instantiate:" for a data or element segment that
/// does not fit, before any code runs).
///
/// The timeout and the token bound the compile too: a load still compiling
/// at its deadline returns SBX_STATUS_TIMEOUT (SBX_STATUS_INTERRUPTED on a
/// trigger, SBX_STATUS_HANDLE_CLOSED on `sbx_close`) at once, and the
/// compile finishes in the background and is discarded, never cached.
///
/// Safe to call from several threads at once on one host.
/// Returns SBX_STATUS_OK; SBX_STATUS_INVALID_ARGUMENT (NULL, a length above
/// PTRDIFF_MAX, a bad name, a token of another host); SBX_STATUS_HANDLE_CLOSED;
/// SBX_STATUS_COMPILE_ERROR; SBX_STATUS_LINK_ERROR (names the import);
/// SBX_STATUS_INSTANCE_LIMIT (the host's max_modules, a full pool, or a
/// compile needed while `sbx_config_set_max_abandoned_compiles` abandoned
/// compiles still run: retry later); SBX_STATUS_RESOURCE_LIMIT; SBX_STATUS_IO
/// (a preopen of the host's WASI config cannot be opened);
/// SBX_STATUS_TIMEOUT and SBX_STATUS_INTERRUPTED (while compiling or in the
/// guest code instantiation runs); and, from that guest code,
/// SBX_STATUS_FUEL_EXHAUSTED, SBX_STATUS_TRAP, SBX_STATUS_EXIT (a WASI
/// program exited with a non-zero code) or SBX_STATUS_HOST_ERROR (a host
/// function failed); SBX_STATUS_INTERNAL.
/// On failure, if `error_out` is not NULL, writes an error the caller frees
/// with `sbx_error_free`.
#[no_mangle]
pub extern "C" fn sbx_load_module(
    host: *const sbx_host,
    name: *const c_char,
    name_len: usize,
    wasm: *const u8,
    wasm_len: usize,
    timeout_ns: u64,
    cancel: *const sbx_cancel,
    module_out: *mut *mut sbx_module,
    error_out: *mut *mut sbx_error,
) -> Status {
    guarded(error_out, || {
        let host = handle(host)?;
        let name = text(name, name_len, "module name")?;
        let wasm = bytes(wasm, wasm_len, "wasm")?;
        let slot = out(module_out, "module_out")?;
        let options = LoadOptions {
            timeout: timeout(timeout_ns),
            cancel: optional_handle(cancel)?.cloned(),
            ..LoadOptions::default()
        };
        let (module, source) = host.load_with(name, wasm, &options)?;
        slot.write(into_handle(ModuleHandle::new(module, source)));
        Ok(())
    })
}

/// `sbx_load_module` with per-load settings (`options` may be NULL for the
/// defaults; it is read only during the call): a timeout, a cancel token, a
/// WASI world, and user data for host functions. The same statuses as
/// `sbx_load_module`, and SBX_STATUS_INVALID_ARGUMENT for a WASI config of
/// `options` that `sbx_wasi_config_validate` refuses (with its message);
/// SBX_STATUS_IO also for a preopen of that WASI config that cannot be
/// opened.
#[no_mangle]
pub extern "C" fn sbx_load_module_with(
    host: *const sbx_host,
    name: *const c_char,
    name_len: usize,
    wasm: *const u8,
    wasm_len: usize,
    options: *const sbx_load_options,
    module_out: *mut *mut sbx_module,
    error_out: *mut *mut sbx_error,
) -> Status {
    guarded(error_out, || {
        let host = handle(host)?;
        let name = text(name, name_len, "module name")?;
        let wasm = bytes(wasm, wasm_len, "wasm")?;
        let options = load_options::read(options)?;
        if let Some(wasi) = &options.wasi {
            wasi_config::validate(wasi)?;
        }
        let slot = out(module_out, "module_out")?;
        let (module, source) = host.load_with(name, wasm, &options)?;
        slot.write(into_handle(ModuleHandle::new(module, source)));
        Ok(())
    })
}

/// Calls the exported function `func` (`func_len` bytes, not NUL-terminated)
/// with `params_len` params, and writes its results to `results`.
///
/// - `func` is matched byte for byte against the module's export names,
///   which the module chose: the empty/whitespace rule of module names does
///   not apply (an export may be named ""), and a name may contain NULs.
///   Bytes that are not UTF-8 get SBX_STATUS_INVALID_ARGUMENT (no export
///   can have such a name).
/// - Values cross as `uint64_t`: i32 in the low 32 bits, i64 as is, f32 as
///   its IEEE bits in the low 32, f64 as its IEEE bits. The upper 32 bits
///   of an i32 or f32 param are ignored; i32 and f32 results come back
///   zero-extended (an i32 of -1 is 0xffffffff).
/// - `results` has room for `results_cap` values; the count written goes to
///   `*results_len_out` (may be NULL). Written only on success.
/// - `timeout_ns`: 0 for the host's exec timeout, `SBX_TIMEOUT_NONE` for none.
///   The deadline is re-armed for every call.
/// - `cancel`: NULL, or a token of this host that stops the call when
///   triggered, even if it was triggered before the call started.
///
/// After a timeout, interrupt, fuel exhaustion, trap or exit the module stays
/// usable; its memory and globals are whatever the guest left. A call in
/// flight when its module (or host) is closed returns
/// SBX_STATUS_HANDLE_CLOSED, whatever the guest was doing at that moment.
/// Safe to call from several threads: calls on one module wait for each other.
/// From a host function running inside a call on this same module it returns
/// SBX_STATUS_INVALID_ARGUMENT instead of deadlocking.
/// Returns SBX_STATUS_OK; SBX_STATUS_INVALID_ARGUMENT (NULL, a length above
/// PTRDIFF_MAX, a name that is not UTF-8, a token of another host,
/// re-entry); SBX_STATUS_HANDLE_CLOSED; SBX_STATUS_EXPORT_NOT_FOUND;
/// SBX_STATUS_SIGNATURE_MISMATCH (wrong param count, `results_cap` too small,
/// or v128/reference types); SBX_STATUS_TIMEOUT; SBX_STATUS_INTERRUPTED;
/// SBX_STATUS_FUEL_EXHAUSTED; SBX_STATUS_TRAP (see `sbx_error_trap_code`);
/// SBX_STATUS_EXIT (a WASI program exited non-zero; exit code 0 is success
/// with no results); SBX_STATUS_HOST_ERROR; SBX_STATUS_INTERNAL. On failure,
/// if `error_out` is not NULL, writes an error the caller frees with
/// `sbx_error_free`.
#[no_mangle]
pub extern "C" fn sbx_call_with_timeout(
    module: *const sbx_module,
    func: *const c_char,
    func_len: usize,
    params: *const u64,
    params_len: usize,
    results: *mut u64,
    results_cap: usize,
    results_len_out: *mut usize,
    timeout_ns: u64,
    cancel: *const sbx_cancel,
    error_out: *mut *mut sbx_error,
) -> Status {
    guarded(error_out, || {
        let module = handle(module)?;
        let func = bytes(func.cast(), func_len, "function name")?;
        let params = slice(params, params_len, "params")?;
        let results = slice_mut(results, results_cap, "results")?;
        let written = module.call(
            func,
            params,
            results,
            timeout(timeout_ns),
            optional_handle(cancel)?,
        )?;
        if !results_len_out.is_null() {
            // SAFETY: non-NULL out-param the caller promises is writable.
            unsafe { results_len_out.write(written) };
        }
        Ok(())
    })
}

/// Stops the call running on `module`, if there is one, with
/// SBX_STATUS_INTERRUPTED. A call that starts later is not affected. Safe from
/// any thread, including while another thread is inside a call on `module`.
/// Returns SBX_STATUS_OK (whether or not a call was running);
/// SBX_STATUS_INVALID_ARGUMENT for NULL; SBX_STATUS_HANDLE_CLOSED.
#[no_mangle]
pub extern "C" fn sbx_module_interrupt(module: *const sbx_module) -> Status {
    guarded_status(|| {
        handle(module)?.interrupt()?;
        Ok(())
    })
}

/// Closes a module: interrupts its running call, waits for it to return, and
/// frees its instance and memory (returning its slot to the host). That
/// call returns SBX_STATUS_HANDLE_CLOSED (never SBX_STATUS_INTERRUPTED). The
/// handle stays valid, every function then returns SBX_STATUS_HANDLE_CLOSED,
/// and it must still be freed with `sbx_module_free`. Safe from any thread,
/// including during a call; from a host function of the module's own call it
/// interrupts that call, which frees the instance as it returns. Idempotent.
/// NULL is a no-op.
/// Returns SBX_STATUS_OK.
#[no_mangle]
pub extern "C" fn sbx_module_close(module: *const sbx_module) -> Status {
    guarded_status(|| {
        if let Ok(module) = handle(module) {
            module.close();
        }
        Ok(())
    })
}

/// Closes (if still open) and frees a module handle. NULL is a no-op. No
/// other thread may use the handle once this has been called.
#[no_mangle]
pub extern "C" fn sbx_module_free(module: *mut sbx_module) {
    guarded_value((), || {
        // SAFETY: NULL or a module from `sbx_load_module`, not used again.
        if let Some(module) = unsafe { from_handle(module) } {
            module.close();
        }
    })
}

/// Writes the fuel the last call (or the start function) used to `*fuel_out`;
/// 0 when fuel metering is off.
/// Returns SBX_STATUS_OK; SBX_STATUS_INVALID_ARGUMENT for NULL;
/// SBX_STATUS_HANDLE_CLOSED.
#[no_mangle]
pub extern "C" fn sbx_module_last_call_fuel(
    module: *const sbx_module,
    fuel_out: *mut u64,
) -> Status {
    guarded_status(|| {
        let module = handle(module)?;
        let slot = out(fuel_out, "fuel_out")?;
        slot.write(module.last_call_fuel()?);
        Ok(())
    })
}

/// Writes the module's name to `*name_out` (NUL-terminated UTF-8, borrowed
/// from the module, valid until `sbx_module_free`) and its length to
/// `*name_len_out` (may be NULL). Works on a closed module.
/// Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for NULL.
#[no_mangle]
pub extern "C" fn sbx_module_name(
    module: *const sbx_module,
    name_out: *mut *const c_char,
    name_len_out: *mut usize,
) -> Status {
    guarded_status(|| {
        let module = handle(module)?;
        let slot = out(name_out, "name_out")?;
        let name = module.name.get_or_init(|| nul_terminated(module.name()));
        slot.write(name.as_ptr().cast());
        if !name_len_out.is_null() {
            // SAFETY: non-NULL out-param the caller promises is writable.
            unsafe { name_len_out.write(module.name().len()) };
        }
        Ok(())
    })
}

/// Writes the number of exported functions to `*count_out`. Works on a
/// closed module. Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for NULL.
#[no_mangle]
pub extern "C" fn sbx_module_function_count(
    module: *const sbx_module,
    count_out: *mut usize,
) -> Status {
    guarded_status(|| {
        let module = handle(module)?;
        out(count_out, "count_out")?.write(module.functions.len());
        Ok(())
    })
}

/// Describes exported function number `index` (in export order) in
/// `*info_out`; its pointers are borrowed from the module and valid until
/// `sbx_module_free`. Works on a closed module.
/// Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for NULL or an index
/// past the count.
#[no_mangle]
pub extern "C" fn sbx_module_function_at(
    module: *const sbx_module,
    index: usize,
    info_out: *mut sbx_function_info,
) -> Status {
    guarded_status(|| {
        let module = handle(module)?;
        let slot = out(info_out, "info_out")?;
        slot.write(FunctionEntry::describe(&module.functions, index)?);
        Ok(())
    })
}

/// Writes where the load that made `module` found its compiled code to
/// `*source_out`: SBX_CACHE_SOURCE_COMPILED (compiled by that load),
/// SBX_CACHE_SOURCE_MEMORY (the host's in-memory cache) or
/// SBX_CACHE_SOURCE_DISK (the host's cache directory). Works on a closed
/// module. Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for NULL.
#[no_mangle]
pub extern "C" fn sbx_module_cache_source(
    module: *const sbx_module,
    source_out: *mut sbx_cache_source,
) -> Status {
    guarded_status(|| {
        let module = handle(module)?;
        out(source_out, "source_out")?.write(module.source.into());
        Ok(())
    })
}

/// Writes the size in bytes of the module's exported memory (`memory`, or
/// else its first exported memory). It can change between calls.
/// Returns SBX_STATUS_OK; SBX_STATUS_INVALID_ARGUMENT for NULL;
/// SBX_STATUS_HANDLE_CLOSED; SBX_STATUS_EXPORT_NOT_FOUND without a memory.
#[no_mangle]
pub extern "C" fn sbx_module_memory_size(module: *const sbx_module, size_out: *mut u64) -> Status {
    guarded_status(|| {
        let module = handle(module)?;
        let slot = out(size_out, "size_out")?;
        slot.write(module.memory_size()?);
        Ok(())
    })
}

/// Copies `len` bytes at `offset` of the module's memory into `buf`. Waits
/// for a call in progress on the module. Safe from any thread; inside a host
/// function of this module's own call use `sbx_caller_memory_read` (this
/// returns SBX_STATUS_INVALID_ARGUMENT there rather than deadlock).
/// Returns SBX_STATUS_OK; SBX_STATUS_INVALID_ARGUMENT for NULL or a length
/// above PTRDIFF_MAX; SBX_STATUS_OUT_OF_BOUNDS (nothing is copied);
/// SBX_STATUS_HANDLE_CLOSED;
/// SBX_STATUS_EXPORT_NOT_FOUND without a memory.
#[no_mangle]
pub extern "C" fn sbx_module_memory_read(
    module: *const sbx_module,
    offset: u64,
    buf: *mut u8,
    len: usize,
) -> Status {
    guarded_status(|| {
        let module = handle(module)?;
        module.memory_read(offset, slice_mut(buf, len, "buf")?)
    })
}

/// Copies `len` bytes from `data` into the module's memory at `offset`.
/// Waits for a call in progress on the module. Safe from any thread.
/// Returns as `sbx_module_memory_read`.
#[no_mangle]
pub extern "C" fn sbx_module_memory_write(
    module: *const sbx_module,
    offset: u64,
    data: *const u8,
    len: usize,
) -> Status {
    guarded_status(|| {
        let module = handle(module)?;
        module.memory_write(offset, slice(data, len, "data")?)
    })
}

/// Makes the module exactly what it was right after it was loaded: a new
/// instance, so its memories, globals (exported or not) and tables start
/// over, and its start function and a WASI reactor's `_initialize` run
/// again, bounded by `timeout_ns` (0 for the host's load timeout,
/// `SBX_TIMEOUT_NONE` for none) and `cancel` (NULL, or a token of this
/// host). The handle, name and stats stay. If the start function or
/// `_initialize` fails, the module is closed, and the error says so.
/// Waits for a call in flight. Returns SBX_STATUS_OK;
/// SBX_STATUS_INVALID_ARGUMENT (NULL, a token of another host, or from a
/// host function of this module's own call); SBX_STATUS_HANDLE_CLOSED;
/// SBX_STATUS_INSTANCE_LIMIT; SBX_STATUS_RESOURCE_LIMIT (the host's memory
/// budget); SBX_STATUS_IO (a preopen cannot be opened again); and, from the
/// start function, the statuses of a call (SBX_STATUS_TIMEOUT,
/// SBX_STATUS_INTERRUPTED, SBX_STATUS_FUEL_EXHAUSTED, SBX_STATUS_TRAP,
/// SBX_STATUS_EXIT, SBX_STATUS_HOST_ERROR); SBX_STATUS_INTERNAL. On failure,
/// if `error_out` is not NULL, writes an error the caller frees with
/// `sbx_error_free`.
#[no_mangle]
pub extern "C" fn sbx_module_reset(
    module: *const sbx_module,
    timeout_ns: u64,
    cancel: *const sbx_cancel,
    error_out: *mut *mut sbx_error,
) -> Status {
    guarded(error_out, || {
        let module = handle(module)?;
        module.reset(timeout(timeout_ns), optional_handle(cancel)?)
    })
}
