//! `sbx_wasi_config` and `sbx_load_options`: what a module's WASI world holds,
//! and the per-load settings that carry it.

use super::host::sbx_cancel;
use super::{bytes, guarded_status, guarded_value, handle, handle_mut, text, timeout};
use crate::deadline::Cancel;
use crate::error::{Error, Result, Status};
use crate::host::LoadOptions;
use crate::wasi::{OutputSink, Preopen, WasiConfig};
use std::ffi::c_void;
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

/// Per-load settings for `sbx_load_module_with`. Created by
/// `sbx_load_options_new`, owned by the caller, freed by
/// `sbx_load_options_free`. Not safe to modify from several threads at once.
pub struct sbx_load_options {
    _private: [u8; 0],
}

/// Receives bytes a guest wrote to stdout or stderr: `len` bytes at `data`,
/// valid only during the callback. Called on the thread running the guest.
pub type sbx_output_callback =
    Option<extern "C" fn(user_data: *mut c_void, data: *const u8, len: usize)>;

/// Frees callback user data when the last copy of the config holding it is
/// dropped (after the host or module that uses it is gone). May be NULL.
pub type sbx_free_callback = Option<extern "C" fn(user_data: *mut c_void)>;

/// A C callback with its user data, freed exactly once.
pub(crate) struct UserData {
    ptr: *mut c_void,
    free: sbx_free_callback,
}

// SAFETY: the header tells the embedder that callbacks may run on any thread
// that calls into a module, so the user data must tolerate that.
unsafe impl Send for UserData {}
unsafe impl Sync for UserData {}

impl UserData {
    pub(crate) fn new(ptr: *mut c_void, free: sbx_free_callback) -> UserData {
        UserData { ptr, free }
    }

    /// The pointer; a method so closures capture the whole `UserData`.
    pub(crate) fn get(&self) -> *mut c_void {
        self.ptr
    }
}

impl Drop for UserData {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            free(self.ptr);
        }
    }
}

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
    guarded_value(std::ptr::null_mut(), || {
        super::into_handle(WasiConfig::default())
    })
}

/// Frees a WASI config. NULL is a no-op. Copies already taken keep their
/// callbacks' user data alive.
#[no_mangle]
pub extern "C" fn sbx_wasi_config_free(config: *mut sbx_wasi_config) {
    guarded_value((), || {
        // SAFETY: NULL or a config from `sbx_wasi_config_new`, not used again.
        drop(unsafe { super::from_handle::<_, WasiConfig>(config) });
    })
}

/// Lets the guest see host directory `host_path` as `guest_path` (both UTF-8,
/// pointer and length), read-only unless `writable`. The guest cannot leave
/// it through `..`, absolute paths or symlinks. The directory is opened when
/// a module is loaded with this config; if it cannot be, that load fails with
/// SBX_STATUS_IO.
/// Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for NULL, bad UTF-8
/// or an empty path.
#[no_mangle]
pub extern "C" fn sbx_wasi_config_preopen_dir(
    config: *mut sbx_wasi_config,
    host_path: *const u8,
    host_path_len: usize,
    guest_path: *const u8,
    guest_path_len: usize,
    writable: bool,
) -> Status {
    guarded_status(|| {
        let config = handle_mut::<_, WasiConfig>(config, "wasi config")?;
        let host = text(host_path, host_path_len, "host path")?;
        let guest = text(guest_path, guest_path_len, "guest path")?;
        if host.is_empty() || guest.is_empty() {
            return Err(Error::invalid("preopen paths must not be empty"));
        }
        config.preopens.push(Preopen {
            host: PathBuf::from(host),
            guest: guest.to_owned(),
            writable,
        });
        Ok(())
    })
}

/// Adds the environment variable `key=value` (UTF-8, pointer and length).
/// Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for NULL, bad UTF-8,
/// an empty key or a key containing '='.
#[no_mangle]
pub extern "C" fn sbx_wasi_config_env(
    config: *mut sbx_wasi_config,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
) -> Status {
    guarded_status(|| {
        let config = handle_mut::<_, WasiConfig>(config, "wasi config")?;
        let key = text(key, key_len, "env key")?;
        let value = text(value, value_len, "env value")?;
        if key.is_empty() || key.contains('=') {
            return Err(Error::invalid(
                "env key must be non-empty and contain no '='",
            ));
        }
        config.env.push((key.to_owned(), value.to_owned()));
        Ok(())
    })
}

/// Appends an argument (UTF-8, pointer and length); the first is `argv[0]`.
/// Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for NULL or bad UTF-8.
#[no_mangle]
pub extern "C" fn sbx_wasi_config_arg(
    config: *mut sbx_wasi_config,
    arg: *const u8,
    arg_len: usize,
) -> Status {
    guarded_status(|| {
        let config = handle_mut::<_, WasiConfig>(config, "wasi config")?;
        config.args.push(text(arg, arg_len, "arg")?.to_owned());
        Ok(())
    })
}

/// Sets the guest's whole stdin to a copy of `len` bytes at `data`.
/// Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for NULL.
#[no_mangle]
pub extern "C" fn sbx_wasi_config_stdin(
    config: *mut sbx_wasi_config,
    data: *const u8,
    len: usize,
) -> Status {
    guarded_status(|| {
        let config = handle_mut::<_, WasiConfig>(config, "wasi config")?;
        config.stdin = bytes(data, len, "stdin")?.into();
        Ok(())
    })
}

fn sink(
    callback: sbx_output_callback,
    user_data: *mut c_void,
    free: sbx_free_callback,
) -> Option<Arc<dyn OutputSink>> {
    let user_data = UserData::new(user_data, free);
    callback.map(|callback| {
        Arc::new(CallbackSink {
            callback,
            user_data,
        }) as Arc<dyn OutputSink>
    })
}

/// Sends the guest's stdout to `callback` with `user_data`; a NULL callback
/// discards it (the default). `free_user_data` (may be NULL) runs once when
/// the last copy of this config is dropped, and right away for a NULL
/// callback or on failure.
/// Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for a NULL config.
#[no_mangle]
pub extern "C" fn sbx_wasi_config_stdout(
    config: *mut sbx_wasi_config,
    callback: sbx_output_callback,
    user_data: *mut c_void,
    free_user_data: sbx_free_callback,
) -> Status {
    let sink = sink(callback, user_data, free_user_data);
    guarded_status(move || {
        handle_mut::<_, WasiConfig>(config, "wasi config")?.stdout = sink;
        Ok(())
    })
}

/// As `sbx_wasi_config_stdout`, for stderr.
#[no_mangle]
pub extern "C" fn sbx_wasi_config_stderr(
    config: *mut sbx_wasi_config,
    callback: sbx_output_callback,
    user_data: *mut c_void,
    free_user_data: sbx_free_callback,
) -> Status {
    let sink = sink(callback, user_data, free_user_data);
    guarded_status(move || {
        handle_mut::<_, WasiConfig>(config, "wasi config")?.stderr = sink;
        Ok(())
    })
}

/// Passes on at most `bytes` of stdout, and of stderr, per call (and per
/// load); the rest is dropped. 0 means no cap (the default).
/// Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for a NULL config.
#[no_mangle]
pub extern "C" fn sbx_wasi_config_output_limit(config: *mut sbx_wasi_config, bytes: u64) -> Status {
    guarded_status(|| {
        handle_mut::<_, WasiConfig>(config, "wasi config")?.output_limit =
            (bytes != 0).then_some(bytes);
        Ok(())
    })
}

pub(crate) fn read_wasi(config: *const sbx_wasi_config) -> Result<Option<WasiConfig>> {
    if config.is_null() {
        return Ok(None);
    }
    handle::<_, WasiConfig>(config, "wasi config").map(|c| Some(c.clone()))
}

/// New load options: host load timeout, no cancel token, the host's WASI
/// config, user data 0. Owned by the caller; free with `sbx_load_options_free`.
#[no_mangle]
pub extern "C" fn sbx_load_options_new() -> *mut sbx_load_options {
    guarded_value(std::ptr::null_mut(), || {
        super::into_handle(LoadOptions::default())
    })
}

/// Frees load options. NULL is a no-op.
#[no_mangle]
pub extern "C" fn sbx_load_options_free(options: *mut sbx_load_options) {
    guarded_value((), || {
        // SAFETY: NULL or options from `sbx_load_options_new`, not used again.
        drop(unsafe { super::from_handle::<_, LoadOptions>(options) });
    })
}

/// The load's deadline: 0 for the host's load timeout, `SBX_TIMEOUT_NONE` for none.
/// Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for NULL.
#[no_mangle]
pub extern "C" fn sbx_load_options_timeout_ns(
    options: *mut sbx_load_options,
    timeout_ns: u64,
) -> Status {
    guarded_status(|| {
        handle_mut::<_, LoadOptions>(options, "load options")?.timeout = timeout(timeout_ns);
        Ok(())
    })
}

/// A token that stops the load when triggered (NULL for none). The options
/// hold their own reference, so the token may be freed before them.
/// Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for NULL options.
#[no_mangle]
pub extern "C" fn sbx_load_options_cancel(
    options: *mut sbx_load_options,
    cancel: *const sbx_cancel,
) -> Status {
    guarded_status(|| {
        let options = handle_mut::<_, LoadOptions>(options, "load options")?;
        options.cancel = if cancel.is_null() {
            None
        } else {
            Some(handle::<_, Arc<Cancel>>(cancel, "cancel")?.clone())
        };
        Ok(())
    })
}

/// Gives the module this WASI world (copied) instead of the host's; NULL
/// goes back to the host's. Enables WASI for the module even when the host
/// has none. Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for NULL options.
#[no_mangle]
pub extern "C" fn sbx_load_options_wasi(
    options: *mut sbx_load_options,
    wasi: *const sbx_wasi_config,
) -> Status {
    guarded_status(|| {
        handle_mut::<_, LoadOptions>(options, "load options")?.wasi = read_wasi(wasi)?;
        Ok(())
    })
}

/// A value host functions read back with `sbx_caller_user_data` when this
/// module calls them. Returns SBX_STATUS_OK, or SBX_STATUS_INVALID_ARGUMENT for NULL.
#[no_mangle]
pub extern "C" fn sbx_load_options_user_data(
    options: *mut sbx_load_options,
    user_data: u64,
) -> Status {
    guarded_status(|| {
        handle_mut::<_, LoadOptions>(options, "load options")?.user_data = user_data;
        Ok(())
    })
}

pub(crate) fn read_options(options: *const sbx_load_options) -> Result<LoadOptions> {
    if options.is_null() {
        return Ok(LoadOptions::default());
    }
    handle::<_, LoadOptions>(options, "load options").cloned()
}
