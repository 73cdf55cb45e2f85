//! The SQL backends' codec: values spread over the `value`, `value_json` and `counter` columns, rows decoded into entries, scan cursors and prefix bounds. Every value reads back as the bytes written; any row decodes or is a corrupt entry, never a panic; a cursor decodes exactly when this store made it, to the key it was made from; a prefix's bound is above every key with the prefix.
//!
//! Input: one mode byte, then the mode's bytes.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use authstore::__fuzz::{
    SqlCell, sql_decode_cursor, sql_decode_entry, sql_decode_expiry, sql_decode_value,
    sql_encode_cursor, sql_encode_value, sql_prefix_successor,
};
use authstore::Error;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Cell {
    Null,
    Int(i64),
    Bytes(Vec<u8>),
    Text(String),
    Keys(Vec<String>),
}

impl From<Cell> for SqlCell {
    fn from(c: Cell) -> Self {
        match c {
            Cell::Null => SqlCell::Null,
            Cell::Int(n) => SqlCell::Int(n),
            Cell::Bytes(b) => SqlCell::Bytes(b),
            Cell::Text(t) => SqlCell::Text(t),
            Cell::Keys(k) => SqlCell::Keys(k),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            // Any value: one column holds it, and it reads back exactly.
            let cells = sql_encode_value(rest);
            let held = cells.iter().filter(|c| **c != SqlCell::Null).count();
            assert_eq!(held, 1, "exactly one column holds a value");
            let back = sql_decode_value("k", &cells[0], &cells[1], &cells[2]).expect("decodes");
            assert_eq!(&back[..], rest);
        }
        1 => {
            let Ok((at, row)) = <(u8, Vec<Cell>)>::arbitrary_take_rest(Unstructured::new(rest))
            else {
                return;
            };
            let row: Vec<SqlCell> = row.into_iter().map(SqlCell::from).collect();
            match sql_decode_entry("k", &row, usize::from(at)) {
                Ok(entry) => assert!(entry.version > 0),
                Err(Error::Corrupt { .. }) => {}
                Err(e) => panic!("unexpected error {e:?}"),
            }
            for cell in &row {
                match sql_decode_expiry("k", cell) {
                    Ok(Some(ms)) => assert_eq!(*cell, SqlCell::Int(ms as i64)),
                    Ok(None) => assert_eq!(*cell, SqlCell::Null),
                    Err(Error::Corrupt { .. }) => {}
                    Err(e) => panic!("unexpected error {e:?}"),
                }
            }
        }
        2 => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            // Cursors: every key round-trips; a foreign string is refused, or is a cursor.
            assert_eq!(
                sql_decode_cursor(&sql_encode_cursor(text)).expect("a cursor"),
                text
            );
            match sql_decode_cursor(text) {
                Ok(key) => assert_eq!(sql_encode_cursor(&key), text, "only this store's cursors"),
                Err(Error::InvalidArgument(_)) => {}
                Err(e) => panic!("unexpected error {e:?}"),
            }
        }
        _ => {
            let Ok((prefix, key)) =
                <(String, String)>::arbitrary_take_rest(Unstructured::new(rest))
            else {
                return;
            };
            match sql_prefix_successor(&prefix) {
                Some(bound) => {
                    assert!(bound.as_str() > prefix.as_str());
                    let with_prefix = format!("{prefix}{key}");
                    assert!(
                        with_prefix.as_str() < bound.as_str(),
                        "{with_prefix:?} < {bound:?}"
                    );
                    if key.as_str() >= bound.as_str() {
                        assert!(!key.starts_with(&prefix), "{key:?} is past the bound");
                    }
                }
                None => assert!(prefix.chars().all(|c| c == char::MAX)),
            }
        }
    }
});
