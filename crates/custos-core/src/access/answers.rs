//! The access projection's answers: who can enter a tenant at an instant and why, the
//! accounts a principal can enter, and the types they are given in.

use serde::{Deserialize, Serialize};

use super::{Access, Items};
use crate::vocab::{
    Channel, InvitationKind, InvitationScope, ProfileKind, Scope, SessionMode, SessionTarget,
    StaffRole,
};
use crate::{ConsentId, GrantId, InvitationId, PrincipalId, Seq, SessionId};
use crate::{TenantId, Text, Timestamp};

/// How a principal came to have access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "via")]
pub enum Via {
    /// A user of the account itself (admin, IT admin, employee, contact).
    Member {
        /// The profile kind.
        kind: ProfileKind,
    },
    /// Attached when the account was created (Workiva: the CSM and the onboarding PM).
    InitialSupport {
        /// The role.
        role: StaffRole,
    },
    /// An approved grant (Workiva's two-person rule).
    Grant {
        /// The grant.
        grant: GrantId,
        /// The role.
        role: StaffRole,
        /// What it allows.
        scopes: Vec<Scope>,
    },
    /// An accepted invitation (ORC guests and contacts, HP WXP partners).
    Invitation {
        /// The invitation.
        invitation: InvitationId,
        /// Guest, contact or partner.
        kind: InvitationKind,
        /// What it allows.
        scopes: Vec<InvitationScope>,
    },
}

/// One right to enter a tenant, with the seqs of the events that establish it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Right {
    /// Who.
    pub principal: PrincipalId,
    /// On what basis.
    #[serde(flatten)]
    pub via: Via,
    /// Since when.
    pub since: Timestamp,
    /// Until when, if it lapses by itself.
    pub until: Option<Timestamp>,
    /// The events that establish the right, in order (request, approval, acceptance…).
    pub evidence: Vec<Seq>,
}

/// A session open at the query's instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenSession {
    /// The session.
    pub session: SessionId,
    /// The staff member.
    pub staff: PrincipalId,
    /// Whose view.
    pub target: SessionTarget,
    /// View-only or write.
    pub mode: SessionMode,
    /// When it closes by itself.
    pub deadline: Timestamp,
    /// The event that started it.
    pub started: Seq,
}

/// A consent live at the query's instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveConsent {
    /// The consent.
    pub consent: ConsentId,
    /// The customer admin who gave it.
    pub given_by: PrincipalId,
    /// The staff member it is for, or any.
    pub grantee: Option<PrincipalId>,
    /// What it allows.
    pub scopes: Vec<Scope>,
    /// How it arrived.
    pub channel: Channel,
    /// False for a phone request: recorded, but it never satisfies a rule (4logist).
    pub authorised: bool,
    /// When it lapses.
    pub expires_at: Timestamp,
    /// The event that gave it.
    pub given: Seq,
}

/// Everything about one tenant's access at an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantAccess {
    /// The tenant.
    pub tenant: TenantId,
    /// Its name.
    pub name: Text,
    /// Whether its onboarding period is open.
    pub onboarding: bool,
    /// Who can enter it and why.
    pub rights: Vec<Right>,
    /// Impersonation / view-as sessions open now.
    pub open_sessions: Vec<OpenSession>,
    /// Consents live now.
    pub live_consents: Vec<LiveConsent>,
}

impl Access {
    /// Who can enter `tenant` at `at`, and why; `None` if the tenant does not exist.
    pub fn tenant(&self, tenant: &TenantId, at: Timestamp) -> Option<TenantAccess> {
        let t = self.tenants.get(tenant)?;
        let mut rights: Vec<Right> = t
            .members
            .iter()
            .map(|(p, (kind, seq, since))| Right {
                principal: p.clone(),
                via: Via::Member { kind: *kind },
                since: *since,
                until: None,
                evidence: vec![*seq],
            })
            .collect();
        rights.extend(t.initial.iter().map(|(p, role, seq, since)| Right {
            principal: p.clone(),
            via: Via::InitialSupport { role: *role },
            since: *since,
            until: None,
            evidence: vec![*seq],
        }));
        let empty = Items::default();
        let items = self.by_tenant.get(tenant).unwrap_or(&empty);
        rights.extend(
            items
                .grants
                .iter()
                .filter_map(|id| self.grant_right(*id, at))
                .map(|(_, r)| r),
        );
        rights.extend(
            items
                .invitations
                .iter()
                .filter_map(|id| self.invitation_right(*id))
                .map(|(_, r)| r),
        );
        rights.sort_by(|a, b| {
            (&a.principal, a.evidence.first()).cmp(&(&b.principal, b.evidence.first()))
        });
        let mut open_sessions: Vec<OpenSession> = items
            .sessions
            .iter()
            .filter_map(|id| self.sessions.get(id))
            .filter(|s| s.open.deadline > at)
            .map(|s| s.open.clone())
            .collect();
        open_sessions.sort_by_key(|s| s.started);
        let mut live_consents: Vec<LiveConsent> = items
            .consents
            .iter()
            .filter_map(|id| self.consents.get(id))
            .filter(|(_, c, closed)| !closed && c.expires_at > at)
            .map(|(_, c, _)| c.clone())
            .collect();
        live_consents.sort_by_key(|c| c.given);
        Some(TenantAccess {
            tenant: tenant.clone(),
            name: t.name.clone(),
            onboarding: t.onboarding,
            rights,
            open_sessions,
            live_consents,
        })
    }

    /// Every tenant `principal` can enter at `at` (ORC's access list), with the right.
    pub fn access_list(&self, principal: &PrincipalId, at: Timestamp) -> Vec<(TenantId, Right)> {
        let mut out: Vec<(TenantId, Right)> = Vec::new();
        let plain = |via, seq: Seq, since| Right {
            principal: principal.clone(),
            via,
            since,
            until: None,
            evidence: vec![seq],
        };
        for id in self.member_of.get(principal).into_iter().flatten() {
            if let Some((kind, seq, since)) =
                self.tenants.get(id).and_then(|t| t.members.get(principal))
            {
                out.push((id.clone(), plain(Via::Member { kind: *kind }, *seq, *since)));
            }
        }
        let empty = Items::default();
        let items = self.by_principal.get(principal).unwrap_or(&empty);
        for id in &items.supported {
            let initial = self.tenants.get(id).into_iter().flat_map(|t| &t.initial);
            for (_, role, seq, since) in initial.filter(|(p, ..)| p == principal) {
                out.push((
                    id.clone(),
                    plain(Via::InitialSupport { role: *role }, *seq, *since),
                ));
            }
        }
        out.extend(
            items
                .grants
                .iter()
                .filter_map(|id| self.grant_right(*id, at))
                .map(|(t, r)| (t.clone(), r)),
        );
        out.extend(
            items
                .invitations
                .iter()
                .filter_map(|id| self.invitation_right(*id))
                .map(|(t, r)| (t.clone(), r)),
        );
        out.sort_by(|a, b| (&a.0, a.1.evidence.first()).cmp(&(&b.0, b.1.evidence.first())));
        out
    }

    /// The right an approved, unexpired, unrevoked grant gives at `at`.
    fn grant_right(&self, id: GrantId, at: Timestamp) -> Option<(&TenantId, Right)> {
        let g = self.grants.get(&id)?;
        let (approved, since, until) = g.approved?;
        (until > at).then(|| {
            (
                &g.tenant,
                Right {
                    principal: g.grantee.clone(),
                    via: Via::Grant {
                        grant: id,
                        role: g.role,
                        scopes: g.scopes.clone(),
                    },
                    since,
                    until: Some(until),
                    evidence: [g.requested, approved]
                        .into_iter()
                        .chain(g.extended.iter().copied())
                        .collect(),
                },
            )
        })
    }

    /// The right of an accepted, active, unrevoked invitation: a partner has no access
    /// before the customer's IT admin accepts (HP WXP), a guest none before accepting (ORC).
    fn invitation_right(&self, id: InvitationId) -> Option<(&TenantId, Right)> {
        let i = self.invitations.get(&id)?;
        let (accepted, since) = i.accepted?;
        (i.active && !i.closed).then(|| {
            (
                &i.tenant,
                Right {
                    principal: i.invitee.clone(),
                    via: Via::Invitation {
                        invitation: id,
                        kind: i.kind,
                        scopes: i.scopes.clone(),
                    },
                    since,
                    until: None,
                    evidence: vec![i.created, accepted],
                },
            )
        })
    }
}
