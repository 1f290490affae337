/* quickstart.c: the C quick start of README.md, built and run by the tests.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <smartasync.h>

/* An operation, written once: read a file with GIO's asynchronous API. */
static void
loaded (GObject *file, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  char *contents;

  if (g_file_load_contents_finish (G_FILE (file), result, &contents, NULL, NULL, &error))
    g_task_return_pointer (task, contents, g_free);
  else
    g_task_return_error (task, g_steal_pointer (&error));
}

static void
load_start (SaOperation *op, GTask *task, GCancellable *cancellable, gpointer file)
{
  g_file_load_contents_async (file, cancellable, loaded, g_object_ref (task));
}

int
main (void)
{
  g_autoptr(GFile) file = g_file_new_for_path ("/etc/os-release");
  g_autoptr(SaOperation) load =
    sa_operation_new_non_blocking (load_start, g_object_ref (file), g_object_unref);
  g_autoptr(GError) error = NULL;

  /* main() runs no loop, so this is a sync caller: the task comes back
   * complete, after running on this thread's private main context. Inside
   * a GMainLoop the same call would return a pending task instead. */
  g_autoptr(GTask) task = sa_dispatcher_call (sa_dispatcher_get_default (), load,
                                              SA_CALL_MODE_AUTO, NULL, NULL, NULL);
  g_autofree char *text = sa_dispatcher_call_finish_pointer (sa_dispatcher_get_default (),
                                                             G_ASYNC_RESULT (task), &error);

  if (text == NULL)
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }
  g_print ("%.*s\n", (int) strcspn (text, "\n"), text);

  /* Any GIO _async/_finish pair, run synchronously in three lines. */
  g_autoptr(SaBridge) bridge = sa_bridge_new (NULL, 0);
  g_file_query_info_async (file, G_FILE_ATTRIBUTE_STANDARD_SIZE, G_FILE_QUERY_INFO_NONE,
                           G_PRIORITY_DEFAULT, NULL, sa_bridge_callback, bridge);
  g_autoptr(GAsyncResult) result = sa_bridge_wait (bridge, &error);
  g_autoptr(GFileInfo) info = g_file_query_info_finish (file, result, &error);

  if (info == NULL)
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }
  g_print ("%" G_GOFFSET_FORMAT " bytes\n", g_file_info_get_size (info));

  return 0;
}
