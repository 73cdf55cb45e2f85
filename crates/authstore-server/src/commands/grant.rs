//! `authstore grant list` and `authstore grant revoke`: a user's or a client's live grants, and revoking one, all of a user's or all of a client's (their tokens stop working at once).

use authstore::SystemClock;
use authstore::oauth::{OAuth, OAuthError};

use crate::admin::views::GrantView;
use crate::command_prelude::*;

/// `authstore grant …`.
#[derive(Debug, Subcommand)]
pub enum GrantCommand {
    /// List the live grants of a user or of a client: id, client, user, scopes, resources, created, last used.
    List(GrantListArgs),
    /// Revoke one grant by id, or every grant of a user or of a client, with every token issued under them.
    Revoke(GrantRevokeArgs),
}

/// Whose grants: exactly one of `--user` and `--client`.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct Whose {
    /// The user id (the OAuth subject).
    #[arg(long, value_name = "USER_ID", allow_hyphen_values = true)]
    pub user: Option<String>,
    /// The client id.
    #[arg(long, value_name = "CLIENT_ID", allow_hyphen_values = true)]
    pub client: Option<String>,
}

/// `authstore grant list`.
#[derive(Debug, Clone, Args)]
pub struct GrantListArgs {
    #[command(flatten)]
    pub whose: Whose,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `authstore grant revoke`.
#[derive(Debug, Clone, Args)]
pub struct GrantRevokeArgs {
    /// The grant's id (as `grant list` prints it).
    #[arg(required_unless_present_any = ["user", "client"], conflicts_with_all = ["user", "client"], allow_hyphen_values = true)]
    pub id: Option<String>,
    /// Every grant of this user id.
    #[arg(
        long,
        value_name = "USER_ID",
        conflicts_with = "client",
        allow_hyphen_values = true
    )]
    pub user: Option<String>,
    /// Every grant of this client id.
    #[arg(long, value_name = "CLIENT_ID", allow_hyphen_values = true)]
    pub client: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Runs a `grant` subcommand.
///
/// # Errors
/// A [`Failure`] carrying the exit status.
pub(crate) async fn exec(command: GrantCommand) -> Result<(), Failure> {
    match command {
        GrantCommand::List(args) => list(args).await,
        GrantCommand::Revoke(args) => revoke(args).await,
    }
}

async fn oauth(args: &StoreArgs) -> Result<OAuth, Failure> {
    let (store, settings) = open_for_admin(args).await?;
    OAuth::with_config(store, settings.oauth, SystemClock)
        .map_err(|e| Failure::config(format!("invalid settings: {e}")))
}

fn failed(what: &str, e: &OAuthError) -> Failure {
    Failure::runtime(format!("{what}: {}", error_chain(e)))
}

async fn list(args: GrantListArgs) -> Result<(), Failure> {
    let oauth = oauth(&args.store).await?;
    let grants = match (&args.whose.user, &args.whose.client) {
        (Some(user), _) => oauth.user_grants(user).await,
        (None, Some(client)) => oauth.client_grants(client).await,
        (None, None) => return Err(Failure::config("give --user or --client")),
    }
    .map_err(|e| failed("cannot list the grants", &e))?;
    if args.json {
        let all: Vec<GrantView> = grants.iter().map(GrantView::from).collect();
        print_json(&all);
        return Ok(());
    }
    if grants.is_empty() {
        println!("no live grants");
    }
    for g in &grants {
        println!(
            "{}  client {}  user {}  scope {:?}{}  created {} UTC  last used {} UTC",
            g.grant_id,
            g.client_id,
            g.subject.as_deref().unwrap_or("-"),
            g.scope.join(" "),
            if g.resources.is_empty() {
                String::new()
            } else {
                format!("  resources {}", g.resources.join(" "))
            },
            utc(g.created_at / 1000),
            utc(g.last_used_at / 1000),
        );
    }
    Ok(())
}

async fn revoke(args: GrantRevokeArgs) -> Result<(), Failure> {
    let oauth = oauth(&args.store).await?;
    let (what, revoked) = match (&args.id, &args.user, &args.client) {
        (Some(id), _, _) => (
            format!("grant {id}"),
            u64::from(
                oauth
                    .revoke_grant(id)
                    .await
                    .map_err(|e| failed("cannot revoke the grant", &e))?,
            ),
        ),
        (None, Some(user), _) => (
            format!("the grants of user {user}"),
            oauth
                .revoke_user_grants(user)
                .await
                .map_err(|e| failed("cannot revoke the grants", &e))?,
        ),
        (None, None, Some(client)) => (
            format!("the grants of client {client}"),
            oauth
                .revoke_client_grants(client)
                .await
                .map_err(|e| failed("cannot revoke the grants", &e))?,
        ),
        (None, None, None) => return Err(Failure::config("give a grant id, --user or --client")),
    };
    if args.json {
        println!("{}", serde_json::json!({ "revoked": revoked }));
    } else {
        println!("revoked {revoked} live grant(s): {what}");
    }
    Ok(())
}
