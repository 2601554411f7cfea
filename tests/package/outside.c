/*
 * outside.c — a program outside the tree, built by tests/package/
 * test_package.sh against the installed package alone:
 *     cc outside.c $(pkg-config --cflags --libs uns)
 * It subscribes a polling device as a user, posts to it as an app, and
 * fetches the notification back by id.
 * usage: outside URL CA USER_TOKEN APP_TOKEN
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <uns/client.h>
#include <uns_stubs.h>

static int
failed(const char *what, uns_err err)
{
	fprintf(stderr, "outside: %s: %s: %s\n", what, uns_status_name(err),
	        uns_last_message());
	return 1;
}

int
main(int argc, char **argv)
{
	uns_client *c = NULL;
	uns_client_opts o = {.ca_file = argv[2]};
	Uns__V1__SubscribeRequest sreq = UNS__V1__SUBSCRIBE_REQUEST__INIT;
	Uns__V1__SubscribeResponse *sresp = NULL;
	Uns__V1__PostRequest preq = UNS__V1__POST_REQUEST__INIT;
	Uns__V1__PostResponse *presp = NULL;
	Uns__V1__Notification n = UNS__V1__NOTIFICATION__INIT;
	Uns__V1__Payload p = UNS__V1__PAYLOAD__INIT;
	Uns__V1__FetchRequest freq = UNS__V1__FETCH_REQUEST__INIT;
	Uns__V1__FetchResponse *fresp = NULL;
	uns_err err;

	if (argc != 5) {
		fprintf(stderr, "usage: outside URL CA USER_TOKEN APP_TOKEN\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((err = uns_client_open(&c, argv[1], &o)) != UNS_OK) {
		return failed("open", err);
	}
	uns_call_opts user = {.token = argv[3]}, app = {.token = argv[4]};
	sreq.device_id = "outside-device";
	sreq.platform = UNS__V1__PLATFORM__PLATFORM_POLLING;
	if ((err = uns_notifications_subscribe(c, &sreq, &sresp, &user)) !=
	    UNS_OK) {
		return failed("subscribe", err);
	}
	p.raw_content = "from outside the tree";
	n.payload = &p;
	preq.notification = &n;
	preq.unsid = sresp->subscription->unsid;
	if ((err = uns_notifications_post(c, &preq, &presp, &app)) != UNS_OK) {
		return failed("post", err);
	}
	freq.id = presp->notification->id;
	freq.unsid = sresp->subscription->unsid;
	if ((err = uns_notifications_fetch(c, &freq, &fresp, &user)) !=
	    UNS_OK) {
		return failed("fetch", err);
	}
	int same = strcmp(fresp->notification->payload->raw_content,
	                  p.raw_content) == 0;
	printf("outside: posted and fetched %s: %s\n", freq.id,
	       same ? "same payload" : "DIFFERENT payload");
	uns__v1__fetch_response__free_unpacked(fresp, NULL);
	uns__v1__post_response__free_unpacked(presp, NULL);
	uns__v1__subscribe_response__free_unpacked(sresp, NULL);
	uns_client_close(c);
	return same ? 0 : 1;
}
