//! What the server keeps in memory, folded from the log: the access projection the policy
//! decides on, and the API tokens. One [`Live`] per server, behind a mutex shared by the
//! command handlers and the expiry loop.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use custos_core::access::Access;
use custos_core::policy::Command;
use custos_core::vocab::ApiRole;
use custos_core::{Digest, Event, Payload, PrincipalId, Seq, TenantId, TokenId};
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

/// Live tokens by the BLAKE3 hash of their secret.
type TokenMap = HashMap<Digest, TokenInfo>;

/// The projection and the tokens, up to date with the log up to [`Access::applied`].
///
/// The projection is forgetful ([`Access::forgetful`]): closed grants, sessions,
/// consents and invitations are dropped as they close, and the one a command acts on is
/// read back from its stream for the decision ([`Live::recall_for`]).
#[derive(Debug)]
pub struct Live {
    access: Access,
    /// The misuse findings (docs/misuse.md).
    findings: custos_core::findings::Findings,
    /// Shared with [`SharedLive`], so that authentication reads it without the mutex.
    tokens: Arc<RwLock<TokenMap>>,
    /// The last seq folded in, shared likewise.
    applied: Arc<AtomicU64>,
    /// Every token issued, revoked or not (for listing).
    issued: Vec<(TokenInfo, bool)>,
}

impl Default for Live {
    fn default() -> Live {
        Live {
            access: Access::forgetful(),
            findings: Default::default(),
            tokens: Default::default(),
            applied: Default::default(),
            issued: Vec::new(),
        }
    }
}

/// The server's handle on its [`Live`]: the mutex the policy decides under, and what
/// can be read without it (the tokens, how far the fold has come).
#[derive(Debug, Clone)]
pub struct SharedLive {
    live: Arc<Mutex<Live>>,
    tokens: Arc<RwLock<TokenMap>>,
    applied: Arc<AtomicU64>,
}

impl Default for SharedLive {
    fn default() -> Self {
        SharedLive::new(Live::default())
    }
}

impl SharedLive {
    /// A handle on `live`.
    pub fn new(live: Live) -> SharedLive {
        SharedLive {
            tokens: live.tokens.clone(),
            applied: live.applied.clone(),
            live: Arc::new(Mutex::new(live)),
        }
    }

    /// The projection, exclusively.
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, Live> {
        self.live.lock().await
    }

    /// The live token whose secret hashes to `hash` (without the mutex).
    pub fn token(&self, hash: &Digest) -> Option<TokenInfo> {
        self.tokens
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(hash)
            .cloned()
    }

    /// Folds the log up to `seq` at least, unless it already is (then without the mutex).
    pub async fn catch_up_to(&self, store: &Store, seq: Seq) -> Result<(), ReadError> {
        if self.applied.load(Ordering::Acquire) >= seq.0 {
            return Ok(());
        }
        self.lock().await.catch_up(store)
    }
}

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
                self.tokens
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(*secret_hash, info.clone());
                self.issued.push((info, false));
            }
            Payload::TokenRevoked { token } => {
                self.tokens
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .retain(|_, t| t.token != *token);
                for (t, revoked) in &mut self.issued {
                    if t.token == *token {
                        *revoked = true;
                    }
                }
            }
            _ => {}
        }
        self.access.apply(e);
        self.findings.apply(e);
    }

    /// Folds every event after the last one folded, up to the head.
    pub fn catch_up(&mut self, store: &Store) -> Result<(), ReadError> {
        let head = store.head().seq;
        let from = self.access.applied().next();
        if from > head {
            return Ok(());
        }
        store.replay(from, head, |event| {
            self.apply(event);
            self.applied
                .store(self.access.applied().0, Ordering::Release);
        })?;
        Ok(())
    }

    /// Brings back the closed item `command` acts on, if the projection dropped it, from
    /// its stream (so that the policy refuses a step on it, or the reuse of its id, as it
    /// would with the whole history in memory); [`Live::forget_recalled`] drops it again.
    pub fn recall_for(&mut self, store: &Store, command: &Command) -> Result<(), ReadError> {
        let Some(item) = command.item() else {
            return Ok(());
        };
        if self.access.knows(item) {
            return Ok(());
        }
        let events = store
            .read_stream(&item.stream(), 1)?
            .map(|stored| stored.and_then(|s| s.event()))
            .collect::<Result<Vec<Event>, ReadError>>()?;
        self.access.recall(item, &events);
        Ok(())
    }

    /// Drops what [`Live::recall_for`] brought back.
    pub fn forget_recalled(&mut self) {
        self.access.forget_recalled();
    }

    /// The projection.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// The misuse findings.
    pub fn findings(&self) -> &custos_core::findings::Findings {
        &self.findings
    }

    /// Every token ever issued, with whether it was revoked.
    pub fn tokens(&self) -> &[(TokenInfo, bool)] {
        &self.issued
    }
}
