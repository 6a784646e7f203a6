//! custos-demo: a deterministic, realistic workload of the five vendors' stories.
//!
//! [`Demo`] yields events in time order over a span (the 90 days before "now" by default),
//! each with the simulated time at which it happens and the stream it belongs to:
//! account creation with the CSM and onboarding PM (Workiva), partner-created accounts
//! waiting for the IT admin's acceptance (HP WXP), two-person access grants that expire or
//! are revoked by the customer's admin (Workiva), consents over typed channels including
//! the unauthorised phone (4logist), impersonation and view-as sessions with actions of
//! every importance that end by staff or at the one-hour limit and are followed by a
//! notice to the customer (Teamleader, 4logist), guests invited from other accounts
//! (ORC), support leads' reviews, and refused self-grants — and the misuse the leads look
//! for: grants extended again and again, access revoked mid-session, guests and partners
//! acting outside their scopes or before acceptance, onboarding PMs entering after
//! onboarding, agents sweeping through many accounts in a day. The same seed gives the
//! same events, byte for byte.

mod accounts;
pub mod driver;
mod stories;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, Ipv4Addr};

use custos_core::vocab::*;
use custos_core::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// One generated event: when it happens, where it goes, what it is.
#[derive(Debug, Clone)]
pub struct DemoEvent {
    /// Simulated time of the event (non-decreasing along the sequence).
    pub at: Timestamp,
    /// The aggregate stream.
    pub stream: StreamId,
    /// The event.
    pub event: NewEvent,
}

/// The demo's size and span.
#[derive(Debug, Clone, Copy)]
pub struct DemoConfig {
    /// Events to generate.
    pub events: u64,
    /// Seed of the random choices.
    pub seed: u64,
    /// End of the simulated span ("now").
    pub end: Timestamp,
    /// Length of the span, in days.
    pub days: i64,
}

#[derive(Debug, Clone)]
struct Tenant {
    id: TenantId,
    admin: PrincipalId,
    users: Vec<PrincipalId>,
    onboarding: bool,
}

#[derive(Debug, Clone)]
struct Grant {
    id: GrantId,
    tenant: usize,
    grantee: usize,
    expires: Timestamp,
    /// The customer's admin revokes it during the first session on it (set when the
    /// grant is made; cleared once a session has done so).
    revoke_in_session: bool,
}

/// The generator. An iterator of exactly `config.events` events.
#[derive(Debug)]
pub struct Demo {
    rng: StdRng,
    now: Timestamp,
    /// Start of the span: event `i` happens in `[start + i·step, start + (i+1)·step)`, so
    /// the timeline never passes the end of the span.
    start: Timestamp,
    step: i64,
    emitted: u64,
    remaining: u64,
    staff: Vec<(PrincipalId, StaffRole)>,
    tenants: Vec<Tenant>,
    tenant_target: usize,
    grants: Vec<Grant>,
    pending: BinaryHeap<Reverse<(Timestamp, u64)>>,
    queued: std::collections::HashMap<u64, DemoEvent>,
    counter: u64,
    enrolled: usize,
}

fn name<T>(make: impl FnOnce(String) -> Result<T, IdError>, s: String) -> T {
    match make(s) {
        Ok(v) => v,
        // Every name built here is `[a-z0-9:/-]` and short.
        Err(e) => unreachable!("demo name: {e}"),
    }
}

impl Demo {
    /// A generator for `config`.
    pub fn new(config: DemoConfig) -> Demo {
        let span = config.days * Timestamp::DAY;
        let events = config.events.max(1);
        let tenant_target = (events / 60).clamp(5, 20_000) as usize;
        let staff_count = (tenant_target / 8).clamp(12, 2_000);
        let roles = [
            StaffRole::SupportL1,
            StaffRole::SupportL1,
            StaffRole::SupportL2,
            StaffRole::Csm,
            StaffRole::Csm,
            StaffRole::Csd,
            StaffRole::OnboardingManager,
            StaffRole::ProfessionalServices,
            StaffRole::PartnerAdmin,
            StaffRole::SupportLead,
        ];
        let staff = (0..staff_count)
            .map(|i| {
                (
                    name(PrincipalId::new, format!("staff:s{i:04}")),
                    roles[i % roles.len()],
                )
            })
            .collect();
        Demo {
            rng: StdRng::seed_from_u64(config.seed),
            now: Timestamp(config.end.0 - span),
            start: Timestamp(config.end.0 - span),
            step: (span / events as i64).max(1),
            emitted: 0,
            remaining: config.events,
            staff,
            tenants: Vec::new(),
            tenant_target,
            grants: Vec::new(),
            pending: BinaryHeap::new(),
            queued: std::collections::HashMap::new(),
            counter: 0,
            enrolled: 0,
        }
    }

    fn id(&mut self) -> EventId {
        let ms = (self.now.0 / 1_000).max(0) as u64;
        EventId::from_ulid(ulid::Ulid::from_parts(ms, self.rng.gen()))
    }

    fn ulid(&mut self) -> u128 {
        self.id().0
    }

    fn staff_with(&mut self, role: StaffRole) -> usize {
        let n = self.staff.len();
        let start = self.rng.gen_range(0..n);
        (0..n)
            .map(|k| (start + k) % n)
            .find(|i| self.staff[*i].1 == role)
            .unwrap_or(start)
    }

    fn staff_ip(&mut self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 20, self.rng.gen(), self.rng.gen()))
    }

    fn customer_ip(&mut self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, self.rng.gen()))
    }

    fn event(
        &mut self,
        at: Timestamp,
        stream: StreamId,
        actor: PrincipalId,
        ip: IpAddr,
        payload: Payload,
    ) -> DemoEvent {
        let mut event = NewEvent::new(self.id(), actor, payload);
        event.source_ip = Some(ip);
        DemoEvent { at, stream, event }
    }

    /// Schedules an event for later.
    fn later(&mut self, e: DemoEvent) {
        self.counter += 1;
        self.pending.push(Reverse((e.at, self.counter)));
        self.queued.insert(self.counter, e);
    }

    fn tenant_stream(t: &TenantId) -> StreamId {
        name(StreamId::new, format!("tenant:{t}"))
    }

    fn stream(prefix: &str, id: impl std::fmt::Display) -> StreamId {
        name(StreamId::new, format!("{prefix}:{id}"))
    }

    /// The next story's first event (follow-ups are queued).
    fn start_story(&mut self) -> DemoEvent {
        let enrolled = self.enrolled;
        if enrolled < self.staff.len() {
            return self.staff_enrolment(enrolled);
        }
        if self.tenants.len() < 2
            || (self.tenants.len() < self.tenant_target && self.rng.gen_bool(0.25))
        {
            return self.new_tenant();
        }
        let t = self.rng.gen_range(0..self.tenants.len());
        match self.rng.gen_range(0..10) {
            0..=2 => self.grant(t),
            3..=4 => self.consent(t),
            // Now and then an agent works through a batch of tickets across accounts.
            5..=7 if self.rng.gen_bool(0.01) => self.sweep(),
            5..=7 => self.session().unwrap_or_else(|| self.grant(t)),
            _ => self.guest(t).unwrap_or_else(|| self.consent(t)),
        }
    }
}

impl Iterator for Demo {
    type Item = DemoEvent;

    fn next(&mut self) -> Option<DemoEvent> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let slice = self
            .start
            .plus_micros(self.step.saturating_mul(self.emitted as i64));
        self.now = self
            .now
            .max(slice.plus_micros(self.rng.gen_range(0..self.step)));
        self.emitted += 1;
        let due = matches!(self.pending.peek(), Some(Reverse((at, _))) if *at <= self.now);
        let mut e = if due {
            let Reverse((_, k)) = self.pending.pop()?;
            self.queued.remove(&k)?
        } else {
            let e = self.start_story();
            if matches!(e.event.payload, Payload::StaffEnrolled { .. }) {
                self.enrolled += 1;
            }
            e
        };
        e.at = e.at.max(self.now);
        self.now = e.at;
        Some(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn config(events: u64, seed: u64) -> DemoConfig {
        DemoConfig {
            events,
            seed,
            end: Timestamp::from_secs(1_800_000_000),
            days: 90,
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_events() {
        let a: Vec<NewEvent> = Demo::new(config(3_000, 7)).map(|e| e.event).collect();
        let b: Vec<NewEvent> = Demo::new(config(3_000, 7)).map(|e| e.event).collect();
        let c: Vec<NewEvent> = Demo::new(config(3_000, 8)).map(|e| e.event).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn events_are_in_time_order_within_the_span_and_unique() {
        let cfg = config(20_000, 1);
        let events: Vec<DemoEvent> = Demo::new(cfg).collect();
        assert_eq!(events.len(), 20_000);
        assert!(events.windows(2).all(|w| w[0].at <= w[1].at));
        let start = Timestamp(cfg.end.0 - 90 * Timestamp::DAY);
        assert!(events[0].at >= start);
        let last = events[events.len() - 1].at;
        // Never in the future of the span's end (a log recorded "now" must not hold events
        // after now), and close to it.
        assert!(events.iter().all(|e| e.at <= cfg.end));
        assert!(last > Timestamp(cfg.end.0 - Timestamp::DAY), "{last}");
        let ids: BTreeSet<EventId> = events.iter().map(|e| e.event.id).collect();
        assert_eq!(ids.len(), events.len());
    }

    #[test]
    fn the_mix_covers_the_five_stories() {
        let kinds: BTreeSet<EventKind> = Demo::new(config(20_000, 3))
            .map(|e| e.event.payload.kind())
            .collect();
        for k in [
            EventKind::TenantCreated,
            EventKind::StaffEnrolled,
            EventKind::AccessRequested,
            EventKind::AccessApproved,
            EventKind::AccessRevoked,
            EventKind::AccessExpired,
            EventKind::AccessExtended,
            EventKind::InvitationCreated,
            EventKind::InviteeAction,
            EventKind::InvitationAccepted,
            EventKind::ConsentGiven,
            EventKind::SessionStarted,
            EventKind::SessionAction,
            EventKind::SessionEnded,
            EventKind::CustomerNotified,
            EventKind::ReviewRecorded,
            EventKind::AttemptRejected,
        ] {
            assert!(kinds.contains(&k), "missing {k}");
        }
    }
}
