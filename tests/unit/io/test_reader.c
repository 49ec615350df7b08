/*
 * test_reader.c: flare_io_reader over a memory stream that delivers its bytes in
 * chunks of any size and can answer FLARE_EAGAIN or fail on chosen calls, so every
 * path (split delimiters, compaction, limits, retries after would-block) is exact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "flare/io.h"

struct mem_src {
    const char *data;
    size_t len, pos;
    size_t chunk;     /* most bytes per read, 0 = no limit */
    int eagain_every; /* every Nth call answers FLARE_EAGAIN, 0 = never */
    int fail_at_call; /* this call fails with FLARE_ECONNRESET, 0 = never */
    int calls;
    size_t max_len_seen;
};

static ssize_t mem_read(void *ctx, void *buf, size_t len, flare_error *err)
{
    struct mem_src *m = ctx;
    m->calls++;
    if (len > m->max_len_seen) m->max_len_seen = len;
    if (m->fail_at_call && m->calls == m->fail_at_call)
        return flare_error_set(err, FLARE_ECONNRESET, 0, "injected reset");
    if (m->eagain_every && m->calls % m->eagain_every == 0)
        return flare_error_set(err, FLARE_EAGAIN, 0, "injected would-block");
    size_t n = m->len - m->pos;
    if (n > len) n = len;
    if (m->chunk && n > m->chunk) n = m->chunk;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (ssize_t)n;
}

static struct mem_src mem(const char *s, size_t chunk, int eagain_every)
{
    return (struct mem_src){
        .data = s, .len = strlen(s), .chunk = chunk, .eagain_every = eagain_every};
}

static void reader_on(flare_io_reader *r, struct mem_src *m, size_t size)
{
    flare_error err;
    if (flare_io_reader_init(r, (flare_io_stream){mem_read, m}, NULL, size, &err) < 0)
        fail_msg("init: %s", err.message);
}

/* read_line, retrying FLARE_EAGAIN as a reactor would on the next readiness. */
static ssize_t line_retrying(flare_io_reader *r, size_t max, const char **line, size_t *len)
{
    flare_error err;
    for (int tries = 0; tries < 1000; tries++) {
        ssize_t n = flare_io_reader_read_line(r, max, line, len, &err);
        if (n != FLARE_EAGAIN) return n;
    }
    fail_msg("never progressed");
    return -1;
}

static void expect_line(flare_io_reader *r, const char *want, ssize_t consumed)
{
    const char *line;
    size_t len;
    assert_int_equal(line_retrying(r, r->cap, &line, &len), consumed);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(line, want, len);
}

static void test_lines_crlf_lf_and_tail(void **state)
{
    for (size_t chunk = 1; chunk <= 7; chunk++) {
        struct mem_src m = mem("GET / HTTP/1.1\r\nHost: a\n\r\n\nlast", chunk, 2);
        flare_io_reader r;
        reader_on(&r, &m, 32);
        expect_line(&r, "GET / HTTP/1.1", 16);
        expect_line(&r, "Host: a", 8);
        expect_line(&r, "", 2); /* an empty line still consumes its terminator */
        expect_line(&r, "", 1);
        expect_line(&r, "last", 4); /* unterminated tail at end of stream */
        const char *line;
        size_t len;
        assert_int_equal(line_retrying(&r, 32, &line, &len), 0);
        assert_int_equal(line_retrying(&r, 32, &line, &len), 0);
        flare_io_reader_free(&r);
    }
}

static void test_read_until_limit_consumes_nothing(void **state)
{
    struct mem_src m = mem("0123456789;rest", 4, 0);
    flare_io_reader r;
    reader_on(&r, &m, 16);
    const char *p;
    flare_error err;
    assert_int_equal(flare_io_reader_read_until(&r, ';', 5, &p, &err), FLARE_ELIMIT);
    assert_int_equal(err.code, FLARE_ELIMIT);
    assert_true(flare_io_reader_buffered(&r) >= 5);
    assert_int_equal(flare_io_reader_read_until(&r, ';', 11, &p, &err), 11);
    assert_memory_equal(p, "0123456789;", 11);
    assert_int_equal(flare_io_reader_read_until(&r, ';', 16, &p, &err), 4);
    assert_memory_equal(p, "rest", 4);
    assert_int_equal(flare_io_reader_read_until(&r, ';', 16, &p, &err), 0);
    /* A limit beyond the buffer could never be enforced without consuming: refused. */
    assert_int_equal(flare_io_reader_read_until(&r, ';', 17, &p, &err), FLARE_EINVAL);
    assert_int_equal(flare_io_reader_read_until(&r, ';', 0, &p, &err), FLARE_EINVAL);
    assert_int_equal(flare_io_reader_read_until(&r, ';', 4, NULL, &err), FLARE_EINVAL);
    flare_io_reader_free(&r);
}

static void test_line_at_exact_limit(void **state)
{
    struct mem_src m = mem("abcdefg\nabcdefgh\n", 3, 0);
    flare_io_reader r;
    reader_on(&r, &m, 8);
    const char *line;
    size_t len;
    flare_error err;
    assert_int_equal(flare_io_reader_read_line(&r, 8, &line, &len, &err), 8); /* fits: 7 + LF */
    assert_int_equal(flare_io_reader_read_line(&r, 8, &line, &len, &err), FLARE_ELIMIT);
    flare_io_reader_free(&r);
}

static void test_compaction_keeps_order(void **state)
{
    char data[400] = "";
    for (int i = 0; i < 40; i++)
        strcat(data, i % 2 ? "odd:line\n" : "ab\n");
    struct mem_src m = mem(data, 5, 3);
    flare_io_reader r;
    reader_on(&r, &m, 12);
    for (int i = 0; i < 40; i++)
        expect_line(&r, i % 2 ? "odd:line" : "ab", i % 2 ? 9 : 3);
    flare_io_reader_free(&r);
}

static void test_delimiter_change_rescans(void **state)
{
    /* The ';' search stops at EAGAIN having scanned "a,b"; a ',' search must not skip it. */
    struct mem_src m = mem("a,b;c", 3, 2);
    flare_io_reader r;
    reader_on(&r, &m, 16);
    const char *p;
    flare_error err;
    assert_int_equal(flare_io_reader_read_until(&r, ';', 16, &p, &err), FLARE_EAGAIN);
    assert_int_equal(flare_io_reader_read_until(&r, ',', 16, &p, &err), 2);
    assert_memory_equal(p, "a,", 2);
    ssize_t n;
    while ((n = flare_io_reader_read_until(&r, ';', 16, &p, &err)) == FLARE_EAGAIN) {
    }
    assert_int_equal(n, 2);
    assert_memory_equal(p, "b;", 2);
    flare_io_reader_free(&r);
}

static void test_read_exact(void **state)
{
    struct mem_src m = mem("0123456789abcdef", 3, 2);
    flare_io_reader r;
    reader_on(&r, &m, 16);
    char buf[16];
    flare_error err;
    int rc;
    /* Within the buffer size, FLARE_EAGAIN consumes nothing: retrying is exact. */
    while ((rc = flare_io_reader_read_exact(&r, buf, 10, &err)) == FLARE_EAGAIN) {
    }
    assert_int_equal(rc, 0);
    assert_memory_equal(buf, "0123456789", 10);
    while ((rc = flare_io_reader_read_exact(&r, buf, 8, &err)) == FLARE_EAGAIN) {
    }
    assert_int_equal(rc, FLARE_ECLOSED); /* only 6 left */
    assert_non_null(strstr(err.message, "6 of 8"));
    flare_io_reader_free(&r);
}

static void test_read_exact_beyond_buffer(void **state)
{
    char data[101];
    for (int i = 0; i < 100; i++)
        data[i] = (char)('a' + i % 26);
    data[100] = '\0';
    struct mem_src m = mem(data, 7, 0);
    flare_io_reader r;
    reader_on(&r, &m, 8);
    char buf[100];
    flare_error err;
    assert_int_equal(flare_io_reader_read_exact(&r, buf, 100, &err), 0);
    assert_memory_equal(buf, data, 100);
    assert_int_equal(flare_io_reader_read_exact(&r, buf, 20, &err), FLARE_ECLOSED); /* at end */
    flare_io_reader_free(&r);
}

static void test_large_read_bypasses_buffer(void **state)
{
    char data[200];
    memset(data, 'z', sizeof data - 1);
    data[199] = '\0';
    struct mem_src m = mem(data, 0, 0);
    flare_io_reader r;
    reader_on(&r, &m, 16);
    char buf[64];
    flare_error err;
    assert_int_equal(flare_io_reader_read(&r, buf, sizeof buf, &err), 64);
    assert_int_equal(m.max_len_seen, 64); /* straight into buf, not through the 16-byte buffer */
    assert_int_equal(flare_io_reader_buffered(&r), 0);
    assert_int_equal(flare_io_reader_read(&r, buf, 4, &err), 4); /* small: fills the buffer */
    assert_int_equal(flare_io_reader_buffered(&r), 12);
    int calls = m.calls;
    assert_int_equal(flare_io_reader_read(&r, buf, sizeof buf, &err), 12); /* buffered first */
    assert_int_equal(m.calls, calls);
    assert_int_equal(flare_io_reader_read(&r, buf, 0, &err), 0);
    flare_io_reader_free(&r);
}

static void test_peek_and_consume(void **state)
{
    struct mem_src m = mem("HTTP/1.1 200 OK", 2, 0);
    flare_io_reader r;
    reader_on(&r, &m, 8);
    const char *p;
    flare_error err;
    ssize_t n = flare_io_reader_peek(&r, 5, &p, &err);
    assert_true(n >= 5);
    assert_memory_equal(p, "HTTP/", 5);
    assert_int_equal(flare_io_reader_peek(&r, 5, &p, &err), n); /* nothing consumed */
    flare_io_reader_consume(&r, 5);
    char buf[16];
    assert_int_equal(flare_io_reader_read_exact(&r, buf, 3, &err), 0);
    assert_memory_equal(buf, "1.1", 3);
    assert_int_equal(flare_io_reader_peek(&r, 9, &p, &err), FLARE_EINVAL);
    flare_io_reader_consume(&r, 1000); /* more than buffered: drops what is there */
    assert_int_equal(flare_io_reader_buffered(&r), 0);
    n = flare_io_reader_peek(&r, 8, &p, &err);
    assert_true(n >= 1 && n < 8); /* end of stream came first */
    flare_io_reader_free(&r);
}

static void test_source_errors_propagate(void **state)
{
    struct mem_src m = mem("abc\ndef\n", 2, 0);
    m.fail_at_call = 3;
    flare_io_reader r;
    reader_on(&r, &m, 16);
    const char *line;
    size_t len;
    flare_error err;
    assert_int_equal(flare_io_reader_read_line(&r, 16, &line, &len, &err), 4);
    assert_int_equal(flare_io_reader_read_line(&r, 16, &line, &len, &err), FLARE_ECONNRESET);
    assert_string_equal(err.message, "injected reset");
    flare_io_reader_free(&r);
}

static void test_init_and_storage(void **state)
{
    struct mem_src m = mem("x\n", 0, 0);
    flare_io_reader r;
    flare_error err;
    char storage[32];
    assert_int_equal(
        flare_io_reader_init(&r, (flare_io_stream){mem_read, &m}, storage, sizeof storage, &err),
        0);
    assert_ptr_equal(r.buf, storage);
    expect_line(&r, "x", 2);
    flare_io_reader_free(&r); /* must not free the caller's storage (ASan would say) */
    flare_io_reader_free(&r);
    assert_int_equal(flare_io_reader_init(&r, (flare_io_stream){mem_read, &m}, storage, 0, &err),
                     FLARE_EINVAL);
    assert_int_equal(flare_io_reader_init(&r, (flare_io_stream){NULL, &m}, NULL, 0, &err),
                     FLARE_EINVAL);
    assert_int_equal(flare_io_reader_init(NULL, (flare_io_stream){mem_read, &m}, NULL, 0, &err),
                     FLARE_EINVAL);
    assert_int_equal(flare_io_reader_init(&r, (flare_io_stream){mem_read, &m}, NULL, 0, &err), 0);
    assert_int_equal(r.cap, FLARE_IO_READER_DEFAULT_SIZE);
    flare_io_reader_free(&r);
    char buf[4];
    assert_int_equal(flare_io_reader_read(&r, buf, sizeof buf, &err), FLARE_EINVAL);
    assert_int_equal(flare_io_reader_buffered(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_crlf_lf_and_tail),
        cmocka_unit_test(test_read_until_limit_consumes_nothing),
        cmocka_unit_test(test_line_at_exact_limit),
        cmocka_unit_test(test_compaction_keeps_order),
        cmocka_unit_test(test_delimiter_change_rescans),
        cmocka_unit_test(test_read_exact),
        cmocka_unit_test(test_read_exact_beyond_buffer),
        cmocka_unit_test(test_large_read_bypasses_buffer),
        cmocka_unit_test(test_peek_and_consume),
        cmocka_unit_test(test_source_errors_propagate),
        cmocka_unit_test(test_init_and_storage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
