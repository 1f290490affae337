/* test-stress.c: 8 threads, each its own main loop, mixing the four cells
 * and SaLock; every result checked, every callback counted, memory and
 * file descriptors flat after warm-up.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "test-util.h"

#define N_THREADS 8

static guint n_calls = 100000;   /* per thread; SA_STRESS_CALLS overrides */

static void
echo_body (SaOperation  *op,
           GTask        *task,
           GCancellable *cancellable,
           gpointer      user_data)
{
  test_return_int (task, GPOINTER_TO_INT (user_data));
}

typedef struct
{
  gint      expected;
  gint      calls;      /* callbacks seen: must end at exactly 1 */
  gint     *done;
  gint     *errors;
} Pending;

static void
pending_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Pending *p = user_data;
  g_autoptr(GError) error = NULL;
  GValue *value;

  if (SA_IS_LOCK (source))
    value = sa_lock_call_finish (SA_LOCK (source), result, &error);
  else
    value = sa_dispatcher_call_finish (SA_DISPATCHER (source), result, &error);

  if (value == NULL || g_value_get_int (value) != p->expected || ++p->calls != 1)
    (*p->errors)++;
  if (value != NULL)
    g_boxed_free (G_TYPE_VALUE, value);
  (*p->done)++;
}

static long
rss_kib (void)
{
  long size = 0, resident = 0;
  FILE *f = fopen ("/proc/self/statm", "r");

  if (f != NULL)
    {
      if (fscanf (f, "%ld %ld", &size, &resident) != 2)
        resident = 0;
      fclose (f);
    }
  return resident * 4;
}

static guint
count_fds (void)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  guint n = 0;

  while (dir != NULL && g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

typedef struct
{
  guint   index;
  SaLock *lock;
  gint    errors;
  guint64 checked;
} Worker;

static gint warmed_up;          /* atomic: threads past warm-up */
static gint lock_alive;         /* atomic: lock tasks and the lock, alive */

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
static GMutex marks_lock;
static GCond  marks_cond;

static gpointer
worker_thread (gpointer data)
{
  Worker *w = data;
  SaDispatcher *d = sa_dispatcher_get_default ();
  GMainContext *ctx = g_main_context_new ();
  Pending *pending = g_new0 (Pending, n_calls);
  gint done = 0, issued = 0;
  char key[16];

  g_main_context_push_thread_default (ctx);

  for (guint i = 0; i < n_calls; i++)
    {
      gint v = (gint) (w->index * n_calls + i);
      g_autoptr(SaOperation) op = NULL;
      g_autoptr(GTask) task = NULL;
      g_autoptr(GError) error = NULL;
      GValue *value;

      switch (i % 5)
        {
        case 0:   /* sync caller, non-blocking */
        case 1:   /* sync caller, blocking */
          op = (i % 5 == 0) ? sa_operation_new_non_blocking (echo_body, GINT_TO_POINTER (v), NULL)
                            : sa_operation_new_blocking (echo_body, GINT_TO_POINTER (v), NULL);
          value = sa_dispatcher_call_sync (d, op, NULL, &error);
          if (value == NULL || g_value_get_int (value) != v)
            w->errors++;
          if (value != NULL)
            g_boxed_free (G_TYPE_VALUE, value);
          w->checked++;
          break;

        case 2:   /* async caller (this thread owns its context), non-blocking */
        case 3:   /* async caller, blocking: a worker thread */
          op = (i % 5 == 2) ? sa_operation_new_non_blocking (echo_body, GINT_TO_POINTER (v), NULL)
                            : sa_operation_new_blocking (echo_body, GINT_TO_POINTER (v), NULL);
          pending[i] = (Pending) { v, 0, &done, &w->errors };
          task = sa_dispatcher_call (d, op, SA_CALL_MODE_AUTO, NULL, pending_cb, &pending[i]);
          issued++;
          break;

        default:  /* SaLock, 16 keys per thread: each caller gets its key's value */
          g_snprintf (key, sizeof key, "%u-%u", w->index, i % 16);
          op = sa_operation_new_non_blocking (echo_body, GINT_TO_POINTER (v), NULL);
          pending[i] = (Pending) { v, 0, &done, &w->errors };
          task = track (sa_lock_call (w->lock, key, op, SA_CALL_MODE_AUTO, NULL, pending_cb, &pending[i]),
                        &lock_alive);
          issued++;
          /* Completing every call before the next on the same key keeps
           * the expected value that of this call's own execution. */
          while (done < issued)
            g_main_context_iteration (ctx, TRUE);
          break;
        }

      /* Bounded in flight: let the loop catch up now and then. */
      if (issued - done > 256)
        while (done < issued - 64)
          g_main_context_iteration (ctx, TRUE);

      if (i == n_calls / 4)
        {
          g_mutex_lock (&marks_lock);
          g_atomic_int_inc (&warmed_up);
          g_cond_broadcast (&marks_cond);
          g_mutex_unlock (&marks_lock);
        }
    }

  while (done < issued)
    g_main_context_iteration (ctx, TRUE);
  /* A second callback would show up here. */
  while (g_main_context_iteration (ctx, FALSE))
    ;
  for (guint i = 0; i < n_calls; i++)
    if (i % 5 >= 2 && pending[i].calls != 1)
      w->errors++;
  w->checked += issued;

  g_main_context_pop_thread_default (ctx);
  g_main_context_unref (ctx);
  g_free (pending);

  return NULL;
}

static void
test_stress (void)
{
  Worker workers[N_THREADS];
  GThread *threads[N_THREADS];
  SaLock *lock = track (sa_lock_new (NULL), &lock_alive);
  long rss_warm, rss_end;
  guint fds_warm, fds_end;
  guint64 checked = 0;
  gint errors = 0;
  gint64 start = g_get_monotonic_time ();

  for (guint t = 0; t < N_THREADS; t++)
    {
      workers[t] = (Worker) { t, lock, 0, 0 };
      threads[t] = g_thread_new ("stress", worker_thread, &workers[t]);
    }

  g_mutex_lock (&marks_lock);
  while (g_atomic_int_get (&warmed_up) < N_THREADS)
    g_cond_wait (&marks_cond, &marks_lock);
  g_mutex_unlock (&marks_lock);
  rss_warm = rss_kib ();
  fds_warm = count_fds ();

  for (guint t = 0; t < N_THREADS; t++)
    g_thread_join (threads[t]);
  rss_end = rss_kib ();
  fds_end = count_fds ();

  for (guint t = 0; t < N_THREADS; t++)
    {
      errors += workers[t].errors;
      checked += workers[t].checked;
    }

  g_test_message ("%u threads x %u calls = %" G_GUINT64_FORMAT " results checked in %.1f s; "
                  "errors %d; RSS after warm-up %ld KiB, at the end %ld KiB; fds %u -> %u",
                  N_THREADS, n_calls, checked, (g_get_monotonic_time () - start) / 1e6,
                  errors, rss_warm, rss_end, fds_warm, fds_end);
  g_assert_cmpint (errors, ==, 0);
  g_assert_cmpuint (checked, ==, (guint64) N_THREADS * n_calls);
  /* Flat: no growth with the number of calls past warm-up (8 MiB of
   * slack for the allocator's arenas), and no descriptor left behind
   * (the worker threads' private contexts are gone once they exit). */
#ifndef __SANITIZE_ADDRESS__
  g_assert_cmpint (rss_end - rss_warm, <, 8 * 1024);
#else
  /* AddressSanitizer keeps freed memory in quarantine: RSS says nothing. */
  g_test_message ("RSS not checked under AddressSanitizer");
#endif
  g_assert_cmpuint (fds_end, <=, fds_warm);

  /* Every lock caller's task, and the lock, are gone. */
  g_object_unref (lock);
  g_assert_cmpint (g_atomic_int_get (&lock_alive), ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  const char *env = g_getenv ("SA_STRESS_CALLS");

  g_test_init (&argc, &argv, NULL);
  if (env != NULL)
    n_calls = MAX (10, (guint) atoi (env));

  g_test_add_func ("/stress/eight-threads-mixed", test_stress);

  return g_test_run ();
}
