#!/bin/bash
# config_doc.sh - the documentation of the configuration against cfg.c's
# table of options: every option is in the sample etc/vcagent.yaml under
# its section, and vcagent.yaml(5)'s RELOAD section lists exactly the live
# ones (CFG_LIVE) as live.
. "$(dirname "$0")/../integration/tap.sh"
/usr/bin/python3 - "$VCAGENT_SRC" <<'PY'
import re, sys
src = sys.argv[1]
cfg_c = open(src + "/agent/cfg.c").read()
sample = open(src + "/etc/vcagent.yaml").read()
man = open(src + "/doc/vcagent.yaml.5").read()
n = 0
def check(ok, what):
    global n
    n += 1
    print(("ok" if ok else "not ok") + " %d - %s" % (n, what))

opts = re.findall(r'^\t\{ "([a-z_A-Z]+)", "([a-z_]+)", CFG_[A-Z]+, OFF\((.*)$', cfg_c, re.M)
check(len(opts) >= 60, "cfg.c's table lists the options (%d)" % len(opts))
# the sample's sections: top-level keys, each followed by its indented options
sections, cur = {}, None
for line in sample.split("\n"):
    m = re.match(r'^([A-Za-z_]+):\s*$', line)
    if m:
        cur = sections.setdefault(m.group(1), set())
        continue
    m = re.match(r'^  #? ?([a-z_]+):', line)
    if m and cur is not None:
        cur.add(m.group(1))
for sec, name, flags in opts:
    check(name in sections.get(sec, ()), "%s.%s is in etc/vcagent.yaml" % (sec, name))
reload = man.split("\n.Sh RELOAD\n", 1)[-1].split("\n.Sh ", 1)[0]
live_doc = reload.split("Every other option", 1)[0]
listed = set(re.findall(r'^\.Ic ([A-Za-z_]+\.[a-z_]+)', live_doc, re.M))
live = set("%s.%s" % (s, o) for s, o, f in opts if "CFG_LIVE" in f)
for o in sorted(live):
    check(o in listed, "the live option %s is listed live in vcagent.yaml(5)" % o)
for o in sorted(listed - live):
    check(False, "vcagent.yaml(5) lists %s as live, but it is restart-only or unknown" % o)
print("1..%d" % n)
PY
