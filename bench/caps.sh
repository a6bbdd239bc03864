#!/usr/bin/env bash
# Cap utilisation: how much of a campaign's per-minute allowance the real dispatcher turns into
# calls the Bland simulator received, with 90 % of the list in closed zones (spread through the
# queue, and all first in it), through a 429 storm, and with 5 % of requests failing ambiguously;
# and whether any sliding minute ever held more calls than the cap (exit status 1 if so).
#
# Time is simulated (a ManualClock advanced in 1 s ticks), so the figures do not depend on the
# machine; the debug build measures the same thing a release build would. The simulator's send
# log for each scenario is kept in bench-out/caps/. See examples/caps_bench.rs for definitions.
#
# Usage: bench/caps.sh [caps_bench options]   (e.g. --scenario storm --minutes 60)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench-out/caps
cargo build --quiet --example caps_bench
exec target/debug/examples/caps_bench --out bench-out/caps "$@"
