/* test-collector.c: async calls of blocking bodies, answered once each
 *
 * A body run on the pool completes its caller's task itself; a body that
 * does not is answered with SA_ERROR_NO_RESULT. These tests mix both in
 * one context, with callbacks that iterate the context again and with
 * contexts of threads that go away, and check that each caller is
 * answered exactly once, in the right way, and that every task and
 * operation is freed.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <smartasync.h>

#include "test-util.h"

#define N_CALLS 300

typedef struct
{
  guint    index;
  gint     answers;
  gboolean no_result;
  gint     value;
  guint    nested;              /* iterations the callback runs inside itself */
  gint     n_freed;             /* atomic: of its task and operation,
                                 * finalized on whichever thread */
} Call;

/* Completes with its call's index, except every third call, which returns
 * without completing its task. */
static void
mixed_run (SaOperation  *operation,
           GTask        *task,
           GCancellable *cancellable,
           gpointer      user_data)
{
  Call *call = user_data;

  if (call->index % 3 != 2)
    g_task_return_int (task, call->index);
}

static void
call_done (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Call *call = user_data;
  g_autoptr(GError) error = NULL;
  gssize value;

  g_assert_true (g_main_context_is_owner (g_main_context_get_thread_default ()
                                          ? g_main_context_get_thread_default ()
                                          : g_main_context_default ()));
  value = sa_dispatcher_call_finish_int (SA_DISPATCHER (source), result, &error);
  call->answers++;
  if (error != NULL)
    {
      g_assert_error (error, SA_ERROR, SA_ERROR_NO_RESULT);
      call->no_result = TRUE;
    }
  else
    call->value = (gint) value;

  /* A callback that runs the loop again while it is being called back:
   * other calls are answered meanwhile, this one never a second time. */
  for (guint i = 0; i < call->nested; i++)
    {
      g_main_context_iteration (g_main_context_get_thread_default (), FALSE);
      g_usleep (100);
    }
}

static void
count_freed (gpointer  data,
             GObject  *where_the_object_was)
{
  g_atomic_int_inc (&((Call *) data)->n_freed);
}

static void
start_calls (SaDispatcher *dispatcher,
             Call         *calls,
             guint         n,
             guint         nested)
{
  for (guint i = 0; i < n; i++)
    {
      SaOperation *operation = sa_operation_new_blocking (mixed_run, &calls[i], NULL);
      GTask *task;

      calls[i].index = i;
      calls[i].nested = nested;
      g_object_weak_ref (G_OBJECT (operation), count_freed, &calls[i]);
      task = sa_dispatcher_call (dispatcher, operation, SA_CALL_MODE_ASYNC, NULL, call_done, &calls[i]);
      g_object_weak_ref (G_OBJECT (task), count_freed, &calls[i]);
      g_object_unref (task);
      g_object_unref (operation);
    }
}

static gboolean
all_answered (Call  *calls,
              guint  n)
{
  for (guint i = 0; i < n; i++)
    if (calls[i].answers == 0)
      return FALSE;

  return TRUE;
}

/* Iterates @context until every call is answered and every task and
 * operation is freed, then checks each answer. */
static void
check_calls (GMainContext *context,
             Call         *calls,
             guint         n)
{
  gint64 deadline = g_get_monotonic_time () + 60 * G_TIME_SPAN_SECOND;
  gboolean freed = FALSE;

  while (!all_answered (calls, n))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (context, TRUE);
    }

  /* Tasks are released once their callbacks have run, on a later pass of
   * the context that nothing of higher priority holds up, or by the pool
   * thread of a body that was still running then. */
  while (!freed)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      if (!g_main_context_iteration (context, FALSE))
        g_usleep (1000);

      freed = TRUE;
      for (guint i = 0; i < n; i++)
        if (g_atomic_int_get (&calls[i].n_freed) != 2)
          freed = FALSE;
    }

  for (guint i = 0; i < n; i++)
    {
      g_assert_cmpint (calls[i].answers, ==, 1);
      if (i % 3 == 2)
        g_assert_true (calls[i].no_result);
      else
        {
          g_assert_false (calls[i].no_result);
          g_assert_cmpint (calls[i].value, ==, (gint) i);
        }
    }

  /* Nothing answered late. */
  for (guint k = 0; k < 20; k++)
    {
      g_main_context_iteration (context, FALSE);
      g_usleep (500);
    }
  for (guint i = 0; i < n; i++)
    g_assert_cmpint (calls[i].answers, ==, 1);
}

/* Answered and not, mixed in one burst, on the default pool and on one
 * that runs a single body at a time. */
static void
test_mixed (void)
{
  g_autoptr(SaDispatcher) bounded = sa_dispatcher_new ();
  SaDispatcher *dispatchers[] = { sa_dispatcher_get_default (), bounded };

  sa_dispatcher_set_max_threads (bounded, 1);
  for (guint d = 0; d < G_N_ELEMENTS (dispatchers); d++)
    {
      g_autofree Call *calls = g_new0 (Call, N_CALLS);

      start_calls (dispatchers[d], calls, N_CALLS, 0);
      check_calls (NULL, calls, N_CALLS);
    }
}

/* Callbacks that iterate the context inside themselves: the completion
 * being dispatched is not taken for a missing one. */
static void
test_nested_iteration (void)
{
  g_autofree Call *calls = g_new0 (Call, 60);

  start_calls (sa_dispatcher_get_default (), calls, 60, 5);
  check_calls (NULL, calls, 60);
}

/* Threads with contexts of their own, freed when they are done: every
 * context, with its file descriptor, goes away. */
static gpointer
thread_calls (gpointer data)
{
  GMainContext *context = g_main_context_new ();
  g_autofree Call *calls = g_new0 (Call, 30);

  g_main_context_push_thread_default (context);
  start_calls (sa_dispatcher_get_default (), calls, 30, 0);
  check_calls (context, calls, 30);
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);

  return NULL;
}

static void
test_thread_contexts (void)
{
  guint fds;
  GThread *threads[4];

  /* The pool's threads and the default context exist before counting. */
  {
    g_autofree Call *calls = g_new0 (Call, 3);

    start_calls (sa_dispatcher_get_default (), calls, 3, 0);
    check_calls (NULL, calls, 3);
  }
  fds = test_count_fds ();

  for (guint round = 0; round < 3; round++)
    {
      for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
        threads[i] = g_thread_new ("caller", thread_calls, NULL);
      for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
        g_thread_join (threads[i]);
    }

  g_assert_cmpuint (test_count_fds (), ==, fds);
}

/* Returns its value, then goes on a while: the task reaches the collector
 * after its callback ran. */
static void
late_run (SaOperation  *operation,
          GTask        *task,
          GCancellable *cancellable,
          gpointer      user_data)
{
  g_task_return_int (task, 42);
  g_usleep (20 * 1000);
}

static void
int_done (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  *(gssize *) user_data = sa_dispatcher_call_finish_int (SA_DISPATCHER (source), result, &error);
  g_assert_no_error (error);
}

/* A caller that iterates its context once after its callback, then drops
 * it, before the body is done: the context is freed all the same, by the
 * pool thread, with its file descriptor. */
static void
test_late_hand_over (void)
{
  g_autoptr(SaOperation) op = sa_operation_new_blocking (late_run, NULL, NULL);
  gint64 deadline;
  guint fds;

  /* The pool's threads and the default context exist before counting. */
  {
    g_autofree Call *calls = g_new0 (Call, 3);

    start_calls (sa_dispatcher_get_default (), calls, 3, 0);
    check_calls (NULL, calls, 3);
  }
  fds = test_count_fds ();

  for (guint round = 0; round < 3; round++)
    {
      GMainContext *context = g_main_context_new ();
      gint gone;
      gssize value = 0;

      test_watch_context_free (context, &gone);
      g_main_context_push_thread_default (context);
      g_object_unref (sa_dispatcher_call (sa_dispatcher_get_default (), op, SA_CALL_MODE_AUTO,
                                          NULL, int_done, &value));
      while (value == 0)
        g_main_context_iteration (context, TRUE);
      g_assert_cmpint (value, ==, 42);
      g_main_context_iteration (context, FALSE);
      g_main_context_pop_thread_default (context);
      g_main_context_unref (context);

      deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
      while (!g_atomic_int_get (&gone) && g_get_monotonic_time () < deadline)
        g_usleep (1000);
      g_assert_true (g_atomic_int_get (&gone));
    }

  /* The last context's descriptor is closed after its sources go, maybe
   * on a pool thread. */
  deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  while (test_count_fds () != fds && g_get_monotonic_time () < deadline)
    g_usleep (1000);
  g_assert_cmpuint (test_count_fds (), ==, fds);
}

static void
no_result_run (SaOperation  *operation,
               GTask        *task,
               GCancellable *cancellable,
               gpointer      user_data)
{
}

typedef struct
{
  GMainLoop *inner;
  guint      answers;
} Nest;

static void
inner_no_result_done (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  Nest *nest = user_data;
  g_autoptr(GError) error = NULL;

  sa_dispatcher_call_finish_int (SA_DISPATCHER (source), result, &error);
  g_assert_error (error, SA_ERROR, SA_ERROR_NO_RESULT);
  nest->answers++;
  g_main_loop_quit (nest->inner);
}

static gboolean
quit_loop (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

/* Answered NO_RESULT, it makes another call that will be, and waits for
 * it in a loop of its own, as a modal dialog would. */
static void
outer_no_result_done (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  Nest *nest = user_data;
  g_autoptr(SaOperation) op = sa_operation_new_blocking (no_result_run, NULL, NULL);
  g_autoptr(GError) error = NULL;
  guint give_up;

  sa_dispatcher_call_finish_int (SA_DISPATCHER (source), result, &error);
  g_assert_error (error, SA_ERROR, SA_ERROR_NO_RESULT);
  nest->answers++;

  g_object_unref (sa_dispatcher_call (SA_DISPATCHER (source), op, SA_CALL_MODE_AUTO, NULL,
                                      inner_no_result_done, nest));
  nest->inner = g_main_loop_new (NULL, FALSE);
  give_up = g_timeout_add_seconds (30, quit_loop, nest->inner);
  g_main_loop_run (nest->inner);
  g_assert_cmpuint (nest->answers, ==, 2);
  g_source_remove (give_up);
  g_clear_pointer (&nest->inner, g_main_loop_unref);
}

/* A callback of a NO_RESULT answer that runs a loop of its own gets the
 * next NO_RESULT answers inside it. */
static void
test_no_result_nested_loop (void)
{
  g_autoptr(SaOperation) op = sa_operation_new_blocking (no_result_run, NULL, NULL);
  Nest nest = { NULL, 0 };

  g_object_unref (sa_dispatcher_call (sa_dispatcher_get_default (), op, SA_CALL_MODE_ASYNC, NULL,
                                      outer_no_result_done, &nest));
  while (nest.answers < 2)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (nest.answers, ==, 2);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/collector/mixed", test_mixed);
  g_test_add_func ("/collector/nested-iteration", test_nested_iteration);
  g_test_add_func ("/collector/thread-contexts", test_thread_contexts);
  g_test_add_func ("/collector/late-hand-over", test_late_hand_over);
  g_test_add_func ("/collector/no-result-nested-loop", test_no_result_nested_loop);

  return g_test_run ();
}
