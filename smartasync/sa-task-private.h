/* sa-task-private.h: GTask helpers shared by the library (not installed)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* g_task_propagate_value() into a new GValue, for the _finish functions
 * that hand a value to bindings. */
static inline GValue *
_sa_task_propagate_new_value (GTask   *task,
                              GError **error)
{
  GValue *value = g_new0 (GValue, 1);

  if (!g_task_propagate_value (task, value, error))
    {
      g_free (value);
      return NULL;
    }

  return value;
}

G_END_DECLS
