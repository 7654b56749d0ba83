/*
 * db_schema.c - vcagent's schema, as numbered migrations.
 *
 * Append, never edit: a database that applied version N keeps it.  Columns
 * a scheduler reads are named as nova names them (vcpus, memory_mb,
 * local_gb, ..._used, hypervisor_hostname).
 */
#include "config.h"

#include "db.h"

static const struct db_migration db_schema[] = {
	{ 1, "initial schema",
	"CREATE TABLE compute_nodes ("
	"  node                text PRIMARY KEY,"		/* <cluster moid>.<vCenter uuid> */
	"  hypervisor_hostname text NOT NULL,"		/* the cluster's name */
	"  hypervisor_type     text NOT NULL DEFAULT 'VMware vCenter Server',"
	"  hypervisor_version  text,"
	"  vcenter             text NOT NULL,"
	"  cluster_moref       text NOT NULL,"
	"  agent_host          text NOT NULL,"		/* [DEFAULT] host of the agent */
	"  vcpus               bigint NOT NULL DEFAULT 0,"
	"  vcpus_used          bigint NOT NULL DEFAULT 0,"
	"  max_vcpus_per_host  bigint NOT NULL DEFAULT 0,"
	"  memory_mb           bigint NOT NULL DEFAULT 0,"
	"  memory_mb_used      bigint NOT NULL DEFAULT 0,"
	"  max_memory_mb_per_host bigint NOT NULL DEFAULT 0,"
	"  local_gb            bigint NOT NULL DEFAULT 0,"
	"  local_gb_used       bigint NOT NULL DEFAULT 0,"
	"  free_disk_gb        bigint NOT NULL DEFAULT 0,"
	"  max_free_disk_gb    bigint NOT NULL DEFAULT 0,"
	"  hosts_total         int NOT NULL DEFAULT 0,"
	"  hosts_usable        int NOT NULL DEFAULT 0,"
	"  datastores_usable   int NOT NULL DEFAULT 0,"
	"  cpu_allocation_ratio  double precision NOT NULL DEFAULT 16,"
	"  ram_allocation_ratio  double precision NOT NULL DEFAULT 1.5,"
	"  disk_allocation_ratio double precision NOT NULL DEFAULT 1,"
	"  reserved_host_memory_mb int NOT NULL DEFAULT 0,"
	"  reserved_host_disk_mb   int NOT NULL DEFAULT 0,"
	"  reserved_host_cpus      int NOT NULL DEFAULT 0,"
	"  running_vms         int NOT NULL DEFAULT 0,"
	"  updated_at          timestamptz NOT NULL DEFAULT now()"
	");"
	"CREATE TABLE instances ("
	"  uuid        uuid PRIMARY KEY,"
	"  name        text NOT NULL,"
	"  node        text NOT NULL,"
	"  vm_moref    text,"
	"  vm_state    text NOT NULL DEFAULT 'building',"	/* nova's vm_states */
	"  power_state text NOT NULL DEFAULT 'nostate',"	/* running, shutdown, suspended */
	"  task_state  text,"				/* spawning, deleting, ... or NULL */
	"  flavor      jsonb NOT NULL DEFAULT '{}',"
	"  image_id    text,"
	"  datastore   text,"
	"  ports       jsonb NOT NULL DEFAULT '[]',"
	"  metadata    jsonb NOT NULL DEFAULT '{}',"
	"  host        text,"				/* the ESXi host, when known */
	"  created_at  timestamptz NOT NULL DEFAULT now(),"
	"  updated_at  timestamptz NOT NULL DEFAULT now(),"
	"  deleted_at  timestamptz"
	");"
	"CREATE INDEX instances_node ON instances (node) WHERE deleted_at IS NULL;"
	"CREATE INDEX instances_image ON instances (image_id, datastore)"
	"  WHERE deleted_at IS NULL;"
	"CREATE TABLE requests ("
	"  request_id    text PRIMARY KEY,"
	"  type          text NOT NULL,"
	"  node          text,"
	"  instance_uuid uuid,"
	"  state         text NOT NULL DEFAULT 'accepted',"	/* accepted, running,"
							 * succeeded, failed */
	"  payload       jsonb NOT NULL,"
	"  result        jsonb,"
	"  error         text,"
	"  attempts      int NOT NULL DEFAULT 0,"
	"  owner         text,"				/* the agent running it */
	"  kafka_topic   text,"
	"  kafka_partition int,"
	"  kafka_offset  bigint,"
	"  received_at   timestamptz NOT NULL DEFAULT now(),"
	"  started_at    timestamptz,"
	"  finished_at   timestamptz"
	");"
	"CREATE INDEX requests_open ON requests (instance_uuid, received_at)"
	"  WHERE state IN ('accepted', 'running');"
	"CREATE TABLE image_cache ("
	"  datacenter text NOT NULL,"			/* the datastore's, by name */
	"  datastore  text NOT NULL,"
	"  path       text NOT NULL,"			/* in the datastore */
	"  image_id   text NOT NULL,"
	"  root_gb    int NOT NULL DEFAULT 0,"		/* 0: the original */
	"  size       bigint NOT NULL DEFAULT 0,"		/* bytes fetched */
	"  disk_type  text NOT NULL DEFAULT 'preallocated',"
	"  adapter_type text NOT NULL DEFAULT 'lsiLogic',"
	"  capacity_kb bigint NOT NULL DEFAULT 0,"
	"  linked_clone int,"				/* img_linked_clone, NULL unset */
	"  state      text NOT NULL DEFAULT 'ready',"	/* ready, purging */
	"  created_at timestamptz NOT NULL DEFAULT now(),"
	"  last_used  timestamptz NOT NULL DEFAULT now(),"
	"  PRIMARY KEY (datastore, path)"
	");"
	"CREATE INDEX image_cache_image ON image_cache (image_id);"
	"CREATE TABLE migrations ("
	"  id            bigserial PRIMARY KEY,"
	"  instance_uuid uuid NOT NULL,"
	"  request_id    text,"
	"  source_node   text NOT NULL,"
	"  dest_node     text NOT NULL,"
	"  dest_host     text,"
	"  kind          text NOT NULL,"			/* live, cold */
	"  status        text NOT NULL DEFAULT 'running',"	/* running, done, failed */
	"  created_at    timestamptz NOT NULL DEFAULT now(),"
	"  updated_at    timestamptz NOT NULL DEFAULT now()"
	");" },
	{ 2, "cluster leases",
	/* one consumer group serves a cluster at a time (agent/lease.c) */
	"CREATE TABLE cluster_leases ("
	"  node        text PRIMARY KEY,"			/* as compute_nodes.node */
	"  cluster     text NOT NULL,"			/* its name */
	"  group_id    text NOT NULL,"			/* the owner: kafka.group_id */
	"  acquired_at timestamptz NOT NULL DEFAULT now(),"
	"  renewed_at  timestamptz NOT NULL DEFAULT now(),"
	"  expires_at  timestamptz NOT NULL"
	");"
	/* the agents of each group, and the nodes each serves */
	"CREATE TABLE cluster_lease_agents ("
	"  group_id   text NOT NULL,"
	"  agent      text NOT NULL,"			/* [DEFAULT] host */
	"  nodes      jsonb NOT NULL DEFAULT '[]',"		/* sorted node names */
	"  renewed_at timestamptz NOT NULL DEFAULT now(),"
	"  expires_at timestamptz NOT NULL,"
	"  PRIMARY KEY (group_id, agent)"
	");" },
	{ 3, "compute_nodes.host_ip",
	/* nova's compute_nodes.host_ip: DEFAULT.my_ip, else the address the
	 * agent reaches vCenter from */
	"ALTER TABLE compute_nodes ADD COLUMN host_ip text;" },
	/* outbox.c: a final event recorded but not yet acknowledged by Kafka */
	{ 4, "requests.result_pending",
	"ALTER TABLE requests ADD COLUMN result_pending boolean NOT NULL DEFAULT false;"
	"CREATE INDEX requests_result_pending ON requests (node) WHERE result_pending;" },
	/*
	 * A request id used again for other content must not run it under the
	 * first one's record: the ledger keeps the SHA-256 of the request's
	 * canonical JSON (jsonb's text), and a mismatch is rejected.
	 */
	{ 5, "requests.payload_digest",
	"ALTER TABLE requests ADD COLUMN payload_digest text;"
	"UPDATE requests SET payload_digest = encode(sha256(convert_to(payload::text,"
	"  'UTF8')), 'hex');" },
	/* an instance's VM snapshots, as the last snapshot request left them
	 * (agent/ops_snap.c); they go with the instance */
	{ 6, "snapshots",
	"CREATE TABLE snapshots ("
	"  instance_uuid uuid NOT NULL,"
	"  snapshot      text NOT NULL,"		/* VirtualMachineSnapshot moref */
	"  name          text NOT NULL,"
	"  description   text NOT NULL DEFAULT '',"
	"  memory        boolean NOT NULL,"		/* the guest's memory is in it */
	"  quiesced      boolean NOT NULL,"
	"  power_state   text,"				/* the VM's, held in it */
	"  parent        text,"				/* its parent's moref */
	"  create_time   timestamptz,"			/* vCenter's */
	"  request_id    text,"				/* the request that made it */
	"  created_at    timestamptz NOT NULL DEFAULT now(),"
	"  PRIMARY KEY (instance_uuid, snapshot)"
	");" },
	/* an instance's VNC port (vnc.enabled), unique among the live ones */
	{ 7, "instances.vnc_port",
	"ALTER TABLE instances ADD COLUMN vnc_port int;"
	"CREATE UNIQUE INDEX instances_vnc_port ON instances (vnc_port) "
	"  WHERE vnc_port IS NOT NULL AND deleted_at IS NULL;" },
	/* what a resize's revert needs, until it is confirmed (ops_resize.c) */
	{ 8, "instances.resize_revert",
	"ALTER TABLE instances ADD COLUMN resize_revert jsonb;" },
	/* the image's properties a spawn was given, for the operations after
	 * it that nova's driver gives them to (attach_interface's NIC model) */
	{ 9, "instances.image_properties",
	"ALTER TABLE instances ADD COLUMN image_properties jsonb NOT NULL DEFAULT '{}';" },
	/* volumes attached to instances (ops_volume.c), and the First Class
	 * Disks volume_create made */
	{ 10, "volume_attachments",
	"CREATE TABLE volume_attachments ("
	"  instance_uuid uuid NOT NULL,"
	"  volume_id     text NOT NULL,"		/* the block storage service's */
	"  kind          text NOT NULL,"		/* vmdk, vstorageobject */
	"  path          text,"				/* "[ds] dir/file.vmdk"; NULL: an
						 * FCD's, not read */
	"  fcd_id        text,"				/* vstorageobject: its id */
	"  datastore     text,"				/* vstorageobject: moref value */
	"  disk_mode     text NOT NULL,"
	"  device_key    int,"
	"  profile_id    text,"
	"  request_id    text,"
	"  attached_at   timestamptz NOT NULL DEFAULT now(),"
	"  PRIMARY KEY (instance_uuid, volume_id)"
	");"
	"CREATE TABLE volumes ("
	"  volume_id     text PRIMARY KEY,"
	"  fcd_id        text,"				/* NULL until made */
	"  datastore     text NOT NULL,"		/* moref value */
	"  datastore_name text NOT NULL,"
	"  path          text,"
	"  capacity_mb   bigint NOT NULL,"
	"  request_id    text,"
	"  created_at    timestamptz NOT NULL DEFAULT now(),"
	"  deleted_at    timestamptz"
	");" },
};

const struct db_migration *
db_migrations(size_t *n)
{
	*n = sizeof(db_schema) / sizeof(db_schema[0]);
	return db_schema;
}

int
db_schema_latest(void)
{
	return db_schema[sizeof(db_schema) / sizeof(db_schema[0]) - 1].version;
}
