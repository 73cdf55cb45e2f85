//! The `authstore` binary: parse the command line, set up logging, run the command, exit 0, 1 (failure) or 2 (bad usage or configuration).

use std::process::ExitCode;
use std::time::Duration;

use authstore_server::cli::{Cli, Failure};
use clap::Parser as _;

/// mimalloc: the token endpoint allocates a few dozen short-lived buffers per
/// request, and on glibc's allocator those cost about a fifth of its CPU.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    authstore_server::cli::init_logging(cli.log_format, cli.command.default_log_filter());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            return report(&Failure::runtime(format!(
                "cannot start the async runtime: {e}"
            )));
        }
    };
    let result = runtime.block_on(authstore_server::cli::run(cli.command));
    // Connections still open after a drain timeout are dropped here.
    runtime.shutdown_timeout(Duration::from_secs(5));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => report(&failure),
    }
}

fn report(failure: &Failure) -> ExitCode {
    eprintln!("error: {}", failure.message);
    ExitCode::from(failure.code)
}
