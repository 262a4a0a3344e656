//! Guest memory access from the host: bounds-checked copies, never a
//! pointer that could go stale when the guest grows its memory.

use crate::error::{Error, Result, Status};

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
