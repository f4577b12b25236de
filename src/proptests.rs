//! Property tests of the pure parts (issue 8): `path`, `jwt` and `response` against any input.
//!
//! Native only (`url` and `proptest` are not wasm dev-dependencies). The fuzz targets in `fuzz/`
//! check the same properties for longer; see the README's "Fuzzing and property tests".

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use url::Url;

use crate::response::{Body, Outcome};
use crate::{jwt, path, response};

// ---------------------------------------------------------------------------------------------
// path::join

/// Bases as `configure` accepts them: origin plus optional prefix, no trailing slash.
const BASES: &[&str] = &[
    "https://api.example.com",
    "https://api.example.com/v1",
    "http://127.0.0.1:8080/api/v2",
    "https://api.example.com:8443/a%20b/v1.0",
    "http://[::1]:3000/p",
];

/// Bits that have helped escape an origin or a prefix somewhere: slashes, dots plain and
/// (multiply) encoded, authority markers, whole URLs, controls, odd whitespace and Unicode.
#[rustfmt::skip]
const PIECES: &[&str] = &[
    "/", "//", "\\", "/\\", ".", "..", "...", "%2e", "%2E", "%2e%2E", "%252e", "%25252e", "%2f",
    "%2F", "%5c", "%5C", "%252f", "%255c", "%25", "%", "%zz", "%0", "%00", "%0a", "%250d", ";",
    ";x", "@", "evil.com", ":", "http:", "https://evil.com", "//evil.com", "?", "#", "&", "=",
    "\t", "\n", "\r", "\u{0}", "\u{7f}", "\u{85}", " ", "\u{3000}", "ü", "．", "\u{2028}",
    "\u{feff}", "a", "v1", "api",
];

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(PIECES).prop_map(String::from),
        1 => "[a-zA-Z0-9]{1,4}",
        1 => any::<char>().prop_map(String::from),
    ]
}

/// Any string, weighted towards the hostile and towards a leading `/` (which gets past the first
/// check and so tests the others).
fn hostile_path() -> impl Strategy<Value = String> {
    // The URL parser drops spaces and controls off the end of a URL: some paths end with them.
    let tail = select(&["", "", "", " ", "  ", "\t", "\u{0}"][..]);
    prop_oneof![
        4 => (vec(piece(), 0..12), tail).prop_map(|(p, t)| format!("/{}{t}", p.concat())),
        1 => vec(piece(), 0..12).prop_map(|p| p.concat()),
        1 => any::<String>(),
        1 => any::<String>().prop_map(|s| format!("/{s}")),
    ]
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

/// How many times a server might percent-decode the path it gets.
const DECODES: usize = 6;

/// The property of `path::join`: a refusal, or a URL that a WHATWG parser (what `fetch` uses) puts
/// on the base's origin, inside its prefix; and where a server that percent-decodes the path
/// leniently, up to `DECODES` times, sees no `.`/`..` segment, no new `/` or `\`, and no control
/// character inside the prefix.
fn check_join(base: &str, path: &str) -> Result<(), TestCaseError> {
    let Ok(joined) = path::join(base, path) else {
        return Ok(());
    };
    let base_url = Url::parse(base).map_err(|e| TestCaseError::fail(format!("{base}: {e}")))?;
    let url = Url::parse(&joined)
        .map_err(|e| TestCaseError::fail(format!("accepted {path:?}, but {joined:?}: {e}")))?;
    prop_assert_eq!(url.origin(), base_url.origin(), "{:?} -> {}", path, url);
    prop_assert!(
        url.username().is_empty() && url.password().is_none(),
        "{url}"
    );
    let prefix = base_url.path().trim_end_matches('/');
    let rest = url.path().strip_prefix(prefix).unwrap_or("");
    prop_assert!(
        rest.starts_with('/'),
        "{:?} -> {} leaves the prefix {:?}",
        path,
        url,
        prefix
    );
    for raw in rest.split('/').skip(1) {
        let mut seg = raw.as_bytes().to_vec();
        for round in 1..=DECODES {
            seg = lenient_decode(&seg);
            let shown = String::from_utf8_lossy(&seg);
            prop_assert!(
                !is_dot_segment(&seg),
                "{:?} -> {}: segment {:?} decoded {} times is {:?}",
                path,
                url,
                raw,
                round,
                shown
            );
            prop_assert!(
                !seg.iter()
                    .any(|&b| b == b'/' || b == b'\\' || b < 0x20 || b == 0x7f),
                "{:?} -> {}: segment {:?} decoded {} times is {:?}",
                path,
                url,
                raw,
                round,
                shown
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Whatever the path: refused, or a URL on the API's origin inside its prefix, even to a server
    /// that decodes it again and again.
    #[test]
    fn joined_paths_stay_on_the_origin_inside_the_prefix(
        base in select(BASES),
        path in hostile_path(),
    ) {
        check_join(base, &path)?;
    }
}

proptest! {
    /// Ordinary paths are accepted, appended as they are.
    #[test]
    fn ordinary_paths_are_accepted(
        base in select(BASES),
        segments in vec("[A-Za-z0-9_~-]{1,12}(\\.[a-z0-9]{1,4})?", 0..8),
        trailing_slash in any::<bool>(),
        query in proptest::option::of("[a-z]{1,6}=[A-Za-z0-9._~%/-]{0,12}(&[a-z]{1,6}=[A-Za-z0-9.\\\\/]{0,8})?"),
        fragment in proptest::option::of("[A-Za-z0-9/._-]{0,8}"),
    ) {
        let mut path = format!("/{}", segments.join("/"));
        if trailing_slash && !segments.is_empty() {
            path.push('/');
        }
        if let Some(q) = query {
            path = format!("{path}?{q}");
        }
        if let Some(f) = fragment {
            path = format!("{path}#{f}");
        }
        prop_assert_eq!(path::join(base, &path), Ok(format!("{base}{path}")));
        check_join(base, &path)?;
    }
}

// ---------------------------------------------------------------------------------------------
// jwt::claims

fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &x| (acc << 8) | u32::from(x)) << (8 * (3 - chunk.len()));
        for k in 0..=chunk.len() {
            out.push(char::from(A[((n >> (18 - 6 * k)) & 63) as usize]));
        }
    }
    out
}

/// A JSON string literal for `s`, escaping some characters as `\uXXXX` when `escape_all`.
fn json_string(s: &str, escape_all: bool) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || (escape_all && (c as u32) < 0x10000) => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// JSON-ish numbers, well-formed or not.
fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| n.to_string()),
        "-?(0|[1-9][0-9]{0,20})(\\.[0-9]{1,5})?([eE][+-]?[0-9]{1,5})?",
        select(
            &[
                "1e999",
                "-1e999",
                "0e999",
                "01",
                "+1",
                ".5",
                "1.",
                "-",
                "1e",
                "NaN",
                "1e+",
                "9007199254740993",
                "1e-400",
                "-0"
            ][..]
        )
        .prop_map(String::from),
    ]
}

/// JSON-ish values: numbers, strings, literals and nested containers, sometimes malformed.
fn value_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        number_text(),
        any::<String>().prop_map(|s| json_string(&s, false)),
        select(
            &[
                "true",
                "false",
                "null",
                "nul",
                "\"",
                "\"\\u12\"",
                "\"\\x\"",
                ""
            ][..]
        )
        .prop_map(String::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(","))),
            vec(("[a-z]{0,4}", inner), 0..6).prop_map(|kv| {
                let body: Vec<String> = kv
                    .into_iter()
                    .map(|(k, v)| format!("{}:{v}", json_string(&k, false)))
                    .collect();
                format!("{{{}}}", body.join(","))
            }),
        ]
    })
}

/// Payloads that look like claims: an object of `iat`, `exp`, `sub` and other keys (some
/// escaped, some repeated) with any values, sometimes with noise around it.
fn payload_text() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        select(
            &[
                "iat",
                "exp",
                "sub",
                "\\u0069at",
                "ex\\u0070",
                "x",
                "nbf",
                ""
            ][..]
        )
        .prop_map(|k| format!("\"{k}\"")),
        "[a-z]{1,5}".prop_map(|k| format!("\"{k}\"")),
    ];
    (
        vec((key, value_text()), 0..6),
        select(&["", " ", "\n\t ", ",", "}", "x", "\u{0}"][..]),
    )
        .prop_map(|(kv, tail)| {
            let body: Vec<String> = kv.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
            format!("{{ {} }}{tail}", body.join(" , "))
        })
}

/// A token: arbitrary text, or three dot-separated parts around a payload.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[A-Za-z0-9_.=+/-]{0,60}",
        vec(any::<u8>(), 0..80).prop_map(|b| format!("eyJhbGciOiJIUzI1NiJ9.{}.sig", b64url(&b))),
        payload_text().prop_map(|p| format!("h.{}.s", b64url(p.as_bytes()))),
        payload_text().prop_map(|p| format!("h.{}==.s", b64url(p.as_bytes()))),
        payload_text().prop_map(|p| format!("h.{}.s.extra", b64url(p.as_bytes()))),
    ]
}

/// What `claims` promises of any lifetime it gives (see `rejects_non_positive_and_huge_lifetimes`).
fn check_claims(token: &str) -> Result<(), TestCaseError> {
    let c = jwt::claims(token);
    prop_assert_eq!(jwt::lifetime_secs(token), c.lifetime_secs);
    if let Some(life) = c.lifetime_secs {
        prop_assert!(
            life.is_finite() && life > 0.0 && life <= jwt::MAX_LIFETIME_SECS,
            "{:?}: {}",
            token,
            life
        );
    }
    Ok(())
}

proptest! {
    /// Never panics, and any lifetime is finite, positive and at most a year and a day.
    #[test]
    fn claims_never_panic_and_lifetimes_are_sane(t in token()) {
        check_claims(&t)?;
    }

    /// Any bytes, as (lossy) text and as the payload of a three-part token.
    #[test]
    fn claims_of_arbitrary_bytes(bytes in vec(any::<u8>(), 0..200)) {
        check_claims(&String::from_utf8_lossy(&bytes))?;
        check_claims(&format!("a.{}.c", b64url(&bytes)))?;
    }

    /// A well-formed payload gives exactly `exp - iat` (within bounds) and `sub`, however `sub` is
    /// escaped.
    #[test]
    fn claims_read_well_formed_payloads(
        iat in 0i64..(1 << 40),
        delta in -100_000i64..40_000_000,
        sub in any::<String>(),
        escape_all in any::<bool>(),
        extra in proptest::option::of(value_text()),
    ) {
        let exp = iat + delta;
        let extra = extra.map(|v| format!(",\"other\":{v}")).unwrap_or_default();
        let payload = format!(
            "{{\"sub\":{},\"iat\":{iat}{extra},\"exp\":{exp}}}",
            json_string(&sub, escape_all)
        );
        let c = jwt::claims(&format!("h.{}.s", b64url(payload.as_bytes())));
        if c == jwt::Claims::default() {
            // Only a malformed extra value may make the whole payload garbage.
            prop_assert!(!extra.is_empty(), "{}", payload);
        } else {
            prop_assert_eq!(c.sub.as_deref(), Some(sub.as_str()));
            let want = (delta > 0 && delta as f64 <= jwt::MAX_LIFETIME_SECS).then_some(delta as f64);
            prop_assert_eq!(c.lifetime_secs, want, "{}", payload);
        }
    }

    /// base64url decoding undoes encoding, padded or not.
    #[test]
    fn base64url_round_trips(bytes in vec(any::<u8>(), 0..100)) {
        let text = b64url(&bytes);
        prop_assert_eq!(jwt::base64url_decode(&text), Some(bytes.clone()));
        let pad = "=".repeat((4 - text.len() % 4) % 4);
        prop_assert_eq!(jwt::base64url_decode(&format!("{text}{pad}")), Some(bytes));
    }
}

// ---------------------------------------------------------------------------------------------
// response

/// Content types around the JSON ones: parameters, case, spacing, near misses.
fn content_type() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        (
            select(
                &[
                    "application/json",
                    "text/json",
                    "application/problem+json",
                    "application/vnd.api+json",
                    "application/jsonp",
                    "+json",
                    "json",
                    "text/plain",
                    "application/json+x",
                    "",
                    "application/x-json"
                ][..]
            ),
            "[ \t]{0,2}",
            "(;[ a-z=0-9-]{0,12}){0,2}",
            any::<bool>(),
        )
            .prop_map(|(t, ws, params, upper)| {
                let t = if upper {
                    t.to_ascii_uppercase()
                } else {
                    t.to_string()
                };
                format!("{ws}{t}{ws}{params}")
            }),
    ]
}

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

/// The documented classification of statuses and content types.
fn check_response(status: u16, ct: Option<&str>) -> Result<(), TestCaseError> {
    let want = match status {
        200..=299 => Outcome::Success,
        401 => Outcome::Unauthorized,
        _ => Outcome::Failure,
    };
    prop_assert_eq!(response::outcome(status), want);
    prop_assert_eq!(
        response::refresh_is_fatal(status),
        matches!(status, 400 | 401 | 403)
    );
    let json = ct.is_some_and(response::is_json);
    if let Some(ct) = ct {
        prop_assert_eq!(json, json_essence(ct), "{:?}", ct);
        // Parameters and ASCII case never change the answer.
        prop_assert_eq!(response::is_json(&format!("{ct};charset=utf-8")), json);
        prop_assert_eq!(response::is_json(&ct.to_ascii_uppercase()), json);
        prop_assert_eq!(response::is_json(&ct.to_ascii_lowercase()), json);
        if !ct.to_ascii_lowercase().contains("json") {
            prop_assert!(!json, "{:?}", ct);
        }
    }
    let body = response::body_kind(status, ct);
    let want = match (status, json) {
        (204 | 205, _) => Body::None,
        (_, true) => Body::Json,
        (_, false) => Body::Text,
    };
    prop_assert_eq!(body, want, "{} {:?}", status, ct);
    Ok(())
}

proptest! {
    /// Any status and content type: no panic, and the documented classification.
    #[test]
    fn responses_sort_as_documented(
        status in prop_oneof![any::<u16>(), 100u16..600],
        ct in proptest::option::of(content_type()),
    ) {
        check_response(status, ct.as_deref())?;
    }
}
