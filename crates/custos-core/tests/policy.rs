//! The vendors' rules, given/when/then: each rule refuses what its seed forbids (and the
//! refusal is recorded with the rule id), and a near miss passes. Workiva, Teamleader,
//! 4logist; the account-side rules are in `policy_accounts.rs`.

mod world;

use custos_core::policy::*;
use custos_core::vocab::*;
use custos_core::*;
use world::*;

// ----- Workiva (seed 000) -----

#[test]
fn workiva_only_the_csm_and_onboarding_pm_may_be_attached_at_creation() {
    let mut w = World::new();
    let create = |support: Vec<InitialSupport>, name: &str| {
        Command::Tenant(TenantCommand::Create {
            tenant: TenantId::new(name).expect("tenant"),
            name: name.into(),
            admins: vec![p("user:x/admin")],
            initial_support: support,
            partner: None,
            identity_provider: None,
            plan: None,
        })
    };
    let l2 = vec![InitialSupport {
        staff: p("staff:l2"),
        role: StaffRole::SupportL2,
    }];
    w.refused("staff:csd", create(l2, "beta"), "tenant.initial-support");
    let fake_csm = vec![InitialSupport {
        staff: p("staff:l1"),
        role: StaffRole::Csm,
    }];
    w.refused(
        "staff:csd",
        create(fake_csm, "beta"),
        "tenant.initial-support",
    );
    let ok = vec![InitialSupport {
        staff: p("staff:csm"),
        role: StaffRole::Csm,
    }];
    w.ok("staff:csd", create(ok.clone(), "beta"));
    w.refused("staff:l1", create(ok.clone(), "gamma"), "tenant.creator");
    w.refused("staff:csd", create(ok, "beta"), "tenant.exists");
}

#[test]
fn workiva_staff_may_never_add_themselves() {
    let mut w = World::new();
    let g = GrantId(900);
    w.refused(
        "staff:csm",
        request(g, "staff:csm", StaffRole::Csm, vec![Scope::View], 3600),
        "grant.self-request",
    );
    w.refused(
        "staff:l1",
        request(g, "staff:l2", StaffRole::SupportL2, vec![Scope::View], 3600),
        "grant.requester-role",
    );
    w.refused(
        "staff:csm",
        request(g, "staff:l2", StaffRole::Csm, vec![Scope::View], 3600),
        "grant.grantee",
    );
    w.refused(
        "staff:csm",
        request(
            g,
            "staff:l2",
            StaffRole::SupportL2,
            vec![Scope::View],
            9 * 3600,
        ),
        "grant.ttl",
    );
    w.ok(
        "staff:csm",
        request(g, "staff:l2", StaffRole::SupportL2, vec![Scope::View], 3600),
    );
}

#[test]
fn workiva_adding_a_support_user_needs_two_people() {
    let mut w = World::new();
    let g = GrantId(901);
    w.ok(
        "staff:csm",
        request(g, "staff:l2", StaffRole::SupportL2, vec![Scope::View], 3600),
    );
    w.refused(
        "staff:csm",
        Command::Grant(GrantCommand::Approve { grant: g }),
        "grant.self-approval",
    );
    w.refused(
        "staff:l2",
        Command::Grant(GrantCommand::Approve { grant: g }),
        "grant.self-approval",
    );
    w.refused(
        "staff:l1",
        Command::Grant(GrantCommand::Approve { grant: g }),
        "grant.approver-role",
    );
    let approved = w.ok(
        "staff:csd",
        Command::Grant(GrantCommand::Approve { grant: g }),
    );
    match &approved[0].payload {
        Payload::AccessApproved { expires_at, .. } => {
            assert_eq!(*expires_at, w.now.plus_secs(3600))
        }
        other => panic!("{other:?}"),
    }
    w.refused(
        "staff:csd2",
        Command::Grant(GrantCommand::Approve { grant: g }),
        "grant.state",
    );
    let list = w.state.access_list(&p("staff:l2"), w.now);
    assert_eq!(list.len(), 1, "the grantee can now enter acme");
}

#[test]
fn workiva_the_org_admin_can_remove_any_support_user() {
    let mut w = World::new();
    let g = w.grant("staff:l2", StaffRole::SupportL2, vec![Scope::View]);
    let revoke = || {
        Command::Grant(GrantCommand::Revoke {
            grant: g,
            reason: "no longer needed".into(),
        })
    };
    w.refused("staff:l1", revoke(), "grant.revoker");
    let e = w.ok("user:acme/admin", revoke());
    assert!(matches!(
        e[0].payload,
        Payload::AccessRevoked {
            revoked_by: RevokedBy::TenantAdmin,
            ..
        }
    ));
    assert!(w.state.access_list(&p("staff:l2"), w.now).is_empty());
    w.refused("user:acme/admin", revoke(), "grant.state");
}

#[test]
fn workiva_an_extension_is_decided_by_a_second_person_and_moves_the_expiry() {
    let mut w = World::new();
    let g = w.grant("staff:l2", StaffRole::SupportL2, vec![Scope::View]);
    let extend = |ttl_secs: u64| {
        Command::Grant(GrantCommand::Extend {
            grant: g,
            ttl_secs,
            reason: "the migration runs late".into(),
        })
    };
    w.advance(1800);
    // The grantee, and the requester (the CSM), may not extend it alone.
    w.refused("staff:l2", extend(3600), "grant.self-extension");
    w.refused("staff:csm", extend(3600), "grant.self-extension");
    w.refused("staff:l1", extend(3600), "grant.approver-role");
    // Not later than the current expiry (30 minutes from now), nor past the maximum.
    w.refused("staff:csd", extend(600), "grant.ttl");
    w.refused("staff:csd", extend(9 * 3600), "grant.ttl");
    let e = w.ok("staff:csd", extend(3 * 3600));
    let until = w.now.plus_secs(3 * 3600);
    match &e[0].payload {
        Payload::AccessExtended {
            expires_at,
            grantee,
            extended_by,
            ..
        } => {
            assert_eq!(*expires_at, until);
            assert_eq!((grantee, extended_by), (&p("staff:l2"), &p("staff:csd")));
        }
        other => panic!("{other:?}"),
    }
    // The right now lasts until the new expiry, and names the extension as evidence.
    w.advance(3600);
    let list = w.state.access_list(&p("staff:l2"), w.now);
    assert_eq!(list.len(), 1, "still inside the extended lifetime");
    assert_eq!(list[0].1.until, Some(until));
    assert_eq!(list[0].1.evidence.last(), Some(&e[0].seq));
    assert!(
        due(&w.state, w.now).is_empty(),
        "the old expiry is no longer due"
    );
    // It lapses at the new expiry, and then cannot be extended any more.
    w.advance(2 * 3600);
    assert!(due(&w.state, w.now)
        .iter()
        .any(|d| matches!(d.payloads[0], Payload::AccessExpired { grant, .. } if grant == g)));
    w.refused("staff:csd", extend(3600), "grant.state");
}

#[test]
fn workiva_nothing_is_done_in_a_session_once_its_grant_is_revoked() {
    let mut w = World::new();
    let (g, s) = w.view_only_session_of_l2();
    w.ok("staff:l2", act(s, ActionKind::ViewSettings, None));
    w.ok(
        "user:acme/admin",
        Command::Grant(GrantCommand::Revoke {
            grant: g,
            reason: "ticket closed".into(),
        }),
    );
    w.refused(
        "staff:l2",
        act(s, ActionKind::ViewSettings, None),
        "action.grant-lapsed",
    );
    // A session of initial support rests on no grant: unaffected.
    let csm = w.session(
        "staff:csm",
        None,
        SessionMode::ViewOnly,
        Supervision::Unsupervised,
    );
    w.ok("staff:csm", act(csm, ActionKind::ViewSettings, None));
}

// ----- Teamleader (seed 002) -----

#[test]
fn teamleader_sessions_need_a_grant_mfa_training_reason_and_link() {
    let mut w = World::new();
    let s = SessionId(1);
    let view = SessionMode::ViewOnly;
    let un = Supervision::Unsupervised;
    w.refused("staff:l2", start(s, None, view, un), "session.grant");
    let g = w.grant("staff:l2", StaffRole::SupportL2, vec![Scope::View]);
    let mut no_reason = start(s, Some(g), view, un);
    if let Command::Session(SessionCommand::Start(st)) = &mut no_reason {
        st.ticket_link = " ".into();
    }
    w.refused("staff:l2", no_reason, "session.reason");
    let g_nomfa = w.grant("staff:nomfa", StaffRole::SupportL2, vec![Scope::View]);
    w.refused(
        "staff:nomfa",
        start(s, Some(g_nomfa), view, un),
        "session.mfa",
    );
    let g_untrained = w.grant("staff:untrained", StaffRole::SupportL2, vec![Scope::View]);
    w.refused(
        "staff:untrained",
        start(s, Some(g_untrained), view, un),
        "session.training",
    );
    // Somebody else's grant is no basis.
    w.refused(
        "staff:l2",
        start(s, Some(g_nomfa), view, un),
        "session.grant",
    );
    let e = w.ok("staff:l2", start(s, Some(g), view, un));
    match &e[0].payload {
        Payload::SessionStarted { deadline, .. } => assert_eq!(*deadline, w.now.plus_secs(3600)),
        other => panic!("{other:?}"),
    }
    // After the grant lapses, no new session on it.
    w.advance(3601);
    w.refused(
        "staff:l2",
        start(SessionId(2), Some(g), view, un),
        "session.grant",
    );
}

#[test]
fn teamleader_onboarding_managers_only_during_onboarding_or_with_consent() {
    let mut w = World::new();
    let (view, un) = (SessionMode::ViewOnly, Supervision::Unsupervised);
    w.refused(
        "staff:pm",
        start(SessionId(1), None, view, un),
        "session.onboarding-manager",
    );
    w.ok(
        "staff:csm",
        Command::Tenant(TenantCommand::SetOnboarding {
            tenant: acme(),
            open: true,
        }),
    );
    w.ok("staff:pm", start(SessionId(2), None, view, un));
    w.ok(
        "staff:csm",
        Command::Tenant(TenantCommand::SetOnboarding {
            tenant: acme(),
            open: false,
        }),
    );
    w.refused(
        "staff:pm",
        start(SessionId(3), None, view, un),
        "session.onboarding-manager",
    );
    w.consent(vec![Scope::View], Channel::SignedDocument);
    w.ok("staff:pm", start(SessionId(4), None, view, un));
}

#[test]
fn teamleader_import_download_and_templates_need_explicit_consent() {
    let mut w = World::new();
    let g = w.grant(
        "staff:l2",
        StaffRole::SupportL2,
        vec![Scope::View, Scope::TemplateEdit],
    );
    let s = w.session(
        "staff:l2",
        Some(g),
        SessionMode::Write,
        Supervision::Unsupervised,
    );
    w.ok("staff:l2", act(s, ActionKind::ViewSettings, None));
    w.refused(
        "staff:l2",
        act(s, ActionKind::EditTemplate, None),
        "action.consent",
    );
    // A consent by phone is recorded but never satisfies the rule (4logist).
    w.consent(vec![Scope::TemplateEdit], Channel::Phone);
    w.refused(
        "staff:l2",
        act(s, ActionKind::EditTemplate, None),
        "action.consent",
    );
    let c = w.consent(vec![Scope::TemplateEdit], Channel::VerifiedEmail);
    let e = w.ok("staff:l2", act(s, ActionKind::EditTemplate, None));
    assert!(
        matches!(e[0].payload, Payload::SessionAction { consent: Some(used), .. } if used == c)
    );
    w.refused(
        "staff:l2",
        act(s, ActionKind::DownloadDocument, None),
        "action.consent",
    );
}

#[test]
fn teamleader_sessions_close_after_one_hour_and_the_customer_is_told_afterwards() {
    let mut w = World::new();
    let (g, s) = w.view_only_session_of_l2();
    let notify = Command::Session(SessionCommand::NotifyCustomer {
        session: s,
        channel: Channel::InApp,
    });
    w.refused("staff:l2", notify.clone(), "session.open");
    w.advance(3600);
    w.refused(
        "staff:l2",
        act(s, ActionKind::ViewSettings, None),
        "session.closed",
    );
    let due_now = due(&w.state, w.now);
    assert!(due_now.iter().any(|d| matches!(d.payloads[0], Payload::SessionEnded { reason: SessionEndReason::TimeLimit, session, .. } if session == s)));
    assert!(due_now
        .iter()
        .any(|d| matches!(d.payloads[0], Payload::AccessExpired { grant, .. } if grant == g)));
    for d in due_now {
        w.record("custos:system", d);
    }
    assert!(due(&w.state, w.now).is_empty(), "nothing is due twice");
    w.ok("staff:l2", notify);
}

#[test]
fn sessions_are_ended_by_their_staff_member_or_the_customer() {
    let mut w = World::new();
    let (_, s) = w.view_only_session_of_l2();
    let end = Command::Session(SessionCommand::End { session: s });
    w.refused("staff:l1", end.clone(), "session.ender");
    let e = w.ok("user:acme/admin", end.clone());
    assert!(matches!(
        e[0].payload,
        Payload::SessionEnded {
            reason: SessionEndReason::Tenant,
            ..
        }
    ));
    w.refused("staff:l2", end, "session.closed");
}

// ----- 4logist (seed 001) -----

#[test]
fn fourlogist_view_only_sessions_refuse_writes() {
    let mut w = World::new();
    let g = w.grant(
        "staff:l2",
        StaffRole::SupportL2,
        vec![Scope::View, Scope::Settings],
    );
    let s = w.session(
        "staff:l2",
        Some(g),
        SessionMode::ViewOnly,
        Supervision::Unsupervised,
    );
    w.ok("staff:l2", act(s, ActionKind::ViewUserRights, None));
    let theme = ActionKind::ChangeSetting(Setting::Other("theme".into()));
    w.refused("staff:l2", act(s, theme.clone(), None), "action.view-only");
    let s2 = w.session(
        "staff:l2",
        Some(g),
        SessionMode::Write,
        Supervision::Unsupervised,
    );
    w.ok("staff:l2", act(s2, theme, None));
}

#[test]
fn fourlogist_customer_data_changes_only_during_onboarding() {
    let mut w = World::new();
    let g = w.grant("staff:l2", StaffRole::SupportL2, vec![Scope::DataChange]);
    w.consent(vec![Scope::DataChange], Channel::SignedDocument);
    let s = w.session(
        "staff:l2",
        Some(g),
        SessionMode::Write,
        Supervision::Unsupervised,
    );
    w.refused(
        "staff:l2",
        act(s, ActionKind::DeleteData, None),
        "action.data-change",
    );
    w.ok(
        "staff:csm",
        Command::Tenant(TenantCommand::SetOnboarding {
            tenant: acme(),
            open: true,
        }),
    );
    w.ok("staff:l2", act(s, ActionKind::DeleteData, None));
}

#[test]
fn fourlogist_high_importance_settings_only_supervised_during_onboarding() {
    let mut w = World::new();
    let g = w.grant("staff:l2", StaffRole::SupportL2, vec![Scope::Settings]);
    let password = ActionKind::ChangeSetting(Setting::Password);
    let s = w.session(
        "staff:l2",
        Some(g),
        SessionMode::Write,
        Supervision::Unsupervised,
    );
    w.refused(
        "staff:l2",
        act(s, password.clone(), None),
        "action.high-importance",
    );
    w.ok(
        "staff:csm",
        Command::Tenant(TenantCommand::SetOnboarding {
            tenant: acme(),
            open: true,
        }),
    );
    w.refused(
        "staff:l2",
        act(s, password.clone(), None),
        "action.high-importance",
    );
    let live = w.session(
        "staff:l2",
        Some(g),
        SessionMode::Write,
        Supervision::LiveCall,
    );
    let e = w.ok("staff:l2", act(live, password, None));
    assert!(matches!(
        e[0].payload,
        Payload::SessionAction {
            importance: Importance::High,
            ..
        }
    ));
}

#[test]
fn fourlogist_medium_settings_need_an_authorised_request_and_a_phone_call_is_not_one() {
    let mut w = World::new();
    let g = w.grant("staff:l2", StaffRole::SupportL2, vec![Scope::Settings]);
    let s = w.session(
        "staff:l2",
        Some(g),
        SessionMode::Write,
        Supervision::Unsupervised,
    );
    let numbering = ActionKind::ChangeSetting(Setting::Numbering);
    w.refused(
        "staff:l2",
        act(s, numbering.clone(), None),
        "action.medium-request",
    );
    w.refused(
        "staff:l2",
        act(s, numbering.clone(), Some(Channel::Phone)),
        "action.medium-request",
    );
    w.ok("staff:l2", act(s, numbering, Some(Channel::VerifiedEmail)));
}

#[test]
fn consent_is_given_by_a_customer_admin_with_a_checked_sender() {
    let mut w = World::new();
    let give = |channel, sender: Option<&str>| {
        Command::Consent(ConsentCommand::Give {
            consent: ConsentId(77),
            tenant: acme(),
            grantee: None,
            scopes: vec![Scope::Import],
            channel,
            verified_sender: sender.map(Text::from),
            ticket: "T-9".into(),
            expires_at: Timestamp::from_secs(1_790_000_000 + 86_400),
        })
    };
    w.refused("staff:csm", give(Channel::InApp, None), "consent.giver");
    w.refused(
        "user:acme/admin",
        give(Channel::VerifiedEmail, None),
        "consent.sender",
    );
    w.ok(
        "user:acme/admin",
        give(Channel::VerifiedEmail, Some("director@acme.example")),
    );
    let withdraw = Command::Consent(ConsentCommand::Withdraw {
        consent: ConsentId(77),
    });
    w.refused("staff:csm", withdraw.clone(), "consent.giver");
    w.ok("user:acme/admin", withdraw.clone());
    w.refused("user:acme/admin", withdraw, "consent.state");
}

// ----- closed grants and ended sessions (kept as their tenant and subject only) -----

#[test]
fn a_step_on_a_closed_grant_or_an_ended_session_is_refused_naming_whose_it_was() {
    let mut w = World::new();
    let (g, s) = w.view_only_session_of_l2();
    w.ok(
        "staff:l2",
        Command::Session(SessionCommand::End { session: s }),
    );
    w.ok(
        "user:acme/admin",
        Command::Grant(GrantCommand::Revoke {
            grant: g,
            reason: "done".into(),
        }),
    );
    let refusal = |w: &mut World, actor: &str, cmd: Command| match w.run(actor, cmd) {
        Ok(e) => panic!("accepted: {e:?}"),
        Err(r) => r,
    };
    // Every step on the revoked grant: `grant.state`, with its tenant and grantee.
    for (cmd, what) in [
        (
            Command::Grant(GrantCommand::Approve { grant: g }),
            "pending",
        ),
        (
            Command::Grant(GrantCommand::Deny {
                grant: g,
                reason: "late".into(),
            }),
            "pending",
        ),
        (
            Command::Grant(GrantCommand::Extend {
                grant: g,
                ttl_secs: 3600,
                reason: "more".into(),
            }),
            "active",
        ),
        (
            Command::Grant(GrantCommand::Revoke {
                grant: g,
                reason: "again".into(),
            }),
            "active",
        ),
    ] {
        let r = refusal(&mut w, "staff:csd", cmd);
        assert_eq!(r.rule, "grant.state");
        assert_eq!(r.reason.as_str(), format!("grant {g} is not {what}"));
        assert_eq!(r.tenant, Some(acme()));
        assert_eq!(r.subject, Some(p("staff:l2")));
    }
    // Its id cannot be requested again, and no session rests on it.
    w.refused(
        "staff:csm",
        request(g, "staff:l2", StaffRole::SupportL2, vec![Scope::View], 600),
        "grant.exists",
    );
    let fresh = SessionId(w.id());
    w.refused(
        "staff:l2",
        start(
            fresh,
            Some(g),
            SessionMode::ViewOnly,
            Supervision::Unsupervised,
        ),
        "session.grant",
    );
    // The ended session: someone else's step is `session.owner`, its staff member's
    // `session.closed`; ending it again is refused naming its staff member; the
    // customer may still be told, with the session's tenant.
    let r = refusal(&mut w, "staff:l1", act(s, ActionKind::ViewSettings, None));
    assert_eq!(
        (r.rule, r.reason.as_str()),
        (
            "session.owner",
            format!("session {s} belongs to staff:l2").as_str()
        )
    );
    assert_eq!((r.tenant, r.subject), (Some(acme()), Some(p("staff:l1"))));
    let r = refusal(&mut w, "staff:l2", act(s, ActionKind::ViewSettings, None));
    assert_eq!(r.rule, "session.closed");
    let r = refusal(
        &mut w,
        "user:acme/admin",
        Command::Session(SessionCommand::End { session: s }),
    );
    assert_eq!(r.rule, "session.closed");
    assert_eq!((r.tenant, r.subject), (Some(acme()), Some(p("staff:l2"))));
    w.refused(
        "staff:l2",
        start(s, None, SessionMode::ViewOnly, Supervision::Unsupervised),
        "session.exists",
    );
    let told = w.ok(
        "staff:l2",
        Command::Session(SessionCommand::NotifyCustomer {
            session: s,
            channel: Channel::InApp,
        }),
    );
    assert!(matches!(
        &told[0].payload,
        Payload::CustomerNotified { session, tenant, .. } if *session == s && *tenant == acme()
    ));
}
