/* sa-context-private.h: per-thread private main contexts (not installed)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef void (*SaKickFunc) (gpointer data);

/* Takes the calling thread's private context for the current nesting
 * depth, pushes it as thread-default and returns a reference to it; @kick
 * is set to its kick source, valid while that reference is held. */
GMainContext *_sa_context_enter        (GSource     **kick);
/* The most iterations of its private context a sync wait spends, once its
 * call has completed, dispatching what the call left ready there. */
#define SA_CONTEXT_FLUSH_MAX 100

/* Withdraws a kick not yet run, dispatches what is ready on @context (at
 * most SA_CONTEXT_FLUSH_MAX iterations), pops it (pushed by
 * _sa_context_enter()) and drops the reference: every sync wait ends
 * here, so none leaves ready work behind. */
void          _sa_context_leave        (GMainContext *context,
                                        GSource      *kick);
/* _sa_context_leave() for a context its caller popped already. */
void          _sa_context_leave_popped (GMainContext *context,
                                        GSource      *kick);
/* _sa_context_leave() for a wait given up whose call has answered all the
 * same (it honoured its cancellable): if a timer or a watch is still
 * pending on @context once it is emptied of what is ready, what the call
 * left may complete late there, so @context goes to the drain thread as
 * _sa_context_retire() sends it, until nothing is pending any more. */
void          _sa_context_leave_given_up (GMainContext *context,
                                          GSource      *kick);
/* A context given up by its thread while a call may still complete on it
 * (a wait abandoned at a timeout or a cancellation): the drain thread,
 * one for every such context of the process, iterates it until
 * _sa_drain_finish() and then until no timer or watch is pending on it,
 * empties it of what is ready, then drops it. */
typedef struct _SaDrain SaDrain;

/* Like _sa_context_leave(), but the thread's slot gets a new context next
 * time and @context goes to a drain, which _sa_drain_start() hands to the
 * drain thread once the late completion can find it. Returns the drain,
 * for the late completion to finish. */
SaDrain      *_sa_context_retire       (GMainContext *context,
                                        GSource      *kick);
void          _sa_drain_start          (SaDrain      *drain);
/* The late completion has run (or never will): stop draining. Safe from
 * any thread, including the drain thread; consumes @drain. */
void          _sa_drain_finish         (SaDrain      *drain);

/* Runs @func (@data) from the kick source of its context, in the next
 * iteration of that context; only on the thread that entered it. */
void          _sa_context_kick         (GSource      *kick,
                                        SaKickFunc    func,
                                        gpointer      data);
/* Withdraws a kick that has not run yet. */
void          _sa_context_unkick       (GSource      *kick);

/* The mark of a thread running a blocking operation's body, in which a
 * caller is a sync caller whatever context it owns. */
extern _Thread_local gboolean _sa_in_blocking_body;

static inline gboolean
_sa_context_is_blocking (void)
{
  return _sa_in_blocking_body;
}

/* Sets the mark; returns the previous one, to hand back to
 * _sa_context_set_blocking() afterwards. */
static inline gboolean
_sa_context_set_blocking (gboolean blocking)
{
  gboolean previous = _sa_in_blocking_body;

  _sa_in_blocking_body = blocking;

  return previous;
}

G_END_DECLS
