//! sbx runs untrusted WebAssembly plugins on Wasmtime under hard limits on
//! time, fuel, memory, stack and instances.
//!
//! The safe Rust core ([`Host`], [`Module`], [`Limits`], [`Error`]) can be
//! used on its own; [`capi`] is the thin C ABI on top of it that `include/sbx.h`
//! describes and the Go package uses.

pub mod cache;
mod call;
pub mod capi;
mod deadline;
mod error;
mod host;
mod host_func;
mod limiter;
mod limits;
mod memory;
mod module;
mod shape;
mod wasi;

pub use cache::CacheSource;
pub use call::{Signature, ValueType};
pub use deadline::{queued_deadlines, Cancel};
pub use error::{Error, Result, Status, TrapCode};
pub use host::{Host, HostConfig, LoadOptions, Timeout};
pub use host_func::{Caller, HostCallback, HostFuncError};
pub use limits::Limits;
pub use module::Module;
pub use wasi::{OutputSink, Preopen, WasiConfig};

/// The crate version, also returned by `sbx_version()`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
