//! A production build holds no mock. `cargo build --release -p fd-proxy` leaves the cargo feature
//! `mock` off, so its binary must hold none of the demo accounts and must not know `--mock-api`.
//! (This package's other tests run a binary built with the feature: see Cargo.toml.)

use std::process::Command;

/// Strings only the mock puts in a binary: its demo users, their passwords, names and partners,
/// its issuer and its routes. (Not the MFA code: "123456" is in every hex-digit table.)
const MOCK_ONLY: &[&str] = &[
    "alice",
    "wonderland",
    "Alice Liddell",
    "Bob the Builder",
    "acme-eu",
    "builders-uk",
    "fd-proxy-mock",
    "_mock/requests",
    "demo users",
    "--mock-api",
    "mock-api",
];

fn holds(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Builds the release binary as a deployment would and returns its path.
fn release_binary() -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "fd-proxy",
            "--bin",
            "fd-proxy",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo build --release");
    assert!(
        out.status.success(),
        "cargo build --release -p fd-proxy failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "fd-proxy")
        .find_map(|m| m["executable"].as_str().map(str::to_owned))
        .expect("cargo reported the fd-proxy executable")
}

#[test]
fn the_release_binary_holds_no_demo_account_and_no_mock_api_flag() {
    // The needles are in a binary built with the mock, so their absence below means something.
    let with_mock = std::fs::read(env!("CARGO_BIN_EXE_fd-proxy")).expect("read the test binary");
    for needle in MOCK_ONLY {
        assert!(holds(&with_mock, needle), "the mock build lacks {needle:?}");
    }

    let path = release_binary();
    let bytes = std::fs::read(&path).expect("read the release binary");
    assert!(
        holds(&bytes, "the proxy needs a cookie key"),
        "a string of the proxy is found: the search works"
    );
    let found: Vec<_> = MOCK_ONLY.iter().filter(|n| holds(&bytes, n)).collect();
    assert!(found.is_empty(), "{path} holds mock strings: {found:?}");

    let run = |args: &[&str]| {
        let out = Command::new(&path)
            .args(args)
            .env_remove("FD_PROXY_COOKIE_KEY")
            .output()
            .expect("run the release binary");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };
    let (code, out) = run(&["--listen", "127.0.0.1:0", "--mock-api"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("unexpected argument '--mock-api'"),
        "--mock-api is unknown: {out}"
    );
    assert!(!out.contains("listening"), "{out}");
    let (code, help) = run(&["--help"]);
    assert_eq!(code, Some(0), "{help}");
    for flag in [
        "--token-lifetime",
        "--rotate-refresh-tokens",
        "--mock-cors-origin",
    ] {
        assert!(
            !help.contains(flag),
            "{flag} in a production --help:\n{help}"
        );
    }
    assert!(help.contains("--allowed-origin"), "{help}");
}
