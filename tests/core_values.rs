//! Values crossing as u64, and memory growth against the limit.

mod common;

use common::*;
use sbx::{Limits, Status, Timeout};

#[test]
fn i32_values_use_the_low_32_bits() {
    let host = default_host();
    let m = load(&host, "all_types");
    assert_eq!(
        call(&m, "id_i32", &[0xffff_ffff]).unwrap(),
        vec![0xffff_ffff]
    );
    assert_eq!(
        call(&m, "id_i32", &[(-1i32) as u32 as u64]).unwrap(),
        vec![0xffff_ffff]
    );
    assert_eq!(call(&m, "id_i32", &[0]).unwrap(), vec![0]);
    assert_eq!(
        call(&m, "id_i32", &[0x8000_0000]).unwrap(),
        vec![0x8000_0000]
    );
    // High bits of an i32 param are ignored, and never come back.
    assert_eq!(
        call(&m, "id_i32", &[0xdead_beef_0000_0001]).unwrap(),
        vec![1]
    );
    assert_eq!(call(&m, "id_i32", &[u64::MAX]).unwrap(), vec![0xffff_ffff]);
    let add = load(&host, "add");
    assert_eq!(
        call(&add, "add", &[0xffff_ffff, 1]).unwrap(),
        vec![0],
        "wraps"
    );
    assert_eq!(
        call(&add, "add", &[0x1_0000_0002, 0x7_0000_0003]).unwrap(),
        vec![5]
    );
}

#[test]
fn i64_values_cross_unchanged() {
    let host = default_host();
    let m = load(&host, "all_types");
    for v in [
        0,
        1,
        u64::MAX,
        (-2i64) as u64,
        0x8000_0000_0000_0000,
        0x1234_5678_9abc_def0,
    ] {
        assert_eq!(call(&m, "id_i64", &[v]).unwrap(), vec![v]);
    }
}

#[test]
fn f32_values_cross_as_their_bits() {
    let host = default_host();
    let m = load(&host, "all_types");
    for v in [
        1.5f32,
        -0.0,
        0.0,
        f32::MAX,
        f32::MIN_POSITIVE,
        f32::INFINITY,
        -3.25,
    ] {
        let bits = v.to_bits() as u64;
        assert_eq!(call(&m, "id_f32", &[bits]).unwrap(), vec![bits], "{v}");
    }
    let out = call(&m, "neg_f32", &[1.5f32.to_bits() as u64]).unwrap();
    assert_eq!(out, vec![(-1.5f32).to_bits() as u64]);
    assert_eq!(f32::from_bits(out[0] as u32), -1.5);
    // High bits above the f32 are ignored.
    let out = call(
        &m,
        "id_f32",
        &[0xffff_ffff_0000_0000 | 2.0f32.to_bits() as u64],
    )
    .unwrap();
    assert_eq!(out, vec![2.0f32.to_bits() as u64]);
    // A NaN stays a NaN (its payload is Wasmtime's business).
    let out = call(&m, "id_f32", &[f32::NAN.to_bits() as u64]).unwrap();
    assert!(out[0] <= u32::MAX as u64);
    assert!(f32::from_bits(out[0] as u32).is_nan());
}

#[test]
fn f64_values_cross_as_their_bits() {
    let host = default_host();
    let m = load(&host, "all_types");
    for v in [
        1.5f64,
        -0.0,
        f64::MAX,
        f64::MIN_POSITIVE,
        f64::NEG_INFINITY,
        1e-300,
    ] {
        assert_eq!(
            call(&m, "id_f64", &[v.to_bits()]).unwrap(),
            vec![v.to_bits()],
            "{v}"
        );
    }
    let out = call(&m, "add_f64", &[1.25f64.to_bits(), 2.5f64.to_bits()]).unwrap();
    assert_eq!(f64::from_bits(out[0]), 3.75);
    let out = call(&m, "id_f64", &[f64::NAN.to_bits()]).unwrap();
    assert!(f64::from_bits(out[0]).is_nan());
}

#[test]
fn multi_value_and_mixed_signatures() {
    let host = default_host();
    let m = load(&host, "all_types");
    let out = call(&m, "swap", &[7, (-2i64) as u64]).unwrap();
    assert_eq!(out, vec![(-2i64) as u64, 7]);
    let out = call(&m, "swap", &[0xffff_ffff_ffff_ffff, 5]).unwrap();
    assert_eq!(out, vec![5, 0xffff_ffff]);
    let out = call(
        &m,
        "mix",
        &[1, 2, 0.5f32.to_bits() as u64, 0.25f64.to_bits()],
    )
    .unwrap();
    assert_eq!(f64::from_bits(out[0]), 3.75);
    let out = call(
        &m,
        "mix",
        &[
            (-1i32) as u32 as u64,
            (-10i64) as u64,
            (-0.5f32).to_bits() as u64,
            100f64.to_bits(),
        ],
    )
    .unwrap();
    assert_eq!(
        f64::from_bits(out[0]),
        88.5,
        "i32 -1 is sign-extended by the guest"
    );
}

#[test]
fn results_go_to_the_front_of_the_buffer_and_the_rest_is_untouched() {
    let host = default_host();
    let m = load(&host, "all_types");
    let mut results = [0x5a5a_5a5a_5a5a_5a5a_u64; 4];
    let n = m
        .call(b"swap", &[1, 2], &mut results, Timeout::Never, None)
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        results,
        [2, 1, 0x5a5a_5a5a_5a5a_5a5a, 0x5a5a_5a5a_5a5a_5a5a]
    );
    // On failure nothing is written.
    let mut results = [0x5a5a_5a5a_5a5a_5a5a_u64; 2];
    let trap = load(&host, "trap_divide_by_zero");
    trap.call(b"run", &[0], &mut results, Timeout::Never, None)
        .fails();
    assert_eq!(results, [0x5a5a_5a5a_5a5a_5a5a; 2]);
}

#[test]
fn memory_grow_past_the_limit_returns_minus_one() {
    let host = host_with(Limits {
        memory_bytes: 1 << 20,
        ..Default::default()
    });
    let m = load(&host, "memory_bomb");
    assert_eq!(
        call(&m, "grow_all", &[]).unwrap(),
        vec![16],
        "1 MiB is 16 pages"
    );
    // Full: any further grow is refused, the host survives, and so does the module.
    assert_eq!(call(&m, "grow", &[1]).unwrap(), vec![0xffff_ffff]);
    assert_eq!(
        call(&m, "grow", &[0]).unwrap(),
        vec![16],
        "grow(0) returns the size"
    );
    assert_eq!(call(&m, "grow_all", &[]).unwrap(), vec![16]);
}

#[test]
fn a_huge_grow_returns_minus_one_and_the_host_survives() {
    let host = default_host();
    let m = load(&host, "memory_bomb");
    for pages in [0xffff_ffffu64, 0x7fff_ffff, 65_537, 65_536, 4097] {
        assert_eq!(
            call(&m, "grow", &[pages]).unwrap(),
            vec![0xffff_ffff],
            "{pages} pages"
        );
    }
    // Within the default 256 MiB (4096 pages) growing works.
    assert_eq!(call(&m, "grow", &[10]).unwrap(), vec![1], "old size");
    assert_eq!(call(&m, "grow_all", &[]).unwrap(), vec![4096]);
    // Another module on the host is unaffected.
    let add = load(&host, "add");
    assert_eq!(call(&add, "add", &[1, 2]).unwrap(), vec![3]);
}

#[test]
fn memory_limit_is_per_module() {
    let host = host_with(Limits {
        memory_bytes: 2 << 20,
        ..Default::default()
    });
    let a = load(&host, "memory_bomb");
    let b = load(&host, "memory_bomb");
    assert_eq!(call(&a, "grow_all", &[]).unwrap(), vec![32]);
    assert_eq!(call(&b, "grow_all", &[]).unwrap(), vec![32]);
}

#[test]
fn pooling_loads_and_calls() {
    let limits = Limits {
        pooling: true,
        max_modules: 4,
        ..Default::default()
    };
    let reservation = limits.pool_reservation_bytes();
    assert!(
        reservation > 16 << 30,
        "4 slots of 4 GiB + guard: {reservation}"
    );
    let table_slot = (10_000u64 * 8).next_multiple_of(4096);
    assert_eq!(reservation, 4 * ((4 << 30) + (32 << 20) + table_slot));
    let host = host_with(limits);
    let add = load(&host, "add");
    let fib = load(&host, "fib");
    let bomb = load(&host, "memory_bomb");
    let all = load(&host, "all_types");
    assert_eq!(call(&add, "add", &[20, 22]).unwrap(), vec![42]);
    assert_eq!(call(&fib, "fib", &[20]).unwrap(), vec![6765]);
    assert_eq!(
        call(&bomb, "grow_all", &[]).unwrap(),
        vec![4096],
        "pool slots keep the limit"
    );
    assert_eq!(call(&all, "id_i64", &[u64::MAX]).unwrap(), vec![u64::MAX]);
    assert_eq!(host.live_modules(), 4);
    assert_eq!(
        status_of(host.load("fifth", &fixture("noop"), Timeout::Never, None)),
        Status::InstanceLimit
    );
    host.close();
    assert_eq!(host.live_modules(), 0);
}

#[test]
fn pooling_reservation_scales_with_slots() {
    let one = Limits {
        pooling: true,
        max_modules: 1,
        ..Default::default()
    };
    let many = Limits {
        pooling: true,
        max_modules: 100,
        ..Default::default()
    };
    assert_eq!(
        many.pool_reservation_bytes(),
        100 * one.pool_reservation_bytes()
    );
    assert!(one.pool_reservation_bytes() > 4 << 30);
}
