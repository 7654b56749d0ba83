/*
 * test_kbatch.c - the order of one poll's messages and the offsets that
 * may be committed after them (agent/kbatch.c), with a fake handler that
 * fails the messages it is told to.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/kbatch.h"

/* The fake: which messages it was asked (in order), which it refuses. */
struct fake {
	const bool	*refuse;
	size_t		 asked[32];
	size_t		 nasked;
};

static int
fake_handle(void *arg, size_t i)
{
	struct fake *f = arg;

	f->asked[f->nasked++] = i;
	return f->refuse[i] ? -1 : 0;
}

static const struct kb_part *
part(const struct kb_part *p, size_t np, const char *topic, int32_t partition)
{
	for (size_t i = 0; i < np; i++)
		if (p[i].partition == partition && strcmp(p[i].topic, topic) == 0)
			return &p[i];
	fail_msg("no partition %s [%d]", topic, partition);
	return NULL;
}

/* All handled: each partition commits after its last message. */
static void
test_all_handled(void **state)
{
	const struct kb_msg m[] = { { "t", 0, 10, false }, { "t", 1, 5, false },
	    { "t", 0, 11, false }, { "t", 1, 6, false }, { "t", 0, 12, false } };
	const bool refuse[5] = { false };
	struct fake f = { refuse, { 0 }, 0 };
	struct kb_part p[5];
	size_t np;

	(void)state;
	np = kb_walk(m, 5, fake_handle, &f, p);
	assert_int_equal(np, 2);
	assert_int_equal(f.nasked, 5);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(f.asked[i], i);	/* in the order they came */
	assert_int_equal(part(p, np, "t", 0)->next, 13);
	assert_int_equal(part(p, np, "t", 0)->stop, -1);
	assert_int_equal(part(p, np, "t", 1)->next, 7);
}

/*
 * A message not handled stops its partition there: nothing after it in
 * that partition is handled, the commit stays before it; the other
 * partition goes on.  A message refused first commits nothing.
 */
static void
test_stop_at_first_failure(void **state)
{
	const struct kb_msg m[] = { { "t", 0, 10, false }, { "t", 0, 11, false },
	    { "t", 1, 5, false }, { "t", 0, 12, false }, { "t", 1, 6, false },
	    { "u", 0, 3, false }, { "u", 0, 4, false } };
	const bool refuse[7] = { false, true, false, false, false, true, false };
	struct fake f = { refuse, { 0 }, 0 };
	struct kb_part p[7];
	size_t np;

	(void)state;
	np = kb_walk(m, 7, fake_handle, &f, p);
	assert_int_equal(np, 3);
	/* 3 (t [0] 12) and 6 (u [0] 4) are not asked */
	assert_int_equal(f.nasked, 5);
	assert_int_equal(f.asked[0], 0);
	assert_int_equal(f.asked[1], 1);
	assert_int_equal(f.asked[2], 2);
	assert_int_equal(f.asked[3], 4);
	assert_int_equal(f.asked[4], 5);
	assert_int_equal(part(p, np, "t", 0)->next, 11);	/* never past 11 */
	assert_int_equal(part(p, np, "t", 0)->stop, 11);
	assert_int_equal(part(p, np, "t", 1)->next, 7);
	assert_int_equal(part(p, np, "t", 1)->stop, -1);
	assert_int_equal(part(p, np, "u", 0)->next, -1);	/* nothing to commit */
	assert_int_equal(part(p, np, "u", 0)->stop, 3);
}

/* A consumer error in the batch is no message: not asked, not counted. */
static void
test_skip(void **state)
{
	const struct kb_msg m[] = { { "t", 0, 10, false }, { "t", 0, -1, true },
	    { "t", 0, 11, false } };
	const bool refuse[3] = { false, true, false };
	struct fake f = { refuse, { 0 }, 0 };
	struct kb_part p[3];
	size_t np;

	(void)state;
	np = kb_walk(m, 3, fake_handle, &f, p);
	assert_int_equal(np, 1);
	assert_int_equal(f.nasked, 2);
	assert_int_equal(p[0].next, 12);
	assert_int_equal(p[0].stop, -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_handled),
		cmocka_unit_test(test_stop_at_first_failure),
		cmocka_unit_test(test_skip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
