/* sa-context.c: per-thread private main contexts and their schedule source
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "sa-context.h"
#include "sa-context-private.h"
#include "sa-drain-thread-private.h"

/*
 * Every thread that makes a sync call gets private GMainContexts: one per
 * nesting depth, so that a sync call made from inside another sync call's
 * operation iterates a context of its own and never re-enters the outer
 * one. They are created on first use, reused by every later call at that
 * depth, and let go when the thread exits or at sa_reset_contexts(): freed
 * at once when nothing is pending on them, otherwise drained first (see
 * context_let_go()).
 *
 * A thread's contexts are touched by that thread, and by
 * sa_reset_contexts() from any thread; their lock guards the arrays only.
 * The lock is never held while a context is iterated or any callback runs.
 */

struct _SaThreadContexts
{
  GMutex     lock;
  GPtrArray *contexts;   /* (element-type GMainContext) index = depth */
  GPtrArray *schedules;  /* (element-type GSource) (transfer none) the schedule
                          * source of each: kept alive by its context, which
                          * holds it while attached */
  guint      depth;
};

static void context_let_go_nullable (gpointer context);

static GMutex   registry_lock;
static GList   *registry;       /* (element-type SaThreadContexts) */
static gint     n_contexts;     /* contexts alive, counted when freed */

/* Each private context carries one schedule source of its own, attached
 * for the context's whole life. A sync call runs its operation from it: the
 * operation then starts inside a dispatch of the context, so that a task
 * it completes at once calls back at once (GTask completes immediately
 * when returned from a source of its own context, in a later iteration
 * than its creation). Ready once _sa_context_schedule() gave it a
 * function, never otherwise; what that saves is in docs/performance.md.
 *
 * It is also how sa_get_n_contexts() counts real frees rather than
 * assumed ones: it is finalized only when its context is freed. */
typedef struct
{
  GSource          source;
  SaScheduledFunc  func;
  gpointer         data;
} ScheduleSource;

/* Readiness is a plain field, looked at by prepare and check: only the
 * thread that iterates the context schedules on it, so nothing needs
 * waking. */
static gboolean
schedule_prepare (GSource *source,
              gint    *timeout)
{
  *timeout = -1;
  return ((ScheduleSource *) source)->func != NULL;
}

static gboolean
schedule_check (GSource *source)
{
  return ((ScheduleSource *) source)->func != NULL;
}

static gboolean
schedule_dispatch (GSource     *source,
               GSourceFunc  callback,
               gpointer     user_data)
{
  ScheduleSource *schedule = (ScheduleSource *) source;
  SaScheduledFunc func = schedule->func;
  gpointer data = schedule->data;

  schedule->func = NULL;
  schedule->data = NULL;
  if (func != NULL)
    func (data);

  return G_SOURCE_CONTINUE;
}

static void
schedule_finalize (GSource *source)
{
  (void) g_atomic_int_dec_and_test (&n_contexts);
}

static GSourceFuncs schedule_funcs = {
  .prepare = schedule_prepare,
  .check = schedule_check,
  .dispatch = schedule_dispatch,
  .finalize = schedule_finalize,
};

static GMainContext *
private_context_new (GSource **schedule_out)
{
  GMainContext *context = g_main_context_new ();
  GSource *schedule = g_source_new (&schedule_funcs, sizeof (ScheduleSource));

  g_source_set_name (schedule, "[smartasync] private context");
  /* Above every file descriptor of the context (its wakeup among them,
   * at the default priority): an iteration in which it is ready polls no
   * descriptor. */
  g_source_set_priority (schedule, G_PRIORITY_HIGH);
  g_atomic_int_inc (&n_contexts);
  g_source_attach (schedule, context);
  /* Only the context holds it. A reference of our own could be dropped
   * at thread exit while another thread, holding the context's last
   * reference (a GIO worker completing a task), finalizes the context
   * and destroys its sources: g_source_unref() racing with
   * g_main_context_unref() on the same source corrupts the heap. */
  g_source_unref (schedule);
  *schedule_out = schedule;

  return context;
}

void
_sa_context_schedule (GSource         *schedule,
                      SaScheduledFunc  func,
                      gpointer         data)
{
  ScheduleSource *s = (ScheduleSource *) schedule;

  s->func = func;
  s->data = data;
}

void
_sa_context_unschedule (GSource *schedule)
{
  ScheduleSource *s = (ScheduleSource *) schedule;

  s->func = NULL;
  s->data = NULL;
}

/* A slot may be empty: left to the drain thread, or below a depth reached
 * after a reset. */
static void
context_unref_nullable (gpointer context)
{
  if (context != NULL)
    g_main_context_unref (context);
}

void
_sa_thread_contexts_free (SaThreadContexts *state)
{
  g_mutex_lock (&registry_lock);
  registry = g_list_remove (registry, state);
  g_mutex_unlock (&registry_lock);

  /* Out of the registry, nobody else can reach the state any more. */
  g_clear_pointer (&state->contexts, g_ptr_array_unref);
  g_clear_pointer (&state->schedules, g_ptr_array_unref);
  g_mutex_clear (&state->lock);
  g_free (state);
}

static SaThreadContexts *
thread_contexts_get (void)
{
  SaThreadStorage *storage = _sa_thread_storage_get ();
  SaThreadContexts *state = storage->contexts;

  if G_LIKELY (state != NULL)
    return state;

  state = g_new0 (SaThreadContexts, 1);
  g_mutex_init (&state->lock);
  state->contexts = g_ptr_array_new_with_free_func (context_let_go_nullable);
  state->schedules = g_ptr_array_new ();
  storage->contexts = state;
  _sa_thread_storage_hold_exit ();

  g_mutex_lock (&registry_lock);
  registry = g_list_prepend (registry, state);
  g_mutex_unlock (&registry_lock);

  return state;
}

GMainContext *
_sa_context_enter (GSource **schedule)
{
  SaThreadContexts *state = thread_contexts_get ();
  GMainContext *context;

  g_mutex_lock (&state->lock);
  if (state->depth >= state->contexts->len)
    {
      g_ptr_array_set_size (state->contexts, state->depth + 1);
      g_ptr_array_set_size (state->schedules, state->depth + 1);
    }
  context = g_ptr_array_index (state->contexts, state->depth);
  if (context == NULL)
    {
      GSource *new_schedule;

      context = private_context_new (&new_schedule);
      g_ptr_array_index (state->contexts, state->depth) = context;
      g_ptr_array_index (state->schedules, state->depth) = new_schedule;
    }
  g_main_context_ref (context);
  /* Borrowed: alive for as long as the caller's reference to the context. */
  *schedule = g_ptr_array_index (state->schedules, state->depth);
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
  SaThreadContexts *state = _sa_thread_storage_get ()->contexts;
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
 * hold the caller. A timer not due yet stays. */
SaContextState
_sa_context_flush (GMainContext *context,
                   gboolean      owned,
                   guint        *n_dispatched)
{
  gboolean pending = FALSE;

  for (guint i = 0; i < SA_CONTEXT_FLUSH_MAX; i++, (*n_dispatched)++)
    if (!context_dispatch_ready (context, owned, &pending))
      return pending ? SA_CONTEXT_PENDING : SA_CONTEXT_QUIET;

  return SA_CONTEXT_BUSY;
}

static SaContextState
context_flush (GMainContext *context,
               gboolean      owned)
{
  guint n_dispatched = 0;

  return _sa_context_flush (context, owned, &n_dispatched);
}

void
_sa_context_leave (GMainContext *context,
                   GSource      *schedule)
{
  _sa_context_unschedule (schedule);
  /* Pushed, so held by this thread. */
  (void) context_flush (context, TRUE);
  g_main_context_pop_thread_default (context);
  context_done (context);
}

void
_sa_context_leave_popped (GMainContext *context,
                          GSource      *schedule)
{
  _sa_context_unschedule (schedule);
  (void) context_flush (context, FALSE);
  context_done (context);
}

void
_sa_context_leave_given_up (GMainContext *context,
                            GSource      *schedule)
{
  SaDrain *drain;

  _sa_context_unschedule (schedule);
  /* Pushed, so held by this thread. */
  if (context_flush (context, TRUE) != SA_CONTEXT_PENDING)
    {
      g_main_context_pop_thread_default (context);
      context_done (context);
      return;
    }

  /* What the call left may still complete on it, as after an abandoned
   * wait: the drain thread runs it, and the thread gets a new context. */
  drain = _sa_context_leave_to_drain (context, schedule);
  _sa_drain_start (drain);
  _sa_drain_completed (drain);   /* the call has completed */
}

SaDrain *
_sa_context_leave_to_drain (GMainContext *context,
                            GSource      *schedule)
{
  SaThreadContexts *state = _sa_thread_storage_get ()->contexts;

  g_assert (state != NULL);
  g_assert (state->depth > 0);

  g_main_context_pop_thread_default (context);
  _sa_context_unschedule (schedule);

  g_mutex_lock (&state->lock);
  state->depth--;
  /* Still in its slot unless sa_reset_contexts() took it meanwhile. */
  if (state->depth < state->contexts->len &&
      g_ptr_array_index (state->contexts, state->depth) == context)
    {
      g_ptr_array_index (state->contexts, state->depth) = NULL;
      g_ptr_array_index (state->schedules, state->depth) = NULL;
      g_main_context_unref (context);   /* the slot's reference */
    }
  g_mutex_unlock (&state->lock);

  /* The drain thread's reference, and the caller's. */
  return _sa_drain_ref (_sa_drain_new (context, FALSE));
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
    _sa_drain_start (_sa_drain_new (context, TRUE));
  else
    g_main_context_unref (context);
}

static void
context_let_go_nullable (gpointer context)
{
  if (context != NULL)
    context_let_go (context);
}

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

  if (_sa_context_is_blocking ())
    return FALSE;

  context = g_main_context_get_thread_default ();
  if (context == NULL)
    context = g_main_context_default ();

  /* A thread dispatching a source of the context owns it (it iterates
   * it), which is where most calls of an application come from: from a
   * callback. That is known without the context's lock, which
   * g_main_context_is_owner() takes (docs/performance.md). */
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
  g_autoptr(GPtrArray) dropped_schedules = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
  g_autoptr(GPtrArray) in_use = g_ptr_array_new_with_free_func (context_unref_nullable);

  g_mutex_lock (&registry_lock);
  for (const GList *l = registry; l != NULL; l = l->next)
    {
      SaThreadContexts *state = l->data;

      g_mutex_lock (&state->lock);
      /* A context in use: its call lets it go when it ends (context_done()). */
      for (guint i = 0; i < state->depth && i < state->contexts->len; i++)
        g_ptr_array_add (in_use, g_steal_pointer (&state->contexts->pdata[i]));
      g_ptr_array_add (dropped, g_steal_pointer (&state->contexts));
      g_ptr_array_add (dropped_schedules, g_steal_pointer (&state->schedules));
      state->contexts = g_ptr_array_new_with_free_func (context_let_go_nullable);
      state->schedules = g_ptr_array_new ();
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
