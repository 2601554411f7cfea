/*
 * utnode.h — a self-recursive protobuf message written by hand (no .proto),
 * for the JSON tests that need chains deeper than any real message allows
 * (the codec's and the writer's nesting limit).
 */
#ifndef UNS_TESTS_UTNODE_H
#define UNS_TESTS_UTNODE_H

#include <protobuf-c/protobuf-c.h>

typedef struct ut_node {
	ProtobufCMessage base;
	struct ut_node *child;
} ut_node;

extern const ProtobufCMessageDescriptor ut_node_descriptor;

/* An empty node (no child). */
void ut_node_init(ut_node *m);

#endif /* UNS_TESTS_UTNODE_H */
