//! custos-demo: a deterministic, realistic workload of the five vendors' stories.
//!
//! [`Demo`] yields events in time order over a span (the 90 days before "now" by default),
//! each with the simulated time at which it happens and the stream it belongs to:
//! account creation with the CSM and onboarding PM (Workiva), partner-created accounts
//! waiting for the IT admin's acceptance (HP WXP), two-person access grants that expire or
//! are revoked by the customer's admin (Workiva), consents over typed channels including
//! the unauthorised phone (4logist), impersonation and view-as sessions with actions of
//! every importance that end by staff or at the one-hour limit and are followed by a
//! notice to the customer (Teamleader, 4logist), guests invited from other accounts
//! (ORC), support leads' reviews, and refused self-grants. The same seed gives the same
//! events, byte for byte.

pub mod driver;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, Ipv4Addr};

use custos_core::vocab::*;
use custos_core::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// One generated event: when it happens, where it goes, what it is.
#[derive(Debug, Clone)]
pub struct DemoEvent {
    /// Simulated time of the event (non-decreasing along the sequence).
    pub at: Timestamp,
    /// The aggregate stream.
    pub stream: StreamId,
    /// The event.
    pub event: NewEvent,
}

/// The demo's size and span.
#[derive(Debug, Clone, Copy)]
pub struct DemoConfig {
    /// Events to generate.
    pub events: u64,
    /// Seed of the random choices.
    pub seed: u64,
    /// End of the simulated span ("now").
    pub end: Timestamp,
    /// Length of the span, in days.
    pub days: i64,
}

#[derive(Debug, Clone)]
struct Tenant {
    id: TenantId,
    admin: PrincipalId,
    users: Vec<PrincipalId>,
    onboarding: bool,
}

#[derive(Debug, Clone)]
struct Grant {
    id: GrantId,
    tenant: usize,
    grantee: usize,
    expires: Timestamp,
}

/// The generator. An iterator of exactly `config.events` events.
#[derive(Debug)]
pub struct Demo {
    rng: StdRng,
    now: Timestamp,
    step: i64,
    remaining: u64,
    staff: Vec<(PrincipalId, StaffRole)>,
    tenants: Vec<Tenant>,
    tenant_target: usize,
    grants: Vec<Grant>,
    pending: BinaryHeap<Reverse<(Timestamp, u64)>>,
    queued: std::collections::HashMap<u64, DemoEvent>,
    counter: u64,
    enrolled: usize,
}

fn name<T>(make: impl FnOnce(String) -> Result<T, IdError>, s: String) -> T {
    match make(s) {
        Ok(v) => v,
        // Every name built here is `[a-z0-9:/-]` and short.
        Err(e) => unreachable!("demo name: {e}"),
    }
}

impl Demo {
    /// A generator for `config`.
    pub fn new(config: DemoConfig) -> Demo {
        let span = config.days * Timestamp::DAY;
        let events = config.events.max(1);
        let tenant_target = (events / 60).clamp(5, 20_000) as usize;
        let staff_count = (tenant_target / 8).clamp(12, 2_000);
        let roles = [
            StaffRole::SupportL1,
            StaffRole::SupportL1,
            StaffRole::SupportL2,
            StaffRole::Csm,
            StaffRole::Csm,
            StaffRole::Csd,
            StaffRole::OnboardingManager,
            StaffRole::ProfessionalServices,
            StaffRole::PartnerAdmin,
            StaffRole::SupportLead,
        ];
        let staff = (0..staff_count)
            .map(|i| {
                (
                    name(PrincipalId::new, format!("staff:s{i:04}")),
                    roles[i % roles.len()],
                )
            })
            .collect();
        Demo {
            rng: StdRng::seed_from_u64(config.seed),
            now: Timestamp(config.end.0 - span),
            step: (span / events as i64).max(1),
            remaining: config.events,
            staff,
            tenants: Vec::new(),
            tenant_target,
            grants: Vec::new(),
            pending: BinaryHeap::new(),
            queued: std::collections::HashMap::new(),
            counter: 0,
            enrolled: 0,
        }
    }

    fn id(&mut self) -> EventId {
        let ms = (self.now.0 / 1_000).max(0) as u64;
        EventId::from_ulid(ulid::Ulid::from_parts(ms, self.rng.gen()))
    }

    fn ulid(&mut self) -> u128 {
        self.id().0
    }

    fn staff_with(&mut self, role: StaffRole) -> usize {
        let n = self.staff.len();
        let start = self.rng.gen_range(0..n);
        (0..n)
            .map(|k| (start + k) % n)
            .find(|i| self.staff[*i].1 == role)
            .unwrap_or(start)
    }

    fn staff_ip(&mut self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 20, self.rng.gen(), self.rng.gen()))
    }

    fn customer_ip(&mut self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, self.rng.gen()))
    }

    fn event(
        &mut self,
        at: Timestamp,
        stream: StreamId,
        actor: PrincipalId,
        ip: IpAddr,
        payload: Payload,
    ) -> DemoEvent {
        let mut event = NewEvent::new(self.id(), actor, payload);
        event.source_ip = Some(ip);
        DemoEvent { at, stream, event }
    }

    /// Schedules an event for later.
    fn later(&mut self, e: DemoEvent) {
        self.counter += 1;
        self.pending.push(Reverse((e.at, self.counter)));
        self.queued.insert(self.counter, e);
    }

    fn tenant_stream(t: &TenantId) -> StreamId {
        name(StreamId::new, format!("tenant:{t}"))
    }

    fn stream(prefix: &str, id: impl std::fmt::Display) -> StreamId {
        name(StreamId::new, format!("{prefix}:{id}"))
    }

    /// Workiva / HP WXP: a new account.
    fn new_tenant(&mut self) -> DemoEvent {
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
                name: format!("Customer {n}"),
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
                identity_provider: partner_made.then(|| "aad".to_owned()),
                plan: partner_made.then(|| "standard".to_owned()),
            },
        );
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
                email: Some(format!("it@{id}.example")),
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
            if self.rng.gen_bool(0.8) {
                let at = now.plus_secs(self.rng.gen_range(1..5) * 86_400);
                let e = self.event(
                    at,
                    istream,
                    it_admin.clone(),
                    cip,
                    Payload::InvitationAccepted {
                        invitation: inv,
                        tenant: id,
                        accepted_by: it_admin,
                    },
                );
                self.later(e);
            }
        }
        created
    }

    /// Workiva: a two-person grant, approved or denied, later expiring or revoked.
    fn grant(&mut self, t: usize) -> DemoEvent {
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
                ticket: Some(ticket),
                ttl_secs: ttl as u64,
            },
        );
        let approved_at = now.plus_secs(self.rng.gen_range(60..1800));
        let approver_id = self.staff[approver].0.clone();
        if self.rng.gen_bool(0.9) {
            let expires = approved_at.plus_secs(ttl);
            let e = self.event(
                approved_at,
                stream.clone(),
                approver_id.clone(),
                ip,
                Payload::AccessApproved {
                    grant: id,
                    tenant: tenant.clone(),
                    approver: approver_id,
                    expires_at: expires,
                },
            );
            self.later(e);
            self.grants.push(Grant {
                id,
                tenant: t,
                grantee,
                expires,
            });
            if self.rng.gen_bool(0.1) {
                let admin = self.tenants[t].admin.clone();
                let cip = self.customer_ip();
                let at = approved_at.plus_secs(ttl / 2);
                let e = self.event(
                    at,
                    stream,
                    admin.clone(),
                    cip,
                    Payload::AccessRevoked {
                        grant: id,
                        tenant,
                        revoker: admin,
                        revoked_by: RevokedBy::TenantAdmin,
                        reason: "no longer needed".into(),
                    },
                );
                self.later(e);
            } else {
                let e = self.event(
                    expires,
                    stream,
                    PrincipalId::system(),
                    ip,
                    Payload::AccessExpired { grant: id, tenant },
                );
                self.later(e);
            }
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
    fn consent(&mut self, t: usize) -> DemoEvent {
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
                    .then(|| format!("director@{tenant}.example")),
                ticket,
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
    fn session(&mut self) -> Option<DemoEvent> {
        let now = self.now;
        self.grants.retain(|g| g.expires > now);
        if self.grants.is_empty() {
            return None;
        }
        let g = self.grants[self.rng.gen_range(0..self.grants.len())].clone();
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
                ticket_link,
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
            let e = self.event(
                at,
                stream.clone(),
                staff.clone(),
                ip,
                Payload::SessionAction {
                    session: id,
                    tenant: tenant.id.clone(),
                    staff: staff.clone(),
                    action,
                    importance,
                    detail: "as seen in the ticket".into(),
                    consent: None,
                    request_channel: (importance == Importance::Medium)
                        .then_some(Channel::VerifiedEmail),
                },
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

    /// ORC: a guest from another account invited with scopes.
    fn guest(&mut self, t: usize) -> Option<DemoEvent> {
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
        let scopes: Vec<InvitationScope> = all
            .iter()
            .copied()
            .filter(|_| self.rng.gen_bool(0.4))
            .collect();
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
                scopes: if scopes.is_empty() {
                    vec![InvitationScope::Billing]
                } else {
                    scopes
                },
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
                        accepted_by: guest,
                    },
                );
                self.later(e);
                if self.rng.gen_bool(0.2) {
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

    fn staff_enrolment(&mut self, i: usize) -> DemoEvent {
        let (id, role) = self.staff[i].clone();
        let ip = self.staff_ip();
        let training = self.rng.gen_bool(0.9);
        let mfa = self.rng.gen_bool(0.95);
        let hr = self.staff[0].0.clone();
        self.event(
            self.now,
            Self::stream("staff", &id),
            hr,
            ip,
            Payload::StaffEnrolled {
                staff: id.clone(),
                name: format!("Staff {i}"),
                roles: vec![role],
                mfa,
                sso: true,
                training_completed: training,
            },
        )
    }

    /// The next story's first event (follow-ups are queued).
    fn start_story(&mut self) -> DemoEvent {
        let enrolled = self.enrolled;
        if enrolled < self.staff.len() {
            return self.staff_enrolment(enrolled);
        }
        if self.tenants.len() < 2
            || (self.tenants.len() < self.tenant_target && self.rng.gen_bool(0.25))
        {
            return self.new_tenant();
        }
        let t = self.rng.gen_range(0..self.tenants.len());
        match self.rng.gen_range(0..10) {
            0..=2 => self.grant(t),
            3..=4 => self.consent(t),
            5..=7 => self.session().unwrap_or_else(|| self.grant(t)),
            _ => self.guest(t).unwrap_or_else(|| self.consent(t)),
        }
    }
}

impl Iterator for Demo {
    type Item = DemoEvent;

    fn next(&mut self) -> Option<DemoEvent> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        self.now = self.now.plus_micros(self.rng.gen_range(0..=2 * self.step));
        let due = matches!(self.pending.peek(), Some(Reverse((at, _))) if *at <= self.now);
        let mut e = if due {
            let Reverse((_, k)) = self.pending.pop()?;
            self.queued.remove(&k)?
        } else {
            let e = self.start_story();
            if matches!(e.event.payload, Payload::StaffEnrolled { .. }) {
                self.enrolled += 1;
            }
            e
        };
        e.at = e.at.max(self.now);
        self.now = e.at;
        Some(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn config(events: u64, seed: u64) -> DemoConfig {
        DemoConfig {
            events,
            seed,
            end: Timestamp::from_secs(1_800_000_000),
            days: 90,
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_events() {
        let a: Vec<NewEvent> = Demo::new(config(3_000, 7)).map(|e| e.event).collect();
        let b: Vec<NewEvent> = Demo::new(config(3_000, 7)).map(|e| e.event).collect();
        let c: Vec<NewEvent> = Demo::new(config(3_000, 8)).map(|e| e.event).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn events_are_in_time_order_within_the_span_and_unique() {
        let cfg = config(20_000, 1);
        let events: Vec<DemoEvent> = Demo::new(cfg).collect();
        assert_eq!(events.len(), 20_000);
        assert!(events.windows(2).all(|w| w[0].at <= w[1].at));
        let start = Timestamp(cfg.end.0 - 90 * Timestamp::DAY);
        assert!(events[0].at >= start);
        let last = events[events.len() - 1].at;
        assert!(
            last > Timestamp(cfg.end.0 - 5 * Timestamp::DAY)
                && last < Timestamp(cfg.end.0 + 5 * Timestamp::DAY),
            "{last}"
        );
        let ids: BTreeSet<EventId> = events.iter().map(|e| e.event.id).collect();
        assert_eq!(ids.len(), events.len());
    }

    #[test]
    fn the_mix_covers_the_five_stories() {
        let kinds: BTreeSet<EventKind> = Demo::new(config(20_000, 3))
            .map(|e| e.event.payload.kind())
            .collect();
        for k in [
            EventKind::TenantCreated,
            EventKind::StaffEnrolled,
            EventKind::AccessRequested,
            EventKind::AccessApproved,
            EventKind::AccessRevoked,
            EventKind::AccessExpired,
            EventKind::InvitationCreated,
            EventKind::InvitationAccepted,
            EventKind::ConsentGiven,
            EventKind::SessionStarted,
            EventKind::SessionAction,
            EventKind::SessionEnded,
            EventKind::CustomerNotified,
            EventKind::ReviewRecorded,
            EventKind::AttemptRejected,
        ] {
            assert!(kinds.contains(&k), "missing {k}");
        }
    }
}
