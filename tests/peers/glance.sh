#!/bin/bash
# tests/peers/glance.sh - a private OpenStack Glance (image API v2) for tests
# (interface: tests/peers/README.md).
#
#   glance.sh install        install python3-glance and curl when missing
#   glance.sh start DIR      start glance-api, state in DIR/glance/, write and print DIR/glance.env
#   glance.sh stop DIR       stop it, remove DIR/glance/, DIR/glance.env, DIR/glance.pid; never fails
#   glance.sh image DIR BYTES [DISKTYPE]
#                            make an active vmdk image of BYTES random bytes (vmware_disktype
#                            DISKTYPE, default preallocated); print its id
#
# One process (workers=0) on 127.0.0.1:PORT (PORT from ./freeport), no keystone: every request
# runs as admin. VCAGENT_GLANCE_FLAVOR=context selects the pipeline that trusts keystone-style
# headers instead (see glance/glance-api-paste.ini). Images are files under DIR/glance/images.
#
# Speed: the database after `glance-manage db_sync` (an empty sqlite schema, ~2 s to make) is
# kept in the cache ($VCAGENT_PEER_CACHE, else /var/cache/vcagent-test, else
# ${XDG_CACHE_HOME:-~/.cache}/vcagent; VCAGENT_PEER_CACHE=off disables it), keyed by the glance
# version, and copied by later starts.
set -euo pipefail

PEER_NAME=glance.sh
PEER_USAGE="install | start DIR | stop DIR | image DIR BYTES [DISKTYPE]"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TPLDIR=$HERE/glance
PY=/usr/bin/python3
# Bump when the cached database's recipe changes: old ones are ignored.
TEMPLATE_RECIPE=1
READY_TIMEOUT=60
STOP_TIMEOUT=10

have_glance() {
	[ -x "$PY" ] && [ -f /usr/lib/python3/dist-packages/glance/cmd/api.py ]
}

cmd_install() {
	local missing=()
	have_glance || missing+=(python3-glance)
	command -v curl >/dev/null || missing+=(curl)
	[ ${#missing[@]} -eq 0 ] && return 0
	peer_apt_install "${missing[@]}"
	have_glance || peer_die "install: glance still missing"
}

glance_version() {
	local v
	v=$(dpkg-query -W -f='${Version}' python3-glance 2>/dev/null) ||
		v=$("$PY" -c 'import importlib.metadata as m; print(m.version("glance"))' 2>/dev/null) || return 1
	[ -n "$v" ] || return 1
	echo "$v" | tr -c 'A-Za-z0-9.+~\n-' '_'
}

# The cached database file for this glance version (need not exist yet).
db_template() {
	local root ver
	root=$(peer_cache_root) || return 1
	ver=$(glance_version) || return 1
	echo "$root/glance-db-r$TEMPLATE_RECIPE-$ver.sqlite"
}

# Run glance's python with a clean environment: no PYTHONPATH from the caller, no OS_* options
# (oslo.config reads those), HOME in the state dir (oslo.config looks for ~/.glance).
glance_py() {
	local state=$1
	shift
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$state" LANG=C.UTF-8 "$PY" "$@"
}

# glance_args STATE: the config options for glance-manage and glance-api. The empty --config-dir
# keeps oslo.config from reading /etc/glance/*.conf.d.
glance_args() {
	echo --config-file "$1/glance-api.conf" --config-dir "$1/conf.d"
}

# proc_session PID: the session id of PID (from /proc: procps may be missing on a fresh machine).
proc_session() {
	local stat f
	read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
	# after "pid (comm) ": state ppid pgrp session ...
	read -r -a f <<<"${stat##*) }"
	echo "${f[3]}"
}

# session_pids SID: live (non-zombie) processes of session SID.
session_pids() {
	local p stat f
	for p in /proc/[0-9]*; do
		read -r stat 2>/dev/null <"$p/stat" || continue
		read -r -a f <<<"${stat##*) }"
		[ "${f[3]}" = "$1" ] && [ "${f[0]}" != Z ] && echo "${p#/proc/}"
	done
	return 0
}

# is_our_glance PID STATE: PID is a glance-api started with STATE's config (not a reused PID).
is_our_glance() {
	peer_is_ours "${1:-}" glance.cmd.api "$2/glance-api.conf"
}

show_logs() {
	local state=$1 f
	for f in "$state/glance-api.log" "$state/stderr.log" "$state/db_sync.log"; do
		[ -s "$f" ] || continue
		echo "==> $f <==" >&2
		tail -n 40 "$f" >&2
	done
}

cmd_start() {
	local dir state port pid tpl="" flavor="" t0 body
	dir=$(peer_abs_dir_checked "${1:-}")
	have_glance || peer_die "glance is not installed (run: $0 install)"
	command -v curl >/dev/null || peer_die "curl is not installed (run: $0 install)"
	case "${VCAGENT_GLANCE_FLAVOR:-}" in
	'') ;;
	context) flavor=context ;;
	*) peer_die "VCAGENT_GLANCE_FLAVOR: unknown flavor '${VCAGENT_GLANCE_FLAVOR}' (known: context)" ;;
	esac
	mkdir -p "$dir"
	cd /

	if [ -f "$dir/glance.pid" ] && is_our_glance "$(cat "$dir/glance.pid")" "$dir/glance"; then
		peer_die "glance is already running for $dir (pid $(cat "$dir/glance.pid")); stop it first"
	fi
	cmd_stop "$dir" # leftovers of an earlier run

	state=$dir/glance
	# shellcheck disable=SC2154 # rc is assigned inside the trap
	trap 'rc=$?; if [ $rc -ne 0 ]; then cmd_stop "'"$dir"'"; fi; exit $rc' EXIT
	mkdir -p "$state"/{images,staging,image-cache,locks,conf.d}
	port=$("$HERE/freeport")
	sed -e "s|@STATE@|$state|g" -e "s|@PORT@|$port|g" -e "s|@FLAVOR@|$flavor|g" \
		"$TPLDIR/glance-api.conf.in" >"$state/glance-api.conf"
	cp "$TPLDIR/glance-api-paste.ini" "$state/glance-api-paste.ini"

	# The database: a copy of the cached one, else db_sync (and cache its result).
	tpl=$(db_template) || tpl=""
	if [ -n "$tpl" ] && [ -s "$tpl" ]; then
		cp "$tpl" "$state/glance.sqlite"
	else
		# shellcheck disable=SC2046
		if ! glance_py "$state" -m glance.cmd.manage $(glance_args "$state") db_sync \
			>"$state/db_sync.log" 2>&1; then
			peer_log "db_sync failed:"
			show_logs "$state"
			exit 1
		fi
		if [ -n "$tpl" ]; then
			local tmp
			if tmp=$(mktemp "$tpl.tmp.XXXXXX" 2>/dev/null); then
				{ cp "$state/glance.sqlite" "$tmp" && mv -f "$tmp" "$tpl"; } || rm -f "$tmp"
			fi
		fi
	fi

	# setsid: glance-api leads its own session and process group, so stop can signal everything
	# it might have started. In a script, a background child is never a group leader, so setsid
	# does not fork and $! is the python process itself.
	# shellcheck disable=SC2046
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$state" LANG=C.UTF-8 \
		setsid "$PY" -m glance.cmd.api $(glance_args "$state") \
		</dev/null >"$state/stderr.log" 2>&1 &
	pid=$!
	echo "$pid" >"$dir/glance.pid"

	t0=$SECONDS
	while :; do
		# 200 with {"versions": [...]}: glance itself, not something else that took the port
		body=$(curl -sf --max-time 5 "http://127.0.0.1:$port/versions" 2>/dev/null || true)
		case "$body" in *'"versions"'*) break ;; esac
		if ! peer_alive "$pid"; then
			peer_log "glance-api exited during startup:"
			show_logs "$state"
			exit 1
		fi
		if [ $((SECONDS - t0)) -ge $READY_TIMEOUT ]; then
			peer_log "glance-api did not answer on port $port within ${READY_TIMEOUT}s:"
			show_logs "$state"
			exit 1
		fi
		sleep 0.1
	done
	if [ "$(proc_session "$pid")" != "$pid" ]; then
		peer_die "glance-api (pid $pid) does not lead its own session"
	fi

	{
		echo "GLANCE_URL=http://127.0.0.1:$port"
		echo "GLANCE_PID=$pid"
	} >"$dir/glance.env.tmp"
	mv "$dir/glance.env.tmp" "$dir/glance.env"
	trap - EXIT
	cat "$dir/glance.env"
}

# glance_session_pids PID STATE [all]: live processes of the session PID leads; without `all`
# only those running glance with STATE's config (safe to signal even if PID was reused).
glance_session_pids() {
	local p
	for p in $(session_pids "$1"); do
		[ "${3:-}" = all ] || peer_is_ours "$p" "$2/glance-api.conf" || continue
		echo "$p"
	done
}

cmd_stop() {
	local dir state pid="" pids which=""
	dir=$(peer_abs_dir_checked "${1:-}")
	state=$dir/glance
	[ -f "$dir/glance.pid" ] && pid=$(cat "$dir/glance.pid" 2>/dev/null || true)
	case "$pid" in '' | *[!0-9]*) pid="" ;; esac
	if [ -n "$pid" ]; then
		# When the leader is our glance-api, its whole process group and session go; when it is
		# gone, only leftovers whose command line names this DIR's config.
		is_our_glance "$pid" "$state" && which=all
		pids=$(glance_session_pids "$pid" "$state" $which)
		if [ -n "$pids" ]; then
			[ -z "$which" ] || kill -TERM -- "-$pid" 2>/dev/null || true
			# shellcheck disable=SC2086
			kill -TERM $pids 2>/dev/null || true
			for _ in $(seq $((STOP_TIMEOUT * 10))); do
				[ -n "$(glance_session_pids "$pid" "$state" $which)" ] || break
				sleep 0.1
			done
			pids=$(glance_session_pids "$pid" "$state" $which)
			if [ -n "$pids" ]; then
				peer_log "glance-api (session $pid) ignored SIGTERM for ${STOP_TIMEOUT}s; killing it"
				[ -z "$which" ] || kill -KILL -- "-$pid" 2>/dev/null || true
				# shellcheck disable=SC2086
				kill -KILL $pids 2>/dev/null || true
				for _ in $(seq 50); do
					[ -n "$(glance_session_pids "$pid" "$state" $which)" ] || break
					sleep 0.1
				done
			fi
		fi
	fi
	rm -rf "$state" "$dir/glance.env" "$dir/glance.env.tmp" "$dir/glance.pid"
	return 0
}

cmd_image() {
	local dir url id
	dir=$(peer_abs_dir_checked "$1")
	url=$(sed -n 's/^GLANCE_URL=//p' "$dir/glance.env" 2>/dev/null)
	[ -n "$url" ] || peer_die "no glance in $dir"
	id=$(curl -sf -X POST -H 'Content-Type: application/json' \
	    -d "{\"name\": \"test-$2\", \"disk_format\": \"vmdk\", \"container_format\": \"bare\", \"vmware_disktype\": \"${3:-preallocated}\"}" \
	    "$url/v2/images" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])') ||
	    peer_die "cannot create an image"
	# -T - streams (chunked): --data-binary @- would read it all into memory first, and
	# curl refuses that for 1 GiB and more ("out of memory")
	head -c "$2" /dev/urandom | curl -sf -T - -H 'Content-Type: application/octet-stream' \
	    "$url/v2/images/$id/file" || peer_die "cannot upload image $id"
	echo "$id"
}

case "${1:-}" in
install) cmd_install ;;
image) [ $# -ge 3 ] || peer_usage; shift; cmd_image "$@" ;;
start) [ $# -eq 2 ] || peer_usage; cmd_start "$2" ;;
stop) [ $# -eq 2 ] || peer_usage; cmd_stop "$2" ;;
*) peer_usage ;;
esac
