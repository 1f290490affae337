/* sa-collector.c: answers the callers of bodies that left their tasks incomplete
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "sa-collector-private.h"
#include "sa-operation-private.h"
#include "sa-spin-private.h"

/* Words used below:
 * - a task is *answered* once its callback has run (g_task_get_completed());
 * - a task's completion is *queued* while its context has a source whose
 *   user data is the task: GTask completes a task returned from another
 *   thread with g_task_attach_source(), which documents the task as the
 *   source's user data;
 * - a *sweep* is the collector's prepare: it runs on every pass of the
 *   context that reaches the tasks' priority, before their completions,
 *   so that a task is released on the pass after its callback.
 * Invariants:
 * - a task reaches the collector after its body returned, so a completion
 *   the body queued was queued before;
 * - a task that reaches it answered is released at once, by the pool
 *   thread: its callback ran, and the sweep after it, which may be the
 *   last pass of the context, ran before the hand-over (the collector's
 *   lock orders them) or finds it;
 * - a task is completed with NO_RESULT only after two sweeps found it
 *   unanswered and the second found it not queued either: a completion
 *   queued before the first sweep ran in the pass between them, unless
 *   its callback is still running (a nested iteration) or something
 *   outranks it, which the second sweep sees;
 * - idle: the last sweep left nothing to do and no task came since;
 * - *expected*: about to be pushed or pushed by a caller of the context
 *   (counted before the push), not yet handed to the collector; a count
 *   made on a collector that died meanwhile is lost, never negative;
 * - an idle sweep *polls* while a task is expected: it spins up to
 *   SA_SPIN_US, without any lock, for one to come, so that the reply of a
 *   short job needs no wake-up (fewer polls after polls in vain, see
 *   SaSpinBackoff);
 * - asleep: idle after its poll, so the context may block; the first task
 *   that comes wakes it;
 * - the incoming list, idle, asleep, dead and n_arrived are under the
 *   collector's lock, n_pushed is atomic, and both are read atomically;
 *   every other field belongs to the thread that iterates the context.
 */

#define COLLECTOR_PRIORITY G_PRIORITY_DEFAULT

typedef struct
{
  GTask       *task;
  SaOperation *operation;
  gboolean     seen;            /* neither answered nor queued at a sweep */
} Item;

/* The collector's state, apart from its source: pool threads keep a
 * reference to it in a cache, and a GSource must not be held by another
 * thread while its context is finalized. */
typedef struct
{
  gatomicrefcount ref_count;    /* its source's, the table's, each cache's */
  GMainContext *context;        /* attached to; not a reference */
  GMutex        lock;
  GArray       *incoming;       /* (element-type Item) */
  gboolean      idle;
  gboolean      asleep;
  guint         n_arrived;      /* expected tasks handed over */
  SaSpinBackoff poll_backoff;
  gint          dead;           /* destroyed: takes no more tasks; atomic reads */
  GArray       *pending;        /* taken from incoming, neither answered nor failed */
  GArray       *failed;         /* to complete with NO_RESULT */

  /* Written by the callers, apart from what pool threads write. */
  _Alignas (64) guint n_pushed; /* expected tasks counted */
} Collector;

typedef struct
{
  GSource    source;
  Collector *collector;
} CollectorSource;

static void collector_unref (gpointer data);

static GMutex      collectors_lock;
static GHashTable *collectors;  /* GMainContext → its live Collector, a reference each */
static GPrivate    cached = G_PRIVATE_INIT (collector_unref);

static GArray *
items_new (void)
{
  return g_array_new (FALSE, FALSE, sizeof (Item));
}

static void
item_drop (Item *item)
{
  g_object_unref (item->task);
  g_object_unref (item->operation);
}

/* Drops @item (FALSE), keeps it (TRUE) or moves it to failed (FALSE);
 * @soon is set when it needs another sweep soon. */
static gboolean
sweep_item (Collector *self,
            Item      *item,
            gboolean  *soon)
{
  if (g_task_get_completed (item->task))
    {
      item_drop (item);
      return FALSE;
    }

  if (!item->seen)
    {
      item->seen = TRUE;
      *soon = TRUE;
      return TRUE;
    }

  if (g_main_context_find_source_by_user_data (self->context, item->task) != NULL)
    return TRUE;   /* answered when its source runs */

  g_array_append_val (self->failed, *item);
  return FALSE;
}

/* In an idle sweep, under the lock, which it lets go while it spins: waits
 * for an expected task to come, as long as a spin (sa-spin-private.h)
 * allows. Returns whether one came. */
static gboolean
poll_for_task (Collector *self)
{
  guint n_arrived = self->n_arrived;
  gboolean caught;

  if ((guint) g_atomic_int_get (&self->n_pushed) == n_arrived ||
      !_sa_spin_backoff_allows (&self->poll_backoff))
    return FALSE;

  g_mutex_unlock (&self->lock);
  caught = _sa_spin_while (&self->n_arrived, n_arrived);
  g_mutex_lock (&self->lock);
  _sa_spin_backoff_record (&self->poll_backoff, caught);

  return caught;
}

static gboolean
collector_prepare (GSource *source,
                   gint    *timeout)
{
  Collector *self = ((CollectorSource *) source)->collector;
  GArray *pending = self->pending;
  gboolean soon = FALSE;
  gboolean idle, asleep;
  guint kept = 0;

  g_mutex_lock (&self->lock);
  if (pending->len == 0)
    {
      /* Most sweeps keep nothing: take the incoming list whole. */
      self->pending = self->incoming;
      self->incoming = pending;
      pending = self->pending;
    }
  else
    {
      g_array_append_vals (pending, self->incoming->data, self->incoming->len);
      g_array_set_size (self->incoming, 0);
    }
  g_mutex_unlock (&self->lock);

  for (guint i = 0; i < pending->len; i++)
    {
      Item *item = &g_array_index (pending, Item, i);

      if (sweep_item (self, item, &soon))
        g_array_index (pending, Item, kept++) = *item;
    }
  g_array_set_size (pending, kept);

  g_mutex_lock (&self->lock);
  idle = self->idle = !soon && self->incoming->len == 0 && self->failed->len == 0;
  if (idle && poll_for_task (self))
    idle = FALSE;
  asleep = self->asleep = idle && self->incoming->len == 0;
  g_mutex_unlock (&self->lock);

  *timeout = asleep ? -1 : 0;
  return self->failed->len > 0;
}

static gboolean
collector_check (GSource *source)
{
  return ((CollectorSource *) source)->collector->failed->len > 0;
}

static gboolean
collector_dispatch (GSource     *source,
                    GSourceFunc  callback,
                    gpointer     user_data)
{
  Collector *self = ((CollectorSource *) source)->collector;
  GArray *failed = self->failed;

  /* A callback may iterate the context again, and sweep. */
  self->failed = items_new ();
  for (guint i = 0; i < failed->len; i++)
    {
      Item *item = &g_array_index (failed, Item, i);

      g_task_return_error (item->task, _sa_operation_new_no_result_error (item->operation));
      item_drop (item);
    }
  g_array_unref (failed);

  return G_SOURCE_CONTINUE;
}

static void
drop_all (GArray *items)
{
  for (guint i = 0; i < items->len; i++)
    item_drop (&g_array_index (items, Item, i));
  g_array_unref (items);
}

static void
collector_unref (gpointer data)
{
  Collector *self = data;

  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;

  /* Each task holds its context, so a collector outlives the tasks it
   * takes; what is left is empty. */
  drop_all (self->incoming);
  drop_all (self->pending);
  drop_all (self->failed);
  g_mutex_clear (&self->lock);
  g_aligned_free (self);
}

static void
collector_finalize (GSource *source)
{
  collector_unref (((CollectorSource *) source)->collector);
}

static GSourceFuncs collector_funcs = {
  collector_prepare,
  collector_check,
  collector_dispatch,
  collector_finalize,
  NULL, NULL,
};

/* The callback data's notify: runs when the collector is destroyed, with
 * its context or by itself. */
static void
collector_destroyed (gpointer data)
{
  Collector *self = data;

  g_mutex_lock (&collectors_lock);
  g_mutex_lock (&self->lock);
  g_atomic_int_set (&self->dead, TRUE);
  g_mutex_unlock (&self->lock);
  if (collectors != NULL && g_hash_table_lookup (collectors, self->context) == self)
    g_hash_table_remove (collectors, self->context);
  g_mutex_unlock (&collectors_lock);
}

/* The live collector of @context, made and attached on first use: a new
 * reference. */
static Collector *
collector_lookup (GMainContext *context)
{
  Collector *self;

  g_mutex_lock (&collectors_lock);
  if (collectors == NULL)
    collectors = g_hash_table_new_full (NULL, NULL, NULL, collector_unref);

  self = g_hash_table_lookup (collectors, context);
  if (self == NULL)
    {
      GSource *source = g_source_new (&collector_funcs, sizeof (CollectorSource));

      self = g_aligned_alloc0 (1, sizeof (Collector), G_ALIGNOF (Collector));
      g_atomic_ref_count_init (&self->ref_count);          /* the table's */
      ((CollectorSource *) source)->collector = self;
      g_atomic_ref_count_inc (&self->ref_count);           /* the source's */
      self->context = context;
      g_mutex_init (&self->lock);
      self->incoming = items_new ();
      self->pending = items_new ();
      self->failed = items_new ();
      g_source_set_priority (source, COLLECTOR_PRIORITY);
      /* A callback it runs may wait in a loop of its own on the context. */
      g_source_set_can_recurse (source, TRUE);
      g_source_set_static_name (source, "[smartasync] collector");
      g_source_set_callback (source, NULL, self, collector_destroyed);
      g_hash_table_insert (collectors, context, self);
      g_source_attach (source, context);
      g_source_unref (source);   /* the context's from now on */
    }
  g_atomic_ref_count_inc (&self->ref_count);
  g_mutex_unlock (&collectors_lock);

  return self;
}

/* The live collector of @context, through this thread's cache: locked. */
static Collector *
lock_collector (GMainContext *context)
{
  Collector *self = g_private_get (&cached);

  /* The caller holds the context, so a collector found dead is another's. */
  for (;;)
    {
      if (self != NULL && self->context == context)
        {
          g_mutex_lock (&self->lock);
          if (!self->dead)
            return self;
          g_mutex_unlock (&self->lock);
        }
      self = collector_lookup (context);
      g_private_replace (&cached, self);
    }
}

gboolean
_sa_collector_add (GTask       *task,
                   SaOperation *operation)
{
  Item item = { task, operation, FALSE };
  Collector *self = lock_collector (g_task_get_context (task));
  gboolean answered, idle, wake = FALSE;

  if (self->n_arrived != (guint) g_atomic_int_get (&self->n_pushed))
    g_atomic_int_set (&self->n_arrived, self->n_arrived + 1);
  idle = self->idle;
  /* Answered before a sweep that followed its callback, which may be the
   * context's last: released here. */
  answered = g_task_get_completed (task);
  if (!answered)
    {
      g_array_append_val (self->incoming, item);
      wake = self->asleep;
      self->idle = self->asleep = FALSE;
    }
  g_mutex_unlock (&self->lock);

  if (answered)
    item_drop (&item);
  else if (wake)
    g_main_context_wakeup (self->context);

  return idle;
}

void
_sa_collector_expect (GMainContext *context)
{
  Collector *self = g_private_get (&cached);

  if (self == NULL || self->context != context || g_atomic_int_get (&self->dead))
    {
      self = lock_collector (context);
      g_mutex_unlock (&self->lock);
    }
  g_atomic_int_inc (&self->n_pushed);
}
