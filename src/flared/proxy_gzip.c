/*
 * proxy_gzip.c: gzip of proxied responses on the fly (the proxy route's `gzip`),
 * as nginx's gzip filter with `gzip_proxied any`: which responses qualify, and
 * the deflate streams that compress them. Streams are kept per worker and reset
 * for reuse, so a compressed response allocates nothing once the worker has
 * warmed up. Each piece the upstream sends is compressed and flushed at once
 * (Z_SYNC_FLUSH), so a streamed response (server-sent events, long polls) is not
 * held back waiting for more.
 */
#include "proxy_gzip.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "proxy.h"
#include "static_internal.h"

/* Idle streams kept per worker; more than this many compressing at once are freed
 * when they end. Each holds zlib's default window and hash (about 256 KiB). */
#define POOL_MAX 16
/* Compressed bytes written to the client per deflate call. */
#define OUT_CHUNK 16384

struct flared_proxy_gzip {
    z_stream z;
    int level;
    bool finished;
    flared_proxy_gzip *next; /* the pool */
};

/* Per-worker state: a worker is one single-threaded process. */
static struct {
    flared_proxy_gzip *idle;
    size_t idle_count;
    unsigned char out[OUT_CHUNK];
} pool;

bool flared_proxy_gzip_accepted(const flare_http_request *head)
{
    flared_coding order[FLARED_CODING__COUNT];
    size_t n = flared_static_accept_encoding(head, order);
    /* gzip only where the client ranks it above identity (br is not made here). */
    for (size_t i = 0; i < n && order[i] != FLARED_CODING_IDENTITY; i++)
        if (order[i] == FLARED_CODING_GZIP) return true;
    return false;
}

unsigned flared_proxy_gzip_plan(const flared_gzip_config *g, const flare_http_response *r,
                                bool accepted)
{
    if (!g || !g->enabled) return 0;
    /* The statuses whose bodies are the resource or a page about it, as nginx. */
    if (r->status != 200 && r->status != 403 && r->status != 404) return 0;
    if (r->content_length >= 0 && (uint64_t)r->content_length < g->min_size) return 0;
    char type[128] = "";
    for (size_t i = 0; i < r->num_headers; i++) {
        const flare_http_header *h = &r->headers[i];
        if (h->id == FLARE_HDR_CONTENT_ENCODING) {
            /* Coded already (identity is no coding, RFC 9110 §8.4.1). */
            if (!(h->value_len == 8 && strncasecmp(h->value, "identity", 8) == 0)) return 0;
        } else if (h->id == FLARE_HDR_CONTENT_TYPE) {
            size_t len = h->value_len < sizeof type - 1 ? h->value_len : sizeof type - 1;
            memcpy(type, h->value, len);
            type[len] = '\0';
        } else if (flared_proxy_field_is(h, "content-range")) {
            return 0; /* a part's offsets are the identity bytes' */
        } else if (flared_proxy_field_is(h, "cache-control") &&
                   flare_http_value_has_token(h->value, h->value_len, "no-transform")) {
            return 0; /* RFC 9110 §7.7: a proxy MUST NOT transform the content */
        }
    }
    if (!type[0] || !flared_static_gzip_type(g, type)) return 0;
    /* Vary either way: a cache must keep the two answers apart (RFC 9110 §12.5.5). */
    return FLARED_GZIP_VARY | (accepted ? FLARED_GZIP_ENCODE : 0);
}

flared_proxy_gzip *flared_proxy_gzip_start(int level)
{
    flared_proxy_gzip *z = pool.idle;
    if (z) {
        pool.idle = z->next;
        pool.idle_count--;
        if (deflateReset(&z->z) != Z_OK ||
            (z->level != level && deflateParams(&z->z, level, Z_DEFAULT_STRATEGY) != Z_OK)) {
            deflateEnd(&z->z);
            free(z);
            return NULL;
        }
    } else {
        if (!(z = calloc(1, sizeof *z))) return NULL;
        /* 15 + 16: a 32 KiB window in a gzip wrapper (RFC 1952). */
        if (deflateInit2(&z->z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
            free(z);
            return NULL;
        }
    }
    z->level = level;
    z->finished = false;
    return z;
}

int flared_proxy_gzip_write(flared_proxy_gzip *z, flare_http_stream *s, const void *data,
                            size_t len, bool last)
{
    if (z->finished) return 0;
    z->z.next_in = (Bytef *)(uintptr_t)data;
    z->z.avail_in = (uInt)len;
    int flush = last ? Z_FINISH : Z_SYNC_FLUSH, written = 0;
    for (;;) {
        z->z.next_out = pool.out;
        z->z.avail_out = sizeof pool.out;
        int rc = deflate(&z->z, flush);
        if (rc == Z_STREAM_ERROR) return FLARE_EINVAL;
        size_t n = sizeof pool.out - z->z.avail_out;
        if (n) {
            int w = flare_http_stream_write(s, pool.out, n);
            if (w < 0) return w;
            if (w > written) written = w;
        }
        if (rc == Z_STREAM_END) {
            z->finished = true;
            break;
        }
        /* A full buffer means zlib has more to give; otherwise it took everything. */
        if (z->z.avail_out != 0) break;
    }
    return written;
}

bool flared_proxy_gzip_finished(const flared_proxy_gzip *z)
{
    return z->finished;
}

void flared_proxy_gzip_release(flared_proxy_gzip *z)
{
    if (!z) return;
    if (pool.idle_count < POOL_MAX) {
        z->next = pool.idle;
        pool.idle = z;
        pool.idle_count++;
        return;
    }
    deflateEnd(&z->z);
    free(z);
}

void flared_proxy_gzip_pool_free(void)
{
    while (pool.idle) {
        flared_proxy_gzip *z = pool.idle;
        pool.idle = z->next;
        deflateEnd(&z->z);
        free(z);
    }
    pool.idle_count = 0;
}
