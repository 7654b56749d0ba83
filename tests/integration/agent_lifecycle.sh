#!/bin/bash
# agent_lifecycle.sh - resize, resize_confirm and resize_revert, rescue and
# unrescue, through Kafka against vcsim, Glance, PostgreSQL and Kafka:
#  - a resize that grows the root disk copies it (root-<GB>g.vmdk) and
#    keeps the old one (the linked clone's delta) for a revert; the instance
#    is "resized", its row holding what a revert needs;
#  - while it is, another resize, a migrate and a snapshot_create fail with
#    InvalidInstanceState, naming the resize's request;
#  - resize_revert brings back the old flavor (vCPUs, memory, in vCenter),
#    the old disk (the ReconfigVM_Task body) and the power state from before,
#    and deletes the grown copy; resize_confirm deletes the old disk;
#  - confirming or reverting with no resize fails, named;
#  - an agent killed (-9) while the revert's ReconfigVM_Task runs: the
#    request, run again, ends with the old flavor and one final event;
#  - an agent killed (-9) while a resize's ReconfigVM_Task runs: the
#    resize, run again, keeps what its first run recorded (the revert that
#    follows brings back the disk from before, not the grown one);
#  - a resize of a VM that is off leaves it off, and its revert too;
#  - rescue: a copy of the instance's image (or the one named) in the VM's
#    folder as <image>-rescue.vmdk, first in the boot order, the root disk
#    kept; the VM on, "rescued"; unrescue removes it (its files too) and
#    boots from the root disk again; a rescue of an image that is not there
#    fails and leaves the VM as it was; a second rescue, and an unrescue of
#    an instance that is not rescued, fail, named;
#  - DEFAULT.resize_confirm_window (set by a reload): a resize left that long
#    is confirmed by a resize_confirm request the agent puts on the
#    requests topic, done once;
#  - an export lease (ExportVm, which the launcher adds as vCenter has it):
#    vcagent-vi export streams a powered-off linked clone's disk as a
#    streamOptimized VMDK that qemu-img reads back to the image's bytes; a
#    VM that is on is refused with InvalidPowerState;
#  - snapshot_image: a running instance's root disk as a new Glance image
#    (a snapshot, a linked clone of it, the clone exported and streamed to
#    the image service), with nova's properties, holding the image's bytes;
#    its progress while it runs (vcsim sends the disk over 12 s): /status
#    and the gauges (kind export), the log's line every 10 s and at the end;
#    no clone or snapshot left; an export that fails deletes the half-made
#    image; an agent killed (-9) while the clone is made: the request, run
#    again, makes the image, leaves no clone (the first run's too) and no
#    snapshot, and ends once.
. "$(dirname "$0")/tap.sh"
set -u
LOG_TAIL=200
. "$(dirname "$0")/agent_lib.sh"
agent_lib_init lifecycle
AGENT_PID=
agent_peers 2 vcsim glance pg

IMG=$(bash "$PEERS/glance.sh" image "$T" 524288)
agent_yaml agent-r it-resize
VI=${VCAGENT%/vcagent}/vcagent-vi
U=5b000000-0000-4000-8000-000000000001
U2=5b000000-0000-4000-8000-000000000002
DS="$T/vcsim/tmp/govcsim-DC0-LocalDS_0-*"	# where vcsim keeps LocalDS_0 (a glob)

req() {	# req ID TYPE [UUID [EXTRA JSON MEMBERS]]
	printf '{"version": 1, "request_id": "%s", "type": "%s", "node": "%s", "instance": {"uuid": "%s", "name": "rs"}%s}' \
	    "$1" "$2" "$NODE" "${3:-$U}" "${4:+, $4}"
}
flavor() { printf '"flavor": {"vcpus": %s, "memory_mb": %s, "root_gb": %s}' "$@"; }
prop() { "$VI" -c "$T/agent.yaml" info "$1" 2>>"$T/vi.err" | awk -F'\t' -v p="$2" '$1 == p { print $2 }'; }
row() { psql_v "SELECT vm_state || ' ' || power_state || ' ' || (flavor->>'vcpus') || '/' || (flavor->>'memory_mb') || '/' || (flavor->>'root_gb') || ' ' || (resize_revert IS NOT NULL) FROM instances WHERE uuid = '${2:-$U}'"; }
file() { ls $DS/"$1" >/dev/null 2>&1; }	# file PATH: on LocalDS_0
last_reconfig() { curl -s --cacert "$VCSIM_CA_FILE" "$VCSIM_CTL/last?method=ReconfigVM_Task"; }
failed_with() {	# failed_with ID FAULT TEXT
	done_as "$1" failed && is "$(event "$1" failed error.fault)" "$2" && event "$1" failed error.message | grep -qF -- "$3"
}

start_agent
check "the agent joins the group" wait_for "$T/agent.log" "kafka: assigned 2 partition(s)" 30
NODE=$(sed -n 's/.*cluster "DC0_C0": .* node \([^ ]*\)$/\1/p' "$T/agent.log" | head -1)
NODE2=$NODE	# one cluster served; the migrate must be refused before it matters

send "$U" "$(req r-spawn spawn "$U" "$(flavor 1 256 1), \"image_id\": \"$IMG\"")"
check "a spawn (linked clone, 1 GB)" done_as r-spawn succeeded
check "its root disk is the linked clone's delta" file "$U/$U.vmdk"

# --- resize, then revert ---
send "$U" "$(req r-1 resize "$U" "$(flavor 2 512 2)")"
check "a resize to 2 vCPUs, 512 MB, 2 GB succeeds" done_as r-1 succeeded
check "its event says resized" is "$(event r-1 succeeded instance.vm_state)" resized
check "the row: resized, running, the new flavor, a revert kept" is "$(row)" "resized running 2/512/2 true"
check "the grown copy is in the VM's folder" file "$U/root-2g.vmdk"
check "the old delta is kept for a revert" file "$U/$U.vmdk"
check "the ReconfigVM_Task removed the old disk without destroying its files" sh -c "last=\$(curl -s --cacert '$VCSIM_CA_FILE' '$VCSIM_CTL/last?method=ReconfigVM_Task'); echo \"\$last\" | grep -q '<operation>remove</operation><device xsi:type=\"VirtualDisk\">' && ! echo \"\$last\" | grep -q '<fileOperation>destroy</fileOperation>'"
check "vCenter has 2 vCPUs" is "$(prop "$U" config.hardware.numCPU)/$(prop "$U" config.hardware.memoryMB)" 2/512

send "$U" "$(req r-2 resize "$U" "$(flavor 4 512 3)")"
check "another resize before a confirm fails with InvalidInstanceState, naming the first" failed_with r-2 InvalidInstanceState "has a resize (request r-1) that is neither confirmed nor reverted"
send "$U" "$(req r-mig migrate "$U" "\"destination\": {\"node\": \"$NODE2\"}")"
check "so does a migrate" failed_with r-mig InvalidInstanceState "migrate cannot run until it is"
send "$U" "$(req r-snap snapshot_create "$U" '"snapshot": {"name": "s"}')"
check "and a snapshot_create" failed_with r-snap InvalidInstanceState "snapshot_create cannot run until it is"
check "the pending resize is untouched" is "$(row)" "resized running 2/512/2 true"

send "$U" "$(req r-rev resize_revert)"
check "resize_revert succeeds" done_as r-rev succeeded
check "its event: active, running" is "$(event r-rev succeeded instance.vm_state)/$(event r-rev succeeded instance.power_state)" active/running
check "the row: the old flavor, no revert left" is "$(row)" "active running 1/256/1 false"
check "vCenter has 1 vCPU and 256 MB again" is "$(prop "$U" config.hardware.numCPU)/$(prop "$U" config.hardware.memoryMB)" 1/256
check "the revert put the old delta back and destroyed the copy" sh -c "last=\$(curl -s --cacert '$VCSIM_CA_FILE' '$VCSIM_CTL/last?method=ReconfigVM_Task'); echo \"\$last\" | grep -q '<operation>remove</operation><fileOperation>destroy</fileOperation><device xsi:type=\"VirtualDisk\">' && echo \"\$last\" | grep -q '<fileName>\[LocalDS_0\] $U/$U.vmdk</fileName>'"
check "the copy is gone" sh -c "! ls $DS/$U/root-2g.vmdk 2>/dev/null"
check "the delta is there" file "$U/$U.vmdk"
check "the VM is on" is "$(prop "$U" runtime.powerState)" poweredOn
send "$U" "$(req r-rev2 resize_revert)"
check "a second revert fails: no resize" failed_with r-rev2 InvalidInstanceState "has no resize to revert"

# --- resize, then confirm ---
send "$U" "$(req r-3 resize "$U" "$(flavor 2 512 2)")"
check "a resize again" done_as r-3 succeeded
send "$U" "$(req r-conf resize_confirm)"
check "resize_confirm succeeds" done_as r-conf succeeded
check "the row: active, the new flavor, no revert left" is "$(row)" "active running 2/512/2 false"
check "the old delta is deleted" sh -c "! ls $DS/$U/$U.vmdk 2>/dev/null"
check "the cached parent stays" sh -c "ls $T/vcsim/tmp/*/_base/$IMG/$IMG.vmdk"
check "the grown disk stays" file "$U/root-2g.vmdk"
send "$U" "$(req r-conf2 resize_confirm)"
check "a second confirm fails: no resize" failed_with r-conf2 InvalidInstanceState "has no resize to confirm"

# --- a kill -9 while the revert's ReconfigVM_Task runs ---
send "$U" "$(req r-4 resize "$U" "$(flavor 3 768 3)")"
check "a resize of a disk of the VM's own (root-2g to root-3g)" done_as r-4 succeeded
check "the old disk kept" file "$U/root-2g.vmdk"
check "ReconfigVM_Task is made slow" hold_next ReconfigVM_Task
send "$U" "$(req r-rev3 resize_revert)"
check "the revert's task is running" until_ok 30 task_held ReconfigVM_Task
check "the agent is back" restart_after_kill 2
check "the restarted agent finishes the revert" done_as r-rev3 succeeded
check "one final event" test "$(grep -F '"r-rev3"' "$T/results" | grep -cE '"event":"(succeeded|failed)"')" = 1
check "the row: the flavor before, running, no revert left" is "$(row)" "active running 2/512/2 false"
check "vCenter agrees" is "$(prop "$U" config.hardware.numCPU)/$(prop "$U" config.hardware.memoryMB)/$(prop "$U" runtime.powerState)" 2/512/poweredOn
check "root-2g is the disk again, root-3g gone" sh -c "ls $DS/$U/root-2g.vmdk >/dev/null && ! ls $DS/$U/root-3g.vmdk 2>/dev/null"

# --- a kill -9 while a resize's ReconfigVM_Task runs ---
check "ReconfigVM_Task is made slow again" hold_next ReconfigVM_Task
send "$U" "$(req r-5 resize "$U" "$(flavor 3 768 4)")"
check "the resize's task is running" until_ok 30 task_held ReconfigVM_Task
check "the agent is back (3rd start)" restart_after_kill 3
check "the restarted agent finishes the resize" done_as r-5 succeeded
check "one final event" test "$(grep -F '"r-5"' "$T/results" | grep -cE '"event":"(succeeded|failed)"')" = 1
check "the row: resized, the new flavor, what the first run recorded" is "$(row) $(psql_v "SELECT resize_revert->>'disk' FROM instances WHERE uuid = '$U'")" "resized running 3/768/4 true [LocalDS_0] $U/root-2g.vmdk"
send "$U" "$(req r-rev5 resize_revert)"
check "its revert" done_as r-rev5 succeeded
check "brings back root-2g and 2 vCPUs, root-4g gone" sh -c "ls $DS/$U/root-2g.vmdk >/dev/null && ! ls $DS/$U/root-4g.vmdk 2>/dev/null && [ \"\$('$VI' -c '$T/agent.yaml' info '$U' | awk -F'\t' '\$1 == \"config.hardware.numCPU\" { print \$2 }')\" = 2 ]"

# --- a VM that is off stays off ---
send "$U2" "$(req r2-spawn spawn "$U2" "$(flavor 1 256 1), \"image_id\": \"$IMG\"")"
check "a second instance" done_as r2-spawn succeeded
send "$U2" "$(req r2-off power_off "$U2" '"hard": true')"
check "powered off" done_as r2-off succeeded
send "$U2" "$(req r2-1 resize "$U2" "$(flavor 2 256 0)")"
check "a resize of a VM that is off, the disk left alone" done_as r2-1 succeeded
check "it stays off, resized" is "$(row x "$U2")" "resized shutdown 2/256/0 true"
send "$U2" "$(req r2-rev resize_revert "$U2")"
check "its revert" done_as r2-rev succeeded
check "stopped, off, the old flavor" is "$(row x "$U2")" "stopped shutdown 1/256/1 false"
check "vCenter: off, 1 vCPU" is "$(prop "$U2" runtime.powerState)/$(prop "$U2" config.hardware.numCPU)" poweredOff/1

# --- rescue and unrescue (the second instance, off) ---
boot_key() { last_reconfig | grep -o '<bootOrder xsi:type="VirtualMachineBootOptionsBootableDiskDevice"><deviceKey>[0-9]*</deviceKey>' | grep -o '[0-9]*</deviceKey>' | grep -o '[0-9]*'; }
send "$U2" "$(req r2-resc-bad rescue "$U2" '"image_id": "9e9e9e9e-0000-4000-8000-00000000dead"')"
check "a rescue with an image the service does not have fails" failed_with r2-resc-bad ImageNotFound "9e9e9e9e-0000-4000-8000-00000000dead"
check "and leaves the VM as it was: off, stopped" is "$(prop "$U2" runtime.powerState) $(psql_v "SELECT vm_state FROM instances WHERE uuid = '$U2'")" "poweredOff stopped"
send "$U2" "$(req r2-resc rescue "$U2")"
check "rescue succeeds" done_as r2-resc succeeded
check "its event: rescued, running" is "$(event r2-resc succeeded instance.vm_state)/$(event r2-resc succeeded instance.power_state)" rescued/running
check "the rescue disk is a copy of the instance's image in the VM's folder" file "$U2/$IMG-rescue.vmdk"
check "the root disk stays" file "$U2/$U2.vmdk"
RK=$(boot_key)
check "the VM boots from a disk first ($RK)" test -n "$RK"
check "the VM is on" is "$(prop "$U2" runtime.powerState)" poweredOn
check "the row says rescued" is "$(psql_v "SELECT vm_state || ' ' || power_state FROM instances WHERE uuid = '$U2'")" "rescued running"
send "$U2" "$(req r2-resc2 rescue "$U2")"
check "a second rescue fails, named" failed_with r2-resc2 InvalidInstanceState "is rescued already"
send "$U2" "$(req r2-resc-rs resize "$U2" "$(flavor 2 256 2)")"
check "a resize of a rescued instance fails, named" failed_with r2-resc-rs InvalidInstanceState "is rescued ([LocalDS_0] $U2/$IMG-rescue.vmdk attached): unrescue it before a resize"
send "$U2" "$(req r2-unr unrescue "$U2")"
check "unrescue succeeds" done_as r2-unr succeeded
check "the rescue disk was removed with its files: the device the VM booted from" sh -c "last=\$(curl -s --cacert '$VCSIM_CA_FILE' '$VCSIM_CTL/last?method=ReconfigVM_Task'); echo \"\$last\" | grep -q '<operation>remove</operation><fileOperation>destroy</fileOperation><device xsi:type=\"VirtualDisk\"><key>$RK</key>'"
check "the VM boots from another disk now, its root disk" sh -c "k=\$(curl -s --cacert '$VCSIM_CA_FILE' '$VCSIM_CTL/last?method=ReconfigVM_Task' | grep -o '<deviceKey>[0-9]*</deviceKey>' | grep -o '[0-9][0-9]*'); test -n \"\$k\" -a \"\$k\" != '$RK'"
check "the rescue disk is gone" sh -c "! ls $DS/$U2/$IMG-rescue.vmdk 2>/dev/null"
check "the root disk stays" file "$U2/$U2.vmdk"
check "active, running" is "$(event r2-unr succeeded instance.vm_state)/$(psql_v "SELECT vm_state || ' ' || power_state FROM instances WHERE uuid = '$U2'")" "active/active running"
send "$U2" "$(req r2-unr2 unrescue "$U2")"
check "an unrescue of an instance that is not rescued fails, named" failed_with r2-unr2 InvalidInstanceState "is not rescued"
send "$U2" "$(req r2-resc-x rescue "$U2" '"image_id": "../etc"')"
check "a rescue image id that is not one is refused" until_ok 30 rejected_with r2-resc-x "image_id must be an image id"

# --- resize_confirm_window ---
agent_yaml agent-r it-resize
sed -i 's/^DEFAULT:$/DEFAULT:\n  resize_confirm_window: 2/' "$T/agent.yaml"
kill -HUP "$AGENT_PID"
check "a reload sets resize_confirm_window" wait_for "$T/agent.log" "applied: DEFAULT.resize_confirm_window" 30
send "$U2" "$(req r2-win resize "$U2" "$(flavor 2 256 2)")"
check "a resize" done_as r2-win succeeded
auto_id() { results; grep -o "\"request_id\":\"auto-confirm-$U2-[0-9]*\"" "$T/results" | head -1 | cut -d'"' -f4; }
check "is confirmed by the agent after the window" until_ok 60 sh -c "grep -q 'auto-confirm-$U2-' '$T/agent.log' && [ \"\$(bash '$PEERS/pg.sh' psql '$T' -tAc \"SELECT vm_state || (resize_revert IS NULL) FROM instances WHERE uuid = '$U2'\")\" = activetrue ]"
AID=$(auto_id)
check "its confirm went through the requests topic as $AID and succeeded" done_as "$AID" succeeded
check "the old delta is deleted" sh -c "! ls $DS/$U2/$U2.vmdk 2>/dev/null"
check "one final event for it" test "$(grep -F "\"$AID\"" "$T/results" | grep -cE '"event":"(succeeded|failed)"')" = 1
check "the ledger has it once, as a resize_confirm" is "$(psql_v "SELECT count(*) || ' ' || min(type) || ' ' || min(state) FROM requests WHERE request_id = '$AID'")" "1 resize_confirm succeeded"

# --- an export lease ---
U3=5b000000-0000-4000-8000-000000000003
send "$U3" "$(req r3-spawn spawn "$U3" "$(flavor 1 256 0), \"image_id\": \"$IMG\"")"
check "a third instance (a linked clone)" done_as r3-spawn succeeded
check "exporting it while it is on fails with InvalidPowerState" sh -c "! '$VI' -c '$T/agent.yaml' export '$U3' '$T/on.vmdk' 2>'$T/export-on.err' && grep -q InvalidPowerState '$T/export-on.err'"
send "$U3" "$(req r3-off power_off "$U3" '"hard": true')"
check "powered off" done_as r3-off succeeded
check "vcagent-vi export streams its disk through an export lease" sh -c "'$VI' -c '$T/agent.yaml' export '$U3' '$T/u3.vmdk' 2>'$T/export.err' && grep -q 'bytes exported' '$T/export.err'"
check "a streamOptimized VMDK, as qemu-img reads it" sh -c "qemu-img info '$T/u3.vmdk' | grep -q 'create type: streamOptimized'"
curl -s "$GLANCE_URL/v2/images/$IMG/file" -o "$T/img.raw"
qemu-img convert -f vmdk -O raw "$T/u3.vmdk" "$T/u3.raw" 2>>"$T/export.err"
check "holding the image's bytes (the clone's parent's)" sh -c "test -s '$T/img.raw' && cmp -n \$(stat -c %s '$T/img.raw') '$T/img.raw' '$T/u3.raw'"

# --- snapshot_image ---
send "$U3" "$(req r3-on power_on "$U3")"
check "the third instance on again" done_as r3-on succeeded
# (its disk is sent over 12 s, so that its progress can be watched)
check "vcsim will send exports over 12 s" is "$(curl -s --cacert "$VCSIM_CA_FILE" -X POST "$VCSIM_CTL/export-pace?seconds=12")" ok
send "$U3" "$(req r3-img snapshot_image "$U3" '"image": {"name": "u3-snap"}')"
export_running() {	# /status has the export, under way
	python3 -c '
import json, sys, urllib.request
s = json.load(urllib.request.urlopen(sys.argv[1] + "/status"))
t = [x for x in s["image_cache"]["transfers"] if x["kind"] == "export"]
assert len(t) == 1 and 0 < t[0]["done"] and t[0]["total"] > 0, t
assert t[0]["percent"] == min(100, 100 * t[0]["done"] // t[0]["total"]), t
' "$(url)" 2>/dev/null
}
check "while the export runs, /status lists it: kind export, bytes done of the total, a percent" until_ok 30 export_running
check "and the gauges, by kind" sh -c "curl -s '$(url)/metrics' | grep -qE '^vcagent_imagecache_transfer_percent\{[^}]*kind=\"export\"\} [0-9]+\$'"
check "snapshot_image of a running instance succeeds" done_as r3-img succeeded
check "(vcsim sends exports at once again)" is "$(curl -s --cacert "$VCSIM_CA_FILE" -X POST "$VCSIM_CTL/export-pace?seconds=0")" ok
NEWIMG=$(event r3-img succeeded image.id)
check "its event names the new image ($NEWIMG)" test -n "$NEWIMG" -a "$(event r3-img succeeded image.name)" = u3-snap
check "the export's progress is logged while it runs (every 10 s)" grep -qE "imagecache: export into image $NEWIMG: [0-9]+ MiB sent, [0-9]+% of the disk's [0-9]+ MiB" "$T/agent.log"
check "and at its end" grep -qE "imagecache: export into image $NEWIMG: [0-9]+ MiB sent, done" "$T/agent.log"
check "and it is no transfer any more (/status)" python3 -c '
import json, sys, urllib.request
s = json.load(urllib.request.urlopen(sys.argv[1] + "/status"))
assert [t for t in s["image_cache"]["transfers"] if t["kind"] == "export"] == []
' "$(url)"
curl -s "$GLANCE_URL/v2/images/$NEWIMG" >"$T/newimg.json"
gprop() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]))' "$T/newimg.json" "$1"; }
check "active, with nova's properties" is "$(gprop status) $(gprop disk_format) $(gprop container_format) $(gprop vmware_disktype) $(gprop vmware_adaptertype) $(gprop vmware_ostype) $(gprop image_type) $(gprop instance_uuid) $(gprop name)" "active vmdk bare streamOptimized lsiLogic otherGuest64 snapshot $U3 u3-snap"
curl -s "$GLANCE_URL/v2/images/$NEWIMG/file" -o "$T/newimg.vmdk"
qemu-img convert -f vmdk -O raw "$T/newimg.vmdk" "$T/newimg.raw" 2>>"$T/export.err"
check "its data: a streamOptimized VMDK of the instance's disk" sh -c "qemu-img info '$T/newimg.vmdk' | grep -q 'create type: streamOptimized' && cmp -n \$(stat -c %s '$T/img.raw') '$T/img.raw' '$T/newimg.raw'"
check "no clone is left" sh -c "! '$VI' -c '$T/agent.yaml' vms | grep -q '$U3-image-'"
check "no snapshot is left" is "$("$VI" -c "$T/agent.yaml" snapshots "$U3" 2>>"$T/vi.err")" ""
check "the instance is still on" is "$(prop "$U3" runtime.powerState)" poweredOn
check "ExportVm is made to fail once" test "$(curl -s --cacert "$VCSIM_CA_FILE" -X POST "$VCSIM_CTL/fault?method=ExportVm&fault=TaskInProgress&count=1")" = ok
send "$U3" "$(req r3-img2 snapshot_image "$U3" '"image": {"name": "u3-snap-2"}')"
check "a snapshot_image whose export fails fails, naming the fault" failed_with r3-img2 TaskInProgress ""
check "and deletes the image it made" sh -c "! curl -s '$GLANCE_URL/v2/images' | grep -q 'u3-snap-2'"
check "no clone or snapshot is left" sh -c "! '$VI' -c '$T/agent.yaml' vms | grep -q '$U3-image-' && [ -z \"\$('$VI' -c '$T/agent.yaml' snapshots '$U3')\" ]"
check "CloneVM_Task is made slow" hold_next CloneVM_Task
send "$U3" "$(req r3-img3 snapshot_image "$U3" '"image": {"name": "u3-snap-3"}')"
check "the clone's task is running" until_ok 30 task_held CloneVM_Task
check "the agent is back (4th start)" restart_after_kill 4
check "the restarted agent finishes the snapshot_image" done_as r3-img3 succeeded
check "one final event" test "$(grep -F '"r3-img3"' "$T/results" | grep -cE '"event":"(succeeded|failed)"')" = 1
IMG3=$(event r3-img3 succeeded image.id)
check "its image is active ($IMG3)" sh -c "curl -s '$GLANCE_URL/v2/images/$IMG3' | grep -q '\"status\": *\"active\"'"
check "one image of that name" is "$(curl -s "$GLANCE_URL/v2/images" | grep -o '"name": *"u3-snap-3"' | wc -l)" 1
check "no clone (the first run's was destroyed) and no snapshot are left" sh -c "! '$VI' -c '$T/agent.yaml' vms | grep -q '$U3-image-' && [ -z \"\$('$VI' -c '$T/agent.yaml' snapshots '$U3')\" ]"
send "$U3" "$(req r3-img-bad snapshot_image "$U3" '"image": {"id": "x"}')"
check "an image without a name is refused" until_ok 30 rejected_with r3-img-bad 'image must be {\"name\": 1-255 characters'

send "$U" "$(req r-del delete)"
check "the instance is deleted" done_as r-del succeeded
check "no ASan or UBSan report in the agent's log" sh -c "! grep -E 'AddressSanitizer|runtime error' '$T/agent.log'"
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=
tap_done
