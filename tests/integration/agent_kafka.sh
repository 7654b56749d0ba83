#!/bin/bash
# agent_kafka.sh - requests through Kafka -> vcagent -> vcsim/Glance/PostgreSQL
# -> results topic: spawn (a linked clone of the cached image), power off,
# power on, reboot, suspend, delete; a redelivered request is not carried out
# twice and its result is published again; malformed requests go to the
# dead-letter topic with the reason while good ones are served.
. "$(dirname "$0")/tap.sh"
set -u
LOG_TAIL=0
. "$(dirname "$0")/agent_lib.sh"
agent_lib_init kafka
AGENT_PID=
agent_peers 4 vcsim glance pg -- -cluster 2
DS="$T/vcsim/tmp/govcsim-DC0-LocalDS_0-*"	# where vcsim keeps LocalDS_0 (a glob)

# an image in Glance
IMG=$(bash "$PEERS/glance.sh" image "$T" 1048576 preallocated)

cat >"$T/agent.yaml" <<YAML
DEFAULT:
  host: agent-1
  max_concurrent_builds: 4
  sync_power_state_interval: 1
$(vcsim_yaml)
  cluster_name: [DC0_C0, DC0_C1]
glance:
  api_servers: [$GLANCE_URL]
kafka:
  bootstrap_servers: $KAFKA_BOOTSTRAP
  properties: {fetch.wait.max.ms: "10"}  # the mock broker holds an empty fetch that long
  group_id: it-agents
  session_timeout_ms: 3000
  heartbeat_interval_ms: 500
database:
  connection: {env: PG_DSN}
health:
  bind_port: 0
YAML
export VC_PW=$VCSIM_PASSWORD PG_DSN=$PG_CONNINFO

"$VCAGENT" -c "$T/agent.yaml" >"$T/agent.log" 2>&1 &
AGENT_PID=$!
check "the agent joins the group" wait_for "$T/agent.log" "kafka: assigned 4 partition(s)" 30
NODE=$(sed -n 's/.*cluster "DC0_C0": .* node \([^ ]*\)$/\1/p' "$T/agent.log" | head -1)
check "the agent names its node" test -n "$NODE"
NODE2=$(sed -n 's/.*cluster "DC0_C1": .* node \([^ ]*\)$/\1/p' "$T/agent.log" | head -1)
URL=$(sed -n 's|.*operator endpoints on \(http://[^/]*\)/.*|\1|p' "$T/agent.log" | head -1)
check "/readyz is ready with vCenter, the database and Kafka" sh -c "curl -s -f '$URL/readyz' | grep -q 'kafka: ok'"

U=6f1e2d3c-4b5a-4978-8e7d-000000000001
send() {	# send KEY JSON
	printf '%s|%s\n' "$1" "$2" | kcat -P -b "$KAFKA_BOOTSTRAP" -t vcagent.requests -K '|'
}
results() { kcat -C -b "$KAFKA_BOOTSTRAP" -t vcagent.results -o beginning -e -q 2>/dev/null >"$T/results"; }
# wait_result ID EVENT: the results topic has EVENT for request ID
wait_result() {
	local i
	for ((i = 0; i < 150; i++)); do
		results
		grep -F "\"request_id\":\"$1\"" "$T/results" | grep -qF "\"event\":\"$2\"" && return 0
		sleep 0.2
	done
	echo "# no $2 for $1 in the results:"; sed 's/^/#   /' "$T/results"; return 1
}
wait_result_any() {	# wait_result_any EVENT: some event EVENT on the results topic
	local i
	for ((i = 0; i < 50; i++)); do
		results
		grep -qF "\"event\":\"$1\"" "$T/results" && return 0
		sleep 0.2
	done
	return 1
}
req() {	# req ID TYPE [EXTRA JSON MEMBERS]
	printf '{"version": 1, "request_id": "%s", "type": "%s", "node": "%s", "instance": {"uuid": "%s", "name": "vm-one"}%s}' \
	    "$1" "$2" "$NODE" "$U" "${3:+, $3}"
}

SPAWN=$(req r-spawn spawn "\"flavor\": {\"vcpus\": 1, \"memory_mb\": 128, \"root_gb\": 1}, \"image_id\": \"$IMG\", \"ports\": []")
send "$U" "$SPAWN"
check "spawn is accepted" wait_result r-spawn accepted
check "spawn succeeds" wait_result r-spawn succeeded
check "the result names the VM and its state" sh -c "grep -F '\"request_id\":\"r-spawn\"' '$T/results' | grep -F succeeded | grep -q '\"power_state\":\"running\"'"
check "the instance row is active and running" test "$(psql_v "SELECT vm_state || '/' || power_state FROM instances WHERE uuid = '$U'")" = "active/running"
check "the image was fetched into the cache" contains "$T/agent.log" "imagecache: image $IMG is in [LocalDS_0]"
VM=$(psql_v "SELECT vm_moref FROM instances WHERE uuid = '$U'")
node_row() { psql_v "SELECT hypervisor_hostname || ' ' || vcpus || ' ' || memory_mb || ' ' || vcpus_used || ' ' || running_vms FROM compute_nodes WHERE node = '$NODE'"; }
wait_node() {	# wait_node ROW: compute_nodes shows ROW
	local i
	for ((i = 0; i < 50; i++)); do [ "$(node_row)" = "$1" ] && return 0; sleep 0.2; done
	echo "# compute_nodes: $(node_row)"; return 1
}
check "the cluster's record holds the instance" wait_node "DC0_C0 6 12285 1 1"
wait_resources() {	# wait_resources VMS: NODE's latest resources_updated event has VMS
	local i
	for ((i = 0; i < 50; i++)); do
		results
		grep -F '"event":"resources_updated"' "$T/results" | grep -F "\"node\":\"$NODE\"" |
		    tail -n 1 | grep -qF "\"running_vms\":$1," && return 0
		sleep 0.2
	done
	return 1
}
check "the change is published as a resource update" wait_resources 1
check "the instance row has its VM" test -n "$VM"

# a VM powered off in vCenter shows as off
VIAGENT=${VCAGENT%/vcagent}/vcagent-vi
"$VIAGENT" -c "$T/agent.yaml" power-off "$VM" >"$T/vi.out" 2>&1
power_is() {	# power_is STATE: the instance row says STATE
	local i
	for ((i = 0; i < 50; i++)); do
		[ "$(psql_v "SELECT power_state FROM instances WHERE uuid = '$U'")" = "$1" ] && return 0
		sleep 0.2
	done
	return 1
}
check "the power state sync sees a VM powered off in vCenter" power_is shutdown
check "and publishes the change" wait_result_any state_changed
"$VIAGENT" -c "$T/agent.yaml" power-on "$VM" >>"$T/vi.out" 2>&1
check "and one powered on again" power_is running
check "VMs with an unknown instance uuid are reported, not deleted" contains "$T/agent.log" "unknown to the database: left alone"

# the same request again (a redelivery): nothing done twice, result again
send "$U" "$SPAWN"
check "a redelivered request is not carried out again" wait_for "$T/agent.log" "request r-spawn was carried out already" 20
count_events() {	# count_events ID EVENT: how many such events on the results topic
	results
	python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    n += e.get("request_id") == sys.argv[2] and e.get("event") == sys.argv[3]
print(n)' "$T/results" "$1" "$2"
}
republished() {
	local i
	for ((i = 0; i < 50; i++)); do
		[ "$(count_events r-spawn succeeded)" = 2 ] && return 0
		sleep 0.2
	done
	return 1
}
check "its result is published again" republished
check "it ran once" test "$(psql_v "SELECT attempts FROM requests WHERE request_id = 'r-spawn'")" = 1

# a malformed message and an invalid request go to the dead-letter topic
send "$U" 'this is not JSON'
send "$U" "$(req r-bad spawn '"flavor": {"vcpus": 0, "memory_mb": 128, "root_gb": 1}, "image_id": "x"')"
send "$U" "$(req r-off power_off '"hard": true')"
check "power off succeeds after the bad ones" wait_result r-off succeeded
dead_letters() {	# the dead-letter topic has at least 2 messages (in $T/dead)
	local i
	for ((i = 0; i < 50; i++)); do
		kcat -C -b "$KAFKA_BOOTSTRAP" -t vcagent.dead-letter -o beginning -e -q -f '%h|%s\n' 2>/dev/null >"$T/dead"
		[ "$(wc -l <"$T/dead")" -ge 2 ] && return 0
		sleep 0.2
	done
	return 1
}
check "two messages in the dead-letter topic" dead_letters
check "the reason names what is wrong (JSON)" contains "$T/dead" "not JSON"
check "the reason names what is wrong (vcpus)" contains "$T/dead" "flavor.vcpus must be an integer 1..768"
check "an error event for the bad request" sh -c "grep -F '\"event\":\"rejected\"' '$T/results' | grep -q 'flavor.vcpus'"
# field FILE ID EVENT KEY: member KEY (a.b for nested) of ID's EVENT event in FILE
field() {
	python3 -c '
import json, sys
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("request_id") == sys.argv[2] and e.get("event") == sys.argv[3]:
        v = e
        for k in sys.argv[4].split("."):
            v = v.get(k) if isinstance(v, dict) else None
        print(v)
        break' "$@"
}
check "the rejected event names the request" test "$(field "$T/results" r-bad rejected type)/$(field "$T/results" r-bad rejected node)" = "spawn/$NODE"
check "and the fault" test "$(field "$T/results" r-bad rejected error.fault)" = InvalidRequest
check "the dead letter carries the fault" contains "$T/dead" "vcagent-fault=InvalidRequest"
check "the instance is shut down" test "$(psql_v "SELECT power_state FROM instances WHERE uuid = '$U'")" = shutdown

# a request id used again for other content: rejected, never run under the
# first one's record (here a delete under the spawn's id)
send "$U" "$(req r-spawn delete)"
check "a reused request id with another payload is rejected" wait_result r-spawn rejected
check "named RequestIdReused" test "$(field "$T/results" r-spawn rejected error.fault)" = RequestIdReused
check "the reason says the payload differs" sh -c "kcat -C -b '$KAFKA_BOOTSTRAP' -t vcagent.dead-letter -o beginning -e -q -f '%h|%s\n' 2>/dev/null | grep -F 'vcagent-fault=RequestIdReused' | grep -F '\"type\": \"delete\"' | grep -q 'request r-spawn (delete): request_id was used already for a different request'"
check "the instance was not deleted" test "$(psql_v "SELECT count(*) FROM instances WHERE uuid = '$U' AND deleted_at IS NULL AND vm_moref = '$VM'")" = 1
check "the ledger still holds the spawn, run once" test "$(psql_v "SELECT type || ' ' || state || ' ' || attempts FROM requests WHERE request_id = 'r-spawn'")" = "spawn succeeded 1"

# a reboot of a VM that is off cannot be done: it fails, named, the row stays
send "$U" "$(req r-reboot-off reboot '"hard": true')"
check "reboot of a powered-off VM fails" wait_result r-reboot-off failed
check "with InvalidPowerState named" test "$(field "$T/results" r-reboot-off failed error.fault)" = InvalidPowerState
check "the row stays stopped and shut down" test "$(psql_v "SELECT vm_state || '/' || power_state FROM instances WHERE uuid = '$U'")" = stopped/shutdown

send "$U" "$(req r-on power_on)"
check "power on succeeds" wait_result r-on succeeded
send "$U" "$(req r-reboot reboot '"hard": true')"
check "reboot succeeds" wait_result r-reboot succeeded
send "$U" "$(req r-suspend suspend)"
check "suspend succeeds" wait_result r-suspend succeeded
check "the instance is suspended" test "$(psql_v "SELECT power_state FROM instances WHERE uuid = '$U'")" = suspended
send "$U" "$(req r-resume resume)"
check "resume succeeds" wait_result r-resume succeeded

# a request for a VM that is not there fails with the fault named
send "6f1e2d3c-4b5a-4978-8e7d-00000000dead" "$(req r-ghost power_on | sed "s/$U/6f1e2d3c-4b5a-4978-8e7d-00000000dead/")"
check "power on of an unknown instance fails" wait_result r-ghost failed
check "and says why" sh -c "grep -F '\"request_id\":\"r-ghost\"' '$T/results' | grep -F failed | grep -q 'no virtual machine has instance uuid'"

# NICs: attach one on a VLAN port group, detach it by its port id
send "$U" "$(req r-attach attach_interface '"port": {"id": "9a8b7c6d-0000-4000-8000-000000000001", "network": "tenant-300", "vlan": 300}')"
check "attach_interface succeeds" wait_result r-attach succeeded
check "the port is in the instance row, with its MAC" sh -c "bash '$PEERS/pg.sh' psql '$T' -tAc \"SELECT ports FROM instances WHERE uuid = '$U'\" | grep -q '\"mac\": \"00:50:56'"
send "$U" "$(req r-detach detach_interface '"port": {"id": "9a8b7c6d-0000-4000-8000-000000000001"}')"
check "detach_interface succeeds" wait_result r-detach succeeded
check "the port left the instance row" test "$(psql_v "SELECT jsonb_array_length(ports) FROM instances WHERE uuid = '$U'")" = 0
send "$U" "$(req r-detach-again detach_interface '"port": {"id": "9a8b7c6d-0000-4000-8000-000000000001"}')"
check "detaching a port that is not there fails, named" wait_result r-detach-again failed

# resize: 2 vCPUs, 256 MB, the root disk from 1 to 2 GB: the linked clone's
# delta is replaced by a whole copy, grown, and kept until a confirm
send "$U" "$(req r-resize resize '"flavor": {"vcpus": 2, "memory_mb": 256, "root_gb": 2}')"
check "resize succeeds" wait_result r-resize succeeded
check "the row has the new flavor" test "$(psql_v "SELECT flavor->>'vcpus' || ' ' || (flavor->>'root_gb') FROM instances WHERE uuid = '$U'")" = "2 2"
check "the cluster's record counts it" wait_node "DC0_C0 6 12285 2 1"
check "the linked clone's disk is replaced by a grown copy" contains "$T/agent.log" "resize $U: root disk [LocalDS_0] $U/$U.vmdk replaced by [LocalDS_0] $U/root-2g.vmdk, 2 GB"
check "the copy is in the VM's folder" sh -c "ls $T/vcsim/tmp/*/$U/root-2g.vmdk"
check "the delta is kept until the resize is confirmed" sh -c "ls $DS/$U/$U.vmdk"
send "$U" "$(req r-resize-ok resize_confirm)"
check "resize_confirm succeeds" wait_result r-resize-ok succeeded
delta_gone() { absent "$DS/$U" "$U.vmdk" && ls "$T"/vcsim/tmp/*/_base/"$IMG/$IMG".1.vmdk; }
check "the delta is gone, the cached parent stays" delta_gone
check "the VM is on again" test "$(psql_v "SELECT power_state FROM instances WHERE uuid = '$U'")" = running
send "$U" "$(req r-resize3 resize '"flavor": {"vcpus": 2, "memory_mb": 256, "root_gb": 3}')"
check "a second resize copies its own disk, grown" wait_result r-resize3 succeeded
# the old disk went as read back from the VM (as nova sends it): its label,
# backing uuid and controller, not a hand-made subset
curl -s --cacert "$VCSIM_CA_FILE" "$VCSIM_CTL/last?method=ReconfigVM_Task" >"$T/resize3.xml"
check "the old disk is removed as read back, the new one added at 3 GB" sh -c "grep -q '<operation>remove</operation><device xsi:type=\"VirtualDisk\"><key>[0-9]*</key><deviceInfo xsi:type=\"Description\"><label>' '$T/resize3.xml' && grep -q '<fileName>\[LocalDS_0\] $U/root-3g.vmdk</fileName>' '$T/resize3.xml' && grep -q '<capacityInKB>3145728</capacityInKB>' '$T/resize3.xml'"
send "$U" "$(req r-resize3-ok resize_confirm)"
check "and its confirm" wait_result r-resize3-ok succeeded
send "$U" "$(req r-shrink resize '"flavor": {"vcpus": 2, "memory_mb": 256, "root_gb": 1}')"
check "a smaller root disk is refused" wait_result r-shrink failed
check "named CannotResizeDisk" sh -c "grep -F '\"request_id\":\"r-shrink\"' '$T/results' | grep -q CannotResizeDisk"

# a live migration to the other cluster
send "$U" "$(req r-migrate migrate "\"destination\": {\"node\": \"$NODE2\"}")"
check "migrate succeeds" wait_result r-migrate succeeded
check "its event gives the power and VM states" test "$(field "$T/results" r-migrate succeeded instance.power_state)/$(field "$T/results" r-migrate succeeded instance.vm_state)" = running/active
check "the instance is on the other node" test "$(psql_v "SELECT node FROM instances WHERE uuid = '$U'")" = "$NODE2"
check "the migration is recorded, live" test "$(psql_v "SELECT kind || ' ' || status FROM migrations WHERE request_id = 'r-migrate'")" = "live done"
# a row whose power state the agent does not know (a spawn that ended in
# error over a VM that is there: "nostate"): the event says the VM's
# (found by soak seed 4: "succeeded with power_state nostate, but VM is
# shutdown")
psql_v "UPDATE instances SET power_state = 'nostate' WHERE uuid = '$U'" >/dev/null
send "$U" "$(req r-migrate-ns migrate "\"destination\": {\"node\": \"$NODE\"}")"
check "migrate of a row in nostate succeeds" wait_result r-migrate-ns succeeded
check "its event gives the VM's power state, not the row's" test "$(field "$T/results" r-migrate-ns succeeded instance.power_state)" = running
check "and the row has it again" test "$(psql_v "SELECT power_state FROM instances WHERE uuid = '$U'")" = running
send "$U" "$(req r-migrate-bad migrate '"destination": {"node": "domain-c404.nowhere"}')"
check "migrate to a node not served fails" wait_result r-migrate-bad failed
check "and says NodeNotServed" sh -c "grep -F '\"request_id\":\"r-migrate-bad\"' '$T/results' | grep -q NodeNotServed"
# back, to one host of the first cluster
send "$U" "$(req r-migrate-host migrate "\"destination\": {\"node\": \"$NODE\", \"host\": \"DC0_C0_H1\"}")"
check "migrate to a named host succeeds" wait_result r-migrate-host succeeded
check "the row names the node and the host" test "$(psql_v "SELECT node || ' ' || host FROM instances WHERE uuid = '$U'")" = "$NODE DC0_C0_H1"
check "the migration records the host" test "$(psql_v "SELECT dest_host FROM migrations WHERE request_id = 'r-migrate-host'")" = DC0_C0_H1
H1=$("$VIAGENT" -c "$T/agent.yaml" host DC0_C0 DC0_C0_H1 2>>"$T/vi.out")
check "the VM runs on that host in vCenter" sh -c "test -n '$H1' && '$VIAGENT' -c '$T/agent.yaml' vms | grep -F '$U' | cut -f3 | grep -qx '$H1'"
send "$U" "$(req r-migrate-nohost migrate "\"destination\": {\"node\": \"$NODE\", \"host\": \"esx-404.example.org\"}")"
check "a host the cluster lacks fails, named" wait_result r-migrate-nohost failed
check "and says NotFound with the host" sh -c "grep -F '\"request_id\":\"r-migrate-nohost\"' '$T/results' | grep -F NotFound | grep -q esx-404.example.org"

send "$U" "$(req r-delete delete)"
check "delete succeeds" wait_result r-delete succeeded
check "the instance row is deleted" test "$(psql_v "SELECT vm_state FROM instances WHERE uuid = '$U' AND deleted_at IS NOT NULL")" = deleted
check "the cluster's record no longer holds it" wait_node "DC0_C0 6 12285 0 0"
check "and that change is published too" wait_resources 0
check "the cached image survives the delete" sh -c "ls $T/vcsim/tmp/*/_base/$IMG/$IMG.vmdk"
check "the VM's folder is removed" absent "$DS" "$U"
check "the delete names what it removed" contains "$T/agent.log" "delete $U: VM $VM unregistered, [LocalDS_0] $U removed"

# a delete after a crash between UnregisterVM and the folder's removal
U2=6f1e2d3c-4b5a-4978-8e7d-000000000002
send "$U2" "$(req r-spawn2 spawn "\"flavor\": {\"vcpus\": 1, \"memory_mb\": 64, \"root_gb\": 0}, \"image_id\": \"$IMG\"" | sed "s/$U/$U2/")"
check "a second spawn succeeds" wait_result r-spawn2 succeeded
VM2=$(psql_v "SELECT vm_moref FROM instances WHERE uuid = '$U2'")
"$VIAGENT" -c "$T/agent.yaml" power-off "$VM2" >>"$T/vi.out" 2>&1
"$VIAGENT" -c "$T/agent.yaml" unregister "$VM2" >>"$T/vi.out" 2>&1
check "its VM is unregistered, its folder left" sh -c "ls -d $T/vcsim/tmp/*/$U2"
send "$U2" "$(req r-delete2 delete | sed "s/$U/$U2/")"
check "deleting it succeeds" wait_result r-delete2 succeeded
check "and removes the folder the VM left" absent "$DS" "$U2"
check "its row is deleted" test "$(psql_v "SELECT vm_state FROM instances WHERE uuid = '$U2' AND deleted_at IS NOT NULL")" = deleted

# the cached image removed behind the cache's back: CreateVM meets a missing
# parent (FileNotFound), and the spawn fetches the image again
rm -rf "$T"/vcsim/tmp/*/_base/"$IMG"
U3=6f1e2d3c-4b5a-4978-8e7d-000000000003
send "$U3" "$(req r-spawn3 spawn "\"flavor\": {\"vcpus\": 1, \"memory_mb\": 64, \"root_gb\": 0}, \"image_id\": \"$IMG\"" | sed "s/$U/$U3/")"
check "a spawn whose cached image vanished succeeds" wait_result r-spawn3 succeeded
check "it says why it looked again" contains "$T/agent.log" "spawn $U3: FileNotFound"
check "the image is in the cache again" sh -c "ls $T/vcsim/tmp/*/_base/$IMG/$IMG.vmdk"
curl -s "$URL/metrics" >"$T/metrics"
check "metrics count requests by type and outcome" grep -qx 'vcagent_requests_total{type="spawn",outcome="succeeded"} 3' "$T/metrics"
check "metrics count failures" grep -qx 'vcagent_requests_total{type="power_on",outcome="failed"} 1' "$T/metrics"
check "metrics count rejected messages" grep -qx 'vcagent_requests_total{type="unknown",outcome="rejected"} 3' "$T/metrics"
check "metrics show no dead letter failed" grep -qx 'vcagent_dead_letter_failures_total 0' "$T/metrics"
check "metrics have the latency histogram" grep -qE '^vcagent_request_duration_seconds_count [1-9]' "$T/metrics"
check "metrics have the consumer lag" grep -qx 'vcagent_kafka_consumer_lag 0' "$T/metrics"
check "metrics count vCenter calls by method" grep -qx 'vcagent_vcenter_calls_total{method="UnregisterVM"} 1' "$T/metrics"
check "metrics have vCenter call latency" grep -qE '^vcagent_vcenter_call_duration_seconds_count\{method="CreateVM_Task"\} 4$' "$T/metrics"
check "metrics have task durations" grep -qE '^vcagent_vcenter_task_duration_seconds_bucket\{method="PowerOnVM_Task",le="\+Inf"\} [1-9]' "$T/metrics"
check "metrics count failed tasks by method" grep -qx 'vcagent_vcenter_task_errors_total{method="CreateVM_Task"} 1' "$T/metrics"
check "every request is in the ledger, finished" test "$(psql_v "SELECT count(*) FROM requests WHERE state NOT IN ('succeeded', 'failed')")" = 0

# vcagentctl: the operator's way in
CTL="${VCAGENT%/vcagent}/vcagentctl -c $T/agent.yaml -w 60"
check "vcagentctl prefetch succeeds" sh -c "$CTL prefetch '$NODE' '$IMG' >'$T/ctl.out' && grep -q '\"event\":\"succeeded\"' '$T/ctl.out'"
printf '{"type": "resize", "node": "%s", "instance": {"uuid": "%s"}, "flavor": {"vcpus": 0, "memory_mb": 64, "root_gb": 0}}' "$NODE" "$U3" >"$T/bad.json"
timeout 300 ${CTL% -w 60} -w 600 send "$T/bad.json" >"$T/ctl5.out" 2>"$T/ctl5.err"
rc=$?
check "vcagentctl send of a request the agent rejects returns with exit 1" test "$rc" -eq 1
check "it prints the rejected event" contains "$T/ctl5.out" '"event":"rejected"'
check "and says why" contains "$T/ctl5.err" "flavor.vcpus must be an integer 1..768"
check "vcagentctl nodes lists the clusters" sh -c "$CTL -u '$URL' nodes | grep -qx 'DC0_C0 $NODE'"
check "vcagentctl reports a failure with exit 1" sh -c "! $CTL power-on '$NODE' 6f1e2d3c-4b5a-4978-8e7d-00000000beef >'$T/ctl2.out' && grep -q '\"event\":\"failed\"' '$T/ctl2.out'"
check "vcagentctl resize sends the flavor" sh -c "$CTL resize '$NODE' '$U3' 2 128 1 >'$T/ctl3.out' && grep -q '\"event\":\"succeeded\"' '$T/ctl3.out' && test \"\$(bash '$PEERS/pg.sh' psql '$T' -tAc \"SELECT flavor->>'memory_mb' FROM instances WHERE uuid = '$U3'\")\" = 128"
check "vcagentctl resize-confirm keeps it" sh -c "$CTL resize-confirm '$NODE' '$U3' >'$T/ctl3b.out' && grep -q '\"event\":\"succeeded\"' '$T/ctl3b.out' && test \"\$(bash '$PEERS/pg.sh' psql '$T' -tAc \"SELECT vm_state || (resize_revert IS NULL) FROM instances WHERE uuid = '$U3'\")\" = activetrue"
check "vcagentctl migrate names a host" sh -c "$CTL migrate '$NODE' '$U3' '$NODE' DC0_C0_H0 >'$T/ctl4.out' && test \"\$(bash '$PEERS/pg.sh' psql '$T' -tAc \"SELECT host FROM instances WHERE uuid = '$U3'\")\" = DC0_C0_H0"

# an instance row whose MoRef names another instance's VM (a vCenter
# restored from a backup, a MoRef given again): the agent checks the VM's
# instance uuid and acts on the instance's own VM, never on the other
UA=6f1e2d3c-4b5a-4978-8e7d-00000000000a
UB=6f1e2d3c-4b5a-4978-8e7d-00000000000b
for u in $UA $UB; do
	send "$u" "$(req r-spawn-$u spawn "\"flavor\": {\"vcpus\": 1, \"memory_mb\": 64, \"root_gb\": 0}, \"image_id\": \"$IMG\"" | sed "s/$U/$u/")"
done
both_spawned() { wait_result "r-spawn-$UA" succeeded && wait_result "r-spawn-$UB" succeeded; }
check "instances A and B are spawned" both_spawned
VMA=$(psql_v "SELECT vm_moref FROM instances WHERE uuid = '$UA'")
VMB=$(psql_v "SELECT vm_moref FROM instances WHERE uuid = '$UB'")
vm_power() {	# vm_power MOREF: its power state in vCenter ("" when it is gone)
	"$VIAGENT" -c "$T/agent.yaml" vms 2>>"$T/vi.out" | awk -F'\t' -v m="$1" '$1 == m { print $2 }'
}
check "A and B have VMs of their own, on" test -n "$VMA" -a -n "$VMB" -a "$VMA" != "$VMB" -a "$(vm_power "$VMA")/$(vm_power "$VMB")" = poweredOn/poweredOn
psql_v "UPDATE instances SET vm_moref = '$VMB' WHERE uuid = '$UA'" >/dev/null
send "$UA" "$(req r-off-a power_off '"hard": true' | sed "s/$U/$UA/")"
check "power_off of A, its row naming B's VM, succeeds" wait_result r-off-a succeeded
check "B's VM stays on" test "$(vm_power "$VMB")" = poweredOn
check "A's VM is off" test "$(vm_power "$VMA")" = poweredOff
check "the event names A's VM" test "$(field "$T/results" r-off-a succeeded instance.vm)" = "$VMA"
check "A's row names its VM again" test "$(psql_v "SELECT vm_moref || ' ' || power_state FROM instances WHERE uuid = '$UA'")" = "$VMA shutdown"
check "the mismatch is logged with both uuids" contains "$T/agent.log" "virtual machine $VMB carries instance uuid $UB, $UA expected"
check "B's row is untouched" test "$(psql_v "SELECT vm_moref || ' ' || power_state FROM instances WHERE uuid = '$UB'")" = "$VMB running"
psql_v "UPDATE instances SET vm_moref = '$VMB' WHERE uuid = '$UA'" >/dev/null
send "$UA" "$(req r-delete-a delete | sed "s/$U/$UA/")"
check "delete of A, its row naming B's VM, succeeds" wait_result r-delete-a succeeded
check "B's VM survives, on" test "$(vm_power "$VMB")" = poweredOn
check "A's VM is gone" test -z "$(vm_power "$VMA")"
check "the delete event names A's VM" test "$(field "$T/results" r-delete-a succeeded instance.vm)/$(field "$T/results" r-delete-a succeeded instance.vm_state)" = "$VMA/deleted"
check "the delete names the VM it removed" contains "$T/agent.log" "delete $UA: VM $VMA unregistered, [LocalDS_0] $UA removed"
check "B's folder stays" sh -c "ls -d $T/vcsim/tmp/*/$UB"
check "B's row is untouched" test "$(psql_v "SELECT vm_moref || ' ' || power_state || ' ' || coalesce(deleted_at::text, 'live') FROM instances WHERE uuid = '$UB'")" = "$VMB running live"
# no VM carries the instance's uuid any more: the request fails, naming the
# MoRef and both uuids, and B's VM is left alone
VM3=$(psql_v "SELECT vm_moref FROM instances WHERE uuid = '$U3'")
"$VIAGENT" -c "$T/agent.yaml" power-off "$VM3" >>"$T/vi.out" 2>&1
"$VIAGENT" -c "$T/agent.yaml" unregister "$VM3" >>"$T/vi.out" 2>&1
psql_v "UPDATE instances SET vm_moref = '$VMB' WHERE uuid = '$U3'" >/dev/null
send "$U3" "$(req r-reboot-3 reboot '"hard": true' | sed "s/$U/$U3/")"
check "reboot of an instance whose VM is gone, its row naming B's VM, fails" wait_result r-reboot-3 failed
check "named InstanceUuidMismatch, with the MoRef and both uuids" test "$(field "$T/results" r-reboot-3 failed error.fault)|$(field "$T/results" r-reboot-3 failed error.object)|$(field "$T/results" r-reboot-3 failed error.message)" = "InstanceUuidMismatch|VirtualMachine:$VMB|virtual machine $VMB carries instance uuid $UB, $U3 expected: the MoRef names another VM"
check "B's VM is still on" test "$(vm_power "$VMB")" = poweredOn

kill -TERM "$AGENT_PID"
wait "$AGENT_PID"
rc=$?
AGENT_PID=
check "SIGTERM exits 0" test "$rc" -eq 0
check "the agent logs out" contains "$T/agent.log" "logged out of"
check "kafka stops clean" bash "$PEERS/kafka.sh" stop "$T"
check "peers stop clean" bash "$PEERS/peers.sh" stop "$T"
tap_done
