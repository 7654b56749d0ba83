#!/bin/bash
# agent_cache.sh - vcagent's image cache and operator endpoints against vcsim,
# Glance and PostgreSQL: the schema is migrated on start; /healthz, /readyz,
# /metrics and /status answer; the upload endpoint refuses a missing or wrong
# token, bad ids, chunked bodies, a wrong checksum and a second upload of a
# cached image, and streams a good upload into the cache; prefetch fetches
# from Glance once; the purge policy removes what no instance uses and keeps
# what one does; `vcagent db upgrade` reports the version.
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/agent_lib.sh"	# vcsim_yaml
set -u
T=$(mktemp -d /dev/shm/vcagent-cache-XXXXXX 2>/dev/null || mktemp -d)
chmod 755 "$T"
PEERS=$VCAGENT_SRC/tests/peers
AGENT_PID=
cleanup() {
	[ -n "$AGENT_PID" ] && kill -9 "$AGENT_PID" 2>/dev/null
	bash "$PEERS/peers.sh" stop "$T" >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT

if ! bash "$PEERS/peers.sh" start "$T" vcsim glance pg >"$T/peers.out" 2>&1; then
	not_ok "peers start"; sed 's/^/# /' "$T/peers.out"; tap_done
fi
ok "peers start"
. "$T/vcsim.env"; . "$T/glance.env"; . "$T/pg.env"
DS="$T/vcsim/tmp/govcsim-DC0-LocalDS_0-*"	# where vcsim keeps LocalDS_0 (a glob)
PORT=$(python3 "$PEERS/freeport")
TOKEN=op-Token-$RANDOM$RANDOM
URL=http://127.0.0.1:$PORT

config() {	# config ORIGINAL_AGE
	cat <<YAML
$(vcsim_yaml)
  cluster_name: [DC0_C0]
image_cache:
  manager_interval: 1
  remove_unused_original_minimum_age_seconds: $1
glance:
  api_servers: [$GLANCE_URL]
kafka:
  bootstrap_servers: 127.0.0.1:9092
database:
  connection: {env: PG_DSN}
health:
  bind_port: $PORT
  token: {env: OP_TOKEN}
YAML
}
config 3600 >"$T/agent.yaml"
export VC_PW=$VCSIM_PASSWORD PG_DSN=$PG_CONNINFO OP_TOKEN=$TOKEN

# "version FROM -> TO (newest N)": the first upgrade applies every migration
"$VCAGENT" -c "$T/agent.yaml" db upgrade >"$T/upgrade.out" 2>&1
NEWEST=$(sed -n 's/.*(newest \([0-9]*\)).*/\1/p' "$T/upgrade.out")
check "db upgrade creates the schema" grep -q "version 0 -> $NEWEST (newest $NEWEST)" "$T/upgrade.out"
check "db upgrade twice is a no-op" sh -c "'$VCAGENT' -c '$T/agent.yaml' db upgrade | grep -q 'version $NEWEST -> $NEWEST'"

"$VCAGENT" -c "$T/agent.yaml" >"$T/agent.log" 2>&1 &
AGENT_PID=$!
check "operator endpoints start" wait_for "$T/agent.log" "operator endpoints on $URL/" 20
code() {	# code METHOD PATH [curl args...]: print the HTTP status
	local m=$1 p=$2; shift 2
	curl -s -o "$T/body" -w '%{http_code}' -X "$m" "$@" "$URL$p"
}
dbok() { curl -s "$URL/readyz" | grep -q 'database: ok'; }
for _ in $(seq 50); do dbok && break; sleep 0.2; done
check "/healthz answers" sh -c "[ \"\$(curl -s $URL/healthz)\" = ok ]"
# this test runs without a Kafka broker: not ready, and /readyz says why
check "/readyz is 503 without Kafka" test "$(code GET /readyz)" = 503
check "/readyz names vCenter and the database ok" sh -c "grep -q 'vcenter: ok' '$T/body' && grep -q 'database: ok' '$T/body'"
check "/readyz names the failing part" contains "$T/body" "kafka: no partitions assigned, or brokers down (127.0.0.1:9092)"
check "unknown path is 404" test "$(code GET /nope)" = 404
check "POST on /metrics is 405" test "$(code POST /metrics)" = 405

head -c 1048576 /dev/urandom >"$T/img"
SUM=$(sha512sum "$T/img" | cut -d' ' -f1)
ID=1f2e3d4c-0000-4000-8000-00000000a001
up() {	# up ID [curl args...]
	local id=$1; shift
	code PUT "/v1/images/$id?datastore=LocalDS_0&disk_type=thin" -T "$T/img" "$@"
}
check "upload without a token is 401" test "$(up $ID)" = 401
check "upload with a wrong token is 403" test "$(up $ID -H 'X-Auth-Token: guess')" = 403
check "the refusal does not echo the token" lacks "$T/body" "$TOKEN"
check "an id that is a path is 400" test "$(up '..%2Fetc' -H "X-Auth-Token: $TOKEN")" = 400
check "an id starting with a dot is 400" test "$(up .hidden -H "X-Auth-Token: $TOKEN")" = 400
check "a chunked upload is 411" test "$(cat "$T/img" | code PUT /v1/images/$ID -T - -H "X-Auth-Token: $TOKEN")" = 411
check "a wrong checksum is 400" test "$(up $ID -H "X-Auth-Token: $TOKEN" -H 'X-Image-Checksum: sha512:00')" = 400
check "and says ChecksumMismatch" contains "$T/body" ChecksumMismatch
check "nothing is left of it" absent "$DS" "_base/$ID/*"
check "a good upload is 201" test "$(up $ID -H "Authorization: Bearer $TOKEN" -H "X-Image-Checksum: sha512:$SUM")" = 201
check "it names the cached disk" contains "$T/body" "[LocalDS_0] _base/$ID/$ID.vmdk"
check "descriptor and extent are on the datastore" sh -c "ls $T/vcsim/tmp/*/_base/$ID/$ID.vmdk $T/vcsim/tmp/*/_base/$ID/$ID-flat.vmdk"
check "the extent is the uploaded data" sh -c "cmp -s $T/img $T/vcsim/tmp/*/_base/$ID/$ID-flat.vmdk"
check "a second upload is 409" test "$(up $ID -H "X-Auth-Token: $TOKEN")" = 409
check "and says AlreadyExists" contains "$T/body" AlreadyExists

# vcagentctl upload: the same endpoint, the token from the configuration,
# progress on stderr (lines: not a terminal), the answer on stdout
CTL=${VCAGENT%/vcagent}/vcagentctl
ID5=1f2e3d4c-0000-4000-8000-00000000a005
"$CTL" -c "$T/agent.yaml" -u "$URL" upload "$T/img" "$ID5" datastore=LocalDS_0 disk_type=thin \
    "checksum=sha512:$SUM" >"$T/ctl.out" 2>"$T/ctl.err"
check "vcagentctl upload succeeds (exit 0)" test $? -eq 0
check "it prints the cached disk" contains "$T/ctl.out" "[LocalDS_0] _base/$ID5/$ID5.vmdk"
check "and its progress, to 100%" grep -q '^upload: 100% (1048576 of 1048576 bytes' "$T/ctl.err"
check "the extent is the file" sh -c "cmp -s $T/img $T/vcsim/tmp/*/_base/$ID5/$ID5-flat.vmdk"
"$CTL" -c "$T/agent.yaml" -u "$URL" upload "$T/img" "$ID5" datastore=LocalDS_0 >"$T/ctl.out" 2>"$T/ctl.err"
check "uploading it again exits 1, naming AlreadyExists and the status" sh -c "test $? -eq 1 && grep -q AlreadyExists '$T/ctl.err' && grep -q 'HTTP 409' '$T/ctl.err'"
"$CTL" -c "$T/agent.yaml" -u "$URL" upload "$T/img" "$ID5" colour=blue >/dev/null 2>"$T/ctl.err"
check "an unknown option is a usage error (2), named" sh -c "test $? -eq 2 && grep -q '\"colour=blue\" is not one of' '$T/ctl.err'"

# a client that goes away mid-upload: nothing is left, the agent serves on
ID3=1f2e3d4c-0000-4000-8000-00000000a003
curl -s --limit-rate 200K -X PUT -T "$T/img" -H "X-Auth-Token: $TOKEN" \
    "$URL/v1/images/$ID3?datastore=LocalDS_0" >/dev/null 2>&1 &
CURL_PID=$!
check "a cut upload was under way" wait_for "$T/agent.log" "upload of image $ID3 into [LocalDS_0] started" 10
sleep 0.5
# its progress while it runs: /status and the gauges
check "/status lists it: kind upload, bytes done of the total, a percent" python3 -c '
import json, sys, urllib.request
s = json.load(urllib.request.urlopen(sys.argv[1] + "/status"))
t = [x for x in s["image_cache"]["transfers"] if x["image"] == sys.argv[2]]
assert len(t) == 1, t
t = t[0]
assert t["kind"] == "upload" and t["total"] == 1048576, t
assert 0 <= t["done"] < t["total"] and t["percent"] == 100 * t["done"] // t["total"], t
' "$URL" "$ID3"
check "the gauges have it, by kind, with its percent" sh -c "curl -s $URL/metrics | grep -qE '^vcagent_imagecache_transfer_percent\{image=\"$ID3\",datastore=\"LocalDS_0\",kind=\"upload\"\} [0-9]+\$' && curl -s $URL/metrics | grep -q 'vcagent_imagecache_transfer_bytes{image=\"$ID3\",datastore=\"LocalDS_0\",kind=\"upload\",part=\"total\"} 1048576'"
kill "$CURL_PID"; wait "$CURL_PID" 2>/dev/null
check "a cut upload is reported" wait_for "$T/agent.log" "upload of image $ID3 failed" 20
check "a cut upload leaves nothing" absent "$DS" "_base/$ID3/*"
check "the agent still serves" sh -c "[ \"\$(curl -s $URL/healthz)\" = ok ]"

# HTTP requests to vCenter other than SOAP: as the agent counts them (metrics), and as
# vcsim's launcher saw them on the wire (every request outside /ctl, less SOAP's POSTs)
http_metric() { curl -s "$URL/metrics" | awk '/^vcagent_vcenter_calls_total\{method="http_/ { n += $NF } END { print n + 0 }'; }
http_wire() {
	local all soap
	all=$(curl -s --cacert "$VCSIM_CA_FILE" "$VCSIM_CTL/calls?method=HTTP")
	soap=$(curl -s --cacert "$VCSIM_CA_FILE" "$VCSIM_CTL/calls?method=HTTP%20POST%20/sdk")
	echo $((all - soap))
}
head_wire() { curl -s --cacert "$VCSIM_CA_FILE" "$VCSIM_CTL/calls?method=HTTP%20HEAD%20/folder"; }
HTTP_M0=$(http_metric) HTTP_W0=$(http_wire) HEAD0=$(head_wire)

# prefetch from Glance: fetched once, then found
GID=$(bash "$PEERS/glance.sh" image "$T" 524288)
check "prefetch without a token is 401" test "$(code POST /v1/images/$GID/prefetch)" = 401
check "prefetch fetches" test "$(code POST "/v1/images/$GID/prefetch?datastore=LocalDS_0" -H "X-Auth-Token: $TOKEN")" = 200
check "prefetch says it was not cached before" contains "$T/body" '"cached_before": false'
check "prefetch again finds it" sh -c "[ \"\$(curl -s -o '$T/body2' -w '%{http_code}' -X POST -H 'X-Auth-Token: $TOKEN' '$URL/v1/images/$GID/prefetch')\" = 200 ] && grep -q '\"cached_before\": true' '$T/body2'"
HTTP_M=$(($(http_metric) - HTTP_M0)) HTTP_W=$(($(http_wire) - HTTP_W0))
check "a fetch makes datastore HTTP requests ($HTTP_W on the wire)" test "$HTTP_W" -gt 0
check "metrics count every one of them ($HTTP_M of $HTTP_W)" test "$HTTP_M" = "$HTTP_W"
# the disk the agent has just made is not looked for again (a HEAD) when it is used
check "a fetch and a use right after it send no HEAD" test "$(($(head_wire) - HEAD0))" = 0
check "prefetch of an unknown image is 404" test "$(code POST /v1/images/0e9f4c5a-0000-4000-8000-00000000dead/prefetch -H "X-Auth-Token: $TOKEN")" = 404

curl -s "$URL/metrics" >"$T/metrics"
check "metrics count the uploads (curl's and vcagentctl's)" grep -qx 'vcagent_imagecache_uploads_total 2' "$T/metrics"
check "metrics count the download" grep -qx 'vcagent_imagecache_downloads_total 1' "$T/metrics"
check "metrics count vCenter calls by method" grep -qE '^vcagent_vcenter_calls_total\{method="RetrievePropertiesEx"\} [1-9]' "$T/metrics"
curl -s "$URL/status" >"$T/status"
check "status is JSON with the cluster and the cache" python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["clusters"][0]["name"] == "DC0_C0"
assert s["clusters"][0]["resources"]["vcpus"] > 0
assert s["image_cache"]["uploads"] == 2 and s["image_cache"]["downloads"] == 1
assert s["image_cache"]["transfers"] == []
' "$T/status"

# the purge: the prefetched image is in use by an instance, the uploads are not
bash "$PEERS/pg.sh" psql "$T" -qc "INSERT INTO instances (uuid, name, node, image_id, datastore) VALUES ('3a3a3a3a-0000-4000-8000-000000000001', 'in-use', 'n', '$GID', 'LocalDS_0')" >/dev/null
config 1 >"$T/agent.yaml"
sleep 1.2
kill -HUP "$AGENT_PID"
check "purge removes the unused image" wait_for "$T/agent.log" "purged [LocalDS_0] _base/$ID/$ID.vmdk" 20
check "its files are gone" absent "$DS/_base" "$ID"
check "the image in use stays" sh -c "ls $T/vcsim/tmp/*/_base/$GID/$GID.vmdk"
check "its row stays" sh -c "bash '$PEERS/pg.sh' psql '$T' -tAc \"SELECT count(*) FROM image_cache WHERE image_id = '$GID'\" | grep -qx 1"
check "metrics count the purges (both uploads)" sh -c "curl -s $URL/metrics | grep -qx 'vcagent_imagecache_purged_total 2'"

kill -TERM "$AGENT_PID"
wait "$AGENT_PID"
rc=$?
AGENT_PID=
check "SIGTERM exits 0" test "$rc" -eq 0
check "the token is never logged" lacks "$T/agent.log" "$TOKEN"

check "peers stop clean" bash "$PEERS/peers.sh" stop "$T"
tap_done
