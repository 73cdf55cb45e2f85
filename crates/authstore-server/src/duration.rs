//! Durations in the config file and on the command line: whole seconds, or `"90s"`, `"15m"`, `"1h30m"`, `"30d"`, `"250ms"`.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A duration in the config: an integer number of seconds, or a string of
/// number-unit pairs such as `"90s"`, `"15m"`, `"1h30m"`, `"30d"`, `"250ms"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigDuration(pub Duration);

enum DurationRepr {
    Seconds(u64),
    Text(String),
}

impl<'de> Deserialize<'de> for DurationRepr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = DurationRepr;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "a duration: whole seconds, or a string like \"15m\", \"1h30m\", \"30d\"",
                )
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<DurationRepr, E> {
                Ok(DurationRepr::Seconds(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<DurationRepr, E> {
                u64::try_from(v)
                    .map(DurationRepr::Seconds)
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DurationRepr, E> {
                Ok(DurationRepr::Text(v.to_owned()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match DurationRepr::deserialize(deserializer)? {
            DurationRepr::Seconds(secs) => Ok(Self(Duration::from_secs(secs))),
            DurationRepr::Text(text) => parse_duration(&text)
                .map(Self)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// A secret lifetime: a [`ConfigDuration`], or `"never"` (or 0) for no expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretTtl(pub Option<Duration>);

impl<'de> Deserialize<'de> for SecretTtl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match DurationRepr::deserialize(deserializer)? {
            DurationRepr::Text(text) if text.trim() == "never" => Ok(Self(None)),
            DurationRepr::Seconds(secs) => Ok(Self(
                Some(Duration::from_secs(secs)).filter(|d| !d.is_zero()),
            )),
            DurationRepr::Text(text) => parse_duration(&text)
                .map(|d| Self(Some(d).filter(|d| !d.is_zero())))
                .map_err(serde::de::Error::custom),
        }
    }
}

/// Parses `"90s"`, `"15m"`, `"1h30m"`, `"30d"`, `"250ms"` or a bare number of seconds.
///
/// # Errors
/// A message naming what is wrong.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let invalid = || {
        format!(
            "invalid duration {text:?}: use e.g. \"30s\", \"15m\", \"1h30m\", \"90d\", \"250ms\""
        )
    };
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(invalid)?;
        let number: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            "d" => Duration::from_secs(86_400),
            _ => return Err(invalid()),
        };
        rest = &rest[unit_len..];
        let part = unit
            .checked_mul(u32::try_from(number).map_err(|_| invalid())?)
            .ok_or_else(invalid)?;
        total = total.checked_add(part).ok_or_else(invalid)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_ttl_never_and_zero_mean_no_expiry() {
        #[derive(Deserialize)]
        struct T {
            ttl: SecretTtl,
        }
        let ttl = |text: &str| toml::from_str::<T>(text).map(|t| t.ttl.0);
        assert_eq!(ttl("ttl = \"never\"").unwrap(), None);
        assert_eq!(ttl("ttl = 0").unwrap(), None);
        assert_eq!(
            ttl("ttl = \"1h\"").unwrap(),
            Some(Duration::from_secs(3600))
        );
        assert!(ttl("ttl = \"sometimes\"").is_err());
    }
}
