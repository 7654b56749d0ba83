/*
 * httpd.h - the operator's HTTP endpoints, on libmicrohttpd.
 *
 * GET routes come from a table; each fills a buffer and returns the HTTP
 * status.  An unknown path is answered 404, another method 405 with Allow.
 * PUT /v1/images/<id>[?query] streams an image upload to three callbacks
 * (begin, data, end) once the token, the id and the Content-Length were
 * checked, before any data is read: no token 401, a wrong one 403, a bad id
 * 400, no Content-Length (or chunked) 411.  POST /v1/images/<id>/prefetch
 * asks for an image to be cached.
 *
 * Threads: every connection has its own, so a callback may block (a slow
 * datastore slows its client, not the others); route and upload callbacks
 * of different connections run concurrently.
 *
 * The token is a secret: it is copied, compared in constant time, wiped
 * when freed, and never logged nor echoed.
 *
 * Ownership: httpd_start() returns a server the caller stops and frees with
 * httpd_stop().  It copies the route table and the token; it borrows the
 * routes' strings and every callback argument until it is stopped.
 */
#ifndef VC_HTTPD_H
#define VC_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct httpd_route {
	const char	*path;			/* exact, e.g. "/metrics" */
	const char	*content_type;
	/* Fills OUT (the server frees it); returns the status: 200, 503... */
	int		(*fn)(void *arg, struct buf *out);
	void		*arg;
	bool		 need_token;
};

/* What an upload announces (borrowed for the begin callback's duration). */
struct httpd_upload_info {
	int64_t		 content_length;	/* > 0 */
	const char	*datastore;		/* ?datastore=, NULL if absent */
	const char	*cluster;		/* ?cluster= */
	const char	*disk_type;		/* ?disk_type= */
	const char	*adapter_type;		/* ?adapter_type= */
	const char	*linked_clone;		/* ?linked_clone=true|false */
	const char	*checksum;		/* X-Image-Checksum: md5:<hex> | sha512:<hex> */
};

struct httpd_conf {
	const char			*bind_host;	/* an IP literal; NULL 127.0.0.1 */
	int				 bind_port;	/* 0: any free port */
	const char			*token;		/* NULL or "": token routes 403 */
	const struct httpd_route	*routes;
	size_t				 nroutes;
	/*
	 * An upload of image ID (already checked): a handle, or NULL with
	 * *STATUS (500 unless set) and MSG, answered as {"error": MSG}.
	 */
	void	*(*upload_begin)(void *arg, const char *id,
		    const struct httpd_upload_info *info, int *status, char *msg,
		    size_t msglen);
	/*
	 * The body, piece by piece; 0, or -1 to stop: upload_end(h, false)
	 * follows at once, the rest of the body is read and dropped (up to
	 * 64 MiB, else the connection is closed) and then the request is
	 * answered with what upload_end returned.
	 */
	int	 (*upload_data)(void *h, const char *data, size_t len);
	/*
	 * The end, exactly once per handle: COMPLETE when every announced byte
	 * went through upload_data; false when the client went away, the server
	 * stopped or upload_data failed.  Returns the status; BODY (BODYLEN is
	 * 4096) gets the JSON answer, "{}" if left empty.  The handle is the
	 * callback's to free.
	 */
	int	 (*upload_end)(void *h, bool complete, char *body, size_t bodylen);
	void	*upload_arg;
	/*
	 * POST /v1/images/<id>/prefetch[?cluster=&datastore=] (token needed):
	 * put the image into a cache now; returns the status, BODY gets JSON.
	 * NULL: 404.
	 */
	int	 (*prefetch)(void *arg, const char *id, const char *cluster,
		    const char *datastore, char *body, size_t bodylen);
};

struct httpd;

/* Start serving; NULL with a reason in ERRBUF (address in use, ...). */
struct httpd *httpd_start(const struct httpd_conf *conf, char *errbuf, size_t len);
/* The port it listens on (the chosen one when bind_port was 0). */
int httpd_port(const struct httpd *h);
/*
 * Stop: waits for the connections' threads (a blocked callback holds it
 * up); uploads in flight end with complete=false.  Frees.  NULL is fine.
 */
void httpd_stop(struct httpd *h);

/*
 * The image route URL (a path as the server decoded it) names:
 * HTTPD_IMAGE_UPLOAD for /v1/images/<id>, HTTPD_IMAGE_PREFETCH for
 * /v1/images/<id>/prefetch, with *ID and *IDLEN the id within URL (not
 * checked: see ic_image_id_check()); HTTPD_IMAGE_NONE for another path.
 */
enum httpd_image_route { HTTPD_IMAGE_NONE, HTTPD_IMAGE_UPLOAD, HTTPD_IMAGE_PREFETCH };
enum httpd_image_route httpd_image_path(const char *url, const char **id,
    size_t *idlen);

#endif
