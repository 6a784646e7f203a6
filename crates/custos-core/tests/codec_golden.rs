//! Golden byte vectors: one stored record per event kind, and the chain hashes over them.
//!
//! If this test fails, the stored format changed: existing logs would no longer verify or
//! decode. Bump `codec::FORMAT_VERSION` and keep a reader for the old one instead.
//! To write the vectors for a *new* kind: `CUSTOS_BLESS=1 cargo test -p custos-core --test codec_golden`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use custos_core::vocab::*;
use custos_core::*;

fn p(s: &str) -> PrincipalId {
    PrincipalId::new(s).expect("principal")
}

/// One event of every kind, with fixed values.
fn samples() -> Vec<Event> {
    let t = TenantId::new("acme").expect("tenant");
    let at = Timestamp::from_secs(1_790_000_000);
    let grant = GrantId(11);
    let inv = InvitationId(12);
    let consent = ConsentId(13);
    let session = SessionId(14);
    let payloads = vec![
        Payload::TenantCreated {
            tenant: t.clone(),
            name: "Acme S.p.A.".into(),
            admins: vec![p("user:acme/admin")],
            initial_support: vec![InitialSupport {
                staff: p("staff:csm1"),
                role: StaffRole::Csm,
            }],
            partner: Some(p("partner:hpx")),
            identity_provider: Some("aad".into()),
            plan: Some("pro".into()),
        },
        Payload::OnboardingOpened { tenant: t.clone() },
        Payload::OnboardingClosed { tenant: t.clone() },
        Payload::StaffEnrolled {
            staff: p("staff:ana"),
            name: "Ana".into(),
            roles: vec![StaffRole::SupportL2, StaffRole::Csm],
            mfa: true,
            sso: true,
            training_completed: false,
        },
        Payload::StaffUpdated {
            staff: p("staff:ana"),
            roles: None,
            mfa: None,
            sso: None,
            training_completed: Some(true),
        },
        Payload::CustomerUserAdded {
            tenant: t.clone(),
            user: p("user:acme/bo"),
            kind: ProfileKind::ItAdmin,
            email: Some("bo@acme.example".into()),
        },
        Payload::CustomerUserRemoved {
            tenant: t.clone(),
            user: p("user:acme/bo"),
        },
        Payload::AccessRequested {
            grant,
            tenant: t.clone(),
            requester: p("staff:csm1"),
            grantee: p("staff:ana"),
            role: StaffRole::SupportL2,
            scopes: vec![Scope::View, Scope::Settings],
            reason: "ticket about templates".into(),
            ticket: Some("T-1".into()),
            ttl_secs: 3600,
        },
        Payload::AccessApproved {
            grant,
            tenant: t.clone(),
            approver: p("staff:csd1"),
            expires_at: at.plus_secs(3600),
        },
        Payload::AccessDenied {
            grant,
            tenant: t.clone(),
            denier: p("staff:csd1"),
            reason: "no ticket".into(),
        },
        Payload::AccessExpired {
            grant,
            tenant: t.clone(),
        },
        Payload::AccessRevoked {
            grant,
            tenant: t.clone(),
            revoker: p("user:acme/admin"),
            revoked_by: RevokedBy::TenantAdmin,
            reason: "done".into(),
        },
        Payload::InvitationCreated {
            invitation: inv,
            tenant: t.clone(),
            kind: InvitationKind::Guest,
            invitee: p("user:other/acct"),
            invited_by: p("user:acme/admin"),
            scopes: vec![InvitationScope::Billing, InvitationScope::Security],
            expires_at: at.plus_secs(86_400),
        },
        Payload::InvitationSent {
            invitation: inv,
            tenant: t.clone(),
        },
        Payload::InvitationAccepted {
            invitation: inv,
            tenant: t.clone(),
            accepted_by: p("user:other/acct"),
        },
        Payload::InvitationDeclined {
            invitation: inv,
            tenant: t.clone(),
            declined_by: p("user:other/acct"),
        },
        Payload::InvitationExpired {
            invitation: inv,
            tenant: t.clone(),
        },
        Payload::InvitationDeactivated {
            invitation: inv,
            tenant: t.clone(),
            by: p("user:acme/admin"),
        },
        Payload::InvitationReactivated {
            invitation: inv,
            tenant: t.clone(),
            by: p("user:acme/admin"),
        },
        Payload::InvitationRevoked {
            invitation: inv,
            tenant: t.clone(),
            by: p("user:acme/admin"),
            reason: "left the firm".into(),
        },
        Payload::ConsentGiven {
            consent,
            tenant: t.clone(),
            given_by: p("user:acme/admin"),
            grantee: Some(p("staff:ana")),
            scopes: vec![Scope::TemplateEdit],
            channel: Channel::VerifiedEmail,
            verified_sender: Some("director@acme.example".into()),
            ticket: "T-1".into(),
            expires_at: at.plus_secs(7200),
        },
        Payload::ConsentWithdrawn {
            consent,
            tenant: t.clone(),
            by: p("user:acme/admin"),
        },
        Payload::ConsentExpired {
            consent,
            tenant: t.clone(),
        },
        Payload::SessionStarted {
            session,
            tenant: t.clone(),
            staff: p("staff:ana"),
            grant: Some(grant),
            target: SessionTarget::ViewAs(p("user:acme/emp")),
            mode: SessionMode::ViewOnly,
            supervision: Supervision::Unsupervised,
            reason: "check rights".into(),
            ticket_link: "https://help.example/T-1".into(),
            consent: Some(consent),
            deadline: at.plus_secs(3600),
        },
        Payload::SessionAction {
            session,
            tenant: t.clone(),
            staff: p("staff:ana"),
            action: ActionKind::ChangeSetting(Setting::Other("theme".into())),
            importance: Importance::Low,
            detail: "dark".into(),
            consent: None,
            request_channel: Some(Channel::Phone),
        },
        Payload::SessionEnded {
            session,
            tenant: t.clone(),
            reason: SessionEndReason::TimeLimit,
        },
        Payload::CustomerNotified {
            session,
            tenant: t.clone(),
            channel: Channel::InApp,
        },
        Payload::ReviewRecorded {
            review: ReviewId(15),
            reviewer: p("staff:lead"),
            tenant: Some(t.clone()),
            subject: ReviewSubject::Window {
                tenant: Some(t.clone()),
                from: at,
                to: at.plus_secs(86_400),
            },
            outcome: ReviewOutcome::Cleared,
            comment: "ok".into(),
        },
        Payload::AttemptRejected {
            rule: "grant.self-approval".into(),
            command: "approve_access".into(),
            tenant: Some(t.clone()),
            subject: Some(p("staff:ana")),
            reason: "the approver is the grantee".into(),
        },
        Payload::TokenIssued {
            token: TokenId(15),
            principal: p("svc:helpdesk"),
            role: ApiRole::TenantAdmin,
            tenant: Some(t.clone()),
            secret_hash: Digest([7; 32]),
        },
        Payload::TokenRevoked { token: TokenId(15) },
        Payload::ThresholdsSet {
            version: 2,
            thresholds: custos_core::findings::ThresholdsV1 {
                max_accounts_per_day: 4,
                business_hours: (7, 19),
                utc_offset_minutes: -300,
                notify_within_secs: 3600,
                review_within_secs: 86_400,
            },
        },
        Payload::AccessExtended {
            grant,
            tenant: t.clone(),
            grantee: p("staff:ana"),
            extended_by: p("staff:csd1"),
            expires_at: at.plus_secs(7200),
            reason: "migration runs late".into(),
        },
        Payload::InviteeAction {
            invitation: inv,
            tenant: t.clone(),
            invitee: p("partner:hpx"),
            kind: InvitationKind::Partner,
            scope: InvitationScope::Provisioning,
            detail: "ordered 3 seats".into(),
        },
        Payload::ThresholdsChanged {
            version: 3,
            thresholds: custos_core::findings::Thresholds {
                max_accounts_per_day: 4,
                business_hours: (7, 19),
                utc_offset_minutes: -300,
                notify_within_secs: 3600,
                review_within_secs: 86_400,
                max_extensions: 3,
                extension_window_secs: 86_400,
            },
        },
    ];
    payloads
        .into_iter()
        .enumerate()
        .map(|(i, payload)| {
            let n = i as u64 + 1;
            let mut e = NewEvent::new(EventId(1000 + u128::from(n)), p("staff:csm1"), payload);
            e.source_ip = (n % 2 == 0).then_some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, n as u8)));
            e.correlation = Some(CorrelationId(7));
            e.causation = (n > 1).then_some(EventId(1000 + u128::from(n) - 1));
            e.place(
                Seq(n),
                StreamId::new("tenant:acme").expect("stream"),
                n,
                at.plus_secs(n as i64),
            )
        })
        .collect()
}

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/records.hex")
}

/// `kind seq record-hex chain-hash-hex` per line.
fn render(events: &[Event]) -> String {
    let mut prev = Digest::GENESIS;
    let mut out = String::new();
    for e in events {
        let record = codec::encode(e).expect("encode");
        prev = chain::chain_hash(&prev, &record);
        out.push_str(&format!(
            "{} {} {} {}\n",
            e.kind(),
            e.seq,
            hex_encode(&record),
            prev
        ));
    }
    out
}

fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn every_kind_has_a_sample() {
    let kinds: Vec<EventKind> = samples().iter().map(Event::kind).collect();
    assert_eq!(kinds, EventKind::ALL.to_vec());
}

#[test]
fn records_and_hashes_match_the_golden_vectors() {
    let rendered = render(&samples());
    if std::env::var_os("CUSTOS_BLESS").is_some() {
        std::fs::write(golden_path(), &rendered).expect("write golden");
    }
    let golden = std::fs::read_to_string(golden_path()).expect("golden file is committed");
    for (got, want) in rendered.lines().zip(golden.lines()) {
        assert_eq!(got, want, "stored format changed");
    }
    assert_eq!(rendered.lines().count(), golden.lines().count());
}

#[test]
fn golden_records_decode_to_the_samples() {
    let golden = std::fs::read_to_string(golden_path()).expect("golden file is committed");
    for (line, sample) in golden.lines().zip(samples()) {
        let hex = line.split(' ').nth(2).expect("record column");
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
        assert_eq!(codec::decode(&bytes).expect("decode"), sample);
    }
}

#[test]
fn json_round_trip_is_lossless() {
    for e in samples() {
        let json = serde_json::to_value(&e).expect("json");
        let back: Event = serde_json::from_value(json).expect("from json");
        assert_eq!(back, e);
    }
}

#[test]
fn decoding_refuses_trailing_oversized_and_unknown_input() {
    let record = codec::encode(&samples()[0]).expect("encode");
    let mut trailing = record.clone();
    trailing.push(0);
    assert!(matches!(
        codec::decode(&trailing),
        Err(codec::CodecError::Malformed(_))
    ));
    let mut other = record.clone();
    other[0] = 9;
    assert!(matches!(
        codec::decode(&other),
        Err(codec::CodecError::UnknownFormat(9))
    ));
    assert!(matches!(codec::decode(&[]), Err(codec::CodecError::Empty)));
    let huge = vec![1u8; codec::MAX_RECORD_BYTES + 1];
    assert!(matches!(
        codec::decode(&huge),
        Err(codec::CodecError::TooLarge)
    ));
    let mut big = samples()[0].clone();
    if let Payload::TenantCreated { name, .. } = &mut big.payload {
        *name = "x".repeat(codec::MAX_RECORD_BYTES).into();
    }
    assert!(matches!(
        codec::encode(&big),
        Err(codec::CodecError::TooLarge)
    ));
}

#[test]
fn the_seq_is_read_from_the_front_of_a_record() {
    // Every width of bincode's varint: one byte below 251, then 2, 4 and 8 bytes.
    for seq in [
        1u64,
        250,
        251,
        65_535,
        65_536,
        u64::from(u32::MAX) + 1,
        u64::MAX,
    ] {
        let mut e = samples()[3].clone();
        e.seq = Seq(seq);
        let record = codec::encode(&e).expect("encode");
        assert_eq!(codec::peek_seq(&record), Some(Seq(seq)), "seq {seq}");
        // A record cut inside its seq, or of another format, has none.
        let varint_len = match seq {
            0..=250 => 1,
            251..=65_535 => 3,
            65_536..=0xFFFF_FFFF => 5,
            _ => 9,
        };
        assert_eq!(
            codec::peek_seq(&record[..varint_len]),
            None,
            "seq {seq} cut"
        );
        let mut other = record.clone();
        other[0] = 9;
        assert_eq!(codec::peek_seq(&other), None);
    }
    assert_eq!(codec::peek_seq(&[]), None);
}

#[test]
fn the_recording_time_is_read_without_the_payload() {
    for (i, e) in samples().into_iter().enumerate() {
        for at in [i64::MIN, -1, 0, 1_790_000_000_000_000, i64::MAX] {
            let mut e = e.clone();
            e.recorded_at = Timestamp(at);
            let record = codec::encode(&e).expect("encode");
            assert_eq!(
                codec::peek_recorded_at(&record),
                Some(Timestamp(at)),
                "sample {i} at {at}"
            );
            let mut other = record.clone();
            other[0] = 9;
            assert_eq!(codec::peek_recorded_at(&other), None);
        }
        // Cut before the time: none.
        let record = codec::encode(&e).expect("encode");
        let cut = 1 + 1 + 1 + e.stream.as_str().len() + 1;
        assert_eq!(codec::peek_recorded_at(&record[..cut]), None, "sample {i}");
    }
    assert_eq!(codec::peek_recorded_at(&[]), None);
}
