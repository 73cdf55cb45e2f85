//! `authstore completions SHELL` and `authstore man [--out-dir DIR]`: the shell completion scripts and the man pages, generated from the command line's own definition.

use std::io::Write as _;
use std::path::PathBuf;

use clap_complete::Shell;

use crate::command_prelude::*;

/// `authstore completions`.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// `authstore man`.
#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Write `authstore.1` and one page per subcommand (`authstore-serve.1`, …)
    /// into this directory (created if missing) instead of printing `authstore.1`.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Prints the completion script of `shell` for `command` (the whole
/// command line's definition) to standard output.
///
/// # Errors
/// Exit status 1 when standard output cannot be written.
pub(crate) fn completions(
    args: &CompletionsArgs,
    mut command: clap::Command,
) -> Result<(), Failure> {
    let name = command.get_name().to_owned();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, name, &mut script);
    write_stdout(&script)
}

/// Prints the man page of `command` (roff), or writes every page into `--out-dir`.
///
/// # Errors
/// Exit status 1 when the pages cannot be written.
pub(crate) fn man(args: &ManArgs, command: clap::Command) -> Result<(), Failure> {
    match &args.out_dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .map_err(|e| Failure::runtime(format!("cannot render the man page: {e}")))?;
            write_stdout(&page)
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::runtime(format!("cannot create {}: {e}", dir.display())))?;
            clap_mangen::generate_to(command, dir).map_err(|e| {
                Failure::runtime(format!(
                    "cannot write the man pages to {}: {e}",
                    dir.display()
                ))
            })?;
            Ok(())
        }
    }
}

/// Writes `bytes` to standard output and flushes it.
fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::runtime(format!("cannot write to standard output: {e}")))
}
