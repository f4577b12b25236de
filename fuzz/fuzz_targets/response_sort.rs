//! `outcome`, `body_kind`, `is_json` and `refresh_is_fatal` for any status and content type.
//! Input: two bytes of status; then, if any, the content type (lossy UTF-8).
#![no_main]

use fd_fetch::fuzzing::check_response;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (status, ct) = match data {
        [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]), rest),
        _ => return,
    };
    let ct = (!ct.is_empty()).then(|| String::from_utf8_lossy(ct));
    check_response(status, ct.as_deref()).unwrap_or_else(|e| panic!("{e}"));
    if ct.is_none() {
        check_response(status, Some("")).unwrap_or_else(|e| panic!("{e}"));
    }
});
