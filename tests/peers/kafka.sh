#!/bin/bash
# Kafka test peer: librdkafka's mock cluster hosted by our vckafkamock program
# (built from tests/peers/kafkamock.c). Interface: see tests/peers/README.md.
#
#   kafka.sh install                      apt-get install librdkafka-dev kcat if missing
#   kafka.sh start DIR [vckafkamock opts] start; state in DIR/kafka/, env in DIR/kafka.env
#                                         (KAFKA_BOOTSTRAP, KAFKA_CTL_PORT, KAFKA_PID)
#   kafka.sh stop DIR                     stop and clean up; never fails if absent
#   kafka.sh ctl DIR COMMAND...           send one control command, print the answer,
#                                         exit 1 if it is "error ..."
#
# vckafkamock options: -b BROKERS, -t TOPIC[:PARTITIONS] (repeatable),
# -d DEBUG (librdkafka debug contexts, logged to DIR/kafka/mock.log).
# Control commands: see the comment at the top of kafkamock.c.
set -euo pipefail

PEER_NAME=kafka.sh
PEER_USAGE="install | start DIR [vckafkamock options] | stop DIR | ctl DIR COMMAND..."
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly ROOT
readonly BIN="${VCAGENT_BUILD:-$ROOT}/tests/peers/vckafkamock"

# True if PID is a running vckafkamock (guards against a recycled PID).
is_ours() { peer_is_ours "$1" vckafkamock; }

cmd_install() {
    local missing=()
    peer_dpkg_installed librdkafka-dev || missing+=(librdkafka-dev)
    command -v kcat >/dev/null 2>&1 || missing+=(kcat)
    ((${#missing[@]} == 0)) && return 0
    peer_apt_install "${missing[@]}" >/dev/null
}

cmd_start() {
    (($# >= 1)) || peer_usage
    local dir=$1; shift
    local state="$dir/kafka" pidfile="$dir/kafka.pid" env="$dir/kafka.env"
    local pid i

    [[ -x $BIN ]] || peer_die "$BIN not found; build it first (make), or set VCAGENT_BUILD to the build tree"
    if [[ -f $pidfile ]] && pid=$(<"$pidfile") && [[ $pid =~ ^[0-9]+$ ]] && is_ours "$pid"; then
        peer_die "already running in $dir (pid $pid); stop it first"
    fi
    mkdir -p "$state"
    state=$(cd "$state" && pwd)
    rm -f "$state/mock.env" "$env" "$pidfile"

    "$BIN" -e "$state/mock.env" "$@" </dev/null >"$state/mock.log" 2>&1 &
    pid=$!
    echo "$pid" >"$pidfile"

    # Ready when the program has published its env file (10 s at most).
    for ((i = 0; i < 200; i++)); do
        [[ -s $state/mock.env ]] && break
        if ! peer_alive "$pid"; then
            tail -n 20 "$state/mock.log" >&2 || true
            rm -f "$pidfile"
            peer_die "vckafkamock exited during startup (log: $state/mock.log)"
        fi
        sleep 0.05
    done
    if [[ ! -s $state/mock.env ]]; then
        tail -n 20 "$state/mock.log" >&2 || true
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$pidfile"
        peer_die "vckafkamock not ready after 10 s (log: $state/mock.log)"
    fi

    { cat "$state/mock.env"; echo "KAFKA_PID=$pid"; } >"$env.tmp"
    mv -f "$env.tmp" "$env"
    ctl_send "$env" ping >/dev/null || peer_die "vckafkamock does not answer on its control port"
    cat "$env"
}

cmd_stop() {
    (($# == 1)) || peer_usage
    local dir=$1 pidfile="$1/kafka.pid" pid
    if [[ -f $pidfile ]]; then
        pid=$(<"$pidfile")
        if [[ $pid =~ ^[0-9]+$ ]] && is_ours "$pid"; then
            kill -TERM "$pid" 2>/dev/null || true
            if ! peer_wait_exit "$pid" 50 0.1; then
                peer_log "pid $pid ignored SIGTERM for 5 s, killing it"
                kill -KILL "$pid" 2>/dev/null || true
                peer_wait_exit "$pid" 20 0.1 || true
            fi
        fi
    fi
    rm -rf "$dir/kafka" "$dir/kafka.env" "$dir/kafka.env.tmp" "$pidfile"
}

# ctl_send ENVFILE WORDS...: one command, print the answer; 1 on "error".
ctl_send() {
    local env=$1; shift
    local port answer=""
    port=$(sed -n 's/^KAFKA_CTL_PORT=\([0-9][0-9]*\)$/\1/p' "$env" 2>/dev/null) || true
    [[ -n $port ]] || peer_die "no KAFKA_CTL_PORT in $env (is the peer started?)"
    exec 3<>"/dev/tcp/127.0.0.1/$port" || peer_die "cannot connect to 127.0.0.1:$port"
    printf '%s\n' "$*" >&3
    IFS= read -r -t 30 answer <&3 || true
    exec 3<&-
    [[ -n $answer ]] || peer_die "no answer from 127.0.0.1:$port"
    echo "$answer"
    [[ $answer == ok* ]]
}

cmd_ctl() {
    (($# >= 2)) || peer_usage
    local dir=$1; shift
    ctl_send "$dir/kafka.env" "$@"
}

(($# >= 1)) || peer_usage
sub=$1; shift
case $sub in
    install) cmd_install "$@" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    ctl) cmd_ctl "$@" ;;
    *) peer_usage ;;
esac
