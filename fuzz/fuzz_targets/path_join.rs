//! `path::join` under each base: refused, or on the base's origin inside its prefix.
//! Input: the first byte picks the base, the rest (lossy UTF-8) is the path.
#![no_main]

use fd_fetch::fuzzing::{check_join, BASES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, path)) = data.split_first() else {
        return;
    };
    let base = BASES[usize::from(pick) % BASES.len()];
    check_join(base, &String::from_utf8_lossy(path)).unwrap_or_else(|e| panic!("{e}"));
});
