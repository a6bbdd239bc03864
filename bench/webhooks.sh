#!/usr/bin/env bash
# Signed webhook ingest against a database holding JOBS jobs (default 1,000,000).
#
# Builds the database once in bench-out/ (generated recipients imported with `switchboard
# import`, then one in-call attempt with a call id per job, inserted in bulk with the sqlite3
# CLI), copies it for each run (a run changes it), and runs examples/webhook_bench.rs: the
# daemon's webhook receiver in-process, CONCURRENCY workers POSTing WEBHOOKS pre-signed call
# details (DUPLICATES of them twice) over loopback.
#
# Usage: bench/webhooks.sh [JOBS] [WEBHOOKS] [CONCURRENCY] [DUPLICATES]
#        (defaults 1000000 100000 64 0.1)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${1:-1000000}
webhooks=${2:-100000}
concurrency=${3:-64}
duplicates=${4:-0.1}
out=bench-out
mkdir -p "$out"
command -v sqlite3 >/dev/null || { echo "needs the sqlite3 CLI (apt-get install sqlite3)" >&2; exit 1; }
cargo build --release --quiet --bin switchboard --example webhook_bench

db="$out/webhooks-$jobs.db"
if [ ! -s "$db" ]; then
    csv="$out/recipients-$jobs.csv"
    [ -s "$csv" ] || python3 bench/gen_recipients.py "$jobs" > "$csv"
    rm -f "$db".tmp*
    export SWITCHBOARD_CONFIG=/dev/null
    bin=target/release/switchboard
    "$bin" --db "$db.tmp" campaign create bench/campaign.toml >/dev/null 2>&1
    t0=$(date +%s.%N)
    "$bin" --db "$db.tmp" import bench "$csv" --json | tail -1
    t1=$(date +%s.%N)
    # Every job dialled once, a call in progress: ids shaped like the dispatcher's (UUIDs).
    sqlite3 "$db.tmp" >/dev/null <<'SQL'
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA cache_size = -262144;
BEGIN;
INSERT INTO attempts (id, job_id, campaign_id, phone, attempt_no, state, call_id, dialed_at, expires_at, sent_at, poll_at)
SELECT substr(a, 1, 8) || '-' || substr(a, 9, 4) || '-4' || substr(a, 14, 3) || '-a' || substr(a, 18, 3) || '-' || substr(a, 21, 12),
       id, campaign_id, phone, 1, 'in_call',
       substr(c, 1, 8) || '-' || substr(c, 9, 4) || '-4' || substr(c, 14, 3) || '-b' || substr(c, 18, 3) || '-' || substr(c, 21, 12),
       now, now + 10 * 60000, now, now + 7 * 60000
FROM (SELECT lower(hex(randomblob(16))) AS a, lower(hex(randomblob(16))) AS c,
             CAST(strftime('%s', 'now') AS INTEGER) * 1000 AS now, id, campaign_id, phone FROM jobs);
UPDATE jobs SET state = 'in_call', attempts = 1;
UPDATE campaigns SET state = 'running';
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
    t2=$(date +%s.%N)
    mv "$db.tmp" "$db"
    rm -f "$db".tmp*
    python3 -c "import sys; a,b,c=map(float,sys.argv[1:4]); print(f'built {sys.argv[4]}: import {b-a:.1f}s, attempts {c-b:.1f}s')" "$t0" "$t1" "$t2" "$db"
fi
echo "jobs: $(sqlite3 "$db" 'SELECT COUNT(*) FROM jobs')  attempts: $(sqlite3 "$db" 'SELECT COUNT(*) FROM attempts')  size: $(du -h "$db" | cut -f1)"

run="$out/webhooks-run.db"
rm -f "$run" "$run"-wal "$run"-shm
cp "$db" "$run"
target/release/examples/webhook_bench --db "$run" --webhooks "$webhooks" --concurrency "$concurrency" \
    --duplicates "$duplicates"
