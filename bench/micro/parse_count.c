/*
 * parse_count.c: runs one parser on one corpus input a given number of times and
 * nothing else, for bench/parse_callgrind.sh, which counts the instructions of
 * the parser's entry function under callgrind. Instruction counts are repeatable
 * on a loaded machine where wall-clock time is not.
 *   micro_parse_count request|response flared|pico|http_parser PATH INPUT ITERS
 * PATH (scalar, sse4.2, avx2, avx512bw) applies to flared; the others ignore it. ITERS 0
 * prints the input's length and parses nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flare/http_parser.h"

#include "corpus.h"
#include "harness.h"

#ifdef HAVE_PICO
#include "pico.h"
#endif
#ifdef HAVE_HTTP_PARSER
#include <http_parser.h>
#endif

#define MAX_FIELDS 64

/* The field arrays, shared by every call as a server's per-connection one is. */
static flare_http_header flare_fields[MAX_FIELDS];

static ssize_t flare_request(const micro_sample *s)
{
    flare_http_request req = {.headers = flare_fields, .max_headers_capacity = MAX_FIELDS};
    int status;
    ssize_t n = flare_http_parse_request(s->text, s->len, 0, NULL, &req, &status);
    return n + (ssize_t)req.num_headers;
}

static ssize_t flare_response(const micro_sample *s)
{
    flare_http_response resp = {.headers = flare_fields, .max_headers_capacity = MAX_FIELDS};
    ssize_t n = flare_http_parse_response(s->text, s->len, 0, &resp);
    return n + (ssize_t)resp.num_headers;
}

#ifdef HAVE_PICO
static ssize_t pico_request(const micro_sample *s)
{
    const char *method, *path;
    size_t method_len, path_len, fields = MAX_FIELDS;
    int minor;
    struct phr_header hdrs[MAX_FIELDS];
    int n = phr_parse_request(s->text, s->len, &method, &method_len, &path, &path_len, &minor, hdrs,
                              &fields, 0);
    return n + (ssize_t)fields;
}

static ssize_t pico_response(const micro_sample *s)
{
    int minor, status;
    const char *msg;
    size_t msg_len, fields = MAX_FIELDS;
    struct phr_header hdrs[MAX_FIELDS];
    int n = phr_parse_response(s->text, s->len, &minor, &status, &msg, &msg_len, hdrs, &fields, 0);
    return n + (ssize_t)fields;
}
#endif

#ifdef HAVE_HTTP_PARSER
/* Slices kept as a server using http_parser must keep them. */
typedef struct hp_slices {
    const char *at[2 * MAX_FIELDS + 1];
    size_t len[2 * MAX_FIELDS + 1];
    size_t n;
} hp_slices;

static int hp_keep(http_parser *p, const char *at, size_t len)
{
    hp_slices *s = p->data;
    if (s->n == 2 * MAX_FIELDS + 1) return 1;
    s->at[s->n] = at;
    s->len[s->n++] = len;
    return 0;
}

static http_parser_settings hp_settings;

static ssize_t hp_parse(const micro_sample *s, enum http_parser_type type)
{
    http_parser p;
    hp_slices sl;
    sl.n = 0;
    http_parser_init(&p, type);
    p.data = &sl;
    size_t n = http_parser_execute(&p, &hp_settings, s->text, s->len);
    return HTTP_PARSER_ERRNO(&p) == HPE_OK ? (ssize_t)(n + sl.n) : -1;
}
#endif

static const micro_sample *find_sample(const micro_sample *set, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(set[i].name, name) == 0) return &set[i];
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s request|response flared|pico|http_parser PATH INPUT ITERS\n",
                argv[0]);
        return 2;
    }
    bool request = strcmp(argv[1], "request") == 0;
    const char *parser = argv[2];
    const micro_sample *s = request ? find_sample(micro_requests, micro_request_count, argv[4])
                                    : find_sample(micro_responses, micro_response_count, argv[4]);
    unsigned long iters = strtoul(argv[5], NULL, 10);
    if (!s) {
        fprintf(stderr, "%s: unknown input %s\n", argv[0], argv[4]);
        return 2;
    }
    if (iters == 0) {
        printf("%zu\n", s->len);
        return 0;
    }
    ssize_t (*once)(const micro_sample *) = NULL;
    if (strcmp(parser, "flared") == 0) {
        flare_http_simd path = FLARE_SIMD_SCALAR;
        if (strcmp(argv[3], "sse4.2") == 0) path = FLARE_SIMD_SSE42;
        if (strcmp(argv[3], "avx2") == 0) path = FLARE_SIMD_AVX2;
        if (strcmp(argv[3], "avx512bw") == 0) path = FLARE_SIMD_AVX512;
        if (flare_http_simd_force(path) != 0) {
            fprintf(stderr, "%s: this CPU has no %s\n", argv[0], argv[3]);
            return 77;
        }
        once = request ? flare_request : flare_response;
    }
#ifdef HAVE_PICO
    if (strcmp(parser, "pico") == 0) once = request ? pico_request : pico_response;
#endif
#ifdef HAVE_HTTP_PARSER
    hp_settings.on_url = hp_keep;
    hp_settings.on_status = hp_keep;
    hp_settings.on_header_field = hp_keep;
    hp_settings.on_header_value = hp_keep;
    if (strcmp(parser, "http_parser") == 0) {
        ssize_t n = hp_parse(s, request ? HTTP_REQUEST : HTTP_RESPONSE);
        if (n < 0) return 1;
        for (unsigned long i = 0; i < iters; i++)
            micro_consume((uint64_t)hp_parse(s, request ? HTTP_REQUEST : HTTP_RESPONSE));
        return 0;
    }
#endif
    if (!once) {
        fprintf(stderr, "%s: parser %s not built in\n", argv[0], parser);
        return 77;
    }
    if (once(s) < (ssize_t)s->len) {
        fprintf(stderr, "%s: %s did not accept %s\n", argv[0], parser, s->name);
        return 1;
    }
    for (unsigned long i = 0; i < iters; i++)
        micro_consume((uint64_t)once(s));
    return 0;
}
