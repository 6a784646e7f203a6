//! `custos tenants` and `custos access`: the access projection, now or as of an instant or
//! a seq, read offline from a data directory (a full fold of the log up to that point).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context};
use custos_core::access::{Access, Right, Via};
use custos_core::{Head, PrincipalId, Seq, TenantId, Timestamp};
use custos_store::{Clock, Store, StoreConfig, SystemClock};
use serde::Serialize;

/// Where in history to answer.
#[derive(Debug, Clone, Copy)]
pub enum Point {
    /// Now (the head).
    Now,
    /// The events recorded up to this instant, asked at this instant.
    AsOf(Timestamp),
    /// The events up to this seq, asked at that event's time.
    AtSeq(Seq),
}

/// The projection at `point`, the instant it is asked at, and the head it reflects. With
/// `only` a tenant, just that tenant's events are folded, read through the tenant index
/// (enough for, and identical in, its tenant view; see `Store::tenant_access_at`); with
/// `only` a principal, just the events of the accounts it is a subject of (identical in
/// its access list; `Store::principal_access_at`); otherwise the whole log from the
/// nearest snapshot.
fn fold(
    store: &Store,
    point: Point,
    only: Option<&Subject>,
) -> anyhow::Result<(Access, Timestamp, Head)> {
    let head = store.head();
    let last = match point {
        Point::Now => head.seq,
        Point::AtSeq(s) if s > head.seq => bail!("--at-seq {s} is past the head ({})", head.seq),
        Point::AtSeq(s) => s,
        Point::AsOf(t) => Seq(store.first_seq_at(t.plus_micros(1))?.0.saturating_sub(1)),
    };
    let access = match only {
        Some(Subject::Tenant(tenant)) => store.tenant_access_at(tenant, last)?,
        Some(Subject::Principal(p)) => store.principal_access_at(p, last)?,
        None => store.access_at(last)?,
    };
    let at = match point {
        Point::Now => SystemClock.now(),
        Point::AsOf(t) => t,
        Point::AtSeq(_) if last == Seq::ZERO => Timestamp(0),
        Point::AtSeq(_) => {
            let stored = store
                .get(last)?
                .with_context(|| format!("no event at seq {last}"))?;
            stored.event()?.recorded_at
        }
    };
    let hash = store
        .hash_at(last)?
        .with_context(|| format!("no event at seq {last}"))?;
    Ok((access, at, Head { seq: last, hash }))
}

#[derive(Debug, Serialize)]
struct Answer<T: Serialize> {
    at: Timestamp,
    seq: u64,
    hash: String,
    #[serde(flatten)]
    body: T,
}

fn answer<T: Serialize>(at: Timestamp, head: Head, body: T) -> Answer<T> {
    Answer {
        at,
        seq: head.seq.0,
        hash: head.hash.to_hex(),
        body,
    }
}

pub fn tenants(data: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let store = Store::open(data, StoreConfig::default())?;
    let (access, at, head) = fold(&store, Point::Now, None)?;
    #[derive(Serialize)]
    struct Row<'a> {
        tenant: &'a TenantId,
        name: &'a str,
        rights: usize,
    }
    let rows: Vec<Row> = access
        .tenants()
        .map(|(tenant, name)| Row {
            tenant,
            name,
            rights: access.tenant(tenant, at).map_or(0, |v| v.rights.len()),
        })
        .collect();
    if json {
        #[derive(Serialize)]
        struct Tenants<'a> {
            tenants: Vec<Row<'a>>,
        }
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&answer(at, head, Tenants { tenants: rows }))?
        )?;
    } else {
        writeln!(
            out,
            "{} tenants at {at} (seq {}, hash {})",
            rows.len(),
            head.seq,
            head.hash
        )?;
        writeln!(out, "{:<20} {:>7}  NAME", "TENANT", "RIGHTS")?;
        for r in rows {
            writeln!(out, "{:<20} {:>7}  {}", r.tenant.as_str(), r.rights, r.name)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What `custos access` asks about.
#[derive(Debug)]
pub enum Subject {
    /// Who can enter this tenant.
    Tenant(TenantId),
    /// Which tenants this principal can enter.
    Principal(PrincipalId),
}

pub fn access(
    data: &Path,
    subject: Subject,
    point: Point,
    explain: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let store = Store::open(data, StoreConfig::default())?;
    let (access, at, head) = fold(&store, point, Some(&subject))?;
    let rows: Vec<(TenantId, Right)> = match &subject {
        Subject::Tenant(t) => {
            let Some(view) = access.tenant(t, at) else {
                eprintln!("custos: no tenant {t} at {at} (seq {})", head.seq);
                return Ok(ExitCode::from(1));
            };
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&answer(at, head, &view))?
                )?;
                return Ok(ExitCode::SUCCESS);
            }
            writeln!(
                out,
                "tenant {} \"{}\" at {at} (seq {}, hash {}){}",
                view.tenant,
                view.name,
                head.seq,
                head.hash,
                if view.onboarding {
                    ", onboarding open"
                } else {
                    ""
                }
            )?;
            writeln!(
                out,
                "{} open sessions, {} live consents ({} authorised)",
                view.open_sessions.len(),
                view.live_consents.len(),
                view.live_consents.iter().filter(|c| c.authorised).count()
            )?;
            view.rights.into_iter().map(|r| (t.clone(), r)).collect()
        }
        Subject::Principal(p) => {
            let list = access.access_list(p, at);
            if json {
                #[derive(Serialize)]
                struct Entry<'a> {
                    tenant: &'a TenantId,
                    #[serde(flatten)]
                    right: &'a Right,
                }
                #[derive(Serialize)]
                struct List<'a> {
                    principal: &'a PrincipalId,
                    access: Vec<Entry<'a>>,
                }
                let access = list
                    .iter()
                    .map(|(tenant, right)| Entry { tenant, right })
                    .collect();
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&answer(
                        at,
                        head,
                        List {
                            principal: p,
                            access
                        }
                    ))?
                )?;
                return Ok(ExitCode::SUCCESS);
            }
            writeln!(
                out,
                "{p} can enter {} tenants at {at} (seq {}, hash {})",
                list.len(),
                head.seq,
                head.hash
            )?;
            list
        }
    };
    let evidence = |seq: Seq| -> anyhow::Result<String> {
        let e = store
            .get(seq)?
            .with_context(|| format!("evidence seq {seq} missing"))?
            .event()?;
        let ip = e
            .source_ip
            .map_or_else(String::new, |ip| format!(" from {ip}"));
        Ok(format!("{} {} by {}{ip}", e.recorded_at, e.kind(), e.actor))
    };
    print_rights(&mut out, &rows, explain.then_some(&evidence))?;
    Ok(ExitCode::SUCCESS)
}

/// The rights table; with `evidence`, each evidence seq's line under its right.
pub(crate) fn print_rights(
    out: &mut impl Write,
    rows: &[(TenantId, Right)],
    evidence: Option<&dyn Fn(Seq) -> anyhow::Result<String>>,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "{:<14} {:<26} {:<44} {:<28} EVIDENCE",
        "TENANT", "PRINCIPAL", "BASIS", "UNTIL"
    )?;
    for (tenant, r) in rows {
        let until = r.until.map_or_else(|| "-".to_owned(), |u| u.to_string());
        let seqs: Vec<String> = r.evidence.iter().map(Seq::to_string).collect();
        writeln!(
            out,
            "{:<14} {:<26} {:<44} {:<28} {}",
            tenant.as_str(),
            r.principal.as_str(),
            basis(&r.via),
            until,
            seqs.join(",")
        )?;
        if let Some(line) = evidence {
            for seq in &r.evidence {
                writeln!(out, "    seq {seq} {}", line(*seq)?)?;
            }
        }
    }
    Ok(())
}

fn basis(via: &Via) -> String {
    let names = |v: Vec<String>| v.join(",");
    match via {
        Via::Member { kind } => format!("member ({})", json_name(kind)),
        Via::InitialSupport { role } => format!("initial support ({})", json_name(role)),
        Via::Grant {
            grant,
            role,
            scopes,
        } => format!(
            "grant {} ({}: {})",
            &grant.to_string()[..10],
            json_name(role),
            names(scopes.iter().map(json_name).collect())
        ),
        Via::Invitation {
            invitation,
            kind,
            scopes,
        } => format!(
            "{} {} ({})",
            json_name(kind),
            &invitation.to_string()[..10],
            names(scopes.iter().map(json_name).collect())
        ),
    }
}

/// The snake_case name serde gives a unit variant.
fn json_name(v: &impl Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// `custos snapshot`: folds the log and keeps a snapshot of the projection every `every`
/// events, so that as-of answers start near their point.
pub fn snapshot(data: &Path, every: u64) -> anyhow::Result<ExitCode> {
    if every == 0 {
        bail!("--every must be at least 1");
    }
    let store = Store::open(data, StoreConfig::default())?;
    let head = store.head();
    let mut access = Access::default();
    let (mut written, mut kept) = (0u64, 0u64);
    for stored in store.range(Seq(1), head.seq) {
        let stored = stored?;
        access.apply(&stored.event()?);
        if stored.seq.0 % every == 0 || stored.seq == head.seq {
            let at = Head {
                seq: stored.seq,
                hash: stored.hash,
            };
            if store.has_snapshot(at, custos_core::codec::SNAPSHOT_FORMAT)? {
                kept += 1;
                continue;
            }
            // Queries only: what is closed for good is left out (see `Access::compact`).
            access.compact();
            let bytes = custos_core::codec::encode_snapshot(&access)?;
            store.put_snapshot(at, &bytes)?;
            written += 1;
        }
    }
    store.flush()?;
    println!(
        "{written} snapshots written, {kept} already there (every {every} events, up to seq {})",
        head.seq
    );
    Ok(ExitCode::SUCCESS)
}
