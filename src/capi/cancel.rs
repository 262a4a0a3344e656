//! `sbx_cancel`: a token that stops calls and loads on one host.

use super::castable::{from_handle, handle, into_handle, Castable};
use super::host::sbx_host;
use super::{guarded_status, guarded_value, out};
use crate::Cancel;
use crate::{Error, Status};
use std::sync::Arc;

/// A cancel token for calls and loads on one host. Created by
/// `sbx_cancel_new`, owned by the caller, freed by `sbx_cancel_free`.
/// `sbx_cancel_trigger` is safe from any thread at any time before the free.
pub struct sbx_cancel {
    _private: [u8; 0],
}

// An `Arc` because load options keep their own reference to the token.
impl Castable for sbx_cancel {
    type RustType = Arc<Cancel>;
    const WHAT: &'static str = "cancel";
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
        let host = handle(host)?;
        let slot = out(cancel_out, "cancel_out")?;
        if host.is_closed() {
            return Err(Error::new(Status::HandleClosed, "host is closed"));
        }
        slot.write(into_handle(host.new_cancel()));
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
        handle(cancel)?.trigger();
        Ok(())
    })
}

/// Un-triggers a token so it can be used again. Must not run concurrently
/// with `sbx_cancel_trigger` or with a call or load that uses the token.
/// Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for NULL.
#[no_mangle]
pub extern "C" fn sbx_cancel_reset(cancel: *mut sbx_cancel) -> Status {
    guarded_status(|| {
        handle(cancel)?.reset();
        Ok(())
    })
}

/// Frees a token. NULL is a no-op. No call, load or trigger may be using it.
#[no_mangle]
pub extern "C" fn sbx_cancel_free(cancel: *mut sbx_cancel) {
    guarded_value((), || {
        // SAFETY: NULL or a token from `sbx_cancel_new`, not used again.
        drop(unsafe { from_handle(cancel) });
    })
}
