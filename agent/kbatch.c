/*
 * kbatch.c - the messages of one poll, in order, each partition up to its
 * first message not handled.
 */
#include "config.h"

#include <string.h>

#include "kbatch.h"

static struct kb_part *
kb_part_of(struct kb_part *parts, size_t *np, const struct kb_msg *m)
{
	size_t i;

	for (i = 0; i < *np; i++)
		if (parts[i].partition == m->partition && strcmp(parts[i].topic,
		    m->topic) == 0)
			return &parts[i];
	parts[i].topic = m->topic;
	parts[i].partition = m->partition;
	parts[i].next = -1;
	parts[i].stop = -1;
	(*np)++;
	return &parts[i];
}

size_t
kb_walk(const struct kb_msg *m, size_t n, kb_handle_fn handle, void *arg,
    struct kb_part *parts)
{
	struct kb_part *p;
	size_t np = 0;

	for (size_t i = 0; i < n; i++) {
		if (m[i].skip)
			continue;
		if ((p = kb_part_of(parts, &np, &m[i]))->stop >= 0)
			continue;	/* read again after the one that stopped it */
		if (handle(arg, i) == 0)
			p->next = m[i].offset + 1;
		else
			p->stop = m[i].offset;
	}
	return np;
}
