/*
 * np_mac.c - validating and generating MAC addresses for VMware NICs.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "netplug.h"

static int
np_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
np_mac_parse(const char *text, struct np_mac *out, const char **why)
{
	char sep = 0;
	int i;

	if (text == NULL || strlen(text) != 17) {
		*why = "a MAC address is six hex pairs, e.g. 00:50:56:12:34:56";
		return -1;
	}
	for (i = 0; i < 6; i++) {
		const char *p = text + i * 3;
		int hi = np_hex((unsigned char)p[0]), lo = np_hex((unsigned char)p[1]);
		if (hi < 0 || lo < 0) {
			*why = "a MAC address is six hex pairs, e.g. 00:50:56:12:34:56";
			return -1;
		}
		if (i < 5) {
			if (p[2] != ':' && p[2] != '-') {
				*why = "MAC address pairs are separated by ':' or '-'";
				return -1;
			}
			if (sep == 0)
				sep = p[2];
			else if (p[2] != sep) {
				*why = "a MAC address mixes ':' and '-'";
				return -1;
			}
		}
		out->b[i] = (uint8_t)(hi << 4 | lo);
	}
	if (out->b[0] & 0x01) {
		*why = "a multicast MAC address cannot be assigned to a NIC";
		return -1;
	}
	if (!(out->b[0] | out->b[1] | out->b[2] | out->b[3] | out->b[4] | out->b[5])) {
		*why = "the all-zero MAC address cannot be assigned to a NIC";
		return -1;
	}
	return 0;
}

enum np_mac_kind
np_mac_kind(const struct np_mac *m)
{
	if (m->b[0] == 0x00 && m->b[1] == 0x50 && m->b[2] == 0x56 && m->b[3] <= 0x3f)
		return NP_MAC_VMWARE_STATIC;
	if (m->b[0] == 0x00 && m->b[1] == 0x0c && m->b[2] == 0x29)
		return NP_MAC_VMWARE_GENERATED;
	return NP_MAC_OTHER;
}

char *
np_mac_format(const struct np_mac *m, char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", m->b[0], m->b[1],
	    m->b[2], m->b[3], m->b[4], m->b[5]);
	return buf;
}

int
np_mac_generate(struct np_mac *out)
{
	uint8_t r[3];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -1;
	out->b[0] = 0x00;
	out->b[1] = 0x50;
	out->b[2] = 0x56;
	out->b[3] = r[0] & 0x3f;
	out->b[4] = r[1];
	out->b[5] = r[2];
	return 0;
}
