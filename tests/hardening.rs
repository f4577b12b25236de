//! A hostile page, network or input (CONTRACT "Hardening"), in real Chromium. Each test names the
//! report of issue 8 it proves fixed.
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use futures::future::{select, Either};
use js_sys::JsString;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const REFRESH: &str = "/api/auth/refresh_token";
const MFA: &str = "/api/auth/challenge/mfa-token";

/// The promise's outcome, or a failed test if it has not settled within `ms` (a hang is the bug).
async fn settled(p: js_sys::Promise, ms: u32) -> Result<JsValue, JsValue> {
    let timer = Box::pin(sleep(ms));
    match select(fut(p), timer).await {
        Either::Left((r, _)) => r,
        Either::Right(_) => panic!("the call did not settle within {ms} ms"),
    }
}

/// Proves every export still works: a session, a request with it, the session read back, sign-out.
async fn all_exports_work(api: &FakeApi) {
    let token = session_with(FRESH, Some("refresh-SECRET-1"));
    let body = settled(fd_fetch::fd("/me".into(), JsValue::UNDEFINED), 5000)
        .await
        .expect("fd after the faults");
    assert_eq!(get_str(&body, "auth"), format!("Bearer {token}"));
    let fresh = settled(fd_fetch::ensure_fresh(), 5000).await.unwrap();
    assert_eq!(get_str(&fresh, "accessToken"), token);
    assert!(fd_fetch::get_session().unwrap().is_object());
    fd_fetch::sign_out().unwrap();
    assert!(fd_fetch::get_session().unwrap().is_null());
    let _ = api;
}

// Report 1: auth calls followed redirects. Every auth call now goes with `redirect: "error"`, so a
// 3xx is a failure and its body is never re-sent (e2e/hardening.test.mjs shows it with a real 307).
#[wasm_bindgen_test]
async fn auth_calls_never_follow_redirects() {
    let api = FakeApi::new();
    setup(&api, &[]).await;
    mfa_challenge(&api);
    fd_fetch::sign_in(alice(), partner("p-1")).await.unwrap();
    api.reply(
        "PUT",
        MFA,
        200,
        r#"{"AccessToken":"a.b.c"}"#,
        "application/json",
    );
    fd_fetch::complete_mfa(obj(&[("code", "1".into())]))
        .await
        .unwrap();
    session_with(STALE, Some("refresh-SECRET-1"));
    fd_fetch::ensure_fresh().await.unwrap();
    for path in ["/api/auth", MFA, REFRESH] {
        let r = api.requests(path).get(0);
        assert_eq!(get_str(&r, "redirect"), "error", "{path}");
    }
}

// Report 2: options were read through the prototype chain.
#[wasm_bindgen_test]
async fn options_are_read_from_own_properties_only() {
    let api = FakeApi::new();
    pollute("authUrl", "https://evil.test/api".into());
    pollute("refreshTokenIn", "cookie".into());
    setup(&api, &[]).await;
    let signed = fd_fetch::sign_in(alice(), partner("p-1")).await;
    pollute("authUrl", JsValue::UNDEFINED);
    pollute("refreshTokenIn", JsValue::UNDEFINED);
    signed.unwrap();
    let sent = api.requests("/api/auth").get(0);
    assert_eq!(get_str(&sent, "url"), "https://api.test/api/auth");
    assert_eq!(get_str(&sent, "credentials"), "same-origin");

    // A getter that throws is bad_config, naming the option.
    let e = expect_code(
        fd_fetch::configure(throwing_getter("baseUrl")).await,
        "bad_config",
    );
    assert!(get_str(&e, "message").contains("baseUrl"));
}

// Report 2, the answers: a polluted prototype cannot turn a challenge into tokens.
#[wasm_bindgen_test]
async fn answers_are_read_from_own_properties_only() {
    let api = FakeApi::new();
    setup(&api, &[]).await;
    mfa_challenge(&api);
    pollute("AccessToken", "polluted.token.SECRET".into());
    let r = fd_fetch::sign_in(alice(), partner("p-1")).await;
    pollute("AccessToken", JsValue::UNDEFINED);
    assert_eq!(get_str(&r.unwrap(), "status"), "mfa_required");
    assert!(fd_fetch::get_session().unwrap().is_null());
}

// Report 3: a throwing getter in a completeMfa body hung the call, the calls started beside it,
// and after ~3,300 throws poisoned the module.
#[wasm_bindgen_test]
async fn throwing_getters_settle_and_never_poison_the_module() {
    let api = FakeApi::new();
    setup(&api, &[]).await;
    mfa_challenge(&api);
    fd_fetch::sign_in(alice(), partner("p-1")).await.unwrap();
    for _ in 0..5000 {
        let mfa = fd_fetch::complete_mfa(throwing_getter("code"));
        let beside = fd_fetch::ensure_fresh();
        expect_code(settled(mfa, 2000).await, "bad_config");
        expect_code(settled(beside, 2000).await, "not_signed_in");
    }
    // Every other way in that reads a caller's object: a clear FdError, nothing sent.
    expect_code(
        settled(
            fd_fetch::sign_in(throwing_getter("toJSON"), partner("p-1")),
            2000,
        )
        .await,
        "bad_config",
    );
    expect_code(
        settled(
            fd_fetch::sign_in(alice(), throwing_getter("partnerId")),
            2000,
        )
        .await,
        "bad_config",
    );
    expect_code(
        fd_fetch::set_session(throwing_getter("accessToken")).map(|()| JsValue::NULL),
        "bad_config",
    );
    session_with(FRESH, None);
    expect_code(
        settled(fd_fetch::fd("/me".into(), throwing_getter("headers")), 2000).await,
        "bad_request",
    );
    assert_eq!(api.count("/api/me"), 0);
    fd_fetch::sign_out().unwrap();
    all_exports_work(&api).await;
}

// Report 3, the injected fetch: one that throws, or returns something that is not a Response.
#[wasm_bindgen_test]
async fn a_throwing_fetch_is_a_network_error() {
    let api = FakeApi::new();
    let throws = js_sys::Function::new_no_args("throw new Error('fetch threw')");
    setup(&api, &[("fetch", throws.into())]).await;
    session_with(FRESH, None);
    for _ in 0..100 {
        expect_code(
            settled(fd_fetch::fd("/me".into(), JsValue::UNDEFINED), 2000).await,
            "network",
        );
    }
    let thenable =
        js_sys::Function::new_no_args("return { then() { throw new Error('then threw') } }");
    setup(&api, &[("fetch", thenable.into())]).await;
    session_with(FRESH, None);
    expect_code(
        settled(fd_fetch::fd("/me".into(), JsValue::UNDEFINED), 2000).await,
        "network",
    );
    setup(&api, &[]).await;
    all_exports_work(&api).await;
}

// Report 3, the Response an injected fetch gives: its getters and methods may throw too.
#[wasm_bindgen_test]
async fn a_hostile_response_settles_and_never_poisons_the_module() {
    let api = FakeApi::new();
    let odd = |prop: &str, kind: &str| {
        let src = format!(
            "const r = new Response('{{}}', {{ headers: {{ 'content-type': 'application/json' }} }});
             return Object.defineProperty(r, '{prop}', {{ {kind}() {{ throw new Error('{prop} threw') }} }});"
        );
        js_sys::Function::new_no_args(&src)
    };
    for (fetch, code) in [
        (odd("status", "get"), Some("bad_response")),
        // Without a content type to go by, the body is text.
        (odd("headers", "get"), None),
        (odd("text", "value: function"), Some("network")),
    ] {
        setup(&api, &[("fetch", fetch.into())]).await;
        session_with(FRESH, None);
        for _ in 0..1000 {
            let r = settled(fd_fetch::fd("/me".into(), JsValue::UNDEFINED), 2000).await;
            match code {
                Some(code) => drop(expect_code(r, code)),
                None => assert_eq!(r.unwrap().as_string().as_deref(), Some("{}")),
            }
        }
    }
    setup(&api, &[]).await;
    all_exports_work(&api).await;
}

// CONTRACT "Hardening": a listener's error is reported (as an uncaught one would be) and ignored.
#[wasm_bindgen_test]
async fn a_throwing_listener_is_reported_and_ignored() {
    let api = FakeApi::new();
    let reported = watch_reported();
    let throws = js_sys::Function::new_no_args("throw new Error('listener threw')");
    setup(&api, &[("onSessionExpired", throws.clone().into())]).await;
    let unsubscribe: js_sys::Function = fd_fetch::on_session_change(throws.into()).unwrap().into();
    api.reply("GET", "/api/me", 401, "", "");
    for _ in 0..100 {
        session_with(FRESH, Some("refresh-SECRET-1"));
        expect_code(
            fd_fetch::fd("/me".into(), JsValue::UNDEFINED).await,
            "session_expired",
        );
    }
    // Each round: the listener on setSession and on expiry, and onSessionExpired.
    assert_eq!(reported.length(), 300);
    assert_eq!(
        reported.get(0).as_string().as_deref(),
        Some("listener threw")
    );
    unsubscribe.call0(&JsValue::NULL).unwrap();
    let api = FakeApi::new();
    setup(&api, &[]).await;
    all_exports_work(&api).await;
}

// Report 4: configure again, same storageKey, another fetch or authUrl: the refresh token stayed.
#[wasm_bindgen_test]
async fn reconfiguring_where_tokens_go_drops_the_refresh_token() {
    let api = FakeApi::new();
    let key = setup(&api, &[]).await;
    let token = session_with(STALE, Some("refresh-SECRET-1"));
    let other = FakeApi::new();
    let same_key = ("storageKey", JsValue::from(key.as_str()));
    setup(&other, std::slice::from_ref(&same_key)).await;
    // The session goes on with its still-valid token; no refresh goes anywhere.
    let body = fd_fetch::fd("/me".into(), JsValue::UNDEFINED)
        .await
        .unwrap();
    assert_eq!(get_str(&body, "auth"), format!("Bearer {token}"));
    assert_eq!(other.count(REFRESH) + api.count(REFRESH), 0);

    // The same with the same fetch and another authUrl.
    setup(&api, std::slice::from_ref(&same_key)).await;
    session_with(STALE, Some("refresh-SECRET-1"));
    let auth_url = ("authUrl", JsValue::from("https://auth.other.test/api"));
    setup(&api, &[same_key.clone(), auth_url]).await;
    fd_fetch::fd("/me".into(), JsValue::UNDEFINED)
        .await
        .unwrap();
    assert_eq!(api.count(REFRESH), 0);

    // Configuring again with the same fetch and authUrl keeps it.
    setup(&api, std::slice::from_ref(&same_key)).await;
    session_with(STALE, Some("refresh-SECRET-1"));
    setup(&api, &[same_key]).await;
    fd_fetch::fd("/me".into(), JsValue::UNDEFINED)
        .await
        .unwrap();
    assert_eq!(api.count(REFRESH), 1);
}

// CONTRACT "Hardening": a later change to `globalThis.fetch` does not reach auth calls.
#[wasm_bindgen_test]
async fn a_later_global_fetch_does_not_reach_auth_calls() {
    let api = FakeApi::new();
    let global = js_sys::global();
    let original = js_sys::Reflect::get(&global, &"fetch".into()).unwrap();
    let opts = obj(&[
        ("baseUrl", BASE.into()),
        ("storageKey", fresh_key().into()),
        ("onSessionExpired", api.on_expired().into()),
    ]);
    fd_fetch::configure(opts).await.unwrap();
    js_sys::Reflect::set(&global, &"fetch".into(), &api.fetch()).unwrap();
    let signed = fd_fetch::sign_in(alice(), partner("p-1")).await;
    js_sys::Reflect::set(&global, &"fetch".into(), &original).unwrap();
    // The fetch captured at configure went to the (unreachable) https://api.test.
    expect_code(signed, "network");
    assert_eq!(api.count("/api/auth"), 0);
}

// Report 5: the refresh token stayed in wasm memory after sign-out. Tokens are made on the JS side
// (no test source holds them) and looked for in the whole linear memory, freed blocks included.
#[wasm_bindgen_test]
async fn dropped_tokens_are_wiped_from_wasm_memory() {
    let api = FakeApi::new();
    api.unique_refresh_token();
    setup(&api, &[("refreshThresholdMs", 3_599_000.into())]).await;
    fd_fetch::sign_in(alice(), partner("p-1")).await.unwrap();
    // Past the threshold as soon as it arrives: each call refreshes, replacing the access token.
    for _ in 0..3 {
        sleep(1100).await;
        fd_fetch::fd("/me".into(), JsValue::UNDEFINED)
            .await
            .unwrap();
    }
    assert!(api.count(REFRESH) >= 2, "{}", api.count(REFRESH));
    let memory = wasm_bindgen::memory();
    // While signed in, the current tokens are in memory: the search would find them.
    assert!(memory_holds_tokens_of(&memory, &api).length() >= 2);
    fd_fetch::sign_out().unwrap();
    // The sign-out's tail (under the tabs' lock, after any refresh in flight) still holds the
    // ended session until it has checked storage for a late write of it: wait for that, up to 5 s
    // (a loaded machine takes more than the few ms it takes here).
    let mut found = memory_holds_tokens_of(&memory, &api);
    for _ in 0..100 {
        if found.length() == 0 {
            break;
        }
        sleep(50).await;
        found = memory_holds_tokens_of(&memory, &api);
    }
    assert_eq!(
        found.length(),
        0,
        "{} token(s) left in wasm memory after sign-out",
        found.length()
    );
}

// Report 10's sibling: an auth answer is read at most 256 KB, on the JS side. A bigger sign-in
// answer is bad_response; a bigger refresh answer is a transient failure.
#[wasm_bindgen_test]
async fn auth_answers_over_256_kb_are_refused() {
    let api = FakeApi::new();
    setup(&api, &[]).await;
    let big = format!(
        r#"{{"pad":"{}","AccessToken":"{}"}}"#,
        "x".repeat(300 * 1024),
        jwt(3600)
    );
    api.reply("POST", "/api/auth", 200, &big, "application/json");
    expect_code(
        fd_fetch::sign_in(alice(), partner("p-1")).await,
        "bad_response",
    );
    assert!(fd_fetch::get_session().unwrap().is_null());
    api.reply("POST", REFRESH, 200, &big, "application/json");
    let token = session_with(STALE, Some("refresh-SECRET-1"));
    let body = fd_fetch::fd("/me".into(), JsValue::UNDEFINED)
        .await
        .unwrap();
    assert_eq!(get_str(&body, "auth"), format!("Bearer {token}"));
    assert_eq!(api.count(REFRESH), 1);
}

// Report 7: partner ids above U+00FF were accepted, then every fd() threw a bare TypeError.
#[wasm_bindgen_test]
async fn partner_ids_are_visible_ascii() {
    let api = FakeApi::new();
    setup(&api, &[]).await;
    for bad in ["Ā", "ü", "p 1", "p\u{7f}", ""] {
        let e = expect_code(fd_fetch::sign_in(alice(), partner(bad)).await, "bad_config");
        assert!(get_str(&e, "message").contains("partnerId"));
        let input = obj(&[("accessToken", jwt(3600).into()), ("partnerId", bad.into())]);
        expect_code(
            fd_fetch::set_session(input).map(|()| JsValue::NULL),
            "bad_config",
        );
    }
    assert_eq!(api.count("/api/auth"), 0);
    all_exports_work(&api).await;
}

// Report 8: an injected fetch that drops the signal left the refresh, and every later call, pending.
#[wasm_bindgen_test]
async fn a_fetch_that_ignores_the_signal_cannot_hang_the_refresh() {
    let api = FakeApi::new();
    setup(&api, &[("refreshTimeoutMs", 200.into())]).await;
    api.deaf(REFRESH);
    let token = session_with(STALE, Some("refresh-SECRET-1"));
    let body = settled(fd_fetch::fd("/me".into(), JsValue::UNDEFINED), 3000)
        .await
        .expect("goes on with the still-valid token");
    assert_eq!(get_str(&body, "auth"), format!("Bearer {token}"));
    session_with(-1000.0, Some("refresh-SECRET-1"));
    expect_code(
        settled(fd_fetch::fd("/me".into(), JsValue::UNDEFINED), 3000).await,
        "refresh_failed",
    );
    assert!(fd_fetch::get_session().unwrap().is_object(), "session kept");
}

// Report 9: `mode: "no-cors"` silently dropped both headers, and the API's 401 ended the session.
#[wasm_bindgen_test]
async fn no_cors_is_refused_before_anything_is_sent() {
    let api = FakeApi::new();
    setup(&api, &[]).await;
    session_with(FRESH, Some("refresh-SECRET-1"));
    let no_cors = || obj(&[("mode", "no-cors".into())]);
    expect_code(fd_fetch::fd("/me".into(), no_cors()).await, "bad_request");
    expect_code(
        fd_fetch::fd_response("/me".into(), no_cors()).await,
        "bad_request",
    );
    assert_eq!(api.count("/api/me"), 0);
    assert!(fd_fetch::get_session().unwrap().is_object());
}

// Report 10: a path of a few hundred MB trapped on allocation, and the promise never settled.
#[wasm_bindgen_test]
async fn paths_over_8_kib_are_bad_path() {
    let api = FakeApi::new();
    setup(&api, &[]).await;
    session_with(FRESH, None);
    let longest = format!("/me?q={}", "a".repeat(8192 - 6));
    fd_fetch::fd(longest.into(), JsValue::UNDEFINED)
        .await
        .expect("8 KiB is allowed");
    let over = format!("/me?q={}", "a".repeat(8192 - 5));
    expect_code(
        fd_fetch::fd(over.into(), JsValue::UNDEFINED).await,
        "bad_path",
    );
    let huge = JsString::from("/").concat(&JsString::from("a").repeat(300_000_000));
    expect_code(
        settled(fd_fetch::fd(huge.into(), JsValue::UNDEFINED), 5000).await,
        "bad_path",
    );
    assert_eq!(api.count("/api/me"), 1, "only the 8 KiB path was sent");
    all_exports_work(&api).await;
}
