//! Command-line flags, and turning them into a checked [`Config`] before anything listens, so a
//! misconfigured server fails at start-up with one clear line instead of on its first request.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use axum_extra::extract::cookie::Key;
use clap::{Parser, ValueEnum};
use reqwest::Url;

/// The environment variable that may hold the cookie key itself (the flag takes a file instead,
/// so the key never shows in `ps`).
pub const COOKIE_KEY_ENV: &str = "FD_PROXY_COOKIE_KEY";

/// How many bytes of key material the private cookie jar takes (signing + encryption halves).
const KEY_LEN: usize = 64;

/// The message for a proxy without a usable key: the only fix is to provide one, so say how.
const KEY_HELP: &str = "pass --cookie-key-file PATH or set FD_PROXY_COOKIE_KEY \
                        (64+ random bytes, e.g. openssl rand -base64 64)";

#[derive(Debug, Parser)]
#[command(
    name = "fd-proxy",
    version,
    after_help = "Environment:\n  FD_PROXY_COOKIE_KEY  the cookie key itself (64+ bytes), when --cookie-key-file is not given\n  \
                  RUST_LOG             log filter, e.g. debug or fd_proxy=debug [default: info]\n\n\
                  Routes: /proxy/auth, /proxy/auth/challenge/mfa-token, /proxy/auth/refresh_token,\n\
                  /proxy/auth/logout (the proxy), /api (the mock partner API, in a build with the cargo\n\
                  feature mock), anything else from --static-dir."
)]
#[cfg_attr(
    feature = "mock",
    command(
        about = "fd-fetch's refresh-token proxy for `refreshTokenIn: \"cookie\"`; with --mock-api it \
                     also plays the partner API for development (this build has the cargo feature \
                     mock), and --static-dir serves a built page."
    )
)]
#[cfg_attr(
    not(feature = "mock"),
    command(
        about = "fd-fetch's refresh-token proxy for `refreshTokenIn: \"cookie\"`; --static-dir \
                     serves a built page. (The mock partner API is only in a build with \
                     the cargo feature mock.)"
    )
)]
pub struct Args {
    /// Address to listen on, IP:PORT (port 0 picks a free port; the real one is printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The mock partner API's flags; they exist only in a build with the cargo feature `mock`.
    #[command(flatten)]
    pub mock: MockArgs,

    /// The partner API the proxy forwards auth calls to, e.g. https://partner.example.com/v1
    /// [default with the mock: this server's own /api, called over HTTP like any upstream].
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,

    /// Don't mount the refresh-token proxy under /proxy (it is mounted whenever there is an
    /// upstream: --upstream, or the mock).
    #[arg(long)]
    pub no_proxy: bool,

    /// File holding the secret that encrypts the refresh-token cookie: at least 64 bytes once
    /// trailing whitespace is trimmed (only the first 64 are used). Or set FD_PROXY_COOKIE_KEY
    /// to the key itself; the file wins when both are given. Required when the proxy is mounted.
    #[arg(long, value_name = "PATH")]
    pub cookie_key_file: Option<PathBuf>,

    /// Serve the files of this directory (a built page); a GET or HEAD of any other path outside
    /// /api and /proxy gets its index.html (single-page app, so /login works).
    #[arg(long, value_name = "DIR")]
    pub static_dir: Option<PathBuf>,

    /// An extra origin (scheme://host[:port]) allowed to use the proxy besides this server's own.
    /// Repeatable. It narrows the proxy only (the mock's CORS has its own flag).
    #[arg(long, value_name = "ORIGIN")]
    pub allowed_origin: Vec<String>,

    /// How long the proxy waits for the upstream, in milliseconds, before answering 504.
    #[arg(long, value_name = "MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub upstream_timeout_ms: u64,

    /// The largest answer body the proxy reads from the upstream, in bytes. A bigger one is not
    /// read further: the proxy answers 502 {"error": "upstream_too_large"}.
    #[arg(long, value_name = "BYTES", default_value_t = 1_048_576,
          value_parser = clap::value_parser!(u32).range(1..=1_073_741_824))]
    pub max_upstream_body_bytes: u32,

    /// Connections held at once. Past it, new connections wait in the listen backlog until a held
    /// one ends (the timeouts below see that one does), instead of using up descriptors.
    #[arg(long, value_name = "N", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// Close a connection whose request head (request line and headers) is not complete this
    /// many milliseconds after the server starts waiting for it; this also ends a kept-alive
    /// connection that sends no further request.
    #[arg(long, value_name = "MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub header_read_timeout_ms: u64,

    /// Close a connection on which no byte has moved for this many milliseconds while it waits on
    /// the client (a request body that stops arriving, an answer the client stops reading). Time
    /// the server itself takes to answer does not count.
    #[arg(long, value_name = "MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub idle_timeout_ms: u64,

    /// Log format (logs go to stderr; the level comes from RUST_LOG).
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The flags of the mock partner API (cargo feature `mock`, for development and tests only).
#[cfg(feature = "mock")]
#[derive(Debug, clap::Args)]
pub struct MockArgs {
    /// Serve a mock partner API under /api (demo users alice / wonderland and bob / builder with
    /// MFA code 123456). Without --upstream the proxy then forwards to this mock; with neither a
    /// cookie key nor --no-proxy, on a loopback address, the proxy gets a random key for this run.
    #[arg(long)]
    pub mock_api: bool,

    /// Lifetime of the mock's access and id tokens, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub token_lifetime: u64,

    /// Mock only: wait this long before answering /api/auth/refresh_token, so a demo timeline
    /// can show the refresh.
    #[arg(long, value_name = "MS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub refresh_delay_ms: u64,

    /// Mock only: rotate refresh tokens as Cognito does with rotation on. Each refresh answers a
    /// new RefreshToken for the same session and expiry, and the old one stops working at once
    /// (presenting it again answers 400 invalid_grant). Off: refresh tokens never rotate.
    #[arg(long)]
    pub rotate_refresh_tokens: bool,

    /// An origin (scheme://host[:port]) the mock's CORS allows. Repeatable; without it the mock
    /// allows any origin (its calls carry a token, no cookie). Independent of --allowed-origin.
    #[arg(long, value_name = "ORIGIN")]
    pub mock_cors_origin: Vec<String>,
}

// Without the cargo feature `mock` there are no mock flags: the mock's flag is unknown. (A plain
// comment: clap would put a doc comment into the binary.)
#[cfg(not(feature = "mock"))]
#[derive(Debug, clap::Args)]
pub struct MockArgs {}

/// The mock's settings, when it is on.
#[derive(Debug, Clone)]
pub struct MockSettings {
    pub token_lifetime: u64,
    pub refresh_delay: Duration,
    pub rotate_refresh_tokens: bool,
    /// Normalised like `allowed_origins`; empty means any origin.
    pub cors_origins: Vec<String>,
}

/// The checked configuration the server runs with.
#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Present when the mock partner API is on (`--mock-api`, cargo feature `mock`).
    pub mock: Option<MockSettings>,
    /// The upstream given with --upstream (without a trailing slash); None means "the mock",
    /// whose address is only known after binding.
    pub upstream: Option<String>,
    /// Whether /proxy is mounted.
    pub proxy: bool,
    /// Present whenever `proxy` is true.
    pub cookie_key: Option<Key>,
    /// Whether `cookie_key` is a random one made for this run (mock on loopback without a key).
    pub ephemeral_key: bool,
    pub static_dir: Option<PathBuf>,
    /// Normalised (`scheme://host[:port]`, lower case, default port dropped), as browsers send
    /// them in `Origin`.
    pub allowed_origins: Vec<String>,
    pub upstream_timeout: Duration,
    pub max_upstream_body: usize,
    pub limits: crate::server::Limits,
    pub log_format: LogFormat,
}

impl std::fmt::Debug for Config {
    // By hand, so the key never lands in a debug print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("mock", &self.mock)
            .field("upstream", &self.upstream.as_deref().map(redact_url))
            .field("proxy", &self.proxy)
            .field("cookie_key", &self.cookie_key.as_ref().map(|_| "<set>"))
            .field("ephemeral_key", &self.ephemeral_key)
            .field("static_dir", &self.static_dir)
            .field("allowed_origins", &self.allowed_origins)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Checks the flags; the error is one line for stderr (without the `fd-proxy: ` prefix).
    pub fn from_args(args: Args) -> Result<Self, String> {
        Self::from_args_and_env(args, std::env::var(COOKIE_KEY_ENV))
    }

    /// [`Config::from_args`] with the environment variable passed in, for unit tests.
    fn from_args_and_env(
        args: Args,
        env_key: Result<String, std::env::VarError>,
    ) -> Result<Self, String> {
        let upstream = args.upstream.as_deref().map(parse_upstream).transpose()?;
        let mock = mock_settings(&args.mock)?;
        let proxy = !args.no_proxy && (upstream.is_some() || mock.is_some());
        // A throwaway key only for the mock on loopback: a real deployment on loopback (behind a
        // reverse proxy) must not lose every session on restart without being told to.
        let may_use_ephemeral = mock.is_some() && args.listen.ip().is_loopback();
        let (cookie_key, ephemeral_key) = if !proxy {
            (None, false)
        } else if may_use_ephemeral
            && args.cookie_key_file.is_none()
            && matches!(env_key, Err(std::env::VarError::NotPresent))
        {
            let key = Key::try_generate().ok_or_else(|| {
                format!("cannot make a random cookie key for this run: {KEY_HELP}")
            })?;
            (Some(key), true)
        } else {
            let key = load_key(args.cookie_key_file.as_deref(), env_key).map_err(|e| {
                if mock.is_some() && !may_use_ephemeral {
                    format!(
                        "{e} (on a loopback address the mock's proxy would make a throwaway key \
                         itself; {} is not one)",
                        args.listen.ip()
                    )
                } else {
                    e
                }
            })?;
            (Some(key), false)
        };
        if let Some(dir) = &args.static_dir {
            if !dir.is_dir() {
                return Err(format!(
                    "--static-dir {}: not a directory (build the page first?)",
                    dir.display()
                ));
            }
        }
        let allowed_origins = args
            .allowed_origin
            .iter()
            .map(|o| normalize_origin("--allowed-origin", o))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Config {
            listen: args.listen,
            mock,
            upstream,
            proxy,
            cookie_key,
            ephemeral_key,
            static_dir: args.static_dir,
            allowed_origins,
            upstream_timeout: Duration::from_millis(args.upstream_timeout_ms),
            // At most 1 GiB (clap checks), which fits every usize of a 32-bit target.
            max_upstream_body: usize::try_from(args.max_upstream_body_bytes).unwrap_or(usize::MAX),
            limits: crate::server::Limits {
                // At most 1,000,000 (clap checks), which fits every usize of a 32-bit target.
                max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
                header_read_timeout: Duration::from_millis(args.header_read_timeout_ms),
                idle_timeout: Duration::from_millis(args.idle_timeout_ms),
            },
            log_format: args.log_format,
        })
    }
}

/// The mock's settings from its flags, when `--mock-api` is given.
#[cfg(feature = "mock")]
fn mock_settings(args: &MockArgs) -> Result<Option<MockSettings>, String> {
    if !args.mock_api {
        return Ok(None);
    }
    let cors_origins = args
        .mock_cors_origin
        .iter()
        .map(|o| normalize_origin("--mock-cors-origin", o))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(MockSettings {
        token_lifetime: args.token_lifetime,
        refresh_delay: Duration::from_millis(args.refresh_delay_ms),
        rotate_refresh_tokens: args.rotate_refresh_tokens,
        cors_origins,
    }))
}

/// Built without the mock: never one.
#[cfg(not(feature = "mock"))]
#[allow(clippy::unnecessary_wraps)] // The same signature as with the feature.
fn mock_settings(_: &MockArgs) -> Result<Option<MockSettings>, String> {
    Ok(None)
}

/// An http(s) base URL without query or fragment, returned without its trailing slash so that
/// `{upstream}/auth` is a plain concatenation. Credentials in it (`https://user:pass@host`) are
/// kept, for the HTTP client to send as Basic auth, but no message shows them.
fn parse_upstream(raw: &str) -> Result<String, String> {
    let shown = redact_raw(raw);
    let url = Url::parse(raw).map_err(|e| format!("--upstream {shown}: not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "--upstream {shown}: must be an http:// or https:// URL"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "--upstream {shown}: must not have a query or fragment"
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// A URL for display: any user name and password replaced by `***`
/// (`https://***@partner.example.com/v1`).
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            let redacted = parsed.set_password(None).is_ok() && parsed.set_username("***").is_ok();
            if redacted {
                parsed.as_str().trim_end_matches('/').to_owned()
            } else {
                redact_raw(url)
            }
        }
        Ok(_) => url.to_owned(),
        Err(_) => redact_raw(url),
    }
}

/// A string that may not even parse as a URL, for an error message: everything between the
/// scheme's `://` (or the start) and the last `@` becomes `***`. Errs on the side of hiding: an
/// `@` later in the path hides the host too.
fn redact_raw(raw: &str) -> String {
    let start = raw.find("://").map_or(0, |i| i + 3);
    match raw[start..].rfind('@') {
        Some(at) => format!("{}***{}", &raw[..start], &raw[start + at..]),
        None => raw.to_owned(),
    }
}

/// Origins are compared as strings against the `Origin` header, so bring them to the form
/// browsers send.
fn normalize_origin(flag: &str, raw: &str) -> Result<String, String> {
    let bad = || format!("{flag} {raw}: expected an origin like https://app.example.com");
    let url = Url::parse(raw).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || !matches!(url.path(), "" | "/")
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
    {
        return Err(bad());
    }
    Ok(url.origin().ascii_serialization())
}

/// Reads the key from the file (trailing whitespace trimmed) or else the environment.
fn load_key(
    file: Option<&std::path::Path>,
    env_key: Result<String, std::env::VarError>,
) -> Result<Key, String> {
    let need = format!("the proxy needs a cookie key: {KEY_HELP}");
    let bytes: Vec<u8> = match (file, env_key) {
        (Some(path), _) => {
            let mut raw = std::fs::read(path).map_err(|e| {
                format!(
                    "cannot read --cookie-key-file {}: {e}; {need}",
                    path.display()
                )
            })?;
            let kept = raw
                .iter()
                .rposition(|b| !b.is_ascii_whitespace())
                .map_or(0, |i| i + 1);
            raw.truncate(kept);
            raw
        }
        (None, Ok(value)) => value.into_bytes(),
        (None, Err(std::env::VarError::NotUnicode(_))) => {
            return Err(format!("{COOKIE_KEY_ENV} is not valid UTF-8; {need}"))
        }
        (None, Err(std::env::VarError::NotPresent)) => return Err(need),
    };
    if bytes.len() < KEY_LEN {
        return Err(format!(
            "the cookie key is too short ({} bytes, need at least {KEY_LEN}): {KEY_HELP}",
            bytes.len()
        ));
    }
    Key::try_from(&bytes[..KEY_LEN]).map_err(|_| need)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let mut argv = vec!["fd-proxy"];
        argv.extend_from_slice(extra);
        Args::try_parse_from(argv).expect("flags parse")
    }

    #[cfg(feature = "mock")]
    #[test]
    fn proxy_is_mounted_only_with_an_upstream() {
        let none = Config::from_args_and_env(args(&[]), Err(std::env::VarError::NotPresent));
        assert!(!none.expect("no proxy, no key needed").proxy);
        let mock =
            Config::from_args_and_env(args(&["--mock-api"]), Ok("k".repeat(64))).expect("valid");
        assert!(mock.proxy && mock.cookie_key.is_some());
        let off = Config::from_args_and_env(
            args(&["--mock-api", "--no-proxy"]),
            Err(std::env::VarError::NotPresent),
        )
        .expect("valid");
        assert!(!off.proxy && off.cookie_key.is_none());
    }

    #[cfg(feature = "mock")]
    #[test]
    fn refresh_tokens_rotate_only_when_asked() {
        let env = || Err(std::env::VarError::NotPresent);
        let rotates = |config: Result<Config, String>| {
            config
                .expect("valid")
                .mock
                .expect("mock on")
                .rotate_refresh_tokens
        };
        let plain = Config::from_args_and_env(args(&["--mock-api", "--no-proxy"]), env());
        assert!(!rotates(plain));
        let rotating = Config::from_args_and_env(
            args(&["--mock-api", "--no-proxy", "--rotate-refresh-tokens"]),
            env(),
        );
        assert!(rotates(rotating));
    }

    #[cfg(feature = "mock")]
    #[test]
    fn the_mock_cors_and_the_proxy_origins_are_separate() {
        let config = Config::from_args_and_env(
            args(&[
                "--mock-api",
                "--allowed-origin",
                "https://App.example",
                "--mock-cors-origin",
                "http://localhost:5173/",
            ]),
            Ok("k".repeat(64)),
        )
        .expect("valid");
        assert_eq!(config.allowed_origins, ["https://app.example"]);
        assert_eq!(
            config.mock.expect("mock on").cors_origins,
            ["http://localhost:5173"]
        );
        let bad = Config::from_args_and_env(
            args(&["--mock-api", "--no-proxy", "--mock-cors-origin", "nope"]),
            Ok("k".repeat(64)),
        );
        assert!(bad
            .expect_err("bad origin")
            .starts_with("--mock-cors-origin nope"));
    }

    #[test]
    fn key_errors_say_how_to_fix_them() {
        let none = || Err(std::env::VarError::NotPresent);
        let upstream = ["--upstream", "https://partner.example.com"];
        let missing = Config::from_args_and_env(args(&upstream), none()).expect_err("no key");
        assert!(missing.contains("--cookie-key-file") && missing.contains(COOKIE_KEY_ENV));
        let short =
            Config::from_args_and_env(args(&upstream), Ok("k".repeat(63))).expect_err("short key");
        assert!(short.contains("too short"), "{short}");
    }

    #[cfg(feature = "mock")]
    #[test]
    fn only_the_mock_on_loopback_makes_a_throwaway_key() {
        let none = || Err(std::env::VarError::NotPresent);
        for listen in ["127.0.0.1:0", "[::1]:0"] {
            let config =
                Config::from_args_and_env(args(&["--listen", listen, "--mock-api"]), none())
                    .expect("the mock on loopback runs without a key");
            assert!(config.proxy && config.cookie_key.is_some() && config.ephemeral_key);
        }
        let given = Config::from_args_and_env(args(&["--mock-api"]), Ok("k".repeat(64)));
        assert!(!given.expect("valid").ephemeral_key, "a given key is used");
        // A given but bad key is an error, not replaced.
        let short = Config::from_args_and_env(args(&["--mock-api"]), Ok("k".repeat(63)));
        assert!(short.expect_err("short").contains("too short"));
        let wide =
            Config::from_args_and_env(args(&["--listen", "0.0.0.0:0", "--mock-api"]), none())
                .expect_err("not loopback");
        assert!(
            wide.contains("--cookie-key-file") && wide.contains("0.0.0.0 is not one"),
            "{wide}"
        );
        // Without the mock, a proxy on loopback (say, behind a reverse proxy) is a deployment:
        // it must be given its key, or every restart would end every session unannounced.
        let production = Config::from_args_and_env(
            args(&[
                "--listen",
                "127.0.0.1:0",
                "--upstream",
                "https://partner.example.com",
            ]),
            none(),
        );
        assert!(production.is_err(), "no mock, no throwaway key");
    }

    #[test]
    fn credentials_are_redacted_for_display() {
        assert_eq!(
            redact_url("https://user:s3cret@partner.example.com/v1"),
            "https://***@partner.example.com/v1"
        );
        assert_eq!(
            redact_url("https://token@partner.example.com"),
            "https://***@partner.example.com"
        );
        assert_eq!(
            redact_url("https://partner.example.com/v1/@me"),
            "https://partner.example.com/v1/@me"
        );
        assert_eq!(redact_raw("user:pa/ss@host/v1"), "***@host/v1");
        assert_eq!(
            redact_raw("http://u:p@exa mple.com"),
            "http://***@exa mple.com"
        );
        assert_eq!(redact_raw("http://host/v1"), "http://host/v1");
        let config = Config::from_args_and_env(
            args(&["--upstream", "https://user:s3cret@partner.example.com/v1"]),
            Ok("k".repeat(64)),
        )
        .expect("valid");
        assert_eq!(
            config.upstream.as_deref(),
            Some("https://user:s3cret@partner.example.com/v1"),
            "kept for the HTTP client"
        );
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn upstream_and_origins_are_normalised() {
        assert_eq!(
            parse_upstream("https://partner.example.com/v1/").as_deref(),
            Ok("https://partner.example.com/v1")
        );
        assert!(parse_upstream("ftp://x/").is_err());
        assert!(parse_upstream("https://x/v1?a=b").is_err());
        assert_eq!(
            normalize_origin("--allowed-origin", "HTTPS://App.Example.com:443/").as_deref(),
            Ok("https://app.example.com")
        );
        assert!(normalize_origin("--allowed-origin", "https://app.example.com/path").is_err());
    }
}
