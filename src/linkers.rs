//! A host's two linkers. Host functions are defined in both; modules with
//! WASI link against the second, so a module without WASI gets a link
//! error naming the WASI import it asked for.

use crate::error::{Error, Result, Status};
use crate::host_func::{self, HostCallback};
use crate::store::StoreData;
use crate::value::ValueType;
use std::sync::Arc;
use wasmtime::{Engine, InstancePre, Linker};

pub(crate) struct Linkers {
    plain: Linker<StoreData>,
    wasi: Linker<StoreData>,
}

impl Linkers {
    pub(crate) fn new(engine: &Engine) -> Result<Linkers> {
        let mut wasi = Linker::new(engine);
        crate::wasi::add_to_linker(&mut wasi)?;
        Ok(Linkers {
            plain: Linker::new(engine),
            wasi,
        })
    }

    /// Defines the host function `module.name` in both linkers, or in
    /// neither: the WASI linker goes first because it refuses everything
    /// the plain one does (the same user definitions) and also WASI's own
    /// names; once it accepts, the plain one cannot fail.
    pub(crate) fn define(
        &mut self,
        module: &str,
        name: &str,
        params: &[ValueType],
        results: &[ValueType],
        callback: Arc<HostCallback>,
    ) -> Result<()> {
        for linker in [&mut self.wasi, &mut self.plain] {
            host_func::define(linker, module, name, params, results, callback.clone())?;
        }
        Ok(())
    }

    /// Resolves `module`'s imports, with or without WASI.
    pub(crate) fn link(
        &self,
        module: &wasmtime::Module,
        with_wasi: bool,
    ) -> Result<InstancePre<StoreData>> {
        let linker = if with_wasi { &self.wasi } else { &self.plain };
        linker
            .instantiate_pre(module)
            .map_err(|e| Error::new(Status::LinkError, format!("link: {e:#}")))
    }
}
