/* sa-drain-thread.c: the drain thread: iterates private contexts their threads gave up until nothing can complete on them
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "sa-drain-thread-private.h"

/*
 * A context given up by its thread while a call may
 * still complete on it (a wait abandoned at a timeout or a cancellation)
 * is drained by the one drain thread of the process, shared by every such
 * context: one thread however many calls are abandoned, where a thread
 * each would be a thread per call that never completes. The thread
 * multiplexes GLib's own iteration over them: it prepares and queries
 * each context it holds, polls all their descriptors at once, then checks
 * and dispatches each, with that context pushed as thread-default, as its
 * own thread would have. A context whose call has completed (or never
 * will: its bridge is gone) is emptied of what is ready, as any sync wait
 * ends, then released and dropped.
 *
 * One thread for the process rather than one per pool: an abandoned
 * context belongs to a sync caller's thread, not to a pool, and the drain
 * thread runs no body, only late completions (the library's callback
 * that drops a late result, and the finalizers it releases).
 *
 * It also iterates a context of its own, shared, while it is held: there
 * the calls complete that must not depend on any caller's context (an
 * SaLock execution whose starter may leave, made from this thread, since
 * only the context's owner may push it). The thread stays a moment after
 * the last hold, so that such calls made one after another do not each
 * start it, then frees that context as it exits.
 */
struct _SaDrain
{
  gatomicrefcount  ref_count;    /* the drain thread's and the completer's */
  GMainContext    *context;
  gint             completed;    /* atomic: no completion is awaited */
  guint            n_after_completed; /* the drain thread's: its dispatches once completed */

  /* The drain thread's alone, for one pass. */
  gint             max_priority;
  guint            first_fd;     /* where its descriptors start in the pass's array */
  guint            n_fds;
};

/* Guarded by drains_lock. The thread runs while it holds a context, and
 * exits once it holds none: it costs nothing while no call is abandoned. */
static GMutex        drains_lock;
static GPtrArray    *drains_started;   /* (element-type SaDrain) (nullable)
                                        * handed over, not yet taken by the thread */
static GMainContext *drains_wakeup;    /* (nullable) the running thread's context
                                        * with no source: its wakeup tells it of a
                                        * new drain or run */
static GSList       *drains_runs;      /* (element-type DrainRun) newest first:
                                        * functions to run once, _sa_drain_run() */
static GMainContext *shared_context;   /* (nullable) made by the first hold,
                                        * freed as the thread exits:
                                        * _sa_drain_hold_shared() */
static guint         shared_holds;
static gint64        shared_released;  /* when the last hold ended */

/* How long the thread stays for the shared context once no hold is left:
 * calls made one after another would each start a thread otherwise. */
#define SHARED_LINGER_US (G_USEC_PER_SEC / 2)

/* Under drains_lock: how long the thread stays for the shared context
 * still, in ms; 0 once it needs not, -1 while it is held. */
static gint
shared_linger_ms (void)
{
  gint64 left;

  if (shared_holds > 0)
    return -1;
  if (shared_context == NULL)
    return 0;
  left = shared_released + SHARED_LINGER_US - g_get_monotonic_time ();

  return left > 0 ? (gint) ((left + 999) / 1000) : 0;
}

typedef struct
{
  GSourceFunc func;
  gpointer    data;
} DrainRun;

SaDrain *
_sa_drain_new (GMainContext *context,
               gboolean      completed)
{
  SaDrain *drain = g_new0 (SaDrain, 1);

  g_atomic_ref_count_init (&drain->ref_count);
  drain->context = context;
  drain->completed = completed;

  return drain;
}

SaDrain *
_sa_drain_ref (SaDrain *drain)
{
  g_atomic_ref_count_inc (&drain->ref_count);

  return drain;
}

static void
drain_unref (SaDrain *drain)
{
  if (!g_atomic_ref_count_dec (&drain->ref_count))
    return;

  g_main_context_unref (drain->context);
  g_free (drain);
}

/* Prepares and queries @drain's context into @fds; lowers *@timeout to
 * its own. */
static void
drain_prepare (SaDrain *drain,
               GArray  *fds,
               gint    *timeout)
{
  gboolean ready = g_main_context_prepare (drain->context, &drain->max_priority);
  gint room = 8;
  gint n_fds;
  gint context_timeout;

  drain->first_fd = fds->len;
  for (;;)
    {
      g_array_set_size (fds, drain->first_fd + (guint) room);
      n_fds = g_main_context_query (drain->context, drain->max_priority, &context_timeout,
                                    &g_array_index (fds, GPollFD, drain->first_fd), room);
      if (n_fds <= room)
        break;
      room = n_fds;
    }
  g_array_set_size (fds, drain->first_fd + (guint) n_fds);
  drain->n_fds = (guint) n_fds;

  if (ready)
    context_timeout = 0;
  if (context_timeout >= 0 && (*timeout < 0 || context_timeout < *timeout))
    *timeout = context_timeout;
}

/* Checks @drain's context against the polled @fds, and dispatches it. */
static void
drain_dispatch (SaDrain *drain,
                GArray  *fds)
{
  GPollFD *own = &g_array_index (fds, GPollFD, drain->first_fd);

  if (!g_main_context_check (drain->context, drain->max_priority, own, (gint) drain->n_fds))
    return;

  g_main_context_push_thread_default (drain->context);
  g_main_context_dispatch (drain->context);
  g_main_context_pop_thread_default (drain->context);
  if (g_atomic_int_get (&drain->completed))
    drain->n_after_completed++;
}

/* Runs what _sa_drain_run() handed over, oldest first, unlocked. */
static void
drains_run (void)
{
  GSList *runs;

  g_mutex_lock (&drains_lock);
  runs = g_slist_reverse (g_steal_pointer (&drains_runs));
  g_mutex_unlock (&drains_lock);
  for (GSList *l = runs; l != NULL; l = l->next)
    {
      DrainRun *run = l->data;

      run->func (run->data);
    }
  g_slist_free_full (runs, g_free);
}

/* Runs what was handed over to run, takes the drains handed over since
 * the last pass (and the shared context, once made), and drops those
 * completed and quiet.
 * Returns FALSE, with the thread no longer running, once it holds none,
 * the shared context is not held, and it has nothing to run. */
static gboolean
drains_update (GPtrArray *drains,
               SaDrain   *shared)
{
  GMainContext *unused = NULL;
  gboolean running = TRUE;

  drains_run ();
  g_mutex_lock (&drains_lock);
  /* Only a running drain thread acquires it, and one that exits lets it
   * go under the lock first. */
  if (shared->context == NULL && shared_context != NULL)
    {
      if (!g_main_context_acquire (shared_context))
        g_assert_not_reached ();
      shared->context = shared_context;
    }
  for (guint i = 0; i < drains_started->len; )
    {
      SaDrain *drain = drains_started->pdata[i];

      /* Popped by its thread, so free; a foreign thread that iterates
       * it meanwhile is waited for by a later pass. */
      if (g_main_context_acquire (drain->context))
        {
          g_ptr_array_add (drains, drain);
          g_ptr_array_remove_index_fast (drains_started, i);
        }
      else
        i++;
    }
  g_mutex_unlock (&drains_lock);

  for (guint i = 0; i < drains->len; )
    {
      SaDrain *drain = drains->pdata[i];

      SaContextState left;

      if (!g_atomic_int_get (&drain->completed))
        {
          i++;
          continue;
        }
      g_main_context_push_thread_default (drain->context);
      left = _sa_context_flush (drain->context, TRUE, &drain->n_after_completed);
      g_main_context_pop_thread_default (drain->context);
      /* A timer or a watch left on it may hold what holds the context (a
       * task made on it): kept until it has run. One that stays ready, or
       * re-arms past SA_CONTEXT_FLUSH_MAX dispatches, is given up. */
      if (left == SA_CONTEXT_PENDING && drain->n_after_completed < SA_CONTEXT_FLUSH_MAX)
        {
          i++;
          continue;
        }
      g_ptr_array_remove_index_fast (drains, i);
      g_main_context_release (drain->context);
      drain_unref (drain);
    }

  g_mutex_lock (&drains_lock);
  if (drains->len == 0 && drains_started->len == 0 && drains_runs == NULL &&
      shared_linger_ms () == 0)
    {
      g_clear_pointer (&drains_started, g_ptr_array_unref);
      drains_wakeup = NULL;
      /* Not held, so unused: a later hold makes another. */
      if (shared->context != NULL)
        g_main_context_release (g_steal_pointer (&shared->context));
      unused = g_steal_pointer (&shared_context);
      running = FALSE;
    }
  g_mutex_unlock (&drains_lock);
  g_clear_pointer (&unused, g_main_context_unref);

  return running;
}

/* The poll's longest wait: none for a run handed over since
 * drains_update(), 10 ms while a drain waits for its owner to pop it,
 * and the shared context's lingering time. */
static gint
drains_poll_timeout (void)
{
  gint timeout = -1;
  gint linger;

  g_mutex_lock (&drains_lock);
  linger = shared_linger_ms ();
  if (drains_runs != NULL)
    timeout = 0;
  else if (drains_started->len > 0)
    timeout = 10;
  if (linger > 0 && (timeout < 0 || linger < timeout))
    timeout = linger;
  g_mutex_unlock (&drains_lock);

  return timeout;
}

/* @data: (transfer full) the wakeup context of this run of the thread. */
static gpointer
drain_thread (gpointer data)
{
  g_autoptr(GMainContext) wakeup_context = data;
  g_autoptr(GPtrArray) drains = g_ptr_array_new ();   /* (element-type SaDrain) */
  g_autoptr(GArray) fds = g_array_new (FALSE, FALSE, sizeof (GPollFD));
  SaDrain wakeup = { .context = wakeup_context };
  SaDrain shared = { .context = NULL };

  if (!g_main_context_acquire (wakeup_context))
    g_assert_not_reached ();

  while (drains_update (drains, &shared))
    {
      gint timeout = drains_poll_timeout ();

      g_array_set_size (fds, 0);
      drain_prepare (&wakeup, fds, &timeout);
      if (shared.context != NULL)
        drain_prepare (&shared, fds, &timeout);
      for (guint i = 0; i < drains->len; i++)
        drain_prepare (drains->pdata[i], fds, &timeout);
      (void) g_poll ((GPollFD *) fds->data, fds->len, timeout);
      drain_dispatch (&wakeup, fds);
      if (shared.context != NULL)
        drain_dispatch (&shared, fds);
      for (guint i = 0; i < drains->len; i++)
        drain_dispatch (drains->pdata[i], fds);
    }

  g_main_context_release (wakeup_context);

  return NULL;
}

/* Under drains_lock: starts the thread unless it runs. */
static void
drains_start_thread (void)
{
  GMainContext *wakeup_context;

  if (drains_started != NULL)
    return;

  wakeup_context = g_main_context_new ();
  drains_started = g_ptr_array_new ();
  drains_wakeup = wakeup_context;
  g_thread_unref (g_thread_new ("sa-drain", drain_thread, g_main_context_ref (wakeup_context)));
  g_main_context_unref (wakeup_context);
}

void
_sa_drain_start (SaDrain *drain)
{
  g_mutex_lock (&drains_lock);
  drains_start_thread ();
  g_ptr_array_add (drains_started, drain);
  /* Under the lock: the thread exits, and frees its context, only under
   * it. */
  g_main_context_wakeup (drains_wakeup);
  g_mutex_unlock (&drains_lock);
}

void
_sa_drain_completed (SaDrain *drain)
{
  g_atomic_int_set (&drain->completed, TRUE);
  g_main_context_wakeup (drain->context);
  drain_unref (drain);
}

void
_sa_drain_run (GSourceFunc func,
               gpointer    data)
{
  DrainRun *run = g_new (DrainRun, 1);

  run->func = func;
  run->data = data;
  g_mutex_lock (&drains_lock);
  drains_start_thread ();
  drains_runs = g_slist_prepend (drains_runs, run);
  g_main_context_wakeup (drains_wakeup);
  g_mutex_unlock (&drains_lock);
}

void
_sa_drain_hold_shared (void)
{
  g_mutex_lock (&drains_lock);
  /* A thread that runs has taken it up, or is told of it now. */
  if (drains_started == NULL)
    drains_start_thread ();
  if (shared_context == NULL)
    {
      shared_context = g_main_context_new ();
      g_main_context_wakeup (drains_wakeup);
    }
  shared_holds++;
  g_mutex_unlock (&drains_lock);
}

void
_sa_drain_release_shared (void)
{
  g_mutex_lock (&drains_lock);
  g_assert (shared_holds > 0);
  /* The thread sees it at its next pass: the last hold ends on it. */
  if (--shared_holds == 0)
    shared_released = g_get_monotonic_time ();
  g_mutex_unlock (&drains_lock);
}

GMainContext *
_sa_drain_get_shared (void)
{
  GMainContext *context;

  g_mutex_lock (&drains_lock);
  g_assert (shared_holds > 0);
  context = shared_context;
  g_mutex_unlock (&drains_lock);

  return context;
}
