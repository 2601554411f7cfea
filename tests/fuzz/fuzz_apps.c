/*
 * fuzz_apps.c — libFuzzer target for the apps registry parser
 * (uns_auth_load_apps, server/auth/auth.c): DATA/apps.conf, one app per
 * line with its hosts and secret hash. Written by unsctl, but edited by
 * hand too, and reloaded on SIGHUP by a running server, so a bad file must
 * be refused with a reason naming the line and never crash.
 *
 * The input is the file (through a memfd). A refused file leaves a reason;
 * an accepted one's apps own the hosts they were given, and a load of the
 * same bytes again gives the same answer. A broken promise aborts.
 *
 *   CC=clang cmake -S . -B build-fuzz -DUNS_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_apps
 *   build-fuzz/fuzz_apps -max_total_time=60 tests/fuzz/corpus/apps
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
must(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_apps: %s\n", what);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uns_auth *a;
	char path[64], why[512];
	if (a == NULL) {
		uns_auth_config cfg = {.audience = "uns"};
		must(uns_auth_open(&a, &cfg) == UNS_OK, "auth open");
	}
	int fd = memfd_create("apps.conf", 0);
	if (fd < 0) {
		return 0;
	}
	if (size > 0 && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	why[0] = '\0';
	uns_err first = uns_auth_load_apps(a, path, why, sizeof(why));
	if (first != UNS_OK) {
		must(why[0] != '\0', "a refusal without a reason");
	}
	uns_err again = uns_auth_load_apps(a, path, why, sizeof(why));
	must(again == first, "the same file answered differently");
	close(fd);
	return 0;
}
