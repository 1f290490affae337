/* bench.c: smartasync beside the raw GLib patterns it replaces, in one run
 *
 * Every case is timed in rounds; the rounds of the cases that are compared
 * are interleaved (A B C A B C ...), so that drift of a shared, noisy
 * machine hits them alike. Each line of the table is the median of the
 * rounds, with their min and max. The baselines are written out plainly
 * below, next to the library call they stand beside.
 *
 * Output: a table, then one line per figure and ratio:
 *   figure <name> <value> <unit>
 *   ratio <name> <value>
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <smartasync.h>

#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <unistd.h>
#include <malloc.h>
#include <sys/resource.h>

#include "sa-pool-private.h"

#ifdef SA_BENCH_LIBDEX
#include <libdex.h>
#endif

static guint rounds = 15;
static double scale = 1.0;   /* --quick and --tiny shrink the work */
static guint only;           /* --only N,M: a mask of the cases to run; 0 runs all */

static gboolean
want (guint c)
{
  return only == 0 || (only & (1u << c)) != 0;
}

/* --- statistics --------------------------------------------------------- */

typedef struct
{
  const char *name;
  const char *unit;
  double      values[1024];
  guint       n;
} Series;

static int
cmp_double (const void *a,
            const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

static double
median (const Series *s)
{
  double sorted[G_N_ELEMENTS (s->values)];

  if (s->n == 0)
    return NAN;   /* a case that --only left out */
  memcpy (sorted, s->values, s->n * sizeof (double));
  qsort (sorted, s->n, sizeof (double), cmp_double);

  return s->n % 2 ? sorted[s->n / 2] : (sorted[s->n / 2 - 1] + sorted[s->n / 2]) / 2;
}

static double
min_of (const Series *s)
{
  double m = s->values[0];

  for (guint i = 1; i < s->n; i++)
    m = MIN (m, s->values[i]);
  return m;
}

static double
max_of (const Series *s)
{
  double m = s->values[0];

  for (guint i = 1; i < s->n; i++)
    m = MAX (m, s->values[i]);
  return m;
}

static void
report (const Series *s)
{
  g_print ("| %-52s | %12.3f | %12.3f | %12.3f | %-6s |\n",
           s->name, median (s), min_of (s), max_of (s), s->unit);
}

static void
figure (const Series *s)
{
  g_print ("figure %s %.4f %s\n", s->name, median (s), s->unit);
}

static void
add (Series *s,
     double  value)
{
  g_assert_cmpuint (s->n, <, G_N_ELEMENTS (s->values));
  s->values[s->n++] = value;
}

/* Cases compared with each other run in short slices, one slice of each
 * in turn, the order reversed every other slice; every slice is a repeat
 * of its case. A slice lasts a few milliseconds, shorter than most of the
 * drift of a shared machine, so the compared cases see the same drift, and
 * the medians of many slices stand still from run to run where the means
 * of a few long runs moved by 10%. */
#define N_SLICES 20

static void
ratio (const char *name,
       double      value)
{
  g_print ("ratio %s %.3f\n", name, value);
}

static guint
n_of (guint n)
{
  return MAX (1, (guint) (n * scale));
}

/* Heap bytes in use (glibc's allocator statistics): exact to the byte,
 * where RSS moves in pages and lags behind. Threads' arenas included. */
static long
rss_bytes (void)
{
  struct mallinfo2 info = mallinfo2 ();

  return (long) (info.uordblks + info.hblkhd);
}

/* The heap in use with every call of a case in flight, read in the middle
 * of the timed part of the case. mallinfo2() walks every arena's free
 * lists, which after a burst hold hundreds of thousands of chunks: it can
 * take milliseconds, and that time is the bench's, not the case's, so the
 * case's start time @t0 is moved on by as much. */
static long
heap_in_flight (gint64 *t0)
{
  gint64 start = g_get_monotonic_time ();
  long bytes = rss_bytes ();

  *t0 += g_get_monotonic_time () - start;

  return bytes;
}

/* The processor time of every thread of the process so far, user and
 * system: what spinning costs beside the time it saves. */
static double
process_cpu_us (void)
{
  struct rusage usage;

  getrusage (RUSAGE_SELF, &usage);
  return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e6 +
         usage.ru_utime.tv_usec + usage.ru_stime.tv_usec;
}

/* Runs what the calls of a case left on the loop's context after their
 * callbacks, such as the release of their tasks, so that it counts in the
 * case's time and instructions: each case is measured up to the same
 * point, its work all done. */
static void
settle (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

/* Hands the heap's free memory back, then waits until no thread of the
 * process has run for a while (at most a second): what a case left behind,
 * freed memory or work for other threads, is not the next case's to pay
 * for. */
static void
quiesce (void)
{
  gint64 deadline = g_get_monotonic_time () + G_USEC_PER_SEC;

  malloc_trim (0);
  for (;;)
    {
      double cpu0 = process_cpu_us ();

      g_usleep (5000);
      if (process_cpu_us () - cpu0 < 500 || g_get_monotonic_time () > deadline)
        return;
    }
}

/* --- operations -------------------------------------------------------- */

static void
immediate_start (SaOperation  *op,
                 GTask        *task,
                 GCancellable *cancellable,
                 gpointer      user_data)
{
  g_task_return_boolean (task, TRUE);
}

static void
immediate_value (SaOperation  *op,
                 GTask        *task,
                 GCancellable *cancellable,
                 gpointer      user_data)
{
  GValue value = G_VALUE_INIT;

  g_value_init (&value, G_TYPE_INT);
  g_value_set_int (&value, 42);
  g_task_return_value (task, &value);
}

static void
count_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  (*(guint *) user_data)++;
}

static void
raw_thread_func (GTask        *task,
                 gpointer      source_object,
                 gpointer      task_data,
                 GCancellable *cancellable)
{
  g_task_return_boolean (task, TRUE);
}

/* --- 1. detection ------------------------------------------------------ */

static double
time_detect_sa (guint n)
{
  gint64 t0 = g_get_monotonic_time ();
  guint async = 0;

  for (guint i = 0; i < n; i++)
    async += sa_caller_is_async ();
  g_assert_cmpuint (async, ==, 0);

  return (g_get_monotonic_time () - t0) * 1000.0 / n;   /* ns */
}

static double
time_detect_raw (guint n)
{
  gint64 t0 = g_get_monotonic_time ();
  guint owner = 0;

  /* Baseline: the bare GLib question. */
  for (guint i = 0; i < n; i++)
    {
      GMainContext *ctx = g_main_context_get_thread_default ();
      owner += g_main_context_is_owner (ctx ? ctx : g_main_context_default ());
    }
  g_assert_cmpuint (owner, ==, 0);

  return (g_get_monotonic_time () - t0) * 1000.0 / n;
}

/* --- 2. sync caller, non-blocking op ----------------------------------- */

static double
time_sync_sa (guint n)
{
  g_autoptr(SaOperation) op = sa_operation_new_non_blocking (immediate_start, NULL, NULL);
  SaDispatcher *d = sa_dispatcher_get_default ();
  gint64 t0 = g_get_monotonic_time ();

  for (guint i = 0; i < n; i++)
    {
      GTask *task = sa_dispatcher_call (d, op, SA_CALL_MODE_AUTO, NULL, NULL, NULL);
      g_object_unref (task);
    }

  return (double) (g_get_monotonic_time () - t0) / n;   /* us */
}

static double
time_sync_raw_reused (guint n)
{
  static GMainContext *ctx;
  gint64 t0;

  if (ctx == NULL)
    ctx = g_main_context_new ();

  t0 = g_get_monotonic_time ();
  /* Baseline: one private context kept for the thread, pushed, iterated
   * until the task's callback has run, popped. */
  for (guint i = 0; i < n; i++)
    {
      guint done = 0;
      GTask *task;

      g_main_context_push_thread_default (ctx);
      task = g_task_new (NULL, NULL, count_cb, &done);
      g_task_return_boolean (task, TRUE);
      while (!done)
        g_main_context_iteration (ctx, TRUE);
      g_main_context_pop_thread_default (ctx);
      g_object_unref (task);
    }

  return (double) (g_get_monotonic_time () - t0) / n;
}

static gboolean
return_in_dispatch (gpointer task)
{
  g_task_return_boolean (task, TRUE);

  return G_SOURCE_REMOVE;
}

static double
time_sync_raw_dispatched (guint n)
{
  static GMainContext *ctx;
  gint64 t0;

  if (ctx == NULL)
    ctx = g_main_context_new ();

  t0 = g_get_monotonic_time ();
  /* Baseline, the fair one: the same reused context, and the task returned
   * from a dispatch of that context, so that GTask calls back at once
   * rather than from one more idle source; by hand, what the library does
   * on its private context. */
  for (guint i = 0; i < n; i++)
    {
      guint done = 0;
      GTask *task;
      GSource *source;

      g_main_context_push_thread_default (ctx);
      task = g_task_new (NULL, NULL, count_cb, &done);
      source = g_idle_source_new ();
      g_source_set_callback (source, return_in_dispatch, task, NULL);
      g_source_attach (source, ctx);
      g_source_unref (source);
      while (!done)
        g_main_context_iteration (ctx, TRUE);
      g_main_context_pop_thread_default (ctx);
      g_object_unref (task);
    }

  return (double) (g_get_monotonic_time () - t0) / n;
}

static double
time_sync_raw_new_context (guint n)
{
  gint64 t0 = g_get_monotonic_time ();

  /* Baseline: a new context per call, GIO's own private pattern. */
  for (guint i = 0; i < n; i++)
    {
      GMainContext *ctx = g_main_context_new ();
      guint done = 0;
      GTask *task;

      g_main_context_push_thread_default (ctx);
      task = g_task_new (NULL, NULL, count_cb, &done);
      g_task_return_boolean (task, TRUE);
      while (!done)
        g_main_context_iteration (ctx, TRUE);
      g_main_context_pop_thread_default (ctx);
      g_object_unref (task);
      g_main_context_unref (ctx);
    }

  return (double) (g_get_monotonic_time () - t0) / n;
}

static void
quit_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      loop)
{
  g_main_loop_quit (loop);
}

static double
time_sync_raw_main_loop (guint n)
{
  gint64 t0 = g_get_monotonic_time ();

  /* Baseline: a GMainLoop on a new context, the shape of GDBus's sync
   * calls. */
  for (guint i = 0; i < n; i++)
    {
      GMainContext *ctx = g_main_context_new ();
      GMainLoop *loop = g_main_loop_new (ctx, FALSE);
      GTask *task;

      g_main_context_push_thread_default (ctx);
      task = g_task_new (NULL, NULL, quit_cb, loop);
      g_task_return_boolean (task, TRUE);
      g_main_loop_run (loop);
      g_main_context_pop_thread_default (ctx);
      g_object_unref (task);
      g_main_loop_unref (loop);
      g_main_context_unref (ctx);
    }

  return (double) (g_get_monotonic_time () - t0) / n;
}

/* --- 3. async caller, non-blocking op ---------------------------------- */

static double
time_async_nb_sa (guint n)
{
  g_autoptr(SaOperation) op = sa_operation_new_non_blocking (immediate_start, NULL, NULL);
  SaDispatcher *d = sa_dispatcher_get_default ();
  guint done = 0;
  gint64 t0 = g_get_monotonic_time ();

  /* The thread owns the default context: an async caller. */
  for (guint i = 0; i < n; i++)
    g_object_unref (sa_dispatcher_call (d, op, SA_CALL_MODE_AUTO, NULL, count_cb, &done));
  while (done < n)
    g_main_context_iteration (NULL, TRUE);
  settle ();

  return (double) (g_get_monotonic_time () - t0) / n;
}

static double
time_async_nb_raw (guint n)
{
  guint done = 0;
  gint64 t0 = g_get_monotonic_time ();

  /* Baseline: a GTask created and returned at once, on the caller's
   * context. */
  for (guint i = 0; i < n; i++)
    {
      GTask *task = g_task_new (NULL, NULL, count_cb, &done);
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
    }
  while (done < n)
    g_main_context_iteration (NULL, TRUE);
  settle ();

  return (double) (g_get_monotonic_time () - t0) / n;
}

/* --- 4. async caller, blocking op, round trip --------------------------- */

static double
time_async_b_sa_with (SaDispatcher *d,
                      GCancellable *cancellable,
                      guint         n)
{
  g_autoptr(SaOperation) op = sa_operation_new_blocking (immediate_start, NULL, NULL);
  gint64 t0 = g_get_monotonic_time ();

  for (guint i = 0; i < n; i++)
    {
      guint done = 0;

      g_object_unref (sa_dispatcher_call (d, op, SA_CALL_MODE_AUTO, cancellable, count_cb, &done));
      while (!done)
        g_main_context_iteration (NULL, TRUE);
    }
  settle ();

  return (double) (g_get_monotonic_time () - t0) / n;
}

static double
time_async_b_sa (SaDispatcher *d,
                 guint         n)
{
  return time_async_b_sa_with (d, NULL, n);
}

/* With a cancellable that is never cancelled, as most calls of an
 * application pass one. */
static double
time_async_b_sa_cancellable (guint n)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();

  return time_async_b_sa_with (sa_dispatcher_get_default (), cancellable, n);
}

/* An SaLock execution of a blocking operation for one caller with a
 * cancellable (a caller that may leave, whose execution completes without
 * its context), one at a time. On a dispatcher of its own: its pool's
 * threads are woken from the drain thread, and on a machine where a
 * wake-up across processors is slow, the default pool's would be left on
 * that thread's processor for the rows that follow. */
static double
time_async_b_lock_cancellable (guint n)
{
  g_autoptr(SaDispatcher) own = sa_dispatcher_new ();
  g_autoptr(SaLock) lock = sa_lock_new (own);
  g_autoptr(SaOperation) op = sa_operation_new_blocking (immediate_start, NULL, NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  gint64 t0 = g_get_monotonic_time ();

  for (guint i = 0; i < n; i++)
    {
      guint done = 0;

      sa_lock_call_async (lock, "one-key", op, cancellable, count_cb, &done);
      while (!done)
        g_main_context_iteration (NULL, TRUE);
    }
  settle ();

  return (double) (g_get_monotonic_time () - t0) / n;
}

static double
time_async_b_raw_with (GCancellable *cancellable,
                       guint         n)
{
  gint64 t0 = g_get_monotonic_time ();

  /* Baseline: g_task_run_in_thread() with a callback, one at a time. */
  for (guint i = 0; i < n; i++)
    {
      guint done = 0;
      GTask *task = g_task_new (NULL, cancellable, count_cb, &done);

      g_task_run_in_thread (task, raw_thread_func);
      g_object_unref (task);
      while (!done)
        g_main_context_iteration (NULL, TRUE);
    }
  settle ();

  return (double) (g_get_monotonic_time () - t0) / n;
}

static double
time_async_b_raw (guint n)
{
  return time_async_b_raw_with (NULL, n);
}

static double
time_async_b_raw_cancellable (guint n)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();

  return time_async_b_raw_with (cancellable, n);
}

static double
time_async_b_raw_sync (guint n)
{
  gint64 t0 = g_get_monotonic_time ();

  /* Baseline: g_task_run_in_thread_sync(), which blocks the caller. */
  for (guint i = 0; i < n; i++)
    {
      GTask *task = g_task_new (NULL, NULL, NULL, NULL);

      g_task_run_in_thread_sync (task, raw_thread_func);
      g_assert_true (g_task_propagate_boolean (task, NULL));
      g_object_unref (task);
    }

  return (double) (g_get_monotonic_time () - t0) / n;
}

/* The pool of smartasync alone, with the elastic policy of the default
 * dispatcher: the GTask and thread function of the raw case, pushed to it
 * instead of g_task_run_in_thread(). */
static SaPool *bare_pool;

static double
time_async_b_bare_pool (guint n)
{
  gint64 t0 = g_get_monotonic_time ();

  for (guint i = 0; i < n; i++)
    {
      guint done = 0;

      _sa_pool_push (bare_pool, g_task_new (NULL, NULL, count_cb, &done), raw_thread_func);
      while (!done)
        g_main_context_iteration (NULL, TRUE);
    }
  settle ();

  return (double) (g_get_monotonic_time () - t0) / n;
}

#ifdef SA_BENCH_LIBDEX
static DexFuture *
dex_true_fiber (gpointer data)
{
  return dex_future_new_true ();
}

static DexFuture *
dex_count_cb (DexFuture *future,
              gpointer   user_data)
{
  g_assert_true (dex_future_is_resolved (future));
  (*(guint *) user_data)++;

  return NULL;
}

/* libdex's way to offload: a fiber on its thread-pool scheduler, whose
 * future a block awaits on the loop's thread (libdex's main scheduler). */
static void
dex_offload (DexFiberFunc  func,
             guint        *done)
{
  DexFuture *fiber = dex_scheduler_spawn (dex_thread_pool_scheduler_get_default (), 0,
                                          func, NULL, NULL);

  dex_future_disown (dex_future_finally (fiber, dex_count_cb, done, NULL));
}

/* libdex's lighter way: a work item pushed to the thread pool resolves a
 * promise that a block awaits on the loop's thread. */
static void
dex_resolve_work (gpointer promise)
{
  dex_promise_resolve_boolean (promise, TRUE);
  dex_unref (promise);
}

static void
dex_push_offload (DexSchedulerFunc  work,
                  guint            *done)
{
  DexPromise *promise = dex_promise_new ();

  dex_future_disown (dex_future_finally (dex_ref (promise), dex_count_cb, done, NULL));
  dex_scheduler_push (dex_thread_pool_scheduler_get_default (), work, promise);
}

static double
time_async_b_dex (guint n)
{
  gint64 t0 = g_get_monotonic_time ();

  for (guint i = 0; i < n; i++)
    {
      guint done = 0;

      dex_offload (dex_true_fiber, &done);
      while (!done)
        g_main_context_iteration (NULL, TRUE);
    }
  settle ();

  return (double) (g_get_monotonic_time () - t0) / n;
}

static double
time_async_b_dex_push (guint n)
{
  gint64 t0 = g_get_monotonic_time ();

  for (guint i = 0; i < n; i++)
    {
      guint done = 0;

      dex_push_offload (dex_resolve_work, &done);
      while (!done)
        g_main_context_iteration (NULL, TRUE);
    }
  settle ();

  return (double) (g_get_monotonic_time () - t0) / n;
}
#endif

/* --- 5. a burst of offloads in flight ----------------------------------- */

typedef struct
{
  double ops_per_s;
  double bytes_per_call;
} Burst;

/* A gate the operations of a burst wait at, closed while the heap is read
 * with all the calls in flight: none of them has run, completed or been
 * freed, so the bytes are those of queued calls alone, the same in every
 * run. A burst that is timed runs with the gate open. */
static GMutex gate_lock;
static GCond  gate_cond;
static gboolean gate_closed;

static void
gate_set (gboolean closed)
{
  g_mutex_lock (&gate_lock);
  gate_closed = closed;
  g_cond_broadcast (&gate_cond);
  g_mutex_unlock (&gate_lock);
}

static void
gate_pass (void)
{
  g_mutex_lock (&gate_lock);
  while (gate_closed)
    g_cond_wait (&gate_cond, &gate_lock);
  g_mutex_unlock (&gate_lock);
}

static void
gated_start (SaOperation  *op,
             GTask        *task,
             GCancellable *cancellable,
             gpointer      user_data)
{
  gate_pass ();
  g_task_return_boolean (task, TRUE);
}

static void
gated_thread_func (GTask        *task,
                   gpointer      source_object,
                   gpointer      task_data,
                   GCancellable *cancellable)
{
  gate_pass ();
  g_task_return_boolean (task, TRUE);
}

static Burst
burst_sa_on (SaDispatcher *d,
             guint         n,
             gboolean      gated)
{
  g_autoptr(SaOperation) op = sa_operation_new_blocking (gated ? gated_start : immediate_start,
                                                         NULL, NULL);
  guint done = 0;
  long rss0, rss1;
  gint64 t0;
  Burst b;

  gate_set (gated);
  rss0 = rss_bytes ();
  t0 = g_get_monotonic_time ();
  for (guint i = 0; i < n; i++)
    g_object_unref (sa_dispatcher_call (d, op, SA_CALL_MODE_AUTO, NULL, count_cb, &done));
  rss1 = heap_in_flight (&t0);
  gate_set (FALSE);
  while (done < n)
    g_main_context_iteration (NULL, TRUE);
  settle ();
  b.ops_per_s = n / ((g_get_monotonic_time () - t0) / 1e6);
  b.bytes_per_call = (double) MAX (0, rss1 - rss0) / n;

  return b;
}

static Burst
burst_raw_gated (guint    n,
                 gboolean gated)
{
  guint done = 0;
  long rss0, rss1;
  gint64 t0;
  Burst b;

  gate_set (gated);
  rss0 = rss_bytes ();
  t0 = g_get_monotonic_time ();
  /* Baseline: the same burst of raw g_task_run_in_thread() tasks. */
  for (guint i = 0; i < n; i++)
    {
      GTask *task = g_task_new (NULL, NULL, count_cb, &done);
      g_task_run_in_thread (task, gated ? gated_thread_func : raw_thread_func);
      g_object_unref (task);
    }
  rss1 = heap_in_flight (&t0);
  gate_set (FALSE);
  while (done < n)
    g_main_context_iteration (NULL, TRUE);
  settle ();
  b.ops_per_s = n / ((g_get_monotonic_time () - t0) / 1e6);
  b.bytes_per_call = (double) MAX (0, rss1 - rss0) / n;

  return b;
}

/* The burst of the raw case, pushed to smartasync's pool alone. */
static Burst
burst_bare_pool (guint    n,
                 gboolean gated)
{
  guint done = 0;
  long rss0, rss1;
  gint64 t0;
  Burst b;

  gate_set (gated);
  rss0 = rss_bytes ();
  t0 = g_get_monotonic_time ();
  for (guint i = 0; i < n; i++)
    _sa_pool_push (bare_pool, g_task_new (NULL, NULL, count_cb, &done),
                   gated ? gated_thread_func : raw_thread_func);
  rss1 = heap_in_flight (&t0);
  gate_set (FALSE);
  while (done < n)
    g_main_context_iteration (NULL, TRUE);
  settle ();
  b.ops_per_s = n / ((g_get_monotonic_time () - t0) / 1e6);
  b.bytes_per_call = (double) MAX (0, rss1 - rss0) / n;

  return b;
}

#ifdef SA_BENCH_LIBDEX
static DexFuture *
dex_gated_fiber (gpointer data)
{
  gate_pass ();
  return dex_future_new_true ();
}

static void
dex_gated_work (gpointer promise)
{
  gate_pass ();
  dex_resolve_work (promise);
}

/* The same burst, libdex's way: fibers on its thread pool (@push FALSE) or
 * work items resolving promises (@push TRUE). A queued fiber has no stack
 * yet: it takes one, outside the heap, when it first runs. */
static Burst
burst_dex (guint    n,
           gboolean push,
           gboolean gated)
{
  guint done = 0;
  long rss0, rss1;
  gint64 t0;
  Burst b;

  gate_set (gated);
  rss0 = rss_bytes ();
  t0 = g_get_monotonic_time ();
  for (guint i = 0; i < n; i++)
    {
      if (push)
        dex_push_offload (gated ? dex_gated_work : dex_resolve_work, &done);
      else
        dex_offload (gated ? dex_gated_fiber : dex_true_fiber, &done);
    }
  rss1 = heap_in_flight (&t0);
  gate_set (FALSE);
  while (done < n)
    g_main_context_iteration (NULL, TRUE);
  settle ();
  b.ops_per_s = n / ((g_get_monotonic_time () - t0) / 1e6);
  b.bytes_per_call = (double) MAX (0, rss1 - rss0) / n;

  return b;
}
#endif

static Burst
burst_raw (guint n)
{
  return burst_raw_gated (n, FALSE);
}

static Burst
burst_sa (guint n)
{
  return burst_sa_on (sa_dispatcher_get_default (), n, FALSE);
}

/* --- 6. SaLock, many waiters on one key -------------------------------- */

typedef struct
{
  double us_per_waiter;
  double bytes_per_waiter;
  guint64 executions;
} LockRun;

/* Case 6's measure once @n calls are issued, from the heap in use @rss0
 * and the time @t0 before them: the heap with every waiter in flight, and
 * the time until *@done reaches @n and what the calls left is run. */
static LockRun
lock_run_measure (guint        n,
                  const guint *done,
                  long         rss0,
                  gint64       t0)
{
  long rss1 = heap_in_flight (&t0);
  LockRun r = { 0 };

  while (*done < n)
    g_main_context_iteration (NULL, TRUE);
  settle ();
  r.us_per_waiter = (double) (g_get_monotonic_time () - t0) / n;
  r.bytes_per_waiter = (double) MAX (0, rss1 - rss0) / n;

  return r;
}

/* @gio_style: sa_lock_call_async(), which returns no task and detects no
 * caller, rather than sa_lock_call() in SA_CALL_MODE_AUTO. */
static LockRun
lock_sa_with (gboolean gio_style,
              guint    n)
{
  g_autoptr(SaLock) lock = sa_lock_new (NULL);
  g_autoptr(SaOperation) op = sa_operation_new_non_blocking (immediate_value, NULL, NULL);
  guint done = 0;
  long rss0 = rss_bytes ();
  gint64 t0 = g_get_monotonic_time ();
  LockRun r;

  for (guint i = 0; i < n; i++)
    {
      if (gio_style)
        sa_lock_call_async (lock, "one-key", op, NULL, count_cb, &done);
      else
        g_object_unref (sa_lock_call (lock, "one-key", op, SA_CALL_MODE_AUTO, NULL, count_cb, &done));
    }
  r = lock_run_measure (n, &done, rss0, t0);
  r.executions = sa_lock_get_n_executions (lock);

  return r;
}

static LockRun
lock_sa (guint n)
{
  return lock_sa_with (FALSE, n);
}

static LockRun
lock_sa_async (guint n)
{
  return lock_sa_with (TRUE, n);
}

static LockRun
lock_raw (guint n)
{
  guint done = 0;
  long rss0 = rss_bytes ();
  gint64 t0 = g_get_monotonic_time ();
  LockRun r;

  /* Baseline: as many independent tasks, each doing the work itself. */
  for (guint i = 0; i < n; i++)
    {
      GTask *task = g_task_new (NULL, NULL, count_cb, &done);
      GValue value = G_VALUE_INIT;

      g_value_init (&value, G_TYPE_INT);
      g_value_set_int (&value, 42);
      g_task_return_value (task, &value);
      g_object_unref (task);
    }
  r = lock_run_measure (n, &done, rss0, t0);
  r.executions = n;

  return r;
}

/* Baseline: a hand-written singleflight, what a C programmer writes for
 * the same job: a table of waiter lists by key, one GTask per waiter. The
 * first waiter of a key starts the work, a task completed at once on the
 * thread-default context, as the library's operation is; its completion
 * takes the key's list out of the table and returns the value to every
 * waiter, which is called back there and then. */
/* Lists @waiters under @key and starts the work for it: a task completed
 * at once, whose @done takes the list back out. */
static void
start_flight (GHashTable          *flights,
              const char          *key,
              gpointer             waiters,
              GAsyncReadyCallback  done)
{
  GTask *work = g_task_new (NULL, NULL, done, flights);

  g_hash_table_insert (flights, (gpointer) key, waiters);
  g_task_set_task_data (work, (gpointer) key, NULL);
  g_task_return_int (work, 42);
  g_object_unref (work);
}

static void
singleflight_done (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  GHashTable *flights = user_data;
  const char *key = g_task_get_task_data (G_TASK (result));
  GPtrArray *waiters = NULL;
  gssize value = g_task_propagate_int (G_TASK (result), NULL);

  g_hash_table_steal_extended (flights, key, NULL, (gpointer *) &waiters);
  for (guint i = 0; i < waiters->len; i++)
    {
      g_task_return_int (waiters->pdata[i], value);
      g_object_unref (waiters->pdata[i]);
    }
  g_ptr_array_unref (waiters);
}

static void
singleflight_call (GHashTable          *flights,
                   const char          *key,
                   GAsyncReadyCallback  callback,
                   gpointer             user_data)
{
  GPtrArray *waiters = g_hash_table_lookup (flights, key);

  if (waiters == NULL)
    {
      waiters = g_ptr_array_new ();
      start_flight (flights, key, waiters, singleflight_done);
    }
  g_ptr_array_add (waiters, g_task_new (NULL, NULL, callback, user_data));
}

typedef void (*SingleflightCall) (GHashTable          *flights,
                                  const char          *key,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data);

/* Case 6's measure of a hand-written singleflight, made by @call. */
static LockRun
lock_singleflight_with (SingleflightCall call,
                        guint            n)
{
  GHashTable *flights = g_hash_table_new (g_str_hash, g_str_equal);
  guint done = 0;
  long rss0 = rss_bytes ();
  gint64 t0 = g_get_monotonic_time ();
  LockRun r;

  for (guint i = 0; i < n; i++)
    call (flights, "one-key", count_cb, &done);
  r = lock_run_measure (n, &done, rss0, t0);
  r.executions = 1;
  g_hash_table_unref (flights);

  return r;
}

static LockRun
lock_singleflight (guint n)
{
  return lock_singleflight_with (singleflight_call, n);
}

/* An extra baseline: the same singleflight with no array, each waiter's
 * task linked to the next through its task data, which the singleflight
 * owns since it made the task. SaLock keeps its waiters in a list of
 * their own instead; this row shows what that list costs. */
typedef struct
{
  GTask *head;
  GTask *tail;
} Chain;

static void
singleflight_chained_done (GObject      *source,
                           GAsyncResult *result,
                           gpointer      user_data)
{
  GHashTable *flights = user_data;
  const char *key = g_task_get_task_data (G_TASK (result));
  Chain *chain = NULL;
  gssize value = g_task_propagate_int (G_TASK (result), NULL);

  g_hash_table_steal_extended (flights, key, NULL, (gpointer *) &chain);
  for (GTask *task = chain->head, *next; task != NULL; task = next)
    {
      next = g_task_get_task_data (task);
      g_task_return_int (task, value);
      g_object_unref (task);
    }
  g_free (chain);
}

static void
singleflight_chained_call (GHashTable          *flights,
                           const char          *key,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  Chain *chain = g_hash_table_lookup (flights, key);
  GTask *task;

  if (chain == NULL)
    {
      chain = g_new0 (Chain, 1);
      start_flight (flights, key, chain, singleflight_chained_done);
    }
  task = g_task_new (NULL, NULL, callback, user_data);
  if (chain->tail != NULL)
    g_task_set_task_data (chain->tail, task, NULL);
  else
    chain->head = task;
  chain->tail = task;
}

static LockRun
lock_singleflight_chained (guint n)
{
  return lock_singleflight_with (singleflight_chained_call, n);
}

/* --- 7. nested work inside blocking bodies ------------------------------ */

/* N blocking bodies at once, from the loop, each of which does nested
 * work: a blocking call (blocking in blocking) or a GIO async operation
 * (GIO in blocking), called the smart way from the body, where the caller
 * is a sync caller. The time of the batch; its worst round is the stall. */

static GFile *nested_file;      /* a small file that GIO in blocking loads */
static SaOperation *load_op;

static void
inner_work (void)
{
  g_usleep (1000);   /* a short piece of blocking work */
}

static void
inner_run (SaOperation  *op,
           GTask        *task,
           GCancellable *cancellable,
           gpointer      user_data)
{
  inner_work ();
  g_task_return_boolean (task, TRUE);
}

static void
outer_run (SaOperation  *op,
           GTask        *task,
           GCancellable *cancellable,
           gpointer      dispatcher)
{
  g_autoptr(SaOperation) inner = sa_operation_new_blocking (inner_run, NULL, NULL);
  g_autoptr(GTask) t = sa_dispatcher_call (dispatcher, inner, SA_CALL_MODE_AUTO, NULL, NULL, NULL);

  g_task_return_boolean (task, g_task_propagate_boolean (t, NULL));
}

static void
nested_loaded_cb (GObject      *file,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autofree char *contents = NULL;
  GError *error = NULL;
  gsize length = 0;

  if (g_file_load_contents_finish (G_FILE (file), result, &contents, &length, NULL, &error))
    g_task_return_boolean (task, length > 0);
  else
    g_task_return_error (task, error);
}

static void
load_start (SaOperation  *op,
            GTask        *task,
            GCancellable *cancellable,
            gpointer      file)
{
  g_file_load_contents_async (file, cancellable, nested_loaded_cb, g_object_ref (task));
}

static void
gio_outer_run (SaOperation  *op,
               GTask        *task,
               GCancellable *cancellable,
               gpointer      dispatcher)
{
  g_autoptr(GTask) t = sa_dispatcher_call (dispatcher, load_op, SA_CALL_MODE_AUTO, NULL, NULL, NULL);

  g_task_return_boolean (task, g_task_propagate_boolean (t, NULL));
}

/* Counts a call that ended without an error. */
static void
check_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_assert_false (g_task_had_error (G_TASK (result)));
  (*(guint *) user_data)++;
}

static double
nested_sa (SaDispatcher *d,
           gboolean      gio,
           guint         n)
{
  g_autoptr(SaOperation) outer = sa_operation_new_blocking (gio ? gio_outer_run : outer_run, d, NULL);
  guint done = 0;
  gint64 t0 = g_get_monotonic_time ();

  for (guint i = 0; i < n; i++)
    g_object_unref (sa_dispatcher_call (d, outer, SA_CALL_MODE_AUTO, NULL, check_cb, &done));
  while (done < n)
    g_main_context_iteration (NULL, TRUE);
  settle ();

  return (g_get_monotonic_time () - t0) / 1000.0;   /* ms per batch */
}

static void
raw_inner (GTask        *task,
           gpointer      source_object,
           gpointer      task_data,
           GCancellable *cancellable)
{
  inner_work ();
  g_task_return_boolean (task, TRUE);
}

static void
raw_nested_sync (GTask        *task,
                 gpointer      source_object,
                 gpointer      task_data,
                 GCancellable *cancellable)
{
  /* Extra baseline: a pool worker that blocks on a nested task of the pool. */
  GTask *inner = g_task_new (NULL, NULL, NULL, NULL);

  g_task_run_in_thread_sync (inner, raw_inner);
  g_task_return_boolean (task, g_task_propagate_boolean (inner, NULL));
  g_object_unref (inner);
}

static void
raw_gio_direct (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  /* Baseline: the body calls GIO's own sync function. */
  g_autofree char *contents = NULL;
  gsize length = 0;

  g_task_return_boolean (task, g_file_load_contents (nested_file, NULL, &contents, &length, NULL, NULL) &&
                               length > 0);
}

/* Baseline: g_task_run_in_thread() of a body that calls the inner blocking
 * function directly (raw_inner) or GIO's sync call (raw_gio_direct). */
static double
nested_raw (GTaskThreadFunc func,
            guint           n)
{
  guint done = 0;
  gint64 t0 = g_get_monotonic_time ();

  for (guint i = 0; i < n; i++)
    {
      GTask *task = g_task_new (NULL, NULL, count_cb, &done);
      g_task_run_in_thread (task, func);
      g_object_unref (task);
    }
  while (done < n)
    g_main_context_iteration (NULL, TRUE);
  settle ();

  return (g_get_monotonic_time () - t0) / 1000.0;
}

#ifdef SA_BENCH_LIBDEX
static DexFuture *
dex_inner_fiber (gpointer data)
{
  inner_work ();
  return dex_future_new_true ();
}

static DexFuture *
dex_outer_fiber (gpointer data)
{
  GError *error = NULL;
  DexFuture *inner = dex_scheduler_spawn (dex_thread_pool_scheduler_get_default (), 0,
                                          dex_inner_fiber, NULL, NULL);

  if (!dex_await (inner, &error))
    return dex_future_new_for_error (error);

  return dex_future_new_true ();
}

/* libdex: fibers on its thread pool, each awaiting a nested fiber there. */
static double
nested_dex (guint n)
{
  guint done = 0;
  gint64 t0 = g_get_monotonic_time ();

  for (guint i = 0; i < n; i++)
    dex_offload (dex_outer_fiber, &done);
  while (done < n)
    g_main_context_iteration (NULL, TRUE);
  settle ();

  return (g_get_monotonic_time () - t0) / 1000.0;
}
#endif

/* --- 8. a plain thread waiting for a result ----------------------------- */

typedef enum
{
  WAIT_SA_BLOCKING,             /* sync call of a blocking operation */
  WAIT_SA_NON_BLOCKING,         /* sync call of a non-blocking operation */
  WAIT_RAW_RUN_IN_THREAD_SYNC,  /* g_task_run_in_thread_sync() */
  WAIT_DEX,                     /* dex_thread_wait_for() of a pool fiber */
  N_WAITS
} WaitKind;

typedef struct
{
  WaitKind kind;
  guint    n;
  double   us;
} ThreadWait;

static gpointer
thread_wait_main (gpointer data)
{
  ThreadWait *tw = data;
  g_autoptr(SaOperation) blocking = sa_operation_new_blocking (immediate_start, NULL, NULL);
  g_autoptr(SaOperation) non_blocking = sa_operation_new_non_blocking (immediate_start, NULL, NULL);
  SaDispatcher *d = sa_dispatcher_get_default ();
  gint64 t0 = g_get_monotonic_time ();

  /* A plain thread: a sync caller. */
  for (guint i = 0; i < tw->n; i++)
    {
      GTask *task;

      switch (tw->kind)
        {
        case WAIT_SA_BLOCKING:
        case WAIT_SA_NON_BLOCKING:
          task = sa_dispatcher_call (d, tw->kind == WAIT_SA_BLOCKING ? blocking : non_blocking,
                                     SA_CALL_MODE_AUTO, NULL, NULL, NULL);
          g_assert_true (g_task_propagate_boolean (task, NULL));
          g_object_unref (task);
          break;
        case WAIT_RAW_RUN_IN_THREAD_SYNC:
          task = g_task_new (NULL, NULL, NULL, NULL);
          g_task_run_in_thread_sync (task, raw_thread_func);
          g_assert_true (g_task_propagate_boolean (task, NULL));
          g_object_unref (task);
          break;
        case WAIT_DEX:
#ifdef SA_BENCH_LIBDEX
          g_assert_true (dex_thread_wait_for (dex_scheduler_spawn (dex_thread_pool_scheduler_get_default (), 0,
                                                                   dex_true_fiber, NULL, NULL),
                                              NULL));
#endif
          break;
        case N_WAITS:
        default:
          g_assert_not_reached ();
        }
    }
  tw->us = (double) (g_get_monotonic_time () - t0) / tw->n;

  return NULL;
}

static double
thread_wait (WaitKind kind,
             guint    n)
{
  ThreadWait tw = { kind, n, 0 };

  g_thread_join (g_thread_new ("bench-wait", thread_wait_main, &tw));

  return tw.us;
}

/* --- 9. two GIO steps: read a file, then query its info ----------------- */

/* Each way is written out whole between its loc markers; bench/report.py
 * counts the lines between them. */

/* loc two-step-sa { */
static void
two_step_info_cb (GObject      *file,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;
  GFileInfo *info = g_file_query_info_finish (G_FILE (file), result, &error);

  if (info == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, info, g_object_unref);
}

static void
two_step_loaded_cb (GObject      *file,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GCancellable *cancellable = g_task_get_cancellable (task);
  g_autofree char *contents = NULL;
  GError *error = NULL;

  if (!g_file_load_contents_finish (G_FILE (file), result, &contents, NULL, NULL, &error))
    g_task_return_error (task, error);
  else
    g_file_query_info_async (G_FILE (file), G_FILE_ATTRIBUTE_STANDARD_SIZE, G_FILE_QUERY_INFO_NONE,
                             G_PRIORITY_DEFAULT, cancellable, two_step_info_cb, g_steal_pointer (&task));
}

static void
two_step_start (SaOperation  *op,
                GTask        *task,
                GCancellable *cancellable,
                gpointer      file)
{
  g_file_load_contents_async (file, cancellable, two_step_loaded_cb, g_object_ref (task));
}
/* loc two-step-sa } */

static double
two_step_sa (guint n)
{
  g_autoptr(SaOperation) op = sa_operation_new_non_blocking (two_step_start, g_object_ref (nested_file),
                                                             g_object_unref);
  SaDispatcher *d = sa_dispatcher_get_default ();
  guint done = 0;
  gint64 t0 = g_get_monotonic_time ();

  for (guint i = 0; i < n; i++)
    g_object_unref (sa_dispatcher_call (d, op, SA_CALL_MODE_AUTO, NULL, check_cb, &done));
  while (done < n)
    g_main_context_iteration (NULL, TRUE);
  settle ();

  return (double) (g_get_monotonic_time () - t0) / n;
}

#ifdef SA_BENCH_LIBDEX
/* loc two-step-dex { */
static DexFuture *
two_step_fiber (gpointer file)
{
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GFileInfo) info = NULL;
  GError *error = NULL;

  if (!(bytes = dex_await_boxed (dex_file_load_contents_bytes (file), &error)) ||
      !(info = dex_await_object (dex_file_query_info (file, G_FILE_ATTRIBUTE_STANDARD_SIZE,
                                                      G_FILE_QUERY_INFO_NONE, G_PRIORITY_DEFAULT),
                                 &error)))
    return dex_future_new_for_error (error);

  return dex_future_new_take_object (g_steal_pointer (&info));
}
/* loc two-step-dex } */

static double
two_step_dex (guint n)
{
  guint done = 0;
  gint64 t0 = g_get_monotonic_time ();

  /* Fibers on the loop's thread (libdex's main scheduler), as the
   * smartasync operation runs there. */
  for (guint i = 0; i < n; i++)
    dex_future_disown (dex_future_finally (dex_scheduler_spawn (NULL, 0, two_step_fiber, nested_file, NULL),
                                           dex_count_cb, &done, NULL));
  while (done < n)
    g_main_context_iteration (NULL, TRUE);
  settle ();

  return (double) (g_get_monotonic_time () - t0) / n;
}
#endif

/* --- driver ------------------------------------------------------------ */

static Series s_detect_sa = { "1 detection: sa_caller_is_async", "ns" };
static Series s_detect_raw = { "1 raw g_main_context_is_owner", "ns" };
static Series s_sync_sa = { "2 sync caller, non-blocking: sa_dispatcher_call", "us" };
static Series s_sync_dispatched = { "2 raw reused private context, returned in dispatch", "us" };
static Series s_sync_reused = { "2 raw reused private context", "us" };
static Series s_sync_new = { "2 raw new context per call", "us" };
static Series s_sync_loop = { "2 raw GMainLoop on a new context", "us" };
static Series s_anb_sa = { "3 async caller, non-blocking: sa_dispatcher_call", "us" };
static Series s_anb_raw = { "3 raw GTask", "us" };
static Series s_anb_top_sa = { "3 the same, outside any callback", "us" };
static Series s_anb_top_raw = { "3 raw GTask, outside any callback", "us" };
static Series s_ab_sa = { "4 async caller, blocking, round trip", "us" };
static Series s_ab_sa_pool = { "4 the same, max-threads 4", "us" };
static Series s_ab_sa_gtask = { "4 the same, gtask-pool (g_task_run_in_thread)", "us" };
static Series s_ab_sa_cancel = { "4 round trip with a GCancellable", "us" };
static Series s_ab_raw_cancel = { "4 raw g_task_run_in_thread with a GCancellable", "us" };
static Series s_ab_lock_cancel = { "4 SaLock round trip, a caller with a GCancellable", "us" };
static Series s_ab_bare = { "4 SaPool alone (elastic), GTask pushed to it", "us" };
static Series s_ab_raw = { "4 raw g_task_run_in_thread + callback", "us" };
static Series s_ab_sa_cpu = { "4 processor time per round trip, all threads", "us" };
static Series s_ab_raw_cpu = { "4 the same, raw g_task_run_in_thread", "us" };
static Series s_ab_raw_sync = { "4 raw g_task_run_in_thread_sync", "us" };
static Series s_ab_dex = { "4 libdex fiber on its thread pool", "us" };
static Series s_ab_dex_push = { "4 libdex work item resolving a promise", "us" };
static Series s_burst_sa = { "5 burst: offloads per second", "ops/s" };
static Series s_burst_raw = { "5 raw GTask burst: per second", "ops/s" };
static Series s_burst_sa_mem = { "5 burst: heap bytes per queued call", "B" };
static Series s_burst_raw_mem = { "5 raw GTask burst: heap bytes per queued call", "B" };
static Series s_burst_pool_sa = { "5 burst, max-threads 4: per second", "ops/s" };
static Series s_burst_gtask_sa = { "5 burst, gtask-pool: per second", "ops/s" };
static Series s_burst_pool_mem = { "5 burst, max-threads 4: heap bytes per queued call", "B" };
static Series s_burst_bare = { "5 burst, SaPool alone (elastic): per second", "ops/s" };
static Series s_burst_bare_mem = { "5 burst, SaPool alone: heap bytes per queued call", "B" };
static Series s_burst_dex = { "5 libdex fibers burst: per second", "ops/s" };
static Series s_burst_dex_mem = { "5 libdex fibers burst: heap bytes per queued call", "B" };
static Series s_burst_dex_push = { "5 libdex work items burst: per second", "ops/s" };
static Series s_burst_dex_push_mem = { "5 libdex work items: heap bytes per queued call", "B" };
static Series s_burst_top_sa = { "5 burst outside any callback: per second", "ops/s" };
static Series s_burst_top_raw = { "5 raw burst outside any callback: per second", "ops/s" };
static Series s_lock_sa = { "6 SaLock: time per waiter", "us" };
static Series s_lock_sa_async = { "6 SaLock, sa_lock_call_async(): time per waiter", "us" };
static Series s_lock_raw = { "6 raw independent tasks: time per task", "us" };
static Series s_lock_sf = { "6 hand-written singleflight: time per waiter", "us" };
static Series s_lock_sfc = { "6 chained singleflight: time per waiter", "us" };
static Series s_lock_sa_mem = { "6 SaLock: heap bytes per waiter", "B" };
static Series s_lock_sf_mem = { "6 hand-written singleflight: heap bytes per waiter", "B" };
static Series s_lock_sfc_mem = { "6 chained singleflight: heap bytes per waiter", "B" };
static Series s_lock_raw_mem = { "6 raw independent tasks: heap bytes per task", "B" };
static Series s_wait[N_WAITS] = {
  { "8 plain thread: sync call, blocking operation", "us" },
  { "8 plain thread: sync call, non-blocking operation", "us" },
  { "8 plain thread: raw g_task_run_in_thread_sync", "us" },
  { "8 plain thread: libdex dex_thread_wait_for", "us" },
};
static Series s_two_step_sa = { "9 two GIO steps: smartasync non-blocking operation", "us" };
static Series s_two_step_dex = { "9 two GIO steps: libdex fiber", "us" };

/* Case 7's kinds of nested work, each at every N. */
typedef enum
{
  NESTED_B_DEFAULT,
  NESTED_B_POOL,
  NESTED_B_RAW_DIRECT,
  NESTED_B_RAW_SYNC,
  NESTED_GIO_DEFAULT,
  NESTED_GIO_POOL,
  NESTED_GIO_RAW_DIRECT,
  NESTED_DEX,
  N_NESTED
} NestedKind;

static const struct
{
  const char *key;
  const char *title;
} nested_kinds[N_NESTED] = {
  { "b-default", "blocking in blocking, default" },
  { "b-pool", "blocking in blocking, max-threads 4" },
  { "b-raw-direct", "raw: inner function called in run_in_thread" },
  { "b-raw-sync", "raw: nested g_task_run_in_thread_sync" },
  { "gio-default", "GIO in blocking, default" },
  { "gio-pool", "GIO in blocking, max-threads 4" },
  { "gio-raw-direct", "raw: g_file_load_contents in run_in_thread" },
  { "dex", "libdex fiber awaiting a nested fiber" },
};
static const guint nested_n[] = { 10, 20, 30, 60 };
#define N_NESTED_N G_N_ELEMENTS (nested_n)
static Series s_nested[N_NESTED][N_NESTED_N];
static char *nested_names[N_NESTED][N_NESTED_N];
static SaDispatcher *bounded;
static SaDispatcher *on_gtask;   /* gtask-pool: g_task_run_in_thread() */
static guint64 lock_executions;
static guint burst_n;
static gboolean have_libdex;

/* Runs @func from inside a callback of the default main context: the
 * thread then dispatches one of the context's sources, as an
 * application's code does. @func may iterate the context itself. */
typedef struct
{
  GFunc     func;
  gpointer  data;
  gboolean  done;
} InCallback;

static gboolean
in_callback_cb (gpointer data)
{
  InCallback *ic = data;

  ic->func (ic->data, NULL);
  ic->done = TRUE;

  return G_SOURCE_REMOVE;
}

static void
in_callback (GFunc    func,
             gpointer data)
{
  InCallback ic = { func, data, FALSE };

  g_idle_add (in_callback_cb, &ic);
  while (!ic.done)
    g_main_context_iteration (NULL, TRUE);
}

/* Case 3's slices, into @sa and @raw. */
static void
async_nb_slices (Series *sa,
                 Series *raw)
{
  for (guint k = 0; k < N_SLICES; k++)
    {
      guint slice = n_of (2500);

      if (k % 2 == 0)
        {
          add (sa, time_async_nb_sa (slice));
          add (raw, time_async_nb_raw (slice));
        }
      else
        {
          add (raw, time_async_nb_raw (slice));
          add (sa, time_async_nb_sa (slice));
        }
    }
}

/* Case 4's round trips, one slice of each in turn, the order reversed
 * every other slice. */
static void
round_trip_slice (guint k)
{
  guint slice = n_of (1000);
  Series *order[11];
  guint n = 0;

  order[n++] = &s_ab_sa;
  order[n++] = &s_ab_sa_cancel;
  order[n++] = &s_ab_raw_cancel;
  order[n++] = &s_ab_lock_cancel;
  order[n++] = &s_ab_sa_pool;
  order[n++] = &s_ab_sa_gtask;
  order[n++] = &s_ab_bare;
  order[n++] = &s_ab_raw;
  order[n++] = &s_ab_raw_sync;
  if (have_libdex)
    {
      order[n++] = &s_ab_dex;
      order[n++] = &s_ab_dex_push;
    }

  for (guint i = 0; i < n; i++)
    {
      Series *s = order[k % 2 == 0 ? i : n - 1 - i];
      double cpu0 = process_cpu_us ();
      double v;

      if (s == &s_ab_sa)
        v = time_async_b_sa (sa_dispatcher_get_default (), slice);
      else if (s == &s_ab_sa_cancel)
        v = time_async_b_sa_cancellable (slice);
      else if (s == &s_ab_raw_cancel)
        v = time_async_b_raw_cancellable (slice);
      else if (s == &s_ab_lock_cancel)
        v = time_async_b_lock_cancellable (slice);
      else if (s == &s_ab_sa_pool)
        v = time_async_b_sa (bounded, slice);
      else if (s == &s_ab_sa_gtask)
        v = time_async_b_sa (on_gtask, slice);
      else if (s == &s_ab_bare)
        v = time_async_b_bare_pool (slice);
      else if (s == &s_ab_raw)
        v = time_async_b_raw (slice);
      else if (s == &s_ab_raw_sync)
        v = time_async_b_raw_sync (slice);
#ifdef SA_BENCH_LIBDEX
      else if (s == &s_ab_dex)
        v = time_async_b_dex (slice);
      else if (s == &s_ab_dex_push)
        v = time_async_b_dex_push (slice);
#endif
      else
        g_assert_not_reached ();
      add (s, v);
      if (s == &s_ab_sa)
        add (&s_ab_sa_cpu, (process_cpu_us () - cpu0) / slice);
      else if (s == &s_ab_raw)
        add (&s_ab_raw_cpu, (process_cpu_us () - cpu0) / slice);
    }
}

/* Case 5: whole bursts cannot be sliced; the order turns by round. */
typedef enum
{
  BURST_DEFAULT,
  BURST_RAW,
  BURST_POOL,
  BURST_GTASK,
  BURST_BARE,
  BURST_DEX,
  BURST_DEX_PUSH,
  N_BURSTS
} BurstKind;

static Burst
burst_of (BurstKind kind,
          gboolean  gated)
{
  switch (kind)
    {
    case BURST_DEFAULT:
      return burst_sa_on (sa_dispatcher_get_default (), burst_n, gated);
    case BURST_RAW:
      return burst_raw_gated (burst_n, gated);
    case BURST_POOL:
      return burst_sa_on (bounded, burst_n, gated);
    case BURST_GTASK:
      return burst_sa_on (on_gtask, burst_n, gated);
    case BURST_BARE:
      return burst_bare_pool (burst_n, gated);
#ifdef SA_BENCH_LIBDEX
    case BURST_DEX:
      return burst_dex (burst_n, FALSE, gated);
    case BURST_DEX_PUSH:
      return burst_dex (burst_n, TRUE, gated);
#endif
    default:
      g_assert_not_reached ();
    }
}

static void
bursts (guint r)
{
  Series *speed[N_BURSTS] = { &s_burst_sa, &s_burst_raw, &s_burst_pool_sa, &s_burst_gtask_sa,
                              &s_burst_bare, &s_burst_dex, &s_burst_dex_push };
  Series *bytes[N_BURSTS] = { &s_burst_sa_mem, &s_burst_raw_mem, &s_burst_pool_mem, NULL,
                              &s_burst_bare_mem, &s_burst_dex_mem, &s_burst_dex_push_mem };
  guint n = have_libdex ? N_BURSTS : BURST_DEX;

  for (guint i = 0; i < n; i++)
    {
      BurstKind kind = (i + r) % n;

      quiesce ();
      add (speed[kind], burst_of (kind, FALSE).ops_per_s);
    }
  /* The bytes: the same bursts, held at the gate while the heap is read. */
  for (guint i = 0; i < n; i++)
    {
      BurstKind kind = (i + r) % n;

      if (bytes[kind] != NULL)
        add (bytes[kind], burst_of (kind, TRUE).bytes_per_call);
    }
}

static double
nested_run (NestedKind kind,
            guint      n)
{
  switch (kind)
    {
    case NESTED_B_DEFAULT:
      return nested_sa (sa_dispatcher_get_default (), FALSE, n);
    case NESTED_B_POOL:
      return nested_sa (bounded, FALSE, n);
    case NESTED_B_RAW_DIRECT:
      return nested_raw (raw_inner, n);
    case NESTED_B_RAW_SYNC:
      return nested_raw (raw_nested_sync, n);
    case NESTED_GIO_DEFAULT:
      return nested_sa (sa_dispatcher_get_default (), TRUE, n);
    case NESTED_GIO_POOL:
      return nested_sa (bounded, TRUE, n);
    case NESTED_GIO_RAW_DIRECT:
      return nested_raw (raw_gio_direct, n);
#ifdef SA_BENCH_LIBDEX
    case NESTED_DEX:
      return nested_dex (n);
#endif
    case N_NESTED:
    default:
      g_assert_not_reached ();
    }
}


/* --- 12. the offload matrix: latency and processor time per call -------- *
 *
 * A blocking body of 0 µs, 20 µs of busy work or 200 µs asleep, offloaded
 * from a loop callback one at a time or 8 in flight (each callback starts
 * the next call): the dispatcher's pool with busy-wait off (the default)
 * and on, beside g_task_run_in_thread(). Latency is the wall time per call;
 * processor time is that of every thread of the process, per call. */

typedef enum
{
  BODY_ZERO,
  BODY_BUSY_20,
  BODY_SLEEP_200,
  N_BODIES
} BodyKind;

typedef enum
{
  IMPL_SA,
  IMPL_SA_BUSY_WAIT,
  IMPL_GTASK,
  N_IMPLS
} ImplKind;

static const char * const body_titles[N_BODIES] = { "0 us body", "20 us busy body", "200 us sleeping body" };
static const char * const impl_titles[N_IMPLS] = { "smartasync", "smartasync busy-wait", "g_task_run_in_thread" };
static const guint in_flight_of[] = { 1, 8 };
#define N_IN_FLIGHT G_N_ELEMENTS (in_flight_of)

static Series s_matrix_lat[N_BODIES][N_IN_FLIGHT][N_IMPLS];
static Series s_matrix_cpu[N_BODIES][N_IN_FLIGHT][N_IMPLS];
static char *matrix_names[N_BODIES][N_IN_FLIGHT][N_IMPLS][2];
static SaDispatcher *matrix_dispatcher[2];   /* busy-wait off, on */

static void
run_body (BodyKind kind)
{
  if (kind == BODY_BUSY_20)
    {
      gint64 end = g_get_monotonic_time () + 20;

      while (g_get_monotonic_time () < end)
        ;
    }
  else if (kind == BODY_SLEEP_200)
    g_usleep (200);
}

static void
matrix_op_run (SaOperation  *op,
               GTask        *task,
               GCancellable *cancellable,
               gpointer      data)
{
  run_body (GPOINTER_TO_INT (data));
  g_task_return_boolean (task, TRUE);
}

static void
matrix_thread_func (GTask        *task,
                    gpointer      source_object,
                    gpointer      task_data,
                    GCancellable *cancellable)
{
  run_body (GPOINTER_TO_INT (task_data));
  g_task_return_boolean (task, TRUE);
}

typedef struct
{
  ImplKind     impl;
  BodyKind     body;
  SaOperation *op;
  guint        to_start;
  guint        done;
} MatrixRun;

static void matrix_start (MatrixRun *m);

static void
matrix_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      data)
{
  MatrixRun *m = data;

  m->done++;
  if (m->to_start > 0)
    matrix_start (m);
}

static void
matrix_start (MatrixRun *m)
{
  m->to_start--;
  if (m->impl == IMPL_GTASK)
    {
      GTask *task = g_task_new (NULL, NULL, matrix_cb, m);

      g_task_set_task_data (task, GINT_TO_POINTER (m->body), NULL);
      g_task_run_in_thread (task, matrix_thread_func);
      g_object_unref (task);
    }
  else
    sa_dispatcher_call_async (matrix_dispatcher[m->impl == IMPL_SA_BUSY_WAIT], m->op, NULL,
                              matrix_cb, m);
}

/* @n calls, @in_flight at a time: wall and processor µs per call. */
static void
matrix_slice (ImplKind  impl,
              BodyKind  body,
              guint     in_flight,
              guint     n,
              double   *lat_us,
              double   *cpu_us)
{
  MatrixRun m = { impl, body, NULL, n, 0 };
  gint64 t0;
  double cpu0;

  m.op = sa_operation_new_blocking (matrix_op_run, GINT_TO_POINTER (body), NULL);
  cpu0 = process_cpu_us ();
  t0 = g_get_monotonic_time ();
  for (guint i = 0; i < in_flight && m.to_start > 0; i++)
    matrix_start (&m);
  while (m.done < n)
    g_main_context_iteration (NULL, TRUE);
  settle ();
  *lat_us = (double) (g_get_monotonic_time () - t0) / n;
  *cpu_us = (process_cpu_us () - cpu0) / n;
  g_object_unref (m.op);
}

static void
matrix_init (void)
{
  for (guint b = 0; b < N_BODIES; b++)
    for (guint f = 0; f < N_IN_FLIGHT; f++)
      for (guint i = 0; i < N_IMPLS; i++)
        {
          matrix_names[b][f][i][0] = g_strdup_printf ("12 %s, %u in flight: %s, latency",
                                                      body_titles[b], in_flight_of[f], impl_titles[i]);
          matrix_names[b][f][i][1] = g_strdup_printf ("12 %s, %u in flight: %s, cpu",
                                                      body_titles[b], in_flight_of[f], impl_titles[i]);
          s_matrix_lat[b][f][i] = (Series) { matrix_names[b][f][i][0], "us" };
          s_matrix_cpu[b][f][i] = (Series) { matrix_names[b][f][i][1], "us" };
        }
  matrix_dispatcher[0] = sa_dispatcher_new ();
  sa_dispatcher_set_busy_wait (matrix_dispatcher[0], FALSE);
  matrix_dispatcher[1] = sa_dispatcher_new ();
  sa_dispatcher_set_busy_wait (matrix_dispatcher[1], TRUE);
}

/* One round: every row, in short slices, the implementations' order
 * turned at each slice. */
static void
matrix_round (void)
{
  for (guint b = 0; b < N_BODIES; b++)
    for (guint f = 0; f < N_IN_FLIGHT; f++)
      for (guint k = 0; k < 4; k++)
        for (guint j = 0; j < N_IMPLS; j++)
          {
            guint i = (j + k) % N_IMPLS;
            guint n = n_of (b == BODY_SLEEP_200 ? 200 : 1000);
            double lat, cpu;

            matrix_slice (i, b, in_flight_of[f], n, &lat, &cpu);
            add (&s_matrix_lat[b][f][i], lat);
            add (&s_matrix_cpu[b][f][i], cpu);
          }
}

static void
matrix_report (void)
{
  for (guint b = 0; b < N_BODIES; b++)
    for (guint f = 0; f < N_IN_FLIGHT; f++)
      {
        if (s_matrix_lat[b][f][IMPL_SA].n == 0)
          continue;
        for (guint i = 0; i < N_IMPLS; i++)
          {
            report (&s_matrix_lat[b][f][i]);
            report (&s_matrix_cpu[b][f][i]);
          }
      }
}

static void
matrix_ratios (void)
{
  for (guint b = 0; b < N_BODIES; b++)
    for (guint f = 0; f < N_IN_FLIGHT; f++)
      {
        static const char * const body_keys[N_BODIES] = { "0us", "busy20us", "sleep200us" };
        g_autofree char *lat = NULL, *cpu = NULL, *lat_bw = NULL, *cpu_bw = NULL;

        if (s_matrix_lat[b][f][IMPL_SA].n == 0)
          continue;
        lat = g_strdup_printf ("matrix-%s-%u-latency-gtask-vs-sa", body_keys[b], in_flight_of[f]);
        cpu = g_strdup_printf ("matrix-%s-%u-cpu-sa-vs-gtask", body_keys[b], in_flight_of[f]);
        lat_bw = g_strdup_printf ("matrix-%s-%u-latency-gtask-vs-sa-busy-wait", body_keys[b], in_flight_of[f]);
        cpu_bw = g_strdup_printf ("matrix-%s-%u-cpu-sa-busy-wait-vs-gtask", body_keys[b], in_flight_of[f]);
        ratio (lat, median (&s_matrix_lat[b][f][IMPL_GTASK]) / median (&s_matrix_lat[b][f][IMPL_SA]));
        ratio (cpu, median (&s_matrix_cpu[b][f][IMPL_SA]) / median (&s_matrix_cpu[b][f][IMPL_GTASK]));
        ratio (lat_bw, median (&s_matrix_lat[b][f][IMPL_GTASK]) /
                       median (&s_matrix_lat[b][f][IMPL_SA_BUSY_WAIT]));
        ratio (cpu_bw, median (&s_matrix_cpu[b][f][IMPL_SA_BUSY_WAIT]) /
                       median (&s_matrix_cpu[b][f][IMPL_GTASK]));
      }
}

static void
async_round (gpointer data,
             gpointer unused)
{
  guint r = GPOINTER_TO_UINT (data);

  g_assert_true (sa_caller_is_async ());
  if (want (3))
    async_nb_slices (&s_anb_sa, &s_anb_raw);
  for (guint k = 0; k < N_SLICES / 2 && want (4); k++)
    round_trip_slice (k);
  for (guint k = 0; k < 4 && want (6); k++)
    {
      LockRun la, lb, lc, ld, le;

      /* 10,000 waiters on one key each time, four times a round. */
      if (k % 2 == 0)
        {
          la = lock_sa (n_of (10000));
          lc = lock_singleflight (n_of (10000));
          le = lock_sa_async (n_of (10000));
          ld = lock_singleflight_chained (n_of (10000));
          lb = lock_raw (n_of (10000));
        }
      else
        {
          lb = lock_raw (n_of (10000));
          ld = lock_singleflight_chained (n_of (10000));
          le = lock_sa_async (n_of (10000));
          lc = lock_singleflight (n_of (10000));
          la = lock_sa (n_of (10000));
        }
      add (&s_lock_sa_async, le.us_per_waiter);
      add (&s_lock_sf, lc.us_per_waiter);
      add (&s_lock_sf_mem, lc.bytes_per_waiter);
      add (&s_lock_sfc, ld.us_per_waiter);
      add (&s_lock_sfc_mem, ld.bytes_per_waiter);
      add (&s_lock_sa, la.us_per_waiter);
      add (&s_lock_sa_mem, la.bytes_per_waiter);
      add (&s_lock_raw, lb.us_per_waiter);
      add (&s_lock_raw_mem, lb.bytes_per_waiter);
      lock_executions = MAX (lock_executions, la.executions);
    }
  if (want (5))
    bursts (r);
  for (guint k = 0; k < N_SLICES / 2 && want (9); k++)
    {
      guint slice = n_of (200);

      if (k % 2 == 0 || !have_libdex)
        {
          add (&s_two_step_sa, two_step_sa (slice));
#ifdef SA_BENCH_LIBDEX
          add (&s_two_step_dex, two_step_dex (slice));
#endif
        }
      else
        {
#ifdef SA_BENCH_LIBDEX
          add (&s_two_step_dex, two_step_dex (slice));
#endif
          add (&s_two_step_sa, two_step_sa (slice));
        }
    }
  if (want (12))
    matrix_round ();
  if (want (7) && r < MIN (rounds, scale < 1.0 ? 3u : 5u))   /* case 7 is long: fewer rounds */
    for (guint k = 0; k < N_NESTED_N; k++)
      for (guint i = 0; i < N_NESTED; i++)
        {
          NestedKind kind = (i + r) % N_NESTED;

          if (kind != NESTED_DEX || have_libdex)
            add (&s_nested[kind][k], nested_run (kind, nested_n[k]));
        }
}

static void
async_outside_round (guint r)
{
  Burst x, y;

  g_assert_null (g_main_current_source ());
  g_assert_true (sa_caller_is_async ());
  if (want (3))
    async_nb_slices (&s_anb_top_sa, &s_anb_top_raw);

  if (!want (5))
    return;
  if (r % 2 == 0)
    {
      x = burst_sa (burst_n);
      y = burst_raw (burst_n);
    }
  else
    {
      y = burst_raw (burst_n);
      x = burst_sa (burst_n);
    }
  add (&s_burst_top_sa, x.ops_per_s);
  add (&s_burst_top_raw, y.ops_per_s);
}

static void
thread_round (void)
{
  for (guint k = 0; k < N_SLICES / 2; k++)
    for (guint i = 0; i < N_WAITS; i++)
      {
        WaitKind kind = k % 2 == 0 ? i : N_WAITS - 1 - i;

        if (kind != WAIT_DEX || have_libdex)
          add (&s_wait[kind], thread_wait (kind, n_of (kind == WAIT_SA_BLOCKING ? 20000 : 1000)));
      }
}

static void
header (const char *title)
{
  g_print ("\n%s\n\n", title);
  g_print ("| %-52s | %12s | %12s | %12s | %-6s |\n", "case", "median", "min", "max", "unit");
  g_print ("|%s|%s|%s|%s|%s|\n", "------------------------------------------------------",
           "--------------", "--------------", "--------------", "--------");
}

/* --profile NAME N: one case, N calls, from a callback of the default
 * context as in the timed rounds, and nothing else; for bench/profile,
 * which counts the instructions under callgrind at two values of N and
 * takes the difference per call, where the machine's noise cannot reach.
 * The case's timed figure goes to stderr. */
typedef struct
{
  const char *name;
  guint       n;
} Profile;

static void
profile_case (gpointer data,
              gpointer unused)
{
  const Profile *p = data;
  double v;

  if (g_str_equal (p->name, "anb-sa"))
    v = time_async_nb_sa (p->n);
  else if (g_str_equal (p->name, "anb-raw"))
    v = time_async_nb_raw (p->n);
  else if (g_str_equal (p->name, "burst-sa"))
    v = burst_sa (p->n).ops_per_s;
  else if (g_str_equal (p->name, "burst-raw"))
    v = burst_raw (p->n).ops_per_s;
  else if (g_str_equal (p->name, "burst-pool-sa"))
    v = burst_sa_on (bounded, p->n, FALSE).ops_per_s;
  else if (g_str_equal (p->name, "burst-gtask-sa"))
    v = burst_sa_on (on_gtask, p->n, FALSE).ops_per_s;
  else if (g_str_equal (p->name, "burst-bare"))
    v = burst_bare_pool (p->n, FALSE).ops_per_s;
  else if (g_str_equal (p->name, "rt-sa"))
    v = time_async_b_sa (sa_dispatcher_get_default (), p->n);
  else if (g_str_equal (p->name, "rt-pool-sa"))
    v = time_async_b_sa (bounded, p->n);
  else if (g_str_equal (p->name, "rt-gtask-sa"))
    v = time_async_b_sa (on_gtask, p->n);
  else if (g_str_equal (p->name, "rt-bare"))
    v = time_async_b_bare_pool (p->n);
  else if (g_str_equal (p->name, "rt-raw"))
    v = time_async_b_raw (p->n);
  else if (g_str_equal (p->name, "rt-cancel-sa"))
    v = time_async_b_sa_cancellable (p->n);
  else if (g_str_equal (p->name, "rt-cancel-raw"))
    v = time_async_b_raw_cancellable (p->n);
#ifdef SA_BENCH_LIBDEX
  else if (g_str_equal (p->name, "rt-dex"))
    v = time_async_b_dex (p->n);
  else if (g_str_equal (p->name, "rt-dex-push"))
    v = time_async_b_dex_push (p->n);
  else if (g_str_equal (p->name, "burst-dex"))
    v = burst_dex (p->n, FALSE, FALSE).ops_per_s;
  else if (g_str_equal (p->name, "burst-dex-push"))
    v = burst_dex (p->n, TRUE, FALSE).ops_per_s;
#endif
  else if (g_str_equal (p->name, "lock-sa"))
    v = lock_sa (p->n).us_per_waiter;
  else if (g_str_equal (p->name, "lock-sa-async"))
    v = lock_sa_async (p->n).us_per_waiter;
  else if (g_str_equal (p->name, "lock-raw"))
    v = lock_raw (p->n).us_per_waiter;
  else if (g_str_equal (p->name, "lock-singleflight"))
    v = lock_singleflight (p->n).us_per_waiter;
  else if (g_str_equal (p->name, "lock-singleflight-chained"))
    v = lock_singleflight_chained (p->n).us_per_waiter;
  else
    {
      g_printerr ("bench: no case named %s to profile\n", p->name);
      exit (2);
    }
  g_printerr ("%s %.3f\n", p->name, v);
}

static void
print_figure (const Series *s)
{
  g_autofree char *name = g_strdelimit (g_ascii_strdown (s->name, -1), " ,:+()", '-');
  Series copy = *s;

  copy.name = name;
  figure (&copy);
}

static double
speedup (const Series *baseline,
         const Series *s)
{
  return median (baseline) / median (s);
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *tmp_path = NULL;
  int fd;

  /* Every allocation goes through malloc, so that heap statistics see it
   * (the slice allocator of GLib 2.74 keeps freed blocks for reuse, which
   * would credit a case with what the case before it freed; GLib 2.76 and
   * later allocate this way anyway). GLib reads G_SLICE when it is
   * loaded, so set it and start again. */
  if (g_strcmp0 (g_getenv ("G_SLICE"), "always-malloc") != 0)
    {
      g_setenv ("G_SLICE", "always-malloc", TRUE);
      execv ("/proc/self/exe", argv);
      g_printerr ("bench: cannot restart with G_SLICE=always-malloc; heap figures are rough\n");
    }

#ifdef SA_BENCH_LIBDEX
  dex_init ();
  have_libdex = TRUE;
#endif
  bounded = sa_dispatcher_new ();
  sa_dispatcher_set_max_threads (bounded, 4);
  on_gtask = sa_dispatcher_new ();
  sa_dispatcher_set_gtask_pool (on_gtask, TRUE);
  bare_pool = _sa_pool_new (0);
  matrix_init ();

  if (argc == 4 && g_str_equal (argv[1], "--profile"))
    {
      Profile p = { argv[2], (guint) g_ascii_strtoull (argv[3], NULL, 10) };

      /* The same types exist in both modes, as in an application: the
       * raw baselines then look their GTask properties up in the same
       * table of property specs as smartasync's calls do. */
      g_object_unref (sa_lock_new (NULL));
      g_object_unref (sa_operation_new_non_blocking (immediate_start, NULL, NULL));
      in_callback (profile_case, &p);
      return 0;
    }

  for (int i = 1; i < argc; i++)
    {
      if (g_str_equal (argv[i], "--quick"))
        scale = 0.25, rounds = 9;
      else if (g_str_equal (argv[i], "--tiny"))
        scale = 0.002, rounds = 1;
      else if (g_str_has_prefix (argv[i], "--only="))
        {
          g_auto(GStrv) cases = g_strsplit (argv[i] + strlen ("--only="), ",", -1);

          for (guint k = 0; cases[k] != NULL; k++)
            only |= 1u << MIN (31u, (guint) g_ascii_strtoull (cases[k], NULL, 10));
        }
    }

  /* The file that case 7's GIO in blocking and case 9 read. */
  fd = g_file_open_tmp ("sa-bench-XXXXXX", &tmp_path, NULL);
  g_assert_cmpint (fd, >=, 0);
  close (fd);
  {
    char contents[4096];

    memset (contents, 'x', sizeof contents);
    g_assert_true (g_file_set_contents (tmp_path, contents, sizeof contents, NULL));
  }
  nested_file = g_file_new_for_path (tmp_path);
  load_op = sa_operation_new_non_blocking (load_start, g_object_ref (nested_file), g_object_unref);

  for (guint i = 0; i < N_NESTED; i++)
    for (guint k = 0; k < N_NESTED_N; k++)
      {
        nested_names[i][k] = g_strdup_printf ("7 %s, N=%u", nested_kinds[i].title, nested_n[k]);
        s_nested[i][k] = (Series) { nested_names[i][k], "ms" };
      }

  /* Warm up: types, pools, the thread's private context. */
  time_sync_sa (100);
  time_sync_raw_reused (100);

  burst_n = n_of (100000);
  for (guint r = 0; r < rounds; r++)
    {
      /* Sync-caller cases: this thread owns nothing. */
      if (want (1))
        {
          add (&s_detect_sa, time_detect_sa (n_of (2000000)));
          add (&s_detect_raw, time_detect_raw (n_of (2000000)));
        }
      for (guint k = 0; k < N_SLICES && want (2); k++)
        {
          guint slice = n_of (2500);

          if (k % 2 == 0)
            {
              add (&s_sync_sa, time_sync_sa (slice));
              add (&s_sync_dispatched, time_sync_raw_dispatched (slice));
              add (&s_sync_reused, time_sync_raw_reused (slice));
              add (&s_sync_new, time_sync_raw_new_context (slice));
              add (&s_sync_loop, time_sync_raw_main_loop (slice));
            }
          else
            {
              add (&s_sync_loop, time_sync_raw_main_loop (slice));
              add (&s_sync_new, time_sync_raw_new_context (slice));
              add (&s_sync_reused, time_sync_raw_reused (slice));
              add (&s_sync_dispatched, time_sync_raw_dispatched (slice));
              add (&s_sync_sa, time_sync_sa (slice));
            }
        }
      if (want (8))
        thread_round ();

      /* Async-caller cases, from a callback of the default context's
       * loop, where an application's calls are made. */
      in_callback (async_round, GUINT_TO_POINTER (r));

      /* The same from a thread that acquired the context but is not in
       * any callback: the detection cannot tell ownership from the
       * dispatch then, and asks the context. */
      g_assert_true (g_main_context_acquire (NULL));
      async_outside_round (r);
      g_main_context_release (NULL);
    }

  header ("Each line: the median of the rounds, with their min and max; compared cases interleaved.");
  {
    const Series *all[] = {
      &s_detect_sa, &s_detect_raw, &s_sync_sa, &s_sync_dispatched, &s_sync_reused, &s_sync_new, &s_sync_loop,
      &s_anb_sa, &s_anb_raw, &s_anb_top_sa, &s_anb_top_raw,
      &s_ab_sa, &s_ab_sa_pool, &s_ab_sa_gtask, &s_ab_bare, &s_ab_raw, &s_ab_raw_sync, &s_ab_dex, &s_ab_dex_push,
      &s_ab_sa_cancel, &s_ab_raw_cancel, &s_ab_lock_cancel, &s_ab_sa_cpu, &s_ab_raw_cpu,
      &s_burst_sa, &s_burst_raw, &s_burst_pool_sa, &s_burst_gtask_sa, &s_burst_bare, &s_burst_dex, &s_burst_dex_push,
      &s_burst_sa_mem, &s_burst_raw_mem, &s_burst_pool_mem, &s_burst_bare_mem, &s_burst_dex_mem,
      &s_burst_dex_push_mem,
      &s_burst_top_sa, &s_burst_top_raw,
      &s_lock_sa, &s_lock_sa_async, &s_lock_sf, &s_lock_sfc, &s_lock_raw, &s_lock_sa_mem, &s_lock_sf_mem, &s_lock_sfc_mem,
      &s_lock_raw_mem,
      &s_wait[0], &s_wait[1], &s_wait[2], &s_wait[3],
      &s_two_step_sa, &s_two_step_dex,
    };
    for (guint i = 0; i < G_N_ELEMENTS (all); i++)
      if (all[i]->n > 0)
        report (all[i]);
    for (guint k = 0; k < N_NESTED_N; k++)
      for (guint i = 0; i < N_NESTED; i++)
        if (s_nested[i][k].n > 0)
          report (&s_nested[i][k]);
    matrix_report ();
    g_print ("\nSaLock executions for %u waiters on one key: %" G_GUINT64_FORMAT "\n\n",
             n_of (10000), lock_executions);
    if (!have_libdex)
      g_print ("libdex was not built in: its rows are left out (bench/run builds it when its source is there)\n\n");

    for (guint i = 0; i < G_N_ELEMENTS (all); i++)
      if (all[i]->n > 0)
        print_figure (all[i]);
  }
  g_print ("figure lock-executions %" G_GUINT64_FORMAT " count\n", lock_executions);
  for (guint i = 0; i < N_NESTED; i++)
    for (guint k = 0; k < N_NESTED_N; k++)
      if (s_nested[i][k].n > 0)
        {
          g_print ("figure nested-%s-n%u %.3f ms\n", nested_kinds[i].key, nested_n[k], median (&s_nested[i][k]));
          g_print ("figure nested-%s-n%u-worst %.3f ms\n", nested_kinds[i].key, nested_n[k],
                   max_of (&s_nested[i][k]));
        }

  ratio ("detect-sa-vs-raw", median (&s_detect_sa) / median (&s_detect_raw));
  ratio ("sync-vs-dispatched-context", median (&s_sync_sa) / median (&s_sync_dispatched));
  ratio ("sync-vs-reused-context", median (&s_sync_sa) / median (&s_sync_reused));
  ratio ("new-context-vs-sync", median (&s_sync_new) / median (&s_sync_sa));
  ratio ("main-loop-vs-sync", median (&s_sync_loop) / median (&s_sync_sa));
  ratio ("async-nb-vs-raw-gtask", median (&s_anb_sa) / median (&s_anb_raw));
  ratio ("async-nb-outside-callback-vs-raw-gtask", median (&s_anb_top_sa) / median (&s_anb_top_raw));
  ratio ("async-b-vs-raw-run-in-thread", median (&s_ab_sa) / median (&s_ab_raw));
  ratio ("async-b-pool-vs-raw-run-in-thread", median (&s_ab_sa_pool) / median (&s_ab_raw));
  ratio ("async-b-vs-raw-run-in-thread-sync", median (&s_ab_sa) / median (&s_ab_raw_sync));
  ratio ("rt-speedup-default-vs-gtask", speedup (&s_ab_raw, &s_ab_sa));
  ratio ("rt-speedup-pool-vs-gtask", speedup (&s_ab_raw, &s_ab_sa_pool));
  ratio ("rt-cancellable-speedup-vs-gtask", speedup (&s_ab_raw_cancel, &s_ab_sa_cancel));
  ratio ("rt-lock-cancellable-vs-dispatcher", median (&s_ab_lock_cancel) / median (&s_ab_sa_cancel));
  ratio ("rt-lock-cancellable-speedup-vs-gtask", speedup (&s_ab_raw_cancel, &s_ab_lock_cancel));
  ratio ("rt-speedup-bare-pool-vs-gtask", speedup (&s_ab_raw, &s_ab_bare));
  ratio ("rt-speedup-default-vs-gtask-pool", speedup (&s_ab_sa_gtask, &s_ab_sa));
  ratio ("burst-throughput-vs-raw", median (&s_burst_sa) / median (&s_burst_raw));
  ratio ("burst-outside-callback-throughput-vs-raw", median (&s_burst_top_sa) / median (&s_burst_top_raw));
  ratio ("burst-max-threads-4-vs-raw", median (&s_burst_pool_sa) / median (&s_burst_raw));
  ratio ("burst-bare-pool-vs-raw", median (&s_burst_bare) / median (&s_burst_raw));
  ratio ("burst-default-vs-gtask-pool", median (&s_burst_sa) / median (&s_burst_gtask_sa));
  ratio ("burst-bytes-vs-raw", median (&s_burst_sa_mem) / MAX (1.0, median (&s_burst_raw_mem)));
  ratio ("lock-time-vs-singleflight", median (&s_lock_sa) / median (&s_lock_sf));
  ratio ("lock-bytes-vs-singleflight", median (&s_lock_sa_mem) / MAX (1.0, median (&s_lock_sf_mem)));
  ratio ("lock-time-vs-singleflight-chained", median (&s_lock_sa) / median (&s_lock_sfc));
  ratio ("lock-async-time-vs-singleflight", median (&s_lock_sa_async) / median (&s_lock_sf));
  ratio ("lock-bytes-vs-singleflight-chained", median (&s_lock_sa_mem) / MAX (1.0, median (&s_lock_sfc_mem)));
  ratio ("burst-pool-bytes-vs-raw", median (&s_burst_pool_mem) / MAX (1.0, median (&s_burst_raw_mem)));
  ratio ("burst-bare-pool-bytes-vs-raw", median (&s_burst_bare_mem) / MAX (1.0, median (&s_burst_raw_mem)));
  if (have_libdex)
    {
      ratio ("rt-speedup-pool-vs-libdex", speedup (&s_ab_dex, &s_ab_sa_pool));
      ratio ("rt-speedup-pool-vs-libdex-push", speedup (&s_ab_dex_push, &s_ab_sa_pool));
      ratio ("rt-speedup-default-vs-libdex", speedup (&s_ab_dex, &s_ab_sa));
      ratio ("burst-max-threads-4-vs-libdex", median (&s_burst_pool_sa) / median (&s_burst_dex));
      ratio ("burst-max-threads-4-vs-libdex-push", median (&s_burst_pool_sa) / median (&s_burst_dex_push));
      ratio ("burst-throughput-vs-libdex", median (&s_burst_sa) / median (&s_burst_dex));
      ratio ("burst-pool-bytes-vs-libdex", median (&s_burst_pool_mem) / MAX (1.0, median (&s_burst_dex_mem)));
      ratio ("thread-wait-sa-nb-vs-libdex", median (&s_wait[WAIT_SA_NON_BLOCKING]) / median (&s_wait[WAIT_DEX]));
      ratio ("two-step-sa-vs-libdex", median (&s_two_step_sa) / median (&s_two_step_dex));
    }
  ratio ("lock-time-vs-independent-tasks", median (&s_lock_sa) / median (&s_lock_raw));
  matrix_ratios ();

  for (guint i = 0; i < N_NESTED; i++)
    for (guint k = 0; k < N_NESTED_N; k++)
      g_free (nested_names[i][k]);
  g_clear_object (&load_op);
  g_clear_object (&nested_file);
  unlink (tmp_path);
  g_clear_object (&bounded);
  g_clear_object (&on_gtask);

  return 0;
}
