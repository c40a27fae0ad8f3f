/* Transform types: the filter and the content-based router over a small expression language. */
#include "xform/xform.h"

const sl_xform_ops *const sl_xforms_expr[] = {NULL};
