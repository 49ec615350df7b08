/*
 * flared_verdict.c: prints flared's verdict on each request of a record file
 * (4-byte big-endian length, then the bytes), one line per record, for
 * compare.py to set against llhttp's (llhttp_verdict.js prints the same form):
 *   A BODY_LEN KEEP_ALIVE UPGRADE METHOD TARGET N NAME:VALUE...   accepted
 *   R STATUS                                                      rejected
 *   I                                                             incomplete
 * Strings are hex; values are as the parser trimmed them. A message is the head
 * (flare_http_parse_request, default limits) and its body: Content-Length bytes,
 * or chunked through flare_http_decode_chunked (a bad body is "R body").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flare/http_parser.h"

#define MAX_HEADERS 100

static void hex(const char *p, size_t n)
{
    if (n == 0) fputc('-', stdout);
    for (size_t i = 0; i < n; i++)
        printf("%02x", (unsigned char)p[i]);
}

static void verdict(char *buf, size_t len)
{
    static flare_http_header headers[MAX_HEADERS];
    flare_http_request req = {.headers = headers, .max_headers_capacity = MAX_HEADERS};
    int status = 0;
    ssize_t n = flare_http_parse_request(buf, len, 0, NULL, &req, &status);
    if (n == FLARE_EINCOMPLETE) {
        puts("I");
        return;
    }
    if (n < 0) {
        printf("R %d\n", status);
        return;
    }
    size_t rest = len - (size_t)n;
    uint64_t body = 0;
    if (req.chunked) {
        flare_http_chunked dec;
        memset(&dec, 0, sizeof dec);
        size_t out = rest;
        ssize_t rc = flare_http_decode_chunked(&dec, buf + n, &out);
        if (rc == FLARE_EPARSE) {
            puts("R body");
            return;
        }
        if (rc == FLARE_EINCOMPLETE) {
            puts("I");
            return;
        }
        body = out;
    } else if (req.content_length >= 0) {
        if ((uint64_t)req.content_length > rest) {
            puts("I");
            return;
        }
        body = (uint64_t)req.content_length;
    }
    printf("A %llu %d %d ", (unsigned long long)body, req.keep_alive, req.upgrade);
    hex(req.method, req.method_len);
    fputc(' ', stdout);
    hex(req.target, req.target_len);
    printf(" %zu", req.num_headers);
    for (size_t i = 0; i < req.num_headers; i++) {
        fputc(' ', stdout);
        hex(req.headers[i].name, req.headers[i].name_len);
        fputc(':', stdout);
        hex(req.headers[i].value, req.headers[i].value_len);
    }
    fputc('\n', stdout);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s RECORD_FILE\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    unsigned char len_bytes[4];
    char *buf = NULL;
    while (fread(len_bytes, 1, 4, f) == 4) {
        size_t len = (size_t)len_bytes[0] << 24 | (size_t)len_bytes[1] << 16 |
                     (size_t)len_bytes[2] << 8 | len_bytes[3];
        char *grown = realloc(buf, len ? len : 1);
        if (!grown || fread(grown, 1, len, f) != len) {
            fprintf(stderr, "%s: truncated record\n", argv[1]);
            free(grown ? grown : buf);
            fclose(f);
            return 1;
        }
        buf = grown;
        verdict(buf, len);
    }
    free(buf);
    fclose(f);
    return 0;
}
