//! `sbx_error`: the details of a failure, handed to the caller of the call
//! that failed. There is no thread-local "last error".

use super::castable::{from_handle, handle, into_handle, Castable};
use super::{guarded_status, guarded_value, out};
use crate::{Error, Status, TrapCode};
use std::ffi::{c_char, CStr, CString};
use std::sync::LazyLock;

/// The details of one failure: status, message, trap code, backtrace.
/// Created by the function that failed, owned by the caller, freed with
/// `sbx_error_free`. Immutable, so it may be read from several threads.
pub struct sbx_error {
    _private: [u8; 0],
}

impl Castable for sbx_error {
    type RustType = ErrorObject;
    const WHAT: &'static str = "error";
}

pub(crate) struct ErrorObject {
    error: Error,
    message: CString,
    backtrace: CString,
}

fn c_string(text: &str) -> CString {
    CString::new(text.replace('\0', "\\0")).expect("NULs were replaced")
}

/// Hands `err` to the caller through `error_out`, if it asked for details.
pub(crate) fn give(error_out: *mut *mut sbx_error, err: Error) {
    if error_out.is_null() {
        return;
    }
    let object = ErrorObject {
        message: c_string(err.message()),
        backtrace: c_string(err.backtrace().unwrap_or("")),
        error: err,
    };
    // SAFETY: non-NULL, and the caller promises it points to writable memory.
    unsafe { error_out.write(into_handle(object)) };
}

/// Frees an error. NULL is a no-op.
#[no_mangle]
pub extern "C" fn sbx_error_free(error: *mut sbx_error) {
    guarded_value((), || {
        // SAFETY: NULL or an `sbx_error` handed out by `give`.
        drop(unsafe { from_handle(error) });
    })
}

/// The status of the failure. Returns `SBX_STATUS_INVALID_ARGUMENT` for NULL.
#[no_mangle]
pub extern "C" fn sbx_error_status(error: *const sbx_error) -> Status {
    guarded_value(Status::Internal, || match handle(error) {
        Ok(e) => e.error.status(),
        Err(_) => Status::InvalidArgument,
    })
}

/// The message: one line (never a '\n' or '\r'), NUL-terminated UTF-8,
/// without the backtrace (see `sbx_error_backtrace`).
/// Borrowed from `error`; valid until `sbx_error_free`. NULL for NULL.
#[no_mangle]
pub extern "C" fn sbx_error_message(error: *const sbx_error) -> *const c_char {
    guarded_value(std::ptr::null(), || match handle(error) {
        Ok(e) => e.message.as_ptr(),
        Err(_) => std::ptr::null(),
    })
}

/// The trap code: `SBX_TRAP_CODE_NONE` unless the status is `SBX_STATUS_TRAP`
/// (or for NULL).
#[no_mangle]
pub extern "C" fn sbx_error_trap_code(error: *const sbx_error) -> TrapCode {
    guarded_value(TrapCode::None, || match handle(error) {
        Ok(e) => e.error.trap_code(),
        Err(_) => TrapCode::None,
    })
}

/// The wasm backtrace, or "" when there is none: one frame per line,
/// innermost first, as `N: 0xOFFSET - module!function` (the offset is left
/// out when unknown; an unnamed module or function reads `<unknown>` or
/// `<wasm function N>`), lines separated by '\n' with none at the end.
/// Borrowed from `error`; valid until `sbx_error_free`. NULL for NULL.
#[no_mangle]
pub extern "C" fn sbx_error_backtrace(error: *const sbx_error) -> *const c_char {
    guarded_value(std::ptr::null(), || match handle(error) {
        Ok(e) => e.backtrace.as_ptr(),
        Err(_) => std::ptr::null(),
    })
}

/// Writes the exit code of a WASI program that exited with a non-zero code:
/// the guest's `proc_exit` argument, any 32-bit value (preview 1 exit codes
/// are unsigned; one above INT32_MAX comes out as the same bits, negative).
/// Returns SBX_STATUS_OK; SBX_STATUS_INVALID_ARGUMENT for NULL or when the
/// error's status is not SBX_STATUS_EXIT.
#[no_mangle]
pub extern "C" fn sbx_error_exit_code(error: *const sbx_error, code_out: *mut i32) -> Status {
    guarded_status(|| {
        let e = handle(error)?;
        let slot = out(code_out, "code_out")?;
        let code = e
            .error
            .exit_code()
            .ok_or_else(|| Error::invalid("the error is not an exit"))?;
        slot.write(code);
        Ok(())
    })
}

/// NUL-terminated copies of the names `name` gives the values 0..=255 that
/// it knows: the C side of `Status::name` and `TrapCode::name`, built once.
/// Status values stay below 100 (see the blocks in src/error.rs), and
/// tests/status_tables.rs holds the header's values below 256.
fn name_table(name: impl Fn(u8) -> Option<&'static str>) -> Box<[Option<CString>]> {
    (0..=u8::MAX)
        .map(|v| name(v).map(|n| CString::new(n).expect("names have no NUL")))
        .collect()
}

static STATUS_NAMES: LazyLock<Box<[Option<CString>]>> =
    LazyLock::new(|| name_table(|v| Status::from_u32(v.into()).map(Status::name)));

static TRAP_CODE_NAMES: LazyLock<Box<[Option<CString>]>> =
    LazyLock::new(|| name_table(|v| TrapCode::from_u8(v).map(TrapCode::name)));

/// The name for `value` in `table`, or `unknown`.
fn lookup(table: &'static [Option<CString>], value: u32, unknown: &'static CStr) -> *const c_char {
    usize::try_from(value)
        .ok()
        .and_then(|i| table.get(i))
        .and_then(Option::as_deref)
        .unwrap_or(unknown)
        .as_ptr()
}

/// The name of a status, e.g. "SBX_STATUS_TIMEOUT", or "SBX_STATUS_UNKNOWN"
/// for a value this library does not define. Static; never NULL.
#[no_mangle]
pub extern "C" fn sbx_status_name(status: u32) -> *const c_char {
    const UNKNOWN: &CStr = c"SBX_STATUS_UNKNOWN";
    guarded_value(UNKNOWN.as_ptr(), || lookup(&STATUS_NAMES, status, UNKNOWN))
}

/// A short description of a trap code, e.g. "integer divide by zero", or
/// "unknown" for a value this library does not define. Static; never NULL.
#[no_mangle]
pub extern "C" fn sbx_trap_code_name(code: u8) -> *const c_char {
    const UNKNOWN: &CStr = c"unknown";
    guarded_value(UNKNOWN.as_ptr(), || {
        lookup(&TRAP_CODE_NAMES, code.into(), UNKNOWN)
    })
}
