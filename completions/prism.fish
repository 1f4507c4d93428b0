# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_prism_global_optspecs
    string join \n v/verbose h/help V/version
end

function __fish_prism_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_prism_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_prism_using_subcommand
    set -l cmd (__fish_prism_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c prism -n "__fish_prism_needs_command" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c prism -n "__fish_prism_needs_command" -s V -l version -d 'Print version'
complete -c prism -n "__fish_prism_needs_command" -f -a "doctor" -d 'Check what this host can do: kernel, BTF, mounts, privileges, attach types'
complete -c prism -n "__fish_prism_needs_command" -f -a "top" -d 'Live screen: see, enable, tune and compare the datapath'
complete -c prism -n "__fish_prism_needs_command" -f -a "stat" -d 'Show where packets wait: per-stage latency along the overlay path, per class'
complete -c prism -n "__fish_prism_needs_command" -f -a "metrics" -d 'Serve the profilers\' figures to Prometheus (OpenMetrics on /metrics)'
complete -c prism -n "__fish_prism_needs_command" -f -a "record" -d 'Record per-stage latency to a trace file, for report and compare elsewhere'
complete -c prism -n "__fish_prism_needs_command" -f -a "report" -d 'Summarize a trace: per-stage and end-to-end percentiles, losses, drops'
complete -c prism -n "__fish_prism_needs_command" -f -a "compare" -d 'Compare two traces stage by stage: p50/p99/p99.9 deltas per class'
complete -c prism -n "__fish_prism_needs_command" -f -a "enable" -d 'Turn on the prioritized datapath (or update it: rules, modes, containers)'
complete -c prism -n "__fish_prism_needs_command" -f -a "disable" -d 'Detach the datapath and remove its pins (also after a crash)'
complete -c prism -n "__fish_prism_needs_command" -f -a "status" -d 'Show what the datapath is attached to, its modes, rules and counters'
complete -c prism -n "__fish_prism_needs_command" -f -a "rules" -d 'List, add or delete high-priority rules while the datapath runs'
complete -c prism -n "__fish_prism_needs_command" -f -a "tune" -d 'See and change the kernel\'s receive-path knobs; put back what Prism changed'
complete -c prism -n "__fish_prism_needs_command" -f -a "lab" -d 'Build, inspect, load and remove the VXLAN overlay testbed'
complete -c prism -n "__fish_prism_needs_command" -f -a "man" -d 'Write man pages, one per command, into a directory'
complete -c prism -n "__fish_prism_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c prism -n "__fish_prism_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c prism -n "__fish_prism_using_subcommand doctor" -l json -d 'Print the report as JSON'
complete -c prism -n "__fish_prism_using_subcommand doctor" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand doctor" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand top" -l interval -d 'Time between refreshes (100ms to 10s; - and + change it live)' -r
complete -c prism -n "__fish_prism_using_subcommand top" -l high -d 'A high-priority rule, e.g. `--high tcp dport 11211` (repeatable)' -r
complete -c prism -n "__fish_prism_using_subcommand top" -l netns -d 'Watch only this network namespace (repeatable); default: all' -r
complete -c prism -n "__fish_prism_using_subcommand top" -l vxlan-port -d 'UDP port that marks VXLAN traffic (repeatable); default: the port of every VXLAN device found (4789 for Docker and Calico, 8472 for Flannel). An override for overlays Prism cannot see' -r
complete -c prism -n "__fish_prism_using_subcommand top" -l profile -d 'How much the profilers hook: always-on (the default: every high-priority packet timed, low-priority journeys sampled to about 4000/s with counts scaled, nic not timed, gro_cell counted in vxlan; cheap enough to leave on, see `lab overhead`) or full (every hook, every packet). `record --events all` needs full and is full by default' -r -f -a "always-on\t''
full\t''"
complete -c prism -n "__fish_prism_using_subcommand top" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand top" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand stat" -l interval -d 'Time between reports (e.g. 1s, 500ms)' -r
complete -c prism -n "__fish_prism_using_subcommand stat" -l count -d 'Stop after this many reports (default: until Ctrl-C)' -r
complete -c prism -n "__fish_prism_using_subcommand stat" -l by -d 'Break the figures down: `container` adds each local container\'s stages (its journeys told apart by address from their first hit, so the stages before its veth count too), up to 63 containers' -r -f -a "container\t''"
complete -c prism -n "__fish_prism_using_subcommand stat" -l container -d 'With --by container: only this container (repeatable), by the name stat lists (Docker\'s, `namespace/pod`, or the namespace\'s)' -r
complete -c prism -n "__fish_prism_using_subcommand stat" -l high -d 'A high-priority rule, e.g. `--high tcp dport 11211` (repeatable)' -r
complete -c prism -n "__fish_prism_using_subcommand stat" -l netns -d 'Watch only this network namespace (repeatable); default: all' -r
complete -c prism -n "__fish_prism_using_subcommand stat" -l vxlan-port -d 'UDP port that marks VXLAN traffic (repeatable); default: the port of every VXLAN device found (4789 for Docker and Calico, 8472 for Flannel). An override for overlays Prism cannot see' -r
complete -c prism -n "__fish_prism_using_subcommand stat" -l profile -d 'How much the profilers hook: always-on (the default: every high-priority packet timed, low-priority journeys sampled to about 4000/s with counts scaled, nic not timed, gro_cell counted in vxlan; cheap enough to leave on, see `lab overhead`) or full (every hook, every packet). `record --events all` needs full and is full by default' -r -f -a "always-on\t''
full\t''"
complete -c prism -n "__fish_prism_using_subcommand stat" -l json -d 'Print one JSON object per interval instead of tables'
complete -c prism -n "__fish_prism_using_subcommand stat" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand stat" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand metrics" -l listen -d 'Address and port to serve /metrics on (0.0.0.0:9477 for every interface, as a DaemonSet needs)' -r
complete -c prism -n "__fish_prism_using_subcommand metrics" -l node -d 'The node label on every series (default: this host\'s name)' -r
complete -c prism -n "__fish_prism_using_subcommand metrics" -l high -d 'A high-priority rule, e.g. `--high tcp dport 11211` (repeatable)' -r
complete -c prism -n "__fish_prism_using_subcommand metrics" -l netns -d 'Watch only this network namespace (repeatable); default: all' -r
complete -c prism -n "__fish_prism_using_subcommand metrics" -l vxlan-port -d 'UDP port that marks VXLAN traffic (repeatable); default: the port of every VXLAN device found (4789 for Docker and Calico, 8472 for Flannel). An override for overlays Prism cannot see' -r
complete -c prism -n "__fish_prism_using_subcommand metrics" -l profile -d 'How much the profilers hook: always-on (the default: every high-priority packet timed, low-priority journeys sampled to about 4000/s with counts scaled, nic not timed, gro_cell counted in vxlan; cheap enough to leave on, see `lab overhead`) or full (every hook, every packet). `record --events all` needs full and is full by default' -r -f -a "always-on\t''
full\t''"
complete -c prism -n "__fish_prism_using_subcommand metrics" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand metrics" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand record" -s o -l output -d 'The trace file to write (replaced if it exists)' -r -F
complete -c prism -n "__fish_prism_using_subcommand record" -l duration -d 'How long to record (default: until Ctrl-C)' -r
complete -c prism -n "__fish_prism_using_subcommand record" -l events -d 'Per-packet events: all, sample:N (1 journey in N) or none' -r
complete -c prism -n "__fish_prism_using_subcommand record" -l interval -d 'Time between histogram snapshots' -r
complete -c prism -n "__fish_prism_using_subcommand record" -l high -d 'A high-priority rule, e.g. `--high tcp dport 11211` (repeatable)' -r
complete -c prism -n "__fish_prism_using_subcommand record" -l netns -d 'Watch only this network namespace (repeatable); default: all' -r
complete -c prism -n "__fish_prism_using_subcommand record" -l vxlan-port -d 'UDP port that marks VXLAN traffic (repeatable); default: the port of every VXLAN device found (4789 for Docker and Calico, 8472 for Flannel). An override for overlays Prism cannot see' -r
complete -c prism -n "__fish_prism_using_subcommand record" -l profile -d 'How much the profilers hook: always-on (the default: every high-priority packet timed, low-priority journeys sampled to about 4000/s with counts scaled, nic not timed, gro_cell counted in vxlan; cheap enough to leave on, see `lab overhead`) or full (every hook, every packet). `record --events all` needs full and is full by default' -r -f -a "always-on\t''
full\t''"
complete -c prism -n "__fish_prism_using_subcommand record" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand record" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand report" -l format -d 'Output: table (summary), jsonl (every record and event) or csv (events)' -r -f -a "table\t''
jsonl\t''
csv\t''"
complete -c prism -n "__fish_prism_using_subcommand report" -l plot -d 'Also write an SVG of each stage\'s latency distribution per class' -r -F
complete -c prism -n "__fish_prism_using_subcommand report" -l json -d 'Print the summary as JSON (same as the table\'s content)'
complete -c prism -n "__fish_prism_using_subcommand report" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand report" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand compare" -l json -d 'Print the comparison as JSON'
complete -c prism -n "__fish_prism_using_subcommand compare" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand compare" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand enable" -l mode -d 'Modes, comma-separated: sync (stream high-priority packets past the overlay\'s queues), mark (skb->priority, DSCP), nic (their own NIC queue and CPU), prio (their own NIC queue, served first on a shared CPU: threaded NAPI with that ring\'s thread at SCHED_FIFO 50). nic and prio exclude each other' -r
complete -c prism -n "__fish_prism_using_subcommand enable" -l high -d 'A high-priority rule, e.g. `--high tcp dport 11211` (repeatable)' -r
complete -c prism -n "__fish_prism_using_subcommand enable" -l iface -d 'Only hosts whose VXLAN underlay is this device' -r
complete -c prism -n "__fish_prism_using_subcommand enable" -l netns -d 'Only hosts in this network namespace (repeatable); default: all' -r
complete -c prism -n "__fish_prism_using_subcommand enable" -l priority -d 'skb->priority given to high-priority packets in mark mode' -r
complete -c prism -n "__fish_prism_using_subcommand enable" -l dscp -d 'mark mode: rewrite the DSCP of high-priority packets leaving their container (a name such as ef, af41, cs6, or 0-63); the outer header of packets the sync path encapsulates carries it too' -r
complete -c prism -n "__fish_prism_using_subcommand enable" -l nic-cpu -d 'nic mode: the CPU that processes the high-priority ring (default: the last CPU); the other rings go to the other CPUs' -r
complete -c prism -n "__fish_prism_using_subcommand enable" -l auto -d 'Find every VXLAN underlay and container veth (the default)'
complete -c prism -n "__fish_prism_using_subcommand enable" -l watch -d 'Stay in the foreground and keep the datapath current as containers and devices come and go (rtnetlink notifications, and a re-scan every 5 s). Ctrl-C stops watching; the datapath stays enabled'
complete -c prism -n "__fish_prism_using_subcommand enable" -l allow-netfilter-bypass -d 'Serve routed overlays (Flannel, Calico) also where netfilter is relied on (Calico\'s policy, conntrack tracking flows), accepting that their high-priority packets skip the node\'s IP forwarding and netfilter: FORWARD rules, conntrack and any network policy there'
complete -c prism -n "__fish_prism_using_subcommand enable" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand enable" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand disable" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand disable" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand status" -l json -d 'Print the status as JSON'
complete -c prism -n "__fish_prism_using_subcommand status" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand status" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand rules; and not __fish_seen_subcommand_from list add del help" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand rules; and not __fish_seen_subcommand_from list add del help" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand rules; and not __fish_seen_subcommand_from list add del help" -f -a "list" -d 'Show the rules'
complete -c prism -n "__fish_prism_using_subcommand rules; and not __fish_seen_subcommand_from list add del help" -f -a "add" -d 'Add a rule (takes effect for new packets at once)'
complete -c prism -n "__fish_prism_using_subcommand rules; and not __fish_seen_subcommand_from list add del help" -f -a "del" -d 'Delete a rule'
complete -c prism -n "__fish_prism_using_subcommand rules; and not __fish_seen_subcommand_from list add del help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c prism -n "__fish_prism_using_subcommand rules; and __fish_seen_subcommand_from list" -l json -d 'Print the rules as a JSON array of strings'
complete -c prism -n "__fish_prism_using_subcommand rules; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand rules; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand rules; and __fish_seen_subcommand_from add" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand rules; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand rules; and __fish_seen_subcommand_from del" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand rules; and __fish_seen_subcommand_from del" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand rules; and __fish_seen_subcommand_from help" -f -a "list" -d 'Show the rules'
complete -c prism -n "__fish_prism_using_subcommand rules; and __fish_seen_subcommand_from help" -f -a "add" -d 'Add a rule (takes effect for new packets at once)'
complete -c prism -n "__fish_prism_using_subcommand rules; and __fish_seen_subcommand_from help" -f -a "del" -d 'Delete a rule'
complete -c prism -n "__fish_prism_using_subcommand rules; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c prism -n "__fish_prism_using_subcommand tune; and not __fish_seen_subcommand_from list set suggest restore help" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand tune; and not __fish_seen_subcommand_from list set suggest restore help" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand tune; and not __fish_seen_subcommand_from list set suggest restore help" -f -a "list" -d 'Show every knob: value, kernel default, range, the stage it acts on, and what Prism saved'
complete -c prism -n "__fish_prism_using_subcommand tune; and not __fish_seen_subcommand_from list set suggest restore help" -f -a "set" -d 'Change knobs, all or none, saving what they were'
complete -c prism -n "__fish_prism_using_subcommand tune; and not __fish_seen_subcommand_from list set suggest restore help" -f -a "suggest" -d 'Measure for a while, then propose knobs to try, each with its reason'
complete -c prism -n "__fish_prism_using_subcommand tune; and not __fish_seen_subcommand_from list set suggest restore help" -f -a "restore" -d 'Put back every knob Prism changed, as it was before the first change'
complete -c prism -n "__fish_prism_using_subcommand tune; and not __fish_seen_subcommand_from list set suggest restore help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c prism -n "__fish_prism_using_subcommand tune; and __fish_seen_subcommand_from list" -l netns -d 'The namespace whose devices to show (sysctls are global)' -r
complete -c prism -n "__fish_prism_using_subcommand tune; and __fish_seen_subcommand_from list" -l json -d 'Print the knobs as JSON'
complete -c prism -n "__fish_prism_using_subcommand tune; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand tune; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand tune; and __fish_seen_subcommand_from set" -l netns -d 'The namespace of the devices named (sysctls are global)' -r
complete -c prism -n "__fish_prism_using_subcommand tune; and __fish_seen_subcommand_from set" -l json -d 'Print the changes as JSON'
complete -c prism -n "__fish_prism_using_subcommand tune; and __fish_seen_subcommand_from set" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand tune; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand tune; and __fish_seen_subcommand_from suggest" -l duration -d 'How long to measure' -r
complete -c prism -n "__fish_prism_using_subcommand tune; and __fish_seen_subcommand_from suggest" -l high -d 'A high-priority rule, e.g. `--high tcp dport 11211` (repeatable)' -r
complete -c prism -n "__fish_prism_using_subcommand tune; and __fish_seen_subcommand_from suggest" -l netns -d 'Watch only this network namespace (repeatable); default: all' -r
complete -c prism -n "__fish_prism_using_subcommand tune; and __fish_seen_subcommand_from suggest" -l vxlan-port -d 'UDP port that marks VXLAN traffic (repeatable); default: the port of every VXLAN device found (4789 for Docker and Calico, 8472 for Flannel). An override for overlays Prism cannot see' -r
complete -c prism -n "__fish_prism_using_subcommand tune; and __fish_seen_subcommand_from suggest" -l profile -d 'How much the profilers hook: always-on (the default: every high-priority packet timed, low-priority journeys sampled to about 4000/s with counts scaled, nic not timed, gro_cell counted in vxlan; cheap enough to leave on, see `lab overhead`) or full (every hook, every packet). `record --events all` needs full and is full by default' -r -f -a "always-on\t''
full\t''"
complete -c prism -n "__fish_prism_using_subcommand tune; and __fish_seen_subcommand_from suggest" -l json -d 'Print the suggestions as JSON'
complete -c prism -n "__fish_prism_using_subcommand tune; and __fish_seen_subcommand_from suggest" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand tune; and __fish_seen_subcommand_from suggest" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand tune; and __fish_seen_subcommand_from restore" -l json -d 'Print the changes as JSON'
complete -c prism -n "__fish_prism_using_subcommand tune; and __fish_seen_subcommand_from restore" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand tune; and __fish_seen_subcommand_from restore" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand tune; and __fish_seen_subcommand_from help" -f -a "list" -d 'Show every knob: value, kernel default, range, the stage it acts on, and what Prism saved'
complete -c prism -n "__fish_prism_using_subcommand tune; and __fish_seen_subcommand_from help" -f -a "set" -d 'Change knobs, all or none, saving what they were'
complete -c prism -n "__fish_prism_using_subcommand tune; and __fish_seen_subcommand_from help" -f -a "suggest" -d 'Measure for a while, then propose knobs to try, each with its reason'
complete -c prism -n "__fish_prism_using_subcommand tune; and __fish_seen_subcommand_from help" -f -a "restore" -d 'Put back every knob Prism changed, as it was before the first change'
complete -c prism -n "__fish_prism_using_subcommand tune; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c prism -n "__fish_prism_using_subcommand lab; and not __fish_seen_subcommand_from up down status run overhead bench integrity help" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand lab; and not __fish_seen_subcommand_from up down status run overhead bench integrity help" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand lab; and not __fish_seen_subcommand_from up down status run overhead bench integrity help" -f -a "up" -d 'Build the testbed (idempotent) and check container-to-container connectivity'
complete -c prism -n "__fish_prism_using_subcommand lab; and not __fish_seen_subcommand_from up down status run overhead bench integrity help" -f -a "down" -d 'Remove the testbed, also after a half-failed `up`'
complete -c prism -n "__fish_prism_using_subcommand lab; and not __fish_seen_subcommand_from up down status run overhead bench integrity help" -f -a "status" -d 'Show the testbed\'s namespaces, devices, ifindexes, addresses and MACs'
complete -c prism -n "__fish_prism_using_subcommand lab; and not __fish_seen_subcommand_from up down status run overhead bench integrity help" -f -a "run" -d 'Run latency scenarios: a prober alone, or under TCP or UDP bulk traffic'
complete -c prism -n "__fish_prism_using_subcommand lab; and not __fish_seen_subcommand_from up down status run overhead bench integrity help" -f -a "overhead" -d 'Measure what the profilers cost: bulk throughput with and without them, and time per hit'
complete -c prism -n "__fish_prism_using_subcommand lab; and not __fish_seen_subcommand_from up down status run overhead bench integrity help" -f -a "bench" -d 'Reproduce the paper\'s experiment: the prober under bulk traffic, datapath off and on'
complete -c prism -n "__fish_prism_using_subcommand lab; and not __fish_seen_subcommand_from up down status run overhead bench integrity help" -f -a "integrity" -d 'Check payloads end to end: numbered UDP datagrams and a known TCP byte stream, under bulk traffic'
complete -c prism -n "__fish_prism_using_subcommand lab; and not __fish_seen_subcommand_from up down status run overhead bench integrity help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from up" -l name -d 'Name of the lab; its host namespaces are NAME-h1 and NAME-h2' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from up" -l overlay -d 'Which overlay to copy: prism, docker, flannel or calico' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from up" -l vni -d 'VXLAN network identifier [default: the overlay\'s: 42, Docker and Calico 4096, Flannel 1]' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from up" -l port -d 'VXLAN UDP port [default: 4789; Flannel: none set, the kernel\'s 8472]' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from up" -l router -d 'Put a router namespace between the two hosts (VTEPs on two subnets)'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from up" -l queued-wire -d 'Give the wire\'s veths a qdisc (mq), as a NIC has: a full ring stops the queue instead of dropping. Not with nic or prio modes on 6.16-6.18 kernels, whose veths can leave a stopped queue other than the first stopped'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from up" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from up" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from down" -l name -d 'Name of the lab; its host namespaces are NAME-h1 and NAME-h2' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from down" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from down" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from status" -l name -d 'Name of the lab; its host namespaces are NAME-h1 and NAME-h2' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from status" -l json -d 'Print the status as JSON'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from status" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from run" -l name -d 'Name of the lab; its host namespaces are NAME-h1 and NAME-h2' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from run" -l duration -d 'How long the prober measures in each run (e.g. 10s, 500ms, 1m)' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from run" -l warmup -d 'How long the background runs before the prober starts' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from run" -l rounds -d 'Rounds of all scenarios, alternating; the table shows medians' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from run" -l placement -d 'CPU placement: shared-rx or one-cpu' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from run" -l proto -d 'Prober protocol: udp or tcp' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from run" -l size -d 'Prober message size in bytes' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from run" -l rate -d 'Prober requests per second (0: next request as soon as the reply is in)' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from run" -l streams -d 'Parallel TCP streams in the tcp scenario' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from run" -l udp-rate -d 'Datagrams per second of the udp scenario\'s flood (0: unlimited)' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from run" -l json -d 'Print every run and the medians as JSON'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from run" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from run" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from overhead" -l name -d 'Name of the lab; its host namespaces are NAME-h1 and NAME-h2' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from overhead" -l rounds -d 'Rounds of off, empty and Prism runs (order reversed every other round)' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from overhead" -l duration -d 'How long each run measures' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from overhead" -l json -d 'Print the rounds and the figures as JSON'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from overhead" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from overhead" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from bench" -l name -d 'Name of the lab; its host namespaces are NAME-h1 and NAME-h2' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from bench" -l rounds -d 'Rounds of all configurations' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from bench" -l duration -d 'How long the prober measures in each run' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from bench" -l background -d 'Bulk background: tcp or udp' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from bench" -l placement -d 'CPU placement: shared-rx or one-cpu' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from bench" -l proto -d 'Prober protocol: udp or tcp' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from bench" -l configs -d 'Only these configurations, comma-separated (idle, idle+sync, off, sync, mark, nic, sync+nic, prio, sync+prio); default: all' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from bench" -l tune -d 'One more configuration under bulk with the datapath off and these knobs set, space-separated KNOB=VALUE as `prism tune set` takes them (repeatable: one configuration each). Device knobs apply on every lab host that has the device; everything is restored after each run' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from bench" -l stages -d 'Also attach the profilers (always-on profile) during each run and report the high class\'s p99 per stage: where a change acts. They cost every configuration alike'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from bench" -l json -d 'Print every run and the summary as JSON'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from bench" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from bench" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from integrity" -l name -d 'Name of the lab; its host namespaces are NAME-h1 and NAME-h2' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from integrity" -l duration -d 'How long the checked flows run' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from integrity" -l background -d 'Bulk background: idle (none), tcp or udp' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from integrity" -l udp-rate -d 'Checked datagrams per second' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from integrity" -l tcp-rate -d 'Checked stream rate, in MB/s' -r
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from integrity" -l json -d 'Print the report as JSON'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from integrity" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from integrity" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from help" -f -a "up" -d 'Build the testbed (idempotent) and check container-to-container connectivity'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from help" -f -a "down" -d 'Remove the testbed, also after a half-failed `up`'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from help" -f -a "status" -d 'Show the testbed\'s namespaces, devices, ifindexes, addresses and MACs'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from help" -f -a "run" -d 'Run latency scenarios: a prober alone, or under TCP or UDP bulk traffic'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from help" -f -a "overhead" -d 'Measure what the profilers cost: bulk throughput with and without them, and time per hit'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from help" -f -a "bench" -d 'Reproduce the paper\'s experiment: the prober under bulk traffic, datapath off and on'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from help" -f -a "integrity" -d 'Check payloads end to end: numbered UDP datagrams and a known TCP byte stream, under bulk traffic'
complete -c prism -n "__fish_prism_using_subcommand lab; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c prism -n "__fish_prism_using_subcommand man" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand man" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand completions" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c prism -n "__fish_prism_using_subcommand completions" -s h -l help -d 'Print help'
complete -c prism -n "__fish_prism_using_subcommand help; and not __fish_seen_subcommand_from doctor top stat metrics record report compare enable disable status rules tune lab man completions help" -f -a "doctor" -d 'Check what this host can do: kernel, BTF, mounts, privileges, attach types'
complete -c prism -n "__fish_prism_using_subcommand help; and not __fish_seen_subcommand_from doctor top stat metrics record report compare enable disable status rules tune lab man completions help" -f -a "top" -d 'Live screen: see, enable, tune and compare the datapath'
complete -c prism -n "__fish_prism_using_subcommand help; and not __fish_seen_subcommand_from doctor top stat metrics record report compare enable disable status rules tune lab man completions help" -f -a "stat" -d 'Show where packets wait: per-stage latency along the overlay path, per class'
complete -c prism -n "__fish_prism_using_subcommand help; and not __fish_seen_subcommand_from doctor top stat metrics record report compare enable disable status rules tune lab man completions help" -f -a "metrics" -d 'Serve the profilers\' figures to Prometheus (OpenMetrics on /metrics)'
complete -c prism -n "__fish_prism_using_subcommand help; and not __fish_seen_subcommand_from doctor top stat metrics record report compare enable disable status rules tune lab man completions help" -f -a "record" -d 'Record per-stage latency to a trace file, for report and compare elsewhere'
complete -c prism -n "__fish_prism_using_subcommand help; and not __fish_seen_subcommand_from doctor top stat metrics record report compare enable disable status rules tune lab man completions help" -f -a "report" -d 'Summarize a trace: per-stage and end-to-end percentiles, losses, drops'
complete -c prism -n "__fish_prism_using_subcommand help; and not __fish_seen_subcommand_from doctor top stat metrics record report compare enable disable status rules tune lab man completions help" -f -a "compare" -d 'Compare two traces stage by stage: p50/p99/p99.9 deltas per class'
complete -c prism -n "__fish_prism_using_subcommand help; and not __fish_seen_subcommand_from doctor top stat metrics record report compare enable disable status rules tune lab man completions help" -f -a "enable" -d 'Turn on the prioritized datapath (or update it: rules, modes, containers)'
complete -c prism -n "__fish_prism_using_subcommand help; and not __fish_seen_subcommand_from doctor top stat metrics record report compare enable disable status rules tune lab man completions help" -f -a "disable" -d 'Detach the datapath and remove its pins (also after a crash)'
complete -c prism -n "__fish_prism_using_subcommand help; and not __fish_seen_subcommand_from doctor top stat metrics record report compare enable disable status rules tune lab man completions help" -f -a "status" -d 'Show what the datapath is attached to, its modes, rules and counters'
complete -c prism -n "__fish_prism_using_subcommand help; and not __fish_seen_subcommand_from doctor top stat metrics record report compare enable disable status rules tune lab man completions help" -f -a "rules" -d 'List, add or delete high-priority rules while the datapath runs'
complete -c prism -n "__fish_prism_using_subcommand help; and not __fish_seen_subcommand_from doctor top stat metrics record report compare enable disable status rules tune lab man completions help" -f -a "tune" -d 'See and change the kernel\'s receive-path knobs; put back what Prism changed'
complete -c prism -n "__fish_prism_using_subcommand help; and not __fish_seen_subcommand_from doctor top stat metrics record report compare enable disable status rules tune lab man completions help" -f -a "lab" -d 'Build, inspect, load and remove the VXLAN overlay testbed'
complete -c prism -n "__fish_prism_using_subcommand help; and not __fish_seen_subcommand_from doctor top stat metrics record report compare enable disable status rules tune lab man completions help" -f -a "man" -d 'Write man pages, one per command, into a directory'
complete -c prism -n "__fish_prism_using_subcommand help; and not __fish_seen_subcommand_from doctor top stat metrics record report compare enable disable status rules tune lab man completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c prism -n "__fish_prism_using_subcommand help; and not __fish_seen_subcommand_from doctor top stat metrics record report compare enable disable status rules tune lab man completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c prism -n "__fish_prism_using_subcommand help; and __fish_seen_subcommand_from rules" -f -a "list" -d 'Show the rules'
complete -c prism -n "__fish_prism_using_subcommand help; and __fish_seen_subcommand_from rules" -f -a "add" -d 'Add a rule (takes effect for new packets at once)'
complete -c prism -n "__fish_prism_using_subcommand help; and __fish_seen_subcommand_from rules" -f -a "del" -d 'Delete a rule'
complete -c prism -n "__fish_prism_using_subcommand help; and __fish_seen_subcommand_from tune" -f -a "list" -d 'Show every knob: value, kernel default, range, the stage it acts on, and what Prism saved'
complete -c prism -n "__fish_prism_using_subcommand help; and __fish_seen_subcommand_from tune" -f -a "set" -d 'Change knobs, all or none, saving what they were'
complete -c prism -n "__fish_prism_using_subcommand help; and __fish_seen_subcommand_from tune" -f -a "suggest" -d 'Measure for a while, then propose knobs to try, each with its reason'
complete -c prism -n "__fish_prism_using_subcommand help; and __fish_seen_subcommand_from tune" -f -a "restore" -d 'Put back every knob Prism changed, as it was before the first change'
complete -c prism -n "__fish_prism_using_subcommand help; and __fish_seen_subcommand_from lab" -f -a "up" -d 'Build the testbed (idempotent) and check container-to-container connectivity'
complete -c prism -n "__fish_prism_using_subcommand help; and __fish_seen_subcommand_from lab" -f -a "down" -d 'Remove the testbed, also after a half-failed `up`'
complete -c prism -n "__fish_prism_using_subcommand help; and __fish_seen_subcommand_from lab" -f -a "status" -d 'Show the testbed\'s namespaces, devices, ifindexes, addresses and MACs'
complete -c prism -n "__fish_prism_using_subcommand help; and __fish_seen_subcommand_from lab" -f -a "run" -d 'Run latency scenarios: a prober alone, or under TCP or UDP bulk traffic'
complete -c prism -n "__fish_prism_using_subcommand help; and __fish_seen_subcommand_from lab" -f -a "overhead" -d 'Measure what the profilers cost: bulk throughput with and without them, and time per hit'
complete -c prism -n "__fish_prism_using_subcommand help; and __fish_seen_subcommand_from lab" -f -a "bench" -d 'Reproduce the paper\'s experiment: the prober under bulk traffic, datapath off and on'
complete -c prism -n "__fish_prism_using_subcommand help; and __fish_seen_subcommand_from lab" -f -a "integrity" -d 'Check payloads end to end: numbered UDP datagrams and a known TCP byte stream, under bulk traffic'
