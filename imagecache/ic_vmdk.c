/*
 * ic_vmdk.c - what the first bytes of a VMDK say.
 *
 * A hosted sparse or streamOptimized VMDK starts with a 512-byte
 * SparseExtentHeader (VMware's "Virtual Disk Format" specification): the
 * magic "KDMV", a version, flags, the capacity and grain size in sectors,
 * and where the embedded text descriptor lies.  The descriptor names the
 * disk's createType and ddb.adapterType.  Flat images (preallocated, thin)
 * have no header: their data is the disk.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "imagecache.h"
#include "xmalloc.h"

#define IC_VMDK_MAGIC	0x564d444bU	/* "KDMV" read little-endian */
#define IC_SECTOR	512

static uint32_t
ic_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t
ic_le64(const unsigned char *p)
{
	return (uint64_t)ic_le32(p) | (uint64_t)ic_le32(p + 4) << 32;
}

/* The descriptor's value for KEY ("createType", "ddb.adapterType"). */
static void
ic_desc_value(const char *desc, size_t len, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key);
	const char *p = desc, *end = desc + len;

	out[0] = '\0';
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = eol != NULL ? eol : end;

		while (p < line_end && (*p == ' ' || *p == '\t'))
			p++;
		if ((size_t)(line_end - p) > klen && strncmp(p, key, klen) == 0) {
			const char *v = p + klen, *q;
			while (v < line_end && (*v == ' ' || *v == '\t'))
				v++;
			if (v < line_end && *v == '=') {
				v++;
				while (v < line_end && (*v == ' ' || *v == '\t' || *v == '"'))
					v++;
				for (q = v; q < line_end && *q != '"' && *q != '\r'; q++)
					;
				snprintf(out, outlen, "%.*s", (int)(q - v), v);
				return;
			}
		}
		p = eol != NULL ? eol + 1 : end;	/* never past END */
	}
}

/* ddb.adapterType values to vSphere's (and Glance's vmware_adaptertype). */
static const char *
ic_adapter_name(const char *ddb)
{
	static const struct { const char *ddb, *name; } map[] = {
		{ "lsilogic", "lsiLogic" }, { "buslogic", "busLogic" },
		{ "ide", "ide" }, { "pvscsi", "paraVirtual" },
		{ "lsisas1068", "lsiLogicsas" }, { "legacyesx", "busLogic" },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcasecmp(ddb, map[i].ddb) == 0)
			return map[i].name;
	return NULL;
}

int
ic_vmdk_parse(const unsigned char *head, size_t len, struct ic_vmdk *out,
    const char **why)
{
	uint64_t desc_off, desc_len;
	const char *adapter;
	char ddb[64];

	memset(out, 0, sizeof(*out));
	if (len < IC_SECTOR) {
		*why = "shorter than a VMDK header (512 bytes)";
		return -1;
	}
	if (ic_le32(head) != IC_VMDK_MAGIC) {
		*why = "no VMDK sparse header (the magic \"KDMV\" is missing)";
		return -1;
	}
	out->version = ic_le32(head + 4);
	if (out->version < 1 || out->version > 3) {
		*why = "an unknown VMDK sparse header version";
		return -1;
	}
	out->capacity_sectors = ic_le64(head + 12);
	out->grain_sectors = ic_le64(head + 20);
	desc_off = ic_le64(head + 28);
	desc_len = ic_le64(head + 36);
	out->compressed = (head[77] | head[78] << 8) != 0;	/* compressAlgorithm */
	if (out->capacity_sectors == 0 || out->grain_sectors == 0 ||
	    (out->grain_sectors & (out->grain_sectors - 1)) != 0) {
		*why = "a VMDK header with a zero capacity or a grain size that is "
		    "not a power of two";
		return -1;
	}
	/* the descriptor, when it is within what we have */
	if (desc_off > 0 && desc_len > 0 && desc_off <= len / IC_SECTOR &&
	    desc_len <= (len / IC_SECTOR) - desc_off) {
		const char *d = (const char *)head + desc_off * IC_SECTOR;
		size_t dl = (size_t)(desc_len * IC_SECTOR);

		ic_desc_value(d, dl, "createType", out->create_type,
		    sizeof(out->create_type));
		ic_desc_value(d, dl, "ddb.adapterType", ddb, sizeof(ddb));
		if ((adapter = ic_adapter_name(ddb)) != NULL)
			snprintf(out->adapter, sizeof(out->adapter), "%s", adapter);
	}
	return 0;
}

char *
ic_vmdk_descriptor(const char *extent, int64_t bytes, const char *adapter,
    bool thin, uint32_t cid)
{
	int64_t sectors = bytes / IC_SECTOR, cyl;
	int heads = 255, secs = 63;
	const char *ddb = "lsilogic";

	if (adapter != NULL && strcmp(adapter, "ide") == 0) {
		ddb = "ide";
		heads = 16;	/* the ATA geometry */
	} else if (adapter != NULL && strcmp(adapter, "busLogic") == 0)
		ddb = "buslogic";
	cyl = sectors / (heads * secs);
	if (cyl > 16383 && strcmp(ddb, "ide") == 0)
		cyl = 16383;
	if (cyl < 1)
		cyl = 1;
	return xasprintf("# Disk DescriptorFile\n"
	    "version=1\n"
	    "encoding=\"UTF-8\"\n"
	    "CID=%08x\n"
	    "parentCID=ffffffff\n"
	    "createType=\"vmfs\"\n"
	    "\n"
	    "# Extent description\n"
	    "RW %lld VMFS \"%s\"\n"
	    "\n"
	    "# The Disk Data Base\n"
	    "#DDB\n"
	    "\n"
	    "ddb.adapterType = \"%s\"\n"
	    "ddb.geometry.cylinders = \"%lld\"\n"
	    "ddb.geometry.heads = \"%d\"\n"
	    "ddb.geometry.sectors = \"%d\"\n"
	    "%s"
	    "ddb.virtualHWVersion = \"7\"\n",
	    cid, (long long)sectors, extent, ddb, (long long)cyl, heads, secs,
	    thin ? "ddb.thinProvisioned = \"1\"\n" : "");
}
