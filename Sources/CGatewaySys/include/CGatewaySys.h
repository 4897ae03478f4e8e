#ifndef GATEWAY_SYS_H
#define GATEWAY_SYS_H
/* Linux calls Swift's Glibc module does not expose (they need _GNU_SOURCE). */
#include <sys/inotify.h>
#include <pthread.h>

/* renameat2(RENAME_NOREPLACE): rename that fails with EEXIST instead of replacing. */
int gw_renameat_noreplace(int olddirfd, const char *oldpath, int newdirfd, const char *newpath);
/* syncfs(2): flush the file system holding fd. */
int gw_syncfs(int fd);
/* open(dirfd, O_TMPFILE|O_RDWR|O_CLOEXEC): an unnamed file in that directory's file
   system; -1 with errno (EOPNOTSUPP/EISDIR where the file system lacks it). */
int gw_open_tmpfile(int dirfd, unsigned int mode);
/* Gives the unnamed file `fd` the name `name` in `dirfd` (linkat through /proc/self/fd,
   which needs no privilege); -1 with errno (EEXIST when the name is taken). */
int gw_link_tmpfile(int fd, int dirfd, const char *name);
/* Sets FS_TOPDIR_FL (chattr +T) on the directory `fd`: ext4 then spreads the directories
   made in it over the file system as it does top-level ones. 0, or -1 with errno. */
/// 1 when the directory `fd` has a default POSIX ACL (its new files take it), else 0.
int gw_has_default_acl(int fd);
int gw_set_topdir(int fd);
/* Names the calling thread (15 characters at most are kept): top -H and perf show it. */
void gw_set_thread_name(const char *name);
/* IN_ALL_EVENTS-style masks are macros; the ones the watcher uses. */
unsigned int gw_in_watch_mask(void);
/* A mutex and a condition whose timed waits run on CLOCK_MONOTONIC (a pthread condition
   waits on the wall clock by default: a clock stepped back would lengthen the wait). */
typedef struct gw_cond { pthread_mutex_t mutex; pthread_cond_t cond; } gw_cond;
int gw_cond_init(gw_cond *c);
void gw_cond_destroy(gw_cond *c);
void gw_cond_lock(gw_cond *c);
void gw_cond_unlock(gw_cond *c);
void gw_cond_signal(gw_cond *c);
void gw_cond_broadcast(gw_cond *c);
/* With the mutex held: waits until signalled or `seconds` have passed on the monotonic
   clock. 1 when woken (or spuriously), 0 when the time ran out. */
int gw_cond_wait(gw_cond *c, double seconds);
#endif
