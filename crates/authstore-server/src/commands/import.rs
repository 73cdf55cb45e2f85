//! `authstore import`: load an export file (.zst: zstd-compressed) into a store, skipping and counting bad lines unless `--strict`.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use authstore::migrate::{self, ImportOptions};

use crate::command_prelude::*;
use crate::transfer::{
    Progress, counts, is_zstd, options_of, plural, print_failures, report_json, summary,
};

/// `authstore import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The export file to read (.zst: zstd-compressed).
    #[arg(long = "in", value_name = "FILE")]
    pub input: PathBuf,
    /// Stop at the first bad line (default: skip it, count it, report its line number).
    #[arg(long)]
    pub strict: bool,
    /// Replace entries the store holds with a different value.
    #[arg(long)]
    pub overwrite: bool,
    /// Lines written per batch.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub batch_size: usize,
    /// Batches of writes in flight at once (each page is split into this many).
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub concurrency: usize,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `authstore import --store URL --in FILE [--strict]`.
///
/// # Errors
/// Exit status 1 when the store or the file fails, a line is bad (with
/// `--strict`, or counted otherwise) or an entry could not be written.
pub(crate) async fn exec(args: ImportArgs) -> Result<(), Failure> {
    let mut options = options_of(args.batch_size, args.concurrency, None)?;
    options.overwrite = args.overwrite;
    let Opened { store, safe, .. } = open_args(&args.store).await?;
    let file_error =
        |e: std::io::Error| Failure::runtime(format!("cannot read {}: {e}", args.input.display()));
    let file = File::open(&args.input).map_err(file_error)?;
    let mut input: Box<dyn std::io::BufRead> = if is_zstd(&args.input) {
        Box::new(BufReader::new(
            zstd::Decoder::new(file).map_err(file_error)?,
        ))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut bar = Progress::new("import", None);
    let report = migrate::import(
        store.as_ref(),
        &mut input,
        &options,
        ImportOptions {
            strict: args.strict,
        },
        |r| bar.update(r.scanned, r.elapsed, || counts(r)),
    )
    .await
    .map_err(|e| {
        Failure::runtime(format!(
            "import of {} stopped: {}",
            args.input.display(),
            error_chain(&e)
        ))
    })?;
    bar.finish();
    if args.json {
        println!("{}", report_json(&report));
    } else {
        println!("{}", summary(&format!("import into {safe}"), &report));
    }
    print_failures(&report);
    if report.failed > 0 {
        return Err(Failure::runtime(format!(
            "{} not imported",
            plural(report.failed, "line or entry was", "lines or entries were")
        )));
    }
    Ok(())
}
