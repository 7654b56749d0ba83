/*
 * fuzz_cfg.c - libFuzzer harness: the YAML configuration, as "vcagent -n"
 * reads it: cfg_load_string(), and for a configuration that loads, the
 * effective configuration printed (secrets masked) and the warnings.
 *
 * A secret may be {file: PATH}: inputs that name a device or /proc file are
 * skipped (a secret read from /dev/zero or /dev/stdin never ends; that is
 * the operator's doing, not the parser's).
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cfg.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *null;
	struct cfg *cfg;
	char *errors = NULL, *warn;

	if (null == NULL) {
		log_init("fuzz_cfg", LOG_LVL_ERROR);
		if ((null = fopen("/dev/null", "w")) == NULL)
			abort();
	}
	if (memmem(data, size, "/dev", 4) != NULL || memmem(data, size, "/proc", 5) != NULL)
		return 0;
	cfg = cfg_load_string("fuzz.yaml", (const char *)data, size, &errors);
	if (cfg != NULL) {
		if (errors != NULL)
			abort();	/* success sets *errors to NULL */
		cfg_print(cfg, null);
		warn = cfg_warnings(cfg);
		free(warn);
		cfg_free(cfg);
	} else if (errors == NULL || errors[0] == '\0')
		abort();	/* a failure must say what is wrong */
	free(errors);
	return 0;
}
