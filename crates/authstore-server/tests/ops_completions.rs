//! `authstore completions SHELL` and `authstore man [--out-dir DIR]` run as the real binary.

use std::process::Output;

mod ops_support;

fn run(args: &[&str]) -> Output {
    ops_support::authstore().args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the binary and returns its standard output, failing on a non-zero exit.
fn stdout_of(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "authstore {args:?} exited {:?}: {}",
        out.status,
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn bash_completions_name_the_subcommands_and_parse() {
    let script = stdout_of(&["completions", "bash"]);
    for word in ["serve", "keys", "rotate", "--store"] {
        assert!(
            script.contains(word),
            "bash completions lack {word}:\n{script}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("authstore.bash");
    std::fs::write(&path, &script).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .expect("bash runs");
    assert!(
        check.status.success(),
        "bash -n rejects the completion script: {}",
        text(&check.stderr)
    );
    // Sourced, it registers a completion function for the command.
    let sourced = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && complete -p authstore",
            path.display()
        ))
        .output()
        .expect("bash runs");
    assert!(
        sourced.status.success(),
        "sourcing the script registers no completion for authstore: {}",
        text(&sourced.stderr)
    );
    assert!(
        text(&sourced.stdout).contains("authstore"),
        "{}",
        text(&sourced.stdout)
    );
}

#[test]
fn zsh_completions_start_with_compdef() {
    let script = stdout_of(&["completions", "zsh"]);
    assert!(
        script.starts_with("#compdef authstore"),
        "zsh completions start with {:?}",
        script.lines().next()
    );
    assert!(script.contains("serve"), "{script}");
}

#[test]
fn every_supported_shell_gets_a_script_naming_serve() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = stdout_of(&["completions", shell]);
        assert!(
            script.contains("serve") && script.contains("authstore"),
            "{shell} completions name neither serve nor authstore:\n{script}"
        );
    }
}

#[test]
fn an_unknown_shell_is_bad_usage() {
    let out = run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("tcsh") && stderr.contains("bash"),
        "{stderr}"
    );
}

#[test]
fn man_prints_the_roff_page_with_its_subcommands() {
    let page = stdout_of(&["man"]);
    assert!(
        page.lines().any(|line| line.starts_with(".TH authstore 1")),
        "no .TH line:\n{page}"
    );
    assert!(page.contains(".SH SUBCOMMANDS"), "{page}");
    assert!(page.contains("authstore\\-serve(1)"), "{page}");
    assert!(page.contains("Run the authorization server"), "{page}");
}

#[test]
fn man_out_dir_writes_one_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    // A directory that does not exist yet is created.
    let out_dir = dir.path().join("man1");
    let out = run(&["man", "--out-dir", out_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    let top = std::fs::read_to_string(out_dir.join("authstore.1")).unwrap();
    assert!(top.contains(".TH authstore 1"), "{top}");
    let serve = std::fs::read_to_string(out_dir.join("authstore-serve.1")).unwrap();
    assert!(serve.contains(".TH authstore-serve 1"), "{serve}");
    assert!(serve.contains("\\-\\-listen"), "{serve}");
    for nested in ["authstore-keys-rotate.1", "authstore-user-add.1"] {
        assert!(out_dir.join(nested).is_file(), "{nested} missing");
    }
}
