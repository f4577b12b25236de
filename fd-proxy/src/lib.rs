//! fd-fetch's refresh-token proxy for `refreshTokenIn: "cookie"`; with `--mock-api` it also plays
//! the partner API for development, and `--static-dir` serves a built page.
//!
//! The mock (its demo users, its flags) is compiled only with the cargo feature `mock`: a
//! production build (`cargo build --release -p fd-proxy`) holds no demo account and does not know
//! `--mock-api`.
//!
//! Layout: [`cli`] checks the flags into a [`cli::Config`]; `mock` is the mock partner API
//! (/api, feature `mock`); [`proxy`] the refresh-token proxy (/proxy); [`statics`] the page; [`logging`] the
//! request log; [`server`] the accept loop and its connection limits. [`main_with`] ties them
//! together.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod cli;
#[cfg(feature = "mock")]
pub mod jwt;
pub mod logging;
#[cfg(feature = "mock")]
pub mod mock;
pub mod proxy;
pub mod respond;
pub mod server;
pub mod statics;

use std::{
    io::Write as _,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    process::ExitCode,
};

use axum::Router;
use tokio::net::TcpListener;

use crate::cli::{Args, Config};

/// Exit code for a configuration problem found before listening (the same code clap uses for
/// bad flags).
const EXIT_CONFIG: u8 = 2;

/// Runs the server with these flags until SIGINT or SIGTERM.
pub fn main_with(args: Args) -> ExitCode {
    let config = match Config::from_args(args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("fd-proxy: {message}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    logging::init(config.log_format);
    if config.ephemeral_key {
        eprintln!(
            "fd-proxy: no cookie key given: the proxy uses a random one made for this run (mock on \
             loopback); its refresh-token cookies die with the process"
        );
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("fd-proxy: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("fd-proxy: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Binds, prints the start-up lines, and serves until a shutdown signal.
async fn serve(config: Config) -> Result<(), String> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let (app, mounted) = app(&config, bound)?;
    print_banner(&config, bound, &mounted);
    tracing::info!(%bound, "listening");
    server::serve(listener, app, config.limits, shutdown_signal()).await;
    tracing::info!("shut down");
    Ok(())
}

/// The whole application for a server bound at `bound`, and a description of what is mounted
/// (for the start-up lines).
pub fn app(config: &Config, bound: SocketAddr) -> Result<(Router, Vec<String>), String> {
    let mut router = Router::new();
    let mut mounted = Vec::new();
    match &config.mock {
        #[cfg(feature = "mock")]
        Some(settings) => {
            router = router.nest(
                mock::MOUNT,
                mock::router(mock::MockConfig {
                    token_lifetime: settings.token_lifetime,
                    refresh_delay: settings.refresh_delay,
                    rotate_refresh_tokens: settings.rotate_refresh_tokens,
                    proxy_path: config.proxy.then_some("/proxy"),
                    allowed_origins: settings.cors_origins.clone(),
                }),
            );
            mounted.push("/api (mock partner API)".to_owned());
        }
        _ => router = statics::reserve_prefix(router, "/api"),
    }
    match (&config.cookie_key, config.proxy) {
        (Some(key), true) => {
            let (upstream, upstream_is_local) = match &config.upstream {
                Some(upstream) => (upstream.clone(), false),
                None => (format!("http://{}/api", reachable(bound)), true),
            };
            mounted.push(format!(
                "/proxy (refresh-token proxy to {})",
                cli::redact_url(&upstream)
            ));
            router = router.nest(
                "/proxy",
                proxy::router(proxy::ProxyConfig {
                    upstream,
                    key: key.clone(),
                    allowed_origins: config.allowed_origins.clone(),
                    loopback: bound.ip().is_loopback(),
                    timeout: config.upstream_timeout,
                    max_body: config.max_upstream_body,
                    upstream_is_local,
                })?,
            );
        }
        // `Config` guarantees a key whenever the proxy is on; without one, stay off.
        _ => router = statics::reserve_prefix(router, "/proxy"),
    }
    router = match &config.static_dir {
        Some(dir) => {
            mounted.push(format!("static files from {}", dir.display()));
            router.fallback_service(statics::serve_dir(dir))
        }
        None => router.fallback(respond::not_found),
    };
    Ok((router.layer(logging::layer()), mounted))
}

/// A CORS allow-list of origins (`--allowed-origin`, `--mock-cors-origin`; already normalised by
/// [`cli`], so each is a valid header value).
fn origin_list(origins: &[String]) -> tower_http::cors::AllowOrigin {
    tower_http::cors::AllowOrigin::list(
        origins
            .iter()
            .filter_map(|o| axum::http::HeaderValue::from_str(o).ok()),
    )
}

/// An address this process can call itself on: a wildcard bind is reached over loopback.
fn reachable(bound: SocketAddr) -> SocketAddr {
    match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), bound.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), bound.port())
        }
        _ => bound,
    }
}

/// The start-up lines on stdout. Scripts and tests read the first from a pipe, so flush.
fn print_banner(config: &Config, bound: SocketAddr, mounted: &[String]) {
    let mut lines = vec![format!("fd-proxy listening on http://{bound}")];
    #[cfg(feature = "mock")]
    if let Some(settings) = &config.mock {
        lines.push(format!("  demo users: {}", mock::DEMO_USERS));
        lines.push(format!(
            "  mock token lifetime: {} s, refresh delay: {} ms, {}",
            settings.token_lifetime,
            settings.refresh_delay.as_millis(),
            if settings.rotate_refresh_tokens {
                "refresh tokens rotate on every refresh"
            } else {
                "refresh tokens do not rotate"
            }
        ));
        lines.push(format!(
            "  mock CORS: {}; request log: GET/DELETE {}/_mock/requests",
            if settings.cors_origins.is_empty() {
                "any origin".to_owned()
            } else {
                settings.cors_origins.join(", ")
            },
            mock::MOUNT
        ));
    }
    lines.push(format!(
        "  limits: {} connections, header read timeout {} ms, idle timeout {} ms",
        config.limits.max_connections,
        config.limits.header_read_timeout.as_millis(),
        config.limits.idle_timeout.as_millis(),
    ));
    if config.proxy {
        lines.push(format!(
            "  proxy: upstream timeout {} ms, upstream answers up to {} bytes",
            config.upstream_timeout.as_millis(),
            config.max_upstream_body,
        ));
    }
    if mounted.is_empty() {
        lines.push(if cfg!(feature = "mock") {
            "  mounted: nothing (pass --mock-api, --upstream or --static-dir)".to_owned()
        } else {
            "  mounted: nothing (pass --upstream or --static-dir)".to_owned()
        });
    } else {
        lines.push(format!("  mounted: {}", mounted.join(", ")));
    }
    let mut out = std::io::stdout().lock();
    for line in lines {
        // A closed stdout must not stop the server.
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM, so in-flight requests finish before exiting.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
