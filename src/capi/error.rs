//! `sbx_error`: the details of a failure, handed to the caller of the call
//! that failed. There is no thread-local "last error".

use super::castable::{from_handle, handle, into_handle, Castable};
use super::{guarded_status, guarded_value, out};
use crate::{Error, Status, TrapCode};
use std::ffi::{c_char, CString};
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

/// The wasm backtrace, one frame per line, or "" when there is none.
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

/// The name of a status, e.g. "SBX_STATUS_TIMEOUT", or "SBX_STATUS_UNKNOWN"
/// for a value this library does not define. Static; never NULL.
#[no_mangle]
pub extern "C" fn sbx_status_name(status: u32) -> *const c_char {
    static UNKNOWN: &[u8] = b"SBX_STATUS_UNKNOWN\0";
    guarded_value(UNKNOWN.as_ptr().cast(), || {
        Status::from_u32(status).map_or(UNKNOWN.as_ptr().cast(), |s| {
            c_name(&STATUS_NAMES, s as usize)
        })
    })
}

/// A short description of a trap code, e.g. "integer divide by zero", or
/// "unknown" for a value this library does not define. Static; never NULL.
#[no_mangle]
pub extern "C" fn sbx_trap_code_name(code: u8) -> *const c_char {
    static UNKNOWN: &[u8] = b"unknown\0";
    guarded_value(UNKNOWN.as_ptr().cast(), || {
        TrapCode::from_u8(code).map_or(UNKNOWN.as_ptr().cast(), |t| c_name(&TRAP_NAMES, t as usize))
    })
}

/// NUL-terminated copies of the core's names, indexed by value.
type Names = LazyLock<Vec<Option<CString>>>;

static STATUS_NAMES: Names = LazyLock::new(|| names(Status::ALL.map(|s| (s as usize, s.name()))));
static TRAP_NAMES: Names = LazyLock::new(|| names(TrapCode::ALL.map(|t| (t as usize, t.name()))));

fn names<const N: usize>(all: [(usize, &'static str); N]) -> Vec<Option<CString>> {
    let mut table = vec![None; all.iter().map(|(v, _)| v + 1).max().unwrap_or(0)];
    for (value, name) in all {
        table[value] = Some(CString::new(name).expect("names have no NUL"));
    }
    table
}

fn c_name(table: &Names, value: usize) -> *const c_char {
    table[value].as_ref().expect("a defined value").as_ptr()
}
