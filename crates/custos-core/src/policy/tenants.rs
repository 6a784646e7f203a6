//! Accounts, onboarding periods and staff (Workiva, HP WXP, Teamleader).

use super::{stream, Ctx, Decision, Refusal, Refuse};
use crate::vocab::{ProfileKind, StaffRole};
use crate::Text;
use crate::{InitialSupport, Payload, PrincipalId, StreamId, TenantId};

/// Commands about accounts and staff.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TenantCommand {
    /// Create a customer account with its admins and initial support users.
    Create {
        /// The account.
        tenant: TenantId,
        /// Company name.
        name: Text,
        /// The customer's admins.
        admins: Vec<PrincipalId>,
        /// Support users attached at creation (only the CSM and the onboarding PM).
        initial_support: Vec<InitialSupport>,
        /// The partner creating it (HP WXP).
        partner: Option<PrincipalId>,
        /// Identity provider (HP WXP).
        identity_provider: Option<Text>,
        /// Service plan (HP WXP).
        plan: Option<Text>,
    },
    /// Open or close the onboarding period.
    SetOnboarding {
        /// The account.
        tenant: TenantId,
        /// Open (true) or close.
        open: bool,
    },
    /// Add a user to the account (ORC clients and contacts, HP WXP's IT admin): an admin
    /// of the account does it.
    AddUser {
        /// The account.
        tenant: TenantId,
        /// The user.
        user: PrincipalId,
        /// The profile kind.
        kind: ProfileKind,
        /// Email address.
        email: Option<Text>,
    },
    /// Remove a user from the account.
    RemoveUser {
        /// The account.
        tenant: TenantId,
        /// The user.
        user: PrincipalId,
    },
    /// Enrol a staff member.
    EnrollStaff {
        /// Unique staff id.
        staff: PrincipalId,
        /// Display name.
        name: Text,
        /// Roles.
        roles: Vec<StaffRole>,
        /// MFA enabled.
        mfa: bool,
        /// SSO enabled.
        sso: bool,
        /// Training completed.
        training_completed: bool,
    },
}

impl TenantCommand {
    pub(super) fn name(&self) -> &'static str {
        match self {
            TenantCommand::Create { .. } => "create_tenant",
            TenantCommand::SetOnboarding { .. } => "set_onboarding",
            TenantCommand::AddUser { .. } => "add_user",
            TenantCommand::RemoveUser { .. } => "remove_user",
            TenantCommand::EnrollStaff { .. } => "enroll_staff",
        }
    }
}

pub(super) fn decide(ctx: &Ctx<'_>, command: &TenantCommand) -> Result<Decision, Refusal> {
    match command {
        TenantCommand::Create {
            tenant,
            name,
            admins,
            initial_support,
            partner,
            identity_provider,
            plan,
        } => {
            let r = Refuse {
                tenant: Some(tenant),
                subject: None,
            };
            if ctx.state.tenants.contains_key(tenant) {
                return Err(r.because("tenant.exists", format!("tenant {tenant} already exists")));
            }
            if !ctx.has_role(ctx.actor, &[StaffRole::Csd, StaffRole::PartnerAdmin]) {
                return Err(r.because(
                    "tenant.creator",
                    "accounts are created by a customer success director, a delegate or a partner admin",
                ));
            }
            if admins.is_empty() {
                return Err(r.because(
                    "tenant.admins",
                    "an account needs at least one customer admin",
                ));
            }
            for s in initial_support {
                let allowed = matches!(s.role, StaffRole::Csm | StaffRole::OnboardingManager);
                if !allowed || !ctx.has_role(&s.staff, &[s.role]) {
                    let what = if allowed {
                        "an enrolled staff member in that role"
                    } else {
                        "a CSM or onboarding manager"
                    };
                    return Err(Refuse { tenant: Some(tenant), subject: Some(&s.staff) }.because(
                        "tenant.initial-support",
                        format!(
                            "at creation only the CSM and the onboarding project manager may be attached; {} is not {what}",
                            s.staff
                        ),
                    ));
                }
            }
            Ok(Decision {
                stream: stream("tenant", tenant),
                expected: Some(0),
                payloads: vec![Payload::TenantCreated {
                    tenant: tenant.clone(),
                    name: name.clone(),
                    admins: admins.clone(),
                    initial_support: initial_support.clone(),
                    partner: partner.clone(),
                    identity_provider: identity_provider.clone(),
                    plan: plan.clone(),
                }],
            })
        }
        TenantCommand::SetOnboarding { tenant, open } => {
            let r = Refuse {
                tenant: Some(tenant),
                subject: None,
            };
            let Some(t) = ctx.state.tenants.get(tenant) else {
                return Err(r.because("tenant.unknown", format!("no tenant {tenant}")));
            };
            if !ctx.has_role(
                ctx.actor,
                &[StaffRole::Csm, StaffRole::Csd, StaffRole::OnboardingManager],
            ) {
                return Err(r.because(
                    "tenant.onboarding-role",
                    "the onboarding period is opened and closed by the CSM, a CSD or the onboarding manager",
                ));
            }
            if t.onboarding == *open {
                let state = if *open { "open" } else { "closed" };
                return Err(r.because(
                    "tenant.onboarding-state",
                    format!("onboarding of {tenant} is already {state}"),
                ));
            }
            let payload = if *open {
                Payload::OnboardingOpened {
                    tenant: tenant.clone(),
                }
            } else {
                Payload::OnboardingClosed {
                    tenant: tenant.clone(),
                }
            };
            Ok(Decision {
                stream: stream("tenant", tenant),
                expected: None,
                payloads: vec![payload],
            })
        }
        TenantCommand::AddUser {
            tenant,
            user,
            kind,
            email,
        } => user_change(ctx, tenant, user, Some((*kind, email))),
        TenantCommand::RemoveUser { tenant, user } => user_change(ctx, tenant, user, None),
        TenantCommand::EnrollStaff {
            staff,
            name,
            roles,
            mfa,
            sso,
            training_completed,
        } => {
            let r = Refuse {
                tenant: None,
                subject: Some(staff),
            };
            if ctx.state.staff.contains_key(staff) {
                return Err(r.because("staff.exists", format!("{staff} is already enrolled")));
            }
            if roles.is_empty() {
                return Err(r.because("staff.roles", "a staff member needs at least one role"));
            }
            // A principal's own stream is its id (already prefixed, e.g. `staff:ana`).
            let own =
                StreamId::new(staff.as_str()).map_err(|e| r.because("staff.id", e.to_string()))?;
            Ok(Decision {
                stream: own,
                expected: Some(0),
                payloads: vec![Payload::StaffEnrolled {
                    staff: staff.clone(),
                    name: name.clone(),
                    roles: roles.clone(),
                    mfa: *mfa,
                    sso: *sso,
                    training_completed: *training_completed,
                }],
            })
        }
    }
}

/// Adds (`add` = the profile kind and email) or removes a user of an account.
fn user_change(
    ctx: &Ctx<'_>,
    tenant: &TenantId,
    user: &PrincipalId,
    add: Option<(ProfileKind, &Option<Text>)>,
) -> Result<Decision, Refusal> {
    let r = Refuse {
        tenant: Some(tenant),
        subject: Some(user),
    };
    let Some(t) = ctx.state.tenants.get(tenant) else {
        return Err(r.because("tenant.unknown", format!("no tenant {tenant}")));
    };
    if !ctx.is_admin(tenant, ctx.actor) {
        return Err(r.because("user.admin", "users of an account are managed by its admin"));
    }
    let present = t.members.contains_key(user);
    let payload = match add {
        Some(_) if present => {
            return Err(r.because(
                "user.exists",
                format!("{user} is already a user of {tenant}"),
            ))
        }
        Some((kind, email)) => Payload::CustomerUserAdded {
            tenant: tenant.clone(),
            user: user.clone(),
            kind,
            email: email.clone(),
        },
        None if !present => {
            return Err(r.because("user.unknown", format!("{user} is not a user of {tenant}")))
        }
        None if ctx.actor == user => {
            return Err(r.because(
                "user.self-removal",
                "an admin does not remove themselves; another admin does",
            ))
        }
        None => Payload::CustomerUserRemoved {
            tenant: tenant.clone(),
            user: user.clone(),
        },
    };
    Ok(Decision {
        stream: stream("tenant", tenant),
        expected: None,
        payloads: vec![payload],
    })
}
