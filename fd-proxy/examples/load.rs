//! A load test for fd-proxy: starts the server with `--mock-api` (the proxy's upstream is its own
//! mock), holds 1,000 slow clients open, and meanwhile drives sign-ins and refreshes through the
//! proxy, then prints a table: requests per second, p50/p99 latency, errors, the server's RSS, and
//! what happened to the slow clients.
//!
//! ```sh
//! npm run bench:proxy                      # release build, 20 s
//! cargo run -p fd-proxy --example load -- --quick
//! ```
//!
//! The slow clients come in two kinds, alternately: half send a request line and one header, then
//! trickle another header line every second and never finish; the other half send a whole request,
//! read the answer and then sit on the kept-alive connection saying nothing. The server closes
//! both kinds once `--header-read-timeout-ms` passes, and each slow client then reconnects, so about
//! 1,000 stay held throughout. `--quick` (the CI form, run by `tests/load.rs`) uses a 2 s timeout
//! and a fixed number of requests, then stops reconnecting and waits for the server to close them
//! all.
//!
//! Needs a descriptor per slow client: the soft `ulimit -n` is raised to the hard limit
//! in-process, and the run stops with a message if even that is too low.

#![allow(dead_code)] // tests/load.rs includes this file for `run`, without `main`.

use std::{
    io::{BufRead as _, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use clap::Parser;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
    sync::watch,
};

/// Sign-in body of the mock's demo user without MFA.
const ALICE: &str = r#"{"username":"alice","password":"wonderland"}"#;
/// Refresh body in cookie mode (the token comes from the cookie).
const REFRESH: &str = r#"{"token":null,"device_key":null,"device_group_key":null}"#;
/// Refreshes after each sign-in.
const REFRESHES_PER_SIGN_IN: usize = 3;

#[derive(Debug, Clone, Parser)]
#[command(
    about = "Load test for fd-proxy: slow clients held open while sign-ins and refreshes run"
)]
pub struct Options {
    /// The CI form: a fixed 100 sign-ins (and 300 refreshes), a 2 s header-read timeout, and at
    /// the end a wait until the server has closed every slow client.
    #[arg(long)]
    pub quick: bool,
    /// The fd-proxy binary [default: fd-proxy next to this example's directory].
    #[arg(long)]
    pub server: Option<PathBuf>,
    /// Slow clients held open at once.
    #[arg(long, default_value_t = 1000)]
    pub slow_clients: usize,
    /// Concurrent sign-in/refresh loops.
    #[arg(long, default_value_t = 16)]
    pub workers: usize,
    /// How long the sign-in/refresh loops run, in seconds (without --quick or --sign-ins).
    #[arg(long, default_value_t = 20)]
    pub duration_secs: u64,
    /// Run this many sign-ins (each followed by 3 refreshes) instead of a fixed duration.
    #[arg(long)]
    pub sign_ins: Option<usize>,
    /// The server's --header-read-timeout-ms [default: the server's own, 10000; 2000 with --quick].
    #[arg(long)]
    pub header_read_timeout_ms: Option<u64>,
    /// The server's --max-connections: room for the slow clients, the workers' connections and
    /// the proxy's own connections to its mock.
    #[arg(long, default_value_t = 1200)]
    pub max_connections: u32,
}

impl Options {
    /// The `--quick` form, for the test.
    pub fn quick(server: PathBuf) -> Options {
        let mut options = Options::parse_from(["load", "--quick"]);
        options.server = Some(server);
        options
    }
}

/// Latencies and errors of one kind of request.
#[derive(Debug, Default)]
pub struct Stats {
    pub micros: Vec<u64>,
    pub errors: usize,
    pub first_error: Option<String>,
}

impl Stats {
    fn ok(&mut self, took: Duration) {
        self.micros
            .push(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
    }

    fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }

    fn merge(&mut self, other: Stats) {
        self.micros.extend(other.micros);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        if self.micros.is_empty() {
            return 0.0;
        }
        let mut sorted = self.micros.clone();
        sorted.sort_unstable();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
    }
}

/// What the slow clients saw.
#[derive(Debug, Default)]
pub struct SlowStats {
    pub opened: AtomicUsize,
    pub held: AtomicUsize,
    pub max_held: AtomicUsize,
    pub closed_by_server: AtomicUsize,
    pub connect_errors: AtomicUsize,
    /// Slow clients that have stopped (not reconnecting any more).
    pub finished: AtomicUsize,
}

/// The figures of a run.
#[derive(Debug)]
pub struct Report {
    pub slow_clients: usize,
    pub workers: usize,
    pub elapsed: Duration,
    pub sign_in: Stats,
    pub refresh: Stats,
    /// VmRSS in KiB: at start, with the slow clients held, after the load; and VmHWM at the end.
    pub rss_start_kib: u64,
    pub rss_held_kib: u64,
    pub rss_after_kib: u64,
    pub rss_peak_kib: u64,
    pub slow_opened: usize,
    pub slow_max_held: usize,
    pub slow_closed_by_server: usize,
    pub slow_connect_errors: usize,
    /// Slow clients still open when the run ended (0 after --quick's wait).
    pub slow_still_held: usize,
    /// Whether a fresh client got a 200 from the server after everything.
    pub answers_afterwards: bool,
}

impl Report {
    pub fn table(&self) -> String {
        let secs = self.elapsed.as_secs_f64();
        let mut out = format!(
            "fd-proxy under load: {} slow clients held, {} workers, {:.1} s, {} build\n\n",
            self.slow_clients,
            self.workers,
            secs,
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
        );
        out += "| requests | count | errors | req/s | p50 ms | p99 ms |\n";
        out += "| --- | ---: | ---: | ---: | ---: | ---: |\n";
        for (name, stats) in [("sign-in", &self.sign_in), ("refresh", &self.refresh)] {
            out += &format!(
                "| {name} | {} | {} | {:.0} | {:.2} | {:.2} |\n",
                stats.micros.len() + stats.errors,
                stats.errors,
                (stats.micros.len() + stats.errors) as f64 / secs,
                stats.percentile_ms(50.0),
                stats.percentile_ms(99.0),
            );
        }
        let total = self.sign_in.micros.len()
            + self.sign_in.errors
            + self.refresh.micros.len()
            + self.refresh.errors;
        out += &format!(
            "| all | {total} | {} | {:.0} | | |\n\n",
            self.sign_in.errors + self.refresh.errors,
            total as f64 / secs
        );
        let mib = |kib: u64| kib as f64 / 1024.0;
        out += "| server RSS | MiB |\n| --- | ---: |\n";
        out += &format!("| at start | {:.1} |\n", mib(self.rss_start_kib));
        out += &format!(
            "| {} slow clients held | {:.1} |\n",
            self.slow_clients,
            mib(self.rss_held_kib)
        );
        out += &format!("| after the load | {:.1} |\n", mib(self.rss_after_kib));
        out += &format!("| peak (VmHWM) | {:.1} |\n\n", mib(self.rss_peak_kib));
        out += "| slow clients | count |\n| --- | ---: |\n";
        out += &format!("| held at once (max) | {} |\n", self.slow_max_held);
        out += &format!(
            "| closed by the server | {} |\n",
            self.slow_closed_by_server
        );
        out += &format!("| connections opened | {} |\n", self.slow_opened);
        out += &format!("| failed connects | {} |\n", self.slow_connect_errors);
        out += &format!(
            "| server answers afterwards | {} |\n",
            if self.answers_afterwards { "yes" } else { "NO" }
        );
        for (name, stats) in [("sign-in", &self.sign_in), ("refresh", &self.refresh)] {
            if let Some(error) = &stats.first_error {
                out += &format!("\nfirst {name} error: {error}\n");
            }
        }
        out
    }
}

/// The server process; killed when dropped.
struct ServerProcess {
    child: Child,
    base: String,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    fn start(options: &Options, header_read_timeout_ms: Option<u64>) -> Result<Self, String> {
        let path = match &options.server {
            Some(path) => path.clone(),
            None => default_server_path()?,
        };
        let key: String = {
            use rand::{distributions::Alphanumeric, Rng as _};
            rand::thread_rng()
                .sample_iter(&Alphanumeric)
                .take(64)
                .map(char::from)
                .collect()
        };
        let mut command = Command::new(&path);
        command
            .args(["--mock-api", "--listen", "127.0.0.1:0"])
            .args(["--max-connections", &options.max_connections.to_string()])
            .env("FD_PROXY_COOKIE_KEY", key)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // Request logs are written (a real server writes them) but not kept.
            .stderr(Stdio::null());
        if let Some(ms) = header_read_timeout_ms {
            command.args(["--header-read-timeout-ms", &ms.to_string()]);
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", path.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut base = None;
        for line in lines.by_ref() {
            let line = line.map_err(|e| format!("reading the server's start-up lines: {e}"))?;
            if let Some(url) = line.strip_prefix("fd-proxy listening on ") {
                base = Some(url.trim().to_owned());
            } else if line.starts_with("  mounted:") {
                break;
            }
        }
        // Keep draining stdout so the server never blocks on it.
        std::thread::spawn(move || lines.for_each(drop));
        let base = base.ok_or("the server printed no address")?;
        Ok(ServerProcess { child, base })
    }

    fn rss_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

/// `fd-proxy` in the target directory this example was built into (`target/<profile>/examples/`).
fn default_server_path() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let profile_dir = exe
        .parent()
        .and_then(|examples| examples.parent())
        .ok_or("cannot find the target directory")?;
    let path = profile_dir.join("fd-proxy");
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found: build it first (cargo build -p fd-proxy, with --release for a release \
             run) or pass --server",
            path.display()
        ))
    }
}

/// Raises the soft descriptor limit to the hard one, and checks that `needed` fit.
fn raise_descriptor_limit(needed: u64) -> Result<(), String> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err("getrlimit(RLIMIT_NOFILE) failed".into());
        }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err("setrlimit(RLIMIT_NOFILE) failed".into());
            }
        }
    }
    if limit.rlim_cur < needed {
        return Err(format!(
            "needs {needed} open files but the hard limit (ulimit -Hn) is {}: raise it, or pass \
             fewer --slow-clients",
            limit.rlim_cur
        ));
    }
    Ok(())
}

/// Runs the load test.
pub async fn run(options: Options) -> Result<Report, String> {
    raise_descriptor_limit(options.slow_clients as u64 + 4 * options.workers as u64 + 200)?;
    let header_read_timeout_ms = match (options.header_read_timeout_ms, options.quick) {
        (Some(ms), _) => Some(ms),
        (None, true) => Some(2000),
        (None, false) => None,
    };
    let server = ServerProcess::start(&options, header_read_timeout_ms)?;
    let authority = server.base.trim_start_matches("http://").to_owned();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_start_kib = server.rss_kib("VmRSS:");

    // The slow clients; wait until all are connected.
    let slow = Arc::new(SlowStats::default());
    let reconnect = Arc::new(AtomicBool::new(true));
    let (hang_up_tx, hang_up_rx) = watch::channel(false);
    let mut slow_tasks: Vec<tokio::task::JoinHandle<()>> = Vec::with_capacity(options.slow_clients);
    for i in 0..options.slow_clients {
        slow_tasks.push(tokio::spawn(slow_client(
            authority.clone(),
            i % 2 == 0,
            slow.clone(),
            reconnect.clone(),
            hang_up_rx.clone(),
        )));
    }
    let connect_deadline = Instant::now() + Duration::from_secs(60);
    while slow.max_held.load(Ordering::SeqCst) < options.slow_clients
        && Instant::now() < connect_deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_held_kib = server.rss_kib("VmRSS:");

    // The sign-in/refresh loops.
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let sign_ins = match (options.sign_ins, options.quick) {
        (Some(n), _) => Some(n),
        (None, true) => Some(100),
        (None, false) => None,
    };
    let budget = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs(options.duration_secs);
    let mut workers = Vec::new();
    for _ in 0..options.workers {
        let client = client.clone();
        let base = server.base.clone();
        let budget = budget.clone();
        workers.push(tokio::spawn(async move {
            let more = || match sign_ins {
                Some(n) => budget.fetch_add(1, Ordering::SeqCst) < n,
                None => Instant::now() < until,
            };
            worker(&client, &base, more).await
        }));
    }
    let mut sign_in = Stats::default();
    let mut refresh = Stats::default();
    for worker in workers {
        let (s, r) = worker.await.map_err(|e| format!("worker: {e}"))?;
        sign_in.merge(s);
        refresh.merge(r);
    }
    let elapsed = started.elapsed();
    let rss_after_kib = server.rss_kib("VmRSS:");

    // The slow clients: with --quick, wait for the server to close every one; else hang up.
    reconnect.store(false, Ordering::SeqCst);
    if options.quick {
        let deadline = Instant::now()
            + Duration::from_millis(header_read_timeout_ms.unwrap_or(10_000))
            + Duration::from_secs(60);
        while slow.finished.load(Ordering::SeqCst) < options.slow_clients
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let slow_still_held = slow.held.load(Ordering::SeqCst);
    let _ = hang_up_tx.send(true);
    for task in slow_tasks {
        let _ = task.await;
    }

    let answers_afterwards = matches!(
        client.get(format!("{}/api/demo-config", server.base)).send().await,
        Ok(response) if response.status() == reqwest::StatusCode::OK
    );
    // The kernel updates VmHWM lazily: take the samples into account too.
    let rss_peak_kib = server
        .rss_kib("VmHWM:")
        .max(rss_held_kib)
        .max(rss_after_kib);
    Ok(Report {
        slow_clients: options.slow_clients,
        workers: options.workers,
        elapsed,
        sign_in,
        refresh,
        rss_start_kib,
        rss_held_kib,
        rss_after_kib,
        rss_peak_kib,
        slow_opened: slow.opened.load(Ordering::SeqCst),
        slow_max_held: slow.max_held.load(Ordering::SeqCst),
        slow_closed_by_server: slow.closed_by_server.load(Ordering::SeqCst),
        slow_connect_errors: slow.connect_errors.load(Ordering::SeqCst),
        slow_still_held,
        answers_afterwards,
    })
}

/// One sign-in/refresh loop: sign in as alice through the proxy, then refresh with the cookie.
async fn worker(client: &reqwest::Client, base: &str, more: impl Fn() -> bool) -> (Stats, Stats) {
    let mut sign_in = Stats::default();
    let mut refresh = Stats::default();
    let call = |path: &str, body: &'static str, cookie: Option<&str>| {
        let mut request = client
            .post(format!("{base}{path}"))
            .header("x-requested-with", "fd-fetch")
            .header("origin", base)
            .header("content-type", "application/json")
            .body(body);
        if let Some(cookie) = cookie {
            request = request.header("cookie", format!("fd_refresh={cookie}"));
        }
        request.send()
    };
    while more() {
        let started = Instant::now();
        let cookie = match call("/proxy/auth", ALICE, None).await {
            Ok(response) if response.status() == reqwest::StatusCode::OK => {
                let cookie = response
                    .headers()
                    .get_all("set-cookie")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .find_map(|v| v.strip_prefix("fd_refresh="))
                    .and_then(|v| v.split(';').next())
                    .map(str::to_owned);
                let body = response.bytes().await;
                match (cookie, body) {
                    (Some(cookie), Ok(_)) => {
                        sign_in.ok(started.elapsed());
                        cookie
                    }
                    (None, _) => {
                        sign_in.error("200 without the refresh cookie".into());
                        continue;
                    }
                    (_, Err(e)) => {
                        sign_in.error(format!("body: {e}"));
                        continue;
                    }
                }
            }
            Ok(response) => {
                sign_in.error(format!("status {}", response.status()));
                continue;
            }
            Err(e) => {
                sign_in.error(format!("{e}"));
                continue;
            }
        };
        for _ in 0..REFRESHES_PER_SIGN_IN {
            let started = Instant::now();
            match call("/proxy/auth/refresh_token", REFRESH, Some(&cookie)).await {
                Ok(response) if response.status() == reqwest::StatusCode::OK => {
                    match response.bytes().await {
                        Ok(_) => refresh.ok(started.elapsed()),
                        Err(e) => refresh.error(format!("body: {e}")),
                    }
                }
                Ok(response) => refresh.error(format!("status {}", response.status())),
                Err(e) => refresh.error(format!("{e}")),
            }
        }
    }
    (sign_in, refresh)
}

/// One slow client: connects, starts a request and never finishes it (`trickle`: a header line
/// every second) or sends a whole one and then idles on the kept-alive connection; when the
/// server closes it, counts that and reconnects while `reconnect` holds.
async fn slow_client(
    authority: String,
    trickle: bool,
    stats: Arc<SlowStats>,
    reconnect: Arc<AtomicBool>,
    hang_up: watch::Receiver<bool>,
) {
    slow_connections(&authority, trickle, &stats, &reconnect, hang_up).await;
    stats.finished.fetch_add(1, Ordering::SeqCst);
}

async fn slow_connections(
    authority: &str,
    trickle: bool,
    stats: &SlowStats,
    reconnect: &AtomicBool,
    mut hang_up: watch::Receiver<bool>,
) {
    loop {
        let mut stream = match TcpStream::connect(authority).await {
            Ok(stream) => stream,
            Err(_) => {
                stats.connect_errors.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                if !reconnect.load(Ordering::SeqCst) {
                    return;
                }
                continue;
            }
        };
        stats.opened.fetch_add(1, Ordering::SeqCst);
        let held = stats.held.fetch_add(1, Ordering::SeqCst) + 1;
        stats.max_held.fetch_max(held, Ordering::SeqCst);
        let start: &[u8] = if trickle {
            b"GET /api/demo-config HTTP/1.1\r\nHost: x\r\n"
        } else {
            b"GET /api/demo-config HTTP/1.1\r\nHost: x\r\n\r\n"
        };
        let closed = if stream.write_all(start).await.is_err() {
            true
        } else {
            hold(&mut stream, trickle, &mut hang_up).await
        };
        stats.held.fetch_sub(1, Ordering::SeqCst);
        if !closed {
            return;
        }
        stats.closed_by_server.fetch_add(1, Ordering::SeqCst);
        if !reconnect.load(Ordering::SeqCst) {
            return;
        }
    }
}

/// Holds a slow connection: true once the server closes it, false on `hang_up`.
async fn hold(stream: &mut TcpStream, trickle: bool, hang_up: &mut watch::Receiver<bool>) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => {
                if matches!(read, Ok(0) | Err(_)) {
                    return true;
                }
            }
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                if trickle && stream.write_all(b"X-Slow: 1\r\n").await.is_err() {
                    return true;
                }
            }
            _ = hang_up.changed() => return false,
        }
    }
}

fn main() -> std::process::ExitCode {
    let options = Options::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("load: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(options)) {
        Ok(report) => {
            print!("{}", report.table());
            let failed =
                report.sign_in.errors + report.refresh.errors > 0 || !report.answers_afterwards;
            if failed {
                std::process::ExitCode::FAILURE
            } else {
                std::process::ExitCode::SUCCESS
            }
        }
        Err(message) => {
            eprintln!("load: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
