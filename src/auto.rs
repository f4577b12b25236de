//! `startAutoRefresh`: a timer that refreshes before the token runs out, with no request made.
//!
//! One loop per client: sleep `intervalMs`, then refresh if less than `thresholdMs` remains
//! (through `refresh::ensure_fresh`, so single-flight with requests and across tabs), then sleep
//! again. The next sleep starts only once a tick has settled, so ticks never overlap. Each start,
//! stop and `close` bumps the client's `auto_gen`; a loop whose number is no longer current stops
//! when it next wakes. The sleep is `tabs::sleep` (`AbortSignal.timeout`): a page's fake timers do
//! not move it, and in Node.js its timer does not keep the process alive.

use wasm_bindgen::JsValue;

use crate::config::number;
use crate::error::FdError;
use crate::refresh;
use crate::state::Client;
use crate::tabs;
use crate::task::{spawn, wait};

const DEFAULT_INTERVAL_MS: f64 = 60_000.0;
const DEFAULT_THRESHOLD_MS: f64 = 600_000.0;

/// `{ intervalMs, thresholdMs }`, checked (as `configure` checks its numbers): the interval in
/// whole ms, at least 1 and at most what a timer takes, and the threshold.
pub fn options(opts: &JsValue) -> Result<(i32, f64), FdError> {
    let (interval, threshold) = if opts.is_undefined() || opts.is_null() {
        (DEFAULT_INTERVAL_MS, DEFAULT_THRESHOLD_MS)
    } else if opts.is_object() {
        (
            // Above 0: the smallest positive double is the least accepted.
            number(opts, "intervalMs", DEFAULT_INTERVAL_MS, f64::MIN_POSITIVE)?,
            number(opts, "thresholdMs", DEFAULT_THRESHOLD_MS, 0.0)?,
        )
    } else {
        return Err(FdError::bad_config(
            "options",
            "of startAutoRefresh must be an object such as { intervalMs, thresholdMs }",
        ));
    };
    // Timers take whole milliseconds up to 2^31 - 1 (a longer delay would fire at once).
    // Rounded up by hand: `f64::ceil` is not in `core`.
    let whole = interval.min(f64::from(i32::MAX)) as i32;
    let interval = if f64::from(whole) < interval {
        whole.saturating_add(1)
    } else {
        whole
    };
    Ok((interval, threshold))
}

/// Starts (or restarts) the client's timer.
pub fn start(c: &Client, interval_ms: i32, threshold_ms: f64) {
    let gen = bump(c);
    let c = c.clone();
    spawn(async move {
        loop {
            let _ = wait(tabs::sleep(interval_ms)).await;
            if c.with(|s| s.auto_gen != gen || s.closed) {
                return;
            }
            // Not signed in, a transient failure: wait for the next tick. A dead refresh token has
            // ended the session inside the refresh, as for a 401.
            let _ = refresh::ensure_fresh(&c, None, Some(threshold_ms)).await;
        }
    });
}

/// Stops the client's timer (at its next wake, which then does nothing).
pub fn stop(c: &Client) {
    bump(c);
}

fn bump(c: &Client) -> u64 {
    c.with(|s| {
        s.auto_gen += 1;
        s.auto_gen
    })
}
