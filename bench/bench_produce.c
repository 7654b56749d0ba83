/*
 * bench_produce.c - the scheduler's side for bench_spawn.sh: one producer
 * for a whole run.  Reads "key|value" lines from stdin and sends each at
 * once (linger.ms 0), as it arrives: kcat -P reads its input to the end
 * before it sends, and a kcat per request costs a process and a broker
 * connection.  A line's CreateTime is thus when it reached Kafka.
 *
 * Usage: bench_produce BOOTSTRAP TOPIC  (exits at the end of its input,
 * after every message was delivered; 1 if one was not)
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

static int failed;

static void
delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (m->err) {
		fprintf(stderr, "bench_produce: not delivered: %s\n",
		    rd_kafka_err2str(m->err));
		failed = 1;
	}
}

int
main(int argc, char **argv)
{
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk = NULL;
	char err[512], *line = NULL, *bar;
	size_t cap = 0;
	ssize_t len;
	int ret = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: bench_produce BOOTSTRAP TOPIC\n");
		return 2;
	}
	conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "linger.ms", "0", err, sizeof(err))) {
		fprintf(stderr, "bench_produce: %s\n", err);
		rd_kafka_conf_destroy(conf);
		return 1;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, delivered);
	if ((rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err))) == NULL) {
		fprintf(stderr, "bench_produce: %s\n", err);
		return 1;	/* conf was not taken */
	}
	while ((len = getline(&line, &cap, stdin)) > 0) {
		rd_kafka_resp_err_t e;

		if (line[len - 1] == '\n')
			line[--len] = '\0';
		if ((bar = strchr(line, '|')) == NULL) {
			fprintf(stderr, "bench_produce: a line without a key: %s\n", line);
			goto out;
		}
		do {
			e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(argv[2]),
			    RD_KAFKA_V_KEY(line, (size_t)(bar - line)),
			    RD_KAFKA_V_VALUE(bar + 1, strlen(bar + 1)),
			    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
			if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
				rd_kafka_poll(rk, 10);
		} while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
		if (e) {
			fprintf(stderr, "bench_produce: %s\n", rd_kafka_err2str(e));
			goto out;
		}
		rd_kafka_poll(rk, 0);
	}
	if (rd_kafka_flush(rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "bench_produce: messages left undelivered\n");
		goto out;
	}
	ret = failed;
out:
	free(line);
	rd_kafka_destroy(rk);
	return ret;
}
