//! Whatever commands are tried, in whatever order, the log never breaks a rule: random
//! command sequences, then the log replayed event by event against the rules.

mod world;

use custos_core::access::Access;
use custos_core::policy::*;
use custos_core::vocab::*;
use custos_core::*;
use proptest::prelude::*;
use world::*;

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
        1 => (who("staff:csd"), grant.clone(), prop::sample::select(vec![600u64, 3600, 7200])).prop_map(|(a, grant, ttl_secs)| (a, Command::Grant(GrantCommand::Extend { grant, ttl_secs, reason: "r".into() }))),
        1 => (who("staff:l2"), session.clone(), grant.clone(), any::<bool>(), any::<bool>()).prop_map(|(a, s, g, write, live)| (a, start(
            s,
            Some(g),
            if write { SessionMode::Write } else { SessionMode::ViewOnly },
            if live { Supervision::LiveCall } else { Supervision::Unsupervised }
        ))),
        2 => (who("staff:l2"), session.clone(), actions, prop::option::of(prop::sample::select(vec![Channel::Phone, Channel::VerifiedEmail])))
            .prop_map(|(a, s, action, ch)| (a, act(s, action, ch))),
        1 => (who("staff:l2"), session.clone()).prop_map(|(a, session)| (a, Command::Session(SessionCommand::End { session }))),
        1 => (who("user:acme/admin"), 0..2u128).prop_map(move |(a, k)| (a, Command::Consent(ConsentCommand::Withdraw { consent: ConsentId(ids + k) }))),
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
        let cmds_again = cmds.clone();
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
                Payload::AccessExtended { grant, extended_by, grantee, .. } => {
                    let req = w.log.iter().find_map(|x| match &x.payload {
                        Payload::AccessRequested { grant: g, requester, .. } if g == grant => Some(requester.clone()),
                        _ => None,
                    }).expect("requested first");
                    prop_assert!(extended_by != &req && extended_by != grantee);
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
                    // The grant the session rests on is still live.
                    let basis = w.log.iter().find_map(|x| match &x.payload {
                        Payload::SessionStarted { session: s, grant, staff, .. } if s == session => Some((*grant, staff.clone())),
                        _ => None,
                    }).expect("started first");
                    if let (Some(g), staff) = basis {
                        let live = state.access_list(&staff, e.recorded_at).into_iter().any(|(_, r)| matches!(r.via, custos_core::access::Via::Grant { grant, .. } if grant == g));
                        prop_assert!(live, "action in a session whose grant {} had lapsed", g);
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
        // The live projection (folded as commands were decided) equals a rebuild from the
        // log, at every instant asked: replay is deterministic.
        let principals = ["staff:l1", "staff:l2", "staff:nomfa", "staff:csm", "staff:pm", "user:acme/admin"];
        for at in [w.now, w.now.plus_secs(-3600), w.now.plus_secs(86_400)] {
            prop_assert_eq!(w.state.tenant(&acme(), at), state.tenant(&acme(), at));
            for who in principals {
                prop_assert_eq!(w.state.access_list(&p(who), at), state.access_list(&p(who), at));
            }
            let live: Vec<_> = policy::due(&w.state, at).into_iter().map(|d| d.payloads).collect();
            let rebuilt: Vec<_> = policy::due(&state, at).into_iter().map(|d| d.payloads).collect();
            prop_assert_eq!(live, rebuilt);
        }
        // A forgetful projection, recalling closed items from the log as the server does,
        // decides every command as the whole one did: same events, same refusals (rule,
        // tenant, subject), and then the same answers.
        let mut f = World::forgetful();
        let mut whole = World::new();
        for (actor, cmd) in cmds_again {
            prop_assert_eq!(f.run(actor, cmd.clone()), whole.run(actor, cmd));
            f.advance(120);
            whole.advance(120);
        }
        prop_assert_eq!(&f.log, &whole.log);
        for at in [f.now, f.now.plus_secs(-3600), f.now.plus_secs(86_400)] {
            prop_assert_eq!(f.state.tenant(&acme(), at), whole.state.tenant(&acme(), at));
            for who in principals {
                prop_assert_eq!(f.state.access_list(&p(who), at), whole.state.access_list(&p(who), at));
            }
            let a: Vec<_> = policy::due(&f.state, at).into_iter().map(|d| d.payloads).collect();
            let b: Vec<_> = policy::due(&whole.state, at).into_iter().map(|d| d.payloads).collect();
            prop_assert_eq!(a, b);
        }
        // A compacted state (what a query snapshot keeps) taken at any point, with the
        // rest of the log folded in, answers exactly as the whole state.
        for cut in [0, w.log.len() / 3, w.log.len() / 2, w.log.len()] {
            let mut compacted = Access::default();
            for e in &w.log[..cut] {
                compacted.apply(e);
            }
            compacted.compact();
            for e in &w.log[cut..] {
                compacted.apply(e);
            }
            for at in [w.now, w.now.plus_secs(-3600), w.now.plus_secs(86_400)] {
                prop_assert_eq!(compacted.tenant(&acme(), at), state.tenant(&acme(), at));
                for who in principals {
                    prop_assert_eq!(compacted.access_list(&p(who), at), state.access_list(&p(who), at));
                }
                let whole: Vec<_> = policy::due(&state, at).into_iter().map(|d| d.payloads).collect();
                let part: Vec<_> = policy::due(&compacted, at).into_iter().map(|d| d.payloads).collect();
                prop_assert_eq!(whole, part);
            }
        }
    }
}
