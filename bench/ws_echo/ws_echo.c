/*
 * ws_echo.c: WebSocket echo load client for bench/run_ws_echo.sh. N connections,
 * one blocking thread each, every connection sends M binary messages of S bytes
 * one at a time (the next only after the echo has been read back in full) and
 * checks the echoed bytes. Framing and masking use libflare's codec; the opening
 * handshake is written by hand (the Sec-WebSocket-Accept is not checked: this is
 * a load generator, not a conformance client). Prints one parseable line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "flare/ws.h"

typedef struct conn_job {
    unsigned port;
    size_t size;
    unsigned long count;
    unsigned long done;
    const char *error;
} conn_job;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int write_all(int fd, const void *p, size_t len)
{
    const char *c = p;
    while (len > 0) {
        ssize_t n = send(fd, c, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        c += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_all(int fd, void *p, size_t len)
{
    char *c = p;
    while (len > 0) {
        ssize_t n = recv(fd, c, len, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        c += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Sends the upgrade request and reads the response head byte by byte, so that no
 * frame byte that follows it is consumed here. */
static const char *handshake(int fd, unsigned port)
{
    char req[256];
    int n = snprintf(req, sizeof req,
                     "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     port);
    if (write_all(fd, req, (size_t)n) < 0) return "handshake write failed";
    char head[2048];
    size_t len = 0;
    while (len < sizeof head - 1) {
        if (read_all(fd, head + len, 1) < 0) return "handshake read failed";
        len++;
        if (len >= 4 && memcmp(head + len - 4, "\r\n\r\n", 4) == 0) break;
    }
    head[len] = '\0';
    if (strncmp(head, "HTTP/1.1 101", 12) != 0) return "handshake not answered 101";
    return NULL;
}

/* Reads one whole echoed message (server frames are unmasked; control frames
 * other than close are skipped) into buf and compares it with want. */
static const char *read_echo(int fd, uint8_t *buf, const uint8_t *want, size_t size)
{
    size_t got = 0;
    for (;;) {
        uint8_t hb[FLARE_WS_MAX_HEADER];
        size_t hlen = 2;
        flare_ws_frame_header h;
        if (read_all(fd, hb, 2) < 0) return "read failed";
        ssize_t r;
        while ((r = flare_ws_frame_decode(hb, hlen, &h)) == FLARE_EINCOMPLETE) {
            if (hlen >= sizeof hb || read_all(fd, hb + hlen, 1) < 0)
                return "read failed in frame header";
            hlen++;
        }
        if (r < 0) return "bad frame header from server";
        if (h.opcode == FLARE_WS_OP_CLOSE) return "server sent close";
        if (h.opcode == FLARE_WS_OP_PING || h.opcode == FLARE_WS_OP_PONG) {
            uint8_t skip[FLARE_WS_MAX_CONTROL];
            if (read_all(fd, skip, (size_t)h.payload_len) < 0) return "read failed";
            continue;
        }
        if (h.payload_len > size - got) return "echo longer than the message";
        if (read_all(fd, buf + got, (size_t)h.payload_len) < 0) return "read failed in payload";
        if (h.masked) flare_ws_mask(buf + got, (size_t)h.payload_len, h.mask, 0);
        got += (size_t)h.payload_len;
        if (h.fin) break;
    }
    if (got != size || memcmp(buf, want, size) != 0) return "echo differs from the message";
    return NULL;
}

static void *run_conn(void *arg)
{
    conn_job *job = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        job->error = "socket failed";
        return NULL;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)job->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    uint8_t *msg = malloc(job->size ? job->size : 1);
    uint8_t *frame = malloc(job->size + FLARE_WS_MAX_HEADER);
    uint8_t *echo = malloc(job->size ? job->size : 1);
    if (!msg || !frame || !echo) {
        job->error = "out of memory";
        goto out;
    }
    for (size_t i = 0; i < job->size; i++)
        msg[i] = (uint8_t)('a' + i % 26);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        job->error = "connect failed";
        goto out;
    }
    if ((job->error = handshake(fd, job->port)) != NULL) goto out;
    for (unsigned long m = 0; m < job->count; m++) {
        /* A fixed key is allowed for a benchmark; RFC 6455 §5.3 wants it unpredictable
         * only against intermediaries, of which there are none on loopback. */
        uint8_t key[4] = {(uint8_t)m, 0x5a, 0xa5, (uint8_t)(m >> 8)};
        size_t hlen =
            flare_ws_frame_header_encode(frame, FLARE_WS_OP_BINARY, true, 0, job->size, key);
        flare_ws_mask_copy(frame + hlen, msg, job->size, key, 0);
        if (write_all(fd, frame, hlen + job->size) < 0) {
            job->error = "write failed";
            goto out;
        }
        if ((job->error = read_echo(fd, echo, msg, job->size)) != NULL) goto out;
        job->done++;
    }
    /* Close handshake (RFC 6455 §5.5.1): code 1000, then wait for the server's close. */
    uint8_t key[4] = {1, 2, 3, 4};
    uint8_t cp[2] = {0x03, 0xe8};
    size_t hlen = flare_ws_frame_header_encode(frame, FLARE_WS_OP_CLOSE, true, 0, 2, key);
    flare_ws_mask_copy(frame + hlen, cp, 2, key, 0);
    if (write_all(fd, frame, hlen + 2) == 0) {
        char sink[256];
        while (recv(fd, sink, sizeof sink, 0) > 0)
            ;
    }
out:
    free(msg);
    free(frame);
    free(echo);
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: ws_echo PORT CONNECTIONS MESSAGE_BYTES MESSAGES_PER_CONNECTION\n");
        return 2;
    }
    unsigned port = (unsigned)strtoul(argv[1], NULL, 10);
    unsigned conns = (unsigned)strtoul(argv[2], NULL, 10);
    size_t size = (size_t)strtoull(argv[3], NULL, 10);
    unsigned long count = strtoul(argv[4], NULL, 10);
    if (port == 0 || port > 65535 || conns == 0 || conns > 4096 || size > (64u << 20)) {
        fprintf(stderr, "ws_echo: bad arguments\n");
        return 2;
    }
    conn_job *jobs = calloc(conns, sizeof *jobs);
    pthread_t *threads = calloc(conns, sizeof *threads);
    if (!jobs || !threads) return 1;
    double t0 = now_s();
    unsigned started = 0;
    for (unsigned i = 0; i < conns; i++) {
        jobs[i] = (conn_job){.port = port, .size = size, .count = count};
        if (pthread_create(&threads[i], NULL, run_conn, &jobs[i]) != 0) {
            jobs[i].error = "pthread_create failed";
            break;
        }
        started++;
    }
    unsigned long total = 0;
    int errors = 0;
    for (unsigned i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    double secs = now_s() - t0;
    for (unsigned i = 0; i < conns; i++) {
        total += jobs[i].done;
        if (jobs[i].error) {
            if (errors == 0) fprintf(stderr, "ws_echo: connection %u: %s\n", i, jobs[i].error);
            errors++;
        }
    }
    printf("messages %lu seconds %.6f msgs_per_s %.1f errors %d\n", total, secs,
           secs > 0 ? (double)total / secs : 0.0, errors);
    free(jobs);
    free(threads);
    return errors ? 1 : 0;
}
