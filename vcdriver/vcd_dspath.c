/*
 * vcd_dspath.c - parsing and formatting "[datastore] path".
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "vcd_dspath.h"
#include "xmalloc.h"

int
vcd_dspath_parse(const char *text, struct vcd_dspath *out, const char **why)
{
	const char *close, *p;

	out->datastore = out->path = NULL;
	if (text == NULL || text[0] != '[') {
		*why = "a datastore path must start with '['";
		return -1;
	}
	if ((close = strchr(text + 1, ']')) == NULL) {
		*why = "a datastore path needs a closing ']'";
		return -1;
	}
	if (close == text + 1) {
		*why = "the datastore name is empty";
		return -1;
	}
	p = close + 1;
	if (*p == ' ')
		p++;
	else if (*p != '\0') {
		*why = "a space must follow the datastore name";
		return -1;
	}
	if (*p == '/') {
		*why = "the path after the datastore must be relative";
		return -1;
	}
	out->datastore = xstrndup(text + 1, (size_t)(close - text - 1));
	out->path = xstrdup(p);
	return 0;
}

char *
vcd_dspath_format(const char *datastore, const char *path)
{
	if (path == NULL || path[0] == '\0')
		return xasprintf("[%s]", datastore);
	return xasprintf("[%s] %s", datastore, path);
}

void
vcd_dspath_free(struct vcd_dspath *p)
{
	free(p->datastore);
	free(p->path);
	p->datastore = p->path = NULL;
}

int
vcd_dspath_check_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 255 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -1;
	for (; *name != '\0'; name++) {
		unsigned char c = (unsigned char)*name;
		if (c < 0x20 || c == 0x7f || c == '/' || c == '\\' || c == '[' ||
		    c == ']')
			return -1;
	}
	return 0;
}
