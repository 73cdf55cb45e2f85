//! The export file: versioned JSON lines (a header, one line per entry with its remaining TTL, an end marker), written by [`export`] and checked line by line by [`import`].
//!
//! Format version 1, one JSON object per line (`docs/operations.md`):
//!
//! ```text
//! {"authstore_export":1,"exported_at_ms":1795400000000,"backend":"redis","prefix":""}
//! {"key":"session:9f2c…","value":"eyJ1c2VyIjoi…","ttl_ms":599871,"index":["session-user:u-1"]}
//! {"key":"user:alice","value":"eyJpZCI6…","ttl_ms":null}
//! {"end":true,"entries":2}
//! ```
//!
//! - `value` is the entry's bytes in standard base64 (so any bytes survive);
//! - `ttl_ms` is the time it had left when exported (`null`: never expires);
//!   [`import`] subtracts the time since `exported_at_ms`, so entries keep
//!   their absolute expiry and what expired meanwhile is skipped, not revived;
//! - `index` (omitted when empty) lists its index keys;
//! - the end marker's `entries` counts the entry lines, so a truncated file is detected.

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{KEPT_FAILURES, MigrateOptions, MigrateReport, check_options, copy_batch};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::key::validate_key;
use crate::store::Store;
use crate::types::ScanEntry;

/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    authstore_export: u32,
    exported_at_ms: u64,
    backend: String,
    prefix: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    key: String,
    value: String,
    ttl_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    index: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct End {
    end: bool,
    entries: u64,
}

fn io_error(e: std::io::Error) -> Error {
    Error::internal("export file I/O", e)
}

/// Writes every live entry of `from` under `options.prefix` to `out` in
/// the export format, page by page, calling `progress` after each page
/// (`migrated` counts the entries written). Reads the store only.
///
/// # Errors
/// Scan errors; [`Error::Internal`] when writing to `out` fails.
pub async fn export(
    from: &dyn Store,
    out: &mut dyn Write,
    options: &MigrateOptions,
    mut progress: impl FnMut(&MigrateReport),
) -> Result<MigrateReport> {
    check_options(options)?;
    let started = Instant::now();
    let header = Header {
        authstore_export: FORMAT_VERSION,
        exported_at_ms: SystemClock.now_millis(),
        backend: from.capabilities().name.to_owned(),
        prefix: options.prefix.clone(),
    };
    let exported_at = Instant::now();
    write_json(out, &header)?;
    let mut report = MigrateReport::default();
    loop {
        let page = from
            .scan(
                &options.prefix,
                report.cursor.as_deref(),
                options.batch_size,
            )
            .await?;
        let read_at = Instant::now();
        for entry in page.entries {
            report.scanned += 1;
            // The TTL as of `exported_at_ms`, which is what import counts from.
            let ttl_ms = entry
                .ttl
                .map(|ttl| (ttl + (read_at - exported_at)).as_millis() as u64);
            write_json(
                out,
                &Line {
                    value: STANDARD.encode(&entry.value),
                    key: entry.key,
                    ttl_ms,
                    index: entry.index_keys,
                },
            )?;
            report.migrated += 1;
        }
        report.cursor = page.cursor;
        report.elapsed = started.elapsed();
        progress(&report);
        if report.cursor.is_none() {
            break;
        }
    }
    write_json(
        out,
        &End {
            end: true,
            entries: report.migrated,
        },
    )?;
    out.flush().map_err(io_error)?;
    Ok(report)
}

fn write_json(out: &mut dyn Write, value: &impl Serialize) -> Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(|e| Error::internal("export file I/O", e))?;
    out.write_all(b"\n").map_err(io_error)
}

/// What [`import`] does besides what [`MigrateOptions`] says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// Stop at the first bad line (the default skips and counts it).
    pub strict: bool,
}

/// Why a line was refused.
fn parse_line(
    text: &[u8],
    exported_at_ms: u64,
    now_ms: u64,
) -> std::result::Result<ScanEntry, String> {
    let line: Line = serde_json::from_slice(text).map_err(|e| format!("not an entry line: {e}"))?;
    validate_key(&line.key).map_err(|e| format!("bad key: {e}"))?;
    for index in &line.index {
        validate_key(index).map_err(|e| format!("bad index key: {e}"))?;
    }
    let value = STANDARD
        .decode(line.value.as_bytes())
        .map_err(|e| format!("value is not base64: {e}"))?;
    let elapsed = now_ms.saturating_sub(exported_at_ms);
    Ok(ScanEntry {
        key: line.key,
        value: Bytes::from(value),
        version: 0,
        // Zero left (already expired) is skipped like any expired entry.
        ttl: line
            .ttl_ms
            .map(|ttl| Duration::from_millis(ttl.saturating_sub(elapsed))),
        index_keys: line.index,
    })
}

/// Reads an export from `input` and writes its entries to `to` as
/// [`migrate`](super::migrate) would (create-only, identical entries
/// counted `unchanged`, expired ones skipped), `options.concurrency` at a
/// time, calling `progress` every `options.batch_size` lines. Every line
/// is validated (JSON shape, key and index keys, base64, the end marker
/// and its count); a bad line is counted in `failed` and listed with its
/// line number, or with `strict` stops the import with that error.
///
/// # Errors
/// [`Error::Corrupt`] naming the line for a bad header, an unsupported
/// format version, a bad line (with `strict`), or a missing or wrong end
/// marker (with `strict`); [`Error::Internal`] when reading fails.
pub async fn import(
    to: &dyn Store,
    input: &mut dyn BufRead,
    options: &MigrateOptions,
    import_options: ImportOptions,
    mut progress: impl FnMut(&MigrateReport),
) -> Result<MigrateReport> {
    check_options(options)?;
    let started = Instant::now();
    let bad = |line: u64, why: String| Error::corrupt(None, format!("line {line}: {why}"));
    // Lines as bytes: one that is not UTF-8 is a bad line like any other,
    // reported with its number (`BufRead::lines` would fail the whole read).
    let mut lines = input.split(b'\n').map(|line| {
        line.map(|mut text| {
            if text.last() == Some(&b'\r') {
                text.pop();
            }
            text
        })
    });
    let header_text = lines
        .next()
        .ok_or_else(|| bad(1, "empty file: no header".into()))?
        .map_err(io_error)?;
    let header: Header = serde_json::from_slice(&header_text)
        .map_err(|e| bad(1, format!("not an authstore export header: {e}")))?;
    if header.authstore_export != FORMAT_VERSION {
        return Err(bad(
            1,
            format!(
                "format version {} (this build reads {FORMAT_VERSION})",
                header.authstore_export
            ),
        ));
    }
    let mut report = MigrateReport::default();
    let refuse = |report: &mut MigrateReport, line: u64, why: String| {
        if import_options.strict {
            return Err(bad(line, why));
        }
        report.failed += 1;
        if report.failures.len() < KEPT_FAILURES {
            report.failures.push((format!("line {line}"), why));
        }
        Ok(())
    };
    let mut batch: Vec<ScanEntry> = Vec::with_capacity(options.batch_size);
    let mut end: Option<(u64, End)> = None;
    let mut number = 1u64;
    for text in lines {
        number += 1;
        let text = text.map_err(io_error)?;
        if let Some((end_line, _)) = &end {
            refuse(
                &mut report,
                number,
                format!("text after the end marker (line {end_line})"),
            )?;
            continue;
        }
        if text.starts_with(b"{\"end\"") {
            match serde_json::from_slice::<End>(&text) {
                Ok(marker) if marker.end => end = Some((number, marker)),
                _ => refuse(&mut report, number, "bad end marker".into())?,
            }
            continue;
        }
        report.scanned += 1;
        match parse_line(&text, header.exported_at_ms, SystemClock.now_millis()) {
            Ok(entry) => batch.push(entry),
            Err(why) => refuse(&mut report, number, why)?,
        }
        if batch.len() >= options.batch_size {
            copy_batch(to, std::mem::take(&mut batch), options, &mut report).await;
            report.elapsed = started.elapsed();
            progress(&report);
        }
    }
    copy_batch(to, std::mem::take(&mut batch), options, &mut report).await;
    match end {
        None => refuse(
            &mut report,
            number,
            "no end marker: the file is truncated".into(),
        )?,
        Some((line, marker)) if marker.entries != report.scanned => {
            let why = format!(
                "the end marker counts {} entries, the file has {}",
                marker.entries, report.scanned
            );
            refuse(&mut report, line, why)?;
        }
        Some(_) => {}
    }
    report.elapsed = started.elapsed();
    progress(&report);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;
    use crate::types::PutOptions;

    /// A reader or writer whose every call fails; its message stands for
    /// what an OS error could say and must not reach the error's own text.
    struct Broken;

    const BROKEN: &str = "disk on fire at /secret/path";

    impl std::io::Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other(BROKEN))
        }
    }

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other(BROKEN))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::other(BROKEN))
        }
    }

    fn assert_export_file_failure(err: &Error) {
        assert!(
            matches!(
                err,
                Error::Internal {
                    what: "export file I/O",
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "export file I/O failed");
        let chain = crate::error_chain(err);
        assert!(
            chain.ends_with(BROKEN),
            "the cause stays in the chain: {chain}"
        );
    }

    #[tokio::test]
    async fn an_unwritable_export_file_is_an_internal_error() {
        let store = MemoryStore::new();
        store
            .put("s:1", b"v", PutOptions::new())
            .await
            .expect("put");
        let err = export(&store, &mut Broken, &MigrateOptions::default(), |_| {})
            .await
            .expect_err("the write fails");
        assert_export_file_failure(&err);
    }

    #[tokio::test]
    async fn an_unreadable_export_file_is_an_internal_error() {
        let store = MemoryStore::new();
        let mut input = std::io::BufReader::new(Broken);
        let err = import(
            &store,
            &mut input,
            &MigrateOptions::default(),
            ImportOptions::default(),
            |_| {},
        )
        .await
        .expect_err("the read fails");
        assert_export_file_failure(&err);
    }
}
