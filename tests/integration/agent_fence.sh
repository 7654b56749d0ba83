#!/bin/bash
# agent_fence.sh - who may act on a cluster, against vcsim, Glance, PostgreSQL
# and Kafka:
#  - an agent leases its cluster for its consumer group; a request for a node
#    nobody serves is dead-lettered with the reason and a rejected event;
#  - the power-state sync does not write over a task_state set while it read
#    vCenter (a slowed vCenter read opens the window);
#  - the connection holding a request's lock is killed while the request
#    waits for a long task: the worker stops within seconds, cancels the
#    task and sends no further change, with no final event; the reconcile
#    carries it out, once;
#  - an agent of the same group serving other clusters is reported; a
#    request for a node the group serves but this agent does not is
#    dead-lettered;
#  - a second agent in another consumer group on the same cluster is refused
#    (its log and /readyz name the cluster, the owner and the expiry) while
#    the first serves on: no duplicate events, no leaked VM; after the first
#    is killed (kill -9) and its lease expires, the second takes over and
#    serves;
#  - an agent that stops cleanly as the last live agent of its group releases
#    its group's lease: another group serves the cluster at once (the lease
#    time is 600 s, so only the release explains it); while a second agent
#    of the group lives, a clean stop does not release it.
. "$(dirname "$0")/tap.sh"
set -u
LOG_TAIL=80
. "$(dirname "$0")/agent_lib.sh"
agent_lib_init fence
A_PID= B_PID= C_PID=
agent_peers 2 vcsim glance pg -- -cluster 2

IMG=$(bash "$PEERS/glance.sh" image "$T" 524288)

config() {	# config HOST GROUP [CLUSTERS]
	cat <<YAML
DEFAULT:
  host: $1
  max_concurrent_builds: 4
  sync_power_state_interval: 1
  cluster_lease_time: 3
$(vcsim_yaml)
  cluster_name: [${3:-DC0_C0}]
glance:
  api_servers: [$GLANCE_URL]
kafka:
  bootstrap_servers: $KAFKA_BOOTSTRAP
  properties: {fetch.wait.max.ms: "10"}  # the mock broker holds an empty fetch that long
  group_id: $2
  session_timeout_ms: 3000
  heartbeat_interval_ms: 500
database:
  connection: {env: PG_DSN}
  retry_interval: 1
health:
  bind_port: 0
YAML
}
config agent-a it-fence-a >"$T/a.yaml"
config agent-b it-fence-b >"$T/b.yaml"
export VC_PW=$VCSIM_PASSWORD PG_DSN=$PG_CONNINFO
ctl() { curl -s --cacert "$VCSIM_CA_FILE" -X POST "$VCSIM_CTL/$1"; }
results() { kcat -C -b "$KAFKA_BOOTSTRAP" -t vcagent.results -o beginning -e -q 2>/dev/null >"$T/results"; }
# events ID EVENT: how many EVENT events request ID has on the results topic
events() { results; grep -F "\"request_id\":\"$1\"" "$T/results" | grep -cF "\"event\":\"$2\""; }
state_of() { psql_v "SELECT state FROM requests WHERE request_id = '$1'"; }
wait_state() {	# wait_state ID STATE SECONDS
	local i
	for ((i = 0; i < $3 * 5; i++)); do [ "$(state_of "$1")" = "$2" ] && return 0; sleep 0.2; done
	echo "# request $1 is \"$(state_of "$1")\", not $2"; return 1
}
uuid() { printf '7b000000-0000-4000-8000-%012d' "$1"; }
spawn() {	# spawn ID N [NODE]
	send "$(uuid "$2")" "{\"version\": 1, \"request_id\": \"$1\", \"type\": \"spawn\", \"node\": \"${3:-$NODE}\", \"instance\": {\"uuid\": \"$(uuid "$2")\", \"name\": \"i$2\"}, \"flavor\": {\"vcpus\": 1, \"memory_mb\": 64, \"root_gb\": 0}, \"image_id\": \"$IMG\"}"
}
delete() {	# delete ID N
	send "$(uuid "$2")" "{\"version\": 1, \"request_id\": \"$1\", \"type\": \"delete\", \"node\": \"$NODE\", \"instance\": {\"uuid\": \"$(uuid "$2")\"}}"
}
VI=${VCAGENT%/vcagent}/vcagent-vi
vms_of() { "$VI" -c "$T/a.yaml" vms 2>/dev/null | grep -ci "$(uuid "$1")"; }
url_of() { sed -n 's|.*operator endpoints on \(http://[^/]*\)/.*|\1|p' "$1" | tail -1; }
ready_is() {	# ready_is URL CODE: /readyz answers CODE (its text in $T/readyz)
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(curl -s -o "$T/readyz" -w '%{http_code}' "$1/readyz")" = "$2" ] && return 0
		sleep 0.2
	done
	echo "# /readyz:"; sed 's/^/#   /' "$T/readyz"; return 1
}

"$VCAGENT" -c "$T/a.yaml" >"$T/a.log" 2>&1 & A_PID=$!
check "agent A joins its group" wait_for "$T/a.log" "kafka: assigned 2 partition(s)" 30
NODE=$(sed -n 's/.*cluster "DC0_C0": .* node \([^ ]*\)$/\1/p' "$T/a.log" | head -1)
URL_A=$(url_of "$T/a.log")
check "agent A leases its cluster for its group" contains "$T/a.log" "cluster \"DC0_C0\" (node $NODE): leased by consumer group \"it-fence-a\""
check "the lease row names the group" test "$(psql_v "SELECT group_id FROM cluster_leases WHERE node = '$NODE'")" = it-fence-a
a_ready() { ready_is "$URL_A" 200 && grep -q '^clusters: ok' "$T/readyz"; }
check "agent A is ready, its cluster leased" a_ready

# --- a request for a node nobody serves is dead-lettered, not dropped ---
OTHER="domain-c999.${NODE#*.}"
spawn u-spawn-9 9 "$OTHER"
dead_letter() {
	local i
	for ((i = 0; i < 100; i++)); do
		kcat -C -b "$KAFKA_BOOTSTRAP" -t vcagent.dead-letter -o beginning -e -q -f '%h|%s\n' 2>/dev/null >"$T/dead"
		grep -F u-spawn-9 "$T/dead" | grep -qF "no agent serves node $OTHER" && return 0
		sleep 0.2
	done
	sed 's/^/# /' "$T/dead"; return 1
}
check "a request for a node nobody serves is dead-lettered with the reason" dead_letter
rejected_why() { results; grep -F '"event":"rejected"' "$T/results" | grep -qF "no agent serves node $OTHER"; }
check "and a rejected event says why" rejected_why
check "it is not in the ledger" test "$(psql_v "SELECT count(*) FROM requests WHERE request_id = 'u-spawn-9'")" = 0
check "it is counted in /metrics" sh -c "curl -s '$URL_A/metrics' | grep -q '^vcagent_requests_unserved_total 1$'"

spawn l-spawn-1 1
spawn l-spawn-2 2
all_done() {	# all_done ID...: each succeeds
	local id
	for id; do wait_state "$id" succeeded 60 || return 1; done
}
check "agent A serves its cluster" all_done l-spawn-1 l-spawn-2

# --- the power-state sync and a task_state set while it reads vCenter ---
# the sync's next read of vCenter's VMs is held 8 s; meanwhile the VM is
# powered off (the sync would write "shutdown") and a worker-like update
# sets a task_state: it must survive the sync
held() { curl -s --cacert "$VCSIM_CA_FILE" "$VCSIM_CTL/tasks" | grep -q "^stalling RetrievePropertiesEx"; }
wait_held() {	# wait_held yes|no
	local i
	for ((i = 0; i < 100; i++)); do
		if held; then [ "$1" = yes ] && return 0; else [ "$1" = no ] && return 0; fi
		sleep 0.1
	done
	return 1
}
check "a slow vCenter read is armed" test "$(ctl "stall?method=RetrievePropertiesEx&delay=8s&match=config.instanceUuid")" = ok
check "the sync is reading vCenter" wait_held yes
psql_v "UPDATE instances SET task_state = 'resizing', updated_at = now() WHERE uuid = '$(uuid 2)'" >/dev/null
"$VI" -c "$T/a.yaml" power-off "$(uuid 2)" >"$T/vi.out" 2>&1
check "both happened while the sync read vCenter" held
check "the read ends" wait_held no
# a later sync read shows the held one's sync is over
ctl "stall?method=RetrievePropertiesEx&delay=1ms&match=config.instanceUuid" >/dev/null
check "a later sync ran" sh -c "for i in \$(seq 100); do curl -s --cacert '$VCSIM_CA_FILE' '$VCSIM_CTL/tasks' | grep -q '^stall RetrievePropertiesEx' || exit 0; sleep 0.1; done; exit 1"
check "the task_state set meanwhile survives the sync" test "$(psql_v "SELECT coalesce(task_state, 'NULL') FROM instances WHERE uuid = '$(uuid 2)'")" = resizing
psql_v "UPDATE instances SET task_state = NULL, updated_at = now() WHERE uuid = '$(uuid 2)'" >/dev/null
power_is() {	# power_is STATE
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(psql_v "SELECT power_state FROM instances WHERE uuid = '$(uuid 2)'")" = "$1" ] && return 0
		sleep 0.2
	done
	return 1
}
check "once the task is over, the sync writes the power state" power_is shutdown

# --- the connection holding a request's lock dies while it runs ---
# its CreateVM_Task is held 60 s; the lock's session is killed: the worker
# stops at once (not when the task ends), cancels the task and sends nothing
# more (the PowerOnVM_Task is held, so that who sent it can be counted); the
# reconcile carries the request out, once
ctl "async?method=CreateVM_Task&delay=60s&count=1" >/dev/null
spawn t-spawn-5 5
check "a slow spawn is running" wait_state t-spawn-5 running 30
calls() { curl -s --cacert "$VCSIM_CA_FILE" "$VCSIM_CTL/calls?method=$1"; }
held_create() { curl -s --cacert "$VCSIM_CA_FILE" "$VCSIM_CTL/tasks" | grep -q "^held .* CreateVM_Task "; }
create_held() { local i; for ((i = 0; i < 150; i++)); do held_create && return 0; sleep 0.2; done; return 1; }
check "its CreateVM_Task is held" create_held
CANCELS=$(calls CancelTask) POWERONS=$(calls PowerOnVM_Task)
ctl "hold?method=PowerOnVM_Task&count=1" >/dev/null
lines=$(wc -l <"$T/a.log")
KEY="('x' || left(encode(sha256(convert_to('request t-spawn-5', 'UTF8')), 'hex'), 16))::bit(64)::bigint"
check "its lock's session is killed" test "$(psql_v "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted AND ((classid::bigint << 32) | objid::bigint) = $KEY")" = t
logged() {	# logged TEXT TRIES: TEXT in agent A's log since the kill
	local i
	for ((i = 0; i < $2; i++)); do tail -n +"$lines" "$T/a.log" | grep -qF "$1" && return 0; sleep 0.2; done
	return 1
}
# the task would be held 60 s: 30 s tell a stop from the task's end
check "the worker stops its work while the task runs" logged "request t-spawn-5 (spawn $(uuid 5)): the connection holding its lock was lost: stopping its work" 150
cancelled() {
	local i
	for ((i = 0; i < 50; i++)); do
		! held_create && [ "$(calls CancelTask)" -gt "$CANCELS" ] && return 0
		sleep 0.2
	done
	curl -s --cacert "$VCSIM_CA_FILE" "$VCSIM_CTL/tasks" | sed 's/^/# /'; return 1
}
check "and cancels its CreateVM_Task" cancelled
check "the agent abandons the work" logged "request t-spawn-5 (spawn $(uuid 5)): the connection holding its lock was lost while it ran" 100
check "the reconcile takes it up again" logged "reconcile: request t-spawn-5 (spawn $(uuid 5)) was left unfinished" 300
poweron_held() { local i; for ((i = 0; i < 150; i++)); do [ "$(curl -s --cacert "$VCSIM_CA_FILE" "$VCSIM_CTL/held?method=PowerOnVM_Task")" = 1 ] && return 0; sleep 0.2; done; return 1; }
check "its second attempt powers the VM on" poweron_held
# the first attempt ended before the reconcile began the second, held now
check "the stopped run sent no PowerOnVM_Task" test "$(( $(calls PowerOnVM_Task) - POWERONS ))" -eq 1
ctl "release?method=PowerOnVM_Task" >/dev/null
check "the reconcile carries it out" wait_state t-spawn-5 succeeded 60
check "in a second attempt" test "$(psql_v "SELECT attempts FROM requests WHERE request_id = 't-spawn-5'")" = 2
check "with one final event" test "$(events t-spawn-5 succeeded)/$(events t-spawn-5 failed)" = 1/0
check "and one VM" test "$(vms_of 5)" -eq 1

# --- an agent of the same group that serves other clusters ---
config agent-c it-fence-a "DC0_C0, DC0_C1" >"$T/c.yaml"
lines=$(wc -l <"$T/a.log")
"$VCAGENT" -c "$T/c.yaml" >"$T/c.log" 2>&1 & C_PID=$!
check "agent C joins agent A's group" wait_for "$T/c.log" "kafka: assigned 1 partition(s)" 30
check "agent A notices that C serves other clusters" wait_for "$T/a.log" "cluster leases: the agents of consumer group \"it-fence-a\" serve different clusters: agent-c serves [\"" 30
mismatch_ready() { ready_is "$URL_A" 200 && contains "$T/readyz" "clusters: warning: the agents of consumer group \"it-fence-a\" serve different clusters"; }
check "agent A's /readyz says so, still ready" mismatch_ready
kill -TERM "$C_PID"; wait "$C_PID"; rc=$?; C_PID=
check "agent C exits 0" test "$rc" -eq 0
check "agent A: the group serves the same clusters again" wait_for "$T/a.log" "serve the same clusters again" 30
regained() { for ((i = 0; i < 150; i++)); do tail -n +"$lines" "$T/a.log" | grep -qF "kafka: assigned 2 partition(s)" && return 0; sleep 0.2; done; return 1; }
check "agent A has every partition again" regained
# a node agent A's group holds, which agent A does not serve
GNODE="domain-c998.${NODE#*.}"
psql_v "INSERT INTO cluster_leases (node, cluster, group_id, expires_at) VALUES ('$GNODE', 'DC0_C9', 'it-fence-a', now() + interval '1 hour')" >/dev/null
spawn g-spawn-8 8 "$GNODE"
group_dead_letter() {
	local i
	for ((i = 0; i < 100; i++)); do
		kcat -C -b "$KAFKA_BOOTSTRAP" -t vcagent.dead-letter -o beginning -e -q -f '%h|%s\n' 2>/dev/null >"$T/dead"
		grep -F g-spawn-8 "$T/dead" | grep -qF "node $GNODE is served by consumer group \"it-fence-a\"" && return 0
		sleep 0.2
	done
	sed 's/^/# /' "$T/dead"; return 1
}
check "a request for a node the group serves but not this agent is dead-lettered" group_dead_letter
check "the reason says agents of a group must serve the same clusters" sh -c "grep -F g-spawn-8 '$T/dead' | grep -qF 'the agents of a consumer group must serve the same clusters'"

# --- a second agent, in another consumer group, on the same cluster ---
"$VCAGENT" -c "$T/b.yaml" >"$T/b.log" 2>&1 & B_PID=$!
check "agent B joins its own group" wait_for "$T/b.log" "kafka: assigned 2 partition(s)" 30
URL_B=$(url_of "$T/b.log")
check "agent B is refused the cluster" wait_for "$T/b.log" "cluster \"DC0_C0\" (node $NODE) is leased to consumer group \"it-fence-a\" (agents: agent-a) until" 30
check "agent B's /readyz is 503" ready_is "$URL_B" 503
check "and names the cluster, the owner and the expiry" contains "$T/readyz" "clusters: cluster \"DC0_C0\" (node $NODE) is leased to consumer group \"it-fence-a\" (agents: agent-a) until 20"
check "agent A stays ready" ready_is "$URL_A" 200
spawn l-spawn-3 3
spawn l-spawn-4 4
delete l-delete-1 1
check "agent A carries out the requests" all_done l-spawn-3 l-spawn-4 l-delete-1
# agent B's new group reads the topic from its start: 6 requests for the
# node, and g-spawn-8 for the node agent A's group holds
not_ours() {
	local i
	for ((i = 0; i < 100; i++)); do
		curl -s "$URL_B/metrics" | grep -q '^vcagent_requests_not_ours_total 7$' && return 0
		sleep 0.2
	done
	curl -s "$URL_B/metrics" | grep not_ours | sed 's/^/# /'; return 1
}
check "agent B counts the requests as not its group's" not_ours
check "and says so" test "$(grep -c 'request [lt]-.* is not ours: cluster "DC0_C0" (node '"$NODE"') is leased to consumer group "it-fence-a"' "$T/b.log")" -eq 6
dups=0
for id in l-spawn-3 l-spawn-4 l-delete-1; do
	[ "$(events $id accepted)/$(events $id succeeded)" = 1/1 ] || { echo "# $id: $(events $id accepted) accepted, $(events $id succeeded) succeeded"; dups=$((dups + 1)); }
done
check "one accepted and one succeeded event each, no duplicates" test "$dups" -eq 0
check "agent B carried out nothing" lacks "$T/b.log" "succeeded"
check "no VM leaked, none duplicated" test "$(vms_of 1)/$(vms_of 3)/$(vms_of 4)" = 0/1/1
check "no row is active with deleted_at set" test "$(psql_v "SELECT count(*) FROM instances WHERE deleted_at IS NOT NULL AND vm_state <> 'deleted'")" = 0

# --- the first agent is killed: the second takes over once the lease expired ---
# agent A's lease runs at least until EXP (a last renewal may extend it)
EXP=$(psql_v "SELECT expires_at FROM cluster_leases WHERE node = '$NODE' AND group_id = 'it-fence-a'")
kill -9 "$A_PID"; wait "$A_PID" 2>/dev/null; A_PID=
check "agent A, killed, released nothing" lacks "$T/a.log" "lease released"
check "agent B takes the cluster over" wait_for "$T/b.log" "cluster \"DC0_C0\" (node $NODE): leased by consumer group \"it-fence-b\"" 30
check "only after agent A's lease expired" test "$(psql_v "SELECT group_id = 'it-fence-b' AND acquired_at >= '$EXP'::timestamptz FROM cluster_leases WHERE node = '$NODE'")" = t
check "agent B is ready" ready_is "$URL_B" 200
spawn l-spawn-6 6
check "agent B serves the cluster" wait_state l-spawn-6 succeeded 60
check "it was agent B" grep -q 'request l-spawn-6 .* succeeded' "$T/b.log"

# --- a clean stop of a group's last agent releases the lease at once ---
# agents D1 and D2 (group it-fence-d) and E (group it-fence-e) lease for
# 600 s: E can serve the cluster within the test only if D's lease is
# released
config600() { config "$@" | sed 's/cluster_lease_time: 3/cluster_lease_time: 600/'; }
config600 agent-d1 it-fence-d >"$T/d1.yaml"
config600 agent-d2 it-fence-d >"$T/d2.yaml"
config600 agent-e it-fence-e >"$T/e.yaml"
kill -TERM "$B_PID"; wait "$B_PID"; rc=$?; B_PID=
check "SIGTERM exits 0" test "$rc" -eq 0
check "agent B, the last of its group, releases its lease" contains "$T/b.log" "cluster \"DC0_C0\" (node $NODE): lease released by consumer group \"it-fence-b\": this agent (agent-b) was its last live agent serving it"
check "its lease row has expired" test "$(psql_v "SELECT group_id = 'it-fence-b' AND expires_at <= now() FROM cluster_leases WHERE node = '$NODE'")" = t
"$VCAGENT" -c "$T/d1.yaml" >"$T/d1.log" 2>&1 & A_PID=$!
check "agent D1 leases the cluster at once" wait_for "$T/d1.log" "cluster \"DC0_C0\" (node $NODE): leased by consumer group \"it-fence-d\" for 600 s" 30
"$VCAGENT" -c "$T/d2.yaml" >"$T/d2.log" 2>&1 & B_PID=$!
check "agent D2 joins group it-fence-d" wait_for "$T/d2.log" "kafka: assigned 1 partition(s)" 30
check "and holds the lease with D1" wait_for "$T/d2.log" "cluster \"DC0_C0\" (node $NODE): lease held by consumer group \"it-fence-d\"" 30
"$VCAGENT" -c "$T/e.yaml" >"$T/e.log" 2>&1 & C_PID=$!
check "agent E is refused the cluster" wait_for "$T/e.log" "cluster \"DC0_C0\" (node $NODE) is leased to consumer group \"it-fence-d\"" 30
lines=$(wc -l <"$T/d2.log")
kill -TERM "$A_PID"; wait "$A_PID"; rc=$?; A_PID=
check "agent D1 exits 0" test "$rc" -eq 0
check "agent D1, with D2 alive, does not release the lease" lacks "$T/d1.log" "lease released"
check "the lease stays group it-fence-d's, for minutes" test "$(psql_v "SELECT group_id = 'it-fence-d' AND expires_at > now() + interval '500 s' FROM cluster_leases WHERE node = '$NODE'")" = t
d2_all() { for ((i = 0; i < 150; i++)); do tail -n +"$lines" "$T/d2.log" | grep -qF "kafka: assigned 2 partition(s)" && return 0; sleep 0.2; done; return 1; }
check "agent D2 has every partition" d2_all
spawn d-spawn-10 10
check "agent D2 serves the cluster" wait_state d-spawn-10 succeeded 60
check "it was agent D2" grep -q 'request d-spawn-10 .* succeeded' "$T/d2.log"
e_not_ours() { for ((i = 0; i < 150; i++)); do grep -qF 'request d-spawn-10 is not ours: cluster "DC0_C0"' "$T/e.log" && return 0; sleep 0.2; done; return 1; }
check "agent E still counts the requests as another group's" e_not_ours
kill -TERM "$B_PID"; wait "$B_PID"; rc=$?; B_PID=
check "agent D2 exits 0" test "$rc" -eq 0
check "agent D2, the last of its group, releases the lease" contains "$T/d2.log" "cluster \"DC0_C0\" (node $NODE): lease released by consumer group \"it-fence-d\": this agent (agent-d2) was its last live agent serving it"
# agent E's cron retries the lease every 200 s (a third of 600 s): its next
# request takes it
spawn e-spawn-11 11
check "agent E serves a request for the cluster" wait_state e-spawn-11 succeeded 60
check "having taken the lease over, long before 600 s" contains "$T/e.log" "cluster \"DC0_C0\" (node $NODE): leased by consumer group \"it-fence-e\" for 600 s"
check "it was agent E" grep -q 'request e-spawn-11 .* succeeded' "$T/e.log"
e_not_dead() { ! kcat -C -b "$KAFKA_BOOTSTRAP" -t vcagent.dead-letter -o beginning -e -q 2>/dev/null | grep -qF e-spawn-11; }
check "and did not dead-letter it" e_not_dead
kill -TERM "$C_PID"; wait "$C_PID"; rc=$?; C_PID=
check "agent E exits 0" test "$rc" -eq 0
check "kafka stops clean" bash "$PEERS/kafka.sh" stop "$T"
check "peers stop clean" bash "$PEERS/peers.sh" stop "$T"
tap_done
