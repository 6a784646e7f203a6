//! Access grants: request, approve, deny, revoke — Workiva's two-person rule.

use super::{find, Ctx, Decision, Refusal, Refuse, GRANTING_ROLES};
use crate::access::Item;
use crate::vocab::{RevokedBy, Scope, StaffRole};
use crate::Text;
use crate::{GrantId, Payload, PrincipalId, TenantId};

/// Commands about grants.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum GrantCommand {
    /// Ask access for a staff member; the actor is the requester.
    Request {
        /// The new grant's id.
        grant: GrantId,
        /// The account.
        tenant: TenantId,
        /// Who would get access (never the requester).
        grantee: PrincipalId,
        /// The role in which access is given.
        role: StaffRole,
        /// What it allows.
        scopes: Vec<Scope>,
        /// Why (required).
        reason: Text,
        /// Ticket or conversation link.
        ticket: Option<Text>,
        /// Lifetime once approved, at most the configured maximum.
        ttl_secs: u64,
    },
    /// Approve a pending request (a second person).
    Approve {
        /// The grant.
        grant: GrantId,
    },
    /// Deny a pending request.
    Deny {
        /// The grant.
        grant: GrantId,
        /// Why.
        reason: Text,
    },
    /// Extend an active grant: its new expiry is `ttl_secs` from now (a second person,
    /// like an approval).
    Extend {
        /// The grant.
        grant: GrantId,
        /// The new lifetime from now, at most the configured maximum.
        ttl_secs: u64,
        /// Why.
        reason: Text,
    },
    /// Revoke an active grant (the customer's admin, or the vendor).
    Revoke {
        /// The grant.
        grant: GrantId,
        /// Why.
        reason: Text,
    },
}

impl GrantCommand {
    pub(super) fn name(&self) -> &'static str {
        match self {
            GrantCommand::Request { .. } => "request_access",
            GrantCommand::Approve { .. } => "approve_access",
            GrantCommand::Deny { .. } => "deny_access",
            GrantCommand::Extend { .. } => "extend_access",
            GrantCommand::Revoke { .. } => "revoke_access",
        }
    }
}

pub(super) fn decide(ctx: &Ctx<'_>, command: &GrantCommand) -> Result<Decision, Refusal> {
    let (state, actor, now) = (ctx.state, ctx.actor, ctx.now);
    match command {
        GrantCommand::Request {
            grant,
            tenant,
            grantee,
            role,
            scopes,
            reason,
            ticket,
            ttl_secs,
        } => {
            let r = Refuse {
                tenant: Some(tenant),
                subject: Some(grantee),
            };
            if !state.tenants.contains_key(tenant) {
                return Err(r.because("tenant.unknown", format!("no tenant {tenant}")));
            }
            if state.grants.contains_key(grant) || state.closed_grants.contains_key(grant) {
                return Err(r.because("grant.exists", format!("grant {grant} already exists")));
            }
            if actor == grantee {
                return Err(r.because(
                    "grant.self-request",
                    "staff may never add themselves to an account; another person must ask",
                ));
            }
            if !ctx.has_role(actor, &GRANTING_ROLES) {
                return Err(r.because(
                    "grant.requester-role",
                    "support users are added by the CSM, a CSD, a delegate or a professional services manager",
                ));
            }
            if !ctx.has_role(grantee, &[*role]) {
                return Err(r.because(
                    "grant.grantee",
                    format!("{grantee} is not an enrolled staff member with that role"),
                ));
            }
            if reason.trim().is_empty() || scopes.is_empty() {
                return Err(r.because(
                    "grant.reason",
                    "a request needs a reason and at least one scope",
                ));
            }
            let max = ctx.config.max_grant_ttl_secs;
            if *ttl_secs == 0 || *ttl_secs > max {
                return Err(r.because(
                    "grant.ttl",
                    format!("the lifetime must be 1 to {max} seconds"),
                ));
            }
            Ok(Decision {
                stream: Item::Grant(*grant).stream(),
                expected: Some(0),
                payloads: vec![Payload::AccessRequested {
                    grant: *grant,
                    tenant: tenant.clone(),
                    requester: actor.clone(),
                    grantee: grantee.clone(),
                    role: *role,
                    scopes: scopes.clone(),
                    reason: reason.clone(),
                    ticket: ticket.clone(),
                    ttl_secs: *ttl_secs,
                }],
            })
        }
        GrantCommand::Approve { grant } | GrantCommand::Deny { grant, .. } => {
            let g = open_grant(state, grant, "pending")?;
            let r = Refuse {
                tenant: Some(&g.tenant),
                subject: Some(&g.grantee),
            };
            if g.approved.is_some() {
                return Err(r.because("grant.state", format!("grant {grant} is not pending")));
            }
            if actor == &g.requester || actor == &g.grantee {
                return Err(r.because(
                    "grant.self-approval",
                    "the approver must be a second person, neither the requester nor the grantee",
                ));
            }
            if !ctx.has_role(actor, &GRANTING_ROLES) {
                return Err(r.because(
                    "grant.approver-role",
                    "requests are decided by the CSM, a CSD, a delegate or a professional services manager",
                ));
            }
            let payload = match command {
                GrantCommand::Deny { reason, .. } => Payload::AccessDenied {
                    grant: *grant,
                    tenant: g.tenant.clone(),
                    denier: actor.clone(),
                    reason: reason.clone(),
                },
                _ => Payload::AccessApproved {
                    grant: *grant,
                    tenant: g.tenant.clone(),
                    approver: actor.clone(),
                    expires_at: now.plus_secs(i64::try_from(g.ttl_secs).unwrap_or(i64::MAX)),
                },
            };
            Ok(Decision {
                stream: Item::Grant(*grant).stream(),
                expected: Some(1),
                payloads: vec![payload],
            })
        }
        GrantCommand::Extend {
            grant,
            ttl_secs,
            reason,
        } => {
            let g = open_grant(state, grant, "active")?;
            let r = Refuse {
                tenant: Some(&g.tenant),
                subject: Some(&g.grantee),
            };
            let until = match g.approved {
                Some((_, _, until)) if until > now => until,
                _ => return Err(r.because("grant.state", format!("grant {grant} is not active"))),
            };
            if actor == &g.requester || actor == &g.grantee {
                return Err(r.because(
                    "grant.self-extension",
                    "an extension is decided like an approval: by a second person, neither the requester nor the grantee",
                ));
            }
            if !ctx.has_role(actor, &GRANTING_ROLES) {
                return Err(r.because(
                    "grant.approver-role",
                    "requests are decided by the CSM, a CSD, a delegate or a professional services manager",
                ));
            }
            if reason.trim().is_empty() {
                return Err(r.because("grant.reason", "an extension needs a reason"));
            }
            let max = ctx.config.max_grant_ttl_secs;
            let expires_at = now.plus_secs(i64::try_from(*ttl_secs).unwrap_or(i64::MAX));
            if *ttl_secs == 0 || *ttl_secs > max || expires_at <= until {
                return Err(r.because(
                    "grant.ttl",
                    format!("an extension's lifetime must be 1 to {max} seconds from now and end after the current expiry {until}"),
                ));
            }
            Ok(Decision {
                stream: Item::Grant(*grant).stream(),
                expected: None,
                payloads: vec![Payload::AccessExtended {
                    grant: *grant,
                    tenant: g.tenant.clone(),
                    grantee: g.grantee.clone(),
                    extended_by: actor.clone(),
                    expires_at,
                    reason: reason.clone(),
                }],
            })
        }
        GrantCommand::Revoke { grant, reason } => {
            let g = open_grant(state, grant, "active")?;
            let r = Refuse {
                tenant: Some(&g.tenant),
                subject: Some(&g.grantee),
            };
            let live = g.approved.is_some_and(|(_, _, until)| until > now);
            if !live {
                return Err(r.because("grant.state", format!("grant {grant} is not active")));
            }
            let vendor = [
                StaffRole::Csm,
                StaffRole::Csd,
                StaffRole::ProfessionalServices,
                StaffRole::SupportLead,
            ];
            let revoked_by = if ctx.is_admin(&g.tenant, actor) {
                RevokedBy::TenantAdmin
            } else if ctx.has_role(actor, &vendor) {
                RevokedBy::Vendor
            } else {
                return Err(r.because(
                    "grant.revoker",
                    "access is revoked by the customer's admin or by the vendor's managers",
                ));
            };
            Ok(Decision {
                stream: Item::Grant(*grant).stream(),
                expected: None,
                payloads: vec![Payload::AccessRevoked {
                    grant: *grant,
                    tenant: g.tenant.clone(),
                    revoker: actor.clone(),
                    revoked_by,
                    reason: reason.clone(),
                }],
            })
        }
    }
}

/// The grant a step names while it is pending or approved; a closed one is refused as
/// "not `what`" (`grant.state`, naming its tenant and grantee), an unknown one as
/// `grant.unknown`.
fn open_grant<'a>(
    state: &'a crate::access::Access,
    grant: &GrantId,
    what: &str,
) -> Result<&'a crate::access::GrantState, Refusal> {
    if let Some(c) = state.closed_grants.get(grant) {
        let r = Refuse {
            tenant: Some(&c.tenant),
            subject: Some(&c.subject),
        };
        return Err(r.because("grant.state", format!("grant {grant} is not {what}")));
    }
    find(&state.grants, grant, "grant.unknown", "grant")
}
