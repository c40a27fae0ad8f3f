/* Transform types: Debezium's ExtractNewRecordState (unwrap) and the outbox EventRouter. */
#include "xform/xform.h"

const sl_xform_ops *const sl_xforms_debezium[] = {NULL};
