/* sa-context.h: the per-thread private main contexts
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(SA_INSIDE) && !defined(SA_COMPILATION)
# error "Only <smartasync.h> can be included directly."
#endif

#include <glib.h>

#include "sa-version-macros.h"

G_BEGIN_DECLS

SA_AVAILABLE_IN_ALL
gboolean sa_caller_is_async    (void);
SA_AVAILABLE_IN_ALL
void     sa_reset_contexts     (void);
SA_AVAILABLE_IN_ALL
guint    sa_get_n_contexts     (void);

G_END_DECLS
