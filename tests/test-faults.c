/* test-faults.c: cancellation at random points of random cells, and nested
 * blocking calls that would exhaust a bounded pool if they queued on it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "test-util.h"

typedef struct
{
  gint  value;
  guint delay_us;
} Work;

/* Operations' tasks not yet finalized: a caller answered CANCELLED at once
 * may still have its operation running, which reads its Work. */
static gint tasks_alive;

static void
task_finalized (gpointer  data,
                GObject  *where_the_object_was)
{
  g_atomic_int_add (&tasks_alive, -1);
}

static void
track_task (GTask *task)
{
  g_atomic_int_inc (&tasks_alive);
  g_object_weak_ref (G_OBJECT (task), task_finalized, NULL);
}

/* Iterates this thread's default context, up to 10 s, until *@counter is 0:
 * work still running elsewhere may hold what it counts. */
static void
wait_for_zero (const gint *counter)
{
  gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;

  while (g_atomic_int_get (counter) > 0 && g_get_monotonic_time () < deadline)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (1000);
}

/* Non-blocking: completes from a timer of 0-3 ms on the thread-default
 * context, or with CANCELLED if cancelled by then. */
static gboolean
work_timer_cb (gpointer user_data)
{
  GTask *task = user_data;
  Work *work = g_task_get_task_data (task);

  if (!g_task_return_error_if_cancelled (task))
    test_return_int (task, work->value);

  return G_SOURCE_REMOVE;
}

static void
work_start (SaOperation  *op,
            GTask        *task,
            GCancellable *cancellable,
            gpointer      user_data)
{
  GSource *timer = g_timeout_source_new (((Work *) user_data)->delay_us / 1000);

  track_task (task);
  g_task_set_task_data (task, user_data, NULL);
  g_source_set_callback (timer, work_timer_cb, g_object_ref (task), g_object_unref);
  g_source_attach (timer, g_main_context_get_thread_default ());
  g_source_unref (timer);
}

/* Blocking: works in 100 us slices, looking at the cancellable between. */
static void
work_run (SaOperation  *op,
          GTask        *task,
          GCancellable *cancellable,
          gpointer      user_data)
{
  Work *work = user_data;

  track_task (task);
  for (guint spent = 0; spent < work->delay_us; spent += 100)
    {
      if (g_task_return_error_if_cancelled (task))
        return;
      g_usleep (100);
    }
  if (!g_task_return_error_if_cancelled (task))
    test_return_int (task, work->value);
}

typedef struct
{
  gint  expected;
  gint  calls;
  gint *done;
  gint *bad;
  gint *cancelled;
} Outcome;

static void
check_value (GValue  *value,
             GError  *error,
             Outcome *o)
{
  if (value != NULL && g_value_get_int (value) == o->expected)
    ;
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    (*o->cancelled)++;
  else
    (*o->bad)++;
}

static void
outcome_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Outcome *o = user_data;
  g_autoptr(GError) error = NULL;
  GValue *value = sa_dispatcher_call_finish (SA_DISPATCHER (source), result, &error);

  if (++o->calls != 1)
    (*o->bad)++;
  check_value (value, error, o);
  if (value != NULL)
    g_boxed_free (G_TYPE_VALUE, value);
  (*o->done)++;
}

static void
lock_outcome_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Outcome *o = user_data;
  g_autoptr(GError) error = NULL;
  GValue *value = sa_lock_call_finish (SA_LOCK (source), result, &error);

  if (++o->calls != 1)
    (*o->bad)++;
  check_value (value, error, o);
  if (value != NULL)
    g_boxed_free (G_TYPE_VALUE, value);
  (*o->done)++;
}

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

/* Cancellers: a pool of threads that sleep, then cancel. */
typedef struct
{
  GCancellable *cancellable;
  guint         delay_us;
} Cancel;

static void
cancel_later_func (gpointer data,
                   gpointer pool_data)
{
  Cancel *c = data;

  g_usleep (c->delay_us);
  g_cancellable_cancel (c->cancellable);
  g_object_unref (c->cancellable);
  g_free (c);
}

static gboolean
cancel_on_loop (gpointer cancellable)
{
  g_cancellable_cancel (cancellable);
  return G_SOURCE_REMOVE;
}

static void
test_random_cancellations (void)
{
  const guint n = 10000;
  SaDispatcher *d = sa_dispatcher_get_default ();
  GThreadPool *cancellers = g_thread_pool_new (cancel_later_func, NULL, 4, FALSE, NULL);
  Outcome *outcomes = g_new0 (Outcome, n);
  Work *works = g_new0 (Work, n);
  gint done = 0, issued = 0, bad = 0, cancelled = 0;
  GRand *rand = g_rand_new_with_seed (g_test_rand_int ());
  guint per_point[4] = { 0 };
  SaLock *lock = NULL;
  gint alive = 0;          /* lock callers' tasks and cancellables, and the lock */
  guint n_lock = 0;

  /* This thread owns the default context: AUTO calls are async ones;
   * SYNC calls are made as a sync caller would. */
  g_assert_true (g_main_context_acquire (NULL));
  lock = track (sa_lock_new (d), &alive);

  for (guint i = 0; i < n; i++)
    {
      /* 0-3: the four cells; 4-7: lock callers of 8 keys, sync (4, 5) and
       * async (6, 7), of non-blocking (even) and blocking (odd) operations. */
      guint cell = g_rand_int_range (rand, 0, 8);
      guint point = g_rand_int_range (rand, 0, 4);
      g_autoptr(GCancellable) cancellable = g_cancellable_new ();
      g_autoptr(SaOperation) op = NULL;
      gboolean sync = cell % 4 < 2;
      gboolean locked = cell >= 4;
      guint key = g_rand_int_range (rand, 0, 8);

      /* A lock caller gets the value of its key's execution. */
      works[i] = (Work) { locked ? (gint) key : (gint) i, g_rand_int_range (rand, 0, 3000) };
      outcomes[i] = (Outcome) { works[i].value, 0, &done, &bad, &cancelled };
      if (locked)
        {
          track (cancellable, &alive);
          n_lock++;
        }
      op = (cell % 2 == 0) ? sa_operation_new_non_blocking (work_start, &works[i], NULL)
                           : sa_operation_new_blocking (work_run, &works[i], NULL);

      /* 0: before the call; 1: never; 2: from another thread, at a random
       * moment; 3: from the loop (async calls) or another thread. */
      if (point == 0)
        g_cancellable_cancel (cancellable);
      else if (point == 2 || (point == 3 && sync))
        {
          Cancel *c = g_new0 (Cancel, 1);

          c->cancellable = g_object_ref (cancellable);
          c->delay_us = g_rand_int_range (rand, 0, 2000);
          g_thread_pool_push (cancellers, c, NULL);
        }
      else if (point == 3)
        g_timeout_add_full (G_PRIORITY_DEFAULT, g_rand_int_range (rand, 0, 3),
                            cancel_on_loop, g_object_ref (cancellable), g_object_unref);
      per_point[point]++;

      if (locked)
        {
          char name[8];
          GTask *task;

          g_snprintf (name, sizeof name, "%u", key);
          task = sa_lock_call (lock, name, op, sync ? SA_CALL_MODE_SYNC : SA_CALL_MODE_AUTO,
                               cancellable, lock_outcome_cb, &outcomes[i]);
          track (task, &alive);
          g_object_unref (task);
          issued++;
        }
      else if (sync)
        {
          g_autoptr(GError) error = NULL;
          GValue *value = sa_dispatcher_call_sync (d, op, cancellable, &error);

          check_value (value, error, &outcomes[i]);
          if (value != NULL)
            g_boxed_free (G_TYPE_VALUE, value);
          outcomes[i].calls = 1;
          done++;
          issued++;
        }
      else
        {
          g_object_unref (sa_dispatcher_call (d, op, SA_CALL_MODE_AUTO, cancellable,
                                              outcome_cb, &outcomes[i]));
          issued++;
        }

      if (issued - done > 64)
        while (done < issued - 16)
          g_main_context_iteration (NULL, TRUE);
    }

  while (done < issued)
    g_main_context_iteration (NULL, TRUE);
  g_thread_pool_free (cancellers, FALSE, TRUE);
  /* Late timers and any second callback would show up here. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  for (guint i = 0; i < n; i++)
    g_assert_cmpint (outcomes[i].calls, ==, 1);

  g_test_message ("%u calls (%u of them lock callers), cancelled before %u / never %u / from a thread %u / "
                  "from the loop or a thread %u: %d ended CANCELLED, %d with their value, %d wrong; "
                  "%" G_GUINT64_FORMAT " lock executions",
                  n, n_lock, per_point[0], per_point[1], per_point[2], per_point[3],
                  cancelled, (gint) n - cancelled - bad, bad, sa_lock_get_n_executions (lock));
  g_assert_cmpint (bad, ==, 0);
  g_assert_cmpint (cancelled, >=, (gint) per_point[0]);

  /* Every lock caller's task and cancellable, and the lock, are freed once
   * the executions still running (forgotten ones) have returned. */
  g_object_unref (lock);
  wait_for_zero (&alive);
  g_assert_cmpint (g_atomic_int_get (&alive), ==, 0);

  /* Every operation is done with its Work before it goes. */
  wait_for_zero (&tasks_alive);
  g_assert_cmpint (g_atomic_int_get (&tasks_alive), ==, 0);

  g_main_context_release (NULL);
  g_rand_free (rand);
  g_free (outcomes);
  g_free (works);
}

/* Blocking operations on a 2-thread pool that each make a blocking call:
 * the inner call runs directly on the worker (a sync caller there), so
 * the pool cannot be exhausted by its own nested work. */
static void
inner_run (SaOperation  *op,
           GTask        *task,
           GCancellable *cancellable,
           gpointer      user_data)
{
  g_usleep (1000);
  test_return_int (task, 1);
}

static void
outer_run (SaOperation  *op,
           GTask        *task,
           GCancellable *cancellable,
           gpointer      user_data)
{
  SaDispatcher *d = user_data;
  g_autoptr(SaOperation) inner = sa_operation_new_blocking (inner_run, NULL, NULL);
  g_autoptr(GError) error = NULL;
  GValue *value = sa_dispatcher_call_sync (d, inner, cancellable, &error);

  if (value == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  test_return_int (task, g_value_get_int (value) + 1);
  g_boxed_free (G_TYPE_VALUE, value);
}

static void
count_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  GValue *value = sa_dispatcher_call_finish (SA_DISPATCHER (source), result, NULL);

  g_assert_nonnull (value);
  g_assert_cmpint (g_value_get_int (value), ==, 2);
  g_boxed_free (G_TYPE_VALUE, value);
  (*(gint *) user_data)++;
}

static void
test_nested_bounded_pool (void)
{
  g_autoptr(SaDispatcher) d = sa_dispatcher_new ();
  g_autoptr(SaOperation) outer = NULL;
  gint done = 0;
  gint64 start;

  sa_dispatcher_set_max_threads (d, 2);
  outer = sa_operation_new_blocking (outer_run, d, NULL);
  g_assert_true (g_main_context_acquire (NULL));
  start = g_get_monotonic_time ();
  for (guint i = 0; i < 30; i++)
    sa_dispatcher_call_async (d, outer, NULL, count_cb, &done);
  while (done < 30)
    g_main_context_iteration (NULL, TRUE);
  g_test_message ("30 nested blocking jobs on a 2-thread pool: %.1f ms",
                  (g_get_monotonic_time () - start) / 1000.0);
  /* 2 counts as the inner call's cell: each ran on its worker. */
  g_assert_cmpuint (sa_dispatcher_get_n_calls (d, SA_CELL_SYNC_BLOCKING), ==, 30);
  g_main_context_release (NULL);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/faults/random-cancellations", test_random_cancellations);
  g_test_add_func ("/faults/nested-blocking-bounded-pool", test_nested_bounded_pool);

  return g_test_run ();
}
