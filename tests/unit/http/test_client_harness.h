/*
 * test_client_harness.h: servers for the HTTP client tests, all on 127.0.0.1 with
 * a port the kernel picks: a scripted raw TCP server in a thread (a handler per
 * connection that reads requests and writes whatever bytes a test needs, however
 * wrong), and a real flare_http_server on its reactor in a thread. The raw server
 * keeps every request it read so tests can assert what the client sent.
 */
#ifndef FLARE_TEST_CLIENT_HARNESS_H
#define FLARE_TEST_CLIENT_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "flare/http.h"
#include "flare/runtime.h"

#define RAW_MAX_REQUESTS 32
#define RAW_REQUEST_MAX  (1 << 20)

typedef struct raw_server raw_server;

/** Serves one accepted connection; index counts connections from 0. fd is closed after. */
typedef void (*raw_handler)(raw_server *s, int fd, int index);

struct raw_server {
    int listen_fd;
    uint16_t port;
    char url[64]; /* "http://127.0.0.1:PORT" */
    pthread_t thread;
    raw_handler handler;
    void *ctx; /* for the handler */
    volatile int stop;
    pthread_mutex_t lock;
    int connections;
    int closed; /* connections the server has closed */
    int nrequests;
    char *requests[RAW_MAX_REQUESTS]; /* NUL-terminated copies, head and body */
    size_t request_len[RAW_MAX_REQUESTS];
};

/** Starts a raw server calling handler for each connection. */
void raw_start(raw_server *s, raw_handler handler, void *ctx);
/** Stops the thread (after the current connection ends) and frees the log. */
void raw_stop(raw_server *s);
/**
 * Reads one request (head, then a Content-Length or chunked body) from fd into a
 * new log entry; returns its length, 0 when the client closed first, -1 on error.
 */
ssize_t raw_read_request(raw_server *s, int fd);
/** Writes the whole string (or len bytes when len > 0). */
void raw_send(int fd, const char *data, size_t len);
/** Writes a response: "HTTP/1.1 status X", the extra header lines (CRLF-ended, may be
 *  NULL), Content-Length and body. */
void raw_respond(int fd, int status, const char *extra, const char *body);
/** The i-th logged request (NULL past the end). */
const char *raw_request(raw_server *s, int i);
/** Number of requests logged / connections accepted so far. */
int raw_request_count(raw_server *s);
int raw_connection_count(raw_server *s);
/** Waits (at most 5 s) until the server has closed n connections; false on timeout. */
bool raw_wait_closed(raw_server *s, int n);
/** Value of header name in request text req ("" when absent), in a static buffer. */
const char *raw_header(const char *req, const char *name);

/** A flare_http_server running on its own reactor thread. */
typedef struct live_server {
    flare_reactor *reactor;
    flare_http_server *srv;
    uint16_t port;
    char url[64];
    pthread_t thread;
} live_server;

/** Creates the server and listens; register routes on s->srv, then call live_run. */
void live_init(live_server *s);
/** Starts the reactor thread. */
void live_run(live_server *s);
/** Stops the reactor, joins and frees everything. */
void live_stop(live_server *s);

#endif
