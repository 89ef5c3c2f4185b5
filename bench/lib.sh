# bench/lib.sh: what bench/compare.sh and bench/workloads.sh share, to be
# sourced (`. bench/lib.sh`), not run: waiting for an idle machine, picking
# a free port, starting `kavka serve` and stopping a process. It sets no
# shell options and defines only functions.

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

# free_port prints a TCP port nobody listens on (bounded tries).
free_port() {
  for _ in $(seq 1 50); do
    local p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "no free port" >&2; return 1
}

# wait_port PORT SECONDS [PID] waits until 127.0.0.1:PORT accepts
# connections; it fails after SECONDS, or as soon as process PID has exited.
wait_port() {
  local deadline=$((SECONDS + $2))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    if [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null; then
      echo "process $3 exited before port $1 opened" >&2; return 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "port $1 not open after $2 s" >&2; return 1
    fi
    sleep 0.05
  done
}

# stop_pid PID [SECONDS] sends SIGTERM to PID and waits for it to exit, at
# most SECONDS (default 20), then sends SIGKILL.
stop_pid() {
  kill "$1" 2>/dev/null || return 0
  timeout "${2:-20}" tail --pid="$1" -f /dev/null 2>/dev/null || kill -9 "$1" 2>/dev/null || true
}

# start_kavka BIN DATA_DIR PORT LOG [SECONDS] starts `BIN serve` on
# 127.0.0.1:PORT in the background, appending its output to LOG, sets
# KAVKA_PID and waits (at most SECONDS, default 60) until it accepts
# connections. A broker that does not start is stopped, and it fails.
start_kavka() {
  "$1" serve --data-dir "$2" --listen "127.0.0.1:$3" >>"$4" 2>&1 &
  KAVKA_PID=$!
  if ! wait_port "$3" "${5:-60}" "$KAVKA_PID"; then
    echo "broker on port $3 did not start; see $4" >&2
    stop_pid "$KAVKA_PID"
    return 1
  fi
}
