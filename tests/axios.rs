//! `attachAxios` (CONTRACT "axios"), the JS adapter in `js/support.js`, on a real client in
//! Chromium, with an axios stand-in (`MiniAxios` in the fake API; the e2e suites use real axios).
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(module = "/js/support.js")]
extern "C" {
    #[wasm_bindgen(js_name = attachAxios, catch)]
    fn attach_axios(client: &JsValue, instance: &JsValue) -> Result<Function, JsValue>;
}

#[wasm_bindgen(module = "/tests/common/fake_api.js")]
extern "C" {
    type MiniAxios;
    #[wasm_bindgen(constructor)]
    fn new(base_url: &str, fetch: &Function) -> MiniAxios;
    #[wasm_bindgen(method)]
    fn request(this: &MiniAxios, config: &JsValue) -> Promise;
}

const REFRESH: &str = "/api/auth/refresh_token";

async fn get(ax: &MiniAxios, url: &str, headers: &[(&str, JsValue)]) -> Result<JsValue, JsValue> {
    JsFuture::from(ax.request(&obj(&[("url", url.into()), ("headers", obj(headers))]))).await
}

/// What the fake saw of the `i`th request: its URL and the two headers (`-` when absent).
fn seen(api: &FakeApi, i: u32) -> (String, String, String) {
    let r = api.records().get(i);
    let h = common::get(&r, "headers");
    let header = |k: &str| common::get(&h, k).as_string().unwrap_or_else(|| "-".into());
    (
        get_str(&r, "url"),
        header("authorization"),
        header("x-preferred-partner-id"),
    )
}

#[wasm_bindgen_test]
async fn covered_urls_get_the_session_and_others_nothing() {
    let api = FakeApi::new();
    let (c, _) = client(&api, &[]).await;
    let token = session_of(&c, FRESH, None, "p-1");
    let ax = MiniAxios::new("https://api.test/api/", &api.fetch());
    attach_axios(&c.clone().into(), &ax).unwrap();
    let bearer = format!("Bearer {token}");
    get(&ax, "/me", &[("Authorization", "Bearer caller".into())])
        .await
        .unwrap();
    get(&ax, "me?x=1", &[]).await.unwrap();
    get(&ax, "https://api.test/api/me", &[]).await.unwrap();
    for (i, url) in [
        "https://api.test/api/me",
        "https://api.test/api/me?x=1",
        "https://api.test/api/me",
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(
            seen(&api, i as u32),
            (url.to_string(), bearer.clone(), "p-1".into())
        );
    }
    // Not under baseUrl, or not by fd's rule: untouched, the caller's header kept.
    // Without a baseURL, a path from the root is on the page's origin, not the API's.
    let bare = MiniAxios::new("", &api.fetch());
    attach_axios(&c.clone().into(), &bare).unwrap();
    for (ax, url) in [
        (&ax, "https://evil.test/api/me"),
        (&ax, "//api.test/api/me"),
        (&ax, "https://api.test/apix/me"),
        (&ax, "https://api.test/api/%2e%2e/admin"),
        (&bare, "/api/me"),
    ] {
        let n = api.records().length();
        let _ = get(ax, url, &[("X-Trace", "1".into())]).await;
        assert_eq!(api.records().length(), n + 1, "{url}");
        let (_, auth, partner) = seen(&api, n);
        assert_eq!((auth.as_str(), partner.as_str()), ("-", "-"), "{url}");
        let headers = common::get(&api.records().get(n), "headers");
        assert_eq!(
            common::get(&headers, "x-trace").as_string().as_deref(),
            Some("1")
        );
    }
    c.close();
}

#[wasm_bindgen_test]
async fn concurrent_requests_share_one_refresh() {
    let api = FakeApi::new();
    let (c, _) = client(&api, &[]).await;
    session_of(&c, STALE, Some("refresh-SECRET-1"), "p-1");
    let ax = MiniAxios::new("https://api.test/api", &api.fetch());
    attach_axios(&c.clone().into(), &ax).unwrap();
    let all = futures::future::join_all((0..5).map(|_| get(&ax, "/me", &[]))).await;
    assert!(all.iter().all(Result::is_ok));
    assert_eq!(api.count(REFRESH), 1);
    let now = format!(
        "Bearer {}",
        get_str(&c.get_session().unwrap(), "accessToken")
    );
    for i in 0..5 {
        assert_eq!(auth_header(&api, "/api/me", i), now);
    }
    c.close();
}

#[wasm_bindgen_test]
async fn a_401_ends_the_session_once_and_other_errors_pass_through() {
    let api = FakeApi::new();
    let (c, key) = client(&api, &[]).await;
    session_of(&c, FRESH, None, "p-1");
    let ax = MiniAxios::new("https://api.test/api", &api.fetch());
    let detach = attach_axios(&c.clone().into(), &ax).unwrap();
    api.reply("GET", "/api/boom", 500, "down", "text/plain");
    let e = get(&ax, "/boom", &[]).await.unwrap_err();
    assert_eq!(
        get_str(&e, "message"),
        "Request failed with status code 500"
    );
    assert!(c.get_session().unwrap().is_object());

    api.reply("GET", "/api/revoked", 401, "{}", "application/json");
    api.hold("/api/revoked");
    let two = futures::future::join_all((0..2).map(|_| get(&ax, "/revoked", &[])));
    let release = async {
        sleep(20).await;
        api.release("/api/revoked");
    };
    let (two, ()) = futures::join!(two, release);
    for r in two {
        let e = expect_code(r, "session_expired");
        assert_eq!(common::get(&e, "status").as_f64(), Some(401.0));
    }
    assert_eq!(api.expired_calls(), 1);
    assert!(c.get_session().unwrap().is_null());
    assert_eq!(stored(&key), None);
    assert_eq!(api.count("/api/revoked"), 2, "never retried");
    // Signed out: a covered request is not sent.
    expect_code(get(&ax, "/me", &[]).await, "not_signed_in");
    assert_eq!(api.count("/api/me"), 0);
    detach.call0(&JsValue::UNDEFINED).unwrap();
    c.close();
}

#[wasm_bindgen_test]
async fn a_401_for_a_replaced_token_leaves_the_new_session_alone() {
    let api = FakeApi::new();
    let (c, _) = client(&api, &[]).await;
    session_of(&c, FRESH, None, "p-1");
    let ax = MiniAxios::new("https://api.test/api", &api.fetch());
    attach_axios(&c.clone().into(), &ax).unwrap();
    api.reply("GET", "/api/revoked", 401, "{}", "application/json");
    api.hold("/api/revoked");
    let call = get(&ax, "/revoked", &[]);
    let replace = async {
        sleep(20).await;
        let new = session_of(&c, FRESH, None, "p-1");
        api.release("/api/revoked");
        new
    };
    let (r, new) = futures::join!(call, replace);
    expect_code(r, "session_expired");
    assert_eq!(get_str(&c.get_session().unwrap(), "accessToken"), new);
    assert_eq!(api.expired_calls(), 0);
    c.close();
}

#[wasm_bindgen_test]
async fn detach_ejects_both_and_a_non_axios_value_is_bad_config() {
    let api = FakeApi::new();
    let (c, _) = client(&api, &[]).await;
    session_of(&c, FRESH, None, "p-1");
    let ax = MiniAxios::new("https://api.test/api", &api.fetch());
    let detach = attach_axios(&c.clone().into(), &ax).unwrap();
    detach.call0(&JsValue::UNDEFINED).unwrap();
    get(&ax, "/me", &[]).await.unwrap();
    assert_eq!(seen(&api, 0).1, "-");
    api.reply("GET", "/api/revoked", 401, "{}", "application/json");
    let e = get(&ax, "/revoked", &[]).await.unwrap_err();
    assert_eq!(
        get_str(&e, "message"),
        "Request failed with status code 401"
    );
    assert!(c.get_session().unwrap().is_object());
    for bad in [
        JsValue::NULL,
        42.into(),
        obj(&[]),
        obj(&[("interceptors", obj(&[]))]),
    ] {
        let e = expect_code(
            attach_axios(&c.clone().into(), &bad).map(JsValue::from),
            "bad_config",
        );
        assert!(get_str(&e, "message").contains("instance"));
    }
    c.close();
}
