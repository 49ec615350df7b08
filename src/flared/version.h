/*
 * version.h: flared's version string, reported by `flared -v` and the status
 * route. FLARED_VERSION_SUFFIX (a -D define, used by the binary-upgrade test to
 * build a second, distinguishable flared) is appended to it.
 */
#ifndef FLARED_VERSION_H
#define FLARED_VERSION_H

#ifndef FLARED_VERSION_SUFFIX
#define FLARED_VERSION_SUFFIX ""
#endif
/** The version flared reports (-v, /status). */
#define FLARED_VERSION "0.1.0" FLARED_VERSION_SUFFIX

#endif
