/*
 * static_path.c: from a request path to a root-relative file path, and the
 * open beneath the root. Decoding happens exactly once, before normalisation, so
 * "%2e%2e" is a ".." segment while "%252e" stays the three bytes "%2e" of a file
 * name. Invariant: a path that passes never starts with '/', holds no "." or ".."
 * segment, no empty segment, no NUL, no backslash, and is valid UTF-8.
 * Opening beneath the root uses openat2(RESOLVE_BENEATH); where the kernel lacks it
 * (ENOSYS), a user-space walk with O_NOFOLLOW at every step gives the same guarantees.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "flare/url.h"

#include "static_internal.h"

/*
 * Length of the well-formed UTF-8 sequence at s[0..len) (RFC 3629 §4), or 0.
 * Overlong forms (C0 AE for '.', E0 80 AF...), surrogates and code points above
 * U+10FFFF are refused: another decoder could read them as '.' or '/'.
 */
static size_t utf8_sequence(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0; /* overlong below U+0800 */
        if (c == 0xED) hi = 0x9F; /* UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90; /* overlong below U+10000 */
        if (c == 0xF4) hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0; /* a continuation byte, C0/C1 (always overlong) or F5..FF */
    }
    if (len < n || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return n;
}

/* Refuses bytes no file name served over HTTP should hold: controls (an encoded NUL
 * among them), DEL, the backslash (a separator to other systems) and malformed UTF-8. */
static int check_bytes(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        if (u[i] < 0x20 || u[i] == 0x7F || u[i] == '\\') return 400;
        size_t n = utf8_sequence(u + i, len - i);
        if (n == 0) return 400;
        i += n;
    }
    return 0;
}

bool flared_static_name_ok(const char *name, size_t len)
{
    return len > 0 && check_bytes(name, len) == 0;
}

bool flared_static_hidden(const char *rel, size_t len)
{
    if (len && rel[0] == '.') return true;
    for (const char *p = memchr(rel, '/', len); p;
         p = memchr(p + 1, '/', len - (size_t)(p + 1 - rel)))
        if (p[1] == '.') return true;
    return false;
}

int flared_static_normalise(const char *path, size_t len, char *out, size_t cap, size_t *out_len,
                            bool *trailing_slash)
{
    char decoded[FLARED_STATIC_PATH_MAX];
    size_t n = 0;
    decoded[0] = '\0'; /* for GCC's -Wmaybe-uninitialized: n == 0 reads nothing */
    if (cap == 0) return 414;
    if (len >= sizeof decoded) return 414; /* decoding never lengthens */
    /* A malformed escape is 400; a decoded NUL is a control byte, 400 from check_bytes. */
    ssize_t decoded_len = flare_url_percent_decode(path, len, decoded, false);
    if (decoded_len < 0) return 400;
    n = (size_t)decoded_len;
    int status = check_bytes(decoded, n);
    if (status) return status;
    *trailing_slash = n > 0 && decoded[n - 1] == '/';
    /* RFC 3986 §5.2.4 remove_dot_segments, with empty segments dropped as well. */
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && decoded[i] == '/')
            i++;
        size_t seg = i;
        while (i < n && decoded[i] != '/')
            i++;
        size_t seg_len = i - seg;
        const char *s = decoded + seg;
        if (seg_len == 0) break;
        if (seg_len == 1 && s[0] == '.') continue;
        if (seg_len == 2 && s[0] == '.' && s[1] == '.') {
            if (o == 0) return 400; /* would climb above the root */
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0) o--;
            continue;
        }
        if (o + seg_len + 2 > cap) return 414;
        if (o) out[o++] = '/';
        memcpy(out + o, s, seg_len);
        o += seg_len;
    }
    /* "/a/.." and "/a/." name a directory: keep them asking for its listing or index. */
    if (n >= 2 && decoded[n - 1] == '.' &&
        (decoded[n - 2] == '/' || (decoded[n - 2] == '.' && n >= 3 && decoded[n - 3] == '/')))
        *trailing_slash = true;
    out[o] = '\0';
    *out_len = o;
    return 0;
}

/* RFC 3986 §3.3 pchar without pct-encoded, plus '/': bytes a path may carry as is. */
static bool url_safe(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("-._~!$&'()*+,;=:@/", c) != NULL);
}

size_t flared_static_url_encode(const char *s, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (url_safe(c)) {
            if (o + 1 >= cap) return SIZE_MAX;
            out[o++] = (char)c;
        } else {
            if (o + 3 >= cap) return SIZE_MAX;
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (o >= cap) return SIZE_MAX;
    out[o] = '\0';
    return o;
}

/* openat2 calls that may fail with EAGAIN before one open is left to the walk. */
#define OPENAT2_EAGAIN_TRIES 4

/* Links followed in one walk before ELOOP, as the kernel's MAXSYMLINKS. */
#define WALK_MAX_LINKS 40
/* Directories held open at once while walking (the depth below the root). */
#define WALK_MAX_DEPTH 256

/* The flags every open beneath the root adds to the caller's. */
static int open_extra_flags(int flags)
{
    /* openat2 refuses O_PATH combined with anything but a few flags (EINVAL). */
    return (flags & O_PATH) ? O_CLOEXEC : O_CLOEXEC | O_NOCTTY;
}

static long sys_openat2(int dirfd, const char *path, const void *how, size_t size)
{
    return syscall(SYS_openat2, dirfd, path, how, size);
}

static long (*openat2_call)(int, const char *, const void *, size_t) = sys_openat2;
static bool openat2_missing; /* ENOSYS seen once: walk from then on */

void flared_static__set_openat2(long (*fn)(int, const char *, const void *, size_t))
{
    openat2_call = fn ? fn : sys_openat2;
    openat2_missing = false;
}

bool flared_static__walking(void)
{
    return openat2_missing;
}

/* Closes the directories the walk opened (stack[0] is the caller's root). */
static void walk_release(int *stack, size_t depth)
{
    for (size_t i = 1; i <= depth; i++)
        close(stack[i]);
}

/*
 * The walk keeps the remaining path in `rest`; a symlink's target is spliced in
 * front of what follows it. Only ".." that comes from a link target is allowed, and
 * it pops the stack of directories the walk itself opened, so it can never name a
 * directory above the root, whatever is renamed meanwhile. Every step opens one
 * name with O_NOFOLLOW beneath a descriptor already held: the kernel never follows
 * a link on its own, so a link swapped in after the check fails instead of leading out.
 */
int flared_static_open_walk(int root_fd, const char *rel, int flags, bool follow_symlinks)
{
    char rest[2 * FLARED_STATIC_PATH_MAX];
    char target[FLARED_STATIC_PATH_MAX];
    int stack[WALK_MAX_DEPTH + 1];
    size_t depth = 0, links = 0, rest_len = strlen(rel), pos = 0;
    int err = 0;
    if (rel[0] == '/') {
        errno = EXDEV; /* absolute: not beneath the root */
        return -1;
    }
    if (rest_len >= sizeof rest) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(rest, rel, rest_len + 1);
    stack[0] = root_fd;
    size_t from_link_end = 0; /* rest[0..from_link_end) came from link targets */
    while (pos < rest_len) {
        size_t seg = pos;
        while (pos < rest_len && rest[pos] != '/')
            pos++;
        size_t seg_len = pos - seg;
        while (pos < rest_len && rest[pos] == '/')
            pos++;
        bool last = pos == rest_len && rest[rest_len - 1] != '/';
        if (seg_len == 0 || (seg_len == 1 && rest[seg] == '.')) continue;
        if (seg_len == 2 && rest[seg] == '.' && rest[seg + 1] == '.') {
            /* A request path never holds "..", and a link's ".." may not climb above
             * the root (RESOLVE_BENEATH's EXDEV). */
            if (seg >= from_link_end || depth == 0) {
                err = EXDEV;
                break;
            }
            close(stack[depth--]);
            continue;
        }
        char name[NAME_MAX + 1];
        if (seg_len > NAME_MAX) {
            err = ENAMETOOLONG;
            break;
        }
        memcpy(name, rest + seg, seg_len);
        name[seg_len] = '\0';
        int cur = stack[depth];
        struct stat st;
        if (fstatat(cur, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            err = errno;
            break;
        }
        if (S_ISLNK(st.st_mode)) {
            if (!follow_symlinks || ++links > WALK_MAX_LINKS) {
                err = ELOOP;
                break;
            }
            ssize_t n = readlinkat(cur, name, target, sizeof target);
            if (n < 0 || (size_t)n >= sizeof target) {
                err = n < 0 ? errno : ENAMETOOLONG;
                break;
            }
            if (n == 0 || target[0] == '/') {
                err = n == 0 ? ENOENT : EXDEV; /* an absolute link leaves the root */
                break;
            }
            /* rest becomes target + "/" + what followed the link. */
            size_t tail = rest_len - pos;
            if ((size_t)n + 1 + tail >= sizeof rest) {
                err = ENAMETOOLONG;
                break;
            }
            memmove(rest + n + 1, rest + pos, tail + 1);
            memcpy(rest, target, (size_t)n);
            rest[n] = '/';
            rest_len = (size_t)n + 1 + tail;
            if (tail == 0) rest_len--; /* the link was last: so is its target's last name */
            rest[rest_len] = '\0';
            /* What is left of an earlier target stays a link's, so its ".." still pops. */
            from_link_end = (size_t)n + 1 + (from_link_end > pos ? from_link_end - pos : 0);
            pos = 0;
            continue;
        }
        if (last) {
            int fd = openat(cur, name, flags | open_extra_flags(flags) | O_NOFOLLOW);
            if (fd < 0) err = errno;
            if (fd >= 0 && (flags & O_PATH) && (fstat(fd, &st) < 0 || S_ISLNK(st.st_mode))) {
                close(fd); /* O_PATH | O_NOFOLLOW opens a link that replaced the name */
                fd = -1;
                err = ELOOP;
            }
            walk_release(stack, depth);
            errno = err;
            return fd;
        }
        if (depth == WALK_MAX_DEPTH) {
            err = ENAMETOOLONG;
            break;
        }
        int dir = openat(cur, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dir < 0) {
            err = errno;
            break;
        }
        stack[++depth] = dir;
    }
    int fd = -1;
    if (!err) {
        /* The path ended in a directory ("", "dir/", a link to a directory). */
        fd = openat(stack[depth], ".", flags | open_extra_flags(flags));
        if (fd < 0) err = errno;
    }
    walk_release(stack, depth);
    errno = err;
    return fd;
}

int flared_static_open(int root_fd, const char *rel, int flags, bool follow_symlinks)
{
    /* RESOLVE_BENEATH refuses "..", absolute paths and symlinks that leave root_fd
     * (EXDEV) at every step of the walk, so containment holds even while following
     * symlinks; RESOLVE_NO_SYMLINKS refuses every symlink (ELOOP). */
    if (!openat2_missing) {
        struct open_how how = {.flags = (uint64_t)(flags | open_extra_flags(flags)),
                               .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
        if (!follow_symlinks) how.resolve |= RESOLVE_NO_SYMLINKS;
        int fd = -1;
        /* EAGAIN: a rename or mount anywhere in the system while a ".." (from a
         * link's target) was resolved, so the kernel could not vouch for it. Worth a
         * retry; under a steady stream of renames the walk, which holds every
         * directory it passes, answers instead of failing the request. */
        for (int attempt = 0; attempt < OPENAT2_EAGAIN_TRIES; attempt++) {
            fd = (int)openat2_call(root_fd, rel[0] ? rel : ".", &how, sizeof how);
            if (fd >= 0 || errno != EAGAIN) break;
        }
        if (fd >= 0 || (errno != ENOSYS && errno != EAGAIN)) return fd;
        /* Linux before 5.6, or a sandbox (valgrind 3.19, some seccomp profiles) that
         * does not know the call: the same guarantees by walking in user space. */
        if (errno == ENOSYS) openat2_missing = true;
    }
    return flared_static_open_walk(root_fd, rel, flags, follow_symlinks);
}
