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
    CLI_STATUS = 4,  /**< the final HTTP status was not 2xx */
    CLI_FAIL = 22,   /**< --fail and a status >= 400 (as curl) */
};

/** Everything the command line said. */
typedef struct cli_options {
    const char *method; /* -X, or implied by the command, -I, or data */
    const char **urls;
    size_t num_urls;
    flare_http_kv *headers; /* -H, parsed */
    size_t num_headers;
    char *data; /* -d/--data-binary/--data-raw joined, NULL when none */
    size_t data_len;
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
    bool verbose, fail, silent, raw;
    uint64_t max_filesize;
    /* ws */
    const char *subprotocol;
    const char *origin;
    double wait; /* --wait: seconds to keep reading after stdin ends, before the close */
} cli_options;

/** Prints "flare: <message>" on stderr unless --silent. */
void cli_error(const cli_options *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** The exit status for a failed libflare call with code rc. */
int cli_exit_for(int rc);
/** Runs the HTTP request(s) of o; returns the exit status. */
int cli_http(const cli_options *o);
/** Runs `flare ws URL`: stdin lines out as text messages, messages in to stdout. */
int cli_ws(const cli_options *o);

#endif
