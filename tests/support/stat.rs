//! `prism stat --json` as the tests run it: started on some namespaces,
//! stopped with a signal, its intervals summed.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    process::{Child, ChildStdout, Stdio},
};

use serde_json::Value;

use super::{bpf_program_ids, prism, programs_outlive};

/// Starts `prism stat --json --high RULE` on `namespaces` (all when empty)
/// and waits until it is attached.
pub fn start(namespaces: &[String], rule: &str) -> (Child, BufReader<ChildStdout>) {
    let mut args = vec!["stat", "--json", "--interval", "500ms", "--high", rule];
    for ns in namespaces {
        args.extend(["--netns", ns.as_str()]);
    }
    let mut child = prism()
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut banner)
        .unwrap();
    assert!(banner.starts_with("prism stat: "), "{banner}");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    (child, stdout)
}

/// Stops `prism stat` with `signal` and returns its JSON lines; checks
/// that it held its programs and that none outlives it.
pub fn stop(
    mut child: Child,
    stdout: BufReader<ChildStdout>,
    signal: nix::sys::signal::Signal,
) -> Vec<Value> {
    let pid = child.id();
    let programs = bpf_program_ids(pid);
    assert!(
        programs.len() >= 12,
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
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
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

/// The receive end-to-end count of the high class over all intervals.
pub fn receive_total_high(lines: &[Value]) -> u64 {
    lines
        .iter()
        .flat_map(|l| l["receive_total"].as_array().cloned().unwrap_or_default())
        .filter(|r| r["class"] == "high")
        .map(|r| r["latency"]["count"].as_u64().unwrap_or(0))
        .sum()
}
