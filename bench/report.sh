#!/usr/bin/env bash
# `switchboard report` on a finished campaign of 1,000,000 recipients (bench/gen_results_db.sh:
# 1-3 attempts each, outcomes, lengths, prices, analysis answers and [analysis] answers), timed
# against the sqlite3 CLI running the same grouped queries one after another on the same
# database (bench/report-queries.sql), alternating, ROUNDS times; medians and peak RSS.
#
# Then `campaign show` (which the dashboard and /metrics read the same way) on a running
# campaign of RECIPIENTS queued recipients (the import benchmark's file), against the sqlite3
# CLI counting that campaign's jobs by state: show reads the job and call counters, the zone
# histogram of the queue and the last day's dials, never the million rows.
#
# Usage: bench/report.sh [RECIPIENTS] [ROUNDS]     (default 1000000 7)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
rounds=${2:-7}
out=bench-out/results
mkdir -p "$out"
db=$out/results-$n.db
[ -f "$db" ] || bench/gen_results_db.sh "$db" "$n"
cargo build --release --quiet
bin=$PWD/target/release/switchboard
unset SWITCHBOARD_CONFIG SWITCHBOARD_DB

# Warm the page cache once for both (the first read of 1 GB from disk is not what is measured).
cat "$db" > /dev/null

sb=()
ref=()
rss=0
for r in $(seq "$rounds"); do
  /usr/bin/time -f "%e %M" -o "$out/time" "$bin" --db "$db" report results --json > "$out/report.json"
  read -r t m < "$out/time"
  sb+=("$t"); [ "$m" -gt "$rss" ] && rss=$m
  /usr/bin/time -f "%e %M" -o "$out/time" sqlite3 "$db" < bench/report-queries.sql > "$out/reference.txt"
  read -r t _ < "$out/time"
  ref+=("$t")
  echo "round $r: switchboard report ${sb[-1]}s (peak RSS $((m / 1024)) MB)   sqlite3 same queries ${ref[-1]}s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms=$(median "${sb[@]}"); mr=$(median "${ref[@]}")
echo "median: switchboard report ${ms}s   sqlite3 ${mr}s   ratio $(awk -v a="$ms" -v b="$mr" 'BEGIN {printf "%.2f", a/b}')"
echo "peak RSS: $((rss / 1024)) MB"
python3 - "$out/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
f = r["funnel"]
print(f"report: {f['recipients']} recipients, {f['dialled']} dialled, {f['reached_human']} reached a human, "
      f"{sum(y['dials'] for y in r['retry_yield'])} dials, {len(r['answers'])} answer fields")
PY

# campaign show on a running campaign with RECIPIENTS queued.
csv=bench-out/recipients-$n.csv
[ -s "$csv" ] || python3 bench/gen_recipients.py "$n" > "$csv"
showdb=$out/show-$n.db
if [ ! -f "$showdb" ]; then
  "$bin" --db "$showdb" campaign create bench/campaign.toml > /dev/null
  "$bin" --db "$showdb" import bench "$csv" --json > /dev/null
  "$bin" --db "$showdb" campaign start bench > /dev/null
fi
cat "$showdb" > /dev/null
shows=()
refs=()
for r in $(seq "$rounds"); do
  /usr/bin/time -f "%e" -o "$out/time" "$bin" --db "$showdb" campaign show bench --json > "$out/show.json"
  shows+=("$(cat "$out/time")")
  /usr/bin/time -f "%e" -o "$out/time" sqlite3 "$showdb" "SELECT state, COUNT(*) FROM jobs WHERE campaign_id = 'bench' GROUP BY state" > /dev/null
  refs+=("$(cat "$out/time")")
done
echo "campaign show (running, $n queued): median $(median "${shows[@]}")s   sqlite3 GROUP BY state over the jobs: median $(median "${refs[@]}")s"
python3 - "$out/show.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
q = s.get("queue") or {}
print(f"show: {s['total_jobs']} jobs, dialable now {q.get('dialable_now')}, "
      f"{len(q.get('waiting_for_window') or [])} zone sets waiting for their window, forecast {q.get('forecast_finish')}")
PY

