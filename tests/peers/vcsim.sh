#!/bin/bash
# vCenter test peer: VMware's vCenter simulator (govmomi 0.24.2 library from
# Debian 12) behind our own launcher, tests/peers/vcsim/main.go.
#
#   vcsim.sh install                  apt-get install what is missing (no-op when present)
#   vcsim.sh build                    compile the launcher if missing or its source changed
#   vcsim.sh start DIR [FLAGS...]     start it (state in DIR/vcsim/), write and print DIR/vcsim.env
#   vcsim.sh stop DIR                 stop it, remove DIR/vcsim/ DIR/vcsim.env DIR/vcsim.pid
#
# FLAGS go to the launcher: -dc -cluster -host -standalone -vm -ds -pg -opaque
# -std-pg -pbm-policy -username -password -idle-timeout -listen -cert -moref-start (see main.go;
# -listen of the old port, the same -cert and a higher -moref-start make a start after
# a kill -9 a restarted vCenter: same address and certificate, a new inventory). See README.md for
# the common peer interface; progress goes to stderr, stdout is the env only.
set -euo pipefail

PEER_NAME=vcsim
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SRC=$ROOT/tests/peers/vcsim
# The launcher does not depend on the C build flags: VCSIM_BUILD_DIR lets
# several build trees share one Go build.
OUT=${VCSIM_BUILD_DIR:-${VCAGENT_BUILD:-$ROOT}/tests/peers/vcsim}
BIN=$OUT/vcsim-launcher
PACKAGES=(golang-go golang-github-vmware-govmomi-dev golang-github-google-uuid-dev ca-certificates curl)
GOVMOMI=/usr/share/gocode/src/github.com/vmware/govmomi

cmd_install() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        peer_dpkg_installed "$p" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    peer_log "installing ${missing[*]}"
    # stderr: start calls this, and its stdout is the env only.
    peer_apt_install "${missing[@]}" >&2
}

# Hash of the launcher's Go sources; the binary is rebuilt when it changes.
src_hash() { (cd "$SRC" && LC_ALL=C && cat ./*.go) | sha256sum | cut -d' ' -f1; }

cmd_build() {
    [ -d "$GOVMOMI/simulator" ] || peer_die "govmomi library missing: run '$0 install'"
    mkdir -p "$OUT"
    local hash
    hash=$(src_hash)
    # Concurrent starts may race to build: one builds, the others wait for it.
    exec 9>"$OUT/.build.lock"
    flock 9
    if [ ! -x "$BIN" ] || [ "$(cat "$BIN.sha256" 2>/dev/null)" != "$hash" ]; then
        peer_log "building $BIN"
        local t0=$SECONDS
        (cd "$SRC" &&
         GO111MODULE=off GOPATH="$OUT/.gopath:/usr/share/gocode" GOPROXY=off GOFLAGS='' CGO_ENABLED=0 \
         GOCACHE=${GOCACHE:-$OUT/.gocache} go build -trimpath -ldflags="-s -w" -o "$BIN.tmp" .)
        mv -f "$BIN.tmp" "$BIN"
        echo "$hash" >"$BIN.sha256"
        peer_log "built in $((SECONDS - t0)) s"
    fi
    exec 9>&-
}

# is_launcher PID: a live vcsim-launcher (guards against killing a recycled PID).
is_launcher() { peer_is_ours "$1" vcsim-launcher; }

cmd_start() {
    [ $# -ge 1 ] || peer_die "usage: $0 start DIR [launcher flags...]"
    local dir state pid
    mkdir -p "$1"
    dir=$(cd "$1" && pwd)
    shift
    state=$dir/vcsim
    if [ -f "$dir/vcsim.pid" ]; then
        pid=$(cat "$dir/vcsim.pid")
        if is_launcher "$pid"; then peer_die "already running in $dir (pid $pid)"; fi
        cmd_stop "$dir"
    fi
    cmd_install
    cmd_build
    rm -rf "$state" "$dir/vcsim.env"
    mkdir -p "$state/tmp"
    # stdin/stdout/stderr detached so a caller reading our output gets EOF.
    TMPDIR=$state/tmp "$BIN" -env "$state/vcsim.env" "$@" </dev/null >"$state/launcher.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/vcsim.pid"

    local deadline=$((SECONDS + 30)) ready=
    while [ $SECONDS -lt $deadline ]; do
        peer_alive "$pid" || break
        if [ -f "$state/vcsim.env" ]; then
            # shellcheck disable=SC1091
            if (. "$state/vcsim.env" && curl -sf -o /dev/null --max-time 5 --cacert "$VCSIM_CA_FILE" \
                    -H 'Content-Type: text/xml; charset=utf-8' -H 'SOAPAction: urn:vim25/6.5' -H 'Expect:' \
                    --data '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></RetrieveServiceContent></soapenv:Body></soapenv:Envelope>' \
                    "$VCSIM_URL"); then
                ready=1
                break
            fi
        fi
        sleep 0.05
    done
    if [ -z "$ready" ]; then
        peer_log "not ready (pid $pid); launcher log:"
        cat "$state/launcher.log" >&2 || true
        cmd_stop "$dir"
        exit 1
    fi
    { cat "$state/vcsim.env"; echo "VCSIM_PID=$pid"; } >"$dir/vcsim.env.tmp"
    mv -f "$dir/vcsim.env.tmp" "$dir/vcsim.env"
    cat "$dir/vcsim.env"
}

cmd_stop() {
    [ $# -eq 1 ] || peer_die "usage: $0 stop DIR"
    local dir=$1 pid
    if [ -f "$dir/vcsim.pid" ]; then
        pid=$(cat "$dir/vcsim.pid")
        if [[ "$pid" =~ ^[0-9]+$ ]] && is_launcher "$pid"; then
            kill -TERM "$pid" 2>/dev/null || true
            if ! peer_wait_exit "$pid" 200 0.05; then
                peer_log "pid $pid still running after 10 s: killing it"
                kill -KILL "$pid" 2>/dev/null || true
                peer_wait_exit "$pid" 40 0.05 || true
            fi
        fi
    fi
    # After a KILL the datastore dirs are left in DIR/vcsim/tmp: removed here.
    rm -rf "$dir/vcsim" "$dir/vcsim.env" "$dir/vcsim.env.tmp" "$dir/vcsim.pid"
}

case "${1:-}" in
    install) cmd_install ;;
    build) cmd_install; cmd_build ;;
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    *) peer_die "usage: $0 install | build | start DIR [launcher flags...] | stop DIR" ;;
esac
