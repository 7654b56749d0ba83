#!/bin/bash
# agent_volume.sh - volumes and storage policies, through Kafka against
# vcsim (with govmomi's storage policy service, which the launcher serves at
# /pbm/sdk and completes with PbmQueryMatchingHub), Glance, PostgreSQL and
# Kafka:
#  - storage policies (vmware.pbm_enabled): a spawn goes to the datastore
#    its flavor's vmware:storage_policy, else pbm_default_policy, complies
#    with; the CreateVM_Task carries vmProfile and each new disk's profile;
#    the PBM calls carry the session cookie in the SOAP header (the launcher
#    refuses them without it, as vCenter does); a name found once is not
#    looked up again; an unknown policy fails with PbmProfileNotFound and a
#    policy no datastore complies with fails with DatastoreNotFound, naming
#    the policy and the cluster, both before anything is made; a flavor
#    policy with pbm_enabled off fails with PbmDisabled; pbm_enabled
#    without pbm_default_policy is a configuration error (vcagent -n);
#  - volume_create makes a First Class Disk and answers with the
#    connection_info that attaches it; another request for its id fails
#    with VolumeExists; a kill -9 during its CreateDisk_Task: the request,
#    run again, makes no second disk;
#  - attach_volume of a First Class Disk (AttachDisk_Task), of a vmdk
#    volume by its shadow VM (its first disk) and by its path (in the mode
#    asked); each recorded; vcagent-vi volumes lists them; a second attach
#    is idempotent (no second AttachDisk_Task); a missing disk fails with
#    vCenter's fault naming it (FileNotFound, NotFound,
#    ManagedObjectNotFound); an IDE volume on a running VM fails with
#    InvalidPowerState; a volume on another instance fails with
#    VolumeInUse; a vmdk in the instance's own folder fails with
#    VolumeInInstanceFolder; bad connection_info is rejected at intake, named;
#  - two attaches of one volume to two instances at the same time: the
#    second waits for the first (the volume's lock) and fails with
#    VolumeInUse; the disk is on one VM;
#  - a kill -9 between a vmdk attach's ReconfigVM_Task and its record: the
#    request, run again, finds the disk and records it: one disk, one
#    final event;
#  - detach_volume removes the device without a file operation; the file
#    stays; a second detach fails with VolumeNotAttached;
#  - a resize keeps the volumes attached (the root disk is the one swapped);
#    a migrate names every volume's disk in RelocateVM_Task's disk locators;
#  - delete detaches the volumes first: their files stay, their rows go,
#    and a volume can be attached to another instance then;
#  - volume_delete of an attached volume fails with VolumeInUse; of a free
#    one deletes the disk and its file.
. "$(dirname "$0")/tap.sh"
set -u
LOG_TAIL=200
. "$(dirname "$0")/agent_lib.sh"
agent_lib_init volume
AGENT_PID=
agent_peers 2 glance pg -- -ds 2 -pbm-policy gold=^LocalDS_1$ -pbm-policy silver=^LocalDS_0$ \
    -pbm-policy nowhere=^NoSuchDatastore$

IMG=$(bash "$PEERS/glance.sh" image "$T" 524288)
agent_yaml agent-v it-volume "  pbm_enabled: true
  pbm_default_policy: silver"
VI=${VCAGENT%/vcagent}/vcagent-vi
U=5c000000-0000-4000-8000-000000000001
U2=5c000000-0000-4000-8000-000000000002
U3=5c000000-0000-4000-8000-000000000003
DS0=$(echo "$T"/vcsim/tmp/govcsim-DC0-LocalDS_0-*)
DS1=$(echo "$T"/vcsim/tmp/govcsim-DC0-LocalDS_1-*)

req() {	# req ID TYPE [UUID [EXTRA JSON MEMBERS]]
	printf '{"version": 1, "request_id": "%s", "type": "%s", "node": "%s", "instance": {"uuid": "%s", "name": "vol"}%s}' \
	    "$1" "$2" "$NODE" "${3:-$U}" "${4:+, $4}"
}
vreq() {	# vreq ID TYPE EXTRA: a request without an instance
	printf '{"version": 1, "request_id": "%s", "type": "%s", "node": "%s", %s}' "$1" "$2" "$NODE" "$3"
}
spawn_json() {	# spawn_json UUID [EXTRA SPECS]
	printf '"flavor": {"vcpus": 1, "memory_mb": 256, "root_gb": 1, "extra_specs": {%s}}, "image_id": "%s"' "${2:-}" "$IMG"
}
ctl() { curl -s --cacert "$VCSIM_CA_FILE" -X "${2:-GET}" "$VCSIM_CTL/$1"; }
calls() { ctl "calls?method=$1"; }
last() { ctl "last?method=$1"; }
prop() { "$VI" -c "$T/agent.yaml" info "$1" 2>>"$T/vi.err" | awk -F'\t' -v p="$2" '$1 == p { print $2 }'; }
vols() { "$VI" -c "$T/agent.yaml" volumes "$1" 2>>"$T/vi.err"; }
failed_with() {	# failed_with ID FAULT TEXT
	done_as "$1" failed && is "$(event "$1" failed error.fault)" "$2" &&
	    { event "$1" failed error.message | grep -qF -- "$3" ||
	    { echo "# message: $(event "$1" failed error.message)"; false; }; }
}
rejected_at() { done_as "$1" rejected && rejected_with "$@"; }	# rejected_at ID TEXT
vm_of() { psql_v "SELECT vm_moref FROM instances WHERE uuid = '$1'"; }

# --- configuration: pbm_enabled needs a default policy ---
cat >"$T/bad.yaml" <<YAML
$(sed '/pbm_default_policy/d' "$T/agent.yaml")
YAML
check "vcagent -n: pbm_enabled without pbm_default_policy is an error, named" sh -c \
    "! '$VCAGENT' -n -c '$T/bad.yaml' 2>'$T/bad.err' && grep -q 'vmware.pbm_enabled: is true, but vmware.pbm_default_policy is not set' '$T/bad.err'"

start_agent
check "the agent joins the group" wait_for "$T/agent.log" "kafka: assigned 2 partition(s)" 30
NODE=$(sed -n 's/.*cluster "DC0_C0": .* node \([^ ]*\)$/\1/p' "$T/agent.log" | head -1)
check "at start the default policy is looked up, its id logged" grep -q 'storage policy "silver" (vmware.pbm_default_policy) is [0-9a-f-]*$' "$T/agent.log"

# --- storage policies at spawn ---
send "$U" "$(req p-1 spawn "$U" "$(spawn_json "$U" '"vmware:storage_policy": "gold"')")"
check "a spawn with vmware:storage_policy gold succeeds" done_as p-1 succeeded
check "its VM is on LocalDS_1, the one gold matches" sh -c "ls $DS1/$U/$U.vmx >/dev/null 2>&1 || ls $DS1/$U/*.vmx >/dev/null 2>&1"
check "CreateVM_Task carried the policy as vmProfile and on the root disk" sh -c \
    "b=\$(curl -s --cacert '$VCSIM_CA_FILE' '$VCSIM_CTL/last?method=CreateVM_Task'); echo \"\$b\" | grep -q '<vmProfile xsi:type=\"VirtualMachineDefinedProfileSpec\"><profileId>' && echo \"\$b\" | grep -q '<profile xsi:type=\"VirtualMachineDefinedProfileSpec\"><profileId>'"
check "PbmQueryMatchingHub carried the session cookie in the SOAP header" sh -c \
    "curl -s --cacert '$VCSIM_CA_FILE' '$VCSIM_CTL/last?method=PbmQueryMatchingHub' | grep -q '<vcSessionCookie>'"
Q1=$(calls PbmQueryProfile)
send "$U2" "$(req p-2 spawn "$U2" "$(spawn_json "$U2")")"
check "a spawn without a policy of its own (the default, silver) succeeds" done_as p-2 succeeded
check "its VM is on LocalDS_0, the one silver matches" sh -c "ls $DS0/$U2/*.vmx >/dev/null 2>&1"
send "$U3" "$(req p-3 spawn "$U3" "$(spawn_json "$U3" '"vmware:storage_policy": "gold"')")"
check "a second gold spawn succeeds" done_as p-3 succeeded
check "no policy is looked up again: silver (found at start) and gold made no PbmQueryProfile" is "$(calls PbmQueryProfile)" "$Q1"
check "but its datastores are asked each time (PbmQueryMatchingHub: 3)" is "$(calls PbmQueryMatchingHub)" 3
send "$U3" "$(req p-3d delete "$U3")"
check "(deleted)" done_as p-3d succeeded

U4=5c000000-0000-4000-8000-000000000004
send "$U4" "$(req p-4 spawn "$U4" "$(spawn_json "$U4" '"vmware:storage_policy": "platinum"')")"
check "an unknown policy fails with PbmProfileNotFound, named" failed_with p-4 PbmProfileNotFound 'storage policy "platinum" is not one of the'
check "nothing was made for it (no VM, no folder)" sh -c "! ls -d $DS0/$U4 $DS1/$U4 2>/dev/null && [ -z \"\$('$VI' -c '$T/agent.yaml' find $U4 2>/dev/null)\" ]"
send "$U4" "$(req p-5 spawn "$U4" "$(spawn_json "$U4" '"vmware:storage_policy": "nowhere"')")"
check "a policy no datastore complies with fails with DatastoreNotFound, naming it and the cluster" \
    failed_with p-5 DatastoreNotFound 'storage policy "nowhere" matches none of the 2 usable datastores of cluster "DC0_C0"'
send "$U4" "$(req p-6 spawn "$U4" "$(spawn_json "$U4" '"vmware:storage_policy": "vSAN Default Storage Policy"')")"
check "so does vSAN's policy, with no vSAN datastore" failed_with p-6 DatastoreNotFound 'storage policy "vSAN Default Storage Policy" matches none'
send "$U4" "$(req p-7 spawn "$U4" "$(spawn_json "$U4" '"vmware:storage_policy": ""')")"
check "an empty policy name is refused at intake, named" rejected_at p-7 'vmware:storage_policy'

# --- volume_create: a First Class Disk ---
V1=0b000000-0000-4000-8000-0000000000f1
send "$V1" "$(vreq c-1 volume_create "\"volume_id\": \"$V1\", \"size_gb\": 1, \"datastore\": \"LocalDS_0\"")"
check "volume_create succeeds" done_as c-1 succeeded
FCD1=$(event c-1 succeeded volume.id)
DSREF=$(event c-1 succeeded volume.datastore)
check "its event carries the disk's id and datastore" sh -c "[ -n '$FCD1' ] && [ -n '$DSREF' ]"
check "and the connection_info that attaches it" is "$(event c-1 succeeded volume.connection_info.driver_volume_type)/$(event c-1 succeeded volume.connection_info.data.id)" "vstorageobject/$FCD1"
check "its file is on LocalDS_0" sh -c "ls $DS0/fcd/$FCD1.vmdk >/dev/null 2>&1"
check "its row" is "$(psql_v "SELECT fcd_id || ' ' || capacity_mb FROM volumes WHERE volume_id = '$V1'")" "$FCD1 1024"
send "$V1" "$(vreq c-2 volume_create "\"volume_id\": \"$V1\", \"size_gb\": 2")"
check "another volume_create of its id fails with VolumeExists" failed_with c-2 VolumeExists "volume $V1 exists already (made by request c-1)"

# --- attach_volume: a First Class Disk ---
CI_FCD="\"connection_info\": {\"driver_volume_type\": \"vstorageobject\", \"data\": {\"id\": \"$FCD1\", \"ds_ref_val\": \"$DSREF\"}}"
send "$U" "$(req a-1 attach_volume "$U" "\"volume_id\": \"$V1\", $CI_FCD")"
check "attach_volume of the First Class Disk succeeds" done_as a-1 succeeded
check "with AttachDisk_Task" is "$(calls AttachDisk_Task)" 1
check "vcagent-vi volumes lists it on the VM" sh -c "'$VI' -c '$T/agent.yaml' volumes $U | grep -q \"$FCD1\""
check "its row" is "$(psql_v "SELECT kind || ' ' || fcd_id FROM volume_attachments WHERE instance_uuid = '$U' AND volume_id = '$V1'")" "vstorageobject $FCD1"
send "$U" "$(req a-2 attach_volume "$U" "\"volume_id\": \"$V1\", $CI_FCD")"
check "a second attach of it succeeds" done_as a-2 succeeded
check "as attached already, with no second AttachDisk_Task" is "$(event a-2 succeeded volume.already_attached)/$(calls AttachDisk_Task)" true/1
send "$U2" "$(req a-3 attach_volume "$U2" "\"volume_id\": \"$V1\", $CI_FCD")"
check "attaching it to another instance fails with VolumeInUse" failed_with a-3 VolumeInUse "volume $V1 is attached to instance $U"
send "$U" "$(req a-4 attach_volume "$U" "\"volume_id\": \"v-nofcd\", \"connection_info\": {\"driver_volume_type\": \"vstorageobject\", \"data\": {\"id\": \"00000000-dead-4000-8000-000000000000\", \"ds_ref_val\": \"$DSREF\"}}")"
check "a First Class Disk that is not there fails with vCenter's NotFound" failed_with a-4 NotFound ""

# --- attach_volume: vmdk volumes ---
SHADOW=$("$VI" -c "$T/agent.yaml" vms 2>/dev/null | awk '$NF == "DC0_C0_RP0_VM1" { print $1 }' | head -1)
SHADOW_DISK=$("$VI" -c "$T/agent.yaml" volumes "$SHADOW" 2>/dev/null | awk -F'\t' 'NR == 1 { print $6 }')
check "the shadow VM ($SHADOW) has a disk ($SHADOW_DISK)" sh -c "[ -n '$SHADOW' ] && [ -n '$SHADOW_DISK' ]"
V2=0b000000-0000-4000-8000-0000000000f2
send "$U" "$(req a-5 attach_volume "$U" "\"connection_info\": {\"driver_volume_type\": \"vmdk\", \"data\": {\"volume\": \"$SHADOW\", \"volume_id\": \"$V2\"}}")"
check "attach_volume of a vmdk volume by its shadow VM succeeds" done_as a-5 succeeded
check "its disk is the shadow VM's, persistent" is "$(event a-5 succeeded volume.path)/$(event a-5 succeeded volume.disk_mode)" "$SHADOW_DISK/persistent"
check "the ReconfigVM_Task added it with no file operation" sh -c \
    "b=\$(curl -s --cacert '$VCSIM_CA_FILE' '$VCSIM_CTL/last?method=ReconfigVM_Task'); echo \"\$b\" | grep -q '<operation>add</operation><device xsi:type=\"VirtualDisk\">' && ! echo \"\$b\" | grep -q '<fileOperation>'"
mkdir -p "$DS0/vols"
printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="vmfs"\nRW 2048 VMFS "vol-c-flat.vmdk"\n' >"$DS0/vols/vol-c.vmdk"
truncate -s 1M "$DS0/vols/vol-c-flat.vmdk"
V3=0b000000-0000-4000-8000-0000000000f3
send "$U" "$(req a-6 attach_volume "$U" "\"volume_id\": \"$V3\", \"connection_info\": {\"driver_volume_type\": \"vmdk\", \"data\": {\"volume\": \"[LocalDS_0] vols/vol-c.vmdk\", \"disk_mode\": \"independent_persistent\"}}")"
check "attach_volume of a vmdk by its path, independent_persistent, succeeds" done_as a-6 succeeded
check "in that mode" sh -c "curl -s --cacert '$VCSIM_CA_FILE' '$VCSIM_CTL/last?method=ReconfigVM_Task' | grep -q '<diskMode>independent_persistent</diskMode>'"
check "vcagent-vi volumes: the root disk and three volumes" is "$(vols "$U" | wc -l)" 4
send "$U" "$(req a-7 attach_volume "$U" "\"volume_id\": \"v-missing\", \"connection_info\": {\"driver_volume_type\": \"vmdk\", \"data\": {\"volume\": \"[LocalDS_0] vols/missing.vmdk\"}}")"
check "a vmdk that is not there fails with FileNotFound, naming it" failed_with a-7 FileNotFound "vols/missing.vmdk"
send "$U" "$(req a-8 attach_volume "$U" "\"volume_id\": \"v-noshadow\", \"connection_info\": {\"driver_volume_type\": \"vmdk\", \"data\": {\"volume\": \"vm-98765\"}}")"
check "a shadow VM that is not there fails with ManagedObjectNotFound" failed_with a-8 ManagedObjectNotFound ""
cp "$DS0/vols/vol-c.vmdk" "$DS0/vols/vol-e.vmdk"
send "$U" "$(req a-8i attach_volume "$U" "\"volume_id\": \"v-ide\", \"connection_info\": {\"driver_volume_type\": \"vmdk\", \"data\": {\"volume\": \"[LocalDS_0] vols/vol-e.vmdk\", \"adapter_type\": \"ide\"}}")"
check "an IDE volume on a running VM fails with InvalidPowerState (no hot plug)" failed_with a-8i InvalidPowerState "an IDE disk cannot be added to a running VM"
send "$U" "$(req a-8d attach_volume "$U" "\"volume_id\": \"v-dup\", \"connection_info\": {\"driver_volume_type\": \"vmdk\", \"data\": {\"volume\": \"[LocalDS_0] vols/vol-c.vmdk\"}}")"
check "another volume id for a disk the VM has as a volume fails with DiskInUse" failed_with a-8d DiskInUse "is volume $V3's"
ROOT_FILE=$(vols "$U" | awk -F'\t' '$5 == "-" { print $6 }' | head -1)
ROOT_DIR=$(echo "$ROOT_FILE" | sed 's/^\[\([^]]*\)\] \(.*\)\/[^/]*$/\1 \2/')
IN_DIR=$(echo "$T/vcsim/tmp/govcsim-DC0-${ROOT_DIR% *}-"*/"${ROOT_DIR#* }")
printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="vmfs"\nRW 2048 VMFS "vol-in-flat.vmdk"\n' >"$IN_DIR/vol-in.vmdk"
truncate -s 1M "$IN_DIR/vol-in-flat.vmdk"
send "$U" "$(req a-8f attach_volume "$U" "\"volume_id\": \"v-infolder\", \"connection_info\": {\"driver_volume_type\": \"vmdk\", \"data\": {\"volume\": \"${ROOT_FILE%/*}/vol-in.vmdk\"}}")"
check "a vmdk in the instance's own folder ($ROOT_FILE's) fails with VolumeInInstanceFolder" \
    failed_with a-8f VolumeInInstanceFolder "is in instance $U's own folder, which deleting the instance removes"
check "the failed attaches left no disk" is "$(vols "$U" | wc -l)" 4

send "$U" "$(req a-9 attach_volume "$U" '"volume_id": "x", "connection_info": {"driver_volume_type": "iscsi", "data": {}}')"
check "an iscsi connection_info is rejected at intake, named" rejected_at a-9 'driver_volume_type must be \"vmdk\" or \"vstorageobject\"'
send "$U" "$(req a-10 attach_volume "$U" '"volume_id": "x"')"
check "an attach without connection_info is rejected" rejected_at a-10 'connection_info is missing'
send "$U" "$(req a-11 attach_volume "$U" '"volume_id": "x", "connection_info": {"driver_volume_type": "vmdk", "data": {"volume": "[LocalDS_0] a.vmdk", "disk_mode": "undoable"}}')"
check "a disk mode vcagent does not attach in is rejected, named" rejected_at a-11 'disk_mode \"undoable\" must be persistent'
send "$U" "$(req a-12 attach_volume "$U" '"connection_info": {"driver_volume_type": "vstorageobject", "data": {"id": "abc"}}')"
check "a First Class Disk without its datastore is rejected" rejected_at a-12 'id and ds_ref_val must name'

# --- kill -9 between a vmdk attach and its record ---
printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="vmfs"\nRW 2048 VMFS "vol-d-flat.vmdk"\n' >"$DS0/vols/vol-d.vmdk"
truncate -s 1M "$DS0/vols/vol-d-flat.vmdk"
V4=0b000000-0000-4000-8000-0000000000f4
check "vcsim will hold the next ReconfigVM_Task" hold_next ReconfigVM_Task
send "$U" "$(req a-13 attach_volume "$U" "\"volume_id\": \"$V4\", \"connection_info\": {\"driver_volume_type\": \"vmdk\", \"data\": {\"volume\": \"[LocalDS_0] vols/vol-d.vmdk\"}}")"
check "the attach's ReconfigVM_Task runs (held)" until_ok 30 task_held ReconfigVM_Task
check "kill -9 the agent there, start it again" restart_after_kill 2
check "the attach, run again, succeeds" done_as a-13 succeeded
check "finding the disk on the VM: attached already" is "$(event a-13 succeeded volume.already_attached)" true
check "one disk of that file on the VM" is "$(vols "$U" | grep -c 'vols/vol-d.vmdk')" 1
check "one final event" is "$(grep -F '"request_id":"a-13"' "$T/results" | grep -cE '"event":"(succeeded|failed)"')" 1
check "recorded" is "$(psql_v "SELECT count(*) FROM volume_attachments WHERE volume_id = '$V4'")" 1

# --- detach_volume ---
send "$U" "$(req d-1 detach_volume "$U" "\"volume_id\": \"$V4\"")"
check "detach_volume succeeds" done_as d-1 succeeded
check "the ReconfigVM_Task removed the disk with no file operation" sh -c \
    "b=\$(curl -s --cacert '$VCSIM_CA_FILE' '$VCSIM_CTL/last?method=ReconfigVM_Task'); echo \"\$b\" | grep -q '<operation>remove</operation><device xsi:type=\"VirtualDisk\">' && ! echo \"\$b\" | grep -q '<fileOperation>'"
check "the disk is off the VM" is "$(vols "$U" | grep -c 'vols/vol-d.vmdk')" 0
check "its file stays" sh -c "ls $DS0/vols/vol-d.vmdk $DS0/vols/vol-d-flat.vmdk >/dev/null"
check "its row is gone" is "$(psql_v "SELECT count(*) FROM volume_attachments WHERE volume_id = '$V4'")" 0
send "$U" "$(req d-2 detach_volume "$U" "\"volume_id\": \"$V4\"")"
check "a second detach fails with VolumeNotAttached" failed_with d-2 VolumeNotAttached "volume $V4 is not attached to instance $U"

# --- resize and migrate keep the volumes ---
ROOT_BEFORE=$(vols "$U" | awk -F'\t' '$5 == "-" { print $6 }' | head -1)
send "$U" "$(req r-1 resize "$U" '"flavor": {"vcpus": 1, "memory_mb": 256, "root_gb": 2}')"
check "a resize that grows the root disk succeeds with volumes attached" done_as r-1 succeeded
check "the volumes stay attached" sh -c "'$VI' -c '$T/agent.yaml' volumes $U > '$T/v.out' && grep -q '$FCD1' '$T/v.out' && grep -qF '$SHADOW_DISK' '$T/v.out' && grep -q 'vols/vol-c.vmdk' '$T/v.out'"
check "the root disk was the one swapped (root-2g.vmdk)" sh -c "grep -q 'root-2g.vmdk' '$T/v.out'"
send "$U" "$(req r-2 resize_confirm "$U")"
check "(resize confirmed)" done_as r-2 succeeded
send "$U" "$(req m-1 migrate "$U" "\"destination\": {\"node\": \"$NODE\", \"host\": \"DC0_C0_H1\"}")"
check "a migrate with volumes attached succeeds" done_as m-1 succeeded
check "RelocateVM_Task named each volume's disk in a disk locator (3)" is "$(last RelocateVM_Task | grep -o '<disk><diskId>' | wc -l)" 3
check "the volumes are still attached" is "$(vols "$U" | wc -l)" 4

# --- two attaches of one volume to two instances at the same time ---
# (other instances run on other workers; the first's ReconfigVM_Task is
# held, its disk already on the VM but not recorded: without the volume's
# lock the second passed the VolumeInUse check and put the disk on both)
printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="vmfs"\nRW 2048 VMFS "vol-r-flat.vmdk"\n' >"$DS0/vols/vol-r.vmdk"
truncate -s 1M "$DS0/vols/vol-r-flat.vmdk"
V6=0b000000-0000-4000-8000-0000000000f6
CI_R="\"volume_id\": \"$V6\", \"connection_info\": {\"driver_volume_type\": \"vmdk\", \"data\": {\"volume\": \"[LocalDS_0] vols/vol-r.vmdk\"}}"
check "vcsim will hold the next ReconfigVM_Task" hold_next ReconfigVM_Task
send "$U" "$(req a-30 attach_volume "$U" "$CI_R")"
check "the first attach's ReconfigVM_Task runs (held)" until_ok 30 task_held ReconfigVM_Task
send "$U2" "$(req a-31 attach_volume "$U2" "$CI_R")"
check "the second attach, of the same volume to another instance, waits for the first" \
    wait_for "$T/agent.log" "volume $V6: another request on it is running: waiting for it" 30
check "(vcsim ends the held task)" is "$(ctl reset POST)" ok
check "the first succeeds" done_as a-30 succeeded
check "the second fails with VolumeInUse, naming the first's instance" failed_with a-31 VolumeInUse "volume $V6 is attached to instance $U"
check "the disk is on one VM only" is "$(vols "$U" | grep -c 'vols/vol-r.vmdk') $(vols "$U2" | grep -c 'vols/vol-r.vmdk')" "1 0"
check "one row for it" is "$(psql_v "SELECT instance_uuid FROM volume_attachments WHERE volume_id = '$V6'")" "$U"

# --- delete detaches the volumes first ---
send "$U" "$(req x-1 delete "$U")"
check "deleting the instance succeeds" done_as x-1 succeeded
check "the First Class Disk's file stays" sh -c "ls $DS0/fcd/$FCD1.vmdk >/dev/null"
check "the path volume's file stays" sh -c "ls $DS0/vols/vol-c.vmdk >/dev/null"
check "the shadow VM's disk stays on the shadow VM" sh -c "'$VI' -c '$T/agent.yaml' volumes $SHADOW | grep -qF '$SHADOW_DISK'"
check "the attachment rows are gone" is "$(psql_v "SELECT count(*) FROM volume_attachments WHERE instance_uuid = '$U'")" 0
send "$U2" "$(req a-20 attach_volume "$U2" "\"volume_id\": \"$V1\", $CI_FCD")"
check "the First Class Disk can be attached to another instance now" done_as a-20 succeeded
send "$V1" "$(vreq c-3 volume_delete "\"volume_id\": \"$V1\"")"
check "volume_delete of an attached volume fails with VolumeInUse" failed_with c-3 VolumeInUse "volume $V1 is attached to instance $U2"
send "$U2" "$(req d-3 detach_volume "$U2" "\"volume_id\": \"$V1\"")"
check "(detached)" done_as d-3 succeeded
send "$V1" "$(vreq c-4 volume_delete "\"volume_id\": \"$V1\"")"
check "volume_delete of a free volume succeeds" done_as c-4 succeeded
check "its file is gone" sh -c "! ls $DS0/fcd/$FCD1.vmdk 2>/dev/null"
check "its row says deleted" is "$(psql_v "SELECT deleted_at IS NOT NULL FROM volumes WHERE volume_id = '$V1'")" t
send "$V1" "$(vreq c-5 volume_delete "\"volume_id\": \"$V1\"")"
check "deleting it again fails with VolumeNotFound" failed_with c-5 VolumeNotFound "volume $V1 is not one volume_create made"

# --- kill -9 during volume_create's CreateDisk_Task ---
V5=0b000000-0000-4000-8000-0000000000f5
N_FCD=$(ls "$DS1/fcd" 2>/dev/null | grep -v -- '-flat\.vmdk' | grep -c '\.vmdk$')
check "vcsim will hold the next CreateDisk_Task" hold_next CreateDisk_Task
send "$V5" "$(vreq c-6 volume_create "\"volume_id\": \"$V5\", \"size_gb\": 1, \"datastore\": \"LocalDS_1\"")"
check "the create's CreateDisk_Task runs (held)" until_ok 30 task_held CreateDisk_Task
check "kill -9 the agent there, start it again" restart_after_kill 3
check "the create, run again, succeeds" done_as c-6 succeeded
check "one disk was made, not two" is "$(ls "$DS1/fcd" | grep -v -- '-flat\.vmdk' | grep -c '\.vmdk$')" "$((N_FCD + 1))"
check "the one its event names" sh -c "ls $DS1/fcd/$(event c-6 succeeded volume.id).vmdk >/dev/null"

# --- what /metrics says, as Prometheus reads it ---
check "vcagent_ready says ready, as /readyz does" until_ok 30 sh -c "curl -s '$(url)/readyz' | grep -qx ready && curl -s '$(url)/metrics' | grep -qx 'vcagent_ready 1'"
curl -s "$(url)/metrics" >"$T/metrics"
check "promtool check metrics accepts /metrics" sh -c "promtool check metrics <'$T/metrics' >'$T/promtool' 2>&1"
check "the purge failures are counted (none)" grep -qx 'vcagent_imagecache_purge_failures_total 0' "$T/metrics"
check "the volume requests are counted by type and outcome (since the last start)" grep -qx 'vcagent_requests_total{type="volume_create",outcome="succeeded"} 1' "$T/metrics"

# --- placement by policy switched off by a reload ---
agent_yaml agent-v it-volume "  pbm_enabled: false"
kill -HUP "$AGENT_PID"
check "the reload applies pbm_enabled and pbm_default_policy" wait_for "$T/agent.log" "applied: vmware.pbm_enabled, vmware.pbm_default_policy" 30
send "$U4" "$(req p-8 spawn "$U4" "$(spawn_json "$U4" '"vmware:storage_policy": "gold"')")"
check "a flavor's policy with pbm_enabled off fails with PbmDisabled" failed_with p-8 PbmDisabled 'placement by storage policy is off (vmware.pbm_enabled)'

tap_done
