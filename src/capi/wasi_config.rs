//! `sbx_wasi_config`: what a module's WASI world holds.

use super::castable::{from_handle, handle, handle_mut, into_handle, optional_handle, Castable};
use super::user_data::{sbx_free_callback, UserData};
use super::{bytes, guarded, guarded_status, guarded_value, sbx_error, text};
use crate::{Error, Result, Status};
use crate::{OutputSink, Preopen, WasiConfig};
use std::ffi::{c_char, c_void};
use std::path::PathBuf;
use std::sync::Arc;

/// A WASI world: preopened directories, environment, arguments, stdin,
/// and where stdout and stderr go. Denies everything but clocks and random
/// until told otherwise. Created by `sbx_wasi_config_new`, owned by the
/// caller, freed by `sbx_wasi_config_free`; the functions that take one
/// copy it. Not safe to modify from several threads at once.
pub struct sbx_wasi_config {
    _private: [u8; 0],
}

impl Castable for sbx_wasi_config {
    type RustType = WasiConfig;
    const WHAT: &'static str = "wasi config";
}

/// Receives bytes a guest wrote to stdout or stderr: `len` bytes at `data`,
/// valid only during the callback. Called on the thread running the guest.
pub type sbx_output_callback =
    Option<extern "C" fn(user_data: *mut c_void, data: *const u8, len: usize)>;

struct CallbackSink {
    callback: extern "C" fn(*mut c_void, *const u8, usize),
    user_data: UserData,
}

impl OutputSink for CallbackSink {
    fn write(&self, bytes: &[u8]) {
        (self.callback)(self.user_data.get(), bytes.as_ptr(), bytes.len());
    }
}

/// A new WASI config that denies everything but clocks and random. Owned by
/// the caller; free with `sbx_wasi_config_free`. NULL only if allocation panics.
#[no_mangle]
pub extern "C" fn sbx_wasi_config_new() -> *mut sbx_wasi_config {
    guarded_value(std::ptr::null_mut(), || into_handle(WasiConfig::default()))
}

/// Frees a WASI config. NULL is a no-op. Copies already taken keep their
/// callbacks' user data alive.
#[no_mangle]
pub extern "C" fn sbx_wasi_config_free(config: *mut sbx_wasi_config) {
    guarded_value((), || {
        // SAFETY: NULL or a config from `sbx_wasi_config_new`, not used again.
        drop(unsafe { from_handle(config) });
    })
}

/// Lets the guest see host directory `host_path` as `guest_path`, read-only
/// unless `writable`. The guest cannot leave it through `..`, absolute paths
/// or symlinks. Neither path may be empty: `sbx_wasi_config_validate` says
/// so, and a host or load given such a config fails. The directory is
/// opened when a module is loaded with this config; if it cannot be (it
/// does not exist, or is not a directory), that load fails with
/// SBX_STATUS_IO.
/// Status-only: returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for
/// NULL or bad UTF-8.
#[no_mangle]
pub extern "C" fn sbx_wasi_config_add_preopen_dir(
    config: *mut sbx_wasi_config,
    host_path: *const c_char,
    host_path_len: usize,
    guest_path: *const c_char,
    guest_path_len: usize,
    writable: bool,
) -> Status {
    guarded_status(|| {
        let config = handle_mut(config)?;
        let host = text(host_path, host_path_len, "host path")?;
        let guest = text(guest_path, guest_path_len, "guest path")?;
        config.preopens.push(Preopen {
            host: PathBuf::from(host),
            guest: guest.to_owned(),
            writable,
        });
        Ok(())
    })
}

/// Adds the environment variable `key=value`. The key must be non-empty and
/// contain no '=': `sbx_wasi_config_validate` says so, and a host or load
/// given such a config fails.
/// Status-only: returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for
/// NULL or bad UTF-8.
#[no_mangle]
pub extern "C" fn sbx_wasi_config_add_env(
    config: *mut sbx_wasi_config,
    key: *const c_char,
    key_len: usize,
    value: *const c_char,
    value_len: usize,
) -> Status {
    guarded_status(|| {
        let config = handle_mut(config)?;
        let key = text(key, key_len, "env key")?;
        let value = text(value, value_len, "env value")?;
        config.env.push((key.to_owned(), value.to_owned()));
        Ok(())
    })
}

/// Appends an argument; the first is `argv[0]`.
/// Status-only: returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for
/// NULL or bad UTF-8.
#[no_mangle]
pub extern "C" fn sbx_wasi_config_add_arg(
    config: *mut sbx_wasi_config,
    arg: *const c_char,
    arg_len: usize,
) -> Status {
    guarded_status(|| {
        let config = handle_mut(config)?;
        config.args.push(text(arg, arg_len, "arg")?.to_owned());
        Ok(())
    })
}

/// Sets the guest's whole stdin to a copy of `len` bytes at `data`.
/// Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for NULL.
#[no_mangle]
pub extern "C" fn sbx_wasi_config_set_stdin(
    config: *mut sbx_wasi_config,
    data: *const u8,
    len: usize,
) -> Status {
    guarded_status(|| {
        let config = handle_mut(config)?;
        config.stdin = bytes(data, len, "stdin")?.into();
        Ok(())
    })
}

/// Sets the output sink `field` picks on `config` (stdout or stderr).
fn set_sink(
    config: *mut sbx_wasi_config,
    field: fn(&mut WasiConfig) -> &mut Option<Arc<dyn OutputSink>>,
    callback: sbx_output_callback,
    user_data: *mut c_void,
    free: sbx_free_callback,
) -> Status {
    // Owned before anything can fail, so that a failure frees it at once.
    let user_data = UserData::new(user_data, free);
    let sink = callback.map(|callback| {
        Arc::new(CallbackSink {
            callback,
            user_data,
        }) as Arc<dyn OutputSink>
    });
    guarded_status(move || {
        *field(handle_mut(config)?) = sink;
        Ok(())
    })
}

/// Sends the guest's stdout to `callback` with `user_data`; a NULL callback
/// discards it (the default). `free_user_data` (may be NULL) runs once when
/// the last copy of this config is dropped, and right away for a NULL
/// callback or on failure.
/// Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for a NULL config.
#[no_mangle]
pub extern "C" fn sbx_wasi_config_set_stdout(
    config: *mut sbx_wasi_config,
    callback: sbx_output_callback,
    user_data: *mut c_void,
    free_user_data: sbx_free_callback,
) -> Status {
    set_sink(
        config,
        |c| &mut c.stdout,
        callback,
        user_data,
        free_user_data,
    )
}

/// As `sbx_wasi_config_set_stdout`, for stderr.
#[no_mangle]
pub extern "C" fn sbx_wasi_config_set_stderr(
    config: *mut sbx_wasi_config,
    callback: sbx_output_callback,
    user_data: *mut c_void,
    free_user_data: sbx_free_callback,
) -> Status {
    set_sink(
        config,
        |c| &mut c.stderr,
        callback,
        user_data,
        free_user_data,
    )
}

/// Passes on at most `bytes` of stdout, and of stderr, per call (and per
/// load); the rest is dropped. 0 means no cap (the default).
/// Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for a NULL config.
#[no_mangle]
pub extern "C" fn sbx_wasi_config_set_output_limit(
    config: *mut sbx_wasi_config,
    bytes: u64,
) -> Status {
    guarded_status(|| {
        handle_mut(config)?.output_limit = (bytes != 0).then_some(bytes);
        Ok(())
    })
}

/// Checks what the adders record without checking: no empty preopen path,
/// no empty env key or one containing '='. Returns SBX_STATUS_OK, or
/// SBX_STATUS_INVALID_ARGUMENT for NULL or the first bad entry, with a
/// message naming it in `*error_out` (may be NULL; the caller frees it with
/// `sbx_error_free`). `sbx_host_new` and `sbx_load_module_with` run the same
/// check on the configs they are given.
#[no_mangle]
pub extern "C" fn sbx_wasi_config_validate(
    config: *const sbx_wasi_config,
    error_out: *mut *mut sbx_error,
) -> Status {
    guarded(error_out, || validate(handle(config)?))
}

/// The check of `sbx_wasi_config_validate`. The core takes any strings, so
/// the rules C documents are enforced here.
pub(crate) fn validate(config: &WasiConfig) -> Result<()> {
    for p in &config.preopens {
        if p.host.as_os_str().is_empty() || p.guest.is_empty() {
            return Err(Error::invalid(format!(
                "wasi config: preopen {:?} as {:?}: paths must not be empty",
                p.host.display().to_string(),
                p.guest
            )));
        }
    }
    for (key, _) in &config.env {
        if key.is_empty() || key.contains('=') {
            return Err(Error::invalid(format!(
                "wasi config: env key {key:?} must be non-empty and contain no '='"
            )));
        }
    }
    Ok(())
}

/// A copy of `config`, or `None` for NULL.
pub(crate) fn read(config: *const sbx_wasi_config) -> Result<Option<WasiConfig>> {
    Ok(optional_handle(config)?.cloned())
}
