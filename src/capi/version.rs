//! The library's version, for the header (`SBX_VERSION_*`, compile time) and
//! for `sbx_version()` (run time, the library actually linked).
//!
//! cbindgen emits constants but cannot evaluate `env!`, so the numbers are
//! written out here and a test holds them to Cargo.toml's version, the one
//! source of truth. The header builds the `SBX_VERSION` string from them
//! (cbindgen.toml).

/// The major version of the header; compare with `sbx_version()` for the
/// library linked.
pub const SBX_VERSION_MAJOR: u32 = 0;
/// The minor version of the header.
pub const SBX_VERSION_MINOR: u32 = 1;
/// The patch version of the header.
pub const SBX_VERSION_PATCH: u32 = 0;

/// The version of this library, e.g. "0.1.0". Static; never NULL.
#[no_mangle]
pub extern "C" fn sbx_version() -> *const std::ffi::c_char {
    static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    VERSION.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn constants_match_cargo_toml_and_sbx_version() {
        let numbers = format!("{SBX_VERSION_MAJOR}.{SBX_VERSION_MINOR}.{SBX_VERSION_PATCH}");
        assert_eq!(
            numbers,
            env!("CARGO_PKG_VERSION"),
            "update src/capi/version.rs to Cargo.toml's version, then `make header`"
        );
        // SAFETY: `sbx_version` returns a static NUL-terminated string.
        let linked = unsafe { CStr::from_ptr(sbx_version()) };
        assert_eq!(linked.to_str().unwrap(), numbers);
    }

    /// The header's `SBX_VERSION` string is stringified from these macros,
    /// so they must be bare numbers (a literal suffix would end up in it).
    #[test]
    fn header_defines_bare_numbers() {
        let header = include_str!("../../include/sbx.h");
        for (name, value) in [
            ("MAJOR", SBX_VERSION_MAJOR),
            ("MINOR", SBX_VERSION_MINOR),
            ("PATCH", SBX_VERSION_PATCH),
        ] {
            let line = format!("\n#define SBX_VERSION_{name} {value}\n");
            assert!(header.contains(&line), "{line:?} not in include/sbx.h");
        }
    }
}
