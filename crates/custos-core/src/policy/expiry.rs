//! Expiry: what lapses by itself (sessions at their deadline, grants, consents and
//! unanswered invitations at their expiry). The projection already treats these as closed
//! at their instant; the server appends the events (as `custos:system`) when due, catching
//! up overdue ones after a restart.

use super::Decision;
use crate::access::Item;
use crate::access::{Access, Due};
use crate::vocab::SessionEndReason;
use crate::{Payload, Timestamp};

/// The expiry events due at `now` that nobody has recorded yet: sessions past their
/// deadline, grants and consents past their expiry, unanswered invitations past theirs,
/// in deadline order. Reads only the fold's index of open deadlines, so it costs what is
/// due, not the size of the state. The server
/// appends them (as `custos:system`); the projection already treats them as closed.
pub fn due(state: &Access, now: Timestamp) -> Vec<Decision> {
    let one = |stream, payload| Decision {
        stream,
        expected: None,
        payloads: vec![payload],
    };
    // Everything with a deadline at or before `now` sorts before (now + 1 µs, FIRST).
    let bound = (now.plus_micros(1), Due::FIRST);
    state
        .deadlines
        .range(..bound)
        .filter_map(|(_, item)| match *item {
            Due::Session(id) => state.sessions.get(&id).map(|s| {
                one(
                    Item::Session(id).stream(),
                    Payload::SessionEnded {
                        session: id,
                        tenant: s.tenant.clone(),
                        reason: SessionEndReason::TimeLimit,
                    },
                )
            }),
            Due::Grant(id) => state.grants.get(&id).map(|g| {
                one(
                    Item::Grant(id).stream(),
                    Payload::AccessExpired {
                        grant: id,
                        tenant: g.tenant.clone(),
                    },
                )
            }),
            Due::Consent(id) => state.consents.get(&id).map(|(tenant, ..)| {
                one(
                    Item::Consent(id).stream(),
                    Payload::ConsentExpired {
                        consent: id,
                        tenant: tenant.clone(),
                    },
                )
            }),
            Due::Invitation(id) => state.invitations.get(&id).map(|i| {
                one(
                    Item::Invitation(id).stream(),
                    Payload::InvitationExpired {
                        invitation: id,
                        tenant: i.tenant.clone(),
                    },
                )
            }),
        })
        .collect()
}
