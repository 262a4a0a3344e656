//! Guest memory access from the host: bounds-checked copies, never a
//! pointer that could go stale when the guest grows its memory.

use crate::error::{Error, Result, Status};
use crate::module::Module;

fn range(len: usize, offset: u64, n: usize) -> Result<std::ops::Range<usize>> {
    let start = usize::try_from(offset).ok();
    let end = start.and_then(|s| s.checked_add(n));
    match (start, end) {
        (Some(start), Some(end)) if end <= len => Ok(start..end),
        _ => Err(Error::new(
            Status::OutOfBounds,
            format!("memory range {offset}+{n} is outside the guest's {len} bytes"),
        )),
    }
}

pub(crate) fn read(memory: &[u8], offset: u64, buf: &mut [u8]) -> Result<()> {
    buf.copy_from_slice(&memory[range(memory.len(), offset, buf.len())?]);
    Ok(())
}

pub(crate) fn write(memory: &mut [u8], offset: u64, data: &[u8]) -> Result<()> {
    let r = range(memory.len(), offset, data.len())?;
    memory[r].copy_from_slice(data);
    Ok(())
}

impl Module {
    fn with_memory<R>(
        &self,
        f: impl FnOnce(&mut crate::module::Live, wasmtime::Memory) -> Result<R>,
    ) -> Result<R> {
        let mut guard = self.inner.lock_outside_call()?;
        let live = guard.as_mut().ok_or_else(|| Error::closed("module"))?;
        let memory = live
            .memory
            .ok_or_else(|| Error::new(Status::ExportNotFound, "module exports no memory"))?;
        f(live, memory)
    }

    /// The size of the module's exported memory, in bytes.
    pub fn memory_size(&self) -> Result<u64> {
        self.with_memory(|live, m| Ok(m.data_size(&live.store) as u64))
    }

    /// Copies `buf.len()` bytes at `offset` out of the module's memory.
    pub fn memory_read(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.with_memory(|live, m| read(m.data(&live.store), offset, buf))
    }

    /// Copies `data` into the module's memory at `offset`.
    pub fn memory_write(&self, offset: u64, data: &[u8]) -> Result<()> {
        self.with_memory(|live, m| write(m.data_mut(&mut live.store), offset, data))
    }
}
