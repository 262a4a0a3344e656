//! The fixtures of testdata/ called with arbitrary export names, param
//! counts, values, result capacities and per-call timeouts. Beyond the
//! shared oracles: the status is the one the shape of the call dictates,
//! the results are the right ones where the fixture's answer is known, and
//! after every failure the module still answers its known-good call.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sbx_fuzz::*;
use std::ptr::null;
use std::sync::LazyLock;

struct Hosts([*mut sbx_host; 2]);
// SAFETY: sbx hosts may be used from any thread.
unsafe impl Send for Hosts {}
unsafe impl Sync for Hosts {}

const FUEL: usize = 0;
const TIMED: usize = 1;

/// A host with fuel (nothing runs forever there, so a call may have no
/// deadline) and one without, whose every call has a deadline.
static HOSTS: LazyLock<Hosts> = LazyLock::new(|| {
    let base = HostSettings {
        memory_bytes: Some(16 << 20),
        max_wasm_stack: Some(128 << 10),
        ..Default::default()
    };
    Hosts([
        host_new(&HostSettings {
            fuel: 200_000,
            ..base.clone()
        }),
        host_new(&HostSettings {
            exec_timeout_ns: 2_000_000,
            ..base
        }),
    ])
});

static WASM: LazyLock<Vec<Vec<u8>>> =
    LazyLock::new(|| FIXTURES.iter().map(|(name, _)| fixture(name)).collect());

#[derive(Arbitrary, Debug)]
enum Name {
    /// Export number n of the module (in export order).
    Export(u8),
    /// That export's name with a byte appended or its last byte dropped.
    Near(u8, bool),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Timeout {
    /// 0: the host's exec timeout.
    HostDefault,
    /// `SBX_TIMEOUT_NONE` (on the fuel host only; the timed host's default
    /// otherwise).
    Never,
    Ns(u32),
}

#[derive(Arbitrary, Debug)]
struct Call {
    name: Name,
    params: Vec<u64>,
    /// The param count is right unless set (then it is `params.len()`).
    raw_count: bool,
    cap: u8,
    timeout: Timeout,
}

#[derive(Arbitrary, Debug)]
struct Input {
    fixture: u8,
    timed_host: bool,
    calls: Vec<Call>,
}

fuzz_target!(|input: Input| {
    let which = input.fixture as usize % FIXTURES.len();
    let (fixture_name, probe_spec) = &FIXTURES[which];
    let host_index = if input.timed_host { TIMED } else { FUEL };
    let host = HOSTS.0[host_index];
    let module = load(
        host,
        fixture_name.as_bytes(),
        &WASM[which],
        &Load::default(),
    )
    .unwrap_or_else(|f| panic!("load {fixture_name}: {f:?}"));
    let (_, funcs) = describe(module);
    for c in input.calls.iter().take(8) {
        let (name, export) = match &c.name {
            Name::Export(n) if !funcs.is_empty() => {
                let f = &funcs[*n as usize % funcs.len()];
                (f.name.clone(), Some(f))
            }
            Name::Near(n, append) if !funcs.is_empty() => {
                let mut name = funcs[*n as usize % funcs.len()].name.clone();
                if *append {
                    name.push(b'_');
                } else {
                    name.pop();
                }
                let f = funcs.iter().find(|f| f.name == name);
                (name, f)
            }
            Name::Raw(bytes) => (bytes.clone(), funcs.iter().find(|f| &f.name == bytes)),
            _ => (Vec::new(), None),
        };
        let mut params = c.params.clone();
        params.truncate(8);
        if let (Some(f), false) = (export, c.raw_count) {
            params.resize(f.params.len(), 0);
        }
        let cap = c.cap as usize % 5;
        let timeout = match c.timeout {
            Timeout::HostDefault => 0,
            Timeout::Never if host_index == FUEL => TIMEOUT_NONE,
            Timeout::Never => 0,
            // At most 2 ms: a short deadline tests as much as a long one.
            Timeout::Ns(ns) => 1 + ns as u64 % 2_000_000,
        };
        let result = call(module, &name, &params, cap, timeout, null());
        match (export, &result) {
            (None, Err(f)) => {
                let want = if std::str::from_utf8(&name).is_ok() {
                    Status::ExportNotFound
                } else {
                    Status::InvalidArgument
                };
                assert_eq!(f.status, want, "{name:?}");
            }
            (None, Ok(_)) => panic!("a call of {name:?}, which is no export, succeeded"),
            (Some(f), r) => {
                let wrong = params.len() != f.params.len() || cap < f.results.len() || !f.numeric();
                match r {
                    Err(e) if wrong => assert_eq!(e.status, Status::SignatureMismatch, "{e:?}"),
                    Ok(_) if wrong => panic!("a call of the wrong shape succeeded: {f:?}"),
                    Ok(results) => check_results(fixture_name, &f.name, &params, results),
                    Err(e) => {
                        let allowed: &[Status] = if timeout == TIMEOUT_NONE {
                            &[Status::FuelExhausted, Status::Trap]
                        } else {
                            &[Status::FuelExhausted, Status::Trap, Status::Timeout]
                        };
                        assert!(allowed.contains(&e.status), "{fixture_name}: {e:?}");
                        if host_index == TIMED {
                            assert_ne!(e.status, Status::FuelExhausted);
                        }
                    }
                }
            }
        }
        if result.is_err() {
            if let Some(p) = probe_spec {
                probe(module, p);
            }
        }
    }
    module_free(module);
});

/// The answers the fixtures' sources fix, bit for bit.
fn check_results(fixture: &str, export: &[u8], p: &[u64], r: &[u64]) {
    let lo = |v: u64| v & 0xffff_ffff;
    let want: Option<Vec<u64>> = match (fixture, export) {
        ("add", b"add") => Some(vec![(p[0] as u32).wrapping_add(p[1] as u32) as u64]),
        ("all_types", b"id_i32" | b"id_f32") => Some(vec![lo(p[0])]),
        ("all_types", b"id_i64" | b"id_f64") => Some(vec![p[0]]),
        ("all_types", b"neg_f32") => Some(vec![lo(p[0]) ^ 0x8000_0000]),
        ("all_types", b"swap") => Some(vec![p[1], lo(p[0])]),
        ("noop", b"noop") => Some(vec![]),
        _ => None,
    };
    if let Some(want) = want {
        assert_eq!(
            r,
            want,
            "{fixture} {} {p:x?}",
            String::from_utf8_lossy(export)
        );
    }
}
