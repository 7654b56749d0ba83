# agent_lib.sh - what the agent_*.sh tests share, sourced after tap.sh:
# a scratch directory, the peers on loopback and their teardown, and small
# helpers.
#
#   agent_lib_init NAME     T (on tmpfs when it can be), PEERS, the EXIT trap:
#                           kill -9 every agent the test started (AGENT_PID,
#                           A_PID, B_PID, C_PID, HELPER_PIDS), run the test's
#                           cleanup_extra if it defines one, stop the peers,
#                           show the tail of each $T/*.log (LOG_TAIL lines,
#                           default 150; 0: none) when a test failed, and
#                           remove T
#   agent_peers PARTS [PEER...] [-- VCSIM_FLAGS...]
#                           start the peers (vcsim, glance, pg: peers.sh; with
#                           VCSIM_FLAGS vcsim is started apart with them) and
#                           the Kafka mock with vcagent.requests (PARTS
#                           partitions), vcagent.results and
#                           vcagent.dead-letter; "peers start" is a test
#                           point (a failure ends the test); their env files
#                           are sourced
#   psql_v SQL              one value from the agent's database
#   send KEY JSON           a request, produced with key KEY
#   kafka_ctl ARGS...       kafka.sh ctl: true when it says ok
#   url                     the operator endpoints of the agent started last
#                           (from $T/agent.log)
#   start_agent             $VCAGENT on $T/agent.yaml, logging to $T/agent.log,
#                           in the background (AGENT_PID)
#   results, dead           the results and dead-letter topics from the
#                           beginning into $T/results, $T/dead (60 s at most)
#   until_ok SECONDS CMD... CMD succeeds within SECONDS (tried every 0.2 s)
#   count_in FILE TEXT      lines of FILE holding TEXT (0 if none, or no FILE)
#   vcsim_yaml              the vmware section's start for the vcsim peer
#                           (address, user, password from $VC_PW, CA file),
#                           for $(vcsim_yaml) in a configuration; the caller
#                           adds cluster_name and the rest (bench_lib.sh
#                           uses it too)

agent_lib_cleanup() {
	local p f
	for p in ${AGENT_PID:-} ${A_PID:-} ${B_PID:-} ${C_PID:-} ${HELPER_PIDS:-}; do
		kill -9 "$p" 2>/dev/null
	done
	declare -F cleanup_extra >/dev/null && cleanup_extra
	bash "$PEERS/kafka.sh" stop "$T" >/dev/null 2>&1
	bash "$PEERS/peers.sh" stop "$T" >/dev/null 2>&1
	if [ "$tap_failed" -gt 0 ] && [ "${LOG_TAIL:-150}" -gt 0 ]; then
		for f in "$T"/*.log; do
			[ -f "$f" ] || continue
			echo "# --- $(basename "$f")"
			tail -n "${LOG_TAIL:-150}" "$f" | sed 's/^/# /'
		done
	fi
	rm -rf "$T"
}

agent_lib_init() {
	T=$(mktemp -d "/dev/shm/vcagent-$1-XXXXXX" 2>/dev/null || mktemp -d)
	chmod 755 "$T"
	PEERS=$VCAGENT_SRC/tests/peers
	trap agent_lib_cleanup EXIT
}

agent_peers() {
	local parts=$1 peers=() vflags=() e out=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do peers+=("$1"); shift; done
	[ "${1:-}" = -- ] && { shift; vflags=("$@"); }
	if [ ${#vflags[@]} -gt 0 ]; then
		local rest=()
		for e in "${peers[@]}"; do [ "$e" = vcsim ] || rest+=("$e"); done
		peers=("${rest[@]}")
		out+=("$T/vcsim.out")
		if ! bash "$PEERS/vcsim.sh" start "$T" "${vflags[@]}" >"$T/vcsim.out" 2>&1; then
			not_ok "peers start"; sed 's/^/# /' "${out[@]}"; tap_done
		fi
	fi
	out+=("$T/peers.out" "$T/kafka.out")
	if { [ ${#peers[@]} -gt 0 ] &&
	    ! bash "$PEERS/peers.sh" start "$T" "${peers[@]}" >"$T/peers.out" 2>&1; } ||
	    ! bash "$PEERS/kafka.sh" start "$T" -t "vcagent.requests:$parts" \
	    -t vcagent.results:1 -t vcagent.dead-letter:1 >"$T/kafka.out" 2>&1; then
		not_ok "peers start"; sed 's/^/# /' "${out[@]}" 2>/dev/null; tap_done
	fi
	ok "peers start"
	for e in vcsim glance pg kafka; do
		# shellcheck disable=SC1090
		[ -f "$T/$e.env" ] && . "$T/$e.env"
	done
}

psql_v() { bash "$PEERS/pg.sh" psql "$T" -tAc "$1"; }
send() { printf '%s|%s\n' "$1" "$2" | kcat -P -b "$KAFKA_BOOTSTRAP" -t vcagent.requests -K '|'; }
kafka_ctl() { [ "$(bash "$PEERS/kafka.sh" ctl "$T" "$@" 2>&1)" = ok ]; }
url() { sed -n 's|.*operator endpoints on \(http://[^/]*\)/.*|\1|p' "$T/agent.log" | tail -1; }
vcsim_yaml() {
	cat <<YAML
vmware:
  host_ip: $VCSIM_HOST
  host_port: $VCSIM_PORT
  host_username: $VCSIM_USER
  host_password: {env: VC_PW}
  ca_file: $VCSIM_CA_FILE
YAML
}
# agent_yaml HOST GROUP [VMWARE [SECTIONS]]: $T/agent.yaml for one agent,
# HOST, of consumer group GROUP, serving DC0_C0 against vcsim, Glance,
# PostgreSQL and Kafka; VMWARE lines go under vmware:, SECTIONS at the end.
# Exports the passwords it names (VC_PW, PG_DSN).
agent_yaml() {
	cat >"$T/agent.yaml" <<YAML
DEFAULT:
  host: $1
  max_concurrent_builds: 2
  sync_power_state_interval: -1
$(vcsim_yaml)
  cluster_name: [DC0_C0]
${3:-}
glance:
  api_servers: [$GLANCE_URL]
kafka:
  bootstrap_servers: $KAFKA_BOOTSTRAP
  group_id: $2
  session_timeout_ms: 3000
  heartbeat_interval_ms: 500
  properties: {fetch.wait.max.ms: "10"}  # the mock broker holds an empty fetch that long
database:
  connection: {env: PG_DSN}
health:
  bind_port: 0
${4:-}
YAML
	export VC_PW=$VCSIM_PASSWORD PG_DSN=$PG_CONNINFO
}
# event ID EVENT [KEY]: ID's EVENT event (its member KEY, a.b nested), "" if none
event() {
	results
	python3 - "$T/results" "$@" <<'PY'
import json, sys
path, rid, ev = sys.argv[1:4]
key = sys.argv[4] if len(sys.argv) > 4 else None
for line in open(path):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("request_id") == rid and e.get("event") == ev:
        v = e
        for k in (key.split(".") if key else []):
            v = v.get(k) if isinstance(v, dict) else None
        print(json.dumps(v) if isinstance(v, (dict, list, bool)) else ("" if v is None else v))
        break
PY
}
# final ID: the name of ID's final event (succeeded, failed, rejected), ""
# before it has one
final() {
	results
	grep -F "\"request_id\":\"$1\"" "$T/results" | grep -oE '"event":"(succeeded|failed|rejected)"' | head -1 | cut -d'"' -f4
}
# done_as ID EVENT: ID ends (within 30 s) with EVENT; shows its events if not
done_as() {
	local i
	for ((i = 0; i < 150; i++)); do [ -n "$(final "$1")" ] && break; sleep 0.2; done
	[ "$(final "$1")" = "$2" ] || { echo "# $1: $(final "$1"), not $2"; grep -F "\"$1\"" "$T/results" | sed 's/^/#   /'; return 1; }
}
# rejected_with ID TEXT: ID's rejected event says TEXT
rejected_with() {
	results
	grep -F "\"request_id\":\"$1\"" "$T/results" | grep -F '"event":"rejected"' | grep -qF -- "$2"
}
# hold_next METHOD: vcsim holds the next task of METHOD for 30 s (the
# launcher's /ctl/async); task_held METHOD: one is held now
hold_next() { [ "$(curl -s --cacert "$VCSIM_CA_FILE" -X POST "$VCSIM_CTL/async?method=$1&delay=30s&count=1")" = ok ]; }
task_held() { curl -s --cacert "$VCSIM_CA_FILE" "$VCSIM_CTL/tasks" | grep -q "^held .* $1"; }
# restart_after_kill N: kill -9 the agent, let vcsim end the tasks it holds
# (their effects are made already), start the agent again; true once it
# has started N times in all (within 30 s)
restart_after_kill() {
	kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
	curl -s --cacert "$VCSIM_CA_FILE" -X POST "$VCSIM_CTL/reset" >/dev/null
	start_agent
	until_ok 30 sh -c "[ \"\$(grep -c 'operator endpoints on' '$T/agent.log')\" = $1 ]"
}
start_agent() { "$VCAGENT" -c "$T/agent.yaml" >>"$T/agent.log" 2>&1 & AGENT_PID=$!; }
results() { timeout 60 kcat -C -b "$KAFKA_BOOTSTRAP" -t vcagent.results -o beginning -e -q 2>/dev/null >"$T/results"; }
dead() { timeout 60 kcat -C -b "$KAFKA_BOOTSTRAP" -t vcagent.dead-letter -o beginning -e -q -f '%h|%s\n' 2>/dev/null >"$T/dead"; }
until_ok() {
	local i n=$(($1 * 5)); shift
	for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.2; done
	return 1
}
count_in() { local n; n=$(grep -cF -- "$2" "$1" 2>/dev/null); echo "${n:-0}"; }
