//! Misuse findings: a fold over the log that support leads read (docs/misuse.md).
//!
//! Each [`Finding`] names its rule, a severity, the tenant and staff member concerned,
//! when it happened, the seqs of the events that prove it and one sentence. Most rules
//! read refusals the policy recorded (an attempt the policy stopped is still a pattern a
//! lead must see); others read accepted events (a consent by phone, a session that ran
//! into its one-hour limit, sessions in many accounts a day or outside business hours);
//! two depend on the instant asked — a customer not told after a session, a session
//! nobody reviewed — and are derived by [`Findings::at`] from what is still pending.
//! Pure and deterministic: the same log and instant give the same findings.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use foldhash::HashMap;
use indexmap::IndexSet;

use serde::{Deserialize, Serialize};

use crate::vocab::{Channel, ReviewOutcome, ReviewSubject, SessionEndReason};
use crate::{Event, Payload, PrincipalId, Seq, SessionId, TenantId, Timestamp};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth a look.
    Low,
    /// Needs an explanation.
    Medium,
    /// A rule was broken or tried.
    High,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable: the rule and the seq of its first evidence event.
    pub id: String,
    /// The rule (docs/misuse.md).
    pub rule: String,
    /// How serious.
    pub severity: Severity,
    /// The account, if any.
    pub tenant: Option<TenantId>,
    /// The staff member (or other principal) concerned.
    pub staff: Option<PrincipalId>,
    /// When it happened.
    pub at: Timestamp,
    /// The events that prove it.
    pub evidence: Vec<Seq>,
    /// One sentence.
    pub explanation: String,
    /// The latest review of this finding by a lead, if any: its outcome and seq.
    pub review: Option<(ReviewOutcome, Seq)>,
    /// The version of the thresholds it was judged by (0: the defaults).
    pub thresholds: u32,
}

/// The thresholds of the detectors (defaults documented in docs/misuse.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// More distinct accounts entered by one staff member in one (local) day is unusual.
    pub max_accounts_per_day: usize,
    /// Business hours, local: sessions starting outside `[start, end)` are flagged.
    pub business_hours: (u8, u8),
    /// The local time zone, as an offset from UTC in minutes.
    pub utc_offset_minutes: i32,
    /// The customer must be told within this many seconds after a session ends.
    pub notify_within_secs: i64,
    /// A session must be reviewed within this many seconds after it ends.
    pub review_within_secs: i64,
    /// More extensions than this of one staff member's grants on one account within
    /// `extension_window_secs` is unusual.
    pub max_extensions: usize,
    /// The window over which grant extensions are counted, in seconds.
    pub extension_window_secs: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            max_accounts_per_day: 5,
            business_hours: (8, 18),
            utc_offset_minutes: 0,
            notify_within_secs: 24 * 3600,
            review_within_secs: 7 * 24 * 3600,
            max_extensions: 2,
            extension_window_secs: 7 * 24 * 3600,
        }
    }
}

/// The thresholds as record format 1 wrote them in `thresholds_set` (before the
/// extension limits): kept so that those records still decode; read as [`Thresholds`]
/// with the later fields at their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThresholdsV1 {
    /// See [`Thresholds::max_accounts_per_day`].
    pub max_accounts_per_day: usize,
    /// See [`Thresholds::business_hours`].
    pub business_hours: (u8, u8),
    /// See [`Thresholds::utc_offset_minutes`].
    pub utc_offset_minutes: i32,
    /// See [`Thresholds::notify_within_secs`].
    pub notify_within_secs: i64,
    /// See [`Thresholds::review_within_secs`].
    pub review_within_secs: i64,
}

impl From<ThresholdsV1> for Thresholds {
    fn from(v: ThresholdsV1) -> Thresholds {
        Thresholds {
            max_accounts_per_day: v.max_accounts_per_day,
            business_hours: v.business_hours,
            utc_offset_minutes: v.utc_offset_minutes,
            notify_within_secs: v.notify_within_secs,
            review_within_secs: v.review_within_secs,
            ..Thresholds::default()
        }
    }
}

/// A policy refusal and the finding it makes: (policy rule, finding rule, severity, what).
const REFUSALS: &[(&str, &str, Severity, &str)] = &[
    ("grant.self-request", "misuse.self-grant", Severity::High, "asked access for themselves"),
    ("grant.self-approval", "misuse.self-grant", Severity::High, "tried to approve a grant alone (requester or grantee)"),
    ("tenant.initial-support", "misuse.extra-initial-support", Severity::Medium, "tried to attach support users beyond the CSM and the onboarding PM at account creation"),
    ("session.mfa", "misuse.session-without-mfa-training", Severity::High, "tried to open a session without MFA"),
    ("session.training", "misuse.session-without-mfa-training", Severity::High, "tried to open a session without completed training"),
    ("action.consent", "misuse.action-without-consent", Severity::High, "tried an import, download, template edit or data change without a live covering consent"),
    ("action.view-only", "misuse.write-in-view-only", Severity::High, "tried to write in a view-only session"),
    ("action.high-importance", "misuse.high-importance-setting", Severity::High, "tried to change a high-importance setting outside a supervised onboarding session"),
    ("action.medium-request", "misuse.medium-setting-without-request", Severity::Medium, "tried to change a medium-importance setting without an authorised request"),
    ("session.onboarding-manager", "misuse.onboarding-manager-outside-period", Severity::Medium, "as onboarding manager, tried to enter outside the onboarding period without consent"),
    ("session.grant", "misuse.session-without-grant", Severity::High, "tried to open a session without a live grant of their own (revoked, expired or someone else's)"),
    ("grant.self-extension", "misuse.self-grant", Severity::High, "tried to extend their own access"),
    ("action.grant-lapsed", "misuse.activity-after-lapse", Severity::High, "tried to act in a session after the grant it rests on was revoked or expired"),
    ("invitee.inactive", "misuse.activity-after-lapse", Severity::High, "tried to act on an invitation that is not active (never accepted, declined, expired, deactivated or revoked)"),
    ("invitee.partner-not-accepted", "misuse.partner-before-acceptance", Severity::High, "as partner, tried to manage the account before the customer's IT admin accepted"),
    ("invitee.scope", "misuse.outside-invitation-scope", Severity::Medium, "tried to act outside the scopes of their invitation"),
];

// A fixed finding names its refusal by row as a `u8`.
const _: () = assert!(REFUSALS.len() <= u8::MAX as usize);

/// The extensions of one staff member's grants on one account within the window (seq,
/// time), and whether the run they belong to was already flagged.
type ExtensionRun = (VecDeque<(Seq, Timestamp)>, bool);

/// A finding the events fixed, as the fold keeps it: only what varies from one to the
/// next. Its rule and severity follow from `what`, its id from the rule and the first
/// evidence seq, and its sentence is written when a page is answered ([`Fixed::build`]),
/// so a log of millions of findings does not hold millions of ids and sentences.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Fixed {
    at: Timestamp,
    /// The first event that proves it (the id names it).
    first: Seq,
    /// The other events that prove it, in order.
    rest: Box<[Seq]>,
    tenant: Option<TenantId>,
    staff: Option<PrincipalId>,
    /// The version of the thresholds it was judged by.
    thresholds: u32,
    what: What,
}

/// Which rule a fixed finding broke, and the figures its sentence quotes.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum What {
    /// A refusal by the policy: its row in [`REFUSALS`], and the policy's reason.
    Refused { row: u8, reason: Box<str> },
    /// A consent given by phone.
    PhoneConsent,
    /// A session started at `hour` local, outside business hours `[open, close)`.
    AfterHours { hour: u8, open: u8, close: u8 },
    /// More than `max` accounts entered in one day (one evidence seq per account).
    ManyAccounts { max: usize },
    /// A session that ran into its time limit.
    TimeLimit,
    /// More than `max` extensions within `hours` (one evidence seq per extension).
    RepeatedExtensions { hours: i64, max: usize },
}

impl What {
    fn rule(&self) -> &'static str {
        match self {
            What::Refused { row, .. } => REFUSALS[usize::from(*row)].1,
            What::PhoneConsent => "misuse.phone-consent",
            What::AfterHours { .. } => "misuse.after-hours",
            What::ManyAccounts { .. } => "misuse.many-accounts",
            What::TimeLimit => "misuse.session-time-limit",
            What::RepeatedExtensions { .. } => "misuse.repeated-extensions",
        }
    }

    fn severity(&self) -> Severity {
        match self {
            What::Refused { row, .. } => REFUSALS[usize::from(*row)].2,
            What::PhoneConsent | What::AfterHours { .. } | What::TimeLimit => Severity::Low,
            What::ManyAccounts { .. } | What::RepeatedExtensions { .. } => Severity::Medium,
        }
    }
}

impl Fixed {
    /// The finding, with its id and its sentence.
    fn build(&self, id: String) -> Finding {
        let staff = self.staff.as_ref().map_or("", PrincipalId::as_str);
        let tenant = self.tenant.as_ref().map_or("", TenantId::as_str);
        let times = self.rest.len() + 1;
        let explanation = match &self.what {
            What::Refused { row, reason } => {
                let (rule, _, _, what) = REFUSALS[usize::from(*row)];
                format!("{staff} {what}; refused by rule {rule}: {reason}")
            }
            What::PhoneConsent => format!(
                "{staff} gave consent by phone: recorded, but it authorises nothing (4logist)"
            ),
            What::AfterHours { hour, open, close } => format!(
                "{staff} entered {tenant} at {hour}h local, outside business hours ({open}h–{close}h)"
            ),
            What::ManyAccounts { max } => {
                format!("{staff} entered {times} accounts in one day (more than {max})")
            }
            What::TimeLimit => format!(
                "{staff}'s session in {tenant} ran into its time limit and was closed by custos"
            ),
            What::RepeatedExtensions { hours, max } => format!(
                "{staff}'s access to {tenant} was extended {times} times within {hours} h (more than {max})"
            ),
        };
        Finding {
            id,
            rule: self.what.rule().to_owned(),
            severity: self.what.severity(),
            tenant: self.tenant.clone(),
            staff: self.staff.clone(),
            at: self.at,
            evidence: std::iter::once(self.first)
                .chain(self.rest.iter().copied())
                .collect(),
            explanation,
            review: None,
            thresholds: self.thresholds,
        }
    }
}

/// A session as the detectors follow it. Every session a log ever held is followed (a
/// customer may be told, or a lead review it, at any later time), so it names its account
/// and staff member by their place in [`Names`].
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Session {
    started: Seq,
    tenant: u32,
    staff: u32,
    ended: Option<(Seq, Timestamp)>,
    notified: Option<Timestamp>,
    reviewed: Option<Timestamp>,
}

/// The accounts and staff members the sessions name, each kept once.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Names {
    tenants: IndexSet<TenantId, foldhash::fast::RandomState>,
    staff: IndexSet<PrincipalId, foldhash::fast::RandomState>,
}

impl Names {
    /// The places of an account and a staff member, added if new.
    fn places(&mut self, tenant: &TenantId, staff: &PrincipalId) -> (u32, u32) {
        let place = |i: usize| u32::try_from(i).expect("fewer than 2^32 names");
        let tenant = match self.tenants.get_index_of(tenant) {
            Some(i) => i,
            None => self.tenants.insert_full(tenant.clone()).0,
        };
        let staff = match self.staff.get_index_of(staff) {
            Some(i) => i,
            None => self.staff.insert_full(staff.clone()).0,
        };
        (place(tenant), place(staff))
    }

    /// A session's account and staff member.
    fn of(&self, s: &Session) -> (&TenantId, &PrincipalId) {
        (
            &self.tenants[s.tenant as usize],
            &self.staff[s.staff as usize],
        )
    }
}

/// Review coverage of the sessions that ended in a period (Teamleader: logs reviewed by
/// the heads of support and success).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// Sessions that ended in the period.
    pub sessions: usize,
    /// Of those, reviewed by a lead (at any time up to the end of the period).
    pub reviewed: usize,
    /// Of those, reviewed within the review period after they ended.
    pub reviewed_in_time: usize,
    /// The sessions not reviewed: session, tenant, staff, start seq, end seq.
    pub unreviewed: Vec<(SessionId, TenantId, PrincipalId, Seq, Seq)>,
}

/// The findings fold.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Findings {
    thresholds: Thresholds,
    /// The version of `thresholds` (0: the defaults, before any `thresholds_changed`).
    version: u32,
    /// Findings fixed by the events themselves, in seq order, kept compact (see [`Fixed`]).
    found: Vec<Fixed>,
    sessions: HashMap<SessionId, Session>,
    /// The accounts and staff members of `sessions`.
    names: Names,
    /// (staff, local day) → accounts entered that day, with the first session seq.
    days: HashMap<(PrincipalId, i64), BTreeMap<TenantId, Seq>>,
    /// (staff, local day) already flagged for too many accounts.
    flagged_days: BTreeSet<(PrincipalId, i64)>,
    /// (grantee, tenant) → the extensions within the window (seq, time), and whether
    /// the run they belong to was already flagged.
    extensions: HashMap<(PrincipalId, TenantId), ExtensionRun>,
    /// The sessions that ended, in log order (so by time): end time, session.
    ended: Vec<(Timestamp, SessionId)>,
    /// The reviews of each finding, by finding id, in order: outcome, seq, time.
    reviews: HashMap<String, Vec<(ReviewOutcome, Seq, Timestamp)>>,
    applied: Seq,
}

impl Findings {
    /// An empty fold with these thresholds.
    pub fn new(thresholds: Thresholds) -> Findings {
        Findings {
            thresholds,
            ..Findings::default()
        }
    }

    /// The last seq folded in.
    pub fn applied(&self) -> Seq {
        self.applied
    }

    /// The thresholds in force, and their version (0: the defaults).
    pub fn thresholds(&self) -> (Thresholds, u32) {
        (self.thresholds, self.version)
    }

    fn push(
        &mut self,
        what: What,
        e: &Event,
        (staff, tenant): (Option<PrincipalId>, Option<TenantId>),
        first: Seq,
        rest: Vec<Seq>,
    ) {
        self.found.push(Fixed {
            at: e.recorded_at,
            first,
            rest: rest.into_boxed_slice(),
            tenant,
            staff,
            thresholds: self.version,
            what,
        });
    }

    fn local_day_and_hour(&self, t: Timestamp) -> (i64, i64) {
        let local = t.0 / 1_000_000 + i64::from(self.thresholds.utc_offset_minutes) * 60;
        (local.div_euclid(86_400), local.rem_euclid(86_400) / 3600)
    }

    /// Folds one event in (in seq order).
    pub fn apply(&mut self, e: &Event) {
        self.applied = e.seq;
        match &e.payload {
            Payload::AttemptRejected {
                rule,
                tenant,
                subject,
                reason,
                ..
            } => {
                if let Some(row) = REFUSALS.iter().position(|(r, ..)| r == rule) {
                    let what = What::Refused {
                        // REFUSALS has fewer than 256 rows (asserted at compile time).
                        row: u8::try_from(row).unwrap_or(u8::MAX),
                        reason: reason.as_str().into(),
                    };
                    let staff = Some(e.actor.clone()).or_else(|| subject.clone());
                    self.push(what, e, (staff, tenant.clone()), e.seq, Vec::new());
                }
            }
            Payload::ConsentGiven {
                tenant,
                given_by,
                channel: Channel::Phone,
                ..
            } => {
                self.push(
                    What::PhoneConsent,
                    e,
                    (Some(given_by.clone()), Some(tenant.clone())),
                    e.seq,
                    Vec::new(),
                );
            }
            Payload::SessionStarted {
                session,
                tenant,
                staff,
                ..
            } => {
                let (tenant_place, staff_place) = self.names.places(tenant, staff);
                self.sessions.insert(
                    *session,
                    Session {
                        started: e.seq,
                        tenant: tenant_place,
                        staff: staff_place,
                        ended: None,
                        notified: None,
                        reviewed: None,
                    },
                );
                let (day, hour) = self.local_day_and_hour(e.recorded_at);
                let (open, close) = self.thresholds.business_hours;
                if hour < i64::from(open) || hour >= i64::from(close) {
                    let what = What::AfterHours {
                        // An hour of the day, 0 to 23.
                        hour: u8::try_from(hour).unwrap_or(u8::MAX),
                        open,
                        close,
                    };
                    self.push(
                        what,
                        e,
                        (Some(staff.clone()), Some(tenant.clone())),
                        e.seq,
                        Vec::new(),
                    );
                }
                let accounts = self.days.entry((staff.clone(), day)).or_default();
                accounts.entry(tenant.clone()).or_insert(e.seq);
                let max = self.thresholds.max_accounts_per_day;
                if accounts.len() > max && self.flagged_days.insert((staff.clone(), day)) {
                    let mut evidence: Vec<Seq> = accounts.values().copied().collect();
                    evidence.sort();
                    let first = evidence.remove(0);
                    self.push(
                        What::ManyAccounts { max },
                        e,
                        (Some(staff.clone()), None),
                        first,
                        evidence,
                    );
                }
            }
            Payload::SessionEnded {
                session, reason, ..
            } => {
                if let Some(s) = self.sessions.get_mut(session).filter(|s| s.ended.is_none()) {
                    s.ended = Some((e.seq, e.recorded_at));
                    self.ended.push((e.recorded_at, *session));
                    if *reason == SessionEndReason::TimeLimit {
                        let (tenant, staff) = self.names.of(s);
                        let (staff, tenant, started) = (staff.clone(), tenant.clone(), s.started);
                        self.push(
                            What::TimeLimit,
                            e,
                            (Some(staff), Some(tenant)),
                            started,
                            vec![e.seq],
                        );
                    }
                }
            }
            Payload::CustomerNotified { session, .. } => {
                if let Some(s) = self.sessions.get_mut(session) {
                    s.notified.get_or_insert(e.recorded_at);
                }
            }
            Payload::ThresholdsSet {
                version,
                thresholds,
            } => {
                self.thresholds = (*thresholds).into();
                self.version = *version;
            }
            Payload::ThresholdsChanged {
                version,
                thresholds,
            } => {
                self.thresholds = *thresholds;
                self.version = *version;
            }
            Payload::AccessExtended {
                tenant, grantee, ..
            } => self.extended(e, grantee, tenant),
            Payload::ReviewRecorded {
                subject: ReviewSubject::Finding(id),
                outcome,
                ..
            } => {
                self.reviews
                    .entry(id.clone())
                    .or_default()
                    .push((*outcome, e.seq, e.recorded_at));
            }
            Payload::ReviewRecorded {
                subject: ReviewSubject::Session(session),
                ..
            } => {
                if let Some(s) = self.sessions.get_mut(session) {
                    s.reviewed.get_or_insert(e.recorded_at);
                }
            }
            _ => {}
        }
    }

    /// A grant extension: more than `max_extensions` of one staff member's grants on one
    /// account within `extension_window_secs` is flagged once per run (a run ends when
    /// the window holds `max_extensions` or fewer again).
    fn extended(&mut self, e: &Event, grantee: &PrincipalId, tenant: &TenantId) {
        let (max, window) = (
            self.thresholds.max_extensions,
            self.thresholds.extension_window_secs,
        );
        let (recent, flagged) = self
            .extensions
            .entry((grantee.clone(), tenant.clone()))
            .or_default();
        while recent
            .front()
            .is_some_and(|(_, t)| t.plus_secs(window) < e.recorded_at)
        {
            recent.pop_front();
        }
        if recent.len() < max {
            *flagged = false;
        }
        recent.push_back((e.seq, e.recorded_at));
        if recent.len() > max && !*flagged {
            *flagged = true;
            let mut evidence: Vec<Seq> = recent.iter().map(|(s, _)| *s).collect();
            let first = evidence.remove(0);
            let what = What::RepeatedExtensions {
                hours: window / 3600,
                max,
            };
            self.push(
                what,
                e,
                (Some(grantee.clone()), Some(tenant.clone())),
                first,
                evidence,
            );
        }
    }

    /// Review coverage of the sessions that ended in `[from, to]`, as of `to`.
    pub fn coverage(&self, from: Timestamp, to: Timestamp) -> Coverage {
        let mut c = Coverage {
            sessions: 0,
            reviewed: 0,
            reviewed_in_time: 0,
            unreviewed: Vec::new(),
        };
        for (id, s) in &self.sessions {
            let Some((end_seq, ended)) = s.ended else {
                continue;
            };
            if ended < from || ended > to {
                continue;
            }
            c.sessions += 1;
            match s.reviewed.filter(|r| *r <= to) {
                Some(r) => {
                    c.reviewed += 1;
                    if r <= ended.plus_secs(self.thresholds.review_within_secs) {
                        c.reviewed_in_time += 1;
                    }
                }
                None => {
                    let (tenant, staff) = self.names.of(s);
                    c.unreviewed
                        .push((*id, tenant.clone(), staff.clone(), s.started, end_seq))
                }
            }
        }
        c.unreviewed.sort_by_key(|u| u.3);
        c
    }

    /// Every finding as of `at`: those the events fixed, and those due by `at` (a
    /// customer not told within the deadline, a session not reviewed within the review
    /// period), in time order.
    pub fn at(&self, at: Timestamp) -> Vec<Finding> {
        self.window(Timestamp(i64::MIN), at)
    }

    /// The findings of `[from, to]` as of `to`, in (time, id) order.
    pub fn window(&self, from: Timestamp, at: Timestamp) -> Vec<Finding> {
        self.page(&Query::window(from, at)).0
    }

    /// One page of the findings of a window, as of its end, in (time, id) order, and
    /// whether more follow. Those the events fixed are kept in log order, whose times
    /// never decrease, and so are the ends of sessions, from which the findings due by a
    /// deadline derive; so the window (and the page after a cursor) is found by binary
    /// search, candidates are filtered by rule, staff and tenant before anything is
    /// copied, and only the page's findings are built.
    pub fn page(&self, q: &Query) -> (Vec<Finding>, bool) {
        let from = match &q.after {
            Some((t, _)) => q.from.max(*t),
            None => q.from,
        };
        let to = q.to;
        let start = self.found.partition_point(|f| f.at < from);
        let end = self.found.partition_point(|f| f.at <= to);
        let fixed = self.found[start..end.max(start)]
            .iter()
            .filter(|f| q.admits(f.what.rule(), f.staff.as_ref(), f.tenant.as_ref()))
            .map(|f| Candidate {
                at: f.at,
                id: format!("{}@{}", f.what.rule(), f.first),
                source: Source::Fixed(f),
            });
        let t = self.thresholds;
        let [notify, review] = [(0, t.notify_within_secs), (1, t.review_within_secs)]
            .map(|(rule, within)| self.due(q, from, rule, within));
        // Each source is in time order; merge them, one instant at a time (ties by id).
        let mut sources: [Box<dyn Iterator<Item = Candidate<'_>> + '_>; 3] =
            [Box::new(fixed), Box::new(notify), Box::new(review)];
        let mut heads: [Option<Candidate<'_>>; 3] = [None, None, None];
        for (head, source) in heads.iter_mut().zip(sources.iter_mut()) {
            *head = source.next();
        }
        let mut out = Vec::new();
        let mut group: Vec<Candidate<'_>> = Vec::new();
        while let Some(at) = heads.iter().flatten().map(|c| c.at).min() {
            for (head, source) in heads.iter_mut().zip(sources.iter_mut()) {
                while head.as_ref().is_some_and(|c| c.at == at) {
                    group.extend(head.take());
                    *head = source.next();
                }
            }
            group.sort_by(|a, b| a.id.cmp(&b.id));
            for c in group.drain(..) {
                if let Some((t, id)) = &q.after {
                    if (c.at, c.id.as_str()) <= (*t, id.as_str()) {
                        continue;
                    }
                }
                // The latest review recorded by the window's end.
                let review = self.reviews.get(&c.id).and_then(|rs| {
                    rs.iter()
                        .rev()
                        .find(|(_, _, when)| *when <= to)
                        .map(|(outcome, seq, _)| (*outcome, *seq))
                });
                if !q.status.is_none_or(|s| s.admits(review.map(|(o, _)| o))) {
                    continue;
                }
                if out.len() == q.limit {
                    return (out, true);
                }
                let mut f = c.build(self.version);
                f.review = review;
                out.push(f);
            }
        }
        (out, false)
    }

    /// The findings of rule `DUE_RULES[rule]` due in `[from, q.to]`, in time order: due
    /// in the window ⇔ the session ended in `[from − within, to − within]`.
    fn due<'a>(
        &'a self,
        q: &'a Query,
        from: Timestamp,
        rule: usize,
        within: i64,
    ) -> impl Iterator<Item = Candidate<'a>> + 'a {
        let lo = self
            .ended
            .partition_point(|(e, _)| e.plus_secs(within) < from);
        let hi = self
            .ended
            .partition_point(|(e, _)| e.plus_secs(within) <= q.to);
        let name = DUE_RULES[rule].0;
        self.ended[lo..hi.max(lo)]
            .iter()
            .filter_map(move |(ended, id)| {
                let s = self.sessions.get(id)?;
                let due = ended.plus_secs(within);
                let done = if rule == 0 { s.notified } else { s.reviewed };
                // Late counts as missed: done after the deadline, or not (yet) done.
                let (tenant, staff) = self.names.of(s);
                (done.is_none_or(|d| d > due) && q.admits(name, Some(staff), Some(tenant))).then(
                    || Candidate {
                        at: due,
                        id: format!("{name}@{}", s.started),
                        source: Source::Due {
                            rule,
                            within,
                            session: s,
                            tenant,
                            staff,
                        },
                    },
                )
            })
    }
}

/// The findings derived from what is still pending at the instant asked: rule, severity,
/// what was missed.
const DUE_RULES: [(&str, Severity, &str); 2] = [
    (
        "misuse.customer-not-notified",
        Severity::Medium,
        "the customer was not told",
    ),
    (
        "misuse.unreviewed-session",
        Severity::Low,
        "no lead reviewed it",
    ),
];

/// A finding of a window before it is built: when, its id, and where it comes from.
struct Candidate<'a> {
    at: Timestamp,
    id: String,
    source: Source<'a>,
}

/// Where a candidate finding comes from.
enum Source<'a> {
    /// Fixed by the events.
    Fixed(&'a Fixed),
    /// Due by a deadline after a session: the rule's row in [`DUE_RULES`].
    Due {
        rule: usize,
        within: i64,
        session: &'a Session,
        tenant: &'a TenantId,
        staff: &'a PrincipalId,
    },
}

impl Candidate<'_> {
    fn build(self, version: u32) -> Finding {
        match self.source {
            Source::Fixed(f) => f.build(self.id),
            Source::Due {
                rule,
                within,
                session: s,
                tenant,
                staff,
            } => {
                let (name, severity, what) = DUE_RULES[rule];
                Finding {
                    id: self.id,
                    rule: name.to_owned(),
                    severity,
                    tenant: Some(tenant.clone()),
                    staff: Some(staff.clone()),
                    at: self.at,
                    evidence: vec![s.started, s.ended.map_or(s.started, |(seq, _)| seq)],
                    explanation: format!(
                        "{staff}'s session in {tenant} ended; within {} h {what}",
                        within / 3600
                    ),
                    review: None,
                    thresholds: version,
                }
            }
        }
    }
}

/// Which review status a query asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Not reviewed (yet, as of the window's end).
    Open,
    /// Reviewed, whatever the outcome.
    Reviewed,
    /// Whose latest review has this outcome.
    Outcome(ReviewOutcome),
}

impl Status {
    fn admits(self, outcome: Option<ReviewOutcome>) -> bool {
        match self {
            Status::Open => outcome.is_none(),
            Status::Reviewed => outcome.is_some(),
            Status::Outcome(o) => outcome == Some(o),
        }
    }
}

/// What [`Findings::page`] answers: a window, filters, a cursor and a page size.
#[derive(Debug, Clone)]
pub struct Query {
    /// The window's start.
    pub from: Timestamp,
    /// The window's end, also the instant it is judged at.
    pub to: Timestamp,
    /// Only this rule.
    pub rule: Option<String>,
    /// Only this staff member (or other principal).
    pub staff: Option<PrincipalId>,
    /// Only this account.
    pub tenant: Option<TenantId>,
    /// Only this review status.
    pub status: Option<Status>,
    /// Only those after this (time, id): the last finding of the previous page.
    pub after: Option<(Timestamp, String)>,
    /// At most this many.
    pub limit: usize,
}

impl Query {
    /// Every finding of `[from, to]`.
    pub fn window(from: Timestamp, to: Timestamp) -> Query {
        Query {
            from,
            to,
            rule: None,
            staff: None,
            tenant: None,
            status: None,
            after: None,
            limit: usize::MAX,
        }
    }

    fn admits(&self, rule: &str, staff: Option<&PrincipalId>, tenant: Option<&TenantId>) -> bool {
        self.rule.as_deref().is_none_or(|r| r == rule)
            && self.staff.as_ref().is_none_or(|s| staff == Some(s))
            && self.tenant.as_ref().is_none_or(|t| tenant == Some(t))
    }
}
