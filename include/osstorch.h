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
 *    and belongs to the caller, who releases it with ost_free(). That
 *    includes the bodies a packed results buffer points to (see "Packed
 *    batches" below): each is a malloc'd block of its own. ost_free is
 *    libc's free(), so plain free() is equivalent; a forked child, which
 *    must not enter the library's runtime, frees with free(). Everything the
 *    caller passes in stays the caller's; the library copies what it keeps.
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

/* Split "oss://bucket/key", "/bucket/key" or "oss://bucket.<host>/key" into
 * *bucket and *key (both released with ost_free). */
ost_status ost_parse_uri(const char *uri, char **bucket, char **key, char **err);

/* The library's own footprint as a JSON object: goroutines, heap_alloc,
 * heap_sys, sys (bytes), num_gc, handles (live handles of every kind),
 * go_max_procs. For soak runs and leak tests. Release with ost_free. */
char *ost_runtime_stats(void);

/* Release memory returned by any function of this library. NULL is fine. */
void ost_free(void *p);

/* Create a client. options_json is a JSON object with the keys
 *   endpoint (required), region, cred_path, config_path,
 *   access_key_id, access_key_secret, security_token.
 * config_path names upstream's config.json; "" means
 * /etc/oss-connector/config.json (or the file OSSTORCH_DEFAULT_CONFIG names)
 * if it exists, else the defaults. On success *out
 * holds the new handle. No request is made. */
ost_status ost_client_new(const char *options_json, ost_handle *out, char **err);

/* Credentials from the host (Python's cred_provider). When options_json of
 * ost_client_new has "cred_provider_token": T (non-zero), the client asks
 * fn(T, buf, cap, &len) for credentials whenever it has none or they expire.
 * fn writes into buf (cap bytes, owned by the library) upstream's JSON
 * {"AccessKeyId", "AccessKeySecret", "SecurityToken"?, "Expiration"?} and its
 * length into *len, and returns 0; on failure it returns non-zero, optionally
 * with {"error": "..."}; if cap is too small it returns non-zero with *len
 * set to the size needed, and is called again. Credentials without an
 * Expiration are asked for again after 5 minutes. fn may be called from any
 * thread. One callback per process; NULL unregisters it. */
typedef int32_t (*ost_credentials_fn)(uint64_t token, char *buf, size_t cap, size_t *len);
ost_status ost_set_credentials_callback(ost_credentials_fn fn);

/* Release a client. Unknown handles return OST_ERR_INVALID. */
ost_status ost_client_free(ost_handle client);

/* List every object under prefix. *out receives a JSON array of
 * {"key": "...", "size": N, "etag": "..."} in key order, *out_len its length. */
ost_status ost_list(ost_handle client, const char *bucket, const char *prefix,
                    char **out, size_t *out_len, char **err);

/* Read a whole object into a new buffer *out of *out_len bytes. The read
 * resumes after broken connections and is checked against the object's
 * CRC-64 (a mismatch is retried, then OST_ERR_NETWORK). */
ost_status ost_get(ost_handle client, const char *bucket, const char *key,
                   char **out, size_t *out_len, char **err);

/* The client's effective configuration as JSON (config.json names). */
ost_status ost_client_config(ost_handle client, char **out_json, char **err);

/* What the client has done since it was made, as JSON: requests (gets,
 * lists, other_requests), bytes_in/out, retries, errors by kind, busy_seconds
 * and first_byte_hist (request counts by time to the response headers,
 * four buckets per power of two of microseconds). Counters only grow. */
ost_status ost_client_stats(ost_handle client, char **out_json, char **err);

/* {"key", "size", "etag"} of one object; OST_ERR_NOT_FOUND if missing. */
ost_status ost_stat(ost_handle client, const char *bucket, const char *key,
                    char **out_json, char **err);

/* *out = 1 if any object's key starts with prefix, else 0 (one listing
 * request for one key). */
ost_status ost_has_prefix(ost_handle client, const char *bucket, const char *prefix,
                          int32_t *out, char **err);

/* Delete an object (OST_OK if it did not exist). */
ost_status ost_remove(ost_handle client, const char *bucket, const char *key, char **err);

/* Copy bucket/key to new_bucket/new_key, then delete the source. */
ost_status ost_rename(ost_handle client, const char *bucket, const char *key,
                      const char *new_bucket, const char *new_key, char **err);

/* Store n bytes as an object with one request. */
ost_status ost_put(ost_handle client, const char *bucket, const char *key,
                   const void *data, size_t n, char **err);

/* Read up to n bytes at offset off into the caller's buf; *n_read < n only
 * at the end of the object (0 at or past it). */
ost_status ost_read_range(ost_handle client, const char *bucket, const char *key,
                          int64_t off, void *buf, size_t n, size_t *n_read, char **err);

/* Random-access reader for large objects (checkpoints): parallel ranged
 * reads straight into the caller's buffer, read-ahead for sequential access,
 * CRC-64 verified once the whole object has been read. */
ost_status ost_reader_open(ost_handle client, const char *bucket, const char *key,
                           ost_handle *out, int64_t *size, char **err);
ost_status ost_reader_read_at(ost_handle reader, int64_t off, void *buf, size_t n,
                              size_t *n_read, char **err);
ost_status ost_reader_close(ost_handle reader);

/* Packed batches: results handed over many at a time with no JSON on the
 * per-object path and no copy of a body after it is read from the network.
 * All integers are little-endian; sizes in bytes.
 *
 * A packed results buffer (one malloc'd block, *batch_len bytes):
 *     offset 0   u32 magic  = 0x3142534F (the bytes "OSB1")
 *     offset 4   u32 count
 *     offset 8   count records of 40 bytes each, record i at 8 + 40*i:
 *         +0   u64 index      what the record answers (per function below)
 *         +8   u64 body_ptr   address of the body, a malloc'd block of its
 *                             own that the caller now owns and frees with
 *                             ost_free (or free); 0 when body_len is 0
 *         +16  u64 body_len   bytes in the body (0: empty body, or error)
 *         +24  u32 bucket_len
 *         +28  u32 key_len
 *         +32  u32 error_len  0 on success; else the length of the error
 *                             details (a JSON object as in Conventions)
 *         +36  u32 flags      bit 0 (OST_PACKED_ERROR): the record is an
 *                             error (error_len > 0, body_ptr 0, body_len 0);
 *                             the other bits are 0
 *     offset 8 + 40*count: the strings area: for each record in order, its
 *         bucket_len bytes of bucket, key_len bytes of key, error_len bytes
 *         of error JSON, back to back, not NUL-terminated, unpadded. The
 *         buffer ends exactly where the last string does.
 * Free the buffer itself with ost_free once the records are read; the
 * bodies are independent of it: free each one (non-zero body_ptr) when it
 * is no longer used, also those of records the caller does not look at.
 *
 * A packed items buffer (input of ost_batch_get_packed; the caller's):
 *     offset 0   u32 magic  = 0x3149534F (the bytes "OSI1")
 *     offset 4   u32 count
 *     offset 8   count records of 16 bytes each, record i at 8 + 16*i:
 *         +0   u32 bucket_len
 *         +4   u32 key_len
 *         +8   i64 size       the object's size when known (from a listing),
 *                             else 0; it lets the body be read straight into
 *                             a block of that size; never negative
 *     offset 8 + 16*count: per item in order, bucket bytes then key bytes;
 *         the buffer ends where the last key does.
 * Items that carry their listing's ETag (for the node-local cache,
 * datasetConfig.cachePath) use magic 0x3249534F ("OSI2") and records of 24
 * bytes: the 16 above, then +16 u32 etag_len, +20 u32 0; each item's
 * strings are bucket, key, then etag. At least one ETag is non-empty (items
 * without any are written as OSI1).
 * A malformed items buffer is OST_ERR_INVALID. */
#define OST_PACKED_RESULTS_MAGIC 0x3142534Fu
#define OST_PACKED_ITEMS_MAGIC 0x3149534Fu
#define OST_PACKED_HEADER_SIZE 8
#define OST_PACKED_RECORD_SIZE 40
#define OST_PACKED_ITEM_SIZE 16
#define OST_PACKED_ITEMS_ETAG_MAGIC 0x3249534Fu
#define OST_PACKED_ITEM_ETAG_SIZE 24
#define OST_PACKED_ERROR 1u

/* Fetch many objects concurrently (datasetConfig.prefetchConcurrency):
 * items is a packed items buffer of items_len bytes; *batch a packed
 * results buffer of *batch_len bytes in which record i answers item i (index i, the item's bucket and
 * key), each body read straight into its own block. A failed item is an
 * error record and does not stop the others; the call itself fails only
 * for bad arguments. */
ost_status ost_batch_get_packed(ost_handle client, const void *items, size_t items_len,
                                void **batch, size_t *batch_len, char **err);

/* Prefetching iterator over a listing or a key list, sharded.
 * options_json: {"bucket", "prefix"}, {"items": [...]} (each item
 *   {"bucket", "key", "size"?, "etag"?}: etag, from a listing, lets the
 *   node-local cache serve the object without asking OSS) or
 *   {"stream": true}, and optionally
 *   "worker_id", "worker_count", "rank", "world_size" (an item at position i
 *   belongs to shard i % (worker_count*world_size) ==
 *   rank*worker_count + worker_id), "concurrency", "memory_budget".
 * Objects come in completion order; fetched objects not yet taken count
 * against memory_budget until a next call takes them.
 * ost_prefetch_next_batch blocks until at least one object is ready, then
 * takes every object already fetched, up to max_items (> 0), without
 * waiting for more: *batch is a packed results buffer (*batch_len bytes)
 * whose records have index = the object's position in the whole
 * (unsharded) source, its bucket and key, and its body or error.
 * At the end *done = 1 and nothing is allocated; if the listing
 * failed, the call returns that error instead.
 * With "stream": true the items arrive while it runs: ost_prefetch_add
 * queues those of a packed items buffer (as ost_batch_get_packed takes)
 * after the ones before, without waiting for any fetching, from any thread;
 * ost_prefetch_end says no more will come. An item's index is then its
 * position in the stream (the sharding options still apply).
 * ost_prefetch_close stops the fetching and frees every object fetched but
 * not taken; what was taken stays the caller's. */
ost_status ost_prefetch_open(ost_handle client, const char *options_json,
                             ost_handle *out, char **err);
ost_status ost_prefetch_next_batch(ost_handle prefetch, int32_t max_items, void **batch,
                                   size_t *batch_len, int32_t *done, char **err);
ost_status ost_prefetch_add(ost_handle prefetch, const void *items, size_t items_len, char **err);
ost_status ost_prefetch_end(ost_handle prefetch, char **err);
ost_status ost_prefetch_close(ost_handle prefetch);

/* Streaming writer: one PUT for small objects, else multipart with
 * checkpointConfig.uploadConcurrency parts in flight and bounded memory.
 * options_json may be NULL or {"part_size", "concurrency", "size_hint",
 * "exclusive"}; with "exclusive": true the object is created only where no
 * object has the key, else close fails (OSS code FileAlreadyExists).
 * ost_writer_write copies the bytes (buf may be reused on return).
 * ost_writer_close commits; ost_writer_abort discards. Both release the
 * handle; if close fails the upload was aborted: nothing is visible. */
ost_status ost_writer_open(ost_handle client, const char *bucket, const char *key,
                           const char *options_json, ost_handle *out, char **err);
ost_status ost_writer_write(ost_handle writer, const void *data, size_t n, char **err);
ost_status ost_writer_close(ost_handle writer, char **err);
ost_status ost_writer_abort(ost_handle writer);

/* Tar archives on OSS, read member by member through an index.
 * ost_tar_index_build streams bucket/key once and returns its index twice
 * encoded: *index in upstream osstorchconnector's encoding (so upstream reads
 * it too) and *checksum in ours, to be stored beside it under the index's key
 * + ".osstorch-crc64" (member names, data offsets, CRC-64s; formats in
 * go/tarindex).
 * ost_tar_open reads the index object index_bucket/index_key (either
 * encoding; an upstream index is joined with its checksum file when one
 * beside it describes the tar as it is now) and returns a handle;
 * *members_json is [{"name", "size"}, ...] in archive order, with name ""
 * and size -1 where only the member's tar headers say (an upstream index
 * alone). ost_tar_read_packed fetches the members at positions[0..count),
 * one ranged read per run of consecutive positions, runs in parallel; *batch
 * is a packed results buffer in which record i answers positions[i]: index
 * positions[i] (as u64), bucket_len 0 (the tar's bucket is the caller's),
 * key the member's name (for a failed record: the name in the index, which
 * may be ""), and its body or error (a position out of range is an error
 * record). Each member is copied once, from the buffer its run was read and
 * checked in, into its own block.
 * ost_tar_close releases the handle. */
ost_status ost_tar_index_build(ost_handle client, const char *bucket, const char *key,
                               char **index, size_t *index_len, char **checksum,
                               size_t *checksum_len, char **err);
ost_status ost_tar_open(ost_handle client, const char *bucket, const char *key,
                        const char *index_bucket, const char *index_key, ost_handle *out,
                        char **members_json, char **err);
ost_status ost_tar_read_packed(ost_handle tar, const int64_t *positions, size_t count,
                               void **batch, size_t *batch_len, char **err);
ost_status ost_tar_close(ost_handle tar);
/* The same two encodings for a local tar file. */
ost_status ost_tar_index_from_file(const char *path, char **index, size_t *index_len,
                                   char **checksum, size_t *checksum_len, char **err);

/* ---- Packed listings ----
 * ost_list_packed lists every object under prefix, as ost_list does, into
 * one buffer *out of *out_len bytes (release with ost_free), all integers
 * little-endian:
 *     uint64 count            number of objects
 *     uint64 keys_len         total bytes of the keys
 *     int64  sizes[count]     object sizes
 *     uint64 offsets[count+1] key i is keys[offsets[i]:offsets[i+1]]
 *     char   keys[keys_len]   the keys' UTF-8 bytes, back to back, no NULs
 * Objects are in key order. It spares the caller a JSON document and one
 * object per key: a host keeps the buffer as it is. A client with a
 * node-local cache (datasetConfig.cachePath) appends the objects' ETags:
 *     uint64 etags_len
 *     uint64 etag_offsets[count+1]
 *     char   etags[etags_len]   as OSS sends them (quotes included)
 * so that they can be handed back with the items to fetch.
 * flags: 0, or OST_LIST_CONCURRENTLY when the caller uses nothing before the
 * listing is whole (a shuffled or resumed epoch): the prefix is then listed
 * as concurrent key ranges (FastList) unless config.json sets
 * datasetConfig.enableFastList to false. */
#define OST_LIST_CONCURRENTLY 1
ost_status ost_list_packed(ost_handle client, const char *bucket, const char *prefix, int32_t flags,
                           void **out, size_t *out_len, char **err);
/* The same listing handed over as it arrives: ost_lister_open starts it in
 * the background; each ost_lister_next waits for objects and returns those
 * listed since the last call, at most max_keys (> 0), as one packed listing
 * in the layout above; at the end *done = 1 and nothing is allocated, or
 * the call returns the listing's error once the objects before it were
 * taken. ost_lister_close stops the listing and releases the handle. */
ost_status ost_lister_open(ost_handle client, const char *bucket, const char *prefix,
                           ost_handle *out, char **err);
ost_status ost_lister_next(ost_handle lister, int32_t max_keys, void **out, size_t *out_len,
                           int32_t *done, char **err);
ost_status ost_lister_close(ost_handle lister);

#ifdef __cplusplus
}
#endif

#endif /* OSSTORCH_H */
