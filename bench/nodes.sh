#!/usr/bin/env bash
# Several daemons on one PostgreSQL database, 1, 2 and 3 of them (NODES), each measurement
# ROUNDS times (default 3), medians printed. Starts a throwaway PostgreSQL cluster
# (.ci/pg-cluster, loopback only) unless BENCH_PG names a server (a role that may create
# databases), and stops it at the end.
#
# caps:     examples/caps_bench.rs with --db SERVER --nodes N: N dispatchers in this one process,
#           each on a Store (a node) of its own, stepping concurrently each tick of a shared
#           ManualClock against the in-process simulator; every scenario of bench/caps.sh
#           (CAPS_ARGS adds options, e.g. "--scenario closed"). Per N: calls received against
#           the cap's allowance, the busiest sliding minute (must never pass the cap), numbers
#           dialled twice (must be none), and the errors the nodes met and went on from.
#           Simulated time: the figures do not depend on the machine.
# dispatch: N release `switchboard serve` processes against one `switchboard sim` (limits off,
#           no latency) and one database, every cap out of the way, on a queue of JOBS (default
#           1,000,000); and, in the same run, one daemon on SQLite as bench/dispatch.sh runs it.
#           The rate is calls the simulator accepted per second, from its send log, over a
#           fixed window: WINDOW seconds (default 20) starting WARMUP seconds (default 3) after
#           the last daemon is listening (the campaign runs from before the first starts). Also
#           printed: each daemon's share of the calls (its `call placed` lines), the CPU of the
#           daemons, the simulator and (on the throwaway cluster) PostgreSQL's backends, and the
#           load average before the round. Every attempt and number must reach the simulator
#           once (checked).
#
# Usage: bench/nodes.sh [caps|dispatch|all]     (default all)
#        NODES="1 2 3" ROUNDS=3 JOBS=1000000 WINDOW=20 WARMUP=3 CAPS_ARGS="" BENCH_PG=URL
# Exit status 1 if a cap was exceeded, a number dialled twice, or a run failed.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
case "$what" in caps|dispatch|all) ;; *) echo "usage: $0 [caps|dispatch|all]" >&2; exit 2 ;; esac
read -r -a node_counts <<< "${NODES:-1 2 3}"
rounds=${ROUNDS:-3}
jobs=${JOBS:-1000000}
window=${WINDOW:-20}
warmup=${WARMUP:-3}
read -r -a caps_args <<< "${CAPS_ARGS:-}"
out=bench-out/nodes
mkdir -p "$out"
command -v psql >/dev/null || { echo "needs the psql CLI (apt-get install postgresql-client)" >&2; exit 1; }
cargo build --release --quiet --bin switchboard --example caps_bench
bin=$PWD/target/release/switchboard
failed=0

pids=()
cluster=""
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ -n "$cluster" ]; then .ci/pg-cluster stop "$cluster" || true; fi
}
trap cleanup EXIT

if [ -n "${BENCH_PG:-}" ]; then
    server=$BENCH_PG
else
    cluster=$PWD/$out/pg
    .ci/pg-cluster stop "$cluster" 2>/dev/null || true
    server=$(.ci/pg-cluster start "$cluster")
fi
echo "PostgreSQL: $server ($(psql -X -qtA "$server" -c 'SHOW server_version'))"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# The server's URL with another database (and its query, if any, kept).
pg_db() {
    local base=${server%%\?*} query=""
    [ "$base" = "$server" ] || query="?${server#*\?}"
    echo "${base%/*}/$1$query"
}
pg_fresh() {
    psql -X -q -v ON_ERROR_STOP=1 "$server" -c "SET client_min_messages = warning" \
        -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null
}
# CPU seconds (user+system) of a live process, and of PostgreSQL's backends (the children of
# the throwaway cluster's postmaster; 0 when the server is not ours).
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' "/proc/$1/stat"; }
postmaster() {
    [ -n "$cluster" ] || return 0
    local home=$cluster
    [ -f "$cluster/home" ] && home=$(cat "$cluster/home")
    head -1 "$home/data/postmaster.pid"
}
pg_cpu() {
    local pm p s=0
    pm=$(postmaster)
    [ -n "$pm" ] || { echo 0; return; }
    for p in $(pgrep -P "$pm"); do
        s=$(( s + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0) ))
    done
    awk -v s="$s" -v t="$(getconf CLK_TCK)" 'BEGIN { print s / t }'
}
# Waits (at most 30 s) for a line matching $2 in file $1 and prints it.
wait_line() {
    for _ in $(seq 300); do
        if grep -q "$2" "$1" 2>/dev/null; then grep -m1 "$2" "$1"; return; fi
        sleep 0.1
    done
    echo "no '$2' in $1" >&2
    return 1
}

run_caps() {
    echo
    echo "== cap utilisation: examples/caps_bench --db SERVER --nodes N ${caps_args[*]}"
    local summary=$out/caps-summary.jsonl
    : > "$summary"
    for round in $(seq "$rounds"); do
        for n in "${node_counts[@]}"; do
            local name=caps-$n-$round rc=0
            target/release/examples/caps_bench --out "$out/$name" --db "$server" --nodes "$n" "${caps_args[@]}" \
                > "$out/$name.txt" 2> "$out/$name.err" || rc=$?
            echo "-- round $round, $n node(s): exit $rc"
            grep '^| [^-s]' "$out/$name.txt" || true
            grep -E ': [0-9]+ x |node\(s\), calls each' "$out/$name.txt" | sed 's/^/   /' || true
            if [ "$rc" -ne 0 ]; then
                failed=1
                echo "!! caps_bench exited with $rc (round $round, $n nodes): $out/$name.txt, $out/$name.err"
                tail -5 "$out/$name.err" | sed 's/^/   /'
            fi
            local json
            json=$(grep '^{' "$out/$name.txt" | tail -1 || true)
            [ -z "$json" ] || echo "{\"round\": $round, \"summary\": $json}" >> "$summary"
        done
    done
    echo
    echo "medians over $rounds round(s) (busiest minute and double dials: the worst round):"
    python3 - "$summary" <<'PY' || failed=1
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in runs:
    s = r["summary"]
    for sc in s["scenarios"]:
        by.setdefault((sc["name"], s["nodes"]), []).append((sc, s["cap_per_minute"]))
print("| scenario | nodes | received / allowance (median) | utilisation per round | **median** | busiest minute (cap) | numbers dialled twice | errors the nodes went on from (per round) | real time |")
print("|---|---|---|---|---|---|---|---|---|")
bad = False
for (name, nodes), scs in sorted(by.items(), key=lambda kv: (list(dict.fromkeys(n for n, _ in by)).index(kv[0][0]), kv[0][1])):
    cap = scs[0][1]
    u = sorted(sc["utilisation"] for sc, _ in scs)
    med = statistics.median(u)
    mid = sorted(scs, key=lambda x: x[0]["utilisation"])[len(scs) // 2][0]
    busiest = max(sc["busiest_minute"] for sc, _ in scs)
    twice = sum(sc["numbers_dialled_twice"] + sc["attempts_sent_twice"] for sc, _ in scs)
    errors = " / ".join(str(sc.get("errors", 0)) for sc, _ in scs)
    real = statistics.median(sc["real_seconds"] for sc, _ in scs)
    bad |= busiest > cap or twice > 0
    print(f"| {name} | {nodes} | {mid['received']:,} / {mid['allowance']:,.0f} | "
          + " / ".join(f"{100 * x:.2f} %" for x in u)
          + f" | **{100 * med:.2f} %** | {busiest} ({cap}) | {twice} | {errors} | {real:.0f} s |")
kinds = {}
for r in runs:
    for sc in r["summary"]["scenarios"]:
        for m, n in sc.get("errors_by_message", {}).items():
            kinds[m] = kinds.get(m, 0) + n
for m, n in sorted(kinds.items(), key=lambda kv: -kv[1]):
    print(f"errors, all rounds: {n} x {m}")
if bad:
    print("!! A CAP WAS EXCEEDED OR A NUMBER DIALLED TWICE: see the rounds above")
    sys.exit(1)
PY
}

# A North American zone (a +1 number's zone column must be one) where it is nearest
# mid-afternoon now: the campaign's hours are open all run (as bench/dispatch.sh picks it).
zone=$(python3 -c '
import datetime, zoneinfo
now = datetime.datetime.now(datetime.timezone.utc)
zones = ["Pacific/Pago_Pago", "Pacific/Honolulu", "America/Anchorage", "America/Los_Angeles",
         "America/Denver", "America/Chicago", "America/New_York", "America/Puerto_Rico",
         "America/St_Johns", "America/Halifax", "Pacific/Guam"]
def off(z):
    t = now.astimezone(zoneinfo.ZoneInfo(z))
    return abs(t.hour * 60 + t.minute - (14 * 60 + 30))
print(min(zones, key=off))')

# One dispatch run: $1 = sqlite|postgres, $2 = daemons, $3 = round. Appends a JSON line to
# $out/dispatch-summary.jsonl.
dispatch_once() {
    local kind=$1 n=$2 round=$3 tag=$1-$2-$3
    local csv=$out/recipients-$jobs-${zone//\//_}.csv
    [ -s "$csv" ] || python3 bench/gen_recipients.py "$jobs" | awk -v tz="$zone" \
        'NR == 1 { print $0 ",timezone"; next } { print $0 "," tz }' > "$csv"
    local config=$out/switchboard-$tag.toml store
    if [ "$kind" = sqlite ]; then
        local db=$out/dispatch-$tag.db
        rm -f "$db" "$db"-* "$db".lock
        store="path = \"$db\""
    else
        pg_fresh bench_nodes_dispatch
        store="url = \"$(pg_db bench_nodes_dispatch)\""
    fi
    cat > "$config" <<EOF
[store]
$store
[bland]
base_url = "http://127.0.0.1:1"
requests_per_minute = 100000000
[account]
calls_per_minute = 100000000
calls_per_hour = 100000000
calls_per_day = 100000000
max_concurrent = 100000000
EOF
    export SWITCHBOARD_CONFIG=$config
    "$bin" campaign create "$out/campaign.toml" >/dev/null 2>&1
    local t0 t1
    t0=$(date +%s.%N)
    "$bin" import dispatch-bench "$csv" --json > "$out/import-$tag.out"
    t1=$(date +%s.%N)
    "$bin" campaign start dispatch-bench >/dev/null

    local log=$out/sends-$tag.jsonl
    rm -f "$log"
    "$bin" sim --listen 127.0.0.1:0 --requests-per-minute 0 --max-concurrent 0 --log "$log" \
        > "$out/sim-$tag.out" 2> "$out/sim-$tag.err" &
    local sim=$!
    pids+=("$sim")
    local url
    url=$(wait_line "$out/sim-$tag.out" "listening on" | sed 's/.*listening on //')
    sed -i "s|^base_url = .*|base_url = \"$url\"|" "$config"

    local load pg0 daemons=() i
    load=$(cut -d' ' -f1 /proc/loadavg)
    pg0=$(pg_cpu)
    for i in $(seq "$n"); do
        "$bin" serve --listen 127.0.0.1:0 > "$out/serve-$tag-$i.out" 2> "$out/serve-$tag-$i.err" &
        daemons+=("$!")
        pids+=("$!")
    done
    for i in $(seq "$n"); do wait_line "$out/serve-$tag-$i.out" "listening on" >/dev/null; done
    local ready
    ready=$(date +%s.%N)
    sleep "$(python3 -c "print($warmup + $window + 0.5)")"
    local serve_cpu=0 d
    for d in "${daemons[@]}"; do serve_cpu=$(python3 -c "print($serve_cpu + $(cpu_s "$d"))"); done
    local sim_cpu pg1
    sim_cpu=$(cpu_s "$sim")
    pg1=$(pg_cpu)
    for d in "${daemons[@]}"; do kill -TERM "$d"; done
    for d in "${daemons[@]}"; do wait "$d" || echo "   serve exited with $?"; done
    kill -TERM "$sim"
    wait "$sim" || echo "   sim exited with $?"
    pids=()
    local placed=()
    for i in $(seq "$n"); do placed+=("$(grep -c 'call placed' "$out/serve-$tag-$i.err" || true)"); done
    python3 - "$log" "$kind" "$n" "$round" "$ready" "$warmup" "$window" "$jobs" "$load" \
        "$(python3 -c "print(f'{$t1 - $t0:.1f}')")" "$serve_cpu" "$sim_cpu" "$(python3 -c "print($pg1 - $pg0)")" \
        "${placed[*]}" >> "$out/dispatch-summary.jsonl" <<'PY'
import datetime, json, sys
(path, kind, n, rnd, ready, warmup, window, jobs, load, import_s, serve_cpu, sim_cpu, pg_cpu, placed) = sys.argv[1:]
ready, warmup, window = float(ready), float(warmup), float(window)
times, attempts, numbers = [], set(), set()
for line in open(path):
    r = json.loads(line)
    times.append(datetime.datetime.fromisoformat(r["time"].replace("Z", "+00:00")).timestamp())
    attempts.add(r["metadata"]["switchboard_attempt_id"])
    numbers.add(r["phone_number"])
times.sort()
k = len(times)
start, end = ready + warmup, ready + warmup + window
in_window = sum(1 for t in times if start <= t < end)
out = {
    "store": kind, "daemons": int(n), "round": int(rnd), "calls": k, "jobs": int(jobs),
    "window_rate": in_window / window, "load_before": float(load), "import_s": float(import_s),
    "serve_cpu_s": float(serve_cpu), "sim_cpu_s": float(sim_cpu), "pg_cpu_s": float(pg_cpu),
    "placed_per_daemon": [int(p) for p in placed.split()],
    "sent_twice": len(attempts) != k or len(numbers) != k,
    "ran_dry": k >= int(jobs) and times[-1] < end,
    "rate_1000_9000": (8000 / (times[9000] - times[1000])) if k > 9000 else None,
    # the window's rate in 5 s slices: whether it holds as the attempts ledger grows
    "slices": [sum(1 for t in times if start + 5 * i <= t < start + 5 * (i + 1)) / 5 for i in range(int(window // 5))],
}
print(json.dumps(out))
PY
    tail -1 "$out/dispatch-summary.jsonl" | python3 -c "$(cat <<'PY'
import json, sys
r = json.loads(sys.stdin.read())
share = " / ".join(str(p) for p in r["placed_per_daemon"])
print(f"-- round {r['round']}, {r['store']}, {r['daemons']} daemon(s): {r['window_rate']:,.0f} calls/s in the window; "
      f"{r['calls']:,} calls in all (each daemon: {share}); CPU s: serve {r['serve_cpu_s']:.1f}, sim {r['sim_cpu_s']:.1f}, "
      f"PostgreSQL backends {r['pg_cpu_s']:.1f}; load before {r['load_before']}; import {r['import_s']} s")
print("   by 5 s slice of the window: " + " / ".join(f"{x:,.0f}" for x in r["slices"]) + " calls/s")
if r["sent_twice"]:
    print("!! AN ATTEMPT OR A NUMBER WAS SENT TWICE")
if r["ran_dry"]:
    print("!! the queue ran dry before the window ended: raise JOBS")
PY
)"
    if [ "$kind" = postgres ]; then
        psql -X -q "$server" -c "SET client_min_messages = warning" \
            -c "DROP DATABASE IF EXISTS bench_nodes_dispatch WITH (FORCE)" >/dev/null
    else
        rm -f "$out/dispatch-$tag.db" "$out/dispatch-$tag.db"-* "$out/dispatch-$tag.db.lock"
    fi
}

run_dispatch() {
    echo
    echo "== dispatch throughput: serve processes against switchboard sim, caps off, $jobs jobs (zone $zone),"
    echo "   calls/s the simulator accepted from ${warmup} s to $((warmup + window)) s after the last daemon listened"
    export BLAND_API_KEY=bench-nodes-key
    unset BLAND_WEBHOOK_SECRET SWITCHBOARD_DB
    cat > "$out/campaign.toml" <<'EOF'
id = "dispatch-bench"
name = "Dispatch benchmark"
[call]
task = "Call {{first_name}} about policy {{policy}}."
max_duration = 5
[schedule]
zone_policy = "column"
hours = { "mon-sun" = "08:00-21:00" }
[retry]
max_attempts = 1
EOF
    : > "$out/dispatch-summary.jsonl"
    for round in $(seq "$rounds"); do
        dispatch_once sqlite 1 "$round"
        for n in "${node_counts[@]}"; do dispatch_once postgres "$n" "$round"; done
    done
    echo
    echo "medians over $rounds round(s):"
    python3 - "$out/dispatch-summary.jsonl" <<'PY' || failed=1
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
groups = {}
for r in runs:
    groups.setdefault((r["store"], r["daemons"]), []).append(r)
base = statistics.median(r["window_rate"] for r in groups.get(("sqlite", 1), [])) if ("sqlite", 1) in groups else None
print("| store | daemons | calls/s per round | **median calls/s** | vs SQLite, 1 daemon | share of calls per daemon (median round) | CPU s in the run: serve / sim / PostgreSQL |")
print("|---|---|---|---|---|---|---|")
bad = False
for (store, n), rs in sorted(groups.items(), key=lambda kv: (kv[0][0] != "sqlite", kv[0][1])):
    rates = sorted(r["window_rate"] for r in rs)
    med = statistics.median(rates)
    mid = sorted(rs, key=lambda r: r["window_rate"])[len(rs) // 2]
    total = sum(mid["placed_per_daemon"]) or 1
    share = " / ".join(f"{100 * p / total:.0f} %" for p in mid["placed_per_daemon"])
    vs = f"{med / base:.2f}" if base else "-"
    cpu = f"{mid['serve_cpu_s']:.0f} / {mid['sim_cpu_s']:.0f} / " + (f"{mid['pg_cpu_s']:.0f}" if store == "postgres" else "-")
    print(f"| {'SQLite' if store == 'sqlite' else 'PostgreSQL'} | {n} | " + " / ".join(f"{x:,.0f}" for x in rates)
          + f" | **{med:,.0f}** | {vs} | {share} | {cpu} |")
    bad |= any(r["sent_twice"] or r["ran_dry"] for r in rs)
if bad:
    print("!! a run sent an attempt or a number twice, or ran dry: see the rounds above")
    sys.exit(1)
PY
}

case "$what" in
caps) run_caps ;;
dispatch) run_dispatch ;;
all) run_caps; run_dispatch ;;
esac
if [ "$failed" -ne 0 ]; then
    echo "!! FAILED: see above"
    exit 1
fi
