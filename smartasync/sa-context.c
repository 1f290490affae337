/* sa-context.c: per-thread private main contexts
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "sa-context.h"
#include "sa-context-private.h"

/*
 * Every thread that makes a sync call gets private GMainContexts: one per
 * nesting depth, so that a sync call made from inside another sync call's
 * operation iterates a context of its own and never re-enters the outer
 * one. They are created on first use, reused by every later call at that
 * depth, and let go when the thread exits or at sa_reset_contexts(): freed
 * at once when nothing is pending on them, otherwise drained first (see
 * context_let_go()).
 *
 * A thread's state is touched by that thread, and by sa_reset_contexts()
 * from any thread; its lock guards the array of contexts only. The lock is
 * never held while a context is iterated or any callback runs.
 */

typedef struct
{
  GMutex     lock;
  GPtrArray *contexts;   /* (element-type GMainContext) index = depth */
  GPtrArray *kicks;      /* (element-type GSource) (transfer none) the kick
                          * source of each: kept alive by its context, which
                          * holds it while attached */
  guint      depth;
} SaThreadState;

static void thread_state_free (gpointer data);
static void context_let_go_nullable (gpointer context);

static GPrivate thread_state_key = G_PRIVATE_INIT (thread_state_free);
static GMutex   registry_lock;
static GList   *registry;       /* (element-type SaThreadState) */
static gint     n_contexts;     /* contexts alive, counted when freed */

/* Each private context carries one "kick" source of its own, attached for
 * the context's whole life. A sync call runs its operation from it: the
 * operation then starts inside a dispatch of the context, so that a task
 * it completes at once calls back at once (GTask completes immediately
 * when returned from a source of its own context, in a later iteration
 * than its creation), without the idle source GTask would otherwise add
 * and dispatch for each call. Ready once _sa_context_kick() gave it a
 * function, never otherwise.
 *
 * It is also how sa_get_n_contexts() counts real frees rather than
 * assumed ones: it is finalized only when its context is freed. */
typedef struct
{
  GSource      source;
  SaKickFunc   func;
  gpointer     data;
} KickSource;

/* Readiness is a plain field, looked at by prepare and check: kicking
 * needs no g_source_set_ready_time(), whose wakeup of the context would be
 * two system calls per call on the eventfd. Only the thread that iterates
 * the context kicks it, so nothing needs waking. */
static gboolean
kick_prepare (GSource *source,
              gint    *timeout)
{
  *timeout = -1;
  return ((KickSource *) source)->func != NULL;
}

static gboolean
kick_check (GSource *source)
{
  return ((KickSource *) source)->func != NULL;
}

static gboolean
kick_dispatch (GSource     *source,
               GSourceFunc  callback,
               gpointer     user_data)
{
  KickSource *kick = (KickSource *) source;
  SaKickFunc func = kick->func;
  gpointer data = kick->data;

  kick->func = NULL;
  kick->data = NULL;
  if (func != NULL)
    func (data);

  return G_SOURCE_CONTINUE;
}

static void
kick_finalize (GSource *source)
{
  (void) g_atomic_int_dec_and_test (&n_contexts);
}

static GSourceFuncs kick_funcs = {
  .prepare = kick_prepare,
  .check = kick_check,
  .dispatch = kick_dispatch,
  .finalize = kick_finalize,
};

static GMainContext *
private_context_new (GSource **kick_out)
{
  GMainContext *context = g_main_context_new ();
  GSource *kick = g_source_new (&kick_funcs, sizeof (KickSource));

  g_source_set_name (kick, "[smartasync] private context");
  /* Above every file descriptor of the context (its wakeup among them,
   * at the default priority): an iteration in which the kick is ready
   * then polls no descriptor and, with nothing to wait for, makes no
   * poll() call at all. An operation that completes at once costs a
   * sync call no system call. */
  g_source_set_priority (kick, G_PRIORITY_HIGH);
  g_atomic_int_inc (&n_contexts);
  g_source_attach (kick, context);
  /* Only the context holds it. A reference of our own could be dropped
   * at thread exit while another thread, holding the context's last
   * reference (a GIO worker completing a task), finalizes the context
   * and destroys its sources: g_source_unref() racing with
   * g_main_context_unref() on the same source corrupts the heap. */
  g_source_unref (kick);
  *kick_out = kick;

  return context;
}

void
_sa_context_kick (GSource    *kick,
                  SaKickFunc  func,
                  gpointer    data)
{
  KickSource *k = (KickSource *) kick;

  k->func = func;
  k->data = data;
}

void
_sa_context_unkick (GSource *kick)
{
  KickSource *k = (KickSource *) kick;

  k->func = NULL;
  k->data = NULL;
}

/* A slot may be empty: retired, or below a depth reached after a reset. */
static void
context_unref_nullable (gpointer context)
{
  if (context != NULL)
    g_main_context_unref (context);
}

static void
thread_state_free (gpointer data)
{
  SaThreadState *state = data;

  g_mutex_lock (&registry_lock);
  registry = g_list_remove (registry, state);
  g_mutex_unlock (&registry_lock);

  /* Out of the registry, nobody else can reach the state any more. */
  g_clear_pointer (&state->contexts, g_ptr_array_unref);
  g_clear_pointer (&state->kicks, g_ptr_array_unref);
  g_mutex_clear (&state->lock);
  g_free (state);
}

static SaThreadState *
thread_state_get (void)
{
  SaThreadState *state = g_private_get (&thread_state_key);

  if G_LIKELY (state != NULL)
    return state;

  state = g_new0 (SaThreadState, 1);
  g_mutex_init (&state->lock);
  state->contexts = g_ptr_array_new_with_free_func (context_let_go_nullable);
  state->kicks = g_ptr_array_new ();
  g_private_set (&thread_state_key, state);

  g_mutex_lock (&registry_lock);
  registry = g_list_prepend (registry, state);
  g_mutex_unlock (&registry_lock);

  return state;
}

GMainContext *
_sa_context_enter (GSource **kick)
{
  SaThreadState *state = thread_state_get ();
  GMainContext *context;

  g_mutex_lock (&state->lock);
  if (state->depth >= state->contexts->len)
    {
      g_ptr_array_set_size (state->contexts, state->depth + 1);
      g_ptr_array_set_size (state->kicks, state->depth + 1);
    }
  context = g_ptr_array_index (state->contexts, state->depth);
  if (context == NULL)
    {
      GSource *new_kick;

      context = private_context_new (&new_kick);
      g_ptr_array_index (state->contexts, state->depth) = context;
      g_ptr_array_index (state->kicks, state->depth) = new_kick;
    }
  g_main_context_ref (context);
  /* Borrowed: alive for as long as the caller's reference to the context. */
  *kick = g_ptr_array_index (state->kicks, state->depth);
  state->depth++;
  g_mutex_unlock (&state->lock);

  /* Our own context, created by and only ever used on this thread:
   * nobody else can own it, so the push cannot fail. */
  g_main_context_push_thread_default (context);

  return context;
}

static void context_let_go (GMainContext *context);

/* The end of a wait: the thread is one depth out, and drops its
 * reference to @context, popped already; a context that
 * sa_reset_contexts() took from its slot meanwhile is let go. */
static void
context_done (GMainContext *context)
{
  SaThreadState *state = g_private_get (&thread_state_key);
  gboolean in_slot;

  g_assert (state != NULL);
  g_assert (state->depth > 0);

  g_mutex_lock (&state->lock);
  state->depth--;
  in_slot = state->depth < state->contexts->len &&
            g_ptr_array_index (state->contexts, state->depth) == context;
  g_mutex_unlock (&state->lock);

  if (in_slot)
    g_main_context_unref (context);
  else
    context_let_go (context);
}

/* What a context holds once emptied of what is ready. */
typedef enum
{
  CONTEXT_QUIET,     /* no timer, no descriptor but its wakeup: nothing
                      * will become ready unless another thread makes it */
  CONTEXT_PENDING,   /* a timer or a descriptor may still become ready */
  CONTEXT_BUSY,      /* still ready after SA_CONTEXT_FLUSH_MAX iterations */
} ContextState;

/* g_main_context_iteration (@context, FALSE), less what a context that has
 * nothing ready needs not: with nothing ready after prepare() and no
 * descriptor but the context's wakeup (a source attached from another
 * thread is seen by prepare() all the same), neither poll() nor check(),
 * whose only other find would be a timer fallen due since prepare(),
 * which may stay. @owned: whether this thread holds @context already.
 * Returns whether it dispatched; when it did not, *@pending tells whether
 * a timer or a descriptor may still make something ready. */
static gboolean
context_dispatch_ready (GMainContext *context,
                        gboolean      owned,
                        gboolean     *pending)
{
  GPollFD fds_on_stack[8];
  g_autofree GPollFD *fds_on_heap = NULL;
  GPollFD *fds = fds_on_stack;
  gint max_priority, timeout, n_fds;
  gboolean ready;

  /* Entered by this thread, or given up to it: nobody else holds it. */
  if (!owned && !g_main_context_acquire (context))
    g_assert_not_reached ();

  ready = g_main_context_prepare (context, &max_priority);
  n_fds = g_main_context_query (context, max_priority, &timeout, fds, G_N_ELEMENTS (fds_on_stack));
  if (n_fds > (gint) G_N_ELEMENTS (fds_on_stack))
    {
      fds = fds_on_heap = g_new (GPollFD, n_fds);
      n_fds = g_main_context_query (context, max_priority, &timeout, fds, n_fds);
    }
  /* With nothing ready, every descriptor is queried, the wakeup among them. */
  if (ready || n_fds > 1)
    {
      (void) g_main_context_get_poll_func (context) (fds, (guint) n_fds, 0);
      ready = g_main_context_check (context, max_priority, fds, n_fds);
      if (ready)
        g_main_context_dispatch (context);
    }
  *pending = n_fds > 1 || timeout >= 0;

  if (!owned)
    g_main_context_release (context);

  return ready;
}

/* Dispatches what the call left ready on @context, as a hand-written
 * helper that empties its context before freeing it does, for at most
 * SA_CONTEXT_FLUSH_MAX iterations: a source that re-arms for ever cannot
 * hold the caller. A timer not due yet stays. Returns what is left; adds
 * the iterations that dispatched to *@n_dispatched. */
static ContextState
context_flush_counted (GMainContext *context,
                       gboolean      owned,
                       guint        *n_dispatched)
{
  gboolean pending = FALSE;

  for (guint i = 0; i < SA_CONTEXT_FLUSH_MAX; i++, (*n_dispatched)++)
    if (!context_dispatch_ready (context, owned, &pending))
      return pending ? CONTEXT_PENDING : CONTEXT_QUIET;

  return CONTEXT_BUSY;
}

static ContextState
context_flush (GMainContext *context,
               gboolean      owned)
{
  guint n_dispatched = 0;

  return context_flush_counted (context, owned, &n_dispatched);
}

void
_sa_context_leave (GMainContext *context,
                   GSource      *kick)
{
  _sa_context_unkick (kick);
  /* Pushed, so held by this thread. */
  (void) context_flush (context, TRUE);
  g_main_context_pop_thread_default (context);
  context_done (context);
}

void
_sa_context_leave_popped (GMainContext *context,
                          GSource      *kick)
{
  _sa_context_unkick (kick);
  (void) context_flush (context, FALSE);
  context_done (context);
}

void
_sa_context_leave_given_up (GMainContext *context,
                            GSource      *kick)
{
  SaDrain *drain;

  _sa_context_unkick (kick);
  /* Pushed, so held by this thread. */
  if (context_flush (context, TRUE) != CONTEXT_PENDING)
    {
      g_main_context_pop_thread_default (context);
      context_done (context);
      return;
    }

  /* What the call left may still complete on it, as after an abandoned
   * wait: the drain thread runs it, and the thread gets a new context. */
  drain = _sa_context_retire (context, kick);
  _sa_drain_start (drain);
  _sa_drain_finish (drain);   /* the call has completed */
}

/*
 * Abandoned contexts. A context given up by its thread while a call may
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
 */
struct _SaDrain
{
  gatomicrefcount  ref_count;    /* the drain thread's and the completer's */
  GMainContext    *context;
  gint             done;         /* atomic */
  guint            n_after_done; /* the drain thread's: its dispatches once done */

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
                                        * new drain */

/* @context: (transfer full). @done: whether no completion is awaited. */
static SaDrain *
drain_new (GMainContext *context,
           gboolean      done)
{
  SaDrain *drain = g_new0 (SaDrain, 1);

  g_atomic_ref_count_init (&drain->ref_count);
  drain->context = context;
  drain->done = done;

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
  if (g_atomic_int_get (&drain->done))
    drain->n_after_done++;
}

/* Takes the drains handed over since the last pass, and drops those done.
 * Returns FALSE, with the thread no longer running, once it holds none. */
static gboolean
drains_update (GPtrArray *drains)
{
  gboolean running = TRUE;

  g_mutex_lock (&drains_lock);
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

      ContextState left;

      if (!g_atomic_int_get (&drain->done))
        {
          i++;
          continue;
        }
      g_main_context_push_thread_default (drain->context);
      left = context_flush_counted (drain->context, TRUE, &drain->n_after_done);
      g_main_context_pop_thread_default (drain->context);
      /* A timer or a watch left on it may hold what holds the context (a
       * task made on it): kept until it has run. One that stays ready, or
       * re-arms past SA_CONTEXT_FLUSH_MAX dispatches, is given up. */
      if (left == CONTEXT_PENDING && drain->n_after_done < SA_CONTEXT_FLUSH_MAX)
        {
          i++;
          continue;
        }
      g_ptr_array_remove_index_fast (drains, i);
      g_main_context_release (drain->context);
      drain_unref (drain);
    }

  g_mutex_lock (&drains_lock);
  if (drains->len == 0 && drains_started->len == 0)
    {
      g_clear_pointer (&drains_started, g_ptr_array_unref);
      drains_wakeup = NULL;
      running = FALSE;
    }
  g_mutex_unlock (&drains_lock);

  return running;
}

static gboolean
drains_waiting_for_owner (void)
{
  gboolean waiting;

  g_mutex_lock (&drains_lock);
  waiting = drains_started->len > 0;
  g_mutex_unlock (&drains_lock);

  return waiting;
}

/* @data: (transfer full) the wakeup context of this run of the thread. */
static gpointer
drain_thread (gpointer data)
{
  g_autoptr(GMainContext) wakeup_context = data;
  g_autoptr(GPtrArray) drains = g_ptr_array_new ();   /* (element-type SaDrain) */
  g_autoptr(GArray) fds = g_array_new (FALSE, FALSE, sizeof (GPollFD));
  SaDrain wakeup = { .context = wakeup_context };

  if (!g_main_context_acquire (wakeup_context))
    g_assert_not_reached ();

  while (drains_update (drains))
    {
      gint timeout = drains_waiting_for_owner () ? 10 : -1;

      g_array_set_size (fds, 0);
      drain_prepare (&wakeup, fds, &timeout);
      for (guint i = 0; i < drains->len; i++)
        drain_prepare (drains->pdata[i], fds, &timeout);
      (void) g_poll ((GPollFD *) fds->data, fds->len, timeout);
      drain_dispatch (&wakeup, fds);
      for (guint i = 0; i < drains->len; i++)
        drain_dispatch (drains->pdata[i], fds);
    }

  g_main_context_release (wakeup_context);

  return NULL;
}

SaDrain *
_sa_context_retire (GMainContext *context,
                    GSource      *kick)
{
  SaThreadState *state = g_private_get (&thread_state_key);
  SaDrain *drain;

  g_assert (state != NULL);
  g_assert (state->depth > 0);

  g_main_context_pop_thread_default (context);
  _sa_context_unkick (kick);

  g_mutex_lock (&state->lock);
  state->depth--;
  /* Still in its slot unless sa_reset_contexts() took it meanwhile. */
  if (state->depth < state->contexts->len &&
      g_ptr_array_index (state->contexts, state->depth) == context)
    {
      g_ptr_array_index (state->contexts, state->depth) = NULL;
      g_ptr_array_index (state->kicks, state->depth) = NULL;
      g_main_context_unref (context);   /* the slot's reference */
    }
  g_mutex_unlock (&state->lock);

  drain = drain_new (context, FALSE);   /* the caller's reference */
  g_atomic_ref_count_inc (&drain->ref_count);

  return drain;
}

void
_sa_drain_start (SaDrain *drain)
{
  g_mutex_lock (&drains_lock);
  if (drains_started == NULL)
    {
      GMainContext *wakeup_context = g_main_context_new ();

      drains_started = g_ptr_array_new ();
      drains_wakeup = wakeup_context;
      g_thread_unref (g_thread_new ("sa-drain", drain_thread, g_main_context_ref (wakeup_context)));
      g_main_context_unref (wakeup_context);
    }
  g_ptr_array_add (drains_started, drain);
  /* Under the lock: the thread exits, and frees its context, only under
   * it. */
  g_main_context_wakeup (drains_wakeup);
  g_mutex_unlock (&drains_lock);
}

void
_sa_drain_finish (SaDrain *drain)
{
  g_atomic_int_set (&drain->done, TRUE);
  g_main_context_wakeup (drain->context);
  drain_unref (drain);
}

/* Whether something on @context may still become ready: prepare() and
 * query() only, nothing is dispatched. */
static gboolean
context_has_pending (GMainContext *context)
{
  gint max_priority, timeout;
  gint n_fds;

  if (g_main_context_prepare (context, &max_priority))
    return TRUE;
  n_fds = g_main_context_query (context, max_priority, &timeout, NULL, 0);

  return n_fds > 1 || timeout >= 0;
}

/* Drops @context (transfer full), which its thread no longer uses (the
 * thread exits, or sa_reset_contexts() took it). The sources left on a
 * context hold it when they hold a task made on it, a cycle that dropping
 * our reference never breaks, and GLib has no public way to list them to
 * destroy them: so a context on which a timer or a watch is pending goes
 * to the drain thread, which runs them as they become ready and drops the
 * context once nothing is pending any more. */
static void
context_let_go (GMainContext *context)
{
  gboolean pending = TRUE;

  /* Held by nobody else unless a foreign thread iterates it: then the
   * drain thread waits for it. */
  if (g_main_context_acquire (context))
    {
      pending = context_has_pending (context);
      g_main_context_release (context);
    }

  if (pending)
    _sa_drain_start (drain_new (context, TRUE));
  else
    g_main_context_unref (context);
}

static void
context_let_go_nullable (gpointer context)
{
  if (context != NULL)
    context_let_go (context);
}

/* Whether the thread is inside the body of a blocking operation that the
 * library runs directly. A thread-local of its own rather than a field of
 * the thread state: it is read by every call's detection, and a
 * thread-local is a load, where g_private_get() is a function call and a
 * key lookup. It needs no destructor. */
_Thread_local gboolean _sa_in_blocking_body;

/**
 * sa_caller_is_async:
 *
 * Whether a call made now, on this thread, in [enum@Sa.CallMode.AUTO]
 * would be an async caller's: the thread owns its thread-default main
 * context (the global default one when none is pushed), and it is not
 * inside the body of a blocking operation that the library runs directly.
 *
 * The answer is computed afresh at every call, per thread; nothing is
 * cached. A thread that is dispatching a source of its thread-default
 * context (the usual place of a call: a callback of its loop) owns that
 * context, which is known without locking it; otherwise
 * [method@GLib.MainContext.is_owner] is asked. Safe to call from any
 * thread.
 *
 * Returns: %TRUE for an async caller, %FALSE for a sync caller
 *
 * Since: 1.0
 */
gboolean
sa_caller_is_async (void)
{
  GMainContext *context;
  GSource *current;

  if (_sa_in_blocking_body)
    return FALSE;

  context = g_main_context_get_thread_default ();
  if (context == NULL)
    context = g_main_context_default ();

  /* A thread dispatching a source of the context owns it (it iterates
   * it), which is where most calls of an application come from: from a
   * callback. That is known without the context's lock, which
   * g_main_context_is_owner() takes and for which every worker that
   * completes a task for this context contends. */
  current = g_main_current_source ();
  if (current != NULL && g_source_get_context (current) == context)
    return TRUE;

  return g_main_context_is_owner (context);
}

/**
 * sa_reset_contexts:
 *
 * Drops the private main context of every thread, the equivalent of the
 * `reset_smartasync_cache()` of the Python library. Contexts that no call
 * is using are freed at once, with any sources an operation left on them,
 * unless a timer or a watched descriptor is left pending there: then the
 * library's drain thread runs those as they become ready and frees the
 * context once nothing is pending (a source holding a task made on the
 * context holds the context, which only running the source releases).
 * A context in use by a sync call that is running now is let go the same
 * way when that call returns, and the next call on that thread creates a
 * new one.
 *
 * Meant for tests, which want each case to start from a clean state. Safe
 * to call from any thread, including from inside an operation.
 *
 * Since: 1.0
 */
void
sa_reset_contexts (void)
{
  g_autoptr(GPtrArray) dropped = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
  g_autoptr(GPtrArray) dropped_kicks = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
  g_autoptr(GPtrArray) in_use = g_ptr_array_new_with_free_func (context_unref_nullable);

  g_mutex_lock (&registry_lock);
  for (const GList *l = registry; l != NULL; l = l->next)
    {
      SaThreadState *state = l->data;

      g_mutex_lock (&state->lock);
      /* A context in use: its call lets it go when it ends (context_done()). */
      for (guint i = 0; i < state->depth && i < state->contexts->len; i++)
        g_ptr_array_add (in_use, g_steal_pointer (&state->contexts->pdata[i]));
      g_ptr_array_add (dropped, g_steal_pointer (&state->contexts));
      g_ptr_array_add (dropped_kicks, g_steal_pointer (&state->kicks));
      state->contexts = g_ptr_array_new_with_free_func (context_let_go_nullable);
      state->kicks = g_ptr_array_new ();
      g_mutex_unlock (&state->lock);
    }
  g_mutex_unlock (&registry_lock);

  /* Unreffed outside the locks: freeing a context destroys its sources,
   * whose destroy notifiers are application code. */
}

/**
 * sa_get_n_contexts:
 *
 * The number of private main contexts alive in the process. A context is
 * counted from its creation until it is really freed (at thread exit, or
 * at [func@Sa.reset_contexts] once no call uses it, or later, once what
 * was pending on it has run), so tests can check
 * that nothing is left behind. A context that a sync call gave up on (a
 * timeout, a cancellation) counts until the library's drain thread frees
 * it, when the late completion has run, or for ever if the operation
 * never completes; the thread's next sync call counts a new one
 * meanwhile. Every such context shares that one drain thread.
 *
 * Returns: the number of private contexts alive
 *
 * Since: 1.0
 */
guint
sa_get_n_contexts (void)
{
  return (guint) g_atomic_int_get (&n_contexts);
}
