//! `jwt::claims` never panics, and any lifetime is sane. Each input is tried as the whole token
//! and as the payload of `header.payload.sig` (so that the fuzzer reaches the JSON scanner without
//! having to learn base64).
#![no_main]

use fd_fetch::fuzzing::{b64url, check_claims};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check_claims(&String::from_utf8_lossy(data)).unwrap_or_else(|e| panic!("{e}"));
    check_claims(&format!("eyJhbGciOiJIUzI1NiJ9.{}.sig", b64url(data)))
        .unwrap_or_else(|e| panic!("{e}"));
});
