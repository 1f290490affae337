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

/* --- what stays alive ------------------------------------------------- */

/* Counts objects still alive: each one tracked adds one, its finalization
 * takes it off. */
static void
alive_weak_notify (gpointer  data,
                   GObject  *where_the_object_was)
{
  g_atomic_int_add ((gint *) data, -1);
}

static gpointer
track (gpointer  object,
       gint     *alive)
{
  g_atomic_int_inc (alive);
  g_object_weak_ref (object, alive_weak_notify, alive);
  return object;
}

/* Iterates the default context until *@alive is 0 (a worker thread may
 * drop its last reference a moment after the result arrived). */
static void
wait_none_alive (const gint *alive)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (g_atomic_int_get (alive) > 0 && g_get_monotonic_time () < deadline)
    {
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
    }
  g_assert_cmpint (g_atomic_int_get (alive), ==, 0);
}

/* A hang fails the test quickly instead of at the suite's timeout. */
static gboolean
watchdog_cb (gpointer data)
{
  g_error ("%s: still waiting after 20 s: a deadlock", (const char *) data);
  return G_SOURCE_REMOVE;
}

static GMainContext *watchdog_context;

static gpointer
watchdog_thread (gpointer data)
{
  while (TRUE)
    g_main_context_iteration (data, TRUE);
  return NULL;
}

static guint
watchdog_arm (const char *what)
{
  GSource *source = g_timeout_source_new_seconds (20);
  guint id;

  if (g_once_init_enter (&watchdog_context))
    {
      GMainContext *ctx = g_main_context_new ();

      g_thread_unref (g_thread_new ("watchdog", watchdog_thread, ctx));
      g_once_init_leave (&watchdog_context, ctx);
    }
  g_source_set_callback (source, watchdog_cb, (gpointer) what, NULL);
  id = g_source_attach (source, watchdog_context);
  g_source_unref (source);

  return id;
}

static void
watchdog_disarm (guint id)
{
  GSource *source = g_main_context_find_source_by_id (watchdog_context, id);

  if (source != NULL)
    g_source_destroy (source);
}

/* --- a blocking body the tests steer ----------------------------------- */

typedef enum
{
  BODY_VALUE,      /* the int 7, through g_task_return_value() */
  BODY_ERROR,      /* TEST_ERROR 42 */
  BODY_NO_RESULT,  /* returns without completing its task */
  BODY_POINTER,    /* a string, through g_task_return_pointer() */
  BODY_BOOLEAN,    /* TRUE */
  BODY_INT,        /* 7, through g_task_return_int() */
} BodyResult;

/* Waits until its gate opens or its cancellable fires (then CANCELLED,
 * unless @ignore_cancel), then completes as @result says. */
typedef struct
{
  BodyResult  result;
  gboolean    ignore_cancel;
  gint        open;        /* atomic */
  gint        runs;        /* atomic */
  gint        running;     /* atomic: bodies inside now */
  gint        saw_cancel;  /* atomic */
  gint        cancelled;   /* atomic: its cancellable fired while it ran */
  gint        freed;       /* atomic: pointer results freed */
  GThread    *thread;      /* atomic: where the body last ran */
} Body;

static void
pointer_free (gpointer data)
{
  Body *body = *(Body **) data;

  g_atomic_int_inc (&body->freed);
  g_free (data);
}

static void
body_run (SaOperation  *op,
          GTask        *task,
          GCancellable *cancellable,
          gpointer      user_data)
{
  Body *body = user_data;
  GValue value = G_VALUE_INIT;

  g_atomic_int_inc (&body->runs);
  g_atomic_int_inc (&body->running);
  g_atomic_pointer_set (&body->thread, g_thread_self ());
  while (!g_atomic_int_get (&body->open) &&
         (body->ignore_cancel || !g_cancellable_is_cancelled (cancellable)))
    {
      if (g_cancellable_is_cancelled (cancellable))
        g_atomic_int_set (&body->cancelled, TRUE);
      g_usleep (1000);
    }

  if (g_cancellable_is_cancelled (cancellable))
    g_atomic_int_set (&body->saw_cancel, TRUE);
  if (!body->ignore_cancel && g_task_return_error_if_cancelled (task))
    {
      g_atomic_int_add (&body->running, -1);
      return;
    }

  switch (body->result)
    {
    case BODY_VALUE:
      g_value_init (&value, G_TYPE_INT);
      g_value_set_int (&value, 7);
      g_task_return_value (task, &value);
      break;

    case BODY_ERROR:
      g_task_return_new_error (task, TEST_ERROR, 42, "boom %d", 42);
      break;

    case BODY_NO_RESULT:
      break;

    case BODY_POINTER:
      {
        Body **p = g_new (Body *, 1);

        *p = body;
        g_task_return_pointer (task, p, pointer_free);
      }
      break;

    case BODY_BOOLEAN:
      g_task_return_boolean (task, TRUE);
      break;

    case BODY_INT:
      g_task_return_int (task, 7);
      break;

    default:
      g_assert_not_reached ();
    }
  /* Last: once no body is running, the test may let @body go. */
  g_atomic_int_add (&body->running, -1);
}

static SaOperation *
body_op (Body *body)
{
  SaOperation *op = sa_operation_new_blocking (body_run, body, NULL);

  sa_operation_set_name (op, "steered");
  return op;
}

static void
body_open (Body *body)
{
  g_atomic_int_set (&body->open, TRUE);
}

/* --- lock waiters: one contract for every kind ------------------------- */

/* The waiter under test, beside a leader: an async caller on the main
 * thread (which owns the default context). */
typedef enum
{
  WAITER_ASYNC_SAME_THREAD,   /* joins the leader's execution from the main thread */
  WAITER_ASYNC_OTHER_THREAD,  /* joins from a thread that runs a loop of its own */
  WAITER_SYNC_OTHER_THREAD,   /* joins as a sync caller on another thread */
  WAITER_SYNC_STARTER,        /* starts the execution as a sync caller on another
                               * thread, and runs it there; the leader joins it */
  N_WAITER_KINDS
} WaiterKind;

static const char * const waiter_kind_names[] = {
  "async-same-thread", "async-other-thread", "sync-other-thread", "sync-starter",
};

typedef enum
{
  SITUATION_VALUE,
  SITUATION_ERROR,
  SITUATION_NO_RESULT,
  SITUATION_CANCEL_WAITER,
  SITUATION_CANCEL_LEADER,
  SITUATION_CANCEL_ALL,
  SITUATION_RESET,
  SITUATION_TIMEOUT,
  N_SITUATIONS
} Situation;

static const char * const situation_names[] = {
  "value", "error", "no-result", "cancel-waiter", "cancel-leader", "cancel-all", "reset", "timeout",
};

typedef struct
{
  WaiterKind    kind;
  Situation     situation;
  SaLock       *lock;
  SaOperation  *op;
  GCancellable *cancellable;   /* the waiter's */
  gint          alive;         /* atomic: tracked objects alive */
  gint          called;        /* atomic: the waiter's callbacks */
  gint          joined;        /* atomic */
  GError       *error;
  gint          value;
  gboolean      got_value;
  GThread      *callback_thread;
} Case;

static void
case_read (Case         *c,
           GAsyncResult *result)
{
  GValue value = G_VALUE_INIT;

  if (sa_lock_call_finish_value (c->lock, result, &value, &c->error))
    {
      c->value = g_value_get_int (&value);
      c->got_value = TRUE;
      g_value_unset (&value);
    }
}

static void
case_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Case *c = user_data;

  g_assert_true (source == G_OBJECT (c->lock));
  c->callback_thread = g_thread_self ();
  case_read (c, result);
  g_atomic_int_inc (&c->called);
}

static gpointer
case_thread (gpointer data)
{
  Case *c = data;
  GTask *task;

  if (c->kind == WAITER_ASYNC_OTHER_THREAD)
    {
      GMainContext *ctx = g_main_context_new ();

      g_main_context_push_thread_default (ctx);
      task = sa_lock_call (c->lock, "k", c->op, SA_CALL_MODE_AUTO, c->cancellable, case_cb, c);
      track (task, &c->alive);
      g_assert_false (g_task_get_completed (task));
      g_object_unref (task);
      g_atomic_int_set (&c->joined, TRUE);
      while (!g_atomic_int_get (&c->called))
        g_main_context_iteration (ctx, TRUE);
      /* A second callback would show here. */
      while (g_main_context_iteration (ctx, FALSE))
        ;
      g_main_context_pop_thread_default (ctx);
      g_main_context_unref (ctx);
    }
  else
    {
      g_atomic_int_set (&c->joined, TRUE);
      task = sa_lock_call (c->lock, "k", c->op, SA_CALL_MODE_AUTO, c->cancellable, case_cb, c);
      track (task, &c->alive);
      /* Complete, called back before the call returned. */
      g_assert_true (g_task_get_completed (task));
      g_assert_cmpint (c->called, ==, 1);
      g_object_unref (task);
    }

  return NULL;
}

static void
leader_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Case *leader = user_data;

  case_read (leader, result);
  g_atomic_int_inc (&leader->called);
}

static void
assert_outcome (Case       *c,
                Situation   situation,
                gboolean    is_leader,
                const char *who)
{
  gboolean cancelled = situation == SITUATION_CANCEL_ALL || situation == SITUATION_RESET ||
                       (situation == SITUATION_CANCEL_WAITER && !is_leader) ||
                       (situation == SITUATION_CANCEL_LEADER && is_leader);

  g_test_message ("%s: %s", who, c->got_value ? "a value" : c->error ? c->error->message : "nothing");
  g_assert_cmpint (c->called, ==, 1);
  if (cancelled)
    g_assert_error (c->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  else if (situation == SITUATION_ERROR)
    {
      g_assert_error (c->error, TEST_ERROR, 42);
      g_assert_cmpstr (c->error->message, ==, "boom 42");
    }
  else if (situation == SITUATION_NO_RESULT)
    g_assert_error (c->error, SA_ERROR, SA_ERROR_NO_RESULT);
  else if (situation == SITUATION_TIMEOUT)
    g_assert_error (c->error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  else
    {
      g_assert_no_error (c->error);
      g_assert_true (c->got_value);
      g_assert_cmpint (c->value, ==, 7);
    }
}

static void
test_contract (gconstpointer data)
{
  guint index = GPOINTER_TO_UINT (data);
  WaiterKind kind = index / N_SITUATIONS;
  Situation situation = index % N_SITUATIONS;
  g_autoptr(SaDispatcher) dispatcher = sa_dispatcher_new ();
  Body body = { 0 };
  Case c = { 0 };
  Case leader = { 0 };
  GCancellable *leader_cancellable;
  GThread *thread = NULL;
  GTask *task;
  guint watchdog = watchdog_arm ("/lock/contract");

  body.result = situation == SITUATION_ERROR ? BODY_ERROR :
                situation == SITUATION_NO_RESULT ? BODY_NO_RESULT : BODY_VALUE;
  if (situation == SITUATION_TIMEOUT)
    {
      sa_dispatcher_set_timeout (dispatcher, 200);
      /* A body that runs on past the timeout, until its gate opens. */
      body.ignore_cancel = TRUE;
    }

  c.kind = kind;
  c.situation = situation;
  c.lock = track (sa_lock_new (dispatcher), &c.alive);
  c.op = body_op (&body);
  c.cancellable = track (g_cancellable_new (), &c.alive);
  leader.lock = c.lock;
  leader_cancellable = track (g_cancellable_new (), &c.alive);

  own_default_context ();
  if (kind == WAITER_SYNC_STARTER)
    {
      thread = g_thread_new ("waiter", case_thread, &c);
      while (!g_atomic_int_get (&body.running))
        g_usleep (1000);
      g_assert_true (g_atomic_pointer_get (&body.thread) == thread);
    }
  task = sa_lock_call (c.lock, "k", c.op, SA_CALL_MODE_AUTO, leader_cancellable, leader_cb, &leader);
  track (task, &c.alive);
  g_object_unref (task);

  if (kind == WAITER_ASYNC_SAME_THREAD)
    {
      task = sa_lock_call (c.lock, "k", c.op, SA_CALL_MODE_AUTO, c.cancellable, case_cb, &c);
      track (task, &c.alive);
      g_object_unref (task);
    }
  else if (kind != WAITER_SYNC_STARTER)
    {
      thread = g_thread_new ("waiter", case_thread, &c);
    }
  while (sa_lock_get_n_coalesced (c.lock) < 1)
    g_usleep (1000);
  g_assert_cmpuint (sa_lock_get_n_executions (c.lock), ==, 1);
  while (!g_atomic_int_get (&body.running))
    g_usleep (1000);

  switch (situation)
    {
    case SITUATION_CANCEL_WAITER:
      g_cancellable_cancel (c.cancellable);
      /* Heard at once, unless it runs the body itself. */
      if (kind == WAITER_SYNC_STARTER)
        break;
      while (!g_atomic_int_get (&c.called))
        if (!g_main_context_iteration (NULL, FALSE))
          g_usleep (1000);
      g_assert_error (c.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      g_assert_cmpint (body.running, ==, 1);
      break;

    case SITUATION_CANCEL_LEADER:
      g_cancellable_cancel (leader_cancellable);
      while (!g_atomic_int_get (&leader.called))
        if (!g_main_context_iteration (NULL, FALSE))
          g_usleep (1000);
      g_assert_cmpint (body.running, ==, 1);
      break;

    case SITUATION_CANCEL_ALL:
      g_cancellable_cancel (leader_cancellable);
      g_cancellable_cancel (c.cancellable);
      break;

    case SITUATION_RESET:
      sa_lock_reset (c.lock);
      g_assert_cmpuint (sa_lock_get_n_in_flight (c.lock), ==, 0);
      break;

    case SITUATION_TIMEOUT:
      /* Every caller but one that runs the body itself is answered at the
       * timeout, while the body runs on. */
      while (!g_atomic_int_get (&leader.called) ||
             (kind != WAITER_SYNC_STARTER && !g_atomic_int_get (&c.called)))
        if (!g_main_context_iteration (NULL, FALSE))
          g_usleep (1000);
      g_assert_cmpint (body.running, ==, 1);
      /* A starter that runs the body itself has a timeout of its own,
       * set a moment after its joiners': the body returns after it. */
      if (kind == WAITER_SYNC_STARTER)
        while (!g_atomic_int_get (&body.cancelled))
          g_usleep (1000);
      body_open (&body);
      break;

    case SITUATION_VALUE:
    case SITUATION_ERROR:
    case SITUATION_NO_RESULT:
    case N_SITUATIONS:
    default:
      break;
    }
  if (situation != SITUATION_CANCEL_ALL && situation != SITUATION_RESET && situation != SITUATION_TIMEOUT)
    body_open (&body);

  /* The waiter may be called back on another thread, which does not wake
   * this one. */
  while (!g_atomic_int_get (&leader.called) || !g_atomic_int_get (&c.called))
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (1000);
  if (thread != NULL)
    g_thread_join (thread);
  while (g_main_context_iteration (NULL, FALSE))
    ;

  assert_outcome (&c, situation, FALSE, waiter_kind_names[kind]);
  assert_outcome (&leader, situation, TRUE, "leader");
  if (kind == WAITER_ASYNC_SAME_THREAD)
    g_assert_true (c.callback_thread == g_thread_self ());
  else
    g_assert_true (c.callback_thread == thread);
  g_assert_cmpint (body.runs, ==, 1);
  /* Nobody left, a reset or the timeout: the body's cancellable fired (its
   * gate stays shut until then, but for the timeout). */
  if (situation == SITUATION_CANCEL_ALL || situation == SITUATION_RESET || situation == SITUATION_TIMEOUT)
    {
      while (g_atomic_int_get (&body.running))
        g_usleep (1000);
      g_assert_true (g_atomic_int_get (&body.saw_cancel));
    }

  /* Every task, cancellable and the lock (which each execution and each
   * internal waiter holds) is freed once the body has returned. */
  g_clear_error (&c.error);
  g_clear_error (&leader.error);
  g_object_unref (c.cancellable);
  g_object_unref (leader_cancellable);
  g_object_unref (c.lock);
  body_open (&body);
  wait_none_alive (&c.alive);
  while (g_atomic_int_get (&body.running))
    g_usleep (1000);
  g_object_unref (c.op);
  release_default_context ();
  watchdog_disarm (watchdog);
}

/* --- the starter of a blocking execution leaves ------------------------ */

/* A blocking execution started by an async caller that then leaves, its
 * callback run, and never iterates its context again, while another
 * caller, on a thread of its own, waits or leaves: the other is answered
 * without that context, which is freed as soon as its caller drops it. */
typedef enum
{
  STARTER_LEAVES_RUNNING,           /* while the body runs */
  STARTER_LEAVES_DELIVERY_PENDING,  /* once the body returned, before its
                                     * context delivered the callers */
} StarterLeaves;

typedef enum
{
  JOINER_WAITS,
  JOINER_LEAVES_AFTER,   /* cancels after the starter left */
  JOINER_LEAVES_FIRST,   /* cancels before the starter leaves */
  BOTH_RESET,            /* a reset answers both, instead of cancellations */
} JoinerDoes;

typedef struct
{
  StarterLeaves when;
  JoinerDoes    joiner;
} StarterLeavesRow;

static const StarterLeavesRow starter_leaves_rows[] = {
  { STARTER_LEAVES_RUNNING, JOINER_WAITS },
  { STARTER_LEAVES_RUNNING, JOINER_LEAVES_AFTER },
  { STARTER_LEAVES_RUNNING, JOINER_LEAVES_FIRST },
  { STARTER_LEAVES_DELIVERY_PENDING, JOINER_WAITS },
  { STARTER_LEAVES_DELIVERY_PENDING, JOINER_LEAVES_AFTER },
  { STARTER_LEAVES_DELIVERY_PENDING, JOINER_LEAVES_FIRST },
  { STARTER_LEAVES_RUNNING, BOTH_RESET },
  { STARTER_LEAVES_DELIVERY_PENDING, BOTH_RESET },
};

static const char * const starter_leaves_names[] = { "running", "delivery-pending" };
static const char * const joiner_does_names[] = { "joiner-waits", "joiner-leaves-after",
                                                   "joiner-leaves-first", "reset" };

typedef struct
{
  SaLock       *lock;
  SaOperation  *op;
  GCancellable *cancellable;
  gint          joined;         /* atomic */
  gint          called;         /* atomic */
  gint          context_freed;  /* atomic */
  GThread      *callback_thread;
  gint          value;
  GError       *error;
} Leaver;

static void
leaver_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Leaver *l = user_data;
  GValue *value = sa_lock_call_finish (SA_LOCK (source), result, &l->error);

  if (value != NULL)
    {
      l->value = g_value_get_int (value);
      g_boxed_free (G_TYPE_VALUE, value);
    }
  l->callback_thread = g_thread_self ();
  g_atomic_int_inc (&l->called);
}

/* The joiner: calls on a context of its own, iterates it until its
 * callback, then drops it. */
static gpointer
joiner_thread (gpointer data)
{
  Leaver *l = data;
  GMainContext *context = g_main_context_new ();

  g_main_context_push_thread_default (context);
  test_watch_context_free (context, &l->context_freed);
  sa_lock_call_async (l->lock, "shared", l->op, l->cancellable, leaver_cb, l);
  g_atomic_int_set (&l->joined, TRUE);
  test_iterate_until (context, &l->called);
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);

  return NULL;
}

static void
test_starter_leaves (gconstpointer data)
{
  const StarterLeavesRow *row = data;
  g_autoptr(SaLock) lock = sa_lock_new (NULL);
  GMainContext *context = g_main_context_new ();
  Leaver starter = { 0 };
  Leaver joiner = { 0 };
  TestGate gate;
  gint op_freed = FALSE;
  GThread *thread;

  test_gate_init (&gate, 42);
  starter.lock = joiner.lock = lock;
  starter.op = joiner.op = test_op_gated (&gate);
  test_watch_finalize (starter.op, &op_freed);
  starter.cancellable = g_cancellable_new ();
  joiner.cancellable = g_cancellable_new ();

  g_main_context_push_thread_default (context);
  test_watch_context_free (context, &starter.context_freed);
  sa_lock_call_async (lock, "shared", starter.op, starter.cancellable, leaver_cb, &starter);
  thread = g_thread_new ("joiner", joiner_thread, &joiner);
  test_wait_for_count (&joiner.joined, TRUE);
  g_assert_cmpuint (sa_lock_get_n_coalesced (lock), ==, 1);
  g_assert_cmpint (test_wait_for_count (&gate.waiting, 1), ==, 1);

  if (row->when == STARTER_LEAVES_DELIVERY_PENDING)
    {
      gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

      /* The body returns; the callers' delivery waits on this context. */
      test_gate_open (&gate);
      while (!g_main_context_pending (context) && g_get_monotonic_time () < deadline)
        g_usleep (1000);
      g_assert_true (g_main_context_pending (context));
      g_assert_cmpint (g_atomic_int_get (&joiner.called), ==, 0);
    }

  if (row->joiner == JOINER_LEAVES_FIRST)
    {
      g_cancellable_cancel (joiner.cancellable);
      g_assert_cmpint (test_wait_for_count (&joiner.called, 1), ==, 1);
    }

  /* The starter leaves: its callback, then its context is dropped. */
  if (row->joiner == BOTH_RESET)
    sa_lock_reset (lock);
  else
    g_cancellable_cancel (starter.cancellable);
  test_iterate_until (context, &starter.called);
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
  g_assert_cmpint (test_wait_for_count (&starter.context_freed, TRUE), ==, TRUE);

  /* A delivery withdrawn by the starter reaches the joiner first. */
  if (row->joiner == JOINER_LEAVES_AFTER && row->when == STARTER_LEAVES_DELIVERY_PENDING)
    g_assert_cmpint (test_wait_for_count (&joiner.called, 1), ==, 1);
  if (row->joiner == JOINER_LEAVES_AFTER)
    g_cancellable_cancel (joiner.cancellable);
  if (row->when == STARTER_LEAVES_RUNNING)
    test_gate_open (&gate);

  g_assert_cmpint (test_wait_for_count (&joiner.called, 1), ==, 1);
  g_thread_join (thread);

  g_assert_error (starter.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  if (row->joiner == JOINER_WAITS ||
      (row->joiner == JOINER_LEAVES_AFTER && row->when == STARTER_LEAVES_DELIVERY_PENDING))
    {
      g_assert_no_error (joiner.error);
      g_assert_cmpint (joiner.value, ==, 42);
    }
  else
    {
      /* A reset answers a completed execution's callers too, before its
       * delivery on the starter's context. */
      g_assert_error (joiner.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    }
  g_assert_true (joiner.callback_thread == thread);
  g_assert_true (starter.callback_thread == g_thread_self ());
  g_assert_cmpint (g_atomic_int_get (&starter.called), ==, 1);
  g_assert_cmpint (g_atomic_int_get (&joiner.called), ==, 1);
  g_assert_cmpint (test_wait_for_count (&joiner.context_freed, TRUE), ==, TRUE);
  g_assert_cmpint (g_atomic_int_get (&gate.runs), ==, 1);
  g_assert_cmpuint (sa_lock_get_n_executions (lock), ==, 1);

  /* The operation goes with the execution, once its body returned. */
  g_object_unref (starter.op);
  g_assert_cmpint (test_wait_for_count (&op_freed, TRUE), ==, TRUE);
  g_assert_cmpuint (sa_lock_get_n_in_flight (lock), ==, 0);

  g_clear_error (&starter.error);
  g_clear_error (&joiner.error);
  g_object_unref (starter.cancellable);
  g_object_unref (joiner.cancellable);
  test_gate_clear (&gate);
}

/* --- the bugs of the first SaLock, each a test ------------------------ */

/* 1: a caller that cancels while it waits is freed, with its task, its
 * cancellable, the internal waiter and the lock (which every internal
 * waiter holds through its execution). */
static void
test_cancelled_waiters_freed (void)
{
  Body body = { BODY_VALUE };
  g_autoptr(SaOperation) op = body_op (&body);
  SaLock *lock;
  gint alive = 0;
  gint cancelled = 0;
  GCancellable *cancellables[100];
  Waiting w[100] = { { 0 } };
  Waiting keeper = { 0 };

  own_default_context ();
  lock = track (sa_lock_new (NULL), &alive);
  g_object_unref (sa_lock_call (lock, "k", op, SA_CALL_MODE_AUTO, NULL, waiting_cb, &keeper));
  for (guint i = 0; i < G_N_ELEMENTS (w); i++)
    {
      cancellables[i] = track (g_cancellable_new (), &alive);
      g_object_unref (track (sa_lock_call (lock, "k", op, SA_CALL_MODE_AUTO, cancellables[i],
                                           waiting_cb, &w[i]), &alive));
    }
  for (guint i = 0; i < G_N_ELEMENTS (w); i++)
    g_cancellable_cancel (cancellables[i]);
  wait_all (w, G_N_ELEMENTS (w));
  for (guint i = 0; i < G_N_ELEMENTS (w); i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_null (sa_lock_call_finish (lock, w[i].result, &error));
      cancelled += g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      waiting_clear (&w[i]);
      g_object_unref (cancellables[i]);
    }
  g_assert_cmpint (cancelled, ==, G_N_ELEMENTS (w));
  g_assert_cmpint (keeper.n_callbacks, ==, 0);
  body_open (&body);
  wait_all (&keeper, 1);
  {
    GValue value = G_VALUE_INIT;

    g_assert_true (sa_lock_call_finish_value (lock, keeper.result, &value, NULL));
    g_assert_cmpint (g_value_get_int (&value), ==, 7);
  }
  waiting_clear (&keeper);
  g_object_unref (lock);
  wait_none_alive (&alive);
  release_default_context ();
}

/* Callers leave the list of their execution's waiters from its head, its
 * middle (beside callers with and without a cancellable) and its tail,
 * and a caller joins after the tail left: every caller still there gets
 * the value once, in the order of the calls, every one that left gets
 * CANCELLED once, and nothing stays alive. */
typedef struct
{
  guint   *next;       /* the order of the next callback */
  guint    order;
  Waiting  waiting;
} Ordered;

static void
ordered_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Ordered *o = user_data;

  o->order = (*o->next)++;
  waiting_cb (source, result, &o->waiting);
}

static void
test_waiters_leave_anywhere (void)
{
  static const struct
  {
    gboolean cancellable;
    gboolean leaves;
  } callers[] = {
    { TRUE, TRUE },     /* 0: the head, the caller that started it */
    { FALSE, FALSE },   /* 1 */
    { TRUE, TRUE },     /* 2: between two callers with no cancellable */
    { FALSE, FALSE },   /* 3 */
    { TRUE, TRUE },     /* 4, 5: side by side, the first leaves first */
    { TRUE, TRUE },
    { TRUE, FALSE },    /* 6: stays */
    { TRUE, TRUE },     /* 7, 8: the tail, which leaves first */
    { TRUE, TRUE },
    { FALSE, FALSE },   /* 9: joins after 7 and 8 left */
  };
  /* 8 and 7 leave before 9 joins. */
  const guint leave_order[] = { 8, 7, 0, 4, 5, 2 };
  Body body = { BODY_VALUE };
  g_autoptr(SaOperation) op = body_op (&body);
  GCancellable *cancellables[G_N_ELEMENTS (callers)] = { NULL };
  Ordered o[G_N_ELEMENTS (callers)];
  guint next = 0, last_order = 0;
  gint alive = 0;
  SaLock *lock;

  own_default_context ();
  lock = track (sa_lock_new (NULL), &alive);
  for (guint i = 0; i < G_N_ELEMENTS (callers); i++)
    {
      o[i] = (Ordered) { &next, G_MAXUINT, { 0 } };
      if (callers[i].cancellable)
        cancellables[i] = track (g_cancellable_new (), &alive);
      if (i == G_N_ELEMENTS (callers) - 1)
        {
          /* The tail leaves, then the one before it: the last caller is
           * linked after 6. */
          g_cancellable_cancel (cancellables[leave_order[0]]);
          g_cancellable_cancel (cancellables[leave_order[1]]);
        }
      g_object_unref (track (sa_lock_call (lock, "k", op, SA_CALL_MODE_AUTO, cancellables[i],
                                           ordered_cb, &o[i]), &alive));
    }
  for (guint k = 2; k < G_N_ELEMENTS (leave_order); k++)
    g_cancellable_cancel (cancellables[leave_order[k]]);
  for (guint k = 0; k < G_N_ELEMENTS (leave_order); k++)
    wait_all (&o[leave_order[k]].waiting, 1);
  g_assert_cmpuint (sa_lock_get_n_executions (lock), ==, 1);
  g_assert_cmpuint (sa_lock_get_n_in_flight (lock), ==, 1);

  body_open (&body);
  for (guint i = 0; i < G_N_ELEMENTS (callers); i++)
    if (!callers[i].leaves)
      wait_all (&o[i].waiting, 1);
  for (guint i = 0; i < G_N_ELEMENTS (callers); i++)
    {
      g_autoptr(GError) error = NULL;
      GValue value = G_VALUE_INIT;

      g_assert_cmpint (o[i].waiting.n_callbacks, ==, 1);
      if (callers[i].leaves)
        {
          g_assert_false (sa_lock_call_finish_value (lock, o[i].waiting.result, &value, &error));
          g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
        }
      else
        {
          g_assert_true (sa_lock_call_finish_value (lock, o[i].waiting.result, &value, &error));
          g_assert_no_error (error);
          g_assert_cmpint (g_value_get_int (&value), ==, 7);
          g_value_unset (&value);
          /* Served in the order of the calls, after every one that left. */
          g_assert_cmpuint (o[i].order, >=, G_N_ELEMENTS (leave_order));
          g_assert_cmpuint (o[i].order, >, last_order);
          last_order = o[i].order;
        }
      waiting_clear (&o[i].waiting);
      g_clear_object (&cancellables[i]);
    }
  g_assert_cmpuint (sa_lock_get_n_in_flight (lock), ==, 0);
  g_object_unref (lock);
  wait_none_alive (&alive);
  release_default_context ();
}

/* 2: every caller cancelled; a caller who comes later, with no
 * cancellable, starts a new execution and gets its value, while the
 * cancelled one (whose body ignores cancellation) runs on. */
static void
test_late_caller_after_all_cancelled (void)
{
  Body body = { BODY_VALUE, TRUE };
  g_autoptr(SaOperation) op = body_op (&body);
  g_autoptr(SaLock) lock = sa_lock_new (NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  Waiting first = { 0 }, late = { 0 };
  GValue value = G_VALUE_INIT;
  g_autoptr(GError) error = NULL;

  own_default_context ();
  g_object_unref (sa_lock_call (lock, "k", op, SA_CALL_MODE_AUTO, cancellable, waiting_cb, &first));
  while (!g_atomic_int_get (&body.running))
    g_usleep (1000);
  g_cancellable_cancel (cancellable);
  wait_all (&first, 1);
  g_assert_cmpuint (sa_lock_get_n_in_flight (lock), ==, 0);

  g_object_unref (sa_lock_call (lock, "k", op, SA_CALL_MODE_AUTO, NULL, waiting_cb, &late));
  g_assert_cmpuint (sa_lock_get_n_executions (lock), ==, 2);
  while (g_atomic_int_get (&body.runs) < 2)
    g_usleep (1000);
  body_open (&body);
  wait_all (&late, 1);
  g_assert_true (sa_lock_call_finish_value (lock, late.result, &value, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_value_get_int (&value), ==, 7);
  waiting_clear (&first);
  waiting_clear (&late);
  while (g_atomic_int_get (&body.running))
    g_usleep (1000);
  release_default_context ();
}

/* 3: a blocking body on a dispatcher with max-threads 1 calls the lock
 * (a sync caller there): the execution runs in the body's own thread. */
typedef struct
{
  SaLock      *lock;
  SaOperation *inner;
  GThread     *outer_thread;
} Nested;

static void
inner_run (SaOperation  *op,
           GTask        *task,
           GCancellable *cancellable,
           gpointer      user_data)
{
  g_task_return_int (task, GPOINTER_TO_INT (g_thread_self ()) != 0 ? 5 : 0);
}

static void
outer_run (SaOperation  *op,
           GTask        *task,
           GCancellable *cancellable,
           gpointer      user_data)
{
  Nested *n = user_data;
  g_autoptr(GError) error = NULL;
  gssize v;

  n->outer_thread = g_thread_self ();
  g_assert_false (sa_caller_is_async ());
  v = sa_lock_call_sync_int (n->lock, "inner", n->inner, cancellable, &error);
  if (error != NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_int (task, v + 1);
}

static void
test_nested_bounded_pool (void)
{
  g_autoptr(SaDispatcher) d = sa_dispatcher_new ();
  g_autoptr(SaLock) lock = NULL;
  g_autoptr(SaOperation) inner = sa_operation_new_blocking (inner_run, NULL, NULL);
  g_autoptr(SaOperation) outer = NULL;
  Nested n = { 0 };
  Waiting w = { 0 };
  g_autoptr(GError) error = NULL;
  guint watchdog = watchdog_arm ("/lock/bug/3-nested-bounded-pool");

  sa_dispatcher_set_max_threads (d, 1);
  lock = sa_lock_new (d);
  n.lock = lock;
  n.inner = inner;
  outer = sa_operation_new_blocking (outer_run, &n, NULL);

  own_default_context ();
  g_object_unref (sa_lock_call (lock, "outer", outer, SA_CALL_MODE_AUTO, NULL, waiting_cb, &w));
  wait_all (&w, 1);
  g_assert_cmpint (sa_lock_call_finish_int (lock, w.result, &error), ==, 6);
  g_assert_no_error (error);
  g_assert_cmpuint (sa_lock_get_n_executions (lock), ==, 2);
  /* The inner execution ran directly in the outer body's cell. */
  g_assert_cmpuint (sa_dispatcher_get_n_calls (d, SA_CELL_SYNC_BLOCKING), ==, 1);
  waiting_clear (&w);
  release_default_context ();
  watchdog_disarm (watchdog);
}

/* 4: a SYNC caller on the thread that drives an async execution (whose
 * completion needs that thread's context iterated) starts its own
 * execution instead of waiting for itself: whether the thread owns that
 * context, or an explicit async call left it on a context that nobody
 * iterates while the sync caller waits. @data: whether it owns it. */
static void
test_sync_caller_on_driving_thread (gconstpointer data)
{
  gboolean owns = GPOINTER_TO_INT (data);
  g_autoptr(SaLock) lock = sa_lock_new (NULL);
  g_autoptr(SaOperation) op = test_op_fail (FALSE, NULL);
  Waiting w = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) async_error = NULL;
  guint watchdog = watchdog_arm ("/lock/bug/4-sync-caller-on-driving-thread");

  if (owns)
    own_default_context ();
  g_object_unref (sa_lock_call (lock, "k", op, owns ? SA_CALL_MODE_AUTO : SA_CALL_MODE_ASYNC,
                                NULL, waiting_cb, &w));
  g_assert_null (sa_lock_call_sync (lock, "k", op, NULL, &error));
  g_assert_error (error, TEST_ERROR, 42);
  g_assert_cmpuint (sa_lock_get_n_executions (lock), ==, 2);
  g_assert_cmpuint (sa_lock_get_n_coalesced (lock), ==, 0);
  wait_all (&w, 1);
  g_assert_null (sa_lock_call_finish (lock, w.result, &async_error));
  g_assert_error (async_error, TEST_ERROR, 42);
  waiting_clear (&w);
  if (owns)
    release_default_context ();
  watchdog_disarm (watchdog);
}

/* 8: sa_lock_reset() reaches every execution that runs, not only those
 * listed under their key: one a sync caller started beside an execution
 * it could not join (inside a blocking body on another thread, or on the
 * thread that drives the listed one), and one a timeout unlisted. The
 * steered body waits until the reset, then its gate opens: an execution
 * the reset missed would complete with its value. */
typedef enum
{
  UNLISTED_BESIDE_IN_BLOCKING_BODY,
  UNLISTED_BESIDE_ON_DRIVING_THREAD,
  UNLISTED_BY_TIMEOUT,
  N_UNLISTED
} Unlisted;

static const char * const unlisted_names[] = {
  "beside-in-blocking-body", "beside-on-driving-thread", "by-timeout",
};

typedef struct
{
  Unlisted      how;
  SaLock       *lock;
  SaOperation  *op;       /* the steered body */
  Body         *body;
  gint          done;     /* atomic: the sync caller returned */
  GError       *error;    /* the sync caller's */
  gint          value;
} Unlister;

static void
unlister_call (Unlister *u)
{
  GValue value = G_VALUE_INIT;

  if (sa_lock_call_sync_value (u->lock, "k", u->op, NULL, &value, &u->error))
    {
      u->value = g_value_get_int (&value);
      g_value_unset (&value);
    }
  g_atomic_int_set (&u->done, TRUE);
}

/* The body of a blocking operation on another thread, where a sync
 * caller does not join a blocking execution. */
static void
unlister_outer_run (SaOperation  *op,
                    GTask        *task,
                    GCancellable *cancellable,
                    gpointer      user_data)
{
  unlister_call (user_data);
  g_task_return_boolean (task, TRUE);
}

static gpointer
unlister_thread (gpointer data)
{
  Unlister *u = data;

  if (u->how == UNLISTED_BESIDE_IN_BLOCKING_BODY)
    {
      g_autoptr(SaOperation) outer = sa_operation_new_blocking (unlister_outer_run, u, NULL);

      g_assert_true (test_call_sync_bool (sa_dispatcher_get_default (), outer, NULL, NULL));
    }
  else if (u->how == UNLISTED_BY_TIMEOUT)
    {
      unlister_call (u);
    }
  else
    {
      /* The driving thread runs its own execution: the reset comes from
       * here, once both bodies run. */
      while (g_atomic_int_get (&u->body->running) < 2)
        g_usleep (1000);
      sa_lock_reset (u->lock);
      body_open (u->body);
    }

  return NULL;
}

static void
test_reset_reaches_unlisted (gconstpointer data)
{
  Unlisted how = GPOINTER_TO_UINT (data);
  g_autoptr(SaDispatcher) dispatcher = sa_dispatcher_new ();
  Body body = { .result = BODY_VALUE };
  Unlister u = { .how = how, .body = &body };
  Waiting leader = { 0 };
  g_autoptr(GError) leader_error = NULL;
  GThread *thread = NULL;
  guint watchdog = watchdog_arm ("/lock/bug/8-reset-reaches-unlisted");

  if (how == UNLISTED_BY_TIMEOUT)
    {
      sa_dispatcher_set_timeout (dispatcher, 100);
      body.ignore_cancel = TRUE;
    }
  u.lock = sa_lock_new (dispatcher);
  u.op = body_op (&body);

  switch (how)
    {
    case UNLISTED_BESIDE_IN_BLOCKING_BODY:
      /* The leader's execution runs on a worker, listed; the other
       * thread's, beside it, on that thread. */
      own_default_context ();
      g_object_unref (sa_lock_call (u.lock, "k", u.op, SA_CALL_MODE_AUTO, NULL, waiting_cb, &leader));
      thread = g_thread_new ("beside", unlister_thread, &u);
      while (g_atomic_int_get (&body.running) < 2)
        g_usleep (1000);
      g_assert_cmpuint (sa_lock_get_n_executions (u.lock), ==, 2);
      sa_lock_reset (u.lock);
      body_open (&body);
      break;

    case UNLISTED_BESIDE_ON_DRIVING_THREAD:
      /* An explicit async call leaves the leader's execution on the
       * default context, which nobody holds: this thread's sync call
       * runs one beside it, here, and the other thread resets. */
      g_object_unref (sa_lock_call (u.lock, "k", u.op, SA_CALL_MODE_ASYNC, NULL, waiting_cb, &leader));
      thread = g_thread_new ("resetter", unlister_thread, &u);
      unlister_call (&u);
      g_assert_cmpuint (sa_lock_get_n_executions (u.lock), ==, 2);
      own_default_context ();
      break;

    case UNLISTED_BY_TIMEOUT:
      /* The other thread starts and runs the execution; the leader joins
       * it, and the timeout answers the leader and unlists it. */
      own_default_context ();
      thread = g_thread_new ("starter", unlister_thread, &u);
      while (!g_atomic_int_get (&body.running))
        g_usleep (1000);
      g_object_unref (sa_lock_call (u.lock, "k", u.op, SA_CALL_MODE_AUTO, NULL, waiting_cb, &leader));
      g_assert_cmpuint (sa_lock_get_n_coalesced (u.lock), ==, 1);
      test_iterate_until (NULL, &leader.n_callbacks);
      g_assert_cmpuint (sa_lock_get_n_in_flight (u.lock), ==, 0);
      sa_lock_reset (u.lock);
      body_open (&body);
      break;

    case N_UNLISTED:
    default:
      g_assert_not_reached ();
    }

  g_thread_join (thread);
  g_assert_true (g_atomic_int_get (&u.done));
  wait_all (&leader, 1);

  /* The sync caller heard the reset, not its execution's value. */
  g_test_message ("sync caller: %s", u.error != NULL ? u.error->message : "a value");
  g_assert_error (u.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (u.value, ==, 0);
  g_assert_null (sa_lock_call_finish (u.lock, leader.result, &leader_error));
  if (how == UNLISTED_BY_TIMEOUT)
    g_assert_error (leader_error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  else
    g_assert_error (leader_error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  /* Every body saw its execution's cancellable fire. */
  while (g_atomic_int_get (&body.running))
    g_usleep (1000);
  g_assert_true (g_atomic_int_get (&body.saw_cancel));

  waiting_clear (&leader);
  g_clear_error (&u.error);
  g_object_unref (u.lock);
  g_object_unref (u.op);
  release_default_context ();
  watchdog_disarm (watchdog);
}

/* 5: typed results. A pointer reaches the one caller of its execution, and
 * SA_ERROR_NOT_SHAREABLE each of several, then is freed once. */
static void
test_pointer_result (void)
{
  Body body = { BODY_POINTER };
  g_autoptr(SaOperation) op = body_op (&body);
  g_autoptr(SaLock) lock = sa_lock_new (NULL);
  Waiting w[3] = { { 0 } };
  g_autoptr(GError) error = NULL;
  Body **got;
  guint watchdog = watchdog_arm ("/lock/bug/5-pointer-result");

  body_open (&body);
  got = sa_lock_call_sync_pointer (lock, "k", op, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (got);
  g_assert_true (*got == &body);
  pointer_free (got);
  g_assert_cmpint (body.freed, ==, 1);

  g_atomic_int_set (&body.open, FALSE);
  own_default_context ();
  for (guint i = 0; i < 3; i++)
    g_object_unref (sa_lock_call (lock, "k", op, SA_CALL_MODE_AUTO, NULL, waiting_cb, &w[i]));
  body_open (&body);
  wait_all (w, 3);
  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(GError) shared_error = NULL;

      g_assert_null (sa_lock_call_finish_pointer (lock, w[i].result, &shared_error));
      g_assert_error (shared_error, SA_ERROR, SA_ERROR_NOT_SHAREABLE);
      waiting_clear (&w[i]);
    }
  /* Freed with the operation's task, which a worker may drop last, or
   * this context on a later pass. */
  g_assert_cmpint (test_iterate_for_count (NULL, &body.freed, 2), ==, 2);
  g_assert_cmpint (body.runs, ==, 2);
  release_default_context ();
  watchdog_disarm (watchdog);
}

/* Booleans, ints and GValues are copied to every caller, async and sync. */
static void
test_typed_results_copied (void)
{
  const BodyResult kinds[] = { BODY_BOOLEAN, BODY_INT, BODY_VALUE };

  own_default_context ();
  for (guint k = 0; k < G_N_ELEMENTS (kinds); k++)
    {
      Body body = { kinds[k] };
      g_autoptr(SaOperation) op = body_op (&body);
      g_autoptr(SaLock) lock = sa_lock_new (NULL);
      Waiting w[3] = { { 0 } };
      g_autoptr(GError) error = NULL;

      for (guint i = 0; i < 3; i++)
        g_object_unref (sa_lock_call (lock, "k", op, SA_CALL_MODE_AUTO, NULL, waiting_cb, &w[i]));
      while (!g_atomic_int_get (&body.running))
        g_usleep (1000);
      body_open (&body);
      wait_all (w, 3);
      for (guint i = 0; i < 3; i++)
        {
          GValue value = G_VALUE_INIT;

          switch (kinds[k])
            {
            case BODY_BOOLEAN:
              g_assert_true (sa_lock_call_finish_boolean (lock, w[i].result, &error));
              break;
            case BODY_INT:
              g_assert_cmpint (sa_lock_call_finish_int (lock, w[i].result, &error), ==, 7);
              break;
            default:
              g_assert_true (sa_lock_call_finish_value (lock, w[i].result, &value, &error));
              g_assert_cmpint (g_value_get_int (&value), ==, 7);
              g_value_unset (&value);
              break;
            }
          g_assert_no_error (error);
          waiting_clear (&w[i]);
        }
      g_assert_cmpint (body.runs, ==, 1);

      /* The sync twins. */
      switch (kinds[k])
        {
        case BODY_BOOLEAN:
          g_assert_true (sa_lock_call_sync_boolean (lock, "k", op, NULL, &error));
          break;
        case BODY_INT:
          g_assert_cmpint (sa_lock_call_sync_int (lock, "k", op, NULL, &error), ==, 7);
          break;
        default:
          {
            GValue value = G_VALUE_INIT;

            g_assert_true (sa_lock_call_sync_value (lock, "k", op, NULL, &value, &error));
            g_assert_cmpint (g_value_get_int (&value), ==, 7);
            g_value_unset (&value);
          }
          break;
        }
      g_assert_no_error (error);

      /* The worker's body may still be on its way out after its callers
       * were answered; the next kind reuses this Body. */
      while (g_atomic_int_get (&body.running))
        g_usleep (1000);
    }
  release_default_context ();
}

/* A caller that reads in another form than the first reader gets an
 * error, not garbage. */
static void
test_mismatched_form (void)
{
  Body body = { BODY_INT };
  g_autoptr(SaOperation) op = body_op (&body);
  g_autoptr(SaLock) lock = sa_lock_new (NULL);
  Waiting w[2] = { { 0 } };
  g_autoptr(GError) error = NULL;

  own_default_context ();
  for (guint i = 0; i < 2; i++)
    g_object_unref (sa_lock_call (lock, "k", op, SA_CALL_MODE_AUTO, NULL, waiting_cb, &w[i]));
  body_open (&body);
  wait_all (w, 2);
  g_assert_cmpint (sa_lock_call_finish_int (lock, w[0].result, &error), ==, 7);
  g_assert_no_error (error);
  g_assert_false (sa_lock_call_finish_boolean (lock, w[1].result, &error));
  g_assert_error (error, SA_ERROR, SA_ERROR_FAILED);
  for (guint i = 0; i < 2; i++)
    waiting_clear (&w[i]);
  release_default_context ();
}

/* Reading the value form of a result given with g_task_return_int() is a
 * programmer error: GLib's critical, and an error, whether the call went
 * through the dispatcher or the lock. @data: whether through the lock. */
static void
test_value_of_another_form (gconstpointer data)
{
  gboolean through_lock = GPOINTER_TO_INT (data);
  Body body = { BODY_INT, .open = TRUE };
  g_autoptr(SaOperation) op = body_op (&body);
  g_autoptr(SaLock) lock = sa_lock_new (NULL);
  GValue value = G_VALUE_INIT;
  g_autoptr(GError) error = NULL;
  gboolean ok;

  g_test_expect_message ("GLib-GIO", G_LOG_LEVEL_CRITICAL, "*g_task_propagate_value*");
  if (through_lock)
    ok = sa_lock_call_sync_value (lock, "k", op, NULL, &value, &error);
  else
    ok = sa_dispatcher_call_sync_value (sa_lock_get_dispatcher (lock), op, NULL, &value, &error);
  g_test_assert_expected_messages ();
  g_assert_false (ok);
  g_assert_error (error, SA_ERROR, SA_ERROR_FAILED);
  g_assert_false (G_IS_VALUE (&value));
}

/* 6: a blocking body that returns without completing its task:
 * SA_ERROR_NO_RESULT to every caller, sync and async. */
static void
test_no_result (void)
{
  Body body = { BODY_NO_RESULT };
  g_autoptr(SaOperation) op = body_op (&body);
  g_autoptr(SaLock) lock = sa_lock_new (NULL);
  g_autoptr(GError) error = NULL;
  Waiting w[3] = { { 0 } };
  guint watchdog = watchdog_arm ("/lock/bug/6-no-result");

  body_open (&body);
  g_assert_null (sa_lock_call_sync (lock, "k", op, NULL, &error));
  g_assert_error (error, SA_ERROR, SA_ERROR_NO_RESULT);
  /* The private contexts of the call are popped again. */
  g_assert_null (g_main_context_get_thread_default ());

  own_default_context ();
  for (guint i = 0; i < 3; i++)
    g_object_unref (sa_lock_call (lock, "k", op, SA_CALL_MODE_AUTO, NULL, waiting_cb, &w[i]));
  wait_all (w, 3);
  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(GError) each = NULL;

      g_assert_false (sa_lock_call_finish_boolean (lock, w[i].result, &each));
      g_assert_error (each, SA_ERROR, SA_ERROR_NO_RESULT);
      waiting_clear (&w[i]);
    }
  release_default_context ();
  watchdog_disarm (watchdog);
}

/* 7: a sync caller's execution runs on its own thread, so an operation
 * whose start is slow stalls nobody else: another key, from another sync
 * caller, completes meanwhile. */
typedef struct
{
  gint     open;      /* atomic */
  gint     started;   /* atomic */
  GThread *thread;
  GMainContext *context;
} SlowStart;

static void
slow_start (SaOperation  *op,
            GTask        *task,
            GCancellable *cancellable,
            gpointer      user_data)
{
  SlowStart *slow = user_data;

  slow->thread = g_thread_self ();
  slow->context = g_main_context_get_thread_default ();
  g_atomic_int_set (&slow->started, TRUE);
  while (!g_atomic_int_get (&slow->open))
    g_usleep (1000);
  g_task_return_boolean (task, TRUE);
}

static gpointer
slow_caller (gpointer data)
{
  SyncJoin *sj = data;
  g_autoptr(GError) error = NULL;

  g_assert_true (sa_lock_call_sync_boolean (sj->lock, "slow", sj->op, NULL, &error));
  g_assert_no_error (error);

  return NULL;
}

static void
test_no_executor_thread (void)
{
  g_autoptr(SaLock) lock = sa_lock_new (NULL);
  SlowStart slow = { 0 };
  g_autoptr(SaOperation) slow_op = sa_operation_new_non_blocking (slow_start, &slow, NULL);
  g_autoptr(SaOperation) quick = test_op_immediate ("quick", NULL);
  g_autofree char *got = NULL;
  g_autoptr(GError) error = NULL;
  SyncJoin sj = { 0 };
  GThread *thread;
  GValue *value;

  sj.lock = lock;
  sj.op = slow_op;
  thread = g_thread_new ("slow-caller", slow_caller, &sj);
  while (!g_atomic_int_get (&slow.started))
    g_usleep (1000);

  /* The slow start is still blocked: a sync call of another key goes by. */
  value = sa_lock_call_sync (lock, "quick", quick, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_value_get_string (value), ==, "quick");
  g_boxed_free (G_TYPE_VALUE, value);
  g_assert_false (g_atomic_int_get (&slow.open));

  g_atomic_int_set (&slow.open, TRUE);
  g_thread_join (thread);
  /* It ran on its caller's thread, on that thread's private context. */
  g_assert_true (slow.thread == thread);
  g_assert_nonnull (slow.context);
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
  g_test_add_func ("/lock/bug/1-cancelled-waiters-freed", test_cancelled_waiters_freed);
  g_test_add_func ("/lock/waiters-leave-anywhere", test_waiters_leave_anywhere);
  for (guint i = 0; i < G_N_ELEMENTS (starter_leaves_rows); i++)
    {
      const StarterLeavesRow *row = &starter_leaves_rows[i];
      g_autofree char *path = g_strdup_printf ("/lock/starter-leaves/%s/%s",
                                               starter_leaves_names[row->when],
                                               joiner_does_names[row->joiner]);

      g_test_add_data_func (path, row, test_starter_leaves);
    }
  g_test_add_func ("/lock/bug/2-late-caller-after-all-cancelled", test_late_caller_after_all_cancelled);
  g_test_add_func ("/lock/bug/3-nested-bounded-pool", test_nested_bounded_pool);
  g_test_add_data_func ("/lock/bug/4-sync-caller-on-driving-thread/owned", GINT_TO_POINTER (TRUE),
                        test_sync_caller_on_driving_thread);
  g_test_add_data_func ("/lock/bug/4-sync-caller-on-driving-thread/not-iterated", GINT_TO_POINTER (FALSE),
                        test_sync_caller_on_driving_thread);
  for (guint how = 0; how < N_UNLISTED; how++)
    {
      g_autofree char *path = g_strdup_printf ("/lock/bug/8-reset-reaches-unlisted/%s", unlisted_names[how]);

      g_test_add_data_func (path, GUINT_TO_POINTER (how), test_reset_reaches_unlisted);
    }
  g_test_add_func ("/lock/bug/5-pointer-result", test_pointer_result);
  g_test_add_func ("/lock/bug/6-no-result", test_no_result);
  g_test_add_func ("/lock/bug/7-no-executor-thread", test_no_executor_thread);
  g_test_add_func ("/lock/typed/copied", test_typed_results_copied);
  g_test_add_func ("/lock/typed/mismatched-form", test_mismatched_form);
  g_test_add_data_func ("/lock/typed/value-of-another-form/dispatcher", GINT_TO_POINTER (FALSE),
                        test_value_of_another_form);
  g_test_add_data_func ("/lock/typed/value-of-another-form/lock", GINT_TO_POINTER (TRUE),
                        test_value_of_another_form);
  for (guint k = 0; k < N_WAITER_KINDS; k++)
    for (guint s = 0; s < N_SITUATIONS; s++)
      {
        g_autofree char *path = g_strdup_printf ("/lock/contract/%s/%s",
                                                 waiter_kind_names[k], situation_names[s]);

        g_test_add_data_func (path, GUINT_TO_POINTER (k * N_SITUATIONS + s), test_contract);
      }

  return g_test_run ();
}
