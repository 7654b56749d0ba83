/*
 * pgc.c - a small pool of PostgreSQL connections.
 *
 * A statement with parameters is prepared on a connection the first time
 * it runs there (PQprepare: one more round trip, once) and executed by
 * name afterwards: the server parses and plans it once per session, not
 * at every call.  Each connection keeps the set of what it prepared (up to
 * PGC_MAX_PREPARED texts; further ones run unprepared), cleared when libpq
 * resets the session.  A prepared statement a schema change has made
 * stale ("cached plan must not change result type") is run once more
 * unprepared and prepared again at its next use.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libpq-events.h>

#include "buf.h"
#include "pgc.h"
#include "xmalloc.h"

#define PGC_MASK	"********"
#define PGC_NSECRETS	8	/* secret texts looked for in a message */

struct pgc_pool {
	char		*conninfo;	/* secret */
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;		/* a connection came back or closed */
	PGconn		**idle;
	int		 nidle, max_idle;
	int		 nopen, peak;	/* idle and lent */
	int		 max_open;	/* -1: no cap */
	int		 nlease;	/* lent by pgc_lease() */
	unsigned long	 nconnects;	/* sessions opened, ever */
	double		 timeout;	/* seconds to wait for one */
};

/*
 * Every connection carries this event procedure; its instance data is
 * non-NULL while the connection is lent as a lease (pgc_lease()).
 */
static int
pgc_event(PGEventId id, void *info, void *pass)
{
	(void)id;
	(void)info;
	(void)pass;
	return 1;
}

/* ---- prepared statements, per connection ---- */

#define PGC_MAX_PREPARED	64

struct pgc_prep {
	int		 n;
	char		*sql[PGC_MAX_PREPARED];	/* owned copies; index = name */
};

/* The second event procedure: its instance data is the connection's
 * struct pgc_prep (NULL until something is prepared). */
static int
pgc_prep_event(PGEventId id, void *info, void *pass)
{
	struct pgc_prep *pp = NULL;
	PGconn *c = NULL;

	(void)pass;
	if (id == PGEVT_CONNRESET)
		c = ((PGEventConnReset *)info)->conn;
	else if (id == PGEVT_CONNDESTROY)
		c = ((PGEventConnDestroy *)info)->conn;
	if (c != NULL && (pp = PQinstanceData(c, pgc_prep_event)) != NULL) {
		/* a new session has none of them */
		for (int i = 0; i < pp->n; i++)
			free(pp->sql[i]);
		pp->n = 0;
		if (id == PGEVT_CONNDESTROY) {
			free(pp);
			PQsetInstanceData(c, pgc_prep_event, NULL);
		}
	}
	return 1;
}

/* The name SQL was prepared under on C ("pgc_N" in NAME), or -1 if not. */
static int
pgc_prep_find(PGconn *c, const char *sql, char *name, size_t len)
{
	struct pgc_prep *pp = PQinstanceData(c, pgc_prep_event);

	for (int i = 0; pp != NULL && i < pp->n; i++)
		if (pp->sql[i] != NULL && strcmp(pp->sql[i], sql) == 0) {
			snprintf(name, len, "pgc_%d", i);
			return i;
		}
	return -1;
}

/* Prepare SQL on C if there is room: its slot, with its NAME, else -1 (run
 * it unprepared; an error in SQL then shows there). */
static int
pgc_prep_add(PGconn *c, const char *sql, int nparams, char *name, size_t len)
{
	struct pgc_prep *pp = PQinstanceData(c, pgc_prep_event);
	PGresult *r;
	int i;

	if (pp == NULL) {
		pp = xcalloc(1, sizeof(*pp));
		if (!PQsetInstanceData(c, pgc_prep_event, pp)) {
			free(pp);	/* no event procedure: never prepared */
			return -1;
		}
	}
	for (i = 0; i < pp->n && pp->sql[i] != NULL; i++)
		;
	if (i == PGC_MAX_PREPARED)
		return -1;
	snprintf(name, len, "pgc_%d", i);
	r = PQprepare(c, name, sql, nparams, NULL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		PQclear(r);
		return -1;
	}
	PQclear(r);
	pp->sql[i] = xstrdup(sql);
	if (i == pp->n)
		pp->n++;
	return i;
}

/*
 * The slot (and NAME) SQL is prepared under on C, preparing it now when it
 * has parameters, is not yet, and C is outside a transaction (never in a
 * pipeline); -1: run it unprepared.
 */
static int
pgc_prep_name(PGconn *c, const char *sql, int nparams, char *name, size_t len)
{
	int slot;

	if (nparams == 0)
		return -1;
	if ((slot = pgc_prep_find(c, sql, name, len)) < 0 &&
	    PQtransactionStatus(c) == PQTRANS_IDLE &&
	    PQpipelineStatus(c) == PQ_PIPELINE_OFF)
		slot = pgc_prep_add(c, sql, nparams, name, len);
	return slot;
}

/* Send SQL on C without waiting: by name when it is prepared there. */
static int
pgc_send_query(PGconn *c, const char *sql, int nparams, const char *const *params)
{
	char name[24];

	if (nparams > 0 && pgc_prep_find(c, sql, name, sizeof(name)) >= 0)
		return PQsendQueryPrepared(c, name, nparams, params, NULL, NULL, 0);
	return PQsendQueryParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
}

/* Forget (and deallocate) the statement prepared as slot I on C. */
static void
pgc_prep_drop(PGconn *c, int i)
{
	struct pgc_prep *pp = PQinstanceData(c, pgc_prep_event);
	char sql[32];
	PGresult *r;

	if (pp == NULL || i < 0 || i >= pp->n)
		return;
	free(pp->sql[i]);
	pp->sql[i] = NULL;
	snprintf(sql, sizeof(sql), "DEALLOCATE pgc_%d", i);
	r = PQexec(c, sql);
	PQclear(r);
}

/*
 * Run SQL with NPARAMS parameters on C: prepared when it has parameters
 * (prepared now if it was not yet); a stale prepared plan is dropped and
 * the statement run unprepared.
 */
static PGresult *
pgc_run(PGconn *c, const char *sql, int nparams, const char *const *params)
{
	char name[24];
	PGresult *r;
	const char *state;
	int slot;

	if (nparams == 0)
		return PQexec(c, sql);
	if ((slot = pgc_prep_name(c, sql, nparams, name, sizeof(name))) < 0)
		return PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
	r = PQexecPrepared(c, name, nparams, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_FATAL_ERROR && PQstatus(c) == CONNECTION_OK &&
	    PQtransactionStatus(c) == PQTRANS_IDLE &&
	    (state = PQresultErrorField(r, PG_DIAG_SQLSTATE)) != NULL &&
	    strcmp(state, "0A000") == 0) {
		/* "cached plan must not change result type": a schema change */
		PQclear(r);
		pgc_prep_drop(c, slot);
		r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
	}
	return r;
}

static char pgc_lease_mark;	/* a lease that may hold locks */
static char pgc_lease_free;	/* a lease whose locks were released */

static bool
pgc_is_lease(const PGconn *c)
{
	return PQinstanceData(c, pgc_event) == &pgc_lease_mark;
}

/*
 * Leases may take half of a capped pool: the holder of one may need a
 * second connection meanwhile (the image cache's own), and must find it.
 */
static bool
pgc_lease_room(const struct pgc_pool *p)
{
	return p->max_open < 0 || p->nlease < (p->max_open / 2 > 0 ?
	    p->max_open / 2 : 1);
}

struct pgc_pool *
pgc_pool_new(const char *conninfo, int max_idle)
{
	struct pgc_pool *p = xcalloc(1, sizeof(*p));

	p->conninfo = xstrdup(conninfo);
	p->max_idle = max_idle > 0 ? max_idle : 1;
	p->idle = xcalloc((size_t)p->max_idle, sizeof(*p->idle));
	p->max_open = -1;
	p->timeout = 30;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	return p;
}

void
pgc_pool_cap(struct pgc_pool *p, int max_pool_size, int max_overflow,
    double pool_timeout)
{
	pthread_mutex_lock(&p->lock);
	for (; p->nidle > (max_pool_size > 0 ? max_pool_size : 1); p->nopen--)
		PQfinish(p->idle[--p->nidle]);
	p->max_idle = max_pool_size > 0 ? max_pool_size : 1;
	p->idle = xrealloc(p->idle, (size_t)p->max_idle * sizeof(*p->idle));
	p->max_open = max_overflow < 0 ? -1 : p->max_idle + max_overflow;
	p->timeout = pool_timeout > 0 ? pool_timeout : 0;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

void
pgc_pool_count(struct pgc_pool *p, int *open, int *peak)
{
	pthread_mutex_lock(&p->lock);
	*open = p->nopen;
	*peak = p->peak;
	pthread_mutex_unlock(&p->lock);
}

unsigned long
pgc_pool_connects(struct pgc_pool *p)
{
	unsigned long n;

	pthread_mutex_lock(&p->lock);
	n = p->nconnects;
	pthread_mutex_unlock(&p->lock);
	return n;
}

void
pgc_pool_free(struct pgc_pool *p)
{
	if (p == NULL)
		return;
	for (int i = 0; i < p->nidle; i++)
		PQfinish(p->idle[i]);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p->idle);
	xfree_secret(p->conninfo);
	free(p);
}

/* ---- secrets in connection strings ---- */

/* A secret value found in a connection string: S[OFF, OFF + LEN). */
struct pgc_span {
	size_t	off, len;
	bool	uri;		/* percent-encoded; else conninfo-quoted */
};

/* Up to MAX spans of secrets in S (LEN bytes); returns how many were found. */
typedef size_t (*pgc_spans_fn)(const char *s, size_t len, struct pgc_span *v,
    size_t max);

static bool
pgc_secret_key(const char *k, size_t n)
{
	return (n == 8 && strncasecmp(k, "password", 8) == 0) ||
	    (n == 11 && strncasecmp(k, "sslpassword", 11) == 0);
}

/* Length of the scheme:// prefix of a URI at S, 0 if S is not one. */
static size_t
pgc_uri_prefix(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && (isalnum((unsigned char)s[i]) || s[i] == '+' ||
	    s[i] == '-' || s[i] == '.'))
		i++;
	if (i == 0 || i + 3 > len || strncmp(s + i, "://", 3) != 0)
		return 0;
	return i + 3;
}

/*
 * A URI's secrets: the password of its user info ("user:password@", the
 * '@' before any '/', as libpq reads it) and the values of its password
 * and sslpassword query parameters.
 */
static size_t
pgc_uri_spans(const char *s, size_t len, struct pgc_span *v, size_t max)
{
	size_t p = pgc_uri_prefix(s, len), n = 0, at, q;

	if (p == 0)
		return 0;
	for (at = p; at < len && s[at] != '@' && s[at] != '/'; at++)
		;
	if (at < len && s[at] == '@') {
		const char *colon = memchr(s + p, ':', at - p);
		if (colon != NULL && n < max)
			v[n++] = (struct pgc_span){ (size_t)(colon + 1 - s),
			    at - (size_t)(colon + 1 - s), true };
		p = at + 1;
	}
	for (q = p; q < len && s[q] != '?'; q++)
		;
	while (q < len) {
		size_t k = q + 1, e, eq;

		for (e = k; e < len && s[e] != '&'; e++)
			;
		for (eq = k; eq < e && s[eq] != '='; eq++)
			;
		if (eq < e && pgc_secret_key(s + k, eq - k) && n < max)
			v[n++] = (struct pgc_span){ eq + 1, e - eq - 1, true };
		q = e;
	}
	return n;
}

/*
 * The secrets of a connection string as libpq parses it: a URI (above), or
 * keyword = value pairs whose value is either single-quoted (\' and \\
 * escaped) or runs to the next unescaped white space.  Past a pair libpq
 * would refuse (no '='), the rest is taken as one secret: better masked
 * than shown.
 */
static size_t
pgc_conninfo_spans(const char *s, size_t len, struct pgc_span *v, size_t max)
{
	size_t p = 0, n = 0;

	while (p < len && isspace((unsigned char)s[p]))
		p++;
	if (pgc_uri_prefix(s + p, len - p) > 0) {
		n = pgc_uri_spans(s + p, len - p, v, max);
		for (size_t i = 0; i < n; i++)
			v[i].off += p;
		return n;
	}
	while (p < len) {
		size_t k, kl, vs;

		while (p < len && isspace((unsigned char)s[p]))
			p++;
		if (p == len)
			break;
		for (k = p; p < len && !isspace((unsigned char)s[p]) && s[p] != '='; p++)
			;
		kl = p - k;
		while (p < len && isspace((unsigned char)s[p]))
			p++;
		if (p == len || s[p] != '=') {
			if (n < max)		/* not conninfo: all of it */
				v[n++] = (struct pgc_span){ k, len - k, false };
			break;
		}
		for (p++; p < len && isspace((unsigned char)s[p]); p++)
			;
		vs = p;
		if (p < len && s[p] == '\'') {
			for (p++; p < len && s[p] != '\''; p++)
				if (s[p] == '\\' && p + 1 < len)
					p++;
			if (p < len)
				p++;
		} else {
			for (; p < len && !isspace((unsigned char)s[p]); p++)
				if (s[p] == '\\' && p + 1 < len)
					p++;
		}
		if (pgc_secret_key(s + k, kl) && n < max)
			v[n++] = (struct pgc_span){ vs, p - vs, false };
	}
	return n;
}

/* The value a span stands for: percent-decoded, or unquoted.  Caller frees. */
static char *
pgc_span_value(const char *s, const struct pgc_span *sp)
{
	const char *v = s + sp->off;
	char *out = xmalloc(sp->len + 1);
	size_t o = 0, i = 0, n = sp->len;

	if (!sp->uri && n >= 1 && v[0] == '\'') {
		i = 1;
		if (n >= 2 && v[n - 1] == '\'')
			n--;
	}
	for (; i < n; i++) {
		if (sp->uri && v[i] == '%' && i + 2 < n &&
		    isxdigit((unsigned char)v[i + 1]) && isxdigit((unsigned char)v[i + 2])) {
			char h[3] = { v[i + 1], v[i + 2], '\0' };
			out[o++] = (char)strtol(h, NULL, 16);
			i += 2;
		} else if (!sp->uri && v[i] == '\\' && i + 1 < n)
			out[o++] = v[++i];
		else
			out[o++] = v[i];
	}
	out[o] = '\0';
	return out;
}

/* S with the spans FN finds replaced by PGC_MASK, into B. */
static void
pgc_mask_spans(struct buf *b, const char *s, size_t len, pgc_spans_fn fn)
{
	struct pgc_span v[PGC_NSECRETS];
	size_t n = fn(s, len, v, PGC_NSECRETS), p = 0;

	for (size_t i = 0; i < n; i++) {
		buf_append(b, s + p, v[i].off - p);
		buf_puts(b, PGC_MASK);
		p = v[i].off + v[i].len;
	}
	buf_append(b, s + p, len - p);
}

char *
pgc_mask(const char *conninfo)
{
	struct buf b = BUF_INIT;

	pgc_mask_spans(&b, conninfo, strlen(conninfo), pgc_conninfo_spans);
	return buf_steal(&b);
}

/* Add secret TEXT (copied) to V unless empty or there already. */
static void
pgc_secret_add(char **v, size_t *n, const char *text)
{
	if (text == NULL || text[0] == '\0' || *n == PGC_NSECRETS)
		return;
	for (size_t i = 0; i < *n; i++)
		if (strcmp(v[i], text) == 0)
			return;
	v[(*n)++] = xstrdup(text);
}

void
pgc_scrub(char *msg, size_t len, const char *conninfo, PGconn *c)
{
	struct buf b = BUF_INIT, out = BUF_INIT;
	char *sec[PGC_NSECRETS];
	size_t ns = 0, p = 0, ml = strlen(msg);

	/* what the connection string and the connection say the secrets are */
	if (conninfo != NULL) {
		struct pgc_span v[PGC_NSECRETS];
		size_t n = pgc_conninfo_spans(conninfo, strlen(conninfo), v,
		    PGC_NSECRETS);
		for (size_t i = 0; i < n; i++) {
			char *raw = xasprintf("%.*s", (int)v[i].len, conninfo + v[i].off);
			char *val = pgc_span_value(conninfo, &v[i]);
			pgc_secret_add(sec, &ns, raw);
			pgc_secret_add(sec, &ns, val);
			xfree_secret(raw);
			xfree_secret(val);
		}
	}
	if (c != NULL) {
		PQconninfoOption *o = PQconninfo(c);
		for (PQconninfoOption *i = o; i != NULL && i->keyword != NULL; i++)
			if (pgc_secret_key(i->keyword, strlen(i->keyword)))
				pgc_secret_add(sec, &ns, i->val);
		PQconninfoFree(o);
	}
	/* URIs quoted in the message: their passwords */
	while (p < ml) {
		const char *u = NULL;
		size_t ul;

		for (size_t i = p; i < ml && u == NULL; i++)
			if ((i == 0 || !isalnum((unsigned char)msg[i - 1])) &&
			    pgc_uri_prefix(msg + i, ml - i) > 0)
				u = msg + i;
		if (u == NULL)
			break;
		ul = strcspn(u, "\" \t\r\n");
		buf_append(&b, msg + p, (size_t)(u - msg) - p);
		pgc_mask_spans(&b, u, ul, pgc_uri_spans);
		p = (size_t)(u - msg) + ul;
	}
	buf_append(&b, msg + p, ml - p);
	/* and every secret met anywhere in it */
	for (const char *t = buf_cstr(&b); *t != '\0'; ) {
		size_t best = 0;
		for (size_t i = 0; i < ns; i++) {
			size_t sl = strlen(sec[i]);
			if (sl > best && strncmp(t, sec[i], sl) == 0)
				best = sl;
		}
		if (best > 0) {
			buf_puts(&out, PGC_MASK);
			t += best;
		} else
			buf_append(&out, t++, 1);
	}
	if (len > 0)
		snprintf(msg, len, "%s", buf_cstr(&out));
	for (size_t i = 0; i < ns; i++)
		xfree_secret(sec[i]);
	xfree_secret(buf_steal(&b));
	xfree_secret(buf_steal(&out));
}

/* libpq's message without its trailing newline, and without a secret. */
static void
pgc_msg(char *errbuf, size_t len, const char *what, const char *msg,
    const char *conninfo, PGconn *c)
{
	size_t n;

	snprintf(errbuf, len, "%s: %s", what, msg != NULL && msg[0] ? msg :
	    "unknown error");
	n = strlen(errbuf);
	while (n > 0 && (errbuf[n - 1] == '\n' || errbuf[n - 1] == ' '))
		errbuf[--n] = '\0';
	pgc_scrub(errbuf, len, conninfo, c);
}

/* A connection slot: an idle connection in *C, or room for a new one
 * (*C NULL).  -1 when none came back within the pool's timeout. */
static int
pgc_slot(struct pgc_pool *p, bool lease, PGconn **c, char *errbuf, size_t len)
{
	struct timespec until;
	int ret = 0;

	*c = NULL;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)p->timeout;
	until.tv_nsec += (long)((p->timeout - (double)(time_t)p->timeout) * 1e9);
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&p->lock);
	for (;;) {
		if (lease && !pgc_lease_room(p))
			;	/* wait for a lease to come back */
		else if (p->nidle > 0) {
			*c = p->idle[--p->nidle];
			break;
		} else if (p->max_open < 0 || p->nopen < p->max_open) {
			if (++p->nopen > p->peak)
				p->peak = p->nopen;
			break;
		}
		if (pthread_cond_timedwait(&p->cond, &p->lock, &until) == ETIMEDOUT &&
		    (lease && !pgc_lease_room(p) ? true : p->nidle == 0 &&
		    p->nopen >= p->max_open)) {
			snprintf(errbuf, len, "no PostgreSQL connection free: all %d "
			    "(database.max_pool_size + max_overflow%s) in use for %g s "
			    "(database.pool_timeout)", lease ? (p->max_open / 2 > 0 ?
			    p->max_open / 2 : 1) : p->max_open, lease ? ", halved for "
			    "connections holding locks" : "", p->timeout);
			ret = -1;
			break;
		}
	}
	if (ret == 0 && lease)
		p->nlease++;
	pthread_mutex_unlock(&p->lock);
	return ret;
}

/* Give a slot back: its connection was closed; LEASE: it was a lease's. */
static void
pgc_unslot(struct pgc_pool *p, bool lease)
{
	pthread_mutex_lock(&p->lock);
	p->nopen--;
	if (lease)
		p->nlease--;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static PGconn *
pgc_lend(struct pgc_pool *p, bool lease, char *errbuf, size_t len)
{
	PGconn *c;

	if (pgc_slot(p, lease, &c, errbuf, len) < 0)
		return NULL;
	if (c != NULL && PQstatus(c) != CONNECTION_OK) {
		PQfinish(c);		/* its slot is reused */
		c = NULL;
	}
	if (c == NULL) {
		pthread_mutex_lock(&p->lock);
		p->nconnects++;
		pthread_mutex_unlock(&p->lock);
		c = PQconnectdb(p->conninfo);
		if (PQstatus(c) != CONNECTION_OK ||
		    !PQregisterEventProc(c, pgc_event, "pgc", NULL) ||
		    !PQregisterEventProc(c, pgc_prep_event, "pgc_prep", NULL)) {
			pgc_msg(errbuf, len, "cannot connect to PostgreSQL",
			    PQerrorMessage(c), p->conninfo, c);
			PQfinish(c);
			pgc_unslot(p, lease);
			return NULL;
		}
	}
	PQsetInstanceData(c, pgc_event, lease ? &pgc_lease_mark : NULL);
	return c;
}

PGconn *
pgc_get(struct pgc_pool *p, char *errbuf, size_t len)
{
	return pgc_lend(p, false, errbuf, len);
}

PGconn *
pgc_lease(struct pgc_pool *p, char *errbuf, size_t len)
{
	return pgc_lend(p, true, errbuf, len);
}

int
pgc_pool_warm(struct pgc_pool *p, const char *sql, char *errbuf, size_t len)
{
	PGconn **held;
	unsigned long before;
	int i, n, nheld = 0, ret = -1;

	pthread_mutex_lock(&p->lock);
	before = p->nconnects;
	n = p->max_idle;	/* more would be closed when put back */
	if (p->max_open >= 0 && n > p->max_open)
		n = p->max_open;
	pthread_mutex_unlock(&p->lock);
	held = xcalloc(n > 0 ? (size_t)n : 1, sizeof(*held));
	/* held at once: each pgc_get() past the idle ones opens a session */
	for (i = 0; i < n; i++) {
		if ((held[i] = pgc_get(p, errbuf, len)) == NULL)
			goto out;
		nheld++;
		if (sql != NULL) {
			PGresult *r = pgc_exec(held[i], sql, 0, NULL, errbuf, len, NULL);

			if (r == NULL)
				goto out;
			PQclear(r);
		}
	}
	ret = 0;
out:
	for (i = 0; i < nheld; i++)
		pgc_put(p, held[i], false);
	free(held);
	if (ret == 0) {
		pthread_mutex_lock(&p->lock);
		ret = (int)(p->nconnects - before);
		pthread_mutex_unlock(&p->lock);
	}
	return ret;
}

void
pgc_put(struct pgc_pool *p, PGconn *c, bool broken)
{
	bool lease;

	if (c == NULL)
		return;
	lease = PQinstanceData(c, pgc_event) != NULL;
	if (PQpipelineStatus(c) != PQ_PIPELINE_OFF)
		broken = true;		/* left mid-pipeline: not reusable */
	if (!broken && PQstatus(c) == CONNECTION_OK &&
	    PQtransactionStatus(c) == PQTRANS_IDLE && pgc_is_lease(c)) {
		/* a lease's locks end with it, even one its holder forgot */
		PGresult *r = PQexec(c, "SELECT pg_advisory_unlock_all()");
		broken = PQresultStatus(r) != PGRES_TUPLES_OK;
		PQclear(r);
	}
	if (!broken && PQstatus(c) == CONNECTION_OK &&
	    PQtransactionStatus(c) == PQTRANS_IDLE) {
		PQsetInstanceData(c, pgc_event, NULL);
		pthread_mutex_lock(&p->lock);
		if (p->nidle < p->max_idle) {
			p->idle[p->nidle++] = c;
			c = NULL;
			if (lease)
				p->nlease--;
			pthread_cond_broadcast(&p->cond);
		}
		pthread_mutex_unlock(&p->lock);
	}
	if (c != NULL) {
		PQfinish(c);
		pgc_unslot(p, lease);
	}
}

bool
pgc_alive(PGconn *c)
{
	PGresult *r;
	bool ok;

	if (PQstatus(c) != CONNECTION_OK)
		return false;
	r = PQexec(c, "SELECT 1");
	ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	PQclear(r);
	return ok && PQstatus(c) == CONNECTION_OK;
}

bool
pgc_broken(PGconn *c)
{
	return PQstatus(c) != CONNECTION_OK;
}

PGresult *
pgc_exec(PGconn *c, const char *sql, int nparams, const char *const *params,
    char *errbuf, size_t len, char sqlstate[6])
{
	bool autocommit = PQtransactionStatus(c) == PQTRANS_IDLE;
	/* without parameters SQL may hold several statements (migrations) */
	PGresult *r = pgc_run(c, sql, nparams, params);
	ExecStatusType st = PQresultStatus(r);
	const char *state;

	/*
	 * A pooled connection whose server restarted fails on first use: outside
	 * a transaction, reconnect and try the statement once more.  Never a
	 * lease: its holder's advisory locks went with the old session.
	 */
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && autocommit &&
	    PQstatus(c) == CONNECTION_BAD && !pgc_is_lease(c)) {
		PQreset(c);
		if (PQstatus(c) == CONNECTION_OK) {
			PQclear(r);
			r = pgc_run(c, sql, nparams, params);
			st = PQresultStatus(r);
		}
	}

	if (sqlstate != NULL)
		sqlstate[0] = '\0';
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return r;
	if (sqlstate != NULL && (state = PQresultErrorField(r, PG_DIAG_SQLSTATE)) != NULL)
		snprintf(sqlstate, 6, "%s", state);
	pgc_msg(errbuf, len, "PostgreSQL", r != NULL ? PQresultErrorMessage(r) :
	    PQerrorMessage(c), NULL, c);
	PQclear(r);
	return NULL;
}

int
pgc_send(PGconn *c, const char *sql, int nparams, const char *const *params,
    char *errbuf, size_t len)
{
	char name[24];

	(void)pgc_prep_name(c, sql, nparams, name, sizeof(name));
	if (!pgc_send_query(c, sql, nparams, params)) {
		pgc_msg(errbuf, len, "PostgreSQL", PQerrorMessage(c), NULL, c);
		return -1;
	}
	return 0;
}

PGresult *
pgc_recv(PGconn *c, char *errbuf, size_t len)
{
	PGresult *r, *first = NULL;
	ExecStatusType st;

	while ((r = PQgetResult(c)) != NULL) {	/* to the end: C is free again */
		if (first == NULL)
			first = r;
		else
			PQclear(r);
	}
	st = PQresultStatus(first);
	if (first != NULL && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK))
		return first;
	pgc_msg(errbuf, len, "PostgreSQL", first != NULL ?
	    PQresultErrorMessage(first) : PQerrorMessage(c), NULL, c);
	PQclear(first);
	return NULL;
}

int
pgc_exec_unlock(PGconn *c, const struct pgc_stmt *stmts, int n, char *errbuf,
    size_t len)
{
	PGresult *r;
	ExecStatusType st;
	int syncs = 0, ret = -1, got = 0, ok = 0, nulls = 0;
	bool unlocked = false, failed = false;

	snprintf(errbuf, len, "PostgreSQL: no answer");
	/* prepared before the pipeline, the first time on this connection */
	for (int i = 0; i < n; i++) {
		char name[24];

		(void)pgc_prep_name(c, stmts[i].sql, stmts[i].nparams, name,
		    sizeof(name));
	}
	if (PQtransactionStatus(c) != PQTRANS_IDLE || !PQenterPipelineMode(c)) {
		pgc_msg(errbuf, len, "PostgreSQL", PQerrorMessage(c), NULL, c);
		return -1;
	}
	/* the statements are one transaction (no sync between them); it
	 * commits at the first sync, before the locks go */
	for (int i = 0; i < n; i++)
		if (!pgc_send_query(c, stmts[i].sql, stmts[i].nparams, stmts[i].params)) {
			pgc_msg(errbuf, len, "PostgreSQL", PQerrorMessage(c), NULL, c);
			goto out;
		}
	if (!PQpipelineSync(c) || !PQsendQueryParams(c, "SELECT "
	    "pg_advisory_unlock_all()", 0, NULL, NULL, NULL, NULL, 0) ||
	    !PQpipelineSync(c)) {
		pgc_msg(errbuf, len, "PostgreSQL", PQerrorMessage(c), NULL, c);
		goto out;
	}
	while (syncs < 2) {
		if ((r = PQgetResult(c)) == NULL) {
			if (PQstatus(c) != CONNECTION_OK || ++nulls > 2)
				break;
			continue;	/* the end of one query's results */
		}
		nulls = 0;
		st = PQresultStatus(r);
		if (st == PGRES_PIPELINE_SYNC)
			syncs++;
		else if (syncs == 0 && got < n) {
			got++;
			if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
				ok++;
			else if (!failed) {	/* the first error; the rest were skipped */
				failed = true;
				pgc_msg(errbuf, len, "PostgreSQL",
				    PQresultErrorMessage(r), NULL, c);
			}
		} else if (syncs == 1 && st == PGRES_TUPLES_OK)
			unlocked = true;
		else if (st == PGRES_FATAL_ERROR && PQstatus(c) != CONNECTION_OK) {
			if (!failed)
				pgc_msg(errbuf, len, "PostgreSQL",
				    PQresultErrorMessage(r), NULL, c);
			PQclear(r);
			break;
		}
		PQclear(r);
	}
	if (ok == n && syncs >= 1)
		ret = 0;
out:
	if (syncs == 2)
		(void)PQexitPipelineMode(c);
	if (syncs < 2 && ret == 0)
		ret = -1;	/* its commit not confirmed */
	if (unlocked && PQpipelineStatus(c) == PQ_PIPELINE_OFF)
		PQsetInstanceData(c, pgc_event, &pgc_lease_free);	/* no lock left */
	return ret;
}
