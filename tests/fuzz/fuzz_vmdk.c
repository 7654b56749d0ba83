/*
 * fuzz_vmdk.c - libFuzzer harness: the first bytes of an uploaded or
 * downloaded VMDK (sparse header and embedded descriptor), as
 * imagecache/ic_stream.c hands them to ic_vmdk_parse().
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imagecache/imagecache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ic_vmdk v;
	const char *why = NULL;

	/* libFuzzer's DATA is a heap block of exactly SIZE: ASan sees overreads */
	if (ic_vmdk_parse(data, size, &v, &why) == 0) {
		/* what the cache then writes: a descriptor for the adapter read */
		char *d = ic_vmdk_descriptor("x-flat.vmdk",
		    (int64_t)(v.capacity_sectors & 0xffffffffffULL) * 512,
		    v.adapter[0] != '\0' ? v.adapter : NULL, v.compressed, v.version);
		if (strnlen(v.create_type, sizeof(v.create_type)) == sizeof(v.create_type) ||
		    strnlen(v.adapter, sizeof(v.adapter)) == sizeof(v.adapter))
			abort();	/* not NUL-terminated */
		free(d);
	} else if (why == NULL)
		abort();	/* a failure must say why */
	return 0;
}
