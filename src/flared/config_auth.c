/*
 * config_auth.c: `auth: {realm: "staff", users: FILE}` of a route, a host or the top level
 * (the routes below take it unless they say `auth: off`). The user file is read
 * and every line checked here, at load and at each reload, so a bad line stops the load
 * (pointing at `users` and naming the file's line) instead of locking a user out later.
 * The realm goes into the 401's WWW-Authenticate as a quoted-string (RFC 9110 §5.6.4).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_internal.h"

#define REALM_MAX     256
#define USER_FILE_MAX (16u * 1024 * 1024)

static const char *const auth_keys[] = {"realm", "users", NULL};
enum { A_REALM, A_USERS, A_KEYS };

/* `Basic realm="..."`, charset="UTF-8"` (RFC 7617 §2.1): user names and passwords are
 * taken as UTF-8. '"' and '\' in the realm are escaped as a quoted-pair. */
static int parse_realm(flared_cfg_ctx *c, yaml_node_t *node, flared_auth *a)
{
    const char *s;
    size_t len;
    int rc = flared_cfg_scalar(c, node, "realm", &s, &len);
    if (rc < 0) return rc;
    if (len == 0 || len > REALM_MAX)
        return flared_cfg_fail(c, node, "auth: realm: expected 1 to %d bytes of text", REALM_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        /* qdtext and quoted-pair take HTAB, SP, VCHAR and obs-text; no control bytes. */
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return flared_cfg_fail_at(c, flared_cfg_mark_in(node, i),
                                      "auth: realm: control characters cannot be sent in a "
                                      "header field");
    }
    static const char head[] = "Basic realm=\"", tail[] = "\", charset=\"UTF-8\"";
    char *out = flared_cfg_alloc(c, sizeof head + 2 * len + sizeof tail);
    if (!out || !(a->realm = flared_cfg_strndup(c, s, len))) return flared_cfg_nomem(c);
    char *p = out + sizeof head - 1;
    memcpy(out, head, sizeof head - 1);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\') *p++ = '\\';
        *p++ = s[i];
    }
    memcpy(p, tail, sizeof tail);
    a->challenge = out;
    return 0;
}

/* Reads the whole file into the arena, NUL-terminated. */
static int read_user_file(flared_cfg_ctx *c, yaml_node_t *node, const char *path, char **text,
                          size_t *len)
{
    *text = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return flared_cfg_fail(c, node, "auth: users: cannot open %s: %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        rc = flared_cfg_fail(c, node, "auth: users: %s is not a regular file", path);
    else if ((uint64_t)st.st_size > USER_FILE_MAX)
        rc = flared_cfg_fail(c, node, "auth: users: %s is larger than 16 MiB", path);
    char *buf = rc ? NULL : flared_cfg_alloc(c, (size_t)st.st_size + 1);
    if (!rc && !buf) rc = flared_cfg_nomem(c);
    size_t have = 0;
    while (!rc && have < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + have, (size_t)st.st_size - have);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0)
            rc = flared_cfg_fail(c, node, "auth: users: cannot read %s: %s", path, strerror(errno));
        else if (n == 0)
            break; /* shrank while read: parse what there is */
        else
            have += (size_t)n;
    }
    close(fd);
    *text = buf;
    *len = have;
    return rc;
}

static int parse_users(flared_cfg_ctx *c, yaml_node_t *node, flared_auth *a)
{
    int rc = flared_cfg_path(c, node, "users", &a->users_path);
    if (rc < 0) return rc;
    char *text;
    size_t len;
    if ((rc = read_user_file(c, node, a->users_path, &text, &len)) < 0) return rc;
    size_t cap = flared_htpasswd_max_users(text, len);
    flared_htpasswd_user *users = flared_cfg_alloc(c, cap * sizeof *users);
    if (!users) return flared_cfg_nomem(c);
    unsigned bad_line;
    char why[FLARED_HTPASSWD_WHY_MAX];
    long n = flared_htpasswd_parse(text, len, users, cap, &bad_line, why);
    if (n < 0 && bad_line)
        return flared_cfg_fail(c, node, "auth: users: %s line %u: %s", a->users_path, bad_line,
                               why);
    if (n < 0) return flared_cfg_fail(c, node, "auth: users: %s: %s", a->users_path, why);
    a->users = users;
    a->user_count = (size_t)n;
    /* Drawn once here, in the master, so that every worker checks an unknown name
     * against the same user: a name whose cost changed from one worker to the next
     * would stand out as unknown. Without randomness the mapping is merely guessable,
     * which tells nothing either. */
    if (getrandom(&a->decoy_seed, sizeof a->decoy_seed, GRND_NONBLOCK) != sizeof a->decoy_seed)
        a->decoy_seed = (uint64_t)time(NULL);
    /* Unique in the master's life, which every worker inherits: no two loads share one. */
    static uint64_t loads;
    a->generation = ++loads;
    return 0;
}

int flared_cfg_auth(flared_cfg_ctx *c, yaml_node_t *node, const flared_auth **out)
{
    yaml_node_t *v[A_KEYS], *k[A_KEYS];
    /* `off`: none, over what a host or the top level would give. */
    if (node->type == YAML_SCALAR_NODE &&
        strcmp((const char *)node->data.scalar.value, "off") == 0) {
        *out = NULL;
        return 0;
    }
    int rc = flared_cfg_map(c, node, "auth", "in auth", auth_keys, v, k, NULL);
    if (rc < 0) return rc;
    flared_auth *a = flared_cfg_alloc(c, sizeof *a);
    if (!a) return flared_cfg_nomem(c);
    a->line = flared_cfg_line(node);
    a->column = flared_cfg_column(node);
    if (!v[A_REALM]) return flared_cfg_fail(c, node, "auth: missing required key 'realm'");
    if (!v[A_USERS])
        return flared_cfg_fail(c, node, "auth: missing required key 'users' (an htpasswd file)");
    if ((rc = parse_realm(c, v[A_REALM], a)) < 0) return rc;
    if ((rc = parse_users(c, v[A_USERS], a)) < 0) return rc;
    *out = a;
    return 0;
}
