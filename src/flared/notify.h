/*
 * notify.h: the systemd notification protocol (sd_notify) without libsystemd:
 * one datagram to the AF_UNIX socket named by $NOTIFY_SOCKET.
 */
#ifndef FLARED_NOTIFY_H
#define FLARED_NOTIFY_H

/** Sends state (e.g. "READY=1") when $NOTIFY_SOCKET is set; returns 0, or -1 on failure. */
int flared_notify(const char *state);

#endif
