//! `custos verify`: the chain of a data directory or of an export, with an optional known
//! head. Prints `verified N events, head <hex>` (exit 0) or the first bad seq and the
//! fault (exit 1).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use base64::Engine;
use custos_core::{ChainVerifier, Event, Fault, Head, Seq, VerifyError};
use custos_store::VerifyDirError;

use custos_server::wire::{b64, Line};

/// Parses `SEQ:HEX`.
pub fn parse_head(s: &str) -> Result<Head, String> {
    let (seq, hash) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?} is not SEQ:HEX"))?;
    Ok(Head {
        seq: Seq(seq
            .parse()
            .map_err(|_| format!("{seq:?} is not a seq number"))?),
        hash: hash.parse().map_err(|e| format!("{e}"))?,
    })
}

pub fn run(
    data: Option<&Path>,
    file: Option<&Path>,
    known: Option<Head>,
) -> anyhow::Result<ExitCode> {
    let outcome = match (data, file) {
        (Some(dir), _) => match custos_store::verify_dir(dir, known) {
            Ok(head) => Ok(head),
            Err(VerifyDirError::Chain(e)) => Err(e),
            Err(other) => return Err(other.into()),
        },
        (None, Some(path)) => verify_file(path, known)?,
        (None, None) => anyhow::bail!("give --data DIR or --file EXPORT"),
    };
    Ok(report(outcome))
}

fn report(outcome: Result<Head, VerifyError>) -> ExitCode {
    match outcome {
        Ok(head) => {
            println!("verified {} events, head {}", head.seq, head.hash);
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("verification failed at seq {}: {}", e.seq, e.fault);
            ExitCode::from(1)
        }
    }
}

/// Verifies an export. An unreadable file is an error (exit 2); a bad line is a fault.
/// Checks wire lines (`custos_server::wire::Line`) in order: the chain over `record`, the
/// link to the line before, and that `event` is the decoding of `record`. The first line's
/// `prev_hash` is the trusted start. With `gaps_allowed` (a filtered stream), a line
/// after a gap starts a new run from its own `prev_hash`: each event is still checked
/// against its hash, only the contiguity cannot be.
#[derive(Debug)]
pub(crate) struct LineChecker {
    verifier: Option<ChainVerifier>,
    known: Option<Head>,
    gaps_allowed: bool,
}

impl LineChecker {
    pub(crate) fn new(known: Option<Head>, gaps_allowed: bool) -> LineChecker {
        LineChecker {
            verifier: None,
            known,
            gaps_allowed,
        }
    }

    fn start(&self, from: Head) -> ChainVerifier {
        let v = ChainVerifier::resume(from);
        match self.known {
            Some(k) => v.with_anchor(k),
            None => v,
        }
    }

    /// The seq expected next.
    pub(crate) fn expected(&self) -> Seq {
        self.verifier
            .as_ref()
            .map_or(Seq(1), ChainVerifier::expected)
    }

    /// Checks one line; the decoded event, or the fault.
    pub(crate) fn check(&mut self, line: &Line) -> anyhow::Result<Result<Event, VerifyError>> {
        let restart = match &self.verifier {
            None => true,
            Some(v) => self.gaps_allowed && line.seq > v.expected().0,
        };
        if restart {
            self.verifier = Some(self.start(Head {
                seq: Seq(line.seq.saturating_sub(1)),
                hash: line.prev_hash,
            }));
        }
        let Some(verifier) = self.verifier.as_mut() else {
            unreachable!("set above");
        };
        let expected = verifier.expected();
        let bad = |fault| {
            Ok(Err(VerifyError {
                seq: expected,
                fault,
            }))
        };
        if line.seq == expected.0 && line.prev_hash != verifier.head().hash {
            return bad(Fault::BrokenLink {
                stated: line.prev_hash,
                computed: verifier.head().hash,
            });
        }
        let record = match b64().decode(&line.record) {
            Ok(r) => r,
            Err(e) => {
                return bad(Fault::Undecodable {
                    reason: format!("record is not base64: {e}"),
                })
            }
        };
        let event = match verifier.push(Seq(line.seq), &record, Some(&line.hash)) {
            Ok(event) => event,
            Err(e) => return Ok(Err(e)),
        };
        if serde_json::to_value(&event)? != line.event {
            return bad(Fault::EventMismatch);
        }
        Ok(Ok(event))
    }

    /// Ends: the log must reach the known head, if one was given.
    pub(crate) fn finish(self) -> Result<Head, VerifyError> {
        let v = match self.verifier {
            Some(v) => v,
            None => self.start(Head::GENESIS),
        };
        v.finish()
    }
}

fn verify_file(path: &Path, known: Option<Head>) -> anyhow::Result<Result<Head, VerifyError>> {
    let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = BufReader::new(file).lines();
    let mut checker = LineChecker::new(known, false);
    while let Some(text) = lines.next() {
        let text = text.with_context(|| format!("cannot read {}", path.display()))?;
        let line: Line = match serde_json::from_str(&text) {
            Ok(l) => l,
            Err(e) => {
                return Ok(Err(VerifyError {
                    seq: checker.expected(),
                    fault: Fault::Undecodable {
                        reason: format!("line is not an export line: {e}"),
                    },
                }))
            }
        };
        let expected = checker.expected();
        if let Err(mut e) = checker.check(&line)? {
            // A missing seq that appears later is a reorder, not a gap.
            if let Fault::Gap { found } = e.fault {
                if later_has(&mut lines, expected.0) {
                    e.fault = Fault::Reorder { found };
                }
            }
            return Ok(Err(e));
        }
    }
    Ok(checker.finish())
}

fn later_has(lines: &mut impl Iterator<Item = std::io::Result<String>>, seq: u64) -> bool {
    lines
        .map_while(Result::ok)
        .any(|text| serde_json::from_str::<Line>(&text).is_ok_and(|l| l.seq == seq))
}
