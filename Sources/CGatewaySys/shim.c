#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "CGatewaySys.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

int gw_renameat_noreplace(int olddirfd, const char *oldpath, int newdirfd, const char *newpath) {
    return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, RENAME_NOREPLACE);
}

int gw_syncfs(int fd) { return syncfs(fd); }

unsigned int gw_in_watch_mask(void) {
    /* MOVED_TO: the write-then-rename a unit is asked to do; CLOSE_WRITE: a unit that
       writes the final name directly (picked up only once closed). */
    return IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF;
}
