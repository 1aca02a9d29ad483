/*
 * child.h - what a copy of the service does before it dumps: a fork()ed
 * dump child (fork.c) or the copy 'heapsnap attach' makes (attach/).
 */
#ifndef HSD_CHILD_H
#define HSD_CHILD_H

/* Leaves the service behind in this copy of it: the kernel's default
 * signal actions (the service's handlers write to its wakeup descriptor)
 * with SIGPIPE, SIGXFSZ and also_ignore (a repeated trigger signal; 0 for
 * none) ignored, no signal blocked, no descriptor but keep and stdio on
 * /dev/null (a connection the service closes must not stay open here),
 * and first in line for the OOM killer. Returns keep's descriptor now
 * (moved above stdio when it was 0-2). */
int hsd_leave_service(int keep, int also_ignore);

#endif
