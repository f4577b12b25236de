//! The load test's quick form (`examples/load.rs --quick`): 1,000 slow clients held open while
//! 100 sign-ins and 300 refreshes go through the proxy. Asserts correctness only, never a time.

#[path = "../examples/load.rs"]
mod load;

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_slow_clients_do_not_stop_sign_in_and_refresh() {
    let options = load::Options::quick(env!("CARGO_BIN_EXE_fd-proxy").into());
    let slow_clients = options.slow_clients;
    let report = load::run(options).await.expect("load test ran");
    let table = report.table();
    println!("{table}");

    // Every request succeeded.
    assert_eq!(report.sign_in.errors, 0, "{table}");
    assert_eq!(report.refresh.errors, 0, "{table}");
    assert_eq!(report.sign_in.micros.len(), 100, "{table}");
    assert_eq!(report.refresh.micros.len(), 300, "{table}");
    // All slow clients were held at once, and the server closed every one of them.
    assert_eq!(report.slow_max_held, slow_clients, "{table}");
    assert!(report.slow_closed_by_server >= slow_clients, "{table}");
    assert_eq!(report.slow_still_held, 0, "{table}");
    // The server still answers.
    assert!(report.answers_afterwards, "{table}");
    // Memory stayed bounded: a generous factor over what an idle server takes.
    assert!(report.rss_start_kib > 0, "{table}");
    assert!(
        report.rss_peak_kib < 16 * report.rss_start_kib,
        "RSS grew from {} KiB to a peak of {} KiB\n{table}",
        report.rss_start_kib,
        report.rss_peak_kib
    );
}
