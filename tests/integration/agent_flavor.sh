#!/bin/bash
# agent_flavor.sh - a flavor's extra specs (nova's names), through Kafka
# against vcsim, Glance, PostgreSQL and Kafka:
#  - quota:cpu_* and quota:memory_* become the VM's cpuAllocation and
#    memoryAllocation, quota:disk_io_* its root disk's storageIOAllocation (nova's defaults for what is not given: no limit, no
#    reservation, normal shares), hw:cores_per_socket its
#    numCoresPerSocket, vmware:hw_version its version; read back from
#    vCenter (vcagent-vi info);
#  - a resize applies the new flavor's specs;
#  - a bad value is refused before anything is created, the spec named;
#  - keys of other drivers are left alone;
#  - VNC consoles (vnc.enabled): each instance a port of the range, in the
#    VM's RemoteDisplay.vnc.* extraConfig as CreateVM_Task sent it;
#    get_console names the host and the port; a full range fails the spawn
#    (ConsolePortRangeExhausted) and a delete frees its port; a reload
#    moves the range and the key map, or turns VNC off, for the spawns
#    that follow.
. "$(dirname "$0")/tap.sh"
set -u
LOG_TAIL=200
. "$(dirname "$0")/agent_lib.sh"
agent_lib_init flavor
AGENT_PID=
agent_peers 2 vcsim glance pg

IMG=$(bash "$PEERS/glance.sh" image "$T" 524288)
agent_yaml agent-f it-flavor "  vnc_port: 5950
  vnc_port_total: 2" "vnc:
  enabled: true"
VI=${VCAGENT%/vcagent}/vcagent-vi

uuid() { printf '5f000000-0000-4000-8000-%012d' "$1"; }
spawn() {	# spawn ID N VCPUS EXTRA_SPECS_JSON
	send "$(uuid "$2")" "{\"version\": 1, \"request_id\": \"$1\", \"type\": \"spawn\", \"node\": \"$NODE\", \"instance\": {\"uuid\": \"$(uuid "$2")\", \"name\": \"f$2\"}, \"flavor\": {\"vcpus\": $3, \"memory_mb\": 256, \"root_gb\": 0, \"extra_specs\": $4}, \"image_id\": \"$IMG\"}"
}
info() {	# info N: vCenter's view of instance N's VM, "path<TAB>value" lines
	"$VI" -c "$T/agent.yaml" info "$(uuid "$1")" 2>>"$T/vi.err"
}
prop() { info "$1" | awk -F'\t' -v p="$2" '$1 == p { print $2 }'; }

start_agent
check "the agent joins the group" wait_for "$T/agent.log" "kafka: assigned 2 partition(s)" 30
NODE=$(sed -n 's/.*cluster "DC0_C0": .* node \([^ ]*\)$/\1/p' "$T/agent.log" | head -1)

spawn f-1 1 4 '{"quota:cpu_limit": "2000", "quota:cpu_reservation": "500", "quota:cpu_shares_level": "custom", "quota:cpu_shares_share": "1500", "quota:memory_reservation": 128, "quota:memory_shares_level": "high", "hw:cores_per_socket": "2", "vmware:hw_version": "vmx-11", "quota:disk_io_limit": "500", "quota:disk_io_shares_level": "high", "hw:cpu_policy": "dedicated", "aggregate_instance_extra_specs:ssd": "true"}'
check "a spawn with extra specs succeeds (other drivers' keys left alone)" done_as f-1 succeeded
last_create() { curl -s --cacert "$VCSIM_CA_FILE" "$VCSIM_CTL/last?method=CreateVM_Task"; }
io_alloc() {	# the root disk's storageIOAllocation as CreateVM_Task sent it
	last_create | python3 -c 'import re, sys; m = re.search(r"<storageIOAllocation>(.*?)</storageIOAllocation>", sys.stdin.read()); print(re.sub(r" xsi:type=\"[^\"]*\"", "", m.group(1)) if m else "")'
}
check "the root disk's storageIOAllocation: limit 500 IOPS, high shares, no reservation" test "$(io_alloc)" = "<limit>500</limit><shares><shares>0</shares><level>high</level></shares><reservation>0</reservation>"
check "CreateVM_Task sent RemoteDisplay.vnc.port 5950, enabled, with the key map" sh -c "last=\$(curl -s --cacert '$VCSIM_CA_FILE' '$VCSIM_CTL/last?method=CreateVM_Task'); echo \"\$last\" | grep -q '<key>RemoteDisplay.vnc.port</key><value xsi:type=\"xsd:string\">5950</value>' && echo \"\$last\" | grep -q '<key>RemoteDisplay.vnc.enabled</key><value xsi:type=\"xsd:string\">true</value>' && echo \"\$last\" | grep -q '<key>RemoteDisplay.vnc.keyMap</key><value xsi:type=\"xsd:string\">en-us</value>'"
info 1 >"$T/info1"
check "vcagent-vi info reads the VM" test "$(prop 1 config.hardware.numCPU)" = 4
check "cpuAllocation: limit 2000, reservation 500, custom shares 1500" test "$(prop 1 config.cpuAllocation.limit) $(prop 1 config.cpuAllocation.reservation) $(prop 1 config.cpuAllocation.shares.level) $(prop 1 config.cpuAllocation.shares.shares)" = "2000 500 custom 1500"
check "memoryAllocation: no limit (-1), reservation 128, high shares" test "$(prop 1 config.memoryAllocation.limit) $(prop 1 config.memoryAllocation.reservation) $(prop 1 config.memoryAllocation.shares.level)" = "-1 128 high"
check "2 cores per socket" test "$(prop 1 config.hardware.numCoresPerSocket)" = 2
check "hardware version vmx-11 (vcsim's own default is vmx-13)" test "$(prop 1 config.version)" = vmx-11

# --- resize: the new flavor's specs ---
send "$(uuid 1)" "{\"version\": 1, \"request_id\": \"f-resize\", \"type\": \"resize\", \"node\": \"$NODE\", \"instance\": {\"uuid\": \"$(uuid 1)\"}, \"flavor\": {\"vcpus\": 6, \"memory_mb\": 512, \"root_gb\": 0, \"extra_specs\": {\"quota:cpu_limit\": \"3000\", \"quota:cpu_shares_level\": \"low\", \"hw:cores_per_socket\": \"3\"}}}"
check "a resize with extra specs succeeds" done_as f-resize succeeded
check "the new cpu limit and level, no reservation (nova's default)" test "$(prop 1 config.cpuAllocation.limit) $(prop 1 config.cpuAllocation.reservation) $(prop 1 config.cpuAllocation.shares.level)" = "3000 0 low"
check "6 vCPUs, 3 cores per socket" test "$(prop 1 config.hardware.numCPU)/$(prop 1 config.hardware.numCoresPerSocket)" = 6/3

# --- bad values: refused before anything is created, the spec named ---
spawn f-bad1 2 2 '{"quota:cpu_shares_level": "medium"}'
spawn f-bad2 3 4 '{"hw:cores_per_socket": "3"}'
spawn f-bad3 4 2 '{"quota:memory_limit": "lots"}'
spawn f-bad4 5 2 '{"vmware:hw_version": "13"}'
spawn f-bad5 6 2 '{"quota:cpu_shares_level": "high", "quota:cpu_shares_share": "100"}'
spawn f-bad6 7 2 '["quota:cpu_limit"]'
spawn f-bad7 10 2 '{"quota:disk_io_shares_share": "100"}'
check "an unknown shares level is refused, named" until_ok 30 rejected_with f-bad1 'flavor.extra_specs \"quota:cpu_shares_level\": \"medium\" is not custom, high, normal or low'
check "cores per socket that do not divide the vCPUs" until_ok 30 rejected_with f-bad2 'flavor.extra_specs \"hw:cores_per_socket\": \"3\" is not an integer that divides the vCPUs'
check "a limit that is not a number" until_ok 30 rejected_with f-bad3 'flavor.extra_specs \"quota:memory_limit\": \"lots\" is not an integer of MB'
check "a hardware version not in vmx-NN form" until_ok 30 rejected_with f-bad4 'flavor.extra_specs \"vmware:hw_version\": \"13\" is not vmx-NN'
check "a share without the custom level" until_ok 30 rejected_with f-bad5 'needs \"quota:cpu_shares_level\": \"custom\"'
check "extra_specs that is not an object" until_ok 30 rejected_with f-bad6 'flavor.extra_specs must be an object'
check "a disk I/O share without the custom level" until_ok 30 rejected_with f-bad7 'needs \"quota:disk_io_shares_level\": \"custom\" (it is unset)'
created() { "$VI" -c "$T/agent.yaml" find "$(uuid "$1")" >/dev/null 2>&1; }
made=0
for n in 2 3 4 5 6 7 10; do created "$n" && made=$((made + 1)); done
check "no VM was made for any of them ($made)" test "$made" = 0
check "and no instance row" test "$(psql_v "SELECT count(*) FROM instances WHERE name LIKE 'f_' AND name <> 'f1'")" = 0

# --- VNC consoles: a range of 2 ports ---
event_field() {	# event_field ID EVENT KEY
	results
	python3 -c '
import json, sys
for line in open(sys.argv[1]):
    try: e = json.loads(line)
    except ValueError: continue
    if e.get("request_id") == sys.argv[2] and e.get("event") == sys.argv[3]:
        v = e
        for k in sys.argv[4].split("."): v = v.get(k) if isinstance(v, dict) else None
        print("" if v is None else v); break' "$T/results" "$@"
}
send "$(uuid 1)" "{\"version\": 1, \"request_id\": \"f-con1\", \"type\": \"get_console\", \"node\": \"$NODE\", \"instance\": {\"uuid\": \"$(uuid 1)\"}}"
check "get_console succeeds" done_as f-con1 succeeded
check "it names a host of the cluster and port 5950" test "$(event_field f-con1 succeeded console.type) $(event_field f-con1 succeeded console.port)" = "vnc 5950" -a -n "$(event_field f-con1 succeeded console.host | grep '^DC0_C0_H')"
spawn f-8 8 1 '{}'
check "a second instance gets the other port" done_as f-8 succeeded
check "5951" test "$(psql_v "SELECT vnc_port FROM instances WHERE name = 'f8'")" = 5951
spawn f-9 9 1 '{}'
check "a third finds the range full and fails" done_as f-9 failed
check "with ConsolePortRangeExhausted naming the options" sh -c "grep -F '\"f-9\"' '$T/results' | grep -F ConsolePortRangeExhausted | grep -qF 'no free VNC port in 5950-5951 (vmware.vnc_port, vmware.vnc_port_total)'"
send "$(uuid 8)" "{\"version\": 1, \"request_id\": \"f-del8\", \"type\": \"delete\", \"node\": \"$NODE\", \"instance\": {\"uuid\": \"$(uuid 8)\"}}"
check "the second is deleted" done_as f-del8 succeeded
spawn f-9b 9 1 '{}'
check "the third, sent again, takes the freed port" done_as f-9b succeeded
check "5951 again" test "$(psql_v "SELECT vnc_port FROM instances WHERE name = 'f9' AND deleted_at IS NULL")" = 5951
send "$(uuid 1)" "{\"version\": 1, \"request_id\": \"f-con-bad\", \"type\": \"get_console\", \"node\": \"$NODE\", \"instance\": {\"uuid\": \"$(uuid 1)\"}, \"console_type\": \"spice\"}"
check "a console type other than vnc is refused" until_ok 30 rejected_with f-con-bad 'console_type must be \"vnc\"'

# --- a reload moves the range and the key map for the spawns that follow ---
agent_yaml agent-f it-flavor "  vnc_port: 6100
  vnc_port_total: 5
  vnc_keymap: de" "vnc:
  enabled: true"
kill -HUP "$AGENT_PID"
check "the reload applies the VNC options" wait_for "$T/agent.log" "applied: vmware.vnc_port, vmware.vnc_port_total, vmware.vnc_keymap" 30
spawn f-12 12 1 '{}'
check "a spawn after it succeeds" done_as f-12 succeeded
check "its port is the new range's first, 6100" test "$(psql_v "SELECT vnc_port FROM instances WHERE name = 'f12'")" = 6100
check "with the new key map on the wire" sh -c "curl -s --cacert '$VCSIM_CA_FILE' '$VCSIM_CTL/last?method=CreateVM_Task' | grep -q '<key>RemoteDisplay.vnc.keyMap</key><value xsi:type=\"xsd:string\">de</value>'"
agent_yaml agent-f it-flavor "  vnc_port: 6100"
kill -HUP "$AGENT_PID"
check "a reload turns VNC off" wait_for "$T/agent.log" "vnc.enabled" 30
spawn f-13 13 1 '{}'
check "a spawn after it succeeds" done_as f-13 succeeded
check "without a port" test -z "$(psql_v "SELECT vnc_port FROM instances WHERE name = 'f13'")"
check "or RemoteDisplay.vnc.* on the wire" sh -c "! curl -s --cacert '$VCSIM_CA_FILE' '$VCSIM_CTL/last?method=CreateVM_Task' | grep -q 'RemoteDisplay.vnc'"

kill -TERM "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=
tap_done
