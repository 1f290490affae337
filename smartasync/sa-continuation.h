/* sa-continuation.h: apply a function to a result ready now or later
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(SA_INSIDE) && !defined(SA_COMPILATION)
# error "Only <smartasync.h> can be included directly."
#endif

#include <gio/gio.h>

#include "sa-version-macros.h"

G_BEGIN_DECLS

/**
 * SaContinuationFunc:
 * @previous: the completed [class@Gio.Task] to read the result of: the
 *   task given to [func@Sa.continue], or, for a call given up, one that
 *   stands for it with the guard's error
 * @next: the [class@Gio.Task] to complete with `g_task_return_*()`
 * @user_data: the data given to [func@Sa.continue]
 *
 * Reads the result of @previous with `g_task_propagate_*()` and completes
 * @next with what it makes of it. It may complete @next later, from a
 * callback on the thread-default context; hold a reference to it then.
 *
 * Since: 1.0
 */
typedef void (*SaContinuationFunc) (GTask    *previous,
                                    GTask    *next,
                                    gpointer  user_data);

SA_AVAILABLE_IN_ALL
GTask *sa_continue (GTask               *task,
                    SaContinuationFunc   func,
                    gpointer             func_data,
                    GDestroyNotify       func_data_destroy,
                    GAsyncReadyCallback  callback,
                    gpointer             user_data) G_GNUC_WARN_UNUSED_RESULT;

G_END_DECLS
