/* test-lock-stress.c: 10,000 waiters on one key from 4 threads, some of
 * them cancelled, and sync waiters beside them; nothing stays alive
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "test-util.h"

#define N_THREADS 4
#define N_WAITERS 10000
#define PER_THREAD (N_WAITERS / N_THREADS)
#define N_SYNC 4

typedef struct
{
  SaLock      *lock;
  SaOperation *op;
  gint         calls[N_WAITERS];   /* atomic: callbacks per waiter */
  gint         values[N_WAITERS];
  gint         cancelled[N_WAITERS];
  gint         issued;             /* atomic: threads done issuing */
  gint         alive;              /* atomic: tracked objects alive */
  gint         sync_values;        /* atomic: sum of the sync waiters' values */
} Stress;

typedef struct
{
  Stress *stress;
  guint   first;
  gint    done;
} Worker;

typedef struct
{
  Worker *worker;
  guint   index;
} Slot;

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

/* Every 10th waiter has a cancellable; every 20th cancels it. */
static gboolean
has_cancellable (guint index)
{
  return index % 10 == 0;
}

static gboolean
cancels (guint index)
{
  return index % 20 == 0;
}

static void
stress_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Slot *slot = user_data;
  Stress *stress = slot->worker->stress;
  g_autoptr(GError) error = NULL;
  gssize value = sa_lock_call_finish_int (SA_LOCK (source), result, &error);

  if (cancels (slot->index))
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  else
    g_assert_no_error (error);
  stress->values[slot->index] = (gint) value;
  stress->cancelled[slot->index] = error != NULL;
  g_atomic_int_inc (&stress->calls[slot->index]);
  slot->worker->done++;
}

static gpointer
worker_thread (gpointer data)
{
  Worker *worker = data;
  Stress *stress = worker->stress;
  GMainContext *context = g_main_context_new ();
  Slot *slots = g_new0 (Slot, PER_THREAD);
  GPtrArray *cancellables = g_ptr_array_new_with_free_func (g_object_unref);

  /* Each thread is an async caller on a loop of its own. */
  g_main_context_push_thread_default (context);
  for (guint i = 0; i < PER_THREAD; i++)
    {
      GCancellable *cancellable = NULL;

      slots[i].worker = worker;
      slots[i].index = worker->first + i;
      if (has_cancellable (slots[i].index))
        {
          cancellable = track (g_cancellable_new (), &stress->alive);
          g_ptr_array_add (cancellables, cancellable);
        }
      g_object_unref (track (sa_lock_call (stress->lock, "one-key", stress->op, SA_CALL_MODE_AUTO,
                                           cancellable, stress_cb, &slots[i]),
                             &stress->alive));
      if (cancels (slots[i].index))
        g_cancellable_cancel (cancellable);
    }
  g_atomic_int_inc (&stress->issued);

  while (worker->done < PER_THREAD)
    g_main_context_iteration (context, TRUE);
  /* A second callback would show up here. */
  while (g_main_context_iteration (context, FALSE))
    ;

  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
  g_ptr_array_unref (cancellables);
  g_free (slots);

  return NULL;
}

static gpointer
sync_thread (gpointer data)
{
  Stress *stress = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) cancellable = track (g_cancellable_new (), &stress->alive);
  gssize value;

  value = sa_lock_call_sync_int (stress->lock, "one-key", stress->op, cancellable, &error);
  g_assert_no_error (error);
  g_atomic_int_add (&stress->sync_values, (gint) value);
  g_atomic_int_inc (&stress->issued);

  return NULL;
}

static void
gated_int_run (SaOperation  *op,
               GTask        *task,
               GCancellable *cancellable,
               gpointer      user_data)
{
  TestGate *gate = user_data;

  g_atomic_int_inc (&gate->runs);
  g_mutex_lock (&gate->lock);
  while (!gate->open)
    g_cond_wait (&gate->cond, &gate->lock);
  g_mutex_unlock (&gate->lock);
  g_task_return_int (task, gate->value);
}

static void
test_ten_thousand_waiters (void)
{
  Stress *stress = g_new0 (Stress, 1);
  Worker workers[N_THREADS];
  GThread *threads[N_THREADS + N_SYNC];
  TestGate gate;
  gint64 start, issued, end, deadline;
  guint n_cancelled = 0;

  test_gate_init (&gate, 4242);
  stress->lock = track (sa_lock_new (NULL), &stress->alive);
  stress->op = sa_operation_new_blocking (gated_int_run, &gate, NULL);

  /* A sync caller starts the execution and runs it on its thread. */
  threads[N_THREADS] = g_thread_new ("sync-stress", sync_thread, stress);
  while (g_atomic_int_get (&gate.runs) < 1)
    g_thread_yield ();

  start = g_get_monotonic_time ();
  for (guint t = 0; t < N_THREADS; t++)
    {
      workers[t] = (Worker) { stress, t * PER_THREAD, 0 };
      threads[t] = g_thread_new ("stress", worker_thread, &workers[t]);
    }
  for (guint t = 1; t < N_SYNC; t++)
    threads[N_THREADS + t] = g_thread_new ("sync-stress", sync_thread, stress);
  while (g_atomic_int_get (&stress->issued) < N_THREADS ||
         sa_lock_get_n_coalesced (stress->lock) < N_WAITERS + N_SYNC - 1)
    g_thread_yield ();
  issued = g_get_monotonic_time ();
  test_gate_open (&gate);
  for (guint t = 0; t < N_THREADS + N_SYNC; t++)
    g_thread_join (threads[t]);
  end = g_get_monotonic_time ();

  g_assert_cmpint (gate.runs, ==, 1);
  g_assert_cmpuint (sa_lock_get_n_executions (stress->lock), ==, 1);
  g_assert_cmpuint (sa_lock_get_n_coalesced (stress->lock), ==, N_WAITERS + N_SYNC - 1);
  g_assert_cmpint (stress->sync_values, ==, N_SYNC * 4242);
  for (guint i = 0; i < N_WAITERS; i++)
    {
      g_assert_cmpint (stress->calls[i], ==, 1);
      if (!cancels (i))
        g_assert_cmpint (stress->values[i], ==, 4242);
      n_cancelled += stress->cancelled[i];
    }
  g_assert_cmpuint (n_cancelled, ==, N_WAITERS / 20);

  g_test_message ("%d waiters on one key from %d threads and %d sync waiters, %u cancelled: "
                  "1 execution, every callback once; joining took %.3f ms (%.2f us per waiter), "
                  "delivery %.3f ms",
                  N_WAITERS, N_THREADS, N_SYNC, n_cancelled,
                  (issued - start) / 1000.0, (double) (issued - start) / N_WAITERS,
                  (end - issued) / 1000.0);

  /* Every task, cancellable and the lock are gone. */
  g_object_unref (stress->op);
  g_object_unref (stress->lock);
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (g_atomic_int_get (&stress->alive) > 0 && g_get_monotonic_time () < deadline)
    g_usleep (1000);
  g_assert_cmpint (g_atomic_int_get (&stress->alive), ==, 0);
  test_gate_clear (&gate);
  g_free (stress);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/lock/stress/ten-thousand-waiters", test_ten_thousand_waiters);

  return g_test_run ();
}
