/*
 * test_mac.c - MAC address validation and generation for VMware NICs.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "netplug/netplug.h"

static void
test_parse_valid(void **state)
{
	struct np_mac m;
	const char *why = NULL;
	char s[18];

	(void)state;
	assert_int_equal(np_mac_parse("00:50:56:3F:ab:01", &m, &why), 0);
	assert_string_equal(np_mac_format(&m, s, sizeof(s)), "00:50:56:3f:ab:01");
	assert_int_equal(np_mac_kind(&m), NP_MAC_VMWARE_STATIC);
	assert_int_equal(np_mac_parse("00-0c-29-01-02-03", &m, &why), 0);
	assert_int_equal(np_mac_kind(&m), NP_MAC_VMWARE_GENERATED);
	assert_int_equal(np_mac_parse("00:50:56:40:00:00", &m, &why), 0);
	assert_int_equal(np_mac_kind(&m), NP_MAC_OTHER);	/* above the manual range */
	assert_int_equal(np_mac_parse("52:54:00:12:34:56", &m, &why), 0);
	assert_int_equal(np_mac_kind(&m), NP_MAC_OTHER);
}

static void
test_parse_invalid(void **state)
{
	struct np_mac m;
	const char *why = NULL;

	(void)state;
	assert_int_equal(np_mac_parse("00:50:56:12:34", &m, &why), -1);
	assert_int_equal(np_mac_parse("00:50:56:12:34:5g", &m, &why), -1);
	assert_int_equal(np_mac_parse("00:50-56:12:34:56", &m, &why), -1);
	assert_string_equal(why, "a MAC address mixes ':' and '-'");
	assert_int_equal(np_mac_parse("01:00:5e:00:00:01", &m, &why), -1);
	assert_string_equal(why, "a multicast MAC address cannot be assigned to a NIC");
	assert_int_equal(np_mac_parse("00:00:00:00:00:00", &m, &why), -1);
	assert_int_equal(np_mac_parse(NULL, &m, &why), -1);
}

static void
test_generate(void **state)
{
	struct np_mac a, b;
	int differ = 0;

	(void)state;
	for (int i = 0; i < 64; i++) {
		assert_int_equal(np_mac_generate(&a), 0);
		assert_int_equal(np_mac_kind(&a), NP_MAC_VMWARE_STATIC);
		assert_int_equal(np_mac_generate(&b), 0);
		differ += memcmp(&a, &b, sizeof(a)) != 0;
	}
	assert_true(differ > 60);	/* 22 random bits: collisions are rare */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_generate),
	};

	return cmocka_run_group_tests_name("mac", tests, NULL, NULL);
}
