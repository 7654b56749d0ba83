/*
 * kbatch.h - the order the messages of one poll are handled in, and the
 * offsets that may be committed after them.
 *
 * Messages are handled in the order they came.  The first message of a
 * partition that is not handled stops that partition: the messages after
 * it are not handled (they are read again with it), and the partition's
 * offset to commit is the one after its last handled message, never past
 * a message that was not.  Other partitions go on.
 *
 * Ownership: nothing is allocated; PARTS is the caller's, its topics point
 * into the caller's messages.
 */
#ifndef VC_KBATCH_H
#define VC_KBATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where a message came from; SKIP: not a message (a consumer error). */
struct kb_msg {
	const char	*topic;
	int32_t		 partition;
	int64_t		 offset;
	bool		 skip;
};

/* A partition of the batch: NEXT the offset to commit (-1: nothing was
 * handled), STOP the message that stopped it (-1: none). */
struct kb_part {
	const char	*topic;
	int32_t		 partition;
	int64_t		 next;
	int64_t		 stop;
};

/* Handle message I: 0 handled, anything else not (it stops its partition). */
typedef int (*kb_handle_fn)(void *arg, size_t i);

/* Walk the N messages M with HANDLE; PARTS (room for N) gets one entry per
 * partition met, in the order met; returns how many. */
size_t kb_walk(const struct kb_msg *m, size_t n, kb_handle_fn handle, void *arg,
    struct kb_part *parts);

#endif
