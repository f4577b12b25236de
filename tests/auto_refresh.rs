//! `startAutoRefresh` / `stopAutoRefresh` (CONTRACT "Background refresh"): refreshes with no
//! request made, one at a time, until stopped; bad options are `bad_config`.
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const REFRESH: &str = "/api/auth/refresh_token";

fn every(ms: f64, threshold: Option<f64>) -> JsValue {
    let mut pairs = vec![("intervalMs", JsValue::from(ms))];
    if let Some(t) = threshold {
        pairs.push(("thresholdMs", t.into()));
    }
    obj(&pairs)
}

#[wasm_bindgen_test]
async fn it_refreshes_before_the_threshold_with_no_request_made() {
    let api = FakeApi::new();
    let (c, key) = client(&api, &[]).await;
    // 500 s left: above the requests' 300 s threshold, under the timer's 600 s default.
    let old = session_of(&c, 500_000.0, Some("refresh-SECRET-1"), "p-1");
    c.start_auto_refresh(every(10.0, None)).unwrap();
    assert!(until(|| api.count(REFRESH) == 1).await);
    assert!(until(|| stored(&key).is_some_and(|s| !s.contains(&old))).await);
    assert_ne!(get_str(&c.get_session().unwrap(), "accessToken"), old);
    // The new token is fresh: later ticks send nothing.
    sleep(100).await;
    assert_eq!(api.count(REFRESH), 1);
    assert_eq!(api.count("/api/me"), 0);
    c.stop_auto_refresh().unwrap();
    c.close();
}

#[wasm_bindgen_test]
async fn a_slow_refresh_is_not_piled_on_by_ticks() {
    let api = FakeApi::new();
    let (c, _) = client(&api, &[]).await;
    let (listener, events) = recorder();
    c.on_refresh(listener.into()).unwrap();
    session_of(&c, STALE, Some("refresh-SECRET-1"), "p-1");
    api.hold(REFRESH);
    c.start_auto_refresh(every(5.0, None)).unwrap();
    assert!(until(|| api.count(REFRESH) == 1).await);
    // Dozens of intervals pass while the refresh hangs: still the one request, nothing settled.
    sleep(200).await;
    assert_eq!((api.count(REFRESH), events.length()), (1, 0));
    api.release(REFRESH);
    assert!(until(|| events.length() == 1).await);
    sleep(100).await;
    assert_eq!((api.count(REFRESH), events.length()), (1, 1));
    c.close();
}

#[wasm_bindgen_test]
async fn stop_stops_it_and_start_again_replaces_the_timer() {
    let api = FakeApi::new();
    let (c, _) = client(&api, &[]).await;
    let (listener, events) = recorder();
    c.on_refresh(listener.into()).unwrap();
    session_of(&c, STALE, Some("refresh-SECRET-1"), "p-1");
    c.start_auto_refresh(every(10.0, None)).unwrap();
    // Settled, and the tick that waited on it over: a tick in progress when stopped still finishes
    // (and, like any waiter, would refresh a session installed under it meanwhile).
    assert!(until(|| events.length() == 1).await);
    sleep(30).await;
    c.stop_auto_refresh().unwrap();
    session_of(&c, STALE, Some("refresh-SECRET-1"), "p-1");
    sleep(150).await;
    assert_eq!(api.count(REFRESH), 1, "a stopped timer refreshed");
    // Started again with a threshold of 0: a stale (not expired) token is left alone...
    c.start_auto_refresh(every(10.0, Some(0.0))).unwrap();
    sleep(150).await;
    assert_eq!(api.count(REFRESH), 1);
    // ...and replaced by a timer with a large threshold, which refreshes it.
    c.start_auto_refresh(every(10.0, Some(600_000.0))).unwrap();
    assert!(until(|| api.count(REFRESH) == 2).await);
    c.close();
}

#[wasm_bindgen_test]
async fn transient_failures_wait_for_the_next_tick_and_a_dead_token_ends_the_session() {
    let api = FakeApi::new();
    let (c, key) = client(&api, &[]).await;
    session_of(&c, STALE, Some("refresh-SECRET-1"), "p-1");
    api.reply("POST", REFRESH, 503, "down", "text/plain");
    c.start_auto_refresh(every(10.0, None)).unwrap();
    // Tried again on later ticks, the session kept meanwhile.
    assert!(until(|| api.count(REFRESH) >= 3).await);
    assert!(c.get_session().unwrap().is_object());
    assert_eq!(api.expired_calls(), 0);
    // The refresh token is refused: the session ends as for a 401, once.
    api.reply("POST", REFRESH, 400, "{}", "application/json");
    assert!(until(|| api.expired_calls() == 1).await);
    assert!(c.get_session().unwrap().is_null());
    assert_eq!(stored(&key), None);
    // Signed out: the ticks send nothing more.
    let sent = api.count(REFRESH);
    sleep(100).await;
    assert_eq!(api.count(REFRESH), sent);
    assert_eq!(api.expired_calls(), 1);
    c.close();
}

#[wasm_bindgen_test]
async fn bad_options_are_bad_config_naming_the_option() {
    let api = FakeApi::new();
    let (c, _) = client(&api, &[]).await;
    let nan = JsValue::from(f64::NAN);
    let inf = JsValue::from(f64::INFINITY);
    let cases: Vec<(JsValue, &str)> = vec![
        (obj(&[("intervalMs", 0.into())]), "intervalMs"),
        (obj(&[("intervalMs", (-5).into())]), "intervalMs"),
        (obj(&[("intervalMs", nan.clone())]), "intervalMs"),
        (obj(&[("intervalMs", inf.clone())]), "intervalMs"),
        (obj(&[("intervalMs", "60000".into())]), "intervalMs"),
        (obj(&[("thresholdMs", (-1).into())]), "thresholdMs"),
        (obj(&[("thresholdMs", nan)]), "thresholdMs"),
        (obj(&[("thresholdMs", inf)]), "thresholdMs"),
        (throwing_getter("intervalMs"), "intervalMs"),
        (JsValue::from("fast"), "options"),
    ];
    for (opts, name) in cases {
        let e = expect_code(
            c.start_auto_refresh(opts.clone()).map(|()| JsValue::NULL),
            "bad_config",
        );
        assert!(get_str(&e, "message").contains(name), "{opts:?}: {e:?}");
    }
    // Defaults, and a threshold of 0, are fine.
    c.start_auto_refresh(JsValue::UNDEFINED).unwrap();
    c.start_auto_refresh(obj(&[])).unwrap();
    c.start_auto_refresh(every(1.5, Some(0.0))).unwrap();
    c.stop_auto_refresh().unwrap();
    c.close();
}
