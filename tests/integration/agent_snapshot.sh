#!/bin/bash
# agent_snapshot.sh - VM snapshots and instance information through Kafka,
# against vcsim, Glance, PostgreSQL and Kafka:
#  - a soft reboot goes through the guest's tools (RebootGuest), and is a
#    reset when they do not run or the guest ignores it past the timeout;
#  - get_info and get_diagnostics: the VM's configuration, its disk and
#    NIC, and what its guest's tools report (set through the launcher's
#    /ctl/guest, as Tools would), nova's diagnostics; a missing VM fails;
#  - snapshot_create (with a description; of a VM that is off), recorded
#    in PostgreSQL, in /status and in vcagentctl snapshots, the event
#    naming the snapshot vCenter made;
#  - snapshot_revert by name and by id: the instance row takes the power
#    state the VM has after it; a name on two snapshots is refused
#    (AmbiguousSnapshotName) until the id says which;
#  - snapshot_delete of one, a name nobody has (NotFound, the VM named),
#    then "all": true;
#  - malformed snapshot requests are rejected with the member named;
#  - an agent killed (-9) while CreateSnapshot_Task runs: the request,
#    carried out again, takes the snapshot it made as its own: one
#    snapshot of that name, one final event;
#  - deleting the instance removes its snapshot rows.
. "$(dirname "$0")/tap.sh"
set -u
LOG_TAIL=200
. "$(dirname "$0")/agent_lib.sh"
agent_lib_init snapshot
AGENT_PID=
agent_peers 2 vcsim glance pg

IMG=$(bash "$PEERS/glance.sh" image "$T" 524288)
agent_yaml agent-s it-snapshot
CTL=${VCAGENT%/vcagent}/vcagentctl
VI=${VCAGENT%/vcagent}/vcagent-vi
U=5a000000-0000-4000-8000-000000000001

final() {	# final ID: succeeded or failed, once it has one
	local e
	for e in succeeded failed; do [ -n "$(event "$1" "$e")" ] && { echo "$e"; return; }; done
}
done_as() {	# done_as ID EVENT
	local i
	for ((i = 0; i < 150; i++)); do
		[ -n "$(final "$1")" ] && break
		sleep 0.2
	done
	[ "$(final "$1")" = "$2" ] || { echo "# $1: $(final "$1"), not $2"; grep -F "\"$1\"" "$T/results" | sed 's/^/#   /'; return 1; }
}
req() {	# req ID TYPE [EXTRA JSON MEMBERS]
	printf '{"version": 1, "request_id": "%s", "type": "%s", "node": "%s", "instance": {"uuid": "%s", "name": "snap-one"}%s}' \
	    "$1" "$2" "$NODE" "$U" "${3:+, $3}"
}
rows() { psql_v "SELECT string_agg(name || ':' || CASE WHEN memory THEN 'mem' ELSE 'disk' END || ':' || coalesce(request_id, '-'), ' ' ORDER BY create_time, name) FROM snapshots WHERE instance_uuid = '$U'"; }
vm_power() { "$VI" -c "$T/agent.yaml" vms 2>/dev/null | awk -F'\t' -v m="$1" '$1 == m { print $2 }'; }

start_agent
check "the agent joins the group" wait_for "$T/agent.log" "kafka: assigned 2 partition(s)" 30
NODE=$(sed -n 's/.*cluster "DC0_C0": .* node \([^ ]*\)$/\1/p' "$T/agent.log" | head -1)
URL=$(url)
send "$U" "$(req s-spawn spawn "\"flavor\": {\"vcpus\": 2, \"memory_mb\": 64, \"root_gb\": 0}, \"image_id\": \"$IMG\", \"ports\": [{\"network\": \"VM Network\", \"mac\": \"fa:16:3e:00:00:01\"}]")"
check "the instance is spawned" done_as s-spawn succeeded
VM=$(psql_v "SELECT vm_moref FROM instances WHERE uuid = '$U'")

# --- get_info, get_diagnostics: what the guest's tools report, the devices ---
check "the guest's tools report a host name and two addresses" test "$(curl -s --cacert "$VCSIM_CA_FILE" -X POST "$VCSIM_CTL/guest?vm=$VM&tools=guestToolsRunning&hostname=snap-one.example.org&ip=192.0.2.10,2001:db8::10")" = ok
send "$U" "$(req s-info get_info)"
check "get_info succeeds" done_as s-info succeeded
check "it gives the power state, vCPUs and memory" test "$(event s-info succeeded info.power_state)/$(event s-info succeeded info.vcpus)/$(event s-info succeeded info.memory_mb)" = running/2/64
check "the guest's host name and addresses" test "$(event s-info succeeded info.guest.hostname) $(event s-info succeeded info.guest.ip_addresses)" = 'snap-one.example.org ["192.0.2.10", "2001:db8::10"]'
check "the tools' state" test "$(event s-info succeeded info.guest.tools)" = guestToolsRunning
check "the root disk, a linked clone in the VM's folder" sh -c "echo '$(event s-info succeeded info.disks)' | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(not (len(d) == 1 and d[0][\"linked_clone\"] and \"$U\" in d[0][\"file\"]))'"
check "the NIC with its MAC, its network and the guest's addresses" sh -c "echo '$(event s-info succeeded info.nics)' | python3 -c 'import json,sys; n=json.load(sys.stdin); sys.exit(not (len(n) == 1 and n[0][\"mac\"] == \"fa:16:3e:00:00:01\" and n[0][\"ip_addresses\"] == [\"192.0.2.10\", \"2001:db8::10\"] and n[0][\"connected\"]))'"
send "$U" "$(req s-diag get_diagnostics)"
check "get_diagnostics succeeds" done_as s-diag succeeded
check "it gives nova's diagnostics: state, cpus, nics, disks, memory maximum" test "$(event s-diag succeeded diagnostics.state)/$(event s-diag succeeded diagnostics.num_cpus)/$(event s-diag succeeded diagnostics.num_nics)/$(event s-diag succeeded diagnostics.num_disks)/$(event s-diag succeeded diagnostics.memory_details.maximum)" = running/2/1/1/64
check "and the NIC's MAC" test "$(event s-diag succeeded diagnostics.nic_details)" = '[{"mac_address": "fa:16:3e:00:00:01"}]'
"$CTL" -c "$T/agent.yaml" -w 30 info "$NODE" "$U" >"$T/ctl-info.out" 2>&1
check "vcagentctl info prints the event with the guest's host name" sh -c "grep -F '\"event\":\"succeeded\"' '$T/ctl-info.out' | grep -qF '\"hostname\":\"snap-one.example.org\"'"
# --- soft reboot through the guest's tools, a reset when they cannot ---
calls() { curl -s --cacert "$VCSIM_CA_FILE" "$VCSIM_CTL/calls?method=$1"; }
g0=$(calls RebootGuest) r0=$(calls ResetVM_Task)
send "$U" "$(req s-rb1 reboot)"
check "a soft reboot with the tools running succeeds" done_as s-rb1 succeeded
check "through RebootGuest, no reset" test "$(( $(calls RebootGuest) - g0 ))/$(( $(calls ResetVM_Task) - r0 ))" = 1/0
tools_are() { [ "$("$VI" -c "$T/agent.yaml" info "$VM" 2>/dev/null | awk -F'\t' '$1 == "guest.toolsRunningStatus" { print $2 }')" = "$1" ]; }
check "the guest's tools run again after its reboot" until_ok 10 tools_are guestToolsRunning
check "a guest that ignores reboots is hung" test "$(curl -s --cacert "$VCSIM_CA_FILE" -X POST "$VCSIM_CTL/guest?vm=$VM&hang=1")" = ok
send "$U" "$(req s-rb2 reboot '"timeout": 1')"
check "a soft reboot the guest ignores succeeds" done_as s-rb2 succeeded
check "by a reset after the timeout" test "$(( $(calls RebootGuest) - g0 ))/$(( $(calls ResetVM_Task) - r0 ))" = 2/1
check "the log says so" contains "$T/agent.log" "did not begin to reboot within 1 s: hard reboot (reset)"
curl -s --cacert "$VCSIM_CA_FILE" -X POST "$VCSIM_CTL/guest?vm=$VM&hang=0&tools=guestToolsNotRunning" >/dev/null
send "$U" "$(req s-rb3 reboot)"
check "a soft reboot with no tools running succeeds" done_as s-rb3 succeeded
check "by a reset at once, no RebootGuest" test "$(( $(calls RebootGuest) - g0 ))/$(( $(calls ResetVM_Task) - r0 ))" = 2/2
curl -s --cacert "$VCSIM_CA_FILE" -X POST "$VCSIM_CTL/guest?vm=$VM&tools=guestToolsRunning" >/dev/null

send "$U" "$(req s-info-x get_info | sed 's/5a000000-0000-4000-8000-000000000001/5a000000-0000-4000-8000-0000000000ff/')"
check "get_info of an instance with no VM fails" done_as s-info-x failed

# --- create ---
send "$U" "$(req s-c1 snapshot_create '"snapshot": {"name": "before", "description": "before the upgrade"}')"
check "snapshot_create succeeds" done_as s-c1 succeeded
S1=$(event s-c1 succeeded snapshot.id)
check "the event names the snapshot vCenter made ($S1)" sh -c "echo '$S1' | grep -q '^snapshot-'"
check "and its name, description and the VM" test "$(event s-c1 succeeded snapshot.name)/$(event s-c1 succeeded snapshot.description)/$(event s-c1 succeeded instance.vm)" = "before/before the upgrade/$VM"
check "it is recorded, with the request that made it" test "$(rows)" = "before:disk:s-c1"
check "quiesced: the guest's tools run" test "$(event s-c1 succeeded snapshot.quiesced)" = true
check "the row holds vCenter's id, its time and the power state it holds" test "$(psql_v "SELECT snapshot || ' ' || (create_time IS NOT NULL) || ' ' || power_state FROM snapshots WHERE instance_uuid = '$U'")" = "$S1 true poweredOn"
check "/status lists it" sh -c "curl -s '$URL/status' | grep -q '\"id\": \"$S1\"'"
"$CTL" -c "$T/agent.yaml" -u "$URL" snapshots "$U" >"$T/ctl.out" 2>&1
check "vcagentctl snapshots lists it" contains "$T/ctl.out" "$U $S1 \"before\""

send "$U" "$(req s-off power_off '"hard": true')"
check "the VM is powered off" done_as s-off succeeded
"$CTL" -c "$T/agent.yaml" -w 30 snapshot-create "$NODE" "$U" off-snap "taken while off" >"$T/ctl-create.out" 2>&1
check "vcagentctl snapshot-create of a VM that is off succeeds" contains "$T/ctl-create.out" '"event":"succeeded"'
check "both are recorded" test "$(rows | wc -w)" = 2
S2=$(psql_v "SELECT snapshot FROM snapshots WHERE instance_uuid = '$U' AND name = 'off-snap'")
check "off-snap's parent is the first" test "$(psql_v "SELECT parent FROM snapshots WHERE snapshot = '$S2'")" = "$S1"

# --- revert ---
send "$U" "$(req s-r1 snapshot_revert '"snapshot": {"name": "before"}')"
check "snapshot_revert by name succeeds" done_as s-r1 succeeded
P=$(vm_power "$VM")
check "the event's power state is the VM's after it ($P)" test "$(event s-r1 succeeded instance.power_state)" = "$(case $P in poweredOn) echo running;; suspended) echo suspended;; *) echo shutdown;; esac)"
check "and so is the instance row" test "$(psql_v "SELECT power_state FROM instances WHERE uuid = '$U'")" = "$(event s-r1 succeeded instance.power_state)"
check "the event names the snapshot reverted to" test "$(event s-r1 succeeded snapshot.id)" = "$S1"
send "$U" "$(req s-c3 snapshot_create '"snapshot": {"name": "before"}')"
check "a second snapshot named before is made" done_as s-c3 succeeded
S3=$(event s-c3 succeeded snapshot.id)
send "$U" "$(req s-r2 snapshot_revert '"snapshot": {"name": "before"}')"
check "a revert to a name two snapshots carry fails" done_as s-r2 failed
check "with AmbiguousSnapshotName, naming both ids" test "$(event s-r2 failed error.fault)" = AmbiguousSnapshotName -a -n "$(event s-r2 failed error.message | grep -F "$S1" | grep -F "$S3")"
send "$U" "$(req s-r3 snapshot_revert "\"snapshot\": {\"id\": \"$S2\"}")"
check "a revert by id succeeds" done_as s-r3 succeeded
check "to off-snap" test "$(event s-r3 succeeded snapshot.name)" = off-snap

# --- delete ---
send "$U" "$(req s-d1 snapshot_delete "\"snapshot\": {\"id\": \"$S3\"}")"
check "snapshot_delete by id succeeds" done_as s-d1 succeeded
check "its row is gone, the others stay" sh -c "rows=\"$(rows)\"; case \"\$rows\" in 'before:disk:s-c1 off-snap:disk:ctl-'*) exit 0;; esac; echo \"# \$rows\"; exit 1"
send "$U" "$(req s-d2 snapshot_delete '"snapshot": {"name": "no-such"}')"
check "deleting a snapshot nobody has fails" done_as s-d2 failed
check "with NotFound, naming the VM and the name" test "$(event s-d2 failed error.fault)/$(event s-d2 failed error.object)" = "NotFound/VirtualMachine:$VM" -a -n "$(event s-d2 failed error.message | grep -F no-such)"

# --- malformed ---
send "$U" "$(req s-bad1 snapshot_create '"snapshot": {"description": "x"}')"
send "$U" "$(req s-bad2 snapshot_revert '"snapshot": {"name": "a", "id": "snapshot-1"}')"
send "$U" "$(req s-bad3 snapshot_delete)"
send "$U" "$(req s-bad4 snapshot_create '"snapshot": {"name": "m", "memory": "yes"}')"
check "a create without a name is rejected, naming it" until_ok 30 rejected_with s-bad1 "snapshot.name is missing"
check "a revert with both name and id is rejected" until_ok 30 rejected_with s-bad2 "name or id, one of the two"
check "a delete naming nothing is rejected" until_ok 30 rejected_with s-bad3 'snapshot must be an object (or \"all\": true)'
check "memory that is not a boolean is rejected" until_ok 30 rejected_with s-bad4 "snapshot.memory must be true or false"

# --- a kill -9 while CreateSnapshot_Task runs ---
check "CreateSnapshot_Task is made slow" hold_next CreateSnapshot_Task
send "$U" "$(req s-crash snapshot_create '"snapshot": {"name": "crash"}')"
check "the task is running" until_ok 30 task_held CreateSnapshot_Task
check "the agent is back" restart_after_kill 2
URL=$(url)
check "the restarted agent finishes the request" done_as s-crash succeeded
check "with one snapshot named crash, recorded as the request's" test "$(psql_v "SELECT count(*) || ' ' || min(request_id) FROM snapshots WHERE instance_uuid = '$U' AND name = 'crash'")" = "1 s-crash"
check "one final event" test "$(grep -F '"s-crash"' "$T/results" | grep -cE '"event":"(succeeded|failed)"')" = 1
check "the run again took the snapshot it had made" lacks "$T/agent.log" "AmbiguousSnapshotName: virtual machine $VM has 2 snapshots named \"crash\""

# --- all, then the instance ---
send "$U" "$(req s-dall snapshot_delete '"all": true')"
check "snapshot_delete all succeeds" done_as s-dall succeeded
check "no row is left" test "$(psql_v "SELECT count(*) FROM snapshots WHERE instance_uuid = '$U'")" = 0
send "$U" "$(req s-c4 snapshot_create '"snapshot": {"name": "last"}')"
check "one more" done_as s-c4 succeeded
send "$U" "$(req s-del delete)"
check "the instance is deleted" done_as s-del succeeded
check "its snapshot rows went with it" test "$(psql_v "SELECT count(*) FROM snapshots WHERE instance_uuid = '$U'")" = 0
check "requests by type and outcome are counted" sh -c "curl -s '$URL/metrics' | grep -q 'vcagent_requests_total{type=\"snapshot_create\",outcome=\"succeeded\"} [1-9]'"

kill -TERM "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=
tap_done
