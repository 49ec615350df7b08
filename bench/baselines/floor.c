/*
 * floor.c: the system-call floor of bench/run_tfb.sh. One thread, one epoll set,
 * one read per readiness; it counts request terminators ("\r\n\r\n") across reads
 * and answers each with the same canned response, all of a batch in one send. It
 * parses nothing, so no real HTTP server can be cheaper per request than this.
 * Usage: floor PORT   (listens on 127.0.0.1:PORT; built by run_tfb.sh with gcc -O2)
 */
#include "floor_server.h" /* first: it defines _GNU_SOURCE */

#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#define BATCH_COPIES 256 /* canned responses one send can carry */
#define READ_BYTES   65536

typedef struct conn {
    uint64_t pending; /* response bytes owed to the client */
    uint32_t phase;   /* bytes of the current canned response already sent */
    uint8_t match;    /* bytes of "\r\n\r\n" matched at the end of the last read */
    uint8_t want_out; /* EPOLLOUT registered */
} conn;

static char response_batch[BATCH_COPIES * 192];
static size_t response_len;
static conn *conns;

static void build_response(void)
{
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    /* The date is fixed at start: refreshing it is work a real server does. */
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    char one[192];
    int n = snprintf(one, sizeof one,
                     "HTTP/1.1 200 OK\r\nServer: floor\r\nDate: %s\r\n"
                     "Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!",
                     date);
    response_len = (size_t)n;
    for (size_t i = 0; i < BATCH_COPIES; i++)
        memcpy(response_batch + i * response_len, one, response_len);
}

/* Counts complete "\r\n\r\n" sequences, carrying a partial match between reads. */
static uint64_t count_terminators(const unsigned char *p, size_t n, uint8_t *match)
{
    static const unsigned char pat[4] = {'\r', '\n', '\r', '\n'};
    uint64_t count = 0;
    unsigned s = *match;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == pat[s]) {
            if (++s == 4) {
                count++;
                s = 0;
            }
        } else {
            s = p[i] == '\r';
        }
    }
    *match = (uint8_t)s;
    return count;
}

static void close_conn(int fd)
{
    memset(&conns[fd], 0, sizeof conns[fd]);
    close(fd);
}

/* Sends what is owed; returns -1 when the connection must be closed. */
static int flush(int ep, int fd)
{
    conn *c = &conns[fd];
    size_t batch = BATCH_COPIES * response_len;
    while (c->pending > 0) {
        size_t len = batch - c->phase;
        if (len > c->pending) len = (size_t)c->pending;
        ssize_t n = send(fd, response_batch + c->phase, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN) return -1;
            if (!c->want_out) {
                struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.fd = fd};
                if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) < 0) return -1;
                c->want_out = 1;
            }
            return 0;
        }
        c->pending -= (uint64_t)n;
        c->phase = (uint32_t)((c->phase + (size_t)n) % response_len);
    }
    if (c->want_out) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) < 0) return -1;
        c->want_out = 0;
    }
    return 0;
}

static void on_readable(int ep, int fd)
{
    static unsigned char buf[READ_BYTES];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        close_conn(fd);
        return;
    }
    if (n < 0) return;
    uint64_t requests = count_terminators(buf, (size_t)n, &conns[fd].match);
    conns[fd].pending += requests * response_len;
    if (flush(ep, fd) < 0) close_conn(fd);
}

static int on_accepted(int ep, int fd)
{
    (void)ep;
    (void)fd;
    return 0;
}

static int on_writable(int ep, int fd)
{
    return flush(ep, fd);
}

int main(int argc, char **argv)
{
    build_response();
    conns = calloc(floor_conn_limit(), sizeof *conns);
    if (!conns) {
        fprintf(stderr, "floor: out of memory\n");
        return 1;
    }
    return floor_serve("floor", argc, argv);
}
