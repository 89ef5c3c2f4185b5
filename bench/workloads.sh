#!/usr/bin/env bash
# bench/workloads.sh: run the reference workloads (bench/workloads/*.yaml)
# against a fresh `kavka serve`, one broker per workload, and add what only
# the broker's side shows: peak RSS (VmHWM) per workload and, for workload 5,
# the start-up time with 10,000 partitions on disk and the idle RSS after it.
#
#   bash bench/workloads.sh                 # all six
#   bash bench/workloads.sh w2 w4           # names by prefix
#   EXTRA="--duration 5s" bash bench/workloads.sh w1
#
# Environment: OUT [bench-out]: JSON results, SVG plots and broker logs go
# there; DATA_DIR [a new dir under /var/tmp, removed unless KEEP=1]; EXTRA:
# flags added to every `kavka bench` (they override the workload files);
# KAVKA_BIN: a kavka binary to use instead of building ./cmd/kavka.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
OUT=${OUT:-bench-out}
KEEP=${KEEP:-0}
EXTRA=${EXTRA:-}
DATA_DIR=${DATA_DIR:-$(mktemp -d /var/tmp/kavka-workloads.XXXXXX)}
mkdir -p "$OUT" "$DATA_DIR"
OUT=$(cd "$OUT" && pwd)
BIN=${KAVKA_BIN:-$DATA_DIR/kavka}

PID=
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; fi
  if [ "$KEEP" = 0 ]; then rm -rf "$DATA_DIR"; fi
}
trap cleanup EXIT

log() { echo "workloads: $*" >&2; }

# start_broker DIR PORT: starts kavka serve in the background, sets PID.
start_broker() {
  start_kavka "$BIN" "$1" "$2" "$OUT/broker-$name.log"
  PID=$KAVKA_PID
}

stop_broker() {
  stop_pid "$PID" 30
  PID=
}

rss_mib() { awk -v k="$2:" '$1 == k {printf "%.0f", $2/1024}' "/proc/$1/status"; }

if [ -z "${KAVKA_BIN:-}" ]; then
  log "building kavka"
  (cd "$ROOT" && go build -o "$BIN" ./cmd/kavka)
fi

names=("$@")
[ ${#names[@]} -gt 0 ] || names=(w1 w2 w3 w4 w5 w6)
for n in "${names[@]}"; do
  for file in "$ROOT"/bench/workloads/"$n"*.yaml; do
    name=$(basename "$file" .yaml)
    dir=$DATA_DIR/$name
    rm -rf "$dir" && mkdir -p "$dir"
    port=$(free_port)
    wait_idle
    start_broker "$dir" "$port"
    log "$name: broker pid $PID on $port, idle RSS $(rss_mib "$PID" VmRSS) MiB"
    # shellcheck disable=SC2086 # EXTRA is a list of flags
    "$BIN" bench --workload "$file" --brokers "127.0.0.1:$port" --json --plot "$OUT/$name.svg" $EXTRA \
      >"$OUT/$name.json"
    echo "$name: broker peak RSS $(rss_mib "$PID" VmHWM) MiB"
    python3 - "$OUT/$name.json" <<'EOF'
import json, sys
for r in json.load(open(sys.argv[1])):
    l = r.get("latency_ms") or {}
    lat = " ".join("%s=%.2f" % (k, l[k]) for k in ("p50", "p99", "p99_9", "max") if k in l)
    extra = " ".join("%s=%.6g" % kv for kv in sorted((r.get("extra") or {}).items()))
    print("  %-40s %10.0f rec/s %8.1f MB/s  %s %s  %s" % (
        r["config"]["name"], r["records_per_sec"], r["mb_per_sec"], r.get("latency_kind", ""), lat, extra))
EOF
    if [[ $name == w5* ]]; then
      stop_broker
      t0=$(date +%s.%N)
      start_broker "$dir" "$port"
      # Ready = the topic's 10,000 partitions all have a leader and take a record.
      "$BIN" bench produce --brokers "127.0.0.1:$port" --topic bench-w5 --partitions 10000 --count 1 \
        --json >/dev/null 2>&1
      t1=$(date +%s.%N)
      sleep 3
      printf "  restart with 10000 partitions: ready in %.2f s, idle RSS %s MiB\n" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" "$(rss_mib "$PID" VmRSS)"
    fi
    stop_broker
  done
done
