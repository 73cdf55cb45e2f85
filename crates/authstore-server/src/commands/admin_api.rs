//! `authstore admin-token` and `authstore openapi`: a new admin API token with the hash the server keeps, and the admin API's OpenAPI document.

use crate::command_prelude::*;

/// `authstore admin-token`.
#[derive(Debug, Clone, Args)]
pub struct AdminTokenArgs {
    /// Print JSON: `{"token": …, "sha256": …}`.
    #[arg(long)]
    pub json: bool,
}

/// `authstore openapi`.
#[derive(Debug, Clone, Args)]
pub struct OpenApiArgs {}

/// Draws a 256-bit token and prints it with its SHA-256, the value of
/// `admin_token_sha256` (the server never stores the token itself).
///
/// # Errors
/// The system's random source fails.
pub(crate) fn admin_token(args: &AdminTokenArgs) -> Result<(), Failure> {
    let token = authstore::secret::random_token().map_err(|e| Failure::runtime(e.to_string()))?;
    let sha256 = authstore::secret::sha256_hex(&token);
    if args.json {
        print_json(&serde_json::json!({ "token": token, "sha256": sha256 }));
    } else {
        println!("admin token (for the admin API's callers; shown only now): {token}");
        println!("admin_token_sha256 = \"{sha256}\"");
        eprintln!(
            "Put the second line in the config file (or set AUTHSTORE_ADMIN_TOKEN_SHA256={sha256}) \
             with admin_listen; send the token as `Authorization: Bearer <token>`."
        );
    }
    Ok(())
}

/// Prints the admin API's OpenAPI 3.1 document.
///
/// # Errors
/// The document cannot be encoded.
pub(crate) fn openapi(_args: &OpenApiArgs) -> Result<(), Failure> {
    let text = crate::admin_http::openapi()
        .to_pretty_json()
        .map_err(|e| Failure::runtime(format!("cannot encode the document: {e}")))?;
    println!("{text}");
    Ok(())
}
