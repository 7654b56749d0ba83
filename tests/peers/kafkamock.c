/*
 * vckafkamock - host librdkafka's mock Kafka cluster for tests.
 *
 * No real Kafka broker is available on the test hosts, so this program runs
 * librdkafka's in-process mock cluster (rdkafka_mock.h), which speaks the
 * Kafka protocol on loopback TCP ports picked by the kernel, and exposes its
 * fault-injection knobs over a tiny line-based TCP control protocol.
 *
 * Usage:
 *   vckafkamock [-b BROKERS] [-t TOPIC[:PARTITIONS]]... [-e ENVFILE]
 *               [-c CTLPORT] [-d DEBUG]
 *
 *   -b N          number of brokers, ids 1..N (default 1)
 *   -t T[:P]      create topic T with P partitions (default 4) up front;
 *                 may be repeated
 *   -e FILE       write KAFKA_BOOTSTRAP=... and KAFKA_CTL_PORT=... to FILE
 *                 (atomically: temporary file + rename) once ready; the file
 *                 is removed again on a clean exit
 *   -c PORT       control listener port on 127.0.0.1 (default 0: kernel
 *                 picks)
 *   -d CONTEXTS   librdkafka debug contexts for the hosting handle, e.g.
 *                 "mock" (logged to stderr)
 *
 * The same two lines are printed on stdout once ready. The program serves
 * until SIGTERM or SIGINT, then destroys the cluster and exits 0.
 *
 * Control protocol: one command per line ("\n" or "\r\n"), one answer line
 * per command, "ok" or "error <reason>"; any number of commands per
 * connection. Commands:
 *   ping
 *   down BROKER               broker BROKER (or -1: all) drops its
 *                             connections and refuses new ones (connection
 *                             refused, same port kept); leaders do not move
 *   up BROKER                 accept connections again
 *   rtt BROKER MS             delay every response of BROKER (-1: all) by
 *                             MS milliseconds (0 clears)
 *   error API ERR [COUNT]     the next COUNT (default 1) requests with API
 *                             key API, to any broker, fail with error ERR
 *   clear API                 drop pending injected errors for API
 *   topic NAME PARTITIONS     create a topic
 *   coordinator group|txn KEY BROKER
 *                             make BROKER the group / transaction
 *                             coordinator for KEY
 *   leader TOPIC PARTITION BROKER
 *                             move the partition leader (-1: no leader)
 * API is a protocol API name (Produce, Fetch, Metadata, OffsetCommit, ...,
 * case-insensitive) or number; ERR is a librdkafka error name
 * (NOT_COORDINATOR, REQUEST_TIMED_OUT, _TRANSPORT to make the broker drop the
 * connection; an RD_KAFKA_RESP_ERR_ prefix is accepted) or number.
 *
 * Commands other than ping/error/clear are executed by the mock cluster
 * thread; the answer comes after the change is in effect. librdkafka 2.0.2
 * occasionally loses the wake-up for such a command, which then takes up to
 * 1 s; likewise destroying the cluster on exit sometimes takes 1 s.
 *
 * Signals: SIGINT and SIGTERM are blocked before librdkafka creates any
 * thread and are read from a signalfd in the main thread's poll loop. This
 * matters: the mock cluster thread treats any poll() failure, including
 * EINTR from a signal handler run on that thread, as fatal and silently
 * stops serving.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_BROKERS 32
#define MAX_TOPICS 64         /* -t options */
#define MAX_PARTITIONS 1000   /* per topic */
#define MAX_ERROR_COUNT 10000 /* per "error" command */
#define MAX_CLIENTS 16        /* concurrent control connections */
#define LINE_MAX_LEN 1024     /* longer command lines are rejected */
#define MAX_ARGS 8            /* words per command line */
#define REPLY_MAX 256

/* One control connection. */
struct client {
        int fd;            /* -1: slot unused */
        size_t len;        /* bytes in buf */
        bool overlong;     /* current line exceeded LINE_MAX_LEN */
        char buf[LINE_MAX_LEN + 1];
};

/* Whole program state. */
struct app {
        rd_kafka_t *rk;                    /* handle owning the cluster */
        rd_kafka_mock_cluster_t *mcluster; /* the mock cluster */
        int brokers;                       /* broker ids are 1..brokers */
        int sigfd;                         /* signalfd for INT/TERM */
        int lfd;                           /* control listener */
        unsigned short ctl_port;           /* its port */
        const char *env_path;              /* -e FILE or NULL */
        bool env_written;                  /* remove env_path on exit */
        struct client clients[MAX_CLIENTS];
};

/* ---------------------------------------------------------------- logging */

/* Print a timestamped line to stderr (the peer's log file). */
static void logmsg(const char *fmt, ...) {
        struct timespec ts;
        struct tm tm;
        char stamp[32];
        va_list ap;

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
        fprintf(stderr, "%s.%03ldZ vckafkamock: ", stamp,
                (long)(ts.tv_nsec / 1000000));
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        fflush(stderr);
}

/* librdkafka log callback: route into our log, minus one expected notice
 * (the hosting handle deliberately has no bootstrap.servers). */
static void rk_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                      const char *buf) {
        (void)rk;
        if (strcmp(fac, "CONFWARN") == 0 && strstr(buf, "bootstrap.servers"))
                return;
        logmsg("rdkafka %d %s: %s", level, fac, buf);
}

/* ---------------------------------------------------------- name tables */

/* Kafka protocol API keys (numbering from the Kafka protocol spec). */
static const char *const api_names[] = {
    "Produce",                      /* 0 */
    "Fetch",                        /* 1 */
    "ListOffsets",                  /* 2 */
    "Metadata",                     /* 3 */
    "LeaderAndIsr",                 /* 4 */
    "StopReplica",                  /* 5 */
    "UpdateMetadata",               /* 6 */
    "ControlledShutdown",           /* 7 */
    "OffsetCommit",                 /* 8 */
    "OffsetFetch",                  /* 9 */
    "FindCoordinator",              /* 10 */
    "JoinGroup",                    /* 11 */
    "Heartbeat",                    /* 12 */
    "LeaveGroup",                   /* 13 */
    "SyncGroup",                    /* 14 */
    "DescribeGroups",               /* 15 */
    "ListGroups",                   /* 16 */
    "SaslHandshake",                /* 17 */
    "ApiVersions",                  /* 18 */
    "CreateTopics",                 /* 19 */
    "DeleteTopics",                 /* 20 */
    "DeleteRecords",                /* 21 */
    "InitProducerId",               /* 22 */
    "OffsetForLeaderEpoch",         /* 23 */
    "AddPartitionsToTxn",           /* 24 */
    "AddOffsetsToTxn",              /* 25 */
    "EndTxn",                       /* 26 */
    "WriteTxnMarkers",              /* 27 */
    "TxnOffsetCommit",              /* 28 */
    "DescribeAcls",                 /* 29 */
    "CreateAcls",                   /* 30 */
    "DeleteAcls",                   /* 31 */
    "DescribeConfigs",              /* 32 */
    "AlterConfigs",                 /* 33 */
    "AlterReplicaLogDirs",          /* 34 */
    "DescribeLogDirs",              /* 35 */
    "SaslAuthenticate",             /* 36 */
    "CreatePartitions",             /* 37 */
    "CreateDelegationToken",        /* 38 */
    "RenewDelegationToken",         /* 39 */
    "ExpireDelegationToken",        /* 40 */
    "DescribeDelegationToken",      /* 41 */
    "DeleteGroups",                 /* 42 */
    "ElectLeaders",                 /* 43 */
    "IncrementalAlterConfigs",      /* 44 */
    "AlterPartitionReassignments",  /* 45 */
    "ListPartitionReassignments",   /* 46 */
    "OffsetDelete",                 /* 47 */
    "DescribeClientQuotas",         /* 48 */
    "AlterClientQuotas",            /* 49 */
    "DescribeUserScramCredentials", /* 50 */
    "AlterUserScramCredentials",    /* 51 */
    "Vote",                         /* 52 */
    "BeginQuorumEpoch",             /* 53 */
    "EndQuorumEpoch",               /* 54 */
    "DescribeQuorum",               /* 55 */
    "AlterIsr",                     /* 56 */
    "UpdateFeatures",               /* 57 */
    "Envelope",                     /* 58 */
};
#define API_COUNT ((int)(sizeof(api_names) / sizeof(api_names[0])))

/* Parse a decimal integer in [lo, hi]; the whole string must be used. */
static bool parse_long(const char *s, long lo, long hi, long *out) {
        char *end = NULL;
        long v;

        if (!s || !*s)
                return false;
        errno = 0;
        v     = strtol(s, &end, 10);
        if (errno != 0 || *end != '\0' || v < lo || v > hi)
                return false;
        *out = v;
        return true;
}

/* API name (case-insensitive; "ApiVersion" also accepted) or number. */
static bool parse_api(const char *s, int16_t *out) {
        long v;
        int i;

        if (parse_long(s, 0, API_COUNT - 1, &v)) {
                *out = (int16_t)v;
                return true;
        }
        for (i = 0; i < API_COUNT; i++) {
                if (strcasecmp(s, api_names[i]) == 0) {
                        *out = (int16_t)i;
                        return true;
                }
        }
        if (strcasecmp(s, "ApiVersion") == 0) {
                *out = 18;
                return true;
        }
        return false;
}

/* Error name as printed by rd_kafka_err2name() (case-insensitive, optional
 * "RD_KAFKA_RESP_ERR_" prefix, internal errors keep their leading '_') or a
 * number in the int16 range. */
static bool parse_err(const char *s, rd_kafka_resp_err_t *out) {
        static const char prefix[] = "RD_KAFKA_RESP_ERR_";
        const struct rd_kafka_err_desc *descs = NULL;
        size_t cnt = 0, i;
        long v;

        if (parse_long(s, INT16_MIN, INT16_MAX, &v)) {
                *out = (rd_kafka_resp_err_t)v;
                return true;
        }
        if (strncasecmp(s, prefix, sizeof(prefix) - 1) == 0)
                s += sizeof(prefix) - 1;
        if (!*s)
                return false;

        rd_kafka_get_err_descs(&descs, &cnt);
        for (i = 0; i < cnt; i++) {
                if (descs[i].name && strcasecmp(s, descs[i].name) == 0) {
                        *out = descs[i].code;
                        return true;
                }
        }
        return false;
}

/* Kafka topic names: 1..249 characters out of [a-zA-Z0-9._-]. */
static bool valid_topic(const char *s) {
        size_t n = strlen(s), i;

        if (n == 0 || n > 249)
                return false;
        for (i = 0; i < n; i++) {
                char c = s[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                      c == '-'))
                        return false;
        }
        return true;
}

/* ------------------------------------------------------------- commands */

/* Each handler gets the words after the command name and writes the answer
 * line (without newline) into reply. */
typedef void (*cmd_fn)(struct app *app, int argc, char **argv, char *reply,
                       size_t replysz);

/* Answer for a librdkafka result code. */
static void reply_err(rd_kafka_resp_err_t err, char *reply, size_t replysz) {
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
                snprintf(reply, replysz, "ok");
        else
                snprintf(reply, replysz, "error %s: %s", rd_kafka_err2name(err),
                         rd_kafka_err2str(err));
}

/* Broker id: 1..brokers, or -1 (all brokers) when allow_all. */
static bool parse_broker(const struct app *app, const char *s, bool allow_all,
                         int32_t *out) {
        long v;

        if (!parse_long(s, allow_all ? -1 : 1, app->brokers, &v) || v == 0)
                return false;
        *out = (int32_t)v;
        return true;
}

static void cmd_ping(struct app *app, int argc, char **argv, char *reply,
                     size_t replysz) {
        (void)app;
        (void)argc;
        (void)argv;
        snprintf(reply, replysz, "ok");
}

/* down BROKER / up BROKER. */
static void set_updown(struct app *app, const char *arg, bool up, char *reply,
                       size_t replysz) {
        int32_t id;

        if (!parse_broker(app, arg, true, &id)) {
                snprintf(reply, replysz, "error bad broker id (1..%d or -1)",
                         app->brokers);
                return;
        }
        reply_err(up ? rd_kafka_mock_broker_set_up(app->mcluster, id)
                     : rd_kafka_mock_broker_set_down(app->mcluster, id),
                  reply, replysz);
}

static void cmd_down(struct app *app, int argc, char **argv, char *reply,
                     size_t replysz) {
        (void)argc;
        set_updown(app, argv[0], false, reply, replysz);
}

static void cmd_up(struct app *app, int argc, char **argv, char *reply,
                   size_t replysz) {
        (void)argc;
        set_updown(app, argv[0], true, reply, replysz);
}

static void cmd_rtt(struct app *app, int argc, char **argv, char *reply,
                    size_t replysz) {
        int32_t id;
        long ms;

        (void)argc;
        if (!parse_broker(app, argv[0], true, &id)) {
                snprintf(reply, replysz, "error bad broker id (1..%d or -1)",
                         app->brokers);
                return;
        }
        if (!parse_long(argv[1], 0, 3600 * 1000, &ms)) {
                snprintf(reply, replysz, "error bad milliseconds");
                return;
        }
        reply_err(rd_kafka_mock_broker_set_rtt(app->mcluster, id, (int)ms),
                  reply, replysz);
}

static void cmd_error(struct app *app, int argc, char **argv, char *reply,
                      size_t replysz) {
        rd_kafka_resp_err_t err, *errs = NULL;
        int16_t api;
        long count = 1, i;

        if (!parse_api(argv[0], &api)) {
                snprintf(reply, replysz, "error unknown API key");
                goto out;
        }
        if (!parse_err(argv[1], &err)) {
                snprintf(reply, replysz, "error unknown error code");
                goto out;
        }
        if (argc > 2 && !parse_long(argv[2], 1, MAX_ERROR_COUNT, &count)) {
                snprintf(reply, replysz, "error bad count (1..%d)",
                         MAX_ERROR_COUNT);
                goto out;
        }
        errs = malloc((size_t)count * sizeof(*errs));
        if (!errs) {
                snprintf(reply, replysz, "error out of memory");
                goto out;
        }
        for (i = 0; i < count; i++)
                errs[i] = err;
        rd_kafka_mock_push_request_errors_array(app->mcluster, api,
                                                (size_t)count, errs);
        snprintf(reply, replysz, "ok");
out:
        free(errs);
}

static void cmd_clear(struct app *app, int argc, char **argv, char *reply,
                      size_t replysz) {
        int16_t api;

        (void)argc;
        if (!parse_api(argv[0], &api)) {
                snprintf(reply, replysz, "error unknown API key");
                return;
        }
        rd_kafka_mock_clear_request_errors(app->mcluster, api);
        snprintf(reply, replysz, "ok");
}

/* Replication factor used for topics we create: like the mock's default. */
static int replication(const struct app *app) {
        return app->brokers < 3 ? app->brokers : 3;
}

static void cmd_topic(struct app *app, int argc, char **argv, char *reply,
                      size_t replysz) {
        long parts;

        (void)argc;
        if (!valid_topic(argv[0])) {
                snprintf(reply, replysz, "error bad topic name");
                return;
        }
        if (!parse_long(argv[1], 1, MAX_PARTITIONS, &parts)) {
                snprintf(reply, replysz, "error bad partition count (1..%d)",
                         MAX_PARTITIONS);
                return;
        }
        reply_err(rd_kafka_mock_topic_create(app->mcluster, argv[0],
                                             (int)parts, replication(app)),
                  reply, replysz);
}

static void cmd_coordinator(struct app *app, int argc, char **argv,
                            char *reply, size_t replysz) {
        const char *type;
        int32_t id;

        (void)argc;
        if (strcasecmp(argv[0], "group") == 0)
                type = "group";
        else if (strcasecmp(argv[0], "txn") == 0 ||
                 strcasecmp(argv[0], "transaction") == 0)
                type = "transaction";
        else {
                snprintf(reply, replysz, "error type must be group or txn");
                return;
        }
        if (!parse_broker(app, argv[2], false, &id)) {
                snprintf(reply, replysz, "error bad broker id (1..%d)",
                         app->brokers);
                return;
        }
        reply_err(rd_kafka_mock_coordinator_set(app->mcluster, type, argv[1],
                                                id),
                  reply, replysz);
}

static void cmd_leader(struct app *app, int argc, char **argv, char *reply,
                       size_t replysz) {
        long part;
        int32_t id;

        (void)argc;
        if (!valid_topic(argv[0])) {
                snprintf(reply, replysz, "error bad topic name");
                return;
        }
        if (!parse_long(argv[1], 0, MAX_PARTITIONS - 1, &part)) {
                snprintf(reply, replysz, "error bad partition");
                return;
        }
        if (!parse_broker(app, argv[2], true, &id)) {
                snprintf(reply, replysz, "error bad broker id (1..%d or -1)",
                         app->brokers);
                return;
        }
        reply_err(rd_kafka_mock_partition_set_leader(app->mcluster, argv[0],
                                                     (int32_t)part, id),
                  reply, replysz);
}

static const struct command {
        const char *name;
        int min_args, max_args;
        cmd_fn fn;
        const char *usage;
} commands[] = {
    {"ping", 0, 0, cmd_ping, "ping"},
    {"down", 1, 1, cmd_down, "down BROKER"},
    {"up", 1, 1, cmd_up, "up BROKER"},
    {"rtt", 2, 2, cmd_rtt, "rtt BROKER MS"},
    {"error", 2, 3, cmd_error, "error API ERR [COUNT]"},
    {"clear", 1, 1, cmd_clear, "clear API"},
    {"topic", 2, 2, cmd_topic, "topic NAME PARTITIONS"},
    {"coordinator", 3, 3, cmd_coordinator, "coordinator group|txn KEY BROKER"},
    {"leader", 3, 3, cmd_leader, "leader TOPIC PARTITION BROKER"},
};

/* Split one command line into words and run it. line is modified. */
static void run_command(struct app *app, char *line, char *reply,
                        size_t replysz) {
        char *words[MAX_ARGS + 1];
        char *save = NULL, *w;
        int n = 0;
        size_t i;

        for (w = strtok_r(line, " \t", &save); w;
             w = strtok_r(NULL, " \t", &save)) {
                if (n == MAX_ARGS + 1) {
                        snprintf(reply, replysz, "error too many arguments");
                        return;
                }
                words[n++] = w;
        }
        if (n == 0) {
                snprintf(reply, replysz, "error empty command");
                return;
        }
        for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
                const struct command *c = &commands[i];
                if (strcasecmp(words[0], c->name) != 0)
                        continue;
                if (n - 1 < c->min_args || n - 1 > c->max_args)
                        snprintf(reply, replysz, "error usage: %s", c->usage);
                else
                        c->fn(app, n - 1, words + 1, reply, replysz);
                return;
        }
        snprintf(reply, replysz, "error unknown command");
}

/* ------------------------------------------------------------ networking */

static void client_close(struct client *c) {
        if (c->fd >= 0)
                close(c->fd);
        c->fd       = -1;
        c->len      = 0;
        c->overlong = false;
}

/* Send one answer line; false if the client is gone or not reading. */
static bool client_send(struct client *c, const char *reply) {
        char out[REPLY_MAX + 2];
        int n = snprintf(out, sizeof(out), "%s\n", reply);
        ssize_t w;

        if (n < 0 || (size_t)n >= sizeof(out)) {
                /* Cannot happen with REPLY_MAX-sized replies; stay safe. */
                n          = (int)sizeof(out) - 1;
                out[n - 1] = '\n';
                out[n]     = '\0';
        }
        w = send(c->fd, out, (size_t)n, MSG_NOSIGNAL);
        return w == n;
}

/* Handle the complete line held in c->buf; false if the client must go. */
static bool client_line(struct app *app, struct client *c) {
        char reply[REPLY_MAX];
        char shown[80];

        if (c->overlong) {
                snprintf(reply, sizeof(reply), "error line too long (max %d)",
                         LINE_MAX_LEN);
                logmsg("ctl: (overlong line) -> %s", reply);
        } else {
                c->buf[c->len] = '\0';
                if (c->len > 0 && c->buf[c->len - 1] == '\r')
                        c->buf[c->len - 1] = '\0';
                snprintf(shown, sizeof(shown), "%.79s", c->buf);
                run_command(app, c->buf, reply, sizeof(reply));
                logmsg("ctl: %s -> %s", shown, reply);
        }
        c->len      = 0;
        c->overlong = false;
        return client_send(c, reply);
}

/* Read what a client sent and answer each complete line. */
static void client_read(struct app *app, struct client *c) {
        char data[512];
        ssize_t n, i;

        n = recv(c->fd, data, sizeof(data), 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
                      errno == EINTR))
                return;
        if (n <= 0) {
                /* EOF: answer a last unterminated line, then drop. */
                if (n == 0 && (c->len > 0 || c->overlong))
                        client_line(app, c);
                client_close(c);
                return;
        }
        for (i = 0; i < n; i++) {
                if (data[i] == '\n') {
                        if (!client_line(app, c)) {
                                client_close(c);
                                return;
                        }
                } else if (c->len < LINE_MAX_LEN) {
                        /* NUL would cut the line short: keep it visible. */
                        c->buf[c->len++] = data[i] ? data[i] : '?';
                } else {
                        c->overlong = true; /* discard until newline */
                }
        }
}

/* Accept one pending control connection. */
static void accept_client(struct app *app) {
        struct client *slot = NULL;
        int fd, i;

        fd = accept(app->lfd, NULL, NULL);
        if (fd < 0)
                return;
        for (i = 0; i < MAX_CLIENTS; i++) {
                if (app->clients[i].fd < 0) {
                        slot = &app->clients[i];
                        break;
                }
        }
        if (!slot || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
                static const char busy[] = "error too many connections\n";
                if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL) < 0) {
                        /* nothing more to do */
                }
                close(fd);
                return;
        }
        slot->fd       = fd;
        slot->len      = 0;
        slot->overlong = false;
}

/* Listen on 127.0.0.1:port; returns the fd or -1. */
static int open_listener(unsigned short port, unsigned short *bound) {
        struct sockaddr_in sin;
        socklen_t len = sizeof(sin);
        int fd, one = 1, ret = -1;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                logmsg("socket: %s", strerror(errno));
                goto out;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        memset(&sin, 0, sizeof(sin));
        sin.sin_family      = AF_INET;
        sin.sin_port        = htons(port);
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
            listen(fd, 16) < 0 ||
            getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
                logmsg("control listener on 127.0.0.1:%u: %s", port,
                       strerror(errno));
                goto out;
        }
        *bound = ntohs(sin.sin_port);
        ret    = fd;
        fd     = -1;
out:
        if (fd >= 0)
                close(fd);
        return ret;
}

/* ------------------------------------------------------------- env file */

/* Write the env lines to path via path.tmp + rename. */
static bool write_env(const char *path, const char *bootstraps,
                      unsigned short port) {
        char *tmp = NULL;
        FILE *f   = NULL;
        size_t sz = strlen(path) + 32;
        bool ok   = false;

        tmp = malloc(sz);
        if (!tmp)
                goto out;
        snprintf(tmp, sz, "%s.tmp.%ld", path, (long)getpid());
        f = fopen(tmp, "w");
        if (!f) {
                logmsg("%s: %s", tmp, strerror(errno));
                goto out;
        }
        fprintf(f, "KAFKA_BOOTSTRAP=%s\nKAFKA_CTL_PORT=%u\n", bootstraps,
                port);
        if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
                logmsg("%s: %s", tmp, strerror(errno));
                goto out;
        }
        if (fclose(f) != 0) {
                f = NULL;
                logmsg("%s: %s", tmp, strerror(errno));
                goto out;
        }
        f = NULL;
        if (rename(tmp, path) != 0) {
                logmsg("rename %s: %s", path, strerror(errno));
                goto out;
        }
        ok = true;
out:
        if (f)
                fclose(f);
        if (!ok && tmp)
                unlink(tmp);
        free(tmp);
        return ok;
}

/* ----------------------------------------------------------------- main */

static void usage(FILE *f) {
        fprintf(f,
                "usage: vckafkamock [-b BROKERS] [-t TOPIC[:PARTITIONS]]... "
                "[-e ENVFILE] [-c CTLPORT] [-d DEBUG]\n");
}

/* Create the hosting handle and the cluster; false on failure. */
static bool start_cluster(struct app *app, const char *debug) {
        char errstr[512];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        bool ok               = false;

        rd_kafka_conf_set_log_cb(conf, rk_log_cb);
        if (debug && rd_kafka_conf_set(conf, "debug", debug, errstr,
                                       sizeof(errstr)) != RD_KAFKA_CONF_OK) {
                logmsg("-d %s: %s", debug, errstr);
                goto out;
        }
        /* A plain producer with no bootstrap.servers: it only owns the
         * cluster and never talks to it, so it cannot consume injected
         * errors. rd_kafka_new() takes over conf on success. */
        app->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!app->rk) {
                logmsg("rd_kafka_new: %s", errstr);
                goto out;
        }
        conf          = NULL;
        app->mcluster = rd_kafka_mock_cluster_new(app->rk, app->brokers);
        if (!app->mcluster) {
                logmsg("rd_kafka_mock_cluster_new failed");
                goto out;
        }
        ok = true;
out:
        if (conf)
                rd_kafka_conf_destroy(conf);
        return ok;
}

/* Create one "-t NAME[:PARTITIONS]" topic; false on failure. */
static bool create_topic_spec(struct app *app, const char *spec) {
        char name[256];
        const char *colon = strrchr(spec, ':');
        size_t nlen       = colon ? (size_t)(colon - spec) : strlen(spec);
        long parts        = 4;
        rd_kafka_resp_err_t err;

        if (nlen >= sizeof(name) ||
            (colon && !parse_long(colon + 1, 1, MAX_PARTITIONS, &parts))) {
                logmsg("-t %s: bad topic spec", spec);
                return false;
        }
        memcpy(name, spec, nlen);
        name[nlen] = '\0';
        if (!valid_topic(name)) {
                logmsg("-t %s: bad topic name", spec);
                return false;
        }
        err = rd_kafka_mock_topic_create(app->mcluster, name, (int)parts,
                                         replication(app));
        if (err) {
                logmsg("-t %s: %s", spec, rd_kafka_err2str(err));
                return false;
        }
        logmsg("created topic %s with %ld partitions", name, parts);
        return true;
}

/* Serve control connections until a signal arrives. */
static void serve(struct app *app) {
        struct pollfd pfd[2 + MAX_CLIENTS];
        struct client *who[2 + MAX_CLIENTS];
        bool running = true;

        while (running) {
                int n = 0, i, r;

                pfd[n].fd       = app->sigfd;
                pfd[n].events   = POLLIN;
                who[n++]        = NULL;
                pfd[n].fd       = app->lfd;
                pfd[n].events   = POLLIN;
                who[n++]        = NULL;
                for (i = 0; i < MAX_CLIENTS; i++) {
                        if (app->clients[i].fd < 0)
                                continue;
                        pfd[n].fd     = app->clients[i].fd;
                        pfd[n].events = POLLIN;
                        who[n++]      = &app->clients[i];
                }

                r = poll(pfd, (nfds_t)n, -1);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        logmsg("poll: %s", strerror(errno));
                        break;
                }

                if (pfd[0].revents) {
                        struct signalfd_siginfo si;
                        if (read(app->sigfd, &si, sizeof(si)) ==
                            (ssize_t)sizeof(si))
                                logmsg("signal %u, shutting down",
                                       si.ssi_signo);
                        running = false;
                        continue;
                }
                if (pfd[1].revents & POLLIN)
                        accept_client(app);
                for (i = 2; i < n; i++) {
                        if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
                                client_read(app, who[i]);
                }
        }
}

int main(int argc, char **argv) {
        struct app app;
        const char *topics[MAX_TOPICS];
        const char *debug = NULL;
        int ntopics = 0, opt, i, rc = 1;
        long v;
        unsigned short ctl_port = 0;
        sigset_t sigs;
        const char *bootstraps;

        memset(&app, 0, sizeof(app));
        app.brokers = 1;
        app.sigfd   = -1;
        app.lfd     = -1;
        for (i = 0; i < MAX_CLIENTS; i++)
                app.clients[i].fd = -1;

        while ((opt = getopt(argc, argv, "b:t:e:c:d:h")) != -1) {
                switch (opt) {
                case 'b':
                        if (!parse_long(optarg, 1, MAX_BROKERS, &v)) {
                                fprintf(stderr, "-b: 1..%d brokers\n",
                                        MAX_BROKERS);
                                rc = 2;
                                goto out;
                        }
                        app.brokers = (int)v;
                        break;
                case 't':
                        if (ntopics == MAX_TOPICS) {
                                fprintf(stderr, "too many -t options\n");
                                rc = 2;
                                goto out;
                        }
                        topics[ntopics++] = optarg;
                        break;
                case 'e':
                        app.env_path = optarg;
                        break;
                case 'c':
                        if (!parse_long(optarg, 0, 65535, &v)) {
                                fprintf(stderr, "-c: port 0..65535\n");
                                rc = 2;
                                goto out;
                        }
                        ctl_port = (unsigned short)v;
                        break;
                case 'd':
                        debug = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        rc = 0;
                        goto out;
                default:
                        usage(stderr);
                        rc = 2;
                        goto out;
                }
        }
        if (optind != argc) {
                usage(stderr);
                rc = 2;
                goto out;
        }

        /* Block INT/TERM before librdkafka starts threads (they inherit the
         * mask) and read them through a signalfd. Default dispositions make
         * sure an inherited SIG_IGN (bash background jobs) does not discard
         * them. SIGPIPE is ignored: clients may vanish mid-answer. */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGINT);
        sigaddset(&sigs, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &sigs, NULL) != 0) {
                logmsg("sigprocmask: %s", strerror(errno));
                goto out;
        }
        app.sigfd = signalfd(-1, &sigs, SFD_CLOEXEC);
        if (app.sigfd < 0) {
                logmsg("signalfd: %s", strerror(errno));
                goto out;
        }

        if (!start_cluster(&app, debug))
                goto out;
        bootstraps = rd_kafka_mock_cluster_bootstraps(app.mcluster);

        for (i = 0; i < ntopics; i++) {
                if (!create_topic_spec(&app, topics[i]))
                        goto out;
        }

        app.lfd = open_listener(ctl_port, &app.ctl_port);
        if (app.lfd < 0)
                goto out;

        if (app.env_path) {
                if (!write_env(app.env_path, bootstraps, app.ctl_port))
                        goto out;
                app.env_written = true;
        }
        printf("KAFKA_BOOTSTRAP=%s\nKAFKA_CTL_PORT=%u\n", bootstraps,
               app.ctl_port);
        fflush(stdout);
        logmsg("ready: %d broker(s) at %s, control on 127.0.0.1:%u (librdkafka %s)",
               app.brokers, bootstraps, app.ctl_port, rd_kafka_version_str());

        serve(&app);
        rc = 0;

out:
        for (i = 0; i < MAX_CLIENTS; i++)
                client_close(&app.clients[i]);
        if (app.lfd >= 0)
                close(app.lfd);
        if (app.env_written && unlink(app.env_path) != 0)
                logmsg("unlink %s: %s", app.env_path, strerror(errno));
        if (app.mcluster)
                rd_kafka_mock_cluster_destroy(app.mcluster);
        if (app.rk) {
                rd_kafka_destroy(app.rk);
                /* Let librdkafka's background threads finish. */
                if (rd_kafka_wait_destroyed(5000) != 0)
                        logmsg("librdkafka did not shut down in time");
        }
        if (app.sigfd >= 0)
                close(app.sigfd);
        if (rc == 0)
                logmsg("exit");
        return rc;
}
