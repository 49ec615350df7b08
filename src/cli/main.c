/*
 * main.c: `flare`, a small curl for libflare. Parses the command line (curl's
 * option names where they exist, plus `flare get|post|put|patch|delete|head|ws
 * URL` commands), reads request data from arguments or files (or opens the file
 * to stream: -T, a lone --data-binary @FILE), and hands the options to the HTTP
 * or WebSocket command. Usage errors exit 1 with one line.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "flare/error.h"

enum {
    OPT_DATA_BINARY = 256,
    OPT_DATA_RAW,
    OPT_JSON,
    OPT_MAX_REDIRECTS,
    OPT_CONNECT_TIMEOUT,
    OPT_CACERT,
    OPT_BEARER,
    OPT_RAW,
    OPT_MAX_FILESIZE,
    OPT_SUBPROTOCOL,
    OPT_ORIGIN,
    OPT_WAIT,
    OPT_ACCEPTED, /* curl options that change nothing here */
};

static const struct option long_options[] = {
    {"request", required_argument, NULL, 'X'},
    {"header", required_argument, NULL, 'H'},
    {"data", required_argument, NULL, 'd'},
    {"data-binary", required_argument, NULL, OPT_DATA_BINARY},
    {"data-raw", required_argument, NULL, OPT_DATA_RAW},
    {"upload-file", required_argument, NULL, 'T'},
    {"json", no_argument, NULL, OPT_JSON},
    {"output", required_argument, NULL, 'o'},
    {"include", no_argument, NULL, 'i'},
    {"head", no_argument, NULL, 'I'},
    {"location", no_argument, NULL, 'L'},
    {"max-redirects", required_argument, NULL, OPT_MAX_REDIRECTS},
    {"max-redirs", required_argument, NULL, OPT_MAX_REDIRECTS},
    {"max-time", required_argument, NULL, 'm'},
    {"timeout", required_argument, NULL, 'm'},
    {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
    {"insecure", no_argument, NULL, 'k'},
    {"cacert", required_argument, NULL, OPT_CACERT},
    {"user", required_argument, NULL, 'u'},
    {"bearer", required_argument, NULL, OPT_BEARER},
    {"user-agent", required_argument, NULL, 'A'},
    {"verbose", no_argument, NULL, 'v'},
    {"fail", no_argument, NULL, 'f'},
    {"silent", no_argument, NULL, 's'},
    {"show-error", no_argument, NULL, 'S'},
    {"ipv4", no_argument, NULL, '4'},
    {"ipv6", no_argument, NULL, '6'},
    {"compressed", no_argument, NULL, OPT_ACCEPTED},
    {"http1.1", no_argument, NULL, OPT_ACCEPTED},
    {"raw", no_argument, NULL, OPT_RAW},
    {"max-filesize", required_argument, NULL, OPT_MAX_FILESIZE},
    {"subprotocol", required_argument, NULL, OPT_SUBPROTOCOL},
    {"origin", required_argument, NULL, OPT_ORIGIN},
    {"wait", required_argument, NULL, OPT_WAIT},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static const char usage_text[] =
    "usage: flare [options] URL...\n"
    "       flare get|head|delete URL [options]\n"
    "       flare post|put|patch URL [DATA] [options]\n"
    "       flare ws URL [options]      (stdin lines out, messages in)\n"
    "options:\n"
    "  -X, --request METHOD      method (default GET, POST with data, PUT with -T)\n"
    "  -H, --header 'N: v'       add a header (repeatable); 'N:' keeps flare's\n"
    "                            own N out, 'N;' sends N empty\n"
    "  -d, --data DATA|@FILE     request body (@FILE: newlines dropped; @- stdin)\n"
    "      --data-binary DATA|@FILE  body, file bytes as they are (streamed)\n"
    "      --data-raw DATA       body, no @ meaning\n"
    "  -T, --upload-file FILE    PUT FILE, streamed (- stdin, chunked); URL ending\n"
    "                            in / gets FILE's name\n"
    "      --json                send Accept: application/json, pretty-print JSON\n"
    "  -o, --output FILE         write the body to FILE\n"
    "  -i, --include             print the status line and headers first\n"
    "  -I, --head                HEAD request, print the headers\n"
    "  -L, --location            follow redirects (at most 10)\n"
    "      --max-redirects N     follow at most N redirects\n"
    "  -m, --max-time SECS       whole-request timeout (also --timeout)\n"
    "      --connect-timeout SECS\n"
    "  -4, --ipv4 / -6, --ipv6   connect over IPv4 / IPv6 addresses only\n"
    "  -k, --insecure            do not verify the server certificate (warns)\n"
    "      --cacert FILE         trust the CAs in FILE\n"
    "  -u, --user USER:PASS      Basic authentication\n"
    "      --bearer TOKEN        Bearer authentication\n"
    "  -A, --user-agent UA\n"
    "  -f, --fail                exit 22 without output for a status >= 400\n"
    "  -s, --silent              no error messages\n"
    "  -S, --show-error          with -s, error messages all the same\n"
    "  -v, --verbose             trace connections and heads on stderr\n"
    "      --raw                 do not decode gzip/deflate bodies\n"
    "      --compressed, --http1.1   accepted for curl's sake (the default)\n"
    "      --max-filesize BYTES  refuse larger bodies\n"
    "      --subprotocol P, --origin O   (ws)\n"
    "      --wait SECS           (ws) after stdin ends, read SECS more before closing\n"
    "exit: 0 ok (2xx), 1 usage, 2 network, 3 TLS, 4 HTTP status not 2xx, 22 --fail\n"
    "      ws: 0 closed with 1000/1001 (or no code), 4 another close code, 2 no close\n";

/* Writes prefix and the formatted line to stderr with its controls escaped: a
 * line may quote what a server sent (a WebSocket close reason is any UTF-8), and
 * must stay one line with no escape sequence reaching the terminal. */
static void put_escaped(const char *prefix, const char *fmt, va_list ap)
{
    char line[2048];
    int n = vsnprintf(line, sizeof line, fmt, ap);
    if (n < 0) return;
    fputs(prefix, stderr);
    for (const unsigned char *p = (const unsigned char *)line; *p; p++) {
        if ((*p >= 0x20 && *p != 0x7f) || *p == '\t')
            fputc(*p, stderr);
        else if (*p == '\n' || *p == '\r')
            fprintf(stderr, "\\%c", *p == '\n' ? 'n' : 'r');
        else
            fprintf(stderr, "\\x%02x", *p);
    }
    fputc('\n', stderr);
}

void cli_error(const cli_options *o, const char *fmt, ...)
{
    if (o && o->silent && !o->show_error) return;
    va_list ap;
    va_start(ap, fmt);
    put_escaped("flare: ", fmt, ap);
    va_end(ap);
}

void cli_trace(const cli_options *o, const char *fmt, ...)
{
    if (!o->verbose) return;
    va_list ap;
    va_start(ap, fmt);
    put_escaped("* ", fmt, ap);
    va_end(ap);
}

int cli_exit_for(int rc)
{
    switch (rc) {
    case FLARE_EURL:
    case FLARE_EINVAL:
    case FLARE_ECONFIG:
        return CLI_USAGE;
    case FLARE_ETLS:
    case FLARE_ECERT_EXPIRED:
    case FLARE_EHOST_MISMATCH:
    case FLARE_EUNTRUSTED:
        return CLI_TLS;
    default:
        return CLI_NETWORK;
    }
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("flare: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (flare --help for usage)\n", stderr);
    va_end(ap);
    return CLI_USAGE;
}

/* Reads a whole file (or stdin for "-") into *out; newlines dropped when strip. */
static int read_file(const char *path, bool strip, char **out, size_t *len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) return usage_error("cannot read %s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    int c;
    while (buf && (c = fgetc(f)) != EOF) {
        if (strip && (c == '\r' || c == '\n')) continue; /* curl's -d @file */
        if (n + 1 >= cap) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        buf[n++] = (char)c;
    }
    bool failed = ferror(f);
    if (f != stdin) fclose(f);
    if (!buf || failed) {
        free(buf);
        return usage_error("cannot read %s", path);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* Joins piece (taken) to the body; several are joined with '&' (curl). */
static int join_data(cli_options *o, char *piece, size_t len)
{
    size_t old = o->data ? o->data_len + 1 : 0;
    char *joined = realloc(o->data, old + len + 1);
    if (!joined) {
        free(piece);
        return usage_error("out of memory");
    }
    if (old) joined[old - 1] = '&';
    memcpy(joined + old, piece, len);
    joined[old + len] = '\0';
    o->data = joined;
    o->data_len = old + len;
    free(piece);
    return 0;
}

/* A --data-binary @FILE put aside to be streamed is read after all when more data
 * follows, or when it is no regular file (a pipe, a device: read once, kept). */
static int load_put_aside(cli_options *o)
{
    const char *path = o->upload.path;
    o->upload.path = NULL;
    char *piece;
    size_t len;
    int rc = read_file(path, false, &piece, &len);
    return rc ? rc : join_data(o, piece, len);
}

static const char body_twice[] = "-T and -d/--data* (or a second -T) both give the request "
                                 "body: choose one";

/* Adds one -d/--data-binary/--data-raw piece. A lone --data-binary @FILE is put
 * aside to be streamed (upload.c) instead of read here. */
static int add_data(cli_options *o, const char *arg, bool at_file, bool strip)
{
    if (o->upload.put) return usage_error("%s", body_twice);
    int rc = o->upload.path ? load_put_aside(o) : 0;
    if (rc) return rc;
    if (at_file && !strip && arg[0] == '@' && strcmp(arg, "@-") && !o->data) {
        o->upload.path = arg + 1;
        return 0;
    }
    char *piece = NULL;
    size_t len = 0;
    if (at_file && arg[0] == '@') {
        rc = read_file(arg + 1, strip, &piece, &len);
        if (rc) return rc;
    } else {
        piece = strdup(arg);
        len = strlen(arg);
        if (!piece) return usage_error("out of memory");
    }
    return join_data(o, piece, len);
}

/* Opens the body to stream, after the whole command line is known. */
static int open_upload(cli_options *o, bool ws)
{
    cli_upload *u = &o->upload;
    if (!u->path) return 0;
    if (u->put && ws) return usage_error("-T sends an HTTP request body, not WebSocket input");
    if (u->put && o->head) return usage_error("-T and -I: a HEAD request carries no body");
    if (u->put && !strcmp(u->path, "-") && o->num_urls > 1)
        return usage_error("-T -: standard input can be sent once, give one URL");
    flare_error err;
    if (cli_upload_open(u, &err) < 0) return usage_error("%s", err.message);
    /* A regular file the system sizes 0 may have content all the same (/proc): read,
     * it is sent whole, as a read-in --data-binary always was. */
    if (u->put || (u->sized && u->size > 0)) return 0;
    cli_upload_close(u);
    return load_put_aside(o);
}

static const char *skip_blanks(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* As curl: 'Name: value' sends the field; 'Name:' (nothing after the colon) keeps
 * flare from writing its own field of that name (User-Agent, Accept...) and sends
 * nothing itself, other -H values of that name still going; 'Name;' sends it empty.
 * 'Name; ' (blanks after the semicolon) is, as in curl, no empty field but 'Name:'. */
static int add_header(cli_options *o, const char *arg)
{
    const char *colon = strchr(arg, ':');
    const char *semicolon = colon ? NULL : strchr(arg, ';');
    if (!colon && !(semicolon && !*skip_blanks(semicolon + 1)))
        return usage_error("-H '%s': has no ':' (use -H 'Name: value'; 'Name:' keeps flare's "
                           "own Name out, 'Name;' sends it empty)",
                           arg);
    const char *end = colon ? colon : semicolon;
    const char *value = skip_blanks(end + 1);
    if (colon ? !*value : semicolon[1] != '\0') value = NULL;
    flare_http_kv *h = realloc(o->headers, (o->num_headers + 1) * sizeof *h);
    if (!h) return usage_error("out of memory");
    o->headers = h;
    const char **args = realloc(o->header_args, (o->num_headers + 1) * sizeof *args);
    if (!args) return usage_error("out of memory");
    o->header_args = args;
    char *name = strndup(arg, (size_t)(end - arg));
    if (!name) return usage_error("out of memory");
    o->header_args[o->num_headers] = arg;
    o->headers[o->num_headers++] = (flare_http_kv){name, value};
    return 0;
}

/* Each -H as the library would take it (checked once all are in: a 'Host:' is refused
 * only when no other -H gives a Host). The message quotes the -H the user wrote, where
 * the library's could only name its list ("default header"). */
static int check_headers(const cli_options *o)
{
    for (size_t i = 0; i < o->num_headers; i++) {
        const char *problem = flare_http_client_header_problem(o->headers, o->num_headers, i);
        if (problem) {
            cli_error(o, "-H '%s': %s", o->header_args[i], problem);
            return CLI_USAGE;
        }
    }
    return 0;
}

int cli_ms(double seconds)
{
    /* Rounded up: "-m 0.0001" is a short timeout, never 0, which means none; a
     * year of milliseconds does not fit an int and is clamped, not overflowed. */
    double ms = seconds * 1000;
    if (ms <= 0) return 0;
    if (ms >= INT_MAX) return INT_MAX;
    int whole = (int)ms;
    return whole < ms ? whole + 1 : whole;
}

static int seconds(const char *arg, const char *what, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    /* Written so that NaN ("nan" parses) fails too: it would reach an int conversion. */
    if (errno || end == arg || *end || !(v >= 0 && v <= 86400 * 365))
        return usage_error("%s: \"%s\" is not a number of seconds", what, arg);
    *out = v;
    return 0;
}

static int parse(int argc, char **argv, cli_options *o, bool *ws, bool *done)
{
    int c, rc = 0;
    opterr = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, "X:H:d:T:o:iILm:ku:A:vfsSh46V", long_options,
                                       NULL)) != -1) {
        char *end;
        switch (c) {
        case 'X':
            o->method = optarg;
            break;
        case 'H':
            rc = add_header(o, optarg);
            break;
        case 'd':
            rc = add_data(o, optarg, true, true);
            break;
        case OPT_DATA_BINARY:
            rc = add_data(o, optarg, true, false);
            break;
        case OPT_DATA_RAW:
            rc = add_data(o, optarg, false, false);
            break;
        case 'T':
            if (o->data || o->upload.path) {
                rc = usage_error("%s", body_twice);
                break;
            }
            o->upload = (cli_upload){.path = optarg, .put = true, .fd = -1};
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case 'o':
            o->output = optarg;
            break;
        case 'i':
            o->include = true;
            break;
        case 'I':
            o->head = true;
            break;
        case 'L':
            o->follow = true;
            break;
        case OPT_MAX_REDIRECTS: {
            /* Checked as the long strtol returns: cast first, 2^32 + 1 would pass as 1. */
            long redirects = strtol(optarg, &end, 10);
            if (end == optarg || *end || redirects < 0 || redirects > 1000)
                rc = usage_error("--max-redirects: \"%s\" is not 0..1000", optarg);
            o->max_redirects = (int)redirects;
            o->follow = true;
            break;
        }
        case 'm':
            rc = seconds(optarg, "--max-time", &o->max_time);
            break;
        case OPT_CONNECT_TIMEOUT:
            rc = seconds(optarg, "--connect-timeout", &o->connect_timeout);
            break;
        case 'k':
            o->insecure = true;
            break;
        case OPT_CACERT:
            o->cacert = optarg;
            break;
        case 'u':
            o->user = optarg;
            break;
        case OPT_BEARER:
            o->bearer = optarg;
            break;
        case 'A':
            o->user_agent = optarg;
            break;
        case 'v':
            o->verbose = true;
            break;
        case 'f':
            o->fail = true;
            break;
        case 's':
            o->silent = true;
            break;
        case 'S':
            o->show_error = true;
            break;
        case '4':
            o->family = FLARE_DNS_V4;
            break;
        case '6':
            o->family = FLARE_DNS_V6;
            break;
        case OPT_ACCEPTED:
            break;
        case OPT_RAW:
            o->raw = true;
            break;
        case OPT_MAX_FILESIZE:
            /* strtoull takes "-1" and wraps it to no limit at all: digits only. */
            o->max_filesize = strtoull(optarg, &end, 10);
            if (optarg[0] < '0' || optarg[0] > '9' || *end || o->max_filesize == 0)
                rc = usage_error("--max-filesize: \"%s\" is not a positive number", optarg);
            break;
        case OPT_SUBPROTOCOL:
            o->subprotocol = optarg;
            break;
        case OPT_ORIGIN:
            o->origin = optarg;
            break;
        case OPT_WAIT:
            rc = seconds(optarg, "--wait", &o->wait);
            break;
        case 'h':
            fputs(usage_text, stdout);
            *done = true;
            return 0;
        case 'V':
            printf("flare 0.1.0 (libflare)\n");
            *done = true;
            return 0;
        default:
            if (optopt && optopt < 256)
                rc = usage_error("option -%c %s", optopt,
                                 strchr("XHdTomuA", optopt) ? "needs an argument" : "is unknown");
            else
                rc = usage_error("option %s is unknown or needs an argument", argv[optind - 1]);
        }
    }
    if (rc == 0) rc = check_headers(o);
    if (rc) return rc;
    char **pos = argv + optind;
    int npos = argc - optind;
    static const char *const commands[] = {"get", "head", "delete", "post", "put", "patch", "ws"};
    const char *command = NULL;
    for (size_t i = 0; npos > 0 && i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(pos[0], commands[i])) command = commands[i];
    if (command) {
        pos++;
        npos--;
        if (npos < 1) return usage_error("%s needs a URL", command);
        bool with_data =
            !strcmp(command, "post") || !strcmp(command, "put") || !strcmp(command, "patch");
        if (npos > (with_data ? 2 : 1)) return usage_error("too many arguments after %s", command);
        if (with_data && npos == 2 && (rc = add_data(o, pos[1], true, false))) return rc;
        npos = 1;
        *ws = !strcmp(command, "ws");
        if (!strcmp(command, "head")) o->head = true; /* a HEAD's answer is its head: print it */
        if (!*ws && !o->method) {
            static char upper[8];
            for (size_t i = 0; command[i] && i < sizeof upper - 1; i++)
                upper[i] = (char)(command[i] - 'a' + 'A');
            o->method = upper;
        }
    }
    if (npos < 1) return usage_error("no URL given");
    if (o->output && npos > 1) return usage_error("-o takes one URL");
    o->urls = (const char **)pos;
    o->num_urls = (size_t)npos;
    return 0;
}

int main(int argc, char **argv)
{
    cli_options o = {.max_redirects = -1, .upload = {.fd = -1}};
    bool ws = false, done = false;
    int rc = parse(argc, argv, &o, &ws, &done);
    if (rc == 0 && !done) rc = open_upload(&o, ws);
    if (rc == 0 && !done) rc = ws ? cli_ws(&o) : cli_http(&o);
    cli_upload_close(&o.upload);
    for (size_t i = 0; i < o.num_headers; i++)
        free((char *)o.headers[i].name);
    free(o.headers);
    free(o.header_args);
    free(o.data);
    return rc;
}
