//! The account-side rules, given/when/then: ORC Webhosting's guests, HP WXP's partners,
//! customer users, and the support leads' reviews.

mod world;

use custos_core::policy::*;
use custos_core::vocab::*;
use custos_core::*;
use world::*;

// ----- ORC Webhosting (seed 003) and HP WXP (seed 004) -----

fn invite(w: &World, id: u128, kind: InvitationKind, invitee: &str) -> Command {
    Command::Invitation(InvitationCommand::Invite(Invite {
        invitation: InvitationId(id),
        tenant: acme(),
        kind,
        invitee: p(invitee),
        scopes: vec![InvitationScope::Billing],
        expires_at: w.now.plus_secs(7 * 86_400),
    }))
}

fn change(id: u128, change: InvitationChange) -> Command {
    Command::Invitation(InvitationCommand::Change {
        invitation: InvitationId(id),
        change,
    })
}

fn other_account(w: &mut World) {
    w.ok(
        "staff:csd",
        Command::Tenant(TenantCommand::Create {
            tenant: TenantId::new("beta").expect("tenant"),
            name: "Beta".into(),
            admins: vec![p("user:beta/admin")],
            initial_support: vec![],
            partner: None,
            identity_provider: None,
            plan: None,
        }),
    );
}

#[test]
fn orc_a_guest_must_already_belong_to_another_account_and_answers_for_itself() {
    let mut w = World::new();
    w.refused(
        "user:acme/admin",
        invite(&w, 1, InvitationKind::Guest, "user:beta/admin"),
        "invitation.guest-exists",
    );
    other_account(&mut w);
    w.refused(
        "staff:csm",
        invite(&w, 1, InvitationKind::Guest, "user:beta/admin"),
        "invitation.inviter",
    );
    w.refused(
        "user:acme/admin",
        invite(&w, 1, InvitationKind::Guest, "user:acme/admin"),
        "invitation.member",
    );
    w.ok(
        "user:acme/admin",
        invite(&w, 1, InvitationKind::Guest, "user:beta/admin"),
    );
    w.ok("user:acme/admin", change(1, InvitationChange::Send));
    w.refused(
        "user:acme/admin",
        change(1, InvitationChange::Accept),
        "invitation.answerer",
    );
    w.ok("user:beta/admin", change(1, InvitationChange::Accept));
    assert_eq!(
        w.state.access_list(&p("user:beta/admin"), w.now).len(),
        2,
        "its own account and acme"
    );
    w.refused(
        "user:beta/admin",
        change(1, InvitationChange::Accept),
        "invitation.state",
    );
    // active ↔ inactive, by the host's admin only
    w.refused(
        "user:beta/admin",
        change(1, InvitationChange::SetActive(false)),
        "invitation.admin",
    );
    w.ok(
        "user:acme/admin",
        change(1, InvitationChange::SetActive(false)),
    );
    assert_eq!(w.state.access_list(&p("user:beta/admin"), w.now).len(), 1);
    w.refused(
        "user:acme/admin",
        change(1, InvitationChange::SetActive(false)),
        "invitation.state",
    );
    w.ok(
        "user:acme/admin",
        change(1, InvitationChange::SetActive(true)),
    );
    w.ok(
        "user:acme/admin",
        change(1, InvitationChange::Revoke("left".into())),
    );
    assert_eq!(w.state.access_list(&p("user:beta/admin"), w.now).len(), 1);
}

#[test]
fn orc_unanswered_invitations_lapse() {
    let mut w = World::new();
    other_account(&mut w);
    w.ok(
        "user:acme/admin",
        invite(&w, 2, InvitationKind::Guest, "user:beta/admin"),
    );
    w.advance(7 * 86_400);
    w.refused(
        "user:beta/admin",
        change(2, InvitationChange::Accept),
        "invitation.expired",
    );
    let due_now = due(&w.state, w.now);
    assert!(due_now
        .iter()
        .any(|d| matches!(d.payloads[0], Payload::InvitationExpired { .. })));
}

#[test]
fn hp_wxp_a_partner_manages_only_once_the_customers_it_admin_accepts() {
    let mut w = World::new();
    w.ok(
        "staff:hr-bootstrap",
        Command::Tenant(TenantCommand::EnrollStaff {
            staff: p("partner:hpx"),
            name: "HP partner".into(),
            roles: vec![StaffRole::PartnerAdmin],
            mfa: true,
            sso: true,
            training_completed: true,
        }),
    );
    w.ok(
        "user:acme/admin",
        Command::Tenant(TenantCommand::AddUser {
            tenant: acme(),
            user: p("user:acme/it"),
            kind: ProfileKind::ItAdmin,
            email: Some("it@acme.example".into()),
        }),
    );
    w.refused(
        "staff:csm",
        invite(&w, 3, InvitationKind::Partner, "partner:hpx"),
        "invitation.inviter",
    );
    w.ok(
        "partner:hpx",
        invite(&w, 3, InvitationKind::Partner, "partner:hpx"),
    );
    assert!(
        w.state.access_list(&p("partner:hpx"), w.now).is_empty(),
        "pending: no access"
    );
    w.refused(
        "partner:hpx",
        change(3, InvitationChange::Accept),
        "invitation.answerer",
    );
    // Before the IT admin accepts, the partner manages nothing (HP WXP).
    w.refused(
        "partner:hpx",
        invitee_act(3, InvitationScope::Billing),
        "invitee.partner-not-accepted",
    );
    w.ok("user:acme/it", change(3, InvitationChange::Accept));
    assert_eq!(w.state.access_list(&p("partner:hpx"), w.now).len(), 1);
    let e = w.ok("partner:hpx", invitee_act(3, InvitationScope::Billing));
    assert!(matches!(
        &e[0].payload,
        Payload::InviteeAction {
            kind: InvitationKind::Partner,
            scope: InvitationScope::Billing,
            ..
        }
    ));
    // Only within its scopes, and only the partner itself.
    w.refused(
        "partner:hpx",
        invitee_act(3, InvitationScope::Security),
        "invitee.scope",
    );
    w.refused(
        "user:acme/it",
        invitee_act(3, InvitationScope::Billing),
        "invitee.owner",
    );
}

fn invitee_act(id: u128, scope: InvitationScope) -> Command {
    Command::Invitation(InvitationCommand::Act {
        invitation: InvitationId(id),
        scope,
        detail: "changed the billing contact".into(),
    })
}

#[test]
fn orc_a_guest_acts_only_within_its_scopes_and_while_active() {
    let mut w = World::new();
    other_account(&mut w);
    w.ok(
        "user:acme/admin",
        invite(&w, 5, InvitationKind::Guest, "user:beta/admin"),
    );
    // Pending: not yet a guest of acme (a guest is no partner: the generic refusal).
    w.refused(
        "user:beta/admin",
        invitee_act(5, InvitationScope::Billing),
        "invitee.inactive",
    );
    w.ok("user:beta/admin", change(5, InvitationChange::Accept));
    w.ok("user:beta/admin", invitee_act(5, InvitationScope::Billing));
    w.refused(
        "user:beta/admin",
        invitee_act(5, InvitationScope::Provisioning),
        "invitee.scope",
    );
    w.ok(
        "user:acme/admin",
        change(5, InvitationChange::SetActive(false)),
    );
    w.refused(
        "user:beta/admin",
        invitee_act(5, InvitationScope::Billing),
        "invitee.inactive",
    );
    w.ok(
        "user:acme/admin",
        change(5, InvitationChange::SetActive(true)),
    );
    w.ok("user:beta/admin", invitee_act(5, InvitationScope::Billing));
    w.ok(
        "user:acme/admin",
        change(5, InvitationChange::Revoke("left the project".into())),
    );
    w.refused(
        "user:beta/admin",
        invitee_act(5, InvitationScope::Billing),
        "invitee.inactive",
    );
}

#[test]
fn users_of_an_account_are_managed_by_its_admin() {
    let mut w = World::new();
    let add = || {
        Command::Tenant(TenantCommand::AddUser {
            tenant: acme(),
            user: p("user:acme/bo"),
            kind: ProfileKind::Contact,
            email: None,
        })
    };
    w.refused("staff:csm", add(), "user.admin");
    w.ok("user:acme/admin", add());
    w.refused("user:acme/admin", add(), "user.exists");
    let remove = |u: &str| {
        Command::Tenant(TenantCommand::RemoveUser {
            tenant: acme(),
            user: p(u),
        })
    };
    w.refused(
        "user:acme/admin",
        remove("user:acme/admin"),
        "user.self-removal",
    );
    w.ok("user:acme/admin", remove("user:acme/bo"));
    w.refused("user:acme/admin", remove("user:acme/bo"), "user.unknown");
}

#[test]
fn teamleader_reviews_are_recorded_by_support_leads() {
    let mut w = World::new();
    let review = |outcome, comment: &str| {
        Command::Review(ReviewCommand::Record {
            review: ReviewId(5),
            tenant: Some(acme()),
            subject: ReviewSubject::Session(SessionId(1)),
            outcome,
            comment: comment.into(),
        })
    };
    w.refused(
        "staff:l2",
        review(ReviewOutcome::Acknowledged, ""),
        "review.reviewer",
    );
    w.refused(
        "staff:lead",
        review(ReviewOutcome::Cleared, " "),
        "review.comment",
    );
    let e = w.ok(
        "staff:lead",
        review(ReviewOutcome::Cleared, "reason and ticket checked"),
    );
    assert!(
        matches!(&e[0].payload, Payload::ReviewRecorded { reviewer, .. } if reviewer == &p("staff:lead"))
    );
}
