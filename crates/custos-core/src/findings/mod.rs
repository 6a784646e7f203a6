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

use serde::{Deserialize, Serialize};

use crate::vocab::{Channel, ReviewOutcome, ReviewSubject, SessionEndReason};

mod kept;
mod page;

use crate::{Event, Payload, PrincipalId, Seq, SessionId, TenantId, Timestamp};
use kept::{Fixed, Names, Session, What};
pub use page::{Query, Status};

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
}
