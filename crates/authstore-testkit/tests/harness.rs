//! Integration tests of the private redis-server / PostgreSQL harness, against real processes.
#![cfg(unix)]

use std::io::{self, BufRead, BufReader, ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use authstore_testkit::harness::postgres::{self, PostgresServer};
use authstore_testkit::harness::redis::{RedisServer, RedisTarget};

/// Unwraps a harness result, failing loudly: a missing server binary must
/// fail the test (the error names the program and that `scripts/test`
/// installs it), never skip it.
fn must<T>(result: io::Result<T>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// A parsed RESP reply.
#[derive(Debug, PartialEq)]
enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<String>),
    Array(Vec<Reply>),
}

fn read_reply(reader: &mut impl BufRead) -> io::Result<Reply> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    let line = line.trim_end_matches("\r\n");
    let (kind, rest) = line.split_at(1);
    let number = || {
        rest.parse::<i64>()
            .map_err(|e| io::Error::new(ErrorKind::InvalidData, e))
    };
    Ok(match kind {
        "+" => Reply::Simple(rest.to_owned()),
        "-" => Reply::Error(rest.to_owned()),
        ":" => Reply::Int(number()?),
        "$" => match usize::try_from(number()?) {
            Err(_) => Reply::Bulk(None),
            Ok(len) => {
                let mut buf = vec![0; len + 2];
                reader.read_exact(&mut buf)?;
                buf.truncate(len);
                Reply::Bulk(Some(String::from_utf8_lossy(&buf).into_owned()))
            }
        },
        "*" => Reply::Array(
            (0..number()?)
                .map(|_| read_reply(reader))
                .collect::<io::Result<_>>()?,
        ),
        _ => {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                format!("bad reply line {line:?}"),
            ));
        }
    })
}

/// Sends one command over a fresh raw TCP connection and reads the reply.
fn resp(addr: SocketAddr, args: &[&str]) -> io::Result<Reply> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(request.as_bytes())?;
    read_reply(&mut BufReader::new(stream))
}

fn ping(addr: SocketAddr) -> io::Result<Reply> {
    resp(addr, &["PING"])
}

fn assert_refused(addr: SocketAddr, when: &str) {
    match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        Ok(_) => panic!("{when}: something still accepts connections on {addr}"),
        Err(e) => assert_eq!(
            e.kind(),
            ErrorKind::ConnectionRefused,
            "{when}: unexpected error {e}"
        ),
    }
}

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn guards_are_send_and_sync() {
    assert_send_sync::<RedisServer>();
    assert_send_sync::<RedisTarget>();
    assert_send_sync::<PostgresServer>();
    assert_send_sync::<postgres::PostgresTarget>();
}

#[test]
fn redis_answers_ping_survives_kill_and_restart_and_is_gone_after_drop() {
    let mut server = must(RedisServer::start(), "starting redis-server");
    let addr = server.addr();
    assert_eq!(server.url(), format!("redis://127.0.0.1:{}", server.port()));
    assert_eq!(server.host(), "127.0.0.1");
    assert!(server.is_running());
    assert_eq!(ping(addr).expect("PING"), Reply::Simple("PONG".into()));
    assert!(
        server.log_tail(100).contains("Ready to accept connections"),
        "log: {}",
        server.log_tail(20)
    );

    // Data is not persisted (--save "" and no AOF): a restart forgets it.
    assert_eq!(
        resp(addr, &["SET", "k", "v"]).expect("SET"),
        Reply::Simple("OK".into())
    );

    server.kill().expect("kill");
    assert!(!server.is_running());
    assert_refused(addr, "after kill()");

    server.restart().expect("restart after kill");
    assert_eq!(server.addr(), addr, "restart must reuse the port");
    assert_eq!(
        ping(addr).expect("PING after restart"),
        Reply::Simple("PONG".into())
    );
    assert_eq!(resp(addr, &["GET", "k"]).expect("GET"), Reply::Bulk(None));

    server.stop().expect("graceful stop");
    assert_refused(addr, "after stop()");
    server.stop().expect("stop is idempotent");
    server.restart().expect("restart after stop");
    assert_eq!(
        ping(addr).expect("PING after second restart"),
        Reply::Simple("PONG".into())
    );

    let dir = server.dir().to_path_buf();
    drop(server);
    assert_refused(addr, "after drop");
    assert!(
        !dir.exists(),
        "temp dir {} must be removed on drop",
        dir.display()
    );
}

#[test]
fn redis_extra_args_reach_the_server() {
    let server = must(
        RedisServer::builder()
            .arg("--maxmemory")
            .arg("1234567")
            .start(),
        "starting redis-server",
    );
    let reply = resp(server.addr(), &["CONFIG", "GET", "maxmemory"]).expect("CONFIG GET");
    let expected = Reply::Array(vec![
        Reply::Bulk(Some("maxmemory".into())),
        Reply::Bulk(Some("1234567".into())),
    ]);
    assert_eq!(reply, expected);
    // The harness's own defaults are in force too.
    let save = resp(server.addr(), &["CONFIG", "GET", "save"]).expect("CONFIG GET save");
    assert_eq!(
        save,
        Reply::Array(vec![
            Reply::Bulk(Some("save".into())),
            Reply::Bulk(Some(String::new()))
        ])
    );
}

#[test]
fn redis_startup_failure_reports_the_log_tail() {
    let err = RedisServer::builder()
        .args(["--no-such-directive", "x"])
        .start_timeout(Duration::from_secs(5))
        .start()
        .expect_err("redis-server must reject an unknown directive");
    let message = err.to_string();
    assert!(message.contains("redis-server on 127.0.0.1:"), "{message}");
    assert!(
        message.contains("no-such-directive"),
        "error must carry the log tail: {message}"
    );
}

#[test]
fn redis_from_env_or_start_gives_a_reachable_url() {
    let mut target = must(RedisServer::from_env_or_start(), "redis target");
    let url = target.url();
    assert!(url.starts_with("redis://"), "{url}");
    match std::env::var("REDIS_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        Some(external) => {
            assert!(target.is_external());
            assert_eq!(url, external);
            let err = target.kill().expect_err("kill on an external server");
            assert_eq!(err.kind(), ErrorKind::Unsupported);
            assert!(err.to_string().contains("external"), "{err}");
        }
        None => {
            assert!(!target.is_external());
            let server = target.server().expect("private server");
            assert_eq!(
                ping(server.addr()).expect("PING"),
                Reply::Simple("PONG".into())
            );
        }
    }
}

fn pg_ready(port: u16) -> bool {
    must(
        postgres::pg_isready("127.0.0.1", port),
        "running pg_isready",
    )
}

#[test]
fn postgres_lifecycle_keeps_committed_rows() {
    let mut server = must(PostgresServer::start(), "starting PostgreSQL");
    let port = server.port();
    assert_eq!(
        server.url(),
        format!("postgres://postgres@127.0.0.1:{port}/postgres")
    );
    assert!(server.is_running());
    assert!(pg_ready(port));
    assert_eq!(
        postgres::psql(&server.url(), "select 1").expect("select 1"),
        "1"
    );
    assert_eq!(
        server.psql("show fsync").expect("show fsync"),
        "on",
        "fsync defaults to on"
    );
    assert_eq!(
        server.psql("show listen_addresses").expect("show"),
        "127.0.0.1"
    );
    assert_eq!(server.psql("show max_connections").expect("show"), "100");
    assert_eq!(server.psql("show shared_buffers").expect("show"), "128MB");

    let bad = server
        .create_database("Bad-Name")
        .expect_err("invalid name");
    assert_eq!(bad.kind(), ErrorKind::InvalidInput);
    let t1 = server.create_database("t1").expect("create t1");
    assert_eq!(t1, format!("postgres://postgres@127.0.0.1:{port}/t1"));
    assert_eq!(
        postgres::psql(&t1, "select current_database()").expect("connect t1"),
        "t1"
    );
    postgres::psql(
        &t1,
        "create table kv (k text primary key, v text); insert into kv values ('a', 'one')",
    )
    .expect("write a row");

    server.stop().expect("stop");
    assert!(!server.is_running());
    assert!(!pg_ready(port), "pg_isready must fail after stop()");
    assert!(postgres::psql(&t1, "select 1").is_err());

    server.restart().expect("restart after stop");
    assert_eq!(server.port(), port, "restart must reuse the port");
    assert!(pg_ready(port));
    assert_eq!(
        postgres::psql(&t1, "select v from kv where k = 'a'").expect("read"),
        "one"
    );

    // A committed row survives a crash (immediate stop, WAL recovery on restart).
    postgres::psql(&t1, "insert into kv values ('b', 'two')").expect("write second row");
    server.kill().expect("kill");
    assert!(!pg_ready(port), "pg_isready must fail after kill()");
    server.restart().expect("restart after kill");
    assert_eq!(
        postgres::psql(&t1, "select string_agg(v, ',' order by k) from kv").expect("read"),
        "one,two"
    );
    assert!(
        server
            .log_tail(200)
            .contains("database system was interrupted"),
        "{}",
        server.log_tail(40)
    );

    let dir = server.dir().to_path_buf();
    drop(server);
    assert!(!pg_ready(port), "pg_isready must fail after drop");
    assert_refused(SocketAddr::from(([127, 0, 0, 1], port)), "after drop");
    assert!(
        !dir.exists(),
        "temp dir {} must be removed on drop",
        dir.display()
    );
}

#[test]
fn postgres_builder_settings_apply() {
    let server = must(
        PostgresServer::builder()
            .fsync(false)
            .setting("work_mem", "'8MB'")
            .start(),
        "starting PostgreSQL",
    );
    assert_eq!(server.psql("show fsync").expect("show fsync"), "off");
    assert_eq!(server.psql("show work_mem").expect("show work_mem"), "8MB");
}

#[test]
fn postgres_from_env_or_start_creates_databases() {
    let target = must(PostgresServer::from_env_or_start(), "PostgreSQL target");
    assert_eq!(
        target.is_external(),
        std::env::var("DATABASE_URL").is_ok_and(|u| !u.trim().is_empty())
    );
    let name = format!("harness_env_{}", std::process::id());
    let url = target.create_database(&name).expect("create database");
    assert_eq!(url, postgres::with_database(&target.url(), &name));
    assert_eq!(
        postgres::psql(&url, "select current_database()").expect("connect"),
        name
    );
    if target.is_external() {
        postgres::psql(&target.url(), &format!("drop database \"{name}\"")).expect("clean up");
    }
}

#[test]
fn with_database_replaces_only_the_path() {
    use postgres::with_database;
    assert_eq!(
        with_database("postgres://u:p@h:5432/postgres", "x"),
        "postgres://u:p@h:5432/x"
    );
    assert_eq!(
        with_database("postgres://u@h:5432", "x"),
        "postgres://u@h:5432/x"
    );
    assert_eq!(
        with_database("postgresql://h/db?sslmode=disable", "x"),
        "postgresql://h/x?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://h:1?application_name=a/b", "x"),
        "postgres://h:1/x?application_name=a/b"
    );
}
