//! What a module declares it will allocate, read from its binary before it
//! is compiled: how many memories and tables it defines and their initial
//! sizes. This lets a load that cannot fit fail with `ResourceLimit` instead
//! of a compile error from the pooling allocator, and before paying for a
//! compile. It is a hint, not the enforcement: the store's limiter
//! ([`crate::limiter`]) checks every allocation, so anything this reader
//! cannot make sense of is left to the compiler and the limiter.

/// The memories and tables a core module defines (imports not included:
/// sbx never provides memory or table imports, so those fail to link).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ModuleShape {
    pub(crate) memories: u32,
    pub(crate) tables: u32,
    /// Sum of the memories' minimum sizes in bytes, saturating.
    pub(crate) initial_memory_bytes: u64,
    /// Sum of the tables' minimum sizes in elements, saturating. Covers only
    /// the tables before the first one with an initializer expression
    /// (skipping an expression needs a full decoder), so it can be low.
    pub(crate) initial_table_elements: u64,
    /// Whether instantiating it may run code: its start function, or the
    /// startup code Wasmtime compiles for initialisers (of globals, tables,
    /// elements, data). Read from which sections it has, so it can be true
    /// for a module that runs none; also true when they cannot be read.
    pub(crate) startup: bool,
}

use crate::error::{Error, Result, Status};
use crate::limits::{Limits, MAX_MEMORIES_PER_MODULE};

const SECTION_TABLE: u8 = 4;
const SECTION_MEMORY: u8 = 5;
/// The sections whose presence may give a module startup code: globals,
/// start, elements, data (a table with an initializer is seen apart).
const STARTUP_SECTIONS: [u8; 4] = [6, 8, 9, 11];
const PAGE_BYTES: u64 = 64 * 1024;

impl ModuleShape {
    /// Rejects, before it is compiled, a module whose memories or tables
    /// cannot fit: too many of them, or initial sizes that together exceed
    /// the limits. The message names the need and the limit. Bytes that are
    /// not a core module pass, for the compiler to reject; whatever this
    /// misses, the store's limiter refuses at instantiation. Returns the
    /// shape, if it could be read.
    pub(crate) fn check(wasm: &[u8], limits: &Limits) -> Result<Option<ModuleShape>> {
        let Some(shape) = ModuleShape::read(wasm) else {
            return Ok(None);
        };
        let refuse = |message: String| Err(Error::new(Status::ResourceLimit, message));
        let (max_memories, max_tables, per) = if limits.pooling {
            (1, 1, "a pooled host allows")
        } else {
            (MAX_MEMORIES_PER_MODULE, u32::MAX, "sbx allows")
        };
        if shape.memories > max_memories {
            return refuse(format!(
                "module defines {} memories; {per} {max_memories} per module",
                shape.memories
            ));
        }
        if shape.tables > max_tables {
            return refuse(format!(
                "module defines {} tables; {per} {max_tables} per module",
                shape.tables
            ));
        }
        let together = |n: u32, what: &str| match n {
            0 | 1 => String::new(),
            n => format!(" ({n} {what} together)"),
        };
        if shape.initial_memory_bytes > limits.memory_bytes {
            return refuse(format!(
                "module needs {} bytes of initial memory{}; the memory limit is {} bytes",
                shape.initial_memory_bytes,
                together(shape.memories, "memories"),
                limits.memory_bytes
            ));
        }
        if shape.initial_table_elements > limits.table_elements {
            return refuse(format!(
                "module needs {} initial table elements{}; the table elements limit is {}",
                shape.initial_table_elements,
                together(shape.tables, "tables"),
                limits.table_elements
            ));
        }
        Ok(Some(shape))
    }

    /// Reads the shape of a core module; `None` if `wasm` is not one or is
    /// malformed where this reader looks (the compiler then says why).
    pub(crate) fn read(wasm: &[u8]) -> Option<ModuleShape> {
        let mut r = Reader(wasm);
        if r.bytes(8)? != b"\0asm\x01\0\0\0" {
            return None;
        }
        let mut shape = ModuleShape::default();
        while !r.0.is_empty() {
            let id = r.byte()?;
            let len = r.u32()? as usize;
            let mut body = Reader(r.bytes(len)?);
            match id {
                SECTION_TABLE => shape.read_tables(&mut body)?,
                SECTION_MEMORY => {
                    shape.read_memories(&mut body)?;
                    // Sections are ordered and tables come before memories.
                    break;
                }
                _ => {}
            }
        }
        shape.startup |= Reader(&wasm[8..]).has_startup_sections().unwrap_or(true);
        Some(shape)
    }

    fn read_tables(&mut self, r: &mut Reader) -> Option<()> {
        self.tables = r.u32()?;
        for _ in 0..self.tables {
            // 0x40 0x00 starts a table with an initializer expression, which
            // follows the limits and cannot be skipped without decoding it.
            let has_init = r.0.first() == Some(&0x40);
            if has_init && r.bytes(2)? != [0x40, 0x00] {
                return None;
            }
            r.ref_type()?;
            let (min, _) = r.limits(0x01 | 0x04)?;
            self.initial_table_elements = self.initial_table_elements.saturating_add(min);
            if has_init {
                self.startup = true;
                break;
            }
        }
        Some(())
    }

    fn read_memories(&mut self, r: &mut Reader) -> Option<()> {
        self.memories = r.u32()?;
        for _ in 0..self.memories {
            // Flag 0x02 (shared) is for the compiler to refuse; custom page
            // sizes (0x08) are disabled in the engine, so `None`.
            let (pages, _) = r.limits(0x01 | 0x02 | 0x04)?;
            let bytes = pages.saturating_mul(PAGE_BYTES);
            self.initial_memory_bytes = self.initial_memory_bytes.saturating_add(bytes);
        }
        Some(())
    }
}

/// A cursor over the bytes still to read.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.bytes(1)?[0])
    }

    /// Whether any of the sections still to read is one of
    /// [`STARTUP_SECTIONS`].
    fn has_startup_sections(&mut self) -> Option<bool> {
        while !self.0.is_empty() {
            let id = self.byte()?;
            let len = self.u32()? as usize;
            self.bytes(len)?;
            if STARTUP_SECTIONS.contains(&id) {
                return Some(true);
            }
        }
        Some(false)
    }

    /// An unsigned LEB128 of at most `bits` bits, in at most as many bytes
    /// as those bits need (as the spec requires).
    fn leb(&mut self, bits: u32) -> Option<u64> {
        let mut value = 0u64;
        let mut shift = 0;
        loop {
            let b = self.byte()?;
            let low = u64::from(b & 0x7f);
            // The last byte may only use the bits that remain.
            if shift + 7 > bits && low >> (bits - shift) != 0 {
                return None;
            }
            value |= low << shift;
            if b & 0x80 == 0 {
                return Some(value);
            }
            shift += 7;
            if shift >= bits {
                return None;
            }
        }
    }

    fn u32(&mut self) -> Option<u32> {
        self.leb(32).map(|v| v as u32)
    }

    /// Limits whose flag byte uses only `allowed` bits: 0x01 a maximum
    /// follows, 0x04 the sizes are 64-bit. Returns (minimum, maximum).
    fn limits(&mut self, allowed: u8) -> Option<(u64, Option<u64>)> {
        let flags = self.byte()?;
        if flags & !allowed != 0 {
            return None;
        }
        let bits = if flags & 0x04 != 0 { 64 } else { 32 };
        let min = self.leb(bits)?;
        let max = if flags & 0x01 != 0 {
            Some(self.leb(bits)?)
        } else {
            None
        };
        Some((min, max))
    }

    /// A reference type: one byte for the shorthands (funcref, externref,
    /// ...), or 0x63/0x64 followed by a heap type (a signed LEB128 of up to
    /// 33 bits, one byte for abstract heap types).
    fn ref_type(&mut self) -> Option<()> {
        match self.byte()? {
            0x63 | 0x64 => {
                for _ in 0..5 {
                    if self.byte()? & 0x80 == 0 {
                        return Some(());
                    }
                }
                None
            }
            b if b & 0x80 == 0 => Some(()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(wat: &str) -> Option<ModuleShape> {
        ModuleShape::read(&wat::parse_str(wat).unwrap())
    }

    #[test]
    fn sums_memories_and_tables() {
        let s = shape(
            r#"(module (memory 1) (memory 16 20) (memory i64 2)
                 (table 3 funcref) (table 4 5 externref) (table i64 6 funcref))"#,
        )
        .unwrap();
        assert_eq!(s.memories, 3);
        assert_eq!(s.initial_memory_bytes, 19 * PAGE_BYTES);
        assert_eq!(s.tables, 3);
        assert_eq!(s.initial_table_elements, 13);
    }

    #[test]
    fn imports_are_not_counted() {
        let s = shape(
            r#"(module (import "m" "mem" (memory 100)) (import "m" "t" (table 7 funcref))
                 (memory 2))"#,
        )
        .unwrap();
        assert_eq!((s.memories, s.tables), (1, 0));
        assert_eq!(s.initial_memory_bytes, 2 * PAGE_BYTES);
    }

    #[test]
    fn stops_summing_tables_at_an_initializer() {
        let s = shape(
            r#"(module (type $f (func))
                 (table 2 (ref null $f))
                 (table 3 (ref $f) (ref.func $g))
                 (table 9 funcref)
                 (func $g (type $f)))"#,
        )
        .unwrap();
        assert_eq!(s.tables, 3);
        assert_eq!(s.initial_table_elements, 5);
    }

    #[test]
    fn sees_what_may_run_startup_code() {
        let startup = |wat: &str| shape(wat).unwrap().startup;
        assert!(!startup(r#"(module (func (export "f")))"#));
        assert!(!startup(
            r#"(module (memory 1) (table 2 funcref) (func (export "f")))"#
        ));
        assert!(startup("(module (func $s) (start $s))"));
        assert!(startup(r#"(module (import "m" "f" (func $s)) (start $s))"#));
        assert!(startup("(module (global i32 (i32.const 1)))"));
        assert!(startup(r#"(module (memory 1) (data (i32.const 0) "x"))"#));
        assert!(startup(
            "(module (table 1 funcref) (func $f) (elem (i32.const 0) $f))"
        ));
        assert!(startup(
            "(module (type $f (func)) (table 1 (ref $f) (ref.func $g)) (func $g (type $f)))"
        ));
        // A section header that cannot be read.
        let mut wasm = wat::parse_str(r#"(module (memory 1) (func (export "f")))"#).unwrap();
        wasm.push(0x00);
        assert_eq!(
            ModuleShape::read(&wasm).map(|s| (s.memories, s.startup)),
            Some((1, true))
        );
    }

    #[test]
    fn huge_sizes_saturate() {
        let s =
            shape("(module (memory i64 0xffff_ffff_ffff) (memory i64 0xffff_ffff_ffff))").unwrap();
        assert_eq!(s.initial_memory_bytes, u64::MAX);
    }

    #[test]
    fn not_a_core_module_or_malformed() {
        assert_eq!(ModuleShape::read(b""), None);
        assert_eq!(ModuleShape::read(b"\0asm\x0d\0\x01\0"), None);
        let mut wasm = wat::parse_str("(module (memory 1))").unwrap();
        assert_eq!(ModuleShape::read(&wasm).map(|s| s.memories), Some(1));
        // Truncated inside the memory section.
        wasm.pop();
        assert_eq!(ModuleShape::read(&wasm), None);
        // A section length running past the end.
        assert_eq!(ModuleShape::read(b"\0asm\x01\0\0\0\x05\x7f\x01"), None);
        // An overlong LEB128.
        assert_eq!(
            ModuleShape::read(b"\0asm\x01\0\0\0\x05\x06\x80\x80\x80\x80\x80\x01"),
            None
        );
        // A module with no memory or table at all.
        assert_eq!(
            ModuleShape::read(b"\0asm\x01\0\0\0"),
            Some(ModuleShape::default())
        );
    }
}
