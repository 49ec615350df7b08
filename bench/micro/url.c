/*
 * url.c: ns per URL for flare_url_parse (validation, lowercase host, default
 * port, dot segments removed, percent-encoding of unsafe bytes, one allocation,
 * flare_url_free included) and, when Debian's libhttp-parser was found at build
 * time, http_parser_parse_url on the same bytes. http_parser only splits the URL
 * into field offsets: it copies nothing, normalises nothing and does not check a
 * host name's characters, so it is a floor for the split rather than a peer.
 */
#include <stdio.h>
#include <string.h>

#include "flare/url.h"

#include "harness.h"

#ifdef HAVE_HTTP_PARSER
#include <http_parser.h>
#endif

typedef struct sample {
    const char *name;
    const char *text;
    size_t len;
} sample;

static int flare_once(const sample *s, uint64_t *sum)
{
    flare_url u;
    if (flare_url_parse(&u, s->text, s->len, NULL) < 0) return -1;
    *sum += u.port + strlen(u.path);
    flare_url_free(&u);
    return 0;
}

/* One parser on one sample, as the harness times it. */
typedef struct job {
    const sample *s;
    int (*once)(const sample *s, uint64_t *sum);
} job;

static uint64_t run_job(void *ctx, uint64_t iters)
{
    const job *j = ctx;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < iters; i++)
        if (j->once(j->s, &sum) < 0) return 0;
    return sum;
}

#ifdef HAVE_HTTP_PARSER
static int hp_once(const sample *s, uint64_t *sum)
{
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(s->text, s->len, 0, &u) != 0) return -1;
    *sum += u.port + u.field_data[UF_PATH].len;
    return 0;
}
#endif

#define SAMPLE(n, t)                                                                               \
    {                                                                                              \
        n, t, sizeof(t) - 1                                                                        \
    }

int main(int argc, char **argv)
{
    micro_opts opts;
    if (micro_parse_args(argc, argv, &opts) < 0) return 2;
    micro_print_header("URL parse, ns per URL (flared: parse + free)", &opts);
    static const sample samples[] = {
        SAMPLE("short", "http://example.com/"),
        SAMPLE("api", "https://api.example.com:8443/v1/users/42/orders?limit=50&offset=100"),
        SAMPLE("ipv6", "http://[2001:db8::1]:8080/status"),
        SAMPLE("userinfo", "https://user:secret@Example.COM/a/b/../c/./d.html?q=1#frag"),
        SAMPLE("long",
               "https://cdn.static.example.org/assets/js/vendor/app.3f9c2a1b7d.min.js?v=20261206"
               "&utm_source=newsletter&utm_medium=email&utm_campaign=winter_sale_2026"),
    };
    size_t n = sizeof samples / sizeof samples[0];
    printf("%-9s %6s %12s %14s %18s\n", "url", "bytes", "flared", "http_parser",
           "flared/http_parser");
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        const sample *s = &samples[i];
        uint64_t sum = 0;
        if (flare_once(s, &sum) < 0) {
            printf("%-9s flare_url_parse rejected it: not timed\n", s->name);
            failures++;
            continue;
        }
        job flare_job = {s, flare_once};
        double ns = micro_measure(run_job, &flare_job, &opts).ns;
        printf("%-9s %6zu %12.1f", s->name, s->len, ns);
#ifdef HAVE_HTTP_PARSER
        if (hp_once(s, &sum) == 0) {
            job hp_job = {s, hp_once};
            double hp_ns = micro_measure(run_job, &hp_job, &opts).ns;
            printf(" %14.1f %17.2fx", hp_ns, ns / hp_ns);
        } else {
            printf(" %14s %18s", "rejected", "-");
        }
#else
        printf(" %14s %18s", "-", "-");
#endif
        printf("\n");
    }
    return failures ? 1 : 0;
}
