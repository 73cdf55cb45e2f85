//! `authstore user add|list|show|disable|enable|set-password|delete`: register users (the password read from standard input), see them, end their access, reset a password, delete one with everything it owns.

use std::io::BufRead as _;

use crate::admin::users;
use crate::admin::views::UserView;
use crate::command_prelude::*;

/// `authstore user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Register a user (the password is read from standard input, never from the command line).
    Add(UserAddArgs),
    /// List every user: login name, id, registration, whether disabled.
    List(UserListArgs),
    /// Show one user with their sessions and live grants.
    Show(UserArgs),
    /// Refuse the user's sign-in and end their sessions and grants at once.
    Disable(UserArgs),
    /// Let a disabled user sign in again.
    Enable(UserArgs),
    /// Set a user's password (read from standard input) without the current one.
    SetPassword(UserSetPasswordArgs),
    /// Delete a user and everything they own: sessions, grants and their tokens, consents, profile.
    Delete(UserArgs),
}

/// `authstore user list`.
#[derive(Debug, Clone, Args)]
pub struct UserListArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// A command on one user.
#[derive(Debug, Clone, Args)]
pub struct UserArgs {
    /// The login name.
    #[arg(allow_hyphen_values = true)]
    pub name: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `authstore user set-password`.
#[derive(Debug, Clone, Args)]
pub struct UserSetPasswordArgs {
    /// The login name.
    #[arg(allow_hyphen_values = true)]
    pub name: String,
    /// Read the password from the first line of standard input (required).
    #[arg(long, required = true)]
    pub password_stdin: bool,
    /// Also end every session of the user.
    #[arg(long)]
    pub end_sessions: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `authstore user add`.
#[derive(Debug, Clone, Args)]
pub struct UserAddArgs {
    /// Login name.
    #[arg(allow_hyphen_values = true)]
    pub name: String,
    /// Read the password from the first line of standard input (required).
    #[arg(long, required = true)]
    pub password_stdin: bool,
    /// The user's stable id, the OAuth subject (default: random).
    #[arg(long, value_name = "ID", allow_hyphen_values = true)]
    pub user_id: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Runs a `user` subcommand.
///
/// # Errors
/// A [`Failure`] carrying the exit status.
pub(crate) async fn exec(command: UserCommand) -> Result<(), Failure> {
    match command {
        UserCommand::Add(args) => add(args).await,
        UserCommand::List(args) => list(args).await,
        UserCommand::Show(args) => show(args).await,
        UserCommand::Disable(args) => disable(args).await,
        UserCommand::Enable(args) => enable(args).await,
        UserCommand::SetPassword(args) => set_password(args).await,
        UserCommand::Delete(args) => delete(args).await,
    }
}

/// One line of text about a user.
fn line(u: &UserView) -> String {
    format!(
        "{}  user_id {}  created {} UTC{}",
        u.username,
        u.user_id,
        utc(u.created_at),
        u.disabled_at
            .map(|at| format!("  disabled since {} UTC", utc(at)))
            .unwrap_or_default()
    )
}

async fn list(args: UserListArgs) -> Result<(), Failure> {
    let state = admin_state(&args.store).await?;
    let all = users::list(&state).await?;
    if args.json {
        print_json(&all);
    } else if all.is_empty() {
        println!("no users");
    } else {
        for u in &all {
            println!("{}", line(u));
        }
    }
    Ok(())
}

async fn show(args: UserArgs) -> Result<(), Failure> {
    let state = admin_state(&args.store).await?;
    let detail = users::show(&state, &args.name).await?;
    if args.json {
        print_json(&detail);
        return Ok(());
    }
    println!("{}", line(&detail.user));
    println!("sessions: {}", detail.sessions.len());
    for s in &detail.sessions {
        println!(
            "  {}  {}  from {}  last seen {} UTC",
            s.handle,
            s.device
                .as_deref()
                .or(s.user_agent.as_deref())
                .unwrap_or("unknown device"),
            s.ip.as_deref().unwrap_or("-"),
            utc(s.last_seen)
        );
    }
    println!("live grants: {}", detail.grants.len());
    for g in &detail.grants {
        println!(
            "  {}  client {}  scope {:?}",
            g.grant_id, g.client_id, g.scope
        );
    }
    Ok(())
}

async fn disable(args: UserArgs) -> Result<(), Failure> {
    let state = admin_state(&args.store).await?;
    let ended = users::disable(&state, &args.name).await?;
    if args.json {
        print_json(&ended);
    } else {
        println!(
            "disabled user {:?}: ended {} session(s), revoked {} grant(s)",
            ended.user.username, ended.sessions_ended, ended.grants_revoked
        );
    }
    Ok(())
}

async fn enable(args: UserArgs) -> Result<(), Failure> {
    let state = admin_state(&args.store).await?;
    let user = users::enable(&state, &args.name).await?;
    if args.json {
        print_json(&user);
    } else {
        println!("enabled user {:?}", user.username);
    }
    Ok(())
}

async fn set_password(args: UserSetPasswordArgs) -> Result<(), Failure> {
    let password = read_password()?;
    let state = admin_state(&args.store).await?;
    let done = users::set_password(&state, &args.name, &password, args.end_sessions).await?;
    if args.json {
        print_json(&done);
    } else {
        println!(
            "set the password of user {:?}; ended {} session(s)",
            done.user.username, done.sessions_ended
        );
    }
    Ok(())
}

async fn delete(args: UserArgs) -> Result<(), Failure> {
    let state = admin_state(&args.store).await?;
    let deleted = users::delete(&state, &args.name).await?;
    if args.json {
        print_json(&deleted);
    } else {
        println!(
            "deleted user {:?} ({}): ended {} session(s), removed its grants ({} live) and consents",
            deleted.user.username,
            deleted.user.user_id,
            deleted.sessions_ended,
            deleted.grants_revoked
        );
    }
    Ok(())
}

/// Reads the first line of standard input, without its line ending.
fn read_password() -> Result<String, Failure> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| {
        Failure::runtime(format!("cannot read the password from standard input: {e}"))
    })?;
    let password = line
        .strip_suffix('\n')
        .map_or(line.as_str(), |l| l.strip_suffix('\r').unwrap_or(l));
    if password.is_empty() {
        return Err(Failure::config("the password on standard input is empty"));
    }
    Ok(password.to_owned())
}

/// `authstore user add NAME --password-stdin [--user-id ID]`.
///
/// # Errors
/// Exit status 2 for an empty name or password, 1 if the user exists or the store fails.
async fn add(args: UserAddArgs) -> Result<(), Failure> {
    let password = read_password()?;
    let state = admin_state(&args.store).await?;
    let user = users::create(&state, &args.name, &password, args.user_id.as_deref()).await?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "username": user.username, "user_id": user.user_id })
        );
    } else {
        println!(
            "created user {:?} with user_id {}",
            user.username, user.user_id
        );
    }
    Ok(())
}
