/*
 * platform.h — the one table of platform names: how each Platform of the
 * proto is spelled in the Graph JSON the gateway reads and writes
 * ("windows", "ios", "android", "webPush", "webhook", "polling"), and so
 * also in what unsctl prints and takes. Microsoft Graph spells iOS "ios".
 *
 * UNS_PLATFORM_NAMES(X) expands X(value, name) once per platform, so each
 * user makes the rows it needs in its own type (the gateway's JSON mapping
 * takes uns_json_enum_name rows) from this one list; uns_platform_name()
 * and uns_platform_parse() serve everyone else. A platform added to the
 * proto gets its row here; docs/openapi.json's platform enums are checked
 * against it (test_platform).
 */
#ifndef UNS_PLATFORM_H
#define UNS_PLATFORM_H

#include <stdbool.h>

#include "uns/v1/notifications.pb-c.h"

#define UNS_PLATFORM_NAMES(X)                                                  \
	X(UNS__V1__PLATFORM__PLATFORM_WINDOWS, "windows")                      \
	X(UNS__V1__PLATFORM__PLATFORM_IOS, "ios")                              \
	X(UNS__V1__PLATFORM__PLATFORM_ANDROID, "android")                      \
	X(UNS__V1__PLATFORM__PLATFORM_WEB_PUSH, "webPush")                     \
	X(UNS__V1__PLATFORM__PLATFORM_WEBHOOK, "webhook")                      \
	X(UNS__V1__PLATFORM__PLATFORM_POLLING, "polling")

/* The Graph name of platform, or NULL for one without a name (0, or a
 * number this build does not know). */
const char *uns_platform_name(int platform);

/* The platform named name (exactly as spelled above, ignoring ASCII case);
 * false, *out untouched, for any other name. */
bool uns_platform_parse(const char *name, Uns__V1__Platform *out);

#endif /* UNS_PLATFORM_H */
