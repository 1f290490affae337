/* sa-cell-sync.c: a sync caller's two cells: a non-blocking operation on the private context, a blocking one called directly
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "sa-bridge-private.h"
#include "sa-call-task-private.h"
#include "sa-cell-private.h"
#include "sa-context-private.h"
#include "sa-guard-private.h"
#include "sa-operation-private.h"

/* What a function scheduled on the private context starts. */
typedef struct
{
  SaOperation  *operation;
  GTask        *task;
  GCancellable *cancellable;
} StartArgs;

static void
start_scheduled (gpointer data)
{
  StartArgs *args = data;

  _sa_operation_start_body (args->operation, args->task, args->cancellable);
}

static void
run_scheduled (gpointer data)
{
  StartArgs *args = data;

  _sa_operation_run_body (args->operation, args->task, args->cancellable);
}

static void
return_no_result (gpointer data)
{
  StartArgs *args = data;

  g_task_return_error (args->task, _sa_operation_new_no_result_error (args->operation));
}

static void
blocking_done (GObject      *source_object,
               GAsyncResult *result,
               gpointer      user_data)
{
  *(GTask **) user_data = g_object_ref (G_TASK (result));
}

/* Runs a blocking body on this thread, from a dispatch of its private
 * context, on an operation's task made there: the task calls back inside
 * the body's g_task_return_*(), so a body that returned without completing
 * it is known at once. The private context is only iterated, not
 * thread-default, while the body runs: the body sees the thread-default
 * context of its caller, or of its worker, and what it binds there is
 * serviced. Returns the operation's task, complete, or NULL with
 * NO_RESULT. */
static GTask *
run_blocking_here (const SaCallOrigin  *origin,
                   SaOperation         *operation,
                   GCancellable        *cancellable,
                   GError             **error)
{
  GSource *schedule;
  GMainContext *context = _sa_context_enter (&schedule);
  GTask *done = NULL;
  GTask *task = _sa_call_task_new (origin, cancellable, blocking_done, &done);
  StartArgs args = { operation, task, cancellable };

  g_main_context_pop_thread_default (context);
  /* The body runs in the first iteration, and whatever it left ready in
   * the ones after; a body that completed nothing by then never will. */
  _sa_context_schedule (schedule, run_scheduled, &args);
  while (done == NULL && g_main_context_iteration (context, FALSE))
    ;
  if (done == NULL)
    {
      /* The body left its task unreturned: the library returns it, on this
       * context, so that GLib 2.76 and later see no task finalized without
       * a result. */
      _sa_context_schedule (schedule, return_no_result, &args);
      while (done == NULL && g_main_context_iteration (context, FALSE))
        ;
      g_clear_object (&done);
      g_propagate_error (error, _sa_operation_new_no_result_error (operation));
    }
  _sa_context_unschedule (schedule);
  _sa_context_leave_popped (context, schedule);
  g_object_unref (task);

  return done;
}

/* A completed task holding @error, completed on the private context, so
 * that the caller's context is not touched. */
static GTask *
completed_error_task (const SaCallOrigin *origin,
                      GError             *error)
{
  SaBridge bridge;

  _sa_bridge_init (&bridge, NULL, 0, FALSE, NULL);
  return _sa_bridge_return_error (&bridge, _sa_call_task_new (origin, NULL, sa_bridge_callback, &bridge),
                                  error);
}

/* Hands a sync call's outcome to the caller: a task, complete. */
static GTask *
sync_outcome (const SaCallOrigin  *origin,
              GTask               *task,
              GError              *error,
              GAsyncReadyCallback  callback,
              gpointer             user_data)
{
  if (task == NULL)
    task = completed_error_task (origin, error);

  if (callback != NULL)
    callback (origin->source_object, G_ASYNC_RESULT (task), user_data);

  return task;
}

static SaBridge *
sync_bridge_open (SaBridge     *on_stack,
                  GCancellable *cancellable,
                  guint         timeout_ms,
                  SaOperation  *operation)
{
  /* Without a guard the wait ends only with the result, so the bridge
   * cannot outlive the call's frame. */
  if (!_sa_bridge_needs_heap (cancellable, timeout_ms))
    {
      _sa_bridge_init (on_stack, cancellable, 0, FALSE, NULL);
      return on_stack;
    }

  return _sa_bridge_new_full (cancellable, timeout_ms, FALSE,
                              sa_operation_get_name (operation));
}

static void
sync_bridge_close (SaBridge *bridge,
                   SaBridge *on_stack)
{
  if (bridge == on_stack)
    _sa_bridge_clear (bridge);
  else
    sa_bridge_unref (bridge);
}

/* Sync caller, non-blocking operation: started from a dispatch of the
 * private context and waited for there; a guard that fires abandons it. */
GTask *
_sa_cell_sync_non_blocking (const SaCallOrigin  *origin,
                            SaOperation         *operation,
                            GCancellable        *cancellable,
                            guint                timeout_ms,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  SaBridge on_stack;
  SaBridge *bridge = sync_bridge_open (&on_stack, cancellable, timeout_ms, operation);
  g_autoptr(GTask) task = _sa_call_task_new (origin, bridge->cancellable, sa_bridge_callback, bridge);
  StartArgs args = { operation, task, bridge->cancellable };
  GError *error = NULL;
  GTask *result;

  /* A heap bridge lives as long as the task may call it back. */
  if (bridge != &on_stack)
    _sa_bridge_attach (bridge, task);

  if (!g_task_return_error_if_cancelled (task))
    _sa_context_schedule (bridge->schedule, start_scheduled, &args);
  result = G_TASK (_sa_bridge_wait (bridge, &error));
  sync_bridge_close (bridge, &on_stack);

  return sync_outcome (origin, result, error, callback, user_data);
}

/* Sync caller, blocking operation: a direct call on this thread. A
 * timeout fires on the timer thread, since this one is busy with the
 * body: it cancels the body's cancellable, and the call reports it when
 * the body returns. */
GTask *
_sa_cell_sync_blocking (const SaCallOrigin  *origin,
                        SaOperation         *operation,
                        GCancellable        *cancellable,
                        guint                timeout_ms,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  SaGuard *guard = NULL;
  GCancellable *op_cancellable = cancellable;
  GError *error = NULL;
  GTask *task = NULL;

  if (timeout_ms != 0)
    {
      guard = _sa_guard_new (cancellable, FALSE, timeout_ms, NULL, NULL, NULL, NULL);
      op_cancellable = guard->cancellable;
    }

  if (!g_cancellable_set_error_if_cancelled (op_cancellable, &error))
    task = run_blocking_here (origin, operation, op_cancellable, &error);

  if (guard != NULL)
    {
      if (!_sa_guard_disarm (guard))
        {
          g_clear_object (&task);
          g_clear_error (&error);
          error = _sa_guard_error (guard, sa_operation_get_name (operation));
        }
      _sa_guard_close (guard);
    }

  return sync_outcome (origin, task, error, callback, user_data);
}
