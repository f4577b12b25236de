//! Property tests of the pure parts (issue 8): `path`, `jwt` and `response` against any input.
//!
//! Native only (`url` and `proptest` are not wasm dev-dependencies). Only the strategies (the inputs)
//! are here: the properties are `crate::oracle`'s, which the fuzz targets in `fuzz/` check too, for
//! longer; see the README's "Fuzzing and property tests".
use crate::prelude::*;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use crate::oracle::{b64url, check_claims, check_join, check_response, BASES};
use crate::{jwt, path};

// ---------------------------------------------------------------------------------------------
// path::join

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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Whatever the path: refused, or a URL on the API's origin inside its prefix, even to a server
    /// that decodes it again and again.
    #[test]
    fn joined_paths_stay_on_the_origin_inside_the_prefix(
        base in select(BASES),
        path in hostile_path(),
    ) {
        check_join(base, &path).map_err(TestCaseError::fail)?;
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
        check_join(base, &path).map_err(TestCaseError::fail)?;
    }
}

// ---------------------------------------------------------------------------------------------
// jwt::claims

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

proptest! {
    /// Never panics, and any lifetime is finite, positive and at most a year and a day.
    #[test]
    fn claims_never_panic_and_lifetimes_are_sane(t in token()) {
        check_claims(&t).map_err(TestCaseError::fail)?;
    }

    /// Any bytes, as (lossy) text and as the payload of a three-part token.
    #[test]
    fn claims_of_arbitrary_bytes(bytes in vec(any::<u8>(), 0..200)) {
        check_claims(&String::from_utf8_lossy(&bytes)).map_err(TestCaseError::fail)?;
        check_claims(&format!("a.{}.c", b64url(&bytes))).map_err(TestCaseError::fail)?;
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

proptest! {
    /// Any status and content type: no panic, and the documented classification.
    #[test]
    fn responses_sort_as_documented(
        status in prop_oneof![any::<u16>(), 100u16..600],
        ct in proptest::option::of(content_type()),
    ) {
        check_response(status, ct.as_deref()).map_err(TestCaseError::fail)?;
    }
}
