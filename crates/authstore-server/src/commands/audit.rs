//! `authstore audit`: the security events kept in the store, filtered by user, client, action and time, as text or JSON.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authstore::audit::Outcome;

use crate::admin::AdminError;
use crate::admin::audit::{self, AuditQuery};
use crate::command_prelude::*;
use crate::config;

/// `authstore audit`.
#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// Only the events of this user (as the event names them: a user id, or a login name for sign-in attempts).
    #[arg(long, value_name = "USER", allow_hyphen_values = true)]
    pub user: Option<String>,
    /// Only the events about this client id.
    #[arg(long, value_name = "CLIENT_ID", allow_hyphen_values = true)]
    pub client: Option<String>,
    /// Only actions starting with this, e.g. `login.` or `user.disabled`.
    #[arg(long, value_name = "PREFIX")]
    pub action: Option<String>,
    /// From this time: a duration back from now (`30m`, `24h`, `7d`) or a UTC
    /// date and time (`2026-12-01`, `2026-12-01T09:30:00Z`). Default: all kept.
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    pub since: Option<When>,
    /// Until this time (same forms as --since). Default: now.
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    pub until: Option<When>,
    /// At most this many events, the newest (default 1000).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub limit: usize,
    /// Print JSON (one array, oldest first).
    #[arg(long)]
    pub json: bool,
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// A point in time as given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// This long before the command runs.
    Ago(Duration),
    /// Seconds since the epoch.
    At(u64),
}

impl When {
    fn resolve(self, now: SystemTime) -> SystemTime {
        match self {
            Self::Ago(d) => now
                .checked_sub(d)
                .filter(|t| *t >= UNIX_EPOCH)
                .unwrap_or(UNIX_EPOCH),
            Self::At(secs) => UNIX_EPOCH + Duration::from_secs(secs),
        }
    }
}

/// Days since the epoch of a civil date (Howard Hinnant's days_from_civil).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD`, optionally followed by `T` or a space and `HH:MM[:SS]`,
/// optionally ending in `Z`: seconds since the epoch, UTC.
fn parse_utc(text: &str) -> Option<u64> {
    let text = text.strip_suffix('Z').unwrap_or(text);
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let number = |s: &str, digits: usize| {
        (s.len() == digits && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i64>().ok())
            .flatten()
    };
    let mut parts = date.split('-');
    let (year, month, day) = (
        number(parts.next()?, 4)?,
        number(parts.next()?, 2)?,
        number(parts.next()?, 2)?,
    );
    if parts.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut seconds = 0;
    if let Some(time) = time {
        let fields: Vec<&str> = time.split(':').collect();
        if !(2..=3).contains(&fields.len()) {
            return None;
        }
        let (h, m) = (number(fields[0], 2)?, number(fields[1], 2)?);
        let s = fields.get(2).map_or(Some(0), |s| number(s, 2))?;
        if h > 23 || m > 59 || s > 59 {
            return None;
        }
        seconds = h * 3600 + m * 60 + s;
    }
    let days = days_from_civil(year, month, day);
    u64::try_from(days * 86_400 + seconds).ok()
}

fn parse_when(text: &str) -> Result<When, String> {
    if let Some(at) = parse_utc(text) {
        return Ok(When::At(at));
    }
    config::parse_duration(text).map(When::Ago).map_err(|_| {
        format!(
            "{text:?} is neither a duration (30m, 24h, 7d) nor a UTC time (2026-12-01T09:30:00Z)"
        )
    })
}

fn outcome(o: Outcome) -> &'static str {
    match o {
        Outcome::Success => "success",
        Outcome::Failure => "failure",
        Outcome::Denied => "denied",
    }
}

/// Runs `authstore audit`.
///
/// # Errors
/// A [`Failure`] carrying the exit status.
pub(crate) async fn exec(args: AuditArgs) -> Result<(), Failure> {
    let now = SystemTime::now();
    let from = args.since.map_or(UNIX_EPOCH, |w| w.resolve(now));
    // Events stamped in the second the command runs are included.
    let to = args
        .until
        .map_or(now + Duration::from_secs(1), |w| w.resolve(now));
    if from >= to {
        return Err(Failure::config("--since must be before --until"));
    }
    let state = admin_state(&args.store).await?;
    let query = AuditQuery {
        user: args.user.as_deref(),
        client: args.client.as_deref(),
        action: args.action.as_deref(),
        from,
        to,
        limit: args.limit,
    };
    let events = audit::events(&state, &query).await.map_err(|e| match e {
        AdminError::Store(e) => {
            Failure::runtime(format!("cannot read the audit log: {}", error_chain(&e)))
        }
        other => other.into(),
    })?;
    if args.json {
        print_json(&events);
        return Ok(());
    }
    if events.is_empty() {
        println!("no events");
    }
    for e in &events {
        let mut line = format!(
            "{} UTC  {}  {}",
            utc(e.at / 1000),
            e.action,
            outcome(e.outcome)
        );
        for (name, value) in [("user", &e.user), ("resource", &e.resource), ("ip", &e.ip)] {
            if let Some(value) = value {
                line.push_str(&format!("  {name}={value}"));
            }
        }
        if !e.metadata.is_empty() {
            line.push_str(&format!(
                "  {}",
                serde_json::to_string(&e.metadata).unwrap_or_default()
            ));
        }
        println!("{line}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_utc_dates_or_durations_back() {
        for secs in [0, 951_782_400, 1_795_400_000, 4_102_444_799] {
            let text = utc(secs).replace(' ', "T") + "Z";
            assert_eq!(parse_when(&text), Ok(When::At(secs)), "{text}");
        }
        assert_eq!(parse_when("2026-11-23"), Ok(When::At(1_795_392_000)));
        assert_eq!(
            parse_when("2026-11-23 02:13"),
            Ok(When::At(1_795_400_000 - 20))
        );
        assert_eq!(
            parse_when("24h"),
            Ok(When::Ago(Duration::from_secs(86_400)))
        );
        for bad in [
            "2026-13-01",
            "2026-11-23T24:00:00Z",
            "26-11-23",
            "2026-11-23T1:00",
            "yesterday",
            "",
        ] {
            assert!(parse_when(bad).is_err(), "{bad}");
        }
        let now = UNIX_EPOCH + Duration::from_secs(1000);
        assert_eq!(
            When::Ago(Duration::from_secs(10)).resolve(now),
            UNIX_EPOCH + Duration::from_secs(990)
        );
        assert_eq!(
            When::Ago(Duration::from_secs(5000)).resolve(now),
            UNIX_EPOCH
        );
    }
}
