//! The Redis entry codec: `0x1F version[:token] 0x1F index-key 0x1E … 0x1F value`, or a plain counter. Any stored string decodes or is a corrupt entry, never a panic; a counter is read as it is; an entry written in the layout decodes to exactly its version, token, index keys and value.
//!
//! Input: one mode byte; mode 0 decodes the rest as a stored string, mode 1
//! reads a version, a token, index keys and a value from it and encodes them.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use authstore::__fuzz::redis_decode;
use authstore::Error;
use libfuzzer_sys::fuzz_target;

const FIELD: u8 = 0x1f;
const INDEX_SEP: u8 = 0x1e;

#[derive(Debug, Arbitrary)]
struct Written {
    version: u64,
    token: String,
    index_keys: Vec<String>,
    value: Vec<u8>,
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        match redis_decode("k:1", rest.to_vec()) {
            Ok(d) if rest.first() != Some(&FIELD) => {
                assert_eq!((d.version, &d.value[..]), (0, rest), "a counter as it is");
                assert!(d.token.is_empty() && d.index_keys.is_empty());
            }
            Ok(d) => {
                assert!(d.version > 0);
                assert!(rest.ends_with(&d.value), "the value is the tail");
                assert!(d.index_keys.iter().all(|k| !k.is_empty()));
            }
            Err(Error::Corrupt { key, .. }) => {
                assert_eq!(key.as_deref(), Some("k:1"));
                assert_eq!(
                    rest.first(),
                    Some(&FIELD),
                    "only an entry header can be corrupt"
                );
            }
            Err(e) => panic!("unexpected error {e:?}"),
        }
        return;
    }
    let Ok(w) = Written::arbitrary_take_rest(Unstructured::new(rest)) else {
        return;
    };
    // What the layout can hold: a positive version, a token and index keys
    // without the separators (keys never contain them).
    let version = w.version.max(1);
    let clean = |s: &str| !s.bytes().any(|b| b == FIELD || b == INDEX_SEP);
    let token: String = w
        .token
        .chars()
        .filter(|c| *c != '\u{1f}' && *c != '\u{1e}')
        .collect();
    let index_keys: Vec<String> = w
        .index_keys
        .into_iter()
        .filter(|k| !k.is_empty() && clean(k))
        .collect();
    let mut raw = vec![FIELD];
    raw.extend_from_slice(version.to_string().as_bytes());
    if !token.is_empty() {
        raw.push(b':');
        raw.extend_from_slice(token.as_bytes());
    }
    raw.push(FIELD);
    raw.extend_from_slice(index_keys.join("\u{1e}").as_bytes());
    raw.push(FIELD);
    raw.extend_from_slice(&w.value);
    let d = redis_decode("k:1", raw).expect("an entry in the layout decodes");
    assert_eq!(d.version, version);
    assert_eq!(d.token, token);
    assert_eq!(d.index_keys, index_keys);
    assert_eq!(d.value, w.value);
});
