#!/bin/bash
# agent_hostile.sh - vcagent against hostile operators and clients, with
# vcsim, Glance, PostgreSQL and Kafka: a database URI's password is never
# logged nor served; 64 half-sent connections do not keep /healthz from
# answering; uploads with an unknown adapter_type, a %00 in the id or more
# bytes than the datastore holds are refused before any data is read; a
# stalled upload does not hold up a spawn of its image (the prefetch, the
# same path, fetches it from Glance), and a failed or cut transfer leaves
# no folder behind; a request id with a newline is logged on one line.
. "$(dirname "$0")/tap.sh"
set -u
LOG_TAIL=0
. "$(dirname "$0")/agent_lib.sh"
agent_lib_init hostile
AGENT_PID=
HELPER_PIDS=
agent_peers 1 vcsim glance pg
PORT=$(python3 "$PEERS/freeport")
TOKEN=op-Token-$RANDOM$RANDOM
URL=http://127.0.0.1:$PORT
DS=$(echo "$T"/vcsim/tmp/*)	# LocalDS_0's directory
export VC_PW=$VCSIM_PASSWORD OP_TOKEN=$TOKEN

config() {	# config: the agent's configuration, database.connection from $DB_DSN
	cat <<YAML
$(vcsim_yaml)
  cluster_name: [DC0_C0]
glance:
  api_servers: [$GLANCE_URL]
kafka:
  bootstrap_servers: $KAFKA_BOOTSTRAP
  properties: {fetch.wait.max.ms: "10"}  # the mock broker holds an empty fetch that long
  group_id: it-hostile
  session_timeout_ms: 3000
  heartbeat_interval_ms: 500
database:
  connection: {env: DB_DSN}
  retry_interval: 1
health:
  bind_port: $PORT
  token: {env: OP_TOKEN}
YAML
}
config >"$T/agent.yaml"
start_agent() {	# start_agent LOG
	"$VCAGENT" -c "$T/agent.yaml" >"$1" 2>&1 &
	AGENT_PID=$!
}
stop_agent() {
	kill -TERM "$AGENT_PID"; wait "$AGENT_PID"; local rc=$?
	AGENT_PID=
	return $rc
}

# ---- a database URI whose password libpq would quote ----
PW=uRiPw-$RANDOM$RANDOM
export DB_DSN="postgresql://vc:$PW%zz@127.0.0.1:1/vcagent"
check "-n masks the URI's password" sh -c "'$VCAGENT' -n -c '$T/agent.yaml' 2>&1 | grep -F 'postgresql://vc:********@127.0.0.1:1/vcagent'"
check "-n never prints it" sh -c "! '$VCAGENT' -n -c '$T/agent.yaml' 2>&1 | grep -qF '$PW'"
start_agent "$T/bad.log"
check "the database error is logged" wait_for "$T/bad.log" "database: cannot connect to PostgreSQL" 20
check "the operator endpoints start" wait_for "$T/bad.log" "operator endpoints on $URL/" 20
curl -s "$URL/readyz" >"$T/readyz"
check "/readyz names the database error" contains "$T/readyz" "database: cannot connect to PostgreSQL: invalid percent-encoded token"
check "/readyz does not show the password" lacks "$T/readyz" "$PW"
check "it exits 0 on SIGTERM" stop_agent
check "the log does not show the password" lacks "$T/bad.log" "$PW"

# ---- the agent, for real ----
export DB_DSN=$PG_CONNINFO
start_agent "$T/agent.log"
check "the agent joins the group" wait_for "$T/agent.log" "kafka: assigned 1 partition(s)" 30
check "operator endpoints start" wait_for "$T/agent.log" "operator endpoints on $URL/" 20
for _ in $(seq 100); do curl -s "$URL/readyz" | grep -q 'database: ok' && break; sleep 0.2; done
# none GLOB: nothing matches GLOB in the datastore's cache folder, which is
# there (so a wrong layout cannot pass for "nothing left")
none() {
	[ -d "$DS/_base" ] || { echo "# no $DS/_base"; return 1; }
	! compgen -G "$DS/_base/$1" >/dev/null
}
code() {	# code METHOD PATH [curl args...]: print the HTTP status
	local m=$1 p=$2; shift 2
	curl -s -o "$T/body" -w '%{http_code}' -X "$m" "$@" "$URL$p"
}

# ---- slowloris: 64 half-sent requests from 127.0.0.1 ----
cat >"$T/slowloris.py" <<'PY'
import socket, sys, time
port, n, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    except OSError:
        pass  # refused at once: fine, it is closed
    socks.append(s)
open(out, "w").write("open %d\n" % len(socks))
closed, deadline = 0, time.monotonic() + 120
for s in socks:
    s.settimeout(max(0.1, deadline - time.monotonic()))
    try:
        closed += s.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        closed += 1
    except socket.timeout:
        pass
open(out, "a").write("closed %d\n" % closed)
PY
python3 "$T/slowloris.py" "$PORT" 64 "$T/slowloris.out" &
HELPER_PIDS="$HELPER_PIDS $!"
check "64 half-sent connections are open" wait_for "$T/slowloris.out" "open 64" 20
check "/healthz answers another address meanwhile" sh -c "[ \"\$(curl -s -m 10 --interface 127.0.0.2 $URL/healthz)\" = ok ]"
check "the agent closes every half-sent connection" wait_for "$T/slowloris.out" "closed 64" 60
healthz_again() {	# the agent counts a closed connection out just after
	for _ in $(seq 50); do
		[ "$(curl -s -m 10 "$URL/healthz")" = ok ] && return 0
		sleep 0.2
	done
	return 1
}
check "/healthz answers the same address again" healthz_again

# ---- uploads refused before any data is read ----
head -c 1048576 /dev/urandom >"$T/img"
ID=1f2e3d4c-0000-4000-8000-00000000b001
up() {	# up PATH-AND-QUERY [curl args...]
	local p=$1; shift
	code PUT "/v1/images/$p" -T "$T/img" -H "X-Auth-Token: $TOKEN" "$@"
}
check "an unknown adapter_type is 400" test "$(up "$ID?datastore=LocalDS_0&adapter_type=scsi")" = 400
check "and says which values are taken" contains "$T/body" 'unknown adapter_type \"scsi\" (expected lsiLogic, lsiLogicsas, busLogic, paraVirtual or ide)'
check "a known one is taken" test "$(up "$ID?datastore=LocalDS_0&adapter_type=ide")" = 201
check "and cached with it" contains "$T/body" '"adapter_type": "ide"'
check "%00 in the id is 400" test "$(up "${ID}%00.x?datastore=LocalDS_0")" = 400
check "and names the whole id" contains "$T/body" "${ID}%00.x"
printf 'PUT /v1/images/1f2e3d4c-0000-4000-8000-00000000b002?datastore=LocalDS_0 HTTP/1.1\r\nHost: x\r\nX-Auth-Token: %s\r\nContent-Length: 4611686018427387904\r\nExpect: 100-continue\r\n\r\n' "$TOKEN" >"$T/huge.req"
python3 - "$PORT" "$T/huge.req" >"$T/huge.out" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(60)
s.sendall(open(sys.argv[2], "rb").read())
data = b""
while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
print(data.decode(errors="replace"))
PY
check "more bytes than the datastore has free is 507" grep -q '^HTTP/1.1 507' "$T/huge.out"
check "and says why" contains "$T/huge.out" "bytes free"
check "nothing was made for the refused ones" none "1f2e3d4c-0000-4000-8000-00000000b002*"

# ---- a stalled upload does not hold up the image's spawns ----
cat >"$T/stall.py" <<'PY'
import os, socket, sys, time
port, token, path, img, go, out = sys.argv[1:7]
data = open(img, "rb").read()
s = socket.create_connection(("127.0.0.1", int(port)))
s.sendall(("PUT %s HTTP/1.1\r\nHost: x\r\nX-Auth-Token: %s\r\nContent-Length: %d\r\n\r\n"
           % (path, token, len(data))).encode())
s.sendall(data[: len(data) // 2])
open(out, "w").write("half sent\n")
deadline = time.monotonic() + 120
while not os.path.exists(go) and time.monotonic() < deadline:
    time.sleep(0.1)
s.sendall(data[len(data) // 2 :])
s.settimeout(120)
resp = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    resp += chunk
    if b"\r\n\r\n" in resp and resp.rstrip().endswith(b"}"):
        break
open(out, "a").write(resp.decode(errors="replace") + "\n")
PY
GID=$(bash "$PEERS/glance.sh" image "$T" 524288)
python3 "$T/stall.py" "$PORT" "$TOKEN" "/v1/images/$GID?datastore=LocalDS_0" "$T/img" "$T/go" "$T/stall.out" &
STALL_PID=$!
HELPER_PIDS="$HELPER_PIDS $STALL_PID"
check "an upload stalls half-way" wait_for "$T/stall.out" "half sent" 20
check "it was under way" wait_for "$T/agent.log" "upload of image $GID into [LocalDS_0] started" 20
check "meanwhile a spawn's fetch of the image goes to Glance" test "$(code POST "/v1/images/$GID/prefetch?datastore=LocalDS_0" -m 60 -H "X-Auth-Token: $TOKEN")" = 200
check "it was fetched, not found" contains "$T/body" '"cached_before": false'
touch "$T/go"
wait "$STALL_PID"
check "the upload, ended second, is 409" grep -q '^HTTP/1.1 409' "$T/stall.out"
check "and says the image is cached already" contains "$T/stall.out" AlreadyExists
check "the fetched disk stays" test -f "$DS/_base/$GID/$GID.vmdk"
check "the upload's own folder is gone" none "$GID.upload-*"

# a cut upload: nothing at all is left, not even a folder
ID3=1f2e3d4c-0000-4000-8000-00000000b003
python3 "$T/stall.py" "$PORT" "$TOKEN" "/v1/images/$ID3?datastore=LocalDS_0" "$T/img" "$T/never" "$T/cut.out" &
CUT_PID=$!
HELPER_PIDS="$HELPER_PIDS $CUT_PID"
check "another upload stalls half-way" wait_for "$T/cut.out" "half sent" 20
check "it was under way" wait_for "$T/agent.log" "upload of image $ID3 into [LocalDS_0] started" 20
check "its data goes to a folder of its own" sh -c "ls -d $DS/_base/$ID3.upload-* >/dev/null && [ ! -e $DS/_base/$ID3 ]"
kill "$CUT_PID"; wait "$CUT_PID" 2>/dev/null
check "the cut upload is reported" wait_for "$T/agent.log" "upload of image $ID3 failed" 30
check "it leaves no folder" none "$ID3*"

# a failed fetch from Glance leaves no empty folder
BAD=$(bash "$PEERS/glance.sh" image "$T" 524288 sparse)	# random bytes: no VMDK
check "a corrupt image's fetch fails" test "$(code POST "/v1/images/$BAD/prefetch?datastore=LocalDS_0" -m 60 -H "X-Auth-Token: $TOKEN")" = 400
check "and says InvalidDiskFormat" contains "$T/body" InvalidDiskFormat
check "it leaves no folder" none "$BAD*"

# ---- a request id with a newline is one log line ----
NODE=$(sed -n 's/.*cluster "DC0_C0": .* node \([^ ]*\)$/\1/p' "$T/agent.log" | head -1)
FORGED='2026-01-01T00:00:00.000Z vcagent[info] request r-forged succeeded'
printf 'k|{"version": 1, "request_id": "r-nl\\n%s", "type": "spawn", "node": "%s", "instance": {"uuid": "6f1e2d3c-4b5a-4978-8e7d-0000000000b1", "name": "x"}, "flavor": {"vcpus": 0, "memory_mb": 128, "root_gb": 1}, "image_id": "x"}\n' \
    "$FORGED" "$NODE" | kcat -P -b "$KAFKA_BOOTSTRAP" -t vcagent.requests -K '|'
check "the request is logged" wait_for "$T/agent.log" 'request r-nl\n2026-01-01T00:00:00.000Z vcagent[info] request r-forged succeeded' 30
check "on one line: no forged line" sh -c "! grep -q '^2026-01-01T00:00:00.000Z' '$T/agent.log'"

stop_agent
check "SIGTERM exits 0" test $? -eq 0
check "the token is never logged" lacks "$T/agent.log" "$TOKEN"
check "peers stop clean" sh -c "bash '$PEERS/kafka.sh' stop '$T' && bash '$PEERS/peers.sh' stop '$T'"
tap_done
