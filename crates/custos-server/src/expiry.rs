//! The expiry loop: the server keeps the access projection up to date with the log and,
//! every second, appends what has fallen due (sessions at their hour, grants, consents,
//! unanswered invitations) as `custos:system`. On start it folds the whole log, so overdue
//! expiries are caught up after a restart. The event id of an expiry is derived from what
//! expires, so a retry after a crash finds the first append instead of doubling it.

use std::time::Duration;

use custos_core::policy::{self, Decision};
use custos_core::{EventId, NewEvent, Payload, PrincipalId, Timestamp};
use custos_store::{AppendError, AppendRequest, Clock, Store};

use crate::live::{Live, SharedLive};

/// How often the loop looks for what is due.
pub const TICK: Duration = Duration::from_secs(1);

/// A stable id for the expiry a decision records: the same item always gets the same id.
fn expiry_id(decision: &Decision) -> EventId {
    let key = format!(
        "{}/{:?}",
        decision.stream,
        decision.payloads.first().map(Payload::kind)
    );
    let hash = blake3::hash(key.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash.as_bytes()[..16]);
    EventId(u128::from_be_bytes(bytes))
}

/// Appends everything due at `now`; returns how many expiries were recorded.
pub async fn append_due(
    live: &mut Live,
    store: &Store,
    now: Timestamp,
) -> Result<usize, AppendError> {
    let due = policy::due(live.access(), now);
    let n = due.len();
    for decision in due {
        let id = expiry_id(&decision);
        let events = decision
            .payloads
            .into_iter()
            .map(|p| NewEvent::new(id, PrincipalId::system(), p))
            .collect();
        store
            .append(AppendRequest {
                stream: decision.stream,
                expected: None,
                events,
            })
            .await?;
    }
    if n > 0 {
        // Fold what was just appended, so that it is not due again.
        live.catch_up(store)
            .map_err(|e| AppendError::Io(e.to_string()))?;
    }
    Ok(n)
}

/// Runs the loop until the store refuses appends (closed or failed).
pub async fn run(store: Store, live: SharedLive, clock: std::sync::Arc<dyn Clock>) {
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let mut live = live.lock().await;
        if let Err(e) = live.catch_up(&store) {
            tracing::error!(error = %e, "expiry loop: cannot read the log");
            continue;
        }
        match append_due(&mut live, &store, clock.now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, head = %store.head().seq, "recorded expiries"),
            Err(AppendError::Closed | AppendError::Refused) => return,
            Err(e) => tracing::error!(error = %e, "expiry loop: append failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_core::vocab::*;
    use custos_core::{GrantId, Seq, SessionId, StreamId, TenantId};
    use custos_store::{ManualClock, StoreConfig};
    use std::sync::Arc;

    fn p(s: &str) -> PrincipalId {
        PrincipalId::new(s).expect("principal")
    }

    async fn put(store: &Store, stream: &str, id: u128, payload: Payload) {
        store
            .append(AppendRequest {
                stream: StreamId::new(stream).expect("stream"),
                expected: None,
                events: vec![NewEvent::new(EventId(id), p("staff:csm"), payload)],
            })
            .await
            .expect("append");
    }

    #[tokio::test]
    async fn overdue_expiries_are_recorded_once_even_by_a_stale_replica() {
        let dir = tempfile::tempdir().expect("tmp");
        let t0 = Timestamp::from_secs(1_790_000_000);
        let clock = Arc::new(ManualClock::new(t0));
        let config = StoreConfig {
            clock: clock.clone(),
            ..StoreConfig::default()
        };
        let store = Store::open(dir.path(), config).expect("open");
        let tenant = TenantId::new("acme").expect("tenant");
        let grant = GrantId(1);
        put(
            &store,
            "grant:1",
            1,
            Payload::AccessRequested {
                grant,
                tenant: tenant.clone(),
                requester: p("staff:csm"),
                grantee: p("staff:ana"),
                role: StaffRole::SupportL2,
                scopes: vec![Scope::View],
                reason: "r".into(),
                ticket: None,
                ttl_secs: 3600,
            },
        )
        .await;
        put(
            &store,
            "grant:1",
            2,
            Payload::AccessApproved {
                grant,
                tenant: tenant.clone(),
                approver: p("staff:csd"),
                expires_at: t0.plus_secs(3600),
            },
        )
        .await;
        put(
            &store,
            "session:1",
            3,
            Payload::SessionStarted {
                session: SessionId(1),
                tenant: tenant.clone(),
                staff: p("staff:ana"),
                grant: Some(grant),
                target: SessionTarget::User(p("user:acme/admin")),
                mode: SessionMode::ViewOnly,
                supervision: Supervision::Unsupervised,
                reason: "r".into(),
                ticket_link: "l".into(),
                consent: None,
                deadline: t0.plus_secs(3600),
            },
        )
        .await;

        let mut live = Live::default();
        live.catch_up(&store).expect("fold");
        let mut stale = Live::default();
        stale.catch_up(&store).expect("fold");
        assert_eq!(
            append_due(&mut live, &store, t0.plus_secs(1800))
                .await
                .expect("due"),
            0,
            "nothing due yet"
        );

        let later = t0.plus_secs(2 * 3600);
        assert_eq!(append_due(&mut live, &store, later).await.expect("due"), 2);
        let head = store.head().seq;
        assert_eq!(head, Seq(5));
        let kinds: Vec<_> = store
            .range(Seq(4), head)
            .map(|e| {
                let e = e.expect("read").event().expect("decode");
                (e.kind(), e.actor)
            })
            .collect();
        assert!(kinds
            .iter()
            .all(|(_, actor)| *actor == PrincipalId::system()));
        assert!(kinds
            .iter()
            .any(|(k, _)| *k == custos_core::EventKind::SessionEnded));
        assert!(kinds
            .iter()
            .any(|(k, _)| *k == custos_core::EventKind::AccessExpired));
        // Nothing is due twice.
        assert_eq!(append_due(&mut live, &store, later).await.expect("due"), 0);
        // A replica that has not seen the expiries appends the same ids: no duplicates.
        assert_eq!(append_due(&mut stale, &store, later).await.expect("due"), 2);
        assert_eq!(store.head().seq, head, "the retry found the first appends");
        // After a restart (a fresh fold), nothing is due either.
        let mut fresh = Live::default();
        fresh.catch_up(&store).expect("fold");
        assert_eq!(fresh.access().applied(), head);
        assert_eq!(append_due(&mut fresh, &store, later).await.expect("due"), 0);
    }
}
