/* child.c - leaving the service behind in a copy of it (child.h). */
#include "child.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

int hsd_leave_service(int keep, int also_ignore)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL }, ign = { .sa_handler = SIG_IGN };
	for (int s = 1; s < NSIG; s++) {
		struct sigaction old;
		if (s == SIGKILL || s == SIGSTOP || sigaction(s, NULL, &old) < 0)
			continue;
		if (s == also_ignore || s == SIGPIPE || s == SIGXFSZ)
			sigaction(s, &ign, NULL);
		else if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN)
			sigaction(s, &dfl, NULL);
	}
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (keep < 3)
		keep = fcntl(keep, F_DUPFD_CLOEXEC, 3);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	for (int fd = 0; fd < 3 && null >= 0; fd++)
		if (fd != null)
			dup2(null, fd);
	unsigned k = (unsigned)keep;
	int closed = 0;
#ifdef SYS_close_range
	closed = (k == 3 || syscall(SYS_close_range, 3U, k - 1, 0) == 0) &&
	         syscall(SYS_close_range, k + 1, ~0U, 0) == 0;
#endif
	long max = closed ? 0 : sysconf(_SC_OPEN_MAX);
	for (long fd = 3; fd < (max > 0 && max < 65536 ? max : closed ? 0 : 65536); fd++)
		if (fd != keep)
			close((int)fd);
	/* if memory runs out, the OOM killer takes the copy, not the service */
	int adj = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (adj >= 0) {
		ssize_t w = write(adj, "1000", 4);
		(void)w;
		close(adj);
	}
	return keep;
}
