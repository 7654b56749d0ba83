#!/bin/bash
# spec_order.sh - vcdriver/vim25.spec and pbm.spec against the WSDLs: for
# every type and method in the specs, its members must appear in the same
# order as in govmomi's vim25/types and pbm/types (the WSDLs as Go structs,
# from Debian's golang-github-vmware-govmomi-dev), with the same
# cardinality: a list is a list, and a member the WSDL makes optional is not
# declared required.
. "$(dirname "$0")/../integration/tap.sh"
TYPES=/usr/share/gocode/src/github.com/vmware/govmomi/vim25/types/types.go
PBM_TYPES=/usr/share/gocode/src/github.com/vmware/govmomi/pbm/types/types.go
if [ ! -f "$TYPES" ] || [ ! -f "$PBM_TYPES" ]; then
	not_ok "govmomi's types.go files are installed ($TYPES, $PBM_TYPES)"
	tap_done
fi
/usr/bin/python3 - "$VCAGENT_SRC/vcdriver/vim25.spec" "$TYPES" \
    "$VCAGENT_SRC/vcdriver/pbm.spec" "$PBM_TYPES" <<'PY'
import re, sys
specs = [sys.argv[1], sys.argv[3]]
go = open(sys.argv[2]).read() + open(sys.argv[4]).read()

def go_fields(name):
    m = re.search(r'\ntype ' + re.escape(name) + r' struct \{\n(.*?)\n\}', go, re.S)
    if not m:
        return None
    out = []
    for line in m.group(1).split('\n'):
        parts = line.split()
        if len(parts) < 2:
            continue
        tag = re.search(r'xml:"([^"]*)"', line)
        opts = tag.group(1).split(',') if tag else [parts[0]]
        out.append((opts[0], parts[1], 'omitempty' in opts))
    return out

types, cur = [], None
for raw in (line for path in specs for line in open(path)):
    line = raw.split('#')[0].rstrip()
    if not line.strip():
        continue
    if line[0] in ' \t':
        n, t, c = line.split()
        cur[2].append((n, t, c))
        continue
    w = line.split()
    if w[0] == 'service':
        continue
    if w[0] in ('root', 'type'):
        cur = (w[1], w[1], [])
    elif w[0] == 'method':
        go_name = w[1].replace('_Task', '') + 'RequestType'
        cur = (w[1], go_name, [])
    types.append(cur)

n = 0
for name, go_name, members in types:
    if name in ('DynamicData', 'Request'):
        continue
    n += 1
    fields = go_fields(go_name)
    problems = []
    if fields is None:
        problems.append('no type %s in govmomi' % go_name)
    else:
        index = {f[0]: (i, f) for i, f in enumerate(fields)}
        last = -1
        for m, t, c in members:
            if m not in index:
                problems.append('%s is not a member' % m)
                continue
            i, (_, gotype, omit) = index[m]
            if i < last:
                problems.append('%s is out of WSDL order' % m)
            last = i
            is_list = gotype.startswith('[]')
            if (c == '*') != is_list:
                problems.append('%s: cardinality %s but the WSDL says %s' %
                                (m, c, 'a list' if is_list else 'not a list'))
            optional = omit or gotype.startswith('*')
            if c == '1' and optional:
                problems.append('%s is optional in the WSDL, not required' % m)
    if problems:
        print('not ok %d - %s: %s' % (n, name, '; '.join(problems)))
    else:
        print('ok %d - %s' % (n, name))
print('1..%d' % n)
PY
