/*
 * fuzz_ws_parser.c: the WebSocket message assembler (flare_ws_parser_feed) with
 * the settings a connection can have: server or client side, permessage-deflate
 * or not (window bits, no_context_takeover), a small or default message limit
 * (all from byte 0-1). The stream is fed once whole and once in random pieces
 * the way a connection would (keeping unconsumed bytes); both must produce the
 * same events and end in the same state. TEXT events are valid UTF-8, messages
 * respect the limit, failures name close code 1002, 1007, 1009 or 1011 and are
 * final, and nothing is read after a close frame.
 */
#include <string.h>

#include "flare/ws.h"
#include "fuzz.h"

#define MAX_EVENTS 256

typedef struct trace {
    size_t n;
    uint8_t type[MAX_EVENTS];
    size_t len[MAX_EVENTS];
    uint64_t hash[MAX_EVENTS];
    uint16_t close_code[MAX_EVENTS];
    uint16_t error_code;
} trace;

static uint64_t hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
    return h;
}

typedef struct setup {
    flare_ws_parser_config cfg;
    flare_ws_deflate_params params;
    bool deflate;
} setup;

static void record(trace *t, const flare_ws_event *ev, const setup *s)
{
    FUZZ_CHECK(ev->data != NULL || ev->len == 0);
    if (ev->type == FLARE_WS_EV_TEXT) FUZZ_CHECK(flare_ws_utf8_valid(ev->data, ev->len));
    if (ev->type == FLARE_WS_EV_TEXT || ev->type == FLARE_WS_EV_BINARY)
        FUZZ_CHECK(ev->len <=
                   (s->cfg.max_message ? s->cfg.max_message : FLARE_WS_DEFAULT_MAX_MESSAGE));
    else
        FUZZ_CHECK(ev->len <= FLARE_WS_MAX_CONTROL);
    if (ev->type == FLARE_WS_EV_CLOSE) FUZZ_CHECK(flare_ws_utf8_valid(ev->reason, ev->reason_len));
    if (t->n == MAX_EVENTS) return;
    t->type[t->n] = (uint8_t)ev->type;
    t->len[t->n] = ev->len;
    t->hash[t->n] = hash(ev->data, ev->len);
    t->close_code[t->n] = ev->type == FLARE_WS_EV_CLOSE ? ev->close_code : 0;
    t->n++;
}

/* Runs the stream through a fresh parser, all at once or in random pieces. */
static void run(const setup *s, const uint8_t *data, size_t size, fuzz_rng *rng, bool pieces,
                trace *t)
{
    memset(t, 0, sizeof *t);
    flare_ws_deflate *d = NULL;
    flare_ws_parser_config cfg = s->cfg;
    if (s->deflate && flare_ws_deflate_new(&d, &s->params, cfg.server, -1, NULL) < 0) d = NULL;
    cfg.deflate = d;
    flare_ws_parser p;
    flare_ws_parser_init(&p, &cfg);
    uint8_t *buf = malloc(size + 1);
    if (!buf) goto out;
    size_t have = 0, fed = 0;
    bool closed = false;
    for (int guard = 0; guard < 100000; guard++) {
        if (fed < size) {
            size_t n = pieces ? fuzz_rng_range(rng, 1, size - fed) : size - fed;
            if (pieces && n > 300) n = fuzz_rng_range(rng, 1, 300);
            memcpy(buf + have, data + fed, n);
            have += n;
            fed += n;
        }
        flare_ws_event ev;
        ssize_t used = flare_ws_parser_feed(&p, buf, have, &ev, NULL);
        if (used < 0) {
            uint16_t code = flare_ws_parser_error_code(&p);
            FUZZ_CHECK(code == 1002 || code == 1007 || code == 1009 || code == 1011);
            t->error_code = code;
            /* Final: every later call fails too. */
            FUZZ_CHECK(flare_ws_parser_feed(&p, buf, have, &ev, NULL) < 0);
            break;
        }
        FUZZ_CHECK((size_t)used <= have);
        if (closed) FUZZ_CHECK(used == 0 && ev.type == FLARE_WS_EV_NONE);
        if (ev.type != FLARE_WS_EV_NONE) {
            record(t, &ev, s);
            if (ev.type == FLARE_WS_EV_CLOSE) closed = true;
        } else if (!closed) {
            /* Without an event, what is left is at most a partial frame header. */
            FUZZ_CHECK(have - (size_t)used < FLARE_WS_MAX_HEADER);
        }
        memmove(buf, buf + used, have - (size_t)used);
        have -= (size_t)used;
        if (fed == size && ev.type == FLARE_WS_EV_NONE) break;
    }
out:
    free(buf);
    flare_ws_parser_free(&p);
    flare_ws_deflate_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static trace whole, split;
    if (size < 2) return 0;
    setup s;
    memset(&s, 0, sizeof s);
    s.cfg.server = data[0] & 1;
    s.deflate = data[0] & 2;
    s.params.server_no_context_takeover = data[0] & 4;
    s.params.client_no_context_takeover = data[0] & 8;
    s.params.server_max_window_bits = (uint8_t)(9 + (data[1] & 7) % 7);
    s.params.client_max_window_bits = (uint8_t)(9 + ((data[1] >> 3) & 7) % 7);
    s.cfg.max_message = (data[0] & 0x10) ? 0 : (uint64_t)1 << (4 + (data[0] >> 5));
    fuzz_rng rng = fuzz_rng_seed(data, size);
    data += 2;
    size -= 2;

    run(&s, data, size, &rng, false, &whole);
    run(&s, data, size, &rng, true, &split);
    FUZZ_CHECK(whole.n == split.n);
    /* A compressed message that is both too big and not UTF-8 fails with 1009 or
     * 1007 depending on which the inflated bytes show first: either is right. */
    FUZZ_CHECK(whole.error_code == split.error_code ||
               ((whole.error_code == 1007 || whole.error_code == 1009) &&
                (split.error_code == 1007 || split.error_code == 1009)));
    for (size_t i = 0; i < whole.n; i++) {
        FUZZ_CHECK(whole.type[i] == split.type[i] && whole.len[i] == split.len[i]);
        FUZZ_CHECK(whole.hash[i] == split.hash[i]);
        FUZZ_CHECK(whole.close_code[i] == split.close_code[i]);
    }
    return 0;
}
