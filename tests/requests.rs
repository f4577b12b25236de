//! `fd` and `fdResponse` in real Chromium: headers, paths, bodies, errors and 401s.
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use futures::future::join_all;
use js_sys::{Array, Function};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

async fn fd(path: &str, init: JsValue) -> Result<JsValue, JsValue> {
    fd_fetch::fd(path.into(), init).await
}

/// A route that echoes what it received: method, headers, body.
fn echo(api: &FakeApi, method: &str, path: &str) {
    api.route(method, path, &Function::new_with_args(
        "r",
        "return new Response(JSON.stringify(r), {headers: {'content-type': 'application/json'}})",
    ));
}

/// Issue 10: with a fresh session `fd` makes its request in the call itself, as a hand-written
/// interceptor does, rather than a task later: fetch has been called when `fd` returns.
#[wasm_bindgen_test]
async fn a_fresh_session_reaches_fetch_before_fd_returns() {
    let api = FakeApi::new();
    setup(&api, &[]).await;
    session_with(FRESH, None);
    echo(&api, "GET", "/api/me");
    let pending = fd_fetch::fd("/me".into(), JsValue::UNDEFINED);
    assert_eq!(
        api.count("/api/me"),
        1,
        "fetch was called before fd returned"
    );
    let seen = pending.await.unwrap();
    assert_eq!(get_str(&seen, "method"), "GET");
}

/// The same call made from inside a session listener (`setSession` telling it): it runs at once,
/// within `setSession`, and must find nothing of the client's state held.
#[wasm_bindgen_test]
async fn fd_from_inside_a_session_listener_runs_at_once() {
    let api = FakeApi::new();
    setup(&api, &[]).await;
    echo(&api, "GET", "/api/me");
    let started = Array::new();
    let seen = started.clone();
    let listener = Closure::<dyn FnMut(JsValue)>::new(move |session: JsValue| {
        if !session.is_null() {
            seen.push(&fd_fetch::fd("/me".into(), JsValue::UNDEFINED));
        }
    });
    let unsubscribe: Function = fd_fetch::on_session_change(listener.as_ref().clone())
        .unwrap()
        .into();
    session_with(FRESH, None);
    assert_eq!(
        api.count("/api/me"),
        1,
        "the listener's call was sent within setSession"
    );
    let call: js_sys::Promise = started.get(0).into();
    assert_eq!(get_str(&call.await.unwrap(), "method"), "GET");
    unsubscribe.call0(&JsValue::UNDEFINED).unwrap();
}

#[wasm_bindgen_test]
async fn headers_in_every_form_are_kept_and_ours_are_set() {
    let api = FakeApi::new();
    setup(&api, &[]).await;
    let token = session_with(FRESH, None);
    echo(&api, "POST", "/api/echo");
    let forms: Vec<(&str, JsValue)> = vec![
        (
            "object",
            obj(&[
                ("X-Trace", "t1".into()),
                ("Authorization", "Bearer forged".into()),
            ]),
        ),
        (
            "array",
            Array::of2(
                &Array::of2(&"X-Trace".into(), &"t1".into()),
                &Array::of2(&"x-preferred-partner-id".into(), &"evil".into()),
            )
            .into(),
        ),
        ("Headers", {
            let h = web_sys::Headers::new().unwrap();
            h.set("X-Trace", "t1").unwrap();
            h.into()
        }),
    ];
    for (form, headers) in forms {
        let init = obj(&[
            ("method", "POST".into()),
            ("headers", headers),
            ("body", "payload".into()),
        ]);
        let seen = fd("/echo", init)
            .await
            .unwrap_or_else(|e| panic!("{form}: {e:?}"));
        let h = get(&seen, "headers");
        assert_eq!(get_str(&h, "x-trace"), "t1", "{form}: caller's header kept");
        assert_eq!(
            get_str(&h, "authorization"),
            format!("Bearer {token}"),
            "{form}"
        );
        assert_eq!(get_str(&h, "x-preferred-partner-id"), "p-1", "{form}");
        assert_eq!(get_str(&seen, "method"), "POST", "{form}");
        assert_eq!(get_str(&seen, "body"), "payload", "{form}");
    }
}

#[wasm_bindgen_test]
async fn init_passes_through_whole() {
    let api = FakeApi::new();
    setup(&api, &[]).await;
    session_with(FRESH, None);
    echo(&api, "PUT", "/api/echo");
    let form = web_sys::FormData::new().unwrap();
    form.append_with_str("field", "value").unwrap();
    let init = obj(&[
        ("method", "PUT".into()),
        ("body", form.into()),
        ("credentials", "include".into()),
    ]);
    let seen = fd("/echo?x=1", init).await.unwrap();
    assert_eq!(get_str(&seen, "credentials"), "include");
    assert_eq!(get_str(&seen, "path"), "/api/echo?x=1");
    assert!(
        get_str(&seen, "body").contains("name=\"field\""),
        "a FormData body arrives as multipart"
    );
    assert!(get_str(&get(&seen, "headers"), "content-type").starts_with("multipart/form-data"));
}

#[wasm_bindgen_test]
async fn hostile_paths_send_nothing() {
    let api = FakeApi::new();
    setup(&api, &[("baseUrl", "https://api.test/api/v1".into())]).await;
    session_with(FRESH, None);
    for path in [
        "//evil.test/x",
        "/\\evil.test",
        "@evil.test",
        "https://evil.test/",
        "/../admin",
        "/%2e%2e/admin",
        "/a%2f..%2f..",
        "/\t/evil.test",
        "x",
    ] {
        let e = expect_code(fd(path, JsValue::UNDEFINED).await, "bad_path");
        assert!(get_str(&e, "message").contains("nothing was sent"));
    }
    expect_code(
        fd_fetch::fd(JsValue::from(42), JsValue::UNDEFINED).await,
        "bad_path",
    );
    assert_eq!(api.count("/api/v1/x"), 0);
    assert_eq!(
        api.requests("/").length() + api.count("/admin") + api.count("/api/admin"),
        0
    );
    // An ordinary path goes under the prefix.
    api.reply("GET", "/api/v1/users/7", 200, "{}", "application/json");
    fd("/users/7", JsValue::UNDEFINED).await.unwrap();
    assert_eq!(api.count("/api/v1/users/7"), 1);
}

#[wasm_bindgen_test]
async fn bodies_come_back_by_content_type() {
    let api = FakeApi::new();
    setup(&api, &[]).await;
    session_with(FRESH, None);
    api.reply(
        "GET",
        "/api/json",
        200,
        r#"{"n":[1,2]}"#,
        "application/json; charset=utf-8",
    );
    api.reply(
        "GET",
        "/api/problem",
        200,
        r#"{"ok":true}"#,
        "application/problem+json",
    );
    api.reply("GET", "/api/text", 200, "plain words", "text/plain");
    api.reply("GET", "/api/empty", 200, "", "application/json");
    api.reply("DELETE", "/api/gone", 204, "", "application/json");
    api.reply("GET", "/api/reset", 205, "", "");
    api.reply("GET", "/api/broken", 200, "{not json", "application/json");
    let n = get(&fd("/json", JsValue::UNDEFINED).await.unwrap(), "n");
    assert_eq!(Array::from(&n).length(), 2);
    assert_eq!(
        get(&fd("/problem", JsValue::UNDEFINED).await.unwrap(), "ok"),
        JsValue::TRUE
    );
    assert_eq!(
        fd("/text", JsValue::UNDEFINED)
            .await
            .unwrap()
            .as_string()
            .unwrap(),
        "plain words"
    );
    assert!(fd("/empty", JsValue::UNDEFINED).await.unwrap().is_null());
    assert!(fd("/gone", obj(&[("method", "DELETE".into())]))
        .await
        .unwrap()
        .is_null());
    assert!(fd("/reset", JsValue::UNDEFINED).await.unwrap().is_null());
    expect_code(fd("/broken", JsValue::UNDEFINED).await, "bad_response");
}

#[wasm_bindgen_test]
async fn fd_response_gives_the_raw_response() {
    let api = FakeApi::new();
    setup(&api, &[]).await;
    session_with(FRESH, None);
    api.reply("GET", "/api/file", 200, "bytes", "application/octet-stream");
    let resp: web_sys::Response = fd_fetch::fd_response("/file".into(), JsValue::UNDEFINED)
        .await
        .unwrap()
        .into();
    assert_eq!(resp.status(), 200);
    let text = wasm_bindgen_futures::JsFuture::from(resp.text().unwrap())
        .await
        .unwrap();
    assert_eq!(text.as_string().unwrap(), "bytes");
    api.reply("GET", "/api/missing", 404, "nope", "text/plain");
    let e = expect_code(
        fd_fetch::fd_response("/missing".into(), JsValue::UNDEFINED).await,
        "http",
    );
    assert_eq!(get(&e, "status").as_f64(), Some(404.0));
}

#[wasm_bindgen_test]
async fn errors_carry_status_and_body() {
    let api = FakeApi::new();
    setup(&api, &[]).await;
    session_with(FRESH, None);
    api.reply(
        "GET",
        "/api/bad",
        422,
        r#"{"field":"name"}"#,
        "application/json",
    );
    api.reply("GET", "/api/down", 503, "maintenance", "text/plain");
    let e = expect_code(fd("/bad", JsValue::UNDEFINED).await, "http");
    assert_eq!(get(&e, "status").as_f64(), Some(422.0));
    assert_eq!(get_str(&get(&e, "body"), "field"), "name");
    let e = expect_code(fd("/down", JsValue::UNDEFINED).await, "http");
    assert_eq!(get_str(&e, "body"), "maintenance");
    assert!(get_str(&e, "message").contains("/down"));
    api.fail("GET", "/api/offline");
    let e = expect_code(
        fd("/offline?token=SECRET", JsValue::UNDEFINED).await,
        "network",
    );
    assert!(get(&e, "status").is_undefined());
    assert_eq!(api.expired_calls(), 0);
}

#[wasm_bindgen_test]
async fn an_init_fetch_refuses_fails_before_anything_is_sent() {
    let api = FakeApi::new();
    setup(&api, &[]).await;
    session_with(FRESH, None);
    // CONTRACT "Hardening": whatever fetch throws building the request settles as an FdError.
    let err = expect_code(
        fd(
            "/me",
            obj(&[("method", "GET".into()), ("body", "x".into())]),
        )
        .await,
        "bad_request",
    );
    assert!(get_str(&err, "message").contains("nothing was sent"));
    assert_eq!(api.count("/api/me"), 0);
}

#[wasm_bindgen_test]
async fn a_401_ends_the_session_once_for_ten_requests() {
    let api = FakeApi::new();
    let key = setup(&api, &[]).await;
    session_with(FRESH, Some("refresh-SECRET-1"));
    api.reply(
        "GET",
        "/api/me",
        401,
        r#"{"message":"Unauthorized"}"#,
        "application/json",
    );
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::<bool>::new()));
    let log = seen.clone();
    let listener =
        Closure::<dyn FnMut(JsValue)>::new(move |s: JsValue| log.borrow_mut().push(s.is_null()));
    let unsubscribe: Function = fd_fetch::on_session_change(listener.as_ref().clone())
        .unwrap()
        .into();
    let results = join_all((0..10).map(|_| fd("/me", JsValue::UNDEFINED))).await;
    for r in results {
        let e = expect_code(r, "session_expired");
        assert_eq!(get(&e, "status").as_f64(), Some(401.0));
    }
    assert_eq!(api.count("/api/me"), 10, "never retried");
    assert_eq!(api.count("/api/auth/refresh_token"), 0);
    assert_eq!(api.expired_calls(), 1, "onSessionExpired once");
    assert_eq!(*seen.borrow(), vec![true], "listeners told once, with null");
    assert_eq!(stored(&key), None);
    assert!(fd_fetch::get_session().unwrap().is_null());
    unsubscribe.call0(&JsValue::UNDEFINED).unwrap();
}

#[wasm_bindgen_test]
async fn a_401_for_a_replaced_token_leaves_the_new_session_alone() {
    let api = FakeApi::new();
    let key = setup(&api, &[]).await;
    session_with(FRESH, None);
    api.hold("/api/me");
    api.reply("GET", "/api/me", 401, "", "");
    let call = fd("/me", JsValue::UNDEFINED);
    let replace = async {
        until(|| api.count("/api/me") > 0).await;
        // Signed in again (or refreshed, or another tab) while the old request was in flight.
        let s = obj(&[
            ("accessToken", "second-SECRET".into()),
            ("partnerId", "p-1".into()),
        ]);
        fd_fetch::set_session(s).unwrap();
        api.release("/api/me");
    };
    let (r, ()) = futures::join!(call, replace);
    expect_code(r, "session_expired");
    assert_eq!(api.expired_calls(), 0, "no navigation for a stale token");
    assert_eq!(
        get_str(&fd_fetch::get_session().unwrap(), "accessToken"),
        "second-SECRET"
    );
    assert!(stored(&key).unwrap().contains("second-SECRET"));
}

#[wasm_bindgen_test]
async fn not_signed_in_sends_nothing() {
    let api = FakeApi::new();
    setup(&api, &[]).await;
    expect_code(fd("/me", JsValue::UNDEFINED).await, "not_signed_in");
    expect_code(fd_fetch::ensure_fresh().await, "not_signed_in");
    assert_eq!(api.count("/api/me"), 0);
}

#[wasm_bindgen_test]
async fn an_abort_during_the_request_passes_through_and_keeps_the_session() {
    let api = FakeApi::new();
    let key = setup(&api, &[]).await;
    session_with(FRESH, None);
    api.hold("/api/me");
    let controller = web_sys::AbortController::new().unwrap();
    let call = fut(fd_fetch::fd(
        "/me".into(),
        obj(&[("signal", controller.signal().into())]),
    ));
    let abort = async {
        until(|| api.count("/api/me") > 0).await;
        controller.abort();
    };
    let (r, ()) = futures::join!(call, abort);
    let err = r.unwrap_err();
    assert_eq!(
        get_str(&err, "name"),
        "AbortError",
        "fetch's own AbortError, not a network FdError"
    );
    assert_eq!(api.count("/api/me"), 1);
    assert!(!fd_fetch::get_session().unwrap().is_null());
    assert!(stored(&key).is_some());
    api.release("/api/me");
}
