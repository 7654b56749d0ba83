/*
 * fuzz_req.c - libFuzzer harness: a Kafka request as the agent reads it.
 *
 * req_parse() on any bytes, then what the consumer does with what it got:
 * the event naming the request (a rejection when it could not be read).
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/req.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	struct req_outcome o = { "rejected", "InvalidRequest", NULL, NULL, NULL,
	    NULL, NULL };
	struct req r;
	char why[512], *ev;

	if (!init) {
		log_init("fuzz_req", LOG_LVL_ERROR);
		init = 1;
	}
	if (req_parse((const char *)data, size, &r, why, sizeof(why)) == 0) {
		o.event = "accepted";
		ev = req_event(r.request_id, req_type_name(r.type), r.node,
		    r.instance_uuid, &o);
	} else {
		o.message = why;
		ev = req_event(r.request_id[0] != '\0' ? r.request_id : NULL, NULL,
		    NULL, NULL, &o);
	}
	free(ev);
	req_free(&r);
	return 0;
}
