/* app.c: a downstream program, built with smartasync as a subproject
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <smartasync.h>

#if !SA_CHECK_VERSION (1, 0, 0)
# error "smartasync 1.0.0 or later"
#endif

static void
answer (SaOperation  *operation G_GNUC_UNUSED,
        GTask        *task,
        GCancellable *cancellable G_GNUC_UNUSED,
        gpointer      user_data)
{
  g_task_return_int (task, GPOINTER_TO_INT (user_data));
}

int
main (void)
{
  g_autoptr(SaOperation) op = sa_operation_new_non_blocking (answer, GINT_TO_POINTER (42), NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GTask) task = sa_dispatcher_call (sa_dispatcher_get_default (), op,
                                              SA_CALL_MODE_AUTO, NULL, NULL, NULL);
  gssize value = g_task_propagate_int (task, &error);

  if (value != 42)
    {
      g_printerr ("expected 42, got %" G_GSSIZE_FORMAT ": %s\n", value,
                  error != NULL ? error->message : "no error");
      return 1;
    }
  g_print ("smartasync %s: %" G_GSSIZE_FORMAT "\n", SA_VERSION_S, value);
  return 0;
}
