# vimgen.awk - generate vim_gen.h and vim_gen.c from vim25.spec and pbm.spec.
#
#   awk -v out=h -f vimgen.awk vim25.spec pbm.spec > vim_gen.h
#   awk -v out=c -f vimgen.awk vim25.spec pbm.spec > vim_gen.c
#
# The spec describes the subset of vim25 that vcagent speaks, once: data
# types (with their base type and members in WSDL order, each with its
# cardinality) and methods (parameters in WSDL order and the return value).
# From it come C structs and the member tables that the generic encoder
# (vim_enc.c) and decoder (vim_dec.c) walk.  Written for any POSIX awk
# (Debian's default is mawk).

function die(msg) {
	if (at_end)
		printf("vimgen.awk: %s\n", msg) > "/dev/stderr"
	else
		printf("%s:%d: %s\n", FILENAME, FNR, msg) > "/dev/stderr"
	failed = 1
	exit 1
}

# Scalar spec types and their member kind.
function kind_of(t) {
	if (t == "string" || t == "dateTime" || t == "base64Binary" || t == "anyURI")
		return "STR"
	if (t == "int" || t == "long" || t == "short" || t == "byte")
		return "INT"
	if (t == "boolean")
		return "BOOL"
	if (t == "double" || t == "float")
		return "DBL"
	if (t == "ManagedObjectReference")
		return "MOREF"
	if (t == "anyType")
		return "ANY"
	return "OBJ"
}

function card_of(c) {
	if (c == "1") return "ONE"
	if (c == "?") return "OPT"
	if (c == "*") return "LIST"
	die("cardinality must be 1, ? or *, not '" c "'")
}

# The C declaration of a member.
function ctype(kind, t, card, name) {
	if (kind == "STR")
		return card == "LIST" ? "struct vim_strs " name : "char *" name
	if (kind == "INT")
		return card == "LIST" ? "struct vim_ints " name : "struct vim_int " name
	if (kind == "BOOL") {
		if (card == "LIST") die("lists of booleans are not supported")
		return "struct vim_bool " name
	}
	if (kind == "DBL") {
		if (card == "LIST") die("lists of doubles are not supported")
		return "struct vim_dbl " name
	}
	if (kind == "MOREF")
		return card == "LIST" ? "struct vim_morefs " name : "struct vcd_moref *" name
	if (kind == "ANY")
		return card == "LIST" ? "struct vim_anys " name : "struct vim_any *" name
	return card == "LIST" ? "struct vim_list_" t " " name : "struct vim_" t " *" name
}

function start_type(name, base, cname) {
	if (name in defined)
		die("type " name " defined twice")
	ntypes++
	tname[ntypes] = name
	tcname[ntypes] = cname
	tbase[ntypes] = base
	tfirst[ntypes] = nmembers + 1
	tcount[ntypes] = 0
	defined[name] = ntypes
	cur = ntypes
}

BEGIN { ntypes = 0; nmembers = 0; nmethods = 0; cur = 0; failed = 0 }

# Each file's methods are vim25's (sent to /sdk with the session's
# SOAPAction) until a "service" line names another endpoint.
FNR == 1 { svc_ns = "urn:vim25"; svc_path = "/sdk"; svc_action = ""; cur = 0 }

{ sub(/#.*/, "") }
/^[ \t]*$/ { next }

# Indented lines are members; test them first (a member may be called "method").
/^[ \t]/ {
	if (cur == 0) die("member outside a type")
	if (NF != 3) die("usage: MEMBER TYPE CARD")
	nmembers++
	mem_name[nmembers] = $1
	mem_type[nmembers] = $2
	mem_kind[nmembers] = kind_of($2)
	mem_card[nmembers] = card_of($3)
	tcount[cur]++
	next
}

$1 == "root" {
	if (NF != 2) die("usage: root NAME")
	start_type($2, "", $2)
	troot[cur] = 1
	next
}

$1 == "type" {
	# type NAME [: BASE]
	if (NF == 2) base = "DynamicData"
	else if (NF == 4 && $3 == ":") base = $4
	else die("usage: type NAME [: BASE]")
	if (!(base in defined))
		die("base type " base " of " $2 " must be defined before it")
	start_type($2, base, $2)
	next
}

$1 == "service" {
	# service NAMESPACE PATH SOAPACTION: the methods that follow
	if (NF != 4) die("usage: service NAMESPACE PATH SOAPACTION")
	svc_ns = $2; svc_path = $3; svc_action = $4
	cur = 0
	next
}

$1 == "method" {
	# method NAME [-> TYPE CARD] idempotent|once
	nmethods++
	mname[nmethods] = $2
	mret[nmethods] = ""
	mns[nmethods] = svc_ns
	mpath[nmethods] = svc_path
	maction[nmethods] = svc_action
	if ($NF == "idempotent")
		midem[nmethods] = 1
	else if ($NF == "once")
		midem[nmethods] = 0
	else
		die("method " $2 ": say whether it is idempotent or once")
	if (NF == 6 && $3 == "->") {
		mret[nmethods] = $4
		mretcard[nmethods] = $5
		card_of($5)
	} else if (NF != 3)
		die("usage: method NAME [-> TYPE CARD] idempotent|once")
	start_type($2 "RequestType", "Request", "req_" $2)
	tmethod[cur] = nmethods
	next
}

{ die("cannot parse: " $0) }

END {
	if (failed) exit 1
	# Every object type a member names must be defined somewhere.
	for (i = 1; i <= nmembers; i++)
		if (mem_kind[i] == "OBJ" && !(mem_type[i] in defined)) {
			at_end = 1
			die("member " mem_name[i] " has unknown type " mem_type[i])
		}
	for (i = 1; i <= nmethods; i++)
		if (mret[i] != "" && kind_of(mret[i]) == "OBJ" && !(mret[i] in defined)) {
			at_end = 1
			die("method " mname[i] " returns unknown type " mret[i])
		}
	if (out == "h") emit_h()
	else if (out == "c") emit_c()
	else die("set -v out=h or -v out=c")
}

function emit_h(   i, j, b) {
	print "/* vim_gen.h - generated from vim25.spec and pbm.spec by vimgen.awk: do not edit. */"
	print "#ifndef VIM_GEN_H"
	print "#define VIM_GEN_H"
	print ""
	for (i = 1; i <= ntypes; i++)
		printf("struct vim_%s;\n", tcname[i])
	print ""
	for (i = 1; i <= ntypes; i++) {
		printf("struct vim_list_%s {\n\tstruct vim_%s **v;\n\tsize_t len;\n};\n",
		    tcname[i], tcname[i])
		printf("extern const struct vim_type vim_type_%s;\n", tcname[i])
	}
	print ""
	for (i = 1; i <= ntypes; i++) {
		printf("struct vim_%s {\n", tcname[i])
		if (troot[i])
			print "\tstruct vim_obj hdr;"
		else
			printf("\tstruct vim_%s base;\n", tcname[defined[tbase[i]]])
		for (j = tfirst[i]; j < tfirst[i] + tcount[i]; j++)
			printf("\t%s;\n", ctype(mem_kind[j], mem_type[j], mem_card[j], mem_name[j]))
		print "};"
	}
	print ""
	for (i = 1; i <= nmethods; i++) {
		printf("struct vim_resp_%s {\n\tstruct vim_obj hdr;\n", mname[i])
		if (mret[i] != "")
			printf("\t%s;\n", ctype(kind_of(mret[i]), mret[i],
			    card_of(mretcard[i]), "returnval"))
		print "};"
		printf("extern const struct vim_type vim_type_resp_%s;\n", mname[i])
		printf("extern const struct vim_method vim_method_%s;\n", mname[i])
	}
	print ""
	print "/* Every method, by index (struct vim_method.index). */"
	print "extern const struct vim_method *const vim_methods[];"
	print "extern const size_t vim_nmethods;"
	printf("#define VIM_NMETHODS %d\n", nmethods)
	print ""
	print "/* The data types (not requests or responses), sorted by name. */"
	print "extern const struct vim_type *const vim_types[];"
	print "extern const size_t vim_ntypes;"
	print ""
	print "#endif"
}

function emit_members(sym, cstruct, first, count,   j, tref) {
	printf("static const struct vim_member vim_m_%s[] = {\n", sym)
	for (j = first; j < first + count; j++) {
		tref = mem_kind[j] == "OBJ" ? "&vim_type_" mem_type[j] : "NULL"
		printf("\t{ \"%s\", VK_%s, VC_%s, %s, \"%s\", offsetof(struct vim_%s, %s) },\n",
		    mem_name[j], mem_kind[j], mem_card[j], tref, mem_type[j],
		    cstruct, mem_name[j])
	}
	print "\t{ NULL, 0, 0, NULL, NULL, 0 }"
	print "};"
}

function emit_c(   i, m, base, sub_, k) {
	print "/* vim_gen.c - generated from vim25.spec and pbm.spec by vimgen.awk: do not edit. */"
	print "#include \"config.h\""
	print ""
	print "#include <stddef.h>"
	print ""
	print "#include \"vcdriver/vim.h\""
	print ""
	# Which types have subtypes: their members need xsi:type in requests.
	for (i = 1; i <= ntypes; i++)
		if (!troot[i])
			hassub[tbase[i]] = 1
	for (i = 1; i <= ntypes; i++) {
		emit_members(tcname[i], tcname[i], tfirst[i], tcount[i])
		base = troot[i] ? "NULL" : "&vim_type_" tcname[defined[tbase[i]]]
		nall = emit_flat(i)
		printf("const struct vim_type vim_type_%s = {\n\t\"%s\", %s, vim_m_%s, %d,\n\tsizeof(struct vim_%s), %d, vim_all_%s, %d\n};\n\n",
		    tcname[i], tname[i], base, tcname[i], tcount[i], tcname[i],
		    (tname[i] in hassub) ? 1 : 0, tcname[i], nall)
	}
	for (m = 1; m <= nmethods; m++) {
		k = kind_of(mret[m])
		if (mret[m] != "") {
			printf("static const struct vim_member vim_m_resp_%s[] = {\n", mname[m])
			printf("\t{ \"returnval\", VK_%s, VC_%s, %s, \"%s\", offsetof(struct vim_resp_%s, returnval) },\n",
			    k, card_of(mretcard[m]), k == "OBJ" ? "&vim_type_" mret[m] : "NULL",
			    mret[m], mname[m])
			print "\t{ NULL, 0, 0, NULL, NULL, 0 }"
			print "};"
		} else {
			printf("static const struct vim_member vim_m_resp_%s[] = {\n", mname[m])
			print "\t{ NULL, 0, 0, NULL, NULL, 0 }"
			print "};"
		}
		printf("static const struct vim_member *const vim_all_resp_%s[] = {\n", mname[m])
		if (mret[m] != "")
			printf("\t&vim_m_resp_%s[0],\n", mname[m])
		print "\tNULL\n};"
		printf("const struct vim_type vim_type_resp_%s = {\n\t\"%sResponse\", NULL, vim_m_resp_%s, %d,\n\tsizeof(struct vim_resp_%s), 0, vim_all_resp_%s, %d\n};\n",
		    mname[m], mname[m], mname[m], mret[m] != "" ? 1 : 0, mname[m],
		    mname[m], mret[m] != "" ? 1 : 0)
		printf("const struct vim_method vim_method_%s = {\n\t\"%s\", &vim_type_req_%s, &vim_type_resp_%s, %d, %s,\n\t\"%s\", \"%s\", %s\n};\n\n",
		    mname[m], mname[m], mname[m], mname[m], m - 1,
		    midem[m] ? "true" : "false", mns[m], mpath[m],
		    maction[m] == "" ? "NULL" : "\"" maction[m] "\"")
	}
	print "const struct vim_method *const vim_methods[] = {"
	for (m = 1; m <= nmethods; m++)
		printf("\t&vim_method_%s,\n", mname[m])
	print "};"
	printf("const size_t vim_nmethods = %d;\n\n", nmethods)
	# The data types sorted by name, for vim_type_find()'s binary search
	# (an insertion sort: mawk has no asort).
	n = 0
	for (i = 1; i <= ntypes; i++) {
		if (tname[i] ~ /RequestType$/ && (i in tmethod))
			continue
		n++
		order[n] = i
		for (k = n; k > 1 && tname[order[k - 1]] > tname[order[k]]; k--) {
			tmp = order[k]; order[k] = order[k - 1]; order[k - 1] = tmp
		}
	}
	print "const struct vim_type *const vim_types[] = {"
	for (k = 1; k <= n; k++)
		printf("\t&vim_type_%s,\n", tcname[order[k]])
	print "\tNULL"
	print "};"
	printf("const size_t vim_ntypes = %d;\n", n)
}

# The members of type I and all its bases, base first: the order a decoder
# meets them in and an encoder writes them in.
function emit_flat(i,   chain, depth, d, j, t, count) {
	depth = 0
	for (t = i; ; t = defined[tbase[t]]) {
		chain[++depth] = t
		if (troot[t]) break
	}
	printf("static const struct vim_member *const vim_all_%s[] = {\n", tcname[i])
	count = 0
	for (d = depth; d >= 1; d--)
		for (j = 0; j < tcount[chain[d]]; j++) {
			printf("\t&vim_m_%s[%d],\n", tcname[chain[d]], j)
			count++
		}
	print "\tNULL\n};"
	return count
}
