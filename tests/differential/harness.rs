//! The differential harness: one wasm-smith module through sbx's C ABI and
//! through raw Wasmtime with the same engine settings, compared on every
//! result bit, trap kind, fuel count and the final memory. Shared by
//! tests/differential.rs (fixed seeds) and fuzz/fuzz_targets/diff.rs
//! (unbounded), which both declare the `cabi` module at their crate root.
#![allow(dead_code)]

use crate::cabi;
use arbitrary::Unstructured;
use sbx::{Status, TrapCode};
use wasmtime::{Engine, Extern, Instance, Store, StoreLimits, StoreLimitsBuilder, Val, ValType};

/// Fuel per call (and for the start function) when metering is on: small
/// enough that some calls run out.
const FUEL: u64 = 100_000;
/// The fuel wasm-smith's termination pass gives each module (a global
/// counter that traps with `unreachable` at 0).
const SMITH_FUEL: u32 = 10_000;
/// sbx's defaults, which the raw side reproduces.
const MEMORY_LIMIT: u64 = 256 * 1024 * 1024;
const TABLE_LIMIT: u64 = 10_000;
const MAX_WASM_STACK: usize = 512 * 1024;

/// The engine `Limits::configure_engine` builds, rebuilt here: it is the
/// claim under test, so the test restates it instead of calling it.
pub fn raw_engine(fuel: bool) -> Engine {
    let mut config = wasmtime::Config::new();
    config.epoch_interruption(true);
    config.consume_fuel(fuel);
    config.max_wasm_stack(MAX_WASM_STACK);
    config.async_stack_size(2 * 1024 * 1024);
    config.wasm_multi_memory(true);
    config.wasm_memory64(true);
    config.wasm_custom_page_sizes(false);
    Engine::new(&config).expect("raw engine")
}

/// Modules within what sbx's engine accepts and its limits can express.
/// One memory and one table: sbx counts its limits over all of a module's
/// memories (tables), Wasmtime's `StoreLimits` per memory (table), and with
/// one of each the two agree. Sizes may exceed the limits, so that grows
/// and initial sizes are refused on both sides.
pub fn smith_config() -> wasm_smith::Config {
    wasm_smith::Config {
        max_imports: 0,
        export_everything: true,
        max_memories: 1,
        max_tables: 1,
        max_memory32_bytes: 2 * MEMORY_LIMIT,
        max_memory64_bytes: 2 * MEMORY_LIMIT as u128,
        max_table_elements: 2 * TABLE_LIMIT,
        min_funcs: 4,
        max_funcs: 20,
        max_instructions: 200,
        threads_enabled: false,
        shared_everything_threads_enabled: false,
        gc_enabled: false,
        exceptions_enabled: false,
        custom_page_sizes_enabled: false,
        wide_arithmetic_enabled: false,
        // sbx builds Wasmtime without GC, so externref does not compile.
        reference_types_enabled: false,
        canonicalize_nans: false,
        ..wasm_smith::Config::default()
    }
}

/// What one call (or a load's start function) came to.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Returned(Vec<u64>),
    Failed(Status, TrapCode),
}

/// Raw Wasmtime's trap codes in sbx's terms, restated independently of
/// `TrapCode::from_wasmtime`.
fn classify(err: &wasmtime::Error) -> Outcome {
    use wasmtime::Trap as T;
    let Some(trap) = err.downcast_ref::<T>() else {
        return Outcome::Failed(Status::Trap, TrapCode::Other);
    };
    let code = match trap {
        T::OutOfFuel => return Outcome::Failed(Status::FuelExhausted, TrapCode::None),
        T::StackOverflow => TrapCode::StackOverflow,
        T::MemoryOutOfBounds => TrapCode::MemoryOutOfBounds,
        T::HeapMisaligned => TrapCode::HeapMisaligned,
        T::TableOutOfBounds => TrapCode::TableOutOfBounds,
        T::IndirectCallToNull => TrapCode::IndirectCallToNull,
        T::BadSignature => TrapCode::BadSignature,
        T::IntegerOverflow => TrapCode::IntegerOverflow,
        T::IntegerDivisionByZero => TrapCode::IntegerDivisionByZero,
        T::BadConversionToInteger => TrapCode::BadConversionToInteger,
        T::UnreachableCodeReached => TrapCode::Unreachable,
        T::AllocationTooLarge => TrapCode::AllocationTooLarge,
        T::NullReference => TrapCode::NullReference,
        _ => TrapCode::Other,
    };
    Outcome::Failed(Status::Trap, code)
}

fn from_failure(f: cabi::Failure) -> Outcome {
    Outcome::Failed(f.status, f.trap)
}

/// The `SBX_VALUE_TYPE_*` code of a type that crosses as `u64`.
fn code(ty: &ValType) -> Option<u8> {
    match ty {
        ValType::I32 => Some(0),
        ValType::I64 => Some(1),
        ValType::F32 => Some(2),
        ValType::F64 => Some(3),
        _ => None,
    }
}

/// SplitMix64: the seed's whole input, reproducible anywhere.
pub struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// A param of type `ty` in sbx's encoding, with garbage in the upper
    /// half of i32 and f32 (which sbx must ignore), and NaNs with payloads.
    fn param(&mut self, ty: u8) -> u64 {
        let junk = self.next() & 0xffff_ffff_0000_0000;
        let pick = self.next() % 8;
        let r = self.next();
        match ty {
            0 => {
                junk | [0, 1, 0xffff_ffff, 0x8000_0000, 0x7fff_ffff, r, r & 0xff, r][pick as usize]
                    & 0xffff_ffff
            }
            1 => [0, 1, u64::MAX, 1 << 63, i64::MAX as u64, r, r & 0xff, r][pick as usize],
            // f32: signalling and quiet NaNs with payloads, infinities, -0.
            2 => {
                junk | [
                    0x7f80_0001,
                    0xffc0_1234,
                    0x7f80_0000,
                    0x8000_0000,
                    0x3f80_0000,
                    r & 0xffff_ffff,
                    0x7fc0_0000 | (r & 0x3f_ffff),
                    r & 0xffff_ffff,
                ][pick as usize]
            }
            _ => [
                0x7ff0_0000_0000_0001,
                0xfff8_0000_dead_beef,
                0x7ff0_0000_0000_0000,
                1 << 63,
                0x3ff0_0000_0000_0000,
                r,
                0x7ff8_0000_0000_0000 | (r & 0x7_ffff_ffff_ffff),
                r,
            ][pick as usize],
        }
    }
}

/// What raw Wasmtime sees of a param in sbx's encoding.
fn raw_val(ty: u8, v: u64) -> Val {
    match ty {
        0 => Val::I32(v as u32 as i32),
        1 => Val::I64(v as i64),
        2 => Val::F32(v as u32),
        _ => Val::F64(v),
    }
}

/// sbx's encoding of a result.
fn encode(v: &Val) -> u64 {
    match v {
        Val::I32(x) => *x as u32 as u64,
        Val::I64(x) => *x as u64,
        Val::F32(bits) => *bits as u64,
        Val::F64(bits) => *bits,
        other => panic!("result {other:?} cannot cross"),
    }
}

/// The memory sbx exposes: `memory`, else the first exported memory.
fn raw_memory(store: &mut Store<StoreLimits>, instance: &Instance) -> Option<wasmtime::Memory> {
    instance.get_memory(&mut *store, "memory").or_else(|| {
        let exports: Vec<Extern> = instance
            .exports(&mut *store)
            .map(|e| e.into_extern())
            .collect();
        exports.into_iter().find_map(|e| e.into_memory())
    })
}

#[derive(Default, Debug)]
pub struct Tally {
    pub modules: usize,
    pub not_generated: usize,
    rejected_by_both: usize,
    load_failed_alike: usize,
    pub calls: usize,
    calls_failed: usize,
    skipped_exports: usize,
    stack_overflows: usize,
    /// How the calls ended, by status and trap code.
    outcomes: std::collections::BTreeMap<String, usize>,
}

/// Runs one module both ways and panics on the first disagreement.
pub fn differential(wasm: &[u8], fuel: bool, params_seed: u64, raw: &Engine, tally: &mut Tally) {
    let host = cabi::Host::new(&if fuel {
        cabi::Config::new().fuel(FUEL)
    } else {
        cabi::Config::new()
    })
    .expect("sbx host");
    let sbx_load = host.load("diff", wasm, 0, None);

    // Raw Wasmtime: compile, then instantiate under the same limits.
    let limits = StoreLimitsBuilder::new()
        .memory_size(MEMORY_LIMIT as usize)
        .table_elements(TABLE_LIMIT as usize)
        .build();
    let mut store = Store::new(raw, limits);
    store.limiter(|l| l);
    store.set_epoch_deadline(1);
    if fuel {
        store.set_fuel(FUEL).unwrap();
    }
    let raw_load = match wasmtime::Module::new(raw, wasm) {
        Err(e) => {
            if std::env::var_os("SBX_DIFF_VERBOSE").is_some() {
                eprintln!("raw compile error: {e:#}");
            }
            Err(Outcome::Failed(Status::CompileError, TrapCode::None))
        }
        Ok(module) => Instance::new(&mut store, &module, &[]).map_err(|e| {
            if e.downcast_ref::<wasmtime::Trap>().is_some() {
                classify(&e)
            } else {
                // A memory or table over the limits.
                Outcome::Failed(Status::ResourceLimit, TrapCode::None)
            }
        }),
    };
    let start_fuel = fuel.then(|| FUEL - store.get_fuel().unwrap());

    let (module, instance) = match (sbx_load, raw_load) {
        (Ok(m), Ok(i)) => (m, i),
        (Err(s), Err(r)) => {
            let message = s.message.clone();
            let s = from_failure(s);
            let compile_error = Outcome::Failed(Status::CompileError, TrapCode::None);
            let too_big = Outcome::Failed(Status::ResourceLimit, TrapCode::None);
            // sbx reads the memory and table sizes before it compiles
            // (`Limits::check_module`), so an invalid module that is also
            // too large is refused as too large.
            if !(r == compile_error && s == too_big) {
                assert_eq!(s, r, "load fails differently; sbx: {message}");
            }
            if r == Outcome::Failed(Status::CompileError, TrapCode::None) {
                tally.rejected_by_both += 1;
            } else {
                tally.load_failed_alike += 1;
            }
            return;
        }
        (s, r) => panic!(
            "load: sbx {:?}, raw {:?}",
            s.map(|_| "loaded"),
            r.map(|_| "loaded")
        ),
    };
    tally.modules += 1;
    if fuel {
        assert_eq!(
            Some(module.last_call_fuel().unwrap()),
            start_fuel,
            "start fuel"
        );
    }

    let functions = module.functions();
    let raw_funcs: Vec<(String, wasmtime::Func)> = instance
        .exports(&mut store)
        .filter_map(|e| {
            let name = e.name().to_owned();
            e.into_func().map(|f| (name, f))
        })
        .collect();
    assert_eq!(
        functions.iter().map(|f| &f.name).collect::<Vec<_>>(),
        raw_funcs.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        "exported functions"
    );

    let mut rng = Rng(params_seed);
    let mut diverged = false;
    for (f, (_, func)) in functions.iter().zip(&raw_funcs) {
        let ty = func.ty(&store);
        let params: Option<Vec<u8>> = ty.params().map(|t| code(&t)).collect();
        let results: Option<Vec<u8>> = ty.results().map(|t| code(&t)).collect();
        let (Some(params), Some(results)) = (params, results) else {
            // v128 or a reference: sbx must refuse it, and nothing runs.
            tally.skipped_exports += 1;
            let got = module.call(&f.name, &vec![0; f.params.len()], f.results.len(), 0, None);
            assert_eq!(
                got.map_err(|e| e.status),
                Err(Status::SignatureMismatch),
                "{}",
                f.name
            );
            continue;
        };
        assert_eq!(
            (&f.params, &f.results),
            (&params, &results),
            "signature of {}",
            f.name
        );
        if diverged {
            continue;
        }
        let args: Vec<u64> = params.iter().map(|t| rng.param(*t)).collect();

        let got = match module.call(&f.name, &args, results.len(), 0, None) {
            Ok(values) => Outcome::Returned(values),
            Err(e) => from_failure(e),
        };
        if fuel {
            store.set_fuel(FUEL).unwrap();
        }
        let raw_args: Vec<Val> = params
            .iter()
            .zip(&args)
            .map(|(t, v)| raw_val(*t, *v))
            .collect();
        let mut raw_results = vec![Val::I32(0); results.len()];
        let want = match func.call(&mut store, &raw_args, &mut raw_results) {
            Ok(()) => Outcome::Returned(raw_results.iter().map(encode).collect()),
            Err(e) => classify(&e),
        };
        tally.calls += 1;
        let kind = match &want {
            Outcome::Returned(_) => "returned".to_owned(),
            Outcome::Failed(s, TrapCode::None) => s.name().to_owned(),
            Outcome::Failed(_, t) => t.name().to_owned(),
        };
        *tally.outcomes.entry(kind).or_default() += 1;
        if matches!(want, Outcome::Failed(..)) {
            tally.calls_failed += 1;
        }
        let overflow = Outcome::Failed(Status::Trap, TrapCode::StackOverflow);
        if got == overflow || want == overflow {
            // Where the stack runs out depends on the host frames below
            // the guest, which differ; the kind must agree, after it the
            // fuel and memory need not.
            assert_eq!(got, want, "call {} with {args:x?}", f.name);
            tally.stack_overflows += 1;
            diverged = true;
            continue;
        }
        assert_eq!(got, want, "call {} with {args:x?}", f.name);
        if fuel {
            assert_eq!(
                module.last_call_fuel().unwrap(),
                FUEL - store.get_fuel().unwrap(),
                "fuel of {} with {args:x?}",
                f.name
            );
        }
    }

    if !diverged {
        match raw_memory(&mut store, &instance) {
            None => assert_eq!(
                module.memory_size().map_err(|e| e.status),
                Err(Status::ExportNotFound)
            ),
            Some(memory) => {
                let data = memory.data(&store);
                assert_eq!(
                    module.memory_size().unwrap(),
                    data.len() as u64,
                    "memory size"
                );
                let mut chunk = vec![0u8; 1 << 20];
                for (i, want) in data.chunks(chunk.len()).enumerate() {
                    let got = &mut chunk[..want.len()];
                    module.memory_read((i << 20) as u64, got).unwrap();
                    assert!(got == want, "memory differs in MiB {i}");
                }
            }
        }
    }
}

/// The module of one seed: `None` when wasm-smith cannot make one from it.
pub fn generate(seed: u64) -> Option<Vec<u8>> {
    generate_from(&Rng(seed).bytes(8192))
}

/// The module wasm-smith makes from `data` (a seed's bytes, or a fuzzer's
/// input), with termination ensured; `None` when it cannot make one.
pub fn generate_from(data: &[u8]) -> Option<Vec<u8>> {
    let mut u = Unstructured::new(data);
    let mut module = wasm_smith::Module::new(smith_config(), &mut u).ok()?;
    module.ensure_termination(SMITH_FUEL).ok()?;
    Some(module.to_bytes())
}
