/* sa-bridge-private.h (not installed)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "sa-bridge.h"

G_BEGIN_DECLS

/* @keep_for_callback: whether an abandoned bridge keeps itself alive until
 * its callback runs (the public bridge does; the dispatcher instead ties
 * the bridge's life to the task that calls it back). @what names the call
 * in a timeout's message. */
SaBridge *_sa_bridge_new_full (GCancellable *cancellable,
                               guint         timeout_ms,
                               gboolean      keep_for_callback,
                               const char   *what);
/* Dispatches what is ready on the bridge's context without blocking;
 * returns whether the result has arrived. */
gboolean  _sa_bridge_drain    (SaBridge     *self);

/* Ties @bridge to @task: the task keeps it alive for as long as it may
 * call it back. Task data is left to the operation. */
void      _sa_bridge_attach   (SaBridge     *self,
                               GTask        *task);

G_END_DECLS
