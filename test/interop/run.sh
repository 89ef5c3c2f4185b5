#!/usr/bin/env bash
# Interop suite: drives a real `kavka serve` with Kafka clients that are not
# ours — kcat and confluent-kafka-python (librdkafka), kafkajs, IBM/sarama and
# segmentio/kafka-go — and prints a client × codec table.
#
# For each client and codec (none gzip snappy lz4 zstd): metadata, create a
# topic, produce N keyed records, consume them back; goclients check then
# verifies the count, the order per partition and that each key stays on one
# partition, and goclients codecs that the batches the broker serves really
# carry the codec. Exit status is non-zero if any cell FAILed. A client that cannot
# be installed here, or a codec it cannot load, is SKIPPED with the reason.
#
# Installs what it needs idempotently: Debian packages kcat and
# python3-confluent-kafka (apt-get, only when missing and running as root),
# kafkajs from test/interop/js/package-lock.json (npm ci), and the Go clients
# in the separate module test/interop/goclients.
#
# Then a transactions section: confluent-kafka-python commits and aborts,
# kcat reads back in read_committed mode.
#
# Environment: INTEROP_RECORDS (default 10000), INTEROP_CLIENTS and
# INTEROP_CODECS (space-separated subsets), KAVKA_BIN (a prebuilt kavka),
# INTEROP_BROKERS (test an already running broker instead of starting one).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
N=${INTEROP_RECORDS:-10000}
read -r -a CLIENTS <<<"${INTEROP_CLIENTS:-kcat confluent-kafka-python kafkajs sarama sarama-4.1 kafka-go}"
read -r -a CODECS <<<"${INTEROP_CODECS:-none gzip snappy lz4 zstd}"
PARTITIONS=3
CLIENT_TIMEOUT=${INTEROP_CLIENT_TIMEOUT:-90} # seconds, per client × codec run (10,000 records take a few)
SYS_PYTHON=/usr/bin/python3 # Debian's python3-confluent-kafka lives here

WORK=$(mktemp -d -t kavka-interop.XXXXXX)
BROKER_PID=""
log() { echo "interop: $*" >&2; }

cleanup() {
	if [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; then
		kill -TERM "$BROKER_PID" 2>/dev/null
		for _ in $(seq 1 100); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$BROKER_PID" 2>/dev/null
		wait "$BROKER_PID" 2>/dev/null
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

declare -A SKIP   # client -> reason it is skipped entirely
declare -A RESULT # client/codec -> ok | FAIL | SKIPPED
declare -A WHY    # client/codec -> reason for FAIL or SKIPPED

# --- install -----------------------------------------------------------------

APT_UPDATED=""
deb_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# ensure_deb PKG: install a Debian package if missing; returns non-zero with
# the reason on stdout if it cannot.
ensure_deb() {
	local pkg=$1
	deb_installed "$pkg" && return 0
	if ! command -v apt-get >/dev/null; then echo "no apt-get to install $pkg"; return 1; fi
	if [ "$(id -u)" != 0 ]; then echo "$pkg not installed and not root"; return 1; fi
	if [ -z "$APT_UPDATED" ] && ! apt-cache policy "$pkg" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
		timeout 300 apt-get update -qq >"$WORK/apt-update.log" 2>&1
		APT_UPDATED=1
	fi
	if DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq "$pkg" >"$WORK/apt-$pkg.log" 2>&1; then
		return 0
	fi
	if [ -z "$APT_UPDATED" ]; then # stale package lists: update once and retry
		timeout 300 apt-get update -qq >"$WORK/apt-update.log" 2>&1
		APT_UPDATED=1
		DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq "$pkg" >"$WORK/apt-$pkg.log" 2>&1 && return 0
	fi
	echo "apt-get install $pkg failed: $(tail -n 1 "$WORK/apt-$pkg.log")"
	return 1
}

wants() { local c; for c in "${CLIENTS[@]}"; do [ "$c" = "$1" ] && return 0; done; return 1; }

if wants kcat; then
	why=$(ensure_deb kcat) || SKIP[kcat]=$why
fi
if wants confluent-kafka-python; then
	if [ ! -x "$SYS_PYTHON" ]; then
		SKIP[confluent-kafka-python]="no $SYS_PYTHON"
	elif why=$(ensure_deb python3-confluent-kafka); then
		"$SYS_PYTHON" -c 'import confluent_kafka' 2>/dev/null ||
			SKIP[confluent-kafka-python]="python3-confluent-kafka installed but does not import"
	else
		SKIP[confluent-kafka-python]=$why
	fi
fi
if wants kafkajs; then
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		SKIP[kafkajs]="node or npm not installed"
	elif ! (cd "$HERE/js" && node -e "require('kafkajs')" 2>/dev/null); then
		log "npm ci in test/interop/js"
		if ! (cd "$HERE/js" && timeout 600 npm ci --no-audit --no-fund >"$WORK/npm.log" 2>&1); then
			SKIP[kafkajs]="npm ci failed: $(tail -n 1 "$WORK/npm.log")"
		fi
	fi
fi

log "building goclients (sarama, kafka-go, checker)"
if ! (cd "$HERE/goclients" && timeout 600 go build -o "$WORK/goclients" .) >"$WORK/goclients-build.log" 2>&1; then
	cat "$WORK/goclients-build.log" >&2
	log "FAIL: cannot build test/interop/goclients, which holds the checker"
	exit 1
fi
GOCLIENTS=$WORK/goclients

KAVKA=${KAVKA_BIN:-}
if [ -z "$KAVKA" ]; then
	log "building kavka"
	if ! (cd "$ROOT" && timeout 600 go build -o "$WORK/kavka" ./cmd/kavka) >"$WORK/kavka-build.log" 2>&1; then
		cat "$WORK/kavka-build.log" >&2
		log "FAIL: cannot build ./cmd/kavka"
		exit 1
	fi
	KAVKA=$WORK/kavka
fi

# --- broker ------------------------------------------------------------------

if [ -n "${INTEROP_BROKERS:-}" ]; then
	ADDR=$INTEROP_BROKERS
else
	ADDR=$("$GOCLIENTS" freeport) || { log "FAIL: no free port"; exit 1; }
	mkdir -p "$WORK/data"
	"$KAVKA" serve --data-dir "$WORK/data" --listen "$ADDR" >"$WORK/broker.log" 2>&1 &
	BROKER_PID=$!
	log "kavka serve pid $BROKER_PID on $ADDR"
fi
if ! "$GOCLIENTS" wait -brokers "$ADDR" -timeout 30s; then
	log "FAIL: broker at $ADDR not ready within 30s"
	[ -f "$WORK/broker.log" ] && tail -n 50 "$WORK/broker.log" >&2
	exit 1
fi

# kafkajs consumes only in a consumer group: without the group APIs it cannot
# read anything back, so it is skipped rather than failed.
if wants kafkajs && [ -z "${SKIP[kafkajs]:-}" ]; then
	apis=$("$GOCLIENTS" apis -brokers "$ADDR" -timeout 10s | awk '{print $1}' | tr '\n' ' ')
	for k in 8 9 10 11 12 14; do # OffsetCommit OffsetFetch FindCoordinator JoinGroup Heartbeat SyncGroup
		case " $apis " in *" $k "*) ;; *) SKIP[kafkajs]="broker lacks consumer group API key $k (kafkajs consumes only in a group)"; break ;; esac
	done
fi

# --- runs --------------------------------------------------------------------

kcat_supports() { kcat -V 2>/dev/null | grep -o 'builtin.features=[^ )]*' | tr '=,' '  ' | grep -qw "$1"; }

# run_client CLIENT CODEC TOPIC OUT ERR: produce and consume; exit 3 = codec unavailable.
run_client() {
	local client=$1 codec=$2 topic=$3 out=$4 err=$5
	case $client in
	kcat)
		if [ "$codec" != none ] && ! kcat_supports "$codec"; then echo "kcat lacks $codec" >"$err"; return 3; fi
		"$KAVKA" topic create "$topic" --partitions "$PARTITIONS" --replication-factor 1 --brokers "$ADDR" >>"$err" 2>&1 || return 1
		timeout 30 kcat -b "$ADDR" -L -t "$topic" >>"$err" 2>&1 || return 1
		"$GOCLIENTS" gen -n "$N" -sep : |
			timeout "$CLIENT_TIMEOUT" kcat -P -b "$ADDR" -t "$topic" -K : -z "$codec" \
				-X linger.ms=5 -X request.required.acks=-1 >>"$err" 2>&1 || return 1
		timeout "$CLIENT_TIMEOUT" kcat -C -b "$ADDR" -t "$topic" -o beginning -e -q \
			-f '%p\t%o\t%k\t%s\n' >"$out" 2>>"$err"
		;;
	confluent-kafka-python)
		timeout "$CLIENT_TIMEOUT" "$SYS_PYTHON" "$HERE/python/client.py" "$ADDR" "$topic" "$codec" "$N" "$PARTITIONS" >"$out" 2>"$err"
		;;
	kafkajs)
		INTEROP_CLIENT_TIMEOUT_MS=$((CLIENT_TIMEOUT * 1000 - 5000)) \
			timeout "$CLIENT_TIMEOUT" node "$HERE/js/client.js" "$ADDR" "$topic" "$codec" "$N" "$PARTITIONS" >"$out" 2>"$err"
		;;
	sarama-4.1)
		# sarama pins request versions to the Kafka version it is told:
		# this run uses the newest it knows (flexible Produce, Fetch, Metadata).
		timeout "$CLIENT_TIMEOUT" "$GOCLIENTS" sarama -kafka-version 4.1.0 -brokers "$ADDR" -topic "$topic" -codec "$codec" \
			-n "$N" -partitions "$PARTITIONS" -timeout "$((CLIENT_TIMEOUT - 5))s" >"$out" 2>"$err"
		;;
	sarama | kafka-go)
		timeout "$CLIENT_TIMEOUT" "$GOCLIENTS" "${client//-/}" -brokers "$ADDR" -topic "$topic" -codec "$codec" \
			-n "$N" -partitions "$PARTITIONS" -timeout "$((CLIENT_TIMEOUT - 5))s" >"$out" 2>"$err"
		;;
	*)
		echo "unknown client $client" >"$err"
		return 1
		;;
	esac
}

START=$(date +%s)
for client in "${CLIENTS[@]}"; do
	for codec in "${CODECS[@]}"; do
		cell="$client/$codec"
		if [ -n "${SKIP[$client]:-}" ]; then
			RESULT[$cell]=SKIPPED
			WHY[$cell]=${SKIP[$client]}
			continue
		fi
		topic="interop-$client-$codec"
		out="$WORK/$client-$codec.out" err="$WORK/$client-$codec.err"
		t0=$(date +%s)
		run_client "$client" "$codec" "$topic" "$out" "$err"
		rc=$?
		if [ $rc = 3 ]; then
			RESULT[$cell]=SKIPPED
			WHY[$cell]=$(tail -n 1 "$err")
		elif [ $rc != 0 ]; then
			RESULT[$cell]=FAIL
			WHY[$cell]="client exit $rc: $(grep -v '^\s*$' "$err" | tail -n 3 | tr '\n' ' ')"
		elif ! check=$("$GOCLIENTS" check -n "$N" <"$out" 2>&1); then
			RESULT[$cell]=FAIL
			WHY[$cell]=$check
		elif check=$("$GOCLIENTS" codecs -brokers "$ADDR" -topic "$topic" -codec "$codec" -timeout 60s 2>&1); then
			RESULT[$cell]=ok
		else
			RESULT[$cell]=FAIL
			WHY[$cell]=$check
		fi
		log "$cell: ${RESULT[$cell]} in $(($(date +%s) - t0))s ${WHY[$cell]:-}"
	done
done

# --- consumer groups -----------------------------------------------------------
# Each group-capable client consumes the topic it produced in its codec-none
# run as the one member of a consumer group, commits and leaves; the checker
# verifies the records and `kavka group describe` that every partition has a
# committed offset at the log end (lag 0). Environment: INTEROP_GROUP_CLIENTS.

read -r -a GROUP_CLIENTS <<<"${INTEROP_GROUP_CLIENTS:-sarama kafkajs confluent-kafka-python}"
declare -A GROUP_RESULT GROUP_WHY
GROUP_FAILS=0

run_group() {
	local client=$1 topic=$2 group=$3 out=$4 err=$5
	case $client in
	sarama) timeout "$CLIENT_TIMEOUT" "$GOCLIENTS" saramagroup -brokers "$ADDR" -topic "$topic" -group "$group" -n "$N" -timeout "$((CLIENT_TIMEOUT - 5))s" >"$out" 2>"$err" ;;
	kafkajs) timeout "$CLIENT_TIMEOUT" node "$HERE/js/group.js" "$ADDR" "$topic" "$group" "$N" >"$out" 2>"$err" ;;
	confluent-kafka-python) timeout "$CLIENT_TIMEOUT" "$SYS_PYTHON" "$HERE/python/group.py" "$ADDR" "$topic" "$group" "$N" >"$out" 2>"$err" ;;
	*) echo "no group driver for $client" >"$err"; return 1 ;;
	esac
}

for client in "${GROUP_CLIENTS[@]}"; do
	wants "$client" || continue
	if [ "${RESULT[$client/none]:-}" != ok ]; then
		GROUP_RESULT[$client]=SKIPPED
		GROUP_WHY[$client]="needs its codec-none run to pass first (${RESULT[$client/none]:-not run})"
		continue
	fi
	topic="interop-$client-none" group="interop-group-$client"
	out="$WORK/group-$client.out" err="$WORK/group-$client.err"
	if ! run_group "$client" "$topic" "$group" "$out" "$err"; then
		GROUP_RESULT[$client]=FAIL
		GROUP_WHY[$client]="client: $(grep -v '^\s*$' "$err" | tail -n 3 | tr '\n' ' ')"
	elif ! check=$("$GOCLIENTS" check -n "$N" <"$out" 2>&1); then
		GROUP_RESULT[$client]=FAIL
		GROUP_WHY[$client]=$check
	elif ! desc=$("$KAVKA" group describe "$group" --brokers "$ADDR" 2>&1); then
		GROUP_RESULT[$client]=FAIL
		GROUP_WHY[$client]="group describe: $desc"
	else
		bad=$(echo "$desc" | awk -v t="$topic" '$1 == t { rows++; if ($3 == "-" || $5 != 0) bad = bad " p" $2 "(committed " $3 ", lag " $5 ")" } END { if (rows == 0) print "no partitions described"; else print bad }')
		if [ -n "$bad" ]; then
			GROUP_RESULT[$client]=FAIL
			GROUP_WHY[$client]="committed offsets not at the log end:$bad"
		else
			GROUP_RESULT[$client]=ok
		fi
	fi
	[ "${GROUP_RESULT[$client]}" = FAIL ] && GROUP_FAILS=$((GROUP_FAILS + 1))
	log "group/$client: ${GROUP_RESULT[$client]} ${GROUP_WHY[$client]:-}"
done
echo
echo "consumer group (consume in a group, commit, lag 0):"
for client in "${!GROUP_RESULT[@]}"; do
	printf '  %-24s %s %s\n' "$client" "${GROUP_RESULT[$client]}" "${GROUP_WHY[$client]:-}"
done

# --- transactions --------------------------------------------------------------
# confluent-kafka-python's transactional producer commits, aborts and commits
# again (python/txn.py, INTEROP_TXN_RECORDS per transaction, default 1000);
# kcat reads the topic back with isolation.level=read_committed (exactly the
# committed records, none aborted) and read_uncommitted (all of them).

TXN_N=${INTEROP_TXN_RECORDS:-1000}
TXN_RESULT=SKIPPED TXN_WHY="" TXN_FAILS=0
if ! wants confluent-kafka-python || [ -n "${SKIP[confluent-kafka-python]:-}" ]; then
	TXN_WHY="confluent-kafka-python: ${SKIP[confluent-kafka-python]:-not selected}"
elif ! wants kcat || [ -n "${SKIP[kcat]:-}" ]; then
	TXN_WHY="kcat: ${SKIP[kcat]:-not selected}"
else
	topic=interop-txn err="$WORK/txn.err"
	count() { # FILE PREFIX: lines whose value starts with PREFIX-
		grep -c "^$2-" "$1"
	}
	if ! "$KAVKA" topic create "$topic" --partitions "$PARTITIONS" --replication-factor 1 --brokers "$ADDR" >"$err" 2>&1 ||
		! timeout "$CLIENT_TIMEOUT" "$SYS_PYTHON" "$HERE/python/txn.py" "$ADDR" "$topic" "$TXN_N" >>"$err" 2>&1; then
		TXN_RESULT=FAIL TXN_WHY="producer: $(grep -v '^\s*$' "$err" | tail -n 3 | tr '\n' ' ')"
	else
		for iso in read_committed read_uncommitted; do
			timeout "$CLIENT_TIMEOUT" kcat -C -b "$ADDR" -t "$topic" -o beginning -e -q -X isolation.level=$iso \
				-f '%s\n' >"$WORK/txn-$iso.out" 2>>"$err"
		done
		rc="$WORK/txn-read_committed.out" ru="$WORK/txn-read_uncommitted.out"
		got="committed: commit1 $(count "$rc" commit1), abort $(count "$rc" abort), commit2 $(count "$rc" commit2); uncommitted: abort $(count "$ru" abort)"
		if [ "$(count "$rc" commit1)" = "$TXN_N" ] && [ "$(count "$rc" commit2)" = "$TXN_N" ] &&
			[ "$(count "$rc" abort)" = 0 ] && [ "$(wc -l <"$rc")" = $((2 * TXN_N)) ] && [ "$(count "$ru" abort)" = "$TXN_N" ]; then
			TXN_RESULT=ok
		else
			TXN_RESULT=FAIL
		fi
		TXN_WHY=$got
	fi
fi
[ "$TXN_RESULT" = FAIL ] && TXN_FAILS=1
log "transactions: $TXN_RESULT $TXN_WHY"
echo
echo "transactions (confluent-kafka-python commit/abort/commit, kcat read_committed):"
printf '  %-24s %s %s\n' "confluent-kafka-python" "$TXN_RESULT" "$TXN_WHY"

# --- report ------------------------------------------------------------------

fails=$((GROUP_FAILS + TXN_FAILS))
echo
printf '%-24s' "client \\ codec"
for codec in "${CODECS[@]}"; do printf '%-9s' "$codec"; done
echo
for client in "${CLIENTS[@]}"; do
	printf '%-24s' "$client"
	for codec in "${CODECS[@]}"; do
		r=${RESULT[$client/$codec]}
		[ "$r" = FAIL ] && fails=$((fails + 1))
		printf '%-9s' "$r"
	done
	echo
done
echo
for client in "${CLIENTS[@]}"; do
	for codec in "${CODECS[@]}"; do
		cell="$client/$codec"
		[ "${RESULT[$cell]}" != ok ] && echo "  $cell ${RESULT[$cell]}: ${WHY[$cell]}"
	done
done
echo "interop: finished in $(($(date +%s) - START))s against $ADDR"
if [ $fails -gt 0 ]; then
	echo "interop: $fails FAIL"
	if [ -f "$WORK/broker.log" ]; then
		echo "--- broker log (tail)"
		tail -n 40 "$WORK/broker.log"
	fi
	exit 1
fi
exit 0
