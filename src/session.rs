//! The session: what it holds, when it expires, when it needs a refresh.
//!
//! Plain Rust, tested natively. Storage and JS conversions live in `storage` and `api`.

use core::fmt;

use crate::jwt;

/// A token. It never prints: `Debug` shows its length only, so a `{:?}` of any struct holding one is
/// safe to log.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Accepts a token that can go into an HTTP header as it is: non-empty visible ASCII (JWTs,
    /// opaque tokens). Anything else is a malformed answer, refused before it reaches a header.
    pub fn new(token: String) -> Option<Self> {
        let ok = !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic());
        ok.then_some(Self(token))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

/// What the page may see and what is persisted: never the refresh token or the id token.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    pub access: Secret,
    /// Local clock, ms since the epoch.
    pub expires_at: f64,
    pub partner: String,
}

/// The access token's lifetime when neither its JWT nor `ExpiresIn` says: the API's one hour.
pub const DEFAULT_LIFETIME_SECS: f64 = 3600.0;

/// When tokens that arrived at `now` (ms) expire, on our own clock: the JWT's `exp - iat` when it
/// decodes, else `ExpiresIn`, else an hour. Using the lifetime rather than `exp` itself keeps a client
/// whose clock is off by minutes from refreshing on every call, or too late.
pub fn expires_at(now: f64, access: &Secret, expires_in: Option<f64>) -> f64 {
    let from_header =
        expires_in.filter(|s| s.is_finite() && *s > 0.0 && *s <= jwt::MAX_LIFETIME_SECS);
    let secs = jwt::lifetime_secs(access.expose())
        .or(from_header)
        .unwrap_or(DEFAULT_LIFETIME_SECS);
    now + secs * 1000.0
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

/// A partner id goes into a header: it must be non-empty and free of control characters.
pub fn valid_partner(id: &str) -> bool {
    !id.is_empty() && !id.chars().any(char::is_control) && id.trim() == id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> Secret {
        Secret::new(s.to_owned()).unwrap()
    }

    // header {"alg":"none"}, payload {"iat":1000,"exp":1120}
    const JWT_120S: &str = "eyJhbGciOiJub25lIn0.eyJpYXQiOjEwMDAsImV4cCI6MTEyMH0.x";

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
        let s = Session {
            access: secret("eyJ.secret-token.zz"),
            expires_at: 1.0,
            partner: "p".into(),
        };
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
        for bad in ["", " p", "p\r\nX-Evil: 1", "p\u{0}"] {
            assert!(!valid_partner(bad), "{bad:?}");
        }
    }
}
