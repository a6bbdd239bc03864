#!/usr/bin/env bash
# Import throughput: `switchboard import` against the sqlite3 CLI's own `.import` of the same
# file into a plain table, in the same run. Prints both times, the ratio and switchboard's peak
# RSS. Usage: bench/import.sh [ROWS]   (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
out=bench-out
mkdir -p "$out"
command -v sqlite3 >/dev/null || { echo "needs the sqlite3 CLI (apt-get install sqlite3)" >&2; exit 1; }
cargo build --release --quiet
csv="$out/recipients-$rows.csv"
[ -s "$csv" ] || python3 bench/gen_recipients.py "$rows" > "$csv"
echo "file: $csv ($(wc -l < "$csv") lines, $(du -h "$csv" | cut -f1))"

rm -f "$out"/ref.db*
ref=$( { /usr/bin/time -f '%e %M' sqlite3 "$out/ref.db" ".mode csv" ".import $csv recipients" ; } 2>&1 | tail -1)
ref_s=${ref% *}; ref_kb=${ref#* }
echo "sqlite3 .import:     ${ref_s}s  peak RSS $((ref_kb / 1024)) MB  rows: $(sqlite3 "$out/ref.db" 'select count(*) from recipients')"

rm -f "$out"/sb.db*
bin=target/release/switchboard
export SWITCHBOARD_CONFIG=/dev/null
"$bin" --db "$out/sb.db" campaign create bench/campaign.toml >/dev/null 2>&1
sb=$( { /usr/bin/time -f '%e %M' "$bin" --db "$out/sb.db" import bench "$csv" --json > "$out/import.out" ; } 2>&1 | tail -1)
sb_s=${sb% *}; sb_kb=${sb#* }
echo "switchboard import:  ${sb_s}s  peak RSS $((sb_kb / 1024)) MB  $(tail -1 "$out/import.out")"
python3 - "$ref_s" "$sb_s" "$rows" <<'PY'
import sys
ref, sb, rows = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
print(f"ratio switchboard/sqlite3: {sb / ref:.2f}   ({rows / sb:,.0f} rows/s vs {rows / ref:,.0f} rows/s)")
PY
