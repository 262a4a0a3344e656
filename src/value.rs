//! Values as they cross sbx's API: wasm value types, signatures, and the
//! `u64` encoding every param and result uses.
//!
//! The encoding is wazero's: i32 in the low 32 bits, i64 as is, f32 as its
//! IEEE bits in the low 32, f64 as its IEEE bits.

use wasmtime::{FuncType, ValRaw, ValType};

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
    /// Every value type, in value order: the one list tables and tests use.
    /// cbindgen:ignore
    pub const ALL: [ValueType; 8] = [
        ValueType::I32,
        ValueType::I64,
        ValueType::F32,
        ValueType::F64,
        ValueType::V128,
        ValueType::FuncRef,
        ValueType::ExternRef,
        ValueType::OtherRef,
    ];

    /// The value type whose value is `code`, if there is one.
    pub fn from_u8(code: u8) -> Option<ValueType> {
        ValueType::ALL.iter().copied().find(|t| *t as u8 == code)
    }

    pub(crate) fn of(ty: &ValType) -> ValueType {
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

    /// The Wasmtime type of a number type; `None` for the others.
    pub(crate) fn number_type(self) -> Option<ValType> {
        match self {
            ValueType::I32 => Some(ValType::I32),
            ValueType::I64 => Some(ValType::I64),
            ValueType::F32 => Some(ValType::F32),
            ValueType::F64 => Some(ValType::F64),
            _ => None,
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

    /// Whether values of this type cross as `u64`.
    pub fn is_number(self) -> bool {
        self.number_type().is_some()
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

impl Signature {
    pub(crate) fn of(ty: &FuncType) -> Signature {
        Signature {
            params: ty.params().map(|t| ValueType::of(&t)).collect(),
            results: ty.results().map(|t| ValueType::of(&t)).collect(),
        }
    }

    /// Whether every param and result crosses as `u64`.
    pub fn is_callable(&self) -> bool {
        self.params
            .iter()
            .chain(&self.results)
            .all(|t| t.is_number())
    }
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
