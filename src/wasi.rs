//! WASI preview 1 through wasmtime-wasi, deny-by-default: no preopened
//! directories, no environment, no arguments, no sockets; clocks and random
//! are allowed. stdout and stderr go to sinks the embedder gives (discarded
//! otherwise), capped per call; stdin comes from bytes.

use crate::error::{Error, Result, Status};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
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

/// Makes `proc_exit` report every exit code as an exit. wasmtime-wasi turns
/// codes 126 and above into a plain error (a trap), following shell
/// conventions its CLI needs; preview 1's exit code is any `u32`, and an
/// embedder wants the code whatever it is. Reported as its bits in an `i32`.
pub(crate) fn report_every_exit<T: 'static>(linker: &mut wasmtime::Linker<T>) -> Result<()> {
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
    pub(crate) ctx: wasmtime_wasi::p1::WasiP1Ctx,
    outputs: Vec<Arc<CappedOutput>>,
}

impl WasiState {
    pub(crate) fn new(config: &WasiConfig) -> Result<WasiState> {
        let mut builder = WasiCtxBuilder::new();
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
