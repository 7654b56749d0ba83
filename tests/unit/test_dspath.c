/*
 * test_dspath.c - "[datastore] path" parsing and formatting.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "vcdriver/vcd_dspath.h"

static void
test_parse(void **state)
{
	struct vcd_dspath p;
	const char *why = NULL;

	(void)state;
	assert_int_equal(vcd_dspath_parse("[datastore1] vm1/vm1.vmx", &p, &why), 0);
	assert_string_equal(p.datastore, "datastore1");
	assert_string_equal(p.path, "vm1/vm1.vmx");
	vcd_dspath_free(&p);
	/* datastore names may contain spaces */
	assert_int_equal(vcd_dspath_parse("[Local DS 2] a b/c.vmdk", &p, &why), 0);
	assert_string_equal(p.datastore, "Local DS 2");
	assert_string_equal(p.path, "a b/c.vmdk");
	vcd_dspath_free(&p);
	assert_int_equal(vcd_dspath_parse("[ds]", &p, &why), 0);
	assert_string_equal(p.path, "");
	vcd_dspath_free(&p);
}

static void
test_parse_errors(void **state)
{
	struct vcd_dspath p;
	const char *why = NULL;

	(void)state;
	assert_int_equal(vcd_dspath_parse("ds/vm.vmx", &p, &why), -1);
	assert_string_equal(why, "a datastore path must start with '['");
	assert_int_equal(vcd_dspath_parse("[ds vm.vmx", &p, &why), -1);
	assert_string_equal(why, "a datastore path needs a closing ']'");
	assert_int_equal(vcd_dspath_parse("[] vm.vmx", &p, &why), -1);
	assert_string_equal(why, "the datastore name is empty");
	assert_int_equal(vcd_dspath_parse("[ds]vm.vmx", &p, &why), -1);
	assert_int_equal(vcd_dspath_parse("[ds] /etc/passwd", &p, &why), -1);
	assert_string_equal(why, "the path after the datastore must be relative");
	assert_null(p.datastore);
}

static void
test_format(void **state)
{
	char *s;

	(void)state;
	s = vcd_dspath_format("ds1", "_base/img/img.vmdk");
	assert_string_equal(s, "[ds1] _base/img/img.vmdk");
	free(s);
	s = vcd_dspath_format("ds1", "");
	assert_string_equal(s, "[ds1]");
	free(s);
}

static void
test_check_name(void **state)
{
	(void)state;
	assert_int_equal(vcd_dspath_check_name("vm-1 (copy)"), 0);
	assert_int_equal(vcd_dspath_check_name(""), -1);
	assert_int_equal(vcd_dspath_check_name(".."), -1);
	assert_int_equal(vcd_dspath_check_name("a/b"), -1);
	assert_int_equal(vcd_dspath_check_name("a]b"), -1);
	assert_int_equal(vcd_dspath_check_name("a\nb"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_check_name),
	};

	return cmocka_run_group_tests_name("dspath", tests, NULL, NULL);
}
