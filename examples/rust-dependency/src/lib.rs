//! A wasm app with its own global allocator that links fd-fetch in: the app's allocator serves
//! every allocation, fd-fetch's included. It counts them, so a test can see that it is the one in use.
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use wasm_bindgen::prelude::wasm_bindgen;

// Links fd-fetch in: its exports (`configure`, `fd`, …) are exported from this app's module too.
use fd_fetch as _;

/// Forwards to the system allocator and counts the allocations.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call unchanged to `System`, which upholds `GlobalAlloc`'s contract.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's `layout` is passed on as given.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout`, through `alloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// How many allocations the app's allocator has served so far.
#[wasm_bindgen(js_name = appAllocations)]
pub fn app_allocations() -> usize {
    ALLOCATIONS.load(Ordering::Relaxed)
}
