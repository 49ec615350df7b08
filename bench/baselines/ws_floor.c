/*
 * ws_floor.c: the system-call floor of bench/run_ws_echo.sh. One thread, one epoll
 * set, one read per readiness. After the opening handshake it echoes every client
 * frame: it unmasks the payload where it lies, writes the server's header over the
 * client's (which is always 4 bytes longer) and sends all frames of a read in one
 * writev. It checks no rule, validates no UTF-8, enforces no limit and copies no
 * payload, so no real WebSocket server can be cheaper per message than this.
 * Usage: ws_floor PORT   (listens on 127.0.0.1:PORT; built by run_ws_echo.sh with
 * gcc -O2 -lcrypto)
 */
#include "floor_server.h" /* first: it defines _GNU_SOURCE */

#include <openssl/evp.h>
#include <stdint.h>
#include <sys/uio.h>

#define IN_BYTES   (1u << 20) /* largest frame (header and payload) a connection takes */
#define MAX_FRAMES 64         /* frames one writev carries */

typedef struct conn {
    unsigned char *in; /* received, not yet echoed; NULL: no connection */
    size_t len;
    unsigned char *out; /* bytes a full socket refused, sent on EPOLLOUT */
    size_t out_len;
    int upgraded;
} conn;

static conn *conns;

static void close_conn(int fd)
{
    free(conns[fd].in);
    free(conns[fd].out);
    memset(&conns[fd], 0, sizeof conns[fd]);
    close(fd);
}

/* Sends iov[0..n) in one writev; keeps what the socket refused. -1: close. */
static int send_all(int ep, int fd, struct iovec *iov, int n)
{
    conn *c = &conns[fd];
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    ssize_t sent;
    do {
        sent = writev(fd, iov, n);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0 && errno != EAGAIN) return -1;
    if (sent < 0) sent = 0;
    if ((size_t)sent == total) return 0;
    unsigned char *out = realloc(c->out, c->out_len + total - (size_t)sent);
    if (!out) return -1;
    c->out = out;
    for (int i = 0; i < n; i++) {
        size_t skip = (size_t)sent < iov[i].iov_len ? (size_t)sent : iov[i].iov_len;
        sent -= (ssize_t)skip;
        memcpy(c->out + c->out_len, (char *)iov[i].iov_base + skip, iov[i].iov_len - skip);
        c->out_len += iov[i].iov_len - skip;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
    return epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

static int echo(int ep, int fd);

/* Sends what a full socket refused, then the frames that waited behind it. */
static int flush_out(int ep, int fd)
{
    conn *c = &conns[fd];
    while (c->out_len) {
        ssize_t n = send(fd, c->out, c->out_len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno == EAGAIN ? 0 : -1;
        memmove(c->out, c->out + n, c->out_len - (size_t)n);
        c->out_len -= (size_t)n;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) < 0) return -1;
    return c->upgraded && c->len ? echo(ep, fd) : 0;
}

/* Answers the upgrade request once its head is in; -1: close. */
static int handshake(int ep, int fd)
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    conn *c = &conns[fd];
    unsigned char *end = memmem(c->in, c->len, "\r\n\r\n", 4);
    if (!end) return c->len < 8192 ? 0 : -1;
    c->in[end - c->in] = '\0';
    char *key = strcasestr((char *)c->in, "\r\nSec-WebSocket-Key:");
    if (!key) return -1;
    key += 20;
    while (*key == ' ')
        key++;
    size_t key_len = strcspn(key, " \r");
    char input[128];
    if (key_len + sizeof guid > sizeof input) return -1;
    memcpy(input, key, key_len);
    memcpy(input + key_len, guid, sizeof guid - 1);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned digest_len;
    if (!EVP_Digest(input, key_len + sizeof guid - 1, digest, &digest_len, EVP_sha1(), NULL))
        return -1;
    char accept_b64[64];
    EVP_EncodeBlock((unsigned char *)accept_b64, digest, (int)digest_len);
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                     accept_b64);
    size_t used = (size_t)(end - c->in) + 4;
    memmove(c->in, c->in + used, c->len - used);
    c->len -= used;
    c->upgraded = 1;
    struct iovec iov = {head, (size_t)n};
    return send_all(ep, fd, &iov, 1);
}

static void unmask(unsigned char *p, size_t n, const unsigned char key[4])
{
    uint64_t k8;
    unsigned char k[8] = {key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]};
    memcpy(&k8, k, 8);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        w ^= k8;
        memcpy(p + i, &w, 8);
    }
    for (; i < n; i++)
        p[i] ^= key[i & 3];
}

/* Echoes the whole frames of in[*pos..len), up to MAX_FRAMES in one writev; returns
 * how many (0: none whole yet), or -1: close. */
static int echo_batch(int ep, int fd, size_t *pos)
{
    conn *c = &conns[fd];
    struct iovec iov[MAX_FRAMES];
    int frames = 0;
    while (c->len - *pos >= 2 && frames < MAX_FRAMES) {
        unsigned char *f = c->in + *pos;
        size_t avail = c->len - *pos, head = 6;
        uint64_t len = f[1] & 0x7f;
        if (!(f[1] & 0x80)) return -1; /* client frames are masked */
        if (len == 126) head = 8;
        if (len == 127) head = 14;
        if (avail < head) break;
        if (len == 126) len = (uint64_t)f[2] << 8 | f[3];
        if (len == 127) {
            len = 0;
            for (int i = 2; i < 10; i++)
                len = len << 8 | f[i];
        }
        if (len > IN_BYTES - head) return -1;
        if (avail < head + len) break;
        unsigned char *payload = f + head;
        unmask(payload, (size_t)len, payload - 4);
        unsigned char *out = payload - (head - 4); /* the server's header, over the key */
        out[0] = f[0];
        out[1] = (unsigned char)(head == 6 ? len : head == 8 ? 126 : 127);
        for (size_t i = 2; i < head - 4; i++)
            out[i] = (unsigned char)(len >> (8 * (head - 5 - i)));
        iov[frames++] = (struct iovec){out, (size_t)(payload + len - out)};
        *pos += head + (size_t)len;
        if ((f[0] & 0x0f) == 0x8) { /* a close frame: echo it, then hang up */
            send_all(ep, fd, iov, frames);
            return -1;
        }
    }
    if (frames && send_all(ep, fd, iov, frames) < 0) return -1;
    return frames;
}

/* Echoes every whole frame in `in` and keeps a partial one; -1: close. */
static int echo(int ep, int fd)
{
    conn *c = &conns[fd];
    size_t pos = 0;
    int n;
    while ((n = echo_batch(ep, fd, &pos)) > 0 && !c->out_len)
        continue;
    if (n < 0) return -1;
    memmove(c->in, c->in + pos, c->len - pos);
    c->len -= pos;
    return 0;
}

static void on_readable(int ep, int fd)
{
    conn *c = &conns[fd];
    if (c->out_len) return; /* waiting for EPOLLOUT: input stays in the socket */
    ssize_t n = read(fd, c->in + c->len, IN_BYTES - c->len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
        close_conn(fd);
        return;
    }
    c->len += (size_t)n;
    if (!c->upgraded && handshake(ep, fd) < 0) {
        close_conn(fd);
        return;
    }
    if (c->upgraded && c->len && echo(ep, fd) < 0) close_conn(fd);
}

static int on_accepted(int ep, int fd)
{
    (void)ep;
    return (conns[fd].in = malloc(IN_BYTES)) ? 0 : -1;
}

static int on_writable(int ep, int fd)
{
    return flush_out(ep, fd);
}

int main(int argc, char **argv)
{
    conns = calloc(floor_conn_limit(), sizeof *conns);
    if (!conns) {
        fprintf(stderr, "ws_floor: out of memory\n");
        return 1;
    }
    return floor_serve("ws_floor", argc, argv);
}
