//! `sbx_host`: one engine, its limits and compiled-module cache.

use super::castable::{from_handle, into_handle, Castable};
use super::config::{self, sbx_config};
use super::{guarded, guarded_value, out, sbx_error};
use crate::Host;
use crate::Status;

/// A sandbox host: one engine, its limits and compiled-module cache.
/// Created by `sbx_host_new`, owned by the caller, freed by `sbx_close`.
/// Safe to use from several threads at once.
pub struct sbx_host {
    _private: [u8; 0],
}

impl Castable for sbx_host {
    type RustType = Host;
    const WHAT: &'static str = "host";
}

/// Creates a host from `config` (NULL for the defaults; copied, so it may be
/// freed right after). On success writes a new host to `*host_out`, owned by
/// the caller and freed with `sbx_close`.
/// Returns SBX_STATUS_OK; SBX_STATUS_INVALID_ARGUMENT for a NULL `host_out`
/// or a config `sbx_config_validate` refuses (with the same message);
/// SBX_STATUS_IO when the cache directory cannot be created;
/// SBX_STATUS_RESOURCE_LIMIT when the OS refuses a pooled host's up-front
/// address-space reservation (`sbx_config_set_pooling`; for example under
/// `ulimit -v`); SBX_STATUS_INTERNAL if the engine cannot be created
/// otherwise (a bug).
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
        let config = config::read(config)?;
        config::validate(&config)?;
        let host = Host::new(config)?;
        slot.write(into_handle(host));
        Ok(())
    })
}

/// Closes a host: interrupts and closes every module loaded from it (a call
/// in flight returns SBX_STATUS_HANDLE_CLOSED, and so does a load whose start
/// function is running), then frees the host handle. Module handles stay
/// valid, return SBX_STATUS_HANDLE_CLOSED, and must still be freed with
/// `sbx_module_free`.
/// NULL is a no-op. Do not call it while another thread uses `host`.
#[no_mangle]
pub extern "C" fn sbx_close(host: *mut sbx_host) {
    guarded_value((), || {
        // SAFETY: NULL or a host from `sbx_host_new`, not used again.
        if let Some(host) = unsafe { from_handle(host) } {
            host.close();
        }
    })
}
