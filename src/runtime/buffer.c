/*
 * buffer.c: growable byte buffers. Capacity grows geometrically from 256 bytes;
 * a buffer never shrinks on its own (flare_buf_free returns the memory). Sizes
 * are checked for overflow before any arithmetic reaches malloc.
 */
#include "flare/runtime.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int flare_buf_reserve(flare_buf *b, size_t extra)
{
    if (b->cap - b->len >= extra) return 0;
    if (extra > SIZE_MAX / 2 - b->len) return FLARE_ELIMIT;
    size_t need = b->len + extra;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) return FLARE_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int flare_buf_append(flare_buf *b, const void *p, size_t n)
{
    int rc = flare_buf_reserve(b, n);
    if (rc < 0) return rc;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int flare_buf_append_str(flare_buf *b, const char *s)
{
    return flare_buf_append(b, s, strlen(s));
}

int flare_buf_appendf(flare_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->data ? b->data + b->len : NULL, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) return FLARE_EINVAL;
    if ((size_t)n >= b->cap - b->len) {
        int rc = flare_buf_reserve(b, (size_t)n + 1);
        if (rc < 0) return rc;
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
    return 0;
}

void flare_buf_consume(flare_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void flare_buf_free(flare_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}
