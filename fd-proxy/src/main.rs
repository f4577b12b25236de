//! `fd-proxy`: see the library crate; this only parses the flags and hands over.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    fd_proxy::main_with(fd_proxy::cli::Args::parse())
}
