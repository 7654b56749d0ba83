#!/bin/bash
# HTTP proxy test peer: tinyproxy from Debian (tinyproxy-bin, the executable
# without a system service), for the vCenter client's proxy option.
# Interface: see tests/peers/README.md.
#
#   proxy.sh install       apt-get install tinyproxy-bin if missing
#   proxy.sh start DIR     start on 127.0.0.1 (CONNECT allowed to loopback),
#                          state in DIR/proxy/, env in DIR/proxy.env
#                          (PROXY_URL, PROXY_LOG, PROXY_PID)
#   proxy.sh stop DIR      stop and clean up; never fails if absent
set -euo pipefail

PEER_NAME=proxy.sh
PEER_USAGE="install | start DIR | stop DIR"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=/usr/bin/tinyproxy

cmd_install() {
	[ -x "$BIN" ] || peer_apt_install tinyproxy-bin >&2
}

cmd_start() {
	local dir state port pid i
	dir=$(peer_abs_dir_checked "${1:-}") || exit
	state=$dir/proxy
	if [ -f "$dir/proxy.pid" ] && peer_is_ours "$(cat "$dir/proxy.pid")" tinyproxy; then
		peer_die "a proxy is already running for $dir"
	fi
	cmd_install
	rm -rf "$state"
	mkdir -p "$state"
	port=$("$HERE/freeport")
	cat >"$state/tinyproxy.conf" <<CONF
Port $port
Listen 127.0.0.1
Timeout 60
MaxClients 32
LogFile "$state/tinyproxy.log"
LogLevel Connect
Allow 127.0.0.1
DisableViaHeader Yes
CONF
	# -d: stay in the foreground, so the PID is the proxy's own
	setsid "$BIN" -d -c "$state/tinyproxy.conf" </dev/null >>"$state/stdout.log" 2>&1 &
	pid=$!
	echo "$pid" >"$dir/proxy.pid"
	for ((i = 0; i < 100; i++)); do
		peer_alive "$pid" || { cat "$state"/*.log >&2 2>/dev/null; peer_die "tinyproxy exited"; }
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			printf 'PROXY_URL=http://127.0.0.1:%s\nPROXY_LOG=%s\nPROXY_PID=%s\n' \
			    "$port" "$state/tinyproxy.log" "$pid" >"$dir/proxy.env.tmp"
			mv "$dir/proxy.env.tmp" "$dir/proxy.env"
			cat "$dir/proxy.env"
			return 0
		fi
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null || true
	peer_die "tinyproxy did not listen on 127.0.0.1:$port within 5 s"
}

cmd_stop() {
	local dir pid
	dir=$(peer_abs_dir "${1:-}") || exit
	if [ -f "$dir/proxy.pid" ]; then
		pid=$(cat "$dir/proxy.pid")
		if peer_is_ours "$pid" tinyproxy; then
			kill -TERM "$pid" 2>/dev/null || true
			peer_wait_exit "$pid" 50 0.1 || kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -rf "$dir/proxy" "$dir/proxy.env" "$dir/proxy.pid"
	return 0
}

case "${1:-}" in
install) cmd_install ;;
start) shift; cmd_start "$@" ;;
stop) shift; cmd_stop "$@" ;;
*) peer_usage ;;
esac
