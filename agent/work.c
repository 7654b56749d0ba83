/*
 * work.c - workers that keep one key's jobs in order.
 *
 * One FIFO of jobs; a worker takes the first job whose key no other worker
 * is running.  The queue is bounded by the caller's backpressure, so the
 * scan stays short.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "work.h"
#include "xmalloc.h"

struct work_job {
	char		*key;
	void		*job;
	bool		 running;
	struct work_job	*next;
};

struct work_pool {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;		/* a job came, or one ended */
	struct work_job	*head, **tail;
	size_t		 pending;
	bool		 stop;
	work_fn		 run;
	void		*arg;
	pthread_t	*threads;
	int		 nthreads;
};

/* The first job not running whose key is not running; NULL if none. */
static struct work_job *
work_next(struct work_pool *p)
{
	for (struct work_job *j = p->head; j != NULL; j = j->next) {
		bool busy = j->running;
		for (struct work_job *k = p->head; k != j && !busy; k = k->next)
			if (strcmp(k->key, j->key) == 0)
				busy = true;	/* an earlier job of this key */
		if (!busy)
			return j;
	}
	return NULL;
}

static void *
work_main(void *arg)
{
	struct work_pool *p = arg;
	struct work_job *j, **pp;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->stop && (j = work_next(p)) == NULL)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->stop)
			break;
		j->running = true;
		pthread_mutex_unlock(&p->lock);
		p->run(p->arg, j->job);
		pthread_mutex_lock(&p->lock);
		for (pp = &p->head; *pp != j; pp = &(*pp)->next)
			;
		*pp = j->next;
		if (p->tail == &j->next)
			p->tail = pp;
		p->pending--;
		free(j->key);
		free(j);
		pthread_cond_broadcast(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct work_pool *
work_new(int nworkers, work_fn run, void *arg)
{
	struct work_pool *p = xcalloc(1, sizeof(*p));

	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->tail = &p->head;
	p->run = run;
	p->arg = arg;
	p->threads = xcalloc((size_t)nworkers, sizeof(*p->threads));
	for (int i = 0; i < nworkers; i++) {
		if (pthread_create(&p->threads[i], NULL, work_main, p) != 0)
			fatalx("work: cannot start worker %d", i);	/* start-up,
								 * main thread */
		p->nthreads++;
	}
	return p;
}

void
work_submit(struct work_pool *p, const char *key, void *job)
{
	struct work_job *j = xcalloc(1, sizeof(*j));

	j->key = xstrdup(key);
	j->job = job;
	pthread_mutex_lock(&p->lock);
	*p->tail = j;
	p->tail = &j->next;
	p->pending++;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

size_t
work_pending(struct work_pool *p)
{
	size_t n;

	pthread_mutex_lock(&p->lock);
	n = p->pending;
	pthread_mutex_unlock(&p->lock);
	return n;
}

size_t
work_drain(struct work_pool *p, double seconds)
{
	struct timespec until;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)seconds;
	pthread_mutex_lock(&p->lock);
	while (p->pending > 0)
		if (pthread_cond_timedwait(&p->cond, &p->lock, &until) == ETIMEDOUT)
			break;
	n = p->pending;
	pthread_mutex_unlock(&p->lock);
	return n;
}

void
work_free(struct work_pool *p, void (*drop)(void *job))
{
	struct work_job *j, *next;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	for (j = p->head; j != NULL; j = next) {
		next = j->next;
		if (drop != NULL)
			drop(j->job);
		free(j->key);
		free(j);
	}
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p->threads);
	free(p);
}
