//! custos end-to-end tests: the real command line, real child processes, real `kill -9`.
//!
//! The tests live in `tests/`: `crash.rs` (durability under SIGKILL), `cli.rs` (verify,
//! export, tampering, bad input, the server). The helpers they share are in
//! `tests/common/mod.rs`; the two child programs are in `src/bin/`.
