/*
 * config_tls.c: a listener's `tls` block: certificates (the first is the
 * default; the others are picked by SNI), min_version, ALPN, client_ca,
 * client_verify and verify_depth (mTLS) and session_tickets. Every file is opened and every key
 * checked against its certificate here, so a config that loads is one the workers can serve: a bad
 * file is a FILE:LINE:COLUMN error at load time, not a worker dying later.
 */
#include "config_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flare/dns.h"
#include "flare/tls.h"

#define MAX_NAMES 1024 /* SNI names of one certificate */

_Static_assert(FLARED_TLS_CERTS_MAX == FLARE_TLS_MAX_CERTS, "config and tls layer limits differ");
_Static_assert(FLARED_TLS_ALPN_MAX == FLARE_TLS_MAX_ALPN, "config and tls layer limits differ");

static const char *const tls_keys[] = {
    "certificates", "min_version",     "alpn", "client_ca", "client_verify",
    "verify_depth", "session_tickets", NULL};
enum {
    K_CERTIFICATES,
    K_MIN_VERSION,
    K_ALPN,
    K_CLIENT_CA,
    K_CLIENT_VERIFY,
    K_VERIFY_DEPTH,
    K_SESSION_TICKETS,
    K_TLS_KEYS
};

/* nginx's ssl_verify_client values but `off` (no client_ca is off), in enum order. */
static const char *const client_verify_names[] = {"on", "optional", "optional_no_ca"};
_Static_assert(FLARE_TLS_CLIENT_VERIFY_OPTIONAL_NO_CA == 2, "client_verify_names order");

static const char *const cert_keys[] = {"cert", "key", "names", NULL};
enum { K_CERT, K_KEY, K_NAMES, K_CERT_KEYS };

/* Both versions flared speaks, 1.1 preferred: a client that offers only http/1.0
 * (curl --http1.0 does) is served, not refused with no_application_protocol. */
static const char *const default_alpn[] = {"http/1.1", "http/1.0"};

int flared_cfg_file(flared_cfg_ctx *c, yaml_node_t *node, const char *key, const char **out)
{
    int rc = flared_cfg_path(c, node, key, out);
    if (rc < 0) return rc;
    int fd = open(*out, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return flared_cfg_fail(c, node, "%s: cannot read '%s': %s", key, *out, strerror(errno));
    struct stat st;
    bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    close(fd);
    if (!regular) return flared_cfg_fail(c, node, "%s: '%s' is not a regular file", key, *out);
    return 0;
}

/* An SNI name: a host name or "*." and one, stored lower-case without a trailing dot. */
static int parse_name(flared_cfg_ctx *c, yaml_node_t *node, const char **out, size_t *out_len)
{
    char shown[FLARED_CFG_SHOW_MAX];
    const char *written;
    int rc = flared_cfg_string(c, node, "names", &written);
    if (rc < 0) return rc;
    size_t len = strlen(written);
    flared_cfg_quote(written, len, shown);
    if (len > 0 && written[len - 1] == '.') len--;
    size_t skip = len > 2 && written[0] == '*' && written[1] == '.' ? 2 : 0;
    if (len == skip || written[len - 1] == '.' ||
        flare_hostname_validate(written + skip, len - skip, NULL) < 0)
        return flared_cfg_fail(c, node,
                               "names: %s is not a host name (like www.example.com or "
                               "*.example.com)",
                               shown);
    char *name = flared_cfg_strndup(c, written, len);
    if (!name) return flared_cfg_nomem(c);
    for (size_t i = 0; i < len; i++)
        if (name[i] >= 'A' && name[i] <= 'Z') name[i] = (char)(name[i] - 'A' + 'a');
    *out = name;
    *out_len = len;
    return 0;
}

/* The names of one certificate; each is also appended to all[] for the duplicate check. */
static int parse_names(flared_cfg_ctx *c, yaml_node_t *node, flared_tls_cert *cert,
                       flared_cfg_dup *all, size_t *all_count)
{
    yaml_node_item_t *items;
    size_t n;
    int rc = flared_cfg_seq(c, node, "names", &items, &n);
    if (rc < 0) return rc;
    if (n == 0)
        return flared_cfg_fail(c, node,
                               "names: empty list; omit the key to use the certificate's own "
                               "names");
    if (n > MAX_NAMES) return flared_cfg_fail(c, node, "names: more than %d", MAX_NAMES);
    const char **names = flared_cfg_alloc(c, n * sizeof *names);
    if (!names) return flared_cfg_nomem(c);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = flared_cfg_node(c, items[i]);
        size_t len = 0;
        if ((rc = parse_name(c, item, &names[i], &len)) < 0) return rc;
        all[(*all_count)++] = (flared_cfg_dup){names[i], len, item};
    }
    cert->names = names;
    cert->name_count = n;
    return 0;
}

static int parse_cert(flared_cfg_ctx *c, yaml_node_t *node, flared_tls_cert *cert,
                      flared_cfg_dup *all, size_t *all_count)
{
    yaml_node_t *v[K_CERT_KEYS];
    int rc = flared_cfg_map(c, node, "certificates", "in a certificate", cert_keys, v, NULL, NULL);
    if (rc < 0) return rc;
    if (!v[K_CERT] || !v[K_KEY])
        return flared_cfg_fail(c, node, "certificates: missing required key '%s'",
                               v[K_CERT] ? "key" : "cert");
    cert->line = flared_cfg_line(node);
    cert->column = flared_cfg_column(node);
    if ((rc = flared_cfg_file(c, v[K_CERT], "cert", &cert->cert)) < 0) return rc;
    if ((rc = flared_cfg_file(c, v[K_KEY], "key", &cert->key)) < 0) return rc;
    if (v[K_NAMES] && (rc = parse_names(c, v[K_NAMES], cert, all, all_count)) < 0) return rc;
    /* Bad PEM and a key that is not the certificate's are only found by loading both. */
    flare_error tls_err;
    flare_error_clear(&tls_err);
    if (flare_tls_check_cert_pair(cert->cert, cert->key, &tls_err) < 0)
        return tls_err.code == FLARE_ENOMEM
                   ? flared_cfg_nomem(c)
                   : flared_cfg_fail(c, node, "certificates: %s", tls_err.message);
    return 0;
}

/* An upper bound on the names of all certificates, to size the duplicate check. */
static size_t count_names(flared_cfg_ctx *c, yaml_node_item_t *items, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = flared_cfg_node(c, items[i]);
        if (item->type != YAML_MAPPING_NODE) continue;
        for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = flared_cfg_node(c, p->key), *v = flared_cfg_node(c, p->value);
            if (k->type == YAML_SCALAR_NODE && v->type == YAML_SEQUENCE_NODE)
                total += (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
        }
    }
    return total;
}

static int parse_certs(flared_cfg_ctx *c, yaml_node_t *node, flared_tls *t)
{
    yaml_node_item_t *items;
    size_t n;
    int rc = flared_cfg_seq(c, node, "certificates", &items, &n);
    if (rc < 0) return rc;
    if (n == 0)
        return flared_cfg_fail(c, node,
                               "certificates: at least one is required, e.g. "
                               "[{cert: cert.pem, key: key.pem}]");
    if (n > FLARED_TLS_CERTS_MAX)
        return flared_cfg_fail(c, node, "certificates: more than %d", FLARED_TLS_CERTS_MAX);
    flared_tls_cert *certs = flared_cfg_alloc(c, n * sizeof *certs);
    flared_cfg_dup *all = flared_cfg_alloc(c, (count_names(c, items, n) + 1) * sizeof *all);
    if (!certs || !all) return flared_cfg_nomem(c);
    size_t all_count = 0;
    for (size_t i = 0; i < n; i++)
        if ((rc = parse_cert(c, flared_cfg_node(c, items[i]), &certs[i], all, &all_count)) < 0)
            return rc;
    /* SNI picks the first certificate that names the host: a second one would never serve it. */
    const flared_cfg_dup *first, *dup;
    char shown[FLARED_CFG_SHOW_MAX];
    if (flared_cfg_find_dup(all, all_count, &first, &dup))
        return flared_cfg_fail(c, dup->node, "names: %s is already named at line %u, column %u",
                               flared_cfg_show(dup->node, shown), flared_cfg_line(first->node),
                               flared_cfg_column(first->node));
    t->certs = certs;
    t->cert_count = n;
    return 0;
}

static int parse_min_version(flared_cfg_ctx *c, yaml_node_t *node, flared_tls *t)
{
    char shown[FLARED_CFG_SHOW_MAX];
    if (node->type == YAML_SCALAR_NODE && node->data.scalar.length == 3) {
        const char *s = (const char *)node->data.scalar.value;
        if (memcmp(s, "1.2", 3) == 0) {
            t->min_version = FLARED_TLS_1_2;
            return 0;
        }
        if (memcmp(s, "1.3", 3) == 0) {
            t->min_version = FLARED_TLS_1_3;
            return 0;
        }
    }
    /* RFC 8996 deprecates TLS 1.0 and 1.1; the tls layer never offers them. */
    return flared_cfg_fail(c, node,
                           "min_version: expected \"1.2\" or \"1.3\", got %s (TLS 1.0 and 1.1 "
                           "are not supported)",
                           flared_cfg_show(node, shown));
}

/* Why an ALPN protocol id is refused, or NULL. RFC 7301 §3.1 allows 1..255 opaque
 * bytes; flared takes the registered ids of what it speaks, since advertising h2
 * would make clients talk HTTP/2 to an HTTP/1.1 server. */
static const char *alpn_problem(const char *s, size_t len)
{
    if (len == 0 || len > 255) return "must be 1..255 bytes";
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return "has spaces, control or non-ASCII characters";
    if ((len == 8 && memcmp(s, "http/1.1", 8) == 0) || (len == 8 && memcmp(s, "http/1.0", 8) == 0))
        return NULL;
    return "is not a protocol flared speaks (http/1.1 or http/1.0)";
}

static int parse_alpn(flared_cfg_ctx *c, yaml_node_t *node, flared_tls *t)
{
    char shown[FLARED_CFG_SHOW_MAX];
    yaml_node_item_t *items;
    size_t n;
    int rc = flared_cfg_seq(c, node, "alpn", &items, &n);
    if (rc < 0) return rc;
    if (n > FLARED_TLS_ALPN_MAX)
        return flared_cfg_fail(c, node, "alpn: more than %d protocols", FLARED_TLS_ALPN_MAX);
    const char **list = flared_cfg_alloc(c, (n ? n : 1) * sizeof *list);
    if (!list) return flared_cfg_nomem(c);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = flared_cfg_node(c, items[i]);
        const char *s;
        size_t len;
        if ((rc = flared_cfg_scalar(c, item, "alpn", &s, &len)) < 0) return rc;
        const char *why = alpn_problem(s, len);
        if (why)
            return flared_cfg_fail(c, item, "alpn: %s %s", flared_cfg_quote(s, len, shown), why);
        for (size_t j = 0; j < i; j++)
            if (strlen(list[j]) == len && memcmp(list[j], s, len) == 0)
                return flared_cfg_fail(c, item, "alpn: %s is listed twice",
                                       flared_cfg_quote(s, len, shown));
        if (!(list[i] = flared_cfg_strndup(c, s, len))) return flared_cfg_nomem(c);
    }
    t->alpn = list;
    t->alpn_count = n;
    return 0;
}

/* A CA bundle is only known to hold certificates once OpenSSL has read it: build a
 * throwaway context around the default certificate (already checked) to find out. */
static int parse_client_ca(flared_cfg_ctx *c, yaml_node_t *node, flared_tls *t)
{
    int rc = flared_cfg_file(c, node, "client_ca", &t->client_ca);
    if (rc < 0) return rc;
    flare_tls_cert_config cert = {.cert_file = t->certs[0].cert, .key_file = t->certs[0].key};
    flare_tls_server_config cfg = {.certs = &cert, .cert_count = 1, .client_ca = t->client_ca};
    flare_tls_server_ctx *ctx = NULL;
    flare_error tls_err;
    flare_error_clear(&tls_err);
    rc = flare_tls_server_ctx_new(&ctx, &cfg, &tls_err);
    flare_tls_server_ctx_free(ctx);
    if (rc == FLARE_ENOMEM) return flared_cfg_nomem(c);
    if (rc < 0) return flared_cfg_fail(c, node, "client_ca: %s", tls_err.message);
    return 0;
}

static int parse_client_verify(flared_cfg_ctx *c, yaml_node_t *node, flared_tls *t)
{
    char shown[FLARED_CFG_SHOW_MAX];
    size_t i = FLARE_N_ELEMENTS(client_verify_names);
    if (node->type == YAML_SCALAR_NODE)
        for (i = 0; i < FLARE_N_ELEMENTS(client_verify_names); i++)
            if (strlen(client_verify_names[i]) == node->data.scalar.length &&
                memcmp(client_verify_names[i], node->data.scalar.value, node->data.scalar.length) ==
                    0)
                break;
    if (i == FLARE_N_ELEMENTS(client_verify_names))
        return flared_cfg_fail(c, node,
                               "client_verify: expected on, optional or optional_no_ca, got %s",
                               flared_cfg_show(node, shown));
    t->client_verify = (flare_tls_client_verify)i;
    /* nginx too takes optional_no_ca alone: every certificate then fails verification,
     * and the application judges it by $ssl_client_s_dn (or an upstream by the field). */
    if (!t->client_ca && t->client_verify != FLARE_TLS_CLIENT_VERIFY_OPTIONAL_NO_CA)
        return flared_cfg_fail(c, node,
                               "client_verify: %s needs client_ca, the CA bundle that client "
                               "certificates are verified against",
                               client_verify_names[t->client_verify]);
    return 0;
}

static int parse_verify_depth(flared_cfg_ctx *c, yaml_node_t *node, flared_tls *t)
{
    uint64_t depth;
    int rc = flared_cfg_uint(c, node, "verify_depth", 1, 100, &depth);
    if (rc < 0) return rc;
    if (!t->client_ca && t->client_verify != FLARE_TLS_CLIENT_VERIFY_OPTIONAL_NO_CA)
        return flared_cfg_fail(c, node,
                               "verify_depth: no client certificates are asked for; add "
                               "client_ca");
    t->verify_depth = (int)depth;
    return 0;
}

int flared_tls_context_new(const flared_tls *t, flare_tls_log_fn log, void *log_ctx,
                           flare_tls_server_ctx **out, flare_error *err)
{
    flare_tls_cert_config certs[FLARED_TLS_CERTS_MAX];
    for (size_t i = 0; i < t->cert_count; i++)
        certs[i] = (flare_tls_cert_config){.cert_file = t->certs[i].cert,
                                           .key_file = t->certs[i].key,
                                           .names = t->certs[i].names,
                                           .name_count = t->certs[i].name_count};
    flare_tls_server_config sc = {
        .certs = certs,
        .cert_count = t->cert_count,
        .min_version = t->min_version == FLARED_TLS_1_3 ? FLARE_TLS_1_3 : FLARE_TLS_1_2,
        .alpn = t->alpn,
        .alpn_count = t->alpn_count,
        .client_ca = t->client_ca,
        .client_verify = t->client_verify,
        .verify_depth = t->verify_depth,
        .session_tickets = t->session_tickets,
        .log = log,
        .log_ctx = log_ctx,
    };
    return flare_tls_server_ctx_new(out, &sc, err);
}

int flared_config_tls_open(flared_config *cfg, flare_tls_log_fn log, flare_error *err)
{
    if (cfg->tls_ctx) return 0;
    cfg->tls_ctx = calloc(cfg->listener_count, sizeof *cfg->tls_ctx);
    if (!cfg->tls_ctx) return flare_error_set(err, FLARE_ENOMEM, 0, "tls: out of memory");
    for (size_t i = 0; i < cfg->listener_count; i++) {
        const flared_listener *l = &cfg->listeners[i];
        flare_error tls_err;
        if (l->tls &&
            flared_tls_context_new(l->tls, log, (void *)l, &cfg->tls_ctx[i], &tls_err) < 0)
            return flare_error_set(err, tls_err.code, 0, "listener %s (line %u): %s", l->address,
                                   l->line, tls_err.message);
    }
    return 0;
}

int flared_cfg_tls(flared_cfg_ctx *c, yaml_node_t *node, const flared_tls **out)
{
    yaml_node_t *v[K_TLS_KEYS];
    int rc = flared_cfg_map(c, node, "tls", "in tls", tls_keys, v, NULL, NULL);
    if (rc < 0) return rc;
    if (!v[K_CERTIFICATES])
        return flared_cfg_fail(c, node,
                               "tls: missing required key 'certificates', e.g. "
                               "certificates: [{cert: cert.pem, key: key.pem}]");
    flared_tls *t = flared_cfg_alloc(c, sizeof *t);
    if (!t) return flared_cfg_nomem(c);
    t->line = flared_cfg_line(node);
    t->column = flared_cfg_column(node);
    t->min_version = FLARED_TLS_1_2;
    t->alpn = default_alpn;
    t->alpn_count = FLARE_N_ELEMENTS(default_alpn);
    t->session_tickets = true;
    rc = parse_certs(c, v[K_CERTIFICATES], t);
    if (rc == 0 && v[K_MIN_VERSION]) rc = parse_min_version(c, v[K_MIN_VERSION], t);
    if (rc == 0 && v[K_ALPN]) rc = parse_alpn(c, v[K_ALPN], t);
    if (rc == 0 && v[K_CLIENT_CA]) rc = parse_client_ca(c, v[K_CLIENT_CA], t);
    if (rc == 0 && v[K_CLIENT_VERIFY]) rc = parse_client_verify(c, v[K_CLIENT_VERIFY], t);
    if (rc == 0 && v[K_VERIFY_DEPTH]) rc = parse_verify_depth(c, v[K_VERIFY_DEPTH], t);
    if (rc == 0 && v[K_SESSION_TICKETS])
        rc = flared_cfg_bool(c, v[K_SESSION_TICKETS], "session_tickets", &t->session_tickets);
    if (rc < 0) return rc;
    *out = t;
    return 0;
}
