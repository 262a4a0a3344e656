//! WASI preview 1 through wasmtime-wasi, deny-by-default: no preopened
//! directories, no environment, no arguments, no sockets; clocks and random
//! are allowed. stdout and stderr go to sinks the embedder gives (discarded
//! otherwise), capped per call; stdin comes from bytes.
//!
//! `poll_oneoff` is sbx's own for clock-only waits (sleeps): wasmtime-wasi's
//! blocks the thread where no deadline, interrupt or close can reach it.

use crate::clock::now_ns;
use crate::deadline::{CallState, Watched};
use crate::error::{Error, Result, Status};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use wasmtime::{AsContextMut, Caller, Extern, Linker};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// Where a guest's stdout or stderr bytes go. Called on the thread running
/// the guest, while the guest waits.
pub trait OutputSink: Send + Sync {
    /// Receives the next bytes the guest wrote.
    fn write(&self, bytes: &[u8]);
}

/// A host directory the guest may see under `guest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preopen {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the guest sees it, e.g. `/data`.
    pub guest: String,
    /// Read-write only when asked for explicitly.
    pub writable: bool,
}

/// What a module's WASI world contains. The default denies everything but
/// clocks and random.
#[derive(Clone, Default)]
pub struct WasiConfig {
    /// Directories visible to the guest.
    pub preopens: Vec<Preopen>,
    /// Environment variables.
    pub env: Vec<(String, String)>,
    /// Arguments, `argv[0]` first.
    pub args: Vec<String>,
    /// The guest's whole stdin.
    pub stdin: Arc<[u8]>,
    /// Receives stdout; `None` discards it.
    pub stdout: Option<Arc<dyn OutputSink>>,
    /// Receives stderr; `None` discards it.
    pub stderr: Option<Arc<dyn OutputSink>>,
    /// Bytes of stdout and of stderr passed on per call (and per load);
    /// the rest is dropped. `None` passes everything.
    pub output_limit: Option<u64>,
}

impl std::fmt::Debug for WasiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasiConfig")
            .field("preopens", &self.preopens)
            .field("env", &self.env)
            .field("args", &self.args)
            .field("stdin_len", &self.stdin.len())
            .field("stdout", &self.stdout.is_some())
            .field("stderr", &self.stderr.is_some())
            .field("output_limit", &self.output_limit)
            .finish()
    }
}

/// What a store's data gives WASI: its call state (for sleeps that a
/// deadline, interrupt or close must end) and its WASI state.
pub(crate) trait WasiStore: CallState + Send + 'static {
    /// The store's WASI state; only stores linked with WASI are asked.
    fn wasi(&mut self) -> &mut WasiState;
}

/// Adds sbx's WASI preview 1 to `linker`: wasmtime-wasi's, with sbx's own
/// `poll_oneoff` and `proc_exit`.
pub(crate) fn add_to_linker<T: WasiStore>(linker: &mut Linker<T>) -> Result<()> {
    wasmtime_wasi::p1::add_to_linker_sync(linker, |data: &mut T| &mut data.wasi().ctx)
        .and_then(|()| bound_blocking_calls(linker))
        .map_err(|e| Error::new(Status::Internal, format!("add WASI to the linker: {e:#}")))?;
    report_every_exit(linker)
}

/// Makes `proc_exit` report every exit code as an exit. wasmtime-wasi turns
/// codes 126 and above into a plain error (a trap), following shell
/// conventions its CLI needs; preview 1's exit code is any `u32`, and an
/// embedder wants the code whatever it is. Reported as its bits in an `i32`.
fn report_every_exit<T: 'static>(linker: &mut Linker<T>) -> Result<()> {
    linker.allow_shadowing(true);
    let defined = linker
        .func_wrap(
            "wasi_snapshot_preview1",
            "proc_exit",
            |code: i32| -> wasmtime::Result<()> { Err(wasmtime_wasi::I32Exit(code).into()) },
        )
        .map(|_| ())
        .map_err(|e| Error::new(Status::Internal, format!("define proc_exit: {e:#}")));
    // Back to refusing duplicates, which `define_func` relies on.
    linker.allow_shadowing(false);
    defined
}

/// A module's WASI state, plus the counters that cap its output per call.
pub(crate) struct WasiState {
    ctx: wasmtime_wasi::p1::WasiP1Ctx,
    outputs: Vec<Arc<CappedOutput>>,
    /// Zero of the guest's monotonic clock, in [`now_ns`] time.
    monotonic_zero: u64,
}

impl WasiState {
    pub(crate) fn new(config: &WasiConfig) -> Result<WasiState> {
        let mut builder = WasiCtxBuilder::new();
        let monotonic_zero = now_ns();
        builder.monotonic_clock(MonotonicClock(monotonic_zero));
        builder.args(&config.args);
        for (key, value) in &config.env {
            builder.env(key, value);
        }
        builder.stdin(wasmtime_wasi::p2::pipe::MemoryInputPipe::new(
            config.stdin.to_vec(),
        ));
        let mut outputs = Vec::new();
        for (sink, is_stderr) in [(&config.stdout, false), (&config.stderr, true)] {
            let Some(sink) = sink else { continue };
            let capped = Arc::new(CappedOutput {
                sink: sink.clone(),
                limit: config.output_limit.unwrap_or(u64::MAX),
                used: AtomicU64::new(0),
            });
            let stream = OutputHandle(capped.clone());
            if is_stderr {
                builder.stderr(stream);
            } else {
                builder.stdout(stream);
            }
            outputs.push(capped);
        }
        for p in &config.preopens {
            let perms = if p.writable {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            builder
                .preopened_dir(&p.host, &p.guest, perms)
                .map_err(|e| {
                    Error::new(
                        Status::Io,
                        format!("preopen {} as {}: {e:#}", p.host.display(), p.guest),
                    )
                })?;
        }
        Ok(WasiState {
            ctx: builder.build_p1(),
            outputs,
            monotonic_zero,
        })
    }

    /// Starts a new call's output budget.
    pub(crate) fn reset_output_budget(&self) {
        for output in &self.outputs {
            output.used.store(0, Relaxed);
        }
    }
}

struct CappedOutput {
    sink: Arc<dyn OutputSink>,
    limit: u64,
    used: AtomicU64,
}

impl CappedOutput {
    fn write(&self, bytes: &[u8]) {
        let used = self.used.fetch_add(bytes.len() as u64, Relaxed);
        let room = self.limit.saturating_sub(used);
        let n = (bytes.len() as u64).min(room) as usize;
        if n > 0 {
            self.sink.write(&bytes[..n]);
        }
    }
}

/// The stream wasmtime-wasi writes the guest's stdout or stderr to.
#[derive(Clone)]
struct OutputHandle(Arc<CappedOutput>);

impl IsTerminal for OutputHandle {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for OutputHandle {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for OutputHandle {
    async fn ready(&mut self) {}
}

impl OutputStream for OutputHandle {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.0.write(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for OutputHandle {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.0.write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The guest's monotonic clock: nanoseconds since its WASI context was made,
/// like wasmtime-wasi's own, but with a zero `poll_oneoff` can convert.
struct MonotonicClock(u64);

impl wasmtime_wasi::HostMonotonicClock for MonotonicClock {
    fn resolution(&self) -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid out-pointer; CLOCK_MONOTONIC always exists on Linux.
        unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC, &mut ts) };
        (ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64).max(1)
    }

    fn now(&self) -> u64 {
        now_ns() - self.0
    }
}

const ERRNO_SUCCESS: i32 = 0;
const ERRNO_INVAL: i32 = 28;
const ERRNO_NOMEM: i32 = 48;
const SUBSCRIPTION_SIZE: u64 = 48;
const EVENT_SIZE: u64 = 32;
const EVENTTYPE_CLOCK: u8 = 0;
const EVENTTYPE_FD_READ: u8 = 1;
const EVENTTYPE_FD_WRITE: u8 = 2;
const CLOCK_REALTIME: u32 = 0;
const CLOCK_MONOTONIC: u32 = 1;
const SUBSCRIPTION_CLOCK_ABSTIME: u16 = 1;

/// Replaces wasmtime-wasi's `poll_oneoff` in `linker` (which already has
/// wasmtime-wasi's preview 1) with [`poll_oneoff`].
fn bound_blocking_calls<T: WasiStore>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let defined = linker
        .func_wrap("wasi_snapshot_preview1", "poll_oneoff", poll_oneoff::<T>)
        .map(drop);
    // Host functions defined later must still fail on a duplicate name.
    linker.allow_shadowing(false);
    defined
}

/// `poll_oneoff` as wasmtime-wasi implements it (same errnos, traps and
/// events), except that a wait on clocks alone sleeps in
/// [`crate::deadline::Watched::sleep_until`], so that the call's deadline, an
/// interrupt, a cancel token or close end it like they end guest code.
/// Subscriptions with a file descriptor go to wasmtime-wasi: every stream
/// sbx gives a guest is always ready, so they do not wait.
fn poll_oneoff<T: WasiStore>(
    mut caller: Caller<'_, T>,
    subs: i32,
    events: i32,
    nsubscriptions: i32,
    nevents: i32,
) -> wasmtime::Result<i32> {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return wasi_poll_oneoff(caller, subs, events, nsubscriptions, nevents);
    };
    let n = nsubscriptions as u32 as u64;
    if n == 0 {
        return Ok(ERRNO_INVAL); // p1 cannot wait forever
    }
    // wasmtime-wasi charges both arrays against the host-call fuel first.
    let fuel = caller.as_context_mut().hostcall_fuel() as u64;
    if n * (SUBSCRIPTION_SIZE + EVENT_SIZE) > fuel {
        return Ok(ERRNO_NOMEM);
    }
    let (mem, state) = memory.data_and_store_mut(&mut caller);
    let monotonic_zero = state.wasi().monotonic_zero;
    // (userdata, when it is due in now_ns time), in subscription order.
    let mut clocks = Vec::new();
    for i in 0..n {
        let at = subs as u32 as u64 + i * SUBSCRIPTION_SIZE;
        let sub = guest_bytes(mem, at, SUBSCRIPTION_SIZE, 8)?;
        match sub[8] {
            EVENTTYPE_CLOCK => {}
            EVENTTYPE_FD_READ | EVENTTYPE_FD_WRITE => {
                return wasi_poll_oneoff(caller, subs, events, nsubscriptions, nevents);
            }
            _ => return Ok(ERRNO_INVAL),
        }
        let userdata = read_u64(sub, 0);
        let id = u32::from_le_bytes(sub[16..20].try_into().expect("4 bytes"));
        let timeout = read_u64(sub, 24);
        let flags = u16::from_le_bytes(sub[40..42].try_into().expect("2 bytes"));
        if flags & !SUBSCRIPTION_CLOCK_ABSTIME != 0 {
            return Ok(ERRNO_INVAL);
        }
        let absolute = flags & SUBSCRIPTION_CLOCK_ABSTIME != 0;
        let due = match (id, absolute) {
            (CLOCK_MONOTONIC | CLOCK_REALTIME, false) => now_ns().saturating_add(timeout),
            (CLOCK_MONOTONIC, true) => monotonic_zero.saturating_add(timeout),
            (CLOCK_REALTIME, true) => {
                let wall = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos().min(u64::MAX as u128) as u64);
                now_ns().saturating_add(timeout.saturating_sub(wall))
            }
            // The CPU-time clocks, like any unknown id.
            _ => return Ok(ERRNO_INVAL),
        };
        clocks.push((userdata, due));
    }

    let first_due = clocks.iter().map(|c| c.1).min().expect("n > 0");
    let data = caller.data();
    data.watched()
        .sleep_until(data.call_seq(), data.cancel(), first_due)
        .map_err(wasmtime::Error::new)?;

    let now = now_ns();
    let mem = memory.data_mut(&mut caller);
    let mut count = 0u64;
    for &(userdata, due) in &clocks {
        if due > now {
            continue;
        }
        let at = events as u32 as u64 + count * EVENT_SIZE;
        let event = guest_bytes(mem, at, EVENT_SIZE, 8)?;
        event[0..8].copy_from_slice(&userdata.to_le_bytes());
        event[8..10].copy_from_slice(&0u16.to_le_bytes()); // errno: success
        event[10] = EVENTTYPE_CLOCK;
        event[16..24].copy_from_slice(&0u64.to_le_bytes()); // nbytes
        event[24..26].copy_from_slice(&0u16.to_le_bytes()); // flags
        count += 1;
    }
    let out = guest_bytes(mem, nevents as u32 as u64, 4, 4)?;
    out.copy_from_slice(&(count as u32).to_le_bytes());
    Ok(ERRNO_SUCCESS)
}

/// wasmtime-wasi's own `poll_oneoff`, called as its linker wrapper would.
fn wasi_poll_oneoff<T: WasiStore>(
    mut caller: Caller<'_, T>,
    subs: i32,
    events: i32,
    nsubscriptions: i32,
    nevents: i32,
) -> wasmtime::Result<i32> {
    use wasmtime_wasi::p1::wasi_snapshot_preview1::{self as p1, WasiSnapshotPreview1};
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return Err(wasmtime::Error::msg("missing required memory export"));
    };
    let fuel = caller.as_context_mut().hostcall_fuel();
    let (mem, data) = memory.data_and_store_mut(&mut caller);
    let ctx = &mut data.wasi().ctx;
    ctx.set_hostcall_fuel(fuel);
    let mut mem = wiggle::GuestMemory::Unshared(mem);
    wasmtime_wasi::runtime::in_tokio(p1::poll_oneoff(
        ctx,
        &mut mem,
        subs,
        events,
        nsubscriptions,
        nevents,
    ))
}

/// `len` bytes of guest memory at `at`, which must be `align`ed. Like
/// wasmtime-wasi, a bad pointer traps rather than returning an errno.
fn guest_bytes(mem: &mut [u8], at: u64, len: u64, align: u64) -> wasmtime::Result<&mut [u8]> {
    let end = at + len; // at most about 2^39: no overflow
    if !at.is_multiple_of(align) || end > mem.len() as u64 {
        return Err(wasmtime::Error::msg(format!(
            "poll_oneoff: pointer {at:#x} (+{len}) out of bounds or misaligned"
        )));
    }
    Ok(&mut mem[at as usize..end as usize])
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}
