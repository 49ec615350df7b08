/*
 * config_process.c: the process and network-trust settings: `user`, `group`
 * (looked up now, so a name that does not exist is a config error with its
 * position, not a failure after binding), `pid_file`, `trusted_proxies`, and
 * the CIDR lists that `trusted_proxies` and a route's `allow` share.
 */
#include "config_internal.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flare/net.h"

#define MAX_CIDRS 1024

int flared_cfg_cidrs(flared_cfg_ctx *c, yaml_node_t *node, const char *key, const flare_cidr **out,
                     size_t *count)
{
    yaml_node_item_t *items;
    size_t n;
    char shown[FLARED_CFG_SHOW_MAX];
    int rc = flared_cfg_seq(c, node, key, &items, &n);
    if (rc < 0) return rc;
    if (n == 0)
        return flared_cfg_fail(c, node, "%s: the list is empty; give at least one CIDR block", key);
    if (n > MAX_CIDRS) return flared_cfg_fail(c, node, "%s: more than %d blocks", key, MAX_CIDRS);
    flare_cidr *blocks = flared_cfg_alloc(c, n * sizeof *blocks);
    if (!blocks) return flared_cfg_nomem(c);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = flared_cfg_node(c, items[i]);
        const char *s;
        size_t len;
        rc = flared_cfg_scalar(c, item, key, &s, &len);
        if (rc < 0) return rc;
        flare_error net_err;
        flare_error_clear(&net_err);
        if (flare_cidr_parse(&blocks[i], s, len, &net_err) < 0)
            return flared_cfg_fail(c, item,
                                   "%s: invalid CIDR block %s (%s); use e.g. 10.0.0.0/8, "
                                   "127.0.0.1 or ::1/128",
                                   key, flared_cfg_quote(s, len, shown), net_err.message);
    }
    *out = blocks;
    *count = n;
    return 0;
}

/* getpwnam_r/getgrnam_r with a buffer that grows while the entry does not fit. */
static int lookup_user(const char *name, struct passwd *pw, char **buf)
{
    size_t cap = 1024;
    for (;;) {
        char *b = realloc(*buf, cap);
        if (!b) return ENOMEM;
        *buf = b;
        struct passwd *res = NULL;
        int e = getpwnam_r(name, pw, b, cap, &res);
        if (e == ERANGE && cap < (1u << 20)) {
            cap *= 2;
            continue;
        }
        return e ? e : res ? 0 : ENOENT;
    }
}

static int lookup_group(const char *name, struct group *gr, char **buf)
{
    size_t cap = 1024;
    for (;;) {
        char *b = realloc(*buf, cap);
        if (!b) return ENOMEM;
        *buf = b;
        struct group *res = NULL;
        int e = getgrnam_r(name, gr, b, cap, &res);
        if (e == ERANGE && cap < (1u << 20)) {
            cap *= 2;
            continue;
        }
        return e ? e : res ? 0 : ENOENT;
    }
}

int flared_cfg_user_group(flared_cfg_ctx *c, yaml_node_t *user, yaml_node_t *group)
{
    flared_config *cfg = c->cfg;
    char *buf = NULL;
    int rc = 0;
    if (user) {
        cfg->user_line = flared_cfg_line(user);
        cfg->user_column = flared_cfg_column(user);
        rc = flared_cfg_string(c, user, "user", &cfg->user);
        struct passwd pw;
        int e = rc < 0 ? 0 : lookup_user(cfg->user, &pw, &buf);
        if (rc == 0 && e == 0) {
            cfg->uid = pw.pw_uid;
            cfg->gid = pw.pw_gid; /* the user's primary group unless `group` says otherwise */
        } else if (rc == 0) {
            rc = flared_cfg_fail(c, user, "user: no user named '%s' on this system%s%s", cfg->user,
                                 e == ENOENT ? "" : ": ", e == ENOENT ? "" : strerror(e));
        }
    }
    if (rc == 0 && group) {
        cfg->group_line = flared_cfg_line(group);
        cfg->group_column = flared_cfg_column(group);
        rc = flared_cfg_string(c, group, "group", &cfg->group);
        struct group gr;
        int e = rc < 0 ? 0 : lookup_group(cfg->group, &gr, &buf);
        if (rc == 0 && e == 0)
            cfg->gid = gr.gr_gid;
        else if (rc == 0)
            rc = flared_cfg_fail(c, group, "group: no group named '%s' on this system%s%s",
                                 cfg->group, e == ENOENT ? "" : ": ",
                                 e == ENOENT ? "" : strerror(e));
    }
    free(buf);
    return rc;
}
