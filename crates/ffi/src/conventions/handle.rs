//! Opaque handles, with their ownership fixed by type.
//!
//! C sees a handle as a pointer to an incomplete struct
//! (`typedef struct NemoRelayRuntime NemoRelayRuntime;`). On the Rust side each
//! such marker type implements [`OpaqueHandle`], naming the Rust value behind
//! it and whether the pointer owns a `Box` or one strong count of an `Arc`. The
//! helpers below are generic over that, so a `Box` handle can never be freed as
//! an `Arc` (or cast to the wrong payload) without a compile error.
//!
//! | Ownership | Created by | Borrowed with | Released with |
//! |---|---|---|---|
//! | [`Boxed`] (one owner) | [`into_boxed_handle`] | [`boxed_ref`] / [`boxed_mut`] | [`free_boxed`] |
//! | [`Shared`] (reference counted) | [`into_shared_handle`] | [`shared_ref`] / [`shared_clone`] | [`free_shared`] |
//!
//! Rules stated in the header for every handle type:
//!
//! * Each handle type has exactly one `nemo_relay_<type>_free`, which accepts
//!   NULL and must be called exactly once per handle the library returned.
//!   Freeing twice, or using a handle after freeing it, is undefined behaviour
//!   (the library cannot detect it without a registry of live pointers).
//! * Borrowed handles given to callbacks are valid only during the callback.
//! * A [`Shared`] handle may be used from several threads at once; the payload
//!   type must be `Send + Sync`, which the trait bound enforces. A [`Boxed`]
//!   payload must still be `Send`, because C may free it on any thread.
//!
//! Declaring a handle (the marker is never constructed; cbindgen emits it as
//! an opaque struct because it is not `#[repr(C)]`):
//!
//! ```
//! use nemo_relay_ffi::conventions::handle::{OpaqueHandle, Boxed};
//!
//! pub struct NemoRelayCounter {
//!     _private: [u8; 0],
//! }
//! impl OpaqueHandle for NemoRelayCounter {
//!     type Payload = u64;
//!     type Ownership = Boxed;
//! }
//! ```

use std::sync::Arc;

use super::error::{FfiError, FfiResult};

/// Marker: the handle owns a `Box<Payload>`.
pub enum Boxed {}
/// Marker: the handle owns one strong reference of an `Arc<Payload>`.
pub enum Shared {}

/// Implemented by every opaque C handle type.
pub trait OpaqueHandle: Sized {
    /// The Rust value the handle points to.
    type Payload: Send;
    /// [`Boxed`] or [`Shared`].
    type Ownership;
}

/// Moves `value` to the heap and returns the handle that owns it.
pub fn into_boxed_handle<H>(value: H::Payload) -> *mut H
where
    H: OpaqueHandle<Ownership = Boxed>,
{
    Box::into_raw(Box::new(value)).cast::<H>()
}

/// Borrows the payload of a [`Boxed`] handle.
///
/// # Safety
/// `handle` is NULL or a live handle of this type returned by the library,
/// not used mutably elsewhere for the returned lifetime.
pub unsafe fn boxed_ref<'a, H>(handle: *const H, name: &str) -> FfiResult<&'a H::Payload>
where
    H: OpaqueHandle<Ownership = Boxed>,
{
    // SAFETY: per the caller's contract the pointer came from
    // `into_boxed_handle::<H>`, so it points to a live `H::Payload`.
    unsafe { handle.cast::<H::Payload>().as_ref() }.ok_or_else(|| FfiError::null_pointer(name))
}

/// Mutably borrows the payload of a [`Boxed`] handle.
///
/// # Safety
/// As [`boxed_ref`], and no other reference to the payload exists meanwhile.
pub unsafe fn boxed_mut<'a, H>(handle: *mut H, name: &str) -> FfiResult<&'a mut H::Payload>
where
    H: OpaqueHandle<Ownership = Boxed>,
{
    // SAFETY: as in `boxed_ref`, plus exclusivity from the caller.
    unsafe { handle.cast::<H::Payload>().as_mut() }.ok_or_else(|| FfiError::null_pointer(name))
}

/// Drops a [`Boxed`] handle's payload. NULL is a no-op.
///
/// # Safety
/// `handle` is NULL or a live handle of this type that is not used again.
pub unsafe fn free_boxed<H>(handle: *mut H)
where
    H: OpaqueHandle<Ownership = Boxed>,
{
    if !handle.is_null() {
        // SAFETY: the pointer came from `Box::into_raw` in `into_boxed_handle`.
        drop(unsafe { Box::from_raw(handle.cast::<H::Payload>()) });
    }
}

/// Hands one strong reference of `value` to C.
pub fn into_shared_handle<H>(value: Arc<H::Payload>) -> *mut H
where
    H: OpaqueHandle<Ownership = Shared>,
    H::Payload: Sync,
{
    Arc::into_raw(value).cast_mut().cast::<H>()
}

/// Borrows the payload of a [`Shared`] handle.
///
/// # Safety
/// `handle` is NULL or a live handle of this type returned by the library.
pub unsafe fn shared_ref<'a, H>(handle: *const H, name: &str) -> FfiResult<&'a H::Payload>
where
    H: OpaqueHandle<Ownership = Shared>,
{
    // SAFETY: the pointer came from `Arc::into_raw` and its strong count is
    // held by the caller for at least the duration of the call.
    unsafe { handle.cast::<H::Payload>().as_ref() }.ok_or_else(|| FfiError::null_pointer(name))
}

/// Takes a new strong reference from a [`Shared`] handle, so Rust code can
/// keep the payload alive beyond the call (for example inside a registration).
///
/// # Safety
/// As [`shared_ref`].
pub unsafe fn shared_clone<H>(handle: *const H, name: &str) -> FfiResult<Arc<H::Payload>>
where
    H: OpaqueHandle<Ownership = Shared>,
{
    if handle.is_null() {
        return Err(FfiError::null_pointer(name));
    }
    let raw = handle.cast::<H::Payload>();
    // SAFETY: `raw` came from `Arc::into_raw` and is live, so bumping the
    // count and rebuilding an `Arc` from it yields an independent reference.
    unsafe {
        Arc::increment_strong_count(raw);
        Ok(Arc::from_raw(raw))
    }
}

/// Releases the strong reference a [`Shared`] handle owns. NULL is a no-op.
///
/// # Safety
/// `handle` is NULL or a live handle of this type that is not used again.
pub unsafe fn free_shared<H>(handle: *mut H)
where
    H: OpaqueHandle<Ownership = Shared>,
{
    if !handle.is_null() {
        // SAFETY: the pointer came from `Arc::into_raw` in `into_shared_handle`.
        drop(unsafe { Arc::from_raw(handle.cast_const().cast::<H::Payload>()) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NemoRelayStatus;

    struct TestBox {
        _private: [u8; 0],
    }
    impl OpaqueHandle for TestBox {
        type Payload = Vec<String>;
        type Ownership = Boxed;
    }

    struct TestArc {
        _private: [u8; 0],
    }
    impl OpaqueHandle for TestArc {
        type Payload = String;
        type Ownership = Shared;
    }

    #[test]
    fn boxed_handles_round_trip() {
        let handle = into_boxed_handle::<TestBox>(vec!["a".into()]);
        unsafe { boxed_mut(handle, "h") }.unwrap().push("b".into());
        assert_eq!(unsafe { boxed_ref(handle, "h") }.unwrap().len(), 2);
        unsafe { free_boxed(handle) };
        unsafe { free_boxed::<TestBox>(std::ptr::null_mut()) };
    }

    #[test]
    fn shared_handles_count_references() {
        let value = Arc::new(String::from("payload"));
        let handle = into_shared_handle::<TestArc>(Arc::clone(&value));
        assert_eq!(Arc::strong_count(&value), 2);
        let extra = unsafe { shared_clone(handle, "h") }.unwrap();
        assert_eq!(Arc::strong_count(&value), 3);
        assert_eq!(unsafe { shared_ref(handle, "h") }.unwrap(), "payload");
        unsafe { free_shared(handle) };
        drop(extra);
        assert_eq!(Arc::strong_count(&value), 1);
    }

    #[test]
    fn null_handles_are_reported_by_name() {
        let err = unsafe { shared_ref::<TestArc>(std::ptr::null(), "runtime") }.unwrap_err();
        assert_eq!(err.status(), NemoRelayStatus::NullPointer);
        assert!(err.message().contains("`runtime`"));
    }
}
