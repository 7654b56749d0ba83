#!/bin/bash
# tests/peers/peers.sh - start and stop several test peers at once (see tests/peers/README.md).
#
#   peers.sh start DIR PEER...   start the peers (vcsim kafka pg glance), write DIR/peers.env (each
#                                DIR/<peer>.env in the order given) and print it. If one fails, stop
#                                all of them and exit non-zero.
#   peers.sh stop DIR            stop every peer DIR holds (DIR/<peer>.pid, or a leftover
#                                DIR/<peer>.env or DIR/<peer>/), remove DIR/peers.env; never fails
#   peers.sh install [PEER...]   run each peer's installer (default: all peers)
#
# The peers are independent, so start runs their start scripts concurrently (in the order given);
# VCAGENT_PEERS_SERIAL=1 starts them one after the other instead. Each script's output goes to a
# file, never to a pipe, so a daemon that inherits it cannot hold our caller's pipe open.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ALL_PEERS=(vcsim kafka pg glance)
PEER_NAME=peers.sh
PEER_USAGE="start DIR PEER... | stop DIR | install [PEER...]
peers: ${ALL_PEERS[*]}"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# for on_signal
START_DIR="" START_LOGS="" START_PEERS=() STARTERS=()

# script_of PEER: the peer's script; fails for unknown names (peers.sh and lib.sh are not peers).
script_of() {
	case "$1" in
	'' | peers | lib | *[!a-z0-9_-]*) return 1 ;;
	esac
	[ -f "$HERE/$1.sh" ] || return 1
	echo "$HERE/$1.sh"
}

check_peers() {
	local p seen=" "
	[ $# -gt 0 ] || peer_usage
	for p in "$@"; do
		script_of "$p" >/dev/null || peer_die "unknown peer '$p' (no $HERE/$p.sh)"
		case "$seen" in *" $p "*) peer_die "peer '$p' named twice" ;; esac
		seen="$seen$p "
	done
}

# stop_peers DIR PEER...: stop the peers concurrently, wait for all; never fails.
stop_peers() {
	local dir=$1 p pids=()
	shift
	for p in "$@"; do
		bash "$(script_of "$p")" stop "$dir" </dev/null >&2 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || true
	done
	return 0
}

# INT/TERM during start: end the start scripts (each undoes its own work when it ends early),
# then stop every peer named, for what a script could not undo.
on_signal() {
	local p
	trap - INT TERM
	peer_log "interrupted; stopping ${START_PEERS[*]}"
	for p in "${STARTERS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${STARTERS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	stop_peers "$START_DIR" "${START_PEERS[@]}"
	rm -rf "$START_LOGS"
	exit 130
}

cmd_start() {
	local dir=$1 logs p i failed=() started=()
	shift
	check_peers "$@"
	mkdir -p "$dir"
	rm -f "$dir/peers.env"
	logs=$(mktemp -d "${TMPDIR:-/tmp}/vcagent-peers.XXXXXX")
	local peers=("$@")
	START_DIR=$dir
	START_LOGS=$logs
	START_PEERS=("$@")
	STARTERS=()
	trap on_signal INT TERM

	if [ "${VCAGENT_PEERS_SERIAL:-0}" = 1 ]; then
		for p in "${peers[@]}"; do
			bash "$(script_of "$p")" start "$dir" </dev/null >"$logs/$p.out" 2>"$logs/$p.err" &
			STARTERS=($!)
			if wait "${STARTERS[0]}"; then
				started+=("$p")
				cat "$logs/$p.err" >&2
			else
				failed+=("$p")
				break
			fi
		done
	else
		for p in "${peers[@]}"; do
			bash "$(script_of "$p")" start "$dir" </dev/null >"$logs/$p.out" 2>"$logs/$p.err" &
			STARTERS+=($!)
		done
		for i in "${!peers[@]}"; do
			p=${peers[$i]}
			if wait "${STARTERS[$i]}"; then
				started+=("$p")
			else
				failed+=("$p")
			fi
		done
		for p in "${peers[@]}"; do
			cat "$logs/$p.err" >&2
		done
	fi

	if [ ${#failed[@]} -gt 0 ]; then
		for p in "${failed[@]}"; do
			peer_log "$p failed to start"
			[ ! -s "$logs/$p.out" ] || { echo "--- $p stdout:" >&2; tail -n 40 "$logs/$p.out" >&2; }
		done
		[ ${#started[@]} -eq 0 ] || peer_log "stopping ${started[*]}"
		# The failed ones too: a start script may have left something behind.
		stop_peers "$dir" "${peers[@]}"
		rm -rf "$logs"
		exit 1
	fi
	rm -rf "$logs"
	trap - INT TERM

	for p in "${peers[@]}"; do
		[ -f "$dir/$p.env" ] || { stop_peers "$dir" "${peers[@]}"; peer_die "$p started but wrote no $dir/$p.env"; }
	done
	for p in "${peers[@]}"; do
		cat "$dir/$p.env"
	done >"$dir/peers.env.tmp"
	mv "$dir/peers.env.tmp" "$dir/peers.env"
	cat "$dir/peers.env"
}

cmd_stop() {
	local dir=$1 f p peers=()
	[ -d "$dir" ] || return 0
	for f in "$dir"/*.pid "$dir"/*.env "$dir"/*/; do
		[ -e "$f" ] || continue
		p=$(basename "$f")
		p=${p%.pid}
		p=${p%.env}
		script_of "$p" >/dev/null || continue
		case " ${peers[*]} " in *" $p "*) continue ;; esac
		peers+=("$p")
	done
	[ ${#peers[@]} -eq 0 ] || stop_peers "$dir" "${peers[@]}"
	rm -f "$dir/peers.env" "$dir/peers.env.tmp"
	return 0
}

cmd_install() {
	local p
	[ $# -gt 0 ] || set -- "${ALL_PEERS[@]}"
	check_peers "$@"
	for p in "$@"; do
		bash "$(script_of "$p")" install
	done
}

case "${1:-}" in
start) [ $# -ge 3 ] || peer_usage; dir=$(peer_abs_dir "$2"); shift 2; cmd_start "$dir" "$@" ;;
stop) [ $# -eq 2 ] || peer_usage; cmd_stop "$(peer_abs_dir "$2")" ;;
install) shift; cmd_install "$@" ;;
*) peer_usage ;;
esac
