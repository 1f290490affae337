/* bench/placement.c: where the kernel puts an offload's body, and what that costs a round trip
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One async call at a time of a blocking operation that returns at once,
 * from a thread that owns the default context, in segments of 1,000
 * calls: each segment prints its mean round trip and in how many calls
 * the body ran on the caller's processor. Three pools, interleaved: the
 * default dispatcher's, one with max-threads 4, and g_task_run_in_thread()
 * beside them. A burst first gives every pool several threads. Nothing is
 * asserted: on a host whose idle processors are slow to wake (a virtual
 * machine with halt polling off), the round trip follows where the body
 * runs, which the scheduler, not the library, decides.
 *
 * A fourth row, "floor", is the floor of any offload's round trip on the
 * host: the caller hands a turn to one waiting thread and waits for it
 * back, with a GMutex and a GCond, no main loop. It is two thread
 * wake-ups and nothing else, which every pool above pays too.
 *
 *   bench/placement [SEGMENTS]
 */

#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include <smartasync.h>

#define CALLS 1000
#define BURST 64

static gint body_cpu;

static void
sa_body (SaOperation  *operation,
         GTask        *task,
         GCancellable *cancellable,
         gpointer      data)
{
  g_atomic_int_set (&body_cpu, sched_getcpu ());
  g_task_return_boolean (task, TRUE);
}

static void
gtask_body (GTask        *task,
            gpointer      source_object,
            gpointer      task_data,
            GCancellable *cancellable)
{
  g_atomic_int_set (&body_cpu, sched_getcpu ());
  g_task_return_boolean (task, TRUE);
}

static void
count_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      data)
{
  (*(guint *) data)++;
}

/* The floor's partner thread: takes each turn, hands it back. */
static GMutex turn_lock;
static GCond  turn_cond;
static guint  turn;        /* 1: the partner's, 0: the caller's */

static gpointer
partner_main (gpointer data)
{
  g_mutex_lock (&turn_lock);
  for (;;)
    {
      while (turn != 1)
        g_cond_wait (&turn_cond, &turn_lock);
      g_atomic_int_set (&body_cpu, sched_getcpu ());
      turn = 0;
      g_cond_broadcast (&turn_cond);
    }
  return NULL;
}

static void
floor_round_trip (void)
{
  g_mutex_lock (&turn_lock);
  turn = 1;
  g_cond_broadcast (&turn_cond);
  while (turn != 0)
    g_cond_wait (&turn_cond, &turn_lock);
  g_mutex_unlock (&turn_lock);
}

/* One call of @d, or of g_task_run_in_thread() when @d is NULL. */
static void
call (SaDispatcher *d,
      SaOperation  *op,
      guint        *done)
{
  GTask *task;

  if (d != NULL)
    {
      g_object_unref (sa_dispatcher_call (d, op, SA_CALL_MODE_AUTO, NULL, count_cb, done));
      return;
    }
  task = g_task_new (NULL, NULL, count_cb, done);
  g_task_run_in_thread (task, gtask_body);
  g_object_unref (task);
}

/* One round trip of row @p: a call waited for on this thread's context,
 * or for the floor, one turn handed to the partner and back. */
static void
round_trip (SaDispatcher *d,
            SaOperation  *op,
            gboolean      is_floor)
{
  guint done = 0;

  if (is_floor)
    {
      floor_round_trip ();
      return;
    }
  call (d, op, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

int
main (int   argc,
      char *argv[])
{
  guint segments = argc > 1 ? (guint) atoi (argv[1]) : 6;
  g_autoptr(SaOperation) op = sa_operation_new_blocking (sa_body, NULL, NULL);
  g_autoptr(SaDispatcher) bounded = sa_dispatcher_new ();
  SaDispatcher *pools[] = { sa_dispatcher_get_default (), bounded, NULL, NULL };
  const char *names[] = { "default", "max-threads 4", "g_task_run_in_thread",
                          "floor" };
  const guint floor_row = 3;
  double total[G_N_ELEMENTS (pools)] = { 0 };
  guint total_same[G_N_ELEMENTS (pools)] = { 0 };

  sa_dispatcher_set_max_threads (bounded, 4);
  if (!g_main_context_acquire (NULL))
    return 1;   /* the thread owns the default context: an async caller */
  g_thread_unref (g_thread_new ("floor", partner_main, NULL));

  for (guint p = 0; p < floor_row; p++)
    {
      guint done = 0;

      for (guint i = 0; i < BURST; i++)
        call (pools[p], op, &done);
      while (done < BURST)
        g_main_context_iteration (NULL, TRUE);
    }

  printf ("| segment | pool | round trip (us) | body on the caller's CPU |\n|---|---|---|---|\n");
  for (guint s = 0; s < segments; s++)
    for (guint p = 0; p < G_N_ELEMENTS (pools); p++)
      {
        gint64 t0 = g_get_monotonic_time ();
        guint same = 0;
        double us;

        for (guint i = 0; i < CALLS; i++)
          {
            round_trip (pools[p], op, p == floor_row);
            if (g_atomic_int_get (&body_cpu) == sched_getcpu ())
              same++;
          }
        us = (double) (g_get_monotonic_time () - t0) / CALLS;
        total[p] += us;
        total_same[p] += same;
        printf ("| %u | %s | %.1f | %u of %u |\n", s + 1, names[p], us, same, CALLS);
      }

  for (guint p = 0; p < G_N_ELEMENTS (pools); p++)
    printf ("figure placement-%s %.1f us, on the caller's CPU %.0f%%\n", names[p],
            total[p] / segments, 100.0 * total_same[p] / (segments * CALLS));
  printf ("ratio g_task_run_in_thread-vs-default %.2f\n", total[2] / total[0]);
  printf ("ratio g_task_run_in_thread-vs-max-threads-4 %.2f\n", total[2] / total[1]);
  printf ("ratio default-vs-floor %.2f\n", total[0] / total[floor_row]);
  printf ("ratio g_task_run_in_thread-vs-floor %.2f\n", total[2] / total[floor_row]);

  g_main_context_release (NULL);
  return 0;
}
