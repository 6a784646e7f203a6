//! The access projection: who can enter which tenant, with what scopes, until when, and
//! why — a fold over the log (DESIGN.md invariant 4), queried at an instant.
//!
//! [`Access::apply`] folds one event; [`Access::tenant`] and [`Access::access_list`]
//! (`answers.rs`) answer at a given time. Expiry is judged at the query's instant, not by the arrival of an
//! expiry event: a grant whose `expires_at` has passed gives no access even if nobody has
//! recorded its expiry yet, and a session is closed at its deadline. An as-of answer is the
//! projection of the events recorded up to that instant (or seq), asked at that instant.

use std::collections::{BTreeMap, BTreeSet};

use foldhash::HashMap;

use serde::{Deserialize, Serialize};

use crate::vocab::{InvitationKind, InvitationScope, ProfileKind, Scope, StaffRole};
use crate::{
    ConsentId, Event, GrantId, InvitationId, Payload, PrincipalId, Seq, SessionId, StreamId,
};
use crate::{TenantId, Text, Timestamp};

mod answers;
pub use answers::{LiveConsent, OpenSession, Right, TenantAccess, Via};

/// A grant as the policy sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct GrantState {
    pub tenant: TenantId,
    pub requester: PrincipalId,
    pub grantee: PrincipalId,
    pub role: StaffRole,
    pub scopes: Vec<Scope>,
    pub ttl_secs: u64,
    pub requested: Seq,
    /// `(seq, approved at, expires at)`; an extension moves the expiry.
    pub approved: Option<(Seq, Timestamp, Timestamp)>,
    /// The extensions, in order.
    pub extended: Vec<Seq>,
}

/// A staff member as the policy sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StaffState {
    pub roles: Vec<StaffRole>,
    pub mfa: bool,
    pub training_completed: bool,
}

/// A session as the policy sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SessionState {
    pub tenant: TenantId,
    pub open: OpenSession,
    pub supervision: crate::vocab::Supervision,
    pub consent: Option<ConsentId>,
    /// The grant it rests on (none: initial support).
    pub grant: Option<GrantId>,
}

/// What is kept of a closed grant or an ended session: whose it was, so that the policy
/// still refuses a later step on it precisely (naming its tenant and subject). The rest
/// of its state can never give access again, and a long log holds far more closed
/// grants and sessions than open ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Closed {
    pub tenant: TenantId,
    /// The grantee of a grant, the staff member of a session.
    pub subject: PrincipalId,
}

/// An invitation as the policy sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct InvitationState {
    pub tenant: TenantId,
    pub kind: InvitationKind,
    pub invitee: PrincipalId,
    pub scopes: Vec<InvitationScope>,
    pub created: Seq,
    pub sent: bool,
    pub expires_at: Timestamp,
    pub accepted: Option<(Seq, Timestamp)>,
    pub active: bool,
    pub closed: bool,
}

/// A tenant as the policy sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TenantState {
    pub name: Text,
    pub onboarding: bool,
    pub members: BTreeMap<PrincipalId, (ProfileKind, Seq, Timestamp)>,
    pub initial: Vec<(PrincipalId, StaffRole, Seq, Timestamp)>,
}

/// The projection. Fold events in seq order with [`Access::apply`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Access {
    applied: Seq,
    pub(crate) tenants: BTreeMap<TenantId, TenantState>,
    pub(crate) staff: HashMap<PrincipalId, StaffState>,
    /// The grants still pending or approved; closed ones move to `closed_grants`.
    pub(crate) grants: HashMap<GrantId, GrantState>,
    pub(crate) closed_grants: HashMap<GrantId, Closed>,
    pub(crate) invitations: HashMap<InvitationId, InvitationState>,
    /// `(tenant, consent, closed)`.
    pub(crate) consents: HashMap<ConsentId, (TenantId, LiveConsent, bool)>,
    /// The sessions not ended (one past its deadline stays until its end is recorded);
    /// ended ones move to `ended_sessions`.
    pub(crate) sessions: HashMap<SessionId, SessionState>,
    pub(crate) ended_sessions: HashMap<SessionId, Closed>,
    /// The grants, invitations, consents and sessions of each tenant.
    by_tenant: HashMap<TenantId, Items>,
    /// The grants and invitations of each grantee/invitee, and the tenants each staff
    /// member was attached to at creation.
    by_principal: HashMap<PrincipalId, Items>,
    /// The accounts each customer-side principal is a user of (for ORC's guests).
    pub(crate) member_of: HashMap<PrincipalId, BTreeSet<TenantId>>,
    /// What lapses by itself, by deadline: only the items still open.
    pub(crate) deadlines: BTreeSet<(Timestamp, Due)>,
    /// Drop each item as it closes ([`Access::forgetful`]).
    #[serde(skip)]
    forget_closed: bool,
    /// The closed items brought back by [`Access::recall`], until
    /// [`Access::forget_recalled`].
    #[serde(skip)]
    recalled: Vec<Item>,
}

/// An item a command acts on, whose whole history is its stream (`<family>:<id>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Item {
    /// A grant.
    Grant(GrantId),
    /// A session.
    Session(SessionId),
    /// A consent.
    Consent(ConsentId),
    /// An invitation.
    Invitation(InvitationId),
}

impl Item {
    /// The item's stream: where the policy appends every event about it.
    pub fn stream(&self) -> StreamId {
        let named = match self {
            Item::Grant(id) => StreamId::of("grant", id),
            Item::Session(id) => StreamId::of("session", id),
            Item::Consent(id) => StreamId::of("consent", id),
            Item::Invitation(id) => StreamId::of("invitation", id),
        };
        match named {
            Ok(s) => s,
            // Fixed prefixes and ULIDs.
            Err(e) => unreachable!("an item's stream name is valid: {e}"),
        }
    }
}

/// Ids of what concerns one tenant or one principal, so that an answer about it reads
/// only its own items (first creation only: a repeated id is not listed twice).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Items {
    grants: Vec<GrantId>,
    invitations: Vec<InvitationId>,
    consents: Vec<ConsentId>,
    sessions: Vec<SessionId>,
    /// For a principal: the tenants it was attached to as initial support.
    supported: Vec<TenantId>,
}

/// Something that lapses by itself at a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) enum Due {
    /// A session at its one-hour limit.
    Session(SessionId),
    /// An approved grant at its expiry.
    Grant(GrantId),
    /// A consent at its expiry.
    Consent(ConsentId),
    /// An unanswered invitation at its expiry.
    Invitation(InvitationId),
}

impl Due {
    /// Sorts before every other item at the same instant (a range bound).
    pub(crate) const FIRST: Due = Due::Session(SessionId(0));
}

impl Items {
    fn is_empty(&self) -> bool {
        self.grants.is_empty()
            && self.invitations.is_empty()
            && self.consents.is_empty()
            && self.sessions.is_empty()
            && self.supported.is_empty()
    }
}

impl Access {
    /// A projection that drops each grant, invitation, consent and session as it closes
    /// (what [`Access::compact`] drops, as it happens), for a server that folds the
    /// whole log: a long log holds far more closed items than open ones (at 10M demo
    /// events, 2.4M closed against 0.5M open). Answers are those of the whole projection;
    /// the policy's precise refusals on a closed item need it back first:
    /// [`Access::knows`], [`Access::recall`] with its stream's events, then
    /// [`Access::forget_recalled`].
    pub fn forgetful() -> Access {
        Access {
            forget_closed: true,
            ..Access::default()
        }
    }

    /// Whether `item` is held (in a forgetful projection: whether it is open, or
    /// recalled).
    pub fn knows(&self, item: Item) -> bool {
        match item {
            Item::Grant(id) => {
                self.grants.contains_key(&id) || self.closed_grants.contains_key(&id)
            }
            Item::Session(id) => {
                self.sessions.contains_key(&id) || self.ended_sessions.contains_key(&id)
            }
            Item::Consent(id) => self.consents.contains_key(&id),
            Item::Invitation(id) => self.invitations.contains_key(&id),
        }
    }

    /// Brings back what the whole projection keeps of a closed `item` (for the policy
    /// to refuse a step on it precisely), from its stream's `events`. Nothing changes
    /// if the item is held already or the events do not close it. Answers stay the
    /// same: a recalled item is in no tenant's or principal's list.
    pub fn recall<'e>(&mut self, item: Item, events: impl IntoIterator<Item = &'e Event>) {
        if self.knows(item) {
            return;
        }
        let mut whole = Access::default();
        for e in events {
            whole.apply(e);
        }
        let brought = match item {
            Item::Grant(id) => whole
                .closed_grants
                .remove(&id)
                .map(|c| self.closed_grants.insert(id, c))
                .is_some(),
            Item::Session(id) => whole
                .ended_sessions
                .remove(&id)
                .map(|c| self.ended_sessions.insert(id, c))
                .is_some(),
            Item::Consent(id) => whole
                .consents
                .remove(&id)
                .filter(|(_, _, closed)| *closed)
                .map(|c| self.consents.insert(id, c))
                .is_some(),
            Item::Invitation(id) => whole
                .invitations
                .remove(&id)
                .filter(|i| i.closed)
                .map(|i| self.invitations.insert(id, i))
                .is_some(),
        };
        if brought {
            self.recalled.push(item);
        }
    }

    /// Drops again what [`Access::recall`] brought back.
    pub fn forget_recalled(&mut self) {
        for item in std::mem::take(&mut self.recalled) {
            match item {
                Item::Grant(id) => {
                    self.closed_grants.remove(&id);
                }
                Item::Session(id) => {
                    self.ended_sessions.remove(&id);
                }
                Item::Consent(id) => {
                    self.consents.remove(&id);
                }
                Item::Invitation(id) => {
                    self.invitations.remove(&id);
                }
            }
        }
    }

    /// Removes a closed item's id from its tenant's and principal's lists, dropping
    /// lists left empty (a forgetful projection).
    fn unlist(&mut self, tenant: &TenantId, principal: Option<&PrincipalId>, item: Item) {
        let remove = |items: &mut Items| match item {
            Item::Grant(id) => items.grants.retain(|g| *g != id),
            Item::Session(id) => items.sessions.retain(|s| *s != id),
            Item::Consent(id) => items.consents.retain(|c| *c != id),
            Item::Invitation(id) => items.invitations.retain(|i| *i != id),
        };
        if let Some(items) = self.by_tenant.get_mut(tenant) {
            remove(items);
            if items.is_empty() {
                self.by_tenant.remove(tenant);
            }
        }
        if let Some(p) = principal {
            if let Some(items) = self.by_principal.get_mut(p) {
                remove(items);
                if items.is_empty() {
                    self.by_principal.remove(p);
                }
            }
        }
    }

    /// The last seq folded in.
    pub fn applied(&self) -> Seq {
        self.applied
    }

    /// Every tenant created so far.
    pub fn tenants(&self) -> impl Iterator<Item = (&TenantId, &str)> {
        self.tenants.iter().map(|(t, s)| (t, s.name.as_str()))
    }

    /// Folds one event in (events must come in seq order).
    pub fn apply(&mut self, e: &Event) {
        self.applied = e.seq;
        let (seq, at) = (e.seq, e.recorded_at);
        match &e.payload {
            Payload::TenantCreated {
                tenant,
                name,
                admins,
                initial_support,
                ..
            } => {
                let members = admins
                    .iter()
                    .map(|a| (a.clone(), (ProfileKind::Admin, seq, at)))
                    .collect();
                for a in admins {
                    self.member_of
                        .entry(a.clone())
                        .or_default()
                        .insert(tenant.clone());
                }
                let initial = initial_support
                    .iter()
                    .map(|s| (s.staff.clone(), s.role, seq, at))
                    .collect();
                if !self.tenants.contains_key(tenant) {
                    for s in initial_support {
                        let supported = &mut self
                            .by_principal
                            .entry(s.staff.clone())
                            .or_default()
                            .supported;
                        if !supported.contains(tenant) {
                            supported.push(tenant.clone());
                        }
                    }
                }
                self.tenants.insert(
                    tenant.clone(),
                    TenantState {
                        name: name.clone(),
                        onboarding: false,
                        members,
                        initial,
                    },
                );
            }
            Payload::OnboardingOpened { tenant } | Payload::OnboardingClosed { tenant } => {
                let open = matches!(e.payload, Payload::OnboardingOpened { .. });
                if let Some(t) = self.tenants.get_mut(tenant) {
                    t.onboarding = open;
                }
            }
            Payload::CustomerUserAdded {
                tenant, user, kind, ..
            } => {
                if let Some(t) = self.tenants.get_mut(tenant) {
                    t.members.insert(user.clone(), (*kind, seq, at));
                    self.member_of
                        .entry(user.clone())
                        .or_default()
                        .insert(tenant.clone());
                }
            }
            Payload::CustomerUserRemoved { tenant, user } => {
                if let Some(t) = self.tenants.get_mut(tenant) {
                    t.members.remove(user);
                    if let Some(ts) = self.member_of.get_mut(user) {
                        ts.remove(tenant);
                    }
                }
            }
            Payload::AccessRequested {
                grant,
                tenant,
                requester,
                grantee,
                role,
                scopes,
                ttl_secs,
                ..
            } => {
                // A known id (open or closed) is listed once; a new request under it
                // replaces what was there.
                if !self.grants.contains_key(grant) && self.closed_grants.remove(grant).is_none() {
                    self.by_tenant
                        .entry(tenant.clone())
                        .or_default()
                        .grants
                        .push(*grant);
                    self.by_principal
                        .entry(grantee.clone())
                        .or_default()
                        .grants
                        .push(*grant);
                }
                self.grants.insert(
                    *grant,
                    GrantState {
                        tenant: tenant.clone(),
                        requester: requester.clone(),
                        grantee: grantee.clone(),
                        role: *role,
                        scopes: scopes.clone(),
                        ttl_secs: *ttl_secs,
                        requested: seq,
                        approved: None,
                        extended: Vec::new(),
                    },
                );
            }
            Payload::AccessApproved {
                grant, expires_at, ..
            } => {
                if let Some(g) = self.grants.get_mut(grant) {
                    g.approved = Some((seq, at, *expires_at));
                    self.deadlines.insert((*expires_at, Due::Grant(*grant)));
                }
            }
            Payload::AccessExtended {
                grant, expires_at, ..
            } => {
                if let Some(g) = self.grants.get_mut(grant) {
                    if let Some((_, _, until)) = g.approved.as_mut() {
                        self.deadlines.remove(&(*until, Due::Grant(*grant)));
                        *until = *expires_at;
                        self.deadlines.insert((*expires_at, Due::Grant(*grant)));
                        g.extended.push(seq);
                    }
                }
            }
            Payload::AccessDenied { grant, .. }
            | Payload::AccessExpired { grant, .. }
            | Payload::AccessRevoked { grant, .. } => {
                if let Some(g) = self.grants.remove(grant) {
                    if let Some((_, _, until)) = g.approved {
                        self.deadlines.remove(&(until, Due::Grant(*grant)));
                    }
                    if self.forget_closed {
                        self.unlist(&g.tenant, Some(&g.grantee), Item::Grant(*grant));
                        return;
                    }
                    self.closed_grants.insert(
                        *grant,
                        Closed {
                            tenant: g.tenant,
                            subject: g.grantee,
                        },
                    );
                }
            }
            Payload::InvitationCreated {
                invitation,
                tenant,
                kind,
                invitee,
                scopes,
                expires_at,
                ..
            } => {
                self.deadlines
                    .insert((*expires_at, Due::Invitation(*invitation)));
                if !self.invitations.contains_key(invitation) {
                    self.by_tenant
                        .entry(tenant.clone())
                        .or_default()
                        .invitations
                        .push(*invitation);
                    self.by_principal
                        .entry(invitee.clone())
                        .or_default()
                        .invitations
                        .push(*invitation);
                }
                self.invitations.insert(
                    *invitation,
                    InvitationState {
                        tenant: tenant.clone(),
                        kind: *kind,
                        invitee: invitee.clone(),
                        scopes: scopes.clone(),
                        created: seq,
                        sent: false,
                        expires_at: *expires_at,
                        accepted: None,
                        active: false,
                        closed: false,
                    },
                );
            }
            Payload::InvitationSent { invitation, .. } => {
                if let Some(i) = self.invitations.get_mut(invitation) {
                    i.sent = true;
                }
            }
            Payload::InvitationAccepted { invitation, .. } => {
                if let Some(i) = self.invitations.get_mut(invitation) {
                    if !i.closed {
                        i.accepted = Some((seq, at));
                        i.active = true;
                        self.deadlines
                            .remove(&(i.expires_at, Due::Invitation(*invitation)));
                    }
                }
            }
            Payload::InvitationDeactivated { invitation, .. } => {
                if let Some(i) = self.invitations.get_mut(invitation) {
                    i.active = false;
                }
            }
            Payload::InvitationReactivated { invitation, .. } => {
                if let Some(i) = self.invitations.get_mut(invitation) {
                    i.active = i.accepted.is_some() && !i.closed;
                }
            }
            Payload::InvitationDeclined { invitation, .. }
            | Payload::InvitationExpired { invitation, .. }
            | Payload::InvitationRevoked { invitation, .. } => {
                if let Some(i) = self.invitations.get_mut(invitation) {
                    i.closed = true;
                    i.active = false;
                    self.deadlines
                        .remove(&(i.expires_at, Due::Invitation(*invitation)));
                    if self.forget_closed {
                        let (tenant, invitee) = (i.tenant.clone(), i.invitee.clone());
                        self.invitations.remove(invitation);
                        self.unlist(&tenant, Some(&invitee), Item::Invitation(*invitation));
                    }
                }
            }
            Payload::ConsentGiven {
                consent,
                tenant,
                given_by,
                grantee,
                scopes,
                channel,
                expires_at,
                ..
            } => {
                let live = LiveConsent {
                    consent: *consent,
                    given_by: given_by.clone(),
                    grantee: grantee.clone(),
                    scopes: scopes.clone(),
                    channel: *channel,
                    authorised: channel.is_authorised(),
                    expires_at: *expires_at,
                    given: seq,
                };
                self.deadlines.insert((*expires_at, Due::Consent(*consent)));
                if !self.consents.contains_key(consent) {
                    self.by_tenant
                        .entry(tenant.clone())
                        .or_default()
                        .consents
                        .push(*consent);
                }
                self.consents
                    .insert(*consent, (tenant.clone(), live, false));
            }
            Payload::ConsentWithdrawn { consent, .. } | Payload::ConsentExpired { consent, .. } => {
                if let Some(c) = self.consents.get_mut(consent) {
                    c.2 = true;
                    self.deadlines
                        .remove(&(c.1.expires_at, Due::Consent(*consent)));
                    if self.forget_closed {
                        let tenant = c.0.clone();
                        self.consents.remove(consent);
                        self.unlist(&tenant, None, Item::Consent(*consent));
                    }
                }
            }
            Payload::SessionStarted {
                session,
                tenant,
                staff,
                target,
                mode,
                supervision,
                consent,
                deadline,
                grant,
                ..
            } => {
                let open = OpenSession {
                    session: *session,
                    staff: staff.clone(),
                    target: target.clone(),
                    mode: *mode,
                    deadline: *deadline,
                    started: seq,
                };
                self.deadlines.insert((*deadline, Due::Session(*session)));
                // As for grants: a known id is listed once, a new start replaces it.
                if !self.sessions.contains_key(session)
                    && self.ended_sessions.remove(session).is_none()
                {
                    self.by_tenant
                        .entry(tenant.clone())
                        .or_default()
                        .sessions
                        .push(*session);
                }
                self.sessions.insert(
                    *session,
                    SessionState {
                        tenant: tenant.clone(),
                        open,
                        supervision: *supervision,
                        consent: *consent,
                        grant: *grant,
                    },
                );
            }
            Payload::SessionEnded { session, .. } => {
                if let Some(s) = self.sessions.remove(session) {
                    self.deadlines
                        .remove(&(s.open.deadline, Due::Session(*session)));
                    if self.forget_closed {
                        self.unlist(&s.tenant, None, Item::Session(*session));
                        return;
                    }
                    self.ended_sessions.insert(
                        *session,
                        Closed {
                            tenant: s.tenant,
                            subject: s.open.staff,
                        },
                    );
                }
            }
            Payload::StaffEnrolled {
                staff,
                roles,
                mfa,
                training_completed,
                ..
            } => {
                self.staff.insert(
                    staff.clone(),
                    StaffState {
                        roles: roles.clone(),
                        mfa: *mfa,
                        training_completed: *training_completed,
                    },
                );
            }
            Payload::StaffUpdated {
                staff,
                roles,
                mfa,
                training_completed,
                ..
            } => {
                if let Some(s) = self.staff.get_mut(staff) {
                    if let Some(r) = roles {
                        s.roles = r.clone();
                    }
                    if let Some(m) = mfa {
                        s.mfa = *m;
                    }
                    if let Some(t) = training_completed {
                        s.training_completed = *t;
                    }
                }
            }
            Payload::SessionAction { .. }
            | Payload::CustomerNotified { .. }
            | Payload::ReviewRecorded { .. }
            | Payload::AttemptRejected { .. }
            | Payload::TokenIssued { .. }
            | Payload::TokenRevoked { .. }
            | Payload::ThresholdsSet { .. }
            | Payload::InviteeAction { .. }
            | Payload::ThresholdsChanged { .. } => {}
        }
    }

    /// Drops what can never give access again: closed grants, invitations and consents,
    /// ended sessions. Every later answer of [`Access::tenant`], [`Access::access_list`]
    /// and the deadlines [`crate::policy::due`] reads stay the same, and folding later
    /// events into the compacted state gives the same answers as folding them into the
    /// whole one (an event about a dropped item changes nothing either way: the policy
    /// never accepts a step on a closed item). This is what a snapshot for *queries*
    /// keeps, so its size follows what is open rather than all history; the policy
    /// itself decides on the whole state, where a closed item still earns a precise
    /// refusal.
    pub fn compact(&mut self) {
        self.closed_grants.clear();
        self.invitations.retain(|_, i| !i.closed);
        self.consents.retain(|_, (_, _, closed)| !*closed);
        self.ended_sessions.clear();
        let (grants, invitations) = (&self.grants, &self.invitations);
        let (consents, sessions) = (&self.consents, &self.sessions);
        for items in self
            .by_tenant
            .values_mut()
            .chain(self.by_principal.values_mut())
        {
            items.grants.retain(|id| grants.contains_key(id));
            items.invitations.retain(|id| invitations.contains_key(id));
            items.consents.retain(|id| consents.contains_key(id));
            items.sessions.retain(|id| sessions.contains_key(id));
        }
        self.by_tenant.retain(|_, items| !items.is_empty());
        self.by_principal.retain(|_, items| !items.is_empty());
    }
}
