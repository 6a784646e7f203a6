//! The access stories, one method each — grants, consents, sessions, an agent's sweep
//! through many accounts: what the generator starts when it starts a story (its first
//! event now, the rest scheduled for later). The account-side stories are in `accounts`.

use custos_core::vocab::*;
use custos_core::*;
use rand::Rng;

use crate::accounts::readiness;
use crate::{Demo, DemoEvent, Grant};

impl Demo {
    /// Workiva: a two-person grant, approved or denied, later expiring or revoked.
    pub(crate) fn grant(&mut self, t: usize) -> DemoEvent {
        let tenant = self.tenants[t].id.clone();
        let requester = self.staff_with(StaffRole::Csm);
        let level = if self.rng.gen_bool(0.5) {
            StaffRole::SupportL2
        } else {
            StaffRole::SupportL1
        };
        let grantee = self.staff_with(level);
        let ticket = format!("T-{}", self.rng.gen_range(1000..99999));
        let approver = self.staff_with(StaffRole::Csd);
        let now = self.now;
        let ip = self.staff_ip();
        let req_actor = self.staff[requester].0.clone();
        if self.rng.gen_bool(0.03) {
            // A staff member tries to add themselves: refused and recorded.
            let s = Self::stream("attempts", &tenant);
            return self.event(
                now,
                s,
                self.staff[grantee].0.clone(),
                ip,
                Payload::AttemptRejected {
                    rule: "grant.self-request".into(),
                    command: "request_access".into(),
                    tenant: Some(tenant),
                    subject: Some(self.staff[grantee].0.clone()),
                    reason: "staff may never add themselves to an account".into(),
                },
            );
        }
        let id = GrantId(self.ulid());
        let stream = Self::stream("grant", id);
        let ttl = self.rng.gen_range(1..=8) * 3_600;
        let first = self.event(
            now,
            stream.clone(),
            req_actor.clone(),
            ip,
            Payload::AccessRequested {
                grant: id,
                tenant: tenant.clone(),
                requester: req_actor,
                grantee: self.staff[grantee].0.clone(),
                role: self.staff[grantee].1,
                scopes: vec![Scope::View, Scope::Settings],
                reason: "customer ticket".into(),
                ticket: Some(ticket.into()),
                ttl_secs: ttl as u64,
            },
        );
        let approved_at = now.plus_secs(self.rng.gen_range(60..1800));
        let approver_id = self.staff[approver].0.clone();
        if self.rng.gen_bool(0.9) {
            let mut expires = approved_at.plus_secs(ttl);
            let e = self.event(
                approved_at,
                stream.clone(),
                approver_id.clone(),
                ip,
                Payload::AccessApproved {
                    grant: id,
                    tenant: tenant.clone(),
                    approver: approver_id.clone(),
                    expires_at: expires,
                },
            );
            self.later(e);
            // Its fate: revoked by the customer half-way (6 %), revoked by the customer
            // while the agent is in the account (4 %), extended once to three times by
            // the CSD shortly before it lapses (12 %: three times is a finding), or it
            // simply expires.
            let fate = self.rng.gen_range(0..100);
            if fate < 6 {
                let admin = self.tenants[t].admin.clone();
                let cip = self.customer_ip();
                let at = approved_at.plus_secs(ttl / 2);
                let e = self.event(
                    at,
                    stream.clone(),
                    admin.clone(),
                    cip,
                    Payload::AccessRevoked {
                        grant: id,
                        tenant: tenant.clone(),
                        revoker: admin,
                        revoked_by: RevokedBy::TenantAdmin,
                        reason: "no longer needed".into(),
                    },
                );
                self.later(e);
            } else if (10..22).contains(&fate) {
                for _ in 0..self.rng.gen_range(1..=3) {
                    let at = expires.plus_secs(-600);
                    expires = at.plus_secs(2 * 3_600);
                    let e = self.event(
                        at,
                        stream.clone(),
                        approver_id.clone(),
                        ip,
                        Payload::AccessExtended {
                            grant: id,
                            tenant: tenant.clone(),
                            grantee: self.staff[grantee].0.clone(),
                            extended_by: approver_id.clone(),
                            expires_at: expires,
                            reason: "the customer's migration runs late".into(),
                        },
                    );
                    self.later(e);
                }
            }
            if fate >= 6 {
                // What custos records by itself when it lapses (the driver leaves this to
                // the policy's expiry, at the expiry in force).
                let e = self.event(
                    expires,
                    stream,
                    PrincipalId::system(),
                    ip,
                    Payload::AccessExpired {
                        grant: id,
                        tenant: tenant.clone(),
                    },
                );
                self.later(e);
            }
            self.grants.push(Grant {
                id,
                tenant: t,
                grantee,
                expires,
                revoke_in_session: (6..10).contains(&fate),
            });
        } else {
            let e = self.event(
                approved_at,
                stream,
                approver_id.clone(),
                ip,
                Payload::AccessDenied {
                    grant: id,
                    tenant,
                    denier: approver_id,
                    reason: "no ticket reference".into(),
                },
            );
            self.later(e);
        }
        first
    }

    /// 4logist / Teamleader: a consent over a typed channel.
    pub(crate) fn consent(&mut self, t: usize) -> DemoEvent {
        let tenant = self.tenants[t].id.clone();
        let admin = self.tenants[t].admin.clone();
        let id = ConsentId(self.ulid());
        let stream = Self::stream("consent", id);
        let channels = [
            Channel::InApp,
            Channel::VerifiedEmail,
            Channel::SignedDocument,
            Channel::LiveOnboardingCall,
            Channel::Phone,
        ];
        let channel = channels[self.rng.gen_range(0..channels.len())];
        let all = [
            Scope::View,
            Scope::Settings,
            Scope::Import,
            Scope::Download,
            Scope::TemplateEdit,
            Scope::DataChange,
        ];
        let scopes: Vec<Scope> = all
            .iter()
            .copied()
            .filter(|_| self.rng.gen_bool(0.4))
            .collect();
        let now = self.now;
        let cip = self.customer_ip();
        let expires = now.plus_secs(self.rng.gen_range(1..=14) * 86_400);
        let ticket = format!("T-{}", self.rng.gen_range(1000..99999));
        let first = self.event(
            now,
            stream.clone(),
            admin.clone(),
            cip,
            Payload::ConsentGiven {
                consent: id,
                tenant: tenant.clone(),
                given_by: admin.clone(),
                grantee: None,
                scopes: if scopes.is_empty() {
                    vec![Scope::View]
                } else {
                    scopes
                },
                channel,
                verified_sender: (channel == Channel::VerifiedEmail)
                    .then(|| format!("director@{tenant}.example").into()),
                ticket: ticket.into(),
                expires_at: expires,
            },
        );
        if self.rng.gen_bool(0.15) {
            let at = now.plus_secs(self.rng.gen_range(3_600..86_400));
            let e = self.event(
                at,
                stream,
                admin.clone(),
                cip,
                Payload::ConsentWithdrawn {
                    consent: id,
                    tenant,
                    by: admin,
                },
            );
            self.later(e);
        } else {
            let ip = self.staff_ip();
            let e = self.event(
                expires,
                stream,
                PrincipalId::system(),
                ip,
                Payload::ConsentExpired {
                    consent: id,
                    tenant,
                },
            );
            self.later(e);
        }
        first
    }

    /// Teamleader / 4logist: a session under a live grant, its actions, its end, the notice.
    pub(crate) fn session(&mut self) -> Option<DemoEvent> {
        let now = self.now;
        self.grants.retain(|g| g.expires > now);
        // An agent starts a session on a grant with at least the hour a session lasts.
        let usable: Vec<usize> = (0..self.grants.len())
            .filter(|i| self.grants[*i].expires > now.plus_secs(3_600))
            .collect();
        if usable.is_empty() {
            return None;
        }
        let pick = usable[self.rng.gen_range(0..usable.len())];
        let g = self.grants[pick].clone();
        self.grants[pick].revoke_in_session = false;
        let tenant = self.tenants[g.tenant].clone();
        let staff = self.staff[g.grantee].0.clone();
        let id = SessionId(self.ulid());
        let stream = Self::stream("session", id);
        let ip = self.staff_ip();
        let view_as = self.rng.gen_bool(0.3);
        let target_user = tenant.users[self.rng.gen_range(0..tenant.users.len())].clone();
        let mode = if self.rng.gen_bool(0.7) {
            SessionMode::ViewOnly
        } else {
            SessionMode::Write
        };
        let supervision = if tenant.onboarding && self.rng.gen_bool(0.5) {
            Supervision::LiveCall
        } else {
            Supervision::Unsupervised
        };
        let deadline = now.plus_secs(3_600);
        let ticket_link = format!(
            "https://help.example/tickets/{}",
            self.rng.gen_range(1000..99999)
        );
        let first = self.event(
            now,
            stream.clone(),
            staff.clone(),
            ip,
            Payload::SessionStarted {
                session: id,
                tenant: tenant.id.clone(),
                staff: staff.clone(),
                grant: Some(g.id),
                target: if view_as {
                    SessionTarget::ViewAs(target_user)
                } else {
                    SessionTarget::User(target_user)
                },
                mode,
                supervision,
                reason: "investigate the customer's question".into(),
                ticket_link: ticket_link.into(),
                consent: None,
                deadline,
            },
        );
        let actions = self.rng.gen_range(1..=5);
        let mut at = now;
        for _ in 0..actions {
            at = at.plus_secs(self.rng.gen_range(30..600));
            // View-only sessions mostly look; now and then somebody tries to change a thing.
            let roll = if mode == SessionMode::ViewOnly && self.rng.gen_bool(0.9) {
                self.rng.gen_range(0..6)
            } else {
                self.rng.gen_range(0..10)
            };
            let action = match roll {
                0..=4 => ActionKind::ViewSettings,
                5 => ActionKind::ViewUserRights,
                6 => ActionKind::ChangeSetting(Setting::Numbering),
                7 => ActionKind::EditTemplate,
                8 => ActionKind::ChangeSetting(Setting::Other("theme".into())),
                _ => ActionKind::ChangeSetting(Setting::Password),
            };
            let importance = action.importance();
            // Mostly asked in writing; sometimes only by phone, which is no authorised
            // request (4logist): refused and recorded.
            let channel = if self.rng.gen_bool(0.2) {
                Channel::Phone
            } else {
                Channel::VerifiedEmail
            };
            let e = self.event(
                at,
                stream.clone(),
                staff.clone(),
                ip,
                action_payload(
                    (id, &tenant.id, &staff),
                    action,
                    "as seen in the ticket",
                    (importance == Importance::Medium).then_some(channel),
                ),
            );
            self.later(e);
        }
        if g.revoke_in_session {
            // The customer's admin revokes the access while the agent is in the account;
            // the agent's next step is refused (Workiva: the org admin removes support).
            let cip = self.customer_ip();
            let revoked = now.plus_secs(300);
            let e = self.event(
                revoked,
                Self::stream("grant", g.id),
                tenant.admin.clone(),
                cip,
                Payload::AccessRevoked {
                    grant: g.id,
                    tenant: tenant.id.clone(),
                    revoker: tenant.admin.clone(),
                    revoked_by: RevokedBy::TenantAdmin,
                    reason: "we did not ask for this".into(),
                },
            );
            self.later(e);
            at = at.max(revoked).plus_secs(60);
            let e = self.event(
                at,
                stream.clone(),
                staff.clone(),
                ip,
                action_payload(
                    (id, &tenant.id, &staff),
                    ActionKind::ViewUserRights,
                    "one more look",
                    None,
                ),
            );
            self.later(e);
        }
        let (end, reason) = if self.rng.gen_bool(0.1) {
            (deadline, SessionEndReason::TimeLimit)
        } else if self.rng.gen_bool(0.05) {
            (at.plus_secs(60), SessionEndReason::Tenant)
        } else {
            (at.plus_secs(60), SessionEndReason::Staff)
        };
        let actor = if reason == SessionEndReason::TimeLimit {
            PrincipalId::system()
        } else {
            staff.clone()
        };
        let e = self.event(
            end,
            stream.clone(),
            actor,
            ip,
            Payload::SessionEnded {
                session: id,
                tenant: tenant.id.clone(),
                reason,
            },
        );
        self.later(e);
        // The customer is told afterwards — not always (Teamleader's rule, a finding).
        if self.rng.gen_bool(0.9) {
            let e = self.event(
                end.plus_secs(300),
                stream,
                staff,
                ip,
                Payload::CustomerNotified {
                    session: id,
                    tenant: tenant.id.clone(),
                    channel: Channel::InApp,
                },
            );
            self.later(e);
        }
        if self.rng.gen_bool(0.3) {
            let lead = self.staff_with(StaffRole::SupportLead);
            let review = ReviewId(self.ulid());
            let at = end.plus_secs(self.rng.gen_range(1..7) * 86_400);
            let lead_id = self.staff[lead].0.clone();
            let e = self.event(
                at,
                Self::stream("review", review),
                lead_id.clone(),
                ip,
                Payload::ReviewRecorded {
                    review,
                    reviewer: lead_id,
                    tenant: Some(tenant.id.clone()),
                    subject: ReviewSubject::Session(id),
                    outcome: ReviewOutcome::Acknowledged,
                    comment: "reason and ticket checked".into(),
                },
            );
            self.later(e);
        }
        Some(first)
    }

    /// An agent works through a batch of tickets in six to eight accounts in one
    /// afternoon, each on its own two-person grant (a finding: many accounts a day).
    pub(crate) fn sweep(&mut self) -> DemoEvent {
        let n = self.staff.len();
        let from = self.rng.gen_range(0..n);
        let agent = (0..n)
            .map(|k| (from + k) % n)
            .find(|i| self.staff[*i].1 == StaffRole::SupportL2 && readiness(*i) == (true, true))
            .unwrap_or(from);
        let (staff, role) = self.staff[agent].clone();
        let csm = self.staff_with(StaffRole::Csm);
        let csd = self.staff_with(StaffRole::Csd);
        let (csm, csd) = (self.staff[csm].0.clone(), self.staff[csd].0.clone());
        let ip = self.staff_ip();
        let accounts = self.rng.gen_range(6..=8).min(self.tenants.len());
        let first_tenant = self.rng.gen_range(0..self.tenants.len());
        let mut first = None;
        for k in 0..accounts {
            let tenant = self.tenants[(first_tenant + k) % self.tenants.len()].clone();
            let at = self.now.plus_secs(k as i64 * 1_200);
            let grant = GrantId(self.ulid());
            let gstream = Self::stream("grant", grant);
            let ticket = self.rng.gen_range(1000..99999);
            let request = self.event(
                at,
                gstream.clone(),
                csm.clone(),
                ip,
                Payload::AccessRequested {
                    grant,
                    tenant: tenant.id.clone(),
                    requester: csm.clone(),
                    grantee: staff.clone(),
                    role,
                    scopes: vec![Scope::View],
                    reason: "ticket batch".into(),
                    ticket: Some(format!("T-{ticket}").into()),
                    ttl_secs: 2 * 3_600,
                },
            );
            match first {
                None => first = Some(request),
                Some(_) => self.later(request),
            }
            let approved = self.event(
                at.plus_secs(60),
                gstream,
                csd.clone(),
                ip,
                Payload::AccessApproved {
                    grant,
                    tenant: tenant.id.clone(),
                    approver: csd.clone(),
                    expires_at: at.plus_secs(60 + 2 * 3_600),
                },
            );
            self.later(approved);
            let session = SessionId(self.ulid());
            let sstream = Self::stream("session", session);
            let start = at.plus_secs(120);
            let steps = [
                Payload::SessionStarted {
                    session,
                    tenant: tenant.id.clone(),
                    staff: staff.clone(),
                    grant: Some(grant),
                    target: SessionTarget::User(tenant.admin.clone()),
                    mode: SessionMode::ViewOnly,
                    supervision: Supervision::Unsupervised,
                    reason: "ticket batch".into(),
                    ticket_link: "https://help.example/tickets/batch".into(),
                    consent: None,
                    deadline: start.plus_secs(3_600),
                },
                action_payload(
                    (session, &tenant.id, &staff),
                    ActionKind::ViewSettings,
                    "as seen in the ticket",
                    None,
                ),
                Payload::SessionEnded {
                    session,
                    tenant: tenant.id.clone(),
                    reason: SessionEndReason::Staff,
                },
                Payload::CustomerNotified {
                    session,
                    tenant: tenant.id.clone(),
                    channel: Channel::InApp,
                },
            ];
            for (i, payload) in steps.into_iter().enumerate() {
                let e = self.event(
                    start.plus_secs(i as i64 * 240),
                    sstream.clone(),
                    staff.clone(),
                    ip,
                    payload,
                );
                self.later(e);
            }
        }
        match first {
            Some(e) => e,
            // Fewer than one tenant: cannot happen once stories run (two at least).
            None => self.consent(0),
        }
    }
}

/// What a staff member did in a session (`(session, tenant, staff)`), at the action's own
/// importance.
fn action_payload(
    (session, tenant, staff): (SessionId, &TenantId, &PrincipalId),
    action: ActionKind,
    detail: &str,
    request_channel: Option<Channel>,
) -> Payload {
    Payload::SessionAction {
        session,
        tenant: tenant.clone(),
        staff: staff.clone(),
        importance: action.importance(),
        action,
        detail: detail.into(),
        consent: None,
        request_channel,
    }
}
