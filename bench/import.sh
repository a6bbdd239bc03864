#!/usr/bin/env bash
# Import throughput: `switchboard import` against the sqlite3 CLI's own `.import` of the same
# file into a plain table, in the same run. Prints both times, the ratio and switchboard's peak
# RSS for each round, then the medians. The two alternate round by round, so a machine that
# slows down for a while (a shared VM does) slows both.
# Usage: bench/import.sh [ROWS] [ROUNDS]   (default 1000000 rows, 7 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
rounds=${2:-7}
out=bench-out
mkdir -p "$out"
command -v sqlite3 >/dev/null || { echo "needs the sqlite3 CLI (apt-get install sqlite3)" >&2; exit 1; }
cargo build --release --quiet
csv="$out/recipients-$rows.csv"
[ -s "$csv" ] || python3 bench/gen_recipients.py "$rows" > "$csv"
echo "file: $csv ($(wc -l < "$csv") lines, $(du -h "$csv" | cut -f1)); $rounds rounds"
bin=target/release/switchboard
export SWITCHBOARD_CONFIG=/dev/null
results=()
for round in $(seq "$rounds"); do
    rm -f "$out"/ref.db*
    ref=$( { /usr/bin/time -f '%e %M' sqlite3 "$out/ref.db" ".mode csv" ".import $csv recipients" ; } 2>&1 | tail -1)
    stored=$(sqlite3 "$out/ref.db" 'select count(*) from recipients')
    rm -f "$out"/sb.db*
    "$bin" --db "$out/sb.db" campaign create bench/campaign.toml >/dev/null 2>&1
    sb=$( { /usr/bin/time -f '%e %M' "$bin" --db "$out/sb.db" import bench "$csv" --json > "$out/import.out" ; } 2>&1 | tail -1)
    echo "round $round: sqlite3 .import ${ref% *}s ($stored rows)   switchboard import ${sb% *}s, peak RSS $((${sb#* } / 1024)) MB  $(tail -1 "$out/import.out")"
    results+=("${ref% *} ${sb% *} ${sb#* }")
done
printf '%s\n' "${results[@]}" | bench/summarise.py "$rows" "sqlite3 .import" "switchboard import"
