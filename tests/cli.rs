//! The command line as a user meets it: help, bad input, missing privileges.

mod support;

use support::{run, run_ok, run_unprivileged};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn unknown_subcommand_is_refused() {
    let out = run(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unrecognized subcommand 'frobnicate'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn every_command_explains_itself_with_examples() {
    // Every (sub)command has a man page, named after its path: walking the
    // pages walks them all, new ones included.
    let man = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../man");
    let mut checked = 0;
    for entry in std::fs::read_dir(&man).expect("man/ exists") {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(path) = name.strip_suffix(".1") else {
            continue;
        };
        let mut args: Vec<&str> = path.split('-').skip(1).collect();
        args.push("--help");
        let help = run_ok(&args);
        assert!(
            help.contains("Examples:"),
            "{args:?} has no examples:\n{help}"
        );
        checked += 1;
    }
    assert!(checked > 10, "only {checked} man pages");
}

#[test]
fn unprivileged_users_get_one_clear_line() {
    for args in [
        ["doctor"].as_slice(),
        &["lab", "up"],
        &["lab", "down"],
        &["top"],
    ] {
        let out = run_unprivileged(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("prism: error: ") && err.contains("run it as root"),
            "{err}"
        );
    }
}

#[test]
fn lab_down_with_nothing_up_succeeds_and_says_so() {
    support::require_root();
    let out = run_ok(&["lab", "down", "--name", &support::unique_name("none")]);
    assert!(out.contains("nothing to do"), "{out}");
}

#[test]
fn bad_lab_parameters_are_refused_before_anything_is_built() {
    support::require_root();
    let name = support::unique_name("bad");
    for (args, says) in [
        (vec!["lab", "up", "--name", "a b"], "lab name"),
        (vec!["lab", "up", "--name", &name, "--vni", "0"], "VNI 0"),
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
    }
    assert!(support::namespaces_named(&name).is_empty());
    let out = run(&["lab", "run", "--name", &name]);
    assert!(stderr(&out).contains("no lab named"), "{}", stderr(&out));
}

#[test]
fn bad_datapath_parameters_are_refused_as_usage_errors() {
    for (args, says) in [
        (
            vec!["enable", "--high", "udp", "port", "1", "--dscp", "bogus"],
            "bogus is not a DSCP value",
        ),
        (
            vec!["enable", "--high", "udp", "port", "1", "--mode", "fast"],
            "invalid value 'fast'",
        ),
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
    }
}

/// Committed completions, by shell: what `scripts/gen-docs` writes.
const COMPLETIONS: [(&str, &str); 4] = [
    ("bash", "prism.bash"),
    ("zsh", "_prism"),
    ("fish", "prism.fish"),
    ("elvish", "prism.elv"),
];

fn repo_file(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

#[test]
fn committed_man_pages_and_completions_are_up_to_date() {
    let stale = "is out of date: run scripts/gen-docs and commit the result";
    let dir = std::env::temp_dir().join(format!("prism-man-{}", std::process::id()));
    run_ok(&["man", dir.to_str().unwrap()]);
    let mut generated: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    generated.sort();
    let mut committed: Vec<_> = std::fs::read_dir(repo_file("man"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    committed.sort();
    assert_eq!(generated, committed, "the set of man pages {stale}");
    for name in &generated {
        let fresh = std::fs::read(dir.join(name)).unwrap();
        let old = std::fs::read(repo_file("man").join(name)).unwrap();
        assert!(fresh == old, "man/{} {stale}", name.to_string_lossy());
    }
    std::fs::remove_dir_all(&dir).unwrap();
    for (shell, file) in COMPLETIONS {
        let fresh = run_ok(&["completions", shell]);
        let old = std::fs::read_to_string(repo_file("completions").join(file)).unwrap();
        assert!(fresh == old, "completions/{file} {stale}");
    }
}

#[test]
fn bash_completes_subcommands_from_the_committed_script() {
    let script = repo_file("completions").join("prism.bash");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            r#"source {}; COMP_WORDS=(prism en); COMP_CWORD=1; COMP_LINE="prism en"; COMP_POINT=8; _prism prism en prism; echo "${{COMPREPLY[@]}}""#,
            script.display()
        ))
        .output()
        .expect("run bash");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "enable",
        "{}",
        stderr(&out)
    );
}
