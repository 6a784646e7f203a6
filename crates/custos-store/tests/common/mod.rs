//! Helpers shared by the store's tests: events and requests with little ceremony.

#![allow(dead_code)]

use custos_core::vocab::{ActionKind, Importance};
use custos_core::*;
use custos_store::AppendRequest;

pub fn tenant(n: u32) -> TenantId {
    TenantId::new(format!("tenant-{n}")).expect("tenant")
}

pub fn actor(n: u32) -> PrincipalId {
    PrincipalId::new(format!("staff:s{n}")).expect("actor")
}

pub fn stream(n: u32) -> StreamId {
    StreamId::new(format!("session:{n}")).expect("stream")
}

/// A session action in tenant `t` by staff `a`, with event id `id`.
pub fn action(id: u128, t: u32, a: u32) -> NewEvent {
    NewEvent::new(
        EventId(id),
        actor(a),
        Payload::SessionAction {
            session: SessionId(u128::from(t)),
            tenant: tenant(t),
            staff: actor(a),
            action: ActionKind::ViewSettings,
            importance: Importance::Low,
            detail: format!("look {id}").into(),
            consent: None,
            request_channel: None,
        },
    )
}

/// A staff enrolment (no tenant).
pub fn enrol(id: u128, a: u32) -> NewEvent {
    NewEvent::new(
        EventId(id),
        actor(0),
        Payload::StaffEnrolled {
            staff: actor(a),
            name: format!("S{a}").into(),
            roles: vec![],
            mfa: true,
            sso: true,
            training_completed: true,
        },
    )
}

/// A grant request in tenant `t` for staff `a` (a subject), asked by staff 0.
pub fn request(id: u128, t: u32, a: u32) -> NewEvent {
    NewEvent::new(
        EventId(id),
        actor(0),
        Payload::AccessRequested {
            grant: GrantId(id),
            tenant: tenant(t),
            requester: actor(0),
            grantee: actor(a),
            role: custos_core::vocab::StaffRole::SupportL1,
            scopes: vec![],
            reason: "r".into(),
            ticket: None,
            ttl_secs: 60,
        },
    )
}

pub fn req(s: u32, expected: Option<u64>, events: Vec<NewEvent>) -> AppendRequest {
    AppendRequest {
        stream: stream(s),
        expected,
        events,
    }
}

/// Edits the store's tree at `dir` straight in sled, behind the store's back (the store
/// must be closed), and flushes. sled lets go of the directory's lock a moment after its
/// last handle is dropped, so the open is tried again for up to 2.5 s.
pub fn edit_raw(dir: &std::path::Path, edit: impl FnOnce(&sled::Tree)) {
    edit_raw_tree(dir, "custos", edit);
}

/// [`edit_raw`] on the tree named `name`.
pub fn edit_raw_tree(dir: &std::path::Path, name: &str, edit: impl FnOnce(&sled::Tree)) {
    let open = || custos_store::sled_config(dir).flush_every_ms(None).open();
    let mut db = open();
    for _ in 0..100 {
        if db.is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
        db = open();
    }
    let db = db.expect("raw open");
    edit(&db.open_tree(name).expect("tree"));
    db.flush().expect("flush");
}
