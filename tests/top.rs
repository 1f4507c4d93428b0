//! `prism top` end to end, as a user drives it: in a tmux pane on the lab
//! under TCP bulk traffic, add a rule, enable the datapath, take a
//! baseline, open the compare view, and leave restoring the datapath. The
//! terminal must come back exactly as it was, and nothing may stay loaded.

mod support;

use std::{
    path::{Path, PathBuf},
    process::{Child, Command},
    time::{Duration, Instant},
};

use support::{Lab, prism, run_ok};

/// A private tmux server (its own socket) with one 120x40 shell pane;
/// killed when dropped, so a failing test leaves no server behind.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(tag: &str) -> Self {
        let tmux = Tmux {
            socket: format!("prism-test-{tag}-{}", std::process::id()),
        };
        tmux.cmd(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "120",
            "-y",
            "40",
            "bash --norc --noprofile",
        ]);
        tmux
    }

    fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("run tmux (scripts/setup installs it)");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types `text` literally.
    fn type_text(&self, text: &str) {
        self.cmd(&["send-keys", "-t", "t", "-l", text]);
    }

    /// Presses named keys (`Enter`, `Escape`, `q`).
    fn press(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend(keys);
        self.cmd(&args);
    }

    fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-t", "t"])
    }

    /// Waits until the screen satisfies `ok`; panics with the screen if it
    /// does not within `limit`.
    fn wait_for(&self, what: &str, limit: Duration, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < limit,
                "waited {limit:?} for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

/// Background traffic that ends with the test.
struct Traffic(Child);

impl Drop for Traffic {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        );
        let _ = self.0.wait();
    }
}

/// The line of the stage table that starts with `name` (first match).
fn stage_line<'a>(screen: &'a str, name: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.trim_start_matches('│').starts_with(name))
        .unwrap_or_else(|| panic!("no {name} line on the screen:\n{screen}"))
}

/// p50/p99 pairs on a line ("1.4µs/53µs"): one per class that has numbers.
fn pairs(line: &str) -> usize {
    line.split_whitespace()
        .filter(|w| w.contains('/') && (w.contains("µs") || w.contains("ms")))
        .count()
}

fn wait_file(path: &Path, limit: Duration) -> String {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(text) = std::fs::read_to_string(path) {
            return text;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{} did not appear within {limit:?}", path.display());
}

fn prism_programs_loaded() -> Vec<String> {
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .filter_map(|p| p.name_as_str().map(String::from))
        .filter(|n| n.starts_with("prism"))
        .collect()
}

#[test]
fn top_adds_a_rule_enables_baselines_compares_and_restores() {
    let lab = Lab::up("top");
    assert!(
        prism_programs_loaded().is_empty(),
        "start from a clean slate"
    );
    let traffic = Traffic(
        prism()
            .args([
                "lab",
                "run",
                "tcp",
                "--rounds",
                "1",
                "--duration",
                "90s",
                "--name",
                &lab.name,
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the lab's bulk traffic"),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = |n: &str| -> PathBuf { dir.path().join(n) };
    let tmux = Tmux::start("top");
    let bin = env!("CARGO_BIN_EXE_prism");
    tmux.type_text(&format!(
        "stty -a > {before}; {bin} top --netns {lab}-h1 --netns {lab}-h2 --netns {lab}-c1 --netns {lab}-c2 2> {err}; stty -a > {after}; echo done > {done}",
        before = file("before").display(),
        after = file("after").display(),
        err = file("stderr").display(),
        done = file("done").display(),
        lab = lab.name,
    ));
    tmux.press(&["Enter"]);

    // 1-2. Numbers appear (every packet is low until there is a rule).
    tmux.wait_for("the low class's numbers", Duration::from_secs(60), |s| {
        s.contains("prism top") && s.lines().any(|l| l.contains("total") && pairs(l) >= 1)
    });

    // 3. A rule in the editor, the datapath on, a baseline.
    tmux.press(&["r"]);
    tmux.wait_for("the rule editor", Duration::from_secs(5), |s| {
        s.contains("high-priority rules")
    });
    tmux.type_text("udp port 7777");
    tmux.wait_for("the rule to validate", Duration::from_secs(5), |s| {
        s.contains("udp port 7777▏ ✓")
    });
    tmux.press(&["Enter", "Escape"]);
    tmux.wait_for("the rule to be added", Duration::from_secs(10), |s| {
        s.contains("1 rule") && s.contains("rule 'udp port 7777' added")
    });
    tmux.press(&["e"]);
    tmux.wait_for("the datapath to be enabled", Duration::from_secs(30), |s| {
        s.contains("datapath ON sync") && s.contains("datapath enabled")
    });
    // A few intervals of the fast path, then the baseline.
    std::thread::sleep(Duration::from_secs(4));
    tmux.press(&["b"]);

    // 4. Enabled, and the high class has numbers on its (fast) path.
    let screen = tmux.wait_for("the high class's numbers", Duration::from_secs(20), |s| {
        s.contains("baseline taken") && pairs(stage_line(s, "total")) == 2
    });
    assert!(screen.contains("datapath ON sync"), "{screen}");
    assert!(
        pairs(stage_line(&screen, "fast")) >= 1,
        "the fast stage is timed:\n{screen}"
    );
    assert!(
        screen.contains("fast-pathed"),
        "the counters show:\n{screen}"
    );
    let status = run_ok(&["status", "--json"]);
    assert!(status.contains("\"enabled\": true"), "{status}");

    // 5. The compare view.
    tmux.press(&["c"]);
    let compare = tmux.wait_for("the compare view", Duration::from_secs(5), |s| {
        s.contains("compare · baseline") && s.contains("receive total")
    });
    assert!(compare.contains("datapath sync"), "{compare}");

    // 6. Leave: top asks, because the datapath was off when it started.
    tmux.press(&["q"]);
    tmux.wait_for("the question on leaving", Duration::from_secs(5), |s| {
        s.contains("leave prism top") && s.contains("restore it (off)")
    });
    tmux.press(&["r"]);
    wait_file(&file("done"), Duration::from_secs(30));
    drop(traffic);

    let stderr = std::fs::read_to_string(file("stderr")).unwrap();
    assert!(stderr.contains("back as it was (off)"), "stderr: {stderr}");
    assert_eq!(
        std::fs::read_to_string(file("before")).unwrap(),
        std::fs::read_to_string(file("after")).unwrap(),
        "the terminal's settings are restored"
    );
    let status = run_ok(&["status", "--json"]);
    assert!(status.contains("\"enabled\": false"), "{status}");
    assert!(
        wait_until_unloaded(),
        "no Prism program stays loaded: {:?}",
        prism_programs_loaded()
    );
}

/// The kernel frees programs after an RCU grace period.
fn wait_until_unloaded() -> bool {
    for _ in 0..100 {
        if prism_programs_loaded().is_empty() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
