//! The misuse detectors, rule by rule: a scenario that triggers each and a near miss that
//! does not, named after the seed the rule comes from.

use custos_core::findings::{Findings, Thresholds};
use custos_core::vocab::*;
use custos_core::*;

fn p(s: &str) -> PrincipalId {
    PrincipalId::new(s).expect("principal")
}

fn t(s: &str) -> TenantId {
    TenantId::new(s).expect("tenant")
}

/// 2026-09-21 10:00 UTC, inside business hours.
const MORNING: i64 = 1_790_000_000 - 4 * 3600 - 13 * 60 - 20;

/// A log being written: events placed one after the other at chosen times.
struct Log {
    events: Vec<Event>,
}

impl Log {
    fn new() -> Log {
        Log { events: Vec::new() }
    }

    fn at(&mut self, secs: i64, actor: &str, payload: Payload) -> Seq {
        let seq = Seq(self.events.len() as u64 + 1);
        let e = NewEvent::new(EventId(u128::from(seq.0)), p(actor), payload).place(
            seq,
            StreamId::new("s:x").expect("stream"),
            seq.0,
            Timestamp::from_secs(secs),
        );
        self.events.push(e);
        seq
    }

    fn findings(&self, thresholds: Thresholds, at: i64) -> Vec<custos_core::findings::Finding> {
        let mut f = Findings::new(thresholds);
        for e in &self.events {
            f.apply(e);
        }
        f.at(Timestamp::from_secs(at))
    }

    fn rules(&self, at: i64) -> Vec<String> {
        self.findings(Thresholds::default(), at)
            .into_iter()
            .map(|f| f.rule)
            .collect()
    }
}

fn refused(rule: &str, subject: Option<&str>) -> Payload {
    Payload::AttemptRejected {
        rule: rule.into(),
        command: "c".into(),
        tenant: Some(t("acme")),
        subject: subject.map(p),
        reason: "refused".into(),
    }
}

fn started(session: u128, tenant: &str, staff: &str) -> Payload {
    Payload::SessionStarted {
        session: SessionId(session),
        tenant: t(tenant),
        staff: p(staff),
        grant: Some(GrantId(1)),
        target: SessionTarget::User(p("user:acme/admin")),
        mode: SessionMode::ViewOnly,
        supervision: Supervision::Unsupervised,
        reason: "r".into(),
        ticket_link: "l".into(),
        consent: None,
        deadline: Timestamp::from_secs(MORNING + 3600),
    }
}

fn ended(session: u128, reason: SessionEndReason) -> Payload {
    Payload::SessionEnded {
        session: SessionId(session),
        tenant: t("acme"),
        reason,
    }
}

#[test]
fn refusals_the_policy_recorded_become_findings_with_their_evidence() {
    // Workiva (self-grant, initial support), Teamleader (MFA, training, consent),
    // 4logist (view-only, importance lists), onboarding managers, revoked grants.
    for (policy_rule, finding) in [
        ("grant.self-request", "misuse.self-grant"),
        ("grant.self-approval", "misuse.self-grant"),
        ("tenant.initial-support", "misuse.extra-initial-support"),
        ("session.mfa", "misuse.session-without-mfa-training"),
        ("session.training", "misuse.session-without-mfa-training"),
        ("action.consent", "misuse.action-without-consent"),
        ("action.view-only", "misuse.write-in-view-only"),
        ("action.high-importance", "misuse.high-importance-setting"),
        (
            "action.medium-request",
            "misuse.medium-setting-without-request",
        ),
        (
            "session.onboarding-manager",
            "misuse.onboarding-manager-outside-period",
        ),
        ("session.grant", "misuse.session-without-grant"),
        ("grant.self-extension", "misuse.self-grant"),
        ("action.grant-lapsed", "misuse.activity-after-lapse"),
        ("invitee.inactive", "misuse.activity-after-lapse"),
        (
            "invitee.partner-not-accepted",
            "misuse.partner-before-acceptance",
        ),
        ("invitee.scope", "misuse.outside-invitation-scope"),
    ] {
        let mut log = Log::new();
        let seq = log.at(
            MORNING,
            "staff:ana",
            refused(policy_rule, Some("staff:ana")),
        );
        let f = log.findings(Thresholds::default(), MORNING);
        assert_eq!(f.len(), 1, "{policy_rule}");
        assert_eq!(f[0].rule, finding);
        assert_eq!(f[0].evidence, vec![seq]);
        assert_eq!(f[0].staff, Some(p("staff:ana")));
        assert_eq!(f[0].tenant, Some(t("acme")));
        assert!(
            f[0].explanation.contains(policy_rule),
            "{}",
            f[0].explanation
        );
    }
    // Near miss: refusals that are not misuse (a malformed request, an unknown id).
    let mut log = Log::new();
    log.at(MORNING, "staff:ana", refused("grant.reason", None));
    log.at(MORNING, "staff:ana", refused("grant.unknown", None));
    assert!(log.rules(MORNING).is_empty());
}

#[test]
fn fourlogist_a_consent_by_phone_is_a_finding_and_a_written_one_is_not() {
    let give = |channel| Payload::ConsentGiven {
        consent: ConsentId(1),
        tenant: t("acme"),
        given_by: p("user:acme/admin"),
        grantee: None,
        scopes: vec![Scope::Import],
        channel,
        verified_sender: None,
        ticket: "T".into(),
        expires_at: Timestamp::from_secs(MORNING + 86_400),
    };
    let mut log = Log::new();
    log.at(MORNING, "user:acme/admin", give(Channel::Phone));
    assert_eq!(log.rules(MORNING), vec!["misuse.phone-consent"]);
    let mut log = Log::new();
    log.at(MORNING, "user:acme/admin", give(Channel::SignedDocument));
    assert!(log.rules(MORNING).is_empty());
}

#[test]
fn teamleader_sessions_closed_by_the_time_limit_and_customers_not_told_in_time() {
    let mut log = Log::new();
    let s = log.at(MORNING, "staff:ana", started(1, "acme", "staff:ana"));
    let e = log.at(
        MORNING + 3600,
        "custos:system",
        ended(1, SessionEndReason::TimeLimit),
    );
    let f = log.findings(Thresholds::default(), MORNING + 3600);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].rule, "misuse.session-time-limit");
    assert_eq!(f[0].evidence, vec![s, e]);
    // Not told within 24 h: a finding once the deadline has passed, not before.
    let day = 24 * 3600;
    assert!(!log
        .rules(MORNING + 3600 + day - 1)
        .contains(&"misuse.customer-not-notified".to_owned()));
    assert!(log
        .rules(MORNING + 3600 + day)
        .contains(&"misuse.customer-not-notified".to_owned()));
    // Told late: still a finding. Told in time: none (near miss).
    let notify = Payload::CustomerNotified {
        session: SessionId(1),
        tenant: t("acme"),
        channel: Channel::InApp,
    };
    let mut late = Log {
        events: log.events.clone(),
    };
    late.at(MORNING + 3600 + day + 60, "staff:ana", notify.clone());
    assert!(late
        .rules(MORNING + 3 * day)
        .contains(&"misuse.customer-not-notified".to_owned()));
    let mut on_time = Log::new();
    on_time.at(MORNING, "staff:ana", started(1, "acme", "staff:ana"));
    on_time.at(
        MORNING + 600,
        "staff:ana",
        ended(1, SessionEndReason::Staff),
    );
    on_time.at(MORNING + 700, "staff:ana", notify);
    let rules = on_time.rules(MORNING + 3 * day);
    assert!(!rules.contains(&"misuse.customer-not-notified".to_owned()));
    assert!(
        !rules.contains(&"misuse.session-time-limit".to_owned()),
        "ended by its staff member"
    );
}

#[test]
fn teamleader_sessions_must_be_reviewed_within_the_review_period() {
    let week = 7 * 24 * 3600;
    let mut log = Log::new();
    log.at(MORNING, "staff:ana", started(1, "acme", "staff:ana"));
    log.at(
        MORNING + 600,
        "staff:ana",
        ended(1, SessionEndReason::Staff),
    );
    assert!(!log
        .rules(MORNING + 600 + week - 1)
        .contains(&"misuse.unreviewed-session".to_owned()));
    assert!(log
        .rules(MORNING + 600 + week)
        .contains(&"misuse.unreviewed-session".to_owned()));
    // Near miss: reviewed in time.
    log.at(
        MORNING + 3600,
        "staff:lead",
        Payload::ReviewRecorded {
            review: ReviewId(1),
            reviewer: p("staff:lead"),
            tenant: Some(t("acme")),
            subject: ReviewSubject::Session(SessionId(1)),
            outcome: ReviewOutcome::Cleared,
            comment: "ok".into(),
        },
    );
    assert!(!log
        .rules(MORNING + 2 * week)
        .contains(&"misuse.unreviewed-session".to_owned()));
}

#[test]
fn unusual_patterns_many_accounts_a_day_and_sessions_after_hours() {
    // Six accounts in one day: more than five.
    let mut log = Log::new();
    for (i, tenant) in ["a1", "a2", "a3", "a4", "a5"].iter().enumerate() {
        log.at(
            MORNING + i as i64 * 60,
            "staff:ana",
            started(i as u128, tenant, "staff:ana"),
        );
    }
    // The same account again is not a sixth.
    log.at(MORNING + 400, "staff:ana", started(9, "a1", "staff:ana"));
    assert!(
        log.rules(MORNING + 3600).is_empty(),
        "five accounts: a near miss"
    );
    let sixth = log.at(MORNING + 500, "staff:ana", started(10, "a6", "staff:ana"));
    let f = log.findings(Thresholds::default(), MORNING + 3600);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].rule, "misuse.many-accounts");
    assert_eq!(f[0].evidence.len(), 6);
    assert_eq!(f[0].evidence.last(), Some(&sixth));
    // Only once a day.
    log.at(MORNING + 600, "staff:ana", started(11, "a7", "staff:ana"));
    assert_eq!(log.rules(MORNING + 3600), vec!["misuse.many-accounts"]);

    // A session at 03:00 UTC is after hours; with the office at UTC+6 it is 09:00.
    let night = MORNING - 7 * 3600;
    let mut log = Log::new();
    log.at(night, "staff:ana", started(1, "acme", "staff:ana"));
    assert_eq!(log.rules(night), vec!["misuse.after-hours"]);
    let east = Thresholds {
        utc_offset_minutes: 6 * 60,
        ..Thresholds::default()
    };
    assert!(log.findings(east, night).is_empty());
}

#[test]
fn findings_are_a_fold_the_same_in_one_go_or_event_by_event() {
    // Recorded times never decrease along a log (the store's writer sees to it).
    let mut log = Log::new();
    log.at(
        MORNING - 7 * 3600,
        "staff:bo",
        started(1, "acme", "staff:bo"),
    );
    log.at(
        MORNING,
        "staff:ana",
        refused("grant.self-request", Some("staff:ana")),
    );
    log.at(
        MORNING + 3600,
        "custos:system",
        ended(1, SessionEndReason::TimeLimit),
    );
    let at = Timestamp::from_secs(MORNING + 30 * 86_400);
    let whole = log.findings(Thresholds::default(), at.0 / 1_000_000);
    // Live: folded as events arrive, asked at the end.
    let mut live = Findings::new(Thresholds::default());
    for e in &log.events {
        live.apply(e);
        let _ = live.at(e.recorded_at);
    }
    assert_eq!(live.at(at), whole);
    // A window is the findings of its interval, the same as filtering all of them.
    for from in [MORNING - 86_400, MORNING, MORNING + 1, MORNING + 86_400] {
        let from = Timestamp::from_secs(from);
        let filtered: Vec<_> = whole.iter().filter(|f| f.at >= from).cloned().collect();
        assert_eq!(live.window(from, at), filtered);
    }
    // Serialised and restored (a snapshot), the same.
    let bytes = codec::encode_snapshot(&live).expect("encode");
    let restored: Findings = codec::decode_snapshot(&bytes).expect("decode");
    assert_eq!(restored.at(at), whole);
    let ids: std::collections::BTreeSet<_> = whole.iter().map(|f| f.id.clone()).collect();
    assert_eq!(ids.len(), whole.len(), "ids are unique");
}

#[test]
fn a_leads_review_of_a_finding_shows_from_its_time_on() {
    let mut log = Log::new();
    log.at(
        MORNING,
        "staff:ana",
        refused("grant.self-request", Some("staff:ana")),
    );
    let id = log.findings(Thresholds::default(), MORNING)[0].id.clone();
    let review = log.at(
        MORNING + 3600,
        "staff:lead",
        Payload::ReviewRecorded {
            review: ReviewId(1),
            reviewer: p("staff:lead"),
            tenant: Some(t("acme")),
            subject: ReviewSubject::Finding(id),
            outcome: ReviewOutcome::Escalated,
            comment: "twice this week".into(),
        },
    );
    assert_eq!(
        log.findings(Thresholds::default(), MORNING + 60)[0].review,
        None
    );
    assert_eq!(
        log.findings(Thresholds::default(), MORNING + 7200)[0].review,
        Some((ReviewOutcome::Escalated, review))
    );
}

#[test]
fn teamleader_review_coverage_of_a_period() {
    let week = 7 * 24 * 3600;
    let mut log = Log::new();
    for s in 1..=3u128 {
        log.at(
            MORNING + s as i64 * 60,
            "staff:ana",
            started(s, "acme", "staff:ana"),
        );
        log.at(
            MORNING + s as i64 * 60 + 30,
            "staff:ana",
            ended(s, SessionEndReason::Staff),
        );
    }
    let review = |s: u128| Payload::ReviewRecorded {
        review: ReviewId(s),
        reviewer: p("staff:lead"),
        tenant: Some(t("acme")),
        subject: ReviewSubject::Session(SessionId(s)),
        outcome: ReviewOutcome::Acknowledged,
        comment: "seen".into(),
    };
    log.at(MORNING + 3600, "staff:lead", review(1));
    log.at(MORNING + 2 * week, "staff:lead", review(2));
    let mut f = Findings::new(Thresholds::default());
    for e in &log.events {
        f.apply(e);
    }
    let c = f.coverage(
        Timestamp::from_secs(MORNING),
        Timestamp::from_secs(MORNING + 3 * week),
    );
    assert_eq!((c.sessions, c.reviewed, c.reviewed_in_time), (3, 2, 1));
    assert_eq!(c.unreviewed.len(), 1);
    assert_eq!(c.unreviewed[0].0, SessionId(3));
    // As of the end of the first day, only one review had happened.
    let c = f.coverage(
        Timestamp::from_secs(MORNING),
        Timestamp::from_secs(MORNING + 86_400),
    );
    assert_eq!((c.sessions, c.reviewed), (3, 1));
    // A period in which no session ended.
    let c = f.coverage(
        Timestamp::from_secs(MORNING + week),
        Timestamp::from_secs(MORNING + 3 * week),
    );
    assert_eq!(c.sessions, 0);
}

#[test]
fn a_change_of_thresholds_is_an_event_and_applies_from_its_seq_on() {
    let mut log = Log::new();
    for (i, tenant) in ["a1", "a2", "a3"].iter().enumerate() {
        log.at(
            MORNING + i as i64 * 60,
            "staff:ana",
            started(i as u128, tenant, "staff:ana"),
        );
    }
    assert!(
        log.rules(MORNING + 3600).is_empty(),
        "three accounts are fine by default"
    );
    log.at(
        MORNING + 600,
        "custos:system",
        // Written in record format 1's fields: still read, later fields at defaults.
        Payload::ThresholdsSet {
            version: 1,
            thresholds: custos_core::findings::ThresholdsV1 {
                max_accounts_per_day: 2,
                business_hours: (8, 18),
                utc_offset_minutes: 0,
                notify_within_secs: 86_400,
                review_within_secs: 7 * 86_400,
            },
        },
    );
    assert!(log.rules(MORNING + 3600).is_empty(), "not retroactive");
    log.at(MORNING + 700, "staff:ana", started(9, "a4", "staff:ana"));
    let f = log.findings(Thresholds::default(), MORNING + 3600);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].rule, "misuse.many-accounts");
    assert_eq!(f[0].thresholds, 1, "judged by version 1");
    // Version 2, in today's form: one extension in the window is already too many.
    log.at(
        MORNING + 800,
        "custos:system",
        Payload::ThresholdsChanged {
            version: 2,
            thresholds: Thresholds {
                max_extensions: 1,
                ..Thresholds::default()
            },
        },
    );
    log.at(MORNING + 900, "staff:csd", extended(1, "staff:bo"));
    log.at(MORNING + 1000, "staff:csd", extended(1, "staff:bo"));
    let f = log.findings(Thresholds::default(), MORNING + 3600);
    assert_eq!(f.len(), 2);
    assert_eq!(f[1].rule, "misuse.repeated-extensions");
    assert_eq!(f[1].thresholds, 2);
}

fn extended(grant: u128, grantee: &str) -> Payload {
    Payload::AccessExtended {
        grant: GrantId(grant),
        tenant: t("acme"),
        grantee: p(grantee),
        extended_by: p("staff:csd"),
        expires_at: Timestamp::from_secs(MORNING + 30 * 86_400),
        reason: "still migrating".into(),
    }
}

#[test]
fn workiva_repeated_grant_extensions_are_flagged_once_per_run() {
    let day = 86_400;
    let mut log = Log::new();
    // Two extensions in a week (the default limit): a near miss.
    let a = log.at(MORNING, "staff:csd", extended(1, "staff:bo"));
    let b = log.at(MORNING + day, "staff:csd", extended(1, "staff:bo"));
    // Another staff member's and another account's extensions do not add up with bo's.
    log.at(MORNING + day, "staff:csd", extended(2, "staff:cy"));
    assert!(log.rules(MORNING + 2 * day).is_empty());
    // The third within the week is one too many.
    let c = log.at(MORNING + 2 * day, "staff:csd", extended(3, "staff:bo"));
    let f = log.findings(Thresholds::default(), MORNING + 3 * day);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].rule, "misuse.repeated-extensions");
    assert_eq!(f[0].evidence, vec![a, b, c]);
    assert_eq!(f[0].staff, Some(p("staff:bo")));
    // A fourth within the same run adds no second finding.
    log.at(MORNING + 3 * day, "staff:csd", extended(3, "staff:bo"));
    assert_eq!(log.rules(MORNING + 4 * day).len(), 1);
    // Spread out over more than a week each time: never flagged.
    let mut slow = Log::new();
    for i in 0..6 {
        slow.at(MORNING + i * 4 * day, "staff:csd", extended(1, "staff:bo"));
    }
    assert!(slow.rules(MORNING + 30 * day).is_empty());
    // After a quiet spell the run is over, and a new burst is a new finding.
    for i in 0..3 {
        log.at(
            MORNING + 30 * day + i * 60,
            "staff:csd",
            extended(4, "staff:bo"),
        );
    }
    assert_eq!(log.rules(MORNING + 31 * day).len(), 2);
}

#[test]
fn pages_after_a_cursor_are_the_window_in_order_and_filters_apply_before_the_limit() {
    use custos_core::findings::{Query, Status};
    // Sessions in three accounts by three agents every 20 minutes for two days (most at
    // night, many never notified nor reviewed), with refusals in between.
    let mut log = Log::new();
    let agents = ["staff:ana", "staff:bo", "staff:cy"];
    let accounts = ["acme", "beta", "gamma"];
    for i in 0..144u128 {
        let at = MORNING + i as i64 * 1200;
        let (agent, account) = (agents[i as usize % 3], accounts[i as usize % 3]);
        log.at(at, agent, started(i, account, agent));
        log.at(at + 600, agent, ended(i, SessionEndReason::Staff));
        if i % 4 == 0 {
            log.at(at + 700, agent, refused("session.mfa", Some(agent)));
        }
    }
    let mut f = Findings::new(Thresholds::default());
    for e in &log.events {
        f.apply(e);
    }
    let (from, to) = (
        Timestamp::from_secs(MORNING),
        Timestamp::from_secs(MORNING + 10 * 86_400),
    );
    let all = f.window(from, to);
    assert!(all.len() > 300, "{}", all.len());
    assert!(all
        .windows(2)
        .all(|w| (w[0].at, &w[0].id) < (w[1].at, &w[1].id)));
    for limit in [1, 7, 50, 1000] {
        let mut paged = Vec::new();
        let mut q = Query {
            limit,
            ..Query::window(from, to)
        };
        loop {
            let (page, more) = f.page(&q);
            assert!(page.len() <= limit);
            paged.extend(page.iter().cloned());
            if !more {
                break;
            }
            let last = page.last().expect("a full page");
            q.after = Some((last.at, last.id.clone()));
        }
        assert_eq!(paged, all, "pages of {limit}");
    }
    // Filters select before the limit counts: the same as filtering the whole window.
    let q = Query {
        staff: Some(p("staff:bo")),
        rule: Some("misuse.unreviewed-session".into()),
        status: Some(Status::Open),
        limit: 10,
        ..Query::window(from, to)
    };
    let expected: Vec<_> = all
        .iter()
        .filter(|x| x.staff == Some(p("staff:bo")) && x.rule == "misuse.unreviewed-session")
        .take(10)
        .cloned()
        .collect();
    let (page, more) = f.page(&q);
    assert_eq!(page, expected);
    assert!(more);
    let q = Query {
        tenant: Some(t("gamma")),
        ..Query::window(from, to)
    };
    assert!(f.page(&q).0.iter().all(|x| x.tenant == Some(t("gamma"))));
}

/// The fold keeps findings compact (rule, figures, evidence) and writes each id and
/// sentence when asked: every kind of fixed finding must still read exactly so.
#[test]
fn each_fixed_finding_is_built_with_its_id_severity_evidence_and_sentence() {
    let thresholds = Thresholds {
        max_accounts_per_day: 1,
        max_extensions: 1,
        ..Thresholds::default()
    };
    let mut log = Log::new();
    let refusal = log.at(
        MORNING,
        "staff:ana",
        refused("action.view-only", Some("staff:ana")),
    );
    let phone = log.at(
        MORNING + 1,
        "user:acme/admin",
        Payload::ConsentGiven {
            consent: ConsentId(1),
            tenant: t("acme"),
            given_by: p("user:acme/admin"),
            grantee: None,
            scopes: vec![Scope::Import],
            channel: Channel::Phone,
            verified_sender: None,
            ticket: "T".into(),
            expires_at: Timestamp::from_secs(MORNING + 86_400),
        },
    );
    let first = log.at(MORNING + 2, "staff:bo", started(1, "acme", "staff:bo"));
    let second = log.at(MORNING + 3, "staff:bo", started(2, "globex", "staff:bo"));
    let limit = log.at(
        MORNING + 3600,
        "custos:system",
        ended(1, SessionEndReason::TimeLimit),
    );
    let ext_a = log.at(MORNING + 3601, "staff:csd", extended(1, "staff:cy"));
    let ext_b = log.at(MORNING + 3602, "staff:csd", extended(1, "staff:cy"));
    // 21:00 UTC: outside the default business hours (8h–18h).
    let late = log.at(
        MORNING + 11 * 3600,
        "staff:dee",
        started(3, "initech", "staff:dee"),
    );
    let got: Vec<_> = log
        .findings(thresholds, MORNING + 11 * 3600)
        .into_iter()
        .map(|f| {
            let evidence: Vec<u64> = f.evidence.iter().map(|s| s.0).collect();
            (f.id, f.severity, evidence, f.explanation)
        })
        .collect();
    use custos_core::findings::Severity::{High, Low, Medium};
    let want = vec![
        (
            format!("misuse.write-in-view-only@{}", refusal.0),
            High,
            vec![refusal.0],
            "staff:ana tried to write in a view-only session; refused by rule action.view-only: refused".to_owned(),
        ),
        (
            format!("misuse.phone-consent@{}", phone.0),
            Low,
            vec![phone.0],
            "user:acme/admin gave consent by phone: recorded, but it authorises nothing (4logist)".to_owned(),
        ),
        (
            format!("misuse.many-accounts@{}", first.0),
            Medium,
            vec![first.0, second.0],
            "staff:bo entered 2 accounts in one day (more than 1)".to_owned(),
        ),
        (
            format!("misuse.session-time-limit@{}", first.0),
            Low,
            vec![first.0, limit.0],
            "staff:bo's session in acme ran into its time limit and was closed by custos".to_owned(),
        ),
        (
            format!("misuse.repeated-extensions@{}", ext_a.0),
            Medium,
            vec![ext_a.0, ext_b.0],
            "staff:cy's access to acme was extended 2 times within 168 h (more than 1)".to_owned(),
        ),
        (
            format!("misuse.after-hours@{}", late.0),
            Low,
            vec![late.0],
            "staff:dee entered initech at 21h local, outside business hours (8h–18h)".to_owned(),
        ),
    ];
    assert_eq!(got, want);
}
