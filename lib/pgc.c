/*
 * pgc.c - a small pool of PostgreSQL connections.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgc.h"
#include "xmalloc.h"

struct pgc_pool {
	char		*conninfo;	/* secret */
	pthread_mutex_t	 lock;
	PGconn		**idle;
	int		 nidle, max_idle;
};

struct pgc_pool *
pgc_pool_new(const char *conninfo, int max_idle)
{
	struct pgc_pool *p = xcalloc(1, sizeof(*p));

	p->conninfo = xstrdup(conninfo);
	p->max_idle = max_idle > 0 ? max_idle : 1;
	p->idle = xcalloc((size_t)p->max_idle, sizeof(*p->idle));
	pthread_mutex_init(&p->lock, NULL);
	return p;
}

void
pgc_pool_free(struct pgc_pool *p)
{
	if (p == NULL)
		return;
	for (int i = 0; i < p->nidle; i++)
		PQfinish(p->idle[i]);
	pthread_mutex_destroy(&p->lock);
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

PGconn *
pgc_get(struct pgc_pool *p, char *errbuf, size_t len)
{
	PGconn *c = NULL;

	pthread_mutex_lock(&p->lock);
	if (p->nidle > 0)
		c = p->idle[--p->nidle];
	pthread_mutex_unlock(&p->lock);
	if (c != NULL && PQstatus(c) == CONNECTION_OK)
		return c;
	if (c != NULL)
		PQfinish(c);
	c = PQconnectdb(p->conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		pgc_msg(errbuf, len, "cannot connect to PostgreSQL", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

void
pgc_put(struct pgc_pool *p, PGconn *c, bool broken)
{
	if (c == NULL)
		return;
	if (!broken && PQstatus(c) == CONNECTION_OK &&
	    PQtransactionStatus(c) == PQTRANS_IDLE) {
		pthread_mutex_lock(&p->lock);
		if (p->nidle < p->max_idle) {
			p->idle[p->nidle++] = c;
			c = NULL;
		}
		pthread_mutex_unlock(&p->lock);
	}
	if (c != NULL)
		PQfinish(c);
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
	 * a transaction, reconnect and try the statement once more.
	 */
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && autocommit &&
	    PQstatus(c) == CONNECTION_BAD) {
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
