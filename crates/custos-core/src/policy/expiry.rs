//! Expiry: what lapses by itself (sessions at their deadline, grants, consents and
//! unanswered invitations at their expiry). The projection already treats these as closed
//! at their instant; the server appends the events (as `custos:system`) when due, catching
//! up overdue ones after a restart.

use super::{stream, Decision};
use crate::access::Access;
use crate::vocab::SessionEndReason;
use crate::{Payload, Timestamp};

/// The expiry events due at `now` that nobody has recorded yet: sessions past their
/// deadline, grants and consents past their expiry, unanswered invitations past theirs,
/// in id order. The server
/// appends them (as `custos:system`); the projection already treats them as closed.
pub fn due(state: &Access, now: Timestamp) -> Vec<Decision> {
    let one = |stream, payload| Decision {
        stream,
        expected: None,
        payloads: vec![payload],
    };
    let mut out = Vec::new();
    let mut sessions: Vec<_> = state
        .sessions
        .iter()
        .filter(|(_, s)| !s.ended && s.open.deadline <= now)
        .collect();
    sessions.sort_by_key(|(id, _)| **id);
    out.extend(sessions.into_iter().map(|(id, s)| {
        one(
            stream("session", id),
            Payload::SessionEnded {
                session: *id,
                tenant: s.tenant.clone(),
                reason: SessionEndReason::TimeLimit,
            },
        )
    }));
    let mut grants: Vec<_> = state
        .grants
        .iter()
        .filter(|(_, g)| !g.closed && g.approved.is_some_and(|(_, _, until)| until <= now))
        .collect();
    grants.sort_by_key(|(id, _)| **id);
    out.extend(grants.into_iter().map(|(id, g)| {
        one(
            stream("grant", id),
            Payload::AccessExpired {
                grant: *id,
                tenant: g.tenant.clone(),
            },
        )
    }));
    let mut consents: Vec<_> = state
        .consents
        .iter()
        .filter(|(_, (_, c, closed))| !closed && c.expires_at <= now)
        .collect();
    consents.sort_by_key(|(id, _)| **id);
    out.extend(consents.into_iter().map(|(id, (tenant, ..))| {
        one(
            stream("consent", id),
            Payload::ConsentExpired {
                consent: *id,
                tenant: tenant.clone(),
            },
        )
    }));
    let mut invitations: Vec<_> = state
        .invitations
        .iter()
        .filter(|(_, i)| !i.closed && i.accepted.is_none() && i.expires_at <= now)
        .collect();
    invitations.sort_by_key(|(id, _)| **id);
    out.extend(invitations.into_iter().map(|(id, i)| {
        one(
            stream("invitation", id),
            Payload::InvitationExpired {
                invitation: *id,
                tenant: i.tenant.clone(),
            },
        )
    }));
    out
}
