//! `thread_local!` without `std` (the crate is `no_std`, see `lib.rs`). The wasm has one thread
//! (no `atomics`), so a page-wide value is a plain `static`; other builds (native tests, the fuzz
//! targets) keep `std`'s `thread_local!`. Same syntax and the same `NAME.with(|v| ...)` at the use.

/// A `static` that wasm's single thread owns.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
pub(crate) struct Local<T>(pub(crate) T);

// SAFETY: only compiled for wasm without `atomics`, where there is one thread, so the value is never
// reached from two threads.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
unsafe impl<T> Sync for Local<T> {}

#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
impl<T> Local<T> {
    /// As `LocalKey::with`.
    pub(crate) fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.0)
    }
}

/// `thread_local!` in the `const { ... }` form.
macro_rules! local {
    ($($(#[$m:meta])* static $name:ident: $t:ty = const { $init:expr };)*) => { $(
        #[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
        $(#[$m])* static $name: crate::local::Local<$t> = crate::local::Local($init);
        #[cfg(not(all(target_family = "wasm", not(target_feature = "atomics"))))]
        std::thread_local!($(#[$m])* static $name: $t = const { $init });
    )* };
}
