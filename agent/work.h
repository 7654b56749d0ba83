/*
 * work.h - a bounded pool of workers that runs one key's jobs in order.
 *
 * Jobs with the same key (an instance's uuid) run one at a time, in the
 * order they were submitted; jobs with different keys run in parallel on
 * up to NWORKERS threads.  The pool never blocks the submitter: the caller
 * reads work_pending() and stops taking work (pauses Kafka) when it is
 * high - backpressure instead of an unbounded buffer.
 *
 * Ownership: work_submit() takes JOB; the pool passes it to RUN, which
 * owns it from then on.  work_free() stops the pool once its jobs are done.
 */
#ifndef VC_WORK_H
#define VC_WORK_H

#include <stddef.h>

struct work_pool;

typedef void (*work_fn)(void *arg, void *job);

struct work_pool *work_new(int nworkers, work_fn run, void *arg);
/* Queue JOB under KEY (copied). */
void work_submit(struct work_pool *p, const char *key, void *job);
/* Jobs queued or running. */
size_t work_pending(struct work_pool *p);
/* Wait up to SECONDS for every job to finish; the number still pending. */
size_t work_drain(struct work_pool *p, double seconds);
/* Stop the workers (after their current job) and free the pool; jobs
 * never started are passed to DROP (may be NULL). */
void work_free(struct work_pool *p, void (*drop)(void *job));

#endif
