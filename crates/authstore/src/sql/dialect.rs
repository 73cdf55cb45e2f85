//! The SQL text of every statement and migration, for PostgreSQL and SQLite.
//!
//! Statements are written once with `$n` placeholders and shared by both
//! dialects wherever the SQL is the same; SQLite gets `?n` (numbered
//! placeholders, so order of appearance does not matter). Only index lookup
//! and the schema differ: PostgreSQL keeps index keys in a `text[]` column
//! with a GIN index, SQLite in a side table kept by triggers.

use crate::error::{Error, Result};

/// The SQL dialect of a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    not(all(feature = "postgres", feature = "sqlite")),
    allow(dead_code, reason = "each backend uses its own dialect")
)]
pub(crate) enum Dialect {
    Postgres,
    Sqlite,
}

/// Every statement the SQL backends run. The discriminant indexes [`Statements`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Q {
    /// `$1 key, $2 now` → entry columns.
    Get,
    /// `$1 key, $2 now` → entry columns of the deleted live row.
    Take,
    /// `$1 key, $2 now` → one row `live` (0/1) if a row was deleted.
    Delete,
    /// `$1 key, $2 now` → one row if live.
    Exists,
    /// `$1 key, $2 now, $3 expires_at` → one row if touched.
    Touch,
    /// Put params `$1 key, $2 now, $3 value, $4 value_json, $5 counter, $6 expires_at, $7 index_keys` → `version`.
    PutUpsert,
    /// Put params → `version`, no row if a live entry exists.
    PutCreate,
    /// Put params → `version`, no row if no live entry.
    PutUpdate,
    /// Put params + `$8 expected version` → `version`, no row on mismatch.
    PutIfVersion,
    /// `$1 key, $2 now` → `version, counter` of the live row.
    Probe,
    /// `$1 key, $2 now, $3 delta, $4 expires_at on create, $5 max before, $6 min before`
    /// → `counter, expires_at`; no row if the live entry is not a counter or would overflow.
    Incr,
    /// `$1 key, $2 now, $3 cost × interval, $4 horizon, $5 now + $3`
    /// → the new TAT; no row if denied or not a counter.
    Gcra,
    /// `$1 index key, $2 now, $3 low, $4 high` → `key` of live members, sorted.
    ListIndex,
    /// `$1 index key, $2 now, $3 low, $4 high` → one row `live` per deleted member.
    DeleteIndex,
    /// `$1 after, $2 low, $3 high, $4 now, $5 limit` → scan columns.
    Scan,
    /// `$1 now, $2 low, $3 high, $4 limit` → one row per deleted row.
    Purge,
    /// `$1 low, $2 high` → `count, bytes`.
    Count,
    /// → `1`.
    Ping,
    /// `$1 key, $2 now, $3 version` → one row if the live entry has that
    /// version; PostgreSQL holds a share lock on it until the transaction ends.
    CheckVersion,
}

impl Q {
    /// A short name for the statement, as [`SqlStore::statements`](super::SqlStore) lists it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Q::Get => "get",
            Q::Take => "take",
            Q::Delete => "delete",
            Q::Exists => "exists",
            Q::Touch => "touch",
            Q::PutUpsert => "put_upsert",
            Q::PutCreate => "put_create_only",
            Q::PutUpdate => "put_update_only",
            Q::PutIfVersion => "put_if_version",
            Q::Probe => "probe",
            Q::Incr => "incr",
            Q::Gcra => "gcra",
            Q::ListIndex => "list_index",
            Q::DeleteIndex => "delete_index",
            Q::Scan => "scan",
            Q::Purge => "purge_expired",
            Q::Count => "count",
            Q::Ping => "ping",
            Q::CheckVersion => "check_version",
        }
    }

    /// Every statement, in discriminant order.
    pub(crate) const ALL: [Q; 19] = [
        Q::Get,
        Q::Take,
        Q::Delete,
        Q::Exists,
        Q::Touch,
        Q::PutUpsert,
        Q::PutCreate,
        Q::PutUpdate,
        Q::PutIfVersion,
        Q::Probe,
        Q::Incr,
        Q::Gcra,
        Q::ListIndex,
        Q::DeleteIndex,
        Q::Scan,
        Q::Purge,
        Q::Count,
        Q::Ping,
        Q::CheckVersion,
    ];
}

/// `(name, SQL)` of every statement, from their texts indexed by [`Q`].
pub(crate) fn named_statements(sql: &[String]) -> Vec<(&'static str, &str)> {
    Q::ALL
        .iter()
        .map(|q| (q.name(), sql[*q as usize].as_str()))
        .collect()
}

/// Where the tables live: an optional schema (PostgreSQL) and a name prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tables {
    pub(crate) entries: String,
    pub(crate) index: String,
    pub(crate) migrations: String,
    /// The bare prefix, for index and trigger names (which take no schema).
    pub(crate) prefix: String,
}

impl Tables {
    /// Table names for `schema` (or none) and `prefix`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] unless both are lowercase SQL identifiers.
    pub(crate) fn new(schema: Option<&str>, prefix: &str) -> Result<Self> {
        if !is_identifier(prefix, true) {
            return Err(Error::InvalidArgument(
                "table prefix must be at most 40 of [a-z0-9_], not starting with a digit",
            ));
        }
        let qualifier = match schema {
            Some(s) if is_identifier(s, false) => format!("{s}."),
            Some(_) => {
                return Err(Error::InvalidArgument(
                    "schema must be 1 to 40 of [a-z0-9_], not starting with a digit",
                ));
            }
            None => String::new(),
        };
        Ok(Self {
            entries: format!("{qualifier}{prefix}entries"),
            index: format!("{qualifier}{prefix}entry_index"),
            migrations: format!("{qualifier}{prefix}schema_migrations"),
            prefix: prefix.to_owned(),
        })
    }
}

fn is_identifier(s: &str, may_be_empty: bool) -> bool {
    (may_be_empty || !s.is_empty())
        && s.len() <= 40
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

const LIVE: &str = "(expires_at IS NULL OR expires_at > $2)";
const ENTRY_COLUMNS: &str = "value, value_json, counter, version, expires_at";
const INSERT_PUT: &str = "INSERT INTO {e} AS e (key, value, value_json, counter, version, expires_at, index_keys) \
     VALUES ($1, $3, $4, $5, 1, $6, $7) ON CONFLICT (key) DO UPDATE SET \
     value = excluded.value, value_json = excluded.value_json, counter = excluded.counter, \
     expires_at = excluded.expires_at, index_keys = excluded.index_keys, ";
const UPDATE_PUT: &str = "UPDATE {e} SET value = $3, value_json = $4, counter = $5, \
     version = version + 1, expires_at = $6, index_keys = $7 \
     WHERE key = $1 AND (expires_at IS NULL OR expires_at > $2)";
/// In an upsert's `DO UPDATE`: the existing row had expired.
const EXPIRED: &str = "(e.expires_at IS NOT NULL AND e.expires_at <= $2)";

/// The SQL of one statement in one dialect, with table names filled in.
pub(crate) fn statement(dialect: Dialect, tables: &Tables, q: Q) -> String {
    let pg = dialect == Dialect::Postgres;
    let text = match q {
        Q::Get => format!("SELECT {ENTRY_COLUMNS} FROM {{e}} WHERE key = $1 AND {LIVE}"),
        Q::Take => format!("DELETE FROM {{e}} WHERE key = $1 AND {LIVE} RETURNING {ENTRY_COLUMNS}"),
        Q::Delete => {
            format!("DELETE FROM {{e}} WHERE key = $1 RETURNING CASE WHEN {LIVE} THEN 1 ELSE 0 END")
        }
        Q::Exists => format!("SELECT 1 FROM {{e}} WHERE key = $1 AND {LIVE}"),
        Q::Touch => {
            format!("UPDATE {{e}} SET expires_at = $3 WHERE key = $1 AND {LIVE} RETURNING version")
        }
        Q::PutUpsert => format!(
            "{INSERT_PUT}version = CASE WHEN {EXPIRED} THEN 1 ELSE e.version + 1 END RETURNING version"
        ),
        Q::PutCreate => format!("{INSERT_PUT}version = 1 WHERE {EXPIRED} RETURNING version"),
        Q::PutUpdate => format!("{UPDATE_PUT} RETURNING version"),
        Q::PutIfVersion => format!("{UPDATE_PUT} AND version = $8 RETURNING version"),
        Q::Probe => format!("SELECT version, counter FROM {{e}} WHERE key = $1 AND {LIVE}"),
        Q::Incr => format!(
            "INSERT INTO {{e}} AS e (key, counter, version, expires_at) VALUES ($1, $3, 1, $4) \
             ON CONFLICT (key) DO UPDATE SET \
             counter = CASE WHEN {EXPIRED} THEN $3 ELSE e.counter + $3 END, \
             value = NULL, value_json = NULL, \
             version = CASE WHEN {EXPIRED} THEN 1 ELSE e.version + 1 END, \
             index_keys = CASE WHEN {EXPIRED} THEN NULL ELSE e.index_keys END, \
             expires_at = CASE WHEN {EXPIRED} THEN $4 ELSE e.expires_at END \
             WHERE {EXPIRED} OR (e.counter IS NOT NULL AND e.counter <= $5 AND e.counter >= $6) \
             RETURNING counter, expires_at"
        ),
        Q::Gcra => {
            // The TAT the step starts from: the stored one if live and later than now.
            // The admit test subtracts from the horizon (never below now), so a
            // stored counter near the top of i64 cannot overflow the sum.
            let tat =
                format!("(CASE WHEN NOT {EXPIRED} AND e.counter > $2 THEN e.counter ELSE $2 END)");
            format!(
                "INSERT INTO {{e}} AS e (key, counter, version, expires_at) VALUES ($1, $5, 1, $5) \
                 ON CONFLICT (key) DO UPDATE SET \
                 counter = {tat} + $3, expires_at = {tat} + $3, \
                 value = NULL, value_json = NULL, \
                 version = CASE WHEN {EXPIRED} THEN 1 ELSE e.version + 1 END, \
                 index_keys = CASE WHEN {EXPIRED} THEN NULL ELSE e.index_keys END \
                 WHERE ({EXPIRED} OR e.counter IS NOT NULL) AND {tat} <= $4 - $3 \
                 RETURNING counter"
            )
        }
        Q::ListIndex if pg => format!(
            "SELECT key FROM {{e}} WHERE index_keys @> ARRAY[$1] AND {LIVE} \
             AND key >= $3 AND key < $4 ORDER BY key"
        ),
        Q::ListIndex => "SELECT e.key FROM {i} AS i JOIN {e} AS e ON e.key = i.key \
             WHERE i.index_key = $1 AND (e.expires_at IS NULL OR e.expires_at > $2) \
             AND i.key >= $3 AND i.key < $4 ORDER BY i.key"
            .to_owned(),
        Q::DeleteIndex if pg => format!(
            "DELETE FROM {{e}} WHERE index_keys @> ARRAY[$1] AND key >= $3 AND key < $4 \
             RETURNING CASE WHEN {LIVE} THEN 1 ELSE 0 END"
        ),
        Q::DeleteIndex => format!(
            "DELETE FROM {{e}} WHERE key IN (SELECT key FROM {{i}} WHERE index_key = $1 \
             AND key >= $3 AND key < $4) RETURNING CASE WHEN {LIVE} THEN 1 ELSE 0 END"
        ),
        Q::Scan => {
            "SELECT key, value, value_json, counter, version, expires_at, index_keys FROM {e} \
             WHERE key > $1 AND key >= $2 AND key < $3 AND (expires_at IS NULL OR expires_at > $4) \
             ORDER BY key LIMIT $5"
                .to_owned()
        }
        // PostgreSQL: `= ANY(ARRAY(…))` runs the `LIMIT` subquery once. As
        // `IN (…)` the planner may rescan it per candidate row (a nested-loop
        // semi join), and each rescan skips the rows already deleted and
        // locks the next ones, deleting more than the limit.
        Q::Purge if pg => "DELETE FROM {e} WHERE key = ANY(ARRAY(SELECT key FROM {e} \
             WHERE expires_at <= $1 AND key >= $2 AND key < $3 LIMIT $4 \
             FOR UPDATE SKIP LOCKED)) RETURNING 1"
            .to_owned(),
        Q::Purge => "DELETE FROM {e} WHERE key IN (SELECT key FROM {e} WHERE expires_at <= $1 \
             AND key >= $2 AND key < $3 LIMIT $4) RETURNING 1"
            .to_owned(),
        Q::Count if pg => {
            "SELECT count(*), coalesce(sum(octet_length(key) + coalesce(octet_length(value), 0) \
             + coalesce(octet_length(value_json::text), 0) + 8), 0)::bigint FROM {e} \
             WHERE key >= $1 AND key < $2"
                .to_owned()
        }
        Q::Count => {
            "SELECT count(*), coalesce(sum(length(CAST(key AS BLOB)) + coalesce(length(value), 0) \
             + coalesce(length(CAST(value_json AS BLOB)), 0) + 8), 0) FROM {e} \
             WHERE key >= $1 AND key < $2"
                .to_owned()
        }
        Q::Ping => "SELECT 1".to_owned(),
        Q::CheckVersion => format!(
            "SELECT 1 FROM {{e}} WHERE key = $1 AND {LIVE} AND version = $3{}",
            if pg { " FOR SHARE" } else { "" }
        ),
    };
    let text = text
        .replace("{e}", &tables.entries)
        .replace("{i}", &tables.index);
    match dialect {
        Dialect::Postgres => text,
        Dialect::Sqlite => text.replace('$', "?"),
    }
}

/// One embedded schema migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Migration {
    /// Applied in increasing order; recorded in the migrations table.
    pub(crate) version: i64,
    pub(crate) name: &'static str,
    pub(crate) sql: String,
}

/// The migrations table itself (created before anything else).
pub(crate) fn migrations_table(dialect: Dialect, tables: &Tables) -> String {
    let applied_at = match dialect {
        Dialect::Postgres => "timestamptz NOT NULL DEFAULT now()",
        Dialect::Sqlite => "TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP",
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {} (version bigint PRIMARY KEY, name text NOT NULL, applied_at {applied_at})",
        tables.migrations
    )
}

/// Every migration of `dialect`, in order.
pub(crate) fn migrations(dialect: Dialect, tables: &Tables) -> Vec<Migration> {
    let e = &tables.entries;
    let p = &tables.prefix;
    // The one-of-three rule is checked by both engines the same way.
    let one_value =
        "CHECK ((value IS NOT NULL) + (value_json IS NOT NULL) + (counter IS NOT NULL) = 1)";
    let sql = match dialect {
        Dialect::Postgres => format!(
            "CREATE TABLE {e} (
                key text COLLATE \"C\" PRIMARY KEY,
                value bytea,
                value_json json,
                counter bigint,
                version bigint NOT NULL CHECK (version > 0),
                expires_at bigint,
                index_keys text[],
                CHECK (num_nonnulls(value, value_json, counter) = 1)
             ) WITH (fillfactor = 80);
             CREATE INDEX {p}entries_expires_at ON {e} (expires_at) WHERE expires_at IS NOT NULL;
             CREATE INDEX {p}entries_index_keys ON {e} USING gin (index_keys) WHERE index_keys IS NOT NULL;
             COMMENT ON TABLE {e} IS 'authstore entries: value (bytes), value_json (JSON, verbatim) or counter (integers and rate-limit state); expires_at in ms since the Unix epoch by the application clock';"
        ),
        Dialect::Sqlite => {
            let i = &tables.index;
            format!(
                "CREATE TABLE {e} (
                    key TEXT PRIMARY KEY,
                    value BLOB,
                    value_json TEXT,
                    counter INTEGER,
                    version INTEGER NOT NULL CHECK (version > 0),
                    expires_at INTEGER,
                    index_keys TEXT,
                    {one_value}
                 ) WITHOUT ROWID;
                 CREATE INDEX {p}entries_expires_at ON {p}entries (expires_at) WHERE expires_at IS NOT NULL;
                 CREATE TABLE {i} (
                    index_key TEXT NOT NULL,
                    key TEXT NOT NULL,
                    PRIMARY KEY (index_key, key)
                 ) WITHOUT ROWID;
                 CREATE INDEX {p}entry_index_key ON {p}entry_index (key);
                 CREATE TRIGGER {p}entries_index_insert AFTER INSERT ON {e}
                    WHEN new.index_keys IS NOT NULL BEGIN
                    INSERT OR IGNORE INTO {i} (index_key, key) SELECT value, new.key FROM json_each(new.index_keys);
                 END;
                 CREATE TRIGGER {p}entries_index_update AFTER UPDATE OF index_keys ON {e}
                    WHEN old.index_keys IS NOT new.index_keys BEGIN
                    DELETE FROM {i} WHERE key = old.key;
                    INSERT OR IGNORE INTO {i} (index_key, key) SELECT value, new.key FROM json_each(new.index_keys);
                 END;
                 CREATE TRIGGER {p}entries_index_delete AFTER DELETE ON {e}
                    WHEN old.index_keys IS NOT NULL BEGIN
                    DELETE FROM {i} WHERE key = old.key;
                 END;"
            )
        }
    };
    vec![Migration {
        version: 1,
        name: "entries",
        sql,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_accept_only_plain_identifiers() {
        let t = Tables::new(Some("auth"), "app_").unwrap();
        assert_eq!(t.entries, "auth.app_entries");
        assert_eq!(Tables::new(None, "").unwrap().entries, "entries");
        for bad in ["App", "1x", "a-b", "a;drop", &"x".repeat(41)] {
            assert!(Tables::new(None, bad).is_err(), "{bad}");
        }
        assert!(Tables::new(Some(""), "x").is_err());
    }

    #[test]
    fn sqlite_gets_numbered_placeholders_and_its_own_index_lookup() {
        let t = Tables::new(None, "a_").unwrap();
        let pg = statement(Dialect::Postgres, &t, Q::ListIndex);
        let lite = statement(Dialect::Sqlite, &t, Q::ListIndex);
        assert!(pg.contains("index_keys @> ARRAY[$1]") && pg.contains("a_entries"));
        assert!(lite.contains("a_entry_index") && lite.contains("?1") && !lite.contains('$'));
        // Shared statements differ only in placeholders.
        let get_pg = statement(Dialect::Postgres, &t, Q::Get);
        assert_eq!(
            get_pg.replace('$', "?"),
            statement(Dialect::Sqlite, &t, Q::Get)
        );
    }
}
