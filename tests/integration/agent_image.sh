#!/bin/bash
# agent_image.sh - a spawn's image properties and the flavor specs that go
# with them (nova's names), through Kafka against vcsim, Glance, PostgreSQL
# and Kafka:
#  - vmware_ostype becomes the VM's guestId, checked first against the
#    guest ids the cluster's hosts know (QueryConfigOptionEx): an unknown
#    one fails with InvalidGuestId before anything is made;
#  - hw_firmware_type uefi the VM's firmware, os_secure_boot its
#    bootOptions.efiSecureBootEnabled, hw:boot_menu / hw_boot_menu its
#    bootOptions.bootDelay, hw_video_ram (within hw_video:ram_max_mb) a
#    video card, hw_vif_model the NICs' type, quota:vif_* each NIC's
#    resourceAllocation, vmware_adaptertype the root disk's controller: as
#    CreateVM_Task sent them, and read back from vCenter (vcagent-vi info);
#    an attach_interface later takes the NIC model and quota:vif_* from the
#    instance row, as nova takes them from the instance;
#  - a guest that cannot boot the firmware or secure boot asked for fails
#    with FirmwareUnsupported / SecureBootUnsupported, nothing made (the
#    launcher gives vcsim's GuestOsDescriptors vCenter's firmware facts);
#  - bad values and bad combinations are refused at intake, named;
#  - vmware.serial_port_service_uri / _proxy_uri: a serial port with that
#    URI backing on each new VM; a reload (SIGHUP) changes or removes it
#    for the spawns that follow, as it does DEFAULT.force_config_drive;
#  - config drives: an ISO 9660 "config-2" next to the VM, attached as a
#    CD-ROM, read back with isoinfo: meta_data.json (uuid, name, metadata,
#    the key pair), user_data byte for byte, network_data.json (the NIC's
#    MAC and port), vendor_data.json; gone with the VM; user data without
#    a config drive fails (ConfigDriveRequired); bad boot data is refused;
#    an agent killed (-9) while the drive's ReconfigVM_Task runs: the spawn,
#    run again, finds the drive attached and does not attach it twice.
. "$(dirname "$0")/tap.sh"
set -u
LOG_TAIL=200
. "$(dirname "$0")/agent_lib.sh"
agent_lib_init image
AGENT_PID=
agent_peers 2 vcsim glance pg

IMG=$(bash "$PEERS/glance.sh" image "$T" 524288)
agent_yaml agent-i it-image "  serial_port_service_uri: vspc://vspc.example:13370
  serial_port_proxy_uri: telnets://vspc-proxy.example:13371"
VI=${VCAGENT%/vcagent}/vcagent-vi
DS="$T/vcsim/tmp/govcsim-DC0-LocalDS_0-*"	# where vcsim keeps LocalDS_0 (a glob)

has_text() {	# has_text ID EVENT TEXT: the final event is EVENT and carries TEXT
	done_as "$1" "$2" && grep -F "\"request_id\":\"$1\"" "$T/results" | grep -F "\"event\":\"$2\"" | grep -qF -- "$3"
}
uuid() { printf '5e000000-0000-4000-8000-%012d' "$1"; }
spawn() {	# spawn ID N EXTRA_SPECS_JSON IMAGE_PROPERTIES_JSON
	send "$(uuid "$2")" "{\"version\": 1, \"request_id\": \"$1\", \"type\": \"spawn\", \"node\": \"$NODE\", \"instance\": {\"uuid\": \"$(uuid "$2")\", \"name\": \"i$2\"}, \"flavor\": {\"vcpus\": 2, \"memory_mb\": 256, \"root_gb\": 0, \"extra_specs\": $3}, \"image_id\": \"$IMG\", \"image_properties\": $4, \"ports\": [{\"network\": \"VM Network\"}]}"
}
info() { "$VI" -c "$T/agent.yaml" info "$(uuid "$1")" 2>>"$T/vi.err"; }
prop() { info "$1" | awk -F'\t' -v p="$2" '$1 == p { print $2 }'; }
created() { "$VI" -c "$T/agent.yaml" find "$(uuid "$1")" >/dev/null 2>&1; }
last_create() { curl -s --cacert "$VCSIM_CA_FILE" "$VCSIM_CTL/last?method=CreateVM_Task"; }
wire() {	# wire ELEMENT: its first occurrence in the last CreateVM_Task, xsi:types dropped
	last_create | python3 -c 'import re, sys; m = re.search(r"<%s>(.*?)</%s>" % (sys.argv[1], sys.argv[1]), sys.stdin.read(), re.S); print(re.sub(r" xsi:type=\"[^\"]*\"", "", m.group(1)) if m else "")' "$1"
}
nic_type() { last_create | grep -oE '<device xsi:type="Virtual[A-Za-z0-9]*"><key>-300<' | grep -oE 'Virtual[A-Za-z0-9]*'; }
ctl_type() { last_create | grep -oE '<device xsi:type="[A-Za-z]*(Controller)"' | head -1 | grep -oE '"[A-Za-z]*"' | tr -d '"'; }

start_agent
check "the agent joins the group" wait_for "$T/agent.log" "kafka: assigned 2 partition(s)" 30
NODE=$(sed -n 's/.*cluster "DC0_C0": .* node \([^ ]*\)$/\1/p' "$T/agent.log" | head -1)

# --- every property at once ---
spawn i-1 1 '{"hw_video:ram_max_mb": "32", "hw:boot_menu": "true", "quota:vif_limit": "100", "quota:vif_reservation": "10", "quota:vif_shares_level": "custom", "quota:vif_shares_share": "40"}' \
	'{"vmware_ostype": "ubuntu64Guest", "hw_firmware_type": "uefi", "os_secure_boot": "required", "hw_video_ram": 16, "hw_vif_model": "vmxnet3", "vmware_adaptertype": "paraVirtual", "hw_qemu_guest_agent": "yes"}'
check "a spawn with image properties succeeds (other drivers' properties left alone)" done_as i-1 succeeded
check "CreateVM_Task: guestId ubuntu64Guest" is "$(wire guestId)" ubuntu64Guest
check "CreateVM_Task: firmware efi" is "$(wire firmware)" efi
check "CreateVM_Task: a boot delay for the boot menu and secure boot on" is "$(wire bootOptions)" "<bootDelay>5000</bootDelay><efiSecureBootEnabled>true</efiSecureBootEnabled>"
check "CreateVM_Task: a video card of 16 MB" is "$(wire videoRamSizeInKB)" 16384
check "CreateVM_Task: the NIC is a VirtualVmxnet3" is "$(nic_type)" VirtualVmxnet3
check "CreateVM_Task: the NIC's resourceAllocation (reservation 10, custom shares 40, limit 100 Mbit/s)" is "$(wire resourceAllocation)" "<reservation>10</reservation><share><shares>40</shares><level>custom</level></share><limit>100</limit>"
check "CreateVM_Task: the root disk on a ParaVirtualSCSIController" is "$(ctl_type)" ParaVirtualSCSIController
check "vCenter has the VM with guestId ubuntu64Guest and efi firmware" is "$(prop 1 config.guestId) $(prop 1 config.firmware)" "ubuntu64Guest efi"
send "$(uuid 1)" "{\"version\": 1, \"request_id\": \"i-att\", \"type\": \"attach_interface\", \"node\": \"$NODE\", \"instance\": {\"uuid\": \"$(uuid 1)\"}, \"port\": {\"id\": \"9a8b7c6d-0000-4000-8000-0000000000a1\", \"network\": \"VM Network\"}}"
check "attach_interface on it succeeds" done_as i-att succeeded
last_reconfig() { curl -s --cacert "$VCSIM_CA_FILE" "$VCSIM_CTL/last?method=ReconfigVM_Task"; }
check "the new NIC is the image's model (VirtualVmxnet3), from the instance row" sh -c "curl -s --cacert '$VCSIM_CA_FILE' '$VCSIM_CTL/last?method=ReconfigVM_Task' | grep -q '<device xsi:type=\"VirtualVmxnet3\">'"
check "with the flavor's quota:vif_* as its resourceAllocation" is "$(last_reconfig | python3 -c 'import re, sys; m = re.search(r"<resourceAllocation>(.*?)</resourceAllocation>", sys.stdin.read()); print(re.sub(r" xsi:type=\"[^\"]*\"", "", m.group(1)) if m else "")')" "<reservation>10</reservation><share><shares>40</shares><level>custom</level></share><limit>100</limit>"

serial() {	# the serial port's backing as the last CreateVM_Task sent it
	last_create | python3 -c 'import re, sys; m = re.search(r"<device xsi:type=\"VirtualSerialPort\">.*?</device>", sys.stdin.read(), re.S); print(re.sub(r" xsi:type=\"[^\"]*\"", "", re.search(r"<backing[^>]*>.*?</backing>", m.group(0)).group(0)) + "|" + ("yield" if "<yieldOnPoll>true</yieldOnPoll>" in m.group(0) else "") if m else "")'
}
check "CreateVM_Task: a serial port to the concentrator, through the proxy, the VM the server end" is "$(serial)" "<backing><serviceURI>vspc://vspc.example:13370</serviceURI><direction>server</direction><proxyURI>telnets://vspc-proxy.example:13371</proxyURI></backing>|yield"

# --- defaults: nothing asked, nothing sent ---
spawn i-2 2 '{}' '{}'
check "a spawn with no image properties succeeds" done_as i-2 succeeded
check "CreateVM_Task: guestId otherGuest64, no firmware, no bootOptions, no video card" is "$(wire guestId)|$(wire firmware)|$(wire bootOptions)|$(wire videoRamSizeInKB)" "otherGuest64|||"
check "CreateVM_Task: the NIC is nova's default, a VirtualE1000, with no resourceAllocation" is "$(nic_type)|$(wire resourceAllocation)" "VirtualE1000|"
spawn i-3 3 '{"hw:boot_menu": "false"}' '{"hw_boot_menu": true, "os_secure_boot": "optional", "hw_firmware_type": "uefi", "vmware_ostype": "windows9_64Guest"}'
check "optional secure boot with uefi, the boot menu off by the flavor" done_as i-3 succeeded
check "the flavor's hw:boot_menu wins over the image's; optional secure boot on" is "$(wire bootOptions)" "<efiSecureBootEnabled>true</efiSecureBootEnabled>"
spawn i-4 4 '{}' '{"os_secure_boot": "optional", "hw_firmware_type": "uefi", "vmware_ostype": "freebsd64Guest"}'
check "optional secure boot for a guest that does not support it" done_as i-4 succeeded
check "stays off (efiSecureBootEnabled false)" is "$(wire bootOptions)|$(wire guestId)" "<efiSecureBootEnabled>false</efiSecureBootEnabled>|freebsd64Guest"

# --- what vCenter refuses: failed, nothing made ---
spawn i-5 5 '{}' '{"vmware_ostype": "windows3000Guest"}'
check "an unknown guest id fails with InvalidGuestId, naming it and the cluster" has_text i-5 failed '"fault":"InvalidGuestId"'
check "the message names the id and the cluster" has_text i-5 failed 'guest id \"windows3000Guest\" is not one the hosts of cluster DC0_C0 know'
spawn i-6 6 '{}' '{"vmware_ostype": "winXPProGuest", "hw_firmware_type": "uefi"}'
check "uefi for a BIOS-only guest fails with FirmwareUnsupported" has_text i-6 failed '"fault":"FirmwareUnsupported"'
spawn i-7 7 '{}' '{"vmware_ostype": "freebsd64Guest", "hw_firmware_type": "uefi", "os_secure_boot": "required"}'
check "required secure boot for a guest without it fails with SecureBootUnsupported" has_text i-7 failed '"fault":"SecureBootUnsupported"'
calls() { curl -s --cacert "$VCSIM_CA_FILE" "$VCSIM_CTL/calls?method=$1"; }
check "a valid guest id is asked about once (freebsd64Guest twice: 5 calls for 6 ids)" is "$(calls QueryConfigOptionEx)" 5
made=0
for n in 5 6 7; do created "$n" && made=$((made + 1)); done
check "no VM was made for any of them ($made)" test "$made" = 0

# --- refused at intake, named ---
spawn i-b1 11 '{}' '{"hw_video_ram": 64}'
spawn i-b2 12 '{"hw_video:ram_max_mb": "32"}' '{"hw_video_ram": 64}'
spawn i-b3 13 '{}' '{"hw_firmware_type": "bios", "os_secure_boot": "required"}'
spawn i-b4 14 '{"vmware:hw_version": "vmx-11"}' '{"hw_firmware_type": "uefi", "os_secure_boot": "required"}'
spawn i-b5 15 '{}' '{"hw_vif_model": "rtl8139"}'
spawn i-b6 16 '{"quota:vif_limit": "100"}' '{"hw_vif_model": "sriov"}'
spawn i-b7 17 '{"hw:boot_menu": "maybe"}' '{}'
spawn i-b8 18 '{}' '{"vmware_ostype": "ubuntu64Guest</guestId><x>"}'
spawn i-b9 19 '{}' '{"hw_firmware_type": "efi"}'
spawn i-b10 20 '{"quota:vif_shares_share": "5"}' '{}'
spawn i-b11 21 '{}' '["vmware_ostype"]'
spawn i-b12 22 '{}' '{"vmware_adaptertype": "nvme"}'
check "video RAM over the flavor's default maximum (0)" until_ok 30 rejected_with i-b1 'image_properties \"hw_video_ram\": 64 MB is more than the flavor allows (\"hw_video:ram_max_mb\": 0)'
check "video RAM over the flavor's maximum" until_ok 30 rejected_with i-b2 '(\"hw_video:ram_max_mb\": 32)'
check "required secure boot with BIOS firmware" until_ok 30 rejected_with i-b3 '\"os_secure_boot\": \"required\" needs \"hw_firmware_type\": \"uefi\" (it is bios)'
check "required secure boot below vmx-13" until_ok 30 rejected_with i-b4 'needs virtual hardware vmx-13 or later (the flavor'\''s \"vmware:hw_version\" is vmx-11)'
check "an unknown NIC model" until_ok 30 rejected_with i-b5 'image_properties \"hw_vif_model\": \"rtl8139\" is not e1000'
check "quota:vif_* on SR-IOV NICs" until_ok 30 rejected_with i-b6 'cannot apply to SR-IOV NICs'
check "a boot menu that is not a boolean" until_ok 30 rejected_with i-b7 'flavor.extra_specs \"hw:boot_menu\": \"maybe\" is not true or false'
check "a guest id with markup in it" until_ok 30 rejected_with i-b8 'image_properties \"vmware_ostype\"'
check "firmware named as vSphere names it, not as nova does" until_ok 30 rejected_with i-b9 'image_properties \"hw_firmware_type\": \"efi\" is not bios or uefi'
check "a NIC share without the custom level" until_ok 30 rejected_with i-b10 'needs \"quota:vif_shares_level\": \"custom\"'
check "image_properties that is not an object" until_ok 30 rejected_with i-b11 'image_properties must be an object'
check "an unknown adapter type" until_ok 30 rejected_with i-b12 'image_properties \"vmware_adaptertype\": \"nvme\" is not'
made=0
for n in 11 12 13 14 15 16 17 18 19 20 21 22; do created "$n" && made=$((made + 1)); done
check "nothing was made for any of them ($made)" test "$made" = 0
check "and no instance row" test "$(psql_v "SELECT count(*) FROM instances WHERE name IN ('i11','i12','i13','i14','i15','i16','i17','i18','i19','i20','i21','i22')")" = 0

# --- config drives ---
UD='#cloud-config
hostname: from-user-data
'"$(printf '\001\002\377')"
UD64=$(printf '%s' "$UD" | base64 -w0)
send "$(uuid 40)" "{\"version\": 1, \"request_id\": \"i-cd\", \"type\": \"spawn\", \"node\": \"$NODE\", \"instance\": {\"uuid\": \"$(uuid 40)\", \"name\": \"web-40\"}, \"flavor\": {\"vcpus\": 1, \"memory_mb\": 256, \"root_gb\": 0}, \"image_id\": \"$IMG\", \"ports\": [{\"id\": \"7d5c0b1e-0000-4000-8000-000000000040\", \"network\": \"VM Network\", \"mac\": \"fa:16:3e:00:00:40\"}], \"config_drive\": true, \"user_data\": \"$UD64\", \"metadata\": {\"owner\": \"team-a\"}, \"key_pair\": {\"name\": \"k1\", \"public_key\": \"ssh-ed25519 AAAAC3Nza k1@example\"}, \"vendor_data\": {\"v\": 1}}"
check "a spawn with a config drive succeeds" done_as i-cd succeeded
ISO=$(ls $DS/"$(uuid 40)"/configdrive.iso 2>/dev/null)
check "its ISO is in the VM's folder" test -n "$ISO"
iso() { isoinfo -i "$ISO" -R -x "$1" 2>/dev/null; }
jq_() { python3 -c 'import json, sys; d = json.load(sys.stdin); [d := d[int(k)] if isinstance(d, list) else d[k] for k in sys.argv[1].split(".")]; print(d if isinstance(d, str) else json.dumps(d, sort_keys=True))' "$1"; }
check "volume id config-2, Rock Ridge and Joliet" sh -c "isoinfo -d -i '$ISO' | grep -q '^Volume id: config-2' && isoinfo -d -i '$ISO' | grep -q 'Rock Ridge signatures version' && isoinfo -d -i '$ISO' | grep -q 'Joliet with UCS level'"
check "meta_data.json: the uuid, name and metadata" is "$(iso /openstack/latest/meta_data.json | jq_ uuid) $(iso /openstack/latest/meta_data.json | jq_ name) $(iso /openstack/latest/meta_data.json | jq_ meta.owner)" "$(uuid 40) web-40 team-a"
check "meta_data.json: the key pair" is "$(iso /openstack/latest/meta_data.json | jq_ public_keys.k1)" "ssh-ed25519 AAAAC3Nza k1@example"
check "user_data, byte for byte" is "$(iso /openstack/latest/user_data | base64 -w0)" "$UD64"
check "network_data.json: the NIC's MAC and port" is "$(iso /openstack/latest/network_data.json | jq_ links.0.ethernet_mac_address) $(iso /openstack/latest/network_data.json | jq_ links.0.vif_id) $(iso /openstack/latest/network_data.json | jq_ networks.0.type)" "fa:16:3e:00:00:40 7d5c0b1e-0000-4000-8000-000000000040 ipv4_dhcp"
check "vendor_data.json" is "$(iso /openstack/latest/vendor_data.json)" '{"v":1}'
check "the ISO is attached as a CD-ROM on an IDE controller, connected at power-on" sh -c "curl -s --cacert '$VCSIM_CA_FILE' '$VCSIM_CTL/last?method=ReconfigVM_Task' | grep -q '<device xsi:type=\"VirtualCdrom\"><key>-1</key><backing xsi:type=\"VirtualCdromIsoBackingInfo\"><fileName>\[LocalDS_0\] $(uuid 40)/configdrive.iso</fileName></backing><connectable><startConnected>true</startConnected>'"
check "the VM is on" is "$(prop 40 runtime.powerState)" poweredOn
send "$(uuid 40)" "{\"version\": 1, \"request_id\": \"i-cd-del\", \"type\": \"delete\", \"node\": \"$NODE\", \"instance\": {\"uuid\": \"$(uuid 40)\"}}"
check "its delete succeeds" done_as i-cd-del succeeded
check "and the ISO went with the VM's folder" sh -c "! ls $DS/$(uuid 40)/configdrive.iso 2>/dev/null"
# a kill -9 while the drive is being attached
check "ReconfigVM_Task is made slow" hold_next ReconfigVM_Task
before=$(calls ReconfigVM_Task)
send "$(uuid 48)" "{\"version\": 1, \"request_id\": \"i-cd-crash\", \"type\": \"spawn\", \"node\": \"$NODE\", \"instance\": {\"uuid\": \"$(uuid 48)\", \"name\": \"i48\"}, \"flavor\": {\"vcpus\": 1, \"memory_mb\": 256, \"root_gb\": 0}, \"image_id\": \"$IMG\", \"config_drive\": true}"
check "the drive's ReconfigVM_Task is running" until_ok 30 task_held ReconfigVM_Task
check "the agent is back" restart_after_kill 2
check "the restarted agent finishes the spawn" done_as i-cd-crash succeeded
check "one final event" test "$(grep -F '"i-cd-crash"' "$T/results" | grep -cE '"event":"(succeeded|failed)"')" = 1
check "the drive was attached once: one ReconfigVM_Task in all" is "$(( $(calls ReconfigVM_Task) - before ))" 1
check "the VM is on" is "$(prop 48 runtime.powerState)" poweredOn

spawn_ud() {	# spawn_ud ID N EXTRA_MEMBERS
	send "$(uuid "$2")" "{\"version\": 1, \"request_id\": \"$1\", \"type\": \"spawn\", \"node\": \"$NODE\", \"instance\": {\"uuid\": \"$(uuid "$2")\", \"name\": \"i$2\"}, \"flavor\": {\"vcpus\": 1, \"memory_mb\": 256, \"root_gb\": 0}, \"image_id\": \"$IMG\", $3}"
}
spawn_ud i-ud 41 "\"user_data\": \"$UD64\""
check "user data without a config drive fails" done_as i-ud failed
check "named" is "$(event i-ud failed error.fault)" ConfigDriveRequired
check "and nothing was made" sh -c "! '$VI' -c '$T/agent.yaml' find '$(uuid 41)' >/dev/null 2>&1"
spawn_ud i-ud-b1 42 '"config_drive": true, "user_data": "not base64!"'
spawn_ud i-ud-b2 43 "\"config_drive\": true, \"user_data\": \"$(head -c 50000 /dev/zero | base64 -w0)\""
spawn_ud i-ud-b3 44 "\"metadata\": {\"k\": \"$(printf 'v%.0s' $(seq 256))\"}"
spawn_ud i-ud-b4 45 '"key_pair": {"name": "k"}'
spawn_ud i-ud-b5 46 '"config_drive": "yes"'
spawn_ud i-ud-b6 47 '"vendor_data": [1]'
check "user data that is not base64" until_ok 30 rejected_with i-ud-b1 'user_data must be base64, at most 65535 characters (it is 11)'
check "user data over nova's 65535 characters" until_ok 30 rejected_with i-ud-b2 'user_data must be base64, at most 65535 characters (it is 66668)'
check "a metadata value over 255 characters" until_ok 30 rejected_with i-ud-b3 'metadata \"k\": keys and values are strings of at most 255 characters'
check "a key pair without its key" until_ok 30 rejected_with i-ud-b4 'key_pair must be {\"name\": 1-255 characters, \"public_key\": 1-16384 characters}'
check "config_drive that is not a boolean" until_ok 30 rejected_with i-ud-b5 'config_drive must be true or false'
check "vendor_data that is not an object" until_ok 30 rejected_with i-ud-b6 'vendor_data must be an object'

# --- a reload changes the serial port of the spawns that follow, then removes it ---
agent_yaml agent-i it-image "  serial_port_service_uri: telnet://console.example:7000"
sed -i 's/^DEFAULT:$/DEFAULT:\n  force_config_drive: true/' "$T/agent.yaml"
kill -HUP "$AGENT_PID"
check "the reload applies the serial port options and force_config_drive" wait_for "$T/agent.log" "applied: DEFAULT.force_config_drive, vmware.serial_port_service_uri, vmware.serial_port_proxy_uri" 30
spawn i-30 30 '{}' '{}'
check "a spawn after the reload succeeds" done_as i-30 succeeded
check "its serial port goes to the new URI, with no proxy" is "$(serial)" "<backing><serviceURI>telnet://console.example:7000</serviceURI><direction>server</direction></backing>|yield"
check "and it has a config drive it did not ask for" sh -c "ls $DS/$(uuid 30)/configdrive.iso"
agent_yaml agent-i it-image
kill -HUP "$AGENT_PID"
check "a second reload removes them" wait_count "$T/agent.log" "applied: DEFAULT.force_config_drive, vmware.serial_port_service_uri" 2
spawn i-31 31 '{}' '{}'
check "a spawn after it succeeds" done_as i-31 succeeded
check "with no serial port" is "$(serial)" ""
check "and no config drive" sh -c "! ls $DS/$(uuid 31)/configdrive.iso 2>/dev/null"

# --- the agent still serves ---
send "$(uuid 1)" "{\"version\": 1, \"request_id\": \"i-del\", \"type\": \"delete\", \"node\": \"$NODE\", \"instance\": {\"uuid\": \"$(uuid 1)\"}}"
check "a delete after all that succeeds" done_as i-del succeeded
check "no ERROR or crash in the agent's log" sh -c "! grep -E 'AddressSanitizer|runtime error|fatal' '$T/agent.log'"
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=
tap_done
