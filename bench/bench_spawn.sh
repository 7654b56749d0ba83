#!/bin/bash
# bench_spawn.sh - cached-image spawns through the whole agent: Kafka in,
# vcsim (vCenter), PostgreSQL, Kafka out.
#
#   latency      one spawn at a time; request in to result out, from the two
#                Kafka messages' timestamps (CreateTime) - median and p90
#   SOAP calls   vcagent_vcenter_calls_total (all methods) per spawn and per
#                delete
#   first spawn  BENCH_ROUNDS (5) spawns one at a time, each from a fresh
#                16 MiB Glance image; compared with bench_fetch's driver-level
#                figure (bench/first_spawn_driver.ms): target <= 1.2x
#   throughput   N spawns sent at once, with 1, 4 and 16 workers
#                (max_concurrent_builds): first request to last result, from
#                the Kafka timestamps
#   memory       the agent's RSS idle, and with 10,000 instances tracked
#
# Peers: vcsim (govmomi), librdkafka's mock cluster, PostgreSQL 15, Glance,
# all on 127.0.0.1.  Command: make bench (or bash bench/bench_spawn.sh with
# VCAGENT_SRC and VCAGENT_BUILD set).
set -u
SRC=${VCAGENT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${VCAGENT_BUILD:-$SRC}
PEERS=$SRC/tests/peers
NLAT=${BENCH_LATENCY_N:-40}
NTHR=${BENCH_THROUGHPUT_N:-160}
T=$(mktemp -d /dev/shm/vcagent-bench-XXXXXX 2>/dev/null || mktemp -d)
chmod 755 "$T"
AGENT_PID=
cleanup() {
	[ -n "$AGENT_PID" ] && kill -9 "$AGENT_PID" 2>/dev/null
	bash "$PEERS/kafka.sh" stop "$T" >/dev/null 2>&1
	bash "$PEERS/peers.sh" stop "$T" >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT

bash "$PEERS/peers.sh" start "$T" vcsim glance pg >/dev/null 2>&1 || { echo "bench: peers"; exit 1; }
bash "$PEERS/kafka.sh" start "$T" -t vcagent.requests:16 -t vcagent.results:1 \
    -t vcagent.dead-letter:1 >/dev/null 2>&1 || { echo "bench: kafka"; exit 1; }
. "$T/vcsim.env"; . "$T/glance.env"; . "$T/pg.env"; . "$T/kafka.env"
IMG=$(bash "$PEERS/glance.sh" image "$T" 1048576)
PORT=$(python3 "$PEERS/freeport")
export VC_PW=$VCSIM_PASSWORD PG_DSN=$PG_CONNINFO

start_agent() {	# start_agent WORKERS GROUP
	cat >"$T/agent.yaml" <<YAML
DEFAULT:
  host: bench
  max_concurrent_builds: $1
  sync_power_state_interval: -1
  debug: ${BENCH_DEBUG:-false}
vmware:
  host_ip: $VCSIM_HOST
  host_port: $VCSIM_PORT
  host_username: $VCSIM_USER
  host_password: {env: VC_PW}
  ca_file: $VCSIM_CA_FILE
  cluster_name: [DC0_C0]
  connection_pool_size: 16
image_cache:
  manager_interval: -1
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
  bind_port: $PORT
YAML
	"$BUILD/agent/vcagent" -c "$T/agent.yaml" >"$T/agent.log" 2>&1 &
	AGENT_PID=$!
	for _ in $(seq 300); do grep -q "kafka: assigned" "$T/agent.log" && break; sleep 0.1; done
	NODE=$(sed -n 's/.*cluster "DC0_C0": .* node \([^ ]*\)$/\1/p' "$T/agent.log" | head -1)
}
stop_agent() {
	kill -TERM "$AGENT_PID"; wait "$AGENT_PID"
	# BENCH_LOG_DIR: keep each agent's log there (with BENCH_DEBUG=true: stage timings)
	[ -z "${BENCH_LOG_DIR:-}" ] || cp "$T/agent.log" "$BENCH_LOG_DIR/agent-$AGENT_PID.log"
	AGENT_PID=
}
calls() { curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^vcagent_vcenter_calls_total\{/ { n += $2 } END { print n + 0 }'; }
rss_kib() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$AGENT_PID/status"; }
uuid() { printf 'b0000000-0000-4000-8000-%012d' "$1"; }
spawn_line() {	# spawn_line RUN N [IMAGE]
	printf '%s|{"version":1,"request_id":"%s-s-%d","type":"spawn","node":"%s","instance":{"uuid":"%s","name":"b%d"},"flavor":{"vcpus":1,"memory_mb":64,"root_gb":0},"image_id":"%s"}\n' \
	    "$(uuid "$2")" "$1" "$2" "$NODE" "$(uuid "$2")" "$2" "${3:-$IMG}"
}
delete_line() {
	printf '%s|{"version":1,"request_id":"%s-d-%d","type":"delete","node":"%s","instance":{"uuid":"%s"}}\n' \
	    "$(uuid "$2")" "$1" "$2" "$NODE" "$(uuid "$2")"
}
# The scheduler's side: requests are sent at once (linger.ms 0), so that a
# request's timestamp is when it reached Kafka, not when it began to wait
# in the producer's batch.
produce() { kcat -P -b "$KAFKA_BOOTSTRAP" -t vcagent.requests -K '|' -X linger.ms=0; }
# done_events PREFIX: final events of requests PREFIX* so far
done_events() {
	kcat -C -b "$KAFKA_BOOTSTRAP" -t vcagent.results -o beginning -e -q 2>/dev/null |
	    grep -F "\"request_id\":\"$1" | grep -cE '"event":"(succeeded|failed)"'
}
wait_events() {	# wait_events PREFIX N
	for _ in $(seq 3000); do [ "$(done_events "$1")" -ge "$2" ] && return 0; sleep 0.05; done
	echo "bench: timed out waiting for $1"; exit 1
}

# request in -> result out, from Kafka timestamps; prints median p90 (ms)
latencies() {	# latencies PREFIX
	kcat -C -b "$KAFKA_BOOTSTRAP" -t vcagent.requests -o beginning -e -q -f '%T %s\n' 2>/dev/null >"$T/req.ts"
	kcat -C -b "$KAFKA_BOOTSTRAP" -t vcagent.results -o beginning -e -q -f '%T %s\n' 2>/dev/null >"$T/res.ts"
	python3 - "$1" "$T/req.ts" "$T/res.ts" <<'PY'
import json, sys
prefix, req, res = sys.argv[1:]
sent, done, acc, fin = {}, {}, {}, {}
for line in open(req):
    ts, _, body = line.partition(" ")
    try: j = json.loads(body)
    except ValueError: continue
    if (j.get("request_id") or "").startswith(prefix): sent[j["request_id"]] = int(ts)
for line in open(res):
    ts, _, body = line.partition(" ")
    try: j = json.loads(body)
    except ValueError: continue
    if not (j.get("request_id") or "").startswith(prefix): continue
    if j.get("event") == "succeeded":
        done[j["request_id"]] = int(ts)
    t = j.get("time", "")
    ms = int(t[11:13]) * 3600000 + int(t[14:16]) * 60000 + int(t[17:19]) * 1000 + int(t[20:23]) if len(t) >= 23 else 0
    if j.get("event") == "accepted": acc[j["request_id"]] = ms
    if j.get("event") == "succeeded": fin[j["request_id"]] = ms
lat = sorted(done[k] - sent[k] for k in done if k in sent)
work = sorted(fin[k] - acc[k] for k in fin if k in acc)
if not lat: print("- - 0 - -"); sys.exit()
# the span: first request produced to last result produced
span = max(done[k] for k in done if k in sent) - min(sent[k] for k in done if k in sent)
print(lat[len(lat) // 2], lat[int(len(lat) * 0.9)], len(lat), work[len(work) // 2], span)
PY
}

echo "peers: vcsim (govmomi $(dpkg-query -W -f='${Version}' golang-github-vmware-govmomi-dev 2>/dev/null)), librdkafka mock cluster (vckafkamock), PostgreSQL 15, Glance; all on 127.0.0.1"
echo "command: make bench (bench/bench_spawn.sh); requests produced by kcat with linger.ms=0"

# --- latency and calls, one worker, one request at a time ---
start_agent 1 bench-lat
echo "idle agent RSS: $(( $(rss_kib) / 1024 )) MiB"
spawn_line warm 0 | produce; wait_events warm-s 1	# the image is cached now
c0=$(calls)
for n in $(seq 1 "$NLAT"); do spawn_line lat "$n" | produce; wait_events lat-s "$n"; done
c1=$(calls)
for n in $(seq 1 "$NLAT"); do delete_line lat "$n" | produce; wait_events lat-d "$n"; done
c2=$(calls)
read -r med p90 cnt wmed _ < <(latencies lat-s)
read -r dmed dp90 dcnt dwmed _ < <(latencies lat-d)
echo "cached-image spawn, request in to result out ($cnt spawns, one at a time): median ${med} ms, p90 ${p90} ms (target: median <= 25 ms); of which accepted -> succeeded in the agent: median ${wmed} ms"
echo "SOAP calls per spawn: $(python3 -c "print(round(($c1 - $c0) / $NLAT, 1))") (target <= 10); per delete: $(python3 -c "print(round(($c2 - $c1) / $NLAT, 1))") (target <= 6); delete median ${dmed} ms"

# --- first spawn: a fresh 16 MiB image from Glance each time, one at a time ---
NFIRST=${BENCH_ROUNDS:-5}
FIRST_IMGS=()
for n in $(seq 1 "$NFIRST"); do FIRST_IMGS+=("$(bash "$PEERS/glance.sh" image "$T" 16777216)"); done
c0=$(calls)
for n in $(seq 1 "$NFIRST"); do
	spawn_line first $((500 + n)) "${FIRST_IMGS[$((n - 1))]}" | produce; wait_events first-s "$n"
done
c1=$(calls)
read -r fmed fp90 fcnt fwmed _ < <(latencies first-s)
echo "first spawn with a 16 MiB image from Glance ($fcnt spawns, a fresh image each): request in to result out median ${fmed} ms, p90 ${fp90} ms; accepted -> succeeded in the agent: median ${fwmed} ms; $(python3 -c "print(round(($c1 - $c0) / $NFIRST, 1))") vCenter requests (SOAP and HTTP) per spawn"
DRV=$(cat "$BUILD/bench/first_spawn_driver.ms" 2>/dev/null || true)
if [ -n "$DRV" ] && [ "$fwmed" != "-" ]; then
	python3 -c "
a, d = float('$fwmed'), float('$DRV')
print('first spawn, agent / driver (bench_fetch: median %.1f ms): %.2fx (target <= 1.2x): %s' % (d, a / d, 'met' if a <= 1.2 * d else 'not met'))"
else
	echo "first spawn, agent / driver: no driver figure (run bench/bench_fetch first): not met"
fi
stop_agent

# --- throughput ---
# BENCH_THROUGHPUT_N=0 stops here (no throughput, no memory figure)
[ "$NTHR" -gt 0 ] || exit 0
for w in 1 4 16; do
	start_agent "$w" "bench-thr-$w"
	for n in $(seq 1 "$NTHR"); do spawn_line "thr$w" $((1000 * w + n)); done | produce
	wait_events "thr$w-s" "$NTHR"
	read -r _ _ cnt _ span < <(latencies "thr$w-s")
	echo "throughput, $w worker(s): $cnt spawns in $span ms (first request to last result, Kafka timestamps) = $(python3 -c "print(round($cnt * 1000 / $span, 1))") spawns/s (target >= 80 at some concurrency)"
	stop_agent
done

# --- memory with 10,000 instances tracked ---
bash "$PEERS/pg.sh" psql "$T" -qc "INSERT INTO instances (uuid, name, node, vm_state, power_state) SELECT ('c0000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'i' || g, '$NODE', 'active', 'running' FROM generate_series(1, 10000) g" >/dev/null
start_agent 4 bench-mem
sleep 2
curl -s "http://127.0.0.1:$PORT/metrics" >/dev/null
echo "agent RSS with 10,000 instances in the database: $(( $(rss_kib) / 1024 )) MiB (targets: idle <= 20 MiB, 10,000 instances <= 64 MiB)"
stop_agent
