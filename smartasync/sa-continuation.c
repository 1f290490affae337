/* sa-continuation.c: apply a function to a result ready now or later
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "sa-bridge-private.h"
#include "sa-continuation.h"
#include "sa-task-private.h"

typedef struct
{
  SaContinuationFunc  func;
  gpointer            func_data;
  GDestroyNotify      func_data_destroy;
  GTask              *next;
  gulong              handler_id;
  gint                fired;     /* atomic */
  gatomicrefcount     ref_count; /* the signal handler's and the caller's */
} Continuation;

static void
continuation_unref (Continuation *cont)
{
  if (!g_atomic_ref_count_dec (&cont->ref_count))
    return;

  if (cont->func_data_destroy != NULL)
    cont->func_data_destroy (cont->func_data);
  g_clear_object (&cont->next);
  g_free (cont);
}

static void
continuation_closure_notify (gpointer  data,
                             GClosure *closure)
{
  continuation_unref (data);
}

static void
continuation_fire (GTask        *previous,
                   Continuation *cont)
{
  /* Whichever of the completion and the caller's own check comes first
   * runs the function; the other one does nothing. */
  if (!g_atomic_int_compare_and_exchange (&cont->fired, 0, 1))
    return;

  cont->func (previous, cont->next, cont->func_data);
  g_signal_handler_disconnect (previous, cont->handler_id);
}

static void
completed_cb (GObject    *object,
              GParamSpec *pspec,
              gpointer    user_data)
{
  continuation_fire (G_TASK (object), user_data);
}

/**
 * sa_continue:
 * @task: a [class@Gio.Task] whose result is ready now or will be later,
 *   such as the one [method@Sa.Dispatcher.call] returns
 * @func: (scope notified) (closure func_data) (destroy func_data_destroy):
 *   what to make of the result
 * @func_data: data for @func
 * @func_data_destroy: (nullable): frees @func_data once @func has run
 * @callback: (scope async) (nullable) (closure user_data): called once with
 *   the new task when it completes
 * @user_data: data for @callback
 *
 * Applies @func to the result of @task with one call, whether that result
 * is ready now or later: the `smartcontinuation` of the Python library.
 *
 * When @task is complete (a sync caller's), @func runs at once and the
 * returned task is complete too: the call waits for it on the calling
 * thread's private context, and @callback has run before this function
 * returns. When @task is pending (an async caller's), @func runs when it
 * completes, on its context, and the returned task is pending; @callback
 * runs on the thread-default context of the caller of this function.
 *
 * The new task has the source object and the cancellable of @task, so
 * [method@Sa.Dispatcher.call_finish] reads it like the first.
 * Safe to call from any thread.
 *
 * Returns: (transfer full): a new task that completes with what @func
 *   returned on it
 *
 * Since: 1.0
 */
GTask *
sa_continue (GTask               *task,
             SaContinuationFunc   func,
             gpointer             func_data,
             GDestroyNotify       func_data_destroy,
             GAsyncReadyCallback  callback,
             gpointer             user_data)
{
  GObject *source_object;
  GCancellable *cancellable;
  Continuation *cont;
  GTask *next;

  g_return_val_if_fail (G_IS_TASK (task), NULL);
  g_return_val_if_fail (func != NULL, NULL);

  source_object = g_task_get_source_object (task);
  cancellable = g_task_get_cancellable (task);

  if (g_task_get_completed (task))
    {
      SaBridge *bridge = _sa_bridge_new_full (NULL, 0, FALSE, NULL);
      GAsyncResult *result;

      next = g_task_new (source_object, cancellable, sa_bridge_callback, bridge);
      _sa_task_set_tag (next, g_task_get_source_tag (task));
      _sa_bridge_attach (bridge, next);
      sa_bridge_unref (bridge);

      func (task, next, func_data);
      if (func_data_destroy != NULL)
        func_data_destroy (func_data);

      result = sa_bridge_wait (bridge, NULL);
      g_assert (result == G_ASYNC_RESULT (next));
      g_object_unref (next);

      if (callback != NULL)
        callback (source_object, result, user_data);

      return G_TASK (result);
    }

  next = g_task_new (source_object, cancellable, callback, user_data);
  _sa_task_set_tag (next, g_task_get_source_tag (task));

  cont = g_new0 (Continuation, 1);
  cont->func = func;
  cont->func_data = func_data;
  cont->func_data_destroy = func_data_destroy;
  cont->next = g_object_ref (next);
  g_atomic_ref_count_init (&cont->ref_count);
  g_atomic_ref_count_inc (&cont->ref_count);
  cont->handler_id = g_signal_connect_data (task, "notify::completed",
                                            G_CALLBACK (completed_cb), cont,
                                            continuation_closure_notify, 0);

  /* @task may have completed on its own thread since it was checked. */
  if (g_task_get_completed (task))
    continuation_fire (task, cont);
  continuation_unref (cont);

  return next;
}
