//! `authstore session list` and `authstore session revoke`: a user's sign-in sessions (device, address, sign-in and last use), and ending one or all of them.

use authstore::SystemClock;
use authstore::session::{SessionHandle, SessionManager};

use crate::admin::secs;
use crate::admin::views::SessionView;
use crate::command_prelude::*;

/// `authstore session …`.
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// List a user's sessions: handle, device, address, sign-in, last use.
    List(SessionListArgs),
    /// End one session of a user (--handle) or all of them (--all).
    Revoke(SessionRevokeArgs),
}

/// `authstore session list`.
#[derive(Debug, Clone, Args)]
pub struct SessionListArgs {
    /// The user id.
    #[arg(long, value_name = "USER_ID", allow_hyphen_values = true)]
    pub user: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `authstore session revoke`.
#[derive(Debug, Clone, Args)]
pub struct SessionRevokeArgs {
    /// The user id.
    #[arg(long, value_name = "USER_ID", allow_hyphen_values = true)]
    pub user: String,
    /// End every session of the user.
    #[arg(long, required_unless_present = "handle", conflicts_with = "handle")]
    pub all: bool,
    /// End only this session (as `session list` prints it).
    #[arg(long, value_name = "HANDLE")]
    pub handle: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Runs a `session` subcommand.
///
/// # Errors
/// A [`Failure`] carrying the exit status.
pub(crate) async fn exec(command: SessionCommand) -> Result<(), Failure> {
    match command {
        SessionCommand::List(args) => list(args).await,
        SessionCommand::Revoke(args) => revoke(args).await,
    }
}

async fn sessions(args: &StoreArgs) -> Result<SessionManager, Failure> {
    let (store, settings) = open_for_admin(args).await?;
    Ok(SessionManager::with_config(
        store,
        settings.sessions,
        SystemClock,
    ))
}

fn failed(what: &str, e: &authstore::Error) -> Failure {
    Failure::runtime(format!("{what}: {}", error_chain(e)))
}

async fn list(args: SessionListArgs) -> Result<(), Failure> {
    let manager = sessions(&args.store).await?;
    let found = manager
        .list_for_user(&args.user)
        .await
        .map_err(|e| failed("cannot list the sessions", &e))?;
    if args.json {
        let all: Vec<SessionView> = found.iter().map(SessionView::from).collect();
        print_json(&all);
        return Ok(());
    }
    if found.is_empty() {
        println!("no sessions");
    }
    for s in &found {
        println!(
            "{}  {}  from {}  signed in {} UTC  last seen {} UTC",
            s.handle.as_str(),
            s.meta
                .device
                .as_deref()
                .or(s.meta.user_agent.as_deref())
                .unwrap_or("unknown device"),
            s.meta.ip.as_deref().unwrap_or("-"),
            utc(secs(s.created_at)),
            utc(secs(s.last_seen)),
        );
    }
    Ok(())
}

async fn revoke(args: SessionRevokeArgs) -> Result<(), Failure> {
    let manager = sessions(&args.store).await?;
    let ended = if args.all {
        manager
            .revoke_all(&args.user)
            .await
            .map_err(|e| failed("cannot end the sessions", &e))?
    } else {
        let text = args.handle.as_deref().unwrap_or_default();
        let handle = SessionHandle::parse(text)
            .ok_or_else(|| Failure::config("--handle must be 64 lowercase hex digits"))?;
        let owned = manager
            .list_for_user(&args.user)
            .await
            .map_err(|e| failed("cannot list the sessions", &e))?
            .iter()
            .any(|s| s.handle == handle);
        if !owned {
            return Err(Failure::runtime(format!(
                "user {} has no session {text}",
                args.user
            )));
        }
        u64::from(
            manager
                .revoke(&handle)
                .await
                .map_err(|e| failed("cannot end the session", &e))?,
        )
    };
    if args.json {
        println!("{}", serde_json::json!({ "ended": ended }));
    } else {
        println!("ended {ended} session(s) of user {}", args.user);
    }
    Ok(())
}
