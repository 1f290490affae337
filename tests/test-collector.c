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
  gpointer task;                /* weak */
  gpointer operation;           /* weak */
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
      calls[i].operation = operation;
      g_object_add_weak_pointer (G_OBJECT (operation), &calls[i].operation);
      task = sa_dispatcher_call (dispatcher, operation, SA_CALL_MODE_ASYNC, NULL, call_done, &calls[i]);
      calls[i].task = task;
      g_object_add_weak_pointer (G_OBJECT (task), &calls[i].task);
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
   * the context that nothing of higher priority holds up. */
  while (!freed)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      if (!g_main_context_iteration (context, FALSE))
        g_usleep (1000);

      freed = TRUE;
      for (guint i = 0; i < n; i++)
        if (calls[i].task != NULL || calls[i].operation != NULL)
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

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/collector/mixed", test_mixed);
  g_test_add_func ("/collector/nested-iteration", test_nested_iteration);
  g_test_add_func ("/collector/thread-contexts", test_thread_contexts);

  return g_test_run ();
}
