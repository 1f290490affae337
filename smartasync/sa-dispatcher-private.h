/* sa-dispatcher-private.h: dispatcher internals shared by the library (not installed)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "sa-dispatcher.h"

G_BEGIN_DECLS

/* Whether a call in @mode through @self is an async caller's: the
 * detection of sa_dispatcher_choose_cell() without its argument checks,
 * for callers that have made them already. */
gboolean _sa_dispatcher_caller_is_async (SaDispatcher *self,
                                         SaCallMode    mode);

/* The task that holds the result of a call's task, for reading once with
 * g_task_propagate_*(): the call's task itself. NULL with @error set when
 * its guard answered the call (the guard's error) or it was read already. */
GTask   *_sa_dispatcher_result_task     (GAsyncResult  *result,
                                         GError       **error);

/* For a continuation of @task: the task its function reads with
 * g_task_propagate_*(): @task itself, a new reference, or a new task of
 * the guard's error when its guard answered the call. */
GTask   *_sa_dispatcher_unwrap          (GTask         *task);
typedef void (*SaAnswerFunc) (GTask    *task,
                              gpointer  data);

/* Runs @func (@task, @data) on the caller's context right after the
 * caller's callback of @task's call, then @destroy (@data), where that
 * callback and the task's completion part: a guard's answer before it, a
 * callback handed back by the body's thread after it. FALSE, keeping
 * nothing, when they do not part, or the callback ran already (see
 * _sa_dispatcher_answered() for a guard's answer). */
gboolean _sa_dispatcher_on_delivered    (GTask          *task,
                                         SaAnswerFunc    func,
                                         gpointer        data,
                                         GDestroyNotify  destroy);
/* The caller's cancellable of @task's call (its task has the guard's). */
GCancellable *_sa_dispatcher_get_cancellable (GTask   *task);
/* Whether a guard answered @task's call. */
gboolean _sa_dispatcher_answered        (GTask          *task);

/* The source tag for a task that continues @task. */
gpointer _sa_dispatcher_plain_tag       (GTask         *task);

G_END_DECLS
