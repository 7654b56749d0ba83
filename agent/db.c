/*
 * db.c - applying the schema's migrations.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "pgc.h"

/* The advisory lock every migrating agent takes: "vcag" in ASCII. */
#define DB_MIGRATE_LOCK	"1986224487"

static int
db_run(PGconn *c, const char *sql, char *errbuf, size_t len)
{
	PGresult *r = pgc_exec(c, sql, 0, NULL, errbuf, len, NULL);

	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

int
db_version(PGconn *c, char *errbuf, size_t len)
{
	PGresult *r;
	int v = -1;

	if (db_run(c, "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    "version int PRIMARY KEY, name text NOT NULL,"
	    "applied_at timestamptz NOT NULL DEFAULT now())", errbuf, len) < 0)
		return -1;
	r = pgc_exec(c, "SELECT coalesce(max(version), 0) FROM schema_migrations",
	    0, NULL, errbuf, len, NULL);
	if (r != NULL) {
		v = atoi(PQgetvalue(r, 0, 0));
		PQclear(r);
	}
	return v;
}

int
db_migrate(PGconn *c, int *from, int *to, char *errbuf, size_t len)
{
	const struct db_migration *m;
	size_t n;
	int cur, ret = -1;
	char ver[16];

	*from = *to = -1;
	/* the IF NOT EXISTS above is not safe against a concurrent creator */
	if (db_run(c, "SELECT pg_advisory_lock(" DB_MIGRATE_LOCK ")", errbuf, len) < 0)
		return -1;
	if ((cur = db_version(c, errbuf, len)) < 0)
		goto out;
	*from = *to = cur;
	if (cur > db_schema_latest()) {
		snprintf(errbuf, len, "the database's schema is version %d, newer than "
		    "this vcagent knows (%d): upgrade vcagent", cur, db_schema_latest());
		goto out;
	}
	m = db_migrations(&n);
	for (size_t i = 0; i < n; i++) {
		const char *params[2] = { ver, m[i].name };
		char why[512];
		PGresult *r;

		if (m[i].version <= cur)
			continue;
		snprintf(ver, sizeof(ver), "%d", m[i].version);
		if (db_run(c, "BEGIN", errbuf, len) < 0)
			goto out;
		if (db_run(c, m[i].sql, why, sizeof(why)) < 0) {
			snprintf(errbuf, len, "migration %d (%s) failed: %s", m[i].version,
			    m[i].name, why);
			(void)db_run(c, "ROLLBACK", why, sizeof(why));
			goto out;
		}
		r = pgc_exec(c, "INSERT INTO schema_migrations (version, name) "
		    "VALUES ($1, $2)", 2, params, why, sizeof(why), NULL);
		if (r == NULL || db_run(c, "COMMIT", why, sizeof(why)) < 0) {
			snprintf(errbuf, len, "migration %d (%s) failed: %s", m[i].version,
			    m[i].name, why);
			PQclear(r);
			(void)db_run(c, "ROLLBACK", why, sizeof(why));
			goto out;
		}
		PQclear(r);
		log_info("database: applied migration %d (%s)", m[i].version, m[i].name);
		*to = m[i].version;
	}
	ret = 0;
out:
	{
		char why[256];
		if (PQstatus(c) == CONNECTION_OK &&
		    db_run(c, "SELECT pg_advisory_unlock(" DB_MIGRATE_LOCK ")", why,
		    sizeof(why)) < 0)
			log_warnx("database: %s", why);
	}
	return ret;
}
