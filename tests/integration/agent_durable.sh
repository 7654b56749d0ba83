#!/bin/bash
# agent_durable.sh - what the agent promises when its peers fail, against
# vcsim, Glance, PostgreSQL and Kafka:
#  - the connection pool is opened whole at start-up;
#  - PostgreSQL goes away (12 s) while 8 spawns wait for their power-on: no
#    false final event; once it is back the reconcile finishes each request, with
#    exactly one final event, true (succeeded, the VMs running), no restart;
#  - a dead letter the broker does not take is not committed: the message
#    is held (/readyz, metrics) and dead-lettered once the broker takes it,
#    once;
#  - a message too large to dead-letter is kept, not committed and not
#    lost: a restarted agent reads it again; other partitions are served.
. "$(dirname "$0")/tap.sh"
set -u
LOG_TAIL=200
. "$(dirname "$0")/agent_lib.sh"
agent_lib_init durable
AGENT_PID=
agent_peers 4 vcsim glance pg

IMG=$(bash "$PEERS/glance.sh" image "$T" 524288)
cat >"$T/agent.yaml" <<YAML
DEFAULT:
  host: agent-d
  max_concurrent_builds: 8
  sync_power_state_interval: -1
$(vcsim_yaml)
  cluster_name: [DC0_C0]
glance:
  api_servers: [$GLANCE_URL]
kafka:
  bootstrap_servers: $KAFKA_BOOTSTRAP
  group_id: it-durable
  session_timeout_ms: 3000
  heartbeat_interval_ms: 500
  properties:
    message.timeout.ms: "4000"
    fetch.wait.max.ms: "10"  # the mock broker holds an empty fetch that long
database:
  connection: {env: PG_DSN}
  retry_interval: 1
health:
  bind_port: 0
YAML
export VC_PW=$VCSIM_PASSWORD PG_DSN=$PG_CONNINFO
# the operator endpoints of the agent started last
uuid() { printf '7d000000-0000-4000-8000-%012d' "$1"; }
ready_code() { curl -s -o /dev/null -w '%{http_code}' "$URL/readyz"; }

start_agent
check "the agent joins the group" wait_for "$T/agent.log" "kafka: assigned 4 partition(s)" 30
NODE=$(sed -n 's/.*cluster "DC0_C0": .* node \([^ ]*\)$/\1/p' "$T/agent.log" | head -1)
URL=$(url)
FIRST_PID=$AGENT_PID
# the pool opens what it keeps (2 x 8 workers + 3) before any request: the
# first burst after a start does not pay for 19 sessions
open_conns() { curl -s "$URL/metrics" | awk '$1 == "vcagent_db_connections" { print $2 }'; }
n=$(open_conns)
check "19 PostgreSQL connections are open before any request ($n)" test "${n:-0}" -ge 19

# --- PostgreSQL goes away while 8 spawns wait for their power-on ---
send x "{\"version\": 1, \"request_id\": \"d-prefetch\", \"type\": \"prefetch\", \"node\": \"$NODE\", \"image_id\": \"$IMG\"}"
state_is() { [ "$(psql_v "SELECT state FROM requests WHERE request_id = '$1'" 2>/dev/null)" = "$2" ]; }
check "the image is cached first" until_ok 60 state_is d-prefetch succeeded
check "PowerOnVM_Task is made slow" test "$(curl -s --cacert "$VCSIM_CA_FILE" -X POST "$VCSIM_CTL/async?method=PowerOnVM_Task&delay=15s&count=8")" = ok
for n in $(seq 1 8); do
	send "$(uuid "$n")" "{\"version\": 1, \"request_id\": \"d-spawn-$n\", \"type\": \"spawn\", \"node\": \"$NODE\", \"instance\": {\"uuid\": \"$(uuid "$n")\", \"name\": \"d$n\"}, \"flavor\": {\"vcpus\": 1, \"memory_mb\": 64, \"root_gb\": 0}, \"image_id\": \"$IMG\"}"
done
held_power_ons() { [ "$(curl -s --cacert "$VCSIM_CA_FILE" "$VCSIM_CTL/tasks" | grep -c '^held .* PowerOnVM_Task .*left=[0-9]')" -eq "$1" ]; }
check "all 8 wait for their power-on" until_ok 60 held_power_ons 8
lines=$(wc -l <"$T/agent.log")
bash "$PEERS/pg.sh" pause "$T"
paused_at=$(date +%s)
lost() { [ "$(tail -n +"$lines" "$T/agent.log" | grep -c 'request d-spawn-.*: the connection holding its lock was lost while it ran')" -eq "$1" ]; }
check "each spawn meets the database gone, and says so" until_ok 90 lost 8
# the outage lasts 12 s at least: the reconcile meets it too
while [ "$(date +%s)" -lt $((paused_at + 12)) ]; do sleep 0.5; done
check "the reconcile, armed again, waits for the database" sh -c "tail -n +$lines '$T/agent.log' | grep -qE 'reconcile: (cannot connect to )?PostgreSQL'"
bash "$PEERS/pg.sh" resume "$T"
done_count() { [ "$(psql_v "SELECT count(*) FROM requests WHERE request_id LIKE 'd-spawn-%' AND state = 'succeeded'" 2>/dev/null)" = "$1" ]; }
check "once the database is back all 8 are finished, without a restart" until_ok 120 done_count 8
check "by the same agent process" sh -c "kill -0 $FIRST_PID && [ $AGENT_PID = $FIRST_PID ]"
check "the reconcile carried them out again" contains "$T/agent.log" "reconcile: request d-spawn-"
finals() {	# one line per request: ID FINAL-EVENTS...
	results
	python3 -c '
import json, sys
ev = {}
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    rid = e.get("request_id") or ""
    if rid.startswith("d-spawn-") and e.get("event") in ("succeeded", "failed", "rejected"):
        ev.setdefault(rid, []).append(e["event"] + ":" + str((e.get("instance") or {}).get("power_state")))
for n in range(1, 9):
    print("d-spawn-%d" % n, *ev.get("d-spawn-%d" % n, []))' "$T/results"
}
finals_ok() {
	local f
	f=$(finals)
	[ "$(grep -c ' succeeded:running$' <<<"$f")" -eq 8 ] && return 0
	echo "$f" | sed 's/^/# /'; return 1
}
check "every request has exactly one final event: succeeded, running" until_ok 30 finals_ok
check "no failed event was published" sh -c "! grep -F '\"request_id\":\"d-spawn-' '$T/results' | grep -qF '\"event\":\"failed\"'"
"${VCAGENT%/vcagent}/vcagent-vi" -c "$T/agent.yaml" vms >"$T/vms" 2>&1
vms_ok() {
	local n c
	for n in $(seq 1 8); do
		c=$(grep -i "$(uuid "$n")" "$T/vms" | grep -c poweredOn)
		[ "$c" -eq 1 ] || { echo "# instance $n: $c VMs powered on"; return 1; }
	done
}
check "each instance has one VM, powered on" vms_ok
check "the rows say active and running" test "$(psql_v "SELECT count(*) FROM instances WHERE uuid::text LIKE '7d000000%' AND deleted_at IS NULL AND vm_state = 'active' AND power_state = 'running'")" = 8
curl -s --cacert "$VCSIM_CA_FILE" -X POST "$VCSIM_CTL/reset" >/dev/null

# --- a request id reused for other content while its request waits ---
# a slow power_off holds instance 7; d-reuse (power_off of 7) is recorded
# behind it; d-reuse again, now a delete of instance 8, must not run
check "PowerOffVM_Task is made slow" test "$(curl -s --cacert "$VCSIM_CA_FILE" -X POST "$VCSIM_CTL/async?method=PowerOffVM_Task&delay=5s&count=1")" = ok
off() { send "$(uuid "$2")" "{\"version\": 1, \"request_id\": \"$1\", \"type\": \"power_off\", \"node\": \"$NODE\", \"instance\": {\"uuid\": \"$(uuid "$2")\"}, \"hard\": true}"; }
off d-off-7 7
check "a slow power_off runs" until_ok 60 state_is d-off-7 running
off d-reuse 7
check "a second one waits behind it, recorded" until_ok 60 state_is d-reuse accepted
send "$(uuid 8)" "{\"version\": 1, \"request_id\": \"d-reuse\", \"type\": \"delete\", \"node\": \"$NODE\", \"instance\": {\"uuid\": \"$(uuid 8)\"}}"
rejected() { results; grep -F '"request_id":"d-reuse"' "$T/results" | grep -F '"event":"rejected"' | grep -qF RequestIdReused; }
check "its id reused for a delete of another instance is rejected" until_ok 60 rejected
check "the waiting power_off is carried out" until_ok 60 state_is d-reuse succeeded
check "as itself: instance 7 is off" test "$(psql_v "SELECT power_state FROM instances WHERE uuid = '$(uuid 7)'")" = shutdown
check "instance 8 was not deleted" test "$(psql_v "SELECT vm_state || '/' || power_state FROM instances WHERE uuid = '$(uuid 8)' AND deleted_at IS NULL")" = active/running
"${VCAGENT%/vcagent}/vcagent-vi" -c "$T/agent.yaml" vms >"$T/vms" 2>&1
check "and its VM is there" grep -qi "$(uuid 8)" "$T/vms"
check "the ledger holds the power_off under that id" test "$(psql_v "SELECT type || ' ' || instance_uuid FROM requests WHERE request_id = 'd-reuse'")" = "power_off $(uuid 7)"
curl -s --cacert "$VCSIM_CA_FILE" -X POST "$VCSIM_CTL/reset" >/dev/null

# --- a dead letter the broker cannot take: not committed, held, then delivered ---
# the dead-letter topic's partition loses its leader: the dead letter times
# out (message.timeout.ms 4 s in kafka.properties)
check "the dead-letter topic has no leader" kafka_ctl leader vcagent.dead-letter 0 -1
lines=$(wc -l <"$T/agent.log")
send "$(uuid 1)" 'refused dead letter: not JSON'
check "the dead letter's failure is logged" until_ok 60 sh -c "tail -n +$lines '$T/agent.log' | grep -q 'cannot dead-letter to vcagent.dead-letter: .*timed out; the message is kept (not committed)'"
check "/readyz names the held message" until_ok 10 sh -c "curl -s '$URL/readyz' | grep -q 'cannot be dead-lettered to vcagent.dead-letter'"
check "/readyz is 503" test "$(ready_code)" = 503
check "metrics count the failure" sh -c "curl -s '$URL/metrics' | grep -qE '^vcagent_dead_letter_failures_total [1-9]'"
check "metrics show the held message" sh -c "curl -s '$URL/metrics' | grep -qx 'vcagent_kafka_messages_held 1'"
check "the dead-letter topic has its leader again" kafka_ctl leader vcagent.dead-letter 0 1
dl_once() { dead; [ "$(count_in "$T/dead" 'refused dead letter')" = 1 ]; }
check "once the broker takes it, it is dead-lettered" until_ok 60 dl_once
check "and the agent is ready again" until_ok 30 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' '$URL/readyz')\" = 200 ]"
# committed after its delivery: a restarted agent does not see it again
kill -TERM "$AGENT_PID"; wait "$AGENT_PID"; AGENT_PID=
lines=$(wc -l <"$T/agent.log")
start_agent
check "the agent joins again" until_ok 30 sh -c "tail -n +$lines '$T/agent.log' | grep -qF 'kafka: assigned 4 partition(s)'"
URL=$(url)
send "$(uuid 1)" "{\"version\": 1, \"request_id\": \"d-off-1\", \"type\": \"power_off\", \"node\": \"$NODE\", \"instance\": {\"uuid\": \"$(uuid 1)\"}, \"hard\": true}"
check "a request behind it is served" until_ok 60 state_is d-off-1 succeeded
check "the dead letter was committed: not read again" sh -c "! tail -n +$lines '$T/agent.log' | grep -q 'refused dead letter\|not JSON'"
dead
check "it is in the dead-letter topic once" test "$(count_in "$T/dead" 'refused dead letter')" = 1

# --- a message too large to dead-letter: kept, not committed, not lost ---
# partition 3 gets a message the topic takes but the agent's producer
# (message.max.bytes 1000000) cannot: partition 0 goes on being served
python3 -c 'import sys; sys.stdout.write("big" + "x" * 1100000 + "\n")' >"$T/big"
kcat -P -b "$KAFKA_BOOTSTRAP" -t vcagent.requests -p 3 -X message.max.bytes=2000000 -X batch.size=2000000 "$T/big"
check "the too-large dead letter is refused, logged" until_ok 60 sh -c "grep -q 'vcagent.requests \[3\] offset [0-9]*: cannot dead-letter to vcagent.dead-letter: .*Message size too large; the message is kept' '$T/agent.log'"
check "/readyz names it" until_ok 10 sh -c "curl -s '$URL/readyz' | grep -q 'vcagent.requests \[3\] offset [0-9]* cannot be dead-lettered'"
check "/readyz is 503" test "$(ready_code)" = 503
printf 'x|%s\n' "{\"version\": 1, \"request_id\": \"d-on-1\", \"type\": \"power_on\", \"node\": \"$NODE\", \"instance\": {\"uuid\": \"$(uuid 1)\"}}" |
    kcat -P -b "$KAFKA_BOOTSTRAP" -t vcagent.requests -p 0 -K '|'
check "other partitions are served meanwhile" until_ok 60 state_is d-on-1 succeeded
OFF=$(sed -n 's/.*vcagent.requests \[3\] offset \([0-9]*\): cannot dead-letter.*/\1/p' "$T/agent.log" | tail -1)
kill -TERM "$AGENT_PID"; wait "$AGENT_PID"; rc=$?; AGENT_PID=
check "SIGTERM exits 0 with a message held" test "$rc" -eq 0
lines=$(wc -l <"$T/agent.log")
start_agent
check "the agent joins again" until_ok 30 sh -c "tail -n +$lines '$T/agent.log' | grep -qF 'kafka: assigned 4 partition(s)'"
URL=$(url)
check "a restarted agent reads it again: it was not committed" until_ok 60 sh -c "tail -n +$lines '$T/agent.log' | grep -q 'vcagent.requests \[3\] offset $OFF: cannot dead-letter'"
dead
check "nothing of it reached the dead-letter topic" test "$(count_in "$T/dead" 'bigxxxx')" = 0
kill -TERM "$AGENT_PID"; wait "$AGENT_PID"; rc=$?; AGENT_PID=
check "SIGTERM exits 0" test "$rc" -eq 0
check "kafka stops clean" bash "$PEERS/kafka.sh" stop "$T"
check "peers stop clean" bash "$PEERS/peers.sh" stop "$T"
tap_done
