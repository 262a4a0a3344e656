//! `sbx_load_options`: the per-load settings of `sbx_load_module_with`.

use super::cancel::sbx_cancel;
use super::castable::{from_handle, handle_mut, into_handle, optional_handle, Castable};
use super::wasi_config::{self, sbx_wasi_config};
use super::{guarded_status, guarded_value, timeout};
use crate::LoadOptions;
use crate::{Error, ResetPolicy, Result, Status};
use std::borrow::Cow;

/// Per-load settings for `sbx_load_module_with`. Created by
/// `sbx_load_options_new`, owned by the caller, freed by
/// `sbx_load_options_free`. Not safe to modify from several threads at once.
pub struct sbx_load_options {
    _private: [u8; 0],
}

impl Castable for sbx_load_options {
    type RustType = LoadOptions;
    const WHAT: &'static str = "load options";
}

/// New load options: host load timeout, no cancel token, the host's WASI
/// config, user data 0. Owned by the caller; free with `sbx_load_options_free`.
#[no_mangle]
pub extern "C" fn sbx_load_options_new() -> *mut sbx_load_options {
    guarded_value(std::ptr::null_mut(), || into_handle(LoadOptions::default()))
}

/// Frees load options. NULL is a no-op.
#[no_mangle]
pub extern "C" fn sbx_load_options_free(options: *mut sbx_load_options) {
    guarded_value((), || {
        // SAFETY: NULL or options from `sbx_load_options_new`, not used again.
        drop(unsafe { from_handle(options) });
    })
}

/// The load's deadline: 0 for the host's load timeout, `SBX_TIMEOUT_NONE` for none.
/// Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for NULL.
#[no_mangle]
pub extern "C" fn sbx_load_options_set_timeout_ns(
    options: *mut sbx_load_options,
    timeout_ns: u64,
) -> Status {
    guarded_status(|| {
        handle_mut(options)?.timeout = timeout(timeout_ns);
        Ok(())
    })
}

/// A token that stops the load when triggered (NULL for none). The options
/// hold their own reference, so the token may be freed before them.
/// Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for NULL options.
#[no_mangle]
pub extern "C" fn sbx_load_options_set_cancel(
    options: *mut sbx_load_options,
    cancel: *const sbx_cancel,
) -> Status {
    guarded_status(|| {
        let options = handle_mut(options)?;
        options.cancel = optional_handle(cancel)?.cloned();
        Ok(())
    })
}

/// Gives the module this WASI world (copied) instead of the host's; NULL
/// goes back to the host's. Enables WASI for the module even when the host
/// has none. Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for NULL options.
#[no_mangle]
pub extern "C" fn sbx_load_options_set_wasi(
    options: *mut sbx_load_options,
    wasi: *const sbx_wasi_config,
) -> Status {
    guarded_status(|| {
        handle_mut(options)?.wasi = wasi_config::read(wasi)?;
        Ok(())
    })
}

/// A value host functions read back with `sbx_caller_user_data` when this
/// module calls them. Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for NULL.
#[no_mangle]
pub extern "C" fn sbx_load_options_set_user_data(
    options: *mut sbx_load_options,
    user_data: u64,
) -> Status {
    guarded_status(|| {
        handle_mut(options)?.user_data = user_data;
        Ok(())
    })
}

/// Sets when the module resets itself, an `sbx_reset_policy` value
/// (default SBX_RESET_POLICY_NEVER).
/// Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for NULL or an
/// unknown value.
#[no_mangle]
pub extern "C" fn sbx_load_options_set_reset_policy(
    options: *mut sbx_load_options,
    policy: u32,
) -> Status {
    guarded_status(|| {
        let options = handle_mut(options)?;
        options.reset = ResetPolicy::from_u32(policy)
            .ok_or_else(|| Error::invalid(format!("unknown reset policy {policy}")))?;
        Ok(())
    })
}

/// The options `options` points to (borrowed for the call: a load reads
/// them without copying its cancel token's `Arc`), or the defaults for NULL.
pub(crate) fn read<'a>(options: *const sbx_load_options) -> Result<Cow<'a, LoadOptions>> {
    Ok(match optional_handle(options)? {
        Some(options) => Cow::Borrowed(options),
        None => Cow::Owned(LoadOptions::default()),
    })
}
