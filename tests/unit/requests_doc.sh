#!/bin/bash
# requests_doc.sh - doc/requests.md against the contract in the code: every
# request type in req.c's table is described under "Types", the types its
# examples name exist, every event req.h lists is in the events
# table, and every fault a rejection names (agent_dead_letter's callers) is
# documented, and every flavor extra spec and image property flavor.c
# applies is in their tables.
. "$(dirname "$0")/../integration/tap.sh"
/usr/bin/python3 - "$VCAGENT_SRC" <<'PY'
import re, sys
src = sys.argv[1]
req_c = open(src + "/agent/req.c").read()
req_h = open(src + "/agent/req.h").read()
kafka_c = open(src + "/agent/agent_kafka.c").read()
flavor_c = open(src + "/agent/flavor.c").read()
doc = open(src + "/doc/requests.md").read()
n = 0
def check(ok, what):
    global n
    n += 1
    print(("ok" if ok else "not ok") + " %d - %s" % (n, what))

table = re.search(r'req_kinds\[REQ_NTYPES\] = \{(.*?)\n\};', req_c, re.S)
check(table is not None, "req.c has the table of request types")
types = re.findall(r'\{ "([a-z_]+)", REQ_', table.group(1)) if table else []
check(len(types) >= 12, "the table lists the types (%d)" % len(types))
sec = doc.split("\n## Types\n", 1)[-1].split("\n## Events\n", 1)[0]
for t in types:
    check(re.search(r'^`%s`|^`[a-z_]+`.* `%s`[:, ]' % (t, t), sec, re.M) is not None,
          "type %s is described in doc/requests.md" % t)
for t in sorted(set(re.findall(r'"type": "([a-z_]+)"', sec))):
    check(t in types, "the documented type %s is in req.c's table" % t)
outcome = re.search(r'const char\s+\*event;\s*/\*(.*?)\*/', req_h, re.S)
events = re.findall(r'[a-z]+', outcome.group(1)) if outcome else []
check(len(events) >= 5, "req.h lists the events (%s)" % ", ".join(events))
for e in events:
    check(re.search(r'^\| `%s` \|' % e, doc, re.M) is not None,
          "event %s is in the events table" % e)
faults = sorted(set(re.findall(r'agent_dead_letter\(a, m, "([A-Za-z]+)"', kafka_c)))
check(len(faults) >= 2, "rejections name their faults (%s)" % ", ".join(faults))
for f in faults:
    check("`%s`" % f in doc, "the rejection fault %s is documented" % f)
specs = re.findall(r'\{ "([a-z_]+:[a-z_]+)", FL_', flavor_c)
props = re.findall(r'\{ "([a-z_]+)", FI_', flavor_c)
check(len(specs) >= 18 and len(props) >= 7,
      "flavor.c's tables list the specs (%d) and properties (%d)" % (len(specs), len(props)))
rows = [l for l in doc.split("\n") if l.startswith("| `")]
def in_table(key):
    # a row names it whole, or as `quota:<r>_...` with its `_<suffix>`
    m = re.match(r'(quota:[a-z]+?_(?:io_)?)([a-z_]+)$', key)
    for r in rows:
        first = r.split(" | ")[0]
        if "`%s`" % key in first:
            return True
        if m and m.group(1) in first and "`_%s`" % m.group(2) in first:
            return True
    return False
for k in specs + props:
    check(in_table(k), "%s is in a table of doc/requests.md" % k)
print("1..%d" % n)
PY
