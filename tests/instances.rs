//! `createClient` (CONTRACT "Instances"): independent clients in one page, `close()`, and the two
//! helpers `attachAxios` is built on (`covers`, `unauthorized`).
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const A_REFRESH: &str = "/api/auth/refresh_token";
const B_BASE: &str = "https://b.test/v2";
const B_REFRESH: &str = "/v2/auth/refresh_token";

/// A second API, at another origin and prefix, for client B.
fn api_b() -> FakeApi {
    let api = FakeApi::new();
    let me = js_sys::Function::new_with_args(
        "r",
        "return new Response(JSON.stringify({ auth: r.headers.authorization ?? null, partner: r.headers['x-preferred-partner-id'] ?? null }), { headers: { 'content-type': 'application/json' } })",
    );
    api.route("GET", "/v2/me", &me);
    let refresh = js_sys::Function::new_with_args(
        "",
        "return new Response(JSON.stringify({ AccessToken: 'b-' + crypto.randomUUID() + '-SECRET' }), { headers: { 'content-type': 'application/json' } })",
    );
    api.route("POST", "/v2/auth/refresh_token", &refresh);
    api
}

#[wasm_bindgen_test]
async fn two_clients_keep_separate_sessions_headers_refreshes_and_listeners() {
    let (a_api, b_api) = (FakeApi::new(), api_b());
    let (a, a_key) = client(&a_api, &[]).await;
    let (b, b_key) = client(&b_api, &[("baseUrl", B_BASE.into())]).await;
    let (a_heard, a_seen) = recorder();
    let (b_heard, b_seen) = recorder();
    a.on_session_change(a_heard.into()).unwrap();
    b.on_session_change(b_heard.into()).unwrap();

    // Both stale, each with its own refresh token: each refreshes at its own API, once.
    let a_old = session_of(&a, STALE, Some("a-refresh-SECRET"), "p-a");
    let b_old = session_of(&b, STALE, Some("b-refresh-SECRET"), "p-b");
    let (ra, rb) = futures::join!(
        fut(a.fd("/me".into(), JsValue::UNDEFINED)),
        fut(b.fd("/me".into(), JsValue::UNDEFINED))
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!((a_api.count(A_REFRESH), b_api.count(B_REFRESH)), (1, 1));
    assert!(get_str(&a_api.requests(A_REFRESH).get(0), "body").contains("a-refresh-SECRET"));
    assert!(get_str(&b_api.requests(B_REFRESH).get(0), "body").contains("b-refresh-SECRET"));
    let (a_now, b_now) = (
        get_str(&a.get_session().unwrap(), "accessToken"),
        get_str(&b.get_session().unwrap(), "accessToken"),
    );
    assert!(a_now != a_old && b_now != b_old && b_now.starts_with("b-"));
    assert_eq!(get_str(&ra, "auth"), format!("Bearer {a_now}"));
    assert_eq!(get_str(&ra, "partner"), "p-a");
    assert_eq!(get_str(&rb, "auth"), format!("Bearer {b_now}"));
    assert_eq!(get_str(&rb, "partner"), "p-b");
    // Nothing of one went to the other's API.
    assert_eq!(a_api.count("/v2/me") + b_api.count("/api/me"), 0);
    // Each stored under its own key.
    assert!(stored(&a_key).unwrap().contains(&a_now));
    assert!(stored(&b_key).unwrap().contains(&b_now));

    // Listeners heard their own client only: setSession, then the refresh.
    assert_eq!((a_seen.length(), b_seen.length()), (2, 2));
    assert_eq!(get_str(&a_seen.get(1), "partnerId"), "p-a");
    assert_eq!(get_str(&b_seen.get(1), "partnerId"), "p-b");

    // A's sign-out leaves B alone.
    a.sign_out().unwrap();
    assert!(a.get_session().unwrap().is_null());
    assert_eq!(stored(&a_key), None);
    assert_eq!(get_str(&b.get_session().unwrap(), "accessToken"), b_now);
    assert!(stored(&b_key).is_some());
    assert_eq!((a_seen.length(), b_seen.length()), (3, 2));
    a.close();
    b.close();
}

#[wasm_bindgen_test]
async fn the_default_client_and_another_client_live_side_by_side() {
    let (a_api, b_api) = (FakeApi::new(), api_b());
    setup(&a_api, &[]).await;
    let (b, _) = client(&b_api, &[("baseUrl", B_BASE.into())]).await;
    let a_token = session_with(FRESH, None);
    let b_token = session_of(&b, FRESH, None, "p-b");
    let ra = fd_fetch::fd("/me".into(), JsValue::UNDEFINED)
        .await
        .unwrap();
    let rb = b.fd("/me".into(), JsValue::UNDEFINED).await.unwrap();
    assert_eq!(get_str(&ra, "auth"), format!("Bearer {a_token}"));
    assert_eq!(get_str(&rb, "auth"), format!("Bearer {b_token}"));
    b.close();
}

#[wasm_bindgen_test]
async fn two_open_clients_may_not_share_a_storage_key() {
    let api = FakeApi::new();
    let (a, key) = client(&api, &[]).await;
    let opts = |key: &str| {
        obj(&[
            ("baseUrl", BASE.into()),
            ("fetch", api.fetch().into()),
            ("storageKey", key.into()),
        ])
    };
    let e = expect_code(
        fd_fetch::new_client(opts(&key))
            .await
            .map(|_| JsValue::NULL),
        "bad_config",
    );
    assert!(get_str(&e, "message").contains("storageKey"), "{e:?}");
    // Nor may a client be moved onto another's key.
    let (b, _) = client(&api, &[]).await;
    let e = expect_code(b.configure(opts(&key)).await, "bad_config");
    assert!(get_str(&e, "message").contains("storageKey"), "{e:?}");
    // Reconfiguring a client on its own key is fine; once it is closed, the key is free.
    a.configure(opts(&key))
        .await
        .expect("same key, same client");
    a.close();
    let c = fd_fetch::new_client(opts(&key))
        .await
        .expect("key freed by close");
    c.close();
    b.close();
}

#[wasm_bindgen_test]
async fn a_closed_client_hears_nothing_and_refuses_every_call() {
    let api = FakeApi::new();
    let (c, key) = client(&api, &[]).await;
    session_of(&c, FRESH, Some("refresh-SECRET-1"), "p-1");
    let (heard, seen) = recorder();
    c.on_session_change(heard.into()).unwrap();
    let (refreshes, events) = recorder();
    c.on_refresh(refreshes.into()).unwrap();
    assert_eq!(seen.length(), 0);
    c.close();
    c.close(); // harmless
               // Another tab writes and removes the session: the closed client is not told.
    fire_storage(&key, None);
    tick().await;
    assert_eq!((seen.length(), events.length()), (0, 0));
    // The session stays in storage for the other tabs.
    assert!(stored(&key).is_some());
    let ok = |r: Result<(), JsValue>| r.map(|()| JsValue::UNDEFINED);
    expect_code(
        c.fd("/me".into(), JsValue::UNDEFINED).await,
        "not_configured",
    );
    expect_code(
        c.fd_response("/me".into(), JsValue::UNDEFINED).await,
        "not_configured",
    );
    expect_code(c.sign_in(alice(), partner("p-1")).await, "not_configured");
    expect_code(c.complete_mfa(obj(&[])).await, "not_configured");
    expect_code(c.ensure_fresh().await, "not_configured");
    expect_code(c.get_session(), "not_configured");
    expect_code(ok(c.sign_out()), "not_configured");
    expect_code(
        ok(c.start_auto_refresh(JsValue::UNDEFINED)),
        "not_configured",
    );
    expect_code(ok(c.stop_auto_refresh()), "not_configured");
    expect_code(
        c.on_session_change(js_sys::Function::new_no_args("").into()),
        "not_configured",
    );
    expect_code(
        c.on_refresh(js_sys::Function::new_no_args("").into()),
        "not_configured",
    );
    expect_code(
        c.configure(obj(&[("baseUrl", BASE.into())])).await,
        "not_configured",
    );
    assert_eq!(api.records().length(), 0);
}

#[wasm_bindgen_test]
async fn close_stops_the_auto_refresh_timer() {
    let api = FakeApi::new();
    let (c, _) = client(&api, &[]).await;
    session_of(&c, STALE, Some("refresh-SECRET-1"), "p-1");
    api.hold(A_REFRESH);
    c.start_auto_refresh(obj(&[("intervalMs", 10.into())]))
        .unwrap();
    assert!(until(|| api.count(A_REFRESH) == 1).await);
    c.close();
    api.release(A_REFRESH);
    // The refresh in flight ends; its answer is dropped, and no tick follows.
    sleep(150).await;
    assert_eq!(api.count(A_REFRESH), 1);
    expect_code(c.get_session(), "not_configured");
}

#[wasm_bindgen_test]
async fn covers_accepts_what_fd_would_send_and_refuses_the_rest() {
    let api = FakeApi::new();
    let (c, _) = client(&api, &[]).await;
    let covers = |u: &str| c.covers(u.into()).unwrap();
    for yes in [
        "https://api.test/api/me",
        "https://api.test/api/orders/1?x=a/../b",
        "https://api.test/api/",
    ] {
        assert!(covers(yes), "{yes}");
    }
    for no in [
        "https://api.test/api",
        "https://api.test/apix/me",
        "https://api.test/other",
        "https://evil.test/api/me",
        "http://api.test/api/me",
        "https://api.test:8443/api/me",
        "https://api.test@evil.test/api/me",
        "https://api.test.evil.test/api/me",
        "https://api.test/api/../admin",
        "https://api.test/api/%2e%2e/admin",
        "https://api.test/api/%252e%252e/admin",
        "https://api.test/api//evil.test/x",
        "https://api.test/api/\\evil.test",
        "https://api.test/api/a\tb",
        "/api/me",
        "",
    ] {
        assert!(!covers(no), "{no}");
    }
    assert!(!c.covers(42.into()).unwrap());
    assert!(!c.covers(JsValue::UNDEFINED).unwrap());
    c.close();
    expect_code(
        c.covers("https://api.test/api/me".into())
            .map(JsValue::from),
        "not_configured",
    );
}

#[wasm_bindgen_test]
async fn unauthorized_ends_the_session_once_and_leaves_a_newer_one_alone() {
    let api = FakeApi::new();
    let (c, key) = client(&api, &[]).await;
    let old = session_of(&c, FRESH, Some("refresh-SECRET-1"), "p-1");
    // A 401 for a token since replaced: nothing happens.
    let new = session_of(&c, FRESH, Some("refresh-SECRET-1"), "p-1");
    c.unauthorized(old.as_str().into());
    assert_eq!(get_str(&c.get_session().unwrap(), "accessToken"), new);
    assert_eq!(api.expired_calls(), 0);
    // For the current one: the session ends, once, however many 401s arrive.
    c.unauthorized(new.as_str().into());
    c.unauthorized(new.as_str().into());
    assert!(c.get_session().unwrap().is_null());
    assert_eq!(stored(&key), None);
    assert_eq!(api.expired_calls(), 1);
    // Garbage is ignored.
    c.unauthorized(JsValue::NULL);
    c.close();
}

#[wasm_bindgen_test]
async fn a_client_dropped_without_close_lets_go_of_its_channel_and_locks() {
    let api = FakeApi::new();
    let reported = watch_reported();
    let (c, key) = client(&api, &[]).await;
    session_of(&c, FRESH, Some("refresh-SECRET-1"), "p-1");
    let holder = format!("fd-fetch:{key}:holder");
    assert!(until_async_holds(&holder, true).await, "holder lock taken");
    // Its JS object collected: the Rust side drops it.
    drop(c);
    assert!(
        until_async_holds(&holder, false).await,
        "holder lock let go"
    );
    // Another tab asks on its channel: nobody there, and no dead handler throws.
    post_on(
        &format!("fd-fetch:{key}"),
        &obj(&[("fd", "need".into()), ("id", 1.into())]),
    );
    sleep(50).await;
    assert_eq!(reported.length(), 0, "{:?}", reported.to_vec());
}

/// Waits (2 s at most) until the lock `name` is held (`held`) or not.
async fn until_async_holds(name: &str, held: bool) -> bool {
    for _ in 0..200 {
        if held_locks().await.iter().any(|n| n == name) == held {
            return true;
        }
        sleep(10).await;
    }
    false
}
