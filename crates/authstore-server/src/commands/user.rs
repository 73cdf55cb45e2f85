//! `authstore user add`: register a user in the store, the password read from standard input.

use std::io::BufRead as _;

use authstore::credentials::Credentials;
use authstore::{Error, SystemClock};

use crate::command_prelude::*;

/// `authstore user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Register a user (the password is read from standard input, never from the command line).
    Add(UserAddArgs),
}

/// `authstore user add`.
#[derive(Debug, Clone, Args)]
pub struct UserAddArgs {
    /// Login name.
    pub name: String,
    /// Read the password from the first line of standard input (required).
    #[arg(long, required = true)]
    pub password_stdin: bool,
    /// The user's stable id, the OAuth subject (default: random).
    #[arg(long, value_name = "ID")]
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
    }
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
    let (store, settings) = open_for_admin(&args.store).await?;
    let credentials = Credentials::with_config(store, settings.credentials, SystemClock)
        .map_err(|e| Failure::config(format!("invalid hashing settings: {e}")))?;
    let user_id = match args.user_id {
        Some(id) if id.trim().is_empty() => {
            return Err(Failure::config("--user-id must not be empty"));
        }
        Some(id) => id,
        None => authstore::secret::random_token().map_err(|e| Failure::runtime(e.to_string()))?,
    };
    match credentials
        .register_user(&args.name, &user_id, &password)
        .await
    {
        Ok(()) => {}
        Err(Error::AlreadyExists { .. }) => {
            return Err(Failure::runtime(format!(
                "user {:?} already exists",
                args.name.trim()
            )));
        }
        Err(e @ Error::InvalidArgument(_)) => return Err(Failure::config(e.to_string())),
        Err(e) => {
            return Err(Failure::runtime(format!(
                "cannot register the user: {}",
                error_chain(&e)
            )));
        }
    }
    let username = args.name.trim();
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "username": username, "user_id": user_id })
        );
    } else {
        println!("created user {username:?} with user_id {user_id}");
    }
    Ok(())
}
