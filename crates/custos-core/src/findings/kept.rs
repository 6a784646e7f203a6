//! How the findings fold keeps what it found: fixed findings as their kind and figures
//! (their ids and sentences are written when a page is answered), and the sessions it
//! follows with their tenant and staff member as places in a table of names.

use indexmap::IndexSet;
use serde::{Deserialize, Serialize};

use super::{Finding, Severity, REFUSALS};
use crate::{PrincipalId, Seq, TenantId, Timestamp};

/// A finding the events fixed, as the fold keeps it: only what varies from one to the
/// next. Its rule and severity follow from `what`, its id from the rule and the first
/// evidence seq, and its sentence is written when a page is answered ([`Fixed::build`]),
/// so a log of millions of findings does not hold millions of ids and sentences.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Fixed {
    pub(super) at: Timestamp,
    /// The first event that proves it (the id names it).
    pub(super) first: Seq,
    /// The other events that prove it, in order.
    pub(super) rest: Box<[Seq]>,
    pub(super) tenant: Option<TenantId>,
    pub(super) staff: Option<PrincipalId>,
    /// The version of the thresholds it was judged by.
    pub(super) thresholds: u32,
    pub(super) what: What,
}

/// Which rule a fixed finding broke, and the figures its sentence quotes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) enum What {
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
    pub(super) fn rule(&self) -> &'static str {
        match self {
            What::Refused { row, .. } => REFUSALS[usize::from(*row)].1,
            What::PhoneConsent => "misuse.phone-consent",
            What::AfterHours { .. } => "misuse.after-hours",
            What::ManyAccounts { .. } => "misuse.many-accounts",
            What::TimeLimit => "misuse.session-time-limit",
            What::RepeatedExtensions { .. } => "misuse.repeated-extensions",
        }
    }

    pub(super) fn severity(&self) -> Severity {
        match self {
            What::Refused { row, .. } => REFUSALS[usize::from(*row)].2,
            What::PhoneConsent | What::AfterHours { .. } | What::TimeLimit => Severity::Low,
            What::ManyAccounts { .. } | What::RepeatedExtensions { .. } => Severity::Medium,
        }
    }
}

impl Fixed {
    /// The finding, with its id and its sentence.
    pub(super) fn build(&self, id: String) -> Finding {
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
pub(super) struct Session {
    pub(super) started: Seq,
    pub(super) tenant: u32,
    pub(super) staff: u32,
    pub(super) ended: Option<(Seq, Timestamp)>,
    pub(super) notified: Option<Timestamp>,
    pub(super) reviewed: Option<Timestamp>,
}

/// The accounts and staff members the sessions name, each kept once.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Names {
    tenants: IndexSet<TenantId, foldhash::fast::RandomState>,
    staff: IndexSet<PrincipalId, foldhash::fast::RandomState>,
}

impl Names {
    /// The places of an account and a staff member, added if new.
    pub(super) fn places(&mut self, tenant: &TenantId, staff: &PrincipalId) -> (u32, u32) {
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
    pub(super) fn of(&self, s: &Session) -> (&TenantId, &PrincipalId) {
        (
            &self.tenants[s.tenant as usize],
            &self.staff[s.staff as usize],
        )
    }
}
