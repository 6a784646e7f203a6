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

/// Reads a `custos serve` child's stdout up to its "listening" line (after the first
/// start's admin-token line, if any) and keeps draining the rest on a thread.
pub fn listening_line(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line).expect("read") == 0 {
            panic!("custos serve exited before listening");
        }
        if line.contains(" listening on ") {
            break;
        }
    }
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    line
}

/// Starts `custos serve` on a free port of 127.0.0.1; returns the child and its base URL.
pub fn serve(dir: &Path) -> (std::process::Child, String) {
    serve_with(dir, &[])
}

/// [`serve`] with more flags.
pub fn serve_with(dir: &Path, flags: &[&str]) -> (std::process::Child, String) {
    let mut child = custos()
        .args([
            "serve",
            "--data",
            dir.to_str().expect("utf-8 path"),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(flags)
        .stdout(std::process::Stdio::piped())
        // Nobody reads it: a full pipe would block the server.
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn serve");
    let line = listening_line(&mut child);
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    (child, url)
}

/// Kills a child process when dropped.
#[derive(Debug)]
pub struct Kill(pub std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Stops a server gracefully (SIGTERM) and waits for a clean exit.
pub fn stop(mut child: std::process::Child) {
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "custos serve exited with {status}");
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "custos serve did not stop"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
