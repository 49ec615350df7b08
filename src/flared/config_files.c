/*
 * config_files.c: the checks of the files a loaded config names that need more than its
 * text: the logs open, the pid file's directory takes it, the user switch is allowed, and
 * no file flared writes is one it reads (the config itself, a key, a user file). flared -t,
 * a start and a reload run the same checks, so each reports a failure at its key alike.
 */
#include "config.h"
#include "config_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Opened as log.c opens them (append, created 0640), so that what passes here opens there. */
static int check_log_file(const flared_config *cfg, const char *key, const char *path,
                          unsigned line, unsigned column, flare_error *err)
{
    if (!path) return 0;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd < 0)
        return flare_error_set(err, FLARE_ECONFIG, 0, "%s:%u:%u: %s: cannot open '%s': %s",
                               cfg->path, line, column, key, path, strerror(errno));
    close(fd);
    return 0;
}

/* The pid file is written through a temporary file beside it (process.c): its directory must
 * exist and be writable, and the name must not be a directory. Nothing is created here. */
static int check_pid_file(const flared_config *cfg, flare_error *err)
{
    const char *path = cfg->pid_file;
    if (!path) return 0;
    char dir[PATH_MAX];
    const char *why = NULL;
    struct stat st;
    int e = 0;
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) {
        why = "the path is too long";
    } else {
        char *d = dirname(dir);
        int found = stat(d, &st);
        if (found < 0 || !S_ISDIR(st.st_mode)) {
            why = "its directory does not exist";
            e = found < 0 ? errno : ENOTDIR;
        } else if (access(d, W_OK | X_OK) < 0) {
            why = "its directory is not writable";
            e = errno;
        } else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            why = "it is a directory";
        } else if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
            /* The pid file is renamed into place and removed on exit: over /dev/null that
             * would replace, then delete, the device (and a FIFO blocks the start's read). */
            why = "it is a device, FIFO or socket, which flared would replace; name a new file";
        }
    }
    if (!why) return 0;
    return flare_error_set(err, FLARE_ECONFIG, 0, "%s:%u:%u: pid_file: cannot write '%s': %s%s%s",
                           cfg->path, cfg->pid_file_line, cfg->pid_file_column, path, why,
                           e ? ": " : "", e ? strerror(e) : "");
}

/* Workers switch to user and group after binding (process.c): only root may, unless the
 * process already runs as them. */
static int check_identity(const flared_config *cfg, flare_error *err)
{
    if ((!cfg->user && !cfg->group) || geteuid() == 0) return 0;
    bool user_ok = !cfg->user || cfg->uid == geteuid();
    bool group_ok = !cfg->group || cfg->gid == getegid();
    if (user_ok && group_ok) return 0;
    return flare_error_set(err, FLARE_ECONFIG, 0,
                           "%s:%u:%u: %s: switching to '%s' needs root, and flared runs as uid %d; "
                           "start it as root or remove user and group",
                           cfg->path, user_ok ? cfg->group_line : cfg->user_line,
                           user_ok ? cfg->group_column : cfg->user_column,
                           user_ok ? "group" : "user", user_ok ? cfg->group : cfg->user,
                           (int)geteuid());
}

/* A file flared writes, where the config names it. */
typedef struct written_file {
    const char *key, *path;
    unsigned line, column;
} written_file;

/* Whether path names the file st describes (both exist). */
static bool is_file(const char *path, const struct stat *st)
{
    struct stat other;
    return path && stat(path, &other) == 0 && other.st_dev == st->st_dev &&
           other.st_ino == st->st_ino;
}

/* What the running daemon reads that the file st is, written into what[]; NULL for none. */
static const char *read_file_named(const flared_config *cfg, const struct stat *st, char *what,
                                   size_t cap)
{
    if (is_file(cfg->path, st)) return "this config file";
    for (size_t i = 0; i < cfg->listener_count; i++) {
        const flared_tls *t = cfg->listeners[i].tls;
        for (size_t k = 0; t && k < t->cert_count; k++) {
            const flared_tls_cert *c = &t->certs[k];
            bool cert = is_file(c->cert, st);
            if (cert || is_file(c->key, st)) {
                snprintf(what, cap, "the %s of the certificate at line %u", cert ? "cert" : "key",
                         c->line);
                return what;
            }
        }
        if (t && is_file(t->client_ca, st)) {
            snprintf(what, cap, "the client_ca of the tls block at line %u", t->line);
            return what;
        }
    }
    for (size_t i = 0; i < cfg->upstream_count; i++)
        if (is_file(cfg->upstreams[i].tls.ca, st)) {
            snprintf(what, cap, "the tls ca of upstream '%s'", cfg->upstreams[i].name);
            return what;
        }
    for (size_t h = 0; h <= cfg->host_count; h++) {
        const flared_host *host = h < cfg->host_count ? &cfg->hosts[h] : &cfg->default_host;
        for (size_t i = 0; i < host->route_count; i++) {
            const flared_auth *a = host->routes[i].auth;
            if (a && is_file(a->users_path, st)) {
                snprintf(what, cap, "the users file of the auth at line %u", a->line);
                return what;
            }
        }
    }
    return NULL;
}

/* A log or pid file over the config, a key or another written file would destroy it: the
 * pid file is replaced by a rename (and removed on exit), a log is appended to. error_log
 * and access_log may share a file. */
static int check_written_files(const flared_config *cfg, flare_error *err)
{
    const written_file files[] = {
        {"error_log", cfg->error_log, cfg->error_log_line, cfg->error_log_column},
        {"access_log", cfg->access_log, cfg->access_log_line, cfg->access_log_column},
        {"pid_file", cfg->pid_file, cfg->pid_file_line, cfg->pid_file_column},
    };
    for (size_t i = 0; i < FLARE_N_ELEMENTS(files); i++) {
        const written_file *f = &files[i];
        struct stat st;
        if (!f->path || stat(f->path, &st) < 0) continue;
        char what[96];
        const char *clash = read_file_named(cfg, &st, what, sizeof what);
        for (size_t k = 0; !clash && k < i; k++)
            if ((i == 2 || k == 2) && is_file(files[k].path, &st)) clash = files[k].key;
        if (clash)
            return flare_error_set(err, FLARE_ECONFIG, 0,
                                   "%s:%u:%u: %s: '%s' is also %s, which flared would destroy; "
                                   "name another file",
                                   cfg->path, f->line, f->column, f->key, f->path, clash);
    }
    return 0;
}

int flared_config_check_files(const flared_config *cfg, flare_error *err)
{
    int rc = check_log_file(cfg, "error_log", cfg->error_log, cfg->error_log_line,
                            cfg->error_log_column, err);
    if (rc == 0)
        rc = check_log_file(cfg, "access_log", cfg->access_log, cfg->access_log_line,
                            cfg->access_log_column, err);
    if (rc == 0) rc = check_pid_file(cfg, err);
    if (rc == 0) rc = check_written_files(cfg, err);
    if (rc == 0) rc = check_identity(cfg, err);
    if (rc < 0 && err) flared_cfg_one_line(err->message);
    return rc;
}
