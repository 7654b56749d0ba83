# shellcheck shell=bash
# tests/peers/lib.sh - helpers shared by the test peer scripts (see README.md); sourced, not run:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# The sourcing script sets PEER_NAME (the prefix of its messages, e.g. pg.sh) and, when it uses
# peer_usage or peer_abs_dir, PEER_USAGE (what follows "usage: PEER_NAME "; may hold more lines).
# Every function here is named peer_*; none changes the shell options (the scripts run with
# set -euo pipefail).

# peer_log MSG...: print "PEER_NAME: MSG" on stderr.
peer_log() { echo "$PEER_NAME: $*" >&2; }

# peer_die MSG...: peer_log, then exit 1.
peer_die() {
	peer_log "$*"
	exit 1
}

# peer_usage: print "usage: PEER_NAME PEER_USAGE" on stderr, then exit 2.
peer_usage() {
	echo "usage: $PEER_NAME $PEER_USAGE" >&2
	exit 2
}

# peer_dpkg_installed PKG: the Debian package PKG is installed.
peer_dpkg_installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q ' installed$'
}

# peer_apt_install PKG...: apt-get install the packages (as root only); when that fails, or there
# are no package lists yet, apt-get update first. apt-get's output goes to our stdout and stderr:
# a caller whose stdout is the env file redirects it.
peer_apt_install() {
	local opts=(-y --no-install-recommends)
	[ "$(id -u)" -eq 0 ] || peer_die "need root to install: $*"
	export DEBIAN_FRONTEND=noninteractive
	if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null ||
		! apt-get install "${opts[@]}" "$@"; then
		apt-get update && apt-get install "${opts[@]}" "$@"
	fi
}

# peer_abs_dir DIR: absolute path of DIR (need not exist); peer_usage when DIR is empty.
peer_abs_dir() {
	[ -n "${1:-}" ] || peer_usage
	realpath -m -- "$1"
}

# peer_abs_dir_checked DIR: peer_abs_dir, and dies when the path has characters that would need
# quoting (in a config file, a conninfo or an env file).
peer_abs_dir_checked() {
	local d
	# (set -e is off inside $(...): pass peer_usage's exit on explicitly)
	d=$(peer_abs_dir "${1:-}") || exit
	case "$d" in
	*[!A-Za-z0-9_./:@%+,=-]*) peer_die "DIR '$d': use only letters, digits and _ . / : @ % + , = -" ;;
	esac
	echo "$d"
}

# peer_alive PID: PID is a number and that process exists and is not a zombie (a zombie has
# exited; its parent, possibly PID 1, may reap it late).
peer_alive() {
	local stat
	case "${1:-}" in '' | *[!0-9]*) return 1 ;; esac
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	# after "pid (comm) " (comm may hold spaces and parentheses): state ppid ...
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

# peer_cmdline PID: the command line of PID, arguments separated by spaces; fails when PID is gone.
peer_cmdline() {
	tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null
}

# peer_is_ours PID WORD...: PID is alive (peer_alive) and its command line contains each WORD
# (literally), in that order. Guards every kill against a PID the kernel has given to another
# process since it was recorded.
peer_is_ours() {
	local pid=$1 cmdline word
	shift
	peer_alive "$pid" || return 1
	cmdline=$(peer_cmdline "$pid") || return 1
	for word in "$@"; do
		case "$cmdline" in
		*"$word"*) cmdline=${cmdline#*"$word"} ;;
		*) return 1 ;;
		esac
	done
	return 0
}

# peer_wait_exit PID STEPS INTERVAL: wait until PID has exited (peer_alive fails), checking up to
# STEPS times, INTERVAL seconds apart; fails when it is still alive after that.
peer_wait_exit() {
	local i
	for ((i = 0; i < $2; i++)); do
		peer_alive "$1" || return 0
		sleep "$3"
	done
	! peer_alive "$1"
}

# peer_cache_root: print the directory for caches kept across runs: $VCAGENT_PEER_CACHE, else
# /var/cache/vcagent-test, else ${XDG_CACHE_HOME:-~/.cache}/vcagent (the first we can create and
# write); fails when there is none or VCAGENT_PEER_CACHE=off.
peer_cache_root() {
	local d
	[ "${VCAGENT_PEER_CACHE:-}" = off ] && return 1
	for d in "${VCAGENT_PEER_CACHE:-}" /var/cache/vcagent-test "${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/vcagent"; do
		[ -n "$d" ] || continue
		if mkdir -p "$d" 2>/dev/null && [ -w "$d" ]; then
			echo "$d"
			return 0
		fi
	done
	return 1
}
