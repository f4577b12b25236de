//! The `alloc` names that `std`'s prelude brings and `core`'s does not (the crate is `no_std`, see
//! `lib.rs`). Each module takes them with `use crate::prelude::*;`. Not every build uses every name
//! (some only the tests do), hence the `allow`.
#![allow(unused_imports)]
pub use alloc::borrow::ToOwned;
pub use alloc::boxed::Box;
pub use alloc::format;
pub use alloc::string::{String, ToString};
pub use alloc::vec;
pub use alloc::vec::Vec;
