/*
 * recording.c — see recording.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fixture_bind.h"
#include "recording.h"

struct uns_recording {
	pthread_mutex_t mu;
	int fd;
	uns_fixture_recorder *rec;
	uint64_t written, failed;
	char path[2048];
};

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static uns_err
write_header(uns_recording *r)
{
	char desc[256];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(desc, sizeof(desc), "recorded by unsd at %Y-%m-%dT%H:%M:%SZ",
	         &tm);
	uint8_t *buf = NULL;
	size_t len = 0;
	uns_err err = uns_fixture_recorder_open(&r->rec, NULL, desc);
	if (err == UNS_OK) {
		err = uns_fixture_pack(
		    &uns_fixture_recorder_fixture(r->rec)->base, &buf, &len);
	}
	if (err == UNS_OK && write_all(r->fd, buf, len) != 0) {
		err = UNS_EIO;
	}
	free(buf);
	return err;
}

uns_err
uns_recording_open(uns_recording **out, const char *dir, char *why,
                   size_t whylen)
{
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	uns_recording *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		return UNS_ENOMEM;
	}
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(r->path, sizeof(r->path), "%s/unsd-%s-%ld.fixture", dir, stamp,
	         (long)getpid());
	pthread_mutex_init(&r->mu, NULL);
	r->fd = -1;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(why, whylen, "record_dir %s: %s", dir,
		         strerror(errno));
		uns_recording_close(r);
		return UNS_EIO;
	}
	r->fd = open(r->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	uns_err err = r->fd < 0 ? UNS_EIO : write_header(r);
	if (err != UNS_OK) {
		snprintf(why, whylen, "record_dir: cannot write %s: %s",
		         r->path,
		         err == UNS_EIO ? strerror(errno) : uns_strerror(err));
		uns_recording_close(r);
		return err;
	}
	*out = r;
	return UNS_OK;
}

void
uns_recording_close(uns_recording *r)
{
	if (r == NULL) {
		return;
	}
	if (r->fd >= 0) {
		close(r->fd);
	}
	uns_fixture_recorder_close(r->rec);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

const char *
uns_recording_path(const uns_recording *r)
{
	return r->path;
}

void
uns_recording_counts(uns_recording *r, uint64_t *written, uint64_t *failed)
{
	pthread_mutex_lock(&r->mu);
	*written = r->written;
	*failed = r->failed;
	pthread_mutex_unlock(&r->mu);
}

void
uns_recording_exchange(void *arg, const uint8_t *req, size_t req_len,
                       const uint8_t *resp, size_t resp_len)
{
	uns_recording *r = arg;
	uint8_t *piece = NULL;
	size_t len = 0;
	pthread_mutex_lock(&r->mu);
	if (uns_fixture_recorder_add(r->rec, req, req_len, resp, resp_len,
	                             &piece, &len) == UNS_OK &&
	    write_all(r->fd, piece, len) == 0) {
		r->written++;
	} else {
		r->failed++;
	}
	uns_fixture_recorder_forget(r->rec);
	pthread_mutex_unlock(&r->mu);
	free(piece);
}
