//! The call path: exports resolved once at load, params checked against the
//! signature, and a raw (`ValRaw`) call with no per-call allocation.
//!
//! Values cross as `u64`, encoded as wazero encodes them: i32 in the low 32
//! bits, i64 as is, f32 as its IEEE bits in the low 32, f64 as its IEEE bits.

use crate::deadline::Cancel;
use crate::error::{Error, Result, Status};
use crate::host::Timeout;
use crate::module::{Module, ModuleStore};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;
use wasmtime::{Extern, Func, Instance, ValRaw, ValType};

/// A wasm value type, as it appears in signatures (`uint8_t` in C).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// 32-bit integer.
    I32 = 0,
    /// 64-bit integer.
    I64 = 1,
    /// 32-bit float.
    F32 = 2,
    /// 64-bit float.
    F64 = 3,
    /// 128-bit vector; cannot cross as `uint64_t`.
    V128 = 4,
    /// A function reference; cannot cross as `uint64_t`.
    FuncRef = 5,
    /// An external reference; cannot cross as `uint64_t`. Never seen today:
    /// sbx is built without Wasmtime's GC support, so a module that uses
    /// externref fails to load with `SBX_STATUS_COMPILE_ERROR`.
    ExternRef = 6,
    /// Any other reference type; cannot cross as `uint64_t`.
    OtherRef = 7,
}

impl ValueType {
    fn of(ty: &ValType) -> ValueType {
        match ty {
            ValType::I32 => ValueType::I32,
            ValType::I64 => ValueType::I64,
            ValType::F32 => ValueType::F32,
            ValType::F64 => ValueType::F64,
            ValType::V128 => ValueType::V128,
            ValType::Ref(r) if r.heap_type().is_func() => ValueType::FuncRef,
            ValType::Ref(r) if r.heap_type().is_extern() => ValueType::ExternRef,
            ValType::Ref(_) => ValueType::OtherRef,
        }
    }

    /// The wasm text name, e.g. `i32`.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::I32 => "i32",
            ValueType::I64 => "i64",
            ValueType::F32 => "f32",
            ValueType::F64 => "f64",
            ValueType::V128 => "v128",
            ValueType::FuncRef => "funcref",
            ValueType::ExternRef => "externref",
            ValueType::OtherRef => "ref",
        }
    }

    fn is_number(self) -> bool {
        matches!(
            self,
            ValueType::I32 | ValueType::I64 | ValueType::F32 | ValueType::F64
        )
    }

    #[inline]
    pub(crate) fn encode(self, value: u64) -> ValRaw {
        match self {
            ValueType::I32 => ValRaw::u32(value as u32),
            ValueType::F32 => ValRaw::f32(value as u32),
            ValueType::I64 => ValRaw::u64(value),
            _ => ValRaw::f64(value),
        }
    }

    #[inline]
    pub(crate) fn decode(self, raw: &ValRaw) -> u64 {
        match self {
            ValueType::I32 => raw.get_u32() as u64,
            ValueType::F32 => raw.get_f32() as u64,
            ValueType::I64 => raw.get_u64(),
            _ => raw.get_f64(),
        }
    }
}

/// An exported function's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// Parameter types, in order.
    pub params: Vec<ValueType>,
    /// Result types, in order.
    pub results: Vec<ValueType>,
}

impl std::fmt::Display for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |types: &[ValueType]| {
            types
                .iter()
                .map(|t| t.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(f, "({}) -> ({})", list(&self.params), list(&self.results))
    }
}

struct ExportFunc {
    name: Box<[u8]>,
    func: Func,
    signature: Signature,
    /// Set when a param or result cannot cross as `u64`.
    unsupported: bool,
}

/// FNV-1a: export names are short, and SipHash's setup cost would dominate.
#[derive(Default)]
struct NameHasher(u64);

impl Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type NameMap<V> = HashMap<Box<[u8]>, V, BuildHasherDefault<NameHasher>>;

/// A module's exports, resolved once when it is loaded.
pub(crate) struct Exports {
    funcs: Vec<ExportFunc>,
    index: NameMap<usize>,
    /// The last function found: callers tend to call one export repeatedly,
    /// and comparing a short name beats hashing it.
    last: std::cell::Cell<usize>,
    /// Exports that are not functions, with their kind, for a clear error.
    others: NameMap<&'static str>,
}

/// An exported function's name and signature, kept for the module's lifetime
/// (after close too) so that descriptions handed to C stay valid.
pub(crate) struct FunctionInfo {
    pub(crate) name: String,
    /// `name`'s exact bytes and a NUL; see [`nul_terminated`].
    pub(crate) c_name: Box<[u8]>,
    pub(crate) signature: Signature,
}

/// `text`'s exact bytes followed by a NUL, for handing to C as a pointer and
/// a length. A name may itself contain NULs (wasm allows them), so the
/// length, not the terminator, is what delimits it; escaping them instead
/// would make the pointer and length describe different strings.
pub(crate) fn nul_terminated(text: &str) -> Box<[u8]> {
    let mut bytes = Vec::with_capacity(text.len() + 1);
    bytes.extend_from_slice(text.as_bytes());
    bytes.push(0);
    bytes.into()
}

impl Exports {
    pub(crate) fn collect(
        store: &mut ModuleStore,
        instance: &Instance,
    ) -> (Exports, Vec<FunctionInfo>) {
        let externs: Vec<(String, Extern)> = instance
            .exports(&mut *store)
            .map(|e| (e.name().to_owned(), e.into_extern()))
            .collect();
        let mut exports = Exports {
            funcs: Vec::new(),
            index: NameMap::default(),
            last: std::cell::Cell::new(0),
            others: NameMap::default(),
        };
        let mut infos = Vec::new();
        for (name, ext) in externs {
            let key: Box<[u8]> = name.as_bytes().into();
            match ext {
                Extern::Func(func) => {
                    let ty = func.ty(&*store);
                    let signature = Signature {
                        params: ty.params().map(|t| ValueType::of(&t)).collect(),
                        results: ty.results().map(|t| ValueType::of(&t)).collect(),
                    };
                    let unsupported = !signature
                        .params
                        .iter()
                        .chain(&signature.results)
                        .all(|t| t.is_number());
                    infos.push(FunctionInfo {
                        c_name: nul_terminated(&name),
                        name: name.clone(),
                        signature: signature.clone(),
                    });
                    exports.index.insert(key.clone(), exports.funcs.len());
                    exports.funcs.push(ExportFunc {
                        name: key,
                        func,
                        signature,
                        unsupported,
                    });
                }
                Extern::Memory(_) | Extern::SharedMemory(_) => {
                    exports.others.insert(key, "a memory");
                }
                Extern::Table(_) => {
                    exports.others.insert(key, "a table");
                }
                Extern::Global(_) => {
                    exports.others.insert(key, "a global");
                }
                _ => {
                    exports.others.insert(key, "not a function");
                }
            }
        }
        (exports, infos)
    }

    fn get(&self, name: &[u8]) -> Result<&ExportFunc> {
        if let Some(export) = self.funcs.get(self.last.get()) {
            if *export.name == *name {
                return Ok(export);
            }
        }
        if let Some(&i) = self.index.get(name) {
            self.last.set(i);
            return Ok(&self.funcs[i]);
        }
        // Only on a miss, so the call path pays nothing: export names are
        // UTF-8, so bytes that are not can never have matched.
        if std::str::from_utf8(name).is_err() {
            return Err(Error::invalid("function name is not UTF-8"));
        }
        let shown = String::from_utf8_lossy(name);
        Err(match self.others.get(name) {
            Some(kind) => Error::new(
                Status::ExportNotFound,
                format!("export `{shown}` is {kind}, not a function"),
            ),
            None => Error::new(
                Status::ExportNotFound,
                format!("no exported function `{shown}`"),
            ),
        })
    }
}

/// Values crossing on the stack; larger signatures spill to the heap.
const INLINE_VALUES: usize = 8;

impl Module {
    /// Calls the exported function `func` with `params`, writing its results
    /// to the front of `results` and returning how many it wrote.
    ///
    /// The deadline is re-armed and the fuel refilled for every call; the
    /// module stays usable after a timeout, interrupt, fuel exhaustion or
    /// trap, with its memory and globals as the guest left them.
    pub fn call(
        &self,
        func: &[u8],
        params: &[u64],
        results: &mut [u64],
        timeout: Timeout,
        cancel: Option<&Arc<Cancel>>,
    ) -> Result<usize> {
        let inner = &*self.inner;
        let host = &*inner.host;
        if cancel.is_some_and(|c| !c.belongs_to(&host.engine)) {
            return Err(Error::invalid("cancel token belongs to another host"));
        }
        let deadline = timeout.deadline(host.limits.exec_timeout);
        let mut guard = inner.lock_outside_call()?;
        let Some(live) = guard.as_mut() else {
            return Err(Error::closed("module"));
        };
        let export = live.exports.get(func)?;
        let sig = &export.signature;
        if export.unsupported {
            return Err(Error::new(
                Status::SignatureMismatch,
                format!(
                    "export `{}` has signature {sig}; only i32, i64, f32 and f64 cross as uint64",
                    String::from_utf8_lossy(func)
                ),
            ));
        }
        if params.len() != sig.params.len() || results.len() < sig.results.len() {
            return Err(Error::new(
                Status::SignatureMismatch,
                format!(
                    "export `{}` has signature {sig}; called with {} params and room for {} results",
                    String::from_utf8_lossy(func),
                    params.len(),
                    results.len()
                ),
            ));
        }

        let slots = sig.params.len().max(sig.results.len());
        // v128 fills all 16 bytes of each slot: a narrower constructor writes 8
        // and the copy then reads 16, a store-forwarding stall measured at
        // a quarter of this function's time.
        let mut inline = [ValRaw::v128(0); INLINE_VALUES];
        let mut spilled = Vec::new();
        let values: &mut [ValRaw] = if slots <= INLINE_VALUES {
            &mut inline[..slots]
        } else {
            spilled.resize(slots, ValRaw::v128(0));
            &mut spilled
        };
        for ((slot, ty), value) in values.iter_mut().zip(&sig.params).zip(params) {
            *slot = ty.encode(*value);
        }

        let seq = live.next_seq;
        live.next_seq += 1;
        let store = &mut live.store;
        let fuel = host.limits.fuel;
        if let Some(fuel) = fuel {
            store
                .set_fuel(fuel)
                .expect("fuel is enabled on this engine");
        }
        store.set_epoch_deadline(1);
        store.data_mut().set_call(seq, cancel);
        let in_flight = inner.watch.begin_guard(seq, deadline);
        let outcome = if inner.closed.load(Relaxed) {
            Err(Error::closed("module"))
        } else if cancel.is_some_and(|c| c.is_triggered()) {
            Err(Error::new(
                Status::Interrupted,
                format!("call `{}`: interrupted", String::from_utf8_lossy(func)),
            ))
        } else {
            // SAFETY: `values` holds max(params, results) slots, and the
            // params were encoded from the export's own signature.
            unsafe {
                export
                    .func
                    .call_unchecked(&mut *store, values as *mut [ValRaw])
            }
            .map_err(|e| Error::from_guest(e, &format!("call `{}`", String::from_utf8_lossy(func))))
        };
        drop(in_flight);
        if inner.closed.load(Relaxed) {
            // Closed during the call, perhaps by one of its own host functions.
            // One rule whatever the guest was doing (the close's interrupt,
            // a trap, or a return at the same moment): `HandleClosed`.
            *guard = None;
            crate::host::Host::release_slot(host, inner.id);
            return Err(Error::new(
                Status::HandleClosed,
                format!(
                    "call `{}`: module was closed during the call",
                    String::from_utf8_lossy(func)
                ),
            ));
        }
        if cancel.is_some() {
            store.data_mut().set_call(seq, None);
        }
        if let Some(fuel) = fuel {
            let left = store.get_fuel().unwrap_or(0);
            inner.last_fuel.store(fuel - left, SeqCst);
        }
        match outcome {
            Ok(()) => {}
            // A WASI program that calls exit(0) has succeeded; it returns nothing.
            Err(e) if e.exit_code() == Some(0) => return Ok(0),
            Err(e) => return Err(e),
        }
        for ((out, ty), raw) in results.iter_mut().zip(&sig.results).zip(values.iter()) {
            *out = ty.decode(raw);
        }
        Ok(sig.results.len())
    }

    /// The exported functions with their signatures, in export order.
    /// Available after close too.
    pub fn exported_functions(&self) -> Vec<(String, Signature)> {
        self.inner
            .functions
            .iter()
            .map(|f| (f.name.clone(), f.signature.clone()))
            .collect()
    }
}
