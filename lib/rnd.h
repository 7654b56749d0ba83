/*
 * rnd.h - random numbers for names and jitter, not for keys.
 *
 * From getrandom(2); when it cannot give them (no entropy yet at boot, an
 * old kernel), from the clock, the process id and a counter, which still
 * differ between calls and processes.  Nothing is returned that needs freeing.
 */
#ifndef VC_RND_H
#define VC_RND_H

#include <stdint.h>

uint32_t vc_rand32(void);

#endif
