/* sink.c - output sinks: a file descriptor and a growable memory buffer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hsnap.h"

static int fd_write(void *ctx, const void *buf, size_t len)
{
	int fd = *(int *)ctx;
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fd_sync(void *ctx)
{
	return fsync(*(int *)ctx);
}

void hs_sink_fd(hs_sink *sink, int *fd)
{
	*sink = (hs_sink){ fd_write, fd_sync, fd };
}

static int mem_write(void *ctx, const void *data, size_t len)
{
	hs_membuf *m = ctx;
	if (!len) /* data may still be NULL */
		return 0;
	if (m->len + len > m->cap) {
		size_t ncap = m->cap ? m->cap : 4096;
		while (ncap < m->len + len)
			ncap *= 2;
		uint8_t *np = realloc(m->data, ncap);
		if (!np) {
			errno = ENOMEM;
			return -1;
		}
		m->data = np;
		m->cap = ncap;
	}
	memcpy(m->data + m->len, data, len);
	m->len += len;
	return 0;
}

void hs_sink_mem(hs_sink *sink, hs_membuf *buf)
{
	*sink = (hs_sink){ mem_write, NULL, buf };
}

void hs_membuf_free(hs_membuf *buf)
{
	if (!buf)
		return;
	free(buf->data);
	buf->data = NULL;
	buf->len = buf->cap = 0;
}
