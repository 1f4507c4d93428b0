
use builtin;
use str;

set edit:completion:arg-completer[prism] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'prism'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'prism'= {
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand doctor 'Check what this host can do: kernel, BTF, mounts, privileges, attach types'
            cand top 'Live screen: see, enable, tune and compare the datapath'
            cand stat 'Show where packets wait: per-stage latency along the overlay path, per class'
            cand metrics 'Serve the profilers'' figures to Prometheus (OpenMetrics on /metrics)'
            cand record 'Record per-stage latency to a trace file, for report and compare elsewhere'
            cand report 'Summarize a trace: per-stage and end-to-end percentiles, losses, drops'
            cand compare 'Compare two traces stage by stage: p50/p99/p99.9 deltas per class'
            cand enable 'Turn on the prioritized datapath (or update it: rules, modes, containers)'
            cand disable 'Detach the datapath and remove its pins (also after a crash)'
            cand status 'Show what the datapath is attached to, its modes, rules and counters'
            cand rules 'List, add or delete high-priority rules while the datapath runs'
            cand tune 'See and change the kernel''s receive-path knobs; put back what Prism changed'
            cand lab 'Build, inspect, load and remove the VXLAN overlay testbed'
            cand man 'Write man pages, one per command, into a directory'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'prism;doctor'= {
            cand --json 'Print the report as JSON'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'prism;top'= {
            cand --interval 'Time between refreshes (100ms to 10s; - and + change it live)'
            cand --high 'A high-priority rule, e.g. `--high tcp dport 11211` (repeatable)'
            cand --netns 'Watch only this network namespace (repeatable); default: all'
            cand --vxlan-port 'UDP port that marks VXLAN traffic (repeatable); default: the port of every VXLAN device found (4789 for Docker and Calico, 8472 for Flannel). An override for overlays Prism cannot see'
            cand --profile 'How much the profilers hook: always-on (the default: every high-priority packet timed, low-priority journeys sampled to about 4000/s with counts scaled, nic not timed, gro_cell counted in vxlan; cheap enough to leave on, see `lab overhead`) or full (every hook, every packet). `record --events all` needs full and is full by default'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'prism;stat'= {
            cand --interval 'Time between reports (e.g. 1s, 500ms)'
            cand --count 'Stop after this many reports (default: until Ctrl-C)'
            cand --by 'Break the figures down: `container` adds each local container''s stages (its journeys told apart by address from their first hit, so the stages before its veth count too), up to 63 containers'
            cand --container 'With --by container: only this container (repeatable), by the name stat lists (Docker''s, `namespace/pod`, or the namespace''s)'
            cand --high 'A high-priority rule, e.g. `--high tcp dport 11211` (repeatable)'
            cand --netns 'Watch only this network namespace (repeatable); default: all'
            cand --vxlan-port 'UDP port that marks VXLAN traffic (repeatable); default: the port of every VXLAN device found (4789 for Docker and Calico, 8472 for Flannel). An override for overlays Prism cannot see'
            cand --profile 'How much the profilers hook: always-on (the default: every high-priority packet timed, low-priority journeys sampled to about 4000/s with counts scaled, nic not timed, gro_cell counted in vxlan; cheap enough to leave on, see `lab overhead`) or full (every hook, every packet). `record --events all` needs full and is full by default'
            cand --json 'Print one JSON object per interval instead of tables'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'prism;metrics'= {
            cand --listen 'Address and port to serve /metrics on (0.0.0.0:9477 for every interface, as a DaemonSet needs)'
            cand --node 'The node label on every series (default: this host''s name)'
            cand --high 'A high-priority rule, e.g. `--high tcp dport 11211` (repeatable)'
            cand --netns 'Watch only this network namespace (repeatable); default: all'
            cand --vxlan-port 'UDP port that marks VXLAN traffic (repeatable); default: the port of every VXLAN device found (4789 for Docker and Calico, 8472 for Flannel). An override for overlays Prism cannot see'
            cand --profile 'How much the profilers hook: always-on (the default: every high-priority packet timed, low-priority journeys sampled to about 4000/s with counts scaled, nic not timed, gro_cell counted in vxlan; cheap enough to leave on, see `lab overhead`) or full (every hook, every packet). `record --events all` needs full and is full by default'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'prism;record'= {
            cand -o 'The trace file to write (replaced if it exists)'
            cand --output 'The trace file to write (replaced if it exists)'
            cand --duration 'How long to record (default: until Ctrl-C)'
            cand --events 'Per-packet events: all, sample:N (1 journey in N) or none'
            cand --interval 'Time between histogram snapshots'
            cand --high 'A high-priority rule, e.g. `--high tcp dport 11211` (repeatable)'
            cand --netns 'Watch only this network namespace (repeatable); default: all'
            cand --vxlan-port 'UDP port that marks VXLAN traffic (repeatable); default: the port of every VXLAN device found (4789 for Docker and Calico, 8472 for Flannel). An override for overlays Prism cannot see'
            cand --profile 'How much the profilers hook: always-on (the default: every high-priority packet timed, low-priority journeys sampled to about 4000/s with counts scaled, nic not timed, gro_cell counted in vxlan; cheap enough to leave on, see `lab overhead`) or full (every hook, every packet). `record --events all` needs full and is full by default'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'prism;report'= {
            cand --format 'Output: table (summary), jsonl (every record and event) or csv (events)'
            cand --plot 'Also write an SVG of each stage''s latency distribution per class'
            cand --json 'Print the summary as JSON (same as the table''s content)'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'prism;compare'= {
            cand --json 'Print the comparison as JSON'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'prism;enable'= {
            cand --mode 'Modes, comma-separated: sync (stream high-priority packets past the overlay''s queues), mark (skb->priority, DSCP), nic (their own NIC queue and CPU), prio (their own NIC queue, served first on a shared CPU: threaded NAPI with that ring''s thread at SCHED_FIFO 50). nic and prio exclude each other'
            cand --high 'A high-priority rule, e.g. `--high tcp dport 11211` (repeatable)'
            cand --iface 'Only hosts whose VXLAN underlay is this device'
            cand --netns 'Only hosts in this network namespace (repeatable); default: all'
            cand --priority 'skb->priority given to high-priority packets in mark mode'
            cand --dscp 'mark mode: rewrite the DSCP of high-priority packets leaving their container (a name such as ef, af41, cs6, or 0-63); the outer header of packets the sync path encapsulates carries it too'
            cand --nic-cpu 'nic mode: the CPU that processes the high-priority ring (default: the last CPU); the other rings go to the other CPUs'
            cand --auto 'Find every VXLAN underlay and container veth (the default)'
            cand --watch 'Stay in the foreground and keep the datapath current as containers and devices come and go (rtnetlink notifications, and a re-scan every 5 s). Ctrl-C stops watching; the datapath stays enabled'
            cand --allow-netfilter-bypass 'Serve routed overlays (Flannel, Calico) also where netfilter is relied on (Calico''s policy, conntrack tracking flows), accepting that their high-priority packets skip the node''s IP forwarding and netfilter: FORWARD rules, conntrack and any network policy there'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'prism;disable'= {
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'prism;status'= {
            cand --json 'Print the status as JSON'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'prism;rules'= {
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand list 'Show the rules'
            cand add 'Add a rule (takes effect for new packets at once)'
            cand del 'Delete a rule'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'prism;rules;list'= {
            cand --json 'Print the rules as a JSON array of strings'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'prism;rules;add'= {
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'prism;rules;del'= {
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'prism;rules;help'= {
            cand list 'Show the rules'
            cand add 'Add a rule (takes effect for new packets at once)'
            cand del 'Delete a rule'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'prism;rules;help;list'= {
        }
        &'prism;rules;help;add'= {
        }
        &'prism;rules;help;del'= {
        }
        &'prism;rules;help;help'= {
        }
        &'prism;tune'= {
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand list 'Show every knob: value, kernel default, range, the stage it acts on, and what Prism saved'
            cand set 'Change knobs, all or none, saving what they were'
            cand suggest 'Measure for a while, then propose knobs to try, each with its reason'
            cand restore 'Put back every knob Prism changed, as it was before the first change'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'prism;tune;list'= {
            cand --netns 'The namespace whose devices to show (sysctls are global)'
            cand --json 'Print the knobs as JSON'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'prism;tune;set'= {
            cand --netns 'The namespace of the devices named (sysctls are global)'
            cand --json 'Print the changes as JSON'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'prism;tune;suggest'= {
            cand --duration 'How long to measure'
            cand --high 'A high-priority rule, e.g. `--high tcp dport 11211` (repeatable)'
            cand --netns 'Watch only this network namespace (repeatable); default: all'
            cand --vxlan-port 'UDP port that marks VXLAN traffic (repeatable); default: the port of every VXLAN device found (4789 for Docker and Calico, 8472 for Flannel). An override for overlays Prism cannot see'
            cand --profile 'How much the profilers hook: always-on (the default: every high-priority packet timed, low-priority journeys sampled to about 4000/s with counts scaled, nic not timed, gro_cell counted in vxlan; cheap enough to leave on, see `lab overhead`) or full (every hook, every packet). `record --events all` needs full and is full by default'
            cand --json 'Print the suggestions as JSON'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'prism;tune;restore'= {
            cand --json 'Print the changes as JSON'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'prism;tune;help'= {
            cand list 'Show every knob: value, kernel default, range, the stage it acts on, and what Prism saved'
            cand set 'Change knobs, all or none, saving what they were'
            cand suggest 'Measure for a while, then propose knobs to try, each with its reason'
            cand restore 'Put back every knob Prism changed, as it was before the first change'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'prism;tune;help;list'= {
        }
        &'prism;tune;help;set'= {
        }
        &'prism;tune;help;suggest'= {
        }
        &'prism;tune;help;restore'= {
        }
        &'prism;tune;help;help'= {
        }
        &'prism;lab'= {
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand up 'Build the testbed (idempotent) and check container-to-container connectivity'
            cand down 'Remove the testbed, also after a half-failed `up`'
            cand status 'Show the testbed''s namespaces, devices, ifindexes, addresses and MACs'
            cand run 'Run latency scenarios: a prober alone, or under TCP or UDP bulk traffic'
            cand overhead 'Measure what the profilers cost: bulk throughput with and without them, and time per hit'
            cand bench 'Reproduce the paper''s experiment: the prober under bulk traffic, datapath off and on'
            cand integrity 'Check payloads end to end: numbered UDP datagrams and a known TCP byte stream, under bulk traffic'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'prism;lab;up'= {
            cand --name 'Name of the lab; its host namespaces are NAME-h1 and NAME-h2'
            cand --overlay 'Which overlay to copy: prism, docker, flannel or calico'
            cand --vni 'VXLAN network identifier [default: the overlay''s: 42, Docker and Calico 4096, Flannel 1]'
            cand --port 'VXLAN UDP port [default: 4789; Flannel: none set, the kernel''s 8472]'
            cand --router 'Put a router namespace between the two hosts (VTEPs on two subnets)'
            cand --queued-wire 'Give the wire''s veths a qdisc (mq), as a NIC has: a full ring stops the queue instead of dropping. Not with nic or prio modes on 6.16-6.18 kernels, whose veths can leave a stopped queue other than the first stopped'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'prism;lab;down'= {
            cand --name 'Name of the lab; its host namespaces are NAME-h1 and NAME-h2'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'prism;lab;status'= {
            cand --name 'Name of the lab; its host namespaces are NAME-h1 and NAME-h2'
            cand --json 'Print the status as JSON'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'prism;lab;run'= {
            cand --name 'Name of the lab; its host namespaces are NAME-h1 and NAME-h2'
            cand --duration 'How long the prober measures in each run (e.g. 10s, 500ms, 1m)'
            cand --warmup 'How long the background runs before the prober starts'
            cand --rounds 'Rounds of all scenarios, alternating; the table shows medians'
            cand --placement 'CPU placement: shared-rx or one-cpu'
            cand --proto 'Prober protocol: udp or tcp'
            cand --size 'Prober message size in bytes'
            cand --rate 'Prober requests per second (0: next request as soon as the reply is in)'
            cand --streams 'Parallel TCP streams in the tcp scenario'
            cand --udp-rate 'Datagrams per second of the udp scenario''s flood (0: unlimited)'
            cand --json 'Print every run and the medians as JSON'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'prism;lab;overhead'= {
            cand --name 'Name of the lab; its host namespaces are NAME-h1 and NAME-h2'
            cand --rounds 'Rounds of off, empty and Prism runs (order reversed every other round)'
            cand --duration 'How long each run measures'
            cand --json 'Print the rounds and the figures as JSON'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'prism;lab;bench'= {
            cand --name 'Name of the lab; its host namespaces are NAME-h1 and NAME-h2'
            cand --rounds 'Rounds of all configurations'
            cand --duration 'How long the prober measures in each run'
            cand --background 'Bulk background: tcp or udp'
            cand --placement 'CPU placement: shared-rx or one-cpu'
            cand --proto 'Prober protocol: udp or tcp'
            cand --configs 'Only these configurations, comma-separated (idle, idle+sync, off, sync, mark, nic, sync+nic, prio, sync+prio); default: all'
            cand --tune 'One more configuration under bulk with the datapath off and these knobs set, space-separated KNOB=VALUE as `prism tune set` takes them (repeatable: one configuration each). Device knobs apply on every lab host that has the device; everything is restored after each run'
            cand --stages 'Also attach the profilers (always-on profile) during each run and report the high class''s p99 per stage: where a change acts. They cost every configuration alike'
            cand --json 'Print every run and the summary as JSON'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'prism;lab;integrity'= {
            cand --name 'Name of the lab; its host namespaces are NAME-h1 and NAME-h2'
            cand --duration 'How long the checked flows run'
            cand --background 'Bulk background: idle (none), tcp or udp'
            cand --udp-rate 'Checked datagrams per second'
            cand --tcp-rate 'Checked stream rate, in MB/s'
            cand --json 'Print the report as JSON'
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'prism;lab;help'= {
            cand up 'Build the testbed (idempotent) and check container-to-container connectivity'
            cand down 'Remove the testbed, also after a half-failed `up`'
            cand status 'Show the testbed''s namespaces, devices, ifindexes, addresses and MACs'
            cand run 'Run latency scenarios: a prober alone, or under TCP or UDP bulk traffic'
            cand overhead 'Measure what the profilers cost: bulk throughput with and without them, and time per hit'
            cand bench 'Reproduce the paper''s experiment: the prober under bulk traffic, datapath off and on'
            cand integrity 'Check payloads end to end: numbered UDP datagrams and a known TCP byte stream, under bulk traffic'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'prism;lab;help;up'= {
        }
        &'prism;lab;help;down'= {
        }
        &'prism;lab;help;status'= {
        }
        &'prism;lab;help;run'= {
        }
        &'prism;lab;help;overhead'= {
        }
        &'prism;lab;help;bench'= {
        }
        &'prism;lab;help;integrity'= {
        }
        &'prism;lab;help;help'= {
        }
        &'prism;man'= {
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'prism;completions'= {
            cand -v 'More log output (-v info, -vv debug, -vvv trace)'
            cand --verbose 'More log output (-v info, -vv debug, -vvv trace)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'prism;help'= {
            cand doctor 'Check what this host can do: kernel, BTF, mounts, privileges, attach types'
            cand top 'Live screen: see, enable, tune and compare the datapath'
            cand stat 'Show where packets wait: per-stage latency along the overlay path, per class'
            cand metrics 'Serve the profilers'' figures to Prometheus (OpenMetrics on /metrics)'
            cand record 'Record per-stage latency to a trace file, for report and compare elsewhere'
            cand report 'Summarize a trace: per-stage and end-to-end percentiles, losses, drops'
            cand compare 'Compare two traces stage by stage: p50/p99/p99.9 deltas per class'
            cand enable 'Turn on the prioritized datapath (or update it: rules, modes, containers)'
            cand disable 'Detach the datapath and remove its pins (also after a crash)'
            cand status 'Show what the datapath is attached to, its modes, rules and counters'
            cand rules 'List, add or delete high-priority rules while the datapath runs'
            cand tune 'See and change the kernel''s receive-path knobs; put back what Prism changed'
            cand lab 'Build, inspect, load and remove the VXLAN overlay testbed'
            cand man 'Write man pages, one per command, into a directory'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'prism;help;doctor'= {
        }
        &'prism;help;top'= {
        }
        &'prism;help;stat'= {
        }
        &'prism;help;metrics'= {
        }
        &'prism;help;record'= {
        }
        &'prism;help;report'= {
        }
        &'prism;help;compare'= {
        }
        &'prism;help;enable'= {
        }
        &'prism;help;disable'= {
        }
        &'prism;help;status'= {
        }
        &'prism;help;rules'= {
            cand list 'Show the rules'
            cand add 'Add a rule (takes effect for new packets at once)'
            cand del 'Delete a rule'
        }
        &'prism;help;rules;list'= {
        }
        &'prism;help;rules;add'= {
        }
        &'prism;help;rules;del'= {
        }
        &'prism;help;tune'= {
            cand list 'Show every knob: value, kernel default, range, the stage it acts on, and what Prism saved'
            cand set 'Change knobs, all or none, saving what they were'
            cand suggest 'Measure for a while, then propose knobs to try, each with its reason'
            cand restore 'Put back every knob Prism changed, as it was before the first change'
        }
        &'prism;help;tune;list'= {
        }
        &'prism;help;tune;set'= {
        }
        &'prism;help;tune;suggest'= {
        }
        &'prism;help;tune;restore'= {
        }
        &'prism;help;lab'= {
            cand up 'Build the testbed (idempotent) and check container-to-container connectivity'
            cand down 'Remove the testbed, also after a half-failed `up`'
            cand status 'Show the testbed''s namespaces, devices, ifindexes, addresses and MACs'
            cand run 'Run latency scenarios: a prober alone, or under TCP or UDP bulk traffic'
            cand overhead 'Measure what the profilers cost: bulk throughput with and without them, and time per hit'
            cand bench 'Reproduce the paper''s experiment: the prober under bulk traffic, datapath off and on'
            cand integrity 'Check payloads end to end: numbered UDP datagrams and a known TCP byte stream, under bulk traffic'
        }
        &'prism;help;lab;up'= {
        }
        &'prism;help;lab;down'= {
        }
        &'prism;help;lab;status'= {
        }
        &'prism;help;lab;run'= {
        }
        &'prism;help;lab;overhead'= {
        }
        &'prism;help;lab;bench'= {
        }
        &'prism;help;lab;integrity'= {
        }
        &'prism;help;man'= {
        }
        &'prism;help;completions'= {
        }
        &'prism;help;help'= {
        }
    ]
    $completions[$command]
}
