//! Integration tests of the Redis Cluster, Sentinel and TLS harnesses, against real processes.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use authstore_testkit::harness::redis_cluster::{RedisCluster, redis_cli};
use authstore_testkit::harness::redis_sentinel::RedisSentinelSetup;
use authstore_testkit::harness::redis_tls::RedisTlsServer;

/// Unwraps a harness result, failing loudly: a missing binary must fail the
/// test (the error names the program and its Debian package), never skip it.
fn must<T>(result: io::Result<T>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// `redis-cli -h 127.0.0.1 -p PORT <args>`.
fn cli(port: u16, args: &[&str]) -> String {
    let port_arg = port.to_string();
    let full = [&["-h", "127.0.0.1", "-p", &port_arg][..], args].concat();
    must(redis_cli(&full), &format!("redis-cli {full:?}"))
}

/// The value of `field` in `field:value` lines.
fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(':'))
}

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn topology_guards_are_send_and_sync() {
    assert_send_sync::<RedisCluster>();
    assert_send_sync::<RedisSentinelSetup>();
    assert_send_sync::<RedisTlsServer>();
}

#[test]
fn cluster_covers_all_slots_and_routes_keys_to_every_node() {
    let t0 = Instant::now();
    let mut cluster = must(RedisCluster::start(), "starting a 3-master cluster");
    eprintln!("cluster up in {:?}", t0.elapsed());
    let ports = cluster.ports();
    assert_eq!(ports.len(), 3);
    let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    assert_eq!(
        cluster.url(),
        format!("redis+cluster://{}", addrs.join(","))
    );
    let urls: Vec<String> = addrs.iter().map(|a| format!("redis://{a}")).collect();
    assert_eq!(cluster.urls(), urls);
    for i in 0..3 {
        let info = must(cluster.cluster_info(i), "CLUSTER INFO");
        assert_eq!(field(&info, "cluster_state"), Some("ok"), "{info}");
        assert_eq!(
            field(&info, "cluster_slots_assigned"),
            Some("16384"),
            "{info}"
        );
        assert_eq!(field(&info, "cluster_known_nodes"), Some("3"), "{info}");
        assert_eq!(field(&info, "cluster_size"), Some("3"), "{info}");
    }

    // Write through node 0 with redirects (-c) until every node owns a key;
    // asked directly, a key's owner has it and the others answer MOVED.
    let mut owner_of = BTreeMap::new();
    for n in 0..200 {
        if owner_of.len() == 3 {
            break;
        }
        let key = format!("topology-key-{n}");
        let value = format!("value-{n}");
        assert_eq!(cli(ports[0], &["-c", "SET", &key, &value]), "OK");
        let answers: Vec<String> = ports.iter().map(|&p| cli(p, &["GET", &key])).collect();
        let owners: Vec<usize> = (0..3).filter(|&i| answers[i] == value).collect();
        assert_eq!(owners.len(), 1, "{key} on exactly one node: {answers:?}");
        for (i, answer) in answers.iter().enumerate() {
            if i != owners[0] {
                assert!(answer.starts_with("MOVED"), "node {i} on {key}: {answer}");
            }
        }
        owner_of.entry(owners[0]).or_insert((key, value));
    }
    assert_eq!(owner_of.len(), 3, "keys landed on only {owner_of:?}");
    for (key, value) in owner_of.values() {
        assert_eq!(&cli(ports[0], &["-c", "GET", key]), value);
        assert_eq!(&cli(ports[2], &["-c", "GET", key]), value);
    }

    // A node killed and restarted rejoins with its slots (nodes.conf is kept).
    must(cluster.node_mut(1).kill(), "killing node 1");
    assert!(!cluster.nodes()[1].is_running());
    must(cluster.node_mut(1).restart(), "restarting node 1");
    must(cluster.wait_ok(), "cluster ok after restarting node 1");
    let (key, _) = &owner_of[&1];
    assert_eq!(cli(ports[0], &["-c", "SET", key, "again"]), "OK");
    assert_eq!(cli(ports[1], &["GET", key]), "again");
    eprintln!("cluster test done in {:?}", t0.elapsed());
}

#[test]
fn sentinel_reports_the_master_and_fails_over_to_the_replica() {
    let t0 = Instant::now();
    let mut setup = must(
        RedisSentinelSetup::start(),
        "starting master, replica and sentinels",
    );
    eprintln!("sentinel setup up in {:?}", t0.elapsed());
    let (master, replica) = (setup.master_port(), setup.replica_port());
    assert_ne!(master, replica);
    assert_eq!(setup.master_name(), "mymaster");
    let sentinels: Vec<String> = (setup.sentinels().iter())
        .map(|s| format!("127.0.0.1:{}", s.port()))
        .collect();
    assert_eq!(sentinels.len(), 3);
    assert_eq!(
        setup.url(),
        format!("redis+sentinel://{}/mymaster", sentinels.join(","))
    );
    let urls: Vec<String> = sentinels.iter().map(|a| format!("redis://{a}")).collect();
    assert_eq!(setup.sentinel_urls(), urls);
    assert_eq!(
        must(setup.current_master_port(), "asking a sentinel"),
        master
    );
    for s in setup.sentinels() {
        let peers = cli(s.port(), &["SENTINEL", "sentinels", "mymaster"]);
        let ids = peers.lines().filter(|l| l.trim() == "runid").count();
        assert_eq!(ids, 2, "sentinel {} peers:\n{peers}", s.port());
    }
    let info = cli(replica, &["INFO", "replication"]);
    assert_eq!(field(&info, "role"), Some("slave"), "{info}");
    assert_eq!(cli(master, &["SET", "sentinel-key", "v1"]), "OK");
    let replicated = cli(master, &["WAIT", "1", "5000"]);
    assert_eq!(replicated, "1", "WAIT for the replica");
    assert_eq!(cli(replica, &["GET", "sentinel-key"]), "v1");

    must(setup.stop_master(), "stopping the master");
    let stopped = Instant::now();
    let new = must(
        setup.wait_for_failover(Duration::from_secs(15)),
        "failover after stopping the master",
    );
    let took = stopped.elapsed();
    eprintln!("failover took {took:?} (total {:?})", t0.elapsed());
    assert_eq!(new, replica, "the old replica is promoted");
    assert!(took < Duration::from_secs(15), "failover took {took:?}");
    let info = cli(new, &["INFO", "replication"]);
    assert_eq!(field(&info, "role"), Some("master"), "{info}");
    assert_eq!(cli(new, &["GET", "sentinel-key"]), "v1", "data survives");
    assert_eq!(
        cli(new, &["SET", "sentinel-key", "v2"]),
        "OK",
        "new master takes writes"
    );
    assert_eq!(
        must(setup.current_master_port(), "asking a sentinel"),
        replica
    );
}

#[test]
fn tls_server_answers_over_tls_and_refuses_plaintext() {
    let t0 = Instant::now();
    let server = must(RedisTlsServer::start(), "starting a TLS redis-server");
    eprintln!("TLS server up in {:?}", t0.elapsed());
    let port = server.port();
    assert_eq!(server.url(), format!("rediss://127.0.0.1:{port}"));
    assert!(server.ca_cert_path().is_file());
    assert_eq!(must(server.cli(&["PING"]), "PING over TLS"), "PONG");
    assert_eq!(must(server.cli(&["SET", "tls-key", "v"]), "SET"), "OK");
    assert_eq!(must(server.cli(&["GET", "tls-key"]), "GET"), "v");
    let info = must(server.cli(&["CONFIG", "GET", "port"]), "CONFIG GET port");
    assert_eq!(
        info.lines().nth(1),
        Some("0"),
        "no plaintext listener: {info}"
    );

    // The certificate chains to the CA and is valid for 127.0.0.1 and localhost.
    let (ca, cert) = (server.ca_cert_path(), server.cert_path());
    for check in [
        ["-verify_ip", "127.0.0.1"],
        ["-verify_hostname", "localhost"],
    ] {
        let out = must(
            Command::new("openssl")
                .args(["verify", "-purpose", "sslserver", "-CAfile"])
                .arg(&ca)
                .args(check)
                .arg(&cert)
                .output(),
            "running openssl verify",
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "openssl verify {check:?}: {text}");
    }

    // Plaintext RESP on the TLS port gets no reply: the server drops the client.
    let mut stream = must(TcpStream::connect(("127.0.0.1", port)), "plain connect");
    must(
        stream.set_read_timeout(Some(Duration::from_secs(5))),
        "timeout",
    );
    must(stream.write_all(b"*1\r\n$4\r\nPING\r\n"), "plain write");
    let mut reply = Vec::new();
    let read = stream.read_to_end(&mut reply);
    let text = String::from_utf8_lossy(&reply);
    assert!(!text.contains("PONG"), "plaintext got {text:?}");
    let waited = matches!(&read, Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut));
    assert!(
        !waited,
        "a plaintext client should be dropped at once: {read:?}"
    );
    let plain = redis_cli(["-h", "127.0.0.1", "-p", &port.to_string(), "PING"]);
    assert!(plain.is_err(), "plaintext redis-cli got {plain:?}");
}
