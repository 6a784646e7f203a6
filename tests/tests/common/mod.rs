//! Helpers for the end-to-end tests: running the command line and reading its answers.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// The `custos` command line under test.
pub fn custos() -> Command {
    Command::new(env!("CARGO_BIN_EXE_custos-under-test"))
}

/// Runs `custos args…` and returns its output.
pub fn run(args: &[&str]) -> Output {
    custos().args(args).output().expect("run custos")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Fills `dir` with `n` demo events.
pub fn demo(dir: &Path, n: u64) {
    let o = run(&[
        "demo",
        "--data",
        dir.to_str().expect("utf-8"),
        "--events",
        &n.to_string(),
        "--seed",
        "5",
    ]);
    assert!(o.status.success(), "demo failed: {}", stderr(&o));
}

/// The head printed by a successful `verify`.
pub fn verified_head(o: &Output) -> String {
    let out = stdout(o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "verify failed: {out} {}",
        stderr(o)
    );
    out.trim().rsplit(' ').next().expect("head").to_owned()
}
