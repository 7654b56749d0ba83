#!/bin/bash
# demo.sh [--keep] - the main job, on a fresh Debian 12 machine: install what
# is missing, build, start the local peers (vcsim, Kafka, PostgreSQL, Glance)
# on loopback, start vcagent against them and show what it does.  With --keep
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
	bash "$ROOT/tests/peers/peers.sh" stop "$DIR" >/dev/null 2>&1 || true
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "starting the peers on loopback: vcsim (2 clusters), Kafka, PostgreSQL 15, Glance"
bash "$ROOT/tests/peers/vcsim.sh" start "$DIR" -cluster 2 -host 4 >/dev/null
bash "$ROOT/tests/peers/peers.sh" start "$DIR" kafka pg glance >/dev/null
cat "$DIR"/vcsim.env "$DIR"/kafka.env "$DIR"/pg.env "$DIR"/glance.env | grep -v PASSWORD
. "$DIR/vcsim.env"; . "$DIR/kafka.env"; . "$DIR/pg.env"; . "$DIR/glance.env"

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
database:
  connection: "$PG_CONNINFO"
health:
  bind_port: 0
YAML

say "vcagent -n: the configuration checked, secrets masked"
"$VCAGENT_BUILD/agent/vcagent" -n -c "$DIR/vcagent.yaml" | sed -n '/^vmware:/,/^image_cache:/p'

say "starting vcagent"
"$VCAGENT_BUILD/agent/vcagent" -c "$DIR/vcagent.yaml" >"$DIR/vcagent.log" 2>&1 &
AGENT_PID=$!
for _ in $(seq 100); do
	grep -q "serving\|not found\|cannot" "$DIR/vcagent.log" && break
	kill -0 "$AGENT_PID" 2>/dev/null || break
	sleep 0.1
done
cat "$DIR/vcagent.log"

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
bash "$ROOT/tests/peers/peers.sh" stop "$DIR"
echo "done"
exit "$rc"
