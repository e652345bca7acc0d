/*
 * osstorch.h - the C ABI of the osstorchconnector core (libosstorch.so).
 *
 * Conventions
 *  - Every function returns an ost_status. OST_OK (0) is success; any other
 *    value is an error whose details, when err is not NULL, are returned in
 *    *err as a NUL-terminated JSON object:
 *        {"kind": "not_found", "message": "...", "op": "GetObject",
 *         "code": "NoSuchKey", "status": 404, "request_id": "..."}
 *    ("code", "status" and "request_id" are present when OSS answered.)
 *  - Ownership, the one rule: every pointer the library returns through an
 *    out-parameter (err, out, ...) was allocated with malloc by the library
 *    and belongs to the caller, who releases it with ost_free(). Everything
 *    the caller passes in stays the caller's; the library copies what it keeps.
 *  - Handles (ost_handle) are opaque non-zero integers, valid only in the
 *    process that created them. A handle from a parent process must never be
 *    used (or freed) in a forked child.
 *  - All functions are safe to call concurrently from several threads. A Go
 *    panic never crosses this boundary: it is returned as OST_ERR_INTERNAL.
 */
#ifndef OSSTORCH_H
#define OSSTORCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint64_t ost_handle;
typedef int32_t ost_status;

enum {
    OST_OK = 0,
    OST_ERR_INTERNAL = 1,   /* a bug, or a recovered panic */
    OST_ERR_INVALID = 2,    /* bad argument or configuration */
    OST_ERR_NOT_FOUND = 3,  /* no such bucket, key or upload (or local file) */
    OST_ERR_PERMISSION = 4, /* credentials refused or missing */
    OST_ERR_SERVICE = 5,    /* any other error answer from OSS */
    OST_ERR_NETWORK = 6,    /* connection, timeout or integrity failure */
    OST_ERR_CANCELED = 7    /* the operation was canceled */
};

/* The library's version string. Owned by the library: do not free. */
const char *ost_version(void);

/* A string that differs between the two copies of the library shipped in the
 * Python package (the second is loaded in forked children). Do not free. */
const char *ost_build_flavor(void);

/* Release memory returned by any function of this library. NULL is fine. */
void ost_free(void *p);

/* Create a client. options_json is a JSON object with the keys
 *   endpoint (required), region, cred_path, config_path,
 *   access_key_id, access_key_secret, security_token.
 * On success *out holds the new handle. */
ost_status ost_client_new(const char *options_json, ost_handle *out, char **err);

/* Release a client. Unknown handles return OST_ERR_INVALID. */
ost_status ost_client_free(ost_handle client);

/* List every object under prefix. *out receives a JSON array of
 * {"key": "...", "size": N, "etag": "..."} in key order, *out_len its length. */
ost_status ost_list(ost_handle client, const char *bucket, const char *prefix,
                    char **out, size_t *out_len, char **err);

/* Read a whole object into a new buffer *out of *out_len bytes. */
ost_status ost_get(ost_handle client, const char *bucket, const char *key,
                   char **out, size_t *out_len, char **err);

#ifdef __cplusplus
}
#endif

#endif /* OSSTORCH_H */
