//! A module's exports: one table per compiled module, built once (names,
//! signatures and lookups), and each instance's functions, resolved from it
//! on first use so that instantiating costs no per-export work.

use crate::error::{Error, Result, Status};
use crate::value::Signature;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use wasmtime::{AsContextMut, ExternType, Func, Instance, Memory, ModuleExport};

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

/// An exported function as the call path needs it.
pub(crate) struct ExportFunc {
    name: Box<[u8]>,
    export: ModuleExport,
    pub(crate) signature: Signature,
    /// Whether every param and result crosses as `u64`.
    pub(crate) callable: bool,
}

/// The exports of one compiled module.
pub(crate) struct ExportTable {
    funcs: Vec<ExportFunc>,
    index: NameMap<usize>,
    /// Exports that are not functions, with their kind, for a clear error.
    others: NameMap<&'static str>,
    /// The memory host-side reads and writes use: `memory`, else the first.
    memory: Option<ModuleExport>,
    /// A WASI reactor's `_initialize`, run at every instantiation.
    initialize: Option<ModuleExport>,
    /// The signature of an `_initialize` that takes or returns values,
    /// which no instantiation could run.
    bad_initialize: Option<Signature>,
    /// The functions in export order, as the public API lists them.
    functions: Vec<(String, Signature)>,
}

impl ExportTable {
    pub(crate) fn new(module: &wasmtime::Module) -> ExportTable {
        let mut table = ExportTable {
            funcs: Vec::new(),
            index: NameMap::default(),
            others: NameMap::default(),
            memory: None,
            initialize: None,
            bad_initialize: None,
            functions: Vec::new(),
        };
        let mut first_memory = None;
        for export in module.exports() {
            let name = export.name();
            let key: Box<[u8]> = name.as_bytes().into();
            let handle = || {
                module
                    .get_export_index(name)
                    .expect("the module's own export")
            };
            let kind = match export.ty() {
                ExternType::Func(ty) => {
                    let signature = Signature::of(&ty);
                    if name == "_initialize" {
                        if signature.params.is_empty() && signature.results.is_empty() {
                            table.initialize = Some(handle());
                        } else {
                            table.bad_initialize = Some(signature.clone());
                        }
                    }
                    table.functions.push((name.to_owned(), signature.clone()));
                    table.index.insert(key.clone(), table.funcs.len());
                    table.funcs.push(ExportFunc {
                        name: key,
                        export: handle(),
                        callable: signature.is_callable(),
                        signature,
                    });
                    continue;
                }
                ExternType::Memory(_) => {
                    if name == "memory" {
                        table.memory = Some(handle());
                    } else if first_memory.is_none() {
                        first_memory = Some(handle());
                    }
                    "a memory"
                }
                ExternType::Table(_) => "a table",
                ExternType::Global(_) => "a global",
                _ => "not a function",
            };
            table.others.insert(key, kind);
        }
        table.memory = table.memory.or(first_memory);
        table
    }

    /// The exported functions with their signatures, in export order.
    pub(crate) fn functions(&self) -> &[(String, Signature)] {
        &self.functions
    }

    /// Whether the module exports an `_initialize` that takes and returns nothing.
    pub(crate) fn has_initialize(&self) -> bool {
        self.initialize.is_some()
    }

    /// `instance`'s `_initialize`, if its module exports one that takes and
    /// returns nothing; found by index, not by name.
    pub(crate) fn initialize(&self, instance: Instance, store: impl AsContextMut) -> Option<Func> {
        let init = self.initialize.as_ref()?;
        Some(own_func(instance, store, init))
    }

    /// Refuses a module whose `_initialize` takes or returns values: sbx
    /// runs a reactor's `_initialize` with none at every instantiation.
    pub(crate) fn check_initialize(&self) -> Result<()> {
        match &self.bad_initialize {
            None => Ok(()),
            Some(signature) => Err(Error::new(
                Status::CompileError,
                format!("export `_initialize` has signature {signature}; a reactor's `_initialize` takes and returns nothing"),
            )),
        }
    }

    fn find(&self, name: &[u8], last: usize) -> Result<usize> {
        if self.funcs.get(last).is_some_and(|f| *f.name == *name) {
            return Ok(last);
        }
        if let Some(&i) = self.index.get(name) {
            return Ok(i);
        }
        // Only on a miss, so the call path pays nothing: export names are
        // UTF-8, so bytes that are not can never have matched.
        if std::str::from_utf8(name).is_err() {
            return Err(Error::invalid("function name is not UTF-8"));
        }
        let shown = String::from_utf8_lossy(name);
        Err(Error::new(
            Status::ExportNotFound,
            match self.others.get(name) {
                Some(kind) => format!("export `{shown}` is {kind}, not a function"),
                None => format!("no exported function `{shown}`"),
            },
        ))
    }
}

/// One instance's exports, described by its compiled module's table (which
/// the caller passes in: the instance lives as long as its module does).
pub(crate) struct InstanceExports {
    instance: Instance,
    /// Empty until the first lookup, so that instantiating allocates nothing.
    funcs: Vec<Option<Func>>,
    /// The last function found: callers tend to call one export repeatedly,
    /// and comparing a short name beats hashing it.
    last: usize,
    pub(crate) memory: Option<Memory>,
}

impl InstanceExports {
    pub(crate) fn new(
        table: &ExportTable,
        instance: Instance,
        mut store: impl AsContextMut,
    ) -> InstanceExports {
        let memory = table.memory.as_ref().and_then(|m| {
            instance
                .get_module_export(&mut store, m)
                .and_then(|e| e.into_memory())
        });
        InstanceExports {
            funcs: Vec::new(),
            instance,
            last: 0,
            memory,
        }
    }

    /// The function exported as `name`, with its description from `table`.
    pub(crate) fn get<'t>(
        &mut self,
        table: &'t ExportTable,
        mut store: impl AsContextMut,
        name: &[u8],
    ) -> Result<(Func, &'t ExportFunc)> {
        let i = table.find(name, self.last)?;
        self.last = i;
        let export = &table.funcs[i];
        let func = match self.funcs.get(i) {
            Some(Some(func)) => *func,
            _ => {
                if self.funcs.is_empty() {
                    self.funcs.resize(table.funcs.len(), None);
                }
                let func = own_func(self.instance, &mut store, &export.export);
                self.funcs[i] = Some(func);
                func
            }
        };
        Ok((func, export))
    }
}

/// The function `instance` exports as `export`, an export of its own module.
fn own_func(instance: Instance, mut store: impl AsContextMut, export: &ModuleExport) -> Func {
    instance
        .get_module_export(&mut store, export)
        .and_then(|e| e.into_func())
        .expect("an export of the instance's own module")
}
