//! What the server keeps in memory, folded from the log: the access projection the policy
//! decides on, and the API tokens. One [`Live`] per server, behind a mutex shared by the
//! command handlers and the expiry loop.

use std::collections::HashMap;
use std::sync::Arc;

use custos_core::access::Access;
use custos_core::vocab::ApiRole;
use custos_core::{Digest, Event, Payload, PrincipalId, TenantId, TokenId};
use custos_store::{ReadError, Store};
use tokio::sync::Mutex;

/// A token as the server knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The token's id.
    pub token: TokenId,
    /// Whom its events are attributed to.
    pub principal: PrincipalId,
    /// What it may do.
    pub role: ApiRole,
    /// For a tenant admin, its one tenant.
    pub tenant: Option<TenantId>,
}

/// The projection and the tokens, up to date with the log up to [`Access::applied`].
#[derive(Debug, Default)]
pub struct Live {
    access: Access,
    /// By the BLAKE3 hash of the secret.
    tokens: HashMap<Digest, TokenInfo>,
    /// Every token issued, revoked or not (for listing).
    issued: Vec<(TokenInfo, bool)>,
}

/// The shared handle.
pub type SharedLive = Arc<Mutex<Live>>;

impl Live {
    /// Folds one event in.
    fn apply(&mut self, e: &Event) {
        match &e.payload {
            Payload::TokenIssued {
                token,
                principal,
                role,
                tenant,
                secret_hash,
            } => {
                let info = TokenInfo {
                    token: *token,
                    principal: principal.clone(),
                    role: *role,
                    tenant: tenant.clone(),
                };
                self.tokens.insert(*secret_hash, info.clone());
                self.issued.push((info, false));
            }
            Payload::TokenRevoked { token } => {
                self.tokens.retain(|_, t| t.token != *token);
                for (t, revoked) in &mut self.issued {
                    if t.token == *token {
                        *revoked = true;
                    }
                }
            }
            _ => {}
        }
        self.access.apply(e);
    }

    /// Folds every event after the last one folded, up to the head.
    pub fn catch_up(&mut self, store: &Store) -> Result<(), ReadError> {
        let head = store.head().seq;
        let from = self.access.applied().next();
        if from > head {
            return Ok(());
        }
        for stored in store.range(from, head) {
            self.apply(&stored?.event()?);
        }
        Ok(())
    }

    /// The projection.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// The live token whose secret hashes to `hash`.
    pub fn token(&self, hash: &Digest) -> Option<&TokenInfo> {
        self.tokens.get(hash)
    }

    /// Every token ever issued, with whether it was revoked.
    pub fn tokens(&self) -> &[(TokenInfo, bool)] {
        &self.issued
    }
}
