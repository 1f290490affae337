/* sa-bridge-private.h: a bridge the library keeps on its stack, and its internal entry points (not installed)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "sa-bridge.h"
#include "sa-context-private.h"
#include "sa-guard-private.h"

G_BEGIN_DECLS

/* Private so that the library can keep a bridge on the stack for a call
 * that cannot outlive it: one with no guard, whose wait ends only with the
 * result (_sa_bridge_needs_heap() is FALSE). */
struct _SaBridge
{
  gatomicrefcount  ref_count;
  GMainContext    *context;
  GSource         *schedule;         /* the context's schedule source */
  GCancellable    *cancellable;      /* handed to the call */
  SaGuard         *guard;            /* (nullable) the timeout, the caller's cancellation */
  SaDrain         *drain;            /* (nullable) draining an abandoned call */
  GAsyncResult    *result;
  char            *what;
  guint            open : 1;
  guint            given_up : 1;     /* the guard fired */
  guint            abandoned : 1;    /* given up before the call called back */
  guint            keep_for_callback : 1;
  guint            completed : 1;
  guint            heap : 1;         /* from g_new(), freed by the last unref */
};

static inline gboolean
_sa_bridge_needs_heap (GCancellable *cancellable,
                       guint         timeout_ms)
{
  return _sa_guard_needed (cancellable, TRUE, timeout_ms);
}

void      _sa_bridge_init     (SaBridge     *self,
                               GCancellable *cancellable,
                               guint         timeout_ms,
                               gboolean      keep_for_callback,
                               const char   *what);
/* Frees what an initialized stack bridge holds, after the wait. */
void      _sa_bridge_clear    (SaBridge     *self);
/* Completes @task (made with sa_bridge_callback() and @self, a stack
 * bridge of no guard, opened just before) with @error on the bridge's
 * private context, waits and clears the bridge: the task comes back
 * complete, and no context of the caller's holds its completion. */
GTask    *_sa_bridge_return_error (SaBridge *self,
                                   GTask    *task,
                                   GError   *error);
/* sa_bridge_wait() without its argument checks, for the library's calls. */
GAsyncResult *_sa_bridge_wait (SaBridge     *self,
                               GError      **error);

/* @keep_for_callback: whether an abandoned bridge keeps itself alive until
 * its callback runs (the public bridge does; the dispatcher instead ties
 * the bridge's life to the task that calls it back). @what names the call
 * in a timeout's message. */
SaBridge *_sa_bridge_new_full (GCancellable *cancellable,
                               guint         timeout_ms,
                               gboolean      keep_for_callback,
                               const char   *what);

/* Ties @bridge to @task: the task keeps it alive for as long as it may
 * call it back. Task data is left to the operation. */
void      _sa_bridge_attach   (SaBridge     *self,
                               GTask        *task);

G_END_DECLS
