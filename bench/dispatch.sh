#!/usr/bin/env bash
# Dispatch throughput with caps off: the release `switchboard serve` against `switchboard sim`
# (a separate process, its limits off, no latency), on a queue of 10,000 and one of 1,000,000
# jobs, in the same run. Each size gets a fresh database and a fresh simulator.
#
# The rate is calls the simulator accepted per second, from the timestamps in its own send log
# (--log), over the same steady window for every size: from the 1,000th to the 9,000th call
# (the start-up and the 10k campaign's tail are left out). The 1M run is also measured over
# everything it placed in DURATION seconds. Outcomes come by polling only (no webhooks), so the
# figure is the dispatcher's: claim, decide, commit, send, record. The daemon logs at its
# default level (one `call placed` line per call) to a file.
#
# Usage: bench/dispatch.sh [SIZE...]   (default: 10000 1000000; DURATION=30 seconds per size;
#        SWITCHBOARD_BIN=PATH to measure another build)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 1000000)
duration=${DURATION:-30}
out=bench-out/dispatch
mkdir -p "$out"
# SWITCHBOARD_BIN=PATH measures that build instead (to compare two builds in one sitting).
if [ -n "${SWITCHBOARD_BIN:-}" ]; then
  bin=$SWITCHBOARD_BIN
else
  cargo build --release --quiet
  bin=$PWD/target/release/switchboard
fi
export BLAND_API_KEY=bench-dispatch-key
unset BLAND_WEBHOOK_SECRET SWITCHBOARD_DB

# A North American zone (a +1 number's zone column must be one) where it is nearest
# mid-afternoon now: the campaign's hours are open all run.
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

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# Waits (at most 30 s) for a line matching $2 in file $1 and prints it.
wait_line() {
  for _ in $(seq 300); do
    if grep -q "$2" "$1" 2>/dev/null; then grep -m1 "$2" "$1"; return; fi
    sleep 0.1
  done
  echo "no '$2' in $1" >&2; exit 1
}

# cpu seconds (user+system) of a live process
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' "/proc/$1/stat"; }

for n in "${sizes[@]}"; do
  csv="$out/recipients-$n-${zone//\//_}.csv"
  [ -s "$csv" ] || python3 bench/gen_recipients.py "$n" | awk -v tz="$zone" \
    'NR == 1 { print $0 ",timezone"; next } { print $0 "," tz }' > "$csv"
  db="$out/bench-$n.db"
  rm -f "$db" "$db"-*
  cat > "$out/switchboard-$n.toml" <<EOF
[store]
path = "$db"
[bland]
base_url = "http://127.0.0.1:1"
requests_per_minute = 100000000
[account]
calls_per_minute = 100000000
calls_per_hour = 100000000
calls_per_day = 100000000
max_concurrent = 100000000
EOF
  export SWITCHBOARD_CONFIG="$out/switchboard-$n.toml"
  "$bin" campaign create "$out/campaign.toml" >/dev/null 2>&1
  start=$(date +%s.%N)
  "$bin" import dispatch-bench "$csv" --json > "$out/import-$n.out"
  echo "== $n jobs (zone $zone): imported in $(python3 -c "import time; print(f'{time.time() - $start:.1f}')") s: $(tail -1 "$out/import-$n.out")"
  "$bin" campaign start dispatch-bench >/dev/null

  log="$out/sends-$n.jsonl"
  rm -f "$log"
  "$bin" sim --listen 127.0.0.1:0 --requests-per-minute 0 --max-concurrent 0 --log "$log" \
    > "$out/sim-$n.out" 2> "$out/sim-$n.err" &
  sim=$!; pids+=("$sim")
  url=$(wait_line "$out/sim-$n.out" "listening on" | sed 's/.*listening on //')
  sed -i "s|^base_url = .*|base_url = \"$url\"|" "$SWITCHBOARD_CONFIG"

  "$bin" serve --listen 127.0.0.1:0 > "$out/serve-$n.out" 2> "$out/serve-$n.err" &
  daemon=$!; pids+=("$daemon")
  wait_line "$out/serve-$n.out" "listening on" >/dev/null
  end=$(( $(date +%s) + duration ))
  while [ "$(date +%s)" -lt "$end" ]; do
    sent=$(wc -l < "$log" 2>/dev/null || echo 0)
    [ "$sent" -ge "$n" ] && break
    sleep 0.5
  done
  serve_cpu=$(cpu_s "$daemon"); sim_cpu=$(cpu_s "$sim")
  serve_rss=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$daemon/status")
  kill -TERM "$daemon"; wait "$daemon" || echo "serve exited with $?"
  kill -TERM "$sim"; wait "$sim" || echo "sim exited with $?"
  echo "   serve: ${serve_cpu}s CPU, peak RSS ${serve_rss} MB; sim: ${sim_cpu}s CPU"
  python3 - "$log" "$n" <<'PY'
import json, sys, datetime
path, n = sys.argv[1], int(sys.argv[2])
times, attempts, numbers = [], set(), set()
for line in open(path):
    r = json.loads(line)
    times.append(datetime.datetime.fromisoformat(r["time"].replace("Z", "+00:00")).timestamp())
    attempts.add(r["metadata"]["switchboard_attempt_id"])
    numbers.add(r["phone_number"])
times.sort()
k = len(times)
assert len(attempts) == k and len(numbers) == k, "an attempt or a number was sent twice"
def rate(i, j):
    return (j - i) / (times[j] - times[i])
print(f"   {k} calls placed, each number and attempt once")
if k > 9000:
    print(f"   steady rate, calls 1,000 to 9,000: {rate(1000, 9000):,.0f} calls/s")
if k > 20000:
    print(f"   whole run, calls 1,000 to {k - 1000:,}: {rate(1000, k - 1000):,.0f} calls/s over {times[k - 1000] - times[1000]:.1f} s")
PY
  pids=()
done
