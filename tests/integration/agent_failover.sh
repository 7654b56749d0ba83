#!/bin/bash
# agent_failover.sh - the agent under failure, against vcsim, Glance,
# PostgreSQL and Kafka:
#  - kill -9 in the middle of a batch of spawns and deletes, restart: every
#    request ends done exactly once, no VM leaked or duplicated;
#  - two agents in one consumer group split the partitions and the work; when
#    one is killed the other takes its partitions and serves on;
#  - PostgreSQL stopped during traffic: nothing is committed or lost, the agent
#    reports not ready, and resumes by itself when PostgreSQL is back.
#  - a request recorded but not yet claimed when PostgreSQL went away is
#    carried out once it is back, without a restart.
. "$(dirname "$0")/tap.sh"
set -u
LOG_TAIL=100000
. "$(dirname "$0")/agent_lib.sh"
agent_lib_init fo
A_PID= B_PID=
agent_peers 4 vcsim glance pg

IMG=$(bash "$PEERS/glance.sh" image "$T" 524288)

config() {	# config HOST
	cat <<YAML
DEFAULT:
  host: $1
  max_concurrent_builds: 4
  sync_power_state_interval: -1
$(vcsim_yaml)
  cluster_name: [DC0_C0]
glance:
  api_servers: [$GLANCE_URL]
kafka:
  bootstrap_servers: $KAFKA_BOOTSTRAP
  properties: {fetch.wait.max.ms: "10"}  # the mock broker holds an empty fetch that long
  group_id: it-failover
  session_timeout_ms: 3000
  heartbeat_interval_ms: 500
database:
  connection: {env: PG_DSN}
  retry_interval: 1
health:
  bind_port: 0
YAML
}
config agent-a >"$T/a.yaml"
config agent-b >"$T/b.yaml"
export VC_PW=$VCSIM_PASSWORD PG_DSN=$PG_CONNINFO
start_a() { "$VCAGENT" -c "$T/a.yaml" >>"$T/a.log" 2>&1 & A_PID=$!; }
start_b() { "$VCAGENT" -c "$T/b.yaml" >>"$T/b.log" 2>&1 & B_PID=$!; }
# done_count PREFIX: requests whose id starts with PREFIX that succeeded (ledger)
done_count() { psql_v "SELECT count(*) FROM requests WHERE request_id LIKE '$1%' AND state = 'succeeded'"; }
wait_done() {	# wait_done PREFIX N SECONDS
	local i
	for ((i = 0; i < $3 * 5; i++)); do
		[ "$(done_count "$1")" -ge "$2" ] && return 0
		sleep 0.2
	done
	echo "# $(done_count "$1") of $2 $1* requests succeeded"; return 1
}
uuid() { printf '7a000000-0000-4000-8000-%012d' "$1"; }
spawn() {	# spawn ID N
	send "$(uuid "$2")" "{\"version\": 1, \"request_id\": \"$1\", \"type\": \"spawn\", \"node\": \"$NODE\", \"instance\": {\"uuid\": \"$(uuid "$2")\", \"name\": \"i$2\"}, \"flavor\": {\"vcpus\": 1, \"memory_mb\": 64, \"root_gb\": 0}, \"image_id\": \"$IMG\"}"
}
delete() {	# delete ID N
	send "$(uuid "$2")" "{\"version\": 1, \"request_id\": \"$1\", \"type\": \"delete\", \"node\": \"$NODE\", \"instance\": {\"uuid\": \"$(uuid "$2")\"}}"
}
vms_of() {	# vms_of N: VMs in vCenter carrying instance N's uuid
	"${VCAGENT%/vcagent}/vcagent-vi" -c "$T/a.yaml" vms 2>/dev/null | grep -ci "$(uuid "$1")"
}

start_a
check "agent A joins the group" wait_for "$T/a.log" "kafka: assigned 4 partition(s)" 30
NODE=$(sed -n 's/.*cluster "DC0_C0": .* node \([^ ]*\)$/\1/p' "$T/a.log" | head -1)

# --- kill -9 in the middle of a batch, restart ---
# vCenter tasks that take a while, so the kill lands in the middle
slow_ok=0
for m in CreateVM_Task PowerOnVM_Task Destroy_Task; do
	[ "$(curl -s --cacert "$VCSIM_CA_FILE" -X POST "$VCSIM_CTL/async?method=$m&delay=1500ms")" = ok ] && slow_ok=$((slow_ok + 1))
done
check "vCenter tasks are made slow" test "$slow_ok" -eq 3
for n in $(seq 1 10); do spawn "k-spawn-$n" "$n"; done
for n in $(seq 1 5); do delete "k-delete-$n" "$n"; done
wait_done k- 3 60 >/dev/null
kill -9 "$A_PID"; wait "$A_PID" 2>/dev/null
check "agent A was killed mid-batch" test "$(done_count k-)" -lt 15
# what the ledger holds unfinished now is what the restart must resume
unfinished=$(psql_v "SELECT request_id FROM requests WHERE request_id LIKE 'k-%' AND state IN ('accepted', 'running') ORDER BY 1")
check "the kill left requests unfinished in the ledger" test -n "$unfinished"
echo "# left unfinished:" $unfinished
curl -s --cacert "$VCSIM_CA_FILE" -X POST "$VCSIM_CTL/reset" >/dev/null
lines=$(wc -l <"$T/a.log")
start_a
check "after the restart every request is done" wait_done k- 15 120
check "each was carried out to the end once" test "$(psql_v "SELECT count(*) FROM requests WHERE request_id LIKE 'k-%' AND state <> 'succeeded'")" = 0
resumed() {	# every request left unfinished was taken up from the ledger
	local id ok=0
	for id in $unfinished; do
		tail -n +"$lines" "$T/a.log" | grep -qF "reconcile: request $id (" ||
			{ echo "# $id was not resumed from the ledger"; ok=1; }
	done
	return $ok
}
check "unfinished ones were resumed from the ledger" resumed
"${VCAGENT%/vcagent}/vcagent-vi" -c "$T/a.yaml" vms >"$T/vms" 2>&1
dups=0; leaked=0
for n in $(seq 1 10); do
	c=$(grep -ci "$(uuid "$n")" "$T/vms")
	if [ "$n" -le 5 ]; then [ "$c" -eq 0 ] || leaked=$((leaked + 1)); else [ "$c" -eq 1 ] || dups=$((dups + 1)); fi
done
check "no VM of a deleted instance is left" test "$leaked" -eq 0
check "every live instance has exactly one VM" test "$dups" -eq 0
check "the rows agree" test "$(psql_v "SELECT count(*) FROM instances WHERE uuid::text LIKE '7a000000%' AND deleted_at IS NULL AND vm_state = 'active'")" = 5

# --- two agents share the group; one dies, the other takes over ---
start_b
check "agent B joins: the partitions are split" wait_for "$T/b.log" "kafka: assigned 2 partition(s)" 30
check "agent A keeps the other half" wait_for "$T/a.log" "kafka: assigned 2 partition(s)" 30
for n in $(seq 11 18); do spawn "s-spawn-$n" "$n"; done
check "the work is done" wait_done s- 8 60
check "agent A did some of it" grep -q 'request s-spawn-.* succeeded' "$T/a.log"
check "agent B did some of it" grep -q 'request s-spawn-.* succeeded' "$T/b.log"
lines=$(wc -l <"$T/a.log")
kill -9 "$B_PID"; wait "$B_PID" 2>/dev/null; B_PID=
takes_over() {
	local i
	for ((i = 0; i < 150; i++)); do
		tail -n +"$lines" "$T/a.log" | grep -qF "kafka: assigned 4 partition(s)" && return 0
		sleep 0.2
	done
	return 1
}
check "agent A takes over all partitions" takes_over
for n in $(seq 19 22); do spawn "f-spawn-$n" "$n"; done
check "agent A serves every partition alone" wait_done f- 4 60

# --- PostgreSQL goes away during traffic ---
URL=$(sed -n 's|.*operator endpoints on \(http://[^/]*\)/.*|\1|p' "$T/a.log" | tail -1)
bash "$PEERS/pg.sh" pause "$T"
for n in $(seq 23 26); do spawn "p-spawn-$n" "$n"; done
check "the agent sees the database gone" wait_for "$T/a.log" "the ledger is unreachable" 30
code=$(curl -s -o "$T/readyz" -w '%{http_code}' "$URL/readyz")
db_down() {	# /readyz names the database, and not as ok
	if grep -q '^database: .' "$T/readyz" && ! grep -qx 'database: ok' "$T/readyz" &&
	    grep -qx 'not ready' "$T/readyz"; then return 0; fi
	echo "# /readyz said:"; sed 's/^/#   /' "$T/readyz"; return 1
}
check "and is not ready, naming the database" db_down
check "/readyz is 503" test "$code" = 503
bash "$PEERS/pg.sh" resume "$T"
check "after PostgreSQL is back every request is done" wait_done p- 4 60
check "each once" test "$(psql_v "SELECT sum(attempts) FROM requests WHERE request_id LIKE 'p-%'")" = 4
check "the agent is ready again" sh -c "for i in \$(seq 50); do [ \"\$(curl -s -o /dev/null -w '%{http_code}' '$URL/readyz')\" = 200 ] && exit 0; sleep 0.2; done; exit 1"

# --- PostgreSQL goes away while a recorded request waits for its worker ---
# a spawn whose CreateVM_Task vcsim holds (until /ctl/reset) keeps the
# instance; a power_off for it, already in the ledger, waits behind it.  The
# database goes away, then the spawn is let go: the power_off's turn comes
# and it cannot be claimed until the database is back.
state_of() { psql_v "SELECT state FROM requests WHERE request_id = '$1'"; }
wait_state() {	# wait_state ID STATE
	local i
	for ((i = 0; i < 600; i++)); do [ "$(state_of "$1")" = "$2" ] && return 0; sleep 0.1; done
	echo "# request $1 is \"$(state_of "$1")\", not $2"; return 1
}
# wait_log_since LINE TEXT SECONDS: TEXT in a.log after its line LINE
wait_log_since() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		tail -n +"$1" "$T/a.log" | grep -qF -- "$2" && return 0
		sleep 0.1
	done
	echo "# timed out waiting for \"$2\" in a.log"; return 1
}
check "vcsim holds CreateVM_Task" test "$(curl -s --cacert "$VCSIM_CA_FILE" -X POST "$VCSIM_CTL/async?method=CreateVM_Task&delay=1h")" = ok
spawn q-spawn-27 27
check "a slow spawn is running" wait_state q-spawn-27 running
send "$(uuid 27)" "{\"version\": 1, \"request_id\": \"q-off-27\", \"type\": \"power_off\", \"node\": \"$NODE\", \"instance\": {\"uuid\": \"$(uuid 27)\"}, \"hard\": true}"
check "a power_off for it is recorded behind it" wait_state q-off-27 accepted
inflight() {	# inflight ID STATE: /status lists request ID in flight as STATE
	curl -s "$URL/status" | python3 -c 'import json, sys
d = json.load(sys.stdin)
sys.exit(0 if any(r["request_id"] == sys.argv[1] and r["state"] == sys.argv[2] for r in d["requests_in_flight"]) else 1)' "$1" "$2"
}
check "/status lists the spawn as running" inflight q-spawn-27 running
check "and the power_off as queued" inflight q-off-27 queued
lines=$(wc -l <"$T/a.log")
bash "$PEERS/pg.sh" pause "$T"
check "the spawn is let go" test "$(curl -s --cacert "$VCSIM_CA_FILE" -X POST "$VCSIM_CTL/reset")" = ok
check "the waiting request cannot be claimed" wait_log_since "$lines" 'request q-off-27: cannot take its lock' 60
bash "$PEERS/pg.sh" resume "$T"
check "once the database is back both are done" wait_done q- 2 60
# the power_off could only be carried out by the reconcile: its claim failed
check "the reconcile ran again for them" wait_log_since "$lines" 'reconcile: request q-off-27 (' 10
check "the instance is off" test "$(psql_v "SELECT power_state FROM instances WHERE uuid = '$(uuid 27)'")" = shutdown
check "and has one VM" test "$(vms_of 27)" -eq 1

# --- kill -9 while a resize has the VM off: its rerun powers it on again ---
# (the soak found it: the rerun saw the VM off, left it off, and the row
# went on saying running)
vm_power_of() {	# vm_power_of N: the power state of instance N's VM in vCenter
	"${VCAGENT%/vcagent}/vcagent-vi" -c "$T/a.yaml" vms 2>/dev/null |
	    awk -F'\t' -v u="$(uuid "$1")" 'tolower($0) ~ u { print $2 }'
}
spawn z-spawn-33 33
check "an instance to resize runs" wait_done z-spawn 1 60
check "its VM is on" test "$(vm_power_of 33)" = poweredOn
check "vcsim holds ReconfigVM_Task" test "$(curl -s --cacert "$VCSIM_CA_FILE" -X POST "$VCSIM_CTL/async?method=ReconfigVM_Task&delay=1h")" = ok
send "$(uuid 33)" "{\"version\": 1, \"request_id\": \"z-resize-33\", \"type\": \"resize\", \"node\": \"$NODE\", \"instance\": {\"uuid\": \"$(uuid 33)\"}, \"flavor\": {\"vcpus\": 2, \"memory_mb\": 128, \"root_gb\": 0}}"
check "the resize powered the VM off and waits for its reconfigure" sh -c "for i in \$(seq 300); do curl -s --cacert '$VCSIM_CA_FILE' '$VCSIM_CTL/tasks' | grep -q '^held .* ReconfigVM_Task' && exit 0; sleep 0.2; done; exit 1"
check "the VM is off meanwhile" test "$(vm_power_of 33)" = poweredOff
kill -9 "$A_PID"; wait "$A_PID" 2>/dev/null
check "the held reconfigure is let go" test "$(curl -s --cacert "$VCSIM_CA_FILE" -X POST "$VCSIM_CTL/reset")" = ok
start_a
check "after the restart the resize is done" wait_done z-resize 1 120
check "the instance runs again: its VM is on" test "$(vm_power_of 33)" = poweredOn
check "and its row says running" test "$(psql_v "SELECT power_state FROM instances WHERE uuid = '$(uuid 33)'")" = running

kill -TERM "$A_PID"
wait "$A_PID"
rc=$?
A_PID=
check "SIGTERM exits 0" test "$rc" -eq 0
check "kafka stops clean" bash "$PEERS/kafka.sh" stop "$T"
check "peers stop clean" bash "$PEERS/peers.sh" stop "$T"
tap_done
