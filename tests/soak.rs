//! A bounded soak under churn (`PRISM_SOAK_SECS`, 120 s by default, as CI
//! runs it). While it lasts:
//! - containers come and go on host 2 every second (addresses reused);
//! - the rule map changes about 100 times a second;
//! - the datapath is enabled with `--watch`, probed, and then the watcher
//!   is killed (SIGKILL or SIGINT), a one-shot `enable` is killed with
//!   SIGKILL at a random point, and `disable` runs, in a loop;
//! - `prism stat` and `prism metrics` (scraped) stay attached.
//!
//! Checked: nothing crashes; every probe datagram to a live container comes
//! back from it (a misrouted one would not); the attached tools' file
//! descriptors and memory stay flat; after the last `disable` no pin, state
//! file, program or map of Prism's is left.

mod support;

use std::{
    collections::VecDeque,
    io::{BufRead, BufReader},
    net::Ipv4Addr,
    process::{Child, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use nix::sys::signal::{Signal, kill};
use prism_rules::RuleSet;
use support::{
    Lab,
    extra::add_to_host2,
    prism, probe_udp,
    process::{Reaped, free_port},
    run, run_ok, turn,
};

fn soak_duration() -> Duration {
    let secs = std::env::var("PRISM_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    Duration::from_secs(secs)
}

/// xorshift: the kill points, reproducible from the printed seed.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn signal(child: &Child, s: Signal) {
    let _ = kill(nix::unistd::Pid::from_raw(child.id() as i32), s);
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Programs and maps loaded in the kernel, by anyone.
fn loaded() -> (usize, usize) {
    (
        aya::programs::loaded_programs().count(),
        aya::maps::loaded_maps().count(),
    )
}

fn enabled() -> bool {
    let out = run(&["status", "--json"]);
    serde_json::from_slice::<serde_json::Value>(&out.stdout).is_ok_and(|s| s["enabled"] == true)
}

fn wait_for(what: &str, limit: Duration, ok: impl Fn() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "{what}: not after {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn scrape(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.starts_with("HTTP/1.0 200") || body.starts_with("HTTP/1.1 200")
}

#[test]
fn a_bounded_soak_under_churn_crashes_leaks_and_misroutes_nothing() {
    let _turn = turn();
    let duration = soak_duration();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("soak: {duration:?}, seed {seed}");
    let mut random = Random(seed);
    let before = loaded();
    let lab = Lab::up("soak");
    let topo = lab.topology();
    let scope: Vec<String> = lab
        .namespaces()
        .into_iter()
        .flat_map(|ns| ["--netns".to_string(), ns])
        .collect();
    let high = ["--high", "udp port 7777"];

    // The tools that stay attached all along.
    let mut stat = Reaped(
        prism()
            .args(["stat", "--interval", "5s", "--json"])
            .args(high)
            .args(&scope)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let lines = Arc::new(AtomicU64::new(0));
    let stat_out = BufReader::new(stat.0.stdout.take().unwrap());
    let counted = lines.clone();
    let drain = std::thread::spawn(move || {
        for _ in stat_out.lines().map_while(Result::ok) {
            counted.fetch_add(1, Ordering::Relaxed);
        }
    });
    let port = free_port();
    let mut metrics = Reaped(
        prism()
            .args(["metrics", "--listen", &format!("127.0.0.1:{port}")])
            .args(high)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("metrics serving", Duration::from_secs(30), || scrape(port));
    std::thread::sleep(Duration::from_secs(2));
    let start = [stat.0.id(), metrics.0.id()].map(|p| (fds(p), rss_kib(p)));

    let stop = Arc::new(AtomicBool::new(false));
    // Containers come and go on host 2, every second.
    let live: Arc<Mutex<VecDeque<(String, Ipv4Addr, Instant)>>> = Arc::default();
    let churn = {
        let (stop, live, name, topo) = (stop.clone(), live.clone(), lab.name.clone(), topo.clone());
        std::thread::spawn(move || {
            let mut kept = VecDeque::new();
            let mut added = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let c = add_to_host2(&name, &topo, &format!("s{added}"), 10 + (added % 40) as u8);
                live.lock()
                    .unwrap()
                    .push_back((c.netns.clone(), c.ip, Instant::now()));
                kept.push_back(c);
                if kept.len() > 3 {
                    live.lock().unwrap().pop_front();
                    kept.pop_front(); // dropped: its namespace goes
                }
                added += 1;
                std::thread::sleep(Duration::from_secs(1));
            }
            added
        })
    };
    // The rule map changes about 100 times a second.
    let rules = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let extra = RuleSet::parse(&["udp port 9999"]).unwrap();
            let (mut changed, mut failed) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                for add in [true, false] {
                    let r = if add {
                        prism_datapath::control::add_rules(extra.rules())
                    } else {
                        prism_datapath::control::delete_rules(extra.rules())
                    };
                    match r {
                        Ok(Some(_)) => changed += 1,
                        Ok(None) => {}
                        // An enable or disable rewrote the map meanwhile.
                        Err(_) => failed += 1,
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            (changed, failed)
        })
    };

    let logs = tempfile::tempdir().unwrap();
    let watch_log = logs.path().join("watch.log");
    let deadline = Instant::now() + duration;
    let (mut cycles, mut sent, mut lost, mut probes, mut scrapes) = (0, 0, 0, 0, 0);
    while Instant::now() < deadline {
        let mut watch = Reaped(
            prism()
                .arg("enable")
                .arg("--watch")
                .args(high)
                .args(&scope)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&watch_log).unwrap())
                .spawn()
                .unwrap(),
        );
        let up = Instant::now();
        while !enabled() {
            assert!(
                up.elapsed() < Duration::from_secs(30) && watch.0.try_wait().unwrap().is_none(),
                "cycle {cycles}: enable --watch did not enable: {}",
                std::fs::read_to_string(&watch_log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // Give the watcher a moment to take in the newest container.
        std::thread::sleep(Duration::from_millis(700));
        let newest = live
            .lock()
            .unwrap()
            .back()
            .filter(|c| c.2.elapsed() > Duration::from_millis(500))
            .cloned();
        let c2 = &topo.sides[1];
        let mut targets = vec![(c2.container_ns.clone(), c2.overlay_ip)];
        targets.extend(newest.map(|(ns, ip, _)| (ns, ip)));
        for (ns, ip) in targets {
            let r = probe_udp(
                &topo.sides[0].container_ns,
                &ns,
                ip,
                Duration::from_millis(700),
                300,
            );
            sent += r.sent;
            lost += r.lost;
            probes += 1;
            assert_eq!(
                r.lost, 0,
                "cycle {cycles}: {} of {} lost to {ns} ({ip})",
                r.lost, r.sent
            );
        }
        if scrape(port) {
            scrapes += 1;
        }
        // The watcher dies, cleanly or not.
        let watch_signal = if random.below(2) == 0 {
            Signal::SIGKILL
        } else {
            Signal::SIGINT
        };
        signal(&watch.0, watch_signal);
        let status = watch.0.wait().unwrap();
        if watch_signal == Signal::SIGINT {
            assert!(status.success(), "enable --watch on SIGINT: {status}");
        }
        // A one-shot enable killed at a random point.
        let one = prism()
            .arg("enable")
            .args(high)
            .args(&scope)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(random.below(600)));
        signal(&one, Signal::SIGKILL);
        let mut one = one;
        let _ = one.wait();
        // Mostly disabled before the next round; sometimes enabled again
        // over what the killed one left.
        if random.below(4) != 0 {
            run_ok(&["disable"]);
        }
        assert!(stat.0.try_wait().unwrap().is_none(), "prism stat died");
        assert!(
            metrics.0.try_wait().unwrap().is_none(),
            "prism metrics died"
        );
        cycles += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let added = churn.join().unwrap();
    let (changed, failed) = rules.join().unwrap();

    // After the last disable nothing of the datapath is left.
    run_ok(&["disable"]);
    assert!(!enabled());
    assert!(!std::path::Path::new("/sys/fs/bpf/prism/datapath").exists());
    assert!(!std::path::Path::new("/run/prism/datapath.json").exists());

    // The attached tools: flat, then a clean exit.
    let end = [stat.0.id(), metrics.0.id()].map(|p| (fds(p), rss_kib(p)));
    for (tool, ((fd0, rss0), (fd1, rss1))) in ["stat", "metrics"].iter().zip(start.iter().zip(&end))
    {
        eprintln!("soak: {tool}: {fd0} -> {fd1} fds, {rss0} -> {rss1} KiB");
        assert!(
            *fd1 <= fd0 + 4,
            "{tool} leaks file descriptors: {fd0} -> {fd1}"
        );
        assert!(
            *rss1 <= rss0 + 16 * 1024,
            "{tool} grows: {rss0} -> {rss1} KiB"
        );
    }
    for child in [&stat.0, &metrics.0] {
        signal(child, Signal::SIGINT);
    }
    assert!(stat.0.wait().unwrap().success());
    assert!(metrics.0.wait().unwrap().success());
    drain.join().unwrap();
    // The programs and maps of everything Prism ran are gone.
    wait_for(
        "Prism's programs and maps unloaded",
        Duration::from_secs(10),
        || {
            let now = loaded();
            now.0 <= before.0 && now.1 <= before.1
        },
    );
    eprintln!(
        "soak: {cycles} cycles, {added} containers added, {changed} rule changes ({failed} raced), \
         {probes} probes: {sent} datagrams, {lost} lost; {} stat intervals, {scrapes} scrapes",
        lines.load(Ordering::Relaxed)
    );
    assert!(
        cycles >= 3 && added >= 5 && changed > 100,
        "too little churn"
    );
}
