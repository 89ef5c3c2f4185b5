#!/bin/sh
# pg.sh start DIR PORT | pg.sh stop DIR
#
# Starts a throwaway PostgreSQL on 127.0.0.1:PORT with its data in DIR
# (initdb, trust auth, wal_level=logical for CDC, fsync off), installing
# Debian's postgresql package first if no server is installed (idempotent;
# needs root, as CI runs). As root the server runs as the postgres user.
set -eu
find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
BIN=$(find_bin)
if [ -z "$BIN" ]; then
	if [ "$(id -u)" != 0 ]; then echo "pg.sh: postgresql not installed and not root" >&2; exit 2; fi
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get -y -qq install postgresql >/dev/null
	BIN=$(find_bin)
fi
run() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "$1" in
start)
	DIR=$2 PORT=$3
	mkdir -p "$DIR"
	[ "$(id -u)" = 0 ] && chown postgres "$DIR"
	run "$BIN/initdb" -D "$DIR/data" -A trust -U postgres >/dev/null
	run "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -t 60 \
		-o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c wal_level=logical -c fsync=off -c max_wal_senders=4 -c max_replication_slots=4" start >/dev/null
	;;
stop)
	run "$BIN/pg_ctl" -D "$2/data" -m fast -w -t 60 stop >/dev/null
	;;
*)
	echo "usage: pg.sh start DIR PORT | pg.sh stop DIR" >&2; exit 2
	;;
esac
