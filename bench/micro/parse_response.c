/*
 * parse_response.c: ns per response head for flared's client-side parser (on
 * its run-time SIMD path) against picohttpparser's phr_parse_response (Debian's
 * libh2o) on the same bytes when it was found at build time.
 */
#include <stdio.h>

#include "flare/http_parser.h"

#include "corpus.h"
#include "harness.h"

#ifdef HAVE_PICO
#include "pico.h"
#endif

#define MAX_FIELDS 64

static ssize_t flare_once(const micro_sample *s, size_t *fields)
{
    flare_http_header hdrs[MAX_FIELDS];
    flare_http_response resp;
    resp.headers = hdrs;
    resp.max_headers_capacity = MAX_FIELDS;
    ssize_t n = flare_http_parse_response(s->text, s->len, 0, &resp);
    *fields = resp.num_headers;
    return n;
}

MICRO_SUM_LOOP(run_flare, const micro_sample, flare_once)

#ifdef HAVE_PICO
static int pico_once(const micro_sample *s, size_t *fields)
{
    int minor, status;
    const char *msg;
    size_t msg_len;
    struct phr_header hdrs[MAX_FIELDS];
    *fields = MAX_FIELDS;
    return phr_parse_response(s->text, s->len, &minor, &status, &msg, &msg_len, hdrs, fields, 0);
}

MICRO_SUM_LOOP(run_pico, const micro_sample, pico_once)
#endif

int main(int argc, char **argv)
{
    micro_opts opts;
    if (micro_parse_args(argc, argv, &opts) < 0) return 2;
    micro_print_header("response parse, ns per response head", &opts);
    printf("# flared's run-time choice: %s; pico = phr_parse_response from libh2o%s\n",
           flare_http_simd_name(flare_http_simd_active()),
#ifdef HAVE_PICO
           " (Debian, scalar build)"
#else
           ": NOT FOUND at build time"
#endif
    );
    printf("%-13s %5s %12s %12s %12s\n", "input", "bytes", "flared", "pico", "flared/pico");
    int failures = 0;
    for (size_t i = 0; i < micro_response_count; i++) {
        const micro_sample *s = &micro_responses[i];
        size_t fields;
        ssize_t n = flare_once(s, &fields);
        if (n != (ssize_t)s->len) {
            printf("%-13s flared's parser returned %zd for %zu bytes: not timed\n", s->name, n,
                   s->len);
            failures++;
            continue;
        }
        double flare_ns = micro_measure(run_flare, (void *)s, &opts).ns;
        printf("%-13s %5zu %12.1f", s->name, s->len, flare_ns);
#ifdef HAVE_PICO
        size_t pico_fields;
        if (pico_once(s, &pico_fields) == (int)s->len && pico_fields == fields) {
            double pico_ns = micro_measure(run_pico, (void *)s, &opts).ns;
            printf(" %12.1f %11.2fx\n", pico_ns, flare_ns / pico_ns);
        } else {
            printf(" %12s %12s  (pico did not accept it the same way)\n", "-", "-");
        }
#else
        printf(" %12s %12s\n", "-", "-");
#endif
    }
    micro_print_inputs(micro_responses, micro_response_count);
    return failures ? 1 : 0;
}
