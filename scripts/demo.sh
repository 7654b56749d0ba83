#!/bin/bash
# demo.sh [--keep] - the main job, on a fresh Debian 12 machine: install what
# is missing, build, start the local peers (vcsim, Kafka, PostgreSQL, Glance)
# on loopback, upload an image to Glance, start vcagent, send spawn, power,
# migrate and delete requests through Kafka with vcagentctl, and show the
# results, the instance rows and the clusters' resource records as they
# change.  With --keep
# the agent runs until Ctrl-C; otherwise the demo ends by itself and stops
# everything it started.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KEEP=0
[ "${1:-}" = "--keep" ] && KEEP=1

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "installing dependencies (apt-get, only what is missing)"
bash "$ROOT/scripts/deps.sh"
say "building"
export VCSIM_BUILD_DIR=$ROOT/build/vcsim-launcher
bash "$ROOT/scripts/build.sh" "$ROOT/build"
export VCAGENT_BUILD=$ROOT/build

DIR=$(mktemp -d /dev/shm/vcagent-demo-XXXXXX 2>/dev/null || mktemp -d)
chmod 755 "$DIR"
AGENT_PID=
cleanup() {
	[ -n "$AGENT_PID" ] && kill -TERM "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
	bash "$ROOT/tests/peers/kafka.sh" stop "$DIR" >/dev/null 2>&1 || true
	bash "$ROOT/tests/peers/peers.sh" stop "$DIR" >/dev/null 2>&1 || true
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "starting the peers on loopback: vcsim (2 clusters), Kafka, PostgreSQL 15, Glance"
bash "$ROOT/tests/peers/vcsim.sh" start "$DIR" -cluster 2 -host 4 >/dev/null
bash "$ROOT/tests/peers/kafka.sh" start "$DIR" -t vcagent.requests:4 -t vcagent.results:1 \
    -t vcagent.dead-letter:1 >/dev/null
bash "$ROOT/tests/peers/peers.sh" start "$DIR" pg glance >/dev/null
cat "$DIR"/vcsim.env "$DIR"/kafka.env "$DIR"/pg.env "$DIR"/glance.env | grep -v PASSWORD
. "$DIR/vcsim.env"; . "$DIR/kafka.env"; . "$DIR/pg.env"; . "$DIR/glance.env"
PORT=$(python3 "$ROOT/tests/peers/freeport")

say "uploading a small image to Glance"
IMAGE=$(bash "$ROOT/tests/peers/glance.sh" image "$DIR" 4194304 preallocated)
echo "image $IMAGE (4 MiB, preallocated VMDK)"

export VCAGENT_DEMO_VC_PASSWORD=$VCSIM_PASSWORD
cat >"$DIR/vcagent.yaml" <<YAML
DEFAULT:
  host: demo-agent
vmware:
  host_ip: $VCSIM_HOST
  host_port: $VCSIM_PORT
  host_username: $VCSIM_USER
  host_password: {env: VCAGENT_DEMO_VC_PASSWORD}
  ca_file: $VCSIM_CA_FILE
  cluster_name: [DC0_C0, DC0_C1]
glance:
  api_servers: [$GLANCE_URL]
kafka:
  bootstrap_servers: $KAFKA_BOOTSTRAP
  properties: {fetch.wait.max.ms: "10"}  # the mock broker holds an empty fetch that long
  group_id: demo
  session_timeout_ms: 3000
  heartbeat_interval_ms: 500
database:
  connection: "$PG_CONNINFO"
health:
  bind_port: $PORT
YAML

say "vcagent -n: the configuration checked, secrets masked"
"$VCAGENT_BUILD/agent/vcagent" -n -c "$DIR/vcagent.yaml" | sed -n '/^vmware:/,/^image_cache:/p'

say "starting vcagent"
"$VCAGENT_BUILD/agent/vcagent" -c "$DIR/vcagent.yaml" >"$DIR/vcagent.log" 2>&1 &
AGENT_PID=$!
for _ in $(seq 300); do
	grep -q "kafka: assigned" "$DIR/vcagent.log" && break
	kill -0 "$AGENT_PID" 2>/dev/null || break
	sleep 0.1
done
cat "$DIR/vcagent.log"

CTL="$VCAGENT_BUILD/agent/vcagentctl -c $DIR/vcagent.yaml -w 60"
sql() { bash "$ROOT/tests/peers/pg.sh" psql "$DIR" -c "$1"; }
NODE=$(sed -n 's/.*cluster "DC0_C0": .* node \([^ ]*\)$/\1/p' "$DIR/vcagent.log" | head -1)
NODE2=$(sed -n 's/.*cluster "DC0_C1": .* node \([^ ]*\)$/\1/p' "$DIR/vcagent.log" | head -1)
UUID=$(python3 -c 'import uuid; print(uuid.uuid4())')
records() {
	sql "SELECT hypervisor_hostname AS cluster, vcpus, vcpus_used, memory_mb, local_gb, running_vms, updated_at FROM compute_nodes ORDER BY 1"
}
instance() {
	sql "SELECT uuid, node, vm_moref, vm_state, power_state, task_state, deleted_at IS NOT NULL AS deleted FROM instances"
}

say "the clusters' resource records, as the scheduler reads them (compute_nodes)"
$CTL nodes
records

say "spawn through Kafka: vcagentctl spawn (a linked clone of the cached image)"
$CTL spawn "$NODE" "$UUID" demo-vm-1 "$IMAGE" 1 256 1
sleep 0.5
instance
records
say "power off, power on"
$CTL power-off "$NODE" "$UUID"
instance
$CTL power-on "$NODE" "$UUID"
say "migrate (live) to the other cluster"
$CTL migrate "$NODE" "$UUID" "$NODE2"
instance
sleep 0.5
records
say "delete"
$CTL delete "$NODE2" "$UUID"
instance
sql "SELECT request_id, type, state, attempts FROM requests ORDER BY received_at"
say "the operator status and a few metrics"
$CTL status | head -n 30
curl -s "http://127.0.0.1:$PORT/metrics" |
    grep -E '^vcagent_(requests_total|imagecache_(downloads|hits)_total|kafka_consumer_lag|request_duration_seconds_(sum|count))' |
    grep -v '} 0$'

if [ "$KEEP" -eq 1 ]; then
	say "vcagent is running (log: $DIR/vcagent.log); Ctrl-C stops it and the peers"
	wait "$AGENT_PID" || true
	AGENT_PID=
	exit 0
fi

say "stopping vcagent (SIGTERM: logs out of vCenter, exits 0)"
kill -TERM "$AGENT_PID"
rc=0
wait "$AGENT_PID" || rc=$?
AGENT_PID=
tail -n 2 "$DIR/vcagent.log"
echo "vcagent exited with status $rc"
say "stopping the peers"
bash "$ROOT/tests/peers/kafka.sh" stop "$DIR"
bash "$ROOT/tests/peers/peers.sh" stop "$DIR"
echo "done"
exit "$rc"
