//! The opaque C handle types and the Rust objects behind them.
//!
//! Each `sbx_*` handle names its Rust object once, in its `Castable` (or
//! `Lent`) impl next to its declaration; every conversion below infers the
//! object's type from the pointer's, so a handle can only ever be read as
//! the type it was made from. A call site never restates that type, which
//! would compile just as well with the wrong one.

use crate::{Error, Result};

/// A handle C owns: a `Box` of `RustType`, made by a constructor
/// ([`into_handle`]) and taken back by a destructor ([`from_handle`]).
pub(crate) trait Castable {
    /// The Rust object behind the handle.
    type RustType;
    /// The handle's name in "… is NULL" messages.
    const WHAT: &'static str;
}

/// A handle lent to C for the length of a callback ([`lend`]); C never
/// frees it. Its object borrows from the callback's frame, hence the
/// lifetimes: `'r` of the borrow, `'o` of what is borrowed.
pub(crate) trait Lent {
    /// The Rust object behind the handle.
    type RustType<'r, 'o>
    where
        'o: 'r;
    /// The handle's name in "… is NULL" messages.
    const WHAT: &'static str;
}

fn null<C: Castable>() -> Error {
    Error::invalid(format!("{} is NULL", C::WHAT))
}

/// A new handle owning `value`, for a constructor to hand out.
pub(crate) fn into_handle<C: Castable>(value: C::RustType) -> *mut C {
    Box::into_raw(Box::new(value)).cast()
}

/// Takes back ownership of a handle, for its destructor; `None` for NULL.
///
/// # Safety
/// `ptr` is NULL or came from [`into_handle`] and is not used again.
pub(crate) unsafe fn from_handle<C: Castable>(ptr: *mut C) -> Option<Box<C::RustType>> {
    // SAFETY: the caller's promise; the type is the one `into_handle` boxed.
    (!ptr.is_null()).then(|| unsafe { Box::from_raw(ptr.cast::<C::RustType>()) })
}

/// A shared reference to a handle's object, or `InvalidArgument` for NULL.
pub(crate) fn handle<'a, C: Castable>(ptr: *const C) -> Result<&'a C::RustType> {
    optional_handle(ptr)?.ok_or_else(null::<C>)
}

/// [`handle`] for an optional argument: `None` for NULL.
pub(crate) fn optional_handle<'a, C: Castable>(ptr: *const C) -> Result<Option<&'a C::RustType>> {
    // SAFETY: a non-NULL handle came from `into_handle` (so it points to a
    // `C::RustType`) and the C contract says it has not been freed.
    Ok(unsafe { ptr.cast::<C::RustType>().as_ref() })
}

/// An exclusive reference to a handle's object, or `InvalidArgument` for
/// NULL. For objects the header marks as not shared across threads while
/// modified.
pub(crate) fn handle_mut<'a, C: Castable>(ptr: *mut C) -> Result<&'a mut C::RustType> {
    // SAFETY: as in `optional_handle`, and the C contract says no other
    // thread uses the object meanwhile.
    unsafe { ptr.cast::<C::RustType>().as_mut() }.ok_or_else(null::<C>)
}

/// Lends `value` to C as a handle, for the callback it is passed to.
pub(crate) fn lend<C: Lent>(value: &mut C::RustType<'_, '_>) -> *mut C {
    (value as *mut C::RustType<'_, '_>).cast()
}

/// The object behind a lent handle, or `InvalidArgument` for NULL.
pub(crate) fn lent_mut<'a, C: Lent>(ptr: *mut C) -> Result<&'a mut C::RustType<'a, 'a>> {
    // SAFETY: a non-NULL lent handle came from `lend` on the frame of the
    // callback that received it, which the C contract says is still running
    // on this thread.
    unsafe { ptr.cast::<C::RustType<'a, 'a>>().as_mut() }
        .ok_or_else(|| Error::invalid(format!("{} is NULL", C::WHAT)))
}
