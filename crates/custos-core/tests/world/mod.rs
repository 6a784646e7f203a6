//! The policy tests' world: a ledger in memory where commands go through the policy and
//! refusals are recorded too, with staff of every role and the account `acme`.

#![allow(dead_code)]

use custos_core::access::Access;
use custos_core::policy::*;
use custos_core::vocab::*;
use custos_core::*;

pub fn p(s: &str) -> PrincipalId {
    PrincipalId::new(s).expect("principal")
}

pub fn acme() -> TenantId {
    TenantId::new("acme").expect("tenant")
}

/// A ledger in memory: commands go through the policy; refusals are recorded too.
pub struct World {
    pub state: Access,
    pub log: Vec<Event>,
    pub now: Timestamp,
    pub config: PolicyConfig,
    next_id: u128,
}

impl World {
    /// Staff of every role, and the account `acme` with its CSM and onboarding PM.
    pub fn new() -> World {
        World::with_state(Access::default())
    }

    /// As [`World::new`], deciding on a forgetful projection that recalls a closed item
    /// from the log before a command on it, as the server does.
    pub fn forgetful() -> World {
        World::with_state(Access::forgetful())
    }

    fn with_state(state: Access) -> World {
        let mut w = World {
            state,
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

    pub fn id(&mut self) -> u128 {
        self.next_id += 1;
        self.next_id
    }

    pub fn record(&mut self, actor: &str, d: Decision) -> Vec<Event> {
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
    pub fn run(&mut self, actor: &str, cmd: Command) -> Result<Vec<Event>, Refusal> {
        if let Some(item) = cmd.item() {
            if !self.state.knows(item) {
                let stream = item.stream();
                self.state
                    .recall(item, self.log.iter().filter(|e| e.stream == stream));
            }
        }
        let decided = decide(&self.state, &p(actor), &cmd, self.now, &self.config);
        self.state.forget_recalled();
        match decided {
            Ok(d) => Ok(self.record(actor, d)),
            Err(refusal) => {
                let rejected = rejection(&cmd, &refusal);
                self.record(actor, rejected);
                Err(refusal)
            }
        }
    }

    pub fn ok(&mut self, actor: &str, cmd: Command) -> Vec<Event> {
        match self.run(actor, cmd) {
            Ok(e) => e,
            Err(r) => panic!("refused: {r}"),
        }
    }

    /// Asserts that `cmd` is refused by `rule`, and that the refusal is in the log.
    pub fn refused(&mut self, actor: &str, cmd: Command, rule: &str) {
        match self.run(actor, cmd) {
            Ok(e) => panic!("expected {rule}, got {e:?}"),
            Err(r) => assert_eq!(r.rule, rule, "{r}"),
        }
        match &self.log.last().expect("logged").payload {
            Payload::AttemptRejected { rule: logged, .. } => assert_eq!(logged, rule),
            other => panic!("the refusal was not recorded: {other:?}"),
        }
    }

    pub fn advance(&mut self, secs: i64) {
        self.now = self.now.plus_secs(secs);
    }

    /// A grant for `grantee`, requested by the CSM and approved by a CSD.
    pub fn grant(&mut self, grantee: &str, role: StaffRole, scopes: Vec<Scope>) -> GrantId {
        let grant = GrantId(self.id());
        self.ok("staff:csm", request(grant, grantee, role, scopes, 3600));
        self.ok("staff:csd", Command::Grant(GrantCommand::Approve { grant }));
        grant
    }

    pub fn consent(&mut self, scopes: Vec<Scope>, channel: Channel) -> ConsentId {
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

    /// The support agent `staff:l2` granted view access, in a view-only session on it.
    pub fn view_only_session_of_l2(&mut self) -> (GrantId, SessionId) {
        let g = self.grant("staff:l2", StaffRole::SupportL2, vec![Scope::View]);
        let s = self.session(
            "staff:l2",
            Some(g),
            SessionMode::ViewOnly,
            Supervision::Unsupervised,
        );
        (g, s)
    }

    pub fn session(
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

pub fn request(
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

pub fn start(
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

pub fn act(session: SessionId, action: ActionKind, request_channel: Option<Channel>) -> Command {
    Command::Session(SessionCommand::Act {
        session,
        action,
        detail: "as asked".into(),
        consent: None,
        request_channel,
    })
}
