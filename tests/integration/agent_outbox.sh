#!/bin/bash
# agent_outbox.sh - a worker's way through PostgreSQL, against vcsim, Glance,
# PostgreSQL and Kafka:
#  - 16 workers on a pool capped at 4 connections (max_pool_size 1,
#    max_overflow 3), their leases held together: every spawn and delete is
#    served, none waits out pool_timeout (a lease's holder finds the image
#    cache's connection), the pool never opens more than the cap;
#  - the final event is not waited for: Kafka's acknowledgement clears
#    result_pending later, in a batch.  An agent killed after its event was
#    published but before its row was cleared publishes it again at the next
#    start, once, and does not carry the request out again.
. "$(dirname "$0")/tap.sh"
set -u
LOG_TAIL=200
. "$(dirname "$0")/agent_lib.sh"
agent_lib_init outbox
AGENT_PID=
agent_peers 4 vcsim glance pg

IMG=$(bash "$PEERS/glance.sh" image "$T" 524288)
cat >"$T/agent.yaml" <<YAML
DEFAULT:
  host: agent-o
  max_concurrent_builds: 16
  sync_power_state_interval: -1
$(vcsim_yaml)
  cluster_name: [DC0_C0]
  connection_pool_size: 16
glance:
  api_servers: [$GLANCE_URL]
kafka:
  bootstrap_servers: $KAFKA_BOOTSTRAP
  group_id: it-outbox
  session_timeout_ms: 3000
  heartbeat_interval_ms: 500
  properties: {fetch.wait.max.ms: "10"}  # the mock broker holds an empty fetch that long
database:
  connection: {env: PG_DSN}
  retry_interval: 1
  max_pool_size: 1
  max_overflow: 3
  pool_timeout: 30
health:
  bind_port: 0
YAML
export VC_PW=$VCSIM_PASSWORD PG_DSN=$PG_CONNINFO
# (a republished event is the ledger's jsonb text: ": " between key and value)
results() { timeout 60 kcat -C -b "$KAFKA_BOOTSTRAP" -t vcagent.results -o beginning -e -q 2>/dev/null | sed 's/": /":/g; s/, "/,"/g' >"$T/results"; }
uuid() { printf '7e000000-0000-4000-8000-%012d' "$1"; }
spawn() {	# spawn ID N
	send "$(uuid "$2")" "{\"version\": 1, \"request_id\": \"$1\", \"type\": \"spawn\", \"node\": \"$NODE\", \"instance\": {\"uuid\": \"$(uuid "$2")\", \"name\": \"o$2\"}, \"flavor\": {\"vcpus\": 1, \"memory_mb\": 64, \"root_gb\": 0}, \"image_id\": \"$IMG\"}"
}
delete() { send "$(uuid "$2")" "{\"version\": 1, \"request_id\": \"$1\", \"type\": \"delete\", \"node\": \"$NODE\", \"instance\": {\"uuid\": \"$(uuid "$2")\"}}"; }
state_is() { [ "$(psql_v "SELECT state FROM requests WHERE request_id = '$1'" 2>/dev/null)" = "$2" ]; }
count_state() { [ "$(psql_v "SELECT count(*) FROM requests WHERE request_id LIKE '$1' AND state = '$2'" 2>/dev/null)" = "$3" ]; }
metric() { curl -s "$URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
# finals ID: the final events of ID on the results topic
finals() { results; grep -F "\"request_id\":\"$1\"" "$T/results" | grep -cE '"event":"(succeeded|failed)"'; }

start_agent
check "the agent joins the group" wait_for "$T/agent.log" "kafka: assigned 4 partition(s)" 30
NODE=$(sed -n 's/.*cluster "DC0_C0": .* node \([^ ]*\)$/\1/p' "$T/agent.log" | head -1)
URL=$(url)
send x "{\"version\": 1, \"request_id\": \"o-prefetch\", \"type\": \"prefetch\", \"node\": \"$NODE\", \"image_id\": \"$IMG\"}"
check "the image is cached first" until_ok 60 state_is o-prefetch succeeded

# --- 16 workers, a pool capped at 4 ---
# each spawn's instance row takes 0.3 s (the test's trigger): the workers
# hold their leases together, then each needs the image cache's connection
psql_v "CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN IF NEW.task_state = 'spawning' THEN PERFORM pg_sleep(0.3); END IF; RETURN NEW; END \$\$; CREATE TRIGGER slow_row BEFORE INSERT OR UPDATE ON instances FOR EACH ROW EXECUTE FUNCTION slow_row()" >/dev/null
for n in $(seq 1 32); do spawn "o-s-$n" "$n"; done
check "32 spawns at once on 16 workers and 4 connections: all succeed" until_ok 120 count_state 'o-s-%' succeeded 32
psql_v "DROP TRIGGER slow_row ON instances; DROP FUNCTION slow_row()" >/dev/null
for n in $(seq 1 32); do delete "o-d-$n" "$n"; done
check "and 32 deletes" until_ok 120 count_state 'o-d-%' succeeded 32
check "none waited out the pool" lacks "$T/agent.log" "no PostgreSQL connection free"
peak=$(metric vcagent_db_connections_peak)
check "the pool never held more than its cap (peak $peak)" test "${peak:-99}" -le 4
cleared() { [ "$(psql_v "SELECT count(*) FROM requests WHERE request_id LIKE 'o-%-%' AND result_pending")" = 0 ]; }
check "their acknowledged final events are cleared, in batches" until_ok 30 cleared
results
check "each has one final event" test "$(grep -E '"request_id":"o-[sd]-[0-9]+"' "$T/results" | grep -cE '"event":"succeeded"')" = 64

# --- killed after the event was published, before its row was cleared ---
# the test holds the clearing: an UPDATE that clears o-held-1 fails
psql_v "CREATE FUNCTION hold_sent() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN IF OLD.result_pending AND NOT NEW.result_pending AND NEW.request_id = 'o-held-1' THEN RAISE EXCEPTION 'held by the test'; END IF; RETURN NEW; END \$\$; CREATE TRIGGER hold_sent BEFORE UPDATE ON requests FOR EACH ROW EXECUTE FUNCTION hold_sent()" >/dev/null
spawn o-held-1 40
published() { [ "$(finals o-held-1)" = 1 ]; }
check "its final event is published" until_ok 60 published
check "its end is recorded" state_is o-held-1 succeeded
check "the clearing is refused (the test's trigger)" until_ok 30 grep -q "cannot record that [0-9]* final event(s) were sent .*held by the test" "$T/agent.log"
check "its row stays pending" test "$(psql_v "SELECT result_pending FROM requests WHERE request_id = 'o-held-1'")" = t
kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=
psql_v "DROP TRIGGER hold_sent ON requests; DROP FUNCTION hold_sent()" >/dev/null
lines=$(wc -l <"$T/agent.log")
start_agent
check "the agent starts again" until_ok 60 sh -c "tail -n +$lines '$T/agent.log' | grep -qF 'kafka: assigned 4 partition(s)'"
URL=$(url)
check "the reconcile publishes it again" until_ok 60 sh -c "tail -n +$lines '$T/agent.log' | grep -q 'reconcile: request o-held-1 finished before'"
not_pending() { [ "$(psql_v "SELECT result_pending FROM requests WHERE request_id = '$1'")" = f ]; }
check "and clears its row" until_ok 30 not_pending o-held-1
twice() {
	local n
	n=$(finals o-held-1)
	[ "$n" = 2 ] && return 0
	echo "# $n final events:"; grep -F '"request_id":"o-held-1"' "$T/results" | sed 's/^/#   /'; return 1
}
check "it is on the results topic twice: once, and once again" twice
check "it was not carried out again (one attempt)" test "$(psql_v "SELECT attempts FROM requests WHERE request_id = 'o-held-1'")" = 1
"${VCAGENT%/vcagent}/vcagent-vi" -c "$T/agent.yaml" vms >"$T/vms" 2>&1
check "its instance has one VM" test "$(grep -ci "$(uuid 40)" "$T/vms")" = 1
spawn o-after-1 41
check "a request after the restart is served" until_ok 60 state_is o-after-1 succeeded
check "its row is cleared once Kafka acknowledged it" until_ok 30 not_pending o-after-1
check "with one final event" test "$(finals o-after-1)" = 1
kill -TERM "$AGENT_PID"; wait "$AGENT_PID"; rc=$?; AGENT_PID=
check "SIGTERM exits 0" test "$rc" -eq 0
check "nothing left pending after a clean stop" test "$(psql_v "SELECT count(*) FROM requests WHERE result_pending")" = 0
check "kafka stops clean" bash "$PEERS/kafka.sh" stop "$T"
check "peers stop clean" bash "$PEERS/peers.sh" stop "$T"
tap_done
