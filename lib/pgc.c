/*
 * pgc.c - a small pool of PostgreSQL connections.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-events.h>

#include "pgc.h"
#include "xmalloc.h"

struct pgc_pool {
	char		*conninfo;	/* secret */
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;		/* a connection came back or closed */
	PGconn		**idle;
	int		 nidle, max_idle;
	int		 nopen, peak;	/* idle and lent */
	int		 max_open;	/* -1: no cap */
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

static char pgc_lease_mark;

static bool
pgc_is_lease(const PGconn *c)
{
	return PQinstanceData(c, pgc_event) != NULL;
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

/* libpq's message without its trailing newline. */
static void
pgc_msg(char *errbuf, size_t len, const char *what, const char *msg)
{
	size_t n;

	snprintf(errbuf, len, "%s: %s", what, msg != NULL && msg[0] ? msg :
	    "unknown error");
	n = strlen(errbuf);
	while (n > 0 && (errbuf[n - 1] == '\n' || errbuf[n - 1] == ' '))
		errbuf[--n] = '\0';
}

/* A connection slot: an idle connection in *C, or room for a new one
 * (*C NULL).  -1 when none came back within the pool's timeout. */
static int
pgc_slot(struct pgc_pool *p, PGconn **c, char *errbuf, size_t len)
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
		if (p->nidle > 0) {
			*c = p->idle[--p->nidle];
			break;
		}
		if (p->max_open < 0 || p->nopen < p->max_open) {
			if (++p->nopen > p->peak)
				p->peak = p->nopen;
			break;
		}
		if (pthread_cond_timedwait(&p->cond, &p->lock, &until) == ETIMEDOUT &&
		    p->nidle == 0 && p->nopen >= p->max_open) {
			snprintf(errbuf, len, "no PostgreSQL connection free: all %d "
			    "(database.max_pool_size + max_overflow) in use for %g s "
			    "(database.pool_timeout)", p->max_open, p->timeout);
			ret = -1;
			break;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

/* Give a slot back: its connection was closed. */
static void
pgc_unslot(struct pgc_pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->nopen--;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static PGconn *
pgc_lend(struct pgc_pool *p, bool lease, char *errbuf, size_t len)
{
	PGconn *c;

	if (pgc_slot(p, &c, errbuf, len) < 0)
		return NULL;
	if (c != NULL && PQstatus(c) != CONNECTION_OK) {
		PQfinish(c);		/* its slot is reused */
		c = NULL;
	}
	if (c == NULL) {
		c = PQconnectdb(p->conninfo);
		if (PQstatus(c) != CONNECTION_OK ||
		    !PQregisterEventProc(c, pgc_event, "pgc", NULL)) {
			pgc_msg(errbuf, len, "cannot connect to PostgreSQL",
			    PQerrorMessage(c));
			PQfinish(c);
			pgc_unslot(p);
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

void
pgc_put(struct pgc_pool *p, PGconn *c, bool broken)
{
	if (c == NULL)
		return;
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
			pthread_cond_signal(&p->cond);
		}
		pthread_mutex_unlock(&p->lock);
	}
	if (c != NULL) {
		PQfinish(c);
		pgc_unslot(p);
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
	PGresult *r = nparams == 0 ? PQexec(c, sql) :
	    PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
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
			r = nparams == 0 ? PQexec(c, sql) :
			    PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
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
	    PQerrorMessage(c));
	PQclear(r);
	return NULL;
}
