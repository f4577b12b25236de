//! Flags, start-up errors, start-up lines and static files.

mod common;

use common::{get, run_to_exit, send, Server, KEY};
use reqwest::{Method, StatusCode};

#[test]
fn help_documents_every_flag() {
    let (code, out) = run_to_exit(&["--help"], &[]);
    assert_eq!(code, Some(0), "{out}");
    for flag in [
        "--listen",
        "--mock-api",
        "--upstream",
        "--no-proxy",
        "--cookie-key-file",
        "FD_PROXY_COOKIE_KEY",
        "--token-lifetime",
        "--refresh-delay-ms",
        "--rotate-refresh-tokens",
        "--static-dir",
        "--allowed-origin",
        "--mock-cors-origin",
        "--upstream-timeout-ms",
        "--max-upstream-body-bytes",
        "--max-connections",
        "--header-read-timeout-ms",
        "--idle-timeout-ms",
        "--log-format",
        "RUST_LOG",
        "--version",
    ] {
        assert!(out.contains(flag), "--help does not mention {flag}:\n{out}");
    }
    let (code, out) = run_to_exit(&["--version"], &[]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with("fd-proxy "), "{out}");
}

#[test]
fn proxy_without_a_key_exits_2_with_a_clear_message() {
    for args in [
        // The mock makes a throwaway key on loopback only.
        &["--listen", "0.0.0.0:0", "--mock-api"][..],
        &["--upstream", "https://partner.example.com/v1"][..],
        // Without the mock, not even on loopback.
        &[
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "http://127.0.0.1:9/v1",
        ][..],
    ] {
        let (code, out) = run_to_exit(args, &[]);
        assert_eq!(code, Some(2), "{args:?}: {out}");
        assert!(
            out.contains("the proxy needs a cookie key")
                && out.contains("--cookie-key-file")
                && out.contains("FD_PROXY_COOKIE_KEY"),
            "{out}"
        );
        assert_eq!(out.trim().lines().count(), 1, "one line: {out}");
        assert!(
            !out.contains("listening"),
            "must fail before listening: {out}"
        );
    }
}

#[tokio::test]
async fn the_mock_alone_on_loopback_runs_with_a_throwaway_key_and_says_so() {
    let server = Server::start_with_env(&["--mock-api"], &[]);
    let out = server.output();
    let said: Vec<_> = out.lines().filter(|l| l.contains("cookie key")).collect();
    assert_eq!(said.len(), 1, "one line about the key: {out}");
    assert!(
        said[0].contains("random") && said[0].contains("die with the process"),
        "{out}"
    );
    assert!(out.contains("/proxy (refresh-token proxy"), "{out}");
    // The proxy works with it: sign-in sets the cookie, and the cookie refreshes.
    let signed_in = server
        .fd_call(Method::POST, "/proxy/auth", Some(&common::alice()))
        .await;
    assert_eq!(signed_in.status, StatusCode::OK, "{signed_in:?}");
    let cookie = signed_in.refresh_cookie().expect("refresh cookie");
    let refreshed = common::fd_call(
        Method::POST,
        &server.url("/proxy/auth/refresh_token"),
        &server.base,
        &[("cookie", cookie.header().as_str())],
        Some(&serde_json::json!({})),
    )
    .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{refreshed:?}");
    assert!(refreshed.json()["AccessToken"].is_string());
}

#[test]
fn short_or_unreadable_keys_are_rejected() {
    let (code, out) = run_to_exit(&["--mock-api"], &[("FD_PROXY_COOKIE_KEY", &KEY[..40])]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("too short"), "{out}");

    let dir = temp_dir("short-key");
    let file = dir.join("key");
    // 60 bytes plus trailing whitespace: still too short once trimmed.
    std::fs::write(&file, format!("{}\n\n  ", &KEY[..60])).expect("write key");
    let path = file.to_string_lossy().into_owned();
    let (code, out) = run_to_exit(&["--mock-api", "--cookie-key-file", &path], &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("too short"), "{out}");

    let missing = dir.join("nope").to_string_lossy().into_owned();
    let (code, out) = run_to_exit(&["--mock-api", "--cookie-key-file", &missing], &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("cannot read --cookie-key-file"), "{out}");
}

#[test]
fn a_missing_static_dir_is_a_start_up_error() {
    let (code, out) = run_to_exit(&["--static-dir", "/definitely/not/here"], &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("--static-dir"), "{out}");
}

#[tokio::test]
async fn key_file_works_and_no_proxy_needs_no_key() {
    let dir = temp_dir("key-file");
    let file = dir.join("key");
    std::fs::write(&file, format!("{KEY}\n")).expect("write key");
    let path = file.to_string_lossy().into_owned();
    let server = Server::start_with_env(&["--mock-api", "--cookie-key-file", &path], &[]);
    let out = server.output();
    assert!(out.contains("alice / wonderland"), "{out}");
    assert!(out.contains("bob / builder (MFA code 123456)"), "{out}");
    assert!(out.contains("3600"), "token lifetime printed: {out}");
    assert!(out.contains("/api") && out.contains("/proxy"), "{out}");
    assert_eq!(out.matches("fd-proxy listening on").count(), 1);

    let server = Server::start_with_env(&["--mock-api", "--no-proxy"], &[]);
    let reply = get(&server.url("/api/demo-config"), &[]).await;
    assert_eq!(reply.json()["proxy"], serde_json::Value::Null);
    let reply = send(Method::POST, &server.url("/proxy/auth"), &[], None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn static_dir_serves_the_single_page_app() {
    let dir = temp_dir("static");
    std::fs::write(dir.join("index.html"), "<!doctype html><title>app</title>").expect("write");
    std::fs::create_dir_all(dir.join("assets")).expect("mkdir");
    std::fs::write(dir.join("assets/app.js"), "console.log('app')").expect("write");
    let static_dir = dir.0.to_string_lossy().into_owned();

    for args in [
        vec!["--mock-api", "--static-dir", static_dir.as_str()],
        vec!["--static-dir", static_dir.as_str()],
    ] {
        let server = Server::start(&args);
        for path in ["/", "/login", "/deep/link?x=1"] {
            let reply = get(&server.url(path), &[]).await;
            assert_eq!(reply.status, StatusCode::OK, "{args:?} {path}");
            assert!(
                reply.text.contains("<title>app</title>"),
                "{path}: {}",
                reply.text
            );
            assert!(reply
                .header("content-type")
                .unwrap_or_default()
                .starts_with("text/html"));
        }
        let reply = get(&server.url("/assets/app.js"), &[]).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.text, "console.log('app')");

        // API paths never fall back to the page, mounted or not (a mounted proxy answers its
        // CSRF 403 first).
        for path in ["/api/nope", "/api", "/proxy/nope", "/proxy/auth/nope"] {
            let reply = get(&server.url(path), &[]).await;
            assert!(
                [StatusCode::NOT_FOUND, StatusCode::FORBIDDEN].contains(&reply.status),
                "{args:?} {path}: {reply:?}"
            );
            assert_eq!(
                reply.header("content-type"),
                Some("application/json"),
                "{path}"
            );
            assert!(!reply.text.contains("<title>"), "{path}");
        }
        let reply = get(&server.url("/api/nope"), &[]).await;
        assert_eq!(
            (reply.status, reply.error().as_str()),
            (StatusCode::NOT_FOUND, "not_found")
        );
        let head = send(Method::HEAD, &server.url("/login"), &[], None).await;
        assert_eq!(head.status, StatusCode::OK);
    }
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn join(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(name: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("fd-proxy-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    TempDir(dir)
}
