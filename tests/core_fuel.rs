//! Fuel: a budget per call, refilled for every call, and measured.

mod common;

use common::*;
use sbx::{Limits, Status, Timeout};

fn fuel_host(fuel: u64) -> sbx::Host {
    host_with(Limits {
        fuel: Some(fuel),
        ..Default::default()
    })
}

#[test]
fn fuel_exhaustion_stops_an_infinite_loop() {
    let host = fuel_host(100_000);
    let module = load(&host, "infinite_loop");
    let err = call(&module, "loop", &[]).fails();
    assert_eq!(err.status(), Status::FuelExhausted, "{err}");
    assert_eq!(err.trap_code(), sbx::TrapCode::None);
    assert_eq!(module.last_call_fuel().unwrap(), 100_000);
}

#[test]
fn every_call_gets_a_fresh_budget() {
    let host = fuel_host(1_000_000);
    let looping = load(&host, "infinite_loop");
    let fib = load(&host, "fib");
    for _ in 0..3 {
        assert_eq!(
            call(&looping, "loop", &[]).fails().status(),
            Status::FuelExhausted
        );
    }
    // The same module, after exhausting its budget, runs a call that fits.
    let both = host
        .load("stateful", &wat(STATEFUL), Timeout::Never, None)
        .unwrap();
    assert_eq!(
        call(&both, "loop", &[]).fails().status(),
        Status::FuelExhausted
    );
    assert_eq!(call(&both, "inc", &[]).unwrap(), vec![2]);
    assert_eq!(call(&fib, "fib", &[15]).unwrap(), vec![610]);
    // Many calls that each fit never run out, however many there are.
    for _ in 0..20 {
        assert_eq!(call(&fib, "fib", &[15]).unwrap(), vec![610]);
    }
}

#[test]
fn a_call_that_needs_more_than_the_budget_fails() {
    let host = fuel_host(10_000);
    let fib = load(&host, "fib");
    assert_eq!(call(&fib, "fib", &[5]).unwrap(), vec![5]);
    assert_eq!(
        call(&fib, "fib", &[25]).fails().status(),
        Status::FuelExhausted
    );
    assert_eq!(call(&fib, "fib", &[5]).unwrap(), vec![5]);
}

#[test]
fn last_call_fuel_is_positive_and_stable() {
    let host = fuel_host(u64::MAX / 2);
    let fib = load(&host, "fib");
    assert_eq!(fib.last_call_fuel().unwrap(), 0, "no call yet");
    call(&fib, "fib", &[10]).unwrap();
    let first = fib.last_call_fuel().unwrap();
    assert!(first > 0);
    call(&fib, "fib", &[10]).unwrap();
    assert_eq!(fib.last_call_fuel().unwrap(), first, "same call, same fuel");
    call(&fib, "fib", &[12]).unwrap();
    assert!(fib.last_call_fuel().unwrap() > first);
}

#[test]
fn last_call_fuel_is_zero_without_metering() {
    let host = default_host();
    let fib = load(&host, "fib");
    call(&fib, "fib", &[10]).unwrap();
    assert_eq!(fib.last_call_fuel().unwrap(), 0);
    let looping = load(&host, "infinite_loop");
    let err = call_with(&looping, "loop", &[], Timeout::After(ms(20))).fails();
    assert_eq!(
        err.status(),
        Status::Timeout,
        "no fuel limit without metering"
    );
}

/// Documents how fuel relates to work: printed, with only loose checks.
#[test]
fn fuel_used_by_fib_grows_with_the_number_of_calls() {
    let host = fuel_host(u64::MAX / 2);
    let fib = load(&host, "fib");
    let noop = load(&host, "noop");
    call(&noop, "noop", &[]).unwrap();
    eprintln!("fuel: noop() = {}", noop.last_call_fuel().unwrap());
    let mut previous = 0;
    for n in [0u64, 1, 2, 5, 10, 15, 20] {
        let result = call(&fib, "fib", &[n]).unwrap()[0];
        let fuel = fib.last_call_fuel().unwrap();
        // fib(n) makes 2*fib(n+1)-1 calls of $fib.
        let calls = 2 * fib_of(n + 1) - 1;
        eprintln!(
            "fuel: fib({n}) = {result}: {fuel} fuel for {calls} calls, {:.2} per call",
            fuel as f64 / calls as f64
        );
        assert_eq!(result, fib_of(n));
        assert!(fuel >= previous);
        assert!(fuel >= calls, "at least one unit per call");
        previous = fuel;
    }
}

fn fib_of(n: u64) -> u64 {
    let (mut a, mut b) = (0, 1);
    for _ in 0..n {
        (a, b) = (b, a + b);
    }
    a
}

#[test]
fn fuel_bounds_a_start_function() {
    let host = fuel_host(100_000);
    let err = host
        .load("spin", &fixture("start_loop"), Timeout::Never, None)
        .fails();
    assert_eq!(err.status(), Status::FuelExhausted, "{err}");
    assert_eq!(host.live_modules(), 0);
}

/// Instantiation is metered whenever it may run code: a start function, or
/// the startup code Wasmtime compiles for some initialisers (here a passive
/// element segment). A module with neither is instantiated without the
/// call machinery, and uses no fuel.
#[test]
fn instantiation_is_metered_when_it_runs_code() {
    let host = fuel_host(1_000_000);
    let startup = host
        .load(
            "startup",
            &wat(r#"(module (func $f) (elem func $f) (func (export "f")))"#),
            Timeout::Never,
            None,
        )
        .unwrap();
    assert!(
        startup.last_call_fuel().unwrap() > 0,
        "Wasmtime's startup code ran, metered"
    );
    call(&startup, "f", &[]).unwrap();

    let err = host
        .load(
            "spin",
            &wat("(module (func $s (loop br 0)) (start $s))"),
            Timeout::Never,
            None,
        )
        .fails();
    assert_eq!(err.status(), Status::FuelExhausted, "{err}");
    assert_eq!(err.message(), "start function: all fuel consumed");

    let plain = load(&host, "add");
    assert_eq!(plain.last_call_fuel().unwrap(), 0);
    assert_eq!(call(&plain, "add", &[2, 3]).unwrap(), vec![5]);
    assert!(plain.last_call_fuel().unwrap() > 0);
}
