/* Repeats every call pattern of include/osstorch.h, success and error paths,
 * so that a leak checker (valgrind --leak-check=full, or a build with
 * -fsanitize=address) sees any malloc'd result the library forgets to hand
 * over or that this caller could not free. It also checks the library's own
 * footprint (ost_runtime_stats: live handles, goroutines) returns to where it
 * was: Go memory is invisible to C leak checkers, a stuck handle or goroutine
 * is not.
 *
 * usage: abi_leak ENDPOINT CRED_PATH REGION BUCKET TARFILE ITERATIONS
 * The bucket must be empty and writable. Prints one line per pattern and
 * "ok" at the end; exits non-zero on the first failed check. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "osstorch.h"

#define CHECK(cond, ...) do { if (!(cond)) { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); exit(1); } } while (0)
#define OK(call) do { char *err_ = NULL; ost_status st_ = (call); \
    CHECK(st_ == OST_OK, "%s: status %d %s", #call, st_, err_ ? err_ : ""); } while (0)

static ost_handle client;
static const char *bucket;
static const char *tarfile;

/* Reads one integer field of ost_runtime_stats. */
static long stat_field(const char *name) {
    char *js = ost_runtime_stats();
    CHECK(js != NULL, "runtime_stats returned NULL");
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", name);
    char *p = strstr(js, pat);
    CHECK(p != NULL, "runtime_stats has no %s: %s", name, js);
    long v = strtol(p + strlen(pat), NULL, 10);
    ost_free(js);
    return v;
}

/* Goroutines end a little after the call that let them go (a connection's
 * reader, a finished prefetch worker): wait briefly before calling it stuck. */
static long settled_goroutines(long want) {
    long g = stat_field("goroutines");
    for (int i = 0; i < 200 && g > want; i++) {
        usleep(10000);
        g = stat_field("goroutines");
    }
    return g;
}

static void p_client(void) {
    char opts[1024], *err = NULL;
    ost_handle h = 0;
    snprintf(opts, sizeof opts, "{\"endpoint\":\"http://127.0.0.1:1\",\"access_key_id\":\"a\",\"access_key_secret\":\"b\"}");
    OK(ost_client_new(opts, &h, &err_));
    CHECK(ost_client_free(h) == OST_OK, "client_free");
    /* errors: bad JSON, bad endpoint, NULL arguments; each message freed */
    CHECK(ost_client_new("{", &h, &err) == OST_ERR_INVALID && err, "bad json");
    ost_free(err), err = NULL;
    CHECK(ost_client_new("{\"endpoint\":\"ftp://x\"}", &h, &err) != OST_OK && err, "bad endpoint");
    ost_free(err), err = NULL;
    CHECK(ost_client_new(NULL, &h, &err) == OST_ERR_INVALID, "NULL options");
    ost_free(err), err = NULL;
    CHECK(ost_client_free(987654321) == OST_ERR_INVALID, "free of an unknown handle");
}

static void p_put_get_stat(void) {
    char *out = NULL, *err = NULL;
    size_t n = 0;
    OK(ost_put(client, bucket, "leak/small", "0123456789", 10, &err_));
    OK(ost_get(client, bucket, "leak/small", &out, &n, &err_));
    CHECK(n == 10 && memcmp(out, "0123456789", 10) == 0, "get bytes");
    ost_free(out);
    OK(ost_stat(client, bucket, "leak/small", &out, &err_));
    ost_free(out);
    OK(ost_list(client, bucket, "leak/", &out, &n, &err_));
    ost_free(out);
    int32_t found = -1;
    OK(ost_has_prefix(client, bucket, "leak/", &found, &err_));
    CHECK(found == 1, "has_prefix");
    CHECK(ost_has_prefix(client, "no-such-bucket", "", &found, &err) == OST_ERR_NOT_FOUND && err, "has_prefix missing bucket");
    ost_free(err), err = NULL;
    CHECK(ost_get(client, bucket, "leak/missing", &out, &n, &err) == OST_ERR_NOT_FOUND && err, "get missing");
    ost_free(err), err = NULL;
    CHECK(ost_stat(client, bucket, "leak/missing", &out, &err) == OST_ERR_NOT_FOUND && err, "stat missing");
    ost_free(err), err = NULL;
    CHECK(ost_list(client, "no-such-bucket", "", &out, &n, &err) != OST_OK && err, "list missing bucket");
    ost_free(err), err = NULL;
    OK(ost_rename(client, bucket, "leak/small", bucket, "leak/renamed", &err_));
    OK(ost_remove(client, bucket, "leak/renamed", &err_));
}

static void p_ranges_and_reader(void) {
    static unsigned char big[300000], back[300000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (unsigned char)(i * 13 + 5);
    char *err = NULL;
    OK(ost_put(client, bucket, "leak/big", big, sizeof big, &err_));
    size_t got = 0;
    OK(ost_read_range(client, bucket, "leak/big", 1000, back, 5000, &got, &err_));
    CHECK(got == 5000 && memcmp(back, big + 1000, 5000) == 0, "read_range bytes");
    ost_handle r = 0;
    int64_t size = 0;
    OK(ost_reader_open(client, bucket, "leak/big", &r, &size, &err_));
    OK(ost_reader_read_at(r, 0, back, sizeof back, &got, &err_));
    CHECK(got == sizeof big && memcmp(back, big, got) == 0, "reader bytes");
    CHECK(ost_reader_close(r) == OST_OK, "reader_close");
    /* a reader closed before it read everything */
    OK(ost_reader_open(client, bucket, "leak/big", &r, &size, &err_));
    OK(ost_reader_read_at(r, 100, back, 10, &got, &err_));
    CHECK(ost_reader_close(r) == OST_OK, "reader_close early");
    CHECK(ost_reader_open(client, bucket, "leak/none", &r, &size, &err) == OST_ERR_NOT_FOUND && err, "reader missing");
    ost_free(err), err = NULL;
    CHECK(ost_reader_read_at(424242, 0, back, 1, &got, &err) == OST_ERR_INVALID && err, "read on unknown handle");
    ost_free(err), err = NULL;
}

/* Walks a packed results buffer (layout in osstorch.h): checks it, frees
 * every body with plain free() (as a forked child would) and the buffer with
 * ost_free. Returns the record count; *errors gets the error records. */
static uint32_t take_batch(void *batch, size_t len, int *errors) {
    const unsigned char *b = batch;
    uint32_t magic, count;
    CHECK(len >= OST_PACKED_HEADER_SIZE, "batch of %zu bytes", len);
    memcpy(&magic, b, 4), memcpy(&count, b + 4, 4);
    CHECK(magic == OST_PACKED_RESULTS_MAGIC, "batch magic %#x", magic);
    size_t strings = 0;
    for (uint32_t i = 0; i < count; i++) {
        const unsigned char *r = b + OST_PACKED_HEADER_SIZE + (size_t)OST_PACKED_RECORD_SIZE * i;
        uint64_t ptr, n;
        uint32_t bl, kl, el, flags;
        memcpy(&ptr, r + 8, 8), memcpy(&n, r + 16, 8);
        memcpy(&bl, r + 24, 4), memcpy(&kl, r + 28, 4), memcpy(&el, r + 32, 4), memcpy(&flags, r + 36, 4);
        CHECK((flags & OST_PACKED_ERROR) ? (el > 0 && ptr == 0 && n == 0) : (el == 0 && (ptr == 0) == (n == 0)),
              "record %u: flags %u, error_len %u, body %llu bytes", i, flags, el, (unsigned long long)n);
        if (el) ++*errors;
        free((void *)(uintptr_t)ptr);
        strings += (size_t)bl + kl + el;
    }
    CHECK(len == OST_PACKED_HEADER_SIZE + (size_t)OST_PACKED_RECORD_SIZE * count + strings, "batch length %zu", len);
    ost_free(batch);
    return count;
}

/* Writes a packed items buffer for keys in the bucket (layout in
 * osstorch.h) into buf and returns its length. */
static size_t pack_items(unsigned char *buf, const char **keys, const int64_t *sizes, uint32_t count) {
    memcpy(buf, &(uint32_t){OST_PACKED_ITEMS_MAGIC}, 4), memcpy(buf + 4, &count, 4);
    size_t s = OST_PACKED_HEADER_SIZE + (size_t)OST_PACKED_ITEM_SIZE * count;
    for (uint32_t i = 0; i < count; i++) {
        unsigned char *r = buf + OST_PACKED_HEADER_SIZE + (size_t)OST_PACKED_ITEM_SIZE * i;
        uint32_t bl = (uint32_t)strlen(bucket), kl = (uint32_t)strlen(keys[i]);
        memcpy(r, &bl, 4), memcpy(r + 4, &kl, 4), memcpy(r + 8, &sizes[i], 8);
        memcpy(buf + s, bucket, bl), s += bl;
        memcpy(buf + s, keys[i], kl), s += kl;
    }
    return s;
}

static void p_packed(void) {
    char *err = NULL, opts[256];
    void *batch = NULL;
    size_t n = 0;
    int32_t done = 0;
    int errors = 0;
    OK(ost_put(client, bucket, "leak/q/a", "aaaa", 4, &err_));
    OK(ost_put(client, bucket, "leak/q/b", "bb", 2, &err_));
    OK(ost_put(client, bucket, "leak/q/c", "", 0, &err_));
    snprintf(opts, sizeof opts, "{\"bucket\":\"%s\",\"prefix\":\"leak/q/\",\"concurrency\":4}", bucket);
    ost_handle p = 0;
    OK(ost_prefetch_open(client, opts, &p, &err_));
    uint32_t seen = 0;
    for (;;) {
        OK(ost_prefetch_next_batch(p, 2, &batch, &n, &done, &err_));
        if (done) break;
        seen += take_batch(batch, n, &errors);
    }
    CHECK(seen == 3 && errors == 0, "prefetch batches: %u objects, %d errors", seen, errors);
    CHECK(ost_prefetch_close(p) == OST_OK, "prefetch_close");
    /* closed after the first batch: what was fetched but not taken is freed */
    OK(ost_prefetch_open(client, opts, &p, &err_));
    OK(ost_prefetch_next_batch(p, 1, &batch, &n, &done, &err_));
    take_batch(batch, n, &errors);
    CHECK(ost_prefetch_close(p) == OST_OK, "prefetch_close early");
    /* closed before anything was taken */
    OK(ost_prefetch_open(client, opts, &p, &err_));
    usleep(20000);
    CHECK(ost_prefetch_close(p) == OST_OK, "prefetch_close untouched");
    OK(ost_prefetch_open(client, opts, &p, &err_));
    CHECK(ost_prefetch_next_batch(p, 0, &batch, &n, &done, &err) == OST_ERR_INVALID && err, "max_items 0");
    ost_free(err), err = NULL;
    CHECK(ost_prefetch_close(p) == OST_OK, "prefetch_close after a refused call");
    /* a listing that fails: the error comes from next_batch */
    OK(ost_prefetch_open(client, "{\"bucket\":\"no-such-bucket\",\"prefix\":\"\"}", &p, &err_));
    CHECK(ost_prefetch_next_batch(p, 4, &batch, &n, &done, &err) != OST_OK && err, "prefetch of a missing bucket");
    ost_free(err), err = NULL;
    CHECK(ost_prefetch_close(p) == OST_OK, "prefetch_close after error");

    unsigned char items[512];
    const char *keys[] = {"leak/q/a", "leak/q/missing", "leak/q/b", "leak/q/c"};
    const int64_t sizes[] = {4, 9, 0, 0};
    size_t in = pack_items(items, keys, sizes, 4);
    errors = 0;
    OK(ost_batch_get_packed(client, items, in, &batch, &n, &err_));
    CHECK(take_batch(batch, n, &errors) == 4 && errors == 1, "batch_get_packed: %d errors", errors);
    CHECK(ost_batch_get_packed(client, items, in - 1, &batch, &n, &err) == OST_ERR_INVALID && err, "truncated items");
    ost_free(err), err = NULL;
}

static void p_writer(void) {
    static unsigned char chunk[400000];
    memset(chunk, 7, sizeof chunk);
    char *err = NULL;
    ost_handle w = 0;
    OK(ost_writer_open(client, bucket, "leak/w", "{\"part_size\":1048576,\"concurrency\":2}", &w, &err_));
    for (int i = 0; i < 4; i++) OK(ost_writer_write(w, chunk, sizeof chunk, &err_));
    OK(ost_writer_close(w, &err_));
    OK(ost_writer_open(client, bucket, "leak/w2", "{\"part_size\":1048576,\"concurrency\":2}", &w, &err_));
    for (int i = 0; i < 3; i++) OK(ost_writer_write(w, chunk, sizeof chunk, &err_));
    CHECK(ost_writer_abort(w) == OST_OK, "writer_abort");
    CHECK(ost_writer_write(w, chunk, 1, &err) == OST_ERR_INVALID && err, "write after abort");
    ost_free(err), err = NULL;
    char *out = NULL;
    CHECK(ost_stat(client, bucket, "leak/w2", &out, &err) == OST_ERR_NOT_FOUND, "aborted object visible");
    ost_free(err), err = NULL;
    /* a failing upload: the bucket does not exist */
    OK(ost_writer_open(client, "no-such-bucket", "x", NULL, &w, &err_));
    ost_status st = ost_writer_write(w, chunk, sizeof chunk, &err);
    if (st == OST_OK) {
        st = ost_writer_close(w, &err);
        CHECK(st != OST_OK && err, "close to a missing bucket succeeded");
    } else {
        ost_writer_abort(w);
    }
    ost_free(err), err = NULL;
}

static void p_uri_and_tar(void) {
    char *b = NULL, *k = NULL, *err = NULL, *out = NULL, *members = NULL;
    size_t n = 0, dn = 0;
    OK(ost_parse_uri("oss://bkt/some/key", &b, &k, &err_));
    CHECK(strcmp(b, "bkt") == 0 && strcmp(k, "some/key") == 0, "parse_uri");
    ost_free(b), ost_free(k);
    CHECK(ost_parse_uri("s3://x/y", &b, &k, &err) == OST_ERR_INVALID && err, "parse_uri error");
    ost_free(err), err = NULL;

    char *sums = NULL;
    size_t sn = 0;
    OK(ost_tar_index_from_file(tarfile, &out, &n, &sums, &sn, &err_));
    ost_free(sums);
    CHECK(ost_tar_index_from_file("/no/such/file.tar", &b, &dn, &sums, &sn, &err) != OST_OK && err, "index of a missing file");
    ost_free(err), err = NULL;
    FILE *f = fopen(tarfile, "rb");
    CHECK(f != NULL, "open %s", tarfile);
    static char tarbytes[1 << 20];
    size_t tn = fread(tarbytes, 1, sizeof tarbytes, f);
    fclose(f);
    OK(ost_put(client, bucket, "leak/a.tar", tarbytes, tn, &err_));
    char *built = NULL;
    size_t bn = 0;
    OK(ost_tar_index_build(client, bucket, "leak/a.tar", &built, &bn, &sums, &sn, &err_));
    CHECK(bn > 0 && sn > 0, "empty index");
    OK(ost_put(client, bucket, "leak/a.idx", built, bn, &err_));
    OK(ost_put(client, bucket, "leak/a.idx.osstorch-crc64", sums, sn, &err_));
    ost_free(built), ost_free(sums);
    ost_handle t = 0;
    /* the index built from OSS, with its checksum file (it carries the ETag) */
    OK(ost_tar_open(client, bucket, "leak/a.tar", bucket, "leak/a.idx", &t, &members, &err_));
    ost_free(members);
    const int64_t positions[] = {0, 1, 99999, -1, 1};
    void *batch = NULL;
    int errors = 0;
    OK(ost_tar_read_packed(t, positions, 5, &batch, &dn, &err_));
    CHECK(take_batch(batch, dn, &errors) == 5 && errors == 2, "tar_read_packed: %d errors", errors);
    CHECK(ost_tar_read_packed(t, NULL, 1, &batch, &dn, &err) == OST_ERR_INVALID && err, "tar_read_packed NULL positions");
    ost_free(err), err = NULL;
    CHECK(ost_tar_close(t) == OST_OK, "tar_close");
    /* a corrupt index is refused, and so is a missing one */
    out[n / 2] ^= 0xff;
    OK(ost_put(client, bucket, "leak/bad.idx", out, n, &err_));
    CHECK(ost_tar_open(client, bucket, "leak/a.tar", bucket, "leak/bad.idx", &t, &members, &err) != OST_OK && err, "corrupt index");
    ost_free(err), err = NULL;
    CHECK(ost_tar_open(client, bucket, "leak/a.tar", bucket, "leak/none.idx", &t, &members, &err) != OST_OK && err, "missing index");
    ost_free(err), err = NULL;
    ost_free(out);
}

int main(int argc, char **argv) {
    CHECK(argc == 7, "usage: abi_leak ENDPOINT CRED_PATH REGION BUCKET TARFILE ITERATIONS");
    bucket = argv[4];
    tarfile = argv[5];
    int iters = atoi(argv[6]);
    char opts[4096];
    snprintf(opts, sizeof opts, "{\"endpoint\":\"%s\",\"cred_path\":\"%s\",\"region\":\"%s\"}", argv[1], argv[2], argv[3]);
    OK(ost_client_new(opts, &client, &err_));

    struct { const char *name; void (*fn)(void); } patterns[] = {
        {"client", p_client}, {"put_get_stat", p_put_get_stat}, {"ranges_reader", p_ranges_and_reader},
        {"packed", p_packed}, {"writer", p_writer},
        {"uri_tar", p_uri_and_tar},
    };
    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++) {
        patterns[i].fn(); /* warm up: connections, lazily built state */
        usleep(300000);
        long handles0 = stat_field("handles"), gor0 = stat_field("goroutines");
        for (int k = 0; k < iters; k++) patterns[i].fn();
        long handles1 = stat_field("handles"), gor1 = settled_goroutines(gor0);
        printf("%s: %d iterations, handles %ld -> %ld, goroutines %ld -> %ld\n",
               patterns[i].name, iters, handles0, handles1, gor0, gor1);
        CHECK(handles1 == handles0, "%s leaks handles: %ld -> %ld", patterns[i].name, handles0, handles1);
        /* a few goroutines of slack: idle keep-alive connections come and go */
        CHECK(gor1 <= gor0 + 4, "%s leaks goroutines: %ld -> %ld", patterns[i].name, gor0, gor1);
    }
    CHECK(ost_client_free(client) == OST_OK, "client_free");
    printf("ok\n");
    return 0;
}
