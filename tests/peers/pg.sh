#!/bin/bash
# tests/peers/pg.sh - a private PostgreSQL 15 server for tests (interface: tests/peers/README.md).
#
#   pg.sh install            install postgresql-15 and libpq-dev when initdb is missing
#   pg.sh start DIR          start a server, state in DIR/pg/, write and print DIR/pg.env
#   pg.sh stop DIR           stop it, remove DIR/pg/, DIR/pg.env, DIR/pg.pid; never fails
#   pg.sh psql DIR [ARGS]    run psql as user vcagent on database vcagent
#   pg.sh pause DIR          stop the server but keep its data (PostgreSQL going away)
#   pg.sh resume DIR         start it again on the same socket and port
#
# The server listens on a unix socket only (listen_addresses=''); the port just names the socket
# file. It runs as the `postgres` user with trust authentication, fsync, synchronous_commit and
# full_page_writes off; VCAGENT_PG_DURABLE=1 at start turns them on (for benchmarks: put the
# server's state on a disk, not tmpfs, or the fsyncs cost nothing: VCAGENT_PG_STATE=/var/tmp
# keeps it in a directory made there, DIR/pg a symlink to it, removed at stop). Role `vcagent` owns
# database `vcagent`; the superuser is `postgres` (user=postgres in the conninfo).
#
# Speed: the first start on a machine runs initdb, creates the role and database, stops the
# server cleanly and keeps a copy of that data directory as a template in the cache
# ($VCAGENT_PEER_CACHE, else /var/cache/vcagent-test, else ${XDG_CACHE_HOME:-~/.cache}/vcagent;
# VCAGENT_PEER_CACHE=off disables it). Later starts copy the template (cp -a) and start it.
set -euo pipefail

PEER_NAME=pg.sh
PEER_USAGE="install | start DIR | stop DIR | psql DIR [psql args...] | pause DIR | resume DIR"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PGBIN=/usr/lib/postgresql/15/bin
# Bump when the template's recipe changes (initdb options, role, database): old templates are ignored.
TEMPLATE_RECIPE=1
PG_ROLE=vcagent
PG_DBNAME=vcagent
# sun_path holds 108 bytes with the terminating NUL.
SOCKET_PATH_MAX=107

# Variables from the caller's environment must not redirect our own psql/pg_ctl calls.
unset PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGPASSWORD PGPASSFILE PGOPTIONS PGSERVICE \
	PGSERVICEFILE PGDATA PGSSLMODE PGCONNECT_TIMEOUT PGTARGETSESSIONATTRS PGAPPNAME || true

cmd_install() {
	[ -x "$PGBIN/initdb" ] && return 0
	# (On a fresh install postgresql-common also creates Debian's default cluster 15/main; our
	# servers do not use it.)
	peer_apt_install postgresql-15 libpq-dev
	[ -x "$PGBIN/initdb" ] || peer_die "install: $PGBIN/initdb still missing"
}

# env_value VALUE: the value as written in the env file: bare when it needs no quoting in sh,
# in single quotes otherwise (only PG_CONNINFO, which contains spaces).
env_value() {
	case "$1" in
	*[!A-Za-z0-9_./:@%+,=-]*) printf "'%s'" "$1" ;;
	*) printf '%s' "$1" ;;
	esac
}

template_dir() {
	local root ver
	root=$(peer_cache_root) || return 1
	ver=$("$PGBIN/postgres" -V | awk '{print $3}' | tr -c 'A-Za-z0-9.+\n-' '_')
	echo "$root/pg-template-r$TEMPLATE_RECIPE-$ver"
}

as_pg() { runuser -u postgres -- "$@"; }

# pid_is_postgres PID: the process exists, is a postgres and has not exited. A zombie counts as
# gone (peer_alive): after pg_ctl's fork exits, the postmaster's parent is PID 1, which may reap
# it late.
pid_is_postgres() {
	local comm
	peer_alive "${1:-}" || return 1
	comm=$(cat "/proc/$1/comm" 2>/dev/null) || return 1
	[ "$comm" = postgres ] || [ "$comm" = postmaster ]
}

# make_traversable DIR: let the postgres user reach DIR. DIR itself gets search permission for
# others (o+x, not read) when needed; its ancestors are left alone (no chmod of /root and such).
make_traversable() {
	local d=$1
	as_pg test -x "$d" 2>/dev/null && return 0
	as_pg test -x "$(dirname "$d")" 2>/dev/null || return 1
	chmod o+x "$d" 2>/dev/null || return 1
	as_pg test -x "$d" 2>/dev/null
}

# server_start DATA SOCKDIR PORT LOGDIR: start the postmaster, wait until it accepts connections.
server_start() {
	local data=$1 sock=$2 port=$3 logdir=$4
	# dynamic_shared_memory_type=mmap keeps DSM segments inside DATA, so even a killed server
	# leaves nothing behind in /dev/shm once DATA is removed.
	local pgopts="-k '$sock' -p $port -c listen_addresses=''" sync=off
	[ "${VCAGENT_PG_DURABLE:-0}" = 1 ] && sync=on
	pgopts+=" -c fsync=$sync -c synchronous_commit=$sync -c full_page_writes=$sync"
	pgopts+=" -c dynamic_shared_memory_type=mmap"
	if ! as_pg "$PGBIN/pg_ctl" -w -t 60 -D "$data" -l "$logdir/postgres.log" -o "$pgopts" start \
		>"$logdir/pg_ctl.log" 2>&1; then
		peer_log "pg_ctl start failed:"
		tail -n 20 "$logdir/pg_ctl.log" "$logdir/postgres.log" >&2 2>/dev/null || true
		return 1
	fi
}

server_stop_fast() {
	as_pg "$PGBIN/pg_ctl" -w -t 60 -D "$1" -m fast stop >/dev/null 2>&1
}

# psql_admin SOCKDIR PORT SQL: run SQL as the superuser on database postgres.
psql_admin() {
	"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$1" -p "$2" -U postgres -d postgres -c "$3" >/dev/null
}

# build_cluster DATA SOCKDIR PORT LOGDIR: initdb, create role and database, stop cleanly.
build_cluster() {
	local data=$1 sock=$2 port=$3 logdir=$4
	if ! as_pg "$PGBIN/initdb" -A trust -E UTF8 --locale=C.UTF-8 --no-sync -U postgres -D "$data" \
		>"$logdir/initdb.log" 2>&1; then
		peer_log "initdb failed:"
		tail -n 20 "$logdir/initdb.log" >&2
		return 1
	fi
	server_start "$data" "$sock" "$port" "$logdir" || return 1
	if ! psql_admin "$sock" "$port" "CREATE ROLE $PG_ROLE LOGIN CREATEDB" ||
		! psql_admin "$sock" "$port" "CREATE DATABASE $PG_DBNAME OWNER $PG_ROLE"; then
		server_stop_fast "$data" || true
		return 1
	fi
	server_stop_fast "$data" || { peer_log "pg_ctl stop failed"; return 1; }
	rm -f "$data/postmaster.opts"
}

# save_template DATA TEMPLATE: copy a cleanly stopped cluster into the cache (atomic rename;
# a concurrent start that saved one first wins).
save_template() {
	local data=$1 tpl=$2 tmp
	tmp=$(mktemp -d "$tpl.tmp.XXXXXX" 2>/dev/null) || return 0
	if cp -a "$data/." "$tmp/" && chown postgres:postgres "$tmp" && chmod 700 "$tmp" &&
		mv -T "$tmp" "$tpl" 2>/dev/null; then
		return 0
	fi
	rm -rf "$tmp"
}

cmd_start() {
	local dir s data sock port tpl="" pid
	dir=$(peer_abs_dir_checked "${1:-}")
	[ -x "$PGBIN/initdb" ] || peer_die "PostgreSQL 15 is not installed (run: $0 install)"
	id postgres >/dev/null 2>&1 || peer_die "no postgres user (run: $0 install)"
	mkdir -p "$dir"
	cd /

	if [ -f "$dir/pg.pid" ] && pid_is_postgres "$(cat "$dir/pg.pid")"; then
		peer_die "a server is already running for $dir (pid $(cat "$dir/pg.pid")); stop it first"
	fi
	cmd_stop "$dir" # leftovers of an earlier run

	s=$dir/pg
	# Any failure from here on: undo what was started.
	# shellcheck disable=SC2154 # rc is assigned inside the trap
	trap 'rc=$?; if [ $rc -ne 0 ]; then cmd_stop "'"$dir"'"; fi; exit $rc' EXIT

	if [ -n "${VCAGENT_PG_STATE:-}" ]; then
		# only the server's state there (a disk), the rest of DIR where it is
		local ext
		ext=$(mktemp -d "$VCAGENT_PG_STATE/vcagent-pg.XXXXXX") || return 1
		chmod 755 "$ext"
		ln -s "$ext" "$s"
	elif make_traversable "$dir"; then
		mkdir "$s"
	else
		# The postgres user cannot reach DIR (e.g. an ancestor we may not chmod): keep the state
		# in a directory of our own and let DIR/pg point at it.
		local ext
		ext=$(mktemp -d /dev/shm/vcagent-pg.XXXXXX 2>/dev/null || mktemp -d /tmp/vcagent-pg.XXXXXX)
		chmod 755 "$ext"
		ln -s "$ext" "$s"
		peer_log "postgres cannot reach $dir; state in $ext (DIR/pg is a symlink)"
	fi
	local real
	real=$(realpath "$s")
	chown postgres:postgres "$real"
	chmod 755 "$real"
	data=$real/data
	port=$("$HERE/freeport")
	sock=$real
	if [ $((${#sock} + 17)) -gt $SOCKET_PATH_MAX ]; then
		# The socket path would not fit in sun_path: use a short directory, recorded for stop.
		sock=$(mktemp -d /tmp/vcpg.XXXXXX)
		chown postgres:postgres "$sock"
		chmod 755 "$sock"
		echo "$sock" >"$real/sockdir"
	fi

	tpl=$(template_dir) || tpl=""
	if [ -n "$tpl" ] && [ -f "$tpl/PG_VERSION" ]; then
		cp -a "$tpl" "$data"
		if ! server_start "$data" "$sock" "$port" "$real"; then
			peer_log "the cached template $tpl does not start; removing it and running initdb"
			as_pg "$PGBIN/pg_ctl" -w -t 20 -D "$data" -m immediate stop >/dev/null 2>&1 || true
			rm -rf "$data" "$tpl"
			build_cluster "$data" "$sock" "$port" "$real"
			save_template "$data" "$tpl"
			server_start "$data" "$sock" "$port" "$real"
		fi
	else
		build_cluster "$data" "$sock" "$port" "$real"
		[ -z "$tpl" ] || save_template "$data" "$tpl"
		server_start "$data" "$sock" "$port" "$real"
	fi

	pid=$(head -n 1 "$data/postmaster.pid")
	pid_is_postgres "$pid" || peer_die "no postmaster running after start (pid '$pid')"
	echo "$pid" >"$dir/pg.pid"

	local conninfo="host=$sock port=$port dbname=$PG_DBNAME user=$PG_ROLE"
	{
		echo "PG_HOST=$sock"
		echo "PG_PORT=$port"
		echo "PG_DB=$PG_DBNAME"
		echo "PG_USER=$PG_ROLE"
		echo "PG_CONNINFO=$(env_value "$conninfo")"
		echo "PG_PID=$pid"
	} >"$dir/pg.env.tmp"
	mv "$dir/pg.env.tmp" "$dir/pg.env"
	trap - EXIT
	cat "$dir/pg.env"
}

# kill_cluster_procs PID DATA: SIGKILL the postmaster PID and every postgres process working in
# DATA (backends keep the data directory as their cwd, also after the postmaster died), and wait.
kill_cluster_procs() {
	local pid=$1 data=$2 p cwd pids="" alive
	pid_is_postgres "$pid" && pids=$pid
	if [ -n "$data" ]; then
		for p in /proc/[0-9]*; do
			p=${p#/proc/}
			cwd=$(readlink "/proc/$p/cwd" 2>/dev/null) || continue
			[ "$cwd" = "$data" ] && pid_is_postgres "$p" && pids="$pids $p"
		done
	fi
	[ -n "$pids" ] || return 0
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null || true
	for _ in $(seq 100); do
		alive=""
		for p in $pids; do
			pid_is_postgres "$p" && alive=1
		done
		[ -n "$alive" ] || return 0
		sleep 0.1
	done
	peer_log "processes $pids did not exit"
}

# remove_stale_shm KEY ID: remove the segment ID when it still has KEY and nobody attached.
remove_stale_shm() {
	local key=${1:-} id=${2:-} line
	case "$key$id" in '' | *[!0-9]*) return 0 ;; esac
	command -v ipcs >/dev/null || return 0
	line=$(ipcs -m | awk -v k="$(printf '0x%08x' "$key")" -v i="$id" '$1 == k && $2 == i && $6 == 0')
	[ -z "$line" ] || ipcrm -m "$id" 2>/dev/null || true
}

cmd_stop() {
	local dir s real="" data pid="" sockdir="" shm=""
	dir=$(peer_abs_dir_checked "${1:-}")
	s=$dir/pg
	if [ -e "$s" ] || [ -L "$s" ]; then
		real=$(realpath -e "$s" 2>/dev/null || true)
	fi
	data=${real:+$real/data}
	if [ -n "$real" ] && [ -f "$real/sockdir" ]; then
		sockdir=$(cat "$real/sockdir")
	fi
	if [ -n "$data" ] && [ -f "$data/postmaster.pid" ]; then
		pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)
		# line 7: key and id of the SysV shared memory segment (56 bytes; a killed postmaster leaves it)
		shm=$(sed -n 7p "$data/postmaster.pid" 2>/dev/null || true)
		(cd / && as_pg "$PGBIN/pg_ctl" -w -t 20 -D "$data" -m immediate stop >/dev/null 2>&1) || true
	fi
	[ -n "$pid" ] || pid=$(cat "$dir/pg.pid" 2>/dev/null || true)
	if pid_is_postgres "$pid" || { [ -n "$data" ] && [ -f "$data/postmaster.pid" ]; }; then
		# pg_ctl did not stop it, or it died without cleaning up (postmaster.pid left behind).
		kill_cluster_procs "$pid" "$data"
	fi
	# shellcheck disable=SC2086 # two words: key and id
	remove_stale_shm $shm
	rm -rf "$dir/pg.env" "$dir/pg.env.tmp" "$dir/pg.pid"
	if [ -n "$real" ] && [ "$real" != "$s" ]; then
		rm -rf "$real"
	fi
	rm -rf "$s"
	case "$sockdir" in
	/tmp/vcpg.*) rm -rf "$sockdir" ;;
	esac
	return 0
}

# pause DIR: stop the server, keep its data (the agent sees PostgreSQL go away);
# resume DIR: start it again on the same socket and port.
cmd_pause() {
	local dir real
	dir=$(peer_abs_dir_checked "${1:-}")
	real=$(realpath -e "$dir/pg" 2>/dev/null) || peer_die "no server in $dir"
	server_stop_fast "$real/data" || peer_die "pg_ctl stop failed"
}

cmd_resume() {
	local dir real port sock
	dir=$(peer_abs_dir_checked "${1:-}")
	real=$(realpath -e "$dir/pg" 2>/dev/null) || peer_die "no server in $dir"
	port=$(sed -n "s/^PG_PORT=//p" "$dir/pg.env")
	sock=$real
	[ -f "$real/sockdir" ] && sock=$(cat "$real/sockdir")
	server_start "$real/data" "$sock" "$port" "$real" || peer_die "restart failed"
	head -n 1 "$real/data/postmaster.pid" >"$dir/pg.pid"
}

cmd_psql() {
	local dir conninfo
	dir=$(peer_abs_dir_checked "${1:-}")
	shift
	[ -f "$dir/pg.env" ] || peer_die "no server in $dir (no $dir/pg.env)"
	conninfo=$(sed -n "s/^PG_CONNINFO=//p" "$dir/pg.env")
	conninfo=${conninfo#\'}
	conninfo=${conninfo%\'}
	exec "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -d "$conninfo" "$@"
}

case "${1:-}" in
install) cmd_install ;;
start) [ $# -eq 2 ] || peer_usage; cmd_start "$2" ;;
stop) [ $# -eq 2 ] || peer_usage; cmd_stop "$2" ;;
psql) [ $# -ge 2 ] || peer_usage; shift; cmd_psql "$@" ;;
pause) [ $# -eq 2 ] || peer_usage; cmd_pause "$2" ;;
resume) [ $# -eq 2 ] || peer_usage; cmd_resume "$2" ;;
*) peer_usage ;;
esac
