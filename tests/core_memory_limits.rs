//! The memory limit bounds the sum of a module's linear memories and the
//! table limit the sum of its tables' elements, on both allocators; a module
//! that cannot fit fails its load with `ResourceLimit`, naming the limit.
//! Also the wasm stack limit's boundaries, which are checked at host creation.

mod common;

use common::*;
use sbx::{Error, Host, HostConfig, Limits, Module, Status, Timeout};

const PAGE: u64 = 64 * 1024;
const MIB: u64 = 1 << 20;
/// memory.grow / table.grow refused, as an i32 result.
const REFUSED: u64 = 0xffff_ffff;

fn memory_limit(bytes: u64) -> Limits {
    Limits {
        memory_bytes: bytes,
        ..Default::default()
    }
}

fn table_limit(elements: u64) -> Limits {
    Limits {
        table_elements: elements,
        ..Default::default()
    }
}

fn pooled(limits: Limits) -> Limits {
    Limits {
        pooling: true,
        max_modules: 2,
        ..limits
    }
}

fn load_wasm(host: &Host, wasm: &[u8]) -> Result<Module, Error> {
    host.load("m", wasm, Timeout::Never, None)
}

#[track_caller]
fn refused(host: &Host, wasm: &[u8], message: &str) {
    let live = host.live_modules();
    let err = load_wasm(host, wasm).fails();
    assert_eq!(err.status(), Status::ResourceLimit, "{err}");
    assert_eq!(err.message(), message);
    assert_eq!(host.live_modules(), live);
}

#[test]
fn two_1_mib_memories_do_not_load_under_1_mib() {
    let host = host_with(memory_limit(MIB));
    let two = wat("(module (memory 16) (memory 16))");
    refused(
        &host,
        &two,
        "module needs 2097152 bytes of initial memory (2 memories together); \
         the memory limit is 1048576 bytes",
    );
    // One of them alone fits exactly.
    assert!(load_wasm(&host, &wat("(module (memory 16) (memory 0))")).is_ok());
    // So do both under a limit of their sum.
    assert!(load_wasm(&host_with(memory_limit(2 * MIB)), &two).is_ok());
}

#[test]
fn a_hundred_memories_are_refused_at_load() {
    let hundred = wat(&format!("(module {})", "(memory 16) ".repeat(100)));
    let host = host_with(memory_limit(MIB));
    refused(
        &host,
        &hundred,
        "module defines 100 memories; sbx allows 4 per module",
    );
    let empty = wat(&format!("(module {})", "(memory 0) ".repeat(5)));
    refused(
        &host,
        &empty,
        "module defines 5 memories; sbx allows 4 per module",
    );
}

#[test]
fn memories_at_the_limit_cannot_grow() {
    // 1 + 1 pages under a 2-page limit: the load fits, any grow is refused.
    let host = host_with(memory_limit(2 * PAGE));
    let module = load(&host, "multi_memory");
    for mem in 0..4 {
        assert_eq!(call(&module, "grow", &[mem, 1]).unwrap(), vec![REFUSED]);
    }
    assert_eq!(call(&module, "grow", &[0, 0]).unwrap(), vec![1]);
    assert_eq!(call(&module, "pages", &[]).unwrap(), vec![2]);
    // Under one page the same module does not load.
    refused(
        &host_with(memory_limit(PAGE)),
        &fixture("multi_memory"),
        "module needs 131072 bytes of initial memory (4 memories together); \
         the memory limit is 65536 bytes",
    );
}

#[test]
fn growing_in_turn_stops_exactly_at_the_limit() {
    let host = host_with(memory_limit(MIB));
    let module = load(&host, "multi_memory");
    // From 2 pages, one page at a time over the four memories: 16 in all.
    assert_eq!(call(&module, "grow_all", &[]).unwrap(), vec![16]);
    for mem in 0..4 {
        assert_eq!(call(&module, "grow", &[mem, 1]).unwrap(), vec![REFUSED]);
    }
    assert_eq!(call(&module, "pages", &[]).unwrap(), vec![16]);
    // A refused grow of several pages leaves the total where it was.
    assert_eq!(call(&module, "grow", &[3, 100]).unwrap(), vec![REFUSED]);
    assert_eq!(call(&module, "pages", &[]).unwrap(), vec![16]);
    // Growing past a memory's own maximum is refused and costs nothing.
    let capped = wat(r#"(module (memory $a 1 1) (memory $b 0)
             (func (export "grow_a") (result i32) (memory.grow $a (i32.const 1)))
             (func (export "grow_b") (result i32) (memory.grow $b (i32.const 3))))"#);
    let capped = load_wasm(&host_with(memory_limit(4 * PAGE)), &capped).unwrap();
    assert_eq!(call(&capped, "grow_a", &[]).unwrap(), vec![REFUSED]);
    assert_eq!(call(&capped, "grow_b", &[]).unwrap(), vec![0]);
}

#[test]
fn a_limit_between_pages_allows_the_pages_below_it() {
    // 100 KiB allows one page, not two.
    let host = host_with(memory_limit(100 * 1024));
    let bomb = load(&host, "memory_bomb");
    assert_eq!(call(&bomb, "grow", &[1]).unwrap(), vec![REFUSED]);
    assert_eq!(call(&bomb, "grow_all", &[]).unwrap(), vec![1]);
    refused(
        &host,
        &wat("(module (memory 2))"),
        "module needs 131072 bytes of initial memory; \
         the memory limit is 102400 bytes",
    );
    // 1 MiB + 100 KiB allows 17 pages over several memories.
    let host = host_with(memory_limit(MIB + 100 * 1024));
    let module = load(&host, "multi_memory");
    assert_eq!(call(&module, "grow_all", &[]).unwrap(), vec![17]);
}

#[test]
fn memory64_counts_toward_the_same_limit() {
    let host = host_with(memory_limit(2 * PAGE));
    let module = load_wasm(
        &host,
        &wat(r#"(module (memory $big i64 1) (memory $small 1)
                  (func (export "grow64") (result i64) (memory.grow $big (i64.const 1)))
                  (func (export "grow32") (result i32) (memory.grow $small (i32.const 1))))"#),
    )
    .unwrap();
    assert_eq!(call(&module, "grow64", &[]).unwrap(), vec![u64::MAX]);
    assert_eq!(call(&module, "grow32", &[]).unwrap(), vec![REFUSED]);
    refused(
        &host,
        &wat("(module (memory i64 3))"),
        "module needs 196608 bytes of initial memory; \
         the memory limit is 131072 bytes",
    );
}

#[test]
fn tables_share_the_elements_limit() {
    let host = host_with(table_limit(10));
    let module = load(&host, "multi_table");
    assert_eq!(call(&module, "grow_all", &[]).unwrap(), vec![10]);
    for table in 0..4 {
        assert_eq!(call(&module, "grow", &[table, 1]).unwrap(), vec![REFUSED]);
    }
    assert_eq!(call(&module, "elements", &[]).unwrap(), vec![10]);
    // 1 + 1 elements under a limit of 2: no table can grow.
    let full = load(&host_with(table_limit(2)), "multi_table");
    for table in 0..4 {
        assert_eq!(call(&full, "grow", &[table, 1]).unwrap(), vec![REFUSED]);
    }
    refused(
        &host_with(table_limit(1)),
        &fixture("multi_table"),
        "module needs 2 initial table elements (4 tables together); \
         the table elements limit is 1",
    );
    refused(
        &host,
        &wat("(module (table 6 funcref) (table 5 externref))"),
        "module needs 11 initial table elements (2 tables together); \
         the table elements limit is 10",
    );
}

#[test]
fn what_the_load_check_cannot_see_is_refused_at_instantiation() {
    // Sizes after a table with an initializer are not read before compiling;
    // the store's limiter still refuses them, with the same kind of message.
    let host = host_with(table_limit(10));
    let wasm = wat(r#"(module (type $f (func))
                        (table 1 (ref $f) (ref.func $g))
                        (table 20 funcref)
                        (func $g (type $f)))"#);
    refused(
        &host,
        &wasm,
        "instantiate: the module's tables need 21 elements in all; \
         the table elements limit is 10",
    );
    let fits = wat(r#"(module (type $f (func))
                        (table 1 (ref $f) (ref.func $g))
                        (table 9 funcref)
                        (func $g (type $f)))"#);
    assert!(load_wasm(&host, &fits).is_ok());
}

#[test]
fn pooling_refuses_what_its_slots_cannot_hold() {
    let over = wat("(module (memory 17))");
    let two_tables = wat("(module (table 1 funcref) (table 1 funcref))");
    let two_memories = wat("(module (memory 1) (memory 1))");
    let pool = host_with(pooled(memory_limit(MIB)));
    let over_message = "module needs 1114112 bytes of initial memory; \
                        the memory limit is 1048576 bytes";
    refused(&pool, &over, over_message);
    refused(
        &pool,
        &two_tables,
        "module defines 2 tables; a pooled host allows 1 per module",
    );
    refused(
        &pool,
        &two_memories,
        "module defines 2 memories; a pooled host allows 1 per module",
    );
    refused(
        &pool,
        &fixture("multi_memory"),
        "module defines 4 memories; a pooled host allows 1 per module",
    );
    // The pool is still usable, up to its limit.
    let one = load_wasm(&pool, &wat("(module (memory 16))")).unwrap();
    drop(one);
    let bomb = load(&pool, "memory_bomb");
    assert_eq!(call(&bomb, "grow_all", &[]).unwrap(), vec![16]);
    // On demand: the same over-limit memory fails the same way; several
    // memories or tables are allowed.
    let on_demand = host_with(memory_limit(MIB));
    refused(&on_demand, &over, over_message);
    assert!(load_wasm(&on_demand, &two_tables).is_ok());
    assert!(load_wasm(&on_demand, &two_memories).is_ok());
}

#[test]
fn the_load_check_leaves_bad_bytes_to_the_compiler() {
    let host = default_host();
    for wasm in [&b""[..], b"\0asm", b"\0asm\x01\0\0\0\x05\x7f", b"not wasm"] {
        let err = load_wasm(&host, wasm).fails();
        assert_eq!(err.status(), Status::CompileError, "{wasm:?}: {err}");
    }
}

/// How deep `recurse` got before the stack overflowed, under `max_wasm_stack`.
/// Runs on a thread whose native stack holds the largest wasm stack.
fn recursion_depth(max_wasm_stack: u64) -> u64 {
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            let host = host_with(Limits {
                max_wasm_stack,
                ..Default::default()
            });
            let module = load_wasm(
                &host,
                &wat(r#"(module (global $depth (mut i64) (i64.const 0))
                          (func $recurse (export "recurse")
                            (global.set $depth (i64.add (global.get $depth) (i64.const 1)))
                            call $recurse)
                          (func (export "depth") (result i64) global.get $depth))"#),
            )
            .unwrap();
            let err = call(&module, "recurse", &[]).fails();
            assert_eq!(err.status(), Status::Trap, "{err}");
            assert_eq!(err.trap_code(), sbx::TrapCode::StackOverflow);
            call(&module, "depth", &[]).unwrap()[0]
        })
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn a_4_mib_wasm_stack_works_and_one_byte_more_is_refused() {
    for bytes in [2 * MIB, 4 * MIB] {
        let host = Host::new(HostConfig {
            limits: Limits {
                max_wasm_stack: bytes,
                ..Default::default()
            },
            ..Default::default()
        });
        assert!(host.is_ok(), "{bytes}: {:?}", host.err());
    }
    let err = Host::new(HostConfig {
        limits: Limits {
            max_wasm_stack: 4 * MIB + 1,
            ..Default::default()
        },
        ..Default::default()
    })
    .err()
    .expect("4 MiB + 1 is refused");
    assert_eq!(err.status(), Status::InvalidArgument, "{err}");
    // The limit is in effect: twice the stack, about twice the depth.
    let two = recursion_depth(2 * MIB);
    let four = recursion_depth(4 * MIB);
    assert!(
        four * 10 > two * 19 && four * 10 < two * 21,
        "depth {two} at 2 MiB, {four} at 4 MiB"
    );
}

#[test]
fn a_pooled_host_takes_a_4_mib_wasm_stack() {
    let host = host_with(pooled(Limits {
        max_wasm_stack: 4 * MIB,
        ..Default::default()
    }));
    let module = load(&host, "add");
    assert_eq!(call(&module, "add", &[2, 3]).unwrap(), vec![5]);
}
