#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <linux/fs.h>
#include "CGatewaySys.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

int gw_renameat_noreplace(int olddirfd, const char *oldpath, int newdirfd, const char *newpath) {
    return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, RENAME_NOREPLACE);
}

int gw_syncfs(int fd) { return syncfs(fd); }

int gw_open_tmpfile(int dirfd, unsigned int mode) {
#ifdef O_TMPFILE
    return openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, (mode_t)mode);
#else
    errno = EOPNOTSUPP;
    return -1;
#endif
}

int gw_link_tmpfile(int fd, int dirfd, const char *name) {
    /* Directly where the kernel allows it (privileged, or Linux 6.10+ for the opener of
       the file); through /proc otherwise. */
    if (linkat(fd, "", dirfd, name, AT_EMPTY_PATH) == 0) return 0;
    if (errno != ENOENT && errno != EPERM && errno != EINVAL) return -1;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    return linkat(AT_FDCWD, path, dirfd, name, AT_SYMLINK_FOLLOW);
}

int gw_has_default_acl(int fd) {
    return fgetxattr(fd, "system.posix_acl_default", NULL, 0) > 0 ? 1 : 0;
}

int gw_set_topdir(int fd) {
    int flags = 0;
    if (ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0) return -1;
    if (flags & FS_TOPDIR_FL) return 0;
    flags |= FS_TOPDIR_FL;
    return ioctl(fd, FS_IOC_SETFLAGS, &flags);
}

void gw_set_thread_name(const char *name) {
    char short_name[16];
    snprintf(short_name, sizeof short_name, "%s", name);
    pthread_setname_np(pthread_self(), short_name);
}

unsigned int gw_in_watch_mask(void) {
    /* MOVED_TO: the write-then-rename a unit is asked to do; CLOSE_WRITE: a unit that
       writes the final name directly (picked up only once closed). */
    return IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF;
}

int gw_cond_init(gw_cond *c) {
    pthread_condattr_t attr;
    int r = pthread_condattr_init(&attr);
    if (r != 0) return r;
    r = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (r == 0) r = pthread_cond_init(&c->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (r != 0) return r;
    r = pthread_mutex_init(&c->mutex, NULL);
    if (r != 0) pthread_cond_destroy(&c->cond);
    return r;
}

void gw_cond_destroy(gw_cond *c) {
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->mutex);
}

void gw_cond_lock(gw_cond *c) { pthread_mutex_lock(&c->mutex); }
void gw_cond_unlock(gw_cond *c) { pthread_mutex_unlock(&c->mutex); }
void gw_cond_signal(gw_cond *c) { pthread_cond_signal(&c->cond); }
void gw_cond_broadcast(gw_cond *c) { pthread_cond_broadcast(&c->cond); }

int gw_cond_wait(gw_cond *c, double seconds) {
    if (!(seconds > 0)) return 0;
    if (seconds > 86400.0 * 365) seconds = 86400.0 * 365;
    struct timespec at;
    clock_gettime(CLOCK_MONOTONIC, &at);
    long long whole = (long long)seconds;
    long long nanos = at.tv_nsec + (long long)((seconds - (double)whole) * 1e9);
    at.tv_sec += (time_t)(whole + nanos / 1000000000LL);
    at.tv_nsec = (long)(nanos % 1000000000LL);
    return pthread_cond_timedwait(&c->cond, &c->mutex, &at) == 0;
}
