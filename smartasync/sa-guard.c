/* sa-guard.c: the timeout and the caller's cancellation of one call
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "sa-guard-private.h"

/* The timer thread: a context of the library's own, iterated for the life
 * of the process, for timeouts of calls whose caller is busy running the
 * body itself (a sync caller's blocking operation). */
static gpointer
timer_thread (gpointer data)
{
  GMainContext *context = data;

  g_main_context_push_thread_default (context);
  for (;;)
    g_main_context_iteration (context, TRUE);

  return NULL;
}

static GMainContext *
timer_context (void)
{
  static GMainContext *context;

  if (g_once_init_enter (&context))
    {
      GMainContext *new_context = g_main_context_new ();

      g_thread_unref (g_thread_new ("sa-timer", timer_thread, new_context));
      g_once_init_leave (&context, new_context);
    }

  return context;
}

void
_sa_timer_run_later (guint       delay_ms,
                     GSourceFunc func,
                     gpointer    data)
{
  GSource *source = g_timeout_source_new (delay_ms);

  g_source_set_static_name (source, "[smartasync] later");
  g_source_set_callback (source, func, data, NULL);
  g_source_attach (source, timer_context ());
  g_source_unref (source);
}

static SaGuard *
guard_ref (SaGuard *guard)
{
  g_atomic_ref_count_inc (&guard->ref_count);

  return guard;
}

static void
guard_unref (gpointer data)
{
  SaGuard *guard = data;

  if (!g_atomic_ref_count_dec (&guard->ref_count))
    return;

  g_assert (guard->timeout_source == NULL && guard->cancelled_id == 0);
  if (guard->fired_data_destroy != NULL)
    guard->fired_data_destroy (guard->fired_data);
  g_clear_object (&guard->cancellable);
  g_clear_object (&guard->caller_cancellable);
  g_free (guard);
}

static void
guard_fire (SaGuard      *guard,
            SaGuardState  why)
{
  if (!g_atomic_int_compare_and_exchange (&guard->state, SA_GUARD_ARMED, why))
    return;

  if (guard->cancellable != guard->caller_cancellable)
    g_cancellable_cancel (guard->cancellable);
  if (guard->fired != NULL)
    guard->fired (guard, guard->fired_data);
}

static gboolean
timeout_cb (gpointer data)
{
  guard_fire (data, SA_GUARD_TIMED_OUT);

  return G_SOURCE_REMOVE;
}

static void
caller_cancelled_cb (GCancellable *cancellable,
                     gpointer      data)
{
  guard_fire (data, SA_GUARD_CANCELLED);
}

SaGuard *
_sa_guard_new (GCancellable   *caller_cancellable,
               gboolean        watch_caller,
               guint           timeout_ms,
               GMainContext   *timeout_context,
               SaGuardFunc     fired,
               gpointer        fired_data,
               GDestroyNotify  fired_data_destroy)
{
  SaGuard *guard = g_new (SaGuard, 1);

  *guard = (SaGuard) {
    .fired = fired,
    .fired_data = fired_data,
    .fired_data_destroy = fired_data_destroy,
    .timeout_ms = timeout_ms,
    .state = SA_GUARD_ARMED,
  };
  g_atomic_ref_count_init (&guard->ref_count);

  if (caller_cancellable != NULL)
    guard->caller_cancellable = g_object_ref (caller_cancellable);

  /* The caller's cancellable reaches the operation directly unless the
   * timeout must be able to cancel it too. */
  if (timeout_ms != 0)
    guard->cancellable = g_cancellable_new ();
  else if (caller_cancellable != NULL)
    guard->cancellable = g_object_ref (caller_cancellable);

  if (timeout_ms != 0)
    {
      guard->deadline = g_get_monotonic_time () + (gint64) timeout_ms * G_TIME_SPAN_MILLISECOND;
      guard->timeout_source = g_timeout_source_new (timeout_ms);
      g_source_set_name (guard->timeout_source, "[smartasync] call timeout");
      g_source_set_callback (guard->timeout_source, timeout_cb, guard_ref (guard), guard_unref);
      g_source_attach (guard->timeout_source,
                       timeout_context != NULL ? timeout_context : timer_context ());
    }

  /* Connected last: it runs at once when the caller has cancelled already. */
  if (caller_cancellable != NULL && (watch_caller || timeout_ms != 0))
    guard->cancelled_id = g_cancellable_connect (caller_cancellable,
                                                 G_CALLBACK (caller_cancelled_cb),
                                                 guard_ref (guard), guard_unref);

  return guard;
}

void
_sa_guard_fire_if_due (SaGuard *guard)
{
  if (guard->timeout_ms != 0 && g_atomic_int_get (&guard->state) == SA_GUARD_ARMED &&
      g_get_monotonic_time () >= guard->deadline)
    guard_fire (guard, SA_GUARD_TIMED_OUT);
}

gboolean
_sa_guard_disarm (SaGuard *guard)
{
  return g_atomic_int_compare_and_exchange (&guard->state, SA_GUARD_ARMED, SA_GUARD_DISARMED);
}

SaGuardState
_sa_guard_get_state (SaGuard *guard)
{
  return g_atomic_int_get (&guard->state);
}

GError *
_sa_guard_error (SaGuard    *guard,
                 const char *what)
{
  if (_sa_guard_get_state (guard) == SA_GUARD_CANCELLED)
    return g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled");

  g_assert (_sa_guard_get_state (guard) == SA_GUARD_TIMED_OUT);
  if (what != NULL)
    return g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                        "Operation “%s” did not complete within %u ms",
                        what, guard->timeout_ms);
  else
    return g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                        "Asynchronous call did not complete within %u ms",
                        guard->timeout_ms);
}

void
_sa_guard_close (SaGuard *guard)
{
  /* After these two, nothing can fire any more. */
  if (guard->timeout_source != NULL)
    {
      g_source_destroy (guard->timeout_source);
      g_clear_pointer (&guard->timeout_source, g_source_unref);
    }
  if (guard->cancelled_id != 0)
    {
      g_cancellable_disconnect (guard->caller_cancellable, guard->cancelled_id);
      guard->cancelled_id = 0;
    }

  guard_unref (guard);
}
