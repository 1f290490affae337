/* sa-cell-async.c: an async caller's two cells: a non-blocking operation on the caller's context, a blocking one offloaded to a pool
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "sa-call-task-private.h"
#include "sa-cell-private.h"
#include "sa-dispatcher-private.h"
#include "sa-drain-thread-private.h"
#include "sa-hand-back-private.h"
#include "sa-operation-private.h"
#include "sa-pool-private.h"

/* Async caller, non-blocking operation, with a guard: the operation
 * completes the call's task on the caller's context; the guard may give
 * the call up first. */
static GTask *
async_non_blocking_guarded (const SaCallOrigin  *origin,
                            SaOperation         *operation,
                            GCancellable        *cancellable,
                            guint                timeout_ms,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  SaCall *call = _sa_call_new (origin, operation, cancellable, timeout_ms, callback, user_data,
                               SA_CALL_BODY_RETURNED);
  GTask *task = g_object_ref (call->task);   /* the caller's */

  _sa_call_hold_by_toggle (call);
  if (!g_task_return_error_if_cancelled (task))
    _sa_operation_start_body (operation, task, g_task_get_cancellable (task));

  return task;
}

GTask *
_sa_cell_async_non_blocking (const SaCallOrigin  *origin,
                             SaOperation         *operation,
                             GCancellable        *cancellable,
                             guint                timeout_ms,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  GTask *task;

  if (_sa_guard_needed (cancellable, TRUE, timeout_ms))
    return async_non_blocking_guarded (origin, operation, cancellable, timeout_ms,
                                       callback, user_data);

  /* The common case needs nothing but the one task. */
  task = _sa_call_task_new (origin, cancellable, callback, user_data);
  if (cancellable == NULL || !g_task_return_error_if_cancelled (task))
    _sa_operation_start_body (operation, task, cancellable);

  return task;
}

/* Runs a blocking body for an async caller, on a pool thread of either
 * pool, on the call's task; then makes sure the task was returned. */
static void
offload_run (SaCall *call)
{
  GTask *task = call->task;
  GCancellable *cancellable = g_task_get_cancellable (task);

  if (cancellable == NULL || !g_task_return_error_if_cancelled (task))
    _sa_operation_run_body (call->operation, task, cancellable);

  if (g_atomic_int_get (&call->state) != SA_CALL_RUNNING)
    return;   /* call_done() ran: the task was returned */

  /* A call given up is looked for always: its caller may not confirm it. */
  if (_sa_call_many_undelivered () && !_sa_call_given_up (call))
    {
      call->unconfirmed = TRUE;   /* published by the state's change */
      return;
    }

  _sa_call_return_if_never_returned (call);
}

/* One with no guard has no SaCall in its task's qdata until this thread
 * puts it there (see _sa_call_new_queued()). */
void
_sa_cell_offload_job (gpointer data)
{
  SaCall *call = data;

  _sa_pool_job_caller_idle ();
  if (!call->guarded)
    _sa_call_task_set_call (call);
  offload_run (call);
  _sa_hand_back (call);
}

/* A body on GTask's pool runs in the thread function of a task of the
 * library's, made on the caller's context: that task's completion there
 * says that the body returned, as _sa_hand_back() does on the
 * dispatcher's pool, and it is released in its own dispatch. */
static void
gtask_pool_run (GTask        *runner,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  offload_run (task_data);
  g_task_return_boolean (runner, TRUE);
}

/* On the caller's context; or, with @drain, on the drain thread. */
static void
gtask_pool_returned (GObject      *source_object,
                     GAsyncResult *result,
                     gpointer      drain)
{
  SaCall *call = g_task_get_task_data (G_TASK (result));

  if (drain != NULL)
    {
      _sa_hand_back (call);
      _sa_drain_completed (drain);
    }
  else if (!g_atomic_int_compare_and_exchange (&call->state, SA_CALL_RUNNING, SA_CALL_BODY_RETURNED))
    _sa_call_complete (call);
  else if (call->unconfirmed)
    _sa_hand_back_confirm (call);
}

static void
push_to_gtask_pool (SaCall *call)
{
  GMainContext *drain_context = NULL;
  SaDrain *drain = NULL;
  GTask *runner;

  /* A caller with no callback may stop iterating its context once the
   * call's task reads as completed, and one whose call is given up once
   * its callback ran, before this task's completion: that one goes to a
   * context of the drain thread's instead (the drain holds it). */
  if (call->callback == NULL || call->guarded)
    {
      drain_context = g_main_context_new ();
      drain = _sa_drain_new (drain_context, FALSE);
      g_main_context_push_thread_default (drain_context);
    }
  runner = g_task_new (NULL, NULL, gtask_pool_returned, drain);
  if (drain != NULL)
    {
      g_main_context_pop_thread_default (drain_context);
      _sa_drain_start (_sa_drain_ref (drain));
    }
  g_task_set_priority (runner, g_task_get_priority (call->task));
  g_task_set_task_data (runner, call, NULL);
  g_task_run_in_thread (runner, gtask_pool_run);
  g_object_unref (runner);
}

/* Async caller, blocking operation: the body is offloaded to a pool, on
 * the call's task; the caller's callback runs after it returned. Every
 * offload is expected (counted among the undelivered), pushed, then
 * handed back (_sa_hand_back(), or gtask_pool_returned()). */
GTask *
_sa_cell_async_blocking (const SaCallOrigin  *origin,
                         SaOperation         *operation,
                         GCancellable        *cancellable,
                         guint                timeout_ms,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  SaPool *pool = _sa_dispatcher_get_pool (origin->dispatcher);
  SaCall *call;
  GTask *task;

  /* The common case: no guard, the dispatcher's pool. */
  if G_LIKELY (pool != NULL && !_sa_guard_needed (cancellable, TRUE, timeout_ms))
    {
      call = _sa_call_new_queued (origin, operation, callback, user_data);
      task = g_object_ref (call->task);   /* the caller's */
      _sa_pool_push_data (pool, call, origin->priority);
      return task;
    }

  call = _sa_call_new (origin, operation, cancellable, timeout_ms, callback, user_data,
                       SA_CALL_RUNNING);
  task = g_object_ref (call->task);   /* the caller's */
  _sa_call_count_undelivered (call);
  /* Cancelled before the call: completed without a thread. */
  if (g_task_return_error_if_cancelled (task))
    g_atomic_int_set (&call->state, SA_CALL_BODY_RETURNED);
  else if (pool != NULL)
    _sa_pool_push_data (pool, call, origin->priority);
  else
    push_to_gtask_pool (call);

  return task;
}
