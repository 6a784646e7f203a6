//! The account-side stories: new accounts with their CSM, onboarding PM and partner
//! (Workiva, HP WXP), guests from other accounts (ORC), what guests and partners do in
//! them, and the enrolment of staff.

use custos_core::vocab::*;
use custos_core::*;
use rand::Rng;

use crate::{name, Demo, DemoEvent, Tenant};

impl Demo {
    /// Workiva / HP WXP: a new account.
    pub(crate) fn new_tenant(&mut self) -> DemoEvent {
        let n = self.tenants.len();
        let id = name(TenantId::new, format!("t{n:05}"));
        let admin = name(PrincipalId::new, format!("user:{id}/admin"));
        let it_admin = name(PrincipalId::new, format!("user:{id}/it"));
        let users = (0..3)
            .map(|k| name(PrincipalId::new, format!("user:{id}/e{k}")))
            .collect();
        let partner_made = self.rng.gen_bool(0.2);
        let csd = self.staff_with(StaffRole::Csd);
        let csm = self.staff_with(StaffRole::Csm);
        let pm = self.staff_with(StaffRole::OnboardingManager);
        let partner = self.staff_with(StaffRole::PartnerAdmin);
        let now = self.now;
        let stream = Self::tenant_stream(&id);
        self.tenants.push(Tenant {
            id: id.clone(),
            admin: admin.clone(),
            users,
            onboarding: true,
        });
        let (actor, ip) = if partner_made {
            (self.staff[partner].0.clone(), self.staff_ip())
        } else {
            (self.staff[csd].0.clone(), self.staff_ip())
        };
        let created = self.event(
            now,
            stream.clone(),
            actor.clone(),
            ip,
            Payload::TenantCreated {
                tenant: id.clone(),
                name: format!("Customer {n}").into(),
                admins: vec![admin.clone()],
                initial_support: vec![
                    InitialSupport {
                        staff: self.staff[csm].0.clone(),
                        role: StaffRole::Csm,
                    },
                    InitialSupport {
                        staff: self.staff[pm].0.clone(),
                        role: StaffRole::OnboardingManager,
                    },
                ],
                partner: partner_made.then(|| self.staff[partner].0.clone()),
                identity_provider: partner_made.then(|| "aad".into()),
                plan: partner_made.then(|| "standard".into()),
            },
        );
        // Now and then the creator first tries to attach a first-line agent as well
        // (Workiva allows only the CSM and the onboarding PM): refused and recorded.
        if self.rng.gen_bool(0.05) {
            let l1 = self.staff_with(StaffRole::SupportL1);
            let attempt_id = name(TenantId::new, format!("t{n:05}x"));
            let e = self.event(
                now.plus_secs(30),
                Self::tenant_stream(&attempt_id),
                actor.clone(),
                ip,
                Payload::TenantCreated {
                    tenant: attempt_id.clone(),
                    name: format!("Customer {n}").into(),
                    admins: vec![name(PrincipalId::new, format!("user:{attempt_id}/admin"))],
                    initial_support: vec![InitialSupport {
                        staff: self.staff[l1].0.clone(),
                        role: StaffRole::SupportL1,
                    }],
                    partner: None,
                    identity_provider: None,
                    plan: None,
                },
            );
            self.later(e);
        }
        // The CSM opens and closes the onboarding period.
        let csm_id = self.staff[csm].0.clone();
        let e = self.event(
            now.plus_secs(60),
            stream.clone(),
            csm_id.clone(),
            ip,
            Payload::OnboardingOpened { tenant: id.clone() },
        );
        self.later(e);
        let close = now.plus_secs(self.rng.gen_range(7..30) * 86_400);
        let e = self.event(
            close,
            stream.clone(),
            csm_id,
            ip,
            Payload::OnboardingClosed { tenant: id.clone() },
        );
        self.later(e);
        let cip = self.customer_ip();
        let e = self.event(
            now.plus_secs(120),
            stream,
            admin.clone(),
            cip,
            Payload::CustomerUserAdded {
                tenant: id.clone(),
                user: it_admin.clone(),
                kind: ProfileKind::ItAdmin,
                email: Some(format!("it@{id}.example").into()),
            },
        );
        self.later(e);
        // ORC: an employee of the account, whom other accounts may invite as a guest.
        let employee = name(PrincipalId::new, format!("user:{id}/e0"));
        let e = self.event(
            now.plus_secs(150),
            Self::tenant_stream(&id),
            admin.clone(),
            cip,
            Payload::CustomerUserAdded {
                tenant: id.clone(),
                user: employee,
                kind: ProfileKind::Employee,
                email: None,
            },
        );
        self.later(e);
        if partner_made {
            // HP WXP: the partner waits for the customer's IT admin.
            let inv = InvitationId(self.ulid());
            let istream = Self::stream("invitation", inv);
            let e = self.event(
                now.plus_secs(180),
                istream.clone(),
                actor.clone(),
                ip,
                Payload::InvitationCreated {
                    invitation: inv,
                    tenant: id.clone(),
                    kind: InvitationKind::Partner,
                    invitee: actor.clone(),
                    invited_by: actor.clone(),
                    scopes: vec![
                        InvitationScope::Provisioning,
                        InvitationScope::SystemConfiguration,
                    ],
                    expires_at: now.plus_secs(14 * 86_400),
                },
            );
            self.later(e);
            let e = self.event(
                now.plus_secs(240),
                istream.clone(),
                actor.clone(),
                ip,
                Payload::InvitationSent {
                    invitation: inv,
                    tenant: id.clone(),
                },
            );
            self.later(e);
            let partner_inv = (&istream, inv, &id, InvitationKind::Partner);
            if self.rng.gen_bool(0.3) {
                // HP WXP: the partner starts provisioning before the IT admin accepted.
                let e = self.invitee_action(
                    now.plus_secs(300),
                    partner_inv,
                    &actor,
                    InvitationScope::Provisioning,
                );
                self.later(e);
            }
            if self.rng.gen_bool(0.8) {
                let at = now.plus_secs(self.rng.gen_range(1..5) * 86_400);
                let e = self.event(
                    at,
                    istream.clone(),
                    it_admin.clone(),
                    cip,
                    Payload::InvitationAccepted {
                        invitation: inv,
                        tenant: id.clone(),
                        accepted_by: it_admin,
                    },
                );
                self.later(e);
                // Then it manages what it was given; security was not among it.
                let scope = if self.rng.gen_bool(0.2) {
                    InvitationScope::Security
                } else {
                    InvitationScope::SystemConfiguration
                };
                let e = self.invitee_action(at.plus_secs(3_600), partner_inv, &actor, scope);
                self.later(e);
            }
        }
        if self.rng.gen_bool(0.1) {
            // Teamleader: the onboarding PM enters after the onboarding period closed,
            // without a consent: refused and recorded (unless a consent happens to be live).
            let session = SessionId(self.ulid());
            let at = close.plus_secs(self.rng.gen_range(1..5) * 86_400);
            let pm_id = self.staff[pm].0.clone();
            let ticket = self.rng.gen_range(1000..99999);
            let e = self.event(
                at,
                Self::stream("session", session),
                pm_id.clone(),
                ip,
                Payload::SessionStarted {
                    session,
                    tenant: id.clone(),
                    staff: pm_id.clone(),
                    grant: None,
                    target: SessionTarget::User(admin.clone()),
                    mode: SessionMode::ViewOnly,
                    supervision: Supervision::Unsupervised,
                    reason: "check the go-live settings".into(),
                    ticket_link: format!("https://help.example/tickets/{ticket}").into(),
                    consent: None,
                    deadline: at.plus_secs(3_600),
                },
            );
            self.later(e);
            let e = self.event(
                at.plus_secs(900),
                Self::stream("session", session),
                pm_id,
                ip,
                Payload::SessionEnded {
                    session,
                    tenant: id.clone(),
                    reason: SessionEndReason::Staff,
                },
            );
            self.later(e);
        }
        created
    }

    /// ORC: a guest from another account invited with scopes.
    pub(crate) fn guest(&mut self, t: usize) -> Option<DemoEvent> {
        if self.tenants.len() < 2 {
            return None;
        }
        let other = (t + 1 + self.rng.gen_range(0..self.tenants.len() - 1)) % self.tenants.len();
        let host = self.tenants[t].clone();
        let guest = self.tenants[other].users[0].clone();
        let inv = InvitationId(self.ulid());
        let stream = Self::stream("invitation", inv);
        let cip = self.customer_ip();
        let now = self.now;
        let all = [
            InvitationScope::Billing,
            InvitationScope::Support,
            InvitationScope::Provisioning,
            InvitationScope::SystemConfiguration,
            InvitationScope::Security,
        ];
        let mut scopes: Vec<InvitationScope> = all
            .iter()
            .copied()
            .filter(|_| self.rng.gen_bool(0.4))
            .collect();
        if scopes.is_empty() {
            scopes.push(InvitationScope::Billing);
        }
        let first = self.event(
            now,
            stream.clone(),
            host.admin.clone(),
            cip,
            Payload::InvitationCreated {
                invitation: inv,
                tenant: host.id.clone(),
                kind: InvitationKind::Guest,
                invitee: guest.clone(),
                invited_by: host.admin.clone(),
                scopes: scopes.clone(),
                expires_at: now.plus_secs(7 * 86_400),
            },
        );
        let e = self.event(
            now.plus_secs(5),
            stream.clone(),
            host.admin.clone(),
            cip,
            Payload::InvitationSent {
                invitation: inv,
                tenant: host.id.clone(),
            },
        );
        self.later(e);
        let answer = now.plus_secs(self.rng.gen_range(600..86_400));
        match self.rng.gen_range(0..10) {
            0 => {
                let e = self.event(
                    answer,
                    stream,
                    guest.clone(),
                    cip,
                    Payload::InvitationDeclined {
                        invitation: inv,
                        tenant: host.id,
                        declined_by: guest,
                    },
                );
                self.later(e);
            }
            1 => {
                let ip = self.staff_ip();
                let e = self.event(
                    now.plus_secs(7 * 86_400),
                    stream,
                    PrincipalId::system(),
                    ip,
                    Payload::InvitationExpired {
                        invitation: inv,
                        tenant: host.id,
                    },
                );
                self.later(e);
            }
            _ => {
                let e = self.event(
                    answer,
                    stream.clone(),
                    guest.clone(),
                    cip,
                    Payload::InvitationAccepted {
                        invitation: inv,
                        tenant: host.id.clone(),
                        accepted_by: guest.clone(),
                    },
                );
                self.later(e);
                // The guest works in the host account, within its scopes — now and then
                // outside them (ORC), refused and recorded.
                for k in 0..self.rng.gen_range(0..=2) {
                    let scope = if self.rng.gen_bool(0.05) {
                        all.iter().copied().find(|s| !scopes.contains(s))
                    } else {
                        None
                    }
                    .unwrap_or(scopes[k % scopes.len()]);
                    let e = self.invitee_action(
                        answer.plus_secs(3 * 3_600 * (k as i64 + 1)),
                        (&stream, inv, &host.id, InvitationKind::Guest),
                        &guest,
                        scope,
                    );
                    self.later(e);
                }
                if self.rng.gen_bool(0.2) {
                    if self.rng.gen_bool(0.5) {
                        // After being made inactive, the guest still tries: refused.
                        let e = self.invitee_action(
                            answer.plus_secs(2 * 86_400),
                            (&stream, inv, &host.id, InvitationKind::Guest),
                            &guest,
                            scopes[0],
                        );
                        self.later(e);
                    }
                    let e = self.event(
                        answer.plus_secs(86_400),
                        stream,
                        host.admin.clone(),
                        cip,
                        Payload::InvitationDeactivated {
                            invitation: inv,
                            tenant: host.id,
                            by: host.admin,
                        },
                    );
                    self.later(e);
                }
            }
        }
        Some(first)
    }

    /// What a guest or partner does in an account, on the strength of an invitation.
    fn invitee_action(
        &mut self,
        at: Timestamp,
        (stream, invitation, tenant, kind): (&StreamId, InvitationId, &TenantId, InvitationKind),
        invitee: &PrincipalId,
        scope: InvitationScope,
    ) -> DemoEvent {
        let cip = self.customer_ip();
        self.event(
            at,
            stream.clone(),
            invitee.clone(),
            cip,
            Payload::InviteeAction {
                invitation,
                tenant: tenant.clone(),
                invitee: invitee.clone(),
                kind,
                scope,
                detail: format!("{scope:?} change").to_lowercase().into(),
            },
        )
    }

    pub(crate) fn staff_enrolment(&mut self, i: usize) -> DemoEvent {
        let (id, role) = self.staff[i].clone();
        let ip = self.staff_ip();
        let (training, mfa) = readiness(i);
        let hr = self.staff[0].0.clone();
        self.event(
            self.now,
            Self::stream("staff", &id),
            hr,
            ip,
            Payload::StaffEnrolled {
                staff: id.clone(),
                name: format!("Staff {i}").into(),
                roles: vec![role],
                mfa,
                sso: true,
                training_completed: training,
            },
        )
    }
}

/// Whether staff member `i` has completed training and has MFA: a fixed share of the
/// support staff (who receive grants: roles 0–2 of the cycle) lack training (one L1 in
/// three) or MFA (one L2 in four), so that every demo shows the sessions the policy
/// refuses them.
pub(crate) fn readiness(i: usize) -> (bool, bool) {
    (
        !(i % 10 == 1 && (i / 10) % 3 == 0),
        !(i % 10 == 2 && (i / 10) % 4 == 1),
    )
}
