/*
 * parse_request.c: ns per request head for flared's parser on each of its SIMD
 * paths, against picohttpparser (Debian's libh2o, a scalar build) and
 * http_parser (libhttp-parser) on the same bytes when they were found at build
 * time. Every parser must accept the whole head before it is timed.
 */
#include <stdio.h>
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

static ssize_t flare_once(const micro_sample *s, size_t *fields)
{
    flare_http_header hdrs[MAX_FIELDS];
    flare_http_request req;
    req.headers = hdrs;
    req.max_headers_capacity = MAX_FIELDS;
    int status;
    ssize_t n = flare_http_parse_request(s->text, s->len, 0, NULL, &req, &status);
    *fields = req.num_headers;
    return n;
}

MICRO_SUM_LOOP(run_flare, const micro_sample, flare_once)

#ifdef HAVE_PICO
static int pico_once(const micro_sample *s, size_t *fields)
{
    const char *method, *path;
    size_t method_len, path_len;
    int minor;
    struct phr_header hdrs[MAX_FIELDS];
    *fields = MAX_FIELDS;
    return phr_parse_request(s->text, s->len, &method, &method_len, &path, &path_len, &minor, hdrs,
                             fields, 0);
}

MICRO_SUM_LOOP(run_pico, const micro_sample, pico_once)
#endif

#ifdef HAVE_HTTP_PARSER
/* The callbacks keep slices the way a server using http_parser must. */
typedef struct hp_slices {
    const char *url;
    size_t url_len;
    const char *field[MAX_FIELDS], *value[MAX_FIELDS];
    size_t field_len[MAX_FIELDS], value_len[MAX_FIELDS];
    size_t fields, values;
    int complete;
} hp_slices;

static int hp_on_url(http_parser *p, const char *at, size_t len)
{
    hp_slices *s = p->data;
    s->url = at;
    s->url_len = len;
    return 0;
}

static int hp_on_field(http_parser *p, const char *at, size_t len)
{
    hp_slices *s = p->data;
    if (s->fields == MAX_FIELDS) return 1;
    s->field[s->fields] = at;
    s->field_len[s->fields++] = len;
    return 0;
}

static int hp_on_value(http_parser *p, const char *at, size_t len)
{
    hp_slices *s = p->data;
    if (s->values == MAX_FIELDS) return 1;
    s->value[s->values] = at;
    s->value_len[s->values++] = len;
    return 0;
}

static int hp_on_headers_complete(http_parser *p)
{
    hp_slices *s = p->data;
    s->complete = 1;
    return 0;
}

static http_parser_settings hp_settings;

static size_t hp_once(const micro_sample *s, size_t *fields, int *complete)
{
    http_parser p;
    hp_slices sl;
    sl.fields = sl.values = 0;
    sl.complete = 0;
    http_parser_init(&p, HTTP_REQUEST);
    p.data = &sl;
    size_t n = http_parser_execute(&p, &hp_settings, s->text, s->len);
    *fields = sl.fields;
    *complete = sl.complete && HTTP_PARSER_ERRNO(&p) == HPE_OK;
    return n;
}

static size_t hp_fields_once(const micro_sample *s, size_t *fields)
{
    int complete;
    return hp_once(s, fields, &complete);
}

MICRO_SUM_LOOP(run_hp, const micro_sample, hp_fields_once)
#endif

static void print_ns(double ns)
{
    if (ns > 0)
        printf(" %12.1f", ns);
    else
        printf(" %12s", "-");
}

static void print_ratio(double a, double b)
{
    if (a > 0 && b > 0)
        printf(" %11.2fx", a / b);
    else
        printf(" %12s", "-");
}

int main(int argc, char **argv)
{
    micro_opts opts;
    if (micro_parse_args(argc, argv, &opts) < 0) return 2;
    micro_print_header("request parse, ns per request head", &opts);
#ifdef HAVE_HTTP_PARSER
    hp_settings.on_url = hp_on_url;
    hp_settings.on_header_field = hp_on_field;
    hp_settings.on_header_value = hp_on_value;
    hp_settings.on_headers_complete = hp_on_headers_complete;
#endif
    flare_http_simd auto_path = flare_http_simd_active();
    printf("# flared's run-time choice: %s. pico = phr_parse_request from libh2o (Debian, scalar "
           "build)%s; http_parser = libhttp-parser 2.9 with slice-keeping callbacks%s.\n",
           flare_http_simd_name(auto_path),
#ifdef HAVE_PICO
           "",
#else
           ": NOT FOUND at build time",
#endif
#ifdef HAVE_HTTP_PARSER
           ""
#else
           ": NOT FOUND at build time"
#endif
    );
    printf("%-11s %5s %12s %12s %12s %12s %12s %12s %12s %12s %12s %12s\n", "input", "bytes",
           "flared", "scalar", "sse4.2", "avx2", "avx512bw", "pico", "http_parser", "flared/pico",
           "scalar/pico", "flared/h_p");

    int failures = 0;
    for (size_t i = 0; i < micro_request_count; i++) {
        const micro_sample *s = &micro_requests[i];
        size_t fields;
        ssize_t n = flare_once(s, &fields);
        if (n != (ssize_t)s->len) {
            printf("%-11s flared's parser returned %zd for %zu bytes: not timed\n", s->name, n,
                   s->len);
            failures++;
            continue;
        }
        double path_ns[4] = {0, 0, 0, 0};
        for (int p = FLARE_SIMD_SCALAR; p <= FLARE_SIMD_AVX512; p++) {
            if (flare_http_simd_force((flare_http_simd)p) != 0) continue;
            path_ns[p] = micro_measure(run_flare, (void *)s, &opts).ns;
        }
        flare_http_simd_force(auto_path);
        double flare_ns = path_ns[auto_path];
        double pico_ns = 0, hp_ns = 0;
#ifdef HAVE_PICO
        size_t pico_fields;
        if (pico_once(s, &pico_fields) == (int)s->len && pico_fields == fields)
            pico_ns = micro_measure(run_pico, (void *)s, &opts).ns;
        else
            printf("# %s: picohttpparser did not accept it the same way; not timed\n", s->name);
#endif
#ifdef HAVE_HTTP_PARSER
        size_t hp_fields;
        int complete;
        if (hp_once(s, &hp_fields, &complete) == s->len && complete && hp_fields == fields)
            hp_ns = micro_measure(run_hp, (void *)s, &opts).ns;
        else
            printf("# %s: http_parser did not accept it the same way; not timed\n", s->name);
#endif
        printf("%-11s %5zu", s->name, s->len);
        print_ns(flare_ns);
        for (int p = 0; p < 4; p++)
            print_ns(path_ns[p]);
        print_ns(pico_ns);
        print_ns(hp_ns);
        print_ratio(flare_ns, pico_ns);
        print_ratio(path_ns[FLARE_SIMD_SCALAR], pico_ns);
        print_ratio(flare_ns, hp_ns);
        printf("\n");
    }
    micro_print_inputs(micro_requests, micro_request_count);
    return failures ? 1 : 0;
}
