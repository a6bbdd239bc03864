//! Webhook signing: `X-Webhook-Signature` is the hex HMAC-SHA256 of the exact request body bytes,
//! keyed with the account's webhook signing secret.
//!
//! The simulator signs with [`sign`]; the webhook receiver checks with [`verify_signature`] before
//! it trusts a single byte of the body.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::secret::Secret;

/// The header Bland puts the signature in.
pub const SIGNATURE_HEADER: &str = "X-Webhook-Signature";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &Secret) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    HmacSha256::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes keys of any length")
}

/// Lowercase hex HMAC-SHA256 of `body`.
pub fn sign(secret: &Secret, body: &[u8]) -> String {
    let mut mac = mac(secret);
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `header` is the signature of `body`. Compared in constant time; accepts upper- or
/// lowercase hex, surrounding whitespace and a `sha256=` prefix. Anything malformed is `false`.
pub fn verify_signature(secret: &Secret, body: &[u8], header: &str) -> bool {
    let header = header.trim();
    let header = header.strip_prefix("sha256=").unwrap_or(header);
    let Ok(expected) = hex::decode(header) else {
        return false;
    };
    let mut mac = mac(secret);
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_rfc_4231_test_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let sig = sign(&Secret::new("Jefe"), b"what do ya want for nothing?");
        assert_eq!(sig, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn a_signature_verifies_only_for_the_same_secret_and_the_same_bytes() {
        let secret = Secret::new("whsec_test");
        let body = br#"{"call_id":"abc","completed":true}"#;
        let sig = sign(&secret, body);
        assert!(verify_signature(&secret, body, &sig));
        assert!(verify_signature(&secret, body, &sig.to_uppercase()));
        assert!(verify_signature(&secret, body, &format!(" sha256={sig}\n")));
        assert!(!verify_signature(&Secret::new("other"), body, &sig));
        assert!(!verify_signature(&secret, br#"{"call_id":"abc","completed":false}"#, &sig));
        assert!(!verify_signature(&secret, body, "not hex"));
        assert!(!verify_signature(&secret, body, &sig[..32]));
        assert!(!verify_signature(&secret, body, ""));
    }
}
