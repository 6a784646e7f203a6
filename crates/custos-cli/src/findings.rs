//! `custos findings`: the misuse findings of a window (at most 90 days), folded offline
//! from a data directory, as a table, JSON or CSV.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use custos_core::findings::{Finding, Findings, Thresholds};
use custos_core::{Seq, Timestamp};
use custos_store::{Clock, Store, StoreConfig, SystemClock};

/// How to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people.
    Table,
    /// One JSON document.
    Json,
    /// For spreadsheets.
    Csv,
}

/// What to list.
#[derive(Debug)]
pub struct Query {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub rule: Option<String>,
    pub staff: Option<String>,
    pub tenant: Option<String>,
    pub format: Format,
}

pub fn run(data: &Path, q: &Query) -> anyhow::Result<ExitCode> {
    let to = q.to.unwrap_or_else(|| SystemClock.now());
    let from = q.from.unwrap_or(to.plus_secs(-7 * 24 * 3600));
    if from > to {
        bail!("--from ({from}) is after --to ({to})");
    }
    if to.0 - from.0 > 90 * 86_400 * 1_000_000 {
        bail!(
            "the window from {from} to {to} exceeds the limit of 90 days; ask for several windows"
        );
    }
    let store = Store::open(data, StoreConfig::default())?;
    let mut findings = Findings::new(Thresholds::default());
    store.replay(Seq(1), store.head().seq, |event| findings.apply(event))?;
    let list: Vec<Finding> = findings
        .window(from, to)
        .into_iter()
        .filter(|f| q.rule.as_deref().is_none_or(|r| f.rule == r))
        .filter(|f| {
            q.staff
                .as_deref()
                .is_none_or(|s| f.staff.as_ref().is_some_and(|x| x.as_str() == s))
        })
        .filter(|f| {
            q.tenant
                .as_deref()
                .is_none_or(|t| f.tenant.as_ref().is_some_and(|x| x.as_str() == t))
        })
        .collect();
    let mut out = std::io::stdout().lock();
    let seqs = |f: &Finding| {
        f.evidence
            .iter()
            .map(Seq::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let review = |f: &Finding| {
        f.review.map_or_else(String::new, |(o, s)| {
            format!(
                "{} (seq {s})",
                serde_json::to_value(o)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            )
        })
    };
    match q.format {
        Format::Json => {
            #[derive(serde::Serialize)]
            struct Page<'a> {
                from: Timestamp,
                to: Timestamp,
                findings: &'a [Finding],
            }
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&Page {
                    from,
                    to,
                    findings: &list
                })?
            )?;
        }
        Format::Csv => {
            // Into memory first, so that a closed stdout is an IO error like elsewhere.
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record([
                "id",
                "at",
                "rule",
                "severity",
                "tenant",
                "staff",
                "evidence",
                "review",
                "explanation",
            ])?;
            for f in &list {
                let severity = serde_json::to_value(f.severity)?;
                w.write_record([
                    f.id.as_str(),
                    &f.at.to_string(),
                    &f.rule,
                    severity.as_str().unwrap_or(""),
                    f.tenant.as_ref().map_or("", |t| t.as_str()),
                    f.staff.as_ref().map_or("", |s| s.as_str()),
                    &seqs(f),
                    &review(f),
                    &f.explanation,
                ])?;
            }
            out.write_all(&w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?;
        }
        Format::Table => {
            writeln!(out, "{} findings from {from} to {to}", list.len())?;
            writeln!(
                out,
                "{:<28} {:<40} {:<7} {:<10} {:<16} EVIDENCE",
                "AT", "RULE", "SEVERITY", "TENANT", "STAFF"
            )?;
            for f in &list {
                let severity = serde_json::to_value(f.severity)?;
                writeln!(
                    out,
                    "{:<28} {:<40} {:<8} {:<10} {:<16} {}{}",
                    f.at.to_string(),
                    f.rule,
                    severity.as_str().unwrap_or(""),
                    f.tenant.as_ref().map_or("-", |t| t.as_str()),
                    f.staff.as_ref().map_or("-", |s| s.as_str()),
                    seqs(f),
                    if f.review.is_some() {
                        format!("  [{}]", review(f))
                    } else {
                        String::new()
                    }
                )?;
                writeln!(out, "    {}", f.explanation)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
