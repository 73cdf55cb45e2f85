//! Operations commands on store URLs: `migrate`, `export`, `import` (this file) and `stats`, `health`, `cleanup` (the `inspect` submodule); passwords in URLs are redacted in everything they print.

mod inspect;
mod progress;

use std::fs::File;
use std::future::Future;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use authstore::migrate::{self, ImportOptions, MigrateOptions, MigrateReport, VerifyReport};
use authstore::{Store, error_chain};

pub use inspect::{cleanup, health, stats};

use crate::cli::{ExportArgs, Failure, ImportArgs, MigrateArgs, StoreArgs, load_config};
use crate::config;
use crate::serve::{log_safe_url, open_failure};
use progress::{Progress, counts, rate};

/// The future of [`authstore::open`], boxed and type-erased.
pub(crate) type OpenFuture<'a> =
    Pin<Box<dyn Future<Output = authstore::Result<Arc<dyn Store>>> + Send + 'a>>;

/// [`authstore::open`], boxed and type-erased. Opening a store nests the
/// backend's whole connection set-up (Redis Cluster and Sentinel discovery,
/// TLS, the PostgreSQL pool): held inline in a command's future, that
/// nesting made the future's layout too deep for the compiler in release
/// builds. Behind a `dyn` box, a command's future holds one pointer.
pub(crate) fn open_boxed(url: &str) -> OpenFuture<'_> {
    Box::pin(authstore::open(url))
}

/// Opens a store by URL; returns it and its printable (redacted) URL.
pub(crate) async fn open_url(url: &str) -> Result<(Arc<dyn Store>, String), Failure> {
    let safe = log_safe_url(url);
    let store = open_boxed(url).await.map_err(|e| open_failure(&safe, &e))?;
    Ok((store, safe))
}

/// The store URL `--store`/`--config`/the environment name, as `serve`
/// resolves it, and where it came from.
fn resolve_args(args: &StoreArgs) -> Result<(String, &'static str), Failure> {
    let file = load_config(args)?;
    let (url, source) =
        config::resolve_store(args.store.as_deref(), file.as_ref(), &config::process_env);
    Ok((url, source.as_str()))
}

/// Opens the store `--store`/`--config`/the environment name, as `serve` does.
pub(crate) async fn open_args(args: &StoreArgs) -> Result<(Arc<dyn Store>, String), Failure> {
    let (url, source) = resolve_args(args)?;
    let opened = open_url(&url).await?;
    warn_if_memory(opened.0.as_ref(), &opened.1, source);
    Ok(opened)
}

/// A memory store opened by a command is a new, empty one: say so.
fn warn_if_memory(store: &dyn Store, safe: &str, role: &str) {
    if store.backend() == "memory" {
        eprintln!(
            "warning: the store is {safe} ({role}): a memory store lives only in the process that \
             opened it, so this command sees a new, empty one and what it writes is lost when it exits"
        );
    }
}

/// `n thing` or `n things`.
fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The part of a store URL that names one store's entries: scheme, user,
/// host, port (the default filled in: `url` knows none for
/// `redis`/`postgres`), path, and only the query parameters that choose
/// which entries (`prefix`, `schema`, `table_prefix`), sorted; timeouts,
/// pool sizes, TLS options and passwords do not make another store.
/// `postgresql` is spelt `postgres`.
fn store_identity(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_password(None);
            let mut pairs: Vec<(String, String)> = parsed
                .query_pairs()
                .filter(|(k, _)| matches!(k.as_ref(), "prefix" | "schema" | "table_prefix"))
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            pairs.sort();
            parsed.set_query(None);
            let host = parsed.host_str().unwrap_or("").to_ascii_lowercase();
            let scheme = match parsed.scheme() {
                "postgresql" => "postgres",
                other => other,
            };
            let port = parsed.port().or(match scheme {
                "redis" | "rediss" => Some(6379),
                "postgres" => Some(5432),
                _ => None,
            });
            format!(
                "{scheme}://{}@{host}:{port:?}{}?{pairs:?}",
                parsed.username(),
                parsed.path()
            )
        }
        Err(_) => url.trim().to_owned(),
    }
}

/// Counts and options as one line of text.
fn summary(what: &str, report: &MigrateReport) -> String {
    format!(
        "{what}: migrated {}, unchanged {}, skipped (expired) {}, failed {}; {} read in {:.2}s ({:.0} entries/s)",
        report.migrated,
        report.unchanged,
        report.expired,
        report.failed,
        report.scanned,
        report.elapsed.as_secs_f64(),
        rate(report.scanned, report.elapsed),
    )
}

fn report_json(report: &MigrateReport) -> serde_json::Value {
    serde_json::json!({
        "scanned": report.scanned,
        "migrated": report.migrated,
        "unchanged": report.unchanged,
        "expired": report.expired,
        "failed": report.failed,
        "failures": report.failures.iter().map(|(k, why)| serde_json::json!({"key": k, "error": failure_reason(why)})).collect::<Vec<_>>(),
        "elapsed_secs": report.elapsed.as_secs_f64(),
        "entries_per_sec": rate(report.scanned, report.elapsed),
    })
}

/// A failure's reason as shown to the operator: a conflict names the flag
/// that replaces the target's value.
fn failure_reason(why: &str) -> std::borrow::Cow<'_, str> {
    match why.strip_suffix(')') {
        Some(conflict) if why == migrate::CONFLICT => {
            format!("{conflict}; use --overwrite to replace it)").into()
        }
        _ => why.into(),
    }
}

fn print_failures(report: &MigrateReport) {
    for (key, why) in &report.failures {
        eprintln!("failed: {key}: {}", failure_reason(why));
    }
    if report.failed > report.failures.len() as u64 {
        eprintln!(
            "… and {} more failures",
            report.failed - report.failures.len() as u64
        );
    }
}

fn options_of(
    batch_size: usize,
    concurrency: usize,
    prefix: Option<&str>,
) -> Result<MigrateOptions, Failure> {
    if batch_size == 0 || concurrency == 0 {
        return Err(Failure::config(
            "--batch-size and --concurrency must be at least 1",
        ));
    }
    Ok(MigrateOptions {
        prefix: prefix.unwrap_or_default().to_owned(),
        batch_size,
        concurrency,
        ..MigrateOptions::default()
    })
}

/// `authstore migrate --from URL --to URL`.
///
/// # Errors
/// Exit status 2 for bad options or the same store on both sides; 1 when
/// a store fails, an entry could not be copied or `--verify` finds a difference.
pub async fn run_migrate(args: MigrateArgs) -> Result<(), Failure> {
    let mut options = options_of(args.batch_size, args.concurrency, args.prefix.as_deref())?;
    options.dry_run = args.dry_run;
    options.overwrite = args.overwrite;
    options.resume_from = args.resume_from.clone();
    if store_identity(&args.from) == store_identity(&args.to) {
        return Err(Failure::config(format!(
            "--from and --to name the same store ({}): refusing to migrate a store onto itself",
            log_safe_url(&args.from)
        )));
    }
    let (from, from_safe) = open_url(&args.from).await?;
    let (to, to_safe) = open_url(&args.to).await?;
    if from.backend() == "memory" {
        eprintln!(
            "warning: the source {from_safe} is a memory store that this command opened empty: \
             a memory store lives in the process that created it. Migrate it from that \
             process with authstore::migrate::migrate (see docs/operations.md)."
        );
    }
    warn_if_memory(to.as_ref(), &to_safe, "--to");
    let total = from.stats().await.ok().map(|s| s.entries);
    eprintln!(
        "migrate: {from_safe} -> {to_safe}{}{}",
        if options.prefix.is_empty() {
            String::new()
        } else {
            format!(", prefix {:?}", options.prefix)
        },
        if options.dry_run {
            " (dry run: nothing is written)"
        } else {
            ""
        }
    );
    let mut bar = Progress::new("migrate", total);
    let last_cursor: Arc<Mutex<Option<String>>> = Arc::default();
    let seen = Arc::clone(&last_cursor);
    let run = migrate::migrate(from.as_ref(), to.as_ref(), &options, |report| {
        bar.update(report.scanned, report.elapsed, || counts(report));
        if let Ok(mut cursor) = seen.lock() {
            cursor.clone_from(&report.cursor);
        }
    });
    let report = tokio::select! {
        result = run => result.map_err(|e| {
            let message = format!("migrate stopped: {}", error_chain(&e));
            match e {
                // The options were checked above: this is a --resume-from
                // cursor the source did not produce, a bad option.
                authstore::Error::InvalidArgument(_) => Failure::config(message),
                _ => Failure::runtime(message),
            }
        })?,
        _ = tokio::signal::ctrl_c() => {
            let cursor = last_cursor.lock().ok().and_then(|c| c.clone());
            return Err(Failure::runtime(match cursor {
                Some(c) => format!("interrupted; continue with --resume-from {c} (or re-run: copying is idempotent)"),
                None => "interrupted before the first page completed; re-run the command".into(),
            }));
        }
    };
    bar.finish();
    let verified = if args.verify && !options.dry_run {
        let mut bar = Progress::new("verify", Some(report.scanned));
        let checked = migrate::verify(from.as_ref(), to.as_ref(), &options, |v| {
            bar.update(v.checked + v.expiring, v.elapsed, || {
                format!("identical {}, differ {}", v.matched, v.mismatched)
            });
        })
        .await
        .map_err(|e| Failure::runtime(format!("verify stopped: {}", error_chain(&e))))?;
        bar.finish();
        Some(checked)
    } else {
        None
    };
    if args.json {
        let mut out = report_json(&report);
        out["dry_run"] = options.dry_run.into();
        if let Some(v) = &verified {
            out["verify"] = verify_json(v);
        }
        println!("{out}");
    } else {
        println!(
            "{}",
            summary(
                if options.dry_run {
                    "dry run"
                } else {
                    "migrate"
                },
                &report
            )
        );
        if let Some(v) = &verified {
            println!("{}", verify_line(v));
        }
    }
    print_failures(&report);
    if let Some(v) = &verified {
        for mismatch in &v.mismatches {
            eprintln!("mismatch: {mismatch}");
        }
    }
    if report.failed > 0 {
        return Err(Failure::runtime(format!(
            "{} not migrated",
            plural(report.failed, "entry was", "entries were")
        )));
    }
    if verified.as_ref().is_some_and(|v| !v.is_exact()) {
        return Err(Failure::runtime("verification found differences"));
    }
    Ok(())
}

fn verify_line(v: &VerifyReport) -> String {
    format!(
        "verify: {} checked, {} identical, {} differ, {} about to expire (not compared); {:.2}s",
        v.checked,
        v.matched,
        v.mismatched,
        v.expiring,
        v.elapsed.as_secs_f64()
    )
}

fn verify_json(v: &VerifyReport) -> serde_json::Value {
    serde_json::json!({
        "checked": v.checked,
        "matched": v.matched,
        "mismatched": v.mismatched,
        "expiring": v.expiring,
        "mismatches": v.mismatches.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "elapsed_secs": v.elapsed.as_secs_f64(),
    })
}

fn is_zstd(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "zst")
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

/// `authstore export --store URL --out FILE` (`.zst`: zstd-compressed).
///
/// # Errors
/// Exit status 1 when the store or the file fails.
pub async fn run_export(args: ExportArgs) -> Result<(), Failure> {
    let options = options_of(args.batch_size, 1, args.prefix.as_deref())?;
    let (store, safe) = open_args(&args.store).await?;
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

/// `authstore import --store URL --in FILE [--strict]`.
///
/// # Errors
/// Exit status 1 when the store or the file fails, a line is bad (with
/// `--strict`, or counted otherwise) or an entry could not be written.
pub async fn run_import(args: ImportArgs) -> Result<(), Failure> {
    let mut options = options_of(args.batch_size, args.concurrency, None)?;
    options.overwrite = args.overwrite;
    let (store, safe) = open_args(&args.store).await?;
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

#[cfg(test)]
mod tests {
    use super::{failure_reason, migrate, store_identity};

    #[test]
    fn a_conflict_names_the_flag_that_replaces_the_value() {
        assert_eq!(
            failure_reason(migrate::CONFLICT),
            "the target holds a different value under this key \
             (not overwritten; use --overwrite to replace it)"
        );
        assert_eq!(failure_reason("redis backend error"), "redis backend error");
    }

    #[test]
    fn the_same_store_is_recognised_whatever_the_spelling() {
        let same = [
            ("redis://:pw@127.0.0.1:6379/0", "redis://:other@127.0.0.1/0"),
            (
                "redis://h/0?prefix=a&timeout_ms=5",
                "redis://H/0?timeout_ms=5&prefix=a",
            ),
            ("sqlite:///tmp/x.db", "sqlite:///tmp/x.db"),
            (
                "postgresql://u:a@db/auth?password=x",
                "postgres://u@db:5432/auth?password=y",
            ),
        ];
        for (a, b) in same {
            assert_eq!(store_identity(a), store_identity(b), "{a} vs {b}");
        }
        let different = [
            ("redis://h/0?prefix=a", "redis://h/0?prefix=b"),
            ("redis://h/0", "redis://h/1"),
            ("postgres://u@h/db", "postgres://v@h/db"),
            ("sqlite:///tmp/x.db", "sqlite:///tmp/y.db"),
        ];
        for (a, b) in different {
            assert_ne!(store_identity(a), store_identity(b), "{a} vs {b}");
        }
    }
}
