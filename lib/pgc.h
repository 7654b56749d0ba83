/*
 * pgc.h - a small pool of PostgreSQL connections, and one way to run SQL.
 *
 * Every part of vcagent that keeps state in PostgreSQL (the image cache, the
 * request ledger, the resource records) takes a connection from a pool,
 * runs short autocommit statements or one transaction, and gives it back.
 * A connection that failed is closed instead of returned, so the next
 * caller reconnects: PostgreSQL restarting costs one error, not a restart
 * of the agent.
 *
 * The pool caps the connections it has open at once (idle or lent), as
 * oslo.db does: max_pool_size kept open, max_overflow more when busy; a
 * caller waits up to pool_timeout seconds for one to come back.
 *
 * Session advisory locks live on a connection: pgc_lease() lends one that
 * is never reset behind its holder's back (pgc_exec() fails on it instead),
 * so a lock cannot vanish silently; pgc_alive() tells the holder whether
 * its connection, and so its locks, are still there.
 *
 * Ownership: pgc_pool_new() returns a pool the caller frees with
 * pgc_pool_free() once no connection is out.  pgc_get() and pgc_lease()
 * lend a PGconn the caller hands back with pgc_put().  The conninfo is a secret: it is copied,
 * wiped when freed and never logged; libpq's own messages name the host and
 * the reason, never the password; every message these functions hand out
 * is scrubbed first (pgc_scrub), since libpq's may quote a URI or a password.
 */
#ifndef VC_PGC_H
#define VC_PGC_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

struct pgc_pool;

/* At most MAX_IDLE connections are kept open between uses. */
struct pgc_pool *pgc_pool_new(const char *conninfo, int max_idle);
void pgc_pool_free(struct pgc_pool *p);
/*
 * Cap P: MAX_POOL_SIZE connections kept open between uses, MAX_OVERFLOW
 * more while busy (-1: no cap), and a wait of up to POOL_TIMEOUT seconds
 * for one when all are out.  Call before lending any.
 */
void pgc_pool_cap(struct pgc_pool *p, int max_pool_size, int max_overflow,
    double pool_timeout);
/* Connections open now (idle and lent), and the most ever open at once. */
void pgc_pool_count(struct pgc_pool *p, int *open, int *peak);
/* Sessions the pool has opened (tried to) since it was made. */
unsigned long pgc_pool_connects(struct pgc_pool *p);
/*
 * Open connections until as many are open as P keeps between uses
 * (within the cap), and run SQL (no parameters; NULL: none) once on each,
 * so that a burst after start-up does not pay for sessions and cold
 * catalog caches.  The
 * number of connections opened here, or -1 with ERRBUF (those opened
 * before the error stay in the pool).
 */
int pgc_pool_warm(struct pgc_pool *p, const char *sql, char *errbuf, size_t len);

/*
 * A session advisory lock's bigint key for the text parameter P (SQL text,
 * e.g. "$1"): the first 64 bits of its SHA-256, so two keys collide about
 * as often as two random 64-bit numbers, not as 32-bit hashtext() does.
 */
#define PGC_LOCK_KEY(p) \
	"('x' || left(encode(sha256(convert_to(" p ", 'UTF8')), 'hex'), 16))" \
	"::bit(64)::bigint"

/*
 * A connection: an idle one, or a new one.  NULL when PostgreSQL cannot be
 * reached; then ERRBUF (LEN bytes) says why.
 */
PGconn *pgc_get(struct pgc_pool *p, char *errbuf, size_t len);
/*
 * A connection for session advisory locks: as pgc_get(), but pgc_exec()
 * never resets it; a lost connection (a restart, pg_terminate_backend)
 * shows as failed statements and pgc_alive() false, never as a fresh
 * session without the locks.
 */
PGconn *pgc_lease(struct pgc_pool *p, char *errbuf, size_t len);
/* Give C back; BROKEN (or a bad connection state) closes it instead.  A
 * lease's advisory locks are released first, should its holder have left
 * one. */
void pgc_put(struct pgc_pool *p, PGconn *c, bool broken);
/* One statement with NPARAMS text parameters (the caller's). */
struct pgc_stmt {
	const char		*sql;
	int			 nparams;
	const char *const	*params;
};
/*
 * Run the N statements ST (in one transaction: all or none) on the lease
 * C, then release every advisory lock of C, in one round trip (a pipeline):
 * the locks outlive the commit.  0 when every statement ran and the commit
 * was confirmed; -1 with ERRBUF (LEN bytes), naming the first that failed.
 * Either way, once the locks are released, pgc_put() gives C back without
 * another statement.
 */
int pgc_exec_unlock(PGconn *c, const struct pgc_stmt *st, int n, char *errbuf,
    size_t len);
/*
 * pgc_exec in two halves, so that the caller can work (on another
 * connection) while the statement runs: pgc_send sends SQL (prepared as
 * pgc_exec would, which costs a round trip only the first time on C) and
 * returns 0, or -1 with ERRBUF; pgc_recv waits for its result: as
 * pgc_exec's, NULL with ERRBUF on an error.  Every pgc_send is followed by
 * one pgc_recv before C is used again.  No reset and retry here: for a
 * lease, as pgc_exec does for a lease.
 */
int pgc_send(PGconn *c, const char *sql, int nparams, const char *const *params,
    char *errbuf, size_t len);
PGresult *pgc_recv(PGconn *c, char *errbuf, size_t len);
/*
 * Is C's session still there (one round trip)?  On a lease from
 * pgc_lease(), false means its advisory locks are gone.
 */
bool pgc_alive(PGconn *c);

/*
 * Run SQL with NPARAMS text parameters (NULL for SQL NULL; with none, SQL
 * may be several statements).  Returns the
 * result when it is PGRES_COMMAND_OK or PGRES_TUPLES_OK (caller PQclear()s
 * it); otherwise NULL with "<what>: <PostgreSQL's message>" in ERRBUF.
 * *SQLSTATE (may be NULL) gets the error's SQLSTATE, "" if none.  Outside
 * a transaction, a connection the server dropped (a restart) is reset and
 * the statement run once more - except a lease (pgc_lease()).
 */
PGresult *pgc_exec(PGconn *c, const char *sql, int nparams,
    const char *const *params, char *errbuf, size_t len, char sqlstate[6]);

/*
 * CONNINFO (a libpq connection string: keyword = value pairs, values
 * single-quoted with \' and \\ escapes or bare with \ escapes, or a URI)
 * with its secrets masked as "********": password and sslpassword values,
 * a URI's user-info password and password / sslpassword query parameters.
 * Text that is neither is masked from the first word libpq would refuse.
 * Also takes any scheme://user:password@host URL.  Caller frees.
 */
char *pgc_mask(const char *conninfo);
/*
 * Mask, in MSG (LEN bytes, terminated), every secret it may quote: the
 * password of any URI in it, and each secret of CONNINFO and of connection
 * C (either may be NULL), raw or decoded, wherever it appears.
 */
void pgc_scrub(char *msg, size_t len, const char *conninfo, PGconn *c);

/* Is a failure on C one that a new connection might not have? */
bool pgc_broken(PGconn *c);

#endif
