//! HS256 JSON Web Tokens for the mock, by hand on `hmac` + `sha2`: the mock only needs one
//! algorithm, and a JWT library would bring RSA/EC backends into the build.
//!
//! Verification pins the algorithm to HS256 before looking at the signature, so `alg: none` and
//! algorithm-confusion tokens are rejected.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine as _};
use hmac::{digest::KeyInit, Hmac, Mac};
use rand::RngCore;
use serde_json::{Map, Value};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The encoded header of every token this signer makes.
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Signs and verifies with one secret; the mock makes a random one per process, so restarting it
/// invalidates every token (as a real provider rotating keys would).
pub struct Signer {
    key: hmac::digest::Key<HmacSha256>,
}

impl Signer {
    /// A signer with a fresh random 64-byte secret.
    pub fn random() -> Self {
        let mut key = hmac::digest::Key::<HmacSha256>::default();
        rand::thread_rng().fill_bytes(&mut key);
        Signer { key }
    }

    /// The MAC over `header.payload`, the signing input of a JWT.
    fn mac(&self, header: &str, payload: &str) -> HmacSha256 {
        let mut mac = <HmacSha256 as KeyInit>::new(&self.key);
        mac.update(header.as_bytes());
        mac.update(b".");
        mac.update(payload.as_bytes());
        mac
    }

    /// `header.payload.signature` for these claims.
    pub fn sign(&self, claims: &Value) -> String {
        let header = B64.encode(HEADER);
        let payload = B64.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signature = B64.encode(self.mac(&header, &payload).finalize().into_bytes());
        format!("{header}.{payload}.{signature}")
    }

    /// The claims of a well-formed HS256 token signed by this signer; `None` for anything else
    /// (the caller answers `invalid_token` without saying which check failed).
    pub fn verify(&self, token: &str) -> Option<Map<String, Value>> {
        let mut parts = token.split('.');
        let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header_json: Value = serde_json::from_slice(&B64.decode(header).ok()?).ok()?;
        if header_json.get("alg")?.as_str()? != "HS256" {
            return None;
        }
        let signature = B64.decode(signature).ok()?;
        // Constant-time comparison.
        self.mac(header, payload).verify_slice(&signature).ok()?;
        match serde_json::from_slice(&B64.decode(payload).ok()?).ok()? {
            Value::Object(claims) => Some(claims),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_and_rejections() {
        let signer = Signer::random();
        let token = signer.sign(&json!({"sub": "alice"}));
        let claims = signer.verify(&token).expect("own token verifies");
        assert_eq!(claims["sub"], "alice");

        assert!(Signer::random().verify(&token).is_none(), "other key");
        let (head_payload, _) = token.rsplit_once('.').expect("three parts");
        assert!(
            signer.verify(&format!("{head_payload}.")).is_none(),
            "no signature"
        );
        let none_header = B64.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let payload = head_payload.split('.').nth(1).expect("payload");
        assert!(
            signer
                .verify(&format!("{none_header}.{payload}."))
                .is_none(),
            "alg none"
        );
        assert!(signer.verify("garbage").is_none());
        assert!(signer.verify(&format!("{token}.x")).is_none(), "four parts");
    }
}
