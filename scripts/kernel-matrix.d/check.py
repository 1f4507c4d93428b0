#!/usr/bin/env python3
"""Judges one guest's console log from scripts/kernel-matrix.

    check.py LOG EXPECTED_TC_MECHANISM

The guest (kernel-matrix.d/init) prints `RESULT step status` and
`DATA name base64` lines. This checks, with the lab tests' packet-exact
counts, that on this kernel:
  - doctor exits 0, every main function works, and what it says is what
    the commands then do (the profilers' mechanism and fallbacks, the
    datapath's attach mechanism);
  - the BPF_PROG_TEST_RUN datapath tests pass;
  - `stat` counts every prober packet at every stage, both directions;
  - `enable --auto` fast-paths every prober packet both ways, attached
    with the expected mechanism;
  - after `disable` no Prism program, filter, link or clsact qdisc is left.
Prints one summary line per check; exits 1 if any failed.
"""

import base64
import json
import re
import sys
from collections import defaultdict

# The stages every kernel of the matrix has, per direction (none merged).
RECEIVE = ["nic", "vxlan", "gro_cell", "bridge", "backlog", "stack", "socket"]
TRANSMIT = ["veth", "backlog", "bridge", "encap", "wire"]
OUR_PROGRAMS = re.compile(r"\bprism_(rx|rx_sandbox|tx|steer)\b")


def parse(log):
    results, data, uptimes = {}, {}, []
    for line in log.splitlines():
        line = line.replace("\r", "")
        m = re.search(r"RESULT (\S+) (-?\d+)(?: ([\d.]+))?", line)
        if m:
            results[m.group(1)] = int(m.group(2))
            if m.group(3):
                uptimes.append((m.group(1), float(m.group(3))))
        m = re.search(r"DATA (\S+) ([A-Za-z0-9+/=]*)$", line)
        if m:
            data[m.group(1)] = base64.b64decode(m.group(2)).decode("utf-8", "replace")
    return results, data, uptimes


def both(data, name):
    """A step's stdout and stderr."""
    return data.get(name, "") + data.get(name + ".err", "")


class Checks:
    def __init__(self):
        self.failed = 0

    def check(self, name, ok, detail=""):
        print(f"  {'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}")
        self.failed += 0 if ok else 1
        return ok


def sent_by(run_json):
    run = json.loads(run_json)["runs"][0]
    return run["sent"], run["lost"]


def stage_totals(stat_lines):
    totals, absent = defaultdict(int), set()
    receive_total = 0
    for line in stat_lines:
        for row in line["stages"]:
            key = (row["direction"], row["stage"])
            if not row["present"]:
                absent.add(key)
                continue
            if row["class"] == "high":
                totals[key] += row["latency"]["count"]
        for row in line.get("receive_total") or []:
            if row["class"] == "high":
                receive_total += row["latency"]["count"]
    return totals, absent, receive_total


def attached_hooks(listing):
    """(mechanism, program) of Prism's attachments in `attached`'s output:
    clsact filters as `bpftool net show` lists them, tcx links (BPF link
    type 11) by program id, as `bpftool link show` lists them."""
    names = dict(re.findall(r"^(\d+): sched_cls\s+name (\w+)", listing, re.M))
    hooks = [("clsact", n) for n in re.findall(r"clsact/(?:ingress|egress) (prism_\w+)", listing)]
    hooks += [
        ("tcx", names[p])
        for p in re.findall(r"^\d+: type 11\s+prog (\d+)", listing, re.M)
        if OUR_PROGRAMS.search(names.get(p, ""))
    ]
    return hooks


def fast_counters(status):
    fast = defaultdict(int)
    for row in status["counters"]:
        if row["reason"] == "fast" and row["class"] == "high":
            fast[row["direction"]] += row["packets"]
    return fast


def main():
    log_path, expected_tc = sys.argv[1], sys.argv[2]
    results, data, uptimes = parse(open(log_path, encoding="utf-8", errors="replace").read())
    c = Checks()
    if not c.check("guest finished", "done" in results, f"steps seen: {sorted(results)}"):
        return 1
    print(f"  kernel {data.get('uname', '?').strip()}")
    steps, last = [], 0.0
    for name, t in uptimes:
        steps.append(f"{name} {t - last:.0f}s")
        last = t
    print(f"  guest time {last:.0f}s: {', '.join(steps)}")

    # doctor, and the claims it makes.
    doctor = json.loads(data["doctor"])
    works = {f["commands"]: f["works"] for f in doctor["functions"]}
    c.check("doctor exits 0", results["doctor"] == 0, f"exit {results['doctor']}")
    c.check("doctor: every main function works", all(works.values()), str(works))
    c.check(
        "doctor: datapath attaches with " + expected_tc,
        doctor["datapath_hook"] == f"tc ({expected_tc})",
        str(doctor["datapath_hook"]),
    )
    fallbacks = doctor.get("probe_fallbacks") or []
    print(f"  profilers: {doctor['probe_mechanism']}; fallbacks: {fallbacks or 'none'}")

    # BPF_PROG_TEST_RUN.
    m = re.search(r"test result: (\w+)\. (\d+) passed; (\d+) failed", data["datapath-tests"])
    c.check(
        "datapath programs on crafted packets (BPF_PROG_TEST_RUN)",
        results["datapath-tests"] == 0 and m and m.group(1) == "ok" and int(m.group(2)) > 0,
        m.group(0) if m else both(data, "datapath-tests")[-300:],
    )
    c.check("lab up", results["lab-up"] == 0, " ".join(both(data, "lab-up").strip().splitlines()[-1:]))

    # stat: every prober packet at every stage.
    if c.check("stat ran", results.get("stat") == 0 and data.get("stat"), data.get("stat.err", "")[-300:]):
        sent, lost = sent_by(data["probe-stat"])
        lines = [json.loads(l) for l in data["stat"].splitlines() if l.strip()]
        totals, absent, receive_total = stage_totals(lines)
        want = 2 * sent  # requests and responses
        c.check("prober lost nothing (datapath off)", lost == 0, f"sent {sent}, lost {lost}")
        # The default profile (always-on) does not time nic and counts
        # gro_cell in vxlan: those two are absent (and route: the lab has
        # no routed hop), every other stage exact.
        profile = lines[0].get("profile") if lines else None
        gone = sorted(f"{d} {s}" for d, s in absent if s != "route")
        c.check(
            "stat ran the always-on profile: only nic and gro_cell absent",
            profile == "always-on" and gone == ["rx gro_cell", "rx nic"],
            f"{profile}; absent: {gone}",
        )
        for direction, stages in (("rx", RECEIVE), ("tx", TRANSMIT)):
            counts = {s: totals.get((direction, s)) for s in stages if (direction, s) not in absent}
            bad = {s: n for s, n in counts.items() if n != want}
            c.check(
                f"stat {direction}: every stage counts the {want} prober packets",
                not bad,
                " ".join(f"{s}={n}" for s, n in counts.items()),
            )
        c.check(
            "stat: receive end to end counts them too",
            receive_total == want,
            f"{receive_total} of {want}",
        )
        for direction in ("rx", "tx"):
            fast = totals.get((direction, "fast"), 0)
            c.check(f"stat {direction}: no fast-path packet while off", fast == 0, str(fast))
        # --by container: each lab container counts its half (requests on
        # one side, replies on the other) at a stage before its veth and
        # at one after.
        per = {}
        for line in lines:
            for box in line.get("containers", []):
                for row in box["stages"]:
                    if row["class"] == "high":
                        key = (box["name"], row["direction"], row["stage"])
                        per[key] = per.get(key, 0) + row["latency"]["count"]
        names = sorted({k[0] for k in per})
        for direction, stage in (("rx", "vxlan"), ("rx", "socket"), ("tx", "veth"), ("tx", "wire")):
            counts = [per.get((n, direction, stage), 0) for n in names]
            c.check(
                f"stat --by container {direction} {stage}: the two containers count {sent} each",
                len(names) == 2 and counts == [sent, sent],
                f"{dict(zip(names, counts))}",
            )
        banner = data.get("stat.err", "")
        for f in fallbacks:
            c.check(f"stat names the fallback doctor named: {f}", f in banner)

    # enable --auto: every prober packet fast-pathed both ways.
    if c.check("enable --auto", results.get("enable") == 0, both(data, "enable").strip()[-300:]):
        sent, lost = sent_by(data["probe-enabled"])
        status = json.loads(data["status-enabled"])
        fast = fast_counters(status)
        want = 2 * sent
        c.check("prober lost nothing (datapath on)", lost == 0, f"sent {sent}, lost {lost}")
        c.check("status says attached with " + expected_tc, status.get("attach") == expected_tc, str(status.get("attach")))
        for direction in ("rx", "tx"):
            c.check(
                f"fast path {direction}: every prober packet",
                fast[direction] == want,
                f"{fast[direction]} of {want}",
            )
        hooks = attached_hooks(data["attached-enabled"])
        c.check(
            f"the kernel lists Prism's programs on {expected_tc} hooks only",
            hooks and all(h[0] == expected_tc for h in hooks),
            " ".join("/".join(h) for h in hooks) or "none",
        )

    # disable: nothing left.
    c.check("disable", results["disable"] == 0)
    c.check("status: not enabled", json.loads(data["status-disabled"])["enabled"] is False)
    left = [
        l.strip()
        for l in data["attached-disabled"].splitlines()
        if OUR_PROGRAMS.search(l) or "clsact" in l
    ]
    c.check("nothing of Prism's left attached or loaded", not left, "; ".join(left[:6]))
    c.check("lab down", results["lab-down"] == 0)
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
