/* sa-task-private.h: GTask helpers shared by the library (not installed)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#include "sa-error.h"

G_BEGIN_DECLS

/* G_DEFINE_QUARK's lazy static is written by whichever thread comes first,
 * with no ordering (ThreadSanitizer reports it); this one is published
 * with g_once_init_leave(). */
#define SA_DEFINE_QUARK(QN, q_n)                                        \
GQuark                                                                  \
q_n##_quark (void)                                                      \
{                                                                       \
  static gsize q;                                                       \
                                                                        \
  if (g_once_init_enter (&q))                                           \
    g_once_init_leave (&q, g_quark_from_static_string (#QN));           \
                                                                        \
  return (GQuark) q;                                                    \
}

/* The source tag only, without the name GLib's g_task_set_source_tag()
 * macro also gives the task (docs/performance.md). */
#define _sa_task_set_tag(task, tag) ((g_task_set_source_tag) ((task), (gpointer) (tag)))

/* g_task_propagate_value(), with an error where GLib's critical for a
 * result of another g_task_return_*() leaves none. */
static inline gboolean
_sa_task_propagate_value (GTask   *task,
                          GValue  *value,
                          GError **error)
{
  GError *local_error = NULL;

  if (g_task_propagate_value (task, value, &local_error))
    return TRUE;

  if (local_error == NULL)
    local_error = g_error_new_literal (SA_ERROR, SA_ERROR_FAILED,
                                       "The operation's result is not a GValue: read it in the "
                                       "form of the g_task_return_*() the operation uses");
  g_propagate_error (error, local_error);
  return FALSE;
}

/* The same into a new GValue, for the _finish functions that hand a value
 * to bindings. */
static inline GValue *
_sa_task_propagate_new_value (GTask   *task,
                              GError **error)
{
  GValue *value = g_new0 (GValue, 1);

  if (!_sa_task_propagate_value (task, value, error))
    {
      g_free (value);
      return NULL;
    }

  return value;
}

G_END_DECLS
