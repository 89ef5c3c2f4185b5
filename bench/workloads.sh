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

# wait_idle waits (at most IDLE_WAIT seconds, default 120) until the machine
# has been at least 85% idle for 3 seconds in a row, so that a measurement
# does not share the cores with someone's build; it warns if it gives up.
wait_idle() {
  local deadline=$((SECONDS + ${IDLE_WAIT:-120})) calm=0 a b
  while [ $SECONDS -lt $deadline ]; do
    read -r -a a < <(head -1 /proc/stat)
    sleep 1
    read -r -a b < <(head -1 /proc/stat)
    local idle=$(( (b[4] + b[5]) - (a[4] + a[5]) )) total=0 i
    for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
    if [ "$total" -gt 0 ] && [ $((100 * idle / total)) -ge 85 ]; then
      calm=$((calm + 1))
      [ $calm -ge 3 ] && return 0
    else
      calm=0
    fi
  done
  echo "warning: the machine stayed busy; measuring anyway" >&2
}

log() { echo "workloads: $*" >&2; }

free_port() {
  for _ in $(seq 1 50); do
    local p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "no free port" >&2; return 1
}

# start_broker DIR PORT: starts kavka serve in the background, sets PID.
start_broker() {
  "$BIN" serve --data-dir "$1" --listen "127.0.0.1:$2" >>"$OUT/broker-$name.log" 2>&1 &
  PID=$!
  local deadline=$((SECONDS + 60))
  until (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; do
    if [ $SECONDS -ge $deadline ] || ! kill -0 "$PID" 2>/dev/null; then
      echo "broker on port $2 did not start; see $OUT/broker-$name.log" >&2; return 1
    fi
    sleep 0.05
  done
}

stop_broker() {
  kill "$PID" 2>/dev/null || true
  timeout 30 tail --pid="$PID" -f /dev/null 2>/dev/null || kill -9 "$PID" 2>/dev/null || true
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
