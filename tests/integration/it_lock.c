/*
 * it_lock.c - advisory locks and the connection pool against the
 * PostgreSQL peer: request locks keyed by 64 bits (two ids that collide
 * under hashtext() are two locks); a lease connection is never reset, so
 * a lock lost with its session shows as lost; the pool's cap holds under
 * load, counted in pg_stat_activity.
 */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "agent/db.h"
#include "agent/ledger.h"
#include "pgc.h"
#include "tpeer.h"
#include "xmalloc.h"

static int
setup(void **state)
{
	static const char *const specs[] = { "pg", NULL };
	struct tpeer *t;
	char why[512];
	PGconn *c;
	int from, to;

	if (tpeer_setup(state, specs) != 0)
		return -1;
	t = *state;
	c = PQconnectdb(tpeer_get(t, "PG_CONNINFO"));
	if (PQstatus(c) != CONNECTION_OK || db_migrate(c, &from, &to, why,
	    sizeof(why)) < 0) {
		fprintf(stderr, "migrate: %s\n", why);
		PQfinish(c);
		return -1;
	}
	PQfinish(c);
	return 0;
}

/* The single text value of SQL on C. */
static char *
one(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	char *v;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	v = xstrdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static void
run(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

/* Two request ids whose locks hashtext() would confuse are two locks. */
static void
test_collision(void **state)
{
	const struct tpeer *t = *state;
	struct pgc_pool *p = pgc_pool_new(tpeer_get(t, "PG_CONNINFO"), 2);
	char why[512], *pair, *b, *same;
	PGconn *c1, *c2;
	int att = 0;

	c1 = pgc_lease(p, why, sizeof(why));
	c2 = pgc_lease(p, why, sizeof(why));
	assert_non_null(c1);
	assert_non_null(c2);
	/* a pair found by a quick search: some 4 are expected in 400000 ids */
	pair = one(c1, "SELECT min(s) || ' ' || max(s) FROM (SELECT 'r-' || i AS s, "
	    "hashtext('request r-' || i) h FROM generate_series(1, 400000) i) x "
	    "GROUP BY h HAVING count(*) > 1 ORDER BY 1 LIMIT 1");
	assert_non_null(b = strchr(pair, ' '));
	*b++ = '\0';
	{
		char *sql = xasprintf("SELECT hashtext('request %s') = hashtext('request "
		    "%s')", pair, b);
		same = one(c1, sql);
		free(sql);
	}
	assert_string_equal(same, "t");		/* they do collide under hashtext */
	{
		char *sql = xasprintf("INSERT INTO requests (request_id, type, payload) "
		    "VALUES ('%s', 'spawn', '{}'), ('%s', 'spawn', '{}')", pair, b);
		run(c1, sql);
		free(sql);
	}
	assert_int_equal(ledger_claim(c1, pair, &att, why, sizeof(why)), 1);
	assert_int_equal(att, 1);
	/* before: "being carried out elsewhere", left accepted until a restart */
	assert_int_equal(ledger_claim(c2, b, &att, why, sizeof(why)), 1);
	assert_int_equal(att, 1);
	/* and each still excludes a second runner of the same request */
	assert_int_equal(ledger_claim(c2, pair, &att, why, sizeof(why)), 0);
	ledger_release(c1, pair);
	ledger_release(c2, b);
	pgc_put(p, c1, false);
	pgc_put(p, c2, false);
	pgc_pool_free(p);
	free(pair);
	free(same);
}

/* The session behind C, ended from another connection. */
static void
terminate(const struct tpeer *t, PGconn *c)
{
	PGconn *k = PQconnectdb(tpeer_get(t, "PG_CONNINFO"));
	char *sql = xasprintf("SELECT pg_terminate_backend(%d)", PQbackendPID(c));
	char *v = one(k, sql);

	assert_string_equal(v, "t");
	free(v);
	free(sql);
	PQfinish(k);
}

/* A lease whose session is killed fails and says so; it is not reset. */
static void
test_lease_lost(void **state)
{
	const struct tpeer *t = *state;
	struct pgc_pool *p = pgc_pool_new(tpeer_get(t, "PG_CONNINFO"), 2);
	char why[512];
	PGconn *lease, *plain, *other;
	PGresult *r;
	char *got;

	assert_non_null(lease = pgc_lease(p, why, sizeof(why)));
	assert_non_null(plain = pgc_get(p, why, sizeof(why)));
	r = pgc_exec(lease, "SELECT pg_advisory_lock(4242)", 0, NULL, why, sizeof(why),
	    NULL);
	assert_non_null(r);
	PQclear(r);
	assert_true(pgc_alive(lease));
	terminate(t, lease);
	terminate(t, plain);
	/* the lease: its statements fail, nothing reconnects silently */
	r = pgc_exec(lease, "SELECT 1", 0, NULL, why, sizeof(why), NULL);
	assert_null(r);
	assert_false(pgc_alive(lease));
	/* a plain connection is reset and the statement run again, as before */
	r = pgc_exec(plain, "SELECT 1", 0, NULL, why, sizeof(why), NULL);
	assert_non_null(r);
	PQclear(r);
	/* the lock is free for others: it went with the session */
	other = PQconnectdb(tpeer_get(t, "PG_CONNINFO"));
	got = one(other, "SELECT pg_try_advisory_lock(4242)");
	assert_string_equal(got, "t");
	free(got);
	PQfinish(other);
	pgc_put(p, lease, pgc_broken(lease));
	pgc_put(p, plain, false);
	/* a lease given back with a lock still held does not keep it */
	assert_non_null(lease = pgc_lease(p, why, sizeof(why)));
	r = pgc_exec(lease, "SELECT pg_advisory_lock(4343)", 0, NULL, why, sizeof(why),
	    NULL);
	assert_non_null(r);
	PQclear(r);
	pgc_put(p, lease, false);
	other = PQconnectdb(tpeer_get(t, "PG_CONNINFO"));
	got = one(other, "SELECT pg_try_advisory_lock(4343)");
	assert_string_equal(got, "t");
	free(got);
	PQfinish(other);
	/* a connection given back by a lease holder is a plain one again */
	assert_non_null(plain = pgc_get(p, why, sizeof(why)));
	terminate(t, plain);
	r = pgc_exec(plain, "SELECT 1", 0, NULL, why, sizeof(why), NULL);
	assert_non_null(r);
	PQclear(r);
	pgc_put(p, plain, false);
	pgc_pool_free(p);
}

struct load {
	struct pgc_pool	*p;
	int		 failed;
	int		 done;		/* threads finished */
};

static void *
load_main(void *arg)
{
	struct load *l = arg;
	char why[512];

	for (int i = 0; i < 4; i++) {
		PGconn *c = i % 2 ? pgc_lease(l->p, why, sizeof(why)) :
		    pgc_get(l->p, why, sizeof(why));
		PGresult *r;

		if (c == NULL) {
			fprintf(stderr, "# %s\n", why);
			__atomic_add_fetch(&l->failed, 1, __ATOMIC_SEQ_CST);
			continue;
		}
		r = pgc_exec(c, "SELECT pg_sleep(0.05)", 0, NULL, why, sizeof(why), NULL);
		if (r == NULL)
			__atomic_add_fetch(&l->failed, 1, __ATOMIC_SEQ_CST);
		PQclear(r);
		pgc_put(l->p, c, r == NULL);
	}
	__atomic_add_fetch(&l->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* 12 threads on a pool of 2 + 1: never more than 3 sessions. */
static void
test_cap(void **state)
{
	const struct tpeer *t = *state;
	char *conninfo = xasprintf("%s application_name=it_lock_cap",
	    tpeer_get(t, "PG_CONNINFO"));
	PGconn *watch = PQconnectdb(tpeer_get(t, "PG_CONNINFO"));
	struct load l = { pgc_pool_new(conninfo, 2), 0, 0 };
	pthread_t th[12];
	int most = 0, open, peak;
	char why[512];
	PGconn *held[3], *extra;

	pgc_pool_cap(l.p, 2, 1, 120);
	for (int i = 0; i < 12; i++)
		assert_int_equal(pthread_create(&th[i], NULL, load_main, &l), 0);
	while (__atomic_load_n(&l.done, __ATOMIC_SEQ_CST) < 12) {
		char *n = one(watch, "SELECT count(*) FROM pg_stat_activity WHERE "
		    "application_name = 'it_lock_cap'");
		if (atoi(n) > most)
			most = atoi(n);
		free(n);
	}
	for (int i = 0; i < 12; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(l.failed, 0);
	pgc_pool_count(l.p, &open, &peak);
	assert_int_equal(peak, 3);		/* it was full, never over */
	assert_true(most <= 3);
	assert_true(most >= 1);
	pgc_pool_free(l.p);

	/* all out: the next caller waits pool_timeout, then is told why */
	l.p = pgc_pool_new(conninfo, 2);
	pgc_pool_cap(l.p, 2, 1, 0.3);
	for (int i = 0; i < 3; i++)
		assert_non_null(held[i] = pgc_get(l.p, why, sizeof(why)));
	extra = pgc_get(l.p, why, sizeof(why));
	assert_null(extra);
	assert_non_null(strstr(why, "max_pool_size"));
	assert_non_null(strstr(why, "pool_timeout"));
	pgc_put(l.p, held[0], true);		/* a closed one frees its place */
	assert_non_null(extra = pgc_get(l.p, why, sizeof(why)));
	pgc_put(l.p, extra, false);
	pgc_put(l.p, held[1], false);
	pgc_put(l.p, held[2], false);
	pgc_pool_free(l.p);
	PQfinish(watch);
	free(conninfo);
}

static void
cmd(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

/*
 * pgc_exec_unlock: the statements commit together, then the lease's locks
 * go, in one round trip; a failed statement undoes the others and still
 * releases them; the connection
 * goes back to the pool as a plain one.
 */
static void
test_exec_unlock(void **state)
{
	const struct tpeer *t = *state;
	struct pgc_pool *p = pgc_pool_new(tpeer_get(t, "PG_CONNINFO"), 2);
	PGconn *watch = PQconnectdb(tpeer_get(t, "PG_CONNINFO")), *c;
	const char *params[1] = { "it-unlock" };
	char why[512], *v;
	int open, peak;

	assert_non_null(c = pgc_lease(p, why, sizeof(why)));
	cmd(c, "CREATE TABLE IF NOT EXISTS it_unlock (k text)");
	free(one(c, "SELECT pg_advisory_lock(4242)"));
	free(one(c, "SELECT pg_advisory_lock(4243)"));
	v = one(watch, "SELECT pg_try_advisory_lock(4242)");
	assert_string_equal(v, "f");
	free(v);
	{
		const char *p2[1] = { "it-unlock-2" };
		struct pgc_stmt st[2] = {
			{ "INSERT INTO it_unlock VALUES ($1)", 1, params },
			{ "INSERT INTO it_unlock VALUES ($1)", 1, p2 },
		};
		assert_int_equal(pgc_exec_unlock(c, st, 2, why, sizeof(why)), 0);
	}
	v = one(watch, "SELECT count(*) FROM it_unlock WHERE k LIKE 'it-unlock%'");
	assert_string_equal(v, "2");		/* both committed */
	free(v);
	v = one(watch, "SELECT pg_try_advisory_lock(4242) AND pg_try_advisory_lock(4243)");
	assert_string_equal(v, "t");		/* both released */
	free(v);
	free(one(watch, "SELECT pg_advisory_unlock_all()"));
	assert_int_equal(PQpipelineStatus(c), PQ_PIPELINE_OFF);
	pgc_put(p, c, pgc_broken(c));

	/* a statement that fails: -1 with why, the locks released anyway */
	assert_non_null(c = pgc_lease(p, why, sizeof(why)));
	free(one(c, "SELECT pg_advisory_lock(4242)"));
	{
		const char *p3[1] = { "it-unlock-3" };
		struct pgc_stmt st[3] = {
			{ "INSERT INTO it_unlock VALUES ($1)", 1, p3 },
			{ "SELECT 1 / 0", 0, NULL },
			{ "INSERT INTO it_unlock VALUES ('it-unlock-4')", 0, NULL },
		};
		assert_int_equal(pgc_exec_unlock(c, st, 3, why, sizeof(why)), -1);
	}
	assert_non_null(strstr(why, "division by zero"));
	/* one transaction: the statement before the failure is undone too */
	v = one(watch, "SELECT count(*) FROM it_unlock WHERE k LIKE 'it-unlock%'");
	assert_string_equal(v, "2");
	free(v);
	v = one(watch, "SELECT pg_try_advisory_lock(4242)");
	assert_string_equal(v, "t");
	free(v);
	free(one(watch, "SELECT pg_advisory_unlock_all()"));
	pgc_put(p, c, pgc_broken(c));
	pgc_pool_count(p, &open, &peak);
	assert_int_equal(open, 1);		/* kept, reused */
	assert_int_equal(pgc_pool_connects(p), 1);
	cmd(watch, "DROP TABLE it_unlock");
	pgc_pool_free(p);
	PQfinish(watch);
}

/* pgc_exec on C: one value, or fail */
static char *
one_p(PGconn *c, const char *sql, int n, const char *const *params)
{
	char why[512], *v;
	PGresult *r = pgc_exec(c, sql, n, params, why, sizeof(why), NULL);

	if (r == NULL)
		fail_msg("%s: %s", sql, why);
	v = xstrdup(PQntuples(r) > 0 ? PQgetvalue(r, 0, PQnfields(r) - 1) : "");
	PQclear(r);
	return v;
}

/*
 * A statement with parameters is prepared on its connection at first use
 * and run by name after; a schema change that makes its plan stale does
 * not fail it; a reset session prepares it again; pgc_exec_unlock's
 * statements are prepared too.
 */
static void
test_prepared(void **state)
{
	const struct tpeer *t = *state;
	struct pgc_pool *p = pgc_pool_new(tpeer_get(t, "PG_CONNINFO"), 2);
	PGconn *watch = PQconnectdb(tpeer_get(t, "PG_CONNINFO")), *c;
	const char *params[1] = { "41" }, *k[1] = { "it-prep" };
	char why[512], *v, *pid, sql[96];

	assert_non_null(c = pgc_get(p, why, sizeof(why)));
	for (int i = 0; i < 3; i++) {
		v = one_p(c, "SELECT $1::int + 1", 1, params);
		assert_string_equal(v, "42");
		free(v);
	}
	v = one(c, "SELECT count(*) FROM pg_prepared_statements WHERE statement = "
	    "'SELECT $1::int + 1'");
	assert_string_equal(v, "1");	/* prepared once, used three times */
	free(v);

	/* a stale plan: SELECT * of a table that gained a column */
	cmd(watch, "CREATE TABLE it_prep (k text, a int)");
	cmd(watch, "INSERT INTO it_prep VALUES ('it-prep', 1)");
	v = one_p(c, "SELECT * FROM it_prep WHERE k = $1", 1, k);
	assert_string_equal(v, "1");
	free(v);
	cmd(watch, "ALTER TABLE it_prep ADD COLUMN b int DEFAULT 7");
	v = one_p(c, "SELECT * FROM it_prep WHERE k = $1", 1, k);
	assert_string_equal(v, "7");	/* the new column, no error */
	free(v);
	v = one_p(c, "SELECT * FROM it_prep WHERE k = $1", 1, k);	/* prepared anew */
	assert_string_equal(v, "7");
	free(v);

	/* the session ends: the pool's connection resets and prepares again */
	pid = one(c, "SELECT pg_backend_pid()");
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%s)", pid);
	free(one(watch, sql));
	free(pid);
	v = one_p(c, "SELECT $1::int + 1", 1, params);
	assert_string_equal(v, "42");
	free(v);
	v = one(c, "SELECT count(*) FROM pg_prepared_statements WHERE statement = "
	    "'SELECT $1::int + 1'");
	assert_string_equal(v, "1");
	free(v);
	pgc_put(p, c, pgc_broken(c));

	/* a lease's end statements */
	assert_non_null(c = pgc_lease(p, why, sizeof(why)));
	{
		struct pgc_stmt st[1] = { { "UPDATE it_prep SET a = a + 1 WHERE k = $1",
		    1, k } };
		assert_int_equal(pgc_exec_unlock(c, st, 1, why, sizeof(why)), 0);
		assert_int_equal(pgc_exec_unlock(c, st, 1, why, sizeof(why)), 0);
	}
	v = one(c, "SELECT count(*) FROM pg_prepared_statements WHERE statement = "
	    "'UPDATE it_prep SET a = a + 1 WHERE k = $1'");
	assert_string_equal(v, "1");
	free(v);
	v = one(watch, "SELECT a FROM it_prep");
	assert_string_equal(v, "3");
	free(v);
	pgc_put(p, c, pgc_broken(c));
	cmd(watch, "DROP TABLE it_prep");
	pgc_pool_free(p);
	PQfinish(watch);
}

/* Leases take at most half of a capped pool: a lease's holder finds the
 * second connection it may need. */
static void
test_lease_half(void **state)
{
	const struct tpeer *t = *state;
	struct pgc_pool *p = pgc_pool_new(tpeer_get(t, "PG_CONNINFO"), 2);
	PGconn *l[2], *g[2], *x;
	char why[512];

	pgc_pool_cap(p, 2, 2, 0.3);		/* 4 at most, 2 of them leases */
	assert_non_null(l[0] = pgc_lease(p, why, sizeof(why)));
	assert_non_null(l[1] = pgc_lease(p, why, sizeof(why)));
	x = pgc_lease(p, why, sizeof(why));
	assert_null(x);
	assert_non_null(strstr(why, "halved"));
	assert_non_null(g[0] = pgc_get(p, why, sizeof(why)));
	assert_non_null(g[1] = pgc_get(p, why, sizeof(why)));
	pgc_put(p, l[0], false);		/* a lease back: room for one */
	assert_non_null(x = pgc_lease(p, why, sizeof(why)));
	pgc_put(p, x, false);
	pgc_put(p, l[1], false);
	pgc_put(p, g[0], false);
	pgc_put(p, g[1], false);
	pgc_pool_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_collision),
		cmocka_unit_test(test_lease_lost),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_exec_unlock),
		cmocka_unit_test(test_prepared),
		cmocka_unit_test(test_lease_half),
	};

	return cmocka_run_group_tests_name("lock", tests, setup, tpeer_teardown);
}
