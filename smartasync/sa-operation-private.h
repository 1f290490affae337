/* sa-operation-private.h: operation internals shared by the library (not installed)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "sa-operation.h"

G_BEGIN_DECLS

/* sa_operation_get_kind() without its argument check, for the hot path of
 * a call that has made it already. */
SaOperationKind _sa_operation_get_kind (SaOperation *self);

/* The error of a blocking body that returned without completing its task. */
GError         *_sa_operation_new_no_result_error (SaOperation *self);

G_END_DECLS
