//! Impersonation / view-as sessions, the actions inside them, their end and the notice to
//! the customer (Teamleader, 4logist); and the expiries the server appends when due.

use super::{consent, find, Ctx, Decision, Refusal, Refuse};
use crate::access::Item;
use crate::vocab::{
    ActionKind, Channel, Importance, Scope, SessionEndReason, SessionMode, SessionTarget,
    StaffRole, Supervision,
};
use crate::Text;
use crate::{ConsentId, GrantId, Payload, SessionId, TenantId};

/// Commands about sessions.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SessionCommand {
    /// Start a session; the actor is the staff member.
    Start(StartSession),
    /// Do something inside a session.
    Act {
        /// The session.
        session: SessionId,
        /// What.
        action: ActionKind,
        /// Which template, which record.
        detail: Text,
        /// The consent relied on (else the session's, else any live one).
        consent: Option<ConsentId>,
        /// The channel of the customer's request, for medium-importance settings.
        request_channel: Option<Channel>,
    },
    /// End a session (its staff member, or the customer's admin).
    End {
        /// The session.
        session: SessionId,
    },
    /// Tell the customer afterwards.
    NotifyCustomer {
        /// The session.
        session: SessionId,
        /// How.
        channel: Channel,
    },
}

/// What a session is started with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct StartSession {
    /// The new session's id.
    pub session: SessionId,
    /// The account entered.
    pub tenant: TenantId,
    /// The grant it rests on (none: the actor was attached at the account's creation).
    pub grant: Option<GrantId>,
    /// Whose view.
    pub target: SessionTarget,
    /// View-only or write.
    pub mode: SessionMode,
    /// Whether the customer supervises it.
    pub supervision: Supervision,
    /// Documented reason (required).
    pub reason: Text,
    /// Link to the customer conversation (required).
    pub ticket_link: Text,
    /// A consent it relies on.
    pub consent: Option<ConsentId>,
}

impl SessionCommand {
    pub(super) fn name(&self) -> &'static str {
        match self {
            SessionCommand::Start(_) => "start_session",
            SessionCommand::Act { .. } => "act",
            SessionCommand::End { .. } => "end_session",
            SessionCommand::NotifyCustomer { .. } => "notify_customer",
        }
    }
}

pub(super) fn decide(ctx: &Ctx<'_>, command: &SessionCommand) -> Result<Decision, Refusal> {
    match command {
        SessionCommand::Start(start_session) => start(ctx, start_session),
        SessionCommand::Act {
            session,
            action,
            detail,
            consent,
            request_channel,
        } => act(ctx, *session, action, detail, *consent, *request_channel),
        SessionCommand::End { session } | SessionCommand::NotifyCustomer { session, .. } => {
            let (state, actor, now) = (ctx.state, ctx.actor, ctx.now);
            let (tenant, staff, closed) = match state.ended_sessions.get(session) {
                Some(c) => (&c.tenant, &c.subject, true),
                None => {
                    let s = find(&state.sessions, session, "session.unknown", "session")?;
                    (&s.tenant, &s.open.staff, s.open.deadline <= now)
                }
            };
            let r = Refuse {
                tenant: Some(tenant),
                subject: Some(staff),
            };
            let payload = if let SessionCommand::NotifyCustomer { channel, .. } = command {
                if !closed {
                    return Err(r.because(
                        "session.open",
                        "the customer is informed after the session has ended",
                    ));
                }
                Payload::CustomerNotified {
                    session: *session,
                    tenant: tenant.clone(),
                    channel: *channel,
                }
            } else {
                if closed {
                    return Err(r.because(
                        "session.closed",
                        format!("session {session} is already closed"),
                    ));
                }
                let reason = if actor == staff {
                    SessionEndReason::Staff
                } else if ctx.is_admin(tenant, actor) {
                    SessionEndReason::Tenant
                } else {
                    return Err(r.because(
                        "session.ender",
                        "a session is ended by its staff member or the customer's admin",
                    ));
                };
                Payload::SessionEnded {
                    session: *session,
                    tenant: tenant.clone(),
                    reason,
                }
            };
            Ok(Decision {
                stream: Item::Session(*session).stream(),
                expected: None,
                payloads: vec![payload],
            })
        }
    }
}

fn start(ctx: &Ctx<'_>, command: &StartSession) -> Result<Decision, Refusal> {
    let StartSession {
        session,
        tenant,
        grant,
        target,
        mode,
        supervision,
        reason,
        ticket_link,
        consent,
    } = command;
    let (state, actor, now) = (ctx.state, ctx.actor, ctx.now);
    let r = Refuse {
        tenant: Some(tenant),
        subject: Some(actor),
    };
    let Some(t) = state.tenants.get(tenant) else {
        return Err(r.because("tenant.unknown", format!("no tenant {tenant}")));
    };
    if state.sessions.contains_key(session) || state.ended_sessions.contains_key(session) {
        return Err(r.because(
            "session.exists",
            format!("session {session} already exists"),
        ));
    }
    let Some(staff) = state.staff.get(actor) else {
        return Err(r.because(
            "session.staff",
            format!("{actor} is not an enrolled staff member"),
        ));
    };
    if reason.trim().is_empty() || ticket_link.trim().is_empty() {
        return Err(r.because(
            "session.reason",
            "a session needs a documented reason and a link to the customer conversation",
        ));
    }
    if !staff.mfa {
        return Err(r.because(
            "session.mfa",
            "only staff with MFA enabled may enter a customer's account",
        ));
    }
    if !staff.training_completed {
        return Err(r.because(
            "session.training",
            "only staff who completed the training may enter a customer's account",
        ));
    }
    // The basis: a live grant of the actor on this tenant, or initial support.
    let basis_role = match grant {
        Some(g) => match state.grants.get(g) {
            Some(gs)
                if &gs.tenant == tenant
                    && &gs.grantee == actor
                    && gs.approved.is_some_and(|(_, _, until)| until > now) =>
            {
                gs.role
            }
            _ => {
                return Err(r.because(
                    "session.grant",
                    format!("grant {g} is not an active grant of {actor} on {tenant}"),
                ))
            }
        },
        None => match t.initial.iter().find(|(p, ..)| p == actor) {
            Some((_, role, ..)) => *role,
            None => {
                return Err(r.because(
                    "session.grant",
                    format!(
                    "{actor} has no active grant on {tenant} and was not attached at its creation"
                ),
                ))
            }
        },
    };
    if let Some(c) = consent {
        let live = state.consents.get(c).is_some_and(|(t, lc, closed)| {
            t == tenant && !closed && lc.authorised && lc.expires_at > now
        });
        if !live {
            return Err(r.because(
                "session.consent",
                format!("consent {c} is not a live, authorised consent of {tenant}"),
            ));
        }
    }
    if basis_role == StaffRole::OnboardingManager && !t.onboarding {
        let consented = consent.is_some()
            || consent::covering(state, tenant, actor, Scope::View, None, now).is_some();
        if !consented {
            return Err(r.because(
                "session.onboarding-manager",
                "an onboarding manager may log in only during the onboarding period or with explicit consent",
            ));
        }
    }
    Ok(Decision {
        stream: Item::Session(*session).stream(),
        expected: Some(0),
        payloads: vec![Payload::SessionStarted {
            session: *session,
            tenant: tenant.clone(),
            staff: actor.clone(),
            grant: *grant,
            target: target.clone(),
            mode: *mode,
            supervision: *supervision,
            reason: reason.clone(),
            ticket_link: ticket_link.clone(),
            consent: *consent,
            deadline: now.plus_secs(ctx.config.session_limit_secs),
        }],
    })
}

fn act(
    ctx: &Ctx<'_>,
    session: SessionId,
    action: &ActionKind,
    detail: &str,
    wanted: Option<ConsentId>,
    request_channel: Option<Channel>,
) -> Result<Decision, Refusal> {
    let (state, actor, now) = (ctx.state, ctx.actor, ctx.now);
    // Whose the session is, and whether it is closed, before anything else.
    let (tenant, staff, open) = match state.ended_sessions.get(&session) {
        Some(c) => (&c.tenant, &c.subject, None),
        None => {
            let s = find(&state.sessions, &session, "session.unknown", "session")?;
            (&s.tenant, &s.open.staff, Some(s))
        }
    };
    let r = Refuse {
        tenant: Some(tenant),
        subject: Some(actor),
    };
    if actor != staff {
        return Err(r.because(
            "session.owner",
            format!("session {session} belongs to {staff}"),
        ));
    }
    let Some(s) = open.filter(|s| s.open.deadline > now) else {
        return Err(r.because("session.closed", format!("session {session} is closed")));
    };
    // The session rests on its grant: once that is revoked or lapsed, nothing more is
    // done in it (the session itself still closes at its deadline or by its end).
    if let Some(g) = s.grant {
        let live = state
            .grants
            .get(&g)
            .is_some_and(|gs| gs.approved.is_some_and(|(_, _, until)| until > now));
        if !live {
            return Err(r.because(
                "action.grant-lapsed",
                format!("grant {g}, on which session {session} rests, was revoked or has expired"),
            ));
        }
    }
    let onboarding = state.tenants.get(&s.tenant).is_some_and(|t| t.onboarding);
    let supervised = s.supervision != Supervision::Unsupervised;
    if action.is_write() && s.open.mode == SessionMode::ViewOnly {
        return Err(r.because(
            "action.view-only",
            "this session is view-only: no edit, no delete",
        ));
    }
    let mut used_consent = None;
    if let Some(scope) = action.consent_scope() {
        // A consent named by the command must cover the action itself; otherwise the
        // session's consent, then any live one.
        let found = match wanted {
            Some(c) => consent::covering(state, &s.tenant, actor, scope, Some(c), now),
            None => consent::covering(state, &s.tenant, actor, scope, s.consent, now)
                .or_else(|| consent::covering(state, &s.tenant, actor, scope, None, now)),
        };
        match found {
            Some(c) => used_consent = Some(c),
            None => {
                return Err(r.because(
                    "action.consent",
                    format!("{action:?} needs the customer's explicit consent covering {scope:?}; none is live and authorised (a phone request never is)"),
                ))
            }
        }
    }
    if matches!(action, ActionKind::ChangeData | ActionKind::DeleteData) && !onboarding {
        return Err(r.because(
            "action.data-change",
            "changing or deleting customer data is allowed only during onboarding",
        ));
    }
    let importance = action.importance();
    if matches!(action, ActionKind::ChangeSetting(_)) {
        if importance == Importance::High && !(onboarding && supervised) {
            return Err(r.because(
                "action.high-importance",
                "high-importance settings are changed only during onboarding, on a live call or a supervised remote session",
            ));
        }
        let authorised_request = request_channel.is_some_and(Channel::is_authorised);
        if importance == Importance::Medium && !(authorised_request || onboarding || supervised) {
            return Err(r.because(
                "action.medium-request",
                "medium-importance settings need a request from an authorised channel (the help mailbox, checked sender); a phone call is not one",
            ));
        }
    }
    Ok(Decision {
        stream: Item::Session(session).stream(),
        expected: None,
        payloads: vec![Payload::SessionAction {
            session,
            tenant: s.tenant.clone(),
            staff: actor.clone(),
            action: action.clone(),
            importance,
            detail: detail.into(),
            consent: used_consent,
            request_channel,
        }],
    })
}
