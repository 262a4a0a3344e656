//! `sbx_host` and `sbx_cancel`.

use super::{
    config::{self, sbx_config},
    guarded, guarded_status, guarded_value, handle, out, sbx_error,
};
use crate::deadline::Cancel;
use crate::error::Status;
use crate::host::Host;
use std::sync::Arc;

/// A sandbox host: one engine, its limits and compiled-module cache.
/// Created by `sbx_host_new`, owned by the caller, freed by `sbx_close`.
/// Safe to use from several threads at once.
pub struct sbx_host {
    _private: [u8; 0],
}

/// A cancel token for calls and loads on one host. Created by
/// `sbx_cancel_new`, owned by the caller, freed by `sbx_cancel_free`.
/// `sbx_cancel_trigger` is safe from any thread at any time before the free.
pub struct sbx_cancel {
    _private: [u8; 0],
}

/// Creates a host from `config` (NULL for the defaults; copied, so it may be
/// freed right after). On success writes a new host to `*host_out`, owned by
/// the caller and freed with `sbx_close`.
/// Returns SBX_STATUS_OK; SBX_STATUS_INVALID_ARGUMENT for a NULL `host_out`;
/// SBX_STATUS_IO when the cache directory cannot be created;
/// SBX_STATUS_INTERNAL if the engine cannot be created.
/// On failure, if `error_out` is not NULL, writes an error the caller frees
/// with `sbx_error_free`.
#[no_mangle]
pub extern "C" fn sbx_host_new(
    config: *const sbx_config,
    host_out: *mut *mut sbx_host,
    error_out: *mut *mut sbx_error,
) -> Status {
    guarded(error_out, || {
        let slot = out(host_out, "host_out")?;
        let host = Host::new(config::read(config)?)?;
        slot.write(super::into_handle(host));
        Ok(())
    })
}

/// Closes a host: interrupts and closes every module loaded from it (a call
/// in flight returns SBX_STATUS_HANDLE_CLOSED), then frees the host handle. Module handles stay valid, return
/// SBX_STATUS_HANDLE_CLOSED, and must still be freed with `sbx_module_free`.
/// NULL is a no-op. Do not call it while another thread uses `host`.
#[no_mangle]
pub extern "C" fn sbx_close(host: *mut sbx_host) {
    guarded_value((), || {
        // SAFETY: NULL or a host from `sbx_host_new`, not used again.
        if let Some(host) = unsafe { super::from_handle::<_, Host>(host) } {
            host.close();
        }
    })
}

/// Creates a cancel token bound to `host`, writing it to `*cancel_out` on
/// success (owned by the caller; free with `sbx_cancel_free`).
/// Returns SBX_STATUS_OK; SBX_STATUS_INVALID_ARGUMENT for NULL arguments;
/// SBX_STATUS_HANDLE_CLOSED for a closed host.
#[no_mangle]
pub extern "C" fn sbx_cancel_new(
    host: *const sbx_host,
    cancel_out: *mut *mut sbx_cancel,
) -> Status {
    guarded_status(|| {
        let host = handle::<_, Host>(host, "host")?;
        let slot = out(cancel_out, "cancel_out")?;
        if host.is_closed() {
            return Err(crate::Error::new(
                crate::Status::HandleClosed,
                "host is closed",
            ));
        }
        slot.write(super::into_handle(host.new_cancel()));
        Ok(())
    })
}

/// Triggers a token: every call or load given it stops with
/// SBX_STATUS_INTERRUPTED, whether it is running now or starts later, until
/// `sbx_cancel_reset`. Safe from any thread; idempotent.
/// Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for NULL.
#[no_mangle]
pub extern "C" fn sbx_cancel_trigger(cancel: *const sbx_cancel) -> Status {
    guarded_status(|| {
        handle::<_, Arc<Cancel>>(cancel, "cancel")?.trigger();
        Ok(())
    })
}

/// Un-triggers a token so it can be used again. Must not run concurrently
/// with `sbx_cancel_trigger` or with a call or load that uses the token.
/// Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for NULL.
#[no_mangle]
pub extern "C" fn sbx_cancel_reset(cancel: *mut sbx_cancel) -> Status {
    guarded_status(|| {
        handle::<_, Arc<Cancel>>(cancel, "cancel")?.reset();
        Ok(())
    })
}

/// Frees a token. NULL is a no-op. No call, load or trigger may be using it.
#[no_mangle]
pub extern "C" fn sbx_cancel_free(cancel: *mut sbx_cancel) {
    guarded_value((), || {
        // SAFETY: NULL or a token from `sbx_cancel_new`, not used again.
        drop(unsafe { super::from_handle::<_, Arc<Cancel>>(cancel) });
    })
}

/// The version of this library, e.g. "0.1.0". Static; never NULL.
#[no_mangle]
pub extern "C" fn sbx_version() -> *const std::ffi::c_char {
    static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    VERSION.as_ptr().cast()
}
