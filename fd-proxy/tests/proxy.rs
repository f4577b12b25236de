//! The refresh-token proxy under /proxy: cookie handling, CSRF checks, upstream failures.

mod common;

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    sync::mpsc,
};

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::header::SET_COOKIE,
    response::{IntoResponse, Response},
    routing::post,
    Router,
};
use axum_extra::extract::cookie::{Cookie, Key, PrivateCookieJar};
use common::{alice, bob, fd_call, get_as, send, Reply, Server, KEY};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const MONTH_SECS: &str = "2592000";

/// A stand-in upstream that counts and records every request. Its first path segment picks the
/// behaviour, so one fake serves several proxies (`--upstream {base}/{mode}`).
#[derive(Clone, Default)]
struct Fake {
    hits: Arc<AtomicUsize>,
    /// (path, body) of every request.
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

impl Fake {
    async fn start() -> (Fake, String) {
        let fake = Fake::default();
        let app = Router::new()
            .route("/{mode}/auth", post(fake_auth))
            .route("/{mode}/auth/refresh_token", post(fake_refresh))
            .fallback(|State(fake): State<Fake>| async move {
                fake.hits.fetch_add(1, Ordering::SeqCst);
                axum::http::StatusCode::NOT_FOUND
            })
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (fake, base)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn seen(&self) -> Vec<(String, String)> {
        self.seen.lock().expect("lock").clone()
    }
}

fn record(fake: &Fake, path: String, body: &Bytes) {
    fake.hits.fetch_add(1, Ordering::SeqCst);
    fake.seen
        .lock()
        .expect("lock")
        .push((path, String::from_utf8_lossy(body).into_owned()));
}

fn json_reply(status: u16, body: Value) -> Response {
    (
        axum::http::StatusCode::from_u16(status).expect("status"),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn fake_auth(State(fake): State<Fake>, Path(mode): Path<String>, body: Bytes) -> Response {
    record(&fake, format!("/{mode}/auth"), &body);
    let tokens = json!({"AccessToken": "fake-access", "RefreshToken": "rt.fake-signin", "ExpiresIn": 60, "TokenType": "Bearer"});
    match mode.as_str() {
        "nested" => json_reply(
            200,
            json!({"AuthenticationResult": tokens, "ChallengeParameters": {}}),
        ),
        "broken" => json_reply(500, json!({"error": "boom"})),
        "notjson" => (axum::http::StatusCode::OK, "<html>hi</html>").into_response(),
        _ => json_reply(200, tokens),
    }
}

async fn fake_refresh(State(fake): State<Fake>, Path(mode): Path<String>, body: Bytes) -> Response {
    record(&fake, format!("/{mode}/auth/refresh_token"), &body);
    match mode.as_str() {
        "reject" => json_reply(401, json!({"error": "invalid_refresh_token"})),
        "forbid" => json_reply(403, json!({"error": "nope"})),
        "broken" => json_reply(500, json!({"error": "boom"})),
        "notjson" => (axum::http::StatusCode::OK, "<html>hi</html>").into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            json_reply(200, json!({"AccessToken": "late"}))
        }
        "rotate" => json_reply(
            200,
            json!({"AccessToken": "fake-access-2", "RefreshToken": "rt.rotated", "TokenType": "Bearer"}),
        ),
        _ => json_reply(
            200,
            json!({"AccessToken": "fake-access-2", "IdToken": "fake-id-2", "TokenType": "Bearer"}),
        ),
    }
}

/// A cookie value as a proxy with key `key` would set for `refresh_token`.
fn encrypted_cookie(key: &[u8], refresh_token: &str) -> String {
    let jar = PrivateCookieJar::new(Key::from(&key[..64]))
        .add(Cookie::new("fd_refresh", refresh_token.to_owned()));
    let response = (jar, ()).into_response();
    let header = response.headers()[SET_COOKIE]
        .to_str()
        .expect("ascii")
        .to_owned();
    let pair = header.split(';').next().expect("pair");
    pair.split_once('=').expect("name=value").1.to_owned()
}

fn str_field<'a>(value: &'a Value, name: &str) -> &'a str {
    value[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} missing in {value}"))
}

fn assert_no_refresh_token(body: &Value) {
    let text = body.to_string();
    assert!(!text.contains("RefreshToken"), "{text}");
    assert!(!text.contains("rt."), "{text}");
}

async fn refresh(server: &Server, cookie: Option<&str>) -> Reply {
    let cookie_header = cookie.map(|c| format!("fd_refresh={c}"));
    let extra: Vec<(&str, &str)> = cookie_header
        .iter()
        .map(|c| ("cookie", c.as_str()))
        .collect();
    fd_call(
        Method::POST,
        &server.url("/proxy/auth/refresh_token"),
        &server.base,
        &extra,
        Some(&json!({"token": null, "device_key": null, "device_group_key": null})),
    )
    .await
}

#[tokio::test]
async fn sign_in_refresh_and_logout_through_the_proxy() {
    let server = Server::start(&["--mock-api"]);
    let reply = server
        .fd_call(Method::POST, "/proxy/auth", Some(&alice()))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let body = reply.json();
    assert!(str_field(&body, "AccessToken").starts_with("ey"));
    assert_eq!(body["ExpiresIn"], 3600);
    assert_no_refresh_token(&body);

    let cookie = reply.refresh_cookie().expect("Set-Cookie fd_refresh");
    assert!(cookie.has("httponly"), "{}", cookie.raw);
    assert_eq!(
        cookie
            .attr("samesite")
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("strict")
    );
    assert_eq!(cookie.attr("path"), Some("/proxy/auth"));
    assert_eq!(cookie.attr("max-age"), Some(MONTH_SECS));
    assert!(
        !cookie.has("secure"),
        "plain http on loopback: {}",
        cookie.raw
    );
    assert!(
        !cookie.value.is_empty() && !cookie.value.contains("rt."),
        "{}",
        cookie.raw
    );

    // Refresh with the cookie: a new working access token, and no new cookie (non-rotating).
    let refreshed = refresh(&server, Some(&cookie.value)).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{refreshed:?}");
    let body = refreshed.json();
    assert_no_refresh_token(&body);
    assert!(refreshed.refresh_cookie().is_none());
    let me = get_as(
        &server.url("/api/me"),
        str_field(&body, "AccessToken"),
        "acme-eu",
    )
    .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["user"], "alice");

    // Behind an https reverse proxy the cookie is Secure.
    let https_origin = server.base.replace("http://", "https://");
    let reply = fd_call(
        Method::POST,
        &server.url("/proxy/auth"),
        &https_origin,
        &[("x-forwarded-proto", "https")],
        Some(&alice()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert!(reply.refresh_cookie().expect("cookie").has("secure"));

    let logout = fd_call(
        Method::POST,
        &server.url("/proxy/auth/logout"),
        &server.base,
        &[("cookie", &cookie.header())],
        None,
    )
    .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    let cleared = logout.refresh_cookie().expect("clearing Set-Cookie");
    assert_eq!(cleared.value, "");
    assert_eq!(cleared.attr("max-age"), Some("0"));
    assert_eq!(cleared.attr("path"), Some("/proxy/auth"));

    // Wrong password passes through.
    let wrong = server
        .fd_call(
            Method::POST,
            "/proxy/auth",
            Some(&json!({"username": "alice", "password": "x"})),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.error(), "invalid_credentials");
    assert!(wrong.refresh_cookie().is_none());
}

#[tokio::test]
async fn a_rotating_mock_renews_the_cookie_and_refuses_a_replayed_one() {
    let server = Server::start(&["--mock-api", "--rotate-refresh-tokens"]);
    let reply = server
        .fd_call(Method::POST, "/proxy/auth", Some(&alice()))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_no_refresh_token(&reply.json());
    let signed_in = reply.refresh_cookie().expect("cookie after sign-in");

    // Two refreshes in sequence, each with the cookie the previous answer set.
    let mut cookies = vec![signed_in];
    for round in 1..=2 {
        let current = cookies.last().expect("a cookie").value.clone();
        let reply = refresh(&server, Some(&current)).await;
        assert_eq!(reply.status, StatusCode::OK, "round {round}: {reply:?}");
        let body = reply.json();
        assert_no_refresh_token(&body);
        let me = get_as(
            &server.url("/api/me"),
            str_field(&body, "AccessToken"),
            "acme-eu",
        )
        .await;
        assert_eq!(me.status, StatusCode::OK, "round {round}");
        let renewed = reply.refresh_cookie().expect("rotated cookie");
        assert_ne!(renewed.value, current, "round {round}");
        assert!(renewed.has("httponly"), "{}", renewed.raw);
        assert_eq!(renewed.attr("path"), Some("/proxy/auth"));
        assert_eq!(renewed.attr("max-age"), Some(MONTH_SECS));
        cookies.push(renewed);
    }

    // The cookies the rotations replaced carry retired tokens: the mock's 400 keeps its status,
    // and the cookie is cleared.
    for stale in &cookies[..2] {
        let reply = refresh(&server, Some(&stale.value)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{reply:?}");
        assert_eq!(
            reply.json(),
            json!({"error": "refresh_rejected", "upstreamStatus": 400})
        );
        let cleared = reply.refresh_cookie().expect("cookie cleared");
        assert_eq!(cleared.value, "");
        assert_eq!(cleared.attr("max-age"), Some("0"));
        assert_eq!(cleared.attr("path"), Some("/proxy/auth"));
    }

    // The newest cookie still works (a replay does not end the session).
    let reply = refresh(&server, Some(&cookies[2].value)).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert!(reply.refresh_cookie().is_some());
}

#[tokio::test]
async fn mfa_through_the_proxy_sets_the_cookie() {
    let server = Server::start(&["--mock-api"]);
    let challenge = server
        .fd_call(Method::POST, "/proxy/auth", Some(&bob()))
        .await;
    assert_eq!(challenge.status, StatusCode::OK);
    assert!(challenge.refresh_cookie().is_none());
    let body = challenge.json();
    assert_eq!(body["ChallengeName"], "SOFTWARE_TOKEN_MFA");
    let session = str_field(&body, "Session").to_owned();

    let url = server.url("/proxy/auth/challenge/mfa-token");
    let wrong = fd_call(
        Method::PUT,
        &url,
        &server.base,
        &[],
        Some(&json!({"code": "111111", "session": session})),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.error(), "invalid_mfa_code");

    let right = fd_call(
        Method::PUT,
        &url,
        &server.base,
        &[],
        Some(&json!({"code": "123456", "session": session})),
    )
    .await;
    assert_eq!(right.status, StatusCode::OK, "{right:?}");
    let body = right.json();
    assert_no_refresh_token(&body);
    assert_eq!(
        common::jwt_claims(str_field(&body, "AccessToken"))["sub"],
        "bob"
    );
    let cookie = right.refresh_cookie().expect("cookie after MFA");
    assert!(cookie.has("httponly"));

    let refreshed = refresh(&server, Some(&cookie.value)).await;
    assert_eq!(refreshed.status, StatusCode::OK);
    let me = get_as(
        &server.url("/api/me"),
        str_field(&refreshed.json(), "AccessToken"),
        "builders-uk",
    )
    .await;
    assert_eq!(me.json()["user"], "bob");
}

#[tokio::test]
async fn csrf_checks_come_first() {
    let (fake, upstream) = Fake::start().await;
    let upstream = format!("{upstream}/ok");
    let server = Server::start(&[
        "--upstream",
        &upstream,
        "--allowed-origin",
        "http://app.example:3000",
    ]);
    let url = server.url("/proxy/auth");
    let https_origin = server.base.replacen("http://", "https://", 1);
    let cases: [(&str, Vec<(&str, &str)>); 5] = [
        (
            "no X-Requested-With",
            vec![("origin", server.base.as_str())],
        ),
        (
            "wrong X-Requested-With",
            vec![
                ("x-requested-with", "XMLHttpRequest"),
                ("origin", server.base.as_str()),
            ],
        ),
        ("no Origin", vec![("x-requested-with", "fd-fetch")]),
        (
            "foreign Origin",
            vec![
                ("x-requested-with", "fd-fetch"),
                ("origin", "http://evil.example"),
            ],
        ),
        (
            "https Origin over http",
            vec![("x-requested-with", "fd-fetch"), ("origin", &https_origin)],
        ),
    ];
    for (what, headers) in &cases {
        for path in [
            "/proxy/auth",
            "/proxy/auth/refresh_token",
            "/proxy/auth/logout",
        ] {
            let reply = send(Method::POST, &server.url(path), headers, Some(&alice())).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{what} {path}");
            assert_eq!(reply.error(), "csrf_rejected", "{what}");
            assert!(reply.json()["message"].is_string());
            assert!(
                reply.refresh_cookie().is_none(),
                "{what} {path}: nothing else happens"
            );
        }
    }
    assert_eq!(fake.hits(), 0, "rejected requests never reach the upstream");

    let ok = fd_call(Method::POST, &url, &server.base, &[], Some(&alice())).await;
    assert_eq!(ok.status, StatusCode::OK, "same origin");
    let ok = fd_call(
        Method::POST,
        &url,
        "http://app.example:3000",
        &[],
        Some(&alice()),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "allowed origin");
    assert_no_refresh_token(&ok.json());
    assert_eq!(fake.hits(), 2);
    let seen = fake.seen();
    assert_eq!(seen[0].0, "/ok/auth");
    assert_eq!(
        serde_json::from_str::<Value>(&seen[0].1).expect("json"),
        alice(),
        "body forwarded"
    );

    // CORS: credentials only for listed origins.
    let preflight = |origin: &'static str| {
        let url = url.clone();
        async move {
            send(
                Method::OPTIONS,
                &url,
                &[
                    ("origin", origin),
                    ("access-control-request-method", "POST"),
                    (
                        "access-control-request-headers",
                        "content-type,x-requested-with",
                    ),
                ],
                None,
            )
            .await
        }
    };
    let listed = preflight("http://app.example:3000").await;
    assert_eq!(
        listed.header("access-control-allow-origin"),
        Some("http://app.example:3000")
    );
    assert_eq!(
        listed.header("access-control-allow-credentials"),
        Some("true")
    );
    let allowed = listed
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("content-type") && allowed.contains("x-requested-with"),
        "{allowed}"
    );
    let foreign = preflight("http://evil.example").await;
    assert_eq!(foreign.header("access-control-allow-origin"), None);
    assert_eq!(fake.hits(), 2);
}

#[tokio::test]
async fn refresh_without_a_good_cookie_never_calls_upstream() {
    let (fake, upstream) = Fake::start().await;
    let upstream = format!("{upstream}/ok");
    let server = Server::start(&["--upstream", &upstream]);

    let missing = refresh(&server, None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.error(), "no_refresh_cookie");

    let other_key = [7u8; 64];
    for forged in [
        "bm90LWEtcmVhbC1jb29raWU".to_owned(),
        "rt.plain-refresh-token".to_owned(),
        encrypted_cookie(&other_key, "rt.forged"),
    ] {
        let reply = refresh(&server, Some(&forged)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{forged}");
        assert!(
            ["bad_refresh_cookie", "no_refresh_cookie"].contains(&reply.error().as_str()),
            "{reply:?}"
        );
    }
    let logout = server
        .fd_call(Method::POST, "/proxy/auth/logout", None)
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    assert_eq!(
        logout.refresh_cookie().expect("cleared").attr("max-age"),
        Some("0")
    );
    assert_eq!(fake.hits(), 0, "upstream called: {:?}", fake.seen());

    // The same server's key does work, and the upstream gets the cookie's token.
    let good = encrypted_cookie(KEY.as_bytes(), "rt.from-cookie");
    let reply = refresh(&server, Some(&good)).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.json()["AccessToken"], "fake-access-2");
    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, "/ok/auth/refresh_token");
    assert_eq!(
        serde_json::from_str::<Value>(&seen[0].1).expect("json"),
        json!({"token": "rt.from-cookie", "device_key": null, "device_group_key": null})
    );
}

#[tokio::test]
async fn upstream_failures_are_mapped() {
    let (fake, upstream) = Fake::start().await;
    let cookie = encrypted_cookie(KEY.as_bytes(), "rt.x");

    // Unreachable: a port that was just free.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let down = Server::start(&["--upstream", &format!("http://127.0.0.1:{closed}/v1")]);
    let reply = down
        .fd_call(Method::POST, "/proxy/auth", Some(&alice()))
        .await;
    assert_eq!(
        (reply.status, reply.error().as_str()),
        (StatusCode::BAD_GATEWAY, "upstream_unavailable")
    );
    let reply = refresh(&down, Some(&cookie)).await;
    assert_eq!(
        (reply.status, reply.error().as_str()),
        (StatusCode::BAD_GATEWAY, "upstream_unavailable")
    );

    let broken = Server::start(&["--upstream", &format!("{upstream}/broken")]);
    let reply = refresh(&broken, Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        reply.json(),
        json!({"error": "upstream_error", "upstreamStatus": 500})
    );
    assert!(
        reply.refresh_cookie().is_none(),
        "a server error does not end the session"
    );
    let reply = broken
        .fd_call(Method::POST, "/proxy/auth", Some(&alice()))
        .await;
    assert_eq!(
        reply.json(),
        json!({"error": "upstream_error", "upstreamStatus": 500})
    );

    for (mode, status) in [("reject", 401u16), ("forbid", 403)] {
        let server = Server::start(&["--upstream", &format!("{upstream}/{mode}")]);
        let reply = refresh(&server, Some(&cookie)).await;
        assert_eq!(reply.status.as_u16(), status);
        assert_eq!(
            reply.json(),
            json!({"error": "refresh_rejected", "upstreamStatus": status})
        );
        let cleared = reply.refresh_cookie().expect("cookie cleared");
        assert_eq!(cleared.attr("max-age"), Some("0"));
        assert_eq!(cleared.attr("path"), Some("/proxy/auth"));
    }

    let not_json = Server::start(&["--upstream", &format!("{upstream}/notjson")]);
    let reply = refresh(&not_json, Some(&cookie)).await;
    assert_eq!(
        (reply.status, reply.error().as_str()),
        (StatusCode::BAD_GATEWAY, "upstream_bad_response")
    );
    let reply = not_json
        .fd_call(Method::POST, "/proxy/auth", Some(&alice()))
        .await;
    assert_eq!(
        (reply.status, reply.error().as_str()),
        (StatusCode::BAD_GATEWAY, "upstream_bad_response")
    );

    let slow = Server::start(&[
        "--upstream",
        &format!("{upstream}/slow"),
        "--upstream-timeout-ms",
        "200",
    ]);
    let reply = refresh(&slow, Some(&cookie)).await;
    assert_eq!(
        (reply.status, reply.error().as_str()),
        (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout")
    );

    // A rotating upstream: the new refresh token replaces the cookie and stays out of the body.
    let rotate = Server::start(&["--upstream", &format!("{upstream}/rotate")]);
    let reply = refresh(&rotate, Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_no_refresh_token(&reply.json());
    let rotated = reply.refresh_cookie().expect("rotated cookie");
    assert_eq!(rotated.attr("max-age"), Some(MONTH_SECS));
    let before = fake.seen().len();
    refresh(&rotate, Some(&rotated.value)).await;
    let seen = fake.seen();
    assert_eq!(seen.len(), before + 1);
    assert!(
        seen[before].1.contains("\"rt.rotated\""),
        "{:?}",
        seen[before]
    );

    // Cognito's nested AuthenticationResult shape.
    let nested = Server::start(&["--upstream", &format!("{upstream}/nested")]);
    let reply = nested
        .fd_call(Method::POST, "/proxy/auth", Some(&alice()))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body["AuthenticationResult"]["AccessToken"], "fake-access");
    assert_no_refresh_token(&body);
    assert!(reply.refresh_cookie().is_some());
}

/// The most a [`huge_upstream`] sends on one connection: far past any cap, small enough that a
/// proxy buffering all of it does not take the test machine down.
const HUGE_BYTES: usize = 64 << 20;

/// A raw HTTP/1.1 upstream whose 2xx answers are too big. Its first path segment picks how:
/// `declared` announces `Content-Length: 300000000`, sends 64 KiB and then stalls; `chunked`
/// sends 64 KiB chunks with no length, up to [`HUGE_BYTES`], then stalls. For each connection
/// that the proxy hangs up on before all was sent, the bytes sent so far arrive on the receiver.
async fn huge_upstream() -> (String, mpsc::UnboundedReceiver<usize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let chunked = String::from_utf8_lossy(&head).contains(" /chunked/");
                let chunk = vec![b' '; 64 * 1024];
                let mut sent = 0;
                let start: &[u8] = if chunked {
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                } else {
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 300000000\r\n\r\n"
                };
                let limit = if chunked { HUGE_BYTES } else { chunk.len() };
                let mut result = stream.write_all(start).await;
                while result.is_ok() && sent < limit {
                    result = if chunked {
                        let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
                        framed.extend_from_slice(&chunk);
                        framed.extend_from_slice(b"\r\n");
                        stream.write_all(&framed).await
                    } else {
                        stream.write_all(&chunk).await
                    };
                    if result.is_ok() {
                        sent += chunk.len();
                    }
                }
                if result.is_err() {
                    let _ = tx.send(sent);
                    return;
                }
                // All sent: stall, and report if the proxy hangs up meanwhile.
                let _ = stream.read(&mut buf).await;
                let _ = tx.send(sent);
            });
        }
    });
    (base, rx)
}

#[tokio::test]
async fn an_oversized_upstream_answer_is_refused_without_buffering_it() {
    let (upstream, mut hung_up) = huge_upstream().await;
    let hang_up_bound = Duration::from_secs(15);

    // A declared length over the cap is refused before any of the body is read.
    let declared = Server::start(&[
        "--upstream",
        &format!("{upstream}/declared"),
        "--upstream-timeout-ms",
        "5000",
    ]);
    let reply = declared
        .fd_call(Method::POST, "/proxy/auth", Some(&alice()))
        .await;
    assert_eq!(
        (reply.status, reply.error().as_str()),
        (StatusCode::BAD_GATEWAY, "upstream_too_large"),
        "{reply:?}"
    );
    assert!(reply.refresh_cookie().is_none());
    let sent = tokio::time::timeout(hang_up_bound, hung_up.recv())
        .await
        .expect("the proxy hangs up on the upstream");
    assert!(sent.is_some());

    // Without a length, the proxy stops reading once past the cap, and hangs up.
    let chunked = Server::start(&[
        "--upstream",
        &format!("{upstream}/chunked"),
        "--upstream-timeout-ms",
        "5000",
    ]);
    let cookie = encrypted_cookie(KEY.as_bytes(), "rt.x");
    let reply = refresh(&chunked, Some(&cookie)).await;
    assert_eq!(
        (reply.status, reply.error().as_str()),
        (StatusCode::BAD_GATEWAY, "upstream_too_large"),
        "{reply:?}"
    );
    assert!(
        reply.refresh_cookie().is_none(),
        "an upstream failure does not end the session"
    );
    let sent = tokio::time::timeout(hang_up_bound, hung_up.recv())
        .await
        .expect("the proxy hangs up on the upstream")
        .expect("sent");
    assert!(sent < HUGE_BYTES, "the proxy read all {sent} bytes");
    // The log line comes through a pipe the test reads on another thread: give it a moment.
    let mut out = chunked.output();
    for _ in 0..50 {
        if out.contains("upstream answer too large") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        out = chunked.output();
    }
    assert!(out.contains("upstream answer too large"), "{out}");
}

#[tokio::test]
async fn max_upstream_body_bytes_sets_the_cap() {
    // The mock's sign-in answer (two JWTs and a refresh token) is well over 100 bytes.
    let server = Server::start(&["--mock-api", "--max-upstream-body-bytes", "100"]);
    let reply = server
        .fd_call(Method::POST, "/proxy/auth", Some(&alice()))
        .await;
    assert_eq!(
        (reply.status, reply.error().as_str()),
        (StatusCode::BAD_GATEWAY, "upstream_too_large")
    );
    let roomy = Server::start(&["--mock-api", "--max-upstream-body-bytes", "4096"]);
    let reply = roomy
        .fd_call(Method::POST, "/proxy/auth", Some(&alice()))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.refresh_cookie().is_some());
}
