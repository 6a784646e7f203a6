//! The typed payload of every event, one variant per fact of the domain (`DOMAIN.md`).
//!
//! Every payload that concerns a customer account names its `tenant`, so that the tenant
//! index and a reader of a single event never need a second lookup. Variants are only ever
//! added at the end: the binary codec stores the variant index (see `docs/design.md`).

use serde::{Deserialize, Serialize};

/// Free text in an event (names, reasons, details, tickets): up to 24 bytes kept inline,
/// so that decoding most of them allocates nothing; encoded exactly like a `String`.
pub type Text = compact_str::CompactString;

use crate::vocab::*;
use crate::{
    ConsentId, Digest, GrantId, InvitationId, PrincipalId, ReviewId, SessionId, TenantId,
    Timestamp, TokenId,
};

/// A support user attached when the account is created (Workiva: only the CSM and the
/// onboarding project manager).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitialSupport {
    /// The staff member.
    pub staff: PrincipalId,
    /// The role in which they are attached.
    pub role: StaffRole,
}

/// What happened. See `docs/events.md` for each variant's seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payload {
    // ----- tenants and staff -----
    /// A customer account was created (Workiva, HP WXP).
    TenantCreated {
        /// The new account.
        tenant: TenantId,
        /// Company name.
        name: Text,
        /// The customer's admins (org admins / primary IT admin).
        admins: Vec<PrincipalId>,
        /// Support users attached at creation.
        initial_support: Vec<InitialSupport>,
        /// The partner that created it, if any (HP WXP).
        partner: Option<PrincipalId>,
        /// Identity provider (HP WXP: HP ID or AAD).
        identity_provider: Option<Text>,
        /// Service plan (HP WXP).
        plan: Option<Text>,
    },
    /// The onboarding period began.
    OnboardingOpened {
        /// The account.
        tenant: TenantId,
    },
    /// The onboarding period ended.
    OnboardingClosed {
        /// The account.
        tenant: TenantId,
    },
    /// A vendor staff member was enrolled.
    StaffEnrolled {
        /// Unique staff id (Workiva).
        staff: PrincipalId,
        /// Display name.
        name: Text,
        /// Roles held.
        roles: Vec<StaffRole>,
        /// Two-factor authentication enabled.
        mfa: bool,
        /// Single sign-on enabled.
        sso: bool,
        /// Required training completed (Teamleader).
        training_completed: bool,
    },
    /// A staff member's attributes changed; `None` fields are unchanged.
    StaffUpdated {
        /// The staff member.
        staff: PrincipalId,
        /// New roles.
        roles: Option<Vec<StaffRole>>,
        /// New MFA status.
        mfa: Option<bool>,
        /// New SSO status.
        sso: Option<bool>,
        /// New training status.
        training_completed: Option<bool>,
    },
    /// A customer-side user joined an account (ORC client/contact, HP WXP IT admin).
    CustomerUserAdded {
        /// The account.
        tenant: TenantId,
        /// The user.
        user: PrincipalId,
        /// The profile kind.
        kind: ProfileKind,
        /// Email address, if known.
        email: Option<Text>,
    },
    /// A customer-side user left an account.
    CustomerUserRemoved {
        /// The account.
        tenant: TenantId,
        /// The user.
        user: PrincipalId,
    },

    // ----- grants -----
    /// A staff member's access to an account was requested.
    AccessRequested {
        /// The grant.
        grant: GrantId,
        /// The account.
        tenant: TenantId,
        /// Who asked.
        requester: PrincipalId,
        /// Who would get access.
        grantee: PrincipalId,
        /// The role in which access is given.
        role: StaffRole,
        /// What the access allows.
        scopes: Vec<Scope>,
        /// Why (required).
        reason: Text,
        /// Ticket or conversation link.
        ticket: Option<Text>,
        /// Requested lifetime once approved, in seconds.
        ttl_secs: u64,
    },
    /// A second person approved the request.
    AccessApproved {
        /// The grant.
        grant: GrantId,
        /// The account.
        tenant: TenantId,
        /// Who approved.
        approver: PrincipalId,
        /// When the access lapses.
        expires_at: Timestamp,
    },
    /// The request was denied.
    AccessDenied {
        /// The grant.
        grant: GrantId,
        /// The account.
        tenant: TenantId,
        /// Who denied.
        denier: PrincipalId,
        /// Why.
        reason: Text,
    },
    /// The access lapsed at its expiry.
    AccessExpired {
        /// The grant.
        grant: GrantId,
        /// The account.
        tenant: TenantId,
    },
    /// The access was revoked.
    AccessRevoked {
        /// The grant.
        grant: GrantId,
        /// The account.
        tenant: TenantId,
        /// Who revoked it.
        revoker: PrincipalId,
        /// On which side.
        revoked_by: RevokedBy,
        /// Why.
        reason: Text,
    },

    // ----- invitations -----
    /// A guest, contact or partner was invited (ORC, HP WXP); status "pending".
    InvitationCreated {
        /// The invitation.
        invitation: InvitationId,
        /// The inviting account.
        tenant: TenantId,
        /// Guest, contact or partner.
        kind: InvitationKind,
        /// Who is invited.
        invitee: PrincipalId,
        /// Who invited.
        invited_by: PrincipalId,
        /// What the invitee may manage.
        scopes: Vec<InvitationScope>,
        /// When an unanswered invitation lapses.
        expires_at: Timestamp,
    },
    /// The invitation was sent ("invite sent").
    InvitationSent {
        /// The invitation.
        invitation: InvitationId,
        /// The account.
        tenant: TenantId,
    },
    /// The invitee (or, for a partner, the customer's IT admin) accepted: "active".
    InvitationAccepted {
        /// The invitation.
        invitation: InvitationId,
        /// The account.
        tenant: TenantId,
        /// Who accepted.
        accepted_by: PrincipalId,
    },
    /// The invitation was declined.
    InvitationDeclined {
        /// The invitation.
        invitation: InvitationId,
        /// The account.
        tenant: TenantId,
        /// Who declined.
        declined_by: PrincipalId,
    },
    /// The invitation lapsed unanswered.
    InvitationExpired {
        /// The invitation.
        invitation: InvitationId,
        /// The account.
        tenant: TenantId,
    },
    /// An active guest/contact/partner was made inactive.
    InvitationDeactivated {
        /// The invitation.
        invitation: InvitationId,
        /// The account.
        tenant: TenantId,
        /// Who did it.
        by: PrincipalId,
    },
    /// An inactive guest/contact/partner was made active again.
    InvitationReactivated {
        /// The invitation.
        invitation: InvitationId,
        /// The account.
        tenant: TenantId,
        /// Who did it.
        by: PrincipalId,
    },
    /// The invitation or the access it gave was revoked for good.
    InvitationRevoked {
        /// The invitation.
        invitation: InvitationId,
        /// The account.
        tenant: TenantId,
        /// Who revoked it.
        by: PrincipalId,
        /// Why.
        reason: Text,
    },

    // ----- consent -----
    /// A customer admin consented to vendor access (4logist, Teamleader).
    ConsentGiven {
        /// The consent.
        consent: ConsentId,
        /// The account.
        tenant: TenantId,
        /// The customer admin who gave it.
        given_by: PrincipalId,
        /// The staff member it is for, or any.
        grantee: Option<PrincipalId>,
        /// What it allows.
        scopes: Vec<Scope>,
        /// How it arrived; a phone call never satisfies a rule.
        channel: Channel,
        /// The checked sender address, for email.
        verified_sender: Option<Text>,
        /// Ticket or conversation link.
        ticket: Text,
        /// When it lapses.
        expires_at: Timestamp,
    },
    /// The customer withdrew the consent.
    ConsentWithdrawn {
        /// The consent.
        consent: ConsentId,
        /// The account.
        tenant: TenantId,
        /// Who withdrew it.
        by: PrincipalId,
    },
    /// The consent lapsed.
    ConsentExpired {
        /// The consent.
        consent: ConsentId,
        /// The account.
        tenant: TenantId,
    },

    // ----- sessions -----
    /// An impersonation or view-as session began (Teamleader, 4logist).
    SessionStarted {
        /// The session.
        session: SessionId,
        /// The account entered.
        tenant: TenantId,
        /// The staff member.
        staff: PrincipalId,
        /// The grant it rests on.
        grant: Option<GrantId>,
        /// Whose view.
        target: SessionTarget,
        /// View-only or write.
        mode: SessionMode,
        /// Whether the customer supervises it.
        supervision: Supervision,
        /// Documented reason (required).
        reason: Text,
        /// Link to the customer conversation (required).
        ticket_link: Text,
        /// The consent it relies on.
        consent: Option<ConsentId>,
        /// When it closes automatically.
        deadline: Timestamp,
    },
    /// Something was done inside a session.
    SessionAction {
        /// The session.
        session: SessionId,
        /// The account.
        tenant: TenantId,
        /// The staff member.
        staff: PrincipalId,
        /// What was done.
        action: ActionKind,
        /// Its importance level.
        importance: Importance,
        /// Free-text detail (which template, which record).
        detail: Text,
        /// The consent relied on.
        consent: Option<ConsentId>,
        /// The channel of the customer's request, for medium settings.
        request_channel: Option<Channel>,
    },
    /// The session ended.
    SessionEnded {
        /// The session.
        session: SessionId,
        /// The account.
        tenant: TenantId,
        /// By whom, or by the time limit.
        reason: SessionEndReason,
    },
    /// The customer was told afterwards that staff had been in the account (Teamleader).
    CustomerNotified {
        /// The session.
        session: SessionId,
        /// The account.
        tenant: TenantId,
        /// How.
        channel: Channel,
    },

    // ----- reviews -----
    /// A support lead reviewed a session, a window or a finding.
    ReviewRecorded {
        /// The review.
        review: ReviewId,
        /// The lead.
        reviewer: PrincipalId,
        /// The account, when the subject has one.
        tenant: Option<TenantId>,
        /// What was reviewed.
        subject: ReviewSubject,
        /// The conclusion.
        outcome: ReviewOutcome,
        /// Comment (required to clear).
        comment: Text,
    },

    // ----- rejected attempts -----
    /// A command was refused by policy; recorded so reviewers see attempts.
    AttemptRejected {
        /// The rule that refused it (e.g. `grant.self-approval`).
        rule: Text,
        /// The command's name (e.g. `approve_access`).
        command: Text,
        /// The account concerned.
        tenant: Option<TenantId>,
        /// The principal it would have benefited.
        subject: Option<PrincipalId>,
        /// The refusal, as the caller was told.
        reason: Text,
    },

    // ----- API tokens -----
    /// An API token was issued; only the BLAKE3 hash of its secret is recorded.
    TokenIssued {
        /// The token.
        token: TokenId,
        /// The principal every event recorded with it is attributed to.
        principal: PrincipalId,
        /// What it may do.
        role: ApiRole,
        /// For a tenant admin: the one account it sees.
        tenant: Option<TenantId>,
        /// BLAKE3 of the secret.
        secret_hash: Digest,
    },
    /// An API token was revoked.
    TokenRevoked {
        /// The token.
        token: TokenId,
    },

    // ----- misuse detection -----
    /// The thresholds of the misuse detectors changed (docs/misuse.md); findings after it
    /// are judged by them.
    ThresholdsSet {
        /// The new version, one more than the last.
        version: u32,
        /// The thresholds, in format 1's fields (read, never written any more:
        /// [`Payload::ThresholdsChanged`] replaced it).
        thresholds: crate::findings::ThresholdsV1,
    },

    // ----- added later (variants are only ever added at the end) -----
    /// A second person extended an active grant: its new expiry (Workiva's two-person
    /// rule applies to extensions as to approvals).
    AccessExtended {
        /// The grant.
        grant: GrantId,
        /// The account.
        tenant: TenantId,
        /// Whose access it is.
        grantee: PrincipalId,
        /// Who extended it.
        extended_by: PrincipalId,
        /// The new expiry.
        expires_at: Timestamp,
        /// Why.
        reason: Text,
    },
    /// A guest, contact or partner did something in the account on the strength of an
    /// accepted invitation, within one of its scopes (ORC, HP WXP).
    InviteeAction {
        /// The invitation it rests on.
        invitation: InvitationId,
        /// The account.
        tenant: TenantId,
        /// Who acted (the invitee).
        invitee: PrincipalId,
        /// Guest, contact or partner.
        kind: InvitationKind,
        /// The scope the action falls under.
        scope: InvitationScope,
        /// What was done (free text: which service, which setting).
        detail: Text,
    },
    /// The thresholds of the misuse detectors changed (docs/misuse.md); findings after it
    /// are judged by them.
    ThresholdsChanged {
        /// The new version, one more than the last.
        version: u32,
        /// The thresholds.
        thresholds: crate::findings::Thresholds,
    },
}

/// The payload's variant without its data: indexable, filterable, printable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u16)]
pub enum EventKind {
    TenantCreated = 1,
    OnboardingOpened,
    OnboardingClosed,
    StaffEnrolled,
    StaffUpdated,
    CustomerUserAdded,
    CustomerUserRemoved,
    AccessRequested,
    AccessApproved,
    AccessDenied,
    AccessExpired,
    AccessRevoked,
    InvitationCreated,
    InvitationSent,
    InvitationAccepted,
    InvitationDeclined,
    InvitationExpired,
    InvitationDeactivated,
    InvitationReactivated,
    InvitationRevoked,
    ConsentGiven,
    ConsentWithdrawn,
    ConsentExpired,
    SessionStarted,
    SessionAction,
    SessionEnded,
    CustomerNotified,
    ReviewRecorded,
    AttemptRejected,
    TokenIssued,
    TokenRevoked,
    ThresholdsSet,
    AccessExtended,
    InviteeAction,
    ThresholdsChanged,
}

impl EventKind {
    /// Every kind, in code order.
    pub const ALL: [EventKind; 35] = {
        use EventKind::*;
        [
            TenantCreated,
            OnboardingOpened,
            OnboardingClosed,
            StaffEnrolled,
            StaffUpdated,
            CustomerUserAdded,
            CustomerUserRemoved,
            AccessRequested,
            AccessApproved,
            AccessDenied,
            AccessExpired,
            AccessRevoked,
            InvitationCreated,
            InvitationSent,
            InvitationAccepted,
            InvitationDeclined,
            InvitationExpired,
            InvitationDeactivated,
            InvitationReactivated,
            InvitationRevoked,
            ConsentGiven,
            ConsentWithdrawn,
            ConsentExpired,
            SessionStarted,
            SessionAction,
            SessionEnded,
            CustomerNotified,
            ReviewRecorded,
            AttemptRejected,
            TokenIssued,
            TokenRevoked,
            ThresholdsSet,
            AccessExtended,
            InviteeAction,
            ThresholdsChanged,
        ]
    };

    /// The stable number used in index keys.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// The kind with this index code.
    pub fn from_code(code: u16) -> Option<EventKind> {
        Self::ALL.iter().copied().find(|k| k.code() == code)
    }

    /// The snake_case name used in JSON, filters and the CLI.
    pub fn name(self) -> &'static str {
        NAMES[usize::from(self.code() - 1)]
    }
}

const NAMES: [&str; 35] = [
    "tenant_created",
    "onboarding_opened",
    "onboarding_closed",
    "staff_enrolled",
    "staff_updated",
    "customer_user_added",
    "customer_user_removed",
    "access_requested",
    "access_approved",
    "access_denied",
    "access_expired",
    "access_revoked",
    "invitation_created",
    "invitation_sent",
    "invitation_accepted",
    "invitation_declined",
    "invitation_expired",
    "invitation_deactivated",
    "invitation_reactivated",
    "invitation_revoked",
    "consent_given",
    "consent_withdrawn",
    "consent_expired",
    "session_started",
    "session_action",
    "session_ended",
    "customer_notified",
    "review_recorded",
    "attempt_rejected",
    "token_issued",
    "token_revoked",
    "thresholds_set",
    "access_extended",
    "invitee_action",
    "thresholds_changed",
];

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An event kind name that custos does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event kind {0:?}; known kinds are listed in docs/events.md")]
pub struct UnknownKind(pub String);

impl std::str::FromStr for EventKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, UnknownKind> {
        Self::ALL
            .iter()
            .copied()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

impl Payload {
    /// The variant's kind.
    pub fn kind(&self) -> EventKind {
        use Payload as P;
        match self {
            P::TenantCreated { .. } => EventKind::TenantCreated,
            P::OnboardingOpened { .. } => EventKind::OnboardingOpened,
            P::OnboardingClosed { .. } => EventKind::OnboardingClosed,
            P::StaffEnrolled { .. } => EventKind::StaffEnrolled,
            P::StaffUpdated { .. } => EventKind::StaffUpdated,
            P::CustomerUserAdded { .. } => EventKind::CustomerUserAdded,
            P::CustomerUserRemoved { .. } => EventKind::CustomerUserRemoved,
            P::AccessRequested { .. } => EventKind::AccessRequested,
            P::AccessApproved { .. } => EventKind::AccessApproved,
            P::AccessDenied { .. } => EventKind::AccessDenied,
            P::AccessExpired { .. } => EventKind::AccessExpired,
            P::AccessRevoked { .. } => EventKind::AccessRevoked,
            P::InvitationCreated { .. } => EventKind::InvitationCreated,
            P::InvitationSent { .. } => EventKind::InvitationSent,
            P::InvitationAccepted { .. } => EventKind::InvitationAccepted,
            P::InvitationDeclined { .. } => EventKind::InvitationDeclined,
            P::InvitationExpired { .. } => EventKind::InvitationExpired,
            P::InvitationDeactivated { .. } => EventKind::InvitationDeactivated,
            P::InvitationReactivated { .. } => EventKind::InvitationReactivated,
            P::InvitationRevoked { .. } => EventKind::InvitationRevoked,
            P::ConsentGiven { .. } => EventKind::ConsentGiven,
            P::ConsentWithdrawn { .. } => EventKind::ConsentWithdrawn,
            P::ConsentExpired { .. } => EventKind::ConsentExpired,
            P::SessionStarted { .. } => EventKind::SessionStarted,
            P::SessionAction { .. } => EventKind::SessionAction,
            P::SessionEnded { .. } => EventKind::SessionEnded,
            P::CustomerNotified { .. } => EventKind::CustomerNotified,
            P::ReviewRecorded { .. } => EventKind::ReviewRecorded,
            P::AttemptRejected { .. } => EventKind::AttemptRejected,
            P::TokenIssued { .. } => EventKind::TokenIssued,
            P::TokenRevoked { .. } => EventKind::TokenRevoked,
            P::ThresholdsSet { .. } => EventKind::ThresholdsSet,
            P::AccessExtended { .. } => EventKind::AccessExtended,
            P::InviteeAction { .. } => EventKind::InviteeAction,
            P::ThresholdsChanged { .. } => EventKind::ThresholdsChanged,
        }
    }

    /// The principals whose standing in an account the event establishes by itself: the
    /// admins and initial support of a new account, a user added or removed, a grant's
    /// grantee (named at its request), an invitee. Every later event about the same item
    /// (an approval, a revocation, an acceptance…) names the account, so a principal's
    /// access list at any point is decided by the events of the accounts it is a subject
    /// of — which the store's subject index finds (`docs/design.md`).
    pub fn subjects(&self) -> Vec<&PrincipalId> {
        use Payload as P;
        match self {
            P::TenantCreated {
                admins,
                initial_support,
                ..
            } => admins
                .iter()
                .chain(initial_support.iter().map(|s| &s.staff))
                .collect(),
            P::CustomerUserAdded { user, .. } | P::CustomerUserRemoved { user, .. } => {
                vec![user]
            }
            P::AccessRequested { grantee, .. } => vec![grantee],
            P::InvitationCreated { invitee, .. } => vec![invitee],
            _ => Vec::new(),
        }
    }

    /// The customer account the event concerns, if any (staff events concern none).
    pub fn tenant(&self) -> Option<&TenantId> {
        use Payload as P;
        match self {
            // A token is the ledger's own business, not the account's.
            P::StaffEnrolled { .. }
            | P::StaffUpdated { .. }
            | P::TokenIssued { .. }
            | P::TokenRevoked { .. }
            | P::ThresholdsSet { .. }
            | P::ThresholdsChanged { .. } => None,
            P::ReviewRecorded { tenant, .. } | P::AttemptRejected { tenant, .. } => tenant.as_ref(),
            P::TenantCreated { tenant, .. }
            | P::OnboardingOpened { tenant }
            | P::OnboardingClosed { tenant }
            | P::CustomerUserAdded { tenant, .. }
            | P::CustomerUserRemoved { tenant, .. }
            | P::AccessRequested { tenant, .. }
            | P::AccessApproved { tenant, .. }
            | P::AccessDenied { tenant, .. }
            | P::AccessExpired { tenant, .. }
            | P::AccessRevoked { tenant, .. }
            | P::AccessExtended { tenant, .. }
            | P::InviteeAction { tenant, .. }
            | P::InvitationCreated { tenant, .. }
            | P::InvitationSent { tenant, .. }
            | P::InvitationAccepted { tenant, .. }
            | P::InvitationDeclined { tenant, .. }
            | P::InvitationExpired { tenant, .. }
            | P::InvitationDeactivated { tenant, .. }
            | P::InvitationReactivated { tenant, .. }
            | P::InvitationRevoked { tenant, .. }
            | P::ConsentGiven { tenant, .. }
            | P::ConsentWithdrawn { tenant, .. }
            | P::ConsentExpired { tenant, .. }
            | P::SessionStarted { tenant, .. }
            | P::SessionAction { tenant, .. }
            | P::SessionEnded { tenant, .. }
            | P::CustomerNotified { tenant, .. } => Some(tenant),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_codes_names_and_serde_agree() {
        for (i, kind) in EventKind::ALL.iter().enumerate() {
            assert_eq!(usize::from(kind.code()), i + 1);
            assert_eq!(EventKind::from_code(kind.code()), Some(*kind));
            assert_eq!(kind.name().parse::<EventKind>(), Ok(*kind));
            let json = serde_json::to_string(kind).expect("encode");
            assert_eq!(json, format!("\"{}\"", kind.name()));
        }
        assert!("tenant_deleted".parse::<EventKind>().is_err());
    }
}
