/* test-lock-stress.c: 10,000 waiters on one key from 4 threads
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "test-util.h"

#define N_THREADS 4
#define N_WAITERS 10000
#define PER_THREAD (N_WAITERS / N_THREADS)

typedef struct
{
  SaLock      *lock;
  SaOperation *op;
  gint         calls[N_WAITERS];   /* atomic: callbacks per waiter */
  gint         values[N_WAITERS];
  gint         issued;             /* atomic: threads done issuing */
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
stress_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Slot *slot = user_data;
  Stress *stress = slot->worker->stress;
  g_autoptr(GError) error = NULL;
  GValue *value = sa_lock_call_finish (SA_LOCK (source), result, &error);

  g_assert_no_error (error);
  stress->values[slot->index] = g_value_get_int (value);
  g_boxed_free (G_TYPE_VALUE, value);
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

  /* Each thread is an async caller on a loop of its own. */
  g_main_context_push_thread_default (context);
  for (guint i = 0; i < PER_THREAD; i++)
    {
      slots[i].worker = worker;
      slots[i].index = worker->first + i;
      g_object_unref (sa_lock_call (stress->lock, "one-key", stress->op, SA_CALL_MODE_AUTO,
                                    NULL, stress_cb, &slots[i]));
    }
  g_atomic_int_inc (&stress->issued);

  while (worker->done < PER_THREAD)
    g_main_context_iteration (context, TRUE);
  /* A second callback would show up here. */
  while (g_main_context_iteration (context, FALSE))
    ;

  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
  g_free (slots);

  return NULL;
}

static void
test_ten_thousand_waiters (void)
{
  Stress *stress = g_new0 (Stress, 1);
  Worker workers[N_THREADS];
  GThread *threads[N_THREADS];
  TestGate gate;
  gint64 start, issued, end;

  test_gate_init (&gate, 4242);
  stress->lock = sa_lock_new (NULL);
  stress->op = test_op_gated (&gate);

  start = g_get_monotonic_time ();
  for (guint t = 0; t < N_THREADS; t++)
    {
      workers[t] = (Worker) { stress, t * PER_THREAD, 0 };
      threads[t] = g_thread_new ("stress", worker_thread, &workers[t]);
    }
  while (g_atomic_int_get (&stress->issued) < N_THREADS)
    g_thread_yield ();
  issued = g_get_monotonic_time ();
  test_gate_open (&gate);
  for (guint t = 0; t < N_THREADS; t++)
    g_thread_join (threads[t]);
  end = g_get_monotonic_time ();

  g_assert_cmpint (gate.runs, ==, 1);
  g_assert_cmpuint (sa_lock_get_n_executions (stress->lock), ==, 1);
  g_assert_cmpuint (sa_lock_get_n_coalesced (stress->lock), ==, N_WAITERS - 1);
  for (guint i = 0; i < N_WAITERS; i++)
    {
      g_assert_cmpint (stress->calls[i], ==, 1);
      g_assert_cmpint (stress->values[i], ==, 4242);
    }

  g_test_message ("%d waiters on one key from %d threads: 1 execution, %d callbacks once each; "
                  "joining took %.3f ms (%.2f us per waiter), delivery %.3f ms",
                  N_WAITERS, N_THREADS, N_WAITERS,
                  (issued - start) / 1000.0, (double) (issued - start) / N_WAITERS,
                  (end - issued) / 1000.0);

  g_object_unref (stress->op);
  g_object_unref (stress->lock);
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
