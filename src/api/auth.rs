//! Who may use the control API: a client presenting `Authorization: Bearer <token>`, where the
//! token is `SWITCHBOARD_API_TOKEN` or the content of `[http] api_token_file`.
//!
//! The token is never on the command line, never logged and never compared byte by byte: the
//! check is the same constant-time HMAC comparison the webhook receiver makes
//! ([`verify_signature`]), of a fixed message keyed once with the configured token (when the
//! daemon starts) and once with the presented one. A request is known afterwards by the token's
//! fingerprint (the first hex digits of that HMAC), which is what the audit of campaign changes
//! records — never the token.
//!
//! Without a token the API is open, which is allowed only while the daemon listens on a loopback
//! address: [`ApiAuth::new`] refuses anything else, and `serve` exits 2 naming the key.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::bland::{sign, verify_signature};
use crate::campaigns::Actor;
use crate::secret::Secret;

/// The environment variable the token may come from.
pub const TOKEN_VAR: &str = "SWITCHBOARD_API_TOKEN";

/// What both sides key the HMAC over. HMAC pads a short key with zeros, so two tokens that
/// differ only by trailing NUL bytes would compare equal; a header value cannot hold a NUL.
const CONTEXT: &[u8] = b"switchboard control API bearer token";

/// How the API checks its clients.
#[derive(Clone)]
pub enum ApiAuth {
    /// No token configured, on a loopback address: every local client is let in.
    Open,
    Token {
        /// The hex HMAC of [`CONTEXT`] keyed with the configured token.
        expected: String,
    },
}

impl std::fmt::Debug for ApiAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiAuth::Open => f.write_str("Open"),
            ApiAuth::Token { .. } => f.write_str("Token([redacted])"),
        }
    }
}

impl ApiAuth {
    /// The check for a daemon listening on `listen` with `token`; `Err` says why it must not
    /// start (an API open to whoever can reach a non-loopback address).
    pub fn new(token: Option<&Secret>, listen: SocketAddr) -> Result<Self, String> {
        match token {
            Some(t) => Ok(ApiAuth::Token { expected: sign(t, CONTEXT) }),
            None if listen.ip().is_loopback() => Ok(ApiAuth::Open),
            None => Err(format!(
                "http.api_token_file: the daemon listens on {listen}, which is not a loopback address, and the control \
                 API has no token: set {TOKEN_VAR} or [http] api_token_file (a file holding one line, e.g. from \
                 `openssl rand -hex 32`)"
            )),
        }
    }

    /// Who presented `authorization` (the header's value), or why they are turned away.
    pub fn check(&self, authorization: Option<&str>) -> Result<Actor, ApiError> {
        let expected = match self {
            ApiAuth::Open => return Ok(Actor::api("no token, loopback")),
            ApiAuth::Token { expected } => expected,
        };
        let Some(value) = authorization else {
            return Err(ApiError::unauthorized("missing `Authorization: Bearer <token>`"));
        };
        let presented = value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer <token>`"))?;
        if verify_signature(&Secret::new(presented), CONTEXT, expected) {
            Ok(Actor::api(&format!("token {}", &expected[..8])))
        } else {
            Err(ApiError::unauthorized("the token is not the API's token"))
        }
    }
}

/// The client a request was let in as, for the handlers (the audit of changes names it).
#[derive(Debug, Clone)]
pub struct Caller(pub Actor);

/// Middleware on every API route: lets the request through with its [`Caller`], or answers 401.
pub async fn authenticate(State(auth): State<Arc<ApiAuth>>, mut request: Request, next: Next) -> Response {
    let header = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match auth.check(header) {
        Ok(actor) => {
            request.extensions_mut().insert(Caller(actor));
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_auth() -> ApiAuth {
        ApiAuth::new(Some(&Secret::new("s3cret-token")), "0.0.0.0:8080".parse().unwrap()).unwrap()
    }

    #[test]
    fn only_the_configured_token_as_a_bearer_gets_in_and_is_known_by_its_fingerprint() {
        let auth = token_auth();
        let actor = auth.check(Some("Bearer s3cret-token")).unwrap();
        assert!(actor.as_str().starts_with("api (token "), "{actor:?}");
        assert!(!actor.as_str().contains("s3cret"), "the token itself is never the label");
        assert!(auth.check(Some("bearer  s3cret-token ")).is_ok(), "scheme case and spaces do not matter");
        for bad in [None, Some("Bearer wrong"), Some("s3cret-token"), Some("Basic czNjcmV0"), Some("Bearer ")] {
            let e = auth.check(bad).unwrap_err();
            assert_eq!(e.code, "unauthorized", "{bad:?}");
        }
        assert!(auth.check(Some("Bearer s3cret-token-and-more")).is_err());
        assert!(auth.check(Some("Bearer s3cret-toke")).is_err());
        assert!(
            !format!("{auth:?}").contains("s3cret")
                && !format!("{auth:?}").contains(&sign(&Secret::new("s3cret-token"), CONTEXT))
        );
    }

    #[test]
    fn without_a_token_the_api_is_open_on_loopback_only() {
        for listen in ["127.0.0.1:8080", "[::1]:8080"] {
            let auth = ApiAuth::new(None, listen.parse().unwrap()).unwrap();
            assert!(auth.check(None).is_ok());
        }
        let e = ApiAuth::new(None, "0.0.0.0:8080".parse().unwrap()).unwrap_err();
        assert!(e.contains("http.api_token_file") && e.contains(TOKEN_VAR), "{e}");
    }
}
