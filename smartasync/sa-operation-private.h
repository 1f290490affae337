/* sa-operation-private.h: operation internals shared by the library, and where every body starts (not installed)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "sa-context-private.h"
#include "sa-operation.h"

G_BEGIN_DECLS

/* sa_operation_get_kind() without its argument check, for the hot path of
 * a call that has made it already. */
SaOperationKind _sa_operation_get_kind (SaOperation *self);

static inline gboolean
_sa_operation_is_blocking (SaOperation *self)
{
  return _sa_operation_get_kind (self) == SA_OPERATION_KIND_BLOCKING;
}

/* The error of a blocking body that returned without completing its task. */
GError         *_sa_operation_new_no_result_error (SaOperation *self);

/* Every blocking body runs through this: the thread is marked as inside a
 * blocking body (a caller there is a sync caller) while it runs. */
static inline void
_sa_operation_run_body (SaOperation  *operation,
                        GTask        *task,
                        GCancellable *cancellable)
{
  gboolean was_blocking = _sa_context_set_blocking (TRUE);

  SA_OPERATION_GET_CLASS (operation)->run (operation, task, cancellable);
  _sa_context_set_blocking (was_blocking);
}

/* @task holds @self, and so its data, until @task is finalized
 * (sa-call-task.c: one entry of the task with its read-once mark). */
void            _sa_operation_hold_in_task (SaOperation *self,
                                            GTask       *task);

/* Every non-blocking operation starts through this: the mark of a
 * blocking body is lifted while it starts, as it runs on a context. Its
 * work goes on after the start returns, so its task holds it: a caller
 * may drop the operation once the call is made. */
static inline void
_sa_operation_start_body (SaOperation  *operation,
                          GTask        *task,
                          GCancellable *cancellable)
{
  _sa_operation_hold_in_task (operation, task);
  /* Most callers are not inside a blocking body: then there is no mark
   * to lift and put back. */
  if G_LIKELY (!_sa_context_is_blocking ())
    {
      SA_OPERATION_GET_CLASS (operation)->start (operation, task, cancellable);
      return;
    }

  _sa_context_set_blocking (FALSE);
  SA_OPERATION_GET_CLASS (operation)->start (operation, task, cancellable);
  _sa_context_set_blocking (TRUE);
}

G_END_DECLS
