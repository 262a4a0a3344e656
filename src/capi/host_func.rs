//! `sbx_host_define_func` and `sbx_caller`: host functions written in C (or
//! in Go through cgo), and what they may do with the module that called them.

use super::castable::{handle, lend, lent_mut, Lent};
use super::host::sbx_host;
use super::user_data::{sbx_free_callback, UserData};
use super::{
    bytes, guarded, guarded_status, out, sbx_error, slice, slice_mut, text, SBX_TIMEOUT_NONE,
};
use crate::ValueType;
use crate::{Caller, HostFuncError};
use crate::{Error, Result, Status};
use std::ffi::{c_char, c_void};
use std::sync::Arc;

/// The module calling a host function. Valid only during the callback
/// it was passed to, and only on that thread.
pub struct sbx_caller {
    _private: [u8; 0],
}

impl Lent for sbx_caller {
    type RustType<'r, 'o>
        = CallerCtx<'r, 'o>
    where
        'o: 'r;
    const WHAT: &'static str = "caller";
}

/// A host function. `stack` holds `stack_len` values: the params on entry
/// (encoded as on the call path), the results on return, from the front.
/// Return 0 for success; anything else fails the guest's call with
/// SBX_STATUS_HOST_ERROR and the message set by `sbx_caller_set_error` (or
/// one naming the code). Called on the thread running the guest.
pub type sbx_host_func_callback = Option<
    extern "C" fn(
        user_data: *mut c_void,
        caller: *mut sbx_caller,
        stack: *mut u64,
        stack_len: usize,
    ) -> i32,
>;

/// What a host function's `sbx_caller` points to, on the callback's frame.
pub(crate) struct CallerCtx<'r, 'o> {
    caller: &'r mut Caller<'o>,
    error: Option<String>,
}

fn value_types(types: &[u8], what: &str) -> Result<Vec<ValueType>> {
    types
        .iter()
        .map(|&t| match ValueType::from_u8(t) {
            Some(ty) if ty.is_number() => Ok(ty),
            _ => Err(Error::invalid(format!(
                "{what}: value type {t} cannot cross as uint64"
            ))),
        })
        .collect()
}

/// Defines the import `module_name.func_name` (UTF-8, pointer and length) on
/// `host` for every module loaded afterwards, with param and result types
/// given as `SBX_VALUE_TYPE_I32`..`SBX_VALUE_TYPE_F64`. The host keeps
/// `user_data` and calls `free_user_data` (may be NULL) once when the host is
/// gone. Safe to call while other threads load and call modules.
/// Returns SBX_STATUS_OK; SBX_STATUS_INVALID_ARGUMENT (NULL, bad UTF-8, a type
/// other than i32/i64/f32/f64, a name already defined); SBX_STATUS_HANDLE_CLOSED.
/// On failure `free_user_data` is called right away, and if `error_out` is
/// not NULL it receives an error the caller frees with `sbx_error_free`.
#[no_mangle]
pub extern "C" fn sbx_host_define_func(
    host: *const sbx_host,
    module_name: *const c_char,
    module_name_len: usize,
    func_name: *const c_char,
    func_name_len: usize,
    params: *const u8,
    params_len: usize,
    results: *const u8,
    results_len: usize,
    callback: sbx_host_func_callback,
    user_data: *mut c_void,
    free_user_data: sbx_free_callback,
    error_out: *mut *mut sbx_error,
) -> Status {
    let user_data = UserData::new(user_data, free_user_data);
    guarded(error_out, move || {
        let host = handle(host)?;
        let module = text(module_name, module_name_len, "module name")?;
        let name = text(func_name, func_name_len, "function name")?;
        let params = value_types(bytes(params, params_len, "params")?, "params")?;
        let results = value_types(bytes(results, results_len, "results")?, "results")?;
        let callback = callback.ok_or_else(|| Error::invalid("callback is NULL"))?;
        let qualified = format!("{module}.{name}");
        let body = move |caller: &mut Caller<'_>, stack: &mut [u64]| {
            let mut ctx = CallerCtx {
                caller,
                error: None,
            };
            let code = callback(
                user_data.get(),
                lend(&mut ctx),
                stack.as_mut_ptr(),
                stack.len(),
            );
            match code {
                0 => Ok(()),
                code => Err(HostFuncError(ctx.error.take().unwrap_or_else(|| {
                    format!("{qualified} returned error code {code}")
                }))),
            }
        };
        host.define_func(module, name, &params, &results, Arc::new(body))
    })
}

/// Writes the size in bytes of the calling module's exported `memory`.
/// Returns SBX_STATUS_OK; SBX_STATUS_INVALID_ARGUMENT for NULL;
/// SBX_STATUS_EXPORT_NOT_FOUND when the module exports no memory.
#[no_mangle]
pub extern "C" fn sbx_caller_memory_size(
    caller_ptr: *mut sbx_caller,
    size_out: *mut u64,
) -> Status {
    guarded_status(|| {
        let ctx = lent_mut(caller_ptr)?;
        let slot = out(size_out, "size_out")?;
        slot.write(ctx.caller.memory_size()?);
        Ok(())
    })
}

/// Copies `len` bytes at `offset` of the calling module's memory into `buf`.
/// Returns SBX_STATUS_OK; SBX_STATUS_INVALID_ARGUMENT for NULL;
/// SBX_STATUS_OUT_OF_BOUNDS; SBX_STATUS_EXPORT_NOT_FOUND without a memory.
#[no_mangle]
pub extern "C" fn sbx_caller_memory_read(
    caller_ptr: *mut sbx_caller,
    offset: u64,
    buf: *mut u8,
    len: usize,
) -> Status {
    guarded_status(|| {
        let ctx = lent_mut(caller_ptr)?;
        ctx.caller.memory_read(offset, slice_mut(buf, len, "buf")?)
    })
}

/// Copies `len` bytes from `data` into the calling module's memory at `offset`.
/// Returns SBX_STATUS_OK; SBX_STATUS_INVALID_ARGUMENT for NULL;
/// SBX_STATUS_OUT_OF_BOUNDS; SBX_STATUS_EXPORT_NOT_FOUND without a memory.
#[no_mangle]
pub extern "C" fn sbx_caller_memory_write(
    caller_ptr: *mut sbx_caller,
    offset: u64,
    data: *const u8,
    len: usize,
) -> Status {
    guarded_status(|| {
        let ctx = lent_mut(caller_ptr)?;
        ctx.caller.memory_write(offset, slice(data, len, "data")?)
    })
}

/// Writes the user data the calling module was loaded with
/// (`sbx_load_options_set_user_data`; 0 by default).
/// Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for NULL.
#[no_mangle]
pub extern "C" fn sbx_caller_user_data(
    caller_ptr: *mut sbx_caller,
    user_data_out: *mut u64,
) -> Status {
    guarded_status(|| {
        let ctx = lent_mut(caller_ptr)?;
        out(user_data_out, "user_data_out")?.write(ctx.caller.user_data());
        Ok(())
    })
}

/// Writes the nanoseconds left before the deadline of the call (or load) the
/// caller runs in: 0 once it has passed, `SBX_TIMEOUT_NONE` when it has none.
/// The guest cannot be interrupted while its host function runs, so a host
/// function that may block should bound its wait by this.
/// Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for NULL.
#[no_mangle]
pub extern "C" fn sbx_caller_time_left(caller_ptr: *mut sbx_caller, ns_out: *mut u64) -> Status {
    guarded_status(|| {
        let ctx = lent_mut(caller_ptr)?;
        let left = ctx
            .caller
            .time_left()
            .map_or(SBX_TIMEOUT_NONE, |d| d.as_nanos() as u64);
        out(ns_out, "ns_out")?.write(left);
        Ok(())
    })
}

/// Sets the message the guest's call fails with when this callback returns
/// non-zero (UTF-8, pointer and length; invalid UTF-8 is replaced, and line
/// breaks are folded so that the error's message stays one line).
/// Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for NULL.
#[no_mangle]
pub extern "C" fn sbx_caller_set_error(
    caller_ptr: *mut sbx_caller,
    message: *const c_char,
    len: usize,
) -> Status {
    guarded_status(|| {
        let ctx = lent_mut(caller_ptr)?;
        ctx.error =
            Some(String::from_utf8_lossy(bytes(message.cast(), len, "message")?).into_owned());
        Ok(())
    })
}
