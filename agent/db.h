/*
 * db.h - vcagent's state in PostgreSQL: the schema and its migrations.
 *
 * The schema is a list of numbered migrations (db_schema.c), applied in
 * order, each in its own transaction, under an advisory lock so agents that
 * start together never race.  schema_migrations records what was applied.
 * An agent refuses a database whose schema is newer than it knows.
 *
 * Tables (version 1):
 *   compute_nodes  one row per cluster: the resource record a scheduler reads
 *   instances      one row per instance: node, VM, power/task state, flavor,
 *                  image, datastore, ports
 *   requests       the request ledger, keyed by request id
 *   image_cache    cached images per datastore and path, with their last use
 *   migrations     instance moves between clusters or hosts
 * Version 2:
 *   cluster_leases        which consumer group serves each node, until when
 *   cluster_lease_agents  the agents of each group and the nodes they serve
 * Version 3: compute_nodes.host_ip (DEFAULT.my_ip).
 * Version 4: requests.result_pending (a final event not yet acknowledged).
 * Version 5: requests.payload_digest (SHA-256 of the request's jsonb text).
 */
#ifndef VC_DB_H
#define VC_DB_H

#include <stddef.h>

#include <libpq-fe.h>

struct db_migration {
	int		 version;
	const char	*name;
	const char	*sql;		/* one or more statements */
};

/* The migrations, in order; *N gets their number.  Static storage. */
const struct db_migration *db_migrations(size_t *n);
/* The newest schema version this build knows. */
int db_schema_latest(void);

/*
 * Bring the database on C up to the newest version.  *FROM and *TO get the
 * versions before and after.  0, or -1 with a message in ERRBUF (which
 * migration failed and PostgreSQL's reason; a database newer than this
 * build).
 */
int db_migrate(PGconn *c, int *from, int *to, char *errbuf, size_t len);

/* The version the database is at: 0 for an empty one, -1 with ERRBUF. */
int db_version(PGconn *c, char *errbuf, size_t len);

#endif
