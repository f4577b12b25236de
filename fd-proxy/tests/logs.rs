//! Nothing secret in the logs, even at debug level: no token, session, cookie, key or query.

mod common;

use common::{alice, bob, fd_call, get_as, post, send, Server, KEY};
use reqwest::Method;
use serde_json::{json, Value};

/// Adds `value[name]` to the secrets when it is a string.
fn keep(secrets: &mut Vec<String>, value: &Value, name: &str) {
    if let Some(s) = value[name].as_str() {
        secrets.push(s.to_owned());
    }
}

/// Runs a full flow and returns every secret value the server handed out or received.
async fn full_flow(server: &Server) -> Vec<String> {
    let mut secrets = vec![KEY.to_owned(), KEY[..64].to_owned()];

    // Direct sign-in, refresh, protected calls with a query string.
    let direct = post(&server.url("/api/auth"), &[], &alice()).await.json();
    keep(&mut secrets, &direct, "AccessToken");
    keep(&mut secrets, &direct, "IdToken");
    keep(&mut secrets, &direct, "RefreshToken");
    let refreshed = post(
        &server.url("/api/auth/refresh_token"),
        &[],
        &json!({"token": direct["RefreshToken"]}),
    )
    .await
    .json();
    keep(&mut secrets, &refreshed, "AccessToken");
    keep(&mut secrets, &refreshed, "IdToken");
    let access = direct["AccessToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let me = get_as(
        &server.url("/api/me?delay_ms=1&secret_query=q-SECRET-123"),
        &access,
        "acme-eu",
    )
    .await;
    assert!(me.status.is_success());
    get_as(&server.url("/api/orders?delay_ms=0"), &access, "acme-us").await;
    // Failed calls.
    get_as(&server.url("/api/me"), &access, "builders-uk").await;
    get_as(&server.url("/api/me"), "forged.token.value", "acme-eu").await;
    post(
        &server.url("/api/auth"),
        &[],
        &json!({"username": "alice", "password": "wonderland-typo"}),
    )
    .await;
    secrets.push("wonderland-typo".to_owned());

    // MFA, directly and through the proxy.
    for base in ["/api/auth", "/proxy/auth"] {
        let challenge = server
            .fd_call(Method::POST, base, Some(&bob()))
            .await
            .json();
        keep(&mut secrets, &challenge, "Session");
        let session = challenge["Session"].clone();
        let url = server.url(&format!("{base}/challenge/mfa-token"));
        fd_call(
            Method::PUT,
            &url,
            &server.base,
            &[],
            Some(&json!({"session": session, "code": "000000"})),
        )
        .await;
        let tokens = fd_call(
            Method::PUT,
            &url,
            &server.base,
            &[],
            Some(&json!({"session": session, "code": "123456"})),
        )
        .await;
        if let Some(cookie) = tokens.refresh_cookie() {
            secrets.push(cookie.value.clone());
        }
        let tokens = tokens.json();
        keep(&mut secrets, &tokens, "AccessToken");
        keep(&mut secrets, &tokens, "IdToken");
        keep(&mut secrets, &tokens, "RefreshToken");
    }

    // Sign-in, refresh and logout through the proxy, plus failures.
    let signed_in = server
        .fd_call(Method::POST, "/proxy/auth", Some(&alice()))
        .await;
    let cookie = signed_in.refresh_cookie().expect("cookie");
    secrets.push(cookie.value.clone());
    keep(&mut secrets, &signed_in.json(), "AccessToken");
    let cookie_header = cookie.header();
    let refreshed = fd_call(
        Method::POST,
        &server.url("/proxy/auth/refresh_token?x=q-SECRET-456"),
        &server.base,
        &[("cookie", &cookie_header)],
        Some(&json!({"token": null})),
    )
    .await;
    assert!(refreshed.status.is_success(), "{refreshed:?}");
    keep(&mut secrets, &refreshed.json(), "AccessToken");
    fd_call(
        Method::POST,
        &server.url("/proxy/auth/refresh_token"),
        &server.base,
        &[("cookie", "fd_refresh=forged-cookie-value")],
        None,
    )
    .await;
    send(
        Method::POST,
        &server.url("/proxy/auth"),
        &[("origin", "http://evil.example")],
        Some(&alice()),
    )
    .await;
    fd_call(
        Method::POST,
        &server.url("/proxy/auth/logout"),
        &server.base,
        &[("cookie", &cookie_header)],
        None,
    )
    .await;
    secrets.extend(["q-SECRET-123", "q-SECRET-456", "forged-cookie-value"].map(str::to_owned));
    secrets.retain(|s| !s.is_empty());
    secrets
}

/// The first thing in `text` shaped like one of the mock's tokens: a JWT (`eyJ` + base64url) or
/// an opaque refresh token (`rt.` + base64url).
fn token_like(text: &str) -> Option<String> {
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    for prefix in ["eyJ", "rt."] {
        for (at, _) in text.match_indices(prefix) {
            let rest = &text[at + prefix.len()..];
            let run = rest.chars().take_while(|c| is_b64(*c)).count();
            if run >= 20 {
                return Some(text[at..at + prefix.len() + run].to_owned());
            }
        }
    }
    None
}

async fn check(log_format: &str) {
    let mut server = Server::start_with_env(
        &["--mock-api", "--log-format", log_format],
        &[("FD_PROXY_COOKIE_KEY", KEY), ("RUST_LOG", "debug")],
    );
    let secrets = full_flow(&server).await;
    assert!(secrets.len() > 15, "{secrets:?}");
    server.stop();
    let out = server.output();
    // The capture is real: request lines with method, path and status are there.
    assert!(out.contains("/proxy/auth/refresh_token"), "{out}");
    assert!(out.contains("/api/me"), "{out}");
    assert!(
        out.contains("status") && out.contains("latency_ms"),
        "{out}"
    );
    assert!(out.contains("refresh cookie set"), "{out}");
    for secret in &secrets {
        assert!(
            !out.contains(secret.as_str()),
            "{log_format} log contains {secret:?}:\n{out}"
        );
    }
    if log_format == "json" {
        let lines: Vec<&str> = out.lines().filter(|l| l.starts_with('{')).collect();
        assert!(lines.len() > 10, "{out}");
        for line in lines {
            let _: Value = serde_json::from_str(line).expect("a JSON log line");
        }
    }
    // Nor any token the test never saw (the refresh tokens the proxy keeps in its cookie).
    assert_eq!(token_like(&out), None, "{out}");
    // No query string, not even its names.
    assert!(
        !out.contains("secret_query") && !out.contains("delay_ms="),
        "{out}"
    );
}

#[tokio::test]
async fn text_logs_hold_no_secrets() {
    check("text").await;
}

#[tokio::test]
async fn json_logs_hold_no_secrets() {
    check("json").await;
}

/// `--upstream` may carry credentials (`https://user:pass@host`); they are never printed: not in
/// the start-up lines, the logs at any level, nor a start-up error.
#[tokio::test]
async fn upstream_credentials_are_never_printed() {
    const PASSWORD: &str = "s3cret";
    for (log_format, level) in [("text", "trace"), ("json", "debug")] {
        let mut server = Server::start_with_env(
            &[
                "--upstream",
                "http://user:s3cret@127.0.0.1:1/v1",
                "--log-format",
                log_format,
            ],
            &[("FD_PROXY_COOKIE_KEY", KEY), ("RUST_LOG", level)],
        );
        // Port 1 refuses: the failed call's error is logged.
        let reply = server
            .fd_call(Method::POST, "/proxy/auth", Some(&alice()))
            .await;
        assert_eq!(reply.error(), "upstream_unavailable");
        assert!(!reply.text.contains(PASSWORD), "{reply:?}");
        server.stop();
        let out = server.output();
        assert!(out.contains("upstream call failed"), "{out}");
        // Still says where it forwards to.
        assert!(out.contains("127.0.0.1:1/v1"), "{out}");
        assert!(!out.contains(PASSWORD), "{log_format}/{level}:\n{out}");
        assert!(!out.contains("user:"), "{log_format}/{level}:\n{out}");
    }
    // Refused at start-up: the message names the flag, not the password.
    for bad in [
        "http://user:s3cret@127.0.0.1:1/v1?x=1",
        "http://user:s3cret@exa mple.com/v1",
        "ftp://user:s3cret@127.0.0.1/v1",
        "user:s3cret@127.0.0.1/v1",
    ] {
        let (code, out) =
            common::run_to_exit(&["--upstream", bad], &[("FD_PROXY_COOKIE_KEY", KEY)]);
        assert_eq!(code, Some(2), "{bad}: {out}");
        assert!(out.contains("--upstream"), "{out}");
        assert!(!out.contains(PASSWORD), "{bad}: {out}");
    }
}
