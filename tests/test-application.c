/* test-application.c: calls tied to an application's and an object's lifetime
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <smartasync.h>

static void
test_object_cancellable (void)
{
  GObject *object = g_object_new (G_TYPE_OBJECT, NULL);
  GCancellable *cancellable = sa_object_get_cancellable (object);
  GCancellable *held;

  g_assert_true (G_IS_CANCELLABLE (cancellable));
  g_assert_true (sa_object_get_cancellable (object) == cancellable);
  g_assert_false (g_cancellable_is_cancelled (cancellable));

  /* A call holds its own reference; disposing the object cancels it. */
  held = g_object_ref (cancellable);
  g_object_add_weak_pointer (G_OBJECT (held), (gpointer *) &held);
  g_object_run_dispose (object);
  g_assert_true (g_cancellable_is_cancelled (held));

  g_object_unref (object);
  g_assert_nonnull (held);
  g_object_unref (held);
  g_assert_null (held);
}

static void
test_object_cancellable_freed (void)
{
  GObject *object = g_object_new (G_TYPE_OBJECT, NULL);
  GCancellable *cancellable = sa_object_get_cancellable (object);

  g_object_add_weak_pointer (G_OBJECT (cancellable), (gpointer *) &cancellable);
  g_object_unref (object);
  g_assert_null (cancellable);
}

static void
test_object_cancellable_bad_input (void)
{
  g_test_expect_message ("Sa", G_LOG_LEVEL_CRITICAL, "*G_IS_OBJECT*");
  g_assert_null (sa_object_get_cancellable (NULL));
  g_test_assert_expected_messages ();
}

/* A blocking operation that reads a file on a worker thread. */
static void
read_os_release (SaOperation  *operation,
                 GTask        *task,
                 GCancellable *cancellable,
                 gpointer      user_data)
{
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;

  if (g_file_get_contents ("/etc/os-release", &contents, NULL, &error))
    g_task_return_pointer (task, g_steal_pointer (&contents), g_free);
  else
    g_task_return_error (task, g_steal_pointer (&error));
}

typedef struct
{
  gboolean hold;
  gboolean quit;             /* g_application_quit() right after the call */
  gboolean tail;             /* the body runs on after returning its task */
  gint     callbacks;
  gboolean done_before_quit;
  gint     completed;        /* atomic: the task's completion was notified */
} HoldTest;


/* Returns its task, then runs on until the caller's context has seen the
 * task complete: the caller's callback then waits for the body's end. */
static void
read_then_tail (SaOperation  *operation,
                GTask        *task,
                GCancellable *cancellable,
                gpointer      user_data)
{
  HoldTest *test = user_data;

  g_task_return_pointer (task, g_strdup ("contents"), g_free);
  while (!g_atomic_int_get (&test->completed))
    g_usleep (1000);
}

static void
completed_cb (GObject    *task,
              GParamSpec *pspec,
              HoldTest   *test)
{
  g_atomic_int_set (&test->completed, TRUE);
}

static void
read_done (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  HoldTest *test = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = sa_dispatcher_call_finish_pointer (SA_DISPATCHER (source),
                                                                result, &error);

  g_assert_no_error (error);
  g_assert_nonnull (contents);
  test->callbacks++;
}

static void
activate (GApplication *application,
          HoldTest     *test)
{
  g_autoptr(SaOperation) op = test->tail ? sa_operation_new_blocking (read_then_tail, test, NULL)
                                         : sa_operation_new_blocking (read_os_release, NULL, NULL);
  g_autoptr(GTask) task = NULL;

  /* Inside the application's loop: an async caller, the task is pending. */
  task = sa_dispatcher_call (sa_dispatcher_get_default (), op, SA_CALL_MODE_AUTO,
                             NULL, read_done, test);
  g_assert_false (g_task_get_completed (task));
  g_signal_connect (task, "notify::completed", G_CALLBACK (completed_cb), test);
  if (test->hold)
    sa_application_hold_task (application, task);
  if (test->quit)
    g_application_quit (application);
}

static void
shutdown (GApplication *application,
          HoldTest     *test)
{
  test->done_before_quit = test->callbacks == 1;
}

static void
run_application (HoldTest *test)
{
  g_autoptr(GApplication) application =
    g_application_new (NULL, G_APPLICATION_NON_UNIQUE);

  g_signal_connect (application, "activate", G_CALLBACK (activate), test);
  g_signal_connect (application, "shutdown", G_CALLBACK (shutdown), test);
  g_assert_cmpint (g_application_run (application, 0, NULL), ==, 0);
}

static void
test_hold_task (void)
{
  HoldTest test = { .hold = TRUE };

  run_application (&test);
  /* The application did not quit under the call, and quit after it. */
  g_assert_true (test.done_before_quit);
  g_assert_cmpint (test.callbacks, ==, 1);
}

/* The task completes before the callback, which waits for the body's
 * end: the application still quits only after the callback. */
static void
test_hold_task_body_tail (void)
{
  HoldTest test = { .hold = TRUE, .tail = TRUE };

  run_application (&test);
  g_assert_true (test.done_before_quit);
  g_assert_cmpint (test.callbacks, ==, 1);
}

static void
test_no_hold_quits (void)
{
  HoldTest test = { .hold = FALSE };

  /* The control: without the hold, the application quits under the call. */
  run_application (&test);
  g_assert_false (test.done_before_quit);
  while (test.callbacks == 0)
    g_main_context_iteration (NULL, TRUE);
}

static void
test_quit_ignores_hold (void)
{
  HoldTest test = { .hold = TRUE, .quit = TRUE };

  /* g_application_quit() ends the run whatever the holds, as documented:
   * the call is still pending at shutdown, and answers only when the
   * context is iterated again. */
  run_application (&test);
  g_assert_false (test.done_before_quit);
  while (test.callbacks == 0)
    g_main_context_iteration (NULL, TRUE);
}

/* A chain started in main() before g_main_loop_run(): main() is a sync
 * caller, so the call completes, callback and all, before it returns, and
 * a g_main_loop_quit() in that callback comes before the loop runs. The
 * chain started from a callback of the loop is an async caller's. */
typedef struct
{
  GMainLoop *loop;
  gint       callbacks;
} Chain;

static void
chain_done (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Chain *chain = user_data;
  g_autofree char *contents = sa_dispatcher_call_finish_pointer (SA_DISPATCHER (source),
                                                                result, NULL);

  g_assert_nonnull (contents);
  chain->callbacks++;
  g_main_loop_quit (chain->loop);
}

static gboolean
chain_start (gpointer data)
{
  g_autoptr(SaOperation) op = sa_operation_new_blocking (read_os_release, NULL, NULL);

  g_object_unref (sa_dispatcher_call (sa_dispatcher_get_default (), op, SA_CALL_MODE_AUTO,
                                      NULL, chain_done, data));
  return G_SOURCE_REMOVE;
}

static void
test_chain_before_loop_runs (void)
{
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  Chain chain = { loop, 0 };

  /* Started in main(): done before the loop runs, the quit spent. */
  g_assert_false (sa_caller_is_async ());
  chain_start (&chain);
  g_assert_cmpint (chain.callbacks, ==, 1);
  g_assert_false (g_main_loop_is_running (loop));

  /* Started from the loop, as documented: the quit ends the run. */
  g_idle_add (chain_start, &chain);
  g_main_loop_run (loop);
  g_assert_cmpint (chain.callbacks, ==, 2);
}

static void
activate_nothing (GApplication *application,
                  gpointer      user_data)
{
}

static void
test_hold_completed_task (void)
{
  g_autoptr(GApplication) application =
    g_application_new (NULL, G_APPLICATION_NON_UNIQUE);
  g_autoptr(SaOperation) op = sa_operation_new_blocking (read_os_release, NULL, NULL);
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;

  /* A sync caller gets a completed task: nothing to hold for. */
  task = sa_dispatcher_call (sa_dispatcher_get_default (), op, SA_CALL_MODE_AUTO,
                             NULL, NULL, NULL);
  g_assert_true (g_task_get_completed (task));
  g_signal_connect (application, "activate", G_CALLBACK (activate_nothing), NULL);
  sa_application_hold_task (application, task);
  contents = sa_dispatcher_call_finish_pointer (sa_dispatcher_get_default (),
                                                G_ASYNC_RESULT (task), &error);
  g_assert_no_error (error);
  /* Not held: run() returns at once. */
  g_assert_cmpint (g_application_run (application, 0, NULL), ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/application/object-cancellable", test_object_cancellable);
  g_test_add_func ("/application/object-cancellable-freed", test_object_cancellable_freed);
  g_test_add_func ("/application/object-cancellable-bad-input", test_object_cancellable_bad_input);
  g_test_add_func ("/application/hold-task", test_hold_task);
  g_test_add_func ("/application/hold-task/body-tail", test_hold_task_body_tail);
  g_test_add_func ("/application/no-hold-quits", test_no_hold_quits);
  g_test_add_func ("/application/hold-completed-task", test_hold_completed_task);
  g_test_add_func ("/application/quit-ignores-hold", test_quit_ignores_hold);
  g_test_add_func ("/application/chain-before-loop-runs", test_chain_before_loop_runs);

  return g_test_run ();
}
