/*
 * error.h: the one error model of libflare (runtime layer, bottom of the stack).
 * Functions return 0 (or a count) on success and a negative FLARE_E* code on
 * failure; an optional flare_error out-parameter receives the code, the errno
 * and a message with context. Nothing in libflare aborts on any input.
 */
#ifndef FLARE_ERROR_H
#define FLARE_ERROR_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Error codes: always negative, so `rc < 0` is the failure test. */
enum {
    FLARE_OK = 0,
    FLARE_EINVAL = -1,          /**< invalid argument or malformed input */
    FLARE_ENOMEM = -2,          /**< allocation failed */
    FLARE_ESYS = -3,            /**< a system call failed; see flare_error.sys_errno */
    FLARE_EAGAIN = -4,          /**< operation would block; retry when ready */
    FLARE_ETIMEDOUT = -5,       /**< a deadline passed */
    FLARE_ECLOSED = -6,         /**< the peer closed the connection */
    FLARE_EADDR = -7,           /**< malformed IP or socket address */
    FLARE_EPORT = -8,           /**< port missing or out of range */
    FLARE_EHOSTNAME = -9,       /**< host name fails validation */
    FLARE_ERESOLVE = -10,       /**< name resolution failed */
    FLARE_ECONNREFUSED = -11,   /**< connection refused */
    FLARE_ECONNRESET = -12,     /**< connection reset by peer */
    FLARE_EMSGSIZE = -13,       /**< datagram or message over the protocol limit */
    FLARE_ELIMIT = -14,         /**< a configured limit was exceeded */
    FLARE_EPARSE = -15,         /**< malformed protocol data */
    FLARE_EINCOMPLETE = -16,    /**< more input is needed */
    FLARE_ENOTFOUND = -17,      /**< no such entry */
    FLARE_EEXIST = -18,         /**< entry already exists */
    FLARE_ETLS = -19,           /**< TLS handshake or record failure */
    FLARE_ECERT_EXPIRED = -20,  /**< peer certificate expired */
    FLARE_EHOST_MISMATCH = -21, /**< peer certificate does not name the host */
    FLARE_EUNTRUSTED = -22,     /**< peer certificate chain not trusted */
    FLARE_EURL = -23,           /**< malformed URL */
    FLARE_EHTTP_STATUS = -24,   /**< HTTP response status >= 400 */
    FLARE_EREDIRECT = -25,      /**< too many redirects */
    FLARE_ECONFIG = -26,        /**< configuration error */
    FLARE_EPROTO = -27,         /**< protocol violation by the peer */
    FLARE_EUNSUPPORTED = -28,   /**< feature not supported */
};

/** Capacity of flare_error.message, including the terminating NUL: room for a config
 *  message that names a long path and lists every key a mapping allows. */
#define FLARE_ERROR_MESSAGE_MAX 512

/** Error details: code, errno (0 when none) and a human-readable message with context. */
typedef struct flare_error {
    int code;
    int sys_errno;
    char message[FLARE_ERROR_MESSAGE_MAX];
} flare_error;

/** Static description of a FLARE_E* code ("invalid argument"...); never NULL. */
const char *flare_strerror(int code);

/** Short symbolic name of a code ("FLARE_EINVAL"); never NULL. */
const char *flare_error_name(int code);

/**
 * Fills `err` (when not NULL) with `code`, `sys_errno` and a printf-style message,
 * and returns `code`, so a failure path reads `return flare_error_set(err, ...)`.
 * When `sys_errno` is non-zero, ": strerror(sys_errno)" is appended.
 */
int flare_error_set(flare_error *err, int code, int sys_errno, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** flare_error_set with a va_list. */
int flare_error_vset(flare_error *err, int code, int sys_errno, const char *fmt, va_list ap);

/** Resets `err` to FLARE_OK with an empty message. */
void flare_error_clear(flare_error *err);

#ifdef __cplusplus
}
#endif
#endif
