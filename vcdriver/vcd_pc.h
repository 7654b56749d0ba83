/*
 * vcd_pc.h - PropertyCollector helpers (internal to vcdriver and its users
 * that build their own filter specs).
 *
 * Ownership: objects handed to a vcd_pc_fn live only during the call; copy
 * what must be kept.  Strings returned by vcd_pc_str() are borrowed likewise.
 */
#ifndef VCD_PC_H
#define VCD_PC_H

#include "vim.h"

/* Called for each object; return 0 to go on, 1 to stop, -1 on error. */
typedef int (*vcd_pc_fn)(void *arg, const struct vim_ObjectContent *oc);

/*
 * RetrievePropertiesEx with SPEC, MAX_OBJECTS per page (0: the server's
 * choice), following ContinueRetrievePropertiesEx tokens and sending
 * CancelRetrievePropertiesEx if FN stops early.  0, or -1 with ERR (when FN
 * fails, ERR is whatever FN left through ARG).
 */
/* MAX_OBJECTS: the page size (RetrieveOptions.maxObjects); 0: the
 * session's (vcd_options.max_objects). */
int vcd_pc_retrieve(struct vcd_session *s, struct vim_PropertyFilterSpec *spec,
    int max_objects, vcd_pc_fn fn, void *arg, struct vcd_err *err);

/*
 * PATHS (NPATHS of them) of every TYPE object in the inventory: a
 * ContainerView over the root folder, one RetrievePropertiesEx (paged), and
 * the view's removal.  FN as for vcd_pc_retrieve().
 */
int vcd_pc_retrieve_all(struct vcd_session *s, const char *type, char **paths,
    size_t npaths, int max_objects, vcd_pc_fn fn, void *arg, struct vcd_err *err);
/* PATHS of the one object OBJ (of TYPE): one RetrievePropertiesEx.  FN is
 * not called when OBJ has none of them. */
int vcd_pc_retrieve_one(struct vcd_session *s, const struct vcd_moref *obj,
    const char *type, char **paths, size_t npaths, vcd_pc_fn fn, void *arg,
    struct vcd_err *err);
/*
 * PROPS (NPROPS PropertySpecs) of OBJ and of what the traversals SEL (NSEL
 * of them, may be 0) reach from it: one filter, vcd_pc_retrieve().
 */
int vcd_pc_retrieve_from(struct vcd_session *s, const struct vcd_moref *obj,
    struct vim_PropertySpec **props, size_t nprops, struct vim_SelectionSpec **sel,
    size_t nsel, vcd_pc_fn fn, void *arg, struct vcd_err *err);
/* Initialise PS to collect PATHS (NPATHS of them; borrowed) of TYPE. */
void vcd_pc_propspec(struct vim_PropertySpec *ps, const char *type, char **paths,
    size_t npaths);
/* Initialise T as a traversal named NAME from TYPE through property PATH. */
void vcd_pc_traversal(struct vim_TraversalSpec *t, const char *name,
    const char *type, const char *path);

/* A ContainerView of every TYPE under the root folder, and its removal. */
int vcd_view_create(struct vcd_session *s, const char *type,
    struct vcd_moref *view, struct vcd_err *err);
void vcd_view_destroy(struct vcd_session *s, struct vcd_moref *view);

/* A property of OC by path; NULL if absent. */
const struct vim_any *vcd_pc_prop(const struct vim_ObjectContent *oc, const char *name);
const char *vcd_pc_str(const struct vim_ObjectContent *oc, const char *name);
int64_t vcd_pc_int(const struct vim_ObjectContent *oc, const char *name, int64_t def);
int vcd_pc_bool(const struct vim_ObjectContent *oc, const char *name, int def);

#endif
