//! The properties of the pure parts (`path`, `jwt`, `response`) against any input, written once for
//! both checkers: the property tests (`src/proptests.rs`, native `cargo test`) and the cargo-fuzz
//! targets in `fuzz/` (through `fd_fetch::fuzzing`, feature `fuzzing`).
//!
//! Each check returns `Err` with a description of the broken property: the property tests turn it
//! into a failed case, the fuzz targets into a panic (a crash to libFuzzer, which saves the input).
//! Not test code when built for `fuzzing`, so it keeps to the crate's no-panic lints.
use crate::prelude::*;

use url::Url;

use crate::response::{Body, Outcome};
use crate::{jwt, path, response};

/// `Err(message)` unless `cond`.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// `Err(message, left, right)` unless `left == right`.
macro_rules! ensure_eq {
    ($left:expr, $right:expr, $($msg:tt)+) => {
        match (&$left, &$right) {
            (left, right) => {
                if left != right {
                    return Err(format!(
                        "{}\n  left: {left:?}\n right: {right:?}",
                        format_args!($($msg)+)
                    ));
                }
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// path::join

/// Bases as `configure` accepts them: origin plus optional prefix, no trailing slash.
pub const BASES: &[&str] = &[
    "https://api.example.com",
    "https://api.example.com/v1",
    "http://127.0.0.1:8080/api/v2",
    "https://api.example.com:8443/a%20b/v1.0",
    "http://[::1]:3000/p",
];

/// How many times a server might percent-decode the path it gets.
const DECODES: usize = 6;

/// `%XX` decoded, anything else (a stray `%` too) kept, as a lenient server decodes.
fn lenient_decode(s: &[u8]) -> Vec<u8> {
    let hex = |b: Option<&u8>| b.and_then(|&b| char::from(b).to_digit(16));
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        match (b, hex(s.get(i + 1)), hex(s.get(i + 2))) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// `.` or `..`, also with a `;param` suffix that some servers strip.
fn is_dot_segment(seg: &[u8]) -> bool {
    let name = seg.split(|&b| b == b';').next().unwrap_or(seg);
    name == b"." || name == b".."
}

/// The property of `path::join`: a refusal, or a URL that a WHATWG parser (what `fetch` uses) puts
/// on the base's origin, without credentials, inside its prefix; and where a server that
/// percent-decodes the path leniently, up to `DECODES` times, sees no `.`/`..` segment, no new `/`
/// or `\`, and no control character inside the prefix.
pub fn check_join(base: &str, path: &str) -> Result<(), String> {
    let Ok(joined) = path::join(base, path) else {
        return Ok(());
    };
    let base_url =
        Url::parse(base).map_err(|e| format!("the base {base:?} does not parse: {e}"))?;
    let url = Url::parse(&joined)
        .map_err(|e| format!("accepted {path:?}, but {joined:?} does not parse: {e}"))?;
    ensure_eq!(url.origin(), base_url.origin(), "{path:?} -> {url}");
    ensure!(
        url.username().is_empty() && url.password().is_none(),
        "{path:?} -> {url} has credentials"
    );
    let prefix = base_url.path().trim_end_matches('/');
    let rest = url.path().strip_prefix(prefix).unwrap_or("");
    ensure!(
        rest.starts_with('/'),
        "{path:?} -> {url} leaves the prefix {prefix:?}"
    );
    for raw in rest.split('/').skip(1) {
        let mut seg = raw.as_bytes().to_vec();
        for round in 1..=DECODES {
            seg = lenient_decode(&seg);
            let bad = is_dot_segment(&seg)
                || seg
                    .iter()
                    .any(|&b| b == b'/' || b == b'\\' || b < 0x20 || b == 0x7f);
            ensure!(
                !bad,
                "{path:?} -> {url}: segment {raw:?} decoded {round} times is {:?}",
                String::from_utf8_lossy(&seg)
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// jwt::claims

/// Unpadded base64url, to wrap arbitrary bytes as a token's payload.
pub fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 3);
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &x| (acc << 8) | u32::from(x)) << (8 * (3 - chunk.len()));
        for k in 0..=chunk.len() {
            // Always in the alphabet (six bits); `get` only for the no-indexing lint.
            if let Some(&c) = A.get(((n >> (18 - 6 * k)) & 63) as usize) {
                out.push(char::from(c));
            }
        }
    }
    out
}

/// What `jwt::claims` promises of any token: it does not panic (a fuzz target's crash, a property
/// test's failure), it gives the same lifetime each time, and a lifetime it gives is finite,
/// positive and at most `MAX_LIFETIME_SECS` (see `rejects_non_positive_and_huge_lifetimes`).
pub fn check_claims(token: &str) -> Result<(), String> {
    let c = jwt::claims(token);
    // In the tests, through the test-only `jwt::lifetime_secs` (which must agree with `claims`).
    #[cfg(test)]
    let again = jwt::lifetime_secs(token);
    #[cfg(not(test))]
    let again = jwt::claims(token).lifetime_secs;
    ensure_eq!(again, c.lifetime_secs, "{token:?}: lifetime read twice");
    if let Some(life) = c.lifetime_secs {
        ensure!(
            life.is_finite() && life > 0.0 && life <= jwt::MAX_LIFETIME_SECS,
            "{token:?}: lifetime {life}"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// response

/// `fd`'s reading of the JSON media types, written out plainly.
fn json_essence(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(essence.as_str(), "application/json" | "text/json")
        || (essence.ends_with("+json") && essence.contains('/'))
}

/// The documented classification of a status and content type: 2xx success, 401 unauthorized, else
/// failure; 400, 401 and 403 end the session on a refresh; 204/205 no body; JSON media types read
/// as JSON, parameters and ASCII case ignored.
pub fn check_response(status: u16, content_type: Option<&str>) -> Result<(), String> {
    let ct = content_type;
    let want = match status {
        200..=299 => Outcome::Success,
        401 => Outcome::Unauthorized,
        _ => Outcome::Failure,
    };
    ensure_eq!(response::outcome(status), want, "outcome of {status}");
    ensure_eq!(
        response::refresh_is_fatal(status),
        matches!(status, 400 | 401 | 403),
        "refresh_is_fatal({status})"
    );
    let json = ct.is_some_and(response::is_json);
    if let Some(ct) = ct {
        ensure_eq!(json, json_essence(ct), "is_json({ct:?})");
        // Parameters and ASCII case never change the answer.
        ensure_eq!(
            response::is_json(&format!("{ct};charset=utf-8")),
            json,
            "is_json({ct:?}) with a parameter"
        );
        ensure_eq!(
            response::is_json(&ct.to_ascii_uppercase()),
            json,
            "is_json({ct:?}) in upper case"
        );
        ensure_eq!(
            response::is_json(&ct.to_ascii_lowercase()),
            json,
            "is_json({ct:?}) in lower case"
        );
        if !ct.to_ascii_lowercase().contains("json") {
            ensure!(!json, "is_json({ct:?}) without \"json\" in it");
        }
    }
    let want = match (status, json) {
        (204 | 205, _) => Body::None,
        (_, true) => Body::Json,
        (_, false) => Body::Text,
    };
    ensure_eq!(
        response::body_kind(status, ct),
        want,
        "body_kind({status}, {ct:?})"
    );
    Ok(())
}
