//! WASI preview 1, host functions and guest memory, through the Rust core.
//! The guests are the C programs in testdata/wasi.

use sbx::{
    Caller, Host, HostConfig, HostFuncError, LoadOptions, OutputSink, Preopen, Status, Timeout,
    ValueType, WasiConfig,
};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn wasi_fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/wasi")
        .join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[derive(Default)]
struct Capture(Mutex<Vec<u8>>);

impl OutputSink for Capture {
    fn write(&self, bytes: &[u8]) {
        self.0.lock().unwrap().extend_from_slice(bytes);
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

struct Run {
    stdout: Arc<Capture>,
    stderr: Arc<Capture>,
    result: sbx::Result<usize>,
}

/// Loads a WASI command with `config` (stdout/stderr captured) and runs `_start`.
fn run_command(name: &str, mut config: WasiConfig) -> Run {
    let stdout = Arc::new(Capture::default());
    let stderr = Arc::new(Capture::default());
    config.stdout = Some(stdout.clone());
    config.stderr = Some(stderr.clone());
    let host = Host::new(HostConfig::default()).unwrap();
    let options = LoadOptions {
        wasi: Some(config),
        ..LoadOptions::default()
    };
    let (module, _) = host.load_with(name, &wasi_fixture(name), &options).unwrap();
    let result = module.call(
        b"_start",
        &[],
        &mut [],
        Timeout::After(Duration::from_secs(20)),
        None,
    );
    Run {
        stdout,
        stderr,
        result,
    }
}

/// A scratch directory with `data/` (to preopen) beside a secret outside it.
struct Sandbox {
    root: PathBuf,
}

impl Sandbox {
    fn new(tag: &str) -> Sandbox {
        let root = std::env::temp_dir().join(format!("sbx-wasi-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::fs::create_dir_all(root.join("outside")).unwrap();
        std::fs::write(root.join("data/input.txt"), "plugin input\n").unwrap();
        std::fs::write(root.join("secret.txt"), "top secret\n").unwrap();
        std::fs::write(root.join("outside/secret.txt"), "top secret\n").unwrap();
        std::os::unix::fs::symlink(root.join("outside"), root.join("data/link_out")).unwrap();
        std::os::unix::fs::symlink(root.join("secret.txt"), root.join("data/link_file")).unwrap();
        Sandbox { root }
    }

    fn preopen(&self, writable: bool) -> WasiConfig {
        WasiConfig {
            preopens: vec![Preopen {
                host: self.root.join("data"),
                guest: "/data".into(),
                writable,
            }],
            ..WasiConfig::default()
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[test]
fn hello_writes_stdout_and_stderr_and_exit_zero_is_success() {
    let run = run_command("hello", WasiConfig::default());
    assert_eq!(run.result.unwrap(), 0);
    assert_eq!(run.stdout.text(), "hello from wasi\n");
    assert_eq!(run.stderr.text(), "warning: to stderr\n");
}

#[test]
fn output_is_discarded_without_a_sink_and_capped_per_call() {
    let host = Host::new(HostConfig::default()).unwrap();
    let options = LoadOptions {
        wasi: Some(WasiConfig::default()),
        ..LoadOptions::default()
    };
    let (module, _) = host
        .load_with("hello", &wasi_fixture("hello"), &options)
        .unwrap();
    assert_eq!(
        module
            .call(b"_start", &[], &mut [], Timeout::HostDefault, None)
            .unwrap(),
        0
    );

    let stdout = Arc::new(Capture::default());
    let config = WasiConfig {
        stdout: Some(stdout.clone()),
        output_limit: Some(5),
        ..WasiConfig::default()
    };
    let options = LoadOptions {
        wasi: Some(config),
        ..LoadOptions::default()
    };
    let (module, _) = host
        .load_with("hello-capped", &wasi_fixture("hello"), &options)
        .unwrap();
    module
        .call(b"_start", &[], &mut [], Timeout::HostDefault, None)
        .unwrap();
    assert_eq!(stdout.text(), "hello");

    // Per call: each call of a loaded module gets a fresh budget.
    let host = plugin_host(Arc::new(Mutex::new(Vec::new())));
    let stdout = Arc::new(Capture::default());
    let options = LoadOptions {
        wasi: Some(WasiConfig {
            stdout: Some(stdout.clone()),
            output_limit: Some(8),
            ..WasiConfig::default()
        }),
        ..LoadOptions::default()
    };
    let (plugin, _) = host
        .load_with("plugin", &wasi_fixture("plugin"), &options)
        .unwrap();
    let mut out = [0u64; 1];
    plugin
        .call(b"input_buffer", &[], &mut out, Timeout::HostDefault, None)
        .unwrap();
    let input = out[0];
    for (name, want) in [("world", "hello, w"), ("again", "hello, whello, a")] {
        plugin.memory_write(input, name.as_bytes()).unwrap();
        plugin
            .call(b"greet", &[5], &mut out, Timeout::HostDefault, None)
            .unwrap();
        assert_eq!(stdout.text(), want);
    }
}

#[test]
fn exit_code_reaches_the_caller() {
    let run = run_command("exit3", WasiConfig::default());
    let err = run.result.unwrap_err();
    assert_eq!(err.status(), Status::Exit);
    assert_eq!(err.exit_code(), Some(3));
    assert_eq!(run.stdout.text(), "exiting with 3\n");
}

#[test]
fn deny_by_default_no_args_no_env_no_files() {
    let run = run_command("env_args", WasiConfig::default());
    run.result.unwrap();
    let out = run.stdout.text();
    assert!(!out.contains("env "), "no environment by default: {out}");
    assert!(!out.contains("arg[1]"), "no arguments by default: {out}");

    let sandbox = Sandbox::new("deny");
    let _ = &sandbox;
    let run = run_command("cat", WasiConfig::default());
    let err = run.result.unwrap_err();
    assert_eq!(err.exit_code(), Some(1), "no preopens, so nothing to read");
}

#[test]
fn args_and_env_are_passed_when_configured() {
    let config = WasiConfig {
        args: vec!["env_args".into(), "one".into(), "two words".into()],
        env: vec![("PLUGIN_MODE".into(), "test".into())],
        ..WasiConfig::default()
    };
    let run = run_command("env_args", config);
    run.result.unwrap();
    let out = run.stdout.text();
    assert!(out.contains("arg[1]=one"), "{out}");
    assert!(out.contains("arg[2]=two words"), "{out}");
    assert!(out.contains("env PLUGIN_MODE=test"), "{out}");
}

#[test]
fn cat_reads_a_preopened_file() {
    let sandbox = Sandbox::new("cat");
    let run = run_command("cat", sandbox.preopen(false));
    run.result.unwrap();
    assert_eq!(run.stdout.text(), "plugin input\n");
}

#[test]
fn every_escape_attempt_is_denied() {
    let sandbox = Sandbox::new("escape");
    let run = run_command("escape", sandbox.preopen(false));
    let out = run.stdout.text();
    assert!(
        !out.contains("OPENED"),
        "a path escaped the preopen:\n{out}"
    );
    for path in [
        "/data/../secret.txt",
        "../secret.txt",
        "/etc/passwd",
        "/data/link_out/secret.txt",
        "/data/link_file",
    ] {
        assert!(
            out.contains(&format!("DENIED {path}")),
            "{path} was not tried:\n{out}"
        );
    }
    assert!(
        run.result.is_ok(),
        "escape exits with the number of opened paths: {:?}",
        run.result
    );
}

#[test]
fn read_only_preopen_refuses_writes_and_read_write_allows_them() {
    let sandbox = Sandbox::new("ro");
    let run = run_command("write_ro", sandbox.preopen(false));
    assert!(
        run.result.is_ok(),
        "write to a read-only dir must be refused: {}",
        run.stdout.text()
    );
    assert!(
        run.stdout.text().starts_with("DENIED"),
        "{}",
        run.stdout.text()
    );
    assert!(
        !sandbox.root.join("data/out.txt").exists(),
        "no file may appear on the host"
    );

    let run = run_command("write_ro", sandbox.preopen(true));
    assert_eq!(
        run.result.unwrap_err().exit_code(),
        Some(1),
        "read-write preopen allows writing"
    );
    assert!(sandbox.root.join("data/out.txt").exists());
}

#[test]
fn stdin_comes_from_bytes() {
    let config = WasiConfig {
        stdin: b"abc".to_vec().into(),
        ..WasiConfig::default()
    };
    let run = run_command("echo_stdin", config);
    run.result.unwrap();
    assert_eq!(run.stdout.text(), "abc\n3 bytes\n");
}

#[test]
fn wasi_import_without_wasi_is_a_link_error_naming_it() {
    let host = Host::new(HostConfig::default()).unwrap();
    let err = host
        .load("hello", &wasi_fixture("hello"), Timeout::HostDefault, None)
        .err()
        .unwrap();
    assert_eq!(err.status(), Status::LinkError);
    assert!(
        err.message().contains("wasi_snapshot_preview1"),
        "{}",
        err.message()
    );
}

#[test]
fn host_level_wasi_applies_to_every_module() {
    let host = Host::new(HostConfig {
        wasi: Some(WasiConfig::default()),
        ..HostConfig::default()
    })
    .unwrap();
    let module = host
        .load("hello", &wasi_fixture("hello"), Timeout::HostDefault, None)
        .unwrap();
    assert_eq!(
        module
            .call(b"_start", &[], &mut [], Timeout::HostDefault, None)
            .unwrap(),
        0
    );
}

#[test]
fn wasi_command_obeys_timeouts_and_fuel() {
    let host = Host::new(HostConfig {
        wasi: Some(WasiConfig::default()),
        ..HostConfig::default()
    })
    .unwrap();
    let module = host
        .load("spin", &wasi_fixture("spin"), Timeout::HostDefault, None)
        .unwrap();
    let err = module
        .call(
            b"_start",
            &[],
            &mut [],
            Timeout::After(Duration::from_millis(50)),
            None,
        )
        .unwrap_err();
    assert_eq!(err.status(), Status::Timeout);

    let limits = sbx::Limits {
        fuel: Some(100_000),
        ..Default::default()
    };
    let host = Host::new(HostConfig {
        limits,
        wasi: Some(WasiConfig::default()),
        ..HostConfig::default()
    })
    .unwrap();
    let module = host
        .load("spin", &wasi_fixture("spin"), Timeout::HostDefault, None)
        .unwrap();
    let err = module
        .call(b"_start", &[], &mut [], Timeout::HostDefault, None)
        .unwrap_err();
    assert_eq!(err.status(), Status::FuelExhausted);
}

fn plugin_host(shouted: Arc<Mutex<Vec<String>>>) -> Host {
    let host = Host::new(HostConfig::default()).unwrap();
    host.define_func(
        "host",
        "shout",
        &[ValueType::I32, ValueType::I32],
        &[ValueType::I32],
        Arc::new(move |caller: &mut Caller<'_>, stack: &mut [u64]| {
            let (ptr, len) = (stack[0] as u32 as u64, stack[1] as u32 as usize);
            let mut buf = vec![0; len];
            caller
                .memory_read(ptr, &mut buf)
                .map_err(|e| HostFuncError(e.message().into()))?;
            let text = String::from_utf8_lossy(&buf).to_uppercase();
            if text == "FAIL" {
                return Err(HostFuncError("refusing to shout FAIL".into()));
            }
            shouted.lock().unwrap().push(text);
            stack[0] = 41;
            Ok(())
        }),
    )
    .unwrap();
    host
}

#[test]
fn plugin_example_reads_input_from_memory_calls_the_host_and_prints() {
    let shouted = Arc::new(Mutex::new(Vec::new()));
    let host = plugin_host(shouted.clone());
    let stdout = Arc::new(Capture::default());
    let options = LoadOptions {
        wasi: Some(WasiConfig {
            stdout: Some(stdout.clone()),
            ..WasiConfig::default()
        }),
        ..LoadOptions::default()
    };
    let (plugin, _) = host
        .load_with("plugin", &wasi_fixture("plugin"), &options)
        .unwrap();
    let mut out = [0u64; 1];
    plugin
        .call(b"input_buffer", &[], &mut out, Timeout::HostDefault, None)
        .unwrap();
    let input = b"world";
    plugin.memory_write(out[0], input).unwrap();
    plugin
        .call(
            b"greet",
            &[input.len() as u64],
            &mut out,
            Timeout::HostDefault,
            None,
        )
        .unwrap();
    assert_eq!(out[0], 42);
    assert_eq!(stdout.text(), "hello, world!\n");
    assert_eq!(*shouted.lock().unwrap(), vec!["WORLD".to_string()]);
}

#[test]
fn host_function_error_aborts_the_call_with_its_message() {
    let host = plugin_host(Arc::new(Mutex::new(Vec::new())));
    let options = LoadOptions {
        wasi: Some(WasiConfig::default()),
        ..LoadOptions::default()
    };
    let (plugin, _) = host
        .load_with("plugin", &wasi_fixture("plugin"), &options)
        .unwrap();
    let mut out = [0u64; 1];
    plugin
        .call(b"input_buffer", &[], &mut out, Timeout::HostDefault, None)
        .unwrap();
    plugin.memory_write(out[0], b"fail").unwrap();
    let err = plugin
        .call(b"greet", &[4], &mut out, Timeout::HostDefault, None)
        .unwrap_err();
    assert_eq!(err.status(), Status::HostError);
    assert!(
        err.message().contains("refusing to shout FAIL"),
        "{}",
        err.message()
    );
    // The module stays usable.
    plugin.memory_write(out[0], b"ok").unwrap();
    plugin
        .call(b"greet", &[2], &mut out, Timeout::HostDefault, None)
        .unwrap();
}

#[test]
fn host_function_types_and_duplicates_are_checked() {
    let host = Host::new(HostConfig::default()).unwrap();
    let noop =
        || -> Arc<sbx::HostCallback> { Arc::new(|_: &mut Caller<'_>, _: &mut [u64]| Ok(())) };
    let err = host
        .define_func("env", "f", &[ValueType::V128], &[], noop())
        .unwrap_err();
    assert_eq!(err.status(), Status::InvalidArgument);
    host.define_func("env", "g", &[], &[], noop()).unwrap();
    let err = host.define_func("env", "g", &[], &[], noop()).unwrap_err();
    assert_eq!(err.status(), Status::InvalidArgument);
}

/// A definition WASI refuses (one of its own names) leaves nothing behind:
/// not in the linker of modules without WASI, and not the callback.
#[test]
fn a_refused_host_function_is_defined_nowhere() {
    let host = Host::new(HostConfig::default()).unwrap();
    let callback: Arc<sbx::HostCallback> = Arc::new(|_: &mut Caller<'_>, _: &mut [u64]| Ok(()));
    let i32x4 = [ValueType::I32; 4];
    let err = host
        .define_func(
            "wasi_snapshot_preview1",
            "fd_write",
            &i32x4,
            &[ValueType::I32],
            callback.clone(),
        )
        .unwrap_err();
    assert_eq!(err.status(), Status::InvalidArgument, "{err}");
    assert_eq!(Arc::strong_count(&callback), 1, "the callback was dropped");
    let importer = wat::parse_str(
        r#"(module (import "wasi_snapshot_preview1" "fd_write"
              (func (param i32 i32 i32 i32) (result i32))))"#,
    )
    .unwrap();
    let Err(err) = host.load("no-wasi", &importer, Timeout::HostDefault, None) else {
        panic!("linked against the refused definition");
    };
    assert_eq!(err.status(), Status::LinkError, "{err}");
}

#[test]
fn guest_memory_is_bounds_checked_and_follows_growth() {
    let host = Host::new(HostConfig::default()).unwrap();
    let bomb =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/memory_bomb.wasm"))
            .unwrap();
    let module = host
        .load("bomb", &bomb, Timeout::HostDefault, None)
        .unwrap();
    assert_eq!(module.memory_size().unwrap(), 65536);
    module.memory_write(65532, &[1, 2, 3, 4]).unwrap();
    let mut buf = [0u8; 4];
    module.memory_read(65532, &mut buf).unwrap();
    assert_eq!(buf, [1, 2, 3, 4]);
    assert_eq!(
        module.memory_read(65533, &mut buf).unwrap_err().status(),
        Status::OutOfBounds
    );
    assert_eq!(
        module.memory_write(u64::MAX, &[1]).unwrap_err().status(),
        Status::OutOfBounds
    );
    let mut out = [0u64; 1];
    module
        .call(b"grow", &[1], &mut out, Timeout::HostDefault, None)
        .unwrap();
    assert_eq!(module.memory_size().unwrap(), 2 * 65536);
    module.memory_write(65536 + 100, &[9]).unwrap();
    module.close();
    assert_eq!(
        module.memory_size().unwrap_err().status(),
        Status::HandleClosed
    );
}

/// A host function that uses its own module (memory, call, close) must get an
/// error or a deferred close, never a deadlock.
#[test]
fn host_function_reentering_its_own_module_does_not_deadlock() {
    let host = Host::new(HostConfig::default()).unwrap();
    let me: Arc<std::sync::OnceLock<sbx::Module>> = Arc::new(std::sync::OnceLock::new());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (me2, seen2) = (me.clone(), seen.clone());
    host.define_func(
        "host",
        "shout",
        &[ValueType::I32, ValueType::I32],
        &[ValueType::I32],
        Arc::new(move |_: &mut Caller<'_>, stack: &mut [u64]| {
            let module = me2.get().expect("set after load");
            let mut out = [0u64; 1];
            let call = module.call(b"input_buffer", &[], &mut out, Timeout::HostDefault, None);
            let memory = module.memory_size();
            seen2
                .lock()
                .unwrap()
                .push((call.unwrap_err().status(), memory.unwrap_err().status()));
            if stack[1] == 5 {
                module.close();
            }
            stack[0] = 0;
            Ok(())
        }),
    )
    .unwrap();
    let options = LoadOptions {
        wasi: Some(WasiConfig::default()),
        ..LoadOptions::default()
    };
    let (plugin, _) = host
        .load_with("plugin", &wasi_fixture("plugin"), &options)
        .unwrap();
    me.set(plugin.clone()).ok().unwrap();
    let mut out = [0u64; 1];
    plugin
        .call(b"greet", &[2], &mut out, Timeout::HostDefault, None)
        .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(Status::InvalidArgument, Status::InvalidArgument)]
    );

    let err = plugin
        .call(b"greet", &[5], &mut out, Timeout::HostDefault, None)
        .unwrap_err();
    assert_eq!(err.status(), Status::HandleClosed, "{err}");
    assert!(plugin.is_closed());
    assert_eq!(
        host.live_modules(),
        0,
        "the deferred close returned the slot"
    );
    assert_eq!(
        plugin
            .call(b"greet", &[1], &mut out, Timeout::HostDefault, None)
            .unwrap_err()
            .status(),
        Status::HandleClosed
    );
}

/// A host function sees the deadline of the call it runs in: none without
/// one, else at most the call's timeout (and not much less, as it runs at once).
#[test]
fn host_function_sees_the_time_left_of_its_call() {
    let host = Host::new(HostConfig::default()).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    host.define_func(
        "host",
        "shout",
        &[ValueType::I32, ValueType::I32],
        &[ValueType::I32],
        Arc::new(move |caller: &mut Caller<'_>, stack: &mut [u64]| {
            seen2.lock().unwrap().push(caller.time_left());
            stack[0] = 0;
            Ok(())
        }),
    )
    .unwrap();
    let options = LoadOptions {
        wasi: Some(WasiConfig::default()),
        ..LoadOptions::default()
    };
    let (plugin, _) = host
        .load_with("plugin", &wasi_fixture("plugin"), &options)
        .unwrap();
    let mut out = [0u64; 1];
    for timeout in [Timeout::Never, Timeout::After(Duration::from_secs(60))] {
        plugin
            .call(b"greet", &[0], &mut out, timeout, None)
            .unwrap();
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0], None);
    let left = seen[1].expect("a deadline");
    assert!(
        left <= Duration::from_secs(60) && left > Duration::from_secs(50),
        "time left {left:?}"
    );
}
