//! Every status the safe API returns, from the mistake or guest behaviour
//! that produces it.

mod common;

use common::*;
use sbx::{Host, HostConfig, Limits, Status, Timeout, TrapCode, ValueType};

#[test]
fn status_values_round_trip_and_have_c_names() {
    let all = [
        (Status::Ok, 0, "SBX_STATUS_OK"),
        (Status::InvalidArgument, 1, "SBX_STATUS_INVALID_ARGUMENT"),
        (Status::HandleClosed, 2, "SBX_STATUS_HANDLE_CLOSED"),
        (Status::OutOfBounds, 3, "SBX_STATUS_OUT_OF_BOUNDS"),
        (Status::CompileError, 10, "SBX_STATUS_COMPILE_ERROR"),
        (Status::LinkError, 11, "SBX_STATUS_LINK_ERROR"),
        (Status::InstanceLimit, 12, "SBX_STATUS_INSTANCE_LIMIT"),
        (Status::ResourceLimit, 13, "SBX_STATUS_RESOURCE_LIMIT"),
        (Status::ExportNotFound, 20, "SBX_STATUS_EXPORT_NOT_FOUND"),
        (
            Status::SignatureMismatch,
            21,
            "SBX_STATUS_SIGNATURE_MISMATCH",
        ),
        (Status::Timeout, 30, "SBX_STATUS_TIMEOUT"),
        (Status::Interrupted, 31, "SBX_STATUS_INTERRUPTED"),
        (Status::FuelExhausted, 32, "SBX_STATUS_FUEL_EXHAUSTED"),
        (Status::Trap, 33, "SBX_STATUS_TRAP"),
        (Status::Exit, 34, "SBX_STATUS_EXIT"),
        (Status::HostError, 35, "SBX_STATUS_HOST_ERROR"),
        (Status::Io, 40, "SBX_STATUS_IO"),
        (Status::Internal, 99, "SBX_STATUS_INTERNAL"),
    ];
    for (status, value, name) in all {
        assert_eq!(status as u32, value, "{name}");
        assert_eq!(Status::from_u32(value), Some(status));
        assert_eq!(status.name(), name);
        assert!(Status::ALL.contains(&status));
    }
    let known: Vec<u32> = all.iter().map(|a| a.1).collect();
    for value in (0..=300).chain([u32::MAX]) {
        if !known.contains(&value) {
            assert_eq!(Status::from_u32(value), None, "{value} is not a status");
        }
    }
}

#[test]
fn trap_codes_round_trip_and_have_names() {
    let mut seen = 0;
    for value in 0..=u8::MAX {
        if let Some(code) = TrapCode::from_u8(value) {
            assert_eq!(code as u8, value);
            assert!(!code.name().is_empty());
            seen += 1;
        }
    }
    assert_eq!(seen, 14);
    assert_eq!(TrapCode::from_u8(13), None);
    assert_eq!(TrapCode::from_u8(254), None);
    assert_eq!(TrapCode::Unreachable.name(), "unreachable");
    assert_eq!(TrapCode::None.name(), "none");
}

#[test]
fn ok_status_for_a_plain_call() {
    let host = default_host();
    let module = load(&host, "add");
    assert_eq!(call(&module, "add", &[2, 3]).unwrap(), vec![5]);
    let noop = load(&host, "noop");
    assert_eq!(call(&noop, "noop", &[]).unwrap(), Vec::<u64>::new());
}

#[test]
fn invalid_argument_for_empty_or_whitespace_names() {
    let host = default_host();
    let wasm = fixture("add");
    for name in ["", " ", "\t\n ", "\u{3000}"] {
        let err = host.load(name, &wasm, Timeout::Never, None).fails();
        assert_eq!(err.status(), Status::InvalidArgument, "name {name:?}");
    }
    assert_eq!(host.live_modules(), 0);
    // A name with inner spaces is fine.
    assert!(host
        .load(" my plugin ", &wasm, Timeout::Never, None)
        .is_ok());
}

#[test]
fn invalid_argument_for_out_of_range_limits() {
    let bad: Vec<(&str, Limits)> = vec![
        (
            "memory 0",
            Limits {
                memory_bytes: 0,
                ..Default::default()
            },
        ),
        (
            "memory below a page",
            Limits {
                memory_bytes: 65535,
                ..Default::default()
            },
        ),
        (
            "memory above 4 GiB",
            Limits {
                memory_bytes: (4 << 30) + 1,
                ..Default::default()
            },
        ),
        (
            "table 0",
            Limits {
                table_elements: 0,
                ..Default::default()
            },
        ),
        (
            "table 2^32",
            Limits {
                table_elements: 1 << 32,
                ..Default::default()
            },
        ),
        (
            "stack 0",
            Limits {
                max_wasm_stack: 0,
                ..Default::default()
            },
        ),
        (
            "stack below 16 KiB",
            Limits {
                max_wasm_stack: 16 * 1024 - 1,
                ..Default::default()
            },
        ),
        (
            "stack above 4 MiB",
            Limits {
                max_wasm_stack: (4 << 20) + 1,
                ..Default::default()
            },
        ),
        (
            "modules 0",
            Limits {
                max_modules: 0,
                ..Default::default()
            },
        ),
        (
            "pool of 4097",
            Limits {
                max_modules: 4097,
                pooling: true,
                ..Default::default()
            },
        ),
        (
            "fuel 0",
            Limits {
                fuel: Some(0),
                ..Default::default()
            },
        ),
    ];
    for (what, limits) in bad {
        assert_eq!(
            limits.validate().fails().status(),
            Status::InvalidArgument,
            "{what}"
        );
        let err = Host::new(HostConfig {
            limits,
            ..Default::default()
        })
        .err();
        assert_eq!(
            err.map(|e| e.status()),
            Some(Status::InvalidArgument),
            "{what}"
        );
    }
}

#[test]
fn boundary_limits_are_accepted() {
    let good = [
        Limits {
            memory_bytes: 64 * 1024,
            ..Default::default()
        },
        Limits {
            memory_bytes: 4 << 30,
            ..Default::default()
        },
        Limits {
            table_elements: 1,
            ..Default::default()
        },
        Limits {
            table_elements: u32::MAX as u64,
            ..Default::default()
        },
        Limits {
            max_wasm_stack: 16 * 1024,
            ..Default::default()
        },
        Limits {
            max_wasm_stack: 4 << 20,
            ..Default::default()
        },
        Limits {
            max_modules: 1,
            ..Default::default()
        },
        Limits {
            max_modules: u32::MAX,
            ..Default::default()
        },
        Limits {
            fuel: Some(1),
            ..Default::default()
        },
        Limits {
            exec_timeout: Some(ms(1)),
            load_timeout: Some(ms(1)),
            ..Default::default()
        },
    ];
    for limits in good {
        assert!(limits.validate().is_ok(), "{limits:?}");
    }
    // Pool sizes are checked without creating a pool (that reserves address space).
    let pool = Limits {
        max_modules: 4096,
        pooling: true,
        ..Default::default()
    };
    assert!(pool.validate().is_ok());
}

#[test]
fn defaults_sandbox_without_configuration() {
    let limits = Limits::default();
    assert_eq!(limits.memory_bytes, 256 * 1024 * 1024);
    assert_eq!(limits.table_elements, 10_000);
    assert_eq!(limits.max_wasm_stack, 512 * 1024);
    assert_eq!(limits.max_modules, 1_000);
    assert_eq!(limits.exec_timeout, None);
    assert_eq!(limits.load_timeout, None);
    assert_eq!(limits.fuel, None);
    assert!(!limits.pooling);
    assert!(limits.validate().is_ok());
    assert_eq!(limits.pool_reservation_bytes(), 0);
    let config = HostConfig::default();
    assert_eq!(config.limits, limits);
    assert_eq!(config.cache_dir, None);
    let host = Host::new(config).unwrap();
    assert_eq!(host.limits(), &limits);
    assert_eq!(Timeout::default(), Timeout::HostDefault);
}

#[test]
fn invalid_argument_for_a_cancel_token_of_another_host() {
    let host = default_host();
    let other = default_host();
    let module = load(&host, "add");
    let foreign = other.new_cancel();
    let mut results = [0u64; 1];
    let err = module
        .call(
            b"add",
            &[1, 2],
            &mut results,
            Timeout::Never,
            Some(&foreign),
        )
        .fails();
    assert_eq!(err.status(), Status::InvalidArgument);
    let err = host
        .load("add2", &fixture("add"), Timeout::Never, Some(&foreign))
        .fails();
    assert_eq!(err.status(), Status::InvalidArgument);
    assert_eq!(host.live_modules(), 1);
    // The host's own token is fine.
    let own = host.new_cancel();
    let n = module
        .call(b"add", &[1, 2], &mut results, Timeout::Never, Some(&own))
        .unwrap();
    assert_eq!((n, results[0]), (1, 3));
}

#[test]
fn handle_closed_after_module_close() {
    let host = default_host();
    let module = load(&host, "counter");
    assert_eq!(call(&module, "inc", &[]).unwrap(), vec![1]);
    module.close();
    assert!(module.is_closed());
    assert_eq!(status_of(call(&module, "inc", &[])), Status::HandleClosed);
    assert_eq!(status_of(module.interrupt()), Status::HandleClosed);
    assert_eq!(status_of(module.last_call_fuel()), Status::HandleClosed);
    // A clone is the same module.
    let clone = module.clone();
    assert_eq!(status_of(call(&clone, "get", &[])), Status::HandleClosed);
    // Close is idempotent, and the metadata survives.
    module.close();
    assert_eq!(module.name(), "counter");
    assert_eq!(module.exported_functions().len(), 2);
    assert_eq!(host.live_modules(), 0);
}

#[test]
fn handle_closed_after_host_close() {
    let host = default_host();
    let module = load(&host, "add");
    host.close();
    assert!(host.is_closed());
    assert_eq!(
        status_of(call(&module, "add", &[1, 2])),
        Status::HandleClosed
    );
    let err = host
        .load("add", &fixture("add"), Timeout::Never, None)
        .fails();
    assert_eq!(err.status(), Status::HandleClosed);
    host.close(); // idempotent
}

#[test]
fn compile_error_for_garbage_bytes() {
    let host = default_host();
    for bytes in [
        &b""[..],
        &b"not wasm at all"[..],
        &[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0xff, 0xff][..],
        &[0x00, 0x61, 0x73, 0x6d, 0x02, 0x00, 0x00, 0x00][..],
    ] {
        let err = host.load("junk", bytes, Timeout::Never, None).fails();
        assert_eq!(err.status(), Status::CompileError, "{bytes:?}: {err}");
        assert!(!err.message().is_empty());
    }
    assert_eq!(host.live_modules(), 0);
    // A failed load does not keep a slot.
    let host = host_with(Limits {
        max_modules: 1,
        ..Default::default()
    });
    for _ in 0..3 {
        assert_eq!(
            status_of(host.load("junk", b"junk", Timeout::Never, None)),
            Status::CompileError
        );
    }
    assert!(host
        .load("add", &fixture("add"), Timeout::Never, None)
        .is_ok());
}

#[test]
fn link_error_names_the_missing_import() {
    let host = default_host();
    let err = host
        .load(
            "unresolved",
            &fixture("unresolved_import"),
            Timeout::Never,
            None,
        )
        .fails();
    assert_eq!(err.status(), Status::LinkError);
    assert!(
        err.message().contains("missing_function"),
        "message should name the import: {}",
        err.message()
    );
    assert_eq!(host.live_modules(), 0);
}

#[test]
fn instance_limit_when_the_host_is_full() {
    let host = host_with(Limits {
        max_modules: 2,
        ..Default::default()
    });
    let a = load(&host, "add");
    let _b = load(&host, "counter");
    let err = host
        .load("third", &fixture("noop"), Timeout::Never, None)
        .fails();
    assert_eq!(err.status(), Status::InstanceLimit);
    assert_eq!(host.live_modules(), 2);
    a.close();
    assert_eq!(host.live_modules(), 1);
    let c = load(&host, "noop");
    assert_eq!(call(&c, "noop", &[]).unwrap(), Vec::<u64>::new());
    assert_eq!(
        status_of(host.load("fourth", &fixture("noop"), Timeout::Never, None)),
        Status::InstanceLimit
    );
    // Dropping the last handle also frees the slot.
    drop(c);
    assert_eq!(host.live_modules(), 1);
    assert!(host
        .load("fifth", &fixture("noop"), Timeout::Never, None)
        .is_ok());
}

#[test]
fn instance_limit_with_pooling() {
    let host = host_with(Limits {
        max_modules: 3,
        pooling: true,
        ..Default::default()
    });
    let modules: Vec<_> = (0..3).map(|_| load(&host, "counter")).collect();
    for (i, m) in modules.iter().enumerate() {
        for _ in 0..=i {
            call(m, "inc", &[]).unwrap();
        }
    }
    assert_eq!(
        status_of(host.load("fourth", &fixture("counter"), Timeout::Never, None)),
        Status::InstanceLimit
    );
    modules[1].close();
    let replacement = load(&host, "counter");
    // A reused slot starts from the module's initial state.
    assert_eq!(call(&replacement, "get", &[]).unwrap(), vec![0]);
    assert_eq!(call(&modules[2], "get", &[]).unwrap(), vec![3]);
    assert_eq!(
        status_of(host.load("fifth", &fixture("counter"), Timeout::Never, None)),
        Status::InstanceLimit
    );
}

#[test]
fn resource_limit_for_too_much_initial_memory() {
    let host = default_host();
    let err = host
        .load("big", &fixture("big_memory"), Timeout::Never, None)
        .fails();
    assert_eq!(err.status(), Status::ResourceLimit, "{err}");
    assert_eq!(host.live_modules(), 0);
    // Under a larger limit the same module loads.
    let roomy = host_with(Limits {
        memory_bytes: 512 << 20,
        ..Default::default()
    });
    assert!(roomy
        .load("big", &fixture("big_memory"), Timeout::Never, None)
        .is_ok());
}

#[test]
fn resource_limit_for_too_large_a_table() {
    let host = host_with(Limits {
        table_elements: 10,
        ..Default::default()
    });
    let big_table = wat(r#"(module (table 11 funcref) (func (export "f")))"#);
    let err = host.load("t", &big_table, Timeout::Never, None).fails();
    assert_eq!(err.status(), Status::ResourceLimit, "{err}");
    let fits = wat(r#"(module (table 10 funcref) (func (export "f")))"#);
    assert!(host.load("t", &fits, Timeout::Never, None).is_ok());
}

#[test]
fn export_not_found_for_missing_names_and_other_kinds() {
    let host = default_host();
    let module = load(&host, "all_types");
    let err = call(&module, "nope", &[]).fails();
    assert_eq!(err.status(), Status::ExportNotFound);
    assert!(err.message().contains("nope"), "{}", err.message());
    for (name, kind) in [
        ("memory", "memory"),
        ("answer", "global"),
        ("table", "table"),
    ] {
        let err = call(&module, name, &[]).fails();
        assert_eq!(err.status(), Status::ExportNotFound, "{name}");
        assert!(
            err.message().contains(kind),
            "export {name} should be named as a {kind}: {}",
            err.message()
        );
    }
    // Names are matched exactly, as bytes.
    assert_eq!(
        status_of(call(&module, "ID_I32", &[1])),
        Status::ExportNotFound
    );
    assert_eq!(
        status_of(call(&module, "id_i32 ", &[1])),
        Status::ExportNotFound
    );
    // Bytes that are not UTF-8 can name no export: a caller mistake.
    let mut results = [0u64; 1];
    let err = module
        .call(&[0xff, 0xfe], &[], &mut results, Timeout::Never, None)
        .fails();
    assert_eq!(err.status(), Status::InvalidArgument, "{err}");
    // ... also when they would match after a lossy conversion.
    let err = module
        .call(b"id_i32\xff", &[1], &mut results, Timeout::Never, None)
        .fails();
    assert_eq!(err.status(), Status::InvalidArgument, "{err}");
}

#[test]
fn signature_mismatch_for_wrong_arity_small_buffers_and_unsupported_types() {
    let host = default_host();
    let add = load(&host, "add");
    assert_eq!(
        status_of(call(&add, "add", &[1])),
        Status::SignatureMismatch
    );
    assert_eq!(
        status_of(call(&add, "add", &[1, 2, 3])),
        Status::SignatureMismatch
    );
    let mut none: [u64; 0] = [];
    let err = add
        .call(b"add", &[1, 2], &mut none, Timeout::Never, None)
        .fails();
    assert_eq!(err.status(), Status::SignatureMismatch);
    assert!(err.message().contains("i32"), "{}", err.message());

    let all = load(&host, "all_types");
    let mut one = [0u64; 1];
    let err = all
        .call(b"swap", &[1, 2], &mut one, Timeout::Never, None)
        .fails();
    assert_eq!(
        err.status(),
        Status::SignatureMismatch,
        "two results, room for one"
    );
    let err = call(&all, "v128_param", &[0]).fails();
    assert_eq!(err.status(), Status::SignatureMismatch);
    assert!(err.message().contains("v128"), "{}", err.message());
    assert_eq!(
        status_of(call(&all, "v128_param", &[])),
        Status::SignatureMismatch
    );
    let err = call(&all, "funcref_result", &[]).fails();
    assert_eq!(err.status(), Status::SignatureMismatch);
    assert!(err.message().contains("funcref"), "{}", err.message());
    // The module is fine afterwards.
    assert_eq!(call(&add, "add", &[1, 2]).unwrap(), vec![3]);
}

#[test]
fn trap_fixtures_map_to_their_trap_codes() {
    let host = default_host();
    let cases: [(&str, &[u64], TrapCode); 8] = [
        ("trap_bad_conversion", &[], TrapCode::BadConversionToInteger),
        ("trap_divide_by_zero", &[0], TrapCode::IntegerDivisionByZero),
        (
            "trap_indirect_call_to_null",
            &[],
            TrapCode::IndirectCallToNull,
        ),
        (
            "trap_indirect_call_type_mismatch",
            &[],
            TrapCode::BadSignature,
        ),
        ("trap_integer_overflow", &[], TrapCode::IntegerOverflow),
        (
            "trap_memory_out_of_bounds",
            &[],
            TrapCode::MemoryOutOfBounds,
        ),
        ("trap_table_out_of_bounds", &[], TrapCode::TableOutOfBounds),
        ("trap_unreachable", &[], TrapCode::Unreachable),
    ];
    for (fixture_name, params, code) in cases {
        let module = load(&host, fixture_name);
        let err = call(&module, "run", params).fails();
        assert_eq!(err.status(), Status::Trap, "{fixture_name}: {err}");
        assert_eq!(err.trap_code(), code, "{fixture_name}: {err}");
        assert!(
            err.message().contains(code.name()),
            "{fixture_name}: {}",
            err.message()
        );
        let backtrace = err.backtrace().unwrap_or("");
        assert!(!backtrace.trim().is_empty(), "{fixture_name}: no backtrace");
        // The display form carries the backtrace too.
        assert!(err.to_string().contains(backtrace));
        // Trapping again gives the same answer: the module is still usable.
        assert_eq!(call(&module, "run", params).fails().trap_code(), code);
    }
}

#[test]
fn divide_by_zero_fixture_divides_when_it_can() {
    let host = default_host();
    let module = load(&host, "trap_divide_by_zero");
    assert_eq!(call(&module, "run", &[1]).unwrap(), vec![1]);
    assert_eq!(call(&module, "run", &[2]).unwrap(), vec![0]);
    assert_eq!(call(&module, "run", &[0]).fails().status(), Status::Trap);
    assert_eq!(
        status_of(call(&module, "run", &[])),
        Status::SignatureMismatch
    );
}

#[test]
fn stack_bomb_is_a_stack_overflow_trap() {
    let host = default_host();
    let module = load(&host, "stack_bomb");
    for _ in 0..2 {
        let err = call(&module, "recurse", &[0]).fails();
        assert_eq!(err.status(), Status::Trap, "{err}");
        assert_eq!(err.trap_code(), TrapCode::StackOverflow);
        assert!(!err.backtrace().unwrap_or("").is_empty());
    }
    // A smaller wasm stack overflows too.
    let small = host_with(Limits {
        max_wasm_stack: 16 * 1024,
        ..Default::default()
    });
    let module = load(&small, "stack_bomb");
    assert_eq!(
        call(&module, "recurse", &[0]).fails().trap_code(),
        TrapCode::StackOverflow
    );
}

#[test]
fn errors_carry_no_trap_code_unless_they_are_traps() {
    let host = default_host();
    let module = load(&host, "add");
    let err = call(&module, "missing", &[]).fails();
    assert_eq!(err.trap_code(), TrapCode::None);
    assert_eq!(err.backtrace(), None);
    let loop_module = load(&host, "infinite_loop");
    let err = call_with(&loop_module, "loop", &[], Timeout::After(ms(20))).fails();
    assert_eq!(err.status(), Status::Timeout);
    assert_eq!(err.trap_code(), TrapCode::None);
}

#[test]
fn exported_functions_lists_names_and_signatures_in_order() {
    use ValueType::*;
    let host = default_host();
    let module = load(&host, "all_types");
    let functions = module.exported_functions();
    let names: Vec<&str> = functions.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "id_i32",
            "id_i64",
            "id_f32",
            "id_f64",
            "neg_f32",
            "add_f64",
            "swap",
            "mix",
            "v128_param",
            "funcref_result"
        ]
    );
    let sig = |name: &str| {
        functions
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.clone())
            .unwrap()
    };
    assert_eq!(sig("id_i32").params, [I32]);
    assert_eq!(sig("id_i32").results, [I32]);
    assert_eq!(sig("id_i64").params, [I64]);
    assert_eq!(sig("id_f32").results, [F32]);
    assert_eq!(sig("add_f64").params, [F64, F64]);
    assert_eq!(sig("swap").params, [I32, I64]);
    assert_eq!(sig("swap").results, [I64, I32]);
    assert_eq!(sig("mix").params, [I32, I64, F32, F64]);
    assert_eq!(sig("mix").results, [F64]);
    assert_eq!(sig("v128_param").params, [V128]);
    assert!(sig("v128_param").results.is_empty());
    assert_eq!(sig("funcref_result").results, [FuncRef]);
    assert_eq!(sig("swap").to_string(), "(i32, i64) -> (i64, i32)");
    assert_eq!(sig("funcref_result").to_string(), "() -> (funcref)");

    let add = load(&host, "add");
    let functions = add.exported_functions();
    assert_eq!(functions.len(), 1);
    assert_eq!(functions[0].0, "add");
    assert_eq!(functions[0].1.params, [I32, I32]);
    assert_eq!(functions[0].1.results, [I32]);

    let no_functions = host
        .load(
            "mem",
            &wat(r#"(module (memory (export "m") 1))"#),
            Timeout::Never,
            None,
        )
        .unwrap();
    assert!(no_functions.exported_functions().is_empty());
    // Metadata stays available after close.
    add.close();
    assert_eq!(add.exported_functions(), functions);
}

/// A host whose modules get a deny-all WASI world (for `proc_exit`).
fn wasi_host() -> Host {
    Host::new(HostConfig {
        wasi: Some(sbx::WasiConfig::default()),
        ..Default::default()
    })
    .expect("create host")
}

const EXITS: &str = r#"
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (global $count (mut i32) (i32.const 0))
  (func (export "exit") (param i32)
    global.get $count
    i32.const 1
    i32.add
    global.set $count
    local.get 0
    call $exit)
  (func (export "count") (result i32) global.get $count))
"#;

#[test]
fn every_proc_exit_code_is_an_exit_and_the_module_stays_usable() {
    let host = wasi_host();
    let module = host
        .load("exits", &wat(EXITS), Timeout::Never, None)
        .unwrap();
    // wasmtime-wasi alone turns 126 and above into a trap.
    for code in [1u32, 125, 126, 127, 255, 256, i32::MAX as u32, u32::MAX] {
        let err = call(&module, "exit", &[code as u64]).fails();
        assert_eq!(err.status(), Status::Exit, "code {code}: {err}");
        assert_eq!(err.exit_code(), Some(code as i32), "code {code}");
        assert_eq!(err.trap_code(), TrapCode::None);
        assert!(err.message().contains(&(code as i32).to_string()), "{err}");
    }
    // Exit code 0 is success, with no results.
    assert_eq!(call(&module, "exit", &[0]).unwrap(), Vec::<u64>::new());
    // The module stays usable after an exit, with its state kept.
    assert_eq!(call(&module, "count", &[]).unwrap(), vec![9]);
    assert!(!module.is_closed());
}

#[test]
fn io_for_a_preopen_that_cannot_be_opened() {
    let dir = TempDir::new("preopen");
    let file = dir.path().join("file");
    std::fs::write(&file, b"not a directory").unwrap();
    for host_path in [dir.path().join("missing"), file] {
        let wasi = sbx::WasiConfig {
            preopens: vec![sbx::Preopen {
                host: host_path.clone(),
                guest: "/data".into(),
                writable: false,
            }],
            ..Default::default()
        };
        let options = sbx::LoadOptions {
            wasi: Some(wasi),
            ..Default::default()
        };
        let err = default_host()
            .load_with("exits", &wat(EXITS), &options)
            .fails();
        assert_eq!(err.status(), Status::Io, "{}: {err}", host_path.display());
        assert!(
            err.message().contains(&*host_path.to_string_lossy()),
            "{err}"
        );
    }
}

#[test]
fn instantiation_errors_say_what_ran() {
    let host = default_host();
    let cases = [
        (
            r#"(module (func $s unreachable) (start $s))"#,
            Status::Trap,
            "start function: wasm trap: unreachable",
        ),
        (
            r#"(module (memory 1) (data (i32.const 65535) "ab"))"#,
            Status::Trap,
            "instantiate: wasm trap: out of bounds memory access",
        ),
        (
            r#"(module (func (export "_initialize") unreachable))"#,
            Status::Trap,
            "`_initialize`: wasm trap: unreachable",
        ),
        (
            r#"(module (import "env" "fail" (func $f)) (func $s call $f) (start $s))"#,
            Status::HostError,
            "start function: host function `env.fail`: refused",
        ),
        (
            r#"(module (import "env" "fail" (func $f)) (start $f))"#,
            Status::HostError,
            "start function: host function `env.fail`: refused",
        ),
    ];
    host.define_func(
        "env",
        "fail",
        &[],
        &[],
        std::sync::Arc::new(|_: &mut sbx::Caller<'_>, _: &mut [u64]| {
            Err(sbx::HostFuncError("refused".into()))
        }),
    )
    .unwrap();
    for (source, status, message) in cases {
        let err = host.load("m", &wat(source), Timeout::Never, None).fails();
        assert_eq!((err.status(), err.message()), (status, message), "{source}");
    }
    // Compiled first, so that the 50 ms go to the start function even on
    // a loaded machine.
    host.compile(&fixture("start_loop"), Timeout::Never, None)
        .unwrap();
    let err = host
        .load("m", &fixture("start_loop"), Timeout::After(ms(50)), None)
        .fails();
    assert_eq!(
        (err.status(), err.message()),
        (Status::Timeout, "start function: deadline exceeded")
    );
    let exits = wat(
        r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func $e (param i32)))
             (func $s i32.const 200 call $e) (start $s))"#,
    );
    let err = wasi_host().load("m", &exits, Timeout::Never, None).fails();
    assert_eq!(
        (err.status(), err.message(), err.exit_code()),
        (
            Status::Exit,
            "start function: exited with code 200",
            Some(200)
        )
    );
}

#[test]
fn export_names_are_matched_as_bytes_even_empty_or_blank() {
    let host = default_host();
    let module = host
        .load(
            "blank",
            &wat(r#"(module
                 (func (export "") (result i32) i32.const 7)
                 (func (export " ") (result i32) i32.const 8)
                 (func (export "a\00b") (result i32) i32.const 9))"#),
            Timeout::Never,
            None,
        )
        .unwrap();
    let mut results = [0u64; 1];
    for (name, want) in [(&b""[..], 7), (b" ", 8), (b"a\0b", 9)] {
        let n = module
            .call(name, &[], &mut results, Timeout::Never, None)
            .unwrap();
        assert_eq!((n, results[0]), (1, want), "{name:?}");
    }
    let add = load(&host, "add");
    for name in [&b""[..], b" ", b"add\0"] {
        let err = add
            .call(name, &[], &mut results, Timeout::Never, None)
            .fails();
        assert_eq!(err.status(), Status::ExportNotFound, "{name:?}");
    }
}

#[test]
fn module_names_are_length_delimited_and_may_hold_nul() {
    let host = default_host();
    let module = host
        .load("a\0b", &fixture("add"), Timeout::Never, None)
        .unwrap();
    assert_eq!(module.name(), "a\0b");
    // A lone NUL is not whitespace: a (strange) name, but a name.
    let lone = host
        .load("\0", &fixture("add"), Timeout::Never, None)
        .unwrap();
    assert_eq!(lone.name(), "\0");
}

#[test]
fn narrow_params_ignore_upper_bits_and_narrow_results_are_zero_extended() {
    let host = default_host();
    let all = load(&host, "all_types");
    let junk = 0xdead_beef_0000_0000u64;
    assert_eq!(
        call(&all, "id_i32", &[junk | 0xffff_fff0]).unwrap(),
        vec![0xffff_fff0]
    );
    let bits = 1.5f32.to_bits() as u64;
    assert_eq!(call(&all, "id_f32", &[junk | bits]).unwrap(), vec![bits]);
    let neg = call(&all, "neg_f32", &[junk | bits]).unwrap();
    assert_eq!(neg, vec![(-1.5f32).to_bits() as u64]);
    let add = load(&host, "add");
    assert_eq!(
        call(&add, "add", &[junk | 2, u64::MAX]).unwrap(),
        vec![1],
        "2 + -1, upper halves ignored"
    );
    assert_eq!(
        call(&add, "add", &[0, u64::MAX]).unwrap(),
        vec![0xffff_ffff]
    );
}

#[test]
fn externref_and_atomics_modules_do_not_compile() {
    let host = default_host();
    for source in [
        r#"(module (func (export "f") (param externref)))"#,
        r#"(module (table 1 externref))"#,
        r#"(module (memory 1 1 shared)
             (func (export "f") (result i32) i32.const 1 i32.atomic.load))"#,
        r#"(module (memory 1)
             (func (export "f") (result i32) i32.const 1 i32.atomic.load))"#,
    ] {
        let err = host.load("m", &wat(source), Timeout::Never, None).fails();
        assert_eq!(err.status(), Status::CompileError, "{source}: {err}");
    }
}

#[test]
fn compile_error_messages_are_one_line() {
    let err = default_host()
        .load("m", b"\0asn\x01\0\0\0", Timeout::Never, None)
        .fails();
    assert_eq!(err.status(), Status::CompileError);
    assert!(err.message().contains("magic"), "{err}");
    assert_one_line(err.message());
}

/// A module whose `spin` tells the host it started, then loops forever.
fn announcing_loop(host: &Host) -> (sbx::Module, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let started = Arc::new(AtomicBool::new(false));
    let flag = started.clone();
    host.define_func(
        "env",
        "started",
        &[],
        &[],
        Arc::new(move |_: &mut sbx::Caller<'_>, _: &mut [u64]| {
            flag.store(true, Ordering::SeqCst);
            Ok(())
        }),
    )
    .ok();
    let module = host
        .load(
            "spin",
            &wat(r#"(module (import "env" "started" (func $started))
                 (func (export "spin") call $started (loop $l br $l)))"#),
            Timeout::Never,
            None,
        )
        .unwrap();
    (module, started)
}

#[test]
fn a_call_in_flight_when_its_module_or_host_closes_gets_handle_closed() {
    use std::sync::atomic::Ordering;
    for round in 0..50 {
        let host = default_host();
        let (module, started) = announcing_loop(&host);
        let runner = module.clone();
        let worker = std::thread::spawn(move || call(&runner, "spin", &[]));
        assert!(eventually(ms(30_000), || started.load(Ordering::SeqCst)));
        // Alternate the two closes; both reach the call the same way.
        if round % 2 == 0 {
            module.close();
        } else {
            host.close();
        }
        let err = worker.join().unwrap().fails();
        assert_eq!(err.status(), Status::HandleClosed, "round {round}: {err}");
        assert_eq!(status_of(call(&module, "spin", &[])), Status::HandleClosed);
    }
}
