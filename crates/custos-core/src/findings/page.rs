//! The findings of a window as of its end, a page at a time: those the events fixed and
//! those due by a deadline after a session, merged in (time, id) order.

use super::kept::{Fixed, Session};
use super::{Finding, Findings, Severity};
use crate::vocab::ReviewOutcome;
use crate::{PrincipalId, TenantId, Timestamp};

impl Findings {
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
