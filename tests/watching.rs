//! `onRefresh` (CONTRACT "Watching refreshes"): one event per refresh, once it settles, with its
//! outcome and source, and never a token.
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use futures::future::join_all;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const REFRESH: &str = "/api/auth/refresh_token";

/// The event's fields, after checking it has exactly these three and names no token.
fn event(v: &JsValue) -> (String, String, f64) {
    let keys = js_sys::Object::keys(v.unchecked_ref::<js_sys::Object>());
    assert_eq!(keys.length(), 3, "{v:?}");
    let text = js_sys::JSON::stringify(v).unwrap().as_string().unwrap();
    assert!(!text.contains("SECRET") && !text.contains("eyJ"), "{text}");
    let ms = get(v, "durationMs").as_f64().unwrap();
    assert!(ms >= 0.0, "{ms}");
    (get_str(v, "outcome"), get_str(v, "source"), ms)
}

#[wasm_bindgen_test]
async fn one_fresh_event_for_many_waiters() {
    let api = FakeApi::new();
    let (c, _) = client(&api, &[]).await;
    let (listener, seen) = recorder();
    c.on_refresh(listener.into()).unwrap();
    session_of(&c, STALE, Some("refresh-SECRET-1"), "p-1");
    api.hold(REFRESH);
    let calls = join_all((0..10).map(|_| fut(c.fd("/me".into(), JsValue::UNDEFINED))));
    let release = async {
        sleep(20).await;
        // Not settled yet: nothing told.
        assert_eq!(seen.length(), 0);
        api.release(REFRESH);
    };
    let (results, ()) = futures::join!(calls, release);
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(api.count(REFRESH), 1);
    assert_eq!(seen.length(), 1);
    let (outcome, source, _) = event(&seen.get(0));
    assert_eq!((outcome.as_str(), source.as_str()), ("fresh", "this_tab"));
    // A fresh token: no refresh, no event.
    c.ensure_fresh().await.unwrap();
    assert_eq!(seen.length(), 1);
    c.close();
}

#[wasm_bindgen_test]
async fn a_failing_refresh_is_a_transient_failure_and_a_refused_one_is_dead() {
    let api = FakeApi::new();
    let (c, _) = client(&api, &[]).await;
    let (listener, seen) = recorder();
    c.on_refresh(listener.into()).unwrap();
    session_of(&c, STALE, Some("refresh-SECRET-1"), "p-1");
    api.reply("POST", REFRESH, 503, "down", "text/plain");
    c.ensure_fresh().await.expect("still valid: the old token");
    assert_eq!(seen.length(), 1);
    let (outcome, source, _) = event(&seen.get(0));
    assert_eq!(
        (outcome.as_str(), source.as_str()),
        ("transient_failure", "this_tab")
    );

    api.reply("POST", REFRESH, 401, "{}", "application/json");
    expect_code(c.ensure_fresh().await, "session_expired");
    assert_eq!(seen.length(), 2);
    let (outcome, source, _) = event(&seen.get(1));
    assert_eq!((outcome.as_str(), source.as_str()), ("dead", "this_tab"));
    assert_eq!(api.expired_calls(), 1);
    c.close();
}

#[wasm_bindgen_test]
async fn a_session_another_tab_refreshed_is_fresh_from_the_other_tab() {
    let api = FakeApi::new();
    let (c, key) = client(&api, &[]).await;
    let (listener, seen) = recorder();
    c.on_refresh(listener.into()).unwrap();
    session_of(&c, STALE, Some("refresh-SECRET-1"), "p-1");
    // Another tab refreshed the same user's session; its storage event has not arrived yet.
    let theirs = jwt(3600);
    store(
        &key,
        &format!(
            r#"{{"accessToken":"{theirs}","expiresAt":{},"partnerId":"p-1"}}"#,
            now() + FRESH
        ),
    );
    let out = c.ensure_fresh().await.unwrap();
    assert_eq!(get_str(&out, "accessToken"), theirs);
    assert_eq!(api.count(REFRESH), 0);
    assert_eq!(seen.length(), 1);
    let (outcome, source, _) = event(&seen.get(0));
    assert_eq!((outcome.as_str(), source.as_str()), ("fresh", "other_tab"));
    c.close();
}

#[wasm_bindgen_test]
async fn a_throwing_listener_is_reported_and_the_others_still_hear_and_can_unsubscribe() {
    let api = FakeApi::new();
    let (c, _) = client(&api, &[]).await;
    let reported = watch_reported();
    c.on_refresh(js_sys::Function::new_no_args("throw new Error('listener broke')").into())
        .unwrap();
    let (listener, seen) = recorder();
    let off: js_sys::Function = c.on_refresh(listener.into()).unwrap().unchecked_into();
    session_of(&c, STALE, Some("refresh-SECRET-1"), "p-1");
    c.ensure_fresh().await.unwrap();
    assert_eq!(seen.length(), 1);
    assert!(reported
        .iter()
        .any(|m| m.as_string().unwrap().contains("listener broke")));
    off.call0(&JsValue::UNDEFINED).unwrap();
    session_of(&c, STALE, Some("refresh-SECRET-1"), "p-1");
    c.ensure_fresh().await.unwrap();
    assert_eq!(api.count(REFRESH), 2);
    assert_eq!(seen.length(), 1);
    expect_code(c.on_refresh(JsValue::from(1)), "bad_config");
    c.close();
}
