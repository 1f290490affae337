/* sa-continuation.c: apply a function to a result ready now or later
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "sa-bridge-private.h"
#include "sa-context.h"
#include "sa-continuation.h"
#include "sa-call-task-private.h"
#include "sa-task-private.h"

typedef struct
{
  SaContinuationFunc  func;
  gpointer            func_data;
  GDestroyNotify      func_data_destroy;
  GTask              *next;
  gulong              handler_id;
  gint                fired;     /* atomic */
  gatomicrefcount     ref_count; /* the signal handler's, a delivered hook's, the caller's */
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
  g_autoptr(GTask) readable = NULL;

  if (!g_atomic_int_compare_and_exchange (&cont->fired, 0, 1))
    return;

  readable = _sa_call_task_unwrap (previous);
  cont->func (readable, cont->next, cont->func_data);
  g_signal_handler_disconnect (previous, cont->handler_id);
}

typedef struct
{
  GTask        *previous;
  Continuation *cont;
} LateFire;

static gboolean
late_fire_cb (gpointer data)
{
  LateFire *late = data;

  continuation_fire (late->previous, late->cont);

  return G_SOURCE_REMOVE;
}

static void
late_fire_free (gpointer data)
{
  LateFire *late = data;

  g_object_unref (late->previous);
  continuation_unref (late->cont);
  g_free (late);
}

/* Fires from the caller's context, in a later iteration: an async
 * caller's continuation never runs inside sa_continue(). */
static void
fire_later (GTask        *previous,
            Continuation *cont)
{
  LateFire *late = g_new (LateFire, 1);
  GSource *source = g_idle_source_new ();

  late->previous = g_object_ref (previous);
  late->cont = cont;
  g_atomic_ref_count_inc (&cont->ref_count);
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_name (source, "[smartasync] continuation");
  g_source_set_callback (source, late_fire_cb, late, late_fire_free);
  g_source_attach (source, g_main_context_get_thread_default ());
  g_source_unref (source);
}

/* A dispatcher's call whose caller's callback and task completion part:
 * given up by its guard before the completion, or called back by its
 * body's thread after it. */
static void
delivered_cb (GTask    *task,
             gpointer  user_data)
{
  continuation_fire (task, user_data);
}

static void
delivered_cb_destroy (gpointer data)
{
  continuation_unref (data);
}

static void
completed_cb (GObject    *object,
              GParamSpec *pspec,
              gpointer    user_data)
{
  Continuation *cont = user_data;

  /* After the caller's callback, where that comes later. */
  g_atomic_ref_count_inc (&cont->ref_count);
  if (_sa_call_task_on_delivered (G_TASK (object), delivered_cb, cont, delivered_cb_destroy))
    return;
  continuation_unref (cont);

  continuation_fire (G_TASK (object), cont);
}

static inline gboolean
is_ready (GTask *task)
{
  return g_task_get_completed (task) || _sa_call_task_given_up (task);
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
 For a sync caller (see [func@Sa.caller_is_async]) and a complete @task,
 * @func runs at once and the returned task is complete too: the call
 * waits for it on the calling thread's private context, and @callback has
 * run before this function returns. Otherwise the returned task is
 * pending: @func runs when @task completes, on its context, or, when
 * @task is complete already, from the caller's thread-default context in
 * a later iteration, never inside this call; @callback runs on the
 * thread-default context of the caller of this function.
 *
 * @func reads the result of the task it is handed with
 * `g_task_propagate_*()`, in the form the operation gave it: for a task of
 * [method@Sa.Dispatcher.call], that is the task holding its result. A call
 * of the dispatcher given up at its timeout or cancellation is ready then,
 * before its body returns: @func runs at once, with a complete task of the
 * same source object and tag that stands for it and holds the guard's
 * error (`G_IO_ERROR_TIMED_OUT` or `G_IO_ERROR_CANCELLED`). The
 * new task has the source object and the cancellable of @task, so
 * [method@Sa.Dispatcher.call_finish] and its typed siblings read it like
 * the first. Safe to call from any thread.
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
  cancellable = _sa_call_task_get_cancellable (task);

  if (is_ready (task) && !sa_caller_is_async ())
    {
      g_autoptr(GTask) readable = _sa_call_task_unwrap (task);
      SaBridge *bridge = _sa_bridge_new_full (NULL, 0, FALSE, NULL);
      GAsyncResult *result;

      next = g_task_new (source_object, cancellable, sa_bridge_callback, bridge);
      _sa_task_set_tag (next, g_task_get_source_tag (task));
      _sa_bridge_attach (bridge, next);
      sa_bridge_unref (bridge);

      func (readable, next, func_data);
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

  g_atomic_ref_count_inc (&cont->ref_count);
  if (!_sa_call_task_on_delivered (task, delivered_cb, cont, delivered_cb_destroy))
    continuation_unref (cont);

  /* @task may have completed already, or on its own thread since. */
  if (is_ready (task))
    fire_later (task, cont);
  continuation_unref (cont);

  return next;
}
