/* sa-drain-thread-private.h: the drain thread, for private contexts their threads gave up (not installed)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "sa-context-private.h"

G_BEGIN_DECLS

/* A drain is a private context given up by its thread while something may
 * still complete on it: a wait abandoned at a timeout or a cancellation
 * (its late completion is awaited), or a context let go at the thread's
 * exit or at sa_reset_contexts() with a timer or a watch pending. The
 * drain thread, one for the whole process, iterates every drain until
 * its completion has run (_sa_drain_completed()) and nothing is pending
 * on it, empties it of what is ready, then drops it. */

/* @context: (transfer full). @completed: whether no completion is awaited. */
SaDrain *_sa_drain_new       (GMainContext *context,
                              gboolean      completed);
/* Hands @drain (transfer full) to the drain thread, started if needed. */
void     _sa_drain_start     (SaDrain      *drain);
/* The late completion has run (or never will): drain only what is still
 * pending. Safe from any thread, including the drain thread; consumes a
 * reference to @drain. */
void     _sa_drain_completed (SaDrain      *drain);
/* The drain thread's own context, for a call that must complete without
 * any caller's context (an SaLock execution whose starter may leave): the
 * thread runs, iterating it, while it is held. Each hold ends with
 * _sa_drain_release_shared(), on the drain thread. */
void          _sa_drain_hold_shared    (void);
void          _sa_drain_release_shared (void);
/* That context, while held. */
GMainContext *_sa_drain_get_shared     (void);
/* Another reference, for whoever calls _sa_drain_completed(). */
SaDrain *_sa_drain_ref       (SaDrain      *drain);
/* Runs @func (@data) once on the drain thread, its return value ignored:
 * for what must not run on the calling thread, and has no caller's context
 * that will run it. */
void     _sa_drain_run       (GSourceFunc   func,
                              gpointer      data);

G_END_DECLS
