//! Sessions: create, save with a version check, log in (new id), list devices, log out others.
//! Run: `cargo run --example sessions`.

use authstore::session::{SessionConfig, SessionManager, SessionMeta, SessionUser};
use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = authstore::open("memory://").await?;
    let config = SessionConfig {
        idle_timeout: Duration::from_secs(30 * 60),
        absolute_lifetime: Duration::from_secs(7 * 24 * 3600),
        max_per_user: Some(5),
        ..SessionConfig::default()
    };
    let sessions = SessionManager::with_config(store, config, authstore::SystemClock);
    let device = |name: &str| SessionMeta {
        device: Some(name.into()),
        ..SessionMeta::default()
    };

    let mut laptop = sessions.create(None, device("laptop")).await?;
    laptop.insert("theme", "dark")?;
    sessions.save(&mut laptop).await?;
    sessions.login(&mut laptop, SessionUser::new("u1")).await?;
    let mut phone = sessions.create(None, device("phone")).await?;
    sessions.login(&mut phone, SessionUser::new("u1")).await?;

    for info in sessions.list_for_user("u1").await? {
        println!("{:?} on {:?}", info.handle, info.meta.device);
    }
    let others = sessions.revoke_all_but("u1", &laptop.handle()).await?;
    println!("logged out {others} other device(s)");
    let back = sessions.load(laptop.id()).await?.expect("still logged in");
    println!(
        "theme = {:?}, stats = {:?}",
        back.get::<String>("theme")?,
        sessions.stats().await?
    );
    Ok(())
}
