/*
 * cfg_uri.c - vmware.uri: the vCenter and the cluster as one URI, in the
 * form libvirt's ESX driver takes for a vCenter:
 *
 *   vpx://[user[:password]@]vcenter[:port]/datacenter[/folder...]/cluster
 *       [?no_verify=0|1][&auto_answer=0|1][&proxy=[type://]host[:port]]
 *       [&transport=https]
 *
 * with libvirt's parameter names and meanings: no_verify turns TLS
 * verification off, auto_answer answers a VM's questions with their
 * defaults, proxy is an HTTP (the default) or SOCKS proxy (type http,
 * socks, socks4, socks4a or socks5; libvirt's "socks" is SOCKS5).  The user,
 * password and path segments are percent-decoded (administrator%40vsphere.
 * local).  The last path segment is the cluster, the first the datacenter
 * it must be in; the segments between are folders, not checked.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cfg.h"
#include "xmalloc.h"

/* S[0..N) percent-decoded into a new string; NULL on a bad escape or a
 * decoded control character. */
static char *
cfg_uri_decode(const char *s, size_t n)
{
	char *out = xmalloc(n + 1), *o = out;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			if (i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) ||
			    !isxdigit((unsigned char)s[i + 2]))
				goto bad;
			c = (unsigned char)strtol((char[]){ s[i + 1], s[i + 2], '\0' }, NULL, 16);
			i += 2;
		}
		if (c < 0x20 || c == 0x7f)
			goto bad;
		*o++ = (char)c;
	}
	*o = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

void
cfg_vpx_free(struct cfg_vpx *v)
{
	free(v->user);
	if (v->password != NULL)
		xfree_secret(v->password);
	free(v->host);
	free(v->datacenter);
	free(v->cluster);
	free(v->proxy);
	memset(v, 0, sizeof(*v));
}

/* One query parameter NAME=VALUE (VALUE N bytes) into V. */
static int
cfg_vpx_param(struct cfg_vpx *v, const char *name, size_t nl, const char *val,
    size_t n, struct buf *why)
{
	static const struct { const char *libvirt, *curl; } proxies[] = {
		{ "http", "http" }, { "socks", "socks5" }, { "socks4", "socks4" },
		{ "socks4a", "socks4a" }, { "socks5", "socks5" } };
	int *flag = NULL;

	if (nl == 9 && strncmp(name, "no_verify", nl) == 0)
		flag = &v->no_verify;
	else if (nl == 11 && strncmp(name, "auto_answer", nl) == 0)
		flag = &v->auto_answer;
	if (flag != NULL) {
		if (n != 1 || (val[0] != '0' && val[0] != '1')) {
			buf_printf(why, "%.*s must be 0 or 1, not \"%.*s\"", (int)nl, name,
			    (int)n, val);
			return -1;
		}
		*flag = val[0] == '1';
		return 0;
	}
	if (nl == 9 && strncmp(name, "transport", nl) == 0) {
		if (n != 5 || strncmp(val, "https", 5) != 0) {
			buf_printf(why, "transport \"%.*s\": vCenter is spoken to over "
			    "https only", (int)n, val);
			return -1;
		}
		return 0;
	}
	if (nl == 5 && strncmp(name, "proxy", nl) == 0) {
		const char *sep = NULL, *host = val;
		const char *type = "http";
		char *dec;

		for (size_t i = 0; i + 2 < n; i++)
			if (strncmp(val + i, "://", 3) == 0) {
				sep = val + i;
				break;
			}
		if (sep != NULL) {
			size_t tl = (size_t)(sep - val);

			type = NULL;
			for (size_t i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
				if (strlen(proxies[i].libvirt) == tl &&
				    strncmp(proxies[i].libvirt, val, tl) == 0)
					type = proxies[i].curl;
			if (type == NULL) {
				buf_printf(why, "proxy type \"%.*s\" is not http, socks, "
				    "socks4, socks4a or socks5", (int)tl, val);
				return -1;
			}
			host = sep + 3;
		}
		if ((dec = cfg_uri_decode(host, n - (size_t)(host - val))) == NULL ||
		    *dec == '\0' || *dec == ':' || strchr(dec, '/') != NULL) {
			free(dec);
			buf_printf(why, "proxy \"%.*s\" is not [type://]host[:port]", (int)n,
			    val);
			return -1;
		}
		free(v->proxy);
		v->proxy = xasprintf("%s://%s", type, dec);
		free(dec);
		return 0;
	}
	buf_printf(why, "unknown parameter \"%.*s\" (vcagent takes no_verify, "
	    "auto_answer, proxy and transport)", (int)nl, name);
	return -1;
}

int
cfg_vpx_parse(const char *uri, struct cfg_vpx *v, struct buf *why)
{
	const char *p, *auth, *end, *at, *host, *q, *colon;
	const char *segs[64];
	size_t lens[64], nseg = 0;

	memset(v, 0, sizeof(*v));
	v->no_verify = v->auto_answer = -1;
	if (strncmp(uri, "vpx://", 6) != 0) {
		if (strncmp(uri, "esx://", 6) == 0 || strncmp(uri, "gsx://", 6) == 0)
			buf_printf(why, "\"%.3s://\" names a single host: vcagent serves "
			    "the clusters of a vCenter (vpx://)", uri);
		else
			buf_printf(why, "is not a vpx:// URI");
		goto bad;
	}
	auth = uri + 6;
	end = auth + strcspn(auth, "/?#");
	if (*end != '/') {
		buf_printf(why, "has no /datacenter/cluster path");
		goto bad;
	}
	/* [user[:password]@] */
	at = NULL;
	for (p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	host = auth;
	if (at != NULL) {
		const char *pw = memchr(auth, ':', (size_t)(at - auth));

		v->user = cfg_uri_decode(auth, (size_t)((pw != NULL ? pw : at) - auth));
		if (pw != NULL)
			v->password = cfg_uri_decode(pw + 1, (size_t)(at - pw - 1));
		if (v->user == NULL || v->user[0] == '\0' ||
		    (pw != NULL && v->password == NULL)) {
			buf_printf(why, "has a bad user part (percent-encode '@' as %%40)");
			goto bad;
		}
		host = at + 1;
	}
	/* host[:port], host an IPv6 literal in brackets */
	if (*host == '[') {
		const char *rb = memchr(host, ']', (size_t)(end - host));

		if (rb == NULL) {
			buf_printf(why, "has an unterminated [IPv6 address]");
			goto bad;
		}
		v->host = xstrndup(host + 1, (size_t)(rb - host - 1));
		colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
		if (rb + 1 < end && colon == NULL) {
			buf_printf(why, "has something after its [IPv6 address]");
			goto bad;
		}
	} else {
		colon = memchr(host, ':', (size_t)(end - host));
		v->host = xstrndup(host, (size_t)((colon != NULL ? colon : end) - host));
	}
	if (v->host[0] == '\0') {
		buf_printf(why, "names no vCenter host");
		goto bad;
	}
	for (p = v->host; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr(".-_:", *p) == NULL) {
			buf_printf(why, "host \"%s\" has a character a host name cannot",
			    v->host);
			goto bad;
		}
	v->port = 443;
	if (colon != NULL) {
		char *e;
		long port = strtol(colon + 1, &e, 10);

		if (e != end || colon + 1 == end || port < 1 || port > 65535) {
			buf_printf(why, "port \"%.*s\" is not 1 to 65535",
			    (int)(end - colon - 1), colon + 1);
			goto bad;
		}
		v->port = (int)port;
	}
	/* /datacenter[/folder...]/cluster */
	q = end + strcspn(end, "?#");
	if (*q == '#') {
		buf_printf(why, "has a fragment (#...)");
		goto bad;
	}
	for (p = end; p < q; ) {
		const char *s = p + 1, *e = s;

		while (e < q && *e != '/')
			e++;
		if (e == s) {
			if (e == q)
				break;	/* a trailing slash */
			buf_printf(why, "has an empty path segment");
			goto bad;
		}
		if (nseg == sizeof(segs) / sizeof(segs[0])) {
			buf_printf(why, "has too many path segments");
			goto bad;
		}
		segs[nseg] = s;
		lens[nseg++] = (size_t)(e - s);
		p = e;
	}
	if (nseg < 2) {
		buf_printf(why, "path must be /datacenter[/folder...]/cluster");
		goto bad;
	}
	if ((v->datacenter = cfg_uri_decode(segs[0], lens[0])) == NULL ||
	    (v->cluster = cfg_uri_decode(segs[nseg - 1], lens[nseg - 1])) == NULL) {
		buf_printf(why, "has a bad percent-escape in its path");
		goto bad;
	}
	/* ?name=value&... */
	for (p = *q == '?' ? q + 1 : q; *p != '\0'; ) {
		const char *e = p + strcspn(p, "&"), *eq = memchr(p, '=', (size_t)(e - p));

		if (e == p) {
			p++;
			continue;
		}
		if (eq == NULL) {
			buf_printf(why, "parameter \"%.*s\" has no value", (int)(e - p), p);
			goto bad;
		}
		if (cfg_vpx_param(v, p, (size_t)(eq - p), eq + 1, (size_t)(e - eq - 1),
		    why) < 0)
			goto bad;
		p = *e == '&' ? e + 1 : e;
	}
	return 0;
bad:
	cfg_vpx_free(v);
	return -1;
}
