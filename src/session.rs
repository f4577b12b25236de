//! The session: what it holds, when it expires, when it needs a refresh.
//!
//! Plain Rust, tested natively. Storage and JS conversions live in `storage` and `api`.
use crate::prelude::*;

use core::fmt;

use crate::jwt;

/// A token. It never prints: `Debug` shows its length only, so a `{:?}` of any struct holding one is
/// safe to log. Its bytes are overwritten when it is dropped (sign-out, refresh, replacement), so
/// no token is left at rest in freed wasm memory.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// The longest token accepted, in characters. Cognito's are about 1–2 KB; anything much longer is
/// a malformed answer, refused before it is copied into wasm memory.
pub const MAX_TOKEN_LEN: u32 = 16 * 1024;
/// The longest partner id accepted, in characters.
pub const MAX_PARTNER_LEN: u32 = 256;

impl Secret {
    /// Accepts a token that can go into an HTTP header as it is: non-empty visible ASCII (JWTs,
    /// opaque tokens). Anything else is a malformed answer, refused before it reaches a header.
    pub fn new(token: String) -> Option<Self> {
        let ok = header_safe(&token);
        // Wrapped before the check's answer is used, so that a refused token is wiped too.
        let secret = Self(token);
        ok.then_some(secret)
    }
    /// A token from JS: a string no longer than `MAX_TOKEN_LEN`, checked before it is copied.
    pub fn from_js(v: &wasm_bindgen::JsValue) -> Option<Self> {
        crate::js::string(v, MAX_TOKEN_LEN).and_then(Self::new)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// `"Bearer " + token`, itself a secret (wiped when the request has been built).
    pub fn bearer(&self) -> Secret {
        let mut s = String::with_capacity(7 + self.0.len());
        s.push_str("Bearer ");
        s.push_str(&self.0);
        Secret(s)
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

/// A session: what the page may see and what is persisted (never the refresh token or the id
/// token), plus what the access token says of itself.
#[derive(Clone, Debug)]
pub struct Session {
    pub access: Secret,
    /// Local clock, ms since the epoch.
    pub expires_at: f64,
    pub partner: String,
    /// The JWT's `sub`: whose session this is, to tell users apart across tabs.
    pub sub: Option<String>,
    /// The token's whole lifetime in ms, when known: from the JWT, from `ExpiresIn` or the one-hour
    /// default for tokens that arrived in this page. `None` for an opaque token read back from
    /// storage.
    pub lifetime_ms: Option<f64>,
}

/// Two sessions are the same when what is persisted is: the rest is derived from the token.
impl PartialEq for Session {
    fn eq(&self, other: &Self) -> bool {
        self.access == other.access
            && self.expires_at == other.expires_at
            && self.partner == other.partner
    }
}

/// The access token's lifetime when neither its JWT nor `ExpiresIn` says: the API's one hour.
pub const DEFAULT_LIFETIME_SECS: f64 = 3600.0;

impl Session {
    /// Tokens that arrived at `now` (ms). They expire, on our own clock, after the JWT's `exp - iat`
    /// when it decodes, else `ExpiresIn`, else an hour. Using the lifetime rather than `exp` itself
    /// keeps a client whose clock is off by minutes from refreshing on every call, or too late.
    pub fn arrived(access: Secret, partner: String, now: f64, expires_in: Option<f64>) -> Self {
        let claims = jwt::claims(access.expose());
        let from_header =
            expires_in.filter(|s| s.is_finite() && *s > 0.0 && *s <= jwt::MAX_LIFETIME_SECS);
        let secs = claims
            .lifetime_secs
            .or(from_header)
            .unwrap_or(DEFAULT_LIFETIME_SECS);
        Session {
            access,
            expires_at: now + secs * 1000.0,
            partner,
            sub: claims.sub,
            lifetime_ms: Some(secs * 1000.0),
        }
    }

    /// A session whose expiry is already known (read from storage, or given to `setSession`).
    pub fn known(access: Secret, partner: String, expires_at: f64) -> Self {
        let claims = jwt::claims(access.expose());
        Session {
            access,
            expires_at,
            partner,
            sub: claims.sub,
            lifetime_ms: claims.lifetime_secs.map(|s| s * 1000.0),
        }
    }

    /// Whether `other` is a session of the same user (JWT `sub`) and partner. Tokens that do not
    /// say whose they are count as the same user only when they are the same token.
    pub fn same_user(&self, other: &Session) -> bool {
        self.partner == other.partner
            && match (&self.sub, &other.sub) {
                (Some(a), Some(b)) => a == b,
                _ => self.access == other.access,
            }
    }

    /// Where this session stands at `now`. A token whose whole lifetime is not longer than the
    /// threshold would be under it from the start: it is refreshed once half its life has passed.
    pub fn freshness(&self, now: f64, threshold_ms: f64) -> Freshness {
        let threshold = match self.lifetime_ms {
            Some(life) if life <= threshold_ms => life / 2.0,
            _ => threshold_ms,
        };
        freshness(self.expires_at, now, threshold)
    }
}

/// Where a session stands at `now`, for a given refresh threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// More than the threshold remains.
    Fresh,
    /// Still valid, but under the threshold: refresh first.
    Stale,
    /// Past its expiry.
    Expired,
}

pub fn freshness(expires_at: f64, now: f64, threshold_ms: f64) -> Freshness {
    let left = expires_at - now;
    // NaN (a corrupt expiry) counts as expired.
    if left.is_nan() || left <= 0.0 {
        Freshness::Expired
    } else if left < threshold_ms {
        Freshness::Stale
    } else {
        Freshness::Fresh
    }
}

/// Whether `s` can go into an HTTP header as it is: non-empty visible ASCII (no space, no control
/// character, nothing above U+007E, which `Headers` would refuse or mangle).
fn header_safe(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic())
}

/// A partner id goes into a header as it is: header-safe, and at most `MAX_PARTNER_LEN` long.
pub fn valid_partner(id: &str) -> bool {
    id.len() <= MAX_PARTNER_LEN as usize && header_safe(id)
}

/// A partner id from JS: a string of visible ASCII, its length checked before it is copied.
pub fn partner_from_js(v: &wasm_bindgen::JsValue) -> Option<String> {
    crate::js::string(v, MAX_PARTNER_LEN).filter(|p| valid_partner(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> Secret {
        Secret::new(s.to_owned()).unwrap()
    }

    // header {"alg":"none"}, payload {"iat":1000,"exp":1120}
    const JWT_120S: &str = "eyJhbGciOiJub25lIn0.eyJpYXQiOjEwMDAsImV4cCI6MTEyMH0.x";

    fn expires_at(now: f64, access: &Secret, expires_in: Option<f64>) -> f64 {
        Session::arrived(access.clone(), "p".into(), now, expires_in).expires_at
    }

    #[test]
    fn expiry_prefers_jwt_lifetime_then_expires_in_then_an_hour() {
        let now = 1_700_000_000_000.0;
        // The JWT says 120 s; its absolute exp (1120 s after 1970) is ignored: our clock counts.
        assert_eq!(
            expires_at(now, &secret(JWT_120S), Some(3600.0)),
            now + 120_000.0
        );
        assert_eq!(
            expires_at(now, &secret("opaque"), Some(900.0)),
            now + 900_000.0
        );
        assert_eq!(expires_at(now, &secret("opaque"), None), now + 3_600_000.0);
        for bad in [0.0, -5.0, f64::NAN, f64::INFINITY, 1e12] {
            assert_eq!(
                expires_at(now, &secret("opaque"), Some(bad)),
                now + 3_600_000.0,
                "{bad}"
            );
        }
    }

    #[test]
    fn short_lived_tokens_refresh_at_half_life() {
        let t0 = 1_700_000_000_000.0;
        // 120 s tokens under a 5-minute threshold: fresh for the first 60 s, not stale at once.
        let s = Session::arrived(secret(JWT_120S), "p".into(), t0, None);
        assert_eq!(s.freshness(t0, 300_000.0), Freshness::Fresh);
        assert_eq!(s.freshness(t0 + 59_000.0, 300_000.0), Freshness::Fresh);
        assert_eq!(s.freshness(t0 + 61_000.0, 300_000.0), Freshness::Stale);
        assert_eq!(s.freshness(t0 + 120_000.0, 300_000.0), Freshness::Expired);
        // A threshold shorter than the lifetime applies as it is.
        assert_eq!(s.freshness(t0 + 61_000.0, 30_000.0), Freshness::Fresh);
        assert_eq!(s.freshness(t0 + 91_000.0, 30_000.0), Freshness::Stale);
        // The lifetime equal to the threshold counts as short too.
        assert_eq!(s.freshness(t0 + 30_000.0, 120_000.0), Freshness::Fresh);
        // An opaque token read back from storage has no known lifetime: the threshold as it is.
        let restored = Session::known(secret("opaque"), "p".into(), t0 + 120_000.0);
        assert_eq!(restored.lifetime_ms, None);
        assert_eq!(restored.freshness(t0, 300_000.0), Freshness::Stale);
    }

    #[test]
    fn sessions_of_one_user_and_partner_are_the_same_user() {
        // {"sub":"alice","iat":1,"exp":61} and {"sub":"bob",…}
        let alice = "h.eyJzdWIiOiJhbGljZSIsImlhdCI6MSwiZXhwIjo2MX0.s";
        let alice2 = "h.eyJzdWIiOiJhbGljZSIsImlhdCI6MiwiZXhwIjo2Mn0.s";
        let bob = "h.eyJzdWIiOiJib2IiLCJpYXQiOjEsImV4cCI6NjF9.s";
        let at = |t: &str, p: &str| Session::known(secret(t), p.into(), 1.0);
        assert_eq!(at(alice, "p").sub.as_deref(), Some("alice"));
        assert!(at(alice, "p").same_user(&at(alice2, "p")));
        assert!(
            !at(alice, "p").same_user(&at(alice2, "q")),
            "another partner"
        );
        assert!(!at(alice, "p").same_user(&at(bob, "p")), "another user");
        // Opaque tokens: only the very same token is known to be the same user.
        assert!(at("opaque-1", "p").same_user(&at("opaque-1", "p")));
        assert!(!at("opaque-1", "p").same_user(&at("opaque-2", "p")));
        assert!(!at("opaque-1", "p").same_user(&at(alice, "p")));
    }

    #[test]
    fn freshness_follows_the_threshold() {
        let t = 300_000.0;
        assert_eq!(freshness(1_000_000.0, 0.0, t), Freshness::Fresh);
        assert_eq!(freshness(300_000.0, 0.0, t), Freshness::Fresh);
        assert_eq!(freshness(299_999.0, 0.0, t), Freshness::Stale);
        assert_eq!(freshness(1.0, 0.0, t), Freshness::Stale);
        assert_eq!(freshness(0.0, 0.0, t), Freshness::Expired);
        assert_eq!(freshness(-1.0, 0.0, t), Freshness::Expired);
        assert_eq!(freshness(f64::NAN, 0.0, t), Freshness::Expired);
        // A zero threshold never refreshes early.
        assert_eq!(freshness(1.0, 0.0, 0.0), Freshness::Fresh);
    }

    #[test]
    fn secrets_never_print() {
        let s = Session::known(secret("eyJ.secret-token.zz"), "p".into(), 1.0);
        let shown = format!("{s:?}");
        assert!(!shown.contains("secret-token"), "{shown}");
        assert!(shown.contains("19 bytes redacted"), "{shown}");
    }

    #[test]
    fn tokens_must_fit_a_header() {
        assert!(Secret::new("abc.DEF-_~+/=".into()).is_some());
        for bad in ["", "a b", "a\nb", "tøken", "a\u{0}"] {
            assert!(Secret::new(bad.into()).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn partner_ids_must_fit_a_header() {
        assert!(valid_partner("partner-42"));
        let long = "p".repeat(MAX_PARTNER_LEN as usize + 1);
        for bad in [
            "",
            " p",
            "p\r\nX-Evil: 1",
            "p\u{0}",
            "p 1",
            "ü",
            "Ā",
            "p\u{7f}",
            &long,
        ] {
            assert!(!valid_partner(bad), "{bad:?}");
        }
    }
}
