//! Entry points for the fuzz targets (feature `fuzzing`): crate-internal decoders behind plain signatures. Not part of the API; nothing here is stable.

#[cfg(feature = "client-metadata")]
pub use cimd::cache_lifetime;
#[cfg(feature = "remote-validation")]
pub use jwt::jwt_validate;
#[cfg(feature = "redis")]
pub use redis::{RedisEntry, redis_decode};
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub use sql::{
    SqlCell, sql_decode_cursor, sql_decode_entry, sql_decode_expiry, sql_decode_value,
    sql_encode_cursor, sql_encode_value, sql_prefix_successor,
};

#[cfg(feature = "remote-validation")]
mod jwt {
    use crate::oauth::resource::jwks::KeySet;
    use crate::oauth::resource::jwt::Jws;
    use crate::oauth::resource::{AccessToken, JwtValidator, ValidationError};

    /// What [`JwtValidator`] decides for `token` once it holds the JWK set
    /// `jwks` (the steps of its `validate` after the set is fetched, without
    /// the verdict cache); the outer `Err` is why `jwks` is not a JWK set.
    ///
    /// # Errors
    /// The JWK set's refusal; inside, the token's.
    pub fn jwt_validate(
        validator: &JwtValidator,
        jwks: &[u8],
        token: &str,
    ) -> Result<Result<AccessToken, ValidationError>, &'static str> {
        let set = KeySet::parse(jwks)?;
        Ok(Jws::parse(token)
            .and_then(|jws| validator.inner.verify(&set, &jws))
            .map_err(ValidationError::from))
    }
}

#[cfg(feature = "client-metadata")]
mod cimd {
    use std::time::{Duration, SystemTime};

    /// How long a fetched client metadata document may be cached by its
    /// response headers.
    pub fn cache_lifetime(headers: &http::HeaderMap, now: SystemTime) -> Option<Duration> {
        crate::oauth::cimd::fetch::cache_lifetime(headers, now)
    }
}

#[cfg(feature = "redis")]
mod redis {
    use crate::error::Result;

    /// A decoded Redis string: an entry (version > 0) or a counter (version 0).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct RedisEntry {
        /// The stored bytes.
        pub value: Vec<u8>,
        /// The entry's version; 0 for a counter.
        pub version: u64,
        /// The Cluster-mode membership token (empty otherwise).
        pub token: String,
        /// The index keys.
        pub index_keys: Vec<String>,
    }

    /// Decodes what `GET` returned for `key`.
    ///
    /// # Errors
    /// [`Error::Corrupt`](crate::Error::Corrupt) for a malformed entry header.
    pub fn redis_decode(key: &str, raw: Vec<u8>) -> Result<RedisEntry> {
        let d = crate::redis::codec::decode(key, raw)?;
        Ok(RedisEntry {
            value: d.value.to_vec(),
            version: d.version,
            token: d.token,
            index_keys: d.index_keys,
        })
    }
}

#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod sql {
    use bytes::Bytes;

    use crate::error::Result;
    use crate::sql::codec::{self, Cell, Param};
    use crate::types::Entry;

    /// A result cell as the SQL drivers decode it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum SqlCell {
        /// SQL NULL.
        Null,
        /// An integer or boolean column.
        Int(i64),
        /// `bytea`, BLOB or the raw text of a JSON column.
        Bytes(Vec<u8>),
        /// A text column.
        Text(String),
        /// The `index_keys` column.
        Keys(Vec<String>),
    }

    impl From<&SqlCell> for Cell {
        fn from(cell: &SqlCell) -> Self {
            match cell {
                SqlCell::Null => Cell::Null,
                SqlCell::Int(n) => Cell::Int(*n),
                SqlCell::Bytes(b) => Cell::Bytes(b.clone()),
                SqlCell::Text(t) => Cell::Text(t.clone()),
                SqlCell::Keys(k) => Cell::Keys(k.clone()),
            }
        }
    }

    /// The `value`, `value_json` and `counter` cells a write of `value`
    /// stores, as a driver reads them back.
    pub fn sql_encode_value(value: &[u8]) -> [SqlCell; 3] {
        codec::encode_value(value).map(|param| match param {
            Param::Bytes(Some(b)) => SqlCell::Bytes(b),
            Param::Json(Some(text)) => SqlCell::Bytes(text.into_bytes()),
            Param::OptInt(Some(n)) | Param::Int(n) => SqlCell::Int(n),
            Param::Text(t) => SqlCell::Text(t),
            Param::Keys(k) => SqlCell::Keys(k),
            Param::Bytes(None) | Param::Json(None) | Param::OptInt(None) => SqlCell::Null,
        })
    }

    /// The stored bytes from the three value cells.
    ///
    /// # Errors
    /// [`Error::Corrupt`](crate::Error::Corrupt) unless exactly one holds a value.
    pub fn sql_decode_value(
        key: &str,
        value: &SqlCell,
        json: &SqlCell,
        counter: &SqlCell,
    ) -> Result<Bytes> {
        codec::decode_value(key, value.into(), json.into(), counter.into())
    }

    /// Decodes `value, value_json, counter, version, expires_at` from `at`.
    ///
    /// # Errors
    /// [`Error::Corrupt`](crate::Error::Corrupt) for a short or malformed row.
    pub fn sql_decode_entry(key: &str, row: &[SqlCell], at: usize) -> Result<Entry> {
        let mut row: Vec<Cell> = row.iter().map(Cell::from).collect();
        codec::decode_entry(key, &mut row, at)
    }

    /// An `expires_at` cell as milliseconds since the epoch.
    ///
    /// # Errors
    /// [`Error::Corrupt`](crate::Error::Corrupt) for a negative or non-integer cell.
    pub fn sql_decode_expiry(key: &str, cell: &SqlCell) -> Result<Option<u64>> {
        codec::decode_expiry(key, &cell.into())
    }

    /// The scan cursor resuming after `last_key`.
    pub fn sql_encode_cursor(last_key: &str) -> String {
        codec::encode_cursor(last_key)
    }

    /// The key a scan cursor resumes after.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a foreign cursor.
    pub fn sql_decode_cursor(cursor: &str) -> Result<String> {
        codec::decode_cursor(cursor)
    }

    /// The smallest string above every string starting with `prefix`.
    pub fn sql_prefix_successor(prefix: &str) -> Option<String> {
        codec::prefix_successor(prefix)
    }
}
