//! Bearer tokens: who is calling, with what role, from where. A token is `cst_` and 64
//! hex digits; only the BLAKE3 hash of that text is recorded (in a `token_issued` event),
//! so the log never holds a usable secret. The actor of every event a request records is
//! the token's principal; the source IP is the connection's peer, or the first address of
//! `X-Forwarded-For` when the peer is the configured trusted proxy.

use std::net::IpAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use custos_core::vocab::ApiRole;
use custos_core::{Digest, TenantId};

use crate::live::TokenInfo;
use crate::{AppState, Problem};

/// The prefix of every secret.
pub const PREFIX: &str = "cst_";

/// A fresh secret (32 random bytes, hex) and its hash.
pub fn new_secret() -> (String, Digest) {
    let bytes: [u8; 32] = rand::random();
    let secret = format!("{PREFIX}{}", hex(&bytes));
    let hash = secret_hash(&secret);
    (secret, hash)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the log records of a secret.
pub fn secret_hash(secret: &str) -> Digest {
    Digest(*blake3::hash(secret.as_bytes()).as_bytes())
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token.
    pub token: TokenInfo,
    /// Where the request came from.
    pub source_ip: Option<IpAddr>,
}

impl Caller {
    /// Refuses unless the caller has one of `roles`.
    pub fn require(&self, roles: &[ApiRole]) -> Result<(), Problem> {
        if roles.contains(&self.token.role) {
            Ok(())
        } else {
            Err(Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "a {} token may not do this; it needs one of: {}",
                    self.token.role.name(),
                    roles
                        .iter()
                        .map(|r| r.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ))
        }
    }

    /// The tenant filter a caller reads with: a tenant admin's defaults to its own
    /// tenant, and another tenant is answered 404 as if it did not exist; anyone else's
    /// is what was asked.
    pub fn confine(&self, asked: Option<TenantId>) -> Result<Option<TenantId>, Problem> {
        match asked {
            None if self.token.role == ApiRole::TenantAdmin => Ok(self.token.tenant.clone()),
            Some(t) if !self.sees(&t) => Err(Problem::not_found(format!("no tenant {t}"))),
            other => Ok(other),
        }
    }

    /// Whether the caller may see `tenant` at all: everyone but a tenant admin of another
    /// tenant (who is answered 404, as if it did not exist).
    pub fn sees(&self, tenant: &TenantId) -> bool {
        match self.token.role {
            ApiRole::TenantAdmin => self.token.tenant.as_ref() == Some(tenant),
            _ => true,
        }
    }
}

fn unauthorized(detail: &str) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("missing Authorization: Bearer <token>"))?;
        let secret = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
        let hash = secret_hash(secret);
        let token = match state.live.token(&hash) {
            Some(t) => Some(t),
            None => {
                // A token issued a moment ago may not be folded yet.
                state
                    .live
                    .catch_up_to(&state.store, state.store.head().seq)
                    .await
                    .map_err(|e| Problem::internal(&e))?;
                state.live.token(&hash)
            }
        }
        .ok_or_else(|| unauthorized("unknown or revoked token"))?;
        let peer = parts
            .extensions
            .get::<ConnectInfo<crate::conn::Peer>>()
            .map(|c| c.0 .0.ip());
        let forwarded = || {
            parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.trim().parse::<IpAddr>().ok())
        };
        let source_ip = match (peer, state.config.trusted_proxy) {
            (Some(p), Some(proxy)) if p == proxy => forwarded().or(Some(p)),
            (p, _) => p,
        };
        Ok(Caller { token, source_ip })
    }
}
