//! `authstore export`: write a store's entries to a JSON-lines file (.zst: zstd-compressed), readable only by its owner.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use authstore::migrate;

use crate::command_prelude::*;
use crate::transfer::{Progress, counts, is_zstd, options_of};

/// `authstore export`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The file to write; a name ending in .zst is zstd-compressed.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Only keys that start with this.
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// Entries read per page.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub batch_size: usize,
}

/// `authstore export --store URL --out FILE` (`.zst`: zstd-compressed).
///
/// # Errors
/// Exit status 1 when the store or the file fails.
pub(crate) async fn exec(args: ExportArgs) -> Result<(), Failure> {
    let options = options_of(args.batch_size, 1, args.prefix.as_deref())?;
    let Opened { store, safe, .. } = open_args(&args.store).await?;
    let file_error =
        |e: std::io::Error| Failure::runtime(format!("cannot write {}: {e}", args.out.display()));
    let file = BufWriter::new(create_private(&args.out).map_err(file_error)?);
    let mut out = if is_zstd(&args.out) {
        ExportFile::Zstd(zstd::Encoder::new(file, 3).map_err(file_error)?)
    } else {
        ExportFile::Plain(file)
    };
    let total = store.stats().await.ok().map(|s| s.entries);
    let mut bar = Progress::new("export", total);
    let report = migrate::export(store.as_ref(), &mut out, &options, |r| {
        bar.update(r.scanned, r.elapsed, || counts(r))
    })
    .await
    .map_err(|e| Failure::runtime(format!("export stopped: {}", error_chain(&e))))?;
    out.finish().map_err(file_error)?;
    bar.finish();
    println!(
        "exported {} entries from {safe} to {} in {:.2}s",
        report.migrated,
        args.out.display(),
        report.elapsed.as_secs_f64()
    );
    Ok(())
}

/// The export file being written, plain or zstd-compressed. Its last
/// writes (the zstd frame's end, the buffer's final flush) happen in
/// [`finish`](Self::finish), which reports their failure: dropped, an
/// `auto_finish` encoder and a `BufWriter` would ignore it and leave a
/// truncated file behind a successful export.
enum ExportFile {
    Plain(BufWriter<File>),
    Zstd(zstd::Encoder<'static, BufWriter<File>>),
}

impl Write for ExportFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(w) => w.write(buf),
            Self::Zstd(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Plain(w) => w.flush(),
            Self::Zstd(w) => w.flush(),
        }
    }
}

impl ExportFile {
    /// Ends the zstd frame and writes out everything buffered.
    fn finish(self) -> std::io::Result<()> {
        let file = match self {
            Self::Plain(w) => w,
            Self::Zstd(w) => w.finish()?,
        };
        file.into_inner()
            .map(drop)
            .map_err(std::io::IntoInnerError::into_error)
    }
}

/// Creates (or truncates) `path` for writing with mode 0600, whatever the
/// umask: an export holds every hash, secret and key of the store. An
/// existing file is set to 0600 too before anything is written to it.
fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let metadata = file.metadata()?;
        // A regular file only: /dev/stdout or a pipe keeps its mode.
        if metadata.is_file() && metadata.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(file)
}
