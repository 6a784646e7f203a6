//! `custos serve`: open the store, serve HTTP, shut down gracefully on SIGINT/SIGTERM.

use std::path::Path;

use anyhow::Context;
use custos_server::AppState;
use custos_store::{Store, StoreConfig};

pub fn run(
    data: &Path,
    listen: &str,
    store_config: StoreConfig,
    config: custos_server::Config,
    thresholds: Option<&Path>,
) -> anyhow::Result<()> {
    // Read the thresholds before anything starts: a bad file stops here, exit 2.
    let thresholds = thresholds
        .map(
            |path| -> anyhow::Result<custos_core::findings::Thresholds> {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                serde_json::from_str(&text).with_context(|| {
                    format!(
                        "{} is not a thresholds file (docs/misuse.md)",
                        path.display()
                    )
                })
            },
        )
        .transpose()?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let store = Store::open(data, store_config)?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let state = AppState::with_config(store, config);
        if let Some((secret, path)) = custos_server::tokens::bootstrap(&state.store, &state.live)
            .await
            .map_err(|p| anyhow::anyhow!("cannot issue the first admin token: {}", p.detail))?
        {
            // Shown once; the log keeps only its hash.
            say(&format!(
                "custos: first start: admin token {secret} (also in {}, mode 0600)",
                path.display()
            ));
        }
        if let Some(t) = thresholds {
            let version = custos_server::findings::set_thresholds(&state, t)
                .await
                .map_err(|p| anyhow::anyhow!("cannot record the thresholds: {}", p.detail))?;
            say(&format!(
                "custos: misuse thresholds version {version} in force"
            ));
        }
        let addr = listener.local_addr()?;
        let head = state.store.head();
        // Tests and scripts read this line to learn the port; the admin token file
        // exists by then.
        say(&format!(
            "custos listening on http://{addr} (data {}, head {head})",
            data.display()
        ));
        custos_server::serve(listener, state, shutdown_signal()).await?;
        eprintln!("custos: stopped, log flushed");
        Ok(())
    })
}

/// Prints a line; a closed stdout does not stop a server.
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
