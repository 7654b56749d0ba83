#!/bin/bash
# prop_paths.sh - every property path vcagent asks the PropertyCollector for
# must exist on the managed object type it is asked of, as vCenter resolves
# it: the first name a property of the type (govmomi's vim25/mo/mo.go, with
# its base types), each further name a member of the declared data type of
# the one before (vim25/types/types.go; an interface BaseX is X, never one of
# its subtypes: vCenter answers InvalidProperty for a subtype's member such
# as summary.opaqueNetworkId on an OpaqueNetwork, whose summary is declared
# NetworkSummary), and nothing after a list.  Traversal specs' paths too.
#
# The paths are read from the C sources: calls of vcd_pc_propspec, NP_PS,
# vcd_pc_retrieve_all, vcd_pc_retrieve_one and vcd_pc_traversal with a
# literal type, their path arrays (char *NAME[] = { "...", ... } or
# X->NAME[i] = "..."), and TraversalSpecs filled in field by field.  A call
# whose paths cannot be found fails the test, so new code cannot slip by.
. "$(dirname "$0")/../integration/tap.sh"
GOVMOMI=/usr/share/gocode/src/github.com/vmware/govmomi/vim25
if [ ! -f "$GOVMOMI/mo/mo.go" ] || [ ! -f "$GOVMOMI/types/types.go" ]; then
	not_ok "govmomi's mo.go and types.go are installed ($GOVMOMI)"
	tap_done
fi
/usr/bin/python3 - "$VCAGENT_SRC" "$GOVMOMI" <<'PY'
import glob, os, re, sys
src, gov = sys.argv[1], sys.argv[2]

def structs(path, tag):
    """Go structs: name -> (embedded types, {tag name: go type})."""
    text = open(path).read()
    out = {}
    for m in re.finditer(r'\ntype (\w+) struct \{\n(.*?)\n\}', text, re.S):
        embedded, fields = [], {}
        for line in m.group(2).split('\n'):
            parts = line.split()
            if not parts:
                continue
            if len(parts) == 1:
                embedded.append(parts[0].split('.')[-1])
                continue
            t = re.search(tag + r':"([^",]*)', line)
            if t:
                fields[t.group(1)] = parts[1]
        out[m.group(1)] = (embedded, fields)
    return out

mo = structs(os.path.join(gov, 'mo/mo.go'), 'mo')
ty = structs(os.path.join(gov, 'types/types.go'), 'xml')

def member(table, tname, name):
    """The Go type of member NAME of TNAME or its bases, or None."""
    seen = set()
    todo = [tname]
    while todo:
        t = todo.pop(0)
        if t in seen or t not in table:
            continue
        seen.add(t)
        emb, fields = table[t]
        if name in fields:
            return fields[name]
        todo.extend(emb)
    return None

def check(motype, path):
    """None if PATH resolves on managed object type MOTYPE, else why not."""
    if motype not in mo:
        return 'no managed object type %s in govmomi' % motype
    names = path.split('.')
    gotype = member(mo, motype, names[0])
    where = motype
    for i, name in enumerate(names):
        if i > 0:
            if gotype.startswith('[]'):
                return '%s is a list: nothing can follow it' % '.'.join(names[:i])
            t = gotype.lstrip('*').split('.')[-1]
            if t.startswith('Base') and t[4:] in ty:
                t = t[4:]		# an interface: its declared base type
            if t not in ty:
                return '%s is a %s: it has no members' % ('.'.join(names[:i]), t)
            where = t
            gotype = member(ty, t, name)
        if gotype is None:
            return '%s has no property %s (declared type %s)' % (
                '.'.join(names[:i]) or motype, name, where)
    return None

def strings(s):
    return re.findall(r'"((?:[^"\\]|\\.)*)"', s)

found = []	# (file:line, type, path)
problems = []
for f in sorted(glob.glob(os.path.join(src, '*/*.c'))):
    rel = os.path.relpath(f, src)
    if rel.startswith('tests/') or rel.endswith('vim_gen.c'):
        continue
    # macro definitions out (blanked, so line numbers stay)
    text = re.sub(r'#define(?:[^\n]*\\\n)*[^\n]*',
                  lambda m: re.sub(r'[^\n]', ' ', m.group(0)), open(f).read())
    def line_of(pos):
        return '%s:%d' % (rel, text.count('\n', 0, pos) + 1)
    # path arrays by name, each with where it is defined: a call uses the
    # nearest definition before it (several functions reuse a name)
    defs = []
    for m in re.finditer(r'\*\s*(\w+)\[\]\s*=\s*\{([^}]*)\}', text):
        defs.append((m.start(), m.group(1), strings(m.group(2))))
    for m in re.finditer(r'(?:->|\.)(\w+)\[(\d+)\]\s*=\s*"([^"]*)"', text):
        if m.group(2) == '0':
            defs.append((m.start(), m.group(1), []))
        for d in reversed(defs):
            if d[1] == m.group(1):
                d[2].append(m.group(3))
                break
    def array_at(name, pos):
        best = None
        for d in defs:
            if d[1] == name and d[0] < pos:
                best = d
        return best[2] if best is not None else None
    calls = [
        (r'vcd_pc_propspec\(\s*[^,]+,\s*([^,]+),\s*([^,)]+)', 1, 2),
        (r'NP_PS\(\s*\w+,\s*([^,]+),\s*(\w+)\)', 1, 2),
        (r'vcd_pc_retrieve_all\(\s*[^,]+,\s*([^,]+),\s*([^,]+)', 1, 2),
        (r'vcd_pc_retrieve_one\(\s*[^,]+,\s*[^,]+,\s*([^,]+),\s*([^,]+)', 1, 2),
    ]
    for pat, ti, pi in calls:
        for m in re.finditer(pat, text):
            where = line_of(m.start())
            tlit, arr = m.group(ti).strip(), m.group(pi).strip()
            if not tlit.startswith('"'):
                if rel == 'vcdriver/vcd_pc.c':	# the generic wrappers
                    continue
                problems.append('%s: the type is not a literal (%s)' % (where, tlit))
                continue
            paths = array_at(arr.split('->')[-1].lstrip('&*'), m.start())
            if not paths:
                problems.append('%s: cannot find the paths %s' % (where, arr))
                continue
            for p in paths:
                found.append((where, strings(tlit)[0], p))
    for m in re.finditer(r'vcd_pc_traversal\(\s*[^,]+,\s*"[^"]*",\s*"([^"]+)",\s*"([^"]+)"\)', text):
        found.append((line_of(m.start()), m.group(1), m.group(2)))
    for m in re.finditer(r'(\w+)\.type\s*=\s*"(\w+)";\s*\1\.path\s*=\s*"([^"]+)"', text):
        found.append((line_of(m.start()), m.group(2), m.group(3)))

n = 0
for p in problems:
    n += 1
    print('not ok %d - %s' % (n, p))
for where, t, path in found:
    n += 1
    why = check(t, path)
    if why:
        print('not ok %d - %s: %s.%s: %s' % (n, where, t, path, why))
    else:
        print('ok %d - %s: %s.%s' % (n, where, t, path))
if len(found) < 20:
    n += 1
    print('not ok %d - only %d paths found: the extraction is broken' % (n, len(found)))
print('1..%d' % n)
PY
