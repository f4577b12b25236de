//! Reads the lifetime (`exp - iat`) and the subject (`sub`) out of a JWT access token, without a
//! JSON library.
//!
//! The token is never verified here: the API does that. We only want to know how long the token was
//! issued for, so that expiry is measured on our own clock (see `session::Session::arrived`), and
//! whose it is, so that tabs can tell one user's session from another's.
use crate::prelude::*;

/// The longest lifetime we believe. A bigger `exp - iat` is treated as undecodable.
pub const MAX_LIFETIME_SECS: f64 = 366.0 * 24.0 * 3600.0;

/// Nesting deeper than this in a payload is treated as garbage rather than walked.
const MAX_DEPTH: u32 = 32;

/// What a token says of itself. Both `None` for a token that is not a well-formed JWT.
#[derive(Debug, Default, PartialEq)]
pub struct Claims {
    /// `exp - iat` in seconds, when both are numbers and the difference is positive and sane.
    pub lifetime_secs: Option<f64>,
    /// The `sub` claim, when it is a string.
    pub sub: Option<String>,
}

/// The claims of a JWT: three dot-separated parts whose middle one is base64url JSON.
pub fn claims(token: &str) -> Claims {
    payload_claims(token).unwrap_or_default()
}

fn payload_claims(token: &str) -> Option<Claims> {
    let mut parts = token.split('.');
    let (_header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64url_decode(payload)?;
    let text = core::str::from_utf8(&bytes).ok()?;
    let (iat, exp, sub) = fields(text)?;
    let life = exp.zip(iat).map(|(exp, iat)| exp - iat);
    Some(Claims {
        lifetime_secs: life.filter(|l| l.is_finite() && *l > 0.0 && *l <= MAX_LIFETIME_SECS),
        sub,
    })
}

/// `exp - iat` of a JWT in seconds, or `None` (see [`Claims::lifetime_secs`]).
#[cfg(test)]
pub fn lifetime_secs(token: &str) -> Option<f64> {
    claims(token).lifetime_secs
}

/// Decodes unpadded or padded base64url. `None` on any character outside the alphabet.
pub fn base64url_decode(input: &str) -> Option<Vec<u8>> {
    let input = input.trim_end_matches('=');
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in input.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // One leftover sextet cannot come from whole bytes.
    (bits < 6).then_some(out)
}

/// The top-level `iat` and `exp` numbers and `sub` string of a JSON object. `None` unless the text
/// is one well-formed JSON object; a claim of another type is garbage too.
fn fields(text: &str) -> Option<(Option<f64>, Option<f64>, Option<String>)> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let (mut iat, mut exp, mut sub) = (None, None, None);
    p.ws();
    p.eat(b'{')?;
    p.ws();
    if p.peek() == Some(b'}') {
        p.i += 1;
    } else {
        loop {
            p.ws();
            let key = p.string()?;
            p.ws();
            p.eat(b':')?;
            p.ws();
            match key.as_str() {
                "iat" => iat = Some(p.number()?),
                "exp" => exp = Some(p.number()?),
                "sub" => sub = Some(p.string()?),
                _ => p.value(0)?,
            }
            p.ws();
            match p.next()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
    }
    p.ws();
    if p.i != p.s.len() {
        return None;
    }
    Some((iat, exp, sub))
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }
    fn eat(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }
    fn lit(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i.checked_add(word.len())?;
        (self.s.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// A JSON string, escapes decoded (lone surrogates become U+FFFD).
    fn string(&mut self) -> Option<String> {
        self.eat(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.next()? {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    let c = match self.next()? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => char::from_u32(self.hex4()?).unwrap_or('\u{fffd}'),
                        _ => return None,
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                c if c < 0x20 => return None,
                c => out.push(c),
            }
        }
    }
    fn hex4(&mut self) -> Option<u32> {
        let mut v = 0;
        for _ in 0..4 {
            v = v * 16 + char::from(self.next()?).to_digit(16)?;
        }
        Some(v)
    }

    /// A JSON number, following the grammar strictly (no `+1`, `01`, `.5`, `1.`). Computed by hand
    /// rather than with `str::parse`, whose exact float parsing costs ~15 KB of wasm: integers up to
    /// 2^53 (every real `iat`/`exp`) are exact, and a lifetime needs no more.
    fn number(&mut self) -> Option<f64> {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.i += 1;
        }
        let mut mantissa = 0.0f64;
        let mut exp10: i32 = 0;
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => mantissa = self.digits(mantissa, &mut 0),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            self.peek().filter(u8::is_ascii_digit)?;
            let mut shift = 0;
            mantissa = self.digits(mantissa, &mut shift);
            exp10 = exp10.saturating_sub(shift);
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            let sign = match self.peek() {
                Some(b'-') => -1,
                Some(b'+') => 1,
                _ => 0,
            };
            if sign != 0 {
                self.i += 1;
            }
            self.peek().filter(u8::is_ascii_digit)?;
            let mut e: i32 = 0;
            while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
                e = (e * 10 + i32::from(d - b'0')).min(10_000);
                self.i += 1;
            }
            exp10 = exp10.saturating_add(if sign < 0 { -e } else { e });
        }
        // Out of range is still valid JSON: it may come out infinite (or 0), and callers that use
        // a number check it is finite. 0 × 10^999 is 0, not NaN.
        let value = if mantissa == 0.0 {
            0.0
        } else {
            mantissa * pow10(exp10)
        };
        Some(if negative { -value } else { value })
    }
    /// Appends a run of digits to `acc`, counting them in `count`.
    fn digits(&mut self, mut acc: f64, count: &mut i32) -> f64 {
        while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
            acc = acc * 10.0 + f64::from(d - b'0');
            *count = count.saturating_add(1);
            self.i += 1;
        }
        acc
    }
    /// Skips any JSON value.
    fn value(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' => self.container(b'}', depth, true),
            b'[' => self.container(b']', depth, false),
            b't' => self.lit(b"true"),
            b'f' => self.lit(b"false"),
            b'n' => self.lit(b"null"),
            _ => self.number().map(|_| ()),
        }
    }
    fn container(&mut self, close: u8, depth: u32, keyed: bool) -> Option<()> {
        self.i += 1;
        self.ws();
        if self.peek() == Some(close) {
            self.i += 1;
            return Some(());
        }
        loop {
            self.ws();
            if keyed {
                self.string()?;
                self.ws();
                self.eat(b':')?;
                self.ws();
            }
            self.value(depth + 1)?;
            self.ws();
            match self.next()? {
                b',' => {}
                c if c == close => return Some(()),
                _ => return None,
            }
        }
    }
}

/// 10^`exp`, as `f64::powi` computes it (compiler-rt's `__powidf2`: square and multiply, then one
/// division for a negative exponent), written out because `powi` is not in `core`.
fn pow10(exp: i32) -> f64 {
    let mut base = 10f64;
    let mut left = exp;
    let mut r = 1f64;
    loop {
        if left & 1 != 0 {
            r *= base;
        }
        left /= 2;
        if left == 0 {
            break;
        }
        base *= base;
    }
    if exp < 0 {
        1.0 / r
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let b = s.as_bytes();
        let mut out = String::new();
        for chunk in b.chunks(3) {
            let n = chunk.iter().fold(0u32, |acc, &x| (acc << 8) | u32::from(x))
                << (8 * (3 - chunk.len()));
            for k in 0..=chunk.len() {
                out.push(A[((n >> (18 - 6 * k)) & 63) as usize] as char);
            }
        }
        out
    }
    fn jwt(payload: &str) -> String {
        format!("{}.{}.sig", b64(r#"{"alg":"RS256"}"#), b64(payload))
    }

    #[test]
    fn reads_exp_minus_iat() {
        assert_eq!(
            lifetime_secs(&jwt(r#"{"sub":"a","iat":1700000000,"exp":1700003600}"#)),
            Some(3600.0)
        );
        // Order, whitespace, nesting and escaped keys do not matter.
        let t = jwt(
            r#" { "exp" : 1700000120 , "x": {"iat": 5, "a": [1, {"b": null}]}, "\u0069at": 1700000000 } "#,
        );
        assert_eq!(lifetime_secs(&t), Some(120.0));
        // Padded base64 is accepted too.
        let padded = format!("h.{}==.s", b64(r#"{"iat":0,"exp":60}"#));
        assert_eq!(lifetime_secs(&padded), Some(60.0));
    }

    #[test]
    fn reads_the_subject() {
        let c = claims(&jwt(r#"{"sub":"al\u0069ce","iat":1,"exp":61}"#));
        assert_eq!(c.sub.as_deref(), Some("alice"));
        assert_eq!(c.lifetime_secs, Some(60.0));
        // A subject without a lifetime, and a lifetime without a subject.
        assert_eq!(claims(&jwt(r#"{"sub":"bob"}"#)).sub.as_deref(), Some("bob"));
        assert_eq!(claims(&jwt(r#"{"iat":1,"exp":2}"#)).sub, None);
        // A `sub` that is not a string makes the payload garbage, as a bad `iat` does.
        assert_eq!(
            claims(&jwt(r#"{"sub":7,"iat":1,"exp":2}"#)),
            Claims::default()
        );
        assert_eq!(claims("opaque-token"), Claims::default());
    }

    #[test]
    fn rejects_garbage_and_missing_claims() {
        let cases = [
            String::new(),
            "not-a-jwt".into(),
            "a.b".into(),
            "a.b.c.d".into(),
            "a.!!!.c".into(),
            jwt("not json"),
            jwt(r#"{"iat":1}"#),
            jwt(r#"{"exp":1}"#),
            jwt(r#"{"iat":"1","exp":"3601"}"#),
            jwt(r#"{"iat":1,"exp":3601"#),
            jwt(r#"{"iat":1,"exp":3601} trailing"#),
            jwt(r#"[1,2]"#),
            jwt(r#"{"iat":01,"exp":3601}"#),
            jwt(r#"{"iat":+1,"exp":3601}"#),
            jwt(r#"{"iat":1,"exp":3601,}"#),
            jwt(r#"{"iat":1,"exp":NaN}"#),
            jwt(&format!(
                "{{\"iat\":1,\"exp\":2,\"deep\":{}{}}}",
                "[".repeat(100),
                "]".repeat(100)
            )),
        ];
        for t in &cases {
            assert_eq!(lifetime_secs(t), None, "{t:?}");
        }
    }

    #[test]
    fn rejects_non_positive_and_huge_lifetimes() {
        for p in [
            r#"{"iat":100,"exp":100}"#,
            r#"{"iat":100,"exp":50}"#,
            r#"{"iat":0,"exp":1e300}"#,
            r#"{"iat":-1e308,"exp":1e308}"#,
            r#"{"iat":0,"exp":1e999}"#,
            r#"{"iat":0,"exp":31622401}"#,
        ] {
            assert_eq!(lifetime_secs(&jwt(p)), None, "{p}");
        }
        assert_eq!(
            lifetime_secs(&jwt(r#"{"iat":0,"exp":31622400}"#)),
            Some(MAX_LIFETIME_SECS)
        );
        assert_eq!(
            lifetime_secs(&jwt(r#"{"iat":1.5,"exp":2.5e1}"#)),
            Some(23.5)
        );
    }

    #[test]
    fn an_out_of_range_number_elsewhere_loses_nothing() {
        // Valid JSON whose value overflows f64 (found by the proptests): the other claims still count.
        for big in ["1e400", "-1e400", "0e999", "1e-400"] {
            let p = format!(r#"{{"iat":0,"exp":3600,"big":{big},"sub":"alice"}}"#);
            let c = claims(&jwt(&p));
            assert_eq!(c.lifetime_secs, Some(3600.0), "{p}");
            assert_eq!(c.sub.as_deref(), Some("alice"), "{p}");
        }
    }

    #[test]
    fn base64url_rejects_impossible_lengths() {
        assert_eq!(base64url_decode("QQ"), Some(b"A".to_vec()));
        assert_eq!(base64url_decode("Q"), None);
        assert_eq!(base64url_decode("a+b/"), None);
    }
}
