/* sa-guard-private.h: the timeout and the caller's cancellation of one call (not installed)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* A guard watches one call for the two ways it can end before its result:
 * its timeout passing, or its caller's cancellable being cancelled. The
 * first of those and the result wins, exactly once (a compare-and-swap on
 * @state); a guard that fires cancels the operation's cancellable, then
 * calls @fired. The dispatcher's four cells and SaBridge all use it. */
typedef enum
{
  SA_GUARD_ARMED,
  SA_GUARD_TIMED_OUT,
  SA_GUARD_CANCELLED,
  SA_GUARD_DISARMED,     /* the result came first */
} SaGuardState;

typedef struct _SaGuard SaGuard;
typedef void (*SaGuardFunc) (SaGuard  *guard,
                             gpointer  data);

struct _SaGuard
{
  gatomicrefcount ref_count;          /* the owner's, the timeout source's and
                                       * the caller cancellable handler's */
  GCancellable *cancellable;          /* the operation's: the caller's own, or
                                       * one of the guard's, cancelled by the
                                       * caller's and by the timeout */
  GCancellable *caller_cancellable;
  gulong        cancelled_id;
  GSource      *timeout_source;
  SaGuardFunc   fired;                /* called once, where the guard fired: on
                                       * the timeout's context, or in the
                                       * cancelling thread */
  gpointer      fired_data;
  GDestroyNotify fired_data_destroy;
  guint         timeout_ms;
  gint64        deadline;             /* monotonic, with a timeout: when it fires */
  gint          state;                /* atomic SaGuardState */
};

/* Runs @func (@data) once on the library's timer thread after @delay_ms:
 * it must not block. */
void          _sa_timer_run_later (guint        delay_ms,
                                   GSourceFunc  func,
                                   gpointer     data);

/* @timeout_context: where the timeout fires; NULL for the library's timer
 * thread, for a caller that is busy running the body itself.
 * @watch_caller: whether the caller's cancellation ends the call at once
 * (else it only reaches the operation through its cancellable). */
SaGuard      *_sa_guard_new       (GCancellable  *caller_cancellable,
                                   gboolean       watch_caller,
                                   guint          timeout_ms,
                                   GMainContext  *timeout_context,
                                   SaGuardFunc    fired,
                                   gpointer       fired_data,
                                   GDestroyNotify fired_data_destroy);
/* Whether a call needs a guard at all. */
static inline gboolean
_sa_guard_needed (GCancellable *caller_cancellable,
                  gboolean      watch_caller,
                  guint         timeout_ms)
{
  return timeout_ms != 0 || (watch_caller && caller_cancellable != NULL);
}
/* On the thread that iterates the timeout's context: fires a timeout that
 * is due but was not dispatched yet, because that thread was busy (in an
 * operation's start that blocked past it). */
void          _sa_guard_fire_if_due (SaGuard    *guard);
/* Settles the call for its result: TRUE when the guard had not fired. */
gboolean      _sa_guard_disarm    (SaGuard      *guard);
SaGuardState  _sa_guard_get_state (SaGuard      *guard);
/* The error of a guard that fired, naming @what (an operation) if given. */
GError       *_sa_guard_error     (SaGuard      *guard,
                                   const char   *what);
/* Disconnects (nothing fires after it) and drops the owner's reference;
 * never from the caller cancellable's handler. */
void          _sa_guard_close     (SaGuard      *guard);

G_END_DECLS
