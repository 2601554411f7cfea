/*
 * utnode.c — see utnode.h.
 */
#include <stddef.h>
#include <string.h>

#include "utnode.h"

static const ProtobufCFieldDescriptor node_fields[] = {
    {"child", 1, PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_MESSAGE, 0,
     offsetof(ut_node, child), &ut_node_descriptor, NULL, 0, 0, NULL, NULL},
};
static const unsigned node_by_name[] = {0};
static const ProtobufCIntRange node_ranges[] = {{1, 0}, {0, 1}};

const ProtobufCMessageDescriptor ut_node_descriptor = {
    PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,
    "uns.test.Node",
    "Node",
    "Node",
    "uns.test",
    sizeof(ut_node),
    1,
    node_fields,
    node_by_name,
    1,
    node_ranges,
    (ProtobufCMessageInit)ut_node_init,
    NULL,
    NULL,
    NULL,
};

void
ut_node_init(ut_node *m)
{
	memset(m, 0, sizeof(*m));
	m->base.descriptor = &ut_node_descriptor;
}
