//! Multi-tenant hosting: compile once and instantiate, reset and reset
//! policies, the host-wide memory budget, and stats.

mod common;

use common::*;
use sbx::{Caller, HostFuncError, Limits, LoadOptions, ResetPolicy, Status, Timeout};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

const MIB: u64 = 1024 * 1024;

/// reset_state.wasm's non-exported global, memory byte 0 and table slot 0:
/// (7, 42, 1) after load, (99, 99, 2) after `mutate`.
fn post_load_values(module: &sbx::Module) -> (u64, u64, u64) {
    let one = |f: &str| call(module, f, &[]).unwrap()[0];
    (one("global"), one("byte"), one("table"))
}

#[test]
fn reset_restores_globals_memory_and_tables() {
    for pooling in [false, true] {
        let host = host_with(Limits {
            pooling,
            max_modules: 4,
            ..Limits::default()
        });
        let module = host
            .load("stateful", &fixture("reset_state"), Timeout::Never, None)
            .unwrap();
        assert_eq!(post_load_values(&module), (7, 42, 1));
        call(&module, "mutate", &[]).unwrap();
        module.memory_write(1000, b"dirty").unwrap();
        assert_eq!(post_load_values(&module), (99, 99, 2));
        module.reset(Timeout::Never, None).unwrap();
        assert_eq!(post_load_values(&module), (7, 42, 1), "pooling {pooling}");
        let mut buf = [0u8; 5];
        module.memory_read(1000, &mut buf).unwrap();
        assert_eq!(buf, [0; 5], "memory beyond the data is zero again");
        assert_eq!(module.name(), "stateful");
        assert_eq!(module.stats().resets, 1);
        assert_eq!(host.live_modules(), 1, "a reset keeps its one slot");
        module.close();
        assert_eq!(
            status_of(module.reset(Timeout::Never, None)),
            Status::HandleClosed
        );
        assert_eq!(host.live_modules(), 0);
    }
}

#[test]
fn a_failed_reset_closes_the_module_and_says_so() {
    let host = default_host();
    let runs = Arc::new(AtomicU32::new(0));
    let seen = runs.clone();
    host.define_func(
        "env",
        "once",
        &[],
        &[],
        Arc::new(move |_: &mut Caller<'_>, _: &mut [u64]| {
            if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                Ok(())
            } else {
                Err(HostFuncError("only once".into()))
            }
        }),
    )
    .unwrap();
    let wasm = wat(r#"(module (import "env" "once" (func $once)) (start $once)
                        (func (export "f") (result i32) i32.const 1))"#);
    let module = host.load("once", &wasm, Timeout::Never, None).unwrap();
    let err = module.reset(Timeout::Never, None).fails();
    assert_eq!(err.status(), Status::HostError);
    assert_eq!(
        err.message(),
        "reset failed, so the module is closed: start function: host function `env.once`: only once"
    );
    assert!(module.is_closed());
    assert_eq!(status_of(call(&module, "f", &[])), Status::HandleClosed);
    assert_eq!(
        host.live_modules(),
        0,
        "the failed reset gave its slot back"
    );
}

#[test]
fn reset_is_bounded_by_its_timeout() {
    let host = default_host();
    let wasm = wat(r#"(module (global $n (mut i32) (i32.const 0))
        (func $start (global.set $n (i32.add (global.get $n) (i32.const 1))))
        (start $start)
        (func (export "n") (result i32) global.get $n))"#);
    let module = host.load("m", &wasm, Timeout::Never, None).unwrap();
    module.reset(Timeout::After(ms(5_000)), None).unwrap();
    assert_eq!(
        call(&module, "n", &[]).unwrap(),
        vec![1],
        "a fresh global, started once"
    );
    let looping = host
        .compile(&fixture("start_loop"), Timeout::Never, None)
        .unwrap()
        .0;
    // A start function that loops cannot even load; its reset fails the same way.
    let err = looping
        .instantiate(
            "loop",
            &LoadOptions {
                timeout: Timeout::After(ms(50)),
                ..Default::default()
            },
        )
        .fails();
    assert_eq!(err.status(), Status::Timeout);
    assert_eq!(err.message(), "start function: deadline exceeded");
}

#[test]
fn reset_after_failure_keeps_the_failed_state_until_the_next_call() {
    let host = default_host();
    let options = LoadOptions {
        reset: ResetPolicy::AfterFailure,
        ..Default::default()
    };
    let (module, _) = host
        .load_with("m", &fixture("reset_state"), &options)
        .unwrap();
    call(&module, "mutate", &[]).unwrap();
    assert_eq!(
        post_load_values(&module),
        (99, 99, 2),
        "a success does not reset"
    );
    assert_eq!(
        status_of(call(&module, "mutate_then_trap", &[])),
        Status::Trap
    );
    let mut byte = [0u8; 1];
    module.memory_read(0, &mut byte).unwrap();
    assert_eq!(byte[0], 99, "the failed state stays readable");
    assert_eq!(module.stats().resets, 0);
    assert_eq!(
        post_load_values(&module),
        (7, 42, 1),
        "the next call starts fresh"
    );
    assert_eq!(module.stats().resets, 1);
    // A timeout counts as a failure too.
    call(&module, "mutate", &[]).unwrap();
    let err = call_with(&module, "mutate_then_spin", &[], Timeout::After(ms(20))).fails();
    assert_eq!(err.status(), Status::Timeout);
    assert_eq!(post_load_values(&module), (7, 42, 1));
    assert_eq!(module.stats().resets, 2);
}

#[test]
fn reset_after_each_call_isolates_requests() {
    let host = host_with(Limits {
        pooling: true,
        max_modules: 2,
        ..Limits::default()
    });
    let options = LoadOptions {
        reset: ResetPolicy::AfterEachCall,
        ..Default::default()
    };
    let (module, _) = host
        .load_with("m", &fixture("reset_state"), &options)
        .unwrap();
    for input in 1..=50u64 {
        let previous = call(&module, "remember", &[input]).unwrap()[0];
        assert_eq!(
            previous, 0,
            "request {input} saw data of an earlier request"
        );
        // The result stays readable until the next call.
        let mut word = [0u8; 4];
        module.memory_read(8, &mut word).unwrap();
        assert_eq!(u32::from_le_bytes(word) as u64, input);
    }
    // Input written before a call lands in the fresh instance.
    module.memory_write(8, &7u32.to_le_bytes()).unwrap();
    assert_eq!(call(&module, "remember", &[8]).unwrap(), vec![7]);
    assert_eq!(module.stats().resets, 50);
    assert_eq!(module.stats().calls, 51);
}

#[test]
fn compiled_modules_instantiate_many_and_outlive_close() {
    let host = host_with(Limits {
        max_modules: 3,
        ..Limits::default()
    });
    let (compiled, _) = host.compile(&fixture("add"), Timeout::Never, None).unwrap();
    assert_eq!(host.stats().compiled_modules, 1);
    let names: Vec<_> = compiled
        .exported_functions()
        .into_iter()
        .map(|f| f.0)
        .collect();
    assert_eq!(names, ["add"]);
    let modules: Vec<_> = (0..3)
        .map(|i| {
            compiled
                .instantiate(&format!("add{i}"), &LoadOptions::default())
                .unwrap()
        })
        .collect();
    let err = compiled
        .instantiate("add3", &LoadOptions::default())
        .fails();
    assert_eq!(err.status(), Status::InstanceLimit);
    assert_eq!(
        status_of(compiled.instantiate(" ", &LoadOptions::default())),
        Status::InvalidArgument
    );
    compiled.close();
    assert_eq!(host.stats().compiled_modules, 0);
    assert_eq!(
        status_of(compiled.instantiate("late", &LoadOptions::default())),
        Status::HandleClosed
    );
    for (i, m) in modules.iter().enumerate() {
        assert_eq!(call(m, "add", &[i as u64, 1]).unwrap(), vec![i as u64 + 1]);
        assert_eq!(m.name(), format!("add{i}"));
    }
    let (again, _) = host.compile(&fixture("add"), Timeout::Never, None).unwrap();
    host.close();
    assert_eq!(
        status_of(again.instantiate("x", &LoadOptions::default())),
        Status::HandleClosed
    );
    assert_eq!(
        status_of(host.compile(&fixture("add"), Timeout::Never, None)),
        Status::HandleClosed
    );
    assert_eq!(
        status_of(call(&modules[0], "add", &[1, 1])),
        Status::HandleClosed
    );
}

/// Grows its memory to `pages` 64 KiB pages in all; returns the old size or -1.
const GROWER: &str = r#"
    (module (memory (export "memory") 1)
      (func (export "grow_to") (param i32) (result i32)
        (memory.grow (i32.sub (local.get 0) (memory.size)))))
"#;

#[test]
fn the_host_budget_bounds_all_modules_together() {
    for pooling in [false, true] {
        let host = host_with(Limits {
            pooling,
            max_modules: 10,
            memory_bytes: 64 * MIB,
            host_memory_bytes: Some(128 * MIB),
            ..Limits::default()
        });
        let (compiled, _) = host.compile(&wat(GROWER), Timeout::Never, None).unwrap();
        let modules: Vec<_> = (0..10)
            .map(|i| {
                compiled
                    .instantiate(&format!("m{i}"), &LoadOptions::default())
                    .unwrap()
            })
            .collect();
        assert_eq!(host.stats().memory_bytes, 10 * 64 * 1024);
        let pages_32mib = 32 * MIB / 65536;
        let mut grown = 0;
        for m in &modules {
            if call(m, "grow_to", &[pages_32mib]).unwrap()[0] as i32 != -1 {
                grown += 1;
            }
        }
        // Three reach 32 MiB; the fourth would pass 128 MiB with the others' first pages.
        assert_eq!(grown, 3, "pooling {pooling}");
        let stats = host.stats();
        assert_eq!(stats.memory_bytes, 3 * 32 * MIB + 7 * 64 * 1024);
        assert!(stats.memory_bytes <= 128 * MIB);
        assert_eq!(stats.memory_limit_bytes, 128 * MIB);
        assert_eq!(modules[0].stats().memory_bytes, 32 * MIB);
        assert_eq!(modules[9].stats().memory_bytes, 64 * 1024);
        // Closing one gives its bytes back; another can then grow.
        modules[0].close();
        assert_eq!(host.stats().memory_bytes, 2 * 32 * MIB + 7 * 64 * 1024);
        assert_eq!(call(&modules[9], "grow_to", &[pages_32mib]).unwrap()[0], 1);
        assert_eq!(host.stats().memory_peak_bytes, 3 * 32 * MIB + 7 * 64 * 1024);
        drop(modules);
        assert_eq!(host.stats().memory_bytes, 0, "pooling {pooling}");
        assert_eq!(host.stats().live_modules, 0);
    }
}

#[test]
fn an_instantiation_past_the_budget_names_it() {
    let host = host_with(Limits {
        host_memory_bytes: Some(4 * MIB),
        ..Limits::default()
    });
    let big = wat(r#"(module (memory (export "memory") 48))"#); // 3 MiB
    let _first = host.load("a", &big, Timeout::Never, None).unwrap();
    let err = host.load("b", &big, Timeout::Never, None).fails();
    assert_eq!(err.status(), Status::ResourceLimit);
    assert_eq!(
        err.message(),
        format!(
            "instantiate: the host's modules would need {} bytes of memory in all; its memory budget is {} bytes",
            6 * MIB,
            4 * MIB
        )
    );
    assert_eq!(host.live_modules(), 1);
    assert_eq!(host.stats().memory_bytes, 3 * MIB);
}

#[test]
fn stats_count_exactly_what_calls_did() {
    let host = host_with(Limits {
        fuel: Some(1_000_000),
        ..Limits::default()
    });
    host.define_func(
        "env",
        "fail",
        &[],
        &[],
        Arc::new(|_: &mut Caller<'_>, _: &mut [u64]| Err(HostFuncError("no".into()))),
    )
    .unwrap();
    let wasm = wat(r#"(module (import "env" "fail" (func $fail))
        (func (export "ok") (result i32) i32.const 1)
        (func (export "trap") unreachable)
        (func (export "fail") call $fail)
        (func (export "spin") (loop $l (br $l))))"#);
    let module = host.load("m", &wasm, Timeout::Never, None).unwrap();
    let fresh = module.stats();
    assert_eq!(
        (fresh.calls, fresh.failures(), fresh.fuel_consumed),
        (0, 0, 0)
    );
    for _ in 0..3 {
        call(&module, "ok", &[]).unwrap();
    }
    let ok_fuel = module.last_call_fuel().unwrap();
    assert!(ok_fuel > 0);
    assert_eq!(status_of(call(&module, "trap", &[])), Status::Trap);
    let trap_fuel = module.last_call_fuel().unwrap();
    assert_eq!(status_of(call(&module, "fail", &[])), Status::HostError);
    let fail_fuel = module.last_call_fuel().unwrap();
    assert_eq!(status_of(call(&module, "spin", &[])), Status::FuelExhausted);
    assert_eq!(module.last_call_fuel().unwrap(), 1_000_000);
    // Refused before running: not a call.
    assert_eq!(
        status_of(call(&module, "nope", &[])),
        Status::ExportNotFound
    );
    assert_eq!(
        status_of(call(&module, "ok", &[1])),
        Status::SignatureMismatch
    );
    let s = module.stats();
    assert_eq!(s.calls, 6);
    assert_eq!(
        (
            s.traps,
            s.host_errors,
            s.fuel_exhausted,
            s.timeouts,
            s.interrupts,
            s.exits
        ),
        (1, 1, 1, 0, 0, 0)
    );
    assert_eq!(
        s.fuel_consumed,
        3 * ok_fuel + trap_fuel + fail_fuel + 1_000_000
    );
    assert!(s.call_time_ns > 0);
    assert_eq!(s.memory_bytes, 0, "no memory");
}

/// A call stopped by its deadline or an interrupt is counted, with the fuel
/// Wasmtime has recorded for it. Wasmtime keeps a running function's fuel
/// count in a register and writes it back when the function calls, returns
/// or runs out, not when an epoch callback stops it (see wasmtime #13802
/// for traps), so a call stopped in a loop reports what was written back
/// before the loop: here nothing.
#[test]
fn a_call_stopped_by_its_timeout_is_counted() {
    let host = host_with(Limits {
        fuel: Some(1_000_000_000_000),
        ..Limits::default()
    });
    let wasm = wat(r#"(module (func (export "spin") (loop $l (br $l)))
        (func (export "count") (param i32) (loop $l
          (br_if $l (local.tee 0 (i32.sub (local.get 0) (i32.const 1)))))))"#);
    let module = host.load("m", &wasm, Timeout::Never, None).unwrap();
    let err = call_with(&module, "spin", &[], Timeout::After(ms(30))).fails();
    assert_eq!(err.status(), Status::Timeout);
    let stopped = module.last_call_fuel().unwrap();
    let s = module.stats();
    assert_eq!((s.calls, s.timeouts, s.fuel_consumed), (1, 1, stopped));
    call(&module, "count", &[1000]).unwrap();
    let counted = module.last_call_fuel().unwrap();
    assert!(counted >= 3000, "a 1000-iteration loop used {counted} fuel");
    assert_eq!(module.stats().fuel_consumed, stopped + counted);
    let other = host.new_cancel();
    other.trigger();
    assert_eq!(call_with_cancel(&module, &other), Status::Interrupted);
    assert_eq!((module.stats().calls, module.stats().interrupts), (3, 1));
}

fn call_with_cancel(module: &sbx::Module, cancel: &Arc<sbx::Cancel>) -> Status {
    let mut out = [0u64; 1];
    status_of(module.call(b"spin", &[], &mut out, Timeout::Never, Some(cancel)))
}

#[test]
fn closing_a_module_stops_its_reset() {
    let host = default_host();
    let runs = Arc::new(AtomicU32::new(0));
    let seen = runs.clone();
    host.define_func(
        "env",
        "runs",
        &[],
        &[sbx::ValueType::I32],
        Arc::new(move |_: &mut Caller<'_>, stack: &mut [u64]| {
            stack[0] = seen.fetch_add(1, Ordering::SeqCst) as u64;
            Ok(())
        }),
    )
    .unwrap();
    let wasm = wat(r#"(module (import "env" "runs" (func $runs (result i32)))
        (func $start (if (call $runs) (then (loop $l (br $l)))))
        (start $start)
        (func (export "f") (result i32) i32.const 1))"#);
    let module = host.load("m", &wasm, Timeout::Never, None).unwrap();
    let resetting = module.clone();
    let reset = std::thread::spawn(move || resetting.reset(Timeout::Never, None));
    assert!(eventually(ms(5_000), || runs.load(Ordering::SeqCst) == 2));
    let started = std::time::Instant::now();
    module.close();
    let err = reset.join().unwrap().fails();
    assert!(
        started.elapsed() < ms(2_000),
        "close waited {:?}",
        started.elapsed()
    );
    assert_eq!(err.status(), Status::HandleClosed);
    assert_eq!(err.message(), "reset: module was closed during the reset");
    assert_eq!(host.live_modules(), 0);
}

/// Found by the chaos test: argument checks come before the capacity check.
#[test]
fn a_full_host_still_reports_a_foreign_cancel_token() {
    let host = host_with(Limits {
        max_modules: 1,
        ..Limits::default()
    });
    let _only = load(&host, "add");
    let other = default_host();
    let foreign = other.new_cancel();
    let err = host
        .load("m", &fixture("add"), Timeout::Never, Some(&foreign))
        .fails();
    assert_eq!(err.status(), Status::InvalidArgument);
    assert_eq!(err.message(), "cancel token belongs to another host");
    assert_eq!(
        status_of(host.load("m", &fixture("add"), Timeout::Never, None)),
        Status::InstanceLimit
    );
}

/// A reactor's `_initialize` runs once per instance: at each instantiation
/// of a compiled module and at each reset, never on a call. A non-function
/// export of that name is not run, and one of the wrong type fails the load.
#[test]
fn initialize_runs_once_per_instance() {
    const REACTOR: &str = r#"(module
        (global $runs (mut i32) (i32.const 0))
        (func (export "_initialize")
            global.get $runs i32.const 1 i32.add global.set $runs)
        (func (export "runs") (result i32) global.get $runs))"#;
    let host = default_host();
    let (compiled, _) = host.compile(&wat(REACTOR), Timeout::Never, None).unwrap();
    let first = compiled.instantiate("a", &LoadOptions::default()).unwrap();
    let second = compiled.instantiate("b", &LoadOptions::default()).unwrap();
    assert_eq!(call(&first, "runs", &[]).unwrap(), vec![1]);
    assert_eq!(call(&first, "runs", &[]).unwrap(), vec![1]);
    assert_eq!(call(&second, "runs", &[]).unwrap(), vec![1]);
    first.reset(Timeout::Never, None).unwrap();
    assert_eq!(call(&first, "runs", &[]).unwrap(), vec![1]);

    let global = r#"(module (global (export "_initialize") i32 (i32.const 0))
        (func (export "f") (result i32) i32.const 5))"#;
    let m = host.load("g", &wat(global), Timeout::Never, None).unwrap();
    assert_eq!(call(&m, "f", &[]).unwrap(), vec![5]);

    // Refused when compiled: no instantiation could run it.
    let typed = wat(r#"(module (func (export "_initialize") (param i32)))"#);
    for err in [
        host.compile(&typed, Timeout::Never, None).map(|_| ()),
        host.load("t", &typed, Timeout::Never, None).map(|_| ()),
    ]
    .map(Result::unwrap_err)
    {
        assert_eq!(err.status(), Status::CompileError, "{err}");
        assert_eq!(
            err.message(),
            "export `_initialize` has signature (i32) -> (); a reactor's `_initialize` takes and returns nothing"
        );
    }
}
