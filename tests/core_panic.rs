//! A panic in embedder code (a host function) is the embedder's: it
//! unwinds out of `Module::call` or `Host::load` to their caller, as
//! Wasmtime resumes it past the guest's frames (the Rust convention: sbx
//! does not turn an embedder's bug into an error). sbx stays usable
//! afterwards. (The C layer never lets a panic cross: a C callback cannot
//! unwind, and every `extern "C"` fn catches one as SBX_STATUS_INTERNAL.)

mod common;

use common::*;
use sbx::{Host, HostConfig, Limits, Status, Timeout};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

const MESSAGE: &str = "host function panicked on purpose";

/// A host whose `env.boom` panics with [`MESSAGE`].
fn panicking_host(limits: Limits) -> Host {
    let host = Host::new(HostConfig {
        limits,
        ..Default::default()
    })
    .unwrap();
    host.define_func(
        "env",
        "boom",
        &[],
        &[],
        Arc::new(|_caller, _stack| panic!("{MESSAGE}")),
    )
    .unwrap();
    host
}

/// The message of a caught panic.
fn payload(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .expect("a panic with a message")
}

#[test]
fn a_panicking_host_function_reaches_the_caller_and_leaves_the_module_usable() {
    let host = panicking_host(Limits::default());
    let wasm = wat(r#"
        (module
          (import "env" "boom" (func $boom))
          (global $n (mut i32) (i32.const 0))
          (func (export "boom") call $boom)
          (func (export "inc") (result i32)
            global.get $n i32.const 1 i32.add global.set $n global.get $n)
          (func (export "loop") (loop $l br $l)))
    "#);
    let module = host.load("panicky", &wasm, Timeout::Never, None).unwrap();
    // With a deadline too: the unwinding call must disarm it.
    for timeout in [Timeout::Never, Timeout::After(ms(60_000))] {
        let panic = catch_unwind(AssertUnwindSafe(|| {
            call_with(&module, "boom", &[], timeout).map(|_| ())
        }))
        .expect_err("the panic must reach the caller of Module::call, not become a result");
        assert_eq!(payload(panic), MESSAGE);
        // No call is left marked in flight.
        assert!(
            !module.interrupt().unwrap(),
            "the panicked call looks in flight"
        );
    }
    // The module, its deadlines and the host still work.
    assert_eq!(call(&module, "inc", &[]).unwrap(), vec![1]);
    let err = call_with(&module, "loop", &[], Timeout::After(ms(50))).fails();
    assert_eq!(err.status(), Status::Timeout, "{err}");
    let add = load(&host, "add");
    assert_eq!(call(&add, "add", &[1, 2]).unwrap(), vec![3]);
    assert_eq!(host.live_modules(), 2);
}

const STARTS_WITH_BOOM: &str = r#"
    (module
      (import "env" "boom" (func $boom))
      (start $boom))
"#;

#[test]
fn a_panic_in_a_start_function_reaches_the_caller_of_load() {
    let host = panicking_host(Limits::default());
    let wasm = wat(STARTS_WITH_BOOM);
    for timeout in [Timeout::Never, Timeout::After(ms(60_000))] {
        let panic = catch_unwind(AssertUnwindSafe(|| {
            host.load("starts-with-boom", &wasm, timeout, None)
                .map(|_| ())
        }))
        .expect_err("the panic must reach the caller of Host::load, not become a result");
        assert_eq!(payload(panic), MESSAGE);
    }
    assert_eq!(host.live_modules(), 0);
    // The host still loads, and its compiled-module cache still works.
    let add = load(&host, "add");
    assert_eq!(call(&add, "add", &[1, 2]).unwrap(), vec![3]);
}

#[test]
fn a_panicked_load_gives_its_module_slot_back() {
    let host = panicking_host(Limits {
        max_modules: 1,
        ..Default::default()
    });
    let wasm = wat(STARTS_WITH_BOOM);
    let panic = catch_unwind(AssertUnwindSafe(|| {
        host.load("starts-with-boom", &wasm, Timeout::Never, None)
            .map(|_| ())
    }))
    .expect_err("the panic reaches the caller");
    assert_eq!(payload(panic), MESSAGE);
    // The one slot is free again.
    let add = load(&host, "add");
    assert_eq!(call(&add, "add", &[1, 2]).unwrap(), vec![3]);
}
