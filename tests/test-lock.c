/* test-lock.c: SaLock, singleflight, and the failure modes of the original
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "test-util.h"

typedef struct
{
  gint          n_callbacks;  /* atomic */
  GThread      *thread;
  GAsyncResult *result;
} Waiting;

static void
waiting_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Waiting *w = user_data;

  g_assert_true (SA_IS_LOCK (source));
  w->thread = g_thread_self ();
  g_set_object (&w->result, result);
  g_atomic_int_inc (&w->n_callbacks);
}

static void
waiting_clear (Waiting *w)
{
  g_clear_object (&w->result);
}

static char *
result_string (SaLock       *lock,
               GAsyncResult *result,
               GError      **error)
{
  GValue *value = sa_lock_call_finish (lock, result, error);
  char *ret;

  if (value == NULL)
    return NULL;
  ret = g_value_dup_string (value);
  g_boxed_free (G_TYPE_VALUE, value);

  return ret;
}

/* Iterates the default context until every waiter has its callback, then
 * a little more, so that a second callback would show. */
static void
wait_all (Waiting *w,
          guint    n)
{
  for (guint i = 0; i < n; i++)
    test_iterate_until (NULL, &w[i].n_callbacks);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  for (guint i = 0; i < n; i++)
    g_assert_cmpint (w[i].n_callbacks, ==, 1);
}

/* Makes the main thread an async caller for the body of each test. */
static void
own_default_context (void)
{
  g_assert_true (g_main_context_acquire (NULL));
}

static void
release_default_context (void)
{
  g_main_context_release (NULL);
}

/* --- coalescing -------------------------------------------------------- */

static void
test_coalesce_socket (void)
{
  TestServer *server = test_server_new ();
  g_autoptr(SaLock) lock = sa_lock_new (NULL);
  g_autoptr(SaOperation) op = test_op_socket_read (test_server_get_port (server), FALSE, NULL);
  Waiting w[5] = { { 0 } };

  own_default_context ();
  for (guint i = 0; i < G_N_ELEMENTS (w); i++)
    g_object_unref (sa_lock_call (lock, "greeting", op, SA_CALL_MODE_AUTO, NULL, waiting_cb, &w[i]));
  g_assert_cmpuint (sa_lock_get_n_in_flight (lock), ==, 1);
  wait_all (w, G_N_ELEMENTS (w));

  g_assert_cmpuint (sa_lock_get_n_executions (lock), ==, 1);
  g_assert_cmpuint (sa_lock_get_n_coalesced (lock), ==, 4);
  for (guint i = 0; i < G_N_ELEMENTS (w); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *line = result_string (lock, w[i].result, &error);

      g_assert_no_error (error);
      g_assert_cmpstr (line, ==, "hello from smartasync");
      waiting_clear (&w[i]);
    }
  g_assert_cmpuint (sa_lock_get_n_in_flight (lock), ==, 0);
  release_default_context ();
  test_server_free (server);
}

static void
test_keys_and_not_a_cache (void)
{
  g_autoptr(SaLock) lock = sa_lock_new (NULL);
  gint runs = 0;
  g_autoptr(SaOperation) op = test_op_immediate ("value", &runs);
  Waiting w[4] = { { 0 } };
  guint64 executions;

  own_default_context ();
  /* NULL and "a" are two keys; two callers each. */
  g_object_unref (sa_lock_call (lock, NULL, op, SA_CALL_MODE_AUTO, NULL, waiting_cb, &w[0]));
  g_object_unref (sa_lock_call (lock, "a", op, SA_CALL_MODE_AUTO, NULL, waiting_cb, &w[1]));
  g_object_unref (sa_lock_call (lock, NULL, op, SA_CALL_MODE_AUTO, NULL, waiting_cb, &w[2]));
  g_object_unref (sa_lock_call (lock, "a", op, SA_CALL_MODE_AUTO, NULL, waiting_cb, &w[3]));
  wait_all (w, 4);
  g_assert_cmpuint (sa_lock_get_n_executions (lock), ==, 2);
  g_assert_cmpint (runs, ==, 2);

  /* Completed: the next call runs again. */
  for (guint i = 0; i < 4; i++)
    waiting_clear (&w[i]);
  memset (w, 0, sizeof w);
  g_object_unref (sa_lock_call (lock, NULL, op, SA_CALL_MODE_AUTO, NULL, waiting_cb, &w[0]));
  wait_all (w, 1);
  g_object_get (lock, "n-executions", &executions, NULL);
  g_assert_cmpuint (executions, ==, 3);
  g_assert_cmpint (runs, ==, 3);
  waiting_clear (&w[0]);
  release_default_context ();
}

/* 5: an operation that completes without yielding; callers issued before
 * the loop iterates still share one execution. */
static void
test_immediate_shares (void)
{
  g_autoptr(SaLock) lock = sa_lock_new (NULL);
  gint runs = 0;
  g_autoptr(SaOperation) op = test_op_immediate ("at once", &runs);
  Waiting w[10] = { { 0 } };

  own_default_context ();
  for (guint i = 0; i < G_N_ELEMENTS (w); i++)
    {
      g_autoptr(GTask) task = sa_lock_call (lock, "k", op, SA_CALL_MODE_AUTO, NULL, waiting_cb, &w[i]);

      g_assert_false (g_task_get_completed (task));
    }
  wait_all (w, G_N_ELEMENTS (w));
  g_assert_cmpint (runs, ==, 1);
  g_assert_cmpuint (sa_lock_get_n_executions (lock), ==, 1);
  for (guint i = 0; i < G_N_ELEMENTS (w); i++)
    {
      g_autofree char *got = result_string (lock, w[i].result, NULL);

      g_assert_cmpstr (got, ==, "at once");
      waiting_clear (&w[i]);
    }
  release_default_context ();
}

/* Each caller gets its own copy of the error. */
static void
test_errors_copied (void)
{
  g_autoptr(SaLock) lock = sa_lock_new (NULL);
  g_autoptr(SaOperation) op = test_op_fail (TRUE, NULL);
  Waiting w[3] = { { 0 } };
  GError *errors[3] = { NULL };

  own_default_context ();
  for (guint i = 0; i < 3; i++)
    g_object_unref (sa_lock_call (lock, "fails", op, SA_CALL_MODE_AUTO, NULL, waiting_cb, &w[i]));
  wait_all (w, 3);
  for (guint i = 0; i < 3; i++)
    {
      g_assert_null (sa_lock_call_finish (lock, w[i].result, &errors[i]));
      g_assert_error (errors[i], TEST_ERROR, 42);
      g_assert_cmpstr (errors[i]->message, ==, "boom 42");
      waiting_clear (&w[i]);
    }
  g_assert_true (errors[0] != errors[1] && errors[1] != errors[2]);
  for (guint i = 0; i < 3; i++)
    g_error_free (errors[i]);
  g_assert_cmpuint (sa_lock_get_n_executions (lock), ==, 1);
  release_default_context ();
}

/* --- threads ----------------------------------------------------------- */

typedef struct
{
  SaLock      *lock;
  SaOperation *op;
  GThread     *callback_thread;
  gint         value;
  gint         joined;
} SyncJoin;

static void
sync_join_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  SyncJoin *sj = user_data;

  sj->callback_thread = g_thread_self ();
}

static gpointer
sync_join_thread (gpointer data)
{
  SyncJoin *sj = data;
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  GValue *value;

  g_assert_false (sa_caller_is_async ());
  g_atomic_int_set (&sj->joined, TRUE);
  task = sa_lock_call (sj->lock, "shared", sj->op, SA_CALL_MODE_AUTO, NULL, sync_join_cb, sj);
  g_assert_true (g_task_get_completed (task));
  value = sa_lock_call_finish (sj->lock, G_ASYNC_RESULT (task), &error);
  g_assert_no_error (error);
  sj->value = g_value_get_int (value);
  g_boxed_free (G_TYPE_VALUE, value);

  return NULL;
}

/* A sync caller on another thread joins an execution started by an async
 * caller on the main thread, and waits on its own private context. */
static void
test_sync_joins_async (void)
{
  g_autoptr(SaLock) lock = sa_lock_new (NULL);
  TestGate gate;
  g_autoptr(SaOperation) op = NULL;
  SyncJoin sj = { 0 };
  Waiting w = { 0 };
  GThread *thread;

  test_gate_init (&gate, 77);
  op = test_op_gated (&gate);
  sj.lock = lock;
  sj.op = op;

  own_default_context ();
  g_object_unref (sa_lock_call (lock, "shared", op, SA_CALL_MODE_AUTO, NULL, waiting_cb, &w));
  thread = g_thread_new ("sync-joiner", sync_join_thread, &sj);
  /* Wait, without iterating, until the joiner is in: the main thread's
   * context is not iterated by anybody meanwhile. */
  while (sa_lock_get_n_coalesced (lock) < 1)
    g_thread_yield ();
  test_gate_open (&gate);
  wait_all (&w, 1);
  g_thread_join (thread);

  g_assert_cmpint (sj.value, ==, 77);
  g_assert_cmpuint (sa_lock_get_n_executions (lock), ==, 1);
  g_assert_cmpint (gate.runs, ==, 1);
  /* Called back on its own thread, before its call returned. */
  g_assert_true (sj.callback_thread == thread);

  waiting_clear (&w);
  release_default_context ();
  test_gate_clear (&gate);
}

static gpointer
sync_caller_thread (gpointer data)
{
  SyncJoin *sj = data;
  g_autoptr(GError) error = NULL;
  GValue *value = sa_lock_call_sync (sj->lock, "sync-only", sj->op, NULL, &error);

  g_assert_no_error (error);
  g_atomic_int_add (&sj->value, g_value_get_int (value));
  g_boxed_free (G_TYPE_VALUE, value);

  return NULL;
}

/* Only sync callers, on four threads: the execution runs on the executor
 * thread and all four share it. */
static void
test_sync_threads (void)
{
  g_autoptr(SaLock) lock = sa_lock_new (NULL);
  TestGate gate;
  g_autoptr(SaOperation) op = NULL;
  SyncJoin sj = { 0 };
  GThread *threads[4];

  test_gate_init (&gate, 5);
  op = test_op_gated (&gate);
  sj.lock = lock;
  sj.op = op;

  for (guint i = 0; i < 4; i++)
    threads[i] = g_thread_new ("sync-caller", sync_caller_thread, &sj);
  while (sa_lock_get_n_executions (lock) + sa_lock_get_n_coalesced (lock) < 4)
    g_thread_yield ();
  test_gate_open (&gate);
  for (guint i = 0; i < 4; i++)
    g_thread_join (threads[i]);

  g_assert_cmpint (sj.value, ==, 4 * 5);
  g_assert_cmpint (gate.runs, ==, 1);
  g_assert_cmpuint (sa_lock_get_n_executions (lock), ==, 1);
  test_gate_clear (&gate);
}

/* --- the failure modes of the original --------------------------------- */

/* 1: the caller that started the execution cancels; the others still get
 * the result. */
static void
test_first_caller_cancels (void)
{
  g_autoptr(SaLock) lock = sa_lock_new (NULL);
  gint saw_cancel = FALSE;
  g_autoptr(SaOperation) op = test_op_sleep ("0.3", &saw_cancel);
  g_autoptr(GCancellable) first = g_cancellable_new ();
  Waiting w[3] = { { 0 } };
  g_autoptr(GError) error = NULL;

  own_default_context ();
  g_object_unref (sa_lock_call (lock, "k", op, SA_CALL_MODE_AUTO, first, waiting_cb, &w[0]));
  g_object_unref (sa_lock_call (lock, "k", op, SA_CALL_MODE_AUTO, NULL, waiting_cb, &w[1]));
  g_object_unref (sa_lock_call (lock, "k", op, SA_CALL_MODE_AUTO, NULL, waiting_cb, &w[2]));
  g_cancellable_cancel (first);

  /* The first caller hears at once, before the execution ends. */
  test_iterate_until (NULL, &w[0].n_callbacks);
  g_assert_cmpint (w[1].n_callbacks, ==, 0);
  g_assert_null (sa_lock_call_finish (lock, w[0].result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

  wait_all (w, 3);
  for (guint i = 1; i < 3; i++)
    {
      g_autofree char *got = result_string (lock, w[i].result, NULL);

      g_assert_cmpstr (got, ==, "slept 0.3");
    }
  g_assert_false (saw_cancel);
  g_assert_cmpuint (sa_lock_get_n_executions (lock), ==, 1);
  for (guint i = 0; i < 3; i++)
    waiting_clear (&w[i]);
  release_default_context ();
}

/* 2: one waiter (not the first) cancels; only it is affected. */
static void
test_one_waiter_cancels (void)
{
  g_autoptr(SaLock) lock = sa_lock_new (NULL);
  g_autoptr(SaOperation) op = test_op_sleep ("0.3", NULL);
  g_autoptr(GCancellable) middle = g_cancellable_new ();
  Waiting w[3] = { { 0 } };
  g_autoptr(GError) error = NULL;

  own_default_context ();
  g_object_unref (sa_lock_call (lock, "k", op, SA_CALL_MODE_AUTO, NULL, waiting_cb, &w[0]));
  g_object_unref (sa_lock_call (lock, "k", op, SA_CALL_MODE_AUTO, middle, waiting_cb, &w[1]));
  g_object_unref (sa_lock_call (lock, "k", op, SA_CALL_MODE_AUTO, NULL, waiting_cb, &w[2]));
  g_cancellable_cancel (middle);
  wait_all (w, 3);

  g_assert_null (sa_lock_call_finish (lock, w[1].result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  for (guint i = 0; i < 3; i += 2)
    {
      g_autofree char *got = result_string (lock, w[i].result, NULL);

      g_assert_cmpstr (got, ==, "slept 0.3");
    }
  for (guint i = 0; i < 3; i++)
    waiting_clear (&w[i]);
  release_default_context ();
}

/* 3: every waiter cancels; the execution's own cancellable is cancelled,
 * and `sleep 30` is interrupted. */
static void
test_all_cancel (void)
{
  g_autoptr(SaLock) lock = sa_lock_new (NULL);
  gint saw_cancel = FALSE;
  g_autoptr(SaOperation) op = test_op_sleep ("30", &saw_cancel);
  GCancellable *cancellables[3];
  Waiting w[3] = { { 0 } };
  gint64 start = g_get_monotonic_time ();

  own_default_context ();
  for (guint i = 0; i < 3; i++)
    {
      cancellables[i] = g_cancellable_new ();
      g_object_unref (sa_lock_call (lock, "k", op, SA_CALL_MODE_AUTO, cancellables[i], waiting_cb, &w[i]));
    }
  for (guint i = 0; i < 3; i++)
    g_cancellable_cancel (cancellables[i]);
  wait_all (w, 3);
  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_null (sa_lock_call_finish (lock, w[i].result, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      waiting_clear (&w[i]);
      g_object_unref (cancellables[i]);
    }

  /* The operation itself saw the cancellation. */
  while (!g_atomic_int_get (&saw_cancel))
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 20 * G_USEC_PER_SEC);
  while (sa_lock_get_n_in_flight (lock) > 0)
    g_main_context_iteration (NULL, TRUE);
  release_default_context ();
}

/* 4: reset while an execution runs: every waiter is finished once, the
 * execution ends without harm, and the next call starts afresh. */
static void
test_reset_in_flight (void)
{
  g_autoptr(SaLock) lock = sa_lock_new (NULL);
  gint saw_cancel = FALSE;
  g_autoptr(SaOperation) op = test_op_sleep ("30", &saw_cancel);
  gint runs = 0;
  g_autoptr(SaOperation) quick = test_op_immediate ("fresh", &runs);
  Waiting w[3] = { { 0 } };
  Waiting after = { 0 };
  g_autofree char *got = NULL;

  own_default_context ();
  for (guint i = 0; i < 3; i++)
    g_object_unref (sa_lock_call (lock, "k", op, SA_CALL_MODE_AUTO, NULL, waiting_cb, &w[i]));
  sa_lock_reset (lock);
  g_assert_cmpuint (sa_lock_get_n_in_flight (lock), ==, 0);
  wait_all (w, 3);
  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_null (sa_lock_call_finish (lock, w[i].result, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      waiting_clear (&w[i]);
    }

  /* The execution was cancelled and ends; nobody is called again. */
  while (!g_atomic_int_get (&saw_cancel))
    g_main_context_iteration (NULL, TRUE);
  for (guint i = 0; i < 20; i++)
    g_main_context_iteration (NULL, FALSE);
  for (guint i = 0; i < 3; i++)
    g_assert_cmpint (w[i].n_callbacks, ==, 1);

  g_object_unref (sa_lock_call (lock, "k", quick, SA_CALL_MODE_AUTO, NULL, waiting_cb, &after));
  wait_all (&after, 1);
  got = result_string (lock, after.result, NULL);
  g_assert_cmpstr (got, ==, "fresh");
  g_assert_cmpuint (sa_lock_get_n_executions (lock), ==, 2);
  waiting_clear (&after);
  release_default_context ();
}

/* 6: the execution fails with nobody left waiting: no warning (they are
 * fatal here), nothing leaks (valgrind). */
static void
test_fail_nobody_waiting (void)
{
  g_autoptr(SaLock) lock = sa_lock_new (NULL);
  g_autoptr(SaOperation) op = test_op_fail (FALSE, NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  Waiting w = { 0 };

  own_default_context ();
  g_object_unref (sa_lock_call (lock, "k", op, SA_CALL_MODE_AUTO, cancellable, waiting_cb, &w));
  g_cancellable_cancel (cancellable);
  wait_all (&w, 1);
  while (sa_lock_get_n_in_flight (lock) > 0)
    g_main_context_iteration (NULL, TRUE);
  waiting_clear (&w);
  release_default_context ();
}

static void
count_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_atomic_int_inc ((gint *) user_data);
}

/* Many keys at once: 1000 keys, 10 callers each, 1000 executions. */
static void
test_many_keys (void)
{
  g_autoptr(SaLock) lock = sa_lock_new (NULL);
  gint runs = 0;
  g_autoptr(SaOperation) op = test_op_immediate ("k", &runs);
  gint count = 0;

  own_default_context ();
  for (guint k = 0; k < 1000; k++)
    {
      char key[16];

      g_snprintf (key, sizeof key, "key-%u", k);
      for (guint i = 0; i < 10; i++)
        sa_lock_call_async (lock, key, op, NULL, count_cb, &count);
    }
  while (g_atomic_int_get (&count) < 10000)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpint (count, ==, 10000);
  g_assert_cmpint (runs, ==, 1000);
  g_assert_cmpuint (sa_lock_get_n_executions (lock), ==, 1000);
  g_assert_cmpuint (sa_lock_get_n_coalesced (lock), ==, 9000);
  release_default_context ();
}

static void
test_bad_input (void)
{
  g_autoptr(SaLock) lock = sa_lock_new (NULL);
  g_autoptr(SaOperation) op = test_op_immediate ("x", NULL);
  g_autoptr(GObject) not_a_lock = g_object_new (G_TYPE_OBJECT, NULL);

#define EXPECT_CRITICAL(expr) G_STMT_START { \
    g_test_expect_message ("Sa", G_LOG_LEVEL_CRITICAL, "*assertion*failed*"); \
    expr; \
    g_test_assert_expected_messages (); \
  } G_STMT_END

  EXPECT_CRITICAL (g_assert_null (sa_lock_new ((SaDispatcher *) not_a_lock)));
  EXPECT_CRITICAL (g_assert_null (sa_lock_call (NULL, "k", op, SA_CALL_MODE_AUTO, NULL, NULL, NULL)));
  EXPECT_CRITICAL (g_assert_null (sa_lock_call ((SaLock *) not_a_lock, "k", op, SA_CALL_MODE_AUTO, NULL, NULL, NULL)));
  EXPECT_CRITICAL (g_assert_null (sa_lock_call (lock, "k", NULL, SA_CALL_MODE_AUTO, NULL, NULL, NULL)));
  EXPECT_CRITICAL (g_assert_null (sa_lock_call (lock, "k", op, 9, NULL, NULL, NULL)));
  EXPECT_CRITICAL (g_assert_null (sa_lock_call_sync (lock, "k", NULL, NULL, NULL)));
  EXPECT_CRITICAL (sa_lock_call_async (NULL, "k", op, NULL, NULL, NULL));
  EXPECT_CRITICAL (g_assert_null (sa_lock_call_finish (lock, NULL, NULL)));
  EXPECT_CRITICAL (sa_lock_reset (NULL));
  EXPECT_CRITICAL (g_assert_cmpuint (sa_lock_get_n_executions (NULL), ==, 0));

#undef EXPECT_CRITICAL
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/lock/coalesce/socket", test_coalesce_socket);
  g_test_add_func ("/lock/keys-and-not-a-cache", test_keys_and_not_a_cache);
  g_test_add_func ("/lock/errors-copied", test_errors_copied);
  g_test_add_func ("/lock/threads/sync-joins-async", test_sync_joins_async);
  g_test_add_func ("/lock/threads/sync-only", test_sync_threads);
  g_test_add_func ("/lock/original/1-first-caller-cancels", test_first_caller_cancels);
  g_test_add_func ("/lock/original/2-one-waiter-cancels", test_one_waiter_cancels);
  g_test_add_func ("/lock/original/3-all-cancel", test_all_cancel);
  g_test_add_func ("/lock/original/4-reset-in-flight", test_reset_in_flight);
  g_test_add_func ("/lock/original/5-immediate-shares", test_immediate_shares);
  g_test_add_func ("/lock/original/6-fail-nobody-waiting", test_fail_nobody_waiting);
  g_test_add_func ("/lock/many-keys", test_many_keys);
  g_test_add_func ("/lock/bad-input", test_bad_input);

  return g_test_run ();
}
