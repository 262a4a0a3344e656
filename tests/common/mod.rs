//! Helpers shared by the integration tests: fixtures, hosts, and polling.
#![allow(dead_code)]

use sbx::{Error, Host, HostConfig, Limits, Module, Status, Timeout};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The bytes of `testdata/<name>.wasm`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Compiles inline WAT (for modules no fixture covers).
pub fn wat(source: &str) -> Vec<u8> {
    wat::parse_str(source).expect("inline WAT parses")
}

/// A module with a counter that `loop` and `trap` bump before
/// misbehaving, so tests can see that guest state survives a failed call.
pub const STATEFUL: &str = r#"
(module
  (global $count (mut i32) (i32.const 0))
  (func $bump
    global.get $count
    i32.const 1
    i32.add
    global.set $count)
  (func (export "inc") (result i32)
    call $bump
    global.get $count)
  (func (export "get") (result i32)
    global.get $count)
  (func (export "loop")
    call $bump
    (loop $forever
      br $forever))
  (func (export "trap")
    call $bump
    unreachable))
"#;

pub fn host_with(limits: Limits) -> Host {
    Host::new(HostConfig {
        limits,
        ..Default::default()
    })
    .expect("create host")
}

pub fn default_host() -> Host {
    host_with(Limits::default())
}

pub fn load(host: &Host, name: &str) -> Module {
    host.load(name, &fixture(name), Timeout::Never, None)
        .unwrap_or_else(|e| panic!("load {name}: {e}"))
}

/// Calls `func` with a generously sized result buffer and no deadline.
pub fn call(module: &Module, func: &str, params: &[u64]) -> Result<Vec<u64>, Error> {
    call_with(module, func, params, Timeout::Never)
}

pub fn call_with(
    module: &Module,
    func: &str,
    params: &[u64],
    timeout: Timeout,
) -> Result<Vec<u64>, Error> {
    let mut results = [0u64; 16];
    let n = module.call(func.as_bytes(), params, &mut results, timeout, None)?;
    Ok(results[..n].to_vec())
}

/// The status of a result that must be an error.
#[track_caller]
pub fn status_of<T>(result: Result<T, Error>) -> Status {
    result.fails().status()
}

/// `unwrap_err` for results whose value (e.g. a `Module`) is not `Debug`.
pub trait Fails {
    fn fails(self) -> Error;
}

impl<T> Fails for Result<T, Error> {
    /// Also checks the promise every error keeps: a one-line message.
    #[track_caller]
    fn fails(self) -> Error {
        match self {
            Ok(_) => panic!("expected an error, got Ok"),
            Err(e) => {
                assert_one_line(e.message());
                e
            }
        }
    }
}

/// Fails unless `message` is one non-empty line.
#[track_caller]
pub fn assert_one_line(message: &str) {
    assert!(
        !message.is_empty() && !message.contains(['\n', '\r']),
        "not one line: {message:?}"
    );
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Polls `cond` every 10 ms until it holds or `limit` passes.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(ms(10));
    }
}

/// A fresh, unique directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "sbx-test-{tag}-{}-{nanos}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
