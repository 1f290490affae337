/* test-bridge.c: any GIO _async/_finish pair, run synchronously
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "test-util.h"

static gboolean
flag_idle (gpointer data)
{
  g_atomic_int_set ((gint *) data, TRUE);
  return G_SOURCE_REMOVE;
}

static void
test_file_load (void)
{
  TestFile *tf = test_file_new ("three lines");
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  gint default_ran = FALSE;

  g_idle_add (flag_idle, &default_ran);

  {
    g_autoptr(SaBridge) bridge = sa_bridge_new (NULL, 0);
    g_file_load_contents_async (tf->file, sa_bridge_get_cancellable (bridge), sa_bridge_callback, bridge);
    g_autoptr(GAsyncResult) result = sa_bridge_wait (bridge, &error);

    g_assert_no_error (error);
    g_assert_true (g_file_load_contents_finish (tf->file, result, &contents, NULL, NULL, &error));
    g_assert_no_error (error);
  }

  g_assert_cmpstr (contents, ==, "three lines");
  /* The default context was not iterated. */
  g_assert_false (default_ran);
  g_assert_true (g_source_remove_by_user_data (&default_ran));
  test_file_free (tf);
}

static void
test_socket_and_subprocess (void)
{
  TestServer *server = test_server_new ();
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) conn = NULL;
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;

  {
    g_autoptr(SaBridge) bridge = sa_bridge_new (NULL, 0);
    g_socket_client_connect_to_host_async (client, "127.0.0.1", test_server_get_port (server),
                                           NULL, sa_bridge_callback, bridge);
    g_autoptr(GAsyncResult) result = sa_bridge_wait (bridge, &error);
    conn = g_socket_client_connect_to_host_finish (client, result, &error);
    g_assert_no_error (error);
    g_assert_nonnull (conn);
  }

  proc = g_subprocess_new (G_SUBPROCESS_FLAGS_NONE, &error, "false", NULL);
  {
    g_autoptr(SaBridge) bridge = sa_bridge_new (NULL, 0);
    g_subprocess_wait_check_async (proc, NULL, sa_bridge_callback, bridge);
    g_autoptr(GAsyncResult) result = sa_bridge_wait (bridge, &error);
    g_assert_false (g_subprocess_wait_check_finish (proc, result, &error));
    g_assert_error (error, G_SPAWN_EXIT_ERROR, 1);
  }

  test_server_free (server);
}

static void
test_cancel (void)
{
  g_autoptr(GSubprocess) proc = g_subprocess_new (G_SUBPROCESS_FLAGS_NONE, NULL, "sleep", "30", NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(SaBridge) bridge = sa_bridge_new (cancellable, 0);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GThread *canceller;

  g_assert_true (sa_bridge_get_cancellable (bridge) == cancellable);
  g_subprocess_wait_async (proc, sa_bridge_get_cancellable (bridge), sa_bridge_callback, bridge);
  canceller = test_cancel_later (cancellable, 100);
  /* The wait ends at the cancellation, with the caller's error. */
  result = sa_bridge_wait (bridge, &error);
  g_thread_join (canceller);
  g_assert_null (result);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_subprocess_force_exit (proc);
  g_subprocess_wait (proc, NULL, NULL);
}

static void
test_timeout (void)
{
  g_autoptr(GSubprocess) proc = g_subprocess_new (G_SUBPROCESS_FLAGS_NONE, NULL, "sleep", "30", NULL);
  g_autoptr(SaBridge) bridge = sa_bridge_new (NULL, 100);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (sa_bridge_get_cancellable (bridge));
  g_subprocess_wait_async (proc, sa_bridge_get_cancellable (bridge), sa_bridge_callback, bridge);
  result = sa_bridge_wait (bridge, &error);
  g_assert_null (result);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_true (g_cancellable_is_cancelled (sa_bridge_get_cancellable (bridge)));
  g_subprocess_force_exit (proc);
  g_subprocess_wait (proc, NULL, NULL);
}

/* A call whose callback can only come from the global default context,
 * which nobody iterates: the timeout ends the wait. */
typedef struct
{
  GAsyncReadyCallback callback;
  gpointer            user_data;
  GTask              *task;
} Stuck;

static gboolean
stuck_complete (gpointer data)
{
  Stuck *stuck = data;

  g_task_return_boolean (stuck->task, TRUE);
  g_object_unref (stuck->task);
  g_free (stuck);
  return G_SOURCE_REMOVE;
}

static void
test_timeout_never (void)
{
  g_autoptr(SaBridge) bridge = sa_bridge_new (NULL, 100);
  g_autoptr(GError) error = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  Stuck *stuck = g_new0 (Stuck, 1);

  /* The task belongs to the private context (pushed by the bridge); the
   * work that completes it waits on the default context. */
  stuck->task = g_task_new (NULL, NULL, sa_bridge_callback, bridge);
  g_idle_add (stuck_complete, stuck);

  result = sa_bridge_wait (bridge, &error);
  g_assert_null (result);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_cmpstr (error->message, ==, "Asynchronous call did not complete within 100 ms");

  /* Later the work does complete; its result reaches the abandoned bridge
   * through the private context, and is dropped there. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  {
    g_autoptr(SaBridge) again = sa_bridge_new (NULL, 0);
    g_autoptr(GTask) task = g_task_new (NULL, NULL, sa_bridge_callback, again);
    g_autoptr(GAsyncResult) r = NULL;

    g_task_return_boolean (task, TRUE);
    r = sa_bridge_wait (again, NULL);
    g_assert_true (r == G_ASYNC_RESULT (task));
  }
}

/* A bridge opened inside the callbacks of another one gets a context of
 * its own. */
typedef struct
{
  TestFile *tf;
  GTask    *outer;
} Nest;

static void
inner_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  Nest *nest = user_data;
  TestFile *tf = nest->tf;
  GMainContext *outer = g_main_context_get_thread_default ();
  g_autoptr(SaBridge) bridge = sa_bridge_new (NULL, 0);
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;

  g_file_load_contents_async (tf->file, NULL, sa_bridge_callback, bridge);
  {
    g_autoptr(GAsyncResult) r = sa_bridge_wait (bridge, &error);
    g_assert_true (g_file_load_contents_finish (tf->file, r, &contents, NULL, NULL, &error));
  }
  g_assert_cmpstr (contents, ==, tf->contents);
  /* The inner bridge used another context, and gave this one back. */
  g_assert_nonnull (outer);
  g_assert_true (g_main_context_get_thread_default () == outer);
  g_task_return_boolean (nest->outer, TRUE);
}

static void
test_nested (void)
{
  TestFile *tf = test_file_new ("inner bridge");
  g_autoptr(SaBridge) bridge = sa_bridge_new (NULL, 0);
  g_autoptr(GTask) outer = g_task_new (NULL, NULL, sa_bridge_callback, bridge);
  Nest nest = { tf, outer };
  g_autoptr(GTask) trigger = g_task_new (NULL, NULL, inner_cb, &nest);
  g_autoptr(GAsyncResult) result = NULL;

  /* @trigger's callback (on the bridge's context) opens the inner bridge,
   * then completes @outer. */
  g_task_return_boolean (trigger, TRUE);
  result = sa_bridge_wait (bridge, NULL);
  g_assert_true (result == G_ASYNC_RESULT (outer));
  test_file_free (tf);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/bridge/file-load", test_file_load);
  g_test_add_func ("/bridge/socket-and-spawn", test_socket_and_subprocess);
  g_test_add_func ("/bridge/cancel", test_cancel);
  g_test_add_func ("/bridge/timeout", test_timeout);
  g_test_add_func ("/bridge/timeout-never-completes", test_timeout_never);
  g_test_add_func ("/bridge/nested", test_nested);

  return g_test_run ();
}
