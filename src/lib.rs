//! sbx runs untrusted WebAssembly plugins on Wasmtime under hard limits on
//! time, fuel, memory, stack and instances.
//!
//! The safe Rust core ([`Host`], [`CompiledModule`], [`Module`], [`Limits`],
//! [`Error`]) can be used on its own; [`capi`] is the thin C ABI on top of
//! it that `include/sbx.h` describes and the Go package uses.
//!
//! The core's files depend on each other in one direction, bottom to top:
//! - values, errors and clocks: `value`, `error`, `clock`;
//! - mechanisms: `deadline`, `limits`, `memory`, `registry`, `stats`, then
//!   `limiter`, `shape`, `cache`, `wasi`;
//! - a module's parts: `store`, `runtime`, `host_func`, `exports`, `linkers`;
//! - `module`, then `compiled`, then `host`.
//!
//! `tests/layering.rs` checks that order.

pub mod cache;
pub mod capi;
mod clock;
mod compiled;
mod deadline;
mod error;
mod exports;
mod host;
mod host_func;
mod limiter;
mod limits;
mod linkers;
mod memory;
mod module;
mod registry;
mod runtime;
mod shape;
mod stats;
mod store;
mod value;
mod wasi;

pub use cache::CacheSource;
pub use compiled::CompiledModule;
pub use deadline::{queued_deadlines, Cancel, Timeout};
pub use error::{Error, HostFuncError, Result, Status, TrapCode};
pub use host::{Host, HostConfig};
pub use host_func::{Caller, HostCallback};
pub use limits::Limits;
pub use module::{LoadOptions, Module, ResetPolicy};
pub use stats::{HostStats, ModuleStats};
pub use value::{Signature, ValueType};
pub use wasi::{OutputSink, Preopen, WasiConfig};

/// The crate version, also returned by `sbx_version()`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
