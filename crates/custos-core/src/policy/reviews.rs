//! Reviews by the heads of support and success (Teamleader): recorded in the same ledger,
//! so that the reviewers are watched too. Their workflow comes with the misuse findings.

use super::{stream, Ctx, Decision, Refusal, Refuse};
use crate::vocab::{ReviewOutcome, ReviewSubject, StaffRole};
use crate::Text;
use crate::{Payload, ReviewId, TenantId};

/// Commands about reviews.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ReviewCommand {
    /// A support lead records a review.
    Record {
        /// The new review's id.
        review: ReviewId,
        /// The account, when the subject has one.
        tenant: Option<TenantId>,
        /// What was reviewed.
        subject: ReviewSubject,
        /// The conclusion.
        outcome: ReviewOutcome,
        /// Comment (required to clear or escalate).
        comment: Text,
    },
}

impl ReviewCommand {
    pub(super) fn name(&self) -> &'static str {
        match self {
            ReviewCommand::Record { .. } => "record_review",
        }
    }
}

pub(super) fn decide(ctx: &Ctx<'_>, command: &ReviewCommand) -> Result<Decision, Refusal> {
    let ReviewCommand::Record {
        review,
        tenant,
        subject,
        outcome,
        comment,
    } = command;
    let r = Refuse {
        tenant: tenant.as_ref(),
        subject: None,
    };
    if !ctx.has_role(ctx.actor, &[StaffRole::SupportLead]) {
        return Err(r.because(
            "review.reviewer",
            "reviews are recorded by the heads of support and success",
        ));
    }
    if let Some(t) = tenant {
        if !ctx.state.tenants.contains_key(t) {
            return Err(r.because("tenant.unknown", format!("no tenant {t}")));
        }
    }
    let needs_comment = matches!(outcome, ReviewOutcome::Cleared | ReviewOutcome::Escalated);
    if needs_comment && comment.trim().is_empty() {
        return Err(r.because("review.comment", "clearing or escalating needs a comment"));
    }
    Ok(Decision {
        stream: stream("review", review),
        expected: Some(0),
        payloads: vec![Payload::ReviewRecorded {
            review: *review,
            reviewer: ctx.actor.clone(),
            tenant: tenant.clone(),
            subject: subject.clone(),
            outcome: *outcome,
            comment: comment.clone(),
        }],
    })
}
