//! The `custos` command line: parses flags, runs one subcommand, maps outcomes to exit
//! codes (0 success, 1 a verification fault, 2 bad arguments or an environment problem).
//!
//! A library so that the end-to-end crate (`tests/`) builds the very same entry point
//! into its own test binary; `src/main.rs` only calls [`main`].

mod access;
pub mod demo;
mod export;
mod findings;
mod remote;
mod serve;
mod verify;

use custos_server::wire::Line;

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
        /// A reverse proxy whose X-Forwarded-For gives the source IP of the events.
        #[arg(long)]
        trusted_proxy: Option<std::net::IpAddr>,
        /// Seconds a write to a client may stay blocked before its connection is closed
        /// (an event-stream consumer that stopped reading).
        #[arg(long, default_value_t = 30)]
        stall_limit: u64,
        /// Publish every event to this NATS server's JetStream (stream CUSTOS, subjects
        /// custos.events.<tenant>.<kind>), e.g. nats://127.0.0.1:4222.
        #[arg(long)]
        nats: Option<String>,
        /// The misuse thresholds (JSON, docs/misuse.md); a change is recorded as an event.
        #[arg(long)]
        thresholds: Option<PathBuf>,
        /// The most the storage engine (sled) keeps in its page cache, in MiB.
        #[arg(long, default_value_t = custos_store::DEFAULT_CACHE_BYTES >> 20)]
        cache_mb: u64,
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
    /// List the tenants of a data directory.
    Tenants {
        /// Data directory to read.
        #[arg(long, default_value = "./custos-data")]
        data: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Who can enter a tenant, or which tenants a principal can enter — now, as of an
    /// instant, or at a seq — and on what basis. Offline on a data directory, or asked of
    /// a server with `--server`.
    Access {
        /// Data directory to read.
        #[arg(long, default_value = "./custos-data")]
        data: PathBuf,
        /// Ask this server instead (token in CUSTOS_TOKEN).
        #[arg(long)]
        server: Option<String>,
        /// The token for `--server` (default: CUSTOS_TOKEN).
        #[arg(long, env = "CUSTOS_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// The tenant to answer for.
        #[arg(
            long,
            required_unless_present = "principal",
            conflicts_with = "principal"
        )]
        tenant: Option<custos_core::TenantId>,
        /// The principal whose access list to give.
        #[arg(long)]
        principal: Option<custos_core::PrincipalId>,
        /// Answer as of this instant (RFC 3339): the events recorded up to it.
        #[arg(long, conflicts_with = "at_seq")]
        as_of: Option<custos_core::Timestamp>,
        /// Answer at this seq: the events up to it.
        #[arg(long)]
        at_seq: Option<u64>,
        /// Show each right's evidence events (time, kind, actor, source IP).
        #[arg(long)]
        explain: bool,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The events of an audit window (at most 90 days; default the last 24 hours), asked
    /// of a server: a tenant's, an actor's and/or a kind's, in seq order.
    Audit {
        /// The server (token in CUSTOS_TOKEN).
        #[arg(long, default_value = "http://127.0.0.1:7700")]
        server: String,
        /// The token (default: CUSTOS_TOKEN).
        #[arg(long, env = "CUSTOS_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Only this tenant's events.
        #[arg(long)]
        tenant: Option<String>,
        /// Only this actor's events.
        #[arg(long)]
        actor: Option<String>,
        /// Only events of this kind (docs/events.md).
        #[arg(long)]
        kind: Option<String>,
        /// Window start (RFC 3339).
        #[arg(long)]
        from: Option<custos_core::Timestamp>,
        /// Window end (RFC 3339).
        #[arg(long)]
        to: Option<custos_core::Timestamp>,
        /// Stop after this many events.
        #[arg(long, default_value_t = 100_000)]
        max: usize,
        /// One JSON event per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Follow the live event feed of a server (from a seq, or from now), optionally
    /// checking every event's hash and the chain as it arrives.
    Tail {
        /// The server (token in CUSTOS_TOKEN).
        #[arg(long, default_value = "http://127.0.0.1:7700")]
        server: String,
        /// The token (default: CUSTOS_TOKEN).
        #[arg(long, env = "CUSTOS_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Start at this seq (default: only what is appended from now on).
        #[arg(long)]
        from: Option<u64>,
        /// Only this tenant's events.
        #[arg(long)]
        tenant: Option<String>,
        /// Only events of this kind.
        #[arg(long)]
        kind: Option<String>,
        /// Only this stream's events.
        #[arg(long)]
        stream: Option<String>,
        /// Verify each event (hash over its record; unfiltered, the chain too): exit 1
        /// at the first fault.
        #[arg(long)]
        verify: bool,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<u64>,
        /// Print each event's wire line (JSON) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The misuse findings of a window (at most 90 days; default the last 7 days), folded
    /// offline from a data directory (docs/misuse.md).
    Findings {
        /// Data directory to read.
        #[arg(long, default_value = "./custos-data")]
        data: PathBuf,
        /// Window start (RFC 3339).
        #[arg(long)]
        from: Option<custos_core::Timestamp>,
        /// Window end (RFC 3339; default now).
        #[arg(long)]
        to: Option<custos_core::Timestamp>,
        /// Only this rule (e.g. misuse.self-grant).
        #[arg(long)]
        rule: Option<String>,
        /// Only this staff member.
        #[arg(long)]
        staff: Option<String>,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// table, json or csv.
        #[arg(long, value_enum, default_value = "table")]
        format: findings::Format,
    },
    /// API tokens on a server (admin token in CUSTOS_TOKEN).
    Token {
        /// The server.
        #[arg(long, default_value = "http://127.0.0.1:7700", global = true)]
        server: String,
        /// The admin token (default: CUSTOS_TOKEN).
        #[arg(long, env = "CUSTOS_TOKEN", hide_env_values = true, global = true)]
        token: Option<String>,
        /// Print JSON.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Keep snapshots of the access projection every N events, so that as-of answers
    /// start near their point.
    Snapshot {
        /// Data directory.
        #[arg(long, default_value = "./custos-data")]
        data: PathBuf,
        /// Events between snapshots.
        #[arg(long, default_value_t = 10_000)]
        every: u64,
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

#[derive(Debug, Subcommand)]
enum TokenAction {
    /// Issue a token; its secret is printed once.
    Create {
        /// admin, writer, reviewer, lead, tenant-admin or subscriber.
        #[arg(long)]
        role: String,
        /// The principal its events are attributed to (e.g. staff:ana).
        #[arg(long)]
        principal: String,
        /// For tenant-admin: its tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id.
    Revoke {
        /// The token's id.
        id: String,
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
        Command::Serve {
            data,
            listen,
            trusted_proxy,
            stall_limit,
            nats,
            thresholds,
            cache_mb,
        } => {
            let store_config = custos_store::StoreConfig {
                cache_bytes: cache_mb.max(1) << 20,
                ..custos_store::StoreConfig::default()
            };
            let config = custos_server::Config {
                trusted_proxy,
                nats,
                stall_limit: std::time::Duration::from_secs(stall_limit.max(1)),
                ..custos_server::Config::default()
            };
            serve::run(&data, &listen, store_config, config, thresholds.as_deref())
                .map(|()| ExitCode::SUCCESS)
        }
        Command::Verify { data, file, head } => verify::run(data.as_deref(), file.as_deref(), head),
        Command::Export { data, out } => export::run(&data, &out).map(|()| ExitCode::SUCCESS),
        Command::Tenants { data, json } => access::tenants(&data, json),
        Command::Snapshot { data, every } => access::snapshot(&data, every),
        Command::Access {
            data,
            server,
            token,
            tenant,
            principal,
            as_of,
            at_seq,
            explain,
            json,
        } => {
            let point = match (as_of, at_seq) {
                (Some(t), _) => access::Point::AsOf(t),
                (None, Some(s)) => access::Point::AtSeq(custos_core::Seq(s)),
                (None, None) => access::Point::Now,
            };
            let subject = match (tenant, principal) {
                (Some(t), _) => access::Subject::Tenant(t),
                (None, Some(p)) => access::Subject::Principal(p),
                (None, None) => unreachable!("clap requires one of --tenant and --principal"),
            };
            match server {
                Some(server) => remote::Remote::new(&server, token)
                    .and_then(|r| remote::access(&r, subject, point, explain, json)),
                None => access::access(&data, subject, point, explain, json),
            }
        }
        Command::Audit {
            server,
            token,
            tenant,
            actor,
            kind,
            from,
            to,
            max,
            json,
        } => remote::Remote::new(&server, token).and_then(|r| {
            let q = remote::AuditQuery {
                tenant,
                actor,
                kind,
                from,
                to,
                max,
            };
            remote::audit(&r, &q, json)
        }),
        Command::Findings {
            data,
            from,
            to,
            rule,
            staff,
            tenant,
            format,
        } => findings::run(
            &data,
            &findings::Query {
                from,
                to,
                rule,
                staff,
                tenant,
                format,
            },
        ),
        Command::Tail {
            server,
            token,
            from,
            tenant,
            kind,
            stream,
            verify,
            count,
            json,
        } => remote::Remote::new(&server, token).and_then(|r| {
            let q = remote::TailQuery {
                from,
                tenant,
                kind,
                stream,
                verify,
                count,
                json,
            };
            remote::tail(&r, &q)
        }),
        Command::Token {
            server,
            token,
            json,
            action,
        } => remote::Remote::new(&server, token).and_then(|r| match action {
            TokenAction::Create {
                role,
                principal,
                tenant,
            } => remote::token_create(&r, &role, &principal, tenant.as_deref(), json),
            TokenAction::List => remote::token_list(&r, json),
            TokenAction::Revoke { id } => remote::token_revoke(&r, &id),
        }),
        Command::Demo { data, events, seed } => {
            demo::run(&data, events, seed).map(|()| ExitCode::SUCCESS)
        }
    };
    match outcome {
        Ok(code) => code,
        // The reader went away (`custos access … | head`): nothing more to say.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("custos: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
