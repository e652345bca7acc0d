/* Drives libosstorch.so through include/osstorch.h only, as any C caller would.
 * usage: abi_smoke ENDPOINT CRED_PATH REGION BUCKET KEY EXPECTED_CONTENT
 * Prints "ok" and exits 0 when every check passes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osstorch.h"

#define CHECK(cond, ...) do { if (!(cond)) { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); return 1; } } while (0)

int main(int argc, char **argv) {
    CHECK(argc == 7, "usage: abi_smoke ENDPOINT CRED_PATH REGION BUCKET KEY EXPECTED");
    const char *bucket = argv[4], *key = argv[5], *expected = argv[6];
    CHECK(ost_version() && strlen(ost_version()) > 0, "no version");

    char opts[4096];
    snprintf(opts, sizeof opts, "{\"endpoint\":\"%s\",\"cred_path\":\"%s\",\"region\":\"%s\"}", argv[1], argv[2], argv[3]);
    ost_handle h = 0;
    char *err = NULL;
    ost_status st = ost_client_new(opts, &h, &err);
    CHECK(st == OST_OK && h != 0, "client_new: %d %s", st, err ? err : "");

    char *out = NULL;
    size_t n = 0;
    st = ost_list(h, bucket, "", &out, &n, &err);
    CHECK(st == OST_OK, "list: %d %s", st, err ? err : "");
    CHECK(strlen(out) == n && strstr(out, key) != NULL, "list does not name %s: %s", key, out);
    ost_free(out);

    st = ost_get(h, bucket, key, &out, &n, &err);
    CHECK(st == OST_OK, "get: %d %s", st, err ? err : "");
    CHECK(n == strlen(expected) && memcmp(out, expected, n) == 0, "get returned wrong bytes");
    ost_free(out);

    /* write: a streaming writer (3 MiB in 1 MiB parts), then read it back two ways */
    enum { BIG = 3 * 1024 * 1024 + 17 };
    unsigned char *big = malloc(BIG), *back = malloc(BIG);
    for (size_t i = 0; i < BIG; i++) big[i] = (unsigned char)(i * 31 + 7);
    ost_handle w = 0;
    st = ost_writer_open(h, bucket, "c/written.bin", "{\"part_size\":1048576,\"concurrency\":2}", &w, &err);
    CHECK(st == OST_OK, "writer_open: %d %s", st, err ? err : "");
    for (size_t off = 0; off < BIG; off += 100000) {
        size_t n = BIG - off < 100000 ? BIG - off : 100000;
        st = ost_writer_write(w, big + off, n, &err);
        CHECK(st == OST_OK, "writer_write: %d %s", st, err ? err : "");
    }
    st = ost_writer_close(w, &err);
    CHECK(st == OST_OK, "writer_close: %d %s", st, err ? err : "");
    size_t got = 0;
    st = ost_read_range(h, bucket, "c/written.bin", 0, back, BIG, &got, &err);
    CHECK(st == OST_OK && got == BIG && memcmp(big, back, BIG) == 0, "read_range: %d %zu", st, got);
    ost_handle r = 0;
    int64_t size = 0;
    st = ost_reader_open(h, bucket, "c/written.bin", &r, &size, &err);
    CHECK(st == OST_OK && size == BIG, "reader_open: %d %s", st, err ? err : "");
    memset(back, 0, BIG);
    st = ost_reader_read_at(r, 0, back, BIG, &got, &err);
    CHECK(st == OST_OK && got == BIG && memcmp(big, back, BIG) == 0, "reader_read_at: %d %zu", st, got);
    st = ost_reader_read_at(r, size, back, 10, &got, &err);
    CHECK(st == OST_OK && got == 0, "read at EOF: %d %zu", st, got);
    CHECK(ost_reader_close(r) == OST_OK, "reader_close");
    CHECK(ost_reader_close(r) == OST_ERR_INVALID, "reader double close must be refused");
    /* an aborted writer leaves nothing */
    st = ost_writer_open(h, bucket, "c/aborted.bin", NULL, &w, &err);
    CHECK(st == OST_OK, "writer_open 2");
    ost_writer_write(w, big, 1000, NULL);
    CHECK(ost_writer_abort(w) == OST_OK, "abort");
    st = ost_stat(h, bucket, "c/aborted.bin", &out, NULL);
    CHECK(st == OST_ERR_NOT_FOUND, "aborted object is visible: %d", st);
    free(big);
    free(back);

    /* error path: a missing key is OST_ERR_NOT_FOUND with OSS's code and request id */
    out = NULL;
    st = ost_get(h, bucket, "no/such/key", &out, &n, &err);
    CHECK(st == OST_ERR_NOT_FOUND, "missing key: status %d", st);
    CHECK(out == NULL, "out must stay untouched on error");
    CHECK(err && strstr(err, "\"code\":\"NoSuchKey\"") && strstr(err, "\"status\":404") && strstr(err, "\"request_id\":\""),
          "error details: %s", err ? err : "(null)");
    ost_free(err);
    err = NULL;

    /* bad input: invalid options and unknown handles are OST_ERR_INVALID, never a crash */
    ost_handle h2 = 0;
    st = ost_client_new("{not json", &h2, &err);
    CHECK(st == OST_ERR_INVALID && err && strstr(err, "\"kind\":\"invalid\""), "bad json: %d %s", st, err ? err : "");
    ost_free(err);
    err = NULL;
    st = ost_client_new("{\"endpoint\":\"\"}", &h2, NULL); /* err may be NULL */
    CHECK(st == OST_ERR_INVALID, "empty endpoint: %d", st);
    CHECK(ost_list(987654321, bucket, "", &out, &n, NULL) == OST_ERR_INVALID, "unknown handle");

    CHECK(ost_client_free(h) == OST_OK, "free");
    CHECK(ost_client_free(h) == OST_ERR_INVALID, "double free must be refused");
    ost_free(NULL);
    puts("ok");
    return 0;
}
