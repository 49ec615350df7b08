/*
 * cli.h: the `flare` command-line client: options shared by the HTTP commands
 * (http.c) and the WebSocket command (ws.c), parsed by main.c, and the exit
 * statuses every command uses (documented in man/flare.1).
 */
#ifndef FLARE_CLI_H
#define FLARE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flare/http_client.h"

/** Exit statuses (man/flare.1, EXIT STATUS). */
enum {
    CLI_OK = 0,      /**< success: a 2xx response, or a WebSocket closed normally */
    CLI_USAGE = 1,   /**< bad usage, bad URL or header, unreadable input, unwritable output */
    CLI_NETWORK = 2, /**< resolve, connect, timeout, protocol, limit or redirect errors */
    CLI_TLS = 3,     /**< TLS handshake or certificate verification failed */
    CLI_STATUS = 4,  /**< the final HTTP status was not 2xx; ws: a close code not 1000/1001 */
    CLI_FAIL = 22,   /**< --fail and a status >= 400 (as curl) */
};

/** A request body streamed from a file or standard input (upload.c). */
typedef struct cli_upload {
    const char *path; /* NULL: none; "-": standard input */
    bool put;         /* -T: PUT unless -X, a URL ending in '/' gets the file's base name;
                         else a lone --data-binary @FILE */
    int fd;           /* from cli_upload_open to cli_upload_close, else -1 */
    bool sized;       /* a regular file: Content-Length, rewound for a retry */
    bool used;        /* an unsized body went out: it cannot be read again */
    uint64_t size;    /* the file's size when the current request started */
    uint64_t sent;    /* bytes read for the current request */
} cli_upload;

/** Everything the command line said. */
typedef struct cli_options {
    const char *method; /* -X, or implied by the command, -I, or data */
    const char **urls;
    size_t num_urls;
    flare_http_kv *headers;   /* -H, parsed */
    const char **header_args; /* each -H as given, for messages that name it */
    size_t num_headers;
    char *data; /* -d/--data-binary/--data-raw joined, NULL when none */
    size_t data_len;
    cli_upload upload;                /* -T, or a lone --data-binary @FILE: streamed, not in data */
    bool json;                        /* --json: Accept JSON, pretty-print the response */
    const char *output;               /* -o */
    bool include;                     /* -i */
    bool head;                        /* -I */
    bool follow;                      /* -L */
    int max_redirects;                /* --max-redirects, -1 when not given */
    double max_time, connect_timeout; /* seconds, 0 = none / default */
    bool insecure;                    /* -k */
    const char *cacert;
    const char *user; /* -u user:pass */
    const char *bearer;
    const char *user_agent;
    bool verbose, fail, silent, show_error, raw;
    flare_dns_family family; /* -4 / -6: addresses of that family only */
    uint64_t max_filesize;
    /* ws */
    const char *subprotocol;
    const char *origin;
    double wait; /* --wait: seconds to keep reading after stdin ends, before the close */
} cli_options;

/** Prints "flare: <message>" on stderr unless --silent. */
void cli_error(const cli_options *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** With -v, writes "* " and the line to stderr, controls escaped as cli_error does. */
void cli_trace(const cli_options *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** The exit status for a failed libflare call with code rc. */
int cli_exit_for(int rc);
/** seconds (as parsed: 0..a year) as whole milliseconds for libflare: 0 stays 0 (none
 *  or the default), any other value is at least 1 and at most INT_MAX. */
int cli_ms(double seconds);
/** Runs the HTTP request(s) of o; returns the exit status. */
int cli_http(const cli_options *o);
/** Opens u->path ("-": stdin) and fstats it (u->sized, u->size): a directory or an
 *  unreadable file is FLARE_EINVAL with the reason in err. */
int cli_upload_open(cli_upload *u, flare_error *err);
/** Closes the file (never stdin). */
void cli_upload_close(cli_upload *u);
/** Before each request: a file from its first byte at its current size; an unsized
 *  body only once. */
int cli_upload_start(cli_upload *u, flare_error *err);
/** libflare's body_read over u; a sized file that ends early is an error. */
ssize_t cli_upload_read(void *ctx, char *buf, size_t cap, flare_error *err);
/** libflare's body_rewind: lseek to the start (sized files only). */
int cli_upload_rewind(void *ctx, flare_error *err);
/** url with the base name of path (percent-encoded) appended when url's path is empty
 *  or ends in '/', as curl -T does; a new string (NULL when out of memory). */
char *cli_upload_url(const char *url, const char *path);
/** Runs `flare ws URL`: stdin lines out as text messages, messages in to stdout. */
int cli_ws(const cli_options *o);

#endif
