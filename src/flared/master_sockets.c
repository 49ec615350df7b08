/*
 * master_sockets.c: the master's table of listening sockets. bind_all opens what a
 * config needs and reuses what is already bound (matched by address, copy number and
 * reuseport), so a reload or an upgrade never closes a socket it keeps; a socket the
 * config no longer names is closed only by close_unwanted, once the workers that
 * serve the new config run. Every socket in the table serves the running config.
 */
#include "master_internal.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "flare/tcp.h"

#include "log.h"

/* 0 when a process listens on the socket at sa (a full backlog counts), ECONNREFUSED when
 * nobody does (a stale file), otherwise the errno that keeps us from telling. */
static int probe_unix(const struct sockaddr_un *sa)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return errno;
    int rc = connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0 ? 0 : errno;
    close(fd);
    return rc == EAGAIN ? 0 : rc;
}

static int bind_unix(const char *path, int backlog, flare_error *err)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return flare_error_set(err, FLARE_ESYS, errno, "socket for unix:%s", path);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    struct stat sb;
    if (lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode)) {
        /* Only a stale socket is removed: one that a process still listens on (another
         * flared, another program) is theirs. */
        int e = probe_unix(&sa);
        if (e != ECONNREFUSED) {
            close(fd);
            if (e == 0)
                return flare_error_set(err, FLARE_ESYS, 0,
                                       "cannot listen on unix:%s: another process listens on it; "
                                       "stop it or choose another path",
                                       path);
            return flare_error_set(err, FLARE_ESYS, e,
                                   "cannot listen on unix:%s: it exists and cannot be probed",
                                   path);
        }
        unlink(path);
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, backlog) < 0) {
        int e = errno;
        close(fd);
        return flare_error_set(err, FLARE_ESYS, e, "cannot listen on unix:%s", path);
    }
    return fd;
}

static int bind_listener(const flared_listener *l, flare_error *err)
{
    if (l->kind == FLARED_LISTENER_UNIX) return bind_unix(l->unix_path, l->backlog, err);
    flare_tcp_listener tl;
    flare_tcp_listen_options opts = {
        .backlog = l->backlog, .reuse_port = l->reuseport, .nonblocking = true};
    int rc = flare_tcp_listen(&tl, &l->addr, &opts, err);
    return rc < 0 ? rc : tl.fd;
}

/* TCP_DEFER_ACCEPT as the socket's listener asks: the kernel hands over a
 * connection only once its first bytes are in, or after about the header timeout
 * (its SYN-ACK retransmissions), when flared's own header timeout takes over. */
static int set_defer_accept(const lsock *s, const flared_config *cfg, flare_error *err)
{
    const flared_listener *l = &cfg->listeners[s->listener];
    if (l->kind != FLARED_LISTENER_INET) return 0;
    uint64_t seconds = l->defer_accept ? (cfg->timeouts.header_ms + 999) / 1000 : 0;
    if (seconds > INT_MAX) seconds = INT_MAX;
    return flare_socket_set_int(s->fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, (int)seconds,
                                "TCP_DEFER_ACCEPT", err);
}

/* Puts the listener's place in the file in front of err's message: which of the listeners
 * could not be bound. */
static void at_listener(const flared_config *cfg, const flared_listener *l, flare_error *err)
{
    if (!err) return;
    char reason[FLARE_ERROR_MESSAGE_MAX];
    snprintf(reason, sizeof reason, "%s", err->message);
    int sys_errno = err->sys_errno;
    flare_error_set(err, err->code, 0, "%s:%u:%u: listener: %s", cfg->path, l->line, l->column,
                    reason);
    err->sys_errno = sys_errno;
}

/* The socket of this master (or, after an upgrade, of its predecessor) that keeps an IP
 * listener from binding: same family and port, and the same address or a wildcard on
 * either side. A reload binds its new sockets while the old ones still serve, so a
 * listener moved between 127.0.0.1:P and 0.0.0.0:P, or one whose reuseport changed,
 * collides with its own predecessor rather than with another process. */
static const lsock *own_holder(const master *m, const flared_listener *l)
{
    if (l->kind != FLARED_LISTENER_INET || l->addr.port == 0) return NULL;
    for (size_t i = 0; i < m->sock_count; i++) {
        const char *s = m->socks[i].address;
        flare_sock_addr a;
        if (strncmp(s, "unix:", 5) == 0 || flare_sock_addr_parse(&a, s, strlen(s), NULL) < 0 ||
            a.port != l->addr.port || a.ip.family != l->addr.ip.family)
            continue;
        if (flare_ip_equal(&a.ip, &l->addr.ip) || flare_ip_is_unspecified(&a.ip) ||
            flare_ip_is_unspecified(&l->addr.ip))
            return &m->socks[i];
    }
    return NULL;
}

/* EADDRINUSE from flared's own socket: "stop that process" would point at flared itself. */
static void blame_own_holder(const master *m, const flared_listener *l, flare_error *err)
{
    const lsock *holder = err && err->sys_errno == EADDRINUSE ? own_holder(m, l) : NULL;
    if (!holder) return;
    flare_error_set(err, err->code, EADDRINUSE,
                    "tcp bind %s: flared's own listener %s%s holds this port: a reload binds "
                    "the new sockets before it closes the old ones, so restart flared to make "
                    "this change",
                    l->address, holder->address, holder->reuseport ? " (reuseport)" : "");
}

/* Two spellings of one Unix socket file ("unix:/run//a.sock", "unix:/run/a.sock") are one
 * address: binding the second would find the first listening. */
static bool same_unix_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return strncmp(a, "unix:", 5) == 0 && strncmp(b, "unix:", 5) == 0 && lstat(a + 5, &sa) == 0 &&
           lstat(b + 5, &sb) == 0 && S_ISSOCK(sa.st_mode) && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* Two spellings of one IP address and port ("127.0.0.1:080", "[0::1]:80") are one address:
 * binding the second would find the first listening. */
static bool same_inet_address(const char *a, const char *b)
{
    flare_sock_addr x, y;
    return strncmp(a, "unix:", 5) != 0 && strncmp(b, "unix:", 5) != 0 &&
           flare_sock_addr_parse(&x, a, strlen(a), NULL) == 0 &&
           flare_sock_addr_parse(&y, b, strlen(b), NULL) == 0 && x.port == y.port && x.port != 0 &&
           flare_ip_equal(&x.ip, &y.ip);
}

static lsock *find_sock(master *m, const char *address, unsigned index, bool reuseport)
{
    for (size_t i = 0; i < m->sock_count; i++)
        if (m->socks[i].index == index && m->socks[i].reuseport == reuseport &&
            strcmp(m->socks[i].address, address) == 0)
            return &m->socks[i];
    for (size_t i = 0; i < m->sock_count; i++)
        if (same_unix_file(m->socks[i].address, address)) return &m->socks[i];
    for (size_t i = 0; i < m->sock_count; i++)
        if (m->socks[i].index == index && m->socks[i].reuseport == reuseport &&
            same_inet_address(m->socks[i].address, address))
            return &m->socks[i];
    return NULL;
}

/* A Unix socket file belongs to the workers' user and group when they drop root, as the log
 * files do: connecting needs write permission on it, and the umask gives that to the owner.
 * A file removed since it was bound has no owner to set (and must not fail a reload). */
static int own_unix_socket(const lsock *s, const flared_config *cfg, flare_error *err)
{
    const flared_listener *l = &cfg->listeners[s->listener];
    if (l->kind != FLARED_LISTENER_UNIX || (!cfg->user && !cfg->group) || geteuid() != 0) return 0;
    if (lchown(l->unix_path, cfg->user ? cfg->uid : (uid_t)-1, cfg->gid) < 0 && errno != ENOENT)
        return flare_error_set(err, FLARE_ESYS, errno, "cannot hand unix:%s to %s%s%s",
                               l->unix_path, cfg->user ? cfg->user : "", cfg->group ? ":" : "",
                               cfg->group ? cfg->group : "");
    return 0;
}

/* Closes the sockets from table index count on (the latest bound). */
void flared_master__close_sockets_from(master *m, size_t count)
{
    while (m->sock_count > count) {
        lsock *s = &m->socks[--m->sock_count];
        close(s->fd);
        free(s->address);
    }
}

/* Makes sure every socket cfg needs is open, reusing those already bound. On failure the
 * sockets bound by this call are closed again and the old set is untouched. */
int flared_master__bind_all(master *m, const flared_config *cfg, flare_error *err)
{
    size_t old_count = m->sock_count;
    for (size_t i = 0; i < m->sock_count; i++)
        m->socks[i].wanted = false;
    for (size_t li = 0; li < cfg->listener_count; li++) {
        const flared_listener *l = &cfg->listeners[li];
        unsigned copies = l->reuseport ? cfg->workers : 1;
        for (unsigned k = 0; k < copies; k++) {
            lsock *s = find_sock(m, l->address, k, l->reuseport);
            if (!s) {
                if (m->sock_count == MAX_SOCKETS) {
                    flare_error_set(err, FLARE_ELIMIT, 0, "too many listening sockets");
                    goto undo;
                }
                int fd = bind_listener(l, err);
                if (fd < 0) {
                    blame_own_holder(m, l, err);
                    at_listener(cfg, l, err);
                    goto undo;
                }
                char *address = strdup(l->address);
                if (!address) {
                    close(fd);
                    flare_error_set(err, FLARE_ENOMEM, 0, "out of memory");
                    goto undo;
                }
                s = &m->socks[m->sock_count++];
                *s = (lsock){.address = address, .index = k, .reuseport = l->reuseport, .fd = fd};
            }
            s->wanted = true;
            s->listener = li;
        }
        /* Surplus SO_REUSEPORT copies from a larger `workers` stay (closing one would reset
         * the connections queued on it: tcp_migrate_req is 0 here). */
        if (l->reuseport)
            for (size_t i = 0; i < m->sock_count; i++)
                if (m->socks[i].reuseport && (strcmp(m->socks[i].address, l->address) == 0 ||
                                              same_inet_address(m->socks[i].address, l->address))) {
                    m->socks[i].wanted = true;
                    m->socks[i].listener = li;
                }
    }
    /* Set on every (re)load, on new and kept sockets alike, so that a reload can
     * turn it off again. listen(2) again on a listening socket only sets its backlog. */
    for (size_t i = 0; i < m->sock_count; i++) {
        lsock *s = &m->socks[i];
        if (!s->wanted) continue;
        if (set_defer_accept(s, cfg, err) < 0 || own_unix_socket(s, cfg, err) < 0) goto undo;
        if (listen(s->fd, cfg->listeners[s->listener].backlog) < 0) {
            flare_error_set(err, FLARE_ESYS, errno, "cannot set the backlog of %s", s->address);
            goto undo;
        }
    }
    return 0;
undo:
    flared_master__close_sockets_from(m, old_count);
    return err ? err->code : FLARE_ESYS;
}

/* Closes sockets the current config no longer names. */
void flared_master__close_unwanted(master *m)
{
    size_t kept = 0;
    for (size_t i = 0; i < m->sock_count; i++) {
        if (m->socks[i].wanted) {
            m->socks[kept++] = m->socks[i];
            continue;
        }
        flared_log(FLARED_LOG_INFO, "closing listener %s", m->socks[i].address);
        close(m->socks[i].fd);
        free(m->socks[i].address);
    }
    m->sock_count = kept;
}

/* Closes every listening socket: once no process holds one, new connections are
 * refused at once instead of waiting in a backlog that nobody will accept from. */
void flared_master__close_listeners(master *m)
{
    for (size_t i = 0; i < m->sock_count; i++) {
        close(m->socks[i].fd);
        free(m->socks[i].address);
    }
    m->sock_count = 0;
}
