//! `sbx_compiled`: compile once, instantiate many times.

use super::cancel::sbx_cancel;
use super::castable::{from_handle, handle, into_handle, optional_handle, Castable};
use super::host::sbx_host;
use super::load_options::{self, sbx_load_options};
use super::module::{sbx_function_info, sbx_module, FunctionEntry, ModuleHandle};
use super::{bytes, guarded, guarded_status, out, sbx_error, text, timeout};
use crate::{CacheSource, CompiledModule, Status};
use std::ffi::c_char;
use std::sync::Arc;

/// A compiled module: code compiled once (or found in the cache), ready to
/// be instantiated many times. Created by `sbx_compile`, owned by the
/// caller, freed by `sbx_compiled_free`. Safe to use from several threads
/// at once.
pub struct sbx_compiled {
    _private: [u8; 0],
}

/// A compiled module with the C copies of its export names.
pub(crate) struct CompiledHandle {
    compiled: CompiledModule,
    /// Shared by its instances' handles.
    functions: Arc<[FunctionEntry]>,
    /// Where the compile found its code; its instances report it too.
    source: CacheSource,
}

impl Castable for sbx_compiled {
    type RustType = CompiledHandle;
    const WHAT: &'static str = "compiled module";
}

/// Compiles `wasm` (or takes it from the cache) without instantiating it,
/// and writes the compiled module to `*compiled_out` (owned by the caller;
/// free with `sbx_compiled_free`).
///
/// - `wasm`: `wasm_len` bytes of a binary module; read only during the call.
/// - `timeout_ns`: bounds the compile; 0 for the host's load timeout,
///   `SBX_TIMEOUT_NONE` for none.
/// - `cancel`: NULL, or a token of this host that stops the compile.
///
/// Returns SBX_STATUS_OK; SBX_STATUS_INVALID_ARGUMENT (NULL, a length above
/// PTRDIFF_MAX, a token of another host); SBX_STATUS_HANDLE_CLOSED (the host
/// is closed); SBX_STATUS_COMPILE_ERROR; SBX_STATUS_INSTANCE_LIMIT (too many
/// abandoned compiles still run); SBX_STATUS_RESOURCE_LIMIT (the module's
/// memories or tables cannot fit the limits); SBX_STATUS_TIMEOUT;
/// SBX_STATUS_INTERRUPTED; SBX_STATUS_INTERNAL. On failure, if `error_out`
/// is not NULL, writes an error the caller frees with `sbx_error_free`.
#[no_mangle]
pub extern "C" fn sbx_compile(
    host: *const sbx_host,
    wasm: *const u8,
    wasm_len: usize,
    timeout_ns: u64,
    cancel: *const sbx_cancel,
    compiled_out: *mut *mut sbx_compiled,
    error_out: *mut *mut sbx_error,
) -> Status {
    guarded(error_out, || {
        let host = handle(host)?;
        let wasm = bytes(wasm, wasm_len, "wasm")?;
        let slot = out(compiled_out, "compiled_out")?;
        let (compiled, source) =
            host.compile(wasm, timeout(timeout_ns), optional_handle(cancel)?)?;
        slot.write(into_handle(CompiledHandle {
            functions: FunctionEntry::all(compiled.exported_functions()),
            compiled,
            source,
        }));
        Ok(())
    })
}

/// Makes a new module from `compiled`, as `sbx_load_module_with` would from
/// its bytes but with no hashing, compiling or linking (imports are
/// resolved at the first instantiation with, and the first without, WASI,
/// against the host functions defined by then). `options` may be NULL; it
/// is read only during the call; its timeout and cancel token bound the
/// start function. The module (owned by the caller, freed with
/// `sbx_module_free`) does not depend on `compiled` staying alive.
/// Returns the statuses of `sbx_load_module_with` but
/// SBX_STATUS_COMPILE_ERROR, and SBX_STATUS_HANDLE_CLOSED also for a freed
/// compiled module's host being closed.
#[no_mangle]
pub extern "C" fn sbx_compiled_instantiate(
    compiled: *const sbx_compiled,
    name: *const c_char,
    name_len: usize,
    options: *const sbx_load_options,
    module_out: *mut *mut sbx_module,
    error_out: *mut *mut sbx_error,
) -> Status {
    guarded(error_out, || {
        let compiled = handle(compiled)?;
        let name = text(name.cast(), name_len, "module name")?;
        let options = load_options::read(options)?;
        let slot = out(module_out, "module_out")?;
        let module = compiled.compiled.instantiate(name, &options)?;
        slot.write(into_handle(ModuleHandle::with_functions(
            module,
            compiled.source,
            compiled.functions.clone(),
        )));
        Ok(())
    })
}

/// Writes the number of exported functions to `*count_out`.
/// Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for NULL.
#[no_mangle]
pub extern "C" fn sbx_compiled_function_count(
    compiled: *const sbx_compiled,
    count_out: *mut usize,
) -> Status {
    guarded_status(|| {
        let compiled = handle(compiled)?;
        out(count_out, "count_out")?.write(compiled.functions.len());
        Ok(())
    })
}

/// Describes exported function number `index` (in export order) in
/// `*info_out`, as `sbx_module_function_at` does; its pointers are borrowed
/// from `compiled` and valid until `sbx_compiled_free`.
/// Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for NULL or an
/// index past the count.
#[no_mangle]
pub extern "C" fn sbx_compiled_function_at(
    compiled: *const sbx_compiled,
    index: usize,
    info_out: *mut sbx_function_info,
) -> Status {
    guarded_status(|| {
        let compiled = handle(compiled)?;
        let slot = out(info_out, "info_out")?;
        slot.write(FunctionEntry::describe(&compiled.functions, index)?);
        Ok(())
    })
}

/// Frees a compiled module. Modules made from it keep working. NULL is a
/// no-op. Must not race with other uses of `compiled`.
#[no_mangle]
pub extern "C" fn sbx_compiled_free(compiled: *mut sbx_compiled) {
    let _ = guarded_status(|| {
        // SAFETY: the caller passes a pointer from sbx_compile, once.
        if let Some(compiled) = unsafe { from_handle(compiled) } {
            compiled.compiled.close();
        }
        Ok(())
    });
}
