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

use support::{Disable, Lab, prism, run, run_ok, turn};

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

/// This test's turn on the machine, from a clean slate, with its own lab;
/// dropped, the datapath goes off before the next test's turn.
struct Machine {
    /// Declared before the `Tmux`: it drops after `top` is gone.
    _off: Disable,
    _turn: std::sync::MutexGuard<'static, ()>,
    lab: Lab,
}

impl Machine {
    fn take(tag: &str) -> Self {
        let lab = Lab::up(tag);
        let machine = Machine {
            _turn: turn(),
            _off: Disable,
            lab,
        };
        assert!(
            wait_until_unloaded(),
            "start from a clean slate: {:?}",
            prism_programs_loaded()
        );
        machine
    }
}

/// The lab's prober (and, with `tcp`, bulk streams) for `seconds`.
fn traffic(lab: &Lab, scenario: &str, seconds: u32) -> Traffic {
    Traffic(
        prism()
            .args(["lab", "run", scenario, "--rounds", "1", "--duration"])
            .arg(format!("{seconds}s"))
            .args(["--name", &lab.name])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the lab's traffic"),
    )
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

/// Files a `top` run in the pane leaves: the terminal's settings before and
/// after, its stderr, and a marker once the shell has it back.
struct Run {
    dir: tempfile::TempDir,
}

impl Run {
    /// Types into the pane: `stty -a`, `prism top ARGS`, `stty -a`, done.
    fn start(tmux: &Tmux, lab: &Lab, args: &str, env: &str) -> Self {
        let run = Run {
            dir: tempfile::tempdir().unwrap(),
        };
        let bin = env!("CARGO_BIN_EXE_prism");
        let ns: Vec<String> = lab
            .namespaces()
            .iter()
            .map(|n| format!("--netns {n}"))
            .collect();
        tmux.type_text(&format!(
            "stty -a > {before}; {env} {bin} top {ns} {args} 2> {err}; stty -a > {after}; echo done > {done}",
            ns = ns.join(" "),
            before = run.file("before").display(),
            after = run.file("after").display(),
            err = run.file("stderr").display(),
            done = run.file("done").display(),
        ));
        tmux.press(&["Enter"]);
        run
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Waits for the shell to get the terminal back; returns top's stderr
    /// after checking the terminal's settings are as they were.
    fn finished(&self) -> String {
        wait_file(&self.file("done"), Duration::from_secs(30));
        assert_eq!(
            std::fs::read_to_string(self.file("before")).unwrap(),
            std::fs::read_to_string(self.file("after")).unwrap(),
            "the terminal's settings are restored"
        );
        std::fs::read_to_string(self.file("stderr")).unwrap()
    }
}

/// Waits until the stage table shows numbers.
fn wait_for_numbers(tmux: &Tmux) -> String {
    tmux.wait_for("the stage numbers", Duration::from_secs(60), |s| {
        s.contains("prism top") && s.lines().any(|l| l.contains("total") && pairs(l) >= 1)
    })
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
    let machine = Machine::take("top");
    let lab = &machine.lab;
    let traffic = traffic(lab, "tcp", 90);
    let tmux = Tmux::start("top");
    let run = Run::start(&tmux, lab, "", "");

    // 1-2. Numbers appear (every packet is low until there is a rule).
    wait_for_numbers(&tmux);

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
    let stderr = run.finished();
    drop(traffic);
    assert!(stderr.contains("back as it was (off)"), "stderr: {stderr}");
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

#[test]
fn top_leaves_a_datapath_it_found_enabled_as_it_was() {
    let machine = Machine::take("topon");
    let lab = &machine.lab;
    let _traffic = traffic(lab, "idle", 90);
    let mut enable = vec![
        "enable".to_string(),
        "--high".into(),
        "udp port 7777".into(),
    ];
    for ns in &lab.namespaces()[..2] {
        enable.extend(["--netns".into(), ns.clone()]);
    }
    run_ok(&enable.iter().map(String::as_str).collect::<Vec<_>>());
    let before = datapath_state();
    let tmux = Tmux::start("topon");

    // Unchanged: q leaves at once, without a question, and says nothing.
    let run = Run::start(&tmux, lab, "", "");
    let screen = wait_for_numbers(&tmux);
    assert!(
        screen.contains("datapath ON sync") && screen.contains("1 rule"),
        "{screen}"
    );
    tmux.press(&["q"]);
    let stderr = run.finished();
    assert!(stderr.is_empty(), "stderr: {stderr}");
    assert_eq!(datapath_state(), before, "the datapath as it was");

    // SIGTERM: no one to ask; the terminal comes back all the same.
    let run = Run::start(&tmux, lab, "--interval 200ms", "");
    wait_for_numbers(&tmux);
    let top = prism_pids("top");
    assert_eq!(top.len(), 1, "one prism top runs: {top:?}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(top[0]),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    run.finished();
    assert_eq!(datapath_state(), before, "the datapath as it was");
    run_ok(&["disable"]);
    assert!(wait_until_unloaded(), "{:?}", prism_programs_loaded());
}

/// `prism status --json` without the counters (traffic moves them).
fn datapath_state() -> serde_json::Value {
    let mut status: serde_json::Value =
        serde_json::from_str(&run_ok(&["status", "--json"])).unwrap();
    status.as_object_mut().unwrap().remove("counters");
    for host in status["hosts"].as_array_mut().unwrap() {
        host.as_object_mut().unwrap().remove("counters");
    }
    status
}

/// PIDs of `prism SUBCOMMAND` processes.
fn prism_pids(subcommand: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            args.len() > 1 && args[0].ends_with(b"/prism") && args[1] == subcommand.as_bytes()
        })
        .collect()
}

#[test]
fn a_panic_gives_the_terminal_back_and_leaves_nothing_loaded() {
    let machine = Machine::take("toppanic");
    let lab = &machine.lab;
    let tmux = Tmux::start("toppanic");
    // The debug build panics on F12 when asked to (see top/mod.rs).
    let run = Run::start(&tmux, lab, "", "PRISM_TOP_TEST_PANIC=1");
    // Attached (the stage table is up), so there is something to detach.
    tmux.wait_for("the stage table", Duration::from_secs(60), |s| {
        s.contains("│receive") && s.contains("│transmit")
    });
    tmux.press(&["F12"]);
    let stderr = run.finished();
    assert!(
        stderr.contains("F12 pressed"),
        "the panic message is readable: {stderr}"
    );
    assert!(wait_until_unloaded(), "{:?}", prism_programs_loaded());
}

fn dev_weight() -> String {
    std::fs::read_to_string("/proc/sys/net/core/dev_weight")
        .unwrap()
        .trim()
        .to_string()
}

/// Puts back whatever `prism tune` saved, also when the test fails before
/// `top` could (a killed pane leaves the knobs as set, by design).
struct RestoreKnobs;

impl Drop for RestoreKnobs {
    fn drop(&mut self) {
        let _ = run(&["tune", "restore"]);
    }
}

#[test]
fn the_tune_panel_changes_a_knob_compares_it_and_puts_it_back_on_quit() {
    let machine = Machine::take("toptune");
    let lab = &machine.lab;
    // From the kernel's values, and back to them whatever happens.
    run_ok(&["tune", "restore"]);
    let _restore = RestoreKnobs;
    let _traffic = traffic(lab, "idle", 90);
    let before = dev_weight();
    let tmux = Tmux::start("toptune");
    let run = Run::start(&tmux, lab, "", "");
    wait_for_numbers(&tmux);

    // The panel lists the sysctls and the lab hosts' devices.
    tmux.press(&["t"]);
    let screen = tmux.wait_for("the tune panel", Duration::from_secs(10), |s| {
        s.contains("receive knobs") && s.contains("net.core.dev_weight")
    });
    assert!(screen.contains(":eth0/threaded"), "{screen}");
    // net.core.dev_weight is the third.
    tmux.press(&["Down", "Down", "Enter"]);
    tmux.wait_for("the value editor", Duration::from_secs(5), |s| {
        s.contains(&format!("new value: {before}"))
    });
    for _ in 0..before.len() {
        tmux.press(&["BSpace"]);
    }
    // Refused with the reason, then a value the kernel takes.
    tmux.type_text("0");
    tmux.press(&["Enter"]);
    tmux.wait_for("the refusal", Duration::from_secs(5), |s| {
        s.contains("is not a whole number from 1")
    });
    tmux.press(&["BSpace"]);
    tmux.type_text("16");
    tmux.press(&["Enter"]);
    let compare = tmux.wait_for(
        "the change and the compare view",
        Duration::from_secs(10),
        |s| {
            s.contains("compare · baseline")
                && s.contains(&format!("net.core.dev_weight {before} -> 16"))
        },
    );
    assert_eq!(dev_weight(), "16", "{compare}");

    // Leaving asks, and r puts the knob back.
    tmux.press(&["q"]);
    tmux.wait_for("the question on leaving", Duration::from_secs(5), |s| {
        s.contains("Knobs changed: net.core.dev_weight=16")
    });
    tmux.press(&["r"]);
    let stderr = run.finished();
    assert!(stderr.contains("knobs put back"), "stderr: {stderr}");
    assert_eq!(dev_weight(), before);
    let listed = run_ok(&["tune", "list", "--json"]);
    assert!(!listed.contains("\"saved\": \""), "nothing stays saved");
}
