/* sa-bridge.c: run any GIO _async/_finish pair synchronously
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "sa-bridge-private.h"
#include "sa-task-private.h"
#include "sa-context-private.h"
#include "sa-drain-thread-private.h"
#include "sa-pool-private.h"

#include <string.h>

/**
 * SaBridge:
 *
 * Runs any asynchronous GIO call to completion for a caller that wants a
 * plain synchronous result: a command-line tool with no main loop, a
 * worker thread, or code inside a main loop that must not re-enter it.
 *
 * [ctor@Sa.Bridge.new] pushes the calling thread's private
 * [struct@GLib.MainContext] as thread-default, so that the `_async` call
 * made next starts on it; [method@Sa.Bridge.wait] iterates that context,
 * and only that one, until the call's callback has run, pops it and hands
 * back the [iface@Gio.AsyncResult] for the matching `_finish` function:
 *
 * ```c
 * g_autoptr(SaBridge) bridge = sa_bridge_new (cancellable, 0);
 * g_file_load_contents_async (file, sa_bridge_get_cancellable (bridge),
 *                             sa_bridge_callback, bridge);
 * g_autoptr(GAsyncResult) result = sa_bridge_wait (bridge, &error);
 *
 * if (result != NULL &&
 *     g_file_load_contents_finish (file, result, &contents, &length, NULL, &error))
 *   …
 * ```
 *
 * The private context belongs to the calling thread and to the current
 * nesting depth: it is created on first use and reused by every later
 * bridge and sync call of that thread, so a call costs no new context, no
 * new file descriptor and no new thread. Neither the global default
 * context nor the caller's own thread-default context is iterated, so no
 * unrelated callback of the application runs during the wait and no outer
 * main loop is re-entered. A bridge opened while another is waiting on
 * the same thread (from inside its callbacks) gets a context of its own.
 *
 * Once the call has reported, [method@Sa.Bridge.wait] dispatches what the
 * call left ready on the context before it pops it, as a hand-written
 * helper that empties its context does (GDBus, for one, frees a signal
 * subscription's user data from an idle there): without blocking, while
 * an iteration dispatches something, at most 100 iterations, so that a
 * source that re-arms for ever cannot hold the caller. What is not ready,
 * a timer not due yet say, stays on the context until a later wait of the
 * thread at that depth dispatches it, or the context is freed.
 *
 With a timeout, the wait gives up after that many milliseconds: the
 * cancellable from [method@Sa.Bridge.get_cancellable] is cancelled and
 * [method@Sa.Bridge.wait] fails with `G_IO_ERROR_TIMED_OUT`, even when
 * the call can never complete (say, because it waits for a context that
 * nobody iterates). Cancelling the caller's cancellable ends the wait the
 * same way, at once, with `G_IO_ERROR_CANCELLED`, whether or not the call
 * honours its cancellable. A call given up that way keeps the bridge alive
 * until its callback runs, if it ever does; its late result is dropped.
 * Its context is no longer the thread's: the library's drain thread, one
 * for every call given up in the process, iterates it until that callback
 * has run and nothing is pending on it, so the late result is freed even
 * when the calling thread exits, and the thread's next wait gets a new
 * context. A call that answers the cancellation at once, while a timer or
 * a watch it started is still pending on the context (an operation of
 * [class@Sa.Dispatcher] that ignores its cancellable, called
 * asynchronously), leaves the context to the drain thread the same way.
 *
 * A bridge is used by one thread, the one that created it, from
 * [ctor@Sa.Bridge.new] to [method@Sa.Bridge.wait]; exactly one call may
 * report to it. Bridges of one thread are waited for in the reverse order
 * of their creation (a bridge opened while another is open is waited for
 * first); waiting for an outer one first is a programmer error, reported
 * with a critical. Bridges of different threads are independent.
 *
 * Since: 1.0
 */

G_DEFINE_BOXED_TYPE (SaBridge, sa_bridge, sa_bridge_ref, sa_bridge_unref)

static void
wake_context (SaGuard  *guard,
              gpointer  data)
{
  g_main_context_wakeup (data);
}

static void
sa_bridge_close (SaBridge *self)
{
  g_clear_pointer (&self->guard, _sa_guard_close);
  self->open = FALSE;

  if (!self->given_up)
    {
      _sa_context_leave (g_steal_pointer (&self->context), g_steal_pointer (&self->schedule));
      return;
    }
  /* Called back at once at the cancellation: what the call started may still
   * run late on the context (a timer of its own, ignoring the
   * cancellable), and it goes to the drain thread if so. */
  if (!self->abandoned)
    {
      _sa_context_leave_given_up (g_steal_pointer (&self->context), g_steal_pointer (&self->schedule));
      return;
    }

  /* The drain thread may complete the call at once: it starts only once
   * everything the completion reads is in place. */
  self->drain = _sa_context_leave_to_drain (g_steal_pointer (&self->context), g_steal_pointer (&self->schedule));
  _sa_drain_start (self->drain);
}

void
_sa_bridge_init (SaBridge     *self,
                 GCancellable *cancellable,
                 guint         timeout_ms,
                 gboolean      keep_for_callback,
                 const char   *what)
{
  memset (self, 0, sizeof *self);
  g_atomic_ref_count_init (&self->ref_count);
  self->keep_for_callback = !!keep_for_callback;
  self->what = g_strdup (what);
  self->open = TRUE;
  self->context = _sa_context_enter (&self->schedule);

  if (_sa_guard_needed (cancellable, TRUE, timeout_ms))
    {
      self->guard = _sa_guard_new (cancellable, TRUE, timeout_ms, self->context,
                                   wake_context, g_main_context_ref (self->context),
                                   (GDestroyNotify) g_main_context_unref);
      g_set_object (&self->cancellable, self->guard->cancellable);
    }
  else
    {
      g_set_object (&self->cancellable, cancellable);
    }
}

SaBridge *
_sa_bridge_new_full (GCancellable *cancellable,
                     guint         timeout_ms,
                     gboolean      keep_for_callback,
                     const char   *what)
{
  SaBridge *self = g_new (SaBridge, 1);

  _sa_bridge_init (self, cancellable, timeout_ms, keep_for_callback, what);
  self->heap = TRUE;

  return self;
}

void
_sa_bridge_clear (SaBridge *self)
{
  g_assert (!self->heap);
  g_assert (!self->open);
  g_assert (self->drain == NULL);

  g_clear_object (&self->result);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->what, g_free);
}

GTask *
_sa_bridge_return_error (SaBridge *self,
                         GTask    *task,
                         GError   *error)
{
  GAsyncResult *result;

  g_task_return_error (task, error);
  result = _sa_bridge_wait (self, NULL);
  g_assert (result == G_ASYNC_RESULT (task));
  _sa_bridge_clear (self);
  g_object_unref (task);

  return G_TASK (result);
}

/**
 * sa_bridge_new:
 * @cancellable: (nullable): a [class@Gio.Cancellable] for the call
 * @timeout_ms: how long [method@Sa.Bridge.wait] waits, in milliseconds,
 *   or 0 to wait as long as the call takes
 *
 * Opens a bridge: pushes the calling thread's private main context as
 * thread-default, so that the asynchronous call made next starts on it.
 * Start exactly one call, with [func@Sa.Bridge.callback] (or a callback
 * of your own that calls [method@Sa.Bridge.complete]) and the bridge as
 * its data, then call [method@Sa.Bridge.wait] on the same thread.
 *
 * Returns: (transfer full): a new bridge
 *
 * Since: 1.0
 */
SaBridge *
sa_bridge_new (GCancellable *cancellable,
               guint         timeout_ms)
{
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);

  return _sa_bridge_new_full (cancellable, timeout_ms, TRUE, NULL);
}

/**
 * sa_bridge_ref:
 * @self: a [struct@Sa.Bridge]
 *
 * Takes a reference. Safe from any thread.
 *
 * Returns: (transfer full): @self
 *
 * Since: 1.0
 */
SaBridge *
sa_bridge_ref (SaBridge *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  g_atomic_ref_count_inc (&self->ref_count);

  return self;
}

/**
 * sa_bridge_unref:
 * @self: (transfer full): a [struct@Sa.Bridge]
 *
 * Drops a reference. A bridge freed while still open (without
 * [method@Sa.Bridge.wait]) is a programmer error; it is closed, with a
 * critical. Safe from any thread.
 *
 * Since: 1.0
 */
void
sa_bridge_unref (SaBridge *self)
{
  g_return_if_fail (self != NULL);

  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;

  if (self->open)
    {
      g_critical ("SaBridge freed without sa_bridge_wait()");
      sa_bridge_close (self);
    }

  /* An abandoned call that never called back: nothing left to drain for. */
  if (self->drain != NULL)
    _sa_drain_completed (g_steal_pointer (&self->drain));
  g_clear_object (&self->result);
  g_clear_object (&self->cancellable);
  g_free (self->what);
  g_assert (self->heap);
  g_free (self);
}

/**
 * sa_bridge_get_cancellable:
 * @self: a [struct@Sa.Bridge]
 *
 * The cancellable to hand to the asynchronous call: the one given to
 * [ctor@Sa.Bridge.new], or, when the bridge has a timeout, one of its own
 * that is cancelled by that one and by the timeout.
 *
 * Returns: (transfer none) (nullable): the cancellable for the call
 *
 * Since: 1.0
 */
GCancellable *
sa_bridge_get_cancellable (SaBridge *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return self->cancellable;
}

/**
 * sa_bridge_complete:
 * @self: a [struct@Sa.Bridge]
 * @result: the [iface@Gio.AsyncResult] the call handed to its callback
 *
 * Hands the call's result to the bridge. Call it from the callback of the
 * asynchronous call, once; [func@Sa.Bridge.callback] does just that.
 *
 * Since: 1.0
 */
void
sa_bridge_complete (SaBridge     *self,
                    GAsyncResult *result)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (G_IS_ASYNC_RESULT (result));

  if (self->completed)
    {
      g_critical ("SaBridge completed twice: exactly one call may report to a bridge");
      return;
    }
  self->completed = TRUE;

  if (self->abandoned)
    {
      /* The wait gave up on this call; its late result goes nowhere, and
       * its context's drain can stop. */
      if (self->drain != NULL)
        _sa_drain_completed (g_steal_pointer (&self->drain));
      if (self->keep_for_callback)
        sa_bridge_unref (self);
      return;
    }

  /* A result that comes after the deadline did not come within the
   * timeout, though the timeout had no chance to be dispatched first. */
  if (self->guard != NULL)
    _sa_guard_fire_if_due (self->guard);
  self->result = g_object_ref (result);
}

/**
 * sa_bridge_callback:
 * @source_object: (nullable): the call's source object
 * @result: the call's result
 * @user_data: the [struct@Sa.Bridge]
 *
 * A [callback@Gio.AsyncReadyCallback] to pass, with the bridge as its
 * data, to the asynchronous call: it calls [method@Sa.Bridge.complete].
 *
 * Since: 1.0
 */
void
sa_bridge_callback (GObject      *source_object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  sa_bridge_complete (user_data, result);
}

static SA_DEFINE_QUARK (sa-bridge, sa_bridge_qdata)

void
_sa_bridge_attach (SaBridge *self,
                   GTask    *task)
{
  g_object_set_qdata_full (G_OBJECT (task), sa_bridge_qdata_quark (),
                           sa_bridge_ref (self), (GDestroyNotify) sa_bridge_unref);
}

/* Dispatches what is ready on the bridge's context without blocking, until
 * the result arrives; returns whether it has. */
static gboolean
bridge_dispatch_ready (SaBridge *self)
{
  while (self->result == NULL && g_main_context_iteration (self->context, FALSE))
    ;

  return self->result != NULL;
}

/**
 * sa_bridge_wait:
 * @self: a [struct@Sa.Bridge]
 * @error: return location for a [struct@GLib.Error]
 *
 * Iterates the bridge's private context until the call has reported its
 * result, dispatches what the call left ready there (at most 100
 * iterations more, without blocking), then pops the context. Call it
 * once, on the thread that created the bridge. Only the bridge's own
 * context is iterated.
 *
 * Returns: (transfer full): the call's result, for its `_finish` function,
 *   or %NULL with `G_IO_ERROR_TIMED_OUT` when the bridge's timeout passed
 *   first
 *
 * Since: 1.0
 */
GAsyncResult *
sa_bridge_wait (SaBridge  *self,
                GError   **error)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (self->open, NULL);
  /* Its context is the thread-default one only while it is the innermost
   * open bridge of this thread: waits are last in, first out. */
  g_return_val_if_fail (g_main_context_get_thread_default () == self->context, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return _sa_bridge_wait (self, error);
}

GAsyncResult *
_sa_bridge_wait (SaBridge  *self,
                 GError   **error)
{
  if (self->result == NULL)
    {
      /* A pool thread that waits lets its pool run one more. */
      gboolean pool_thread = _sa_pool_begin_wait ();

      while (self->result == NULL &&
             (self->guard == NULL || _sa_guard_get_state (self->guard) == SA_GUARD_ARMED))
        g_main_context_iteration (self->context, TRUE);
      _sa_pool_end_wait (pool_thread);
    }

  if (self->result != NULL && (self->guard == NULL || _sa_guard_disarm (self->guard)))
    {
      sa_bridge_close (self);
      return g_steal_pointer (&self->result);
    }

  /* The guard fired. A call that honours its cancellable may call back at
   * once; anything else is abandoned to report later, or never. */
  self->given_up = TRUE;
  if (!bridge_dispatch_ready (self))
    {
      self->abandoned = TRUE;
      if (self->keep_for_callback)
        sa_bridge_ref (self);
    }
  g_clear_object (&self->result);
  g_propagate_error (error, _sa_guard_error (self->guard, self->what));
  sa_bridge_close (self);

  return NULL;
}
