//! The mock partner API under /api.

mod common;

use std::time::{Duration, Instant};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine as _};
use common::{alice, bob, get, get_as, jwt_claims, post, send, Reply, Server};
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Sha256;

fn assert_json_headers(reply: &Reply) {
    assert_eq!(
        reply.header("content-type"),
        Some("application/json"),
        "{reply:?}"
    );
    assert_eq!(reply.header("cache-control"), Some("no-store"), "{reply:?}");
}

fn str_field<'a>(value: &'a Value, name: &str) -> &'a str {
    value[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} missing in {value}"))
}

#[tokio::test]
async fn alice_signs_in_with_cognito_shaped_tokens() {
    let server = Server::start(&["--mock-api", "--token-lifetime", "120"]);
    let reply = post(&server.url("/api/auth"), &[], &alice()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_json_headers(&reply);
    let body = reply.json();
    assert_eq!(body["ExpiresIn"], 120);
    assert_eq!(body["TokenType"], "Bearer");
    assert!(str_field(&body, "RefreshToken").starts_with("rt."));
    let access = jwt_claims(str_field(&body, "AccessToken"));
    assert_eq!(access["sub"], "alice");
    assert_eq!(access["token_use"], "access");
    assert_eq!(access["iss"], "fd-proxy-mock");
    assert!(access["sid"].is_string() && access["jti"].is_string());
    let lifetime = access["exp"].as_u64().expect("exp") - access["iat"].as_u64().expect("iat");
    assert_eq!(lifetime, 120);
    let id = jwt_claims(str_field(&body, "IdToken"));
    assert_eq!(id["token_use"], "id");
    assert_eq!(id["name"], "Alice Liddell");
    assert_eq!(
        id["exp"].as_u64().expect("exp") - id["iat"].as_u64().expect("iat"),
        120
    );

    let wrong = post(
        &server.url("/api/auth"),
        &[],
        &json!({"username": "alice", "password": "nope"}),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_json_headers(&wrong);
    assert_eq!(
        wrong.json(),
        json!({"error": "invalid_credentials", "message": "Incorrect username or password."})
    );
    let unknown = post(
        &server.url("/api/auth"),
        &[],
        &json!({"username": "eve", "password": "x"}),
    )
    .await;
    assert_eq!(unknown.error(), "invalid_credentials");

    for bad in ["not json", "[1,2]", r#"{"username": "alice"}"#] {
        let reply = client_post_raw(&server.url("/api/auth"), bad).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(reply.error(), "bad_request");
    }

    let config = get(&server.url("/api/demo-config"), &[]).await;
    assert_json_headers(&config);
    assert_eq!(
        config.json(),
        json!({"tokenLifetimeSec": 120, "refreshDelayMs": 0, "proxy": "/proxy", "rotateRefreshTokens": false})
    );
}

async fn client_post_raw(url: &str, body: &str) -> Reply {
    let response = common::client()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("sent");
    Reply {
        status: response.status(),
        headers: response.headers().clone(),
        text: response.text().await.expect("body"),
    }
}

#[tokio::test]
async fn bob_needs_the_mfa_code_and_the_session_is_single_use() {
    let server = Server::start(&["--mock-api"]);
    let challenge = post(&server.url("/api/auth"), &[], &bob()).await;
    assert_eq!(challenge.status, StatusCode::OK);
    let body = challenge.json();
    assert_eq!(body["ChallengeName"], "SOFTWARE_TOKEN_MFA");
    assert_eq!(body["ChallengeParameters"], json!({}));
    assert!(body.get("AccessToken").is_none());
    let session = str_field(&body, "Session").to_owned();
    let mfa = server.url("/api/auth/challenge/mfa-token");

    let wrong = send(
        Method::PUT,
        &mfa,
        &[],
        Some(&json!({"session": session, "code": "000000"})),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.error(), "invalid_mfa_code");

    let right = send(
        Method::PUT,
        &mfa,
        &[],
        Some(&json!({"code": "123456", "session": session})),
    )
    .await;
    assert_eq!(right.status, StatusCode::OK);
    assert_json_headers(&right);
    let tokens = right.json();
    assert_eq!(tokens["TokenType"], "Bearer");
    assert_eq!(tokens["ExpiresIn"], 3600);
    assert!(str_field(&tokens, "RefreshToken").starts_with("rt."));
    assert_eq!(jwt_claims(str_field(&tokens, "AccessToken"))["sub"], "bob");
    let me = get_as(
        &server.url("/api/me"),
        str_field(&tokens, "AccessToken"),
        "builders-uk",
    )
    .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(
        me.json(),
        json!({"user": "bob", "name": "Bob the Builder", "partnerId": "builders-uk", "partners": ["builders-uk"]})
    );

    let reused = send(
        Method::PUT,
        &mfa,
        &[],
        Some(&json!({"session": session, "code": "123456"})),
    )
    .await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reused.error(), "invalid_session");
    let unknown = send(
        Method::PUT,
        &mfa,
        &[],
        Some(&json!({"session": "made-up", "code": "123456"})),
    )
    .await;
    assert_eq!(unknown.error(), "invalid_session");
}

#[tokio::test]
async fn refresh_gives_a_new_working_access_token_only() {
    let server = Server::start(&["--mock-api", "--refresh-delay-ms", "300"]);
    let tokens = post(&server.url("/api/auth"), &[], &alice()).await.json();
    let refresh_token = str_field(&tokens, "RefreshToken");
    let started = Instant::now();
    let reply = post(
        &server.url("/api/auth/refresh_token"),
        &[],
        &json!({"token": refresh_token, "device_key": null, "device_group_key": null}),
    )
    .await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "refresh delay applied"
    );
    assert_eq!(reply.status, StatusCode::OK);
    assert_json_headers(&reply);
    let body = reply.json();
    assert!(body.get("ExpiresIn").is_none(), "{body}");
    assert!(body.get("RefreshToken").is_none(), "{body}");
    assert_eq!(body["TokenType"], "Bearer");
    let access = str_field(&body, "AccessToken");
    assert_ne!(access, str_field(&tokens, "AccessToken"));
    assert_eq!(
        jwt_claims(access)["sid"],
        jwt_claims(str_field(&tokens, "AccessToken"))["sid"]
    );
    assert_eq!(jwt_claims(str_field(&body, "IdToken"))["token_use"], "id");
    let me = get_as(&server.url("/api/me"), access, "acme-eu").await;
    assert_eq!(me.status, StatusCode::OK);

    for bad in [
        json!({"token": "rt.unknown"}),
        json!({"token": null}),
        json!({}),
    ] {
        let reply = post(&server.url("/api/auth/refresh_token"), &[], &bad).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{bad}");
        assert_eq!(reply.error(), "invalid_refresh_token");
    }
}

async fn refresh_with(server: &Server, token: &str) -> Reply {
    post(
        &server.url("/api/auth/refresh_token"),
        &[],
        &json!({"token": token, "device_key": null, "device_group_key": null}),
    )
    .await
}

#[tokio::test]
async fn without_rotation_the_same_refresh_token_works_twice() {
    let server = Server::start(&["--mock-api"]);
    assert!(
        server.output().contains("refresh tokens do not rotate"),
        "{}",
        server.output()
    );
    let tokens = post(&server.url("/api/auth"), &[], &alice()).await.json();
    let refresh_token = str_field(&tokens, "RefreshToken");
    for _ in 0..2 {
        let reply = refresh_with(&server, refresh_token).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        let body = reply.json();
        assert!(body.get("RefreshToken").is_none(), "{body}");
        assert!(body.get("ExpiresIn").is_none(), "{body}");
        let me = get_as(
            &server.url("/api/me"),
            str_field(&body, "AccessToken"),
            "acme-eu",
        )
        .await;
        assert_eq!(me.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn rotating_refresh_tokens_retire_the_old_one_at_once() {
    let server = Server::start(&["--mock-api", "--rotate-refresh-tokens"]);
    assert!(
        server
            .output()
            .contains("refresh tokens rotate on every refresh"),
        "{}",
        server.output()
    );
    let config = get(&server.url("/api/demo-config"), &[]).await.json();
    assert_eq!(config["rotateRefreshTokens"], true, "{config}");

    let tokens = post(&server.url("/api/auth"), &[], &alice()).await.json();
    let first = str_field(&tokens, "RefreshToken").to_owned();
    let sid = jwt_claims(str_field(&tokens, "AccessToken"))["sid"].clone();

    let reply = refresh_with(&server, &first).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_json_headers(&reply);
    let body = reply.json();
    assert!(body.get("ExpiresIn").is_none(), "{body}");
    assert_eq!(body["TokenType"], "Bearer");
    assert_eq!(jwt_claims(str_field(&body, "IdToken"))["token_use"], "id");
    let second = str_field(&body, "RefreshToken").to_owned();
    assert!(
        second.starts_with("rt.") && second.len() == first.len(),
        "{second}"
    );
    assert_ne!(second, first);
    let mut access = vec![str_field(&body, "AccessToken").to_owned()];

    let replay = refresh_with(&server, &first).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST, "{replay:?}");
    assert_json_headers(&replay);
    assert_eq!(
        replay.json(),
        json!({"error": "invalid_grant", "message": "Refresh Token has been revoked"})
    );

    let reply = refresh_with(&server, &second).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let body = reply.json();
    let third = str_field(&body, "RefreshToken").to_owned();
    assert!(third != first && third != second, "{third}");
    access.push(str_field(&body, "AccessToken").to_owned());
    assert_eq!(
        refresh_with(&server, &second).await.error(),
        "invalid_grant"
    );

    for token in &access {
        assert_eq!(jwt_claims(token)["sid"], sid, "same session");
        let me = get_as(&server.url("/api/me"), token, "acme-eu").await;
        assert_eq!(me.status, StatusCode::OK, "{me:?}");
        assert_eq!(me.json()["user"], "alice");
    }
    // A token never issued is still a 401, not a revoked one.
    let unknown = refresh_with(&server, "rt.never-issued").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.error(), "invalid_refresh_token");
}

#[tokio::test]
async fn revoking_a_rotated_session_kills_its_newest_refresh_token() {
    let server = Server::start(&["--mock-api", "--rotate-refresh-tokens"]);
    let tokens = post(&server.url("/api/auth"), &[], &alice()).await.json();
    let first = str_field(&tokens, "RefreshToken").to_owned();
    let rotated = refresh_with(&server, &first).await.json();
    let newest = str_field(&rotated, "RefreshToken").to_owned();
    let other_session = post(&server.url("/api/auth"), &[], &alice()).await.json();

    let bearer = format!("Bearer {}", str_field(&rotated, "AccessToken"));
    let revoke = send(
        Method::POST,
        &server.url("/api/session/revoke"),
        &[
            ("authorization", &bearer),
            ("x-preferred-partner-id", "acme-eu"),
        ],
        None,
    )
    .await;
    assert_eq!(revoke.status, StatusCode::NO_CONTENT);

    for token in [&newest, &first, &newest] {
        let reply = refresh_with(&server, token).await;
        assert!(
            [StatusCode::UNAUTHORIZED, StatusCode::BAD_REQUEST].contains(&reply.status),
            "{reply:?}"
        );
        assert!(reply.json().get("AccessToken").is_none(), "{reply:?}");
        assert!(reply.json().get("RefreshToken").is_none(), "{reply:?}");
    }
    assert_eq!(
        refresh_with(&server, &newest).await.error(),
        "invalid_refresh_token"
    );
    let me = get_as(
        &server.url("/api/me"),
        str_field(&rotated, "AccessToken"),
        "acme-eu",
    )
    .await;
    assert_eq!(me.error(), "token_revoked");

    // The other session still rotates.
    let reply = refresh_with(&server, str_field(&other_session, "RefreshToken")).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert!(str_field(&reply.json(), "RefreshToken").starts_with("rt."));
}

#[tokio::test]
async fn protected_endpoints_check_token_and_partner() {
    let server = Server::start(&["--mock-api"]);
    let tokens = post(&server.url("/api/auth"), &[], &alice()).await.json();
    let access = str_field(&tokens, "AccessToken").to_owned();

    let me = get_as(&server.url("/api/me"), &access, "acme-eu").await;
    assert_eq!(me.status, StatusCode::OK);
    assert_json_headers(&me);
    assert_eq!(
        me.json(),
        json!({"user": "alice", "name": "Alice Liddell", "partnerId": "acme-eu", "partners": ["acme-eu", "acme-us"]})
    );

    let orders = get_as(&server.url("/api/orders"), &access, "acme-us").await;
    assert_eq!(orders.status, StatusCode::OK);
    let body = orders.json();
    assert_eq!(body["partnerId"], "acme-us");
    let list = body["orders"].as_array().expect("orders");
    assert_eq!(list.len(), 5);
    for order in list {
        for field in ["id", "item", "total", "status"] {
            assert!(order.get(field).is_some(), "{field} in {order}");
        }
    }
    let again = get_as(&server.url("/api/orders"), &access, "acme-us")
        .await
        .json();
    assert_eq!(again, body, "deterministic per partner");
    let other = get_as(&server.url("/api/orders"), &access, "acme-eu")
        .await
        .json();
    assert_ne!(other["orders"], body["orders"]);

    let bearer = format!("Bearer {access}");
    let missing = get(&server.url("/api/me"), &[("authorization", &bearer)]).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.error(), "missing_partner_id");
    let foreign = get_as(&server.url("/api/me"), &access, "builders-uk").await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    assert_eq!(foreign.error(), "partner_not_allowed");

    let no_token = get(
        &server.url("/api/me"),
        &[("x-preferred-partner-id", "acme-eu")],
    )
    .await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);
    assert_eq!(no_token.error(), "invalid_token");

    let (header, payload) = {
        let mut parts = access.split('.');
        (
            parts.next().expect("h").to_owned(),
            parts.next().expect("p").to_owned(),
        )
    };
    let mut other_key = Hmac::<Sha256>::new_from_slice(b"some other secret").expect("hmac");
    other_key.update(format!("{header}.{payload}").as_bytes());
    let resigned = format!(
        "{header}.{payload}.{}",
        B64.encode(other_key.finalize().into_bytes())
    );
    let alg_none = format!("{}.{payload}.", B64.encode(r#"{"alg":"none","typ":"JWT"}"#));
    let mut claims = jwt_claims(&access);
    claims["sub"] = json!("bob");
    let tampered = format!(
        "{header}.{}.{}",
        B64.encode(claims.to_string()),
        access.rsplit('.').next().expect("sig")
    );
    let id_token = str_field(&tokens, "IdToken").to_owned();
    for (what, token) in [
        ("garbage", "garbage".to_owned()),
        ("re-signed with another key", resigned),
        ("alg none", alg_none),
        ("tampered claims", tampered),
        ("id token", id_token),
    ] {
        let reply = get_as(&server.url("/api/me"), &token, "acme-eu").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}");
        assert_json_headers(&reply);
        assert_eq!(reply.error(), "invalid_token", "{what}");
    }

    let unknown = get(&server.url("/api/nope"), &[]).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_json_headers(&unknown);
}

#[tokio::test]
async fn delay_ms_delays_the_answer() {
    let server = Server::start(&["--mock-api"]);
    let tokens = post(&server.url("/api/auth"), &[], &alice()).await.json();
    let access = str_field(&tokens, "AccessToken");
    let started = Instant::now();
    let reply = get_as(&server.url("/api/me?delay_ms=400"), access, "acme-eu").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(400));
    // Clamped, and the sleep comes before the auth check.
    let started = Instant::now();
    let reply = get(&server.url("/api/orders?delay_ms=300"), &[]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn expired_tokens_are_told_apart() {
    let server = Server::start(&["--mock-api", "--token-lifetime", "1"]);
    let tokens = post(&server.url("/api/auth"), &[], &alice()).await.json();
    // exp = iat + 1 in whole seconds: 1.2 s later it is past for sure.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let reply = get_as(
        &server.url("/api/me"),
        str_field(&tokens, "AccessToken"),
        "acme-eu",
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error(), "token_expired");
    // The refresh token outlives it.
    let refreshed = post(
        &server.url("/api/auth/refresh_token"),
        &[],
        &json!({"token": str_field(&tokens, "RefreshToken")}),
    )
    .await;
    assert_eq!(refreshed.status, StatusCode::OK);
}

#[tokio::test]
async fn revoking_the_session_kills_its_tokens() {
    let server = Server::start(&["--mock-api"]);
    let tokens = post(&server.url("/api/auth"), &[], &alice()).await.json();
    let access = str_field(&tokens, "AccessToken");
    let second = post(
        &server.url("/api/auth/refresh_token"),
        &[],
        &json!({"token": str_field(&tokens, "RefreshToken")}),
    )
    .await
    .json();
    let other_session = post(&server.url("/api/auth"), &[], &alice()).await.json();

    let bearer = format!("Bearer {access}");
    let revoke = send(
        Method::POST,
        &server.url("/api/session/revoke"),
        &[
            ("authorization", &bearer),
            ("x-preferred-partner-id", "acme-eu"),
        ],
        None,
    )
    .await;
    assert_eq!(revoke.status, StatusCode::NO_CONTENT);

    for token in [access, str_field(&second, "AccessToken")] {
        let reply = get_as(&server.url("/api/me"), token, "acme-eu").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.error(), "token_revoked");
    }
    let refresh = post(
        &server.url("/api/auth/refresh_token"),
        &[],
        &json!({"token": str_field(&tokens, "RefreshToken")}),
    )
    .await;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refresh.error(), "invalid_refresh_token");

    // Another session of the same user is untouched.
    let reply = get_as(
        &server.url("/api/me"),
        str_field(&other_session, "AccessToken"),
        "acme-eu",
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn cors_lets_other_origins_call_with_a_token() {
    let server = Server::start(&["--mock-api"]);
    let preflight = send(
        Method::OPTIONS,
        &server.url("/api/me"),
        &[
            ("origin", "http://elsewhere.example"),
            ("access-control-request-method", "GET"),
            (
                "access-control-request-headers",
                "authorization,x-preferred-partner-id",
            ),
        ],
        None,
    )
    .await;
    assert!(preflight.status.is_success(), "{preflight:?}");
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("http://elsewhere.example")
    );
    let allowed = preflight
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    for name in [
        "authorization",
        "content-type",
        "x-preferred-partner-id",
        "x-requested-with",
    ] {
        assert!(allowed.contains(name), "{name} in {allowed}");
    }
    let methods = preflight
        .header("access-control-allow-methods")
        .unwrap_or_default();
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
        assert!(methods.contains(method), "{method} in {methods}");
    }
    assert_eq!(preflight.header("access-control-max-age"), Some("600"));

    // With an allow-list of its own, other origins get no CORS grant from the mock.
    let server = Server::start(&[
        "--mock-api",
        "--mock-cors-origin",
        "http://app.example:3000",
    ]);
    let listed = preflight_from(&server.url("/api/me"), "http://app.example:3000").await;
    assert_eq!(
        listed.header("access-control-allow-origin"),
        Some("http://app.example:3000")
    );
    let other = preflight_from(&server.url("/api/me"), "http://elsewhere.example").await;
    assert_eq!(other.header("access-control-allow-origin"), None);
}

/// A CORS preflight for a GET with a token, or a POST with JSON for the proxy's routes.
async fn preflight_from(url: &str, origin: &str) -> Reply {
    let (method, headers) = if url.contains("/proxy/") {
        ("POST", "content-type,x-requested-with")
    } else {
        ("GET", "authorization,x-preferred-partner-id")
    };
    send(
        Method::OPTIONS,
        url,
        &[
            ("origin", origin),
            ("access-control-request-method", method),
            ("access-control-request-headers", headers),
        ],
        None,
    )
    .await
}

#[tokio::test]
async fn allowed_origin_narrows_the_proxy_only_and_mock_cors_origin_the_mock_only() {
    let page = "http://127.0.0.1:5173"; // a dev server on another port
    let other = "http://elsewhere.example";
    // The proxy narrowed to `page`... but not the mock: any page may call it with a token.
    let server = Server::start(&["--mock-api", "--allowed-origin", page]);
    for origin in [page, other] {
        let mock = preflight_from(&server.url("/api/me"), origin).await;
        assert_eq!(
            mock.header("access-control-allow-origin"),
            Some(origin),
            "{mock:?}"
        );
    }
    let proxy = preflight_from(&server.url("/proxy/auth"), page).await;
    assert_eq!(
        proxy.header("access-control-allow-origin"),
        Some(page),
        "{proxy:?}"
    );
    assert_eq!(
        proxy.header("access-control-allow-credentials"),
        Some("true")
    );
    let refused = preflight_from(&server.url("/proxy/auth"), other).await;
    assert_eq!(
        refused.header("access-control-allow-origin"),
        None,
        "{refused:?}"
    );
    // The page on the other port signs in at the mock and calls it, CORS-checked as a browser
    // would (its Origin header, the grant in the answer).
    let signed_in = post(&server.url("/api/auth"), &[("origin", page)], &alice()).await;
    assert_eq!(signed_in.status, StatusCode::OK);
    assert_eq!(signed_in.header("access-control-allow-origin"), Some(page));
    let access = str_field(&signed_in.json(), "AccessToken").to_owned();
    let bearer = format!("Bearer {access}");
    let me = get(
        &server.url("/api/me"),
        &[
            ("origin", page),
            ("authorization", &bearer),
            ("x-preferred-partner-id", "acme-eu"),
        ],
    )
    .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.header("access-control-allow-origin"), Some(page));

    // The mock narrowed, the proxy not: the proxy still takes its own listed origins.
    let server = Server::start(&[
        "--mock-api",
        "--mock-cors-origin",
        page,
        "--allowed-origin",
        other,
    ]);
    let mock = preflight_from(&server.url("/api/me"), other).await;
    assert_eq!(mock.header("access-control-allow-origin"), None, "{mock:?}");
    let proxy = preflight_from(&server.url("/proxy/auth"), other).await;
    assert_eq!(
        proxy.header("access-control-allow-origin"),
        Some(other),
        "{proxy:?}"
    );
}

/// A fresh MFA challenge for bob, straight from the mock.
async fn bob_challenge(server: &Server) -> Reply {
    post(&server.url("/api/auth"), &[], &bob()).await
}

async fn answer_mfa(server: &Server, session: &str, code: &str) -> Reply {
    send(
        Method::PUT,
        &server.url("/api/auth/challenge/mfa-token"),
        &[],
        Some(&json!({"session": session, "code": code})),
    )
    .await
}

/// A 429 of the lock-out, with a `Retry-After` within the 15-minute window.
fn assert_locked(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "{reply:?}");
    assert_eq!(reply.error(), "too_many_failed_attempts", "{reply:?}");
    let retry_after: u64 = reply
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After seconds: {reply:?}"));
    assert!((1..=900).contains(&retry_after), "{retry_after}");
}

#[tokio::test]
async fn wrong_mfa_codes_across_challenges_lock_the_user_out() {
    let server = Server::start(&["--mock-api"]);
    // A challenge opened before the guessing, to try the right code on afterwards.
    let early = bob_challenge(&server).await.json();
    let early = str_field(&early, "Session").to_owned();

    // Each challenge allows 5 tries; fresh challenges must not reset the count.
    let mut refused = 0;
    let mut locked = None;
    'guessing: for _ in 0..50 {
        let challenge = bob_challenge(&server).await;
        if challenge.status != StatusCode::OK {
            locked = Some(challenge);
            break;
        }
        let session = str_field(&challenge.json(), "Session").to_owned();
        for _ in 0..5 {
            let wrong = answer_mfa(&server, &session, "000000").await;
            if wrong.status != StatusCode::UNAUTHORIZED {
                locked = Some(wrong);
                break 'guessing;
            }
            assert_eq!(wrong.error(), "invalid_mfa_code");
            refused += 1;
        }
    }
    let locked = locked.unwrap_or_else(|| {
        panic!("{refused} wrong MFA codes over fresh challenges and never cut off")
    });
    assert_locked(&locked);
    assert_eq!(refused, 10, "wrong codes allowed before the lock-out");

    // Locked: the right code is refused, and so is a new sign-in, even with the password.
    assert_locked(&answer_mfa(&server, &early, "123456").await);
    assert_locked(&bob_challenge(&server).await);
    // Through the proxy too, with Retry-After passed on.
    let via_proxy = server
        .fd_call(Method::POST, "/proxy/auth", Some(&bob()))
        .await;
    assert_locked(&via_proxy);
    // Other users are not affected.
    let alice = post(&server.url("/api/auth"), &[], &alice()).await;
    assert_eq!(alice.status, StatusCode::OK);
}

/// The first 16 hex digits of a token's SHA-256, as the request log shows it.
fn digest16(token: &str) -> String {
    use sha2::Digest as _;
    Sha256::digest(token.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn request_log(server: &Server) -> Vec<Value> {
    let reply = get(&server.url("/api/_mock/requests"), &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_json_headers(&reply);
    reply.json().as_array().expect("a JSON array").clone()
}

#[tokio::test]
async fn the_request_log_lists_what_the_mock_answered_without_secrets() {
    let mut server = Server::start(&["--mock-api", "--no-proxy"]);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let signed_in = post(&server.url("/api/auth"), &[], &alice()).await.json();
    let access = str_field(&signed_in, "AccessToken").to_owned();
    let refresh = str_field(&signed_in, "RefreshToken").to_owned();
    assert_eq!(
        get_as(&server.url("/api/me?delay_ms=1"), &access, "acme-eu")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        get_as(&server.url("/api/me"), &access, "nope").await.status,
        StatusCode::FORBIDDEN
    );
    let refreshed = refresh_with(&server, &refresh).await.json();
    let fresh = str_field(&refreshed, "AccessToken").to_owned();
    let preflight = send(
        Method::OPTIONS,
        &server.url("/api/orders"),
        &[
            ("origin", "http://page.test"),
            ("access-control-request-method", "GET"),
        ],
        None,
    )
    .await;
    assert!(preflight.status.is_success(), "{preflight:?}");
    assert_eq!(
        get_as(&server.url("/api/orders"), "not-a-jwt", "acme-eu")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    let log = request_log(&server).await;
    let summary: Vec<_> = log
        .iter()
        .map(|e| {
            (
                e["method"].as_str().unwrap_or("?").to_owned(),
                e["path"].as_str().unwrap_or("?").to_owned(),
                e["status"].as_u64().unwrap_or(0),
                e["partner"].clone(),
                e["token"].clone(),
                e["user"].clone(),
            )
        })
        .collect();
    let (a, f) = (json!(digest16(&access)), json!(digest16(&fresh)));
    assert_eq!(
        summary,
        vec![
            (
                "POST".into(),
                "/api/auth".into(),
                200,
                Value::Null,
                Value::Null,
                json!("alice")
            ),
            (
                "GET".into(),
                "/api/me".into(),
                200,
                json!("acme-eu"),
                a.clone(),
                json!("alice")
            ),
            (
                "GET".into(),
                "/api/me".into(),
                403,
                json!("nope"),
                a,
                json!("alice")
            ),
            (
                "POST".into(),
                "/api/auth/refresh_token".into(),
                200,
                Value::Null,
                Value::Null,
                json!("alice")
            ),
            (
                "OPTIONS".into(),
                "/api/orders".into(),
                200,
                Value::Null,
                Value::Null,
                Value::Null
            ),
            (
                "GET".into(),
                "/api/orders".into(),
                401,
                json!("acme-eu"),
                json!(digest16("not-a-jwt")),
                Value::Null
            ),
        ],
        "{log:#?}"
    );
    assert_ne!(f, json!(digest16(&access)));
    let after = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let times: Vec<u64> = log.iter().map(|e| e["at"].as_u64().expect("at")).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "oldest first: {times:?}"
    );
    assert!(
        times.iter().all(|t| (before..=after).contains(t)),
        "{times:?}"
    );
    for entry in &log {
        let keys: Vec<_> = entry.as_object().expect("object").keys().cloned().collect();
        assert_eq!(keys.len(), 7, "{entry}");
    }
    let text = serde_json::to_string(&log).expect("JSON");
    for secret in [
        access.as_str(),
        refresh.as_str(),
        fresh.as_str(),
        "wonderland",
    ] {
        assert!(!text.contains(secret), "the log shows a secret: {text}");
    }

    // DELETE clears it; reading or clearing the log is not logged.
    let cleared = send(
        Method::DELETE,
        &server.url("/api/_mock/requests"),
        &[],
        None,
    )
    .await;
    assert_eq!(cleared.status, StatusCode::NO_CONTENT);
    assert_eq!(request_log(&server).await, Vec::<Value>::new());
    get(&server.url("/api/demo-config"), &[]).await;
    let log = request_log(&server).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["path"], "/api/demo-config");
    server.stop();
    assert!(!server.output().contains(&access));
}

#[tokio::test]
async fn the_request_log_keeps_the_last_ten_thousand() {
    let server = Server::start(&["--mock-api", "--no-proxy"]);
    let client = common::client();
    for i in 0..10_010 {
        let reply = client
            .get(server.url(&format!("/api/nowhere/{i}")))
            .send()
            .await
            .expect("sent");
        assert_eq!(reply.status(), StatusCode::NOT_FOUND);
    }
    let log = request_log(&server).await;
    assert_eq!(log.len(), 10_000);
    assert_eq!(log[0]["path"], "/api/nowhere/10");
    assert_eq!(log[9_999]["path"], "/api/nowhere/10009");
}
