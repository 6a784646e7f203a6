//! The `custos` command line: parses flags, runs one subcommand, maps outcomes to exit
//! codes (0 success, 1 a verification fault, 2 bad arguments or an environment problem).
//!
//! A library so that the end-to-end crate (`tests/`) builds the very same entry point
//! into its own test binary; `src/main.rs` only calls [`main`].

mod demo;
mod export;
mod serve;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// custos — an access-audit ledger: who had access to which account, when, on what basis.
#[derive(Debug, Parser)]
#[command(name = "custos", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server on a data directory.
    Serve {
        /// Data directory (created if absent).
        #[arg(long, default_value = "./custos-data")]
        data: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:7700")]
        listen: String,
    },
    /// Verify the hash chain of a data directory or of an export.
    Verify {
        /// Data directory to verify.
        #[arg(long, conflicts_with = "file", required_unless_present = "file")]
        data: Option<PathBuf>,
        /// Export (JSON Lines) to verify.
        #[arg(long)]
        file: Option<PathBuf>,
        /// A head known from elsewhere, `SEQ:HEX`: the log must reach it with that hash.
        #[arg(long, value_parser = verify::parse_head)]
        head: Option<custos_core::Head>,
    },
    /// Export the log as JSON Lines (seq, prev_hash, hash, record, event).
    Export {
        /// Data directory to read.
        #[arg(long, default_value = "./custos-data")]
        data: PathBuf,
        /// Output file (`-` for standard output).
        #[arg(long)]
        out: PathBuf,
    },
    /// Fill a data directory with a realistic, deterministic mix of the vendors' stories
    /// over the 90 days before now.
    Demo {
        /// Data directory (should be empty).
        #[arg(long, default_value = "./custos-data")]
        data: PathBuf,
        /// Number of events.
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// Seed of the random choices.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// Runs the command line given to this process.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CUSTOS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let outcome = match cli.command {
        Command::Serve { data, listen } => serve::run(&data, &listen).map(|()| ExitCode::SUCCESS),
        Command::Verify { data, file, head } => verify::run(data.as_deref(), file.as_deref(), head),
        Command::Export { data, out } => export::run(&data, &out).map(|()| ExitCode::SUCCESS),
        Command::Demo { data, events, seed } => {
            demo::run(&data, events, seed).map(|()| ExitCode::SUCCESS)
        }
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("custos: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
