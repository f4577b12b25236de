//! Shared helpers: run the real `fd-proxy` binary on a free port, capture everything it prints,
//! and make HTTP calls to it.

#![allow(dead_code)] // Each test binary uses its own subset.

use std::{
    io::{BufRead, BufReader, Read},
    process::{Child, Command, Stdio},
    sync::{mpsc, Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use reqwest::{header::HeaderMap, Method, StatusCode};
use serde_json::Value;

/// A cookie key the tests pass in FD_PROXY_COOKIE_KEY (64+ bytes).
pub const KEY: &str = "test-cookie-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOP";

/// A running server; killed when dropped.
pub struct Server {
    child: Child,
    pub base: String,
    output: Arc<Mutex<String>>,
}

impl Server {
    /// Starts the binary with `--listen 127.0.0.1:0`, the test key in the environment, and `args`.
    pub fn start(args: &[&str]) -> Server {
        Self::start_with_env(args, &[("FD_PROXY_COOKIE_KEY", KEY)])
    }

    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_fd-proxy"));
        command
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("FD_PROXY_COOKIE_KEY")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("spawn fd-proxy");
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let stdout = child.stdout.take().expect("stdout piped");
        let stderr = child.stderr.take().expect("stderr piped");
        capture(stdout, output.clone(), Some(tx));
        capture(stderr, output.clone(), None);
        // The start-up lines end with the "mounted:" one; wait for all of them.
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut base = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("fd-proxy listening on ") {
                        base = Some(url.trim().to_owned());
                    } else if line.starts_with("  mounted:") && base.is_some() {
                        break;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "fd-proxy did not print its start-up lines; output:\n{}",
                        output.lock().expect("lock")
                    );
                }
            }
        }
        Server {
            child,
            base: base.unwrap_or_default(),
            output,
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A call to `path` as fd-fetch makes it from a page served by this server (its own origin).
    pub async fn fd_call(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        fd_call(method, &self.url(path), &self.base, &[], body).await
    }

    /// Everything printed so far, stdout and stderr.
    pub fn output(&self) -> String {
        self.output.lock().expect("lock").clone()
    }

    /// Stops the server with SIGTERM and waits for it, so every log line is flushed.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                // Let the reader threads drain the pipes.
                thread::sleep(Duration::from_millis(100));
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies a pipe into `output` line by line, forwarding lines to `lines` if given.
fn capture(
    pipe: impl Read + Send + 'static,
    output: Arc<Mutex<String>>,
    lines: Option<mpsc::Sender<String>>,
) {
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    output.lock().expect("lock").push_str(&line);
                    if let Some(tx) = &lines {
                        let _ = tx.send(line.clone());
                    }
                }
            }
        }
    });
}

/// Runs the binary to completion (for flags that make it exit) and returns its exit code and
/// stdout + stderr.
pub fn run_to_exit(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fd-proxy"));
    command
        .args(args)
        .env_remove("FD_PROXY_COOKIE_KEY")
        .stdin(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fd-proxy");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("fd-proxy {args:?} did not exit");
        }
        thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

/// An HTTP client that follows no redirects and keeps no cookies (Set-Cookie is handled by hand
/// so its attributes can be checked).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("client")
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    /// The body as JSON (panics with the body if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?} {}", self.status, self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `error` of a JSON error answer.
    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }

    /// The `fd_refresh` Set-Cookie, if any.
    pub fn refresh_cookie(&self) -> Option<SetCookie> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("fd_refresh="))
            .map(SetCookie::parse)
    }
}

/// A parsed Set-Cookie header.
#[derive(Debug, Clone)]
pub struct SetCookie {
    pub raw: String,
    pub value: String,
    /// Attribute names lower-cased, with their values (empty for flags).
    pub attrs: Vec<(String, String)>,
}

impl SetCookie {
    fn parse(raw: &str) -> SetCookie {
        let mut parts = raw.split(';');
        let first = parts.next().unwrap_or_default();
        let value = first
            .split_once('=')
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default();
        let attrs = parts
            .map(|p| {
                let p = p.trim();
                match p.split_once('=') {
                    Some((k, v)) => (k.trim().to_ascii_lowercase(), v.trim().to_owned()),
                    None => (p.to_ascii_lowercase(), String::new()),
                }
            })
            .collect();
        SetCookie {
            raw: raw.to_owned(),
            value,
            attrs,
        }
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.attr(name).is_some()
    }

    /// The `Cookie` request header a browser would send back.
    pub fn header(&self) -> String {
        format!("fd_refresh={}", self.value)
    }
}

/// Sends a request; `body` is sent as JSON when given.
pub async fn send(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Reply {
    let mut request = client().request(method, url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("request sent");
    Reply {
        status: response.status(),
        headers: response.headers().clone(),
        text: response.text().await.expect("body read"),
    }
}

pub async fn post(url: &str, headers: &[(&str, &str)], body: &Value) -> Reply {
    send(Method::POST, url, headers, Some(body)).await
}

pub async fn get(url: &str, headers: &[(&str, &str)]) -> Reply {
    send(Method::GET, url, headers, None).await
}

/// GET a protected mock endpoint as a caller with this token and partner.
pub async fn get_as(url: &str, token: &str, partner: &str) -> Reply {
    let bearer = format!("Bearer {token}");
    get(
        url,
        &[
            ("authorization", bearer.as_str()),
            ("x-preferred-partner-id", partner),
        ],
    )
    .await
}

/// A call to the proxy as fd-fetch makes it from a page whose origin is `origin`
/// (`X-Requested-With: fd-fetch`, `Origin`), plus `extra` headers.
pub async fn fd_call(
    method: Method,
    url: &str,
    origin: &str,
    extra: &[(&str, &str)],
    body: Option<&Value>,
) -> Reply {
    let mut headers = vec![("x-requested-with", "fd-fetch"), ("origin", origin)];
    headers.extend_from_slice(extra);
    send(method, url, &headers, body).await
}

/// The payload (claims) of a JWT, without verifying it.
pub fn jwt_claims(token: &str) -> Value {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
    let payload = token.split('.').nth(1).expect("JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}

pub fn alice() -> Value {
    serde_json::json!({"username": "alice", "password": "wonderland"})
}

pub fn bob() -> Value {
    serde_json::json!({"username": "bob", "password": "builder"})
}

/// `host:port` of a server's base URL (`http://host:port`).
pub fn authority(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

/// A TCP client that sends the start of a request and never finishes its headers.
pub async fn half_sent_request(base: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt as _;
    let mut stream = tokio::net::TcpStream::connect(authority(base))
        .await
        .expect("connect");
    stream
        .write_all(b"GET /api/demo-config HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    stream
}

/// Whether the server closes `stream` within `within`: reads (and discards anything the server
/// sends) until end of stream or a reset.
pub async fn closed_by_server(stream: &mut tokio::net::TcpStream, within: Duration) -> bool {
    use tokio::io::AsyncReadExt as _;
    let mut buf = [0u8; 1024];
    let read_to_end = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(within, read_to_end).await.is_ok()
}
