/* sa-dispatcher-private.h: dispatcher internals shared by the library (not installed)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "sa-dispatcher.h"
#include "sa-pool-private.h"

G_BEGIN_DECLS

/* Whether a call in @mode through @self is an async caller's: the
 * detection of sa_dispatcher_choose_cell() without its argument checks,
 * for callers that have made them already. */
gboolean _sa_dispatcher_caller_is_async (SaDispatcher *self,
                                         SaCallMode    mode);

/* The pool that offloaded bodies of @self's calls go to, made on first
 * use; NULL for GTask's (sa_dispatcher_get_gtask_pool() with no
 * max-threads). */
SaPool  *_sa_dispatcher_get_pool        (SaDispatcher *self);

G_END_DECLS
