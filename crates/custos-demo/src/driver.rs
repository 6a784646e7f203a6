//! Runs the demo through the policy: each generated event becomes the command that would
//! have produced it, decided against the state of everything recorded so far; the answer —
//! the events, or the rejected attempt — is what gets appended. Expiries that fall due
//! (sessions at their hour, grants, consents, invitations) are appended first, by
//! `custos:system`. Pure: the caller appends what [`Driver::step`] returns.

use custos_core::access::Access;
use custos_core::policy::{
    self, Command, ConsentCommand, Decision, GrantCommand, InvitationChange, InvitationCommand,
    Invite, PolicyConfig, ReviewCommand, SessionCommand, StartSession, TenantCommand,
};
use custos_core::vocab::SessionEndReason;
#[cfg(test)]
use custos_core::EventKind;
use custos_core::{EventId, NewEvent, Payload, PrincipalId, Seq, Timestamp};

use crate::DemoEvent;

/// Something to append: one decision's events, with the time and the actor.
#[derive(Debug, Clone)]
pub struct Append {
    /// When (the simulated clock).
    pub at: Timestamp,
    /// The events, ready for the store (ids, actor, source IP set).
    pub events: Vec<NewEvent>,
    /// Their stream and expected version.
    pub decision: Decision,
}

/// The demo's policy loop state.
#[derive(Debug, Default)]
pub struct Driver {
    state: Access,
    config: PolicyConfig,
    applied: u64,
    refused: u64,
}

impl Driver {
    /// A driver with the default policy.
    pub fn new() -> Driver {
        Driver::default()
    }

    /// Commands refused so far.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// What to append for one generated event: due expiries, then its decision (or its
    /// rejection). Events with no command of their own (expiries) are left to `due`.
    pub fn step(&mut self, generated: DemoEvent) -> Vec<Append> {
        let at = generated.at;
        let mut out: Vec<Append> = policy::due(&self.state, at)
            .into_iter()
            .enumerate()
            .map(|(i, decision)| {
                let id = system_id(at, self.applied + i as u64);
                self.append(at, PrincipalId::system(), None, id, decision)
            })
            .collect();
        let e = generated.event;
        if let Some((actor, command)) = command_for(&e, at) {
            let decision = match policy::decide(&self.state, &actor, &command, at, &self.config) {
                Ok(d) => d,
                // A step of a story whose start was refused (a session never opened, a
                // grant never requested): the story simply stops there.
                Err(refusal) if refusal.rule.ends_with(".unknown") => return out,
                Err(refusal) => {
                    self.refused += 1;
                    policy::rejection(&command, &refusal)
                }
            };
            out.push(self.append(at, actor, e.source_ip, e.id, decision));
        }
        out
    }

    /// Places the decision's events, folds them into the state, and returns them.
    fn append(
        &mut self,
        at: Timestamp,
        actor: PrincipalId,
        source_ip: Option<std::net::IpAddr>,
        first_id: EventId,
        decision: Decision,
    ) -> Append {
        let events: Vec<NewEvent> = decision
            .payloads
            .iter()
            .enumerate()
            .map(|(i, payload)| {
                let mut e = NewEvent::new(
                    EventId(first_id.0.wrapping_add(i as u128)),
                    actor.clone(),
                    payload.clone(),
                );
                e.source_ip = source_ip;
                e
            })
            .collect();
        for e in &events {
            // The store assigns the real seq and version; the policy needs neither.
            self.applied += 1;
            let placed = e
                .clone()
                .place(Seq(self.applied), decision.stream.clone(), 0, at);
            self.state.apply(&placed);
        }
        Append {
            at,
            events,
            decision,
        }
    }
}

/// A deterministic id for an event custos appends by itself.
fn system_id(at: Timestamp, n: u64) -> EventId {
    let ms = (at.0 / 1_000).max(0) as u64;
    EventId::from_ulid(ulid::Ulid::from_parts(ms, u128::from(n) | 1 << 79))
}

/// The command (and its actor) that would have produced this event at `at`; `None` for what
/// custos records by itself (expiries) or what is not a command (rejections, which the
/// generator stands for by a self-request below).
pub fn command_for(e: &NewEvent, at: Timestamp) -> Option<(PrincipalId, Command)> {
    use Payload as P;
    let actor = e.actor.clone();
    let c = match e.payload.clone() {
        P::TenantCreated {
            tenant,
            name,
            admins,
            initial_support,
            partner,
            identity_provider,
            plan,
        } => Command::Tenant(TenantCommand::Create {
            tenant,
            name,
            admins,
            initial_support,
            partner,
            identity_provider,
            plan,
        }),
        P::OnboardingOpened { tenant } => {
            Command::Tenant(TenantCommand::SetOnboarding { tenant, open: true })
        }
        P::OnboardingClosed { tenant } => Command::Tenant(TenantCommand::SetOnboarding {
            tenant,
            open: false,
        }),
        P::StaffEnrolled {
            staff,
            name,
            roles,
            mfa,
            sso,
            training_completed,
        } => Command::Tenant(TenantCommand::EnrollStaff {
            staff,
            name,
            roles,
            mfa,
            sso,
            training_completed,
        }),
        P::StaffUpdated { .. } => return None,
        P::CustomerUserAdded {
            tenant,
            user,
            kind,
            email,
        } => Command::Tenant(TenantCommand::AddUser {
            tenant,
            user,
            kind,
            email,
        }),
        P::CustomerUserRemoved { tenant, user } => {
            Command::Tenant(TenantCommand::RemoveUser { tenant, user })
        }
        P::AccessRequested {
            grant,
            tenant,
            grantee,
            role,
            scopes,
            reason,
            ticket,
            ttl_secs,
            ..
        } => Command::Grant(GrantCommand::Request {
            grant,
            tenant,
            grantee,
            role,
            scopes,
            reason,
            ticket,
            ttl_secs,
        }),
        P::AccessApproved { grant, .. } => Command::Grant(GrantCommand::Approve { grant }),
        P::AccessDenied { grant, reason, .. } => {
            Command::Grant(GrantCommand::Deny { grant, reason })
        }
        P::AccessRevoked { grant, reason, .. } => {
            Command::Grant(GrantCommand::Revoke { grant, reason })
        }
        P::AccessExtended {
            grant,
            expires_at,
            reason,
            ..
        } => Command::Grant(GrantCommand::Extend {
            grant,
            ttl_secs: u64::try_from((expires_at.0 - at.0) / 1_000_000).unwrap_or(0),
            reason,
        }),
        P::InviteeAction {
            invitation,
            scope,
            detail,
            ..
        } => Command::Invitation(InvitationCommand::Act {
            invitation,
            scope,
            detail,
        }),
        P::InvitationCreated {
            invitation,
            tenant,
            kind,
            invitee,
            scopes,
            expires_at,
            ..
        } => Command::Invitation(InvitationCommand::Invite(Invite {
            invitation,
            tenant,
            kind,
            invitee,
            scopes,
            expires_at,
        })),
        P::InvitationSent { invitation, .. } => change(invitation, InvitationChange::Send),
        P::InvitationAccepted { invitation, .. } => change(invitation, InvitationChange::Accept),
        P::InvitationDeclined { invitation, .. } => change(invitation, InvitationChange::Decline),
        P::InvitationDeactivated { invitation, .. } => {
            change(invitation, InvitationChange::SetActive(false))
        }
        P::InvitationReactivated { invitation, .. } => {
            change(invitation, InvitationChange::SetActive(true))
        }
        P::InvitationRevoked {
            invitation, reason, ..
        } => change(invitation, InvitationChange::Revoke(reason)),
        P::ConsentGiven {
            consent,
            tenant,
            grantee,
            scopes,
            channel,
            verified_sender,
            ticket,
            expires_at,
            ..
        } => Command::Consent(ConsentCommand::Give {
            consent,
            tenant,
            grantee,
            scopes,
            channel,
            verified_sender,
            ticket,
            expires_at,
        }),
        P::ConsentWithdrawn { consent, .. } => {
            Command::Consent(ConsentCommand::Withdraw { consent })
        }
        P::SessionStarted {
            session,
            tenant,
            grant,
            target,
            mode,
            supervision,
            reason,
            ticket_link,
            consent,
            ..
        } => Command::Session(SessionCommand::Start(StartSession {
            session,
            tenant,
            grant,
            target,
            mode,
            supervision,
            reason,
            ticket_link,
            consent,
        })),
        P::SessionAction {
            session,
            action,
            detail,
            consent,
            request_channel,
            ..
        } => Command::Session(SessionCommand::Act {
            session,
            action,
            detail,
            consent,
            request_channel,
        }),
        P::SessionEnded {
            session,
            tenant,
            reason,
        } => match reason {
            SessionEndReason::TimeLimit => return None,
            SessionEndReason::Staff => Command::Session(SessionCommand::End { session }),
            SessionEndReason::Tenant => {
                // The customer's admin ends it.
                let admin = PrincipalId::new(format!("user:{tenant}/admin")).ok()?;
                return Some((admin, Command::Session(SessionCommand::End { session })));
            }
        },
        P::CustomerNotified {
            session, channel, ..
        } => Command::Session(SessionCommand::NotifyCustomer { session, channel }),
        P::ReviewRecorded {
            review,
            tenant,
            subject,
            outcome,
            comment,
            ..
        } => Command::Review(ReviewCommand::Record {
            review,
            tenant,
            subject,
            outcome,
            comment,
        }),
        P::AttemptRejected {
            tenant: Some(tenant),
            subject: Some(subject),
            ..
        } => {
            // The generator's stand-in for a staff member trying to add themselves.
            let grant = custos_core::GrantId(e.id.0);
            Command::Grant(GrantCommand::Request {
                grant,
                tenant,
                grantee: subject.clone(),
                role: custos_core::vocab::StaffRole::SupportL2,
                scopes: vec![custos_core::vocab::Scope::View],
                reason: "I need to look at the ticket".into(),
                ticket: None,
                ttl_secs: 3600,
            })
        }
        P::AttemptRejected { .. }
        | P::TokenIssued { .. }
        | P::TokenRevoked { .. }
        | P::ThresholdsSet { .. }
        | P::ThresholdsChanged { .. }
        | P::AccessExpired { .. }
        | P::ConsentExpired { .. }
        | P::InvitationExpired { .. } => return None,
    };
    Some((actor, c))
}

fn change(invitation: custos_core::InvitationId, change: InvitationChange) -> Command {
    Command::Invitation(InvitationCommand::Change { invitation, change })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Demo, DemoConfig};
    use std::collections::BTreeSet;

    #[test]
    fn the_demo_through_the_policy_records_refusals_of_many_rules() {
        let n = 20_000u64;
        let mut driver = Driver::new();
        let mut appended = 0u64;
        let mut rules = BTreeSet::new();
        let mut kinds = BTreeSet::new();
        let config = DemoConfig {
            events: n,
            seed: 5,
            end: Timestamp::from_secs(1_800_000_000),
            days: 90,
        };
        let mut findings = custos_core::findings::Findings::default();
        for generated in Demo::new(config) {
            for a in driver.step(generated) {
                for e in &a.events {
                    appended += 1;
                    let placed = e
                        .clone()
                        .place(Seq(appended), a.decision.stream.clone(), 0, a.at);
                    findings.apply(&placed);
                    kinds.insert(e.payload.kind());
                    if let Payload::AttemptRejected { rule, .. } = &e.payload {
                        rules.insert(rule.clone());
                    }
                }
            }
        }
        for rule in [
            "grant.self-request",
            "session.grant",
            "session.mfa",
            "action.consent",
            "action.high-importance",
            "action.view-only",
        ] {
            assert!(rules.contains(rule), "no refusal by {rule}: {rules:?}");
        }
        for kind in [
            EventKind::AccessApproved,
            EventKind::SessionStarted,
            EventKind::SessionAction,
            EventKind::InvitationAccepted,
            EventKind::AccessExpired,
            EventKind::SessionEnded,
            EventKind::ReviewRecorded,
        ] {
            assert!(kinds.contains(&kind), "no accepted {kind}");
        }
        assert!(
            driver.refused() * 10 < appended,
            "refusals are the exception: {} of {appended}",
            driver.refused()
        );
        assert!(
            appended > n * 8 / 10,
            "{appended} appended for {n} generated"
        );
        // Every misuse rule (docs/misuse.md) is found in the demo's log.
        let found: BTreeSet<String> = findings
            .at(config.end.plus_secs(30 * 86_400))
            .into_iter()
            .map(|f| f.rule)
            .collect();
        let every_rule = [
            "self-grant",
            "extra-initial-support",
            "session-without-mfa-training",
            "action-without-consent",
            "phone-consent",
            "write-in-view-only",
            "high-importance-setting",
            "medium-setting-without-request",
            "onboarding-manager-outside-period",
            "session-without-grant",
            "session-time-limit",
            "customer-not-notified",
            "many-accounts",
            "after-hours",
            "unreviewed-session",
            "activity-after-lapse",
            "partner-before-acceptance",
            "outside-invitation-scope",
            "repeated-extensions",
        ];
        for rule in every_rule {
            assert!(
                found.contains(&format!("misuse.{rule}")),
                "no finding of misuse.{rule}: {found:?}"
            );
        }
        assert_eq!(found.len(), every_rule.len(), "{found:?}");
    }
}
