/*
 * rnd.c - random numbers for names and jitter (rnd.h).
 */
#include "config.h"

#include <sys/random.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "rnd.h"

uint32_t
vc_rand32(void)
{
	static atomic_uint calls;
	struct timespec ts;
	uint32_t r = 0;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r))
		return r;
	/* no entropy to be had: different per call and per process */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	r = (uint32_t)ts.tv_nsec ^ ((uint32_t)ts.tv_sec << 20) ^
	    ((uint32_t)getpid() << 8) ^ (atomic_fetch_add(&calls, 1) * 2654435761u);
	return r;
}
