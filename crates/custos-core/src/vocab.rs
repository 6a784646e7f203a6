//! The domain's small vocabularies: roles, scopes, channels, modes, importance levels.
//!
//! Each enum is the typed form of a list in the seeds (see `docs/events.md`). Variants are
//! only ever added at the end: the binary codec stores the variant index.

use serde::{Deserialize, Serialize};

/// What an API token may do (docs/api.md has the matrix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApiRole {
    /// Everything, including tokens.
    Admin,
    /// A service recording commands as its principal.
    Writer,
    /// Reads everything, verifies, exports (compliance).
    Reviewer,
    /// Support leads: findings and reviews, reads everything.
    Lead,
    /// A customer's admin: one tenant's access and audit log; revokes its support users
    /// and consents; sees nothing of other tenants.
    TenantAdmin,
    /// Reads event streams.
    Subscriber,
}

impl ApiRole {
    /// Every role.
    pub const ALL: [ApiRole; 6] = [
        ApiRole::Admin,
        ApiRole::Writer,
        ApiRole::Reviewer,
        ApiRole::Lead,
        ApiRole::TenantAdmin,
        ApiRole::Subscriber,
    ];

    /// The name used in JSON and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ApiRole::Admin => "admin",
            ApiRole::Writer => "writer",
            ApiRole::Reviewer => "reviewer",
            ApiRole::Lead => "lead",
            ApiRole::TenantAdmin => "tenant-admin",
            ApiRole::Subscriber => "subscriber",
        }
    }
}

impl std::str::FromStr for ApiRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ApiRole::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = ApiRole::ALL.iter().map(|r| r.name()).collect();
                format!("unknown role {s:?}; roles are {}", names.join(", "))
            })
    }
}

/// A vendor staff member's role (Workiva, 4logist, Teamleader).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    /// First-line support.
    SupportL1,
    /// Second-line support: may change settings (4logist).
    SupportL2,
    /// Customer success manager.
    Csm,
    /// Customer success director: creates accounts (Workiva).
    Csd,
    /// Onboarding (project) manager.
    OnboardingManager,
    /// Professional services manager: may add support users (Workiva).
    ProfessionalServices,
    /// A partner's administrator (HP WXP).
    PartnerAdmin,
    /// Head of support or of success: reviews the audit log (Teamleader).
    SupportLead,
}

/// What a grant or a consent allows inside a customer's account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Look at data, settings, rights and notifications.
    View,
    /// Change settings.
    Settings,
    /// Import data (needs explicit consent, Teamleader).
    Import,
    /// Download documents (needs explicit consent, Teamleader).
    Download,
    /// Change templates and documents (needs explicit consent, Teamleader).
    TemplateEdit,
    /// Change or delete the customer's data (4logist: only during onboarding).
    DataChange,
}

/// What a guest, contact or partner may manage (ORC Webhosting's permission scopes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvitationScope {
    /// Invoices and payment details.
    Billing,
    /// Support tickets.
    Support,
    /// Ordering and provisioning services.
    Provisioning,
    /// System configuration.
    SystemConfiguration,
    /// Security settings.
    Security,
}

/// Who is being invited into an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvitationKind {
    /// An existing principal of another account (ORC).
    Guest,
    /// A new contact registered by the client (ORC).
    Contact,
    /// A partner that will manage the account once accepted (HP WXP).
    Partner,
}

/// How a customer's consent or request reached the vendor (4logist, Teamleader).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// A consent button in the product.
    InApp,
    /// Mail to the help address, sender checked against the director's address.
    VerifiedEmail,
    /// A signed document.
    SignedDocument,
    /// Given live during an onboarding call.
    LiveOnboardingCall,
    /// A phone call: recorded, but never an authorised source (4logist).
    Phone,
}

impl Channel {
    /// Whether a consent or request over this channel can satisfy a rule.
    pub fn is_authorised(self) -> bool {
        !matches!(self, Channel::Phone)
    }
}

/// The kind of profile a customer-side principal has in an account (ORC, HP WXP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileKind {
    /// The account's main profile / organisation admin (may revoke support users).
    Admin,
    /// The customer's IT admin, who accepts partner invitations (HP WXP).
    ItAdmin,
    /// An employee of the customer.
    Employee,
    /// A contact registered by the client (ORC).
    Contact,
}

/// Whose impersonation: log in as a user, or render the product as an employee sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionTarget {
    /// Log in as this customer user (Teamleader's impersonation).
    User(crate::PrincipalId),
    /// "View as" this employee to check permission settings (4logist).
    ViewAs(crate::PrincipalId),
}

/// Read-only or read-write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionMode {
    /// The default (4logist): no edit, no delete.
    ViewOnly,
    /// Changes allowed, subject to scopes and consent.
    Write,
}

/// Whether the customer watches the session (4logist's exceptions for high settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Supervision {
    /// Nobody from the customer is watching.
    Unsupervised,
    /// During an online call with the customer (onboarding).
    LiveCall,
    /// Through a remote-desktop session on the customer's computer.
    RemoteDesktop,
}

/// How important a setting is (4logist's three lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Importance {
    /// Anything not on the other two lists.
    Low,
    /// Only on a request from an authorised channel.
    Medium,
    /// Only during onboarding in a supervised session.
    High,
}

/// A setting a session may change, with its importance (4logist).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Setting {
    /// Password change (high).
    Password,
    /// Adding, activating or deactivating users (high).
    UserActivation,
    /// Editing staff permissions (high).
    Permissions,
    /// Access to the carriers'/clients' portal (high).
    PortalAccess,
    /// Decrypting logs from the customer's base (high).
    LogDecryption,
    /// Base currency, bank or domain (high).
    CurrencyBankDomain,
    /// Document numbering (medium).
    Numbering,
    /// Reference books (medium).
    ReferenceBooks,
    /// Overdue notifications (medium).
    OverdueNotifications,
    /// Mail settings (medium).
    Mail,
    /// Any other setting (low), named.
    Other(String),
}

impl Setting {
    /// The importance level 4logist assigns to this setting.
    pub fn importance(&self) -> Importance {
        use Setting::*;
        match self {
            Password | UserActivation | Permissions | PortalAccess | LogDecryption
            | CurrencyBankDomain => Importance::High,
            Numbering | ReferenceBooks | OverdueNotifications | Mail => Importance::Medium,
            Other(_) => Importance::Low,
        }
    }
}

/// What was done inside a session (Teamleader's and 4logist's lists).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Looked at settings, templates and documents.
    ViewSettings,
    /// Looked at users' rights and access.
    ViewUserRights,
    /// Looked at notifications about a problem.
    ViewNotifications,
    /// Changed a setting.
    ChangeSetting(Setting),
    /// Imported data (consent).
    ImportData,
    /// Downloaded a document (consent).
    DownloadDocument,
    /// Changed a template or document (consent).
    EditTemplate,
    /// Changed customer data (consent; onboarding only).
    ChangeData,
    /// Deleted customer data (consent; onboarding only).
    DeleteData,
}

impl ActionKind {
    /// Whether the action changes anything (refused in a view-only session).
    pub fn is_write(&self) -> bool {
        !matches!(
            self,
            ActionKind::ViewSettings | ActionKind::ViewUserRights | ActionKind::ViewNotifications
        )
    }

    /// The consent scope the action needs, if it needs one (Teamleader, 4logist).
    pub fn consent_scope(&self) -> Option<Scope> {
        match self {
            ActionKind::ImportData => Some(Scope::Import),
            ActionKind::DownloadDocument => Some(Scope::Download),
            ActionKind::EditTemplate => Some(Scope::TemplateEdit),
            ActionKind::ChangeData | ActionKind::DeleteData => Some(Scope::DataChange),
            _ => None,
        }
    }

    /// Importance of the action: a setting's own level; data changes are high.
    pub fn importance(&self) -> Importance {
        match self {
            ActionKind::ChangeSetting(s) => s.importance(),
            ActionKind::ChangeData | ActionKind::DeleteData => Importance::High,
            ActionKind::ImportData | ActionKind::EditTemplate => Importance::Medium,
            _ => Importance::Low,
        }
    }
}

/// Who ended a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionEndReason {
    /// The staff member logged out.
    Staff,
    /// The customer ended it.
    Tenant,
    /// The automatic limit (one hour by default, Teamleader) was reached.
    TimeLimit,
}

/// Who revoked a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokedBy {
    /// The customer's organisation admin (Workiva).
    TenantAdmin,
    /// The vendor itself.
    Vendor,
}

/// What a support lead looked at.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewSubject {
    /// One session.
    Session(crate::SessionId),
    /// A window of the audit log, optionally of one tenant.
    Window {
        /// The tenant, or all tenants.
        tenant: Option<crate::TenantId>,
        /// Start of the window (inclusive).
        from: crate::Timestamp,
        /// End of the window (exclusive).
        to: crate::Timestamp,
    },
    /// A finding of the misuse detectors, by its id.
    Finding(String),
}

/// What the support lead concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewOutcome {
    /// Seen; nothing further.
    Acknowledged,
    /// Cleared, with a comment.
    Cleared,
    /// Flagged as misuse.
    Flagged,
    /// Escalated to the heads of support and success.
    Escalated,
}
