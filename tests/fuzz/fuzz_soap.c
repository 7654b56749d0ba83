/*
 * fuzz_soap.c - libFuzzer harness: a vCenter answer, as the SOAP decoder
 * (vcdriver/vim_dec.c) reads it: responses of every method of the vim25
 * subset, faults and their details.
 *
 * Input: "<method>\n<body>" where <method> names a method of vim25.spec
 * (RetrievePropertiesEx, CreateVM_Task, ...); otherwise the whole input is
 * the body, answered to a method chosen by its length.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "vcdriver/vim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct vim_method *
fuzz_method(const uint8_t **data, size_t *size)
{
	const uint8_t *nl = memchr(*data, '\n', *size < 64 ? *size : 64);

	if (nl != NULL)
		for (size_t i = 0; i < vim_nmethods; i++) {
			size_t n = strlen(vim_methods[i]->name);
			if ((size_t)(nl - *data) == n &&
			    memcmp(*data, vim_methods[i]->name, n) == 0) {
				*size -= n + 1;
				*data = nl + 1;
				return vim_methods[i];
			}
		}
	return vim_methods[*size % vim_nmethods];
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	struct vim_arena a = VIM_ARENA_INIT;
	const struct vim_method *m;
	struct vim_obj *fault = NULL;
	struct vcd_err err;
	char text[1024];
	void *out = NULL;

	if (!init) {
		log_init("fuzz_soap", LOG_LVL_ERROR);
		init = 1;
	}
	m = fuzz_method(&data, &size);
	memset(&err, 0, sizeof(err));
	if (vim_decode_response((const char *)data, size, m, &a, &out, &fault,
	    &err) == 0) {
		if (out == NULL || !vim_type_is(((struct vim_obj *)out)->type, m->resp))
			abort();	/* success must give the method's answer */
	} else {
		if (err.code == 0)
			abort();	/* a failure must say what it is */
		if (fault != NULL)
			(void)vim_type_name(fault);
	}
	vcd_strerror(&err, text, sizeof(text));
	if (memchr(err.msg, '\0', sizeof(err.msg)) == NULL ||
	    memchr(err.fault, '\0', sizeof(err.fault)) == NULL ||
	    memchr(err.object, '\0', sizeof(err.object)) == NULL)
		abort();	/* not NUL-terminated */
	vim_arena_free(&a);
	return 0;
}
