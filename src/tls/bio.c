/*
 * bio.c: the socket BIO under every flare TLS connection. OpenSSL's own socket BIO
 * write()s, which raises SIGPIPE when the peer has gone; this one send()s with
 * MSG_NOSIGNAL and retries EINTR itself. It also remembers whether the last recv()
 * filled all the room it was given: only then may the socket still hold bytes that
 * no new edge-triggered event will announce. Conversely, once a recv() has come back
 * short or with EAGAIN, an owner that reports every new edge (tls_socket_bio_track)
 * gets "retry" from later reads without a system call until it reports one: the
 * read OpenSSL makes right after sending its handshake flight would only fail.
 * The first bytes the peer ever sent are kept, so a failed server handshake can
 * tell a plain HTTP request from garbage whatever its method.
 */
#include <errno.h>
#include <openssl/bio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tls_internal.h"

struct socket_bio {
    int fd;
    bool eof;          /* recv() returned 0: BIO_CTRL_EOF tells OpenSSL it was a real EOF */
    bool maybe_more;   /* the last recv() filled its buffer */
    bool tracked;      /* the owner reports every readiness edge (tls_socket_bio_readable) */
    bool drained;      /* tracked, and no edge since a recv() found the socket empty */
    int write_errno;   /* EPIPE or ECONNRESET from an earlier send(): the peer is gone */
    uint8_t first_len; /* bytes of first[] filled */
    unsigned char first[TLS_FIRST_BYTES]; /* the start of what the peer sent */
};

static BIO_METHOD *socket_method;
static pthread_once_t socket_method_once = PTHREAD_ONCE_INIT;

static int socket_write(BIO *b, const char *data, size_t len, size_t *written)
{
    struct socket_bio *s = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    /* A peer that reset or closed stays gone: OpenSSL's later records (the second
     * session ticket, the alert it sends on an unexpected EOF, close_notify) would
     * only fail again, one system call each. */
    if (s->write_errno) {
        errno = s->write_errno;
        return 0;
    }
    for (;;) {
        ssize_t n = send(s->fd, data, len, MSG_NOSIGNAL);
        if (n >= 0) {
            *written = (size_t)n;
            return 1;
        }
        if (errno == EINTR) continue;
        if (errno == EPIPE || errno == ECONNRESET) s->write_errno = errno;
        if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_write(b);
        return 0;
    }
}

static int socket_read(BIO *b, char *buf, size_t len, size_t *read_bytes)
{
    struct socket_bio *s = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    s->maybe_more = false;
    if (s->drained) {
        errno = EAGAIN;
        BIO_set_retry_read(b);
        return 0;
    }
    for (;;) {
        ssize_t n = recv(s->fd, buf, len, 0);
        if (n > 0) {
            *read_bytes = (size_t)n;
            if (s->first_len < sizeof s->first) {
                size_t take = sizeof s->first - s->first_len;
                if (take > (size_t)n) take = (size_t)n;
                memcpy(s->first + s->first_len, buf, take);
                s->first_len = (uint8_t)(s->first_len + take);
            }
            s->maybe_more = (size_t)n == len;
            /* Bytes that arrive after this recv() raise a new edge. */
            s->drained = s->tracked && !s->maybe_more;
            return 1;
        }
        if (n == 0) {
            s->eof = len > 0;
            return 0;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            s->drained = s->tracked;
            BIO_set_retry_read(b);
        }
        return 0;
    }
}

static long socket_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    struct socket_bio *s = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH: /* nothing is buffered here */
        return 1;
    case BIO_CTRL_EOF:
        return s && s->eof;
    case BIO_C_GET_FD:
        if (!s) return -1;
        if (ptr) *(int *)ptr = s->fd;
        return s->fd;
    default: /* no kTLS on these machines: BIO_CTRL_GET_KTLS_* answer 0 */
        return 0;
    }
}

static int socket_destroy(BIO *b)
{
    free(BIO_get_data(b));
    BIO_set_data(b, NULL);
    return 1;
}

static void make_socket_method(void)
{
    int type = BIO_get_new_index();
    if (type < 0) return;
    BIO_METHOD *m = BIO_meth_new(type | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "flare socket");
    if (!m) return;
    if (!BIO_meth_set_write_ex(m, socket_write) || !BIO_meth_set_read_ex(m, socket_read) ||
        !BIO_meth_set_ctrl(m, socket_ctrl) || !BIO_meth_set_destroy(m, socket_destroy)) {
        BIO_meth_free(m);
        return;
    }
    socket_method = m;
}

BIO *tls_socket_bio_new(int fd)
{
    pthread_once(&socket_method_once, make_socket_method);
    if (!socket_method) return NULL;
    struct socket_bio *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    BIO *b = BIO_new(socket_method);
    if (!b) {
        free(s);
        return NULL;
    }
    s->fd = fd;
    BIO_set_data(b, s);
    BIO_set_init(b, 1);
    return b;
}

void tls_socket_bio_track(BIO *bio, bool on)
{
    struct socket_bio *s = bio ? BIO_get_data(bio) : NULL;
    if (!s) return;
    s->tracked = on;
    s->drained = false;
}

void tls_socket_bio_readable(BIO *bio)
{
    struct socket_bio *s = bio ? BIO_get_data(bio) : NULL;
    if (s) s->drained = false;
}

bool tls_socket_bio_maybe_more(BIO *bio)
{
    struct socket_bio *s = bio ? BIO_get_data(bio) : NULL;
    return s && s->maybe_more;
}

size_t tls_socket_bio_first_bytes(BIO *bio, const unsigned char **out)
{
    struct socket_bio *s = bio ? BIO_get_data(bio) : NULL;
    *out = s ? s->first : NULL;
    return s ? s->first_len : 0;
}
