/*
 * it_pg.c - the private PostgreSQL 15 peer: it starts, answers libpq queries,
 * and stops clean.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "tpeer.h"

static int
setup(void **state)
{
	static const char *const specs[] = { "pg", NULL };

	return tpeer_setup(state, specs);
}

static void
test_query(void **state)
{
	PGconn *c;
	PGresult *r;

	const struct tpeer *peers = *state;

	c = PQconnectdb(tpeer_get(peers, "PG_CONNINFO"));
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	assert_int_equal(PQserverVersion(c) / 10000, 15);
	r = PQexec(c, "CREATE TABLE t (id int PRIMARY KEY, name text NOT NULL)");
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	const char *params[] = { "1", "DC0_C0" };
	r = PQexecParams(c, "INSERT INTO t VALUES ($1, $2)", 2, NULL, params,
	    NULL, NULL, 0);
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	r = PQexec(c, "SELECT name, current_user FROM t WHERE id = 1");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_int_equal(PQntuples(r), 1);
	assert_string_equal(PQgetvalue(r, 0, 0), "DC0_C0");
	assert_string_equal(PQgetvalue(r, 0, 1), tpeer_get(peers, "PG_USER"));
	PQclear(r);
	/* a duplicate key is reported with its SQLSTATE */
	r = PQexecParams(c, "INSERT INTO t VALUES ($1, $2)", 2, NULL, params,
	    NULL, NULL, 0);
	assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
	assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "23505");
	PQclear(r);
	PQfinish(c);
}

static void
test_stop_clean(void **state)
{
	const struct tpeer *peers = *state;
	char *conninfo = strdup(tpeer_get(peers, "PG_CONNINFO"));
	PGconn *c;

	assert_int_equal(tpeer_stop_state(state), 0);	/* process gone, state removed */
	c = PQconnectdb(conninfo);
	assert_int_not_equal(PQstatus(c), CONNECTION_OK);
	PQfinish(c);
	free(conninfo);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_stop_clean),
	};

	return cmocka_run_group_tests_name("pg", tests, setup, tpeer_teardown);
}
