#!/usr/bin/env bash
# bench/compare.sh: Kavka beside the machine's limits and its peers, in one
# run on one machine (issue 5).
#
#   limits: sequential write + fsync bandwidth of the data disk (fio, 1 MiB
#           writes each fsynced), 4 KiB write+fsync rate, loopback TCP (iperf3)
#   Kavka:  `kavka serve` on a temp dir, `kavka bench produce` (acks=all,
#           durable default: fsync before ack)
#   peers:  NATS JetStream, file storage (nats-server built from the Go module
#           proxy), async publish; Redis Streams XADD, appendfsync everysec
#
# Every system writes RECORDS records of each size in SIZES. The table ends
# with the ratios Kavka / raw disk, Kavka / NATS and Kavka / Redis.
# It installs what it needs (fio, iperf3, redis-server from Debian;
# nats-server from the Go module proxy) and is safe to re-run.
#
# Environment (defaults in brackets); CI runs it tiny, e.g.
#   RECORDS=20000 FIO_SIZE=32M IPERF_SECONDS=1 bash bench/compare.sh
#   RECORDS [1000000]  SIZES ["1024 100"]  PARTITIONS [8]  FIO_SIZE [1G]
#   IPERF_SECONDS [5]  DATA_DIR [a new dir under /var/tmp]  KEEP [0: delete it]
#   JSON_OUT [unset: a file to write the table as JSON lines]
#   KAVKA_BIN [unset: build ./cmd/kavka; set: use this kavka binary]
#   BROKERS [unset: start kavka serve; set: benchmark that Kafka cluster
#            instead, e.g. a Kafka or Redpanda broker on this machine]
set -euo pipefail

RECORDS=${RECORDS:-1000000}
SIZES=${SIZES:-"1024 100"}
PARTITIONS=${PARTITIONS:-8}
FIO_SIZE=${FIO_SIZE:-1G}
IPERF_SECONDS=${IPERF_SECONDS:-5}
KEEP=${KEEP:-0}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
DATA_DIR=${DATA_DIR:-$(mktemp -d /var/tmp/kavka-compare.XXXXXX)}
BIN=$DATA_DIR/bin
mkdir -p "$BIN"

PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null || true
  done
  if [ "$KEEP" = 0 ]; then rm -rf "$DATA_DIR"; fi
}
trap cleanup EXIT

log() { echo "compare: $*" >&2; }

# field prints the value of key=$2 in the RESULT line $1.
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }

# ---------------------------------------------------------------- install
need=()
command -v fio >/dev/null || need+=(fio)
command -v iperf3 >/dev/null || need+=(iperf3)
command -v redis-server >/dev/null || need+=(redis-server)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Debian starts a system redis on 6379; ours runs on its own port.

log "building kavka, peerbench and nats-server"
if [ -n "${KAVKA_BIN:-}" ]; then
  cp "$KAVKA_BIN" "$BIN/kavka"
else
  (cd "$ROOT" && go build -o "$BIN/kavka" ./cmd/kavka)
fi
(cd "$ROOT/bench/peers" && go build -o "$BIN/peerbench" ./cmd/peerbench &&
  go build -o "$BIN/nats-server" github.com/nats-io/nats-server/v2)

# ---------------------------------------------------------------- limits
wait_idle
log "fio: sequential 1 MiB writes, fsync after each, $FIO_SIZE"
mkdir -p "$DATA_DIR/fio"
fio_bw=$(fio --name=seqfsync --directory="$DATA_DIR/fio" --rw=write --bs=1M --size="$FIO_SIZE" \
  --ioengine=sync --fsync=1 --end_fsync=1 --output-format=json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["write"]["bw_bytes"]/1e6)')
rm -rf "$DATA_DIR/fio"
mkdir -p "$DATA_DIR/fio"
log "fio: 4 KiB writes, fsync after each, 3 s"
fio_fsyncs=$(fio --name=fsyncrate --directory="$DATA_DIR/fio" --rw=write --bs=4k --size=64M \
  --ioengine=sync --fsync=1 --runtime=3 --time_based --output-format=json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["write"]["iops"])')
rm -rf "$DATA_DIR/fio"

log "iperf3: loopback TCP, $IPERF_SECONDS s"
ip_port=$(free_port)
iperf3 -s -p "$ip_port" -B 127.0.0.1 >/dev/null 2>&1 &
ip_pid=$!
PIDS+=("$ip_pid")
sleep 0.5 # a probe connection would count as an iperf3 test; just give it time
tcp_mb=$(iperf3 -c 127.0.0.1 -p "$ip_port" -t "$IPERF_SECONDS" -J |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/8e6)')
stop_pid "$ip_pid"

# ---------------------------------------------------------------- systems
declare -A RPS MBS
for size in $SIZES; do
  wait_idle
  # Kavka (or the cluster in BROKERS)
  k_pid=
  brokers=${BROKERS:-}
  if [ -z "$brokers" ]; then
    k_port=$(free_port)
    rm -rf "$DATA_DIR/kavka"
    mkdir -p "$DATA_DIR/kavka"
    start_kavka "$BIN/kavka" "$DATA_DIR/kavka" "$k_port" "$DATA_DIR/kavka.log" 30
    k_pid=$KAVKA_PID
    PIDS+=("$k_pid")
    brokers=127.0.0.1:$k_port
  fi
  log "kavka: $RECORDS x $size B, $PARTITIONS partitions, acks=all ($brokers)"
  out=$("$BIN/kavka" bench produce --brokers "$brokers" --topic "compare-$size-$$" \
    --partitions "$PARTITIONS" --record-size "$size" --count "$RECORDS" --acks all --linger 5ms --json 2>/dev/null)
  read -r rps mbs < <(python3 -c 'import json,sys; r=json.load(sys.stdin)[0]; print(r["records_per_sec"], r["mb_per_sec"])' <<<"$out")
  RPS[kavka,$size]=$rps MBS[kavka,$size]=$mbs
  RPS[kavka_rss,$size]=0
  if [ -n "$k_pid" ]; then
    RPS[kavka_rss,$size]=$(awk '/VmHWM/ {print $2/1024}' "/proc/$k_pid/status")
    stop_pid "$k_pid"
  fi

  wait_idle
  # NATS JetStream
  n_port=$(free_port)
  rm -rf "$DATA_DIR/nats"
  "$BIN/nats-server" -js -sd "$DATA_DIR/nats" -a 127.0.0.1 -p "$n_port" >"$DATA_DIR/nats.log" 2>&1 &
  n_pid=$!
  PIDS+=("$n_pid")
  wait_port "$n_port" 30
  log "nats: $RECORDS x $size B, JetStream file storage, async publish"
  out=$("$BIN/peerbench" nats --url "nats://127.0.0.1:$n_port" --count "$RECORDS" --record-size "$size")
  RPS[nats,$size]=$(field "$out" records_per_sec) MBS[nats,$size]=$(field "$out" mb_per_sec)
  stop_pid "$n_pid"

  wait_idle
  # Redis Streams
  r_port=$(free_port)
  rm -rf "$DATA_DIR/redis"
  mkdir -p "$DATA_DIR/redis"
  redis-server --port "$r_port" --bind 127.0.0.1 --dir "$DATA_DIR/redis" --appendonly yes \
    --appendfsync everysec --save "" --daemonize no >"$DATA_DIR/redis.log" 2>&1 &
  r_pid=$!
  PIDS+=("$r_pid")
  wait_port "$r_port" 30
  log "redis: $RECORDS x $size B, XADD pipelined, appendfsync everysec"
  out=$("$BIN/peerbench" redis --addr "127.0.0.1:$r_port" --count "$RECORDS" --record-size "$size")
  RPS[redis,$size]=$(field "$out" records_per_sec) MBS[redis,$size]=$(field "$out" mb_per_sec)
  stop_pid "$r_pid"
done

# ---------------------------------------------------------------- table
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r); records=$RECORDS partitions=$PARTITIONS"
printf "limits: disk seq write+fsync %.1f MB/s; 4 KiB write+fsync %.0f/s; loopback TCP %.0f MB/s\n" \
  "$fio_bw" "$fio_fsyncs" "$tcp_mb"
printf "%-6s | %-22s | %-22s | %-22s | %-9s | %-9s | %-9s | %s\n" size "kavka rec/s MB/s" "nats rec/s MB/s" \
  "redis rec/s MB/s" "k/disk" "k/nats" "k/redis" "kavka peak RSS MiB"
for size in $SIZES; do
  python3 - "$size" "${RPS[kavka,$size]}" "${MBS[kavka,$size]}" "${RPS[nats,$size]}" "${MBS[nats,$size]}" \
    "${RPS[redis,$size]}" "${MBS[redis,$size]}" "$fio_bw" "${RPS[kavka_rss,$size]}" "${JSON_OUT:-}" <<'EOF'
import json, sys
size, krps, kmb, nrps, nmb, rrps, rmb, disk, rss, out = sys.argv[1:]
krps, kmb, nrps, nmb, rrps, rmb, disk, rss = map(float, (krps, kmb, nrps, nmb, rrps, rmb, disk, rss))
row = dict(size=int(size), kavka_rps=krps, kavka_mbps=kmb, nats_rps=nrps, nats_mbps=nmb, redis_rps=rrps,
           redis_mbps=rmb, disk_mbps=disk, kavka_over_disk=kmb / disk, kavka_over_nats=kmb / nmb,
           kavka_over_redis=kmb / rmb, kavka_peak_rss_mib=rss)
print("%-6s | %10.0f %9.1f  | %10.0f %9.1f  | %10.0f %9.1f  | %8.2fx | %8.2fx | %8.2fx | %.0f" % (
    size, krps, kmb, nrps, nmb, rrps, rmb, kmb / disk, kmb / nmb, kmb / rmb, rss))
if out:
    with open(out, "a") as f:
        f.write(json.dumps(row) + "\n")
EOF
done
