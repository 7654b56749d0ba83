/*
 * vcd_dspath.h - datastore paths: "[datastore] folder/file.vmdk".
 *
 * Rules follow the vSphere API and libvirt's ESX driver: the datastore name is
 * everything between the first '[' and the matching ']', a single space then
 * separates it from a relative path that never starts with '/'.
 *
 * Ownership: struct vcd_dspath owns its two strings; release with
 * vcd_dspath_free().  vcd_dspath_format() returns a string the caller frees.
 */
#ifndef VCD_DSPATH_H
#define VCD_DSPATH_H

struct vcd_dspath {
	char	*datastore;	/* "datastore1" */
	char	*path;		/* "folder/file.vmdk" or "" for the root */
};

/* Parse TEXT.  0, or -1 with a reason (static string) in *why. */
int vcd_dspath_parse(const char *text, struct vcd_dspath *out, const char **why);
/* "[DATASTORE] PATH" (or "[DATASTORE]" when PATH is empty); caller frees. */
char *vcd_dspath_format(const char *datastore, const char *path);
void vcd_dspath_free(struct vcd_dspath *p);
/*
 * 0 if NAME can be one path component on a datastore (a folder or file
 * name): not empty, not "." or "..", no '/', '\\', '[' or ']', no control
 * characters, at most 255 bytes.  -1 otherwise.
 */
int vcd_dspath_check_name(const char *name);

#endif
