#!/bin/bash
# bench_spawn.sh - spawns and deletes through the whole agent: Kafka in,
# vcsim (vCenter), PostgreSQL, Kafka out.  Whatever agent $VCAGENT_BUILD
# holds is measured; nothing here knows its insides.
#
#   latency      one request at a time (cached image): request CreateTime ->
#                accepted event time (Kafka in, ledger write) -> succeeded
#                event time (the agent's share) -> the succeeded event's
#                CreateTime (Kafka out); median, p90, p99 per round and
#                pooled over every round
#   SOAP calls   per spawn and per delete, on the wire (the vcsim launcher's
#                /ctl/calls, every method) and as the agent counts them
#                (vcagent_vcenter_calls_total)
#   throughput   N spawns produced at once, 1, 4 and 16 workers
#                (max_concurrent_builds): first request CreateTime to last
#                result CreateTime; median over the rounds.  Each round's
#                VMs are deleted afterwards, untimed.
#   first spawn  a new 16 MiB image each sample: accepted -> succeeded,
#                against bench_first (driver level) on the same peers
#                The CPU each peer spent over the phase, per spawn + delete.
#   memory       the agent's RSS idle (and with 10,000 instances, once)
#
# Each configuration (model x PostgreSQL durability) has its own peers and
# one consumer group for all its phases: a phase never replays another's
# requests.  Results are read by one kcat per topic, started before the
# first phase, writing "CreateTime body" lines to a file.
#
# Environment:
#   BENCH_QUICK=1        a smoke run: tiny counts, one round each, small:off
#                        only (unless BENCH_CONFIGS says otherwise)
#   BENCH_CONFIGS        MODEL:FSYNC ... (default "small:off big:off small:on",
#                        within ~10 minutes; big:on can be added): MODEL small
#                        (vcsim's default inventory) or big (-cluster 1 -host 8
#                        -vm 500); FSYNC PostgreSQL's fsync, synchronous_commit,
#                        full_page_writes off or on (on: its data on disk)
# Progress and each phase's wall time go to stderr.
#   BENCH_FIRST_SPAWN_DRIVER_MS  the driver-level first spawn (16 MiB image)
#                        to compare with; default: bench/bench_first's median,
#                        taken in the same phase on the same peers
#   BENCH_BREAK=1        match no request (tests that an empty figure fails)
# Exit status: 0 only when every figure line was printed with a value.
set -u
SRC=${VCAGENT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${VCAGENT_BUILD:-$SRC}
PEERS=$SRC/tests/peers
. "$SRC/bench/bench_lib.sh"
export VCAGENT_BUILD=$BUILD	# kafka.sh finds vckafkamock there
[ -x "$BUILD/bench/bench_produce" ] || { echo "bench: no $BUILD/bench/bench_produce (make bench builds it)" >&2; exit 1; }
[ -x "$BUILD/bench/bench_first" ] || { echo "bench: no $BUILD/bench/bench_first (make bench builds it)" >&2; exit 1; }
if [ "${BENCH_QUICK:-0}" = 1 ]; then
	LAT_ROUNDS=1 LAT_N=3 THR_ROUNDS=1 THR_N=8 FIRST_N=1 WAIT_S=60 MEM=0
	CONFIGS=${BENCH_CONFIGS:-small:off}
else
	LAT_ROUNDS=5 LAT_N=40 THR_ROUNDS=3 THR_N=160 FIRST_N=9 WAIT_S=120 MEM=1
	CONFIGS=${BENCH_CONFIGS:-small:off big:off small:on}
fi
CMD="make bench (bench/bench_spawn.sh$([ "${BENCH_QUICK:-0}" = 1 ] && echo ", BENCH_QUICK=1"))"
GOVMOMI=$(dpkg-query -W -f='${Version}' golang-github-vmware-govmomi-dev 2>/dev/null)
FIGURES=0 EMPTY=0
T= AGENT_PID= KC_PIDS=
cleanup() {
	[ -n "$AGENT_PID" ] && kill -9 "$AGENT_PID" 2>/dev/null
	exec 7>&-	# the producer's input: it ends (no 2>/dev/null: that would stay)
	exec 8>&-	# bench_first's
	exec 9<&-	# the results' follower
	for p in $KC_PIDS; do kill "$p" 2>/dev/null; done
	if [ -n "$T" ]; then
		bash "$PEERS/kafka.sh" stop "$T" >/dev/null 2>&1
		bash "$PEERS/peers.sh" stop "$T" >/dev/null 2>&1
		rm -rf "$T"
	fi
	T= KC_PIDS=
}
trap cleanup EXIT
die() { echo "bench: $*" >&2; [ -n "$T" ] && [ -f "$T/agent.log" ] && tail -n 20 "$T/agent.log" >&2; exit 1; }

# figure TEXT VALUE...: print a figure line (with the peers, model and
# command) unless a value is empty or "-": then count it as empty
figure() {
	local text=$1 v; shift
	for v; do
		if [ -z "$v" ] || [ "$v" = - ]; then
			echo "EMPTY FIGURE: $text | $CONF" ; EMPTY=$((EMPTY + 1)); return
		fi
	done
	echo "$text | $CONF"; FIGURES=$((FIGURES + 1))
}

start_peers() {	# start_peers MODEL PGMODE
	local flags= state=
	[ "$1" = big ] && flags="-cluster 1 -host 8 -vm 500"
	T=$(mktemp -d /dev/shm/vcagent-bench-XXXXXX 2>/dev/null || mktemp -d)
	chmod 755 "$T"
	# fsync on: PostgreSQL's state on a disk (tmpfs makes fsync free); vcsim's
	# datastore and Glance's store stay on tmpfs, as in the other configurations
	[ "$2" = on ] && state=/var/tmp
	# shellcheck disable=SC2086
	bash "$PEERS/vcsim.sh" start "$T" $flags >"$T/vcsim.out" 2>&1 || die "vcsim: $(tail -3 "$T/vcsim.out")"
	VCAGENT_PG_DURABLE=$([ "$2" = on ] && echo 1 || echo 0) VCAGENT_PG_STATE=$state \
	    bash "$PEERS/peers.sh" start "$T" glance pg >"$T/peers.out" 2>&1 || die "peers: $(tail -3 "$T/peers.out")"
	bash "$PEERS/kafka.sh" start "$T" -t vcagent.requests:16 -t vcagent.results:1 \
	    -t vcagent.dead-letter:1 >"$T/kafka.out" 2>&1 || die "kafka"
	. "$T/vcsim.env"; . "$T/glance.env"; . "$T/pg.env"; . "$T/kafka.env"
	IMG=$(bash "$PEERS/glance.sh" image "$T" 1048576) || die "glance image"
	PORT=$(python3 "$PEERS/freeport")
	export VC_PW=$VCSIM_PASSWORD PG_DSN=$PG_CONNINFO
	MODEL="model: $1 (vcsim ${flags:-default}, cluster DC0_C0)"
	CONF="peers: vcsim govmomi $GOVMOMI, librdkafka mock, PostgreSQL 15 fsync $2 ($([ "$2" = on ] && echo "its state on disk" || echo tmpfs)), Glance; loopback | $MODEL | command: $CMD"
	# the scheduler's side: one producer (bench_produce) for the whole run,
	# fed lines on fd 7, each sent at once (linger.ms 0), so that a
	# request's timestamp is when it reached Kafka
	mkfifo "$T/produce"
	"$BUILD/bench/bench_produce" "$KAFKA_BOOTSTRAP" vcagent.requests <"$T/produce" 2>"$T/produce.log" &
	KC_PIDS="$KC_PIDS $!"
	exec 7>"$T/produce"
	# the two topics, read once each by a long-running kcat; the mock
	# broker holds an empty fetch for fetch.wait.max.ms (500 ms by default),
	# which would add to every wait (not to the figures: CreateTimes)
	# (the requests' reader is only read after the clock: it may idle)
	kcat -C -u -X fetch.wait.max.ms=100 -b "$KAFKA_BOOTSTRAP" -t vcagent.requests -o beginning -q -f '%T %s\n' >"$T/req.ts" 2>/dev/null &
	KC_PIDS="$KC_PIDS $!"
	kcat -C -u -X fetch.wait.max.ms=5 -b "$KAFKA_BOOTSTRAP" -t vcagent.results -o beginning -q -f '%T %s\n' >"$T/res.ts" 2>/dev/null &
	KC_PIDS="$KC_PIDS $!"
	FINAL=()
	# (bash reads a pipe a byte at a time: only the final events' ids reach it)
	# (bash reads a pipe a byte at a time: only the final events' ids reach
	# it; the tail is killed with the readers, and ends with this script)
	exec 9< <(sh -c 'echo $$ >"$1/follow.pid"; exec tail --pid="$2" -n +1 -F "$1/res.ts"' \
	    sh "$T" "$$" 2>/dev/null | grep --line-buffered -E '"event":"(succeeded|failed)"' |
	    grep --line-buffered -o '"request_id":"[^"]*"')
	local i
	for ((i = 0; i < 100; i++)); do [ -s "$T/follow.pid" ] && break; sleep 0.01; done
	KC_PIDS="$KC_PIDS $(cat "$T/follow.pid" 2>/dev/null)"
}

start_agent() {	# start_agent WORKERS: the one consumer group of this configuration
	bench_agent_yaml bench "$1" bench "$PORT" >"$T/agent.yaml"
	local i lines
	lines=$(cat "$T/agent.log" 2>/dev/null | wc -l)
	"$BUILD/agent/vcagent" -c "$T/agent.yaml" >>"$T/agent.log" 2>&1 &
	AGENT_PID=$!
	for ((i = 0; i < 300; i++)); do
		tail -n +"$((lines + 1))" "$T/agent.log" | grep -q "kafka: assigned" &&
		    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")" = 200 ] && break
		kill -0 "$AGENT_PID" 2>/dev/null || die "the agent exited"
		sleep 0.1
	done
	[ "$i" -lt 300 ] || die "the agent is not ready"
	NODE=$(sed -n 's/.*cluster "DC0_C0": .* node \([^ ]*\)$/\1/p' "$T/agent.log" | head -1)
	[ -n "$NODE" ] || die "no node in the agent's log"
}
stop_agent() { kill -TERM "$AGENT_PID"; wait "$AGENT_PID"; AGENT_PID=; }

# SOAP calls: the agent's counter, and the launcher's per method (every
# method the agent names, and those a client may send without naming)
agent_calls() { curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^vcagent_vcenter_calls_total\{/ { n += $2 } END { print n + 0 }'; }
WIRE_METHODS="RetrieveServiceContent Login Logout SessionIsActive CurrentTime RetrieveProperties RetrievePropertiesEx ContinueRetrievePropertiesEx CreateFilter DestroyPropertyFilter WaitForUpdatesEx CreateContainerView DestroyView"
wire_calls() {	# one curl, one connection: a URL per method
	local m urls=()
	WIRE_METHODS="$WIRE_METHODS $(curl -s "http://127.0.0.1:$PORT/metrics" |
	    sed -n 's/^vcagent_vcenter_calls_total{.*method="\([^"]*\)".*/\1/p' | sort -u | tr '\n' ' ')"
	for m in $(echo "$WIRE_METHODS" | tr ' ' '\n' | sort -u); do urls+=("$VCSIM_CTL/calls?method=$m"); done
	curl -s --cacert "$VCSIM_CA_FILE" "${urls[@]}" | awk '{ n += $1 } END { print n + 0 }'
}
rss_kib() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$AGENT_PID/status"; }

# produce FILE: its lines (built before) to the long-running producer
produce() { cat "$1" >&7; }
# wait_finals PREFIX N: until N requests PREFIX* have a final event.  The
# results file is followed by one long-running tail (start_peers) whose
# final events' request ids are read here as they come: no polling, no
# process per look, so the harness takes next to no CPU from the peers on
# the same 2 cores while it waits.
declare -A FINAL=()	# request ids with a final event, so far
wait_finals() {
	local end=$((SECONDS + WAIT_S)) line rid n=0 k
	for k in "${!FINAL[@]}"; do [[ $k == "$1"* ]] && n=$((n + 1)); done
	while [ "$n" -lt "$2" ]; do
		if ! IFS= read -r -t 1 line <&9; then
			[ "$SECONDS" -le "$end" ] || die "timed out waiting for $2 results of $1* ($n so far)"
			continue
		fi
		rid=${line#\"request_id\":\"}
		rid=${rid%\"}
		[ -n "${FINAL[$rid]:-}" ] && continue
		FINAL[$rid]=1
		[[ $rid == "$1"* ]] && n=$((n + 1))
	done
}
failed_count() { grep -F "\"request_id\":\"$1" "$T/res.ts" | grep -cF '"event":"failed"'; }

# stats MODE PREFIX...: figures from the two files (python, after the clock)
stats() {
	python3 - "$T/req.ts" "$T/res.ts" "$@" <<'PY'
import json, sys, datetime
req, res, mode, prefixes = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
def load(path):
    for line in open(path):
        ts, _, body = line.partition(" ")
        try: yield int(ts), json.loads(body)
        except ValueError: continue
def ms(t):
    try: return datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp() * 1000
    except (TypeError, ValueError): return None
def ours(rid, p): return isinstance(rid, str) and rid.startswith(p)
def pct(v, q):
    if not v: return "-"
    v = sorted(v); return "%.1f" % v[min(len(v) - 1, int(len(v) * q))]
def med(v): return pct(v, 0.5)
rows = []
for p in prefixes:
    sent, acc, fin, fin_ct = {}, {}, {}, {}
    for ts, j in load(req):
        if ours(j.get("request_id"), p): sent[j["request_id"]] = ts
    for ts, j in load(res):
        rid = j.get("request_id")
        if not ours(rid, p): continue
        if j.get("event") == "accepted": acc[rid] = ms(j.get("time"))
        if j.get("event") == "succeeded": fin[rid], fin_ct[rid] = ms(j.get("time")), ts
    ids = [k for k in fin if k in sent and k in acc and fin[k] is not None and acc[k] is not None]
    rows.append(dict(
        e2e=[fin_ct[k] - sent[k] for k in ids], kin=[acc[k] - sent[k] for k in ids],
        agent=[fin[k] - acc[k] for k in ids], kout=[fin_ct[k] - fin[k] for k in ids],
        span=(max(fin_ct[k] for k in ids) - min(sent[k] for k in ids)) if ids else None,
        n=len(ids)))
if mode == "latency":	# per round medians of the agent's share; pooled figures
    pool = {k: sum((r[k] for r in rows), []) for k in ("e2e", "kin", "agent", "kout")}
    print(" ".join(med(r["agent"]) for r in rows) or "-",
          len(pool["agent"]) or "-",
          *(pct(pool[k], q) for k in ("agent", "e2e", "kin", "kout") for q in (0.5, 0.9, 0.99)),
          sep="|")
elif mode == "throughput":	# per round spawns/s, their median
    rates = [r["n"] * 1000.0 / r["span"] for r in rows if r["span"]]
    print(" ".join("%.1f" % x for x in rates) or "-", med(rates), sum(r["n"] for r in rows) or "-", sep="|")
elif mode == "first":
    a = sum((r["agent"] for r in rows), [])
    print(" ".join("%.0f" % x for x in a) or "-", med(a), sep="|")
PY
}
met() {	# met VALUE OP LIMIT: "met" or "NOT MET"
	python3 -c "import sys; v, op, l = float(sys.argv[1]), sys.argv[2], float(sys.argv[3]); print('met' if (v <= l if op == '<=' else v >= l) else 'NOT MET')" "$@" 2>/dev/null || echo "NOT MET"
}
BREAK=
[ "${BENCH_BREAK:-0}" = 1 ] && BREAK=nomatch-

# latency KIND: one request at a time, LAT_ROUNDS rounds of LAT_N (spawns,
# then the same instances' deletes)
lat_rounds() {	# lat_rounds spawn|delete: their id prefixes in LAT_PREFIXES
	local r n k c=${1:0:1}
	LAT_PREFIXES=
	for ((r = 1; r <= LAT_ROUNDS; r++)); do
		for ((n = 1; n <= LAT_N; n++)); do
			k=$((r * 1000 + n))
			"${1}_line" "lat$r" "$k" >"$T/line"
			produce "$T/line"; wait_finals "lat$r-$c-$k" 1
		done
		LAT_PREFIXES="$LAT_PREFIXES ${BREAK}lat$r-$c-"
	done
}
latency_phase() {
	local c0 c1 w0 w1 cd1 wd1 prefixes_s prefixes_d
	c0=$(agent_calls) w0=$(wire_calls)
	lat_rounds spawn; prefixes_s=$LAT_PREFIXES
	c1=$(agent_calls) w1=$(wire_calls)
	lat_rounds delete; prefixes_d=$LAT_PREFIXES
	cd1=$(agent_calls) wd1=$(wire_calls)
	local total=$((LAT_ROUNDS * LAT_N)) f
	f=$(failed_count lat)
	[ "$f" -eq 0 ] || echo "bench: $f latency requests failed"
	for kind in spawn delete; do
		local pf lim99= lim50 res floor
		if [ $kind = spawn ]; then pf=$prefixes_s lim50=8 lim99=15; else pf=$prefixes_d lim50=6; fi
		# shellcheck disable=SC2086
		IFS='|' read -r rounds cnt a50 a90 a99 e50 e90 e99 i50 i90 i99 o50 o90 o99 < <(stats latency $pf)
		res="target median <= $lim50 ms: $(met "$a50" '<=' "$lim50")"
		# the same VM spec through vcdriver alone (bench_fetch part 3)
		floor=$(awk -v k="${kind}_ms" '$1 == k { print $2 }' "$BUILD/bench/spawn_driver.txt" 2>/dev/null)
		[ -n "$floor" ] && res="$res; vcdriver alone, the same spec: median $floor ms"
		[ -n "$lim99" ] && res="$res, p99 <= $lim99 ms: $(met "$a99" '<=' "$lim99")"
		figure "cached-image $kind, the agent's share (accepted -> succeeded event times), $cnt ${kind}s one at a time in $LAT_ROUNDS round(s) of $LAT_N: per-round medians [$rounds] ms; pooled median $a50 ms, p90 $a90 ms, p99 $a99 ms | $res" \
		    "$rounds" "$cnt" "$a50" "$a90" "$a99"
		figure "cached-image $kind, Kafka in to result out (CreateTimes): median $e50 ms, p90 $e90 ms, p99 $e99 ms; of which request -> accepted (Kafka in, ledger write) median $i50 / p90 $i90 / p99 $i99 ms, succeeded -> its CreateTime (Kafka out) median $o50 / p90 $o90 / p99 $o99 ms | target: none (the agent's share is the target)" \
		    "$e50" "$e90" "$e99" "$i50" "$o50"
	done
	local sa sw da dw
	sa=$(python3 -c "print(round(($c1 - $c0) / $total, 2))") sw=$(python3 -c "print(round(($w1 - $w0) / $total, 2))")
	da=$(python3 -c "print(round(($cd1 - $c1) / $total, 2))") dw=$(python3 -c "print(round(($wd1 - $w1) / $total, 2))")
	[ -n "$BREAK" ] && sa=-
	figure "SOAP calls per cached spawn: $sw on the wire (vcsim /ctl/calls), $sa counted by the agent (vcagent_vcenter_calls_total); per delete: $dw on the wire, $da counted | target per spawn <= 10: $(met "$sw" '<=' 10), per delete <= 6: $(met "$dw" '<=' 6)" \
	    "$sa" "$sw" "$da" "$dw"
}

# cpu_snap FILE: every process's CPU ticks (pid name ticks) and, first,
# the machine's idle and total ticks (/proc/stat), read by one python
cpu_snap() {
	python3 - "$1" <<'PY'
import os, sys
out = open(sys.argv[1], "w")
f = open("/proc/stat").readline().split()[1:]
out.write("machine idle %d %d\n" % (int(f[3]) + int(f[4]), sum(int(x) for x in f[:8])))
for pid in os.listdir("/proc"):
    if not pid.isdigit(): continue
    try: st = open("/proc/%s/stat" % pid).read()
    except OSError: continue
    name, rest = st[st.index("(") + 1:st.rindex(")")], st[st.rindex(")") + 2:].split()
    out.write("%s %s %d\n" % (pid, name.replace(" ", "_"), int(rest[11]) + int(rest[12])))
PY
}
# cpu_split BEFORE AFTER PAIRS: CPU ms per spawn + delete pair of the
# processes alive in both snapshots, by peer, and the machine's idle share
cpu_split() {
	python3 - "$@" <<'PY'
import os, sys
hz = os.sysconf("SC_CLK_TCK")
def load(p):
    d = {}
    for l in open(p):
        a = l.split()
        d[a[0]] = (a[1], int(a[2])) if a[0] != "machine" else (int(a[2]), int(a[3]))
    return d
b, a, pairs = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3])
group = {"vcsim-launcher": "vcsim", "postgres": "PostgreSQL", "vcagent": "agent",
         "vckafkamock": "Kafka mock", "kcat": "harness", "bench_produce": "harness",
         "bash": "harness", "tail": "harness", "grep": "harness", "python3": "harness"}
ms = {}
for pid, (name, t) in a.items():
    if pid == "machine" or pid not in b or b[pid][0] != name: continue
    g = group.get(name, "other")
    ms[g] = ms.get(g, 0) + (t - b[pid][1]) * 1000.0 / hz
idle = 100.0 * (a["machine"][0] - b["machine"][0]) / max(1, a["machine"][1] - b["machine"][1])
print("; ".join("%s %.1f" % (g, ms.get(g, 0) / pairs) for g in
      ("vcsim", "PostgreSQL", "agent", "Kafka mock", "harness", "other")) + " ms; machine idle %.0f%%" % idle)
PY
}

# throughput W: THR_ROUNDS rounds of THR_N spawns produced at once; each
# round's VMs deleted afterwards (untimed)
throughput_phase() {
	local w=$1 r n k pf=
	cpu_snap "$T/cpu.0"
	for ((r = 1; r <= THR_ROUNDS; r++)); do
		for ((n = 1; n <= THR_N; n++)); do spawn_line "thr$w.$r" $((100000 * w + 1000 * r + n)); done >"$T/spawns"
		for ((n = 1; n <= THR_N; n++)); do delete_line "thr$w.$r" $((100000 * w + 1000 * r + n)); done >"$T/deletes"
		produce "$T/spawns"; wait_finals "thr$w.$r-s-" "$THR_N"
		produce "$T/deletes"; wait_finals "thr$w.$r-d-" "$THR_N"
		pf="$pf ${BREAK}thr$w.$r-s-"
	done
	cpu_snap "$T/cpu.1"
	local f cpu
	cpu=$(cpu_split "$T/cpu.0" "$T/cpu.1" $((THR_ROUNDS * THR_N)))
	f=$(failed_count "thr$w.")
	[ "$f" -eq 0 ] || echo "bench: $f throughput requests failed at $w worker(s)"
	# shellcheck disable=SC2086
	IFS='|' read -r rates m cnt < <(stats throughput $pf)
	local tgt="target: none at $w worker(s) (>= 250/s at 16)"
	[ "$w" = 16 ] && tgt="target >= 250 spawns/s at 16 workers: $(met "$m" '>=' 250)"
	local floor
	floor=$(awk -v w="$w" '$1 == "spawns_per_s" { print (w == 1 ? $2 : w == 4 ? $3 : $4) }' "$BUILD/bench/spawn_driver.txt" 2>/dev/null)
	[ -n "$floor" ] && tgt="$tgt; vcdriver alone, the same spec, $w thread(s): $floor spawns/s"
	figure "throughput, $w worker(s) (max_concurrent_builds): $THR_ROUNDS round(s) of $THR_N cached spawns produced at once (first request CreateTime -> last result CreateTime; each round's VMs deleted after, untimed): per round [$rates] spawns/s; median $m spawns/s ($cnt spawns) | $tgt" \
	    "$rates" "$m" "$cnt"
	figure "throughput, $w worker(s): CPU per spawn + delete over the phase's rounds (the processes alive all through, by peer; building the request lines is the harness's): $cpu | target: none (where the 2 cores go)" "$cpu"
}

# first spawn: per sample a new 16 MiB image for the agent and another for
# the driver level (bench_first: Glance metadata, ic_fetch, the linked
# clone, power on, through vcdriver alone, on these same peers with a warm
# session), alternating which goes first; the agent's share is compared
# with the driver level's median of the same run
first_phase() {
	local i img dimg pf= n=0 all m drv tgt
	mkfifo "$T/first.in"
	VCSIM_HOST=$VCSIM_HOST VCSIM_PORT=$VCSIM_PORT VCSIM_USER=$VCSIM_USER \
	    VCSIM_PASSWORD=$VCSIM_PASSWORD VCSIM_CA_FILE=$VCSIM_CA_FILE GLANCE_URL=$GLANCE_URL \
	    "$BUILD/bench/bench_first" <"$T/first.in" >"$T/first.out" 2>"$T/first.log" &
	KC_PIDS="$KC_PIDS $!"
	exec 8>"$T/first.in"
	first_driver() {	# first_driver IMAGE: one driver-level sample
		local end=$((SECONDS + WAIT_S))
		n=$((n + 1))
		echo "$1" >&8
		until [ "$(wc -l <"$T/first.out")" -ge "$n" ]; do
			[ "$SECONDS" -le "$end" ] || die "bench_first: no answer for $1 ($(tail -2 "$T/first.log"))"
			sleep 0.02
		done
	}
	for ((i = 1; i <= FIRST_N; i++)); do
		img=$(bash "$PEERS/glance.sh" image "$T" 16777216) || die "glance 16 MiB image"
		dimg=$(bash "$PEERS/glance.sh" image "$T" 16777216) || die "glance 16 MiB image"
		[ $((i % 2)) = 0 ] && first_driver "$dimg"
		spawn_line "first$i" $((900000 + i)) "$img" >"$T/line"
		produce "$T/line"; wait_finals "first$i-s-" 1
		[ $((i % 2)) = 1 ] && first_driver "$dimg"
		delete_line "first$i" $((900000 + i)) >"$T/line"
		produce "$T/line"; wait_finals "first$i-d-" 1
		pf="$pf ${BREAK}first$i-s-"
	done
	exec 8>&-
	# shellcheck disable=SC2086
	IFS='|' read -r all m < <(stats first $pf)
	drv=${BENCH_FIRST_SPAWN_DRIVER_MS:-$(awk '$2 >= 0 { print $2 }' "$T/first.out" | sort -n |
	    awk '{ v[NR] = $1 } END { if (NR) print v[int(NR / 2) + 1] }')}
	if [ -n "$drv" ]; then
		tgt="target <= 1.2 x the driver level's $drv ms (bench_first, the same peers, alternating; samples [$(awk '{ printf("%s%.0f", (NR > 1 ? " " : ""), $2) }' "$T/first.out")] ms) = $(python3 -c "print(round(1.2 * $drv, 1))") ms: $(met "$m" '<=' "$(python3 -c "print(1.2 * $drv)")")"
	else
		tgt="target <= 1.2 x the driver level: not measured (bench_first gave no figure: $(tail -1 "$T/first.log"))"
	fi
	figure "first spawn of a 16 MiB image from Glance, the agent's share (accepted -> succeeded), $FIRST_N sample(s): [$all] ms, median $m ms | $tgt" "$all" "$m" "$drv"
}

phase() { echo "bench: $* (${SECONDS} s)" >&2; }
for conf in $CONFIGS; do
	model=${conf%%:*} pgmode=${conf#*:}
	[ "$conf" = none ] && continue	# BENCH_CONFIGS=none: no figure (must fail)
	{
		phase "peers: model $model, fsync $pgmode"
		start_peers "$model" "$pgmode"
		phase "agent"
		start_agent 1
		figure "idle agent RSS: $(( $(rss_kib) / 1024 )) MiB | target <= 20 MiB: $(met $(( $(rss_kib) / 1024 )) '<=' 20)" "$(rss_kib)"
		spawn_line warm 1 >"$T/line"; produce "$T/line"; wait_finals warm-s- 1	# the image is cached now
		delete_line warm 1 >"$T/line"; produce "$T/line"; wait_finals warm-d- 1
		phase latency
		latency_phase
		phase "throughput at 1"
		throughput_phase 1
		stop_agent
		for w in 4 16; do
			phase "agent"; start_agent "$w"
			phase "throughput at $w"; throughput_phase "$w"
			stop_agent
		done
		phase "agent"; start_agent 4
		phase "first spawn"; first_phase
		stop_agent
		phase "memory"
		if [ "$MEM" = 1 ]; then
			bash "$PEERS/pg.sh" psql "$T" -qc "INSERT INTO instances (uuid, name, node, vm_state, power_state) SELECT ('c0000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'i' || g, '$NODE', 'active', 'running' FROM generate_series(1, 10000) g" >/dev/null
			start_agent 4
			sleep 2
			curl -s "http://127.0.0.1:$PORT/metrics" >/dev/null
			figure "agent RSS with 10,000 instances in the database: $(( $(rss_kib) / 1024 )) MiB | target <= 64 MiB: $(met $(( $(rss_kib) / 1024 )) '<=' 64)" "$(rss_kib)"
			stop_agent
			MEM=0	# once: it does not depend on the model
		fi
		phase "peers stop"
		cleanup
	}
done
phase "done"
echo "bench: $FIGURES figure line(s), $EMPTY empty"
[ "$FIGURES" -gt 0 ] && [ "$EMPTY" -eq 0 ]
