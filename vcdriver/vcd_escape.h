/*
 * vcd_escape.h - the escaping rules of libvirt's VMware ESX driver.
 *
 * What the rules are, from libvirt's sources (src/vmx/vmx.c,
 * src/esx/esx_util.c) and its tests (tests/esxutilstest.c,
 * tests/vmx2xmldata, tests/xml2vmxdata):
 *
 *   hex escaping      every occurrence of the escape character and of each
 *                     "special" character becomes the escape character and two
 *                     lowercase hex digits.  vCenter escapes '%', '/' and '\\'
 *                     in VM names this way ("%25", "%2f", "%5c"); VMX files
 *                     escape '|' and '"' with '|' ("|7c", "|22").  Unescaping
 *                     takes either case of hex digit.
 *   base64 escaping   bytes outside A-Z a-z 0-9 ' ( ) , . _ - and space are
 *                     taken in maximal runs; each run becomes '+' and the
 *                     run's bytes in base64 without '=' padding, with ','
 *                     instead of '/' in the alphabet, then '-' only when more
 *                     text follows.  "~~~" -> "+fn5+", "~~~A" -> "+fn5+-A".
 *   datastore items   names of files and folders created on a datastore:
 *                     each of  " * < > : | ?  becomes '_', then hex escaping
 *                     with '%' and specials '/' and '\\', then base64
 *                     escaping.  "K%U/H\\Z" -> "K+JQ-25U+JQ-2fH+JQ-5cZ".
 *   datastore paths   "[datastore] directory/file": the datastore, then the
 *                     directory (everything before the last '/', or the whole
 *                     path when it has no '/') and the path itself.
 *
 * libvirt has no decoder for base64 escaping or for datastore items;
 * vcd_unescape_base64() and vcd_unescape_datastore_item() are vcagent's own.
 * The replacement of " * < > : | ? by '_' loses information and cannot be
 * undone.
 *
 * Errors: every function takes `why`, which may be NULL; on failure it gets a
 * static string saying what was wrong.  NULL input is an error.  Empty input
 * is not: it escapes and unescapes to "".
 *
 * Limits: the escape functions and vcd_escape_dspath_split() take at most
 * VCD_ESCAPE_MAX_INPUT bytes; the unescape functions at most
 * VCD_ESCAPE_MAX_ESCAPED bytes, which is more than any escape of
 * VCD_ESCAPE_MAX_INPUT bytes can produce (at worst 6 bytes out per byte in,
 * "/" -> "+JQ-2f"), so every escaped string can be unescaped again.
 *
 * Ownership: every char * returned is a new string the caller frees with
 * free().  struct vcd_escape_dspath owns its four strings; release them with
 * vcd_escape_dspath_free().  Arguments are only read, never kept.
 */
#ifndef VCD_ESCAPE_H
#define VCD_ESCAPE_H

#define VCD_ESCAPE_MAX_INPUT	4096
#define VCD_ESCAPE_MAX_ESCAPED	(6 * VCD_ESCAPE_MAX_INPUT)

/* libvirt's two uses of hex escaping: names (vCenter) and VMX values. */
#define VCD_ESCAPE_PERCENT		'%'
#define VCD_ESCAPE_PERCENT_SPECIALS	"/\\"
#define VCD_ESCAPE_PIPE			'|'
#define VCD_ESCAPE_PIPE_SPECIALS	"\""

/*
 * S with ESCAPE and every byte found in SPECIALS (NULL for none) written as
 * ESCAPE plus two lowercase hex digits.  ESCAPE must be an ASCII character
 * other than NUL.  NULL with a reason on error; caller frees.
 */
char *vcd_escape_hex(const char *s, char escape, const char *specials,
    const char **why);
/*
 * Undo vcd_escape_hex(): ESCAPE followed by two hex digits (either case)
 * becomes that byte; every other byte is copied.  An ESCAPE not followed by
 * two hex digits, or one that encodes a NUL byte, is an error.  NULL with a
 * reason on error; caller frees.
 */
char *vcd_unescape_hex(const char *s, char escape, const char **why);

/* S with each of  " * < > : | ?  replaced by '_'.  Caller frees. */
char *vcd_escape_windows_chars(const char *s, const char **why);

/* VMware's base64 escaping of S (see above).  Caller frees. */
char *vcd_escape_base64(const char *s, const char **why);
/*
 * Undo vcd_escape_base64().  Strict: only text that vcd_escape_base64() can
 * produce is accepted, so a run must decode to bytes that need escaping,
 * contain no NUL byte, have no stray bits, and be ended by '-' exactly when
 * more text follows.  NULL with a reason on error; caller frees.
 */
char *vcd_unescape_base64(const char *s, const char **why);

/* libvirt's esxUtil_EscapeDatastoreItem(): a file or folder name for a
 * datastore.  Caller frees. */
char *vcd_escape_datastore_item(const char *s, const char **why);
/*
 * Undo the base64 and hex steps of vcd_escape_datastore_item(): the result
 * is the name after its " * < > : | ? were replaced by '_'.  Hex sequences
 * are accepted as vcd_unescape_hex() accepts them.  Caller frees.
 */
char *vcd_unescape_datastore_item(const char *s, const char **why);

struct vcd_escape_dspath {
	char	*datastore;	/* "datastore" */
	char	*directory;	/* "dir1/dir2"; the whole path if it has no '/' */
	char	*dir_and_file;	/* "dir1/dir2/file.vmx"; "" for "[datastore]" */
	char	*file;		/* "file.vmx"; the whole path if it has no '/' */
};

/*
 * Split a datastore path as libvirt's esxUtil_ParseDatastorePath() does:
 *   "[datastore] directory/file" -> "datastore", "directory",
 *                                   "directory/file", "file"
 *   "[datastore] file"           -> "datastore", "file", "file", "file"
 *   "[datastore] directory/"     -> "datastore", "directory", "directory/", ""
 *   "[datastore]"                -> "datastore", "", "", ""
 * "[datastore]" and the path are split by vcd_dspath_parse(), so its rules
 * (and its reasons) apply: a closing ']' is required and the path must be
 * relative, where libvirt is more lenient.  0, or -1 with a reason and all
 * members NULL.
 */
int vcd_escape_dspath_split(const char *text, struct vcd_escape_dspath *out,
    const char **why);
/* Free the members and set them to NULL.  NULL is fine. */
void vcd_escape_dspath_free(struct vcd_escape_dspath *p);

#endif
