//! The properties the fuzz targets check: the same as `src/proptests.rs` in the crate, as plain
//! asserts (a failed one is a crash to libFuzzer, which saves the input under `artifacts/`).

use fd_fetch::fuzzing::{self as fd, Body, Outcome};
use url::Url;

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

/// `path::join` refuses `path`, or gives a URL that the WHATWG parser (what `fetch` uses) puts on
/// the base's origin inside its prefix, and in which a server that percent-decodes the path
/// leniently, up to `DECODES` times, sees no `.`/`..` segment, no new `/` or `\`, and no control
/// character.
pub fn check_join(base: &str, path: &str) {
    let Ok(joined) = fd::join(base, path) else {
        return;
    };
    let base_url = Url::parse(base).expect("a valid base");
    let url = Url::parse(&joined)
        .unwrap_or_else(|e| panic!("accepted {path:?}, but {joined:?} does not parse: {e}"));
    assert_eq!(url.origin(), base_url.origin(), "{path:?} -> {url}");
    assert!(
        url.username().is_empty() && url.password().is_none(),
        "{path:?} -> {url}"
    );
    let prefix = base_url.path().trim_end_matches('/');
    let rest = url.path().strip_prefix(prefix).unwrap_or("");
    assert!(
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
            assert!(
                !bad,
                "{path:?} -> {url}: segment {raw:?} decoded {round} times is {:?}",
                String::from_utf8_lossy(&seg)
            );
        }
    }
}

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

/// `jwt::claims` does not panic (libFuzzer catches that), and a lifetime it gives is finite,
/// positive and at most `MAX_LIFETIME_SECS`.
pub fn check_claims(token: &str) {
    if let Some(life) = fd::claims(token).lifetime_secs {
        assert!(
            life.is_finite() && life > 0.0 && life <= fd::MAX_LIFETIME_SECS,
            "{token:?}: lifetime {life}"
        );
    }
}

/// Unpadded base64url, to wrap fuzzed bytes as a token's payload.
pub fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 3);
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &x| (acc << 8) | u32::from(x)) << (8 * (3 - chunk.len()));
        for k in 0..=chunk.len() {
            out.push(char::from(A[((n >> (18 - 6 * k)) & 63) as usize]));
        }
    }
    out
}

/// The documented classification of a status and content type.
pub fn check_response(status: u16, ct: Option<&str>) {
    let want = match status {
        200..=299 => Outcome::Success,
        401 => Outcome::Unauthorized,
        _ => Outcome::Failure,
    };
    assert_eq!(fd::outcome(status), want, "{status}");
    assert_eq!(
        fd::refresh_is_fatal(status),
        matches!(status, 400 | 401 | 403),
        "{status}"
    );
    let json = ct.is_some_and(fd::is_json);
    if let Some(ct) = ct {
        let essence = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let want = matches!(essence.as_str(), "application/json" | "text/json")
            || (essence.ends_with("+json") && essence.contains('/'));
        assert_eq!(json, want, "{ct:?}");
        // Parameters and ASCII case never change the answer.
        assert_eq!(fd::is_json(&format!("{ct};charset=utf-8")), json, "{ct:?}");
        assert_eq!(fd::is_json(&ct.to_ascii_uppercase()), json, "{ct:?}");
        if !ct.to_ascii_lowercase().contains("json") {
            assert!(!json, "{ct:?}");
        }
    }
    let want = match (status, json) {
        (204 | 205, _) => Body::None,
        (_, true) => Body::Json,
        (_, false) => Body::Text,
    };
    assert_eq!(fd::body_kind(status, ct), want, "{status} {ct:?}");
}
