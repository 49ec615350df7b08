/*
 * status.c: the status route. It reads every worker's slot of the shared
 * metrics segment and answers JSON (jansson builds it) by default, or the
 * Prometheus text exposition format (0.0.4) for ?format=prometheus or an Accept
 * that prefers text/plain or application/openmetrics-text over JSON. Summed
 * series and per-worker series are separate families (flared_* and
 * flared_worker_*), so sum() over either never counts a request twice.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flare/http.h"

#include "handlers_internal.h"
#include "metrics.h"
#include "version.h"
#include "websocket.h"

/* ------------------------------------------------------------ the numbers */

/* Slots ever used, in slot order; totals run over all of them so they never go back. */
static bool used(const flared_worker_slot *s)
{
    return s->pid != 0;
}

/*
 * A copy of every used slot, taken once per answer and read for every number in it.
 * The workers go on counting while the answer is written: summed from the live
 * slots, a total was not the sum of the per-worker numbers beside it (under load,
 * 8 to 19 of 100 Prometheus answers and 1 of 100 JSON ones).
 */
typedef struct snapshot {
    flared_worker_slot *slots;
    unsigned count;
    uint32_t generation; /* the current config's, for the route and upstream counters */
} snapshot;

static int snapshot_take(snapshot *snap)
{
    unsigned n = flared_metrics_slot_count(), count = 0;
    for (unsigned i = 0; i < n; i++)
        count += used(flared_metrics_slot_at(i));
    snap->generation = flared_metrics_get_header()->generation;
    snap->count = 0;
    snap->slots = malloc((count ? count : 1) * sizeof *snap->slots);
    if (!snap->slots) return FLARE_ENOMEM;
    /* A slot claimed since the count waits for the next answer. */
    for (unsigned i = 0; i < n && snap->count < count; i++) {
        const flared_worker_slot *s = flared_metrics_slot_at(i);
        if (used(s)) memcpy(&snap->slots[snap->count++], s, sizeof *s);
    }
    return 0;
}

static void add_slot(flared_worker_slot *sum, const flared_worker_slot *s)
{
    sum->requests += s->requests;
    for (int i = 0; i < 6; i++)
        sum->by_class[i] += s->by_class[i];
    sum->bytes_in += s->bytes_in;
    sum->bytes_out += s->bytes_out;
    sum->accepted += s->accepted;
    sum->rejected += s->rejected;
    sum->active += s->active;
    sum->reading += s->reading;
    sum->writing += s->writing;
    sum->idle += s->idle;
    sum->tls_handshakes += s->tls_handshakes;
    sum->tls_failures += s->tls_failures;
    sum->rate_limited += s->rate_limited;
    sum->rate_limit_evictions += s->rate_limit_evictions;
    sum->ws.stats.active += s->ws.stats.active;
    sum->ws.stats.opened += s->ws.stats.opened;
    sum->ws.stats.messages_in += s->ws.stats.messages_in;
    sum->ws.stats.messages_out += s->ws.stats.messages_out;
    for (int i = 0; i <= FLARED_HIST_BUCKETS; i++)
        sum->duration_buckets[i] += s->duration_buckets[i];
    sum->duration_sum_us += s->duration_sum_us;
}

/* This worker's own slot is refreshed first, so its gauges are current. */
static void refresh_own(const flared_route_ctx *ctx, flared_worker_slot *own)
{
    const flare_http_server *srv = ctx->state->server;
    flared_metrics_publish(own, flare_http_server_get_stats(srv));
    flared_metrics_publish_states(own, srv);
    flared_proxy_publish(ctx->state->proxy);
}

static flared_worker_slot *own_slot(const flared_route_ctx *ctx)
{
    flared_metrics_header *h = flared_metrics_get_header();
    if (!h) return NULL;
    unsigned n = flared_metrics_slot_count();
    for (unsigned i = 0; i < n; i++) {
        flared_worker_slot *s = flared_metrics_slot_at(i);
        if (s->pid == (int32_t)getpid() && s->worker_id == ctx->state->worker_id) return s;
    }
    return NULL;
}

/* Calls fn for each route in install order (the metrics index), with its host name. */
typedef void (*route_fn)(void *data, size_t index, const char *host, const flared_route *rt);

/* What the route callbacks write to (a JSON array, a flare_buf) and read from. */
typedef struct route_out {
    void *out;
    const struct snapshot *snap;
} route_out;

static void each_route(const flared_config *cfg, route_fn fn, void *data)
{
    size_t index = 0;
    for (size_t i = 0; i < cfg->default_host.route_count; i++)
        fn(data, index++, "", &cfg->default_host.routes[i]);
    for (size_t h = 0; h < cfg->host_count; h++)
        for (size_t n = 0; n < cfg->hosts[h].name_count; n++)
            for (size_t i = 0; i < cfg->hosts[h].route_count; i++)
                fn(data, index++, cfg->hosts[h].names[n], &cfg->hosts[h].routes[i]);
}

/* Requests of one route index, over the slots of the current generation. */
static uint64_t route_requests(const snapshot *snap, size_t index)
{
    uint64_t total = 0;
    size_t k = index < FLARED_METRICS_ROUTES_MAX ? index : FLARED_METRICS_ROUTES_MAX;
    for (unsigned i = 0; i < snap->count; i++)
        if (snap->slots[i].generation == snap->generation)
            total += snap->slots[i].route_requests[k];
    return total;
}

/* Upstream servers of the current config that have shared counters, in slot order. */
typedef void (*server_fn)(void *data, size_t k, const flared_upstream *u,
                          const flared_upstream_server *sv);

static void each_upstream_server(const flared_config *cfg, server_fn fn, void *data)
{
    size_t k = 0;
    for (size_t i = 0; i < cfg->upstream_count; i++)
        for (size_t j = 0; j < cfg->upstreams[i].server_count; j++, k++) {
            if (k >= FLARED_METRICS_UPSTREAM_SERVERS_MAX) return;
            fn(data, k, &cfg->upstreams[i], &cfg->upstreams[i].servers[j]);
        }
}

/* A slot's upstream counters follow the config of its generation: only the current
 * generation's slots are read (as for the route counters). */
static bool current(const snapshot *snap, const flared_worker_slot *s)
{
    return s->generation == snap->generation;
}

static void add_upstreams(flared_upstream_counters *sum, const flared_worker_slot *s)
{
    for (unsigned k = 0; k < FLARED_METRICS_UPSTREAM_SERVERS_MAX; k++) {
        const flared_upstream_counters *c = &s->upstreams[k];
        flared_upstream_counters *t = &sum[k];
        t->requests += c->requests;
        for (int i = 0; i < 6; i++)
            t->responses[i] += c->responses[i];
        t->failures += c->failures;
        t->connect_failures += c->connect_failures;
        t->timeouts += c->timeouts;
        t->client_aborts += c->client_aborts;
        t->active += c->active;
        t->up += c->up;
    }
}

/* The answering worker's counters as its workers entry shows them: its slot in the
 * snapshot, or when a later generation has taken that slot over, this process's own
 * server counters from zero. */
static void own_counters(const flared_route_ctx *ctx, const snapshot *snap,
                         flared_worker_slot *mine)
{
    for (unsigned i = 0; i < snap->count; i++) {
        const flared_worker_slot *s = &snap->slots[i];
        if (s->pid == (int32_t)getpid() && s->worker_id == ctx->state->worker_id) {
            *mine = *s;
            return;
        }
    }
    memset(mine, 0, sizeof *mine);
    flared_metrics_publish(mine, flare_http_server_get_stats(ctx->state->server));
    flared_metrics_publish_states(mine, ctx->state->server);
}

static double uptime_seconds(void)
{
    flared_metrics_header *h = flared_metrics_get_header();
    return (double)(flare_monotonic_ms() - h->started_ms) / 1000.0;
}

/* ------------------------------------------------------------------ JSON */

static json_t *counters_json(const flared_worker_slot *s)
{
    json_t *buckets = json_array();
    uint64_t cumulative = 0;
    for (int i = 0; i <= FLARED_HIST_BUCKETS; i++) {
        cumulative += s->duration_buckets[i];
        json_t *le = i < FLARED_HIST_BUCKETS ? json_real((double)flared_hist_bounds_us[i] / 1e6)
                                             : json_string("+Inf");
        json_array_append_new(buckets,
                              json_pack("{s:o,s:I}", "le", le, "count", (json_int_t)cumulative));
    }
    return json_pack(
        "{s:I,s:{s:I,s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I,s:I,s:I,s:I},s:I,s:I,s:{s:I,s:I},"
        "s:{s:I,s:I,s:I,s:I},s:{s:o,s:f,s:I},s:{s:I,s:I}}",
        "requests", (json_int_t)s->requests, "responses", "1xx", (json_int_t)s->by_class[1], "2xx",
        (json_int_t)s->by_class[2], "3xx", (json_int_t)s->by_class[3], "4xx",
        (json_int_t)s->by_class[4], "5xx", (json_int_t)s->by_class[5], "connections", "active",
        (json_int_t)s->active, "reading", (json_int_t)s->reading, "writing", (json_int_t)s->writing,
        "idle", (json_int_t)s->idle, "accepted", (json_int_t)s->accepted, "rejected",
        (json_int_t)s->rejected, "bytes_in", (json_int_t)s->bytes_in, "bytes_out",
        (json_int_t)s->bytes_out, "tls", "handshakes", (json_int_t)s->tls_handshakes, "failures",
        (json_int_t)s->tls_failures, "websocket", "active", (json_int_t)s->ws.stats.active,
        "opened", (json_int_t)s->ws.stats.opened, "messages_in",
        (json_int_t)s->ws.stats.messages_in, "messages_out", (json_int_t)s->ws.stats.messages_out,
        "request_duration", "buckets", buckets, "sum_seconds", (double)s->duration_sum_us / 1e6,
        "count", (json_int_t)cumulative, "rate_limit", "refused", (json_int_t)s->rate_limited,
        "evictions", (json_int_t)s->rate_limit_evictions);
}

typedef struct upstream_json_ctx {
    json_t *obj;
    const flared_upstream_counters *counters; /* FLARED_METRICS_UPSTREAM_SERVERS_MAX */
} upstream_json_ctx;

static void upstream_server_json(void *data, size_t k, const flared_upstream *u,
                                 const flared_upstream_server *sv)
{
    upstream_json_ctx *x = data;
    const flared_upstream_counters *c = &x->counters[k];
    json_t *list = json_object_get(x->obj, u->name);
    if (!list) {
        list = json_array();
        json_object_set_new(x->obj, u->name, list);
    }
    json_array_append_new(
        list, json_pack("{s:s,s:I,s:{s:I,s:I,s:I,s:I,s:I},s:I,s:I,s:I,s:I,s:I,s:I}", "server",
                        sv->address, "requests", (json_int_t)c->requests, "responses", "1xx",
                        (json_int_t)c->responses[1], "2xx", (json_int_t)c->responses[2], "3xx",
                        (json_int_t)c->responses[3], "4xx", (json_int_t)c->responses[4], "5xx",
                        (json_int_t)c->responses[5], "failures", (json_int_t)c->failures,
                        "connect_failures", (json_int_t)c->connect_failures, "timeouts",
                        (json_int_t)c->timeouts, "client_aborts", (json_int_t)c->client_aborts,
                        "active", (json_int_t)c->active, "up", (json_int_t)c->up));
}

/* {"NAME": [{"server", "requests", ...}, ...]} from FLARED_METRICS_UPSTREAM_SERVERS_MAX
 * counters; "up" summed over workers is the number of workers that see the server up. */
static json_t *upstreams_json(const flared_config *cfg, const flared_upstream_counters *counters)
{
    upstream_json_ctx x = {json_object(), counters};
    each_upstream_server(cfg, upstream_server_json, &x);
    return x.obj;
}

static void route_json(void *data, size_t index, const char *host, const flared_route *rt)
{
    const route_out *r = data;
    json_array_append_new(r->out, json_pack("{s:I,s:s,s:s,s:s,s:I}", "index", (json_int_t)index,
                                            "host", host, "path", rt->path, "type",
                                            flared_route_type_name(rt->type), "requests",
                                            (json_int_t)route_requests(r->snap, index)));
}

static char *status_json(const flared_route_ctx *ctx, const snapshot *snap, size_t *len)
{
    flared_metrics_header *h = flared_metrics_get_header();
    static flared_worker_slot total;
    memset(&total, 0, sizeof total);
    json_t *workers = json_array();
    for (unsigned i = 0; i < snap->count; i++) {
        const flared_worker_slot *s = &snap->slots[i];
        add_slot(&total, s);
        json_t *w = counters_json(s);
        json_object_set_new(w, "id", json_integer(s->worker_id));
        json_object_set_new(w, "pid", json_integer(s->pid));
        json_object_set_new(w, "alive", json_boolean(s->alive));
        json_object_set_new(w, "generation", json_integer(s->generation));
        json_object_set_new(w, "starts", json_integer((json_int_t)s->starts));
        if (current(snap, s)) {
            add_upstreams(total.upstreams, s);
            json_object_set_new(w, "upstreams", upstreams_json(ctx->state->cfg, s->upstreams));
        }
        json_array_append_new(workers, w);
    }
    json_t *routes = json_array();
    each_route(ctx->state->cfg, route_json, &(route_out){routes, snap});
    static flared_worker_slot mine;
    own_counters(ctx, snap, &mine);
    json_t *own = counters_json(&mine);
    /* The top-level worker/connections/requests keys describe the answering worker: the
     * same numbers as its entry in workers (a request counts once answered, 400s
     * included), not the server's count of parsed heads, which left out refused heads
     * and counted requests still in flight. */
    json_t *doc = json_pack("{s:s,s:i,s:i,s:b,s:f,s:I,s:i}", "version", FLARED_VERSION, "worker",
                            (int)ctx->state->worker_id, "pid", (int)getpid(), "draining",
                            ctx->state->draining, "uptime_seconds", uptime_seconds(), "reloads",
                            (json_int_t)h->reloads, "generation", (int)h->generation);
    if (!doc || !own) {
        json_decref(doc);
        json_decref(own);
        json_decref(workers);
        json_decref(routes);
        return NULL;
    }
    static const char *const own_keys[] = {"connections", "requests", "responses", "bytes_in",
                                           "bytes_out"};
    for (size_t i = 0; i < sizeof own_keys / sizeof own_keys[0]; i++)
        json_object_set(doc, own_keys[i], json_object_get(own, own_keys[i]));
    json_decref(own);
    json_object_set_new(doc, "total", counters_json(&total));
    json_object_set_new(doc, "workers", workers);
    json_object_set_new(doc, "routes", routes);
    json_object_set_new(json_object_get(doc, "total"), "upstreams",
                        upstreams_json(ctx->state->cfg, total.upstreams));
    /* 15 significant digits print a millisecond uptime or a bucket bound as written
     * (1.527, 0.005); jansson's default 17 shows the binary value (1.5269999999999999). */
    char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(doc);
    if (text) *len = strlen(text);
    return text;
}

/* ------------------------------------------------------------ Prometheus */

static void family(flare_buf *b, const char *name, const char *type, const char *help)
{
    flare_buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

typedef struct family_def {
    const char *suffix, *type, *help;
} family_def;

static const family_def families[] = {
    {"requests_total", "counter", "Requests answered, by status class."},
    {"connections", "gauge", "Open client connections, by state."},
    {"connections_accepted_total", "counter", "Client connections accepted."},
    {"received_bytes_total", "counter", "Bytes read from clients."},
    {"sent_bytes_total", "counter", "Bytes written to clients."},
    {"tls_handshakes_total", "counter", "TLS handshakes completed."},
    {"tls_handshake_failures_total", "counter", "TLS handshakes failed."},
    {"websocket_connections", "gauge", "Open WebSocket connections."},
    {"websocket_connections_total", "counter", "WebSocket connections opened."},
    {"websocket_messages_total", "counter", "WebSocket messages, by direction."},
    {"request_duration_seconds", "histogram",
     "Time from a complete request head to the last response byte written."},
    {"rate_limited_requests_total", "counter", "Requests refused by a rate_limit."},
    {"rate_limit_evictions_total", "counter",
     "New rate limit clients that took over a bucket still held (and what it held)."},
};

/* "{labels,extra}", or nothing when both are empty (the text format allows no braces). */
static const char *label_set(char *out, size_t cap, const char *labels, const char *extra)
{
    if (!*labels && !*extra) return "";
    snprintf(out, cap, "{%s%s%s}", labels, *labels && *extra ? "," : "", extra);
    return out;
}

/* Label sets: "" for the summed family, worker="N",generation="G" for the per-worker one. */
static void counter_lines(flare_buf *b, const char *prefix, const char *labels,
                          const flared_worker_slot *s, int part)
{
    char ls[160], extra[48];
    switch (part) {
    case 0:
        for (int c = 1; c <= 5; c++) {
            snprintf(extra, sizeof extra, "class=\"%dxx\"", c);
            flare_buf_appendf(b, "%s_requests_total%s %llu\n", prefix,
                              label_set(ls, sizeof ls, labels, extra),
                              (unsigned long long)s->by_class[c]);
        }
        break;
    case 1: {
        const char *st[] = {"active", "reading", "writing", "idle"};
        const uint64_t v[] = {s->active, s->reading, s->writing, s->idle};
        for (int i = 0; i < 4; i++) {
            snprintf(extra, sizeof extra, "state=\"%s\"", st[i]);
            flare_buf_appendf(b, "%s_connections%s %llu\n", prefix,
                              label_set(ls, sizeof ls, labels, extra), (unsigned long long)v[i]);
        }
        break;
    }
    case 9:
        flare_buf_appendf(b, "%s_websocket_messages_total%s %llu\n", prefix,
                          label_set(ls, sizeof ls, labels, "direction=\"in\""),
                          (unsigned long long)s->ws.stats.messages_in);
        flare_buf_appendf(b, "%s_websocket_messages_total%s %llu\n", prefix,
                          label_set(ls, sizeof ls, labels, "direction=\"out\""),
                          (unsigned long long)s->ws.stats.messages_out);
        break;
    case 10: {
        uint64_t cumulative = 0;
        for (int i = 0; i <= FLARED_HIST_BUCKETS; i++) {
            cumulative += s->duration_buckets[i];
            if (i < FLARED_HIST_BUCKETS)
                snprintf(extra, sizeof extra, "le=\"%g\"", (double)flared_hist_bounds_us[i] / 1e6);
            else
                snprintf(extra, sizeof extra, "le=\"+Inf\"");
            flare_buf_appendf(b, "%s_request_duration_seconds_bucket%s %llu\n", prefix,
                              label_set(ls, sizeof ls, labels, extra),
                              (unsigned long long)cumulative);
        }
        flare_buf_appendf(b, "%s_request_duration_seconds_sum%s %.6f\n", prefix,
                          label_set(ls, sizeof ls, labels, ""), (double)s->duration_sum_us / 1e6);
        flare_buf_appendf(b, "%s_request_duration_seconds_count%s %llu\n", prefix,
                          label_set(ls, sizeof ls, labels, ""), (unsigned long long)cumulative);
        break;
    }
    default: {
        /* The single-value families, in the order of the table below. */
        const uint64_t v[] = {0,
                              0,
                              s->accepted,
                              s->bytes_in,
                              s->bytes_out,
                              s->tls_handshakes,
                              s->tls_failures,
                              s->ws.stats.active,
                              s->ws.stats.opened,
                              0,
                              0,
                              s->rate_limited,
                              s->rate_limit_evictions};
        flare_buf_appendf(b, "%s_%s%s %llu\n", prefix, families[part].suffix,
                          label_set(ls, sizeof ls, labels, ""), (unsigned long long)v[part]);
        break;
    }
    }
}

/* Escapes a label value (text exposition format: backslash, quote, newline). */
static void label_value(flare_buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            flare_buf_appendf(b, "\\%c", *s);
        else if (*s == '\n')
            flare_buf_append_str(b, "\\n");
        else
            flare_buf_append(b, s, 1);
    }
}

static void route_prom(void *data, size_t index, const char *host, const flared_route *rt)
{
    const route_out *r = data;
    flare_buf *b = r->out;
    flare_buf_append_str(b, "flared_route_requests_total{host=\"");
    label_value(b, host);
    flare_buf_append_str(b, "\",path=\"");
    label_value(b, rt->path);
    flare_buf_appendf(b, "\",index=\"%zu\"} %llu\n", index,
                      (unsigned long long)route_requests(r->snap, index));
}

/* Writes family f's samples: of the sum (s NULL, labels "") or of one worker. */
typedef void (*lines_fn)(flare_buf *b, const char *prefix, const char *labels,
                         const flared_worker_slot *s, size_t f, void *data);

/* Summed families flared_NAME then per-worker ones flared_worker_NAME (labels worker and
 * generation) over the used slots, or only the current generation's. */
static void family_pairs(flare_buf *b, const snapshot *snap, const char *infix,
                         const family_def *defs, size_t count, bool current_only, lines_fn fn,
                         void *data)
{
    for (size_t f = 0; f < count; f++) {
        char name[96];
        snprintf(name, sizeof name, "flared_%s%s", infix, defs[f].suffix);
        family(b, name, defs[f].type, defs[f].help);
        fn(b, "flared", "", NULL, f, data);
    }
    for (size_t f = 0; f < count; f++) {
        char name[96], help[160];
        snprintf(name, sizeof name, "flared_worker_%s%s", infix, defs[f].suffix);
        snprintf(help, sizeof help, "%s Per worker.", defs[f].help);
        family(b, name, defs[f].type, help);
        for (unsigned i = 0; i < snap->count; i++) {
            const flared_worker_slot *s = &snap->slots[i];
            if (current_only && !current(snap, s)) continue;
            char labels[48];
            snprintf(labels, sizeof labels, "worker=\"%u\",generation=\"%u\"", s->worker_id,
                     s->generation);
            fn(b, "flared_worker", labels, s, f, data);
        }
    }
}

static const family_def upstream_families[] = {
    {"requests_total", "counter", "Attempts sent to an upstream server (retries count again)."},
    {"responses_total", "counter", "Upstream response heads, by status class."},
    {"failures_total", "counter", "Failed attempts: connect, reset, timeout, bad response."},
    {"connect_failures_total", "counter", "Connects refused, failed or timed out."},
    {"timeouts_total", "counter", "Connect or read timeouts."},
    {"client_aborts_total", "counter", "Attempts cut short by the client leaving (logged 499)."},
    {"active_requests", "gauge", "Requests in flight to the server."},
    {"up", "gauge", "1 when a worker would send the server requests (summed: such workers)."},
};

typedef struct upstream_prom_ctx {
    flare_buf *b;
    const char *prefix, *labels; /* labels: "" or worker="N",generation="G" */
    const flared_upstream_counters *counters;
    size_t part; /* into upstream_families */
} upstream_prom_ctx;

static void upstream_line(const upstream_prom_ctx *x, const flared_upstream *u,
                          const flared_upstream_server *sv, const char *extra, uint64_t v)
{
    flare_buf_appendf(x->b, "%s_upstream_%s{%s%supstream=\"", x->prefix,
                      upstream_families[x->part].suffix, x->labels, *x->labels ? "," : "");
    label_value(x->b, u->name);
    flare_buf_append_str(x->b, "\",server=\"");
    label_value(x->b, sv->address);
    flare_buf_appendf(x->b, "\"%s} %llu\n", extra, (unsigned long long)v);
}

static void upstream_prom(void *data, size_t k, const flared_upstream *u,
                          const flared_upstream_server *sv)
{
    const upstream_prom_ctx *x = data;
    const flared_upstream_counters *c = &x->counters[k];
    if (x->part == 1) {
        for (int cls = 1; cls <= 5; cls++) {
            char extra[24];
            snprintf(extra, sizeof extra, ",class=\"%dxx\"", cls);
            upstream_line(x, u, sv, extra, c->responses[cls]);
        }
        return;
    }
    const uint64_t v[] = {c->requests,         0,           c->failures,
                          c->connect_failures, c->timeouts, c->client_aborts,
                          c->active,           c->up};
    upstream_line(x, u, sv, "", v[x->part]);
}

typedef struct upstream_sum_ctx {
    const flared_config *cfg;
    const flared_upstream_counters *sum;
} upstream_sum_ctx;

static void upstream_family_lines(flare_buf *b, const char *prefix, const char *labels,
                                  const flared_worker_slot *s, size_t f, void *data)
{
    const upstream_sum_ctx *u = data;
    upstream_prom_ctx x = {b, prefix, labels, s ? s->upstreams : u->sum, f};
    each_upstream_server(u->cfg, upstream_prom, &x);
}

static void slot_family_lines(flare_buf *b, const char *prefix, const char *labels,
                              const flared_worker_slot *s, size_t f, void *data)
{
    counter_lines(b, prefix, labels, s ? s : data, (int)f);
}

/* The flared_upstream_* families summed over the current generation's workers, then
 * flared_worker_upstream_* per worker. */
static void upstreams_prometheus(const flared_config *cfg, const snapshot *snap, flare_buf *b)
{
    static flared_upstream_counters sum[FLARED_METRICS_UPSTREAM_SERVERS_MAX];
    memset(sum, 0, sizeof sum);
    for (unsigned i = 0; i < snap->count; i++)
        if (current(snap, &snap->slots[i])) add_upstreams(sum, &snap->slots[i]);
    upstream_sum_ctx u = {cfg, sum};
    family_pairs(b, snap, "upstream_", upstream_families,
                 sizeof upstream_families / sizeof upstream_families[0], true,
                 upstream_family_lines, &u);
}

static int status_prometheus(const flared_route_ctx *ctx, const snapshot *snap, flare_buf *b)
{
    flared_metrics_header *h = flared_metrics_get_header();
    flared_worker_slot total = {0};
    for (unsigned i = 0; i < snap->count; i++)
        add_slot(&total, &snap->slots[i]);
    family(b, "flared_build_info", "gauge", "The running flared's version.");
    flare_buf_appendf(b, "flared_build_info{version=\"%s\"} 1\n", FLARED_VERSION);
    family(b, "flared_uptime_seconds", "gauge", "Seconds since the master started.");
    flare_buf_appendf(b, "flared_uptime_seconds %.3f\n", uptime_seconds());
    family(b, "flared_reloads_total", "counter", "Configuration reloads done.");
    flare_buf_appendf(b, "flared_reloads_total %llu\n", (unsigned long long)h->reloads);
    family_pairs(b, snap, "", families, sizeof families / sizeof families[0], false,
                 slot_family_lines, &total);
    family(b, "flared_route_requests_total", "counter",
           "Requests per route of the current configuration.");
    each_route(ctx->state->cfg, route_prom, &(route_out){b, snap});
    if (ctx->state->cfg->upstream_count) upstreams_prometheus(ctx->state->cfg, snap, b);
    return 0;
}

static int answer_prometheus(const flared_route_ctx *ctx, const snapshot *snap,
                             flare_response *resp)
{
    flare_buf b = FLARE_BUF_INIT;
    status_prometheus(ctx, snap, &b);
    int rc =
        flare_response_text(resp, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
    flare_buf_free(&b);
    return rc;
}

static int answer_json(const flared_route_ctx *ctx, const snapshot *snap, flare_response *resp)
{
    size_t len = 0;
    char *text = status_json(ctx, snap, &len);
    if (!text) return FLARE_ENOMEM;
    int rc = 0;
    char *end = ctx->state->proxy ? memrchr(text, '}', len) : NULL;
    if (end) {
        /* This worker's view of the proxy's upstreams goes inside the object. */
        flare_buf b = FLARE_BUF_INIT;
        rc = flare_buf_append(&b, text, (size_t)(end - text));
        if (rc == 0) rc = flare_buf_append_str(&b, ",\"upstreams\":");
        if (rc == 0) rc = flared_proxy_status_json(ctx->state->proxy, &b);
        if (rc == 0) rc = flare_buf_append(&b, end, len - (size_t)(end - text));
        if (rc == 0) rc = flare_response_text(resp, 200, "application/json", b.data, b.len);
        flare_buf_free(&b);
    } else {
        rc = flare_response_text(resp, 200, "application/json", text, len);
    }
    free(text);
    return rc;
}

int flared_handle_status(const flare_request *req, flare_response *resp, void *data)
{
    const flared_route_ctx *ctx = data;
    flared_route_headers(resp, ctx);
    flare_response_header(resp, "Cache-Control", "no-store");
    flare_response_header(resp, "Vary", "Accept");
    if (!flared_metrics_get_header())
        return flare_response_text(resp, 503, "text/plain; charset=utf-8", "no metrics\n", 11);
    flared_worker_slot *own = own_slot(ctx);
    if (own) refresh_own(ctx, own);
    snapshot snap;
    if (snapshot_take(&snap) < 0) return FLARE_ENOMEM;
    int rc = flared_status_wants_prometheus(req) ? answer_prometheus(ctx, &snap, resp)
                                                 : answer_json(ctx, &snap, resp);
    free(snap.slots);
    return rc;
}
