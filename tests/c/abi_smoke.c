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
