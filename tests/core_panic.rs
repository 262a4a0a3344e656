//! A panic in embedder code (a host function) during a call: it reaches the
//! embedder, and sbx stays usable afterwards.

mod common;

use common::*;
use sbx::{Status, Timeout};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

#[test]
fn a_panicking_host_function_leaves_the_module_usable() {
    let host = default_host();
    host.define_func(
        "env",
        "boom",
        &[],
        &[],
        Arc::new(|_caller, _stack| panic!("host function panicked on purpose")),
    )
    .unwrap();
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
    let outcome = catch_unwind(AssertUnwindSafe(|| call(&module, "boom", &[])));
    match outcome {
        // The panic reached the embedder, as Wasmtime resumes it past the guest.
        Err(_) => eprintln!("the panic reached the caller of Module::call"),
        // Or sbx reported it as an error; either way it did not abort.
        Ok(result) => assert!(result.is_err(), "a panicking call cannot succeed"),
    }
    // No call is left marked in flight, and the module and host still work.
    assert!(
        !module.interrupt().unwrap(),
        "the panicked call looks in flight"
    );
    assert_eq!(call(&module, "inc", &[]).unwrap(), vec![1]);
    let err = call_with(&module, "loop", &[], Timeout::After(ms(50))).fails();
    assert_eq!(err.status(), Status::Timeout);
    let add = load(&host, "add");
    assert_eq!(call(&add, "add", &[1, 2]).unwrap(), vec![3]);
}
