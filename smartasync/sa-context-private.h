/* sa-context-private.h: per-thread private main contexts (not installed)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Takes the calling thread's private context for the current nesting
 * depth, pushes it as thread-default and returns a reference to it. */
GMainContext *_sa_context_enter        (void);
/* Pops @context (pushed by _sa_context_enter()) and drops the reference. */
void          _sa_context_leave        (GMainContext *context);

/* Marks the calling thread as running a blocking operation's body, in
 * which a caller is a sync caller whatever context it owns. Returns the
 * previous mark, to hand back to _sa_context_set_blocking(). */
gboolean      _sa_context_set_blocking (gboolean blocking);

G_END_DECLS
