#!/bin/bash
# prometheus_rules.sh - contrib/prometheus/vcagent-alerts.yml passes
# "promtool check rules" and its unit tests (vcagent-alerts.test.yml:
# each alert fires on the series that should raise it and not on the
# others); contrib/grafana/vcagent-dashboard.json is JSON whose every
# query is PromQL promtool accepts (each checked as a recording rule), and
# whose every metric, like every metric the rules use, is one the agent
# serves (its name is in agent/agent_http.c).  promtool comes from
# Debian's prometheus package (scripts/deps.sh).
. "$(dirname "$0")/../integration/tap.sh"
set -u
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
P=$VCAGENT_SRC/contrib/prometheus
G=$VCAGENT_SRC/contrib/grafana/vcagent-dashboard.json
if ! command -v promtool >/dev/null; then
	not_ok "promtool is installed (Debian's prometheus package; scripts/deps.sh)"
	tap_done
fi
check "promtool check rules accepts the alert rules" sh -c "promtool check rules '$P/vcagent-alerts.yml' >'$T/check' 2>&1"
grep -q SUCCESS "$T/check" || sed 's/^/# /' "$T/check"
check "the rules' unit tests pass (promtool test rules)" sh -c "cd '$P' && promtool test rules vcagent-alerts.test.yml >'$T/test' 2>&1"
grep -q SUCCESS "$T/test" || sed 's/^/# /' "$T/test"
for a in VcagentDown VcagentNotReady VcagentConsumerLagGrowing VcagentRequestsFailing \
    VcagentVcenterErrors VcagentImageCachePurgeFailing; do
	check "alert $a is defined and unit-tested" sh -c "grep -q 'alert: $a\$' '$P/vcagent-alerts.yml' && grep -q 'alertname: $a\$' '$P/vcagent-alerts.test.yml'"
done
# the dashboard's queries as recording rules, for promtool to parse
python3 - "$G" "$T/dash-rules.yml" "$T/metrics" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
with open(sys.argv[2], "w") as f:
    f.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, e in enumerate(exprs):
        # Grafana's variable, as a query would get it
        e = e.replace("$instance", ".*")
        f.write("      - record: dashboard:query_%d\n        expr: %s\n" % (i, json.dumps(e)))
names = set()
for e in exprs:
    names.update(re.findall(r"\b(vcagent_[a-z_]+)", e))
open(sys.argv[3], "w").write("\n".join(sorted(names)) + "\n")
print(len(exprs))
PY
check "the dashboard is JSON with queries" test -s "$T/metrics"
check "promtool accepts every dashboard query as PromQL" sh -c "promtool check rules '$T/dash-rules.yml' >'$T/dcheck' 2>&1"
grep -q SUCCESS "$T/dcheck" || sed 's/^/# /' "$T/dcheck"
grep -o '\bvcagent_[a-z_]*' "$P/vcagent-alerts.yml" >>"$T/metrics"
served=$(grep -o '"vcagent_[a-z_]*' "$VCAGENT_SRC"/agent/agent_http.c | tr -d '"' | sort -u)
for m in $(sort -u "$T/metrics"); do
	base=${m%_bucket}; base=${base%_sum}; base=${base%_count}
	check "$m is a metric the agent serves" sh -c "echo '$served' | grep -qx '$base'"
done
for want in vcagent_requests_total vcagent_request_duration_seconds vcagent_vcenter_calls_total \
    vcagent_vcenter_call_duration_seconds vcagent_vcenter_task_duration_seconds \
    vcagent_kafka_consumer_lag vcagent_imagecache_hits_total; do
	check "the dashboard shows $want" grep -q "$want" "$G"
done
tap_done
