/*
 * test_parse_request.c: the request-head parser. A table of requests, each with
 * its exact status or its parsed fields, run on every scanning path the CPU has:
 * whole, split at every offset (prefix, then resume with last_len), and fed one
 * byte at a time; then mutated requests compared across paths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flare/http_parser.h"
#include "simd_paths.h"

#include "test_parse_request_cases.h"

typedef struct result {
    ssize_t rc;
    int status;
    flare_http_request req;
    flare_http_header hdrs[CAP];
} result;

static void parse_into(result *r, const char *buf, size_t len, size_t last_len,
                       const flare_http_limits *limits)
{
    memset(r, 0x5a, sizeof *r);
    r->req.headers = r->hdrs;
    r->req.max_headers_capacity = CAP;
    r->status = -12345;
    r->rc = flare_http_parse_request(buf, len, last_len, limits, &r->req, &r->status);
}

/* Every output field, headers included, is the same. */
static void assert_same(const result *a, const result *b, const char *what)
{
    if (a->rc != b->rc || a->status != b->status)
        fail_msg("%s: rc %zd/%zd status %d/%d", what, a->rc, b->rc, a->status, b->status);
    const flare_http_request *x = &a->req, *y = &b->req;
    assert_ptr_equal(x->method, y->method);
    assert_ptr_equal(x->target, y->target);
    assert_int_equal(x->method_len, y->method_len);
    assert_int_equal(x->target_len, y->target_len);
    assert_int_equal(x->method_id, y->method_id);
    assert_int_equal(x->target_form, y->target_form);
    assert_int_equal(x->minor_version, y->minor_version);
    assert_int_equal(x->keep_alive, y->keep_alive);
    assert_int_equal(x->chunked, y->chunked);
    assert_int_equal(x->expect_continue, y->expect_continue);
    assert_int_equal(x->upgrade, y->upgrade);
    assert_int_equal(x->content_length, y->content_length);
    assert_int_equal(x->host_index, y->host_index);
    assert_int_equal(x->num_headers, y->num_headers);
    assert_int_equal(x->max_headers_capacity, y->max_headers_capacity);
    for (size_t i = 0; i < FLARE_HDR__COUNT; i++)
        assert_int_equal(x->known_index[i], y->known_index[i]);
    for (size_t i = 0; i < x->num_headers && i < CAP; i++) {
        assert_ptr_equal(a->hdrs[i].name, b->hdrs[i].name);
        assert_ptr_equal(a->hdrs[i].value, b->hdrs[i].value);
        assert_int_equal(a->hdrs[i].name_len, b->hdrs[i].name_len);
        assert_int_equal(a->hdrs[i].value_len, b->hdrs[i].value_len);
        assert_int_equal(a->hdrs[i].id, b->hdrs[i].id);
    }
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* The fields of a successful parse, against the case and against each other. */
static void check_accepted(const req_case *c, const char *buf, const result *r)
{
    const flare_http_request *q = &r->req;
    size_t want = c->consumed ? c->consumed : c->raw_len;
    if (r->rc != (ssize_t)want)
        fail_msg("%s: rc %zd (status %d), want %zu", c->name, r->rc, r->status, want);
    assert_int_equal(r->status, 0);
    size_t skip = buf[0] == '\r' ? 2 : 0;
    const char *sp = memchr(buf + skip, ' ', c->raw_len - skip);
    assert_non_null(sp);
    assert_ptr_equal(q->method, buf + skip);
    assert_int_equal(q->method_len, (size_t)(sp - buf) - skip);
    assert_ptr_equal(q->target, sp + 1);
    assert_int_equal(q->target_len, strlen(c->target));
    assert_memory_equal(q->target, c->target, q->target_len);
    assert_int_equal(q->method_id, c->method_id);
    assert_int_equal(q->method_id, flare_http_method_id(q->method, q->method_len));
    assert_int_equal(q->target_form, c->form);
    assert_int_equal(q->minor_version, c->minor);
    assert_int_equal(q->keep_alive, (c->flags & KA) != 0);
    assert_int_equal(q->chunked, (c->flags & CH) != 0);
    assert_int_equal(q->expect_continue, (c->flags & EX) != 0);
    assert_int_equal(q->upgrade, (c->flags & UP) != 0);
    assert_int_equal(q->content_length, c->cl);
    assert_int_equal(q->num_headers, (size_t)c->nhdr);
    assert_ptr_equal(q->headers, r->hdrs);
    int16_t first[FLARE_HDR__COUNT];
    for (size_t i = 0; i < FLARE_HDR__COUNT; i++)
        first[i] = -1;
    for (size_t i = 0; i < q->num_headers; i++) {
        const flare_http_header *h = &q->headers[i];
        assert_true(h->name >= buf && h->name + h->name_len <= buf + r->rc);
        assert_true(h->value >= buf && h->value + h->value_len <= buf + r->rc);
        assert_true(h->name_len > 0);
        assert_int_equal(h->name[h->name_len], ':');
        if (h->value_len > 0) {
            assert_false(is_ows(h->value[0]));
            assert_false(is_ows(h->value[h->value_len - 1]));
        }
        assert_int_equal(h->id, flare_http_header_id(h->name, h->name_len));
        if (h->id != FLARE_HDR_OTHER && first[h->id] < 0) first[h->id] = (int16_t)i;
    }
    for (size_t i = 0; i < FLARE_HDR__COUNT; i++)
        assert_int_equal(q->known_index[i], first[i]);
    assert_int_equal(q->host_index, q->known_index[FLARE_HDR_HOST]);
    if (q->minor_version == 1) assert_true(q->host_index >= 0);
}

static char *dup_exact(const char *s, size_t n)
{
    char *p = malloc(n ? n : 1);
    assert_non_null(p);
    memcpy(p, s, n);
    return p;
}

/* Whole, split at every offset, and byte by byte, on the active path; buf is an
 * exact-size copy of the case's text. */
static void run_case_on_path(const req_case *c, char *buf, result *whole)
{
    const flare_http_limits *lim = c->limits ? c->limits : &test_limits;
    size_t n = c->raw_len;
    parse_into(whole, buf, n, 0, lim);
    if (c->status == 0) {
        check_accepted(c, buf, whole);
    } else if (c->status == INCOMPLETE) {
        if (whole->rc != FLARE_EINCOMPLETE)
            fail_msg("%s: rc %zd status %d, want incomplete", c->name, whole->rc, whole->status);
        assert_int_equal(whole->status, 0);
    } else if (whole->rc != FLARE_EPARSE || whole->status != c->status) {
        fail_msg("%s: rc %zd status %d, want status %d", c->name, whole->rc, whole->status,
                 c->status);
    }

    result *part = malloc(sizeof *part), *resumed = malloc(sizeof *resumed);
    assert_non_null(part);
    assert_non_null(resumed);
    for (size_t k = 0; k < n; k++) {
        /* An exact-size copy, so reading past the prefix trips ASan. */
        char *prefix = dup_exact(buf, k);
        parse_into(part, prefix, k, 0, lim);
        free(prefix);
        if (whole->rc > 0 && k >= (size_t)whole->rc) {
            /* The head is complete within the prefix: same answer, same slices
             * (relative to the buffer). */
            assert_int_equal(part->rc, whole->rc);
            continue;
        }
        if (part->rc != FLARE_EINCOMPLETE) {
            /* Only an error the whole message also gets, and never for a valid one. */
            if (c->status == 0 || c->status == INCOMPLETE || part->rc != FLARE_EPARSE ||
                part->status != whole->status)
                fail_msg("%s: prefix %zu gave rc %zd status %d", c->name, k, part->rc,
                         part->status);
            continue;
        }
        parse_into(resumed, buf, n, k, lim);
        char what[160];
        snprintf(what, sizeof what, "%s: resumed at %zu", c->name, k);
        assert_same(resumed, whole, what);
    }

    /* One byte per call, as a slow client sends. */
    size_t last = 0;
    for (size_t k = 1; k <= n; k++) {
        parse_into(part, buf, k, last, lim);
        if (part->rc == FLARE_EINCOMPLETE && k < n) {
            last = k;
            continue;
        }
        if (k == n) {
            assert_same(part, whole, c->name);
        } else {
            assert_int_equal(part->rc, whole->rc);
            assert_int_equal(part->status, whole->status);
        }
        break;
    }
    free(part);
    free(resumed);
}

static void test_case(void **state)
{
    const req_case *c = *state;
    result *ref = malloc(sizeof *ref), *other = malloc(sizeof *other);
    assert_non_null(ref);
    assert_non_null(other);
    char *buf = dup_exact(c->raw, c->raw_len);
    int ran = 0, expected = 0;
    for (size_t p = 0; p < TEST_PATH_COUNT; p++) {
        expected += test_path_expected(test_paths[p]);
        if (!test_use_path(test_paths[p])) continue;
        run_case_on_path(c, buf, ran == 0 ? ref : other);
        /* Every path gives the scalar path's answer, field by field. */
        if (ran > 0) assert_same(other, ref, c->name);
        ran++;
    }
    assert_int_equal(ran, expected);
    free(buf);
    free(ref);
    free(other);
}

/* --- mutated requests: every path gives the same answer ----------------------------------- */

static uint64_t rng_state = 0x2545f4914f6cdd1du;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

static const char interesting[] = "\r\n :\t,;\"\0\x7f\x80\xff/*?#@[]%09aZ-.";

static size_t mutate(char *buf, size_t n, size_t cap)
{
    int rounds = 1 + (int)(rng() % 4);
    for (int i = 0; i < rounds; i++) {
        size_t pos = n ? (size_t)(rng() % n) : 0;
        char b = (rng() & 1) ? interesting[rng() % (sizeof interesting - 1)] : (char)rng();
        switch (rng() % 6) {
        case 0:
            if (n) buf[pos] = b;
            break;
        case 1:
            if (n < cap) {
                memmove(buf + pos + 1, buf + pos, n - pos);
                buf[pos] = b;
                n++;
            }
            break;
        case 2:
            if (n) {
                memmove(buf + pos, buf + pos + 1, n - pos - 1);
                n--;
            }
            break;
        case 3: {
            size_t len = n - pos < 24 ? n - pos : 24;
            if (n + len <= cap) {
                memmove(buf + pos + len, buf + pos, n - pos);
                n += len;
            }
            break;
        }
        case 4:
            n = pos;
            break;
        default:
            if (n) {
                size_t other = (size_t)(rng() % n);
                char t = buf[pos];
                buf[pos] = buf[other];
                buf[other] = t;
            }
            break;
        }
    }
    return n;
}

static void test_mutations_agree_across_paths(void **state)
{
    (void)state;
    static const flare_http_limits tiny = {8, 48, 3};
    const flare_http_limits *limit_sets[] = {&test_limits, &tiny, NULL};
    enum { CAPACITY = 1024, ITERATIONS = 6000 };
    char *work = malloc(CAPACITY);
    result *ref = malloc(sizeof *ref), *got = malloc(sizeof *got);
    assert_non_null(work);
    assert_non_null(ref);
    assert_non_null(got);
    size_t valid[N_CASES], n_valid = 0;
    for (size_t i = 0; i < N_CASES; i++)
        if (cases[i].status == 0) valid[n_valid++] = i;
    size_t accepted = 0, rejected = 0;
    for (int iter = 0; iter < ITERATIONS; iter++) {
        const req_case *c = &cases[valid[rng() % n_valid]];
        if (c->raw_len > CAPACITY) continue;
        memcpy(work, c->raw, c->raw_len);
        size_t n = mutate(work, c->raw_len, CAPACITY);
        char *buf = dup_exact(work, n);
        const flare_http_limits *lim = limit_sets[rng() % 3];
        size_t split = n ? (size_t)(rng() % n) : 0;
        bool first = true;
        for (size_t p = 0; p < TEST_PATH_COUNT; p++) {
            if (!test_use_path(test_paths[p])) continue;
            result *r = first ? ref : got;
            parse_into(r, buf, n, 0, lim);
            if (!first) assert_same(got, ref, "mutated input across paths");
            first = false;
            /* A prefix is incomplete or already has the whole message's answer. */
            char *prefix = dup_exact(buf, split);
            parse_into(got, prefix, split, 0, lim);
            free(prefix);
            if (got->rc == FLARE_EINCOMPLETE) {
                parse_into(got, buf, n, split, lim);
                assert_same(got, ref, "mutated input resumed");
            } else if (ref->rc > 0) {
                assert_int_equal(got->rc, ref->rc);
            } else {
                assert_int_equal(got->rc, ref->rc);
                assert_int_equal(got->status, ref->status);
            }
        }
        if (ref->rc > 0) accepted++;
        if (ref->rc == FLARE_EPARSE) rejected++;
        free(buf);
    }
    print_message("%d mutated requests: %zu accepted, %zu rejected\n", ITERATIONS, accepted,
                  rejected);
    /* The mutations must reach both outcomes to mean anything. */
    assert_true(accepted > 100);
    assert_true(rejected > 1000);
    free(work);
    free(ref);
    free(got);
}

/* --- chunk boundaries ---------------------------------------------------------------------- */

/* Field sections of every shape the chunk split must tell apart; each is placed
 * behind request lines of growing length, then behind a first value of growing
 * length, so that its colons, CRs, stop bytes and the head's end meet every
 * offset 0..130 of the 64-byte chunks: heads shorter than a chunk, heads ending
 * exactly at a chunk boundary, and names and values straddling one. */
static const struct {
    const char *fields;
    int status;
} shapes[] = {
    {"Host: a\r\n\r\n", 0},
    {"Host: a\r\nX-A: b\r\nX-Long-Field-Name: some value, more\r\n\r\n", 0},
    {"Host: a\r\nX:\r\n\r\n", 0},
    {"Host: a\r\nX:b \t\r\n\r\n", 0},
    {"Host: a\r\nX: \x7f\r\n\r\n", 400},
    {"Host: a\r\nX : b\r\n\r\n", 400},
    {"Host: a\r\nX: b\rc\r\n\r\n", 400},
    {"Host: a\r\n\tX: b\r\n\r\n", 400},
    {"Host: a\r\n: b\r\n\r\n", 400},
    {"Host: a\r\nX\x01: b\r\n\r\n", 400},
    {"Host: a\r\nX: b\n\r\n", 400},
};

/* Parses buf[0..n) on every path: each gives the scalar path's answer, the one
 * `status` says (0: the whole head), and every shorter prefix is incomplete or
 * already has that answer. */
static void check_on_every_path(const char *text, size_t n, int status, result *ref, result *got)
{
    char *buf = dup_exact(text, n);
    bool first = true;
    for (size_t p = 0; p < TEST_PATH_COUNT; p++) {
        if (!test_use_path(test_paths[p])) continue;
        result *r = first ? ref : got;
        parse_into(r, buf, n, 0, NULL);
        if (status == 0 && r->rc != (ssize_t)n)
            fail_msg("%s, %zu bytes: rc %zd status %d", flare_http_simd_name(test_paths[p]), n,
                     r->rc, r->status);
        if (status != 0 && (r->rc != FLARE_EPARSE || r->status != status))
            fail_msg("%s, %zu bytes: rc %zd status %d, want %d",
                     flare_http_simd_name(test_paths[p]), n, r->rc, r->status, status);
        if (!first) assert_same(got, ref, "chunk offsets");
        first = false;
        for (size_t k = n > 140 ? n - 140 : 0; k < n; k++) {
            char *prefix = dup_exact(buf, k);
            parse_into(got, prefix, k, 0, NULL);
            free(prefix);
            if (got->rc != FLARE_EINCOMPLETE &&
                (status == 0 || got->rc != FLARE_EPARSE || got->status != status))
                fail_msg("%zu-byte prefix of %zu bytes: rc %zd status %d", k, n, got->rc,
                         got->status);
        }
    }
    free(buf);
}

static void test_chunk_offsets(void **state)
{
    (void)state;
    enum { SHIFTS = 131 };
    char text[512], filler[SHIFTS];
    memset(filler, 'v', sizeof filler);
    result *ref = malloc(sizeof *ref), *got = malloc(sizeof *got);
    assert_non_null(ref);
    assert_non_null(got);
    size_t heads_at_boundary = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        for (size_t shift = 0; shift < SHIFTS; shift++) {
            /* The request line grows, or a first field does after the shortest one. */
            static const char *const grow[] = {"GET /%.*s HTTP/1.1\r\n%s",
                                               "GET / HTTP/1.1\r\nA: %.*s\r\n%s"};
            for (size_t g = 0; g < 2; g++) {
                int n = snprintf(text, sizeof text, grow[g], (int)shift, filler, shapes[s].fields);
                assert_true(n > 0 && (size_t)n < sizeof text);
                heads_at_boundary += n % 64 == 0;
                check_on_every_path(text, (size_t)n, shapes[s].status, ref, got);
            }
        }
    }
    /* Every shape ended at a chunk boundary at least twice (64 and 128 bytes). */
    assert_true(heads_at_boundary >= 2 * sizeof shapes / sizeof shapes[0]);
    free(ref);
    free(got);
}

/* Host values of every length up to past one 64-byte block, with one byte of
 * each class at every position and with ports, last in short and long heads: the
 * block checks of the SIMD paths (up to 32 or 64 bytes) give the scalar path's
 * answer. */
static void test_host_values_across_paths(void **state)
{
    (void)state;
    static const char odd[] = ":_A%[]0.-~/@ \x7f\x80";
    static const char *const ports[] = {"", ":80", ":8a", ":", "::1"};
    /* A head under 64 bytes takes the scalar pass on every path but AVX-512; the long
     * target makes every head at least that long, so a short value last in it is read
     * by the SIMD paths' blocks that end at its last byte. */
    static const char *const targets[] = {"/", "/a/target/long/enough/for/one/chunk/of/64/bytes"};
    char text[256], host[128];
    result *ref = malloc(sizeof *ref), *got = malloc(sizeof *got);
    assert_non_null(ref);
    assert_non_null(got);
    size_t accepted = 0, rejected = 0;
    for (size_t len = 1; len <= 70; len++) {
        for (size_t at = 0; at <= len; at++) {
            for (size_t o = 0; o < sizeof odd - 1; o++) {
                for (size_t q = 0; q < sizeof ports / sizeof ports[0]; q++) {
                    if ((at == len) != (o == 0)) continue; /* one unchanged value per port */
                    memset(host, 'h', len);
                    if (at < len) host[at] = odd[o];
                    for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
                        int n =
                            snprintf(text, sizeof text, "GET %s HTTP/1.1\r\nHost: %.*s%s\r\n\r\n",
                                     targets[t], (int)len, host, ports[q]);
                        assert_true(n > 0 && (size_t)n < sizeof text);
                        char *buf = dup_exact(text, (size_t)n);
                        bool first = true;
                        for (size_t p = 0; p < TEST_PATH_COUNT; p++) {
                            if (!test_use_path(test_paths[p])) continue;
                            parse_into(first ? ref : got, buf, (size_t)n, 0, NULL);
                            if (!first) assert_same(got, ref, text);
                            first = false;
                        }
                        accepted += ref->rc > 0;
                        rejected += ref->rc == FLARE_EPARSE && ref->status == 400;
                        free(buf);
                    }
                }
            }
        }
    }
    /* Both answers occur, for long values too. */
    assert_true(accepted > 1000);
    assert_true(rejected > 1000);
    free(ref);
    free(got);
}

/* --- API details ------------------------------------------------------------------------- */

static void test_null_and_defaults(void **state)
{
    (void)state;
    static const char req11[] = GET11 HOSTA "\r\n";
    flare_http_header hdrs[4];
    flare_http_request req = {.headers = hdrs, .max_headers_capacity = 4};
    int status = 99;
    assert_int_equal(flare_http_parse_request(req11, sizeof req11 - 1, 0, NULL, NULL, &status),
                     FLARE_EINVAL);
    assert_int_equal(flare_http_parse_request(NULL, 5, 0, NULL, &req, &status), FLARE_EINVAL);
    assert_int_equal(flare_http_parse_request(NULL, 0, 0, NULL, &req, &status), FLARE_EINCOMPLETE);
    assert_int_equal(status, 0);
    /* NULL status and NULL limits are fine. */
    assert_int_equal(flare_http_parse_request(req11, sizeof req11 - 1, 0, NULL, &req, NULL),
                     (ssize_t)(sizeof req11 - 1));
    /* status goes back to 0 after a success. */
    status = 400;
    assert_int_equal(flare_http_parse_request(req11, sizeof req11 - 1, 0, NULL, &req, &status),
                     (ssize_t)(sizeof req11 - 1));
    assert_int_equal(status, 0);
    /* last_len beyond len is not trusted. */
    assert_int_equal(flare_http_parse_request(req11, sizeof req11 - 1, 1000, NULL, &req, &status),
                     (ssize_t)(sizeof req11 - 1));
    /* No header array: no room for any field. */
    flare_http_request bare = {.headers = NULL, .max_headers_capacity = 10};
    assert_int_equal(flare_http_parse_request(GET10 "\r\n", 18, 0, NULL, &bare, &status), 18);
    assert_int_equal(flare_http_parse_request(req11, sizeof req11 - 1, 0, NULL, &bare, &status),
                     FLARE_EPARSE);
    assert_int_equal(status, 431);
}

static void test_default_limits(void **state)
{
    (void)state;
    enum { URI = FLARE_HTTP_DEFAULT_MAX_URI_BYTES };
    size_t cap = URI + 64;
    char *buf = malloc(cap);
    assert_non_null(buf);
    flare_http_header hdrs[4];
    flare_http_request req = {.headers = hdrs, .max_headers_capacity = 4};
    const flare_http_limits zero = {0, 0, 0};
    for (size_t extra = 0; extra < 2; extra++) {
        size_t tlen = URI + extra;
        memcpy(buf, "GET ", 4);
        buf[4] = '/';
        memset(buf + 5, 'a', tlen - 1);
        memcpy(buf + 4 + tlen, " HTTP/1.0\r\n\r\n", 13);
        size_t n = 4 + tlen + 13;
        int status = 0;
        ssize_t rc = flare_http_parse_request(buf, n, 0, NULL, &req, &status);
        ssize_t rc0 = flare_http_parse_request(buf, n, 0, &zero, &req, &status);
        if (extra == 0) {
            assert_int_equal(rc, (ssize_t)n);
            assert_int_equal(rc0, (ssize_t)n);
            assert_int_equal(req.target_len, URI);
        } else {
            assert_int_equal(rc, FLARE_EPARSE);
            assert_int_equal(rc0, FLARE_EPARSE);
            assert_int_equal(status, 414);
        }
    }
    free(buf);
}

/* 414 and 431 come before the head is complete: a client cannot stall us. */
static void test_early_limits(void **state)
{
    (void)state;
    const flare_http_limits lim = {16, 64, 4};
    flare_http_header hdrs[4];
    flare_http_request req = {.headers = hdrs, .max_headers_capacity = 4};
    int status = 0;
    static const char longt[] = "GET /0123456789abcdef";
    assert_int_equal(flare_http_parse_request(longt, sizeof longt - 2, 0, &lim, &req, &status),
                     FLARE_EINCOMPLETE);
    assert_int_equal(
        flare_http_parse_request(longt, sizeof longt - 1, sizeof longt - 2, &lim, &req, &status),
        FLARE_EPARSE);
    assert_int_equal(status, 414);
    char big[65];
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    memset(big + 19, 'v', sizeof big - 19);
    assert_int_equal(flare_http_parse_request(big, 64, 0, &lim, &req, &status), FLARE_EINCOMPLETE);
    assert_int_equal(flare_http_parse_request(big, 65, 64, &lim, &req, &status), FLARE_EPARSE);
    assert_int_equal(status, 431);
}

static void test_request_header_lookup(void **state)
{
    (void)state;
    static const char text[] = GET11 "X: 1\r\nHost: h\r\nCookie: a\r\ncookie: b\r\n\r\n";
    flare_http_header hdrs[8];
    flare_http_request req = {.headers = hdrs, .max_headers_capacity = 8};
    assert_int_equal(flare_http_parse_request(text, sizeof text - 1, 0, NULL, &req, NULL),
                     (ssize_t)(sizeof text - 1));
    const flare_http_header *h = flare_http_request_header(&req, FLARE_HDR_HOST);
    assert_ptr_equal(h, &hdrs[1]);
    assert_int_equal(req.host_index, 1);
    h = flare_http_request_header(&req, FLARE_HDR_COOKIE);
    assert_ptr_equal(h, &hdrs[2]);
    assert_memory_equal(h->value, "a", 1);
    assert_null(flare_http_request_header(&req, FLARE_HDR_CONTENT_LENGTH));
    assert_null(flare_http_request_header(&req, FLARE_HDR_OTHER));
    assert_null(flare_http_request_header(&req, FLARE_HDR__COUNT));
    assert_null(flare_http_request_header(NULL, FLARE_HDR_HOST));
}

int main(void)
{
    static struct CMUnitTest tests[N_CASES + 7];
    size_t n = 0;
    for (size_t i = 0; i < N_CASES; i++) {
        tests[n].name = cases[i].name;
        tests[n].test_func = test_case;
        tests[n].initial_state = (void *)&cases[i];
        n++;
    }
    const struct CMUnitTest extra[] = {
        cmocka_unit_test(test_mutations_agree_across_paths),
        cmocka_unit_test(test_chunk_offsets),
        cmocka_unit_test(test_host_values_across_paths),
        cmocka_unit_test(test_null_and_defaults),
        cmocka_unit_test(test_default_limits),
        cmocka_unit_test(test_early_limits),
        cmocka_unit_test(test_request_header_lookup),
    };
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        tests[n++] = extra[i];
    return _cmocka_run_group_tests("parse_request", tests, n, NULL, NULL);
}
