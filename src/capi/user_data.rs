//! User data for C callbacks: an opaque pointer the embedder hands over with
//! an optional function that frees it. Shared by host functions
//! (`sbx_host_define_func`) and output callbacks (`sbx_wasi_config_set_stdout`).

use std::ffi::c_void;

/// Frees callback user data once sbx no longer needs it: when the last copy
/// of the WASI config holding it is dropped (after the host or module that
/// uses it is gone), or when the host of a host function is gone. May be NULL.
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
