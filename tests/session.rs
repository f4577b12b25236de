//! The session in real Chromium: sign-in, MFA, storage, other tabs, options.
#![cfg(target_arch = "wasm32")]

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::*;
use js_sys::Function;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn sign_in_saves_only_the_access_token_expiry_and_partner() {
    let api = FakeApi::new();
    let key = setup(&api, &[]).await;
    // Tokens that live 1 s, under the 5-minute threshold: refreshed once half of that has passed.
    api.set_lifetime(1);
    let result = fd_fetch::sign_in(alice(), partner("p-9")).await.unwrap();
    assert_eq!(get_str(&result, "status"), "signed_in");
    let session = get(&result, "session");
    let token = get_str(&session, "accessToken");
    assert_eq!(get_str(&session, "partnerId"), "p-9");
    let saved = js_sys::JSON::parse(&stored(&key).unwrap()).unwrap();
    let mut fields: Vec<String> = js_sys::Object::keys(saved.unchecked_ref::<js_sys::Object>())
        .iter()
        .map(|k| k.as_string().unwrap())
        .collect();
    fields.sort();
    assert_eq!(fields, ["accessToken", "expiresAt", "partnerId"]);
    assert_eq!(get_str(&saved, "accessToken"), token);
    // Neither the refresh token nor the id token is anywhere a script can read.
    let visible = visible_storage().await;
    assert!(!visible.contains("refresh-SECRET"), "{visible}");
    assert!(!visible.contains("id-token"), "{visible}");
    assert!(!format!("{:?}", fd_fetch::get_session().unwrap()).contains("refresh"));
    // The refresh token was kept in memory: a refresh sends it.
    sleep(600).await;
    fd_fetch::ensure_fresh().await.unwrap();
    assert_eq!(api.count("/api/auth/refresh_token"), 1);
    assert!(
        get_str(&api.requests("/api/auth/refresh_token").get(0), "body")
            .contains("refresh-SECRET-1")
    );
    let visible = visible_storage().await;
    assert!(
        !visible.contains("refresh-SECRET"),
        "after a refresh: {visible}"
    );
}

#[wasm_bindgen_test]
async fn sign_in_failures() {
    let api = FakeApi::new();
    setup(&api, &[]).await;
    api.reply(
        "POST",
        "/api/auth",
        401,
        r#"{"message":"Incorrect username or password."}"#,
        "application/json",
    );
    let e = expect_code(
        fd_fetch::sign_in(alice(), partner("p-1")).await,
        "sign_in_failed",
    );
    assert_eq!(get(&e, "status").as_f64(), Some(401.0));
    assert_eq!(
        get_str(&get(&e, "body"), "message"),
        "Incorrect username or password."
    );
    assert_eq!(
        api.expired_calls(),
        0,
        "a refused sign-in is not an expired session"
    );
    api.reply("POST", "/api/auth", 200, "<html>oops</html>", "text/html");
    expect_code(
        fd_fetch::sign_in(alice(), partner("p-1")).await,
        "bad_response",
    );
    api.reply(
        "POST",
        "/api/auth",
        200,
        r#"{"AccessToken": {"nested": true}}"#,
        "application/json",
    );
    expect_code(
        fd_fetch::sign_in(alice(), partner("p-1")).await,
        "bad_response",
    );
    api.fail("POST", "/api/auth");
    expect_code(fd_fetch::sign_in(alice(), partner("p-1")).await, "network");
    assert!(fd_fetch::get_session().unwrap().is_null());
    for bad in [
        JsValue::UNDEFINED,
        obj(&[]),
        partner(""),
        partner("p\r\nX: y"),
    ] {
        let e = expect_code(fd_fetch::sign_in(alice(), bad).await, "bad_config");
        assert!(get_str(&e, "message").contains("partnerId"));
    }
    expect_code(
        fd_fetch::sign_in("alice".into(), partner("p-1")).await,
        "bad_config",
    );
}

#[wasm_bindgen_test]
async fn mfa_challenge_then_code() {
    let api = FakeApi::new();
    let key = setup(&api, &[]).await;
    mfa_challenge(&api);
    expect_code(
        fd_fetch::complete_mfa(obj(&[("code", "123456".into())])).await,
        "mfa_failed",
    );
    let r = fd_fetch::sign_in(obj(&[("username", "bob".into())]), partner("p-7"))
        .await
        .unwrap();
    assert_eq!(get_str(&r, "status"), "mfa_required");
    assert_eq!(get_str(&r, "challenge"), "SOFTWARE_TOKEN_MFA");
    assert!(fd_fetch::get_session().unwrap().is_null());
    // A wrong code is mfa_failed and the challenge stays open for another try.
    api.reply(
        "PUT",
        "/api/auth/challenge/mfa-token",
        400,
        r#"{"message":"Invalid code"}"#,
        "application/json",
    );
    let e = expect_code(
        fd_fetch::complete_mfa(obj(&[("code", "000000".into())])).await,
        "mfa_failed",
    );
    assert_eq!(get(&e, "status").as_f64(), Some(400.0));
    api.reply(
        "PUT",
        "/api/auth/challenge/mfa-token",
        200,
        r#"{"AuthenticationResult":{"AccessToken":"mfa-access-SECRET","RefreshToken":"refresh-SECRET-9","ExpiresIn":3600}}"#,
        "application/json",
    );
    let r = fd_fetch::complete_mfa(obj(&[("code", "123456".into())]))
        .await
        .unwrap();
    assert_eq!(get_str(&r, "status"), "signed_in");
    let sent = api.requests("/api/auth/challenge/mfa-token").get(1);
    assert_eq!(get_str(&sent, "method"), "PUT");
    assert_eq!(
        get_str(&sent, "body"),
        r#"{"code":"123456","session":"mfa-session-SECRET"}"#
    );
    assert_eq!(get_str(&get(&r, "session"), "partnerId"), "p-7");
    assert!(stored(&key).unwrap().contains("mfa-access-SECRET"));
    assert!(!visible_storage().await.contains("refresh-SECRET"));
    // Used up: a second completion has nothing pending.
    expect_code(
        fd_fetch::complete_mfa(obj(&[("code", "123456".into())])).await,
        "mfa_failed",
    );
}

#[wasm_bindgen_test]
async fn a_saved_session_is_restored_and_bad_ones_are_removed() {
    let api = FakeApi::new();
    let key = fresh_key();
    let cases = [
        (
            "live",
            format!(
                r#"{{"accessToken":"live-SECRET","expiresAt":{},"partnerId":"p-3"}}"#,
                now() + FRESH
            ),
            true,
        ),
        (
            "expired",
            format!(
                r#"{{"accessToken":"old-SECRET","expiresAt":{},"partnerId":"p-3"}}"#,
                now() - 1.0
            ),
            false,
        ),
        ("not json", "{garbage".to_owned(), false),
        (
            "wrong types",
            r#"{"accessToken":7,"expiresAt":"soon","partnerId":null}"#.to_owned(),
            false,
        ),
        (
            "missing partner",
            format!(r#"{{"accessToken":"a","expiresAt":{}}}"#, now() + FRESH),
            false,
        ),
        ("array", "[1,2,3]".to_owned(), false),
    ];
    for (name, text, kept) in cases {
        // A different key first, so that configuring with `key` restores from storage.
        setup(&api, &[]).await;
        store(&key, &text);
        setup(&api, &[("storageKey", key.as_str().into())]).await;
        let session = fd_fetch::get_session().unwrap();
        assert_eq!(!session.is_null(), kept, "{name}");
        assert_eq!(
            stored(&key).is_some(),
            kept,
            "{name}: removed when unusable"
        );
    }
    // The restored one works without a refresh token while it is valid.
    setup(&api, &[]).await;
    store(
        &key,
        &format!(
            r#"{{"accessToken":"live-SECRET","expiresAt":{},"partnerId":"p-3"}}"#,
            now() + FRESH
        ),
    );
    setup(&api, &[("storageKey", key.as_str().into())]).await;
    let body = fd_fetch::fd("/me".into(), JsValue::UNDEFINED)
        .await
        .unwrap();
    assert_eq!(get_str(&body, "auth"), "Bearer live-SECRET");
    assert_eq!(get_str(&body, "partner"), "p-3");
}

#[wasm_bindgen_test]
async fn throwing_storage_falls_back_to_memory() {
    let api = FakeApi::new();
    setup(&api, &[]).await;
    break_storage();
    let signed = fd_fetch::sign_in(alice(), partner("p-1")).await;
    let body = fd_fetch::fd("/me".into(), JsValue::UNDEFINED).await;
    // Configuring while storage throws also works, and finds no session.
    let reconfigured = fd_fetch::configure(obj(&[
        ("baseUrl", BASE.into()),
        ("fetch", api.fetch().into()),
        ("storageKey", "blocked".into()),
    ]))
    .await;
    let after = fd_fetch::get_session();
    let out = fd_fetch::sign_out();
    mend_storage();
    assert_eq!(get_str(&signed.unwrap(), "status"), "signed_in");
    assert!(get_str(&body.unwrap(), "auth").starts_with("Bearer "));
    reconfigured.unwrap();
    assert!(after.unwrap().is_null());
    out.unwrap();
}

#[wasm_bindgen_test]
async fn blocked_storage_falls_back_to_memory() {
    let api = FakeApi::new();
    block_storage();
    let configured = fd_fetch::configure(obj(&[
        ("baseUrl", BASE.into()),
        ("fetch", api.fetch().into()),
        ("storageKey", "blocked.2".into()),
    ]))
    .await;
    let signed = fd_fetch::sign_in(alice(), partner("p-1")).await;
    let body = fd_fetch::fd("/me".into(), JsValue::UNDEFINED).await;
    let session = fd_fetch::get_session();
    let out = fd_fetch::sign_out();
    unblock_storage();
    configured.unwrap();
    assert_eq!(get_str(&signed.unwrap(), "status"), "signed_in");
    assert!(get_str(&body.unwrap(), "auth").starts_with("Bearer "));
    assert_eq!(get_str(&session.unwrap(), "partnerId"), "p-1");
    out.unwrap();
    assert_eq!(stored("blocked.2"), None, "nothing reached storage");
}

#[wasm_bindgen_test]
async fn listeners_hear_every_change_and_can_leave() {
    let api = FakeApi::new();
    let key = setup(&api, &[]).await;
    let seen = Rc::new(RefCell::new(Vec::<String>::new()));
    let log = seen.clone();
    let listener = Closure::<dyn FnMut(JsValue)>::new(move |s: JsValue| {
        log.borrow_mut().push(if s.is_null() {
            "null".into()
        } else {
            get_str(&s, "partnerId")
        });
    });
    let unsubscribe: Function = fd_fetch::on_session_change(listener.as_ref().clone())
        .unwrap()
        .into();
    // A listener that throws does not stop the others.
    let thrower = Function::new_no_args("throw new Error('listener bug')");
    let unsubscribe_thrower: Function = fd_fetch::on_session_change(thrower.into()).unwrap().into();
    fd_fetch::sign_in(alice(), partner("a")).await.unwrap();
    session_with(STALE, Some("refresh-SECRET-1")); // partner p-1
    fd_fetch::ensure_fresh().await.unwrap(); // refresh
                                             // Another tab signs in as partner "b", then signs out.
    let other = format!(
        r#"{{"accessToken":"tab-SECRET","expiresAt":{},"partnerId":"b"}}"#,
        now() + FRESH
    );
    fire_storage(&key, Some(other.clone()));
    assert_eq!(
        get_str(&fd_fetch::get_session().unwrap(), "accessToken"),
        "tab-SECRET"
    );
    fire_storage(&key, Some(other)); // the same value again is no change
    fire_storage(&key, Some("{garbage".into())); // garbage from elsewhere does not sign us out
    fire_storage("some.other.key", None);
    fire_storage(&key, None);
    assert!(fd_fetch::get_session().unwrap().is_null());
    fd_fetch::sign_out().unwrap(); // already signed out: no change
    unsubscribe.call0(&JsValue::UNDEFINED).unwrap();
    unsubscribe.call0(&JsValue::UNDEFINED).unwrap(); // twice is harmless
    unsubscribe_thrower.call0(&JsValue::UNDEFINED).unwrap();
    fd_fetch::sign_in(alice(), partner("c")).await.unwrap();
    assert_eq!(*seen.borrow(), ["a", "p-1", "p-1", "b", "null"]);
    expect_code(fd_fetch::on_session_change("nope".into()), "bad_config");
}

#[wasm_bindgen_test]
async fn set_session_checks_its_input() {
    let api = FakeApi::new();
    setup(&api, &[]).await;
    let cases: [(JsValue, &str); 7] = [
        (JsValue::NULL, "session"),
        (obj(&[("partnerId", "p".into())]), "accessToken"),
        (
            obj(&[("accessToken", "".into()), ("partnerId", "p".into())]),
            "accessToken",
        ),
        (
            obj(&[("accessToken", "a b".into()), ("partnerId", "p".into())]),
            "accessToken",
        ),
        (obj(&[("accessToken", "tok".into())]), "partnerId"),
        (
            obj(&[
                ("accessToken", "tok".into()),
                ("partnerId", "p".into()),
                ("expiresAt", "soon".into()),
            ]),
            "expiresAt",
        ),
        (
            obj(&[
                ("accessToken", "tok".into()),
                ("partnerId", "p".into()),
                ("refreshToken", 5.into()),
            ]),
            "refreshToken",
        ),
    ];
    for (input, option) in cases {
        let e = expect_code(
            fd_fetch::set_session(input).map(|()| JsValue::UNDEFINED),
            "bad_config",
        );
        assert!(get_str(&e, "message").contains(option), "{option}");
    }
    assert!(fd_fetch::get_session().unwrap().is_null());
    // Without expiresAt, the JWT's lifetime counts.
    fd_fetch::set_session(obj(&[
        ("accessToken", jwt(120).as_str().into()),
        ("partnerId", "p".into()),
    ]))
    .unwrap();
    let left = get(&fd_fetch::get_session().unwrap(), "expiresAt")
        .as_f64()
        .unwrap()
        - now();
    assert!((119_000.0..=120_000.0).contains(&left), "{left}");
}

#[wasm_bindgen_test]
async fn bad_options_name_the_option() {
    let api = FakeApi::new();
    setup(&api, &[]).await;
    let f: JsValue = api.fetch().into();
    let cases: Vec<(JsValue, &str)> = vec![
        (JsValue::UNDEFINED, "options"),
        ("https://api.test".into(), "options"),
        (obj(&[]), "baseUrl"),
        (obj(&[("baseUrl", 5.into())]), "baseUrl"),
        (obj(&[("baseUrl", "/relative".into())]), "baseUrl"),
        (obj(&[("baseUrl", "ftp://api.test".into())]), "baseUrl"),
        (
            obj(&[("baseUrl", "https://user:pw@api.test".into())]),
            "baseUrl",
        ),
        (
            obj(&[("baseUrl", "https://api.test/?x=1".into())]),
            "baseUrl",
        ),
        (
            obj(&[
                ("baseUrl", BASE.into()),
                ("authUrl", "javascript:alert(1)".into()),
            ]),
            "authUrl",
        ),
        (
            obj(&[
                ("baseUrl", BASE.into()),
                ("refreshTokenIn", "localStorage".into()),
            ]),
            "refreshTokenIn",
        ),
        (
            obj(&[
                ("baseUrl", BASE.into()),
                ("refreshThresholdMs", (-1).into()),
            ]),
            "refreshThresholdMs",
        ),
        (
            obj(&[
                ("baseUrl", BASE.into()),
                ("refreshThresholdMs", "5 min".into()),
            ]),
            "refreshThresholdMs",
        ),
        (
            obj(&[
                ("baseUrl", BASE.into()),
                ("loginUrl", "https://evil.test/login".into()),
            ]),
            "loginUrl",
        ),
        (
            obj(&[("baseUrl", BASE.into()), ("loginUrl", "//evil.test".into())]),
            "loginUrl",
        ),
        (
            obj(&[("baseUrl", BASE.into()), ("onSessionExpired", "go".into())]),
            "onSessionExpired",
        ),
        (
            obj(&[("baseUrl", BASE.into()), ("storageKey", "".into())]),
            "storageKey",
        ),
        (
            obj(&[("baseUrl", BASE.into()), ("refreshTimeoutMs", 0.into())]),
            "refreshTimeoutMs",
        ),
        (
            obj(&[("baseUrl", BASE.into()), ("refreshTimeoutMs", 1e12.into())]),
            "refreshTimeoutMs",
        ),
        (
            obj(&[("baseUrl", BASE.into()), ("fetch", "fetch".into())]),
            "fetch",
        ),
    ];
    let n = cases.len();
    for (options, option) in cases {
        let e = expect_code(fd_fetch::configure(options).await, "bad_config");
        assert!(
            get_str(&e, "message").contains(&format!("`{option}`")),
            "{option}: {}",
            get_str(&e, "message")
        );
    }
    assert!(n >= 19);
    // A rejected configure keeps the options that were there: requests still use them.
    session_with(FRESH, None);
    fd_fetch::fd("/me".into(), JsValue::UNDEFINED)
        .await
        .unwrap();
    assert_eq!(api.count("/api/me"), 1);
    let _ = f;
}

#[wasm_bindgen_test]
async fn sign_out_clears_everything_and_tells_the_proxy_in_cookie_mode() {
    let api = FakeApi::new();
    let key = setup(&api, &[("refreshTokenIn", "cookie".into())]).await;
    api.reply("POST", "/api/auth/logout", 204, "", "");
    fd_fetch::sign_in(alice(), partner("p-1")).await.unwrap();
    let auth = api.requests("/api/auth").get(0);
    assert_eq!(get_str(&auth, "credentials"), "include");
    assert_eq!(
        get_str(&get(&auth, "headers"), "x-requested-with"),
        "fd-fetch"
    );
    assert!(stored(&key).is_some());
    fd_fetch::sign_out().unwrap();
    assert!(fd_fetch::get_session().unwrap().is_null());
    assert_eq!(stored(&key), None);
    // The logout goes under the tabs' lock, after any refresh in flight.
    for _ in 0..100 {
        if api.count("/api/auth/logout") > 0 {
            break;
        }
        sleep(10).await;
    }
    let logout = api.requests("/api/auth/logout").get(0);
    assert_eq!(get_str(&logout, "credentials"), "include");
    assert_eq!(
        get_str(&get(&logout, "headers"), "x-requested-with"),
        "fd-fetch"
    );
    assert_eq!(api.expired_calls(), 0, "signOut does not navigate");
}

#[wasm_bindgen_test]
async fn auth_calls_run_one_at_a_time_and_the_call_made_last_wins() {
    let api = FakeApi::new();
    let key = setup(&api, &[]).await;
    // The first sign-in's answer is held back; a second sign-in and a sign-out are called meanwhile.
    api.hold("/api/auth");
    let first = JsFuture::from(fd_fetch::sign_in(alice(), partner("p-1")));
    let second = JsFuture::from(fd_fetch::sign_in(alice(), partner("p-2")));
    let (first, second, ()) = futures::join!(first, second, async {
        sleep(50).await;
        // One at a time: the second waits for the first before sending anything.
        assert_eq!(
            api.count("/api/auth"),
            1,
            "the second sign-in waits its turn"
        );
        fd_fetch::sign_out().unwrap();
        api.release("/api/auth");
    });
    // The first was answered after later calls: dropped. The second never went out.
    for (name, result) in [("first", first), ("second", second)] {
        let e = result.expect_err(name);
        assert_eq!(get_str(&e, "code"), "sign_in_failed", "{name}");
    }
    sleep(50).await;
    assert_eq!(api.count("/api/auth"), 1, "nothing sent after the sign-out");
    assert!(fd_fetch::get_session().unwrap().is_null());
    assert_eq!(stored(&key), None);
}
