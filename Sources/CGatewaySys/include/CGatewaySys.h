#ifndef GATEWAY_SYS_H
#define GATEWAY_SYS_H
/* Linux calls Swift's Glibc module does not expose (they need _GNU_SOURCE). */
#include <sys/inotify.h>

/* renameat2(RENAME_NOREPLACE): rename that fails with EEXIST instead of replacing. */
int gw_renameat_noreplace(int olddirfd, const char *oldpath, int newdirfd, const char *newpath);
/* syncfs(2): flush the file system holding fd. */
int gw_syncfs(int fd);
/* IN_ALL_EVENTS-style masks are macros; the ones the watcher uses. */
unsigned int gw_in_watch_mask(void);
#endif
