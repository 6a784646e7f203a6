//! Customer consent: given by an admin over a typed channel, withdrawn, and looked up by
//! the session rules (4logist, Teamleader).

use super::{find, Ctx, Decision, Refusal, Refuse};
use crate::access::Access;
use crate::access::Item;
use crate::vocab::{Channel, Scope};
use crate::Text;
use crate::{ConsentId, Payload, PrincipalId, TenantId, Timestamp};

/// Commands about consent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ConsentCommand {
    /// A customer admin (the actor) consents.
    Give {
        /// The new consent's id.
        consent: ConsentId,
        /// The account.
        tenant: TenantId,
        /// The staff member it is for, or anyone.
        grantee: Option<PrincipalId>,
        /// What it allows.
        scopes: Vec<Scope>,
        /// How it arrived (a phone call is recorded but never satisfies a rule).
        channel: Channel,
        /// The sender checked against the director's address, for email.
        verified_sender: Option<Text>,
        /// Ticket or conversation link.
        ticket: Text,
        /// When it lapses.
        expires_at: Timestamp,
    },
    /// The customer withdraws a consent.
    Withdraw {
        /// The consent.
        consent: ConsentId,
    },
}

impl ConsentCommand {
    pub(super) fn name(&self) -> &'static str {
        match self {
            ConsentCommand::Give { .. } => "give_consent",
            ConsentCommand::Withdraw { .. } => "withdraw_consent",
        }
    }
}

pub(super) fn decide(ctx: &Ctx<'_>, command: &ConsentCommand) -> Result<Decision, Refusal> {
    let (state, actor, now) = (ctx.state, ctx.actor, ctx.now);
    match command {
        ConsentCommand::Give {
            consent,
            tenant,
            grantee,
            scopes,
            channel,
            verified_sender,
            ticket,
            expires_at,
        } => {
            let r = Refuse {
                tenant: Some(tenant),
                subject: grantee.as_ref(),
            };
            if !state.tenants.contains_key(tenant) {
                return Err(r.because("tenant.unknown", format!("no tenant {tenant}")));
            }
            if state.consents.contains_key(consent) {
                return Err(r.because(
                    "consent.exists",
                    format!("consent {consent} already exists"),
                ));
            }
            if !ctx.is_admin(tenant, actor) {
                return Err(r.because(
                    "consent.giver",
                    "consent is given by an admin of the customer's account",
                ));
            }
            if ticket.trim().is_empty() || scopes.is_empty() {
                return Err(r.because(
                    "consent.ticket",
                    "a consent needs a ticket and at least one scope",
                ));
            }
            if *expires_at <= now {
                return Err(r.because("consent.expiry", "a consent must expire in the future"));
            }
            if *channel == Channel::VerifiedEmail && verified_sender.is_none() {
                return Err(r.because(
                    "consent.sender",
                    "an email consent names the sender checked against the director's address",
                ));
            }
            Ok(Decision {
                stream: Item::Consent(*consent).stream(),
                expected: Some(0),
                payloads: vec![Payload::ConsentGiven {
                    consent: *consent,
                    tenant: tenant.clone(),
                    given_by: actor.clone(),
                    grantee: grantee.clone(),
                    scopes: scopes.clone(),
                    channel: *channel,
                    verified_sender: verified_sender.clone(),
                    ticket: ticket.clone(),
                    expires_at: *expires_at,
                }],
            })
        }
        ConsentCommand::Withdraw { consent } => {
            let (tenant, _, closed) = find(&state.consents, consent, "consent.unknown", "consent")?;
            let r = Refuse {
                tenant: Some(tenant),
                subject: None,
            };
            if *closed {
                return Err(r.because(
                    "consent.state",
                    format!("consent {consent} is no longer live"),
                ));
            }
            if !ctx.is_admin(tenant, actor) {
                return Err(r.because(
                    "consent.giver",
                    "consent is withdrawn by an admin of the customer's account",
                ));
            }
            Ok(Decision {
                stream: Item::Consent(*consent).stream(),
                expected: None,
                payloads: vec![Payload::ConsentWithdrawn {
                    consent: *consent,
                    tenant: tenant.clone(),
                    by: actor.clone(),
                }],
            })
        }
    }
}

/// A consent of `tenant` live at `now`, authorised (never a phone call), for `staff` or for
/// anyone, covering `scope` — `wanted` if given, else the oldest such.
pub(super) fn covering(
    state: &Access,
    tenant: &TenantId,
    staff: &PrincipalId,
    scope: Scope,
    wanted: Option<ConsentId>,
    now: Timestamp,
) -> Option<ConsentId> {
    state
        .consents
        .values()
        .filter(|(t, c, closed)| {
            t == tenant
                && !closed
                && c.authorised
                && c.expires_at > now
                && c.scopes.contains(&scope)
                && c.grantee.as_ref().is_none_or(|g| g == staff)
                && wanted.is_none_or(|w| w == c.consent)
        })
        .map(|(_, c, _)| c.consent)
        .min()
}
