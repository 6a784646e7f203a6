//! The access projection, given/when/then, one story per seed.

use custos_core::access::{Access, Via};
use custos_core::vocab::*;
use custos_core::*;

/// A log under construction: each event one minute after the previous.
struct Log {
    events: Vec<Event>,
}

fn p(s: &str) -> PrincipalId {
    PrincipalId::new(s).expect("principal")
}

fn t(s: &str) -> TenantId {
    TenantId::new(s).expect("tenant")
}

fn minute(n: i64) -> Timestamp {
    Timestamp::from_secs(1_790_000_000 + 60 * n)
}

impl Log {
    fn new() -> Log {
        Log { events: Vec::new() }
    }

    /// Appends a payload at minute `n`; returns its seq.
    fn at(&mut self, n: i64, payload: Payload) -> Seq {
        let seq = Seq(self.events.len() as u64 + 1);
        let e = NewEvent::new(EventId(u128::from(seq.0)), p("staff:actor"), payload).place(
            seq,
            StreamId::new("s").expect("stream"),
            seq.0,
            minute(n),
        );
        self.events.push(e);
        seq
    }

    /// The projection of the events recorded up to minute `n`, asked at minute `n`.
    fn as_of(&self, n: i64) -> Access {
        let mut a = Access::default();
        for e in self.events.iter().filter(|e| e.recorded_at <= minute(n)) {
            a.apply(e);
        }
        a
    }

    fn principals(&self, tenant: &str, n: i64) -> Vec<String> {
        let a = self.as_of(n);
        let mut v: Vec<String> = a
            .tenant(&t(tenant), minute(n))
            .expect("tenant")
            .rights
            .iter()
            .map(|r| r.principal.to_string())
            .collect();
        v.dedup();
        v
    }
}

/// The tenants `who` can enter as of minute `n`.
fn tenants(log: &Log, who: &PrincipalId, n: i64) -> Vec<String> {
    log.as_of(n)
        .access_list(who, minute(n))
        .into_iter()
        .map(|(t, _)| t.to_string())
        .collect()
}

fn acme(log: &mut Log) -> Seq {
    log.at(
        0,
        Payload::TenantCreated {
            tenant: t("acme"),
            name: "Acme".into(),
            admins: vec![p("user:acme/admin")],
            initial_support: vec![
                InitialSupport {
                    staff: p("staff:csm"),
                    role: StaffRole::Csm,
                },
                InitialSupport {
                    staff: p("staff:pm"),
                    role: StaffRole::OnboardingManager,
                },
            ],
            partner: None,
            identity_provider: None,
            plan: None,
        },
    )
}

#[test]
fn workiva_creation_attaches_the_csm_and_pm_with_their_evidence() {
    let mut log = Log::new();
    let created = acme(&mut log);
    let a = log.as_of(1);
    let view = a.tenant(&t("acme"), minute(1)).expect("acme");
    assert_eq!(view.name, "Acme");
    let csm = view
        .rights
        .iter()
        .find(|r| r.principal == p("staff:csm"))
        .expect("csm");
    assert_eq!(
        csm.via,
        Via::InitialSupport {
            role: StaffRole::Csm
        }
    );
    assert_eq!(csm.evidence, vec![created]);
    assert_eq!(
        log.principals("acme", 1),
        ["staff:csm", "staff:pm", "user:acme/admin"]
    );
    assert!(a.tenant(&t("other"), minute(1)).is_none());
}

#[test]
fn workiva_a_grant_gives_access_from_approval_until_expiry_or_revocation() {
    let mut log = Log::new();
    acme(&mut log);
    let g = GrantId(7);
    let req = log.at(
        2,
        Payload::AccessRequested {
            grant: g,
            tenant: t("acme"),
            requester: p("staff:csm"),
            grantee: p("staff:ana"),
            role: StaffRole::SupportL2,
            scopes: vec![Scope::View, Scope::Settings],
            reason: "ticket".into(),
            ticket: Some("T-1".into()),
            ttl_secs: 3600,
        },
    );
    let ok = log.at(
        3,
        Payload::AccessApproved {
            grant: g,
            tenant: t("acme"),
            approver: p("staff:csd"),
            expires_at: minute(63),
        },
    );
    // Requested but not approved: no access.
    assert!(!log.principals("acme", 2).contains(&"staff:ana".to_owned()));
    // Approved: access, with both events as evidence and the expiry as the limit.
    let a = log.as_of(10);
    let list = a.access_list(&p("staff:ana"), minute(10));
    assert_eq!(list.len(), 1);
    let (tenant, right) = &list[0];
    assert_eq!(tenant, &t("acme"));
    assert_eq!(right.evidence, vec![req, ok]);
    assert_eq!(right.until, Some(minute(63)));
    assert!(matches!(
        right.via,
        Via::Grant {
            role: StaffRole::SupportL2,
            ..
        }
    ));
    // Past the expiry, even with no expiry event recorded: no access.
    assert!(log
        .as_of(64)
        .access_list(&p("staff:ana"), minute(64))
        .is_empty());
    // Revoked by the customer's admin before the expiry: no access from then on.
    log.at(
        20,
        Payload::AccessRevoked {
            grant: g,
            tenant: t("acme"),
            revoker: p("user:acme/admin"),
            revoked_by: RevokedBy::TenantAdmin,
            reason: "done".into(),
        },
    );
    assert_eq!(
        log.as_of(19).access_list(&p("staff:ana"), minute(19)).len(),
        1
    );
    assert!(log
        .as_of(21)
        .access_list(&p("staff:ana"), minute(21))
        .is_empty());
}

#[test]
fn hp_wxp_a_partner_has_no_access_until_the_it_admin_accepts() {
    let mut log = Log::new();
    acme(&mut log);
    let inv = InvitationId(9);
    log.at(
        1,
        Payload::InvitationCreated {
            invitation: inv,
            tenant: t("acme"),
            kind: InvitationKind::Partner,
            invitee: p("partner:hpx"),
            invited_by: p("partner:hpx"),
            scopes: vec![InvitationScope::Provisioning],
            expires_at: minute(10_000),
        },
    );
    log.at(
        2,
        Payload::InvitationSent {
            invitation: inv,
            tenant: t("acme"),
        },
    );
    assert!(
        log.as_of(5)
            .access_list(&p("partner:hpx"), minute(5))
            .is_empty(),
        "pending"
    );
    log.at(
        6,
        Payload::InvitationAccepted {
            invitation: inv,
            tenant: t("acme"),
            accepted_by: p("user:acme/it"),
        },
    );
    let list = log.as_of(7).access_list(&p("partner:hpx"), minute(7));
    assert_eq!(list.len(), 1);
    assert!(matches!(
        list[0].1.via,
        Via::Invitation {
            kind: InvitationKind::Partner,
            ..
        }
    ));
}

#[test]
fn orc_a_guest_sees_every_account_it_may_enter_and_inactive_ones_drop_out() {
    let mut log = Log::new();
    acme(&mut log);
    log.at(
        1,
        Payload::TenantCreated {
            tenant: t("beta"),
            name: "Beta".into(),
            admins: vec![p("user:beta/admin")],
            initial_support: vec![],
            partner: None,
            identity_provider: None,
            plan: None,
        },
    );
    let guest = p("user:gamma/accountant");
    for (n, (tenant, inv)) in [("acme", 1u128), ("beta", 2)].into_iter().enumerate() {
        let n = n as i64 * 10;
        log.at(
            2 + n,
            Payload::InvitationCreated {
                invitation: InvitationId(inv),
                tenant: t(tenant),
                kind: InvitationKind::Guest,
                invitee: guest.clone(),
                invited_by: p(&format!("user:{tenant}/admin")),
                scopes: vec![InvitationScope::Billing],
                expires_at: minute(10_000),
            },
        );
        log.at(
            3 + n,
            Payload::InvitationAccepted {
                invitation: InvitationId(inv),
                tenant: t(tenant),
                accepted_by: guest.clone(),
            },
        );
    }
    assert_eq!(tenants(&log, &guest, 20), ["acme", "beta"]);
    log.at(
        30,
        Payload::InvitationDeactivated {
            invitation: InvitationId(1),
            tenant: t("acme"),
            by: p("user:acme/admin"),
        },
    );
    assert_eq!(tenants(&log, &guest, 31), ["beta"]);
    log.at(
        40,
        Payload::InvitationReactivated {
            invitation: InvitationId(1),
            tenant: t("acme"),
            by: p("user:acme/admin"),
        },
    );
    assert_eq!(tenants(&log, &guest, 41), ["acme", "beta"]);
    assert_eq!(
        tenants(&log, &guest, 20),
        ["acme", "beta"],
        "as of the past, unchanged"
    );
}

#[test]
fn teamleader_sessions_close_at_their_deadline_and_consents_lapse() {
    let mut log = Log::new();
    acme(&mut log);
    log.at(
        1,
        Payload::SessionStarted {
            session: SessionId(1),
            tenant: t("acme"),
            staff: p("staff:ana"),
            grant: None,
            target: SessionTarget::ViewAs(p("user:acme/emp")),
            mode: SessionMode::ViewOnly,
            supervision: Supervision::Unsupervised,
            reason: "rights".into(),
            ticket_link: "https://help.example/1".into(),
            consent: None,
            deadline: minute(61),
        },
    );
    log.at(
        2,
        Payload::ConsentGiven {
            consent: ConsentId(1),
            tenant: t("acme"),
            given_by: p("user:acme/admin"),
            grantee: None,
            scopes: vec![Scope::TemplateEdit],
            channel: Channel::Phone,
            verified_sender: None,
            ticket: "T-2".into(),
            expires_at: minute(30),
        },
    );
    let view = log.as_of(10).tenant(&t("acme"), minute(10)).expect("acme");
    assert_eq!(view.open_sessions.len(), 1);
    assert_eq!(view.live_consents.len(), 1);
    assert!(
        !view.live_consents[0].authorised,
        "a phone consent is recorded, never authorised"
    );
    let later = log.as_of(62).tenant(&t("acme"), minute(62)).expect("acme");
    assert!(
        later.open_sessions.is_empty(),
        "closed at the one-hour deadline without an event"
    );
    assert!(later.live_consents.is_empty(), "lapsed at its expiry");
}

#[test]
fn a_projection_restored_from_a_snapshot_answers_like_the_full_fold() {
    let mut log = Log::new();
    acme(&mut log);
    let g = GrantId(3);
    log.at(
        2,
        Payload::AccessRequested {
            grant: g,
            tenant: t("acme"),
            requester: p("staff:csm"),
            grantee: p("staff:ana"),
            role: StaffRole::SupportL2,
            scopes: vec![Scope::View],
            reason: "ticket".into(),
            ticket: None,
            ttl_secs: 3600,
        },
    );
    log.at(
        3,
        Payload::AccessApproved {
            grant: g,
            tenant: t("acme"),
            approver: p("staff:csd"),
            expires_at: minute(63),
        },
    );
    let full = log.as_of(70);
    for cut in 0..log.events.len() {
        let mut before = Access::default();
        for e in &log.events[..cut] {
            before.apply(e);
        }
        let bytes = codec::encode_snapshot(&before).expect("encode");
        let mut restored: Access = codec::decode_snapshot(&bytes).expect("decode");
        assert_eq!(restored.applied(), before.applied());
        for e in &log.events[cut..] {
            restored.apply(e);
        }
        for at in [minute(10), minute(70)] {
            assert_eq!(
                restored.tenant(&t("acme"), at),
                full.tenant(&t("acme"), at),
                "cut at {cut}"
            );
            assert_eq!(
                restored.access_list(&p("staff:ana"), at),
                full.access_list(&p("staff:ana"), at)
            );
        }
    }
}
