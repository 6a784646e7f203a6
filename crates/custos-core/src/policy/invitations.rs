//! Guest, contact and partner invitations: pending → sent → accepted (active) / declined /
//! expired; active ↔ inactive; revoked (ORC Webhosting, HP WXP).

use super::{find, Ctx, Decision, Refusal, Refuse};
use crate::access::InvitationState;
use crate::access::Item;
use crate::vocab::{InvitationKind, InvitationScope, ProfileKind, StaffRole};
use crate::Text;
use crate::{InvitationId, Payload, PrincipalId, TenantId, Timestamp};

/// Commands about invitations.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum InvitationCommand {
    /// Invite a guest or contact (a customer admin) or offer a partner's management (the
    /// partner admin): status pending.
    Invite(Invite),
    /// Move an existing invitation along its lifecycle.
    Change {
        /// The invitation.
        invitation: InvitationId,
        /// What happens to it.
        change: InvitationChange,
    },
    /// Record what the invitee (the actor) did in the account on the strength of the
    /// invitation: only while it is accepted and active, within its scopes.
    Act {
        /// The invitation.
        invitation: InvitationId,
        /// The scope the action falls under.
        scope: InvitationScope,
        /// What was done.
        detail: Text,
    },
}

/// A new invitation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct Invite {
    /// The new invitation's id.
    pub invitation: InvitationId,
    /// The inviting account.
    pub tenant: TenantId,
    /// Guest, contact or partner.
    pub kind: InvitationKind,
    /// Who is invited (for a partner: the partner).
    pub invitee: PrincipalId,
    /// What the invitee may manage.
    pub scopes: Vec<InvitationScope>,
    /// When an unanswered invitation lapses.
    pub expires_at: Timestamp,
}

/// A step in an invitation's lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum InvitationChange {
    /// Send a pending invitation.
    Send,
    /// Accept: the invitee, or for a partner the customer's IT admin.
    Accept,
    /// Decline: the invitee, or for a partner the customer's IT admin.
    Decline,
    /// Make an active invitee inactive (false), or an inactive one active again (true).
    SetActive(bool),
    /// Revoke for good (a customer admin), saying why.
    Revoke(Text),
}

impl InvitationCommand {
    pub(super) fn name(&self) -> &'static str {
        match self {
            InvitationCommand::Invite(_) => "invite",
            InvitationCommand::Act { .. } => "invitee_action",
            InvitationCommand::Change { change, .. } => match change {
                InvitationChange::Send => "send_invitation",
                InvitationChange::Accept => "accept_invitation",
                InvitationChange::Decline => "decline_invitation",
                InvitationChange::SetActive(_) => "set_invitation_active",
                InvitationChange::Revoke(_) => "revoke_invitation",
            },
        }
    }
}

pub(super) fn decide(ctx: &Ctx<'_>, command: &InvitationCommand) -> Result<Decision, Refusal> {
    match command {
        InvitationCommand::Invite(invite) => create(ctx, invite),
        InvitationCommand::Change { invitation, change } => step(ctx, *invitation, change),
        InvitationCommand::Act {
            invitation,
            scope,
            detail,
        } => act(ctx, *invitation, *scope, detail),
    }
}

/// What a guest, contact or partner does in the account: a partner has no management
/// access before the customer's IT admin accepts (HP WXP); a guest acts only within the
/// scopes it was given (ORC); nobody acts on an invitation that is not active.
fn act(
    ctx: &Ctx<'_>,
    id: InvitationId,
    scope: InvitationScope,
    detail: &str,
) -> Result<Decision, Refusal> {
    let (state, actor) = (ctx.state, ctx.actor);
    let i = find(&state.invitations, &id, "invitation.unknown", "invitation")?;
    let r = Refuse {
        tenant: Some(&i.tenant),
        subject: Some(actor),
    };
    if actor != &i.invitee {
        return Err(r.because(
            "invitee.owner",
            format!("invitation {id} is for {}", i.invitee),
        ));
    }
    if !i.closed && i.accepted.is_none() && i.kind == InvitationKind::Partner {
        return Err(r.because(
            "invitee.partner-not-accepted",
            format!(
                "the customer's IT admin has not accepted partner invitation {id}: no management access yet"
            ),
        ));
    }
    if i.closed || !i.active {
        return Err(r.because(
            "invitee.inactive",
            format!("invitation {id} is not active (never accepted, declined, expired, deactivated or revoked)"),
        ));
    }
    if !i.scopes.contains(&scope) {
        return Err(r.because(
            "invitee.scope",
            format!("invitation {id} allows {:?}, not {scope:?}", i.scopes),
        ));
    }
    Ok(Decision {
        stream: Item::Invitation(id).stream(),
        expected: None,
        payloads: vec![Payload::InviteeAction {
            invitation: id,
            tenant: i.tenant.clone(),
            invitee: actor.clone(),
            kind: i.kind,
            scope,
            detail: detail.into(),
        }],
    })
}

fn create(ctx: &Ctx<'_>, invite: &Invite) -> Result<Decision, Refusal> {
    let (state, actor, now) = (ctx.state, ctx.actor, ctx.now);
    let Invite {
        invitation,
        tenant,
        kind,
        invitee,
        scopes,
        expires_at,
    } = invite;
    let r = Refuse {
        tenant: Some(tenant),
        subject: Some(invitee),
    };
    let Some(t) = state.tenants.get(tenant) else {
        return Err(r.because("tenant.unknown", format!("no tenant {tenant}")));
    };
    if state.invitations.contains_key(invitation) {
        return Err(r.because(
            "invitation.exists",
            format!("invitation {invitation} already exists"),
        ));
    }
    let inviter_ok = match kind {
        InvitationKind::Partner => {
            actor == invitee && ctx.has_role(actor, &[StaffRole::PartnerAdmin])
        }
        InvitationKind::Guest | InvitationKind::Contact => ctx.is_admin(tenant, actor),
    };
    if !inviter_ok {
        return Err(r.because(
            "invitation.inviter",
            "guests and contacts are invited by the account's admin; a partner offers its own management",
        ));
    }
    if t.members.contains_key(invitee) {
        return Err(r.because(
            "invitation.member",
            format!("{invitee} is already a user of {tenant}"),
        ));
    }
    if *kind == InvitationKind::Guest {
        let elsewhere = state
            .member_of
            .get(invitee)
            .is_some_and(|tenants| tenants.iter().any(|other| other != tenant));
        if !elsewhere {
            return Err(r.because(
                "invitation.guest-exists",
                format!("a guest must already be a client or contact of another account; {invitee} is not"),
            ));
        }
    }
    if scopes.is_empty() || *expires_at <= now {
        return Err(r.because(
            "invitation.scopes",
            "an invitation needs a scope and an expiry in the future",
        ));
    }
    Ok(Decision {
        stream: Item::Invitation(*invitation).stream(),
        expected: Some(0),
        payloads: vec![Payload::InvitationCreated {
            invitation: *invitation,
            tenant: tenant.clone(),
            kind: *kind,
            invitee: invitee.clone(),
            invited_by: actor.clone(),
            scopes: scopes.clone(),
            expires_at: *expires_at,
        }],
    })
}

fn step(ctx: &Ctx<'_>, id: InvitationId, change: &InvitationChange) -> Result<Decision, Refusal> {
    let (state, actor, now) = (ctx.state, ctx.actor, ctx.now);
    let i = find(&state.invitations, &id, "invitation.unknown", "invitation")?;
    let r = Refuse {
        tenant: Some(&i.tenant),
        subject: Some(&i.invitee),
    };
    let tenant = i.tenant.clone();
    let state_error = |what: &str| r.because("invitation.state", format!("invitation {id} {what}"));
    let pending = !i.closed && i.accepted.is_none();
    let payload = match change {
        InvitationChange::Send => {
            if !pending || i.sent {
                return Err(state_error("is not pending"));
            }
            if !ctx.is_admin(&i.tenant, actor) && actor != &i.invitee {
                return Err(r.because(
                    "invitation.inviter",
                    "an invitation is sent by the account's admin or the partner",
                ));
            }
            Payload::InvitationSent {
                invitation: id,
                tenant,
            }
        }
        InvitationChange::Accept | InvitationChange::Decline => {
            if !pending {
                return Err(state_error("is not pending"));
            }
            if i.expires_at <= now {
                return Err(r.because(
                    "invitation.expired",
                    format!("invitation {id} lapsed at {}", i.expires_at),
                ));
            }
            if !may_answer(ctx, i, actor) {
                return Err(r.because(
                    "invitation.answerer",
                    "an invitation is answered by the invitee; a partner's by the customer's IT admin",
                ));
            }
            if *change == InvitationChange::Accept {
                Payload::InvitationAccepted {
                    invitation: id,
                    tenant,
                    accepted_by: actor.clone(),
                }
            } else {
                Payload::InvitationDeclined {
                    invitation: id,
                    tenant,
                    declined_by: actor.clone(),
                }
            }
        }
        InvitationChange::SetActive(active) => {
            if i.closed || i.accepted.is_none() || i.active == *active {
                return Err(state_error(if *active {
                    "is not inactive"
                } else {
                    "is not active"
                }));
            }
            if !ctx.is_admin(&i.tenant, actor) {
                return Err(r.because(
                    "invitation.admin",
                    "only the account's admin activates or deactivates",
                ));
            }
            if *active {
                Payload::InvitationReactivated {
                    invitation: id,
                    tenant,
                    by: actor.clone(),
                }
            } else {
                Payload::InvitationDeactivated {
                    invitation: id,
                    tenant,
                    by: actor.clone(),
                }
            }
        }
        InvitationChange::Revoke(reason) => {
            if i.closed {
                return Err(state_error("is already closed"));
            }
            if !ctx.is_admin(&i.tenant, actor) {
                return Err(r.because(
                    "invitation.admin",
                    "only the account's admin revokes an invitation",
                ));
            }
            Payload::InvitationRevoked {
                invitation: id,
                tenant,
                by: actor.clone(),
                reason: reason.clone(),
            }
        }
    };
    Ok(Decision {
        stream: Item::Invitation(id).stream(),
        expected: None,
        payloads: vec![payload],
    })
}

/// A guest or contact answers for themselves; a partner's invitation is answered by the
/// customer's IT admin (HP WXP: "the customer's IT admin must accept the partner invitation").
fn may_answer(ctx: &Ctx<'_>, i: &InvitationState, actor: &PrincipalId) -> bool {
    match i.kind {
        InvitationKind::Partner => ctx
            .state
            .tenants
            .get(&i.tenant)
            .is_some_and(|t| matches!(t.members.get(actor), Some((ProfileKind::ItAdmin, ..)))),
        InvitationKind::Guest | InvitationKind::Contact => actor == &i.invitee,
    }
}
