/* Transform types: relational -> document embedding (type=embed). */
#include "xform/xform.h"

const sl_xform_ops *const sl_xforms_embed[] = {NULL};
