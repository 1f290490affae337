/* test-continuation.c: a function applied to a result ready now or later
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "test-util.h"

static gint destroyed;

static void
count_destroy (gpointer data)
{
  g_atomic_int_inc (&destroyed);
}

/* Turns the file's contents into their length. */
static void
length_of (GTask    *previous,
           GTask    *next,
           gpointer  user_data)
{
  GValue value = G_VALUE_INIT;
  GError *error = NULL;

  g_assert_true (g_task_get_completed (previous));
  if (!g_task_propagate_value (previous, &value, &error))
    {
      g_task_return_error (next, error);
      return;
    }
  g_task_return_int (next, (gssize) strlen (g_value_get_string (&value)));
  g_value_unset (&value);
}

static void
count_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_atomic_int_inc ((gint *) user_data);
}

static void
test_ready_now (void)
{
  TestFile *tf = test_file_new ("twelve chars");
  g_autoptr(SaOperation) op = test_op_load_file (tf->file, FALSE, NULL);
  g_autoptr(GTask) task = NULL;
  g_autoptr(GTask) next = NULL;
  g_autoptr(GError) error = NULL;
  gint callbacks = 0;

  destroyed = 0;
  task = sa_dispatcher_call (sa_dispatcher_get_default (), op, SA_CALL_MODE_AUTO, NULL, NULL, NULL);
  g_assert_true (g_task_get_completed (task));

  next = sa_continue (task, length_of, NULL, count_destroy, count_cb, &callbacks);
  /* A sync caller's result: applied at once, complete on return. */
  g_assert_true (g_task_get_completed (next));
  g_assert_cmpint (callbacks, ==, 1);
  g_assert_cmpint (destroyed, ==, 1);
  g_assert_cmpint (test_finish_int (next, &error), ==, 12);
  g_assert_no_error (error);
  g_assert_true (g_task_is_valid (next, sa_dispatcher_get_default ()));
  test_file_free (tf);
}

typedef struct
{
  TestFile *tf;
  gint      callbacks;
  GTask    *next;
} Later;

static void
later_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  Later *later = user_data;

  g_atomic_int_inc (&later->callbacks);
  g_set_object (&later->next, G_TASK (result));
}

static gboolean
later_in_loop (gpointer data)
{
  Later *later = data;
  g_autoptr(SaOperation) op = test_op_load_file (later->tf->file, TRUE, NULL);
  g_autoptr(GTask) task = NULL;
  g_autoptr(GTask) next = NULL;

  task = sa_dispatcher_call (sa_dispatcher_get_default (), op, SA_CALL_MODE_AUTO, NULL, NULL, NULL);
  g_assert_false (g_task_get_completed (task));

  next = sa_continue (task, length_of, NULL, count_destroy, later_cb, later);
  g_assert_false (g_task_get_completed (next));
  g_assert_cmpint (later->callbacks, ==, 0);
  test_iterate_until (NULL, &later->callbacks);
  g_assert_true (next == later->next);

  return G_SOURCE_REMOVE;
}

static void
test_ready_later (void)
{
  Later later = { test_file_new ("a result from a worker") };
  g_autoptr(GError) error = NULL;

  destroyed = 0;
  g_idle_add (later_in_loop, &later);
  while (later.next == NULL)
    g_main_context_iteration (NULL, TRUE);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpint (later.callbacks, ==, 1);
  g_assert_cmpint (destroyed, ==, 1);
  g_assert_cmpint (test_finish_int (later.next, &error), ==, 22);
  g_assert_no_error (error);
  g_object_unref (later.next);
  test_file_free (later.tf);
}

static void
test_error_passes (void)
{
  g_autoptr(SaOperation) op = test_op_fail (TRUE, NULL);
  g_autoptr(GTask) task = NULL;
  g_autoptr(GTask) next = NULL;
  g_autoptr(GError) error = NULL;

  task = sa_dispatcher_call (sa_dispatcher_get_default (), op, SA_CALL_MODE_AUTO, NULL, NULL, NULL);
  next = sa_continue (task, length_of, NULL, NULL, NULL, NULL);
  g_assert_cmpint (test_finish_int (next, &error), ==, -1);
  g_assert_error (error, TEST_ERROR, 42);
}

/* Passes on the error of the task it continues. */
static void
error_of (GTask    *previous,
          GTask    *next,
          gpointer  user_data)
{
  GError *error = NULL;

  g_assert_false (g_task_propagate_boolean (previous, &error));
  g_task_return_error (next, error);
}

/* A non-blocking operation that holds its task until held_release(). */
static GTask *held;

static void
hold_start (SaOperation  *op,
            GTask        *task,
            GCancellable *cancellable,
            gpointer      user_data)
{
  held = g_object_ref (task);
}

static void
held_release (void)
{
  g_task_return_boolean (held, TRUE);
  g_clear_object (&held);
}

/* A call given up at its timeout is continued then, with the timeout's
 * error, though the operation's task completes only later (@data: the
 * operation is blocking, on a worker; else non-blocking, on this context). */
static void
test_timed_out (gconstpointer data)
{
  gboolean blocking = GPOINTER_TO_INT (data);
  g_autoptr(SaDispatcher) d = sa_dispatcher_new ();
  g_autoptr(SaOperation) op = NULL;
  g_autoptr(GTask) task = NULL;
  g_autoptr(GTask) next = NULL;
  g_autoptr(GError) error = NULL;
  TestGate gate;
  gint callbacks = 0, next_callbacks = 0;

  test_gate_init (&gate, 1);
  if (blocking)
    op = test_op_gated (&gate);
  else
    op = sa_operation_new_non_blocking (hold_start, NULL, NULL);
  sa_dispatcher_set_timeout (d, 50);
  g_assert_true (g_main_context_acquire (NULL));
  task = sa_dispatcher_call (d, op, SA_CALL_MODE_ASYNC, NULL, count_cb, &callbacks);
  next = sa_continue (task, error_of, NULL, NULL, count_cb, &next_callbacks);
  /* The timeout fires on this context, which is not iterated until the
   * body runs: a body still queued then would not run at all. */
  while (blocking && !g_atomic_int_get (&gate.waiting))
    g_usleep (1000);
  test_iterate_until (NULL, &next_callbacks);
  g_assert_cmpint (callbacks, ==, 1);
  g_assert_false (g_task_get_completed (task));
  g_assert_false (g_task_propagate_boolean (next, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);

  /* The late completion runs nothing again. */
  if (blocking)
    test_gate_open (&gate);
  else
    held_release ();
  while (!g_task_get_completed (task))
    g_main_context_iteration (NULL, TRUE);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpint (callbacks, ==, 1);
  g_assert_cmpint (next_callbacks, ==, 1);
  g_main_context_release (NULL);
  g_clear_object (&op);
  test_gate_clear (&gate);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/continuation/ready-now", test_ready_now);
  g_test_add_func ("/continuation/ready-later", test_ready_later);
  g_test_add_func ("/continuation/error", test_error_passes);
  g_test_add_data_func ("/continuation/timed-out/blocking", GINT_TO_POINTER (TRUE), test_timed_out);
  g_test_add_data_func ("/continuation/timed-out/non-blocking", GINT_TO_POINTER (FALSE),
                        test_timed_out);

  return g_test_run ();
}
