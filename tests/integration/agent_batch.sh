#!/bin/bash
# agent_batch.sh - the requests one poll brings are recorded in one ledger
# statement and committed once (agent/agent_kafka.c), against vcsim,
# PostgreSQL and librdkafka's mock cluster.  The messages are in the topic
# before the agent starts, so its first polls bring them together:
#  - a batch mixing valid requests, a malformed message, a request id
#    reused for another payload (in the batch, and against the ledger), a
#    request sent twice and a redelivered finished one: each is handled as
#    it would be alone, in order, and all are committed;
#  - the ledger statement fails in the middle of a batch (a trigger refuses
#    one of its rows): none of the batch is recorded and no offset of it
#    committed; the agent killed then and started again, once the ledger
#    takes them, carries out each request once.
. "$(dirname "$0")/tap.sh"
set -u
. "$(dirname "$0")/agent_lib.sh"
agent_lib_init batch
AGENT_PID=
agent_peers 2 vcsim pg

cat >"$T/agent.yaml" <<YAML
DEFAULT:
  host: agent-b
  max_concurrent_builds: 2
  sync_power_state_interval: -1
$(vcsim_yaml)
  cluster_name: [DC0_C0]
kafka:
  bootstrap_servers: $KAFKA_BOOTSTRAP
  properties: {fetch.wait.max.ms: "10"}  # the mock broker holds an empty fetch that long
  group_id: it-batch
  session_timeout_ms: 3000
  heartbeat_interval_ms: 500
database:
  connection: {env: PG_DSN}
  retry_interval: 1
health:
  bind_port: 0
YAML
export VC_PW=$VCSIM_PASSWORD PG_DSN=$PG_CONNINFO
stop_agent() { kill -TERM "$AGENT_PID"; wait "$AGENT_PID"; AGENT_PID=; }
# produce PARTITION: the lines of stdin (KEY|VALUE) to that partition, at once
produce() { kcat -P -b "$KAFKA_BOOTSTRAP" -t vcagent.requests -p "$1" -K '|'; }
uuid() { printf '7b000000-0000-4000-8000-%012d' "$1"; }
# off ID N: a power_off of instance N (no such VM: it fails, quickly)
off() { printf '%s|{"version": 1, "request_id": "%s", "type": "power_off", "node": "%s", "instance": {"uuid": "%s"}, "hard": true}\n' "$(uuid "$2")" "$1" "$NODE" "$(uuid "$2")"; }
# finals ID: the number of final events of request ID
# (a result published again is the ledger's jsonb text: '": "')
finals() { grep -E "\"request_id\": ?\"$1\"" "$T/results" | grep -cE '"event": ?"(succeeded|failed)"'; }
state_is() { [ "$(psql_v "SELECT state FROM requests WHERE request_id = '$1'" 2>/dev/null)" = "$2" ]; }
ended() { state_is "$1" succeeded || state_is "$1" failed; }
all_ended() { local id; for id in "$@"; do ended "$id" || return 1; done; }
joined() { until_ok 30 sh -c "tail -n +$1 '$T/agent.log' | grep -qF 'kafka: assigned 2 partition(s)'"; }

start_agent
check "the agent joins the group" joined 1
NODE=$(sed -n 's/.*cluster "DC0_C0": .* node \([^ ]*\)$/\1/p' "$T/agent.log" | head -1)
check "the agent names its node" test -n "$NODE"
off b-done 9 | produce 1
check "a first request is carried out" until_ok 60 ended b-done
stop_agent

# --- one batch: valid, malformed, reused ids, a duplicate, a redelivery ---
{
	off b-1 1
	echo 'x|not JSON at all'
	off b-2 2
	off b-1 3		# b-1 again, another instance: reused in the batch
	off b-3 3
	off b-2 2		# b-2 again, the same request: not carried out twice
	off b-done 9		# finished already: its result again
	off b-done 8		# and its id reused against the ledger
	off b-4 4
} | produce 0
lines=$(wc -l <"$T/agent.log")
start_agent
check "the agent joins again" joined "$lines"
check "the valid requests are carried out" until_ok 60 all_ended b-1 b-2 b-3 b-4
rejected() { results; [ "$(grep -F '"event":"rejected"' "$T/results" | grep -cF RequestIdReused)" -eq 2 ]; }
check "both reused ids are rejected" until_ok 30 rejected
dead
check "the malformed message is dead-lettered once" test "$(count_in "$T/dead" 'not JSON at all')" = 1
check "the reuses are dead-lettered, once each" test "$(count_in "$T/dead" RequestIdReused)" = 2
check "b-1 is the first b-1: instance 1" test "$(psql_v "SELECT instance_uuid FROM requests WHERE request_id = 'b-1'")" = "$(uuid 1)"
check "b-done is still the one of instance 9" test "$(psql_v "SELECT instance_uuid FROM requests WHERE request_id = 'b-done'")" = "$(uuid 9)"
results
for id in b-1 b-2 b-3 b-4; do
	# b-2's copy, read once b-2 is done (in a later batch), gets its result again
	[ "$id" = b-2 ] && n=$(finals b-2) && [ "$n" = 2 ] && grep -qF "request b-2 was carried out already" "$T/agent.log" && n=1
	check "$id has one final event" test "${n:-$(finals "$id")}" = 1
	check "$id ran once" test "$(psql_v "SELECT attempts FROM requests WHERE request_id = '$id'")" = 1
	n=
done
check "b-done's result is published again" test "$(finals b-done)" = 2
check "the redelivery is logged" grep -qF "request b-done was carried out already" "$T/agent.log"
first_at() { grep -nF "\"request_id\":\"$1\"" "$T/results" | grep -F "\"event\":\"$2\"" | head -1 | cut -d: -f1; }
check "events keep the order: b-1 accepted before b-3" test "$(first_at b-1 accepted)" -lt "$(first_at b-3 accepted)"
# all committed: a restarted agent reads none of them again
stop_agent
lines=$(wc -l <"$T/agent.log")
start_agent
check "the agent joins again" joined "$lines"
off b-after 5 | produce 0
check "a request after them is served" until_ok 60 ended b-after
check "the batch was committed: nothing of it is read again" sh -c "! tail -n +$lines '$T/agent.log' | grep -qE 'request b-(1|2|3|4|done) |not JSON|RequestIdReused'"
dead
check "nothing more was dead-lettered" test "$(count_in "$T/dead" '|')" = 3

# --- the ledger statement fails in the middle of a batch ---
psql_v "CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN IF NEW.request_id = 'f-boom' THEN RAISE EXCEPTION 'f-boom refused'; END IF; RETURN NEW; END \$\$; CREATE TRIGGER refuse_boom BEFORE INSERT ON requests FOR EACH ROW EXECUTE FUNCTION refuse_boom()" >/dev/null
stop_agent
{
	off f-1 11
	echo 'x|f: not JSON either'
	off f-boom 12
	off f-2 13
} | produce 0
{ off f-3 14; off f-4 15; } | produce 1
lines=$(wc -l <"$T/agent.log")
start_agent
check "the agent joins again" joined "$lines"
check "the ledger's refusal is logged" until_ok 60 sh -c "tail -n +$lines '$T/agent.log' | grep -q 'request f-.*: the ledger: .*f-boom refused'"
# (partition 1's messages may come in a batch of their own)
check "none of partition 0's batch is recorded" test "$(psql_v "SELECT count(*) FROM requests WHERE request_id IN ('f-1', 'f-boom', 'f-2')")" = 0
# killed: had any offset of the batch been committed, its requests were lost
kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=
psql_v "DROP TRIGGER refuse_boom ON requests" >/dev/null
lines=$(wc -l <"$T/agent.log")
start_agent
check "the agent joins again" joined "$lines"
check "once the ledger takes them, every request is carried out" until_ok 60 all_ended f-1 f-boom f-2 f-3 f-4
results
for id in f-1 f-boom f-2 f-3 f-4; do
	check "$id has one final event" test "$(finals "$id")" = 1
	check "$id ran once" test "$(psql_v "SELECT attempts FROM requests WHERE request_id = '$id'")" = 1
done
dl_once() { dead; [ "$(count_in "$T/dead" 'f: not JSON either')" = 1 ]; }
check "the malformed message among them is dead-lettered once" until_ok 30 dl_once
stop_agent
check "no sanitizer report" sh -c "! grep -E 'AddressSanitizer|LeakSanitizer|runtime error:' '$T/agent.log'"
check "kafka stops clean" bash "$PEERS/kafka.sh" stop "$T"
check "peers stop clean" bash "$PEERS/peers.sh" stop "$T"
tap_done
