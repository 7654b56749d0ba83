#!/bin/bash
# agent_reload.sh - SIGHUP and the cron thread against vcsim, Kafka, Glance and
# PostgreSQL: a reload with an unchanged file, then a spawn of an image not yet
# cached, succeeds (the cache and the workers keep a configuration snapshot
# that outlives the reload); a reload applies the live options (health.token:
# the new one works, the old one is refused; reserved_host_* reach
# compute_nodes as nova counts them) and names each changed restart-only
# option, keeping its running value; DEFAULT.log_file is live (a file that
# cannot be opened is named, the one in use kept); with the cron stuck in a
# vCenter call that does not answer, requests are still consumed and carried
# out, and SIGHUP and SIGTERM are still handled.  Under ASan the agent
# reports nothing.
. "$(dirname "$0")/tap.sh"
set -u
LOG_TAIL=0
. "$(dirname "$0")/agent_lib.sh"
agent_lib_init reload
AGENT_PID=
cleanup_extra() {
	[ -n "${VCSIM_CTL:-}" ] && curl -s --cacert "$VCSIM_CA_FILE" -X POST "$VCSIM_CTL/release?method=CurrentTime" >/dev/null 2>&1
}
agent_peers 1 vcsim glance pg

IMG=$(bash "$PEERS/glance.sh" image "$T" 524288)
OLD=old-Token-$RANDOM$RANDOM
NEW=new-Token-$RANDOM$RANDOM

# config TOKEN GROUP CLUSTERS RESERVED_MB RESERVED_DISK_MB RESERVED_CPUS REFRESH [MY_IP [LOG_FILE]]
config() {
	cat <<YAML
DEFAULT:
  host: agent-r
  my_ip: ${8:-null}
  log_file: ${9:-null}
  update_resources_interval: $7
  sync_power_state_interval: -1
  reserved_host_memory_mb: $4
  reserved_host_disk_mb: $5
  reserved_host_cpus: $6
$(vcsim_yaml)
  cluster_name: $3
  keepalive_interval: 1
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
health:
  bind_port: 0
  token: $1
YAML
}
config "$OLD" g-reload '[DC0_C0]' 0 0 0 1 >"$T/agent.yaml"
export VC_PW=$VCSIM_PASSWORD PG_DSN=$PG_CONNINFO

"$VCAGENT" -c "$T/agent.yaml" >"$T/agent.log" 2>&1 &
AGENT_PID=$!
check "the agent joins the group" wait_for "$T/agent.log" "kafka: assigned 1 partition(s)" 30
NODE=$(sed -n 's/.*cluster "DC0_C0": .* node \([^ ]*\)$/\1/p' "$T/agent.log" | head -1)
URL=$(sed -n 's|.*operator endpoints on \(http://[^/]*\)/.*|\1|p' "$T/agent.log" | head -1)

results() { kcat -C -b "$KAFKA_BOOTSTRAP" -t vcagent.results -o beginning -e -q 2>/dev/null >"$T/results"; }
wait_result() {	# wait_result ID EVENT
	local i
	for ((i = 0; i < 300; i++)); do
		results
		grep -F "\"request_id\":\"$1\"" "$T/results" | grep -qF "\"event\":\"$2\"" && return 0
		kill -0 "$AGENT_PID" 2>/dev/null || { echo "# the agent is gone:"; tail -n 30 "$T/agent.log" | sed 's/^/#   /'; return 1; }
		sleep 0.2
	done
	echo "# no $2 for $1 in the results:"; sed 's/^/#   /' "$T/results"; return 1
}
spawn() {	# spawn REQUEST_ID UUID
	printf '{"version": 1, "request_id": "%s", "type": "spawn", "node": "%s", "instance": {"uuid": "%s", "name": "%s"}, "flavor": {"vcpus": 1, "memory_mb": 128, "root_gb": 1}, "image_id": "%s", "ports": []}' \
	    "$1" "$NODE" "$2" "$1" "$IMG"
}
code() {	# code TOKEN: the status of a token-protected call
	curl -s -o /dev/null -w '%{http_code}' -X POST -H "X-Auth-Token: $1" \
	    "$URL/v1/images/0e9f4c5a-0000-4000-8000-00000000dead/prefetch"
}

# 1. SIGHUP with the file unchanged, then a spawn of an image not in the cache
kill -HUP "$AGENT_PID"
check "a reload with the file unchanged" wait_count "$T/agent.log" "configuration $T/agent.yaml reloaded" 1
check "it says no option changed" contains "$T/agent.log" "reloaded (no live option changed)"
U1=6f1e2d3c-4b5a-4978-8e7d-0000000000a1
send "$U1" "$(spawn r-after-hup "$U1")"
check "a spawn of an uncached image after the reload succeeds" wait_result r-after-hup succeeded
check "it fetched the image from Glance" contains "$T/agent.log" "imagecache: image $IMG is in ["

# 2. live options applied, restart-only ones named and kept
check "the old token works before the reload" test "$(code "$OLD")" = 404
host_ip() { psql_v "SELECT host_ip FROM compute_nodes WHERE node = '$NODE'"; }
check "compute_nodes.host_ip is the address vCenter is reached from" test "$(host_ip)" = 127.0.0.1
config "$NEW" g-other '[DC0_C0, DC0_C1]' 1024 3072 2 1 192.0.2.10 >"$T/agent.yaml"
kill -HUP "$AGENT_PID"
check "the reload is applied" wait_count "$T/agent.log" "configuration $T/agent.yaml reloaded" 2
check "the applied live options are named" contains "$T/agent.log" "applied: DEFAULT.my_ip, DEFAULT.reserved_host_memory_mb, DEFAULT.reserved_host_disk_mb, DEFAULT.reserved_host_cpus, health.token"
check "restart-only changes are named" contains "$T/agent.log" "needs a restart (the running value stays): vmware.cluster_name, kafka.group_id"
check "the new token works" test "$(code "$NEW")" = 404
check "the old token is refused" test "$(code "$OLD")" = 403
check "the agent still serves only DC0_C0" sh -c "! grep -q 'cluster \"DC0_C1\"' '$T/agent.log'"
row() { psql_v "SELECT reserved_host_memory_mb || ' ' || reserved_host_disk_mb || ' ' || reserved_host_cpus || ' ' || vcpus_used FROM compute_nodes WHERE node = '$NODE'"; }
wait_row() {
	local i
	for ((i = 0; i < 300; i++)); do [ "$(row)" = "$1" ] && return 0; sleep 0.2; done
	echo "# compute_nodes: $(row)"; return 1
}
# nova: vcpus_used = reserved_host_cpus + the instances' vCPUs (1 here)
check "reserved_host_* reach compute_nodes" wait_row "1024 3072 2 3"
check "DEFAULT.my_ip is compute_nodes.host_ip" test "$(host_ip)" = 192.0.2.10
check "used memory and disk count the reservation" test "$(psql_v "SELECT (memory_mb_used >= 1024 AND local_gb_used >= 3 AND free_disk_gb = local_gb - local_gb_used)::text FROM compute_nodes WHERE node = '$NODE'")" = true
wait_reserved_event() {
	local i
	for ((i = 0; i < 100; i++)); do
		results
		grep -F '"event":"resources_updated"' "$T/results" | grep -qF '"reserved_host_cpus":2' && return 0
		sleep 0.2
	done
	echo "# no resources_updated with the reservation:"; grep -F resources_updated "$T/results" | sed 's/^/#   /'; return 1
}
check "the resources event carries them" wait_reserved_event

# 2b. image_cache.precache_concurrency (1): a second prefetch waits for the first
IMG2=$(bash "$PEERS/glance.sh" image "$T" 262144)
IMG3=$(bash "$PEERS/glance.sh" image "$T" 262144)
prefetch() { curl -s -o /dev/null -w '%{http_code}' -X POST -H "X-Auth-Token: $NEW" "$URL/v1/images/$1/prefetch?datastore=LocalDS_0" >"$T/prefetch.$1"; }
held_n() { [ "$(curl -s --cacert "$VCSIM_CA_FILE" "$VCSIM_CTL/held?method=$1")" = "$2" ]; }
wait_held_n() { local i; for ((i = 0; i < 300; i++)); do held_n "$1" "$2" && return 0; sleep 0.2; done; return 1; }
check "vCenter will hold the next MakeDirectory" test "$(curl -s --cacert "$VCSIM_CA_FILE" -X POST "$VCSIM_CTL/hold?method=MakeDirectory")" = ok
prefetch "$IMG2" & P2=$!
check "the first prefetch is under way" wait_held_n MakeDirectory 1
prefetch "$IMG3" & P3=$!
check "the second one waits for it" wait_for "$T/agent.log" "prefetch of image $IMG3 waits: 1 running (image_cache.precache_concurrency 1)" 30
check "and has not reached vCenter" held_n MakeDirectory 1
curl -s --cacert "$VCSIM_CA_FILE" -X POST "$VCSIM_CTL/release?method=MakeDirectory" >/dev/null
wait "$P2" "$P3"
check "both prefetches succeed" test "$(cat "$T/prefetch.$IMG2")$(cat "$T/prefetch.$IMG3")" = 200200

# 2c. DEFAULT.log_file is live: from the reload on, the log goes to the
# file too; a file that cannot be opened is named, and the one in use
# stays; null stops it
reloads() { grep -c "configuration $T/agent.yaml reloaded" "$T/agent.log"; }
hup() {	# hup: SIGHUP, and wait for its reload to be logged
	local n
	n=$(reloads)
	kill -HUP "$AGENT_PID"
	wait_count "$T/agent.log" "configuration $T/agent.yaml reloaded" $((n + 1))
}
config "$NEW" g-other '[DC0_C0, DC0_C1]' 1024 3072 2 1 192.0.2.10 "$T/file.log" >"$T/agent.yaml"
check "a reload applies DEFAULT.log_file" hup
check "it is named as applied" contains "$T/agent.log" "applied: DEFAULT.log_file"
check "the next reload is logged to the file too" hup
check "(there)" contains "$T/file.log" "reloaded (no live option changed)"
config "$NEW" g-other '[DC0_C0, DC0_C1]' 1024 3072 2 1 192.0.2.10 "$T/no-such-dir/x.log" >"$T/agent.yaml"
before=$(wc -l <"$T/file.log")
check "a log_file that cannot be opened: the reload goes on" hup
check "the file is named" contains "$T/agent.log" "cannot open log file $T/no-such-dir/x.log"
check "and the log still goes to the file in use" wait_for "$T/file.log" "cannot open log file $T/no-such-dir/x.log" 10
config "$NEW" g-other '[DC0_C0, DC0_C1]' 1024 3072 2 1 192.0.2.10 >"$T/agent.yaml"
check "log_file back to null" hup
n_file=$(wc -l <"$T/file.log")
check "the next reload is logged on stderr" hup
check "and not to the file any more" is "$(wc -l <"$T/file.log")" "$n_file"
check "(the file grew while in use)" test "$n_file" -gt "$before"

# 3. the cron stuck in a vCenter call that does not answer: requests still
# run, and the signals are still handled
config "$NEW" g-reload '[DC0_C0]' 1024 3072 2 3600 192.0.2.10 >"$T/agent.yaml"
check "vCenter will hold the next CurrentTime" test "$(curl -s --cacert "$VCSIM_CA_FILE" -X POST "$VCSIM_CTL/hold?method=CurrentTime")" = ok
check "the reload is applied" hup
held() { [ "$(curl -s --cacert "$VCSIM_CA_FILE" "$VCSIM_CTL/held?method=CurrentTime")" = 1 ]; }
wait_held() { local i; for ((i = 0; i < 300; i++)); do held && return 0; sleep 0.2; done; return 1; }
check "the cron's keep-alive call is held by vCenter" wait_held
U2=6f1e2d3c-4b5a-4978-8e7d-0000000000a2
send "$U2" "$(spawn r-cron-stuck "$U2")"
check "a request is consumed and carried out meanwhile" wait_result r-cron-stuck succeeded
check "while the cron is still held" held
check "SIGHUP is handled meanwhile" hup
check "the cron is still held" held
kill -TERM "$AGENT_PID"
check "SIGTERM is handled meanwhile" wait_for "$T/agent.log" "shutting down" 20
curl -s --cacert "$VCSIM_CA_FILE" -X POST "$VCSIM_CTL/release?method=CurrentTime" >/dev/null
wait "$AGENT_PID"
rc=$?
AGENT_PID=
check "the agent exits 0 once the call ends" test "$rc" -eq 0
check "the agent logs out" contains "$T/agent.log" "logged out of $VCSIM_HOST"
check "no sanitizer report" sh -c "! grep -E 'AddressSanitizer|LeakSanitizer|runtime error:' '$T/agent.log'"
check "no token is logged" sh -c "! grep -qF -e '$OLD' -e '$NEW' '$T/agent.log'"

check "peers stop clean" sh -c "bash '$PEERS/kafka.sh' stop '$T' && bash '$PEERS/peers.sh' stop '$T'"
tap_done
