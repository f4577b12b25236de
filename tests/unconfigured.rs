//! Before `configure`: every export refuses with `not_configured`. Its own binary, so that no other
//! test has configured the module first.
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn every_export_refuses_before_configure() {
    let ok = |r: Result<(), JsValue>| r.map(|()| JsValue::UNDEFINED);
    expect_code(
        fd_fetch::fd("/me".into(), JsValue::UNDEFINED).await,
        "not_configured",
    );
    expect_code(
        fd_fetch::fd_response("/me".into(), JsValue::UNDEFINED).await,
        "not_configured",
    );
    expect_code(
        fd_fetch::sign_in(obj(&[]), obj(&[("partnerId", "p".into())])).await,
        "not_configured",
    );
    expect_code(fd_fetch::complete_mfa(obj(&[])).await, "not_configured");
    expect_code(fd_fetch::ensure_fresh().await, "not_configured");
    expect_code(fd_fetch::get_session(), "not_configured");
    expect_code(ok(fd_fetch::sign_out()), "not_configured");
    expect_code(
        ok(fd_fetch::set_session(obj(&[
            ("accessToken", "t".into()),
            ("partnerId", "p".into()),
        ]))),
        "not_configured",
    );
    expect_code(
        fd_fetch::on_session_change(js_sys::Function::new_no_args("").into()),
        "not_configured",
    );
    // A configure that fails leaves it unconfigured.
    expect_code(fd_fetch::configure(obj(&[])).await, "bad_config");
    expect_code(fd_fetch::get_session(), "not_configured");
}
