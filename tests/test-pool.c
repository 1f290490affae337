/* test-pool.c: the thread pool that runs blocking operations
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#define _GNU_SOURCE
#include "config.h"

#include "sa-pool-private.h"
#include "sa-spin-private.h"

#ifdef HAVE_SCHED_GETCPU
# include <sched.h>
#endif

/* A gate that jobs wait at, with a count of the jobs inside it. */
typedef struct
{
  GMutex   lock;
  GCond    cond;
  gboolean open;
  guint    inside;              /* jobs that entered and did not leave */
  guint    most_inside;         /* the most jobs inside at once */
  guint    entered;
} Gate;

static Gate gate;

static void
gate_reset (void)
{
  g_mutex_lock (&gate.lock);
  gate.open = FALSE;
  gate.inside = gate.most_inside = gate.entered = 0;
  g_mutex_unlock (&gate.lock);
}

static void
gate_pass (void)
{
  g_mutex_lock (&gate.lock);
  gate.inside++;
  gate.entered++;
  gate.most_inside = MAX (gate.most_inside, gate.inside);
  g_cond_broadcast (&gate.cond);
  while (!gate.open)
    g_cond_wait (&gate.cond, &gate.lock);
  gate.inside--;
  g_mutex_unlock (&gate.lock);
}

static void
gate_wait_inside (guint n)
{
  g_mutex_lock (&gate.lock);
  while (gate.inside < n)
    g_cond_wait (&gate.cond, &gate.lock);
  g_mutex_unlock (&gate.lock);
}

static void
gate_open (void)
{
  g_mutex_lock (&gate.lock);
  gate.open = TRUE;
  g_cond_broadcast (&gate.cond);
  g_mutex_unlock (&gate.lock);
}

static void
gated_func (GTask        *task,
            gpointer      source_object,
            gpointer      task_data,
            GCancellable *cancellable)
{
  gate_pass ();
  g_task_return_int (task, GPOINTER_TO_INT (task_data));
}

typedef struct
{
  guint  done;
  gssize sum;
  GThread *main_thread;
} Results;

static void
result_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Results *results = user_data;
  g_autoptr(GError) error = NULL;
  gssize value = g_task_propagate_int (G_TASK (result), &error);

  g_assert_no_error (error);
  g_assert_true (g_thread_self () == results->main_thread);
  results->sum += value;
  results->done++;
}

static void
push_value (SaPool          *pool,
            GTaskThreadFunc  func,
            gint             value,
            Results         *results)
{
  GTask *task = g_task_new (NULL, NULL, result_cb, results);

  g_task_set_task_data (task, GINT_TO_POINTER (value), NULL);
  _sa_pool_push (pool, task, func);
}

static void
wait_results (Results *results,
              guint    n)
{
  while (results->done < n)
    g_main_context_iteration (NULL, TRUE);
}

/* Waits for a count that threads change, without any bound on the time:
 * the test's own timeout is the bound. */
static void
wait_for_threads (SaPool *pool,
                  guint   n)
{
  while ((pool != NULL ? _sa_pool_get_n_threads (pool) : _sa_pool_count_all_threads ()) != n)
    g_usleep (1000);
}

/* A push while a job runs starts another thread at once: nothing that a
 * running job says or does holds back a queued job while a thread is free
 * to run it. */
static void
test_no_stall (void)
{
  SaPool *pool = _sa_pool_new (0);
  Results results = { 0, 0, g_thread_self () };

  gate_reset ();
  push_value (pool, gated_func, 1, &results);
  gate_wait_inside (1);
  push_value (pool, gated_func, 2, &results);
  gate_wait_inside (2);
  gate_open ();
  wait_results (&results, 2);
  g_assert_cmpint (results.sum, ==, 3);
  _sa_pool_free (pool);
  wait_for_threads (NULL, 0);
}

/* The order the jobs ran in, by their values. */
static GMutex  order_lock;
static GString *order;

static void
ordered_func (GTask        *task,
              gpointer      source_object,
              gpointer      task_data,
              GCancellable *cancellable)
{
  g_mutex_lock (&order_lock);
  g_string_append_c (order, (char) GPOINTER_TO_INT (task_data));
  g_mutex_unlock (&order_lock);
  g_task_return_int (task, 0);
}

static void
push_ordered (SaPool  *pool,
              char     name,
              int      priority,
              Results *results)
{
  GTask *task = g_task_new (NULL, NULL, result_cb, results);

  g_task_set_task_data (task, GINT_TO_POINTER (name), NULL);
  g_task_set_priority (task, priority);
  _sa_pool_push (pool, task, ordered_func);
}

/* Queued jobs start by priority, first in first out within one, over
 * more than one chunk of the queue. */
static void
test_priority (void)
{
  SaPool *pool = _sa_pool_new (1);
  Results results = { 0, 0, g_thread_self () };
  g_autoptr(GString) expected = g_string_new ("g");

  order = g_string_new (NULL);
  gate_reset ();
  push_value (pool, gated_func, 0, &results);
  gate_wait_inside (1);
  push_ordered (pool, 'd', G_PRIORITY_DEFAULT, &results);
  push_ordered (pool, 'l', G_PRIORITY_LOW, &results);
  push_ordered (pool, 'h', G_PRIORITY_HIGH, &results);
  for (guint i = 0; i < 300; i++)
    push_ordered (pool, (char) ('A' + i % 26), G_PRIORITY_DEFAULT_IDLE, &results);
  push_ordered (pool, 'e', G_PRIORITY_DEFAULT, &results);
  push_ordered (pool, 'i', G_PRIORITY_HIGH, &results);

  g_mutex_lock (&order_lock);
  g_string_append_c (order, 'g');
  g_mutex_unlock (&order_lock);
  gate_open ();
  wait_results (&results, 306);

  g_string_append (expected, "hide");
  for (guint i = 0; i < 300; i++)
    g_string_append_c (expected, (char) ('A' + i % 26));
  g_string_append_c (expected, 'l');
  g_assert_cmpstr (order->str, ==, expected->str);

  g_string_free (g_steal_pointer (&order), TRUE);
  _sa_pool_free (pool);
  wait_for_threads (NULL, 0);
}

static void
test_bound (void)
{
  SaPool *pool = _sa_pool_new (3);
  Results results = { 0, 0, g_thread_self () };
  gssize expected = 0;

  gate_reset ();
  for (gint i = 1; i <= 12; i++)
    {
      push_value (pool, gated_func, i, &results);
      expected += i;
    }

  /* Three run, held at the gate; the fourth was not started, nor a thread
   * for it. */
  gate_wait_inside (3);
  g_assert_cmpuint (_sa_pool_get_n_threads (pool), ==, 3);

  /* Two more may run. */
  _sa_pool_set_max_threads (pool, 5);
  g_assert_cmpuint (_sa_pool_get_max_threads (pool), ==, 5);
  gate_wait_inside (5);
  g_assert_cmpuint (_sa_pool_get_n_threads (pool), ==, 5);

  gate_open ();
  wait_results (&results, 12);
  g_assert_cmpint (results.sum, ==, expected);
  g_assert_cmpuint (gate.most_inside, ==, 5);
  g_assert_cmpuint (gate.entered, ==, 12);

  _sa_pool_free (pool);
  wait_for_threads (NULL, 0);
}

static void
test_elastic (void)
{
  SaPool *pool = _sa_pool_new (0);
  guint base = MAX (10, 2 * g_get_num_processors ());
  Results results = { 0, 0, g_thread_self () };

  gate_reset ();
  for (guint i = 0; i < base + 2; i++)
    push_value (pool, gated_func, 1, &results);
  gate_wait_inside (base);
  g_assert_cmpuint (_sa_pool_get_n_threads (pool), ==, base);
  g_assert_cmpuint (_sa_pool_get_max_threads (pool), ==, 0);

  gate_open ();
  wait_results (&results, base + 2);
  g_assert_cmpint (results.sum, ==, base + 2);
  g_assert_cmpuint (gate.most_inside, ==, base);

  _sa_pool_free (pool);
  wait_for_threads (NULL, 0);
}

/* Nested work: each job pushes the next into the same pool of one thread
 * and waits for it, inside _sa_pool_begin_wait(); without it, the first
 * job would hold the only thread and wait for ever. */
typedef struct
{
  SaPool  *pool;
  guint    depth;
  GMutex   lock;
  GCond    cond;
  guint    finished;            /* jobs finished, innermost first */
  guint    order[8];
} Nest;

static void
nested_func (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  Nest *nest = task_data;
  gboolean was_pool_thread;
  guint level;

  g_mutex_lock (&nest->lock);
  level = nest->depth--;
  g_mutex_unlock (&nest->lock);

  if (level > 1)
    {
      GTask *inner = g_task_new (NULL, NULL, NULL, NULL);
      guint finished_before = level - 1;

      g_task_set_task_data (inner, nest, NULL);
      _sa_pool_push (nest->pool, inner, nested_func);

      was_pool_thread = _sa_pool_begin_wait ();
      g_assert_true (was_pool_thread);
      /* A wait inside a wait counts once. */
      g_assert_true (_sa_pool_begin_wait ());
      _sa_pool_end_wait (TRUE);

      g_mutex_lock (&nest->lock);
      while (nest->finished < finished_before)
        g_cond_wait (&nest->cond, &nest->lock);
      g_mutex_unlock (&nest->lock);
      _sa_pool_end_wait (was_pool_thread);
    }

  g_mutex_lock (&nest->lock);
  nest->order[nest->finished++] = level;
  g_cond_broadcast (&nest->cond);
  g_mutex_unlock (&nest->lock);

  g_task_return_boolean (task, TRUE);
}

static void
done_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_assert_true (g_task_propagate_boolean (G_TASK (result), NULL));
  *(gboolean *) user_data = TRUE;
}

static void
test_nested_wait (void)
{
  Nest nest = { _sa_pool_new (1), 5 };
  gboolean done = FALSE;
  GTask *task = g_task_new (NULL, NULL, done_cb, &done);

  g_mutex_init (&nest.lock);
  g_cond_init (&nest.cond);

  /* Not a pool thread: nothing to do. */
  g_assert_false (_sa_pool_begin_wait ());
  _sa_pool_end_wait (FALSE);

  g_task_set_task_data (task, &nest, NULL);
  _sa_pool_push (nest.pool, task, nested_func);
  while (!done)
    g_main_context_iteration (NULL, TRUE);

  g_assert_cmpuint (nest.finished, ==, 5);
  for (guint i = 0; i < 5; i++)
    g_assert_cmpuint (nest.order[i], ==, i + 1);

  _sa_pool_free (nest.pool);
  wait_for_threads (NULL, 0);
  g_mutex_clear (&nest.lock);
  g_cond_clear (&nest.cond);
}

/* The pool's owner reference is dropped by one of its own jobs: the jobs
 * queued behind it still run, and every thread then exits. */
static void
free_func (GTask        *task,
           gpointer      source_object,
           gpointer      task_data,
           GCancellable *cancellable)
{
  gate_pass ();
  _sa_pool_free (task_data);
  g_task_return_int (task, 100);
}

static void
value_func (GTask        *task,
            gpointer      source_object,
            gpointer      task_data,
            GCancellable *cancellable)
{
  g_task_return_int (task, GPOINTER_TO_INT (task_data));
}

static void
test_free_from_pool_thread (void)
{
  SaPool *pool = _sa_pool_new (2);
  Results results = { 0, 0, g_thread_self () };
  GTask *task = g_task_new (NULL, NULL, result_cb, &results);

  gate_reset ();
  g_task_set_task_data (task, pool, NULL);
  _sa_pool_push (pool, task, free_func);
  for (gint i = 0; i < 50; i++)
    push_value (pool, value_func, 1, &results);
  gate_open ();

  wait_results (&results, 51);
  g_assert_cmpint (results.sum, ==, 150);
  wait_for_threads (NULL, 0);
}

static void
test_idle_expiry (void)
{
  SaPool *pool = _sa_pool_new (3);
  Results results = { 0, 0, g_thread_self () };

  _sa_pool_set_idle_time (pool, 20);
  gate_reset ();
  for (gint i = 0; i < 3; i++)
    push_value (pool, gated_func, 1, &results);
  gate_wait_inside (3);
  g_assert_cmpuint (_sa_pool_get_n_threads (pool), ==, 3);
  gate_open ();
  wait_results (&results, 3);

  /* Idle, every thread exits; work starts threads again. */
  wait_for_threads (pool, 0);
  push_value (pool, value_func, 7, &results);
  wait_results (&results, 4);
  g_assert_cmpint (results.sum, ==, 10);

  _sa_pool_free (pool);
  wait_for_threads (NULL, 0);
}

/* Many pushers at once, each result delivered once on the main thread. */
typedef struct
{
  SaPool *pool;
  GTask  *tasks[2000];
} Pusher;

static gpointer
pusher_main (gpointer data)
{
  Pusher *pusher = data;

  for (guint i = 0; i < G_N_ELEMENTS (pusher->tasks); i++)
    _sa_pool_push (pusher->pool, pusher->tasks[i], value_func);

  return NULL;
}

static void
test_many_pushers (void)
{
  SaPool *pool = _sa_pool_new (4);
  Results results = { 0, 0, g_thread_self () };
  Pusher pushers[4];
  GThread *threads[4];

  /* The tasks are made here, so that their callbacks run here. */
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    {
      pushers[i].pool = pool;
      for (guint k = 0; k < G_N_ELEMENTS (pushers[i].tasks); k++)
        {
          pushers[i].tasks[k] = g_task_new (NULL, NULL, result_cb, &results);
          g_task_set_task_data (pushers[i].tasks[k], GINT_TO_POINTER (1), NULL);
        }
    }
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("pusher", pusher_main, &pushers[i]);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);

  wait_results (&results, 8000);
  g_assert_cmpint (results.sum, ==, 8000);
  g_assert_cmpuint (_sa_pool_get_n_threads (pool), <=, 4);

  _sa_pool_free (pool);
  wait_for_threads (NULL, 0);
}

/* The back-off of spins in vain: after the first, one chance is passed,
 * then 2, 4, ... 64, and a spin that catches what it waits for ends it. */
static void
test_spin_backoff (void)
{
  SaSpinBackoff backoff = { 0, 0 };
  const guint expected[] = { 0, 2, 5, 10, 19, 36, 69, 134, 199 };
  guint n_allowed = 0;

  for (guint chance = 0; chance < 200; chance++)
    if (_sa_spin_backoff_allows (&backoff))
      {
        g_assert_cmpuint (n_allowed, <, G_N_ELEMENTS (expected));
        g_assert_cmpuint (chance, ==, expected[n_allowed]);
        n_allowed++;
        _sa_spin_backoff_record (&backoff, FALSE);
      }
  g_assert_cmpuint (n_allowed, ==, G_N_ELEMENTS (expected));

  /* A spin that catches starts the count again. */
  while (!_sa_spin_backoff_allows (&backoff))
    ;
  _sa_spin_backoff_record (&backoff, TRUE);
  g_assert_true (_sa_spin_backoff_allows (&backoff));
  _sa_spin_backoff_record (&backoff, FALSE);
  g_assert_false (_sa_spin_backoff_allows (&backoff));
  g_assert_true (_sa_spin_backoff_allows (&backoff));
}

#ifdef HAVE_SCHED_GETCPU
static void
pin_to (guint cpu)
{
  cpu_set_t set;

  CPU_ZERO (&set);
  CPU_SET (cpu, &set);
  g_assert_cmpint (sched_setaffinity (0, sizeof set, &set), ==, 0);
}

/* Runs on processor 1 and says that its caller waits for it. */
static void
caller_idle_func (GTask        *task,
                  gpointer      source_object,
                  gpointer      task_data,
                  GCancellable *cancellable)
{
  pin_to (1);
  _sa_pool_job_caller_idle ();
  g_task_return_int (task, GPOINTER_TO_INT (task_data));
}
#endif

/* A thread whose job's caller was idle spins for the next push; when the
 * caller is slow to push again, it spins less and less. The caller runs on
 * processor 0 and the pool thread on processor 1, where a spin is allowed. */
static void
test_spin (void)
{
#ifdef HAVE_SCHED_GETCPU
  g_autoptr(GThread) thread = NULL;
  cpu_set_t saved;
  SaPool *pool;
  Results results = { 0, 0, g_thread_self () };
  guint spins;

  if (g_get_num_processors () < 2)
    {
      g_test_skip ("needs two processors");
      return;
    }
  g_assert_cmpint (sched_getaffinity (0, sizeof saved, &saved), ==, 0);
  pin_to (0);
  pool = _sa_pool_new (1);
  _sa_pool_set_busy_wait (pool, TRUE);

  /* Pushed as soon as each answer comes: no thread but the first. */
  for (guint i = 0; i < 50; i++)
    {
      push_value (pool, caller_idle_func, 1, &results);
      wait_results (&results, i + 1);
    }
  g_assert_cmpuint (_sa_pool_get_n_threads (pool), ==, 1);
  spins = _sa_pool_get_n_spins (pool);
  g_assert_cmpuint (spins, >, 0);

  /* Pushed 5 ms after each answer: every spin is in vain, and the thread
   * spins at only 6 of the next 50 chances (see test_spin_backoff). */
  for (guint i = 0; i < 50; i++)
    {
      push_value (pool, caller_idle_func, 1, &results);
      wait_results (&results, 51 + i);
      g_usleep (5000);
    }
  g_assert_cmpint (results.sum, ==, 100);
  g_assert_cmpuint (_sa_pool_get_n_spins (pool) - spins, <=, 6);

  _sa_pool_free (pool);
  wait_for_threads (NULL, 0);
  g_assert_cmpint (sched_setaffinity (0, sizeof saved, &saved), ==, 0);
#else
  g_test_skip ("sched_getcpu() is not available: a pool thread never spins");
#endif
}

/* By default no thread spins, whatever its jobs say of their callers. */
static void
test_no_spin_by_default (void)
{
#ifdef HAVE_SCHED_GETCPU
  cpu_set_t saved;
  SaPool *pool;
  Results results = { 0, 0, g_thread_self () };

  if (g_get_num_processors () < 2)
    {
      g_test_skip ("needs two processors");
      return;
    }
  g_assert_cmpint (sched_getaffinity (0, sizeof saved, &saved), ==, 0);
  pin_to (0);
  pool = _sa_pool_new (1);
  for (guint i = 0; i < 50; i++)
    {
      push_value (pool, caller_idle_func, 1, &results);
      wait_results (&results, i + 1);
    }
  g_assert_cmpuint (_sa_pool_get_n_spins (pool), ==, 0);
  _sa_pool_free (pool);
  wait_for_threads (NULL, 0);
  g_assert_cmpint (sched_setaffinity (0, sizeof saved, &saved), ==, 0);
#else
  g_test_skip ("sched_getcpu() is not available: a pool thread never spins");
#endif
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/pool/bound", test_bound);
  g_test_add_func ("/pool/no-stall", test_no_stall);
  g_test_add_func ("/pool/priority", test_priority);
  g_test_add_func ("/pool/elastic", test_elastic);
  g_test_add_func ("/pool/nested-wait", test_nested_wait);
  g_test_add_func ("/pool/free-from-pool-thread", test_free_from_pool_thread);
  g_test_add_func ("/pool/idle-expiry", test_idle_expiry);
  g_test_add_func ("/pool/many-pushers", test_many_pushers);
  g_test_add_func ("/pool/spin-backoff", test_spin_backoff);
  g_test_add_func ("/pool/spin", test_spin);
  g_test_add_func ("/pool/no-spin-by-default", test_no_spin_by_default);

  return g_test_run ();
}
