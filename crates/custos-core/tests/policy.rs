//! The vendors' rules, given/when/then: each rule refuses what its seed forbids (and the
//! refusal is recorded with the rule id), and a near miss passes.

use custos_core::access::Access;
use custos_core::policy::*;
use custos_core::vocab::*;
use custos_core::*;
use proptest::prelude::*;

fn p(s: &str) -> PrincipalId {
    PrincipalId::new(s).expect("principal")
}

fn acme() -> TenantId {
    TenantId::new("acme").expect("tenant")
}

/// A ledger in memory: commands go through the policy; refusals are recorded too.
struct World {
    state: Access,
    log: Vec<Event>,
    now: Timestamp,
    config: PolicyConfig,
    next_id: u128,
}

impl World {
    /// Staff of every role, and the account `acme` with its CSM and onboarding PM.
    fn new() -> World {
        let mut w = World {
            state: Access::default(),
            log: Vec::new(),
            now: Timestamp::from_secs(1_790_000_000),
            config: PolicyConfig::default(),
            next_id: 1,
        };
        let staff = [
            ("staff:csd", StaffRole::Csd, true, true),
            ("staff:csd2", StaffRole::Csd, true, true),
            ("staff:csm", StaffRole::Csm, true, true),
            ("staff:pm", StaffRole::OnboardingManager, true, true),
            ("staff:l1", StaffRole::SupportL1, true, true),
            ("staff:l2", StaffRole::SupportL2, true, true),
            ("staff:nomfa", StaffRole::SupportL2, false, true),
            ("staff:untrained", StaffRole::SupportL2, true, false),
            ("staff:lead", StaffRole::SupportLead, true, true),
        ];
        for (id, role, mfa, trained) in staff {
            w.ok(
                "staff:hr-bootstrap",
                Command::Tenant(TenantCommand::EnrollStaff {
                    staff: p(id),
                    name: id.into(),
                    roles: vec![role],
                    mfa,
                    sso: true,
                    training_completed: trained,
                }),
            );
        }
        w.ok(
            "staff:csd",
            Command::Tenant(TenantCommand::Create {
                tenant: acme(),
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
            }),
        );
        w
    }

    fn id(&mut self) -> u128 {
        self.next_id += 1;
        self.next_id
    }

    fn record(&mut self, actor: &str, d: Decision) -> Vec<Event> {
        let mut out = Vec::new();
        for payload in d.payloads {
            let seq = Seq(self.log.len() as u64 + 1);
            let id = EventId(self.id());
            let e = NewEvent::new(id, p(actor), payload).place(seq, d.stream.clone(), 1, self.now);
            self.state.apply(&e);
            self.log.push(e.clone());
            out.push(e);
        }
        out
    }

    /// Runs a command; a refusal is recorded as a rejected attempt and returned.
    fn run(&mut self, actor: &str, cmd: Command) -> Result<Vec<Event>, Refusal> {
        match decide(&self.state, &p(actor), &cmd, self.now, &self.config) {
            Ok(d) => Ok(self.record(actor, d)),
            Err(refusal) => {
                let rejected = rejection(&cmd, &refusal);
                self.record(actor, rejected);
                Err(refusal)
            }
        }
    }

    fn ok(&mut self, actor: &str, cmd: Command) -> Vec<Event> {
        match self.run(actor, cmd) {
            Ok(e) => e,
            Err(r) => panic!("refused: {r}"),
        }
    }

    /// Asserts that `cmd` is refused by `rule`, and that the refusal is in the log.
    fn refused(&mut self, actor: &str, cmd: Command, rule: &str) {
        match self.run(actor, cmd) {
            Ok(e) => panic!("expected {rule}, got {e:?}"),
            Err(r) => assert_eq!(r.rule, rule, "{r}"),
        }
        match &self.log.last().expect("logged").payload {
            Payload::AttemptRejected { rule: logged, .. } => assert_eq!(logged, rule),
            other => panic!("the refusal was not recorded: {other:?}"),
        }
    }

    fn advance(&mut self, secs: i64) {
        self.now = self.now.plus_secs(secs);
    }

    /// A grant for `grantee`, requested by the CSM and approved by a CSD.
    fn grant(&mut self, grantee: &str, role: StaffRole, scopes: Vec<Scope>) -> GrantId {
        let grant = GrantId(self.id());
        self.ok("staff:csm", request(grant, grantee, role, scopes, 3600));
        self.ok("staff:csd", Command::Grant(GrantCommand::Approve { grant }));
        grant
    }

    fn consent(&mut self, scopes: Vec<Scope>, channel: Channel) -> ConsentId {
        let consent = ConsentId(self.id());
        let expires_at = self.now.plus_secs(86_400);
        self.ok(
            "user:acme/admin",
            Command::Consent(ConsentCommand::Give {
                consent,
                tenant: acme(),
                grantee: None,
                scopes,
                channel,
                verified_sender: (channel == Channel::VerifiedEmail)
                    .then(|| "director@acme.example".into()),
                ticket: "T-1".into(),
                expires_at,
            }),
        );
        consent
    }

    fn session(
        &mut self,
        staff: &str,
        grant: Option<GrantId>,
        mode: SessionMode,
        supervision: Supervision,
    ) -> SessionId {
        let session = SessionId(self.id());
        self.ok(staff, start(session, grant, mode, supervision));
        session
    }
}

fn request(
    grant: GrantId,
    grantee: &str,
    role: StaffRole,
    scopes: Vec<Scope>,
    ttl_secs: u64,
) -> Command {
    Command::Grant(GrantCommand::Request {
        grant,
        tenant: acme(),
        grantee: p(grantee),
        role,
        scopes,
        reason: "customer ticket".into(),
        ticket: Some("T-1".into()),
        ttl_secs,
    })
}

fn start(
    session: SessionId,
    grant: Option<GrantId>,
    mode: SessionMode,
    supervision: Supervision,
) -> Command {
    Command::Session(SessionCommand::Start(StartSession {
        session,
        tenant: acme(),
        grant,
        target: SessionTarget::User(p("user:acme/admin")),
        mode,
        supervision,
        reason: "check the settings in the ticket".into(),
        ticket_link: "https://help.example/T-1".into(),
        consent: None,
    }))
}

fn act(session: SessionId, action: ActionKind, request_channel: Option<Channel>) -> Command {
    Command::Session(SessionCommand::Act {
        session,
        action,
        detail: "as asked".into(),
        consent: None,
        request_channel,
    })
}

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
    let g = w.grant("staff:l2", StaffRole::SupportL2, vec![Scope::View]);
    let s = w.session(
        "staff:l2",
        Some(g),
        SessionMode::ViewOnly,
        Supervision::Unsupervised,
    );
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
    let g = w.grant("staff:l2", StaffRole::SupportL2, vec![Scope::View]);
    let s = w.session(
        "staff:l2",
        Some(g),
        SessionMode::ViewOnly,
        Supervision::Unsupervised,
    );
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
            verified_sender: sender.map(str::to_owned),
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

// ----- whatever is tried, the log never breaks a rule -----

/// A random command with an actor that is usually, not always, a plausible one.
fn any_command(ids: u128) -> impl Strategy<Value = (&'static str, Command)> {
    let grant = (0..ids).prop_map(GrantId);
    let session = (0..ids).prop_map(SessionId);
    let who = |usual: &'static str| {
        prop_oneof![
            3 => Just(usual),
            1 => prop::sample::select(vec!["staff:csm", "staff:csd", "staff:l1", "staff:l2", "staff:nomfa", "staff:pm", "user:acme/admin"]),
        ]
    };
    let grantee = prop::sample::select(vec!["staff:l2", "staff:nomfa", "staff:l1", "staff:csm"]);
    let actions = prop::sample::select(vec![
        ActionKind::ViewSettings,
        ActionKind::EditTemplate,
        ActionKind::DeleteData,
        ActionKind::ChangeSetting(Setting::Password),
        ActionKind::ChangeSetting(Setting::Mail),
    ]);
    prop_oneof![
        1 => (who("staff:csm"), grant.clone(), grantee).prop_map(|(a, g, s)| (a, request(g, s, StaffRole::SupportL2, vec![Scope::View, Scope::Settings], 3600))),
        1 => (who("staff:csd"), grant.clone()).prop_map(|(a, grant)| (a, Command::Grant(GrantCommand::Approve { grant }))),
        1 => (who("user:acme/admin"), grant.clone()).prop_map(|(a, grant)| (a, Command::Grant(GrantCommand::Revoke { grant, reason: "r".into() }))),
        1 => (who("staff:l2"), session.clone(), grant.clone(), any::<bool>(), any::<bool>()).prop_map(|(a, s, g, write, live)| (a, start(
            s,
            Some(g),
            if write { SessionMode::Write } else { SessionMode::ViewOnly },
            if live { Supervision::LiveCall } else { Supervision::Unsupervised }
        ))),
        2 => (who("staff:l2"), session.clone(), actions, prop::option::of(prop::sample::select(vec![Channel::Phone, Channel::VerifiedEmail])))
            .prop_map(|(a, s, action, ch)| (a, act(s, action, ch))),
        1 => (who("staff:csm"), any::<bool>()).prop_map(|(a, open)| (a, Command::Tenant(TenantCommand::SetOnboarding { tenant: acme(), open }))),
        1 => (who("user:acme/admin"), prop::sample::select(vec![Channel::Phone, Channel::InApp])).prop_map(move |(a, channel)| (a, Command::Consent(ConsentCommand::Give {
            consent: ConsentId(ids + u128::from(channel == Channel::Phone)),
            tenant: acme(),
            grantee: None,
            scopes: vec![Scope::TemplateEdit, Scope::DataChange],
            channel,
            verified_sender: None,
            ticket: "T".into(),
            expires_at: Timestamp::from_secs(1_800_000_000),
        }))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn no_command_sequence_yields_a_log_that_breaks_the_rules(cmds in prop::collection::vec(any_command(3), 1..150)) {
        let mut w = World::new();
        for (actor, cmd) in cmds {
            let _ = w.run(actor, cmd);
            w.advance(120);
        }
        // Replay the log and check every accepted event against the state before it.
        let mut state = Access::default();
        for e in &w.log {
            match &e.payload {
                Payload::AccessRequested { requester, grantee, .. } => prop_assert_ne!(requester, grantee),
                Payload::AccessApproved { grant, approver, .. } => {
                    // The approver is neither the requester nor the grantee.
                    let req = w.log.iter().find_map(|x| match &x.payload {
                        Payload::AccessRequested { grant: g, requester, grantee, .. } if g == grant => Some((requester.clone(), grantee.clone())),
                        _ => None,
                    }).expect("requested first");
                    prop_assert!(approver != &req.0 && approver != &req.1);
                }
                Payload::SessionStarted { staff, tenant, .. } => {
                    prop_assert!(state.access_list(staff, e.recorded_at).iter().any(|(t, _)| t == tenant), "{} entered {} without access", staff, tenant);
                    prop_assert!(staff.as_str() != "staff:nomfa");
                }
                Payload::SessionAction { session, action, importance, consent, .. } => {
                    let view = state.tenant(&acme(), e.recorded_at).expect("acme");
                    let open = view.open_sessions.iter().find(|s| s.session == *session);
                    prop_assert!(open.is_some(), "action outside an open session");
                    if action.is_write() {
                        prop_assert_eq!(open.map(|s| s.mode), Some(SessionMode::Write));
                    }
                    if action.consent_scope().is_some() {
                        let used = view.live_consents.iter().find(|c| Some(c.consent) == *consent);
                        prop_assert!(used.is_some_and(|c| c.authorised), "consent-requiring action without a live authorised consent");
                    }
                    if *importance == Importance::High {
                        prop_assert!(view.onboarding);
                    }
                }
                _ => {}
            }
            state.apply(e);
        }
    }
}

// ----- ORC Webhosting (seed 003) and HP WXP (seed 004) -----

fn invite(w: &World, id: u128, kind: InvitationKind, invitee: &str) -> Command {
    Command::Invitation(InvitationCommand::Invite(Invite {
        invitation: InvitationId(id),
        tenant: acme(),
        kind,
        invitee: p(invitee),
        scopes: vec![InvitationScope::Billing],
        expires_at: w.now.plus_secs(7 * 86_400),
    }))
}

fn change(id: u128, change: InvitationChange) -> Command {
    Command::Invitation(InvitationCommand::Change {
        invitation: InvitationId(id),
        change,
    })
}

fn other_account(w: &mut World) {
    w.ok(
        "staff:csd",
        Command::Tenant(TenantCommand::Create {
            tenant: TenantId::new("beta").expect("tenant"),
            name: "Beta".into(),
            admins: vec![p("user:beta/admin")],
            initial_support: vec![],
            partner: None,
            identity_provider: None,
            plan: None,
        }),
    );
}

#[test]
fn orc_a_guest_must_already_belong_to_another_account_and_answers_for_itself() {
    let mut w = World::new();
    w.refused(
        "user:acme/admin",
        invite(&w, 1, InvitationKind::Guest, "user:beta/admin"),
        "invitation.guest-exists",
    );
    other_account(&mut w);
    w.refused(
        "staff:csm",
        invite(&w, 1, InvitationKind::Guest, "user:beta/admin"),
        "invitation.inviter",
    );
    w.refused(
        "user:acme/admin",
        invite(&w, 1, InvitationKind::Guest, "user:acme/admin"),
        "invitation.member",
    );
    w.ok(
        "user:acme/admin",
        invite(&w, 1, InvitationKind::Guest, "user:beta/admin"),
    );
    w.ok("user:acme/admin", change(1, InvitationChange::Send));
    w.refused(
        "user:acme/admin",
        change(1, InvitationChange::Accept),
        "invitation.answerer",
    );
    w.ok("user:beta/admin", change(1, InvitationChange::Accept));
    assert_eq!(
        w.state.access_list(&p("user:beta/admin"), w.now).len(),
        2,
        "its own account and acme"
    );
    w.refused(
        "user:beta/admin",
        change(1, InvitationChange::Accept),
        "invitation.state",
    );
    // active ↔ inactive, by the host's admin only
    w.refused(
        "user:beta/admin",
        change(1, InvitationChange::SetActive(false)),
        "invitation.admin",
    );
    w.ok(
        "user:acme/admin",
        change(1, InvitationChange::SetActive(false)),
    );
    assert_eq!(w.state.access_list(&p("user:beta/admin"), w.now).len(), 1);
    w.refused(
        "user:acme/admin",
        change(1, InvitationChange::SetActive(false)),
        "invitation.state",
    );
    w.ok(
        "user:acme/admin",
        change(1, InvitationChange::SetActive(true)),
    );
    w.ok(
        "user:acme/admin",
        change(1, InvitationChange::Revoke("left".into())),
    );
    assert_eq!(w.state.access_list(&p("user:beta/admin"), w.now).len(), 1);
}

#[test]
fn orc_unanswered_invitations_lapse() {
    let mut w = World::new();
    other_account(&mut w);
    w.ok(
        "user:acme/admin",
        invite(&w, 2, InvitationKind::Guest, "user:beta/admin"),
    );
    w.advance(7 * 86_400);
    w.refused(
        "user:beta/admin",
        change(2, InvitationChange::Accept),
        "invitation.expired",
    );
    let due_now = due(&w.state, w.now);
    assert!(due_now
        .iter()
        .any(|d| matches!(d.payloads[0], Payload::InvitationExpired { .. })));
}

#[test]
fn hp_wxp_a_partner_manages_only_once_the_customers_it_admin_accepts() {
    let mut w = World::new();
    w.ok(
        "staff:hr-bootstrap",
        Command::Tenant(TenantCommand::EnrollStaff {
            staff: p("partner:hpx"),
            name: "HP partner".into(),
            roles: vec![StaffRole::PartnerAdmin],
            mfa: true,
            sso: true,
            training_completed: true,
        }),
    );
    w.ok(
        "user:acme/admin",
        Command::Tenant(TenantCommand::AddUser {
            tenant: acme(),
            user: p("user:acme/it"),
            kind: ProfileKind::ItAdmin,
            email: Some("it@acme.example".into()),
        }),
    );
    w.refused(
        "staff:csm",
        invite(&w, 3, InvitationKind::Partner, "partner:hpx"),
        "invitation.inviter",
    );
    w.ok(
        "partner:hpx",
        invite(&w, 3, InvitationKind::Partner, "partner:hpx"),
    );
    assert!(
        w.state.access_list(&p("partner:hpx"), w.now).is_empty(),
        "pending: no access"
    );
    w.refused(
        "partner:hpx",
        change(3, InvitationChange::Accept),
        "invitation.answerer",
    );
    w.ok("user:acme/it", change(3, InvitationChange::Accept));
    assert_eq!(w.state.access_list(&p("partner:hpx"), w.now).len(), 1);
}

#[test]
fn users_of_an_account_are_managed_by_its_admin() {
    let mut w = World::new();
    let add = || {
        Command::Tenant(TenantCommand::AddUser {
            tenant: acme(),
            user: p("user:acme/bo"),
            kind: ProfileKind::Contact,
            email: None,
        })
    };
    w.refused("staff:csm", add(), "user.admin");
    w.ok("user:acme/admin", add());
    w.refused("user:acme/admin", add(), "user.exists");
    let remove = |u: &str| {
        Command::Tenant(TenantCommand::RemoveUser {
            tenant: acme(),
            user: p(u),
        })
    };
    w.refused(
        "user:acme/admin",
        remove("user:acme/admin"),
        "user.self-removal",
    );
    w.ok("user:acme/admin", remove("user:acme/bo"));
    w.refused("user:acme/admin", remove("user:acme/bo"), "user.unknown");
}

#[test]
fn teamleader_reviews_are_recorded_by_support_leads() {
    let mut w = World::new();
    let review = |outcome, comment: &str| {
        Command::Review(ReviewCommand::Record {
            review: ReviewId(5),
            tenant: Some(acme()),
            subject: ReviewSubject::Session(SessionId(1)),
            outcome,
            comment: comment.into(),
        })
    };
    w.refused(
        "staff:l2",
        review(ReviewOutcome::Acknowledged, ""),
        "review.reviewer",
    );
    w.refused(
        "staff:lead",
        review(ReviewOutcome::Cleared, " "),
        "review.comment",
    );
    let e = w.ok(
        "staff:lead",
        review(ReviewOutcome::Cleared, "reason and ticket checked"),
    );
    assert!(
        matches!(&e[0].payload, Payload::ReviewRecorded { reviewer, .. } if reviewer == &p("staff:lead"))
    );
}
