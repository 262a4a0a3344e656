//! The C ABI. Every function here only checks its arguments, converts types,
//! calls the safe core, and catches panics; `include/sbx.h` is generated from
//! these declarations by cbindgen.
#![allow(non_camel_case_types)]

mod config;
mod error;
mod host;
mod host_func;
mod module;
mod wasi;

pub use config::*;
pub use error::*;
pub use host::*;
pub use host_func::*;
pub use module::*;
pub use wasi::*;

use crate::error::{Error, Result, Status};
use crate::host::Timeout;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

/// Pass as a timeout to mean "no deadline at all", overriding a host default.
pub const SBX_TIMEOUT_NONE: u64 = u64::MAX;

/// Declares an opaque C handle type.
macro_rules! opaque {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[repr(C)]
        pub struct $name {
            _private: [u8; 0],
        }
    )*};
}
pub(crate) use opaque;

/// Runs `body`, turning an error into its status (and an error object for
/// the caller, if it asked for one) and a panic into `SBX_STATUS_INTERNAL`.
pub(crate) fn guarded(error_out: *mut *mut sbx_error, body: impl FnOnce() -> Result<()>) -> Status {
    let outcome =
        catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|panic| Err(panic_error(panic)));
    match outcome {
        Ok(()) => Status::Ok,
        Err(err) => {
            let status = err.status();
            error::give(error_out, err);
            status
        }
    }
}

/// [`guarded`] for functions with no error out-param.
pub(crate) fn guarded_status(body: impl FnOnce() -> Result<()>) -> Status {
    guarded(std::ptr::null_mut(), body)
}

/// [`guarded`] for functions that return a value instead of a status.
pub(crate) fn guarded_value<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(on_panic)
}

fn panic_error(panic: Box<dyn std::any::Any + Send>) -> Error {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    Error::new(
        Status::Internal,
        format!("internal error (caught panic): {what}"),
    )
}

/// A shared reference to a handle's object, or `InvalidArgument` for NULL.
pub(crate) fn handle<'a, C, T>(ptr: *const C, what: &str) -> Result<&'a T> {
    // SAFETY: a non-NULL handle was produced by `into_handle::<T>` and the
    // caller promises it has not been freed.
    unsafe { ptr.cast::<T>().as_ref() }.ok_or_else(|| Error::invalid(format!("{what} is NULL")))
}

pub(crate) fn into_handle<C, T>(value: T) -> *mut C {
    Box::into_raw(Box::new(value)).cast()
}

/// Takes back ownership of a handle; `None` for NULL.
///
/// # Safety
/// `ptr` is NULL or came from `into_handle::<T>` and is not used again.
pub(crate) unsafe fn from_handle<C, T>(ptr: *mut C) -> Option<Box<T>> {
    (!ptr.is_null()).then(|| unsafe { Box::from_raw(ptr.cast::<T>()) })
}

/// Writes an out-param, after checking it is not NULL.
pub(crate) fn out<T>(ptr: *mut T, what: &str) -> Result<&'static mut std::mem::MaybeUninit<T>> {
    // SAFETY: the caller promises a non-NULL out-param points to writable memory.
    unsafe { ptr.cast::<std::mem::MaybeUninit<T>>().as_mut() }
        .ok_or_else(|| Error::invalid(format!("{what} is NULL")))
}

/// A byte slice from a pointer and a length; NULL is allowed only for length 0.
pub(crate) fn bytes<'a>(ptr: *const u8, len: usize, what: &str) -> Result<&'a [u8]> {
    slice(ptr, len, what)
}

pub(crate) fn slice<'a, T>(ptr: *const T, len: usize, what: &str) -> Result<&'a [T]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Error::invalid(format!("{what} is NULL with length {len}")));
    }
    if len
        .checked_mul(std::mem::size_of::<T>())
        .is_none_or(|n| n > isize::MAX as usize)
    {
        return Err(Error::invalid(format!("{what} length {len} is too large")));
    }
    // SAFETY: checked non-NULL and size; the caller promises `len` readable elements.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

pub(crate) fn slice_mut<'a, T>(ptr: *mut T, len: usize, what: &str) -> Result<&'a mut [T]> {
    if len == 0 {
        return Ok(&mut []);
    }
    if ptr.is_null() {
        return Err(Error::invalid(format!("{what} is NULL with length {len}")));
    }
    if len
        .checked_mul(std::mem::size_of::<T>())
        .is_none_or(|n| n > isize::MAX as usize)
    {
        return Err(Error::invalid(format!("{what} length {len} is too large")));
    }
    // SAFETY: as in `slice`, and the caller promises the memory is writable.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

/// UTF-8 text from a pointer and a length.
pub(crate) fn text<'a>(ptr: *const u8, len: usize, what: &str) -> Result<&'a str> {
    std::str::from_utf8(bytes(ptr, len, what)?)
        .map_err(|_| Error::invalid(format!("{what} is not UTF-8")))
}

/// The C timeout convention: 0 = the host default, `SBX_TIMEOUT_NONE` = none.
pub(crate) fn timeout(ns: u64) -> Timeout {
    match ns {
        0 => Timeout::HostDefault,
        SBX_TIMEOUT_NONE => Timeout::Never,
        ns => Timeout::After(Duration::from_nanos(ns)),
    }
}

/// Turns a `u64` nanosecond setting into an optional duration (0 = none).
pub(crate) fn optional_duration(ns: u64) -> Option<Duration> {
    (ns != 0 && ns != SBX_TIMEOUT_NONE).then(|| Duration::from_nanos(ns))
}
