//! The refresh, in real Chromium: single flight, outcomes, races with sign-out and aborts.
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use futures::future::join_all;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const REFRESH: &str = "/api/auth/refresh_token";

#[wasm_bindgen_test]
async fn fifty_concurrent_calls_make_one_refresh() {
    let api = FakeApi::new();
    setup(&api, &[]).await;
    let old = session_with(STALE, Some("refresh-SECRET-1"));
    api.hold(REFRESH);
    let calls = join_all((0..50).map(|_| fut(fd_fetch::fd("/me".into(), JsValue::UNDEFINED))));
    let release = async {
        sleep(20).await;
        api.release(REFRESH);
    };
    let (results, ()) = futures::join!(calls, release);
    assert_eq!(api.count(REFRESH), 1);
    assert_eq!(api.count("/api/me"), 50);
    let new = fd_fetch::get_session().unwrap();
    let new_token = get_str(&new, "accessToken");
    assert_ne!(new_token, old);
    for r in results {
        let body = r.expect("fd");
        assert_eq!(get_str(&body, "auth"), format!("Bearer {new_token}"));
        assert_eq!(get_str(&body, "partner"), "p-1");
    }
    // The refresh sent the provider's body, and the answer kept the partner id.
    let sent = get_str(&api.requests(REFRESH).get(0), "body");
    assert_eq!(
        sent,
        r#"{"token":"refresh-SECRET-1","device_key":null,"device_group_key":null}"#
    );
    assert_eq!(get_str(&new, "partnerId"), "p-1");
    // Saved with its new expiry: the answer had no ExpiresIn, so the JWT's lifetime (3600 s) counts.
    let left = new
        .dyn_ref::<js_sys::Object>()
        .map(|o| get(o, "expiresAt").as_f64().unwrap() - now())
        .unwrap();
    assert!((3_590_000.0..=3_600_000.0).contains(&left), "{left}");
}

#[wasm_bindgen_test]
async fn a_fresh_token_is_not_refreshed() {
    let api = FakeApi::new();
    setup(&api, &[]).await;
    let token = session_with(FRESH, Some("refresh-SECRET-1"));
    let out = fd_fetch::ensure_fresh().await.unwrap();
    assert_eq!(get_str(&out, "accessToken"), token);
    assert_eq!(get_str(&out, "partnerId"), "p-1");
    assert_eq!(api.count(REFRESH), 0);
}

#[wasm_bindgen_test]
async fn transient_failures_keep_the_session_and_the_still_valid_token() {
    let api = FakeApi::new();
    let key = setup(&api, &[]).await;
    let token = session_with(STALE, Some("refresh-SECRET-1"));
    type Arrange<'a> = Box<dyn Fn() + 'a>;
    let cases: [(&str, Arrange); 5] = [
        (
            "503",
            Box::new(|| api.reply("POST", REFRESH, 503, "down", "text/plain")),
        ),
        ("network", Box::new(|| api.fail("POST", REFRESH))),
        (
            "not json",
            Box::new(|| api.reply("POST", REFRESH, 200, "<html>", "text/html")),
        ),
        (
            "AccessToken not a string",
            Box::new(|| {
                api.reply(
                    "POST",
                    REFRESH,
                    200,
                    r#"{"AccessToken": 42}"#,
                    "application/json",
                )
            }),
        ),
        (
            "no AccessToken",
            Box::new(|| {
                api.reply(
                    "POST",
                    REFRESH,
                    200,
                    r#"{"IdToken": "x"}"#,
                    "application/json",
                )
            }),
        ),
    ];
    for (i, (name, arrange)) in cases.iter().enumerate() {
        arrange();
        let body = fd_fetch::fd("/me".into(), JsValue::UNDEFINED)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(get_str(&body, "auth"), format!("Bearer {token}"), "{name}");
        // Each call tried again: the failure was not remembered.
        assert_eq!(api.count(REFRESH), i as u32 + 1, "{name}");
        assert_eq!(api.expired_calls(), 0, "{name}");
        assert!(stored(&key).unwrap().contains(&token), "{name}");
    }
}

#[wasm_bindgen_test]
async fn a_refresh_that_times_out_is_transient() {
    let api = FakeApi::new();
    setup(&api, &[("refreshTimeoutMs", 50.into())]).await;
    let token = session_with(STALE, Some("refresh-SECRET-1"));
    api.stall("POST", REFRESH);
    let body = fd_fetch::fd("/me".into(), JsValue::UNDEFINED)
        .await
        .unwrap();
    assert_eq!(get_str(&body, "auth"), format!("Bearer {token}"));
    assert_eq!(api.count(REFRESH), 1);
    // With the token already dead, the same failure is refresh_failed, and the session is kept.
    session_with(-1.0, Some("refresh-SECRET-1"));
    let r = fd_fetch::fd("/me".into(), JsValue::UNDEFINED).await;
    expect_code(r, "refresh_failed");
    assert_eq!(api.count("/api/me"), 1);
    assert!(!fd_fetch::get_session().unwrap().is_null());
}

#[wasm_bindgen_test]
async fn an_expired_token_with_a_failing_refresh_is_refresh_failed() {
    let api = FakeApi::new();
    setup(&api, &[]).await;
    session_with(-1_000.0, Some("refresh-SECRET-1"));
    api.reply("POST", REFRESH, 500, "", "");
    expect_code(
        fd_fetch::fd("/me".into(), JsValue::UNDEFINED).await,
        "refresh_failed",
    );
    assert_eq!(
        api.count("/api/me"),
        0,
        "nothing goes out with a dead token"
    );
    // The session is kept; the next call tries again and succeeds once the API is back.
    api.reply(
        "POST",
        REFRESH,
        200,
        r#"{"AccessToken":"tok-SECRET-2"}"#,
        "application/json",
    );
    let body = fd_fetch::fd("/me".into(), JsValue::UNDEFINED)
        .await
        .unwrap();
    assert_eq!(get_str(&body, "auth"), "Bearer tok-SECRET-2");
    assert_eq!(api.count(REFRESH), 2);
}

#[wasm_bindgen_test]
async fn a_dead_refresh_token_ends_the_session() {
    for status in [400u16, 401, 403] {
        let api = FakeApi::new();
        let key = setup(&api, &[]).await;
        session_with(STALE, Some("refresh-SECRET-1"));
        api.reply(
            "POST",
            REFRESH,
            status,
            r#"{"message":"invalid refresh token"}"#,
            "application/json",
        );
        let calls =
            join_all((0..5).map(|_| fut(fd_fetch::fd("/me".into(), JsValue::UNDEFINED)))).await;
        for r in calls {
            expect_code(r, "session_expired");
        }
        assert_eq!(api.count(REFRESH), 1, "{status}");
        assert_eq!(api.count("/api/me"), 0, "{status}");
        assert_eq!(api.expired_calls(), 1, "{status}: onSessionExpired once");
        assert!(fd_fetch::get_session().unwrap().is_null());
        assert_eq!(stored(&key), None);
        expect_code(
            fd_fetch::fd("/me".into(), JsValue::UNDEFINED).await,
            "not_signed_in",
        );
    }
}

#[wasm_bindgen_test]
async fn sign_out_during_a_refresh_wins() {
    let api = FakeApi::new();
    let key = setup(&api, &[]).await;
    session_with(STALE, Some("refresh-SECRET-1"));
    api.hold(REFRESH);
    let calls = join_all((0..3).map(|_| fut(fd_fetch::fd("/me".into(), JsValue::UNDEFINED))));
    let interrupt = async {
        until(|| api.count(REFRESH) > 0).await;
        fd_fetch::sign_out().unwrap();
        api.release(REFRESH);
    };
    let (results, ()) = futures::join!(calls, interrupt);
    for r in results {
        expect_code(r, "not_signed_in");
    }
    assert_eq!(api.count("/api/me"), 0, "the waiting calls did not go out");
    assert_eq!(api.count(REFRESH), 1);
    // The refresh's answer did not revive the session.
    assert!(fd_fetch::get_session().unwrap().is_null());
    assert_eq!(stored(&key), None);
    assert_eq!(api.expired_calls(), 0, "signOut does not count as expiry");
}

#[wasm_bindgen_test]
async fn a_new_session_during_a_refresh_discards_the_old_refresh() {
    let api = FakeApi::new();
    let key = setup(&api, &[]).await;
    session_with(STALE, Some("refresh-SECRET-1"));
    api.hold(REFRESH);
    let call = fut(fd_fetch::fd("/me".into(), JsValue::UNDEFINED));
    let interrupt = async {
        until(|| api.count(REFRESH) > 0).await;
        let s = obj(&[
            ("accessToken", "new-SECRET".into()),
            ("partnerId", "p-2".into()),
            ("expiresAt", (now() + FRESH).into()),
        ]);
        fd_fetch::set_session(s).unwrap();
        api.release(REFRESH);
    };
    let (result, ()) = futures::join!(call, interrupt);
    // The waiting call went out with the new session, not the refresh's answer.
    let body = result.unwrap();
    assert_eq!(get_str(&body, "auth"), "Bearer new-SECRET");
    assert_eq!(get_str(&body, "partner"), "p-2");
    tick().await;
    let session = fd_fetch::get_session().unwrap();
    assert_eq!(get_str(&session, "accessToken"), "new-SECRET");
    assert!(stored(&key).unwrap().contains("new-SECRET"));
}

#[wasm_bindgen_test]
async fn one_callers_abort_does_not_cancel_the_shared_refresh() {
    let api = FakeApi::new();
    setup(&api, &[]).await;
    session_with(STALE, Some("refresh-SECRET-1"));
    api.hold(REFRESH);
    let controller = web_sys::AbortController::new().unwrap();
    let aborted = fut(fd_fetch::fd(
        "/me".into(),
        obj(&[("signal", controller.signal().into())]),
    ));
    let other = fut(fd_fetch::fd("/me".into(), JsValue::UNDEFINED));
    let drive = async {
        until(|| api.count(REFRESH) > 0).await;
        controller.abort();
        sleep(10).await;
        api.release(REFRESH);
    };
    let (a, b, ()) = futures::join!(aborted, other, drive);
    let err = a.expect_err("aborted call");
    assert_eq!(
        get_str(&err, "name"),
        "AbortError",
        "fetch's own AbortError passes through"
    );
    let body = b.expect("the other caller still gets the refreshed token");
    assert_eq!(api.count(REFRESH), 1);
    assert_eq!(api.count("/api/me"), 1, "the aborted call sent nothing");
    let token = get_str(&fd_fetch::get_session().unwrap(), "accessToken");
    assert_eq!(get_str(&body, "auth"), format!("Bearer {token}"));
}

#[wasm_bindgen_test]
async fn an_aborted_signal_sends_nothing() {
    let api = FakeApi::new();
    setup(&api, &[]).await;
    session_with(FRESH, None);
    let controller = web_sys::AbortController::new().unwrap();
    controller.abort();
    let err = fd_fetch::fd("/me".into(), obj(&[("signal", controller.signal().into())]))
        .await
        .unwrap_err();
    assert_eq!(get_str(&err, "name"), "AbortError");
    assert_eq!(api.count("/api/me"), 0);
}

#[wasm_bindgen_test]
async fn without_a_refresh_token_a_valid_token_goes_on() {
    // As after a reload in memory mode: the access token is usable until it expires.
    let api = FakeApi::new();
    setup(&api, &[]).await;
    let token = session_with(STALE, None);
    let body = fd_fetch::fd("/me".into(), JsValue::UNDEFINED)
        .await
        .unwrap();
    assert_eq!(get_str(&body, "auth"), format!("Bearer {token}"));
    assert_eq!(api.count(REFRESH), 0);
    // Once it has expired there is nothing to send: the session is over.
    session_with(-1.0, None);
    expect_code(
        fd_fetch::fd("/me".into(), JsValue::UNDEFINED).await,
        "session_expired",
    );
    assert_eq!(api.expired_calls(), 1);
    assert_eq!(api.count("/api/me"), 1);
}

#[wasm_bindgen_test]
async fn a_rotated_refresh_token_replaces_the_old_one() {
    let api = FakeApi::new();
    setup(&api, &[("refreshThresholdMs", 4_000_000.into())]).await;
    session_with(STALE, Some("refresh-SECRET-1"));
    // Tokens that live 1 s are refreshed once half of that has passed.
    api.reply(
        "POST",
        REFRESH,
        200,
        r#"{"AuthenticationResult":{"AccessToken":"a-SECRET-2","RefreshToken":"refresh-SECRET-2","ExpiresIn":1}}"#,
        "application/json",
    );
    fd_fetch::ensure_fresh().await.unwrap();
    sleep(600).await;
    fd_fetch::ensure_fresh().await.unwrap();
    let bodies: Vec<String> = (0..2)
        .map(|i| get_str(&api.requests(REFRESH).get(i), "body"))
        .collect();
    assert!(bodies[0].contains("refresh-SECRET-1"));
    assert!(bodies[1].contains("refresh-SECRET-2"), "{}", bodies[1]);
    let left = get(&fd_fetch::get_session().unwrap(), "expiresAt")
        .as_f64()
        .unwrap()
        - now();
    assert!(
        (0.0..=1_000.0).contains(&left),
        "ExpiresIn counts when the token is no JWT: {left}"
    );
}

#[wasm_bindgen_test]
async fn a_token_shorter_than_the_threshold_is_refreshed_at_half_life_not_every_call() {
    let api = FakeApi::new();
    setup(&api, &[("refreshThresholdMs", 4_000_000.into())]).await;
    session_with(STALE, Some("refresh-1"));
    api.reply(
        "POST",
        REFRESH,
        200,
        r#"{"AccessToken":"a-2","ExpiresIn":60}"#,
        "application/json",
    );
    fd_fetch::ensure_fresh().await.unwrap();
    assert_eq!(api.count(REFRESH), 1);
    // 60 s tokens under a 4000 s threshold: fresh for their first 30 s.
    for _ in 0..3 {
        fd_fetch::ensure_fresh().await.unwrap();
    }
    assert_eq!(api.count(REFRESH), 1, "no refresh before half the lifetime");
    let left = get(&fd_fetch::get_session().unwrap(), "expiresAt")
        .as_f64()
        .unwrap()
        - now();
    assert!((59_000.0..=60_000.0).contains(&left), "{left}");
}

#[wasm_bindgen_test]
async fn cookie_mode_refreshes_through_the_proxy_without_a_token() {
    let api = FakeApi::new();
    setup(
        &api,
        &[
            ("refreshTokenIn", "cookie".into()),
            ("authUrl", "https://proxy.test/bff".into()),
        ],
    )
    .await;
    // Even a refresh token handed over is not kept in cookie mode.
    session_with(STALE, Some("refresh-SECRET-1"));
    api.route(
        "POST",
        "/bff/auth/refresh_token",
        &js_sys::Function::new_no_args(
            "return new Response(JSON.stringify({AccessToken: 'c-SECRET'}), {headers: {'content-type': 'application/json'}})",
        ),
    );
    let body = fd_fetch::fd("/me".into(), JsValue::UNDEFINED)
        .await
        .unwrap();
    assert_eq!(get_str(&body, "auth"), "Bearer c-SECRET");
    let sent = api.requests("/bff/auth/refresh_token").get(0);
    assert_eq!(
        get_str(&sent, "url"),
        "https://proxy.test/bff/auth/refresh_token"
    );
    assert_eq!(
        get_str(&sent, "body"),
        r#"{"token":null,"device_key":null,"device_group_key":null}"#
    );
    assert_eq!(get_str(&sent, "credentials"), "include");
    assert_eq!(
        get_str(&get(&sent, "headers"), "x-requested-with"),
        "fd-fetch"
    );
}

#[wasm_bindgen_test]
async fn without_web_locks_refreshes_stay_single_flight_and_sign_out_still_logs_out() {
    hide_locks();
    let api = FakeApi::new();
    setup(
        &api,
        &[
            ("refreshTokenIn", "cookie".into()),
            ("refreshTimeoutMs", 2_000.into()),
        ],
    )
    .await;
    api.reply("POST", "/api/auth/logout", 204, "", "");
    session_with(STALE, None);
    api.hold(REFRESH);
    let calls = join_all((0..10).map(|_| fut(fd_fetch::fd("/me".into(), JsValue::UNDEFINED))));
    let release = async {
        sleep(20).await;
        // The sign-out's logout waits for the refresh in flight, in this page at least.
        fd_fetch::sign_out().unwrap();
        sleep(20).await;
        assert_eq!(
            api.count("/api/auth/logout"),
            0,
            "logout before the refresh"
        );
        api.release(REFRESH);
    };
    let (results, ()) = futures::join!(calls, release);
    assert_eq!(api.count(REFRESH), 1, "one refresh for ten calls");
    for r in results {
        let e = r.expect_err("signed out meanwhile");
        assert_eq!(get_str(&e, "code"), "not_signed_in");
    }
    for _ in 0..100 {
        if api.count("/api/auth/logout") > 0 {
            break;
        }
        sleep(10).await;
    }
    show_locks();
    assert_eq!(
        api.count("/api/auth/logout"),
        1,
        "the logout went, after the refresh"
    );
    assert!(fd_fetch::get_session().unwrap().is_null());
}

#[wasm_bindgen_test]
async fn without_web_locks_one_refresh_follows_another() {
    hide_locks();
    let api = FakeApi::new();
    setup(&api, &[]).await;
    session_with(STALE, Some("refresh-1"));
    // Tokens that live 1 s: the second call, 600 ms later, refreshes again.
    api.reply(
        "POST",
        REFRESH,
        200,
        r#"{"AccessToken":"a-2","ExpiresIn":1}"#,
        "application/json",
    );
    let twice = async {
        fd_fetch::ensure_fresh().await.map_err(|_| "first")?;
        sleep(600).await;
        fd_fetch::ensure_fresh().await.map_err(|_| "second")?;
        Ok::<_, &str>(())
    };
    let deadline = async {
        sleep(5_000).await;
        Err("still waiting after 5 s")
    };
    let outcome = futures::future::select(Box::pin(twice), Box::pin(deadline))
        .await
        .factor_first()
        .0;
    show_locks();
    assert_eq!(outcome, Ok(()));
    assert_eq!(api.count(REFRESH), 2);
}
