//! What an accepted command answers: the seqs and kinds appended, the ids the events name,
//! the stream's version; or, for events that record a refusal, the refusal (422). Built
//! from the decision just appended, or read back from the log for a retry.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use custos_core::{EventId, Payload, Seq};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::{AppState, Problem};

/// One appended event, as answered.
#[derive(Debug, Serialize)]
struct Appended {
    seq: u64,
    kind: &'static str,
}

/// The answer to an accepted command.
#[derive(Debug, Serialize)]
struct Accepted {
    /// The events appended, in order.
    events: Vec<Appended>,
    /// The ids the command created or acted on (`grant`, `consent`, `session`, …).
    ids: Map<String, Value>,
    /// The stream and its version after the append.
    stream: String,
    version: u64,
}

/// Ids named by a payload, for the answer: its `tenant`, `grant`, `consent`, `session`,
/// `invitation` and `review` fields, in that order, each kept from the first event that
/// names it. Read off the variant's fields rather than from the payload serialised as a
/// whole (which cost ~3 % of the workers' time under load, docs/PERFORMANCE.md); the test
/// below holds it to that reading.
fn ids_of(payload: &Payload, into: &mut Map<String, Value>) {
    use Payload as P;
    fn put<T: Serialize>(into: &mut Map<String, Value>, key: &str, id: Option<&T>) {
        if let Some(id) = id {
            if !into.contains_key(key) {
                if let Ok(v) = serde_json::to_value(id) {
                    into.insert(key.to_owned(), v);
                }
            }
        }
    }
    let tenant = match payload {
        // The ledger's own event, which `Payload::tenant` leaves out.
        P::TokenIssued { tenant, .. } => tenant.as_ref(),
        other => other.tenant(),
    };
    let (mut grant, mut consent, mut session, mut invitation, mut review) =
        (None, None, None, None, None);
    match payload {
        P::AccessRequested { grant: g, .. }
        | P::AccessApproved { grant: g, .. }
        | P::AccessDenied { grant: g, .. }
        | P::AccessExpired { grant: g, .. }
        | P::AccessRevoked { grant: g, .. }
        | P::AccessExtended { grant: g, .. } => grant = Some(g),
        P::InvitationCreated { invitation: i, .. }
        | P::InvitationSent { invitation: i, .. }
        | P::InvitationAccepted { invitation: i, .. }
        | P::InvitationDeclined { invitation: i, .. }
        | P::InvitationExpired { invitation: i, .. }
        | P::InvitationDeactivated { invitation: i, .. }
        | P::InvitationReactivated { invitation: i, .. }
        | P::InvitationRevoked { invitation: i, .. }
        | P::InviteeAction { invitation: i, .. } => invitation = Some(i),
        P::ConsentGiven { consent: c, .. }
        | P::ConsentWithdrawn { consent: c, .. }
        | P::ConsentExpired { consent: c, .. } => consent = Some(c),
        P::SessionStarted {
            session: s,
            grant: g,
            consent: c,
            ..
        } => {
            session = Some(s);
            grant = g.as_ref();
            consent = c.as_ref();
        }
        P::SessionAction {
            session: s,
            consent: c,
            ..
        } => {
            session = Some(s);
            consent = c.as_ref();
        }
        P::SessionEnded { session: s, .. } | P::CustomerNotified { session: s, .. } => {
            session = Some(s)
        }
        P::ReviewRecorded { review: r, .. } => review = Some(r),
        // Named, not `_`: a new variant must say which ids it carries.
        P::TenantCreated { .. }
        | P::OnboardingOpened { .. }
        | P::OnboardingClosed { .. }
        | P::StaffEnrolled { .. }
        | P::StaffUpdated { .. }
        | P::CustomerUserAdded { .. }
        | P::CustomerUserRemoved { .. }
        | P::AttemptRejected { .. }
        | P::TokenIssued { .. }
        | P::TokenRevoked { .. }
        | P::ThresholdsSet { .. }
        | P::ThresholdsChanged { .. } => {}
    }
    put(into, "tenant", tenant);
    put(into, "grant", grant);
    put(into, "consent", consent);
    put(into, "session", session);
    put(into, "invitation", invitation);
    put(into, "review", review);
}

/// The answer for the events appended under `base`, read back from the log (a retry gets
/// the answer the first request got).
pub(super) fn answer_from_log(
    state: &AppState,
    first: Seq,
    base: EventId,
) -> Result<Response, Problem> {
    let mut events = Vec::new();
    for (k, stored) in state.store.range(first, state.store.head().seq).enumerate() {
        let e = stored
            .map_err(|e| Problem::internal(&e))?
            .event()
            .map_err(|e| Problem::internal(&e))?;
        if e.id != EventId(base.0.wrapping_add(k as u128)) {
            break;
        }
        events.push(e);
    }
    let (stream, version) = events
        .last()
        .map_or((String::new(), 0), |e| (e.stream.to_string(), e.version));
    answer(events.iter().map(|e| (e.seq, &e.payload)), stream, version)
}

/// The answer for `events` (seq and payload, in order), which leave `stream` at
/// `version`: 201 with what was appended, or the refusal they record.
pub(super) fn answer<'a>(
    events: impl Iterator<Item = (Seq, &'a Payload)>,
    stream: String,
    version: u64,
) -> Result<Response, Problem> {
    let mut appended = Vec::new();
    let mut ids = Map::new();
    let mut refusal = None;
    for (seq, payload) in events {
        if let Payload::AttemptRejected { rule, reason, .. } = payload {
            refusal = Some((rule.clone(), reason.clone()));
        }
        ids_of(payload, &mut ids);
        appended.push(Appended {
            seq: seq.0,
            kind: payload.kind().name(),
        });
    }
    if let Some((rule, reason)) = refusal {
        return Err(Problem::refusal(&rule, &reason));
    }
    Ok((
        StatusCode::CREATED,
        Json(Accepted {
            events: appended,
            ids,
            stream,
            version,
        }),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_core::{EventKind, Timestamp};
    use std::collections::BTreeSet;

    /// The ids as the payload serialised whole names them: every top-level field called
    /// like an id, not null (what `ids_of` read before it matched on the variant).
    fn ids_from_json(payload: &Payload, into: &mut Map<String, Value>) {
        let Ok(Value::Object(o)) = serde_json::to_value(payload) else {
            panic!("a payload serialises to an object");
        };
        for fields in o.values() {
            let Value::Object(fields) = fields else {
                continue;
            };
            for key in [
                "tenant",
                "grant",
                "consent",
                "session",
                "invitation",
                "review",
            ] {
                if let Some(v) = fields.get(key).filter(|v| !v.is_null()) {
                    into.entry(key).or_insert_with(|| v.clone());
                }
            }
        }
    }

    #[test]
    fn the_ids_read_off_the_fields_are_those_of_the_serialised_payload() {
        let demo = custos_demo::Demo::new(custos_demo::DemoConfig {
            events: 20_000,
            seed: 7,
            end: Timestamp::from_secs(1_800_000_000),
            days: 90,
        });
        let mut events: Vec<Payload> = demo.map(|e| e.event.payload).collect();
        // The demo's sessions name no consent: the same sessions, naming one, and
        // without their grant.
        let given = events.iter().find_map(|p| match p {
            Payload::ConsentGiven { consent, .. } => Some(*consent),
            _ => None,
        });
        let given = given.expect("the demo gives consents");
        let mut varied = Vec::new();
        for p in &events {
            let mut p = p.clone();
            match &mut p {
                Payload::SessionStarted { consent, .. }
                | Payload::SessionAction { consent, .. } => *consent = Some(given),
                _ => continue,
            }
            varied.push(p.clone());
            if let Payload::SessionStarted { grant, .. } = &mut p {
                *grant = None;
                varied.push(p);
            }
        }
        assert!(!varied.is_empty());
        events.extend(varied);
        let mut kinds = BTreeSet::new();
        for p in &events {
            kinds.insert(p.kind());
            let (mut read, mut serialised) = (Map::new(), Map::new());
            ids_of(p, &mut read);
            ids_from_json(p, &mut serialised);
            assert_eq!(
                serde_json::to_string(&read).unwrap(),
                serde_json::to_string(&serialised).unwrap(),
                "{p:?}"
            );
        }
        // Several events in one answer: the first to name an id keeps it.
        for pair in events.windows(2) {
            let (mut read, mut serialised) = (Map::new(), Map::new());
            for p in pair {
                ids_of(p, &mut read);
                ids_from_json(p, &mut serialised);
            }
            assert_eq!(
                serde_json::to_string(&read).unwrap(),
                serde_json::to_string(&serialised).unwrap()
            );
        }
        // The demo's mix covers every family of ids.
        for kind in [
            EventKind::TenantCreated,
            EventKind::AccessRequested,
            EventKind::InvitationCreated,
            EventKind::ConsentGiven,
            EventKind::SessionStarted,
            EventKind::SessionAction,
            EventKind::SessionEnded,
            EventKind::ReviewRecorded,
        ] {
            assert!(kinds.contains(&kind), "the demo made no {}", kind.name());
        }
    }
}
