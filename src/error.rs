//! Errors: one status enum for the whole API, trap kinds, and the error value
//! that carries a message and a wasm backtrace back to the caller.

use std::fmt;

/// The result of every fallible sbx function.
///
/// Values are explicit and never reused: a retired value stays reserved.
/// Blocks: 1-9 caller mistakes, 10-19 loading, 20-29 resolving a call,
/// 30-39 the guest was stopped, 90-99 sbx itself.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Success.
    Ok = 0,
    /// A NULL pointer, a bad length, an empty or whitespace-only name, a name
    /// that is not UTF-8, an unknown enum value or an out-of-range setting.
    InvalidArgument = 1,
    /// The handle was closed (by its own close or by closing its host),
    /// also for a call that was running when that happened.
    HandleClosed = 2,
    /// A guest memory access outside the memory's current size.
    OutOfBounds = 3,
    /// The bytes are not valid WebAssembly, use a feature sbx does not
    /// enable, or export an `_initialize` that takes or returns values.
    CompileError = 10,
    /// An import that the host cannot satisfy; the message names it.
    LinkError = 11,
    /// A host capacity is full (its module cap, the instance pool, or its cap
    /// on abandoned compiles); retry later.
    InstanceLimit = 12,
    /// The module's initial memories or tables together are larger than the
    /// configured limits, or it defines more of them than the host allows.
    ResourceLimit = 13,
    /// No export by that name, or the export is not a function.
    ExportNotFound = 20,
    /// Wrong number of params, a result buffer that is too small, or a
    /// signature using types that cannot cross as `uint64_t` (v128, references).
    SignatureMismatch = 21,
    /// The call's (or load's) deadline passed.
    Timeout = 30,
    /// The call was interrupted (`sbx_module_interrupt` or a cancel token; a
    /// close gives `HandleClosed`).
    Interrupted = 31,
    /// The call used up its fuel budget.
    FuelExhausted = 32,
    /// The guest trapped; the error carries the trap code and a backtrace.
    Trap = 33,
    /// A WASI program exited with a non-zero code (`sbx_error_exit_code`),
    /// whatever the code. Exit code 0 is success. The module stays usable.
    Exit = 34,
    /// A host function failed; the message says which and why.
    HostError = 35,
    /// A host directory could not be opened: the cache directory at host
    /// creation, or a WASI preopen at load.
    Io = 40,
    /// sbx itself failed (a caught panic). The process is still usable.
    Internal = 99,
}

impl Status {
    /// Every status, in value order: the one list tables and tests use.
    /// cbindgen:ignore
    pub const ALL: [Status; 18] = [
        Status::Ok,
        Status::InvalidArgument,
        Status::HandleClosed,
        Status::OutOfBounds,
        Status::CompileError,
        Status::LinkError,
        Status::InstanceLimit,
        Status::ResourceLimit,
        Status::ExportNotFound,
        Status::SignatureMismatch,
        Status::Timeout,
        Status::Interrupted,
        Status::FuelExhausted,
        Status::Trap,
        Status::Exit,
        Status::HostError,
        Status::Io,
        Status::Internal,
    ];

    /// The status whose value is `code`, if there is one.
    pub fn from_u32(code: u32) -> Option<Status> {
        Status::ALL.iter().copied().find(|s| *s as u32 == code)
    }

    /// The C name of the status, e.g. `SBX_STATUS_TIMEOUT`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "SBX_STATUS_OK",
            Status::InvalidArgument => "SBX_STATUS_INVALID_ARGUMENT",
            Status::HandleClosed => "SBX_STATUS_HANDLE_CLOSED",
            Status::OutOfBounds => "SBX_STATUS_OUT_OF_BOUNDS",
            Status::CompileError => "SBX_STATUS_COMPILE_ERROR",
            Status::LinkError => "SBX_STATUS_LINK_ERROR",
            Status::InstanceLimit => "SBX_STATUS_INSTANCE_LIMIT",
            Status::ResourceLimit => "SBX_STATUS_RESOURCE_LIMIT",
            Status::ExportNotFound => "SBX_STATUS_EXPORT_NOT_FOUND",
            Status::SignatureMismatch => "SBX_STATUS_SIGNATURE_MISMATCH",
            Status::Timeout => "SBX_STATUS_TIMEOUT",
            Status::Interrupted => "SBX_STATUS_INTERRUPTED",
            Status::FuelExhausted => "SBX_STATUS_FUEL_EXHAUSTED",
            Status::Trap => "SBX_STATUS_TRAP",
            Status::Exit => "SBX_STATUS_EXIT",
            Status::HostError => "SBX_STATUS_HOST_ERROR",
            Status::Io => "SBX_STATUS_IO",
            Status::Internal => "SBX_STATUS_INTERNAL",
        }
    }
}

/// Why the guest trapped. Carried as a fixed-width `uint8_t` in C so that new
/// kinds can be added without changing any signature.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrapCode {
    /// Not a trap.
    None = 0,
    /// The wasm stack cap (`max_wasm_stack`) was reached.
    StackOverflow = 1,
    /// A load or store outside linear memory.
    MemoryOutOfBounds = 2,
    /// A misaligned atomic access. Cannot occur today: sbx does not enable
    /// the threads proposal, so a module with atomics fails to compile.
    HeapMisaligned = 3,
    /// A table access outside the table.
    TableOutOfBounds = 4,
    /// `call_indirect` to a null table entry.
    IndirectCallToNull = 5,
    /// `call_indirect` to a function of another type.
    BadSignature = 6,
    /// Integer overflow (e.g. `INT_MIN / -1`).
    IntegerOverflow = 7,
    /// Integer division by zero.
    IntegerDivisionByZero = 8,
    /// A float that cannot be converted to an integer.
    BadConversionToInteger = 9,
    /// An `unreachable` instruction.
    Unreachable = 10,
    /// `memory.grow`/`table.grow` failed while configured to trap.
    AllocationTooLarge = 11,
    /// A null reference was dereferenced.
    NullReference = 12,
    /// Any other trap: one Wasmtime reports without a code this list has.
    Other = 255,
}

impl TrapCode {
    pub(crate) fn from_wasmtime(trap: wasmtime::Trap) -> TrapCode {
        use wasmtime::Trap as T;
        match trap {
            T::StackOverflow => TrapCode::StackOverflow,
            T::MemoryOutOfBounds => TrapCode::MemoryOutOfBounds,
            T::HeapMisaligned => TrapCode::HeapMisaligned,
            T::TableOutOfBounds => TrapCode::TableOutOfBounds,
            T::IndirectCallToNull => TrapCode::IndirectCallToNull,
            T::BadSignature => TrapCode::BadSignature,
            T::IntegerOverflow => TrapCode::IntegerOverflow,
            T::IntegerDivisionByZero => TrapCode::IntegerDivisionByZero,
            T::BadConversionToInteger => TrapCode::BadConversionToInteger,
            T::UnreachableCodeReached => TrapCode::Unreachable,
            T::AllocationTooLarge => TrapCode::AllocationTooLarge,
            T::NullReference => TrapCode::NullReference,
            _ => TrapCode::Other,
        }
    }

    /// A short lowercase name, e.g. `unreachable`; stable, used by the Go package.
    pub fn name(self) -> &'static str {
        match self {
            TrapCode::None => "none",
            TrapCode::StackOverflow => "stack overflow",
            TrapCode::MemoryOutOfBounds => "out of bounds memory access",
            TrapCode::HeapMisaligned => "misaligned memory access",
            TrapCode::TableOutOfBounds => "out of bounds table access",
            TrapCode::IndirectCallToNull => "indirect call to null",
            TrapCode::BadSignature => "indirect call type mismatch",
            TrapCode::IntegerOverflow => "integer overflow",
            TrapCode::IntegerDivisionByZero => "integer divide by zero",
            TrapCode::BadConversionToInteger => "invalid conversion to integer",
            TrapCode::Unreachable => "unreachable",
            TrapCode::AllocationTooLarge => "allocation too large",
            TrapCode::NullReference => "null reference",
            TrapCode::Other => "other",
        }
    }

    /// Every trap code, in value order: the one list tables and tests use.
    /// cbindgen:ignore
    pub const ALL: [TrapCode; 14] = [
        TrapCode::None,
        TrapCode::StackOverflow,
        TrapCode::MemoryOutOfBounds,
        TrapCode::HeapMisaligned,
        TrapCode::TableOutOfBounds,
        TrapCode::IndirectCallToNull,
        TrapCode::BadSignature,
        TrapCode::IntegerOverflow,
        TrapCode::IntegerDivisionByZero,
        TrapCode::BadConversionToInteger,
        TrapCode::Unreachable,
        TrapCode::AllocationTooLarge,
        TrapCode::NullReference,
        TrapCode::Other,
    ];

    /// The trap code whose value is `code`, if there is one.
    pub fn from_u8(code: u8) -> Option<TrapCode> {
        TrapCode::ALL.iter().copied().find(|t| *t as u8 == code)
    }
}

/// The failure a host function reports; it ends the guest's call with
/// [`Status::HostError`] and this message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostFuncError(pub String);

impl fmt::Display for HostFuncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HostFuncError {}

/// Why sbx stopped a running guest. Raised from the epoch callback and
/// recognised again when the call returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stopped {
    Timeout,
    Interrupted,
}

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stopped::Timeout => f.write_str("deadline exceeded"),
            Stopped::Interrupted => f.write_str("interrupted"),
        }
    }
}

impl std::error::Error for Stopped {}

/// An sbx error: a status, a one-line message, and for traps the trap code
/// and the wasm backtrace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    status: Status,
    message: String,
    trap: TrapCode,
    backtrace: Option<String>,
    exit_code: Option<i32>,
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with a status and a message, folded onto one line (every
    /// error is built here, so no path can hand C a multi-line message).
    pub fn new(status: Status, message: impl Into<String>) -> Error {
        Error {
            status,
            message: one_line(message.into()),
            trap: TrapCode::None,
            backtrace: None,
            exit_code: None,
        }
    }

    /// An `InvalidArgument` error.
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(Status::InvalidArgument, message)
    }

    /// A `HandleClosed` error saying `what` is closed.
    pub fn closed(what: &str) -> Error {
        Error::new(Status::HandleClosed, format!("{what} is closed"))
    }

    /// The status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The message, one line, without the backtrace.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The trap code; [`TrapCode::None`] unless the status is [`Status::Trap`].
    pub fn trap_code(&self) -> TrapCode {
        self.trap
    }

    /// The exit code, when the status is [`Status::Exit`].
    pub fn exit_code(&self) -> Option<i32> {
        self.exit_code
    }

    /// The wasm backtrace, where the failure happened inside the guest.
    pub fn backtrace(&self) -> Option<&str> {
        self.backtrace.as_deref()
    }

    /// Classifies an error that came out of running guest code (a call, or a
    /// start function during instantiation).
    pub(crate) fn from_guest(err: wasmtime::Error, what: &str) -> Error {
        let backtrace = err
            .downcast_ref::<wasmtime::WasmBacktrace>()
            .and_then(frames);
        if let Some(exit) = err.downcast_ref::<wasmtime_wasi::I32Exit>() {
            return Error {
                exit_code: Some(exit.0),
                ..Error::new(Status::Exit, format!("{what}: exited with code {}", exit.0))
            };
        }
        if let Some(failed) = err.downcast_ref::<HostFuncError>() {
            return Error {
                backtrace,
                ..Error::new(Status::HostError, format!("{what}: {failed}"))
            };
        }
        let (status, trap, message) = if let Some(stopped) = err.downcast_ref::<Stopped>() {
            let status = match stopped {
                Stopped::Timeout => Status::Timeout,
                Stopped::Interrupted => Status::Interrupted,
            };
            (status, TrapCode::None, format!("{what}: {stopped}"))
        } else if let Some(trap) = err.downcast_ref::<wasmtime::Trap>() {
            match trap {
                wasmtime::Trap::OutOfFuel => (
                    Status::FuelExhausted,
                    TrapCode::None,
                    format!("{what}: all fuel consumed"),
                ),
                wasmtime::Trap::Interrupt => (
                    Status::Interrupted,
                    TrapCode::None,
                    format!("{what}: interrupted"),
                ),
                other => {
                    let code = TrapCode::from_wasmtime(*other);
                    (
                        Status::Trap,
                        code,
                        format!("{what}: wasm trap: {}", code.name()),
                    )
                }
            }
        } else {
            // An error raised by a host function, or one Wasmtime produced
            // without a trap code: the guest's call failed all the same.
            (
                Status::Trap,
                TrapCode::Other,
                format!("{what}: {}", err.root_cause()),
            )
        };
        Error {
            trap,
            backtrace,
            ..Error::new(status, message)
        }
    }
}

/// The frames of a wasm backtrace, innermost first, one per line:
/// `0: 0x2a - name!func`. Wasmtime's own `Display` adds a heading and a hint
/// line, which a caller that prints the frames under its own heading would
/// repeat. None when there are no frames.
fn frames(backtrace: &wasmtime::WasmBacktrace) -> Option<String> {
    use std::fmt::Write;
    let mut out = String::new();
    for (i, frame) in backtrace.frames().iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = write!(out, "{i}: ");
        if let Some(offset) = frame.module_offset() {
            let _ = write!(out, "{offset:#x} - ");
        }
        let module = frame.module().name().unwrap_or("<unknown>");
        match frame.func_name() {
            Some(func) => {
                let _ = write!(out, "{module}!{func}");
            }
            None => {
                let _ = write!(out, "{module}!<wasm function {}>", frame.func_index());
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// `message` with its lines trimmed and joined by spaces: Wasmtime's errors
/// can embed pretty-printed values (`{:#?}`), and a log line must stay one line.
fn one_line(message: String) -> String {
    if !message.contains(['\n', '\r']) {
        return message;
    }
    let lines: Vec<&str> = message
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    lines.join(" ")
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(bt) = &self.backtrace {
            write!(f, "\nwasm backtrace:\n{bt}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_folded_onto_one_line() {
        let err = Error::new(
            Status::CompileError,
            "bad magic: [\n    0x0,\n    0x61,\r\n]\n",
        );
        assert_eq!(err.message(), "bad magic: [ 0x0, 0x61, ]");
        assert_eq!(Error::invalid("plain").message(), "plain");
    }
}
