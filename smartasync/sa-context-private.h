/* sa-context-private.h: per-thread private main contexts and their schedule source (not installed)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

#include "sa-thread-storage-private.h"

G_BEGIN_DECLS

typedef void (*SaScheduledFunc) (gpointer data);

/* Takes the calling thread's private context for the current nesting
 * depth, pushes it as thread-default and returns a reference to it;
 * @schedule is set to its schedule source, valid while that reference is
 * held. */
GMainContext *_sa_context_enter        (GSource     **schedule);
/* The most iterations of its private context a sync wait spends, once its
 * call has completed, dispatching what the call left ready there. */
#define SA_CONTEXT_FLUSH_MAX 100

/* Withdraws a function scheduled and not yet run, dispatches what is ready
 * on @context (at most SA_CONTEXT_FLUSH_MAX iterations), pops it (pushed
 * by _sa_context_enter()) and drops the reference: every sync wait ends
 * here or in the three below, so none leaves ready work behind. */
void          _sa_context_leave        (GMainContext *context,
                                        GSource      *schedule);
/* _sa_context_leave() for a context its caller popped already. */
void          _sa_context_leave_popped (GMainContext *context,
                                        GSource      *schedule);
/* _sa_context_leave() for a wait given up whose call has completed all the
 * same (it honoured its cancellable): if a timer or a watch is still
 * pending on @context once it is emptied of what is ready, what the call
 * left may complete late there, so @context goes to the drain thread as
 * _sa_context_leave_to_drain() sends it, until nothing is pending. */
void          _sa_context_leave_given_up (GMainContext *context,
                                          GSource      *schedule);

typedef struct _SaDrain SaDrain;

/* Like _sa_context_leave(), for a wait given up before its call
 * completed: the thread's slot gets a new context next time and @context
 * goes to a drain (sa-drain-thread.c), which _sa_drain_start() hands to
 * the drain thread once the late completion can find it. Returns the
 * drain, for the late completion to end. */
SaDrain      *_sa_context_leave_to_drain (GMainContext *context,
                                          GSource      *schedule);

/* Runs @func (@data) from the schedule source of its context, in the next
 * iteration of that context; only on the thread that entered it. */
void          _sa_context_schedule     (GSource         *schedule,
                                        SaScheduledFunc  func,
                                        gpointer         data);
/* Withdraws a function scheduled that has not run yet. */
void          _sa_context_unschedule   (GSource         *schedule);

/* What a context holds once emptied of what is ready. */
typedef enum
{
  SA_CONTEXT_QUIET,     /* no timer, no descriptor but its wakeup: nothing
                         * will become ready unless another thread makes it */
  SA_CONTEXT_PENDING,   /* a timer or a descriptor may still become ready */
  SA_CONTEXT_BUSY,      /* still ready after SA_CONTEXT_FLUSH_MAX iterations */
} SaContextState;

/* Dispatches what is ready on @context, for at most SA_CONTEXT_FLUSH_MAX
 * iterations, adding those that dispatched to *@n_dispatched. @owned:
 * whether this thread holds @context already. Returns what is left. */
SaContextState _sa_context_flush       (GMainContext *context,
                                        gboolean      owned,
                                        guint        *n_dispatched);

/* At the thread's exit (sa-thread-storage.c): lets its contexts go. */
void          _sa_thread_contexts_free (SaThreadContexts *contexts);

/* Whether the thread is inside a blocking body, in which a caller is a
 * sync caller whatever context it owns. */
static inline gboolean
_sa_context_is_blocking (void)
{
  return _sa_thread_storage_get ()->in_blocking_body;
}

/* Sets the mark; returns the previous one, to hand back to
 * _sa_context_set_blocking() afterwards. */
static inline gboolean
_sa_context_set_blocking (gboolean blocking)
{
  SaThreadStorage *storage = _sa_thread_storage_get ();
  gboolean previous = storage->in_blocking_body;

  storage->in_blocking_body = blocking;

  return previous;
}

G_END_DECLS
