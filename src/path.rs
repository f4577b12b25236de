//! Which request paths may be sent, and the URLs they become.
//!
//! `fd(path)` resolves `path` under `baseUrl`, and the result must stay on `baseUrl`'s origin and under
//! its path prefix. Rather than resolve and compare, we accept only paths that cannot leave: a single
//! leading `/`, no backslash, no control character, and no segment that is or decodes to `.` or `..`
//! (however often it was percent-encoded). Appended to `origin + prefix`, such a path stays put.
use crate::prelude::*;

/// Why a path was refused. The text goes into the `bad_path` error message.
pub type Refusal = &'static str;

/// The longest path accepted: 8 KiB (query included), about what servers accept in a request line.
pub const MAX_LEN: u32 = 8 * 1024;

/// `base` (origin plus path prefix, no trailing slash) joined with a checked `path`.
pub fn join(base: &str, path: &str) -> Result<String, Refusal> {
    check(path)?;
    let mut url = String::with_capacity(base.len() + path.len());
    url.push_str(base);
    url.push_str(path);
    Ok(url)
}

/// Accepts a path that, appended to an origin and prefix, cannot leave them.
pub fn check(path: &str) -> Result<(), Refusal> {
    if path.len() > MAX_LEN as usize {
        return Err("must be at most 8 KiB");
    }
    let mut chars = path.chars();
    if chars.next() != Some('/') {
        return Err("must start with a single \"/\"");
    }
    if matches!(chars.next(), Some('/' | '\\')) {
        return Err("must not start with \"//\" or \"/\\\"");
    }
    // The URL parser drops tabs and newlines anywhere, which could join "/\t/host" into "//host".
    if path.chars().any(|c| c.is_control()) {
        return Err("must not contain control characters");
    }
    let route = route(path);
    if route.contains('\\') {
        return Err("must not contain \"\\\"");
    }
    for segment in route.split('/') {
        check_segment(segment)?;
    }
    Ok(())
}

/// The path without its query and fragment.
pub fn route(path: &str) -> &str {
    path.split(['?', '#']).next().unwrap_or(path)
}

fn check_segment(raw: &str) -> Result<(), Refusal> {
    let mut seg = percent_decode(raw.as_bytes(), false).ok_or("has a malformed percent escape")?;
    // Servers that decode twice would see "%252e%252e" as "..": decode until nothing changes.
    // Leniently, as they do: a stray "%" ("%25" once decoded) must not hide the rest.
    for _ in 0..4 {
        if is_dot_segment(&seg) {
            return Err("must not contain \".\" or \"..\" segments, even encoded");
        }
        if seg
            .iter()
            .any(|&b| b == b'/' || b == b'\\' || b < 0x20 || b == 0x7f)
        {
            return Err("must not contain encoded \"/\", \"\\\" or control characters");
        }
        match percent_decode(&seg, true) {
            Some(next) if next != seg => seg = next,
            _ => return Ok(()),
        }
    }
    Err("is encoded too many times")
}

/// `.` or `..`, also with a `;param` suffix that some servers strip (`..;`), or trailing spaces,
/// which the URL parser strips off the end of a URL (`"/.. "` would reach `/v1/..`).
fn is_dot_segment(seg: &[u8]) -> bool {
    let name = seg.split(|&b| b == b';').next().unwrap_or(seg);
    let name = name.trim_ascii_end();
    name == b"." || name == b".."
}

/// Decodes `%XX` escapes. A `%` not followed by two hex digits gives `None`, or when `lenient`
/// stays as it is.
fn percent_decode(s: &[u8], lenient: bool) -> Option<Vec<u8>> {
    let hex = |i: usize| s.get(i).and_then(|&c| char::from(c).to_digit(16));
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b == b'%' {
            match (hex(i + 1), hex(i + 2)) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                    continue;
                }
                _ if !lenient => return None,
                _ => {}
            }
        }
        out.push(b);
        i += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://api.example.com/v1";

    #[test]
    fn joins_ordinary_paths_under_the_prefix() {
        for (path, url) in [
            ("/", "https://api.example.com/v1/"),
            ("/users", "https://api.example.com/v1/users"),
            (
                "/users/42/orders?since=2024-01-01&x=a/../b",
                "https://api.example.com/v1/users/42/orders?since=2024-01-01&x=a/../b",
            ),
            (
                "/search?q=a%20b#frag",
                "https://api.example.com/v1/search?q=a%20b#frag",
            ),
            ("/@me", "https://api.example.com/v1/@me"),
            (
                "/files/report.v2.pdf",
                "https://api.example.com/v1/files/report.v2.pdf",
            ),
            ("/a/...", "https://api.example.com/v1/a/..."),
            ("/a/.well-known", "https://api.example.com/v1/a/.well-known"),
            ("/naïve/ünïcode", "https://api.example.com/v1/naïve/ünïcode"),
            ("/a%20b/%41", "https://api.example.com/v1/a%20b/%41"),
            ("/q?path=..\\..", "https://api.example.com/v1/q?path=..\\.."),
            ("/a//b", "https://api.example.com/v1/a//b"),
        ] {
            assert_eq!(join(BASE, path).as_deref(), Ok(url), "{path}");
        }
        assert_eq!(
            join("https://api.example.com", "/x").as_deref(),
            Ok("https://api.example.com/x")
        );
    }

    /// Paths that could reach another origin, or climb out of the `/v1` prefix, once joined or once a
    /// server decodes them.
    const HOSTILE: &[&str] = &[
        "",
        "users",
        "//evil.com",
        "//evil.com/x",
        "/\\evil.com",
        "\\\\evil.com",
        "/\\/evil.com",
        "@evil.com",
        ":@evil.com",
        "https://evil.com/",
        "http:evil.com",
        "javascript:alert(1)",
        "data:text/html,x",
        "evil.com/x",
        "?x=1",
        "#x",
        "/..",
        "/../admin",
        "/a/../../admin",
        "/./x",
        "/a/.",
        "/%2e%2e/admin",
        "/%2E%2E/admin",
        "/.%2e/admin",
        "/%2e./admin",
        "/%252e%252e/admin",
        "/%25252e%25252e/admin",
        "/..;/admin",
        "/%2e%2e;jsessionid=1/admin",
        "/a/..%2fadmin",
        "/%2f%2fevil.com",
        "/%2F/evil.com",
        "/a%5c..%5cadmin",
        "/a\\..\\admin",
        "/a%00b",
        "/a%0d%0aHost:%20evil.com",
        "/a\tb",
        "/\t/evil.com",
        "/\n/evil.com",
        "/a\rb",
        "/a\u{0}b",
        "/a\u{7f}",
        "/a\u{85}b",
        "/%",
        "/%zz",
        "/a%2",
        "/%%32%65%%32%65/admin",
        "/%u002e%u002e",
        "/%25%32%65%25%32%65/x",
    ];

    #[test]
    fn refuses_hostile_paths() {
        assert!(HOSTILE.len() >= 30);
        for path in HOSTILE {
            assert!(join(BASE, path).is_err(), "accepted {path:?}");
        }
    }

    #[test]
    fn paths_over_8_kib_are_refused() {
        let longest = format!("/me?q={}", "a".repeat(8192 - 6));
        assert!(join(BASE, &longest).is_ok());
        let over = format!("{longest}a");
        assert_eq!(join(BASE, &over), Err("must be at most 8 KiB"));
    }

    #[test]
    fn refusals_explain_themselves() {
        assert_eq!(check("x"), Err("must start with a single \"/\""));
        assert_eq!(
            check("/%2e%2e"),
            Err("must not contain \".\" or \"..\" segments, even encoded")
        );
        assert_eq!(
            check("/%2f"),
            Err("must not contain encoded \"/\", \"\\\" or control characters")
        );
        assert_eq!(check("/%g0"), Err("has a malformed percent escape"));
        assert_eq!(check("/%2525252525252e"), Err("is encoded too many times"));
    }

    /// Issue 8, found by the property tests: the URL parser strips trailing spaces off the whole
    /// URL, so a last segment `.. ` (or `%2e%2E `) became `..` and climbed out of the prefix:
    /// `https://api.example.com/v1/.. ` parses as `https://api.example.com/`.
    #[test]
    fn refuses_dot_segments_with_trailing_spaces() {
        for path in [
            "/.. ",
            "/%2e%2E ",
            "/a/../.. ",
            "/. ",
            "/..  ",
            "/.%20",
            "/..;x ",
        ] {
            assert!(join(BASE, path).is_err(), "accepted {path:?}");
        }
        assert!(join(BASE, "/a ").is_ok());
    }

    /// Issue 8, found by the property tests: a decoding round that met a stray `%` ended the check,
    /// so `%25` anywhere in a segment hid what a second (lenient) decoding shows a server:
    /// `/..%252fadmin%25` is `/v1/../admin%` to it, and `/%25%250d` is a raw CR.
    #[test]
    fn a_stray_percent_does_not_hide_what_decoding_again_shows() {
        for path in [
            "/..%252fadmin%25",
            "/a%252f..%252f..%252fadmin%25zz",
            "/%252e%252e;%25/admin",
            "/%25%250d%250aHost:%20evil.com",
        ] {
            assert!(join(BASE, path).is_err(), "accepted {path:?}");
        }
        for path in [
            "/100%25",
            "/100%25%25",
            "/%25zz",
            "/a%25.b",
            "/%25%252e%252e",
        ] {
            assert!(join(BASE, path).is_ok(), "refused {path:?}");
        }
    }
}
