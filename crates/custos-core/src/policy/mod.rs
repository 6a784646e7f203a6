//! The access policy: `decide(state, actor, command, now)` gives the events to append, or
//! a [`Refusal`] naming the rule that refuses it. Pure: the state is the [`Access`] fold of
//! the log and time comes in as a value (DESIGN.md invariant 5). Every rule, its seed and
//! its refusal are listed in `docs/policy.md`; a refusal is itself recorded
//! ([`rejection`], invariant 6).
//!
//! One module per family of commands, each with its own command enum and an exhaustive
//! match: [`tenants`], [`grants`], [`consent`], [`sessions`], [`invitations`], [`reviews`];
//! and [`due`], the expiries to append.

pub mod consent;
mod expiry;
pub mod grants;
pub mod invitations;
pub mod reviews;
pub mod sessions;
pub mod tenants;

pub use consent::ConsentCommand;
pub use expiry::due;
pub use grants::GrantCommand;
pub use invitations::{InvitationChange, InvitationCommand, Invite};
pub use reviews::ReviewCommand;
pub use sessions::{SessionCommand, StartSession};
pub use tenants::TenantCommand;

use crate::access::{Access, Item};
use crate::vocab::{ProfileKind, StaffRole};
use crate::Text;
use crate::{Payload, PrincipalId, StreamId, TenantId, Timestamp};

/// Limits the policy enforces.
#[derive(Debug, Clone, Copy)]
pub struct PolicyConfig {
    /// The longest a grant may last once approved, in seconds.
    pub max_grant_ttl_secs: u64,
    /// When a session closes by itself, in seconds after its start (Teamleader: one hour).
    pub session_limit_secs: i64,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            max_grant_ttl_secs: 8 * 3600,
            session_limit_secs: 3600,
        }
    }
}

/// What a caller asks custos to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Accounts, onboarding, staff.
    Tenant(TenantCommand),
    /// Access grants (the two-person rule).
    Grant(GrantCommand),
    /// Customer consent.
    Consent(ConsentCommand),
    /// Impersonation / view-as sessions and what is done in them.
    Session(SessionCommand),
    /// Guest, contact and partner invitations.
    Invitation(InvitationCommand),
    /// Reviews by support leads.
    Review(ReviewCommand),
}

impl Command {
    /// The grant, session, consent or invitation the command creates or acts on, if
    /// any: what a forgetful projection must hold for [`decide`] to answer as the whole
    /// one would ([`Access::recall`]). A session's grant and consent are not listed:
    /// the policy treats a closed one as it treats an unknown one.
    pub fn item(&self) -> Option<Item> {
        match self {
            Command::Grant(
                GrantCommand::Request { grant, .. }
                | GrantCommand::Approve { grant }
                | GrantCommand::Deny { grant, .. }
                | GrantCommand::Extend { grant, .. }
                | GrantCommand::Revoke { grant, .. },
            ) => Some(Item::Grant(*grant)),
            Command::Session(SessionCommand::Start(StartSession { session, .. }))
            | Command::Session(
                SessionCommand::Act { session, .. }
                | SessionCommand::End { session }
                | SessionCommand::NotifyCustomer { session, .. },
            ) => Some(Item::Session(*session)),
            Command::Consent(
                ConsentCommand::Give { consent, .. } | ConsentCommand::Withdraw { consent },
            ) => Some(Item::Consent(*consent)),
            Command::Invitation(InvitationCommand::Invite(Invite { invitation, .. }))
            | Command::Invitation(
                InvitationCommand::Change { invitation, .. }
                | InvitationCommand::Act { invitation, .. },
            ) => Some(Item::Invitation(*invitation)),
            Command::Tenant(_) | Command::Review(_) => None,
        }
    }

    /// The command's name, as recorded in a rejected attempt.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Tenant(c) => c.name(),
            Command::Grant(c) => c.name(),
            Command::Consent(c) => c.name(),
            Command::Session(c) => c.name(),
            Command::Invitation(c) => c.name(),
            Command::Review(c) => c.name(),
        }
    }
}

/// Why a command was refused: the rule (stable id, see `docs/policy.md`) and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} (rule {rule})")]
pub struct Refusal {
    /// The rule id, e.g. `grant.self-approval`.
    pub rule: &'static str,
    /// What the caller is told.
    pub reason: Text,
    /// The tenant concerned, if known.
    pub tenant: Option<TenantId>,
    /// The principal the command would have benefited, if any.
    pub subject: Option<PrincipalId>,
}

/// The events a command produces: all on one stream, appended together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The stream.
    pub stream: StreamId,
    /// The version the stream must be at (0: must not exist), for optimistic concurrency.
    pub expected: Option<u64>,
    /// The payloads, in order.
    pub payloads: Vec<Payload>,
}

/// Decides `command`, asked by `actor` at `now`, against `state`.
pub fn decide(
    state: &Access,
    actor: &PrincipalId,
    command: &Command,
    now: Timestamp,
    config: &PolicyConfig,
) -> Result<Decision, Refusal> {
    let ctx = Ctx {
        state,
        actor,
        now,
        config,
    };
    match command {
        Command::Tenant(c) => tenants::decide(&ctx, c),
        Command::Grant(c) => grants::decide(&ctx, c),
        Command::Consent(c) => consent::decide(&ctx, c),
        Command::Session(c) => sessions::decide(&ctx, c),
        Command::Invitation(c) => invitations::decide(&ctx, c),
        Command::Review(c) => reviews::decide(&ctx, c),
    }
}

/// The rejected-attempt event for a refusal (DESIGN.md invariant 6).
pub fn rejection(command: &Command, refusal: &Refusal) -> Decision {
    let place = refusal
        .tenant
        .as_ref()
        .map_or_else(|| "none".to_owned(), ToString::to_string);
    Decision {
        stream: stream("attempts", place),
        expected: None,
        payloads: vec![Payload::AttemptRejected {
            rule: refusal.rule.into(),
            command: command.name().into(),
            tenant: refusal.tenant.clone(),
            subject: refusal.subject.clone(),
            reason: refusal.reason.clone(),
        }],
    }
}

/// What every rule may look at.
struct Ctx<'a> {
    state: &'a Access,
    actor: &'a PrincipalId,
    now: Timestamp,
    config: &'a PolicyConfig,
}

impl Ctx<'_> {
    /// Whether `p` is enrolled staff holding one of `roles`.
    fn has_role(&self, p: &PrincipalId, roles: &[StaffRole]) -> bool {
        self.state
            .staff
            .get(p)
            .is_some_and(|s| s.roles.iter().any(|r| roles.contains(r)))
    }

    /// Whether `p` is an admin (or the IT admin) of `tenant`.
    fn is_admin(&self, tenant: &TenantId, p: &PrincipalId) -> bool {
        self.state.tenants.get(tenant).is_some_and(|t| {
            matches!(
                t.members.get(p),
                Some((ProfileKind::Admin | ProfileKind::ItAdmin, ..))
            )
        })
    }
}

/// Builds refusals with the context of one command.
struct Refuse<'a> {
    tenant: Option<&'a TenantId>,
    subject: Option<&'a PrincipalId>,
}

impl Refuse<'_> {
    fn because(&self, rule: &'static str, reason: impl Into<Text>) -> Refusal {
        Refusal {
            rule,
            reason: reason.into(),
            tenant: self.tenant.cloned(),
            subject: self.subject.cloned(),
        }
    }
}

/// Finds what a command names, or refuses with `<family>.unknown`.
fn find<'m, K, V>(
    map: &'m foldhash::HashMap<K, V>,
    key: &K,
    rule: &'static str,
    what: &str,
) -> Result<&'m V, Refusal>
where
    K: std::hash::Hash + Eq + std::fmt::Display,
{
    map.get(key).ok_or_else(|| {
        Refuse {
            tenant: None,
            subject: None,
        }
        .because(rule, format!("no {what} {key}"))
    })
}

/// Roles that may ask for and decide on a support user's access (Workiva).
const GRANTING_ROLES: [StaffRole; 3] = [
    StaffRole::Csm,
    StaffRole::Csd,
    StaffRole::ProfessionalServices,
];

fn stream(prefix: &str, id: impl std::fmt::Display) -> StreamId {
    match StreamId::of(prefix, id) {
        Ok(s) => s,
        // Prefixes here are fixed and ids are valid names or ULIDs.
        Err(e) => unreachable!("stream name: {e}"),
    }
}
