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
    for args in [
        vec!["--help"],
        vec!["doctor", "--help"],
        vec!["lab", "up", "--help"],
        vec!["lab", "down", "--help"],
        vec!["lab", "status", "--help"],
        vec!["lab", "run", "--help"],
    ] {
        let help = run_ok(&args);
        assert!(
            help.contains("Examples:"),
            "{args:?} has no examples:\n{help}"
        );
    }
}

#[test]
fn unprivileged_users_get_one_clear_line() {
    for args in [["doctor"].as_slice(), &["lab", "up"], &["lab", "down"]] {
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
