//! `prism stat --json` as the tests run it: started on some namespaces,
//! stopped with a signal, its intervals summed.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    process::{Child, Stdio},
    thread::JoinHandle,
};

use serde_json::Value;

use super::{bpf_program_ids, prism, programs_outlive};

/// Starts `prism stat --json --profile full --high RULE` on `namespaces` (all when empty)
/// and waits until it is attached.
/// `prism stat`'s JSON lines, read as they come: a reader that waited until
/// the end would leave stat blocked on a full pipe, deaf to its signal.
pub struct Output(JoinHandle<Vec<String>>);

pub fn start(namespaces: &[String], rule: &str) -> (Child, Output) {
    let (child, stdout, _) = start_with(namespaces, rule, &[]);
    (child, stdout)
}

/// [`start`] with environment variables set for `prism stat`. Also returns
/// what it printed on stderr when attached: the banner and the fallbacks
/// it names (a thread keeps draining the pipe, so later lines never block
/// or fail it).
pub fn start_with(
    namespaces: &[String],
    rule: &str,
    env: &[(&str, &str)],
) -> (Child, Output, String) {
    start_args(namespaces, rule, env, &[])
}

/// [`start_with`] with more options for `prism stat`.
pub fn start_args(
    namespaces: &[String],
    rule: &str,
    env: &[(&str, &str)],
    more: &[&str],
) -> (Child, Output, String) {
    // The full profile: these tests count every packet of both classes.
    let mut args = vec![
        "stat",
        "--json",
        "--interval",
        "500ms",
        "--profile",
        "full",
        "--high",
        rule,
    ];
    for ns in namespaces {
        args.extend(["--netns", ns.as_str()]);
    }
    args.extend(more);
    let mut child = prism()
        .envs(env.iter().copied())
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let banner = rx.recv().unwrap_or_default();
    assert!(banner.starts_with("prism stat: "), "{banner}");
    // What follows the banner at once: the fallbacks.
    let mut said = banner;
    while let Ok(line) = rx.recv_timeout(std::time::Duration::from_millis(200)) {
        said.push('\n');
        said.push_str(&line);
    }
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let lines = std::thread::spawn(move || stdout.lines().map_while(Result::ok).collect());
    (child, Output(lines), said)
}

/// Stops `prism stat` with `signal` and returns its JSON lines; checks
/// that it held its programs and that none outlives it.
pub fn stop(mut child: Child, stdout: Output, signal: nix::sys::signal::Signal) -> Vec<Value> {
    let pid = child.id();
    let programs = bpf_program_ids(pid);
    // 12 hooks; 11 where a boundary has no program (merged stages).
    assert!(
        programs.len() >= 11,
        "stat holds {} programs",
        programs.len()
    );
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal).unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "prism stat ended with {status} on {signal}"
    );
    assert!(
        !programs_outlive(&programs),
        "programs of prism stat outlived it"
    );
    stdout
        .0
        .join()
        .unwrap()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Sums the packet counts of every interval per (direction, stage, class)
/// for the stages present; an absent stage must see no packet.
pub fn totals(lines: &[Value]) -> BTreeMap<(String, String, String), u64> {
    let mut sums = BTreeMap::new();
    for line in lines {
        for row in line["stages"].as_array().unwrap() {
            if row["present"] == false {
                assert_eq!(
                    row["latency"]["count"], 0,
                    "an absent stage saw packets: {row}"
                );
                continue;
            }
            let key = (
                row["direction"].as_str().unwrap().to_string(),
                row["stage"].as_str().unwrap().to_string(),
                row["class"].as_str().unwrap().to_string(),
            );
            *sums.entry(key).or_default() += row["latency"]["count"].as_u64().unwrap();
        }
    }
    sums
}

/// [`totals`] of each container of `--by container`, by name.
pub fn container_totals(
    lines: &[Value],
) -> BTreeMap<String, BTreeMap<(String, String, String), u64>> {
    let mut by_name: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for line in lines {
        for c in line["containers"].as_array().into_iter().flatten() {
            by_name
                .entry(c["name"].as_str().unwrap().to_string())
                .or_default()
                .push(serde_json::json!({ "stages": c["stages"] }));
        }
    }
    by_name
        .into_iter()
        .map(|(name, lines)| (name, totals(&lines)))
        .collect()
}

/// The receive end-to-end count of the high class over all intervals.
pub fn receive_total_high(lines: &[Value]) -> u64 {
    lines
        .iter()
        .flat_map(|l| l["receive_total"].as_array().cloned().unwrap_or_default())
        .filter(|r| r["class"] == "high")
        .map(|r| r["latency"]["count"].as_u64().unwrap_or(0))
        .sum()
}
