/* Transform types: Kafka Connect's built-in transforms (org.apache.kafka.connect.transforms.*) and predicates. */
#include "xform/xform.h"

const sl_xform_ops *const sl_xforms_connect[] = {NULL};
const sl_xpred_ops *const sl_xpreds_connect[] = {NULL};
