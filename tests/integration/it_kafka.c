/*
 * it_kafka.c - the Kafka peer (librdkafka's mock cluster in vckafkamock):
 * produce with headers, consume in a consumer group with manual commits,
 * fault control, and a clean stop.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "tpeer.h"

#define TOPIC	"it.requests"
#define NMSG	3

static int
setup(void **state)
{
	static const char *const specs[] = { "kafka -t " TOPIC ":2", NULL };

	return tpeer_setup(state, specs);
}

static rd_kafka_conf_t *
conf(const struct tpeer *peers)
{
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	char err[256];

	assert_int_equal(rd_kafka_conf_set(c, "bootstrap.servers",
	    tpeer_get(peers, "KAFKA_BOOTSTRAP"), err, sizeof(err)), RD_KAFKA_CONF_OK);
	return c;
}

static void
set(rd_kafka_conf_t *c, const char *k, const char *v)
{
	char err[256];

	if (rd_kafka_conf_set(c, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK)
		fail_msg("%s=%s: %s", k, v, err);
}

static void
test_produce_and_group_consume(void **state)
{
	const struct tpeer *peers = *state;
	rd_kafka_t *p, *c;
	rd_kafka_conf_t *pc = conf(peers), *cc = conf(peers);
	rd_kafka_topic_partition_list_t *topics;
	char err[256], payload[64];
	int seen[NMSG] = { 0 }, got = 0;
	time_t deadline;

	p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof(err));
	assert_non_null(p);
	for (int i = 0; i < NMSG; i++) {
		snprintf(payload, sizeof(payload), "{\"request_id\":\"r%d\"}", i);
		assert_int_equal(rd_kafka_producev(p,
		    RD_KAFKA_V_TOPIC(TOPIC),
		    RD_KAFKA_V_KEY("instance-1", 10),
		    RD_KAFKA_V_VALUE(payload, strlen(payload)),
		    RD_KAFKA_V_HEADER("version", "1", 1),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_END), RD_KAFKA_RESP_ERR_NO_ERROR);
	}
	assert_int_equal(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_destroy(p);

	set(cc, "group.id", "it-group");
	set(cc, "enable.auto.commit", "false");
	set(cc, "auto.offset.reset", "earliest");
	set(cc, "session.timeout.ms", "3000");
	set(cc, "heartbeat.interval.ms", "500");
	c = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof(err));
	assert_non_null(c);
	rd_kafka_poll_set_consumer(c);
	topics = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(topics, TOPIC, RD_KAFKA_PARTITION_UA);
	assert_int_equal(rd_kafka_subscribe(c, topics), RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_topic_partition_list_destroy(topics);

	deadline = time(NULL) + 30;
	while (got < NMSG && time(NULL) < deadline) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 500);
		rd_kafka_headers_t *h = NULL;
		const void *hv;
		size_t hl;
		int idx;

		if (m == NULL)
			continue;
		if (m->err) {
			rd_kafka_message_destroy(m);
			continue;
		}
		assert_int_equal(m->key_len, 10);
		assert_memory_equal(m->key, "instance-1", 10);
		assert_int_equal(rd_kafka_message_headers(m, &h), RD_KAFKA_RESP_ERR_NO_ERROR);
		assert_int_equal(rd_kafka_header_get_last(h, "version", &hv, &hl), 0);
		assert_int_equal(hl, 1);
		assert_int_equal(sscanf((const char *)m->payload,
		    "{\"request_id\":\"r%d\"}", &idx), 1);
		assert_true(idx >= 0 && idx < NMSG);
		seen[idx]++;
		got++;
		assert_int_equal(rd_kafka_commit_message(c, m, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
		rd_kafka_message_destroy(m);
	}
	assert_int_equal(got, NMSG);
	for (int i = 0; i < NMSG; i++)
		assert_int_equal(seen[i], 1);	/* same key: one partition, once each */
	rd_kafka_consumer_close(c);
	rd_kafka_destroy(c);
}

static void
test_control(void **state)
{
	const struct tpeer *peers = *state;

	assert_int_equal(tpeer_script(peers, "kafka", "ctl", "ping"), 0);
	assert_int_equal(tpeer_script(peers, "kafka", "ctl", "rtt 1 5"), 0);
	assert_int_equal(tpeer_script(peers, "kafka", "ctl", "down 1"), 0);
	assert_int_equal(tpeer_script(peers, "kafka", "ctl", "up 1"), 0);
	assert_int_equal(tpeer_script(peers, "kafka", "ctl",
	    "error Produce REQUEST_TIMED_OUT 2"), 0);
	assert_int_equal(tpeer_script(peers, "kafka", "ctl", "down 99"), 1);
	assert_int_equal(tpeer_script(peers, "kafka", "ctl", "no-such-command"), 1);
}

static void
test_stop_clean(void **state)
{
	assert_int_equal(tpeer_stop_state(state), 0);	/* process gone, state removed */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_produce_and_group_consume),
		cmocka_unit_test(test_control),
		cmocka_unit_test(test_stop_clean),
	};

	return cmocka_run_group_tests_name("kafka", tests, setup, tpeer_teardown);
}
