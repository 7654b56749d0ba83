/*
 * fuzz_cfg.c - libFuzzer harness: the YAML configuration, as "vcagent -n"
 * reads it: cfg_load_string(), and for a configuration that loads, the
 * effective configuration printed (secrets masked) and the warnings, and its
 * vmware.datastore_regex matched against datastore names as the driver
 * matches them (a runaway match is a timeout).
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
#include "vcdriver/vcdriver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The regex a loaded configuration accepted compiles again, and matching
 * it ends on a few names: 1, 0, or -1 (a limit hit) saying why. */
static void
fuzz_regex(const char *pattern)
{
	static const char *const names[] = { "LocalDS_0", "", "datastore1",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!",
	    "d\xc3\xa9s-ssd-01" };
	struct vcd_regex *re;
	char why[256];

	if ((re = vcd_regex_compile(pattern, why, sizeof(why))) == NULL)
		abort();	/* cfg_check_regex() accepted it */
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		why[0] = '\0';
		if (vcd_regex_match(re, names[i], why, sizeof(why)) < 0 &&
		    why[0] == '\0')
			abort();
	}
	vcd_regex_free(re);
}

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
		if (cfg->vmware.datastore_regex != NULL)
			fuzz_regex(cfg->vmware.datastore_regex);
		warn = cfg_warnings(cfg);
		free(warn);
		cfg_free(cfg);
	} else if (errors == NULL || errors[0] == '\0')
		abort();	/* a failure must say what is wrong */
	free(errors);
	return 0;
}
