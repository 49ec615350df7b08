/*
 * cookie_jar.c: the client's cookie store (RFC 6265 §5.3 storage, §5.4 Cookie
 * header) with the RFC 6265bis rules a modern client keeps: Secure cookies only
 * from https, the __Secure- and __Host- prefixes. Invariant: every stored cookie
 * has a lowercase effective domain (host for host-only ones, "" for an
 * application cookie meant for every host), a path starting with "/" and an
 * expiry time (INT64_MAX for a session cookie). A Domain that is a public suffix
 * ("com", "co.uk", "github.io") is refused, by libpsl's Public Suffix List.
 */
#include "flare/cookie.h"

#include <libpsl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "flare/net.h"

typedef struct jar_entry {
    flare_cookie c;   /* domain and path always set; expires = expiry */
    uint64_t created; /* creation order, kept across replacement (§5.3 step 11.3) */
    uint64_t accessed;
    bool any_host; /* an application cookie without a domain */
} jar_entry;

struct flare_cookie_jar {
    jar_entry *items;
    size_t count, cap;
    uint64_t clock; /* a counter ordering creation and access */
};

int flare_cookie_jar_new(flare_cookie_jar **out, flare_error *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return flare_error_set(err, FLARE_ENOMEM, 0, "cookie jar: out of memory");
    return 0;
}

void flare_cookie_jar_clear(flare_cookie_jar *jar)
{
    for (size_t i = 0; i < jar->count; i++)
        flare_cookie_free(&jar->items[i].c);
    jar->count = 0;
}

void flare_cookie_jar_free(flare_cookie_jar *jar)
{
    if (!jar) return;
    flare_cookie_jar_clear(jar);
    free(jar->items);
    free(jar);
}

size_t flare_cookie_jar_count(const flare_cookie_jar *jar)
{
    return jar->count;
}

const flare_cookie *flare_cookie_jar_get(const flare_cookie_jar *jar, size_t i)
{
    return i < jar->count ? &jar->items[i].c : NULL;
}

const flare_cookie *flare_cookie_jar_find(const flare_cookie_jar *jar, const char *name,
                                          const char *domain)
{
    for (size_t i = 0; i < jar->count; i++) {
        const flare_cookie *c = &jar->items[i].c;
        if (!strcmp(c->name, name) && (!domain || !strcasecmp(c->domain, domain))) return c;
    }
    return NULL;
}

static void remove_at(flare_cookie_jar *jar, size_t i)
{
    flare_cookie_free(&jar->items[i].c);
    memmove(&jar->items[i], &jar->items[i + 1], (jar->count - i - 1) * sizeof *jar->items);
    jar->count--;
}

size_t flare_cookie_jar_remove_expired(flare_cookie_jar *jar, int64_t now)
{
    size_t removed = 0;
    for (size_t i = jar->count; i-- > 0;)
        if (jar->items[i].c.expires <= now) {
            remove_at(jar, i);
            removed++;
        }
    return removed;
}

static bool is_ip_literal(const char *host)
{
    flare_ip_addr ip;
    return flare_ip_parse(&ip, host, strlen(host), NULL) == 0;
}

static const psl_ctx_t *suffix_list;
static pthread_once_t suffix_list_once = PTHREAD_ONCE_INIT;

/* The newest of libpsl's built-in list and the system's copy (Debian's publicsuffix
 * package), loaded once and kept for the process's life. */
static void load_suffix_list(void)
{
    suffix_list = psl_latest(NULL);
    if (!suffix_list) suffix_list = psl_builtin();
}

/* Whether the lowercase name is a public suffix (§5.3 step 5), private entries
 * included as browsers count them. Without any list, a name without a dot is one,
 * the list's default rule "*". */
static bool is_public_suffix(const char *name)
{
    pthread_once(&suffix_list_once, load_suffix_list);
    if (!suffix_list) return !strchr(name, '.');
    return psl_is_public_suffix2(suffix_list, name, PSL_TYPE_ANY) == 1;
}

/* Domain matching (§5.1.3): identical, or a suffix after a '.' of a host name. An IP
 * address as the domain matches itself only: 192.0.2.1 is no parent of evil.192.0.2.1. */
static bool domain_match(const char *host, const char *domain)
{
    if (!strcasecmp(host, domain)) return true;
    size_t hl = strlen(host), dl = strlen(domain);
    return dl < hl && host[hl - dl - 1] == '.' && !strcasecmp(host + hl - dl, domain) &&
           !is_ip_literal(host) && !is_ip_literal(domain);
}

/* Path matching (§5.1.4). */
static bool path_match(const char *request_path, const char *cookie_path)
{
    size_t cl = strlen(cookie_path);
    if (strncmp(request_path, cookie_path, cl)) return false;
    return request_path[cl] == '\0' || cookie_path[cl - 1] == '/' || request_path[cl] == '/';
}

/* Default path (§5.1.4): the request path up to, not including, its last '/'. */
static int default_path(const char *uri_path, char **out)
{
    const char *last = uri_path ? strrchr(uri_path, '/') : NULL;
    size_t len = (!last || last == uri_path || uri_path[0] != '/') ? 1 : (size_t)(last - uri_path);
    *out = strndup(len == 1 ? "/" : uri_path, len);
    return *out ? 0 : FLARE_ENOMEM;
}

/* Evicts the least recently used cookie among those of domain (NULL: all). */
static void evict_one(flare_cookie_jar *jar, const char *domain)
{
    size_t victim = jar->count;
    for (size_t i = 0; i < jar->count; i++) {
        if (domain && strcasecmp(jar->items[i].c.domain, domain)) continue;
        if (victim == jar->count || jar->items[i].accessed < jar->items[victim].accessed)
            victim = i;
    }
    if (victim < jar->count) remove_at(jar, victim);
}

/*
 * Puts a prepared cookie (owned by the call from here on) in the jar, replacing one
 * of the same name, domain and path (§5.3 step 11), or deleting it when expired.
 */
static int insert(flare_cookie_jar *jar, flare_cookie *c, bool any_host, int64_t now,
                  flare_error *err)
{
    uint64_t created = ++jar->clock;
    for (size_t i = 0; i < jar->count; i++) {
        flare_cookie *old = &jar->items[i].c;
        if (!strcmp(old->name, c->name) && !strcmp(old->domain, c->domain) &&
            !strcmp(old->path, c->path)) {
            created = jar->items[i].created;
            remove_at(jar, i);
            break;
        }
    }
    if (c->expires <= now) { /* step 12: an expired cookie only deletes */
        flare_cookie_free(c);
        return 0;
    }
    flare_cookie_jar_remove_expired(jar, now);
    size_t same_domain = 0;
    for (size_t i = 0; i < jar->count; i++)
        if (!strcasecmp(jar->items[i].c.domain, c->domain)) same_domain++;
    if (same_domain >= FLARE_COOKIE_JAR_MAX_PER_DOMAIN) evict_one(jar, c->domain);
    if (jar->count >= FLARE_COOKIE_JAR_MAX) evict_one(jar, NULL);
    if (jar->count == jar->cap) {
        size_t cap = jar->cap ? jar->cap * 2 : 16;
        jar_entry *items = realloc(jar->items, cap * sizeof *items);
        if (!items) {
            flare_cookie_free(c);
            return flare_error_set(err, FLARE_ENOMEM, 0, "cookie jar: out of memory");
        }
        jar->items = items;
        jar->cap = cap;
    }
    jar->items[jar->count++] = (jar_entry){*c, created, ++jar->clock, any_host};
    memset(c, 0, sizeof *c);
    return 0;
}

/* The expiry of §5.3 step 3: Max-Age wins over Expires; none is a session cookie. */
static int64_t expiry_of(const flare_cookie *c, int64_t now)
{
    if (c->has_max_age) {
        if (c->max_age <= 0) return INT64_MIN;
        return c->max_age > INT64_MAX - now ? INT64_MAX : now + c->max_age;
    }
    if (c->has_expires) return c->expires;
    return INT64_MAX;
}

int flare_cookie_jar_set(flare_cookie_jar *jar, const flare_cookie *c, int64_t now,
                         flare_error *err)
{
    if (!c->name || !c->value)
        return flare_error_set(err, FLARE_EINVAL, 0, "cookie jar: cookie without a name");
    /* The caller may have filled c in by hand: its fields get the checks of
     * flare_cookie_init and the setters, since name and value are sent in Cookie
     * headers (CR LF or ';' there would inject) and the path must start with '/'. */
    flare_cookie copy;
    int rc = flare_cookie_init(&copy, c->name, c->value, err);
    if (rc == 0 && c->domain) rc = flare_cookie_set_domain(&copy, c->domain, err);
    if (rc == 0 && c->path) rc = flare_cookie_set_path(&copy, c->path, err);
    if (rc < 0) {
        flare_cookie_free(&copy);
        return rc;
    }
    copy.secure = c->secure;
    copy.http_only = c->http_only;
    copy.same_site = c->same_site;
    bool any_host = copy.domain == NULL;
    if (any_host) copy.domain = strdup("");
    if (!copy.path) copy.path = strdup("/");
    if (!copy.domain || !copy.path) {
        flare_cookie_free(&copy);
        return flare_error_set(err, FLARE_ENOMEM, 0, "cookie jar: out of memory");
    }
    copy.host_only = false;
    copy.expires = expiry_of(c, now);
    copy.has_expires = copy.expires != INT64_MAX;
    return insert(jar, &copy, any_host, now, err);
}

static int reject(flare_cookie *c, flare_error *err, const char *why, const char *host)
{
    int rc = flare_error_set(err, FLARE_EINVAL, 0, "cookie %s from %s rejected: %s",
                             c->name ? c->name : "?", host, why);
    flare_cookie_free(c);
    return rc;
}

int flare_cookie_jar_store(flare_cookie_jar *jar, const flare_url *url, const char *set_cookie,
                           size_t len, int64_t now, flare_error *err)
{
    flare_cookie c;
    int rc = flare_cookie_parse_set_cookie(&c, set_cookie, len, err);
    if (rc < 0) return rc;
    const char *host = url->host;
    bool https = flare_url_is_https(url);
    /* RFC 6265bis §5.7 steps: Secure needs a secure origin; prefixes carry rules. */
    if (c.secure && !https) return reject(&c, err, "Secure cookie over http", host);
    if (!strncasecmp(c.name, "__Secure-", 9) && (!c.secure || !https))
        return reject(&c, err, "__Secure- prefix without Secure over https", host);
    if (!strncasecmp(c.name, "__Host-", 7) &&
        (!c.secure || !https || c.domain || !c.path || strcmp(c.path, "/")))
        return reject(&c, err, "__Host- prefix needs Secure, https, Path=/ and no Domain", host);
    /* §5.3 step 5: a public suffix as Domain is refused (it would reach every site
     * under it), unless it is the host itself, which then gets a host-only cookie, as
     * an IP address host does. */
    if (c.domain && !strcasecmp(c.domain, host) &&
        (is_ip_literal(host) || is_public_suffix(c.domain))) {
        free(c.domain);
        c.domain = NULL;
    }
    if (c.domain) {
        if (is_public_suffix(c.domain)) return reject(&c, err, "Domain is a public suffix", host);
        if (!domain_match(host, c.domain))
            return reject(&c, err, "Domain does not domain-match the host", host); /* step 6 */
        c.host_only = false;
    } else {
        c.host_only = true;
        c.domain = strdup(host);
        if (!c.domain) goto nomem;
    }
    if (!c.path && default_path(url->path, &c.path) < 0) goto nomem; /* step 7 */
    /* Leave secure cookies alone (RFC 6265bis §5.7 step 15): http cannot shadow them. */
    if (!https)
        for (size_t i = 0; i < jar->count; i++) {
            const flare_cookie *old = &jar->items[i].c;
            if (old->secure && !strcmp(old->name, c.name) &&
                (domain_match(c.domain, old->domain) || domain_match(old->domain, c.domain)) &&
                path_match(c.path, old->path))
                return reject(&c, err, "would overwrite a Secure cookie over http", host);
        }
    c.expires = expiry_of(&c, now);
    c.has_expires = c.expires != INT64_MAX;
    return insert(jar, &c, false, now, err);
nomem:
    flare_cookie_free(&c);
    return flare_error_set(err, FLARE_ENOMEM, 0, "cookie jar: out of memory");
}

static bool matches(const jar_entry *e, const flare_url *url)
{
    const flare_cookie *c = &e->c;
    if (!url) return true;
    if (e->any_host) {
        if (!path_match(url->path, c->path)) return false;
    } else if (c->host_only ? strcasecmp(url->host, c->domain) != 0
                            : !domain_match(url->host, c->domain)) {
        return false;
    } else if (!path_match(url->path, c->path)) {
        return false;
    }
    return !c->secure || flare_url_is_https(url);
}

static int by_path_then_age(const void *a, const void *b)
{
    const jar_entry *x = *(const jar_entry *const *)a, *y = *(const jar_entry *const *)b;
    size_t xl = strlen(x->c.path), yl = strlen(y->c.path);
    if (xl != yl) return xl > yl ? -1 : 1; /* §5.4 step 2: longer paths first */
    return x->created < y->created ? -1 : x->created > y->created;
}

int flare_cookie_jar_header(flare_cookie_jar *jar, const flare_url *url, int64_t now,
                            flare_buf *out)
{
    flare_cookie_jar_remove_expired(jar, now);
    if (jar->count == 0) return 0;
    jar_entry **list = malloc(jar->count * sizeof *list);
    if (!list) return FLARE_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < jar->count; i++)
        if (matches(&jar->items[i], url)) list[n++] = &jar->items[i];
    qsort(list, n, sizeof *list, by_path_then_age);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = flare_buf_appendf(out, "%s%s=%s", i ? "; " : "", list[i]->c.name, list[i]->c.value);
        list[i]->accessed = ++jar->clock; /* §5.4 step 3 */
    }
    free(list);
    return rc < 0 ? FLARE_ENOMEM : (int)n;
}
