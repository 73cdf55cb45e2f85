//! The configuration error (exit status 2), its constructor and the environment lookup every configuration layer takes.

/// A configuration problem: the process exits with status 2 and this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// `Err(ConfigError(message))`.
pub(crate) fn bad<T>(message: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(message.into()))
}

/// An environment lookup: `std::env::var` in the binary, a map in tests.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;
