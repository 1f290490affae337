/* test-contract.c: one contract in every cell
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The matrix of DESIGN.md's table "One contract in every cell": every
 * situation below runs in every cell, through one driver, and must end
 * the same way. A cell is a row of `cells`, a situation a row of
 * `situations`; each pair is one GTest case, /contract/SITUATION/CELL.
 * A situation that cannot arise in a cell (no result from a non-blocking
 * operation, a typed result through SaBridge) is skipped, saying why.
 * The lock cells are an SaLock waiter of each kind, the one caller of its
 * execution, which then runs in that waiter's own cell; test-lock.c runs
 * the situations that need several waiters (joiners on other threads,
 * cancelling one of them, the leader or all, reset).
 */

#include "config.h"

#include <string.h>
#include <sys/prctl.h>

#include "test-util.h"

/* --- cells --------------------------------------------------------------- */

typedef enum
{
  CELL_SYNC_NON_BLOCKING,
  CELL_SYNC_BLOCKING,
  CELL_ASYNC_NON_BLOCKING,
  CELL_ASYNC_BLOCKING,          /* the dispatcher's own pool, by default */
  CELL_ASYNC_BLOCKING_BOUNDED,  /* max-threads */
  CELL_ASYNC_BLOCKING_GTASK,    /* g_task_run_in_thread() */
  CELL_BRIDGE,                  /* SaBridge around a non-blocking start */
  CELL_LOCK_SYNC_NON_BLOCKING,  /* an SaLock waiter of each kind */
  CELL_LOCK_SYNC_BLOCKING,
  CELL_LOCK_ASYNC_NON_BLOCKING,
  CELL_LOCK_ASYNC_BLOCKING,
} CellId;

typedef struct
{
  CellId      id;
  const char *name;
  gboolean    blocking;
  gboolean    async;
  guint       max_threads;
  gboolean    gtask_pool;
  gboolean    lock;         /* called through an SaLock */
} Cell;

static const Cell cells[] = {
  { CELL_SYNC_NON_BLOCKING,      "sync-non-blocking",      FALSE, FALSE, 0, FALSE },
  { CELL_SYNC_BLOCKING,          "sync-blocking",          TRUE,  FALSE, 0, FALSE },
  { CELL_ASYNC_NON_BLOCKING,     "async-non-blocking",     FALSE, TRUE,  0, FALSE },
  { CELL_ASYNC_BLOCKING,         "async-blocking",         TRUE,  TRUE,  0, FALSE },
  { CELL_ASYNC_BLOCKING_BOUNDED, "async-blocking-bounded", TRUE,  TRUE,  1, FALSE },
  { CELL_ASYNC_BLOCKING_GTASK,   "async-blocking-gtask",   TRUE,  TRUE,  0, TRUE },
  { CELL_BRIDGE,                 "bridge",                 FALSE, FALSE, 0, FALSE },
  { CELL_LOCK_SYNC_NON_BLOCKING,  "lock-sync-non-blocking",  FALSE, FALSE, 0, FALSE, TRUE },
  { CELL_LOCK_SYNC_BLOCKING,      "lock-sync-blocking",      TRUE,  FALSE, 0, FALSE, TRUE },
  { CELL_LOCK_ASYNC_NON_BLOCKING, "lock-async-non-blocking", FALSE, TRUE,  0, FALSE, TRUE },
  { CELL_LOCK_ASYNC_BLOCKING,     "lock-async-blocking",     TRUE,  TRUE,  0, FALSE, TRUE },
};

/* --- the operation --------------------------------------------------------- */

typedef enum
{
  FORM_VALUE,
  FORM_POINTER,
  FORM_BOOLEAN,
  FORM_INT,
  FORM_ERROR,
  FORM_NONE,     /* returns without completing its task */
} Form;

static const char * const form_names[] = { "value", "pointer", "boolean", "int", "error", "none" };

/* What the operation does, and what it saw. */
typedef struct
{
  Form          form;
  gboolean      gated;          /* waits for test_behaviour_open() */
  gboolean      honour_cancel;  /* a gated wait also ends at cancellation */
  gboolean      bind_idle;      /* adds an idle to its thread-default context */

  GMutex        lock;
  GCond         cond;
  gboolean      open;

  gint          runs;           /* atomic */
  gint          saw_cancel;     /* atomic: the operation's cancellable fired */
  gint          idle_ran;       /* atomic: the idle it bound ran */
  gint          tasks_alive;    /* atomic: operation's tasks not yet finalized */
  GMainContext *body_context;   /* its thread-default context (unowned) */
  GThread      *body_thread;
  gint          data_released;  /* atomic: the operation let its data go */
  gint          completed_after_release; /* atomic: it completed after that */
} Behaviour;

static void
behaviour_init (Behaviour *b,
                Form       form)
{
  memset (b, 0, sizeof *b);
  g_mutex_init (&b->lock);
  g_cond_init (&b->cond);
  b->form = form;
}

static void
behaviour_open (Behaviour *b)
{
  g_mutex_lock (&b->lock);
  b->open = TRUE;
  g_cond_broadcast (&b->cond);
  g_mutex_unlock (&b->lock);
}

static void
behaviour_clear (Behaviour *b)
{
  g_mutex_clear (&b->lock);
  g_cond_clear (&b->cond);
}

static void
task_finalized (gpointer  data,
                GObject  *where_the_object_was)
{
  g_atomic_int_add (&((Behaviour *) data)->tasks_alive, -1);
}

static void
cancelled_cb (GCancellable *cancellable,
              Behaviour    *b)
{
  g_mutex_lock (&b->lock);
  g_atomic_int_set (&b->saw_cancel, 1);
  g_cond_broadcast (&b->cond);
  g_mutex_unlock (&b->lock);
}

static gboolean
idle_bound_cb (gpointer data)
{
  g_atomic_int_set (&((Behaviour *) data)->idle_ran, 1);
  return G_SOURCE_REMOVE;
}

static void
complete (Behaviour *b,
          GTask     *task)
{
  GValue value = G_VALUE_INIT;

  if (g_atomic_int_get (&b->data_released))
    g_atomic_int_set (&b->completed_after_release, 1);

  switch (b->form)
    {
    case FORM_VALUE:
      g_value_init (&value, G_TYPE_STRING);
      g_value_set_static_string (&value, "v");
      g_task_return_value (task, &value);
      g_value_unset (&value);
      break;
    case FORM_POINTER:
      g_task_return_pointer (task, g_strdup ("p"), g_free);
      break;
    case FORM_BOOLEAN:
      g_task_return_boolean (task, TRUE);
      break;
    case FORM_INT:
      g_task_return_int (task, 42);
      break;
    case FORM_ERROR:
      g_task_return_new_error (task, TEST_ERROR, 42, "boom %d", 42);
      break;
    case FORM_NONE:
      break;
    }
}

/* Waits for the gate, or for the cancellable when the body honours it. */
static void
wait_gate (Behaviour    *b,
           GCancellable *cancellable)
{
  g_mutex_lock (&b->lock);
  while (!b->open && !(b->honour_cancel && g_atomic_int_get (&b->saw_cancel)))
    g_cond_wait (&b->cond, &b->lock);
  g_mutex_unlock (&b->lock);
}

static void
body_begin (Behaviour    *b,
            GTask        *task,
            GCancellable *cancellable)
{
  g_atomic_int_inc (&b->tasks_alive);
  g_object_weak_ref (G_OBJECT (task), task_finalized, b);
  b->body_context = g_main_context_get_thread_default ();
  b->body_thread = g_thread_self ();
  if (cancellable != NULL)
    g_cancellable_connect (cancellable, G_CALLBACK (cancelled_cb), b, NULL);
  if (b->bind_idle)
    {
      GSource *idle = g_idle_source_new ();

      g_source_set_callback (idle, idle_bound_cb, b, NULL);
      g_source_attach (idle, g_main_context_get_thread_default ());
      g_source_unref (idle);
    }
  g_atomic_int_inc (&b->runs);
}

static void
blocking_run (SaOperation  *op,
              GTask        *task,
              GCancellable *cancellable,
              gpointer      data)
{
  Behaviour *b = data;

  body_begin (b, task, cancellable);
  if (b->gated)
    wait_gate (b, cancellable);
  complete (b, task);
}

typedef struct
{
  Behaviour    *b;
  GTask        *task;
  GCancellable *cancellable;
} Later;

static gpointer
complete_later_thread (gpointer data)
{
  Later *later = data;

  wait_gate (later->b, later->cancellable);
  complete (later->b, later->task);
  g_object_unref (later->task);
  g_clear_object (&later->cancellable);
  g_free (later);

  return NULL;
}

static gboolean
complete_idle_cb (gpointer data)
{
  Later *later = data;

  complete (later->b, later->task);

  return G_SOURCE_REMOVE;
}

static void
later_free (gpointer data)
{
  Later *later = data;

  g_object_unref (later->task);
  g_clear_object (&later->cancellable);
  g_free (later);
}

static void
non_blocking_start (SaOperation  *op,
                    GTask        *task,
                    GCancellable *cancellable,
                    gpointer      data)
{
  Behaviour *b = data;
  Later *later = g_new0 (Later, 1);

  body_begin (b, task, cancellable);
  later->b = b;
  later->task = g_object_ref (task);
  later->cancellable = cancellable != NULL ? g_object_ref (cancellable) : NULL;

  if (b->gated)
    {
      /* Completes from another thread: delivered on the task's context. */
      g_thread_unref (g_thread_new ("complete-later", complete_later_thread, later));
    }
  else
    {
      GSource *idle = g_idle_source_new ();

      g_source_set_callback (idle, complete_idle_cb, later, later_free);
      g_source_attach (idle, g_main_context_get_thread_default ());
      g_source_unref (idle);
    }
}

static SaOperation *
operation_new (const Cell *cell,
               Behaviour  *b)
{
  SaOperation *op = cell->blocking ? sa_operation_new_blocking (blocking_run, b, NULL)
                                   : sa_operation_new_non_blocking (non_blocking_start, b, NULL);

  sa_operation_set_name (op, "contract");

  return op;
}

/* --- the driver ------------------------------------------------------------ */

typedef struct
{
  GTask        *returned;      /* the call's task */
  GAsyncResult *handed;        /* what the callback got */
  GObject      *handed_source; /* the source object the callback got */
  gint          n_callbacks;   /* atomic */
  gboolean      in_call;
  gboolean      callback_in_call;
  SaBridge     *bridge;        /* the bridge cell's own task, read directly */
} Outcome;

static void
outcome_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      data)
{
  Outcome *o = data;

  if (o->in_call)
    o->callback_in_call = TRUE;
  g_clear_object (&o->handed);
  o->handed = g_object_ref (result);
  o->handed_source = source;
  g_atomic_int_inc (&o->n_callbacks);
}

static void
outcome_clear (Outcome *o)
{
  g_clear_object (&o->returned);
  g_clear_object (&o->handed);
}

typedef struct
{
  const Cell   *cell;
  SaDispatcher *dispatcher;
  SaOperation  *operation;
  GCancellable *cancellable;
  Outcome      *outcome;
  guint         bridge_timeout_ms;
  gboolean      full;          /* through sa_dispatcher_call_full(), with: */
  GObject      *source_object;
  int           io_priority;
} CallArgs;

/* The source tag of the calls of a library's GIO-style function. */
static void
library_do_async (void)
{
}

static void
make_call (CallArgs *a)
{
  Outcome *o = a->outcome;

  o->in_call = TRUE;
  if (a->cell->id == CELL_BRIDGE)
    {
      SaBridge *bridge = sa_bridge_new (a->cancellable, a->bridge_timeout_ms);
      GCancellable *c = sa_bridge_get_cancellable (bridge);
      g_autoptr(GTask) task = g_task_new (NULL, c, sa_bridge_callback, bridge);
      g_autoptr(GError) error = NULL;
      GAsyncResult *result;

      if (!g_task_return_error_if_cancelled (task))
        sa_operation_start (a->operation, task, c);
      result = sa_bridge_wait (bridge, &error);
      /* A bridge reports through its wait: an error becomes a task of
       * its own here, so that every cell is read the same way. */
      if (result == NULL)
        {
          GTask *failed = g_task_new (NULL, NULL, NULL, NULL);

          g_task_return_error (failed, g_steal_pointer (&error));
          result = G_ASYNC_RESULT (failed);
        }
      o->returned = G_TASK (result);
      outcome_cb (NULL, result, o);
      sa_bridge_unref (bridge);
    }
  else if (a->cell->lock)
    {
      /* The lock lives on in its executions and its callers' tasks. */
      g_autoptr(SaLock) lock = sa_lock_new (a->dispatcher);

      o->returned = sa_lock_call (lock, "key", a->operation, SA_CALL_MODE_AUTO,
                                  a->cancellable, outcome_cb, o);
    }
  else if (a->full)
    {
      o->returned = sa_dispatcher_call_full (a->dispatcher, a->operation, SA_CALL_MODE_AUTO,
                                             a->source_object, library_do_async, a->io_priority,
                                             a->cancellable, outcome_cb, o);
    }
  else
    {
      o->returned = sa_dispatcher_call (a->dispatcher, a->operation, SA_CALL_MODE_AUTO,
                                        a->cancellable, outcome_cb, o);
    }
  o->in_call = FALSE;
}

static gboolean
call_from_loop (gpointer data)
{
  make_call (data);
  return G_SOURCE_REMOVE;
}

/* Makes one call in @cell: from main(), a sync caller, or from a callback
 * of the default context's loop, an async caller; returns once the
 * callback has run. */
static void
call_in_cell (CallArgs *a)
{
  if (!a->cell->async)
    {
      g_assert_false (sa_caller_is_async ());
      make_call (a);
      g_assert_cmpint (a->outcome->n_callbacks, ==, 1);
      return;
    }

  g_idle_add (call_from_loop, a);
  while (g_atomic_int_get (&a->outcome->n_callbacks) == 0)
    g_main_context_iteration (NULL, TRUE);
}

static SaDispatcher *
dispatcher_for (const Cell *cell)
{
  SaDispatcher *d = sa_dispatcher_new ();

  if (cell->max_threads != 0)
    sa_dispatcher_set_max_threads (d, cell->max_threads);
  sa_dispatcher_set_gtask_pool (d, cell->gtask_pool);

  return d;
}

/* Reads the call's result in @form; returns it as a string, NULL with
 * @error set on failure. */
static char *
read_result (const Cell *cell,
             Outcome    *o,
             Form        form,
             GError    **error)
{
  GTask *t = o->returned;
  GValue value = G_VALUE_INIT;
  char *ret = NULL;

  if (cell->id == CELL_BRIDGE)
    {
      switch (form)
        {
        case FORM_VALUE:
          if (g_task_propagate_value (t, &value, error))
            {
              ret = g_value_dup_string (&value);
              g_value_unset (&value);
            }
          return ret;
        default:
          if (g_task_had_error (t))
            {
              g_task_propagate_pointer (t, error);
              return NULL;
            }
          g_assert_not_reached ();
        }
    }

  if (cell->lock)
    {
      SaLock *lock = g_task_get_source_object (t);

      switch (form)
        {
        case FORM_VALUE:
        case FORM_ERROR:
        case FORM_NONE:
          if (sa_lock_call_finish_value (lock, G_ASYNC_RESULT (t), &value, error))
            {
              ret = g_value_dup_string (&value);
              g_value_unset (&value);
            }
          return ret;
        case FORM_POINTER:
          return sa_lock_call_finish_pointer (lock, G_ASYNC_RESULT (t), error);
        case FORM_BOOLEAN:
          {
            gboolean b = sa_lock_call_finish_boolean (lock, G_ASYNC_RESULT (t), error);
            return (error == NULL || *error == NULL) ? g_strdup (b ? "TRUE" : "FALSE") : NULL;
          }
        case FORM_INT:
          {
            gssize i = sa_lock_call_finish_int (lock, G_ASYNC_RESULT (t), error);
            return (error == NULL || *error == NULL) ? g_strdup_printf ("%" G_GSSIZE_FORMAT, i) : NULL;
          }
        }
    }

  switch (form)
    {
    case FORM_VALUE:
    case FORM_ERROR:
    case FORM_NONE:
      if (test_finish_value (t, &value, error))
        {
          ret = g_value_dup_string (&value);
          g_value_unset (&value);
        }
      return ret;
    case FORM_POINTER:
      return test_finish_pointer (t, error);
    case FORM_BOOLEAN:
      {
        gboolean b = test_finish_boolean (t, error);
        return (error == NULL || *error == NULL) ? g_strdup (b ? "TRUE" : "FALSE") : NULL;
      }
    case FORM_INT:
      {
        gssize i = test_finish_int (t, error);
        return (error == NULL || *error == NULL) ? g_strdup_printf ("%" G_GSSIZE_FORMAT, i) : NULL;
      }
    }

  g_assert_not_reached ();
}

static const char *
expected_value (Form form)
{
  switch (form)
    {
    case FORM_VALUE: return "v";
    case FORM_POINTER: return "p";
    case FORM_BOOLEAN: return "TRUE";
    case FORM_INT: return "42";
    default: g_assert_not_reached ();
    }
}

/* Every call of a situation ends the same way in every cell. */
static void
assert_delivered_once (const Cell *cell,
                       Outcome    *o)
{
  g_assert_cmpint (g_atomic_int_get (&o->n_callbacks), ==, 1);
  g_assert_true (o->handed == G_ASYNC_RESULT (o->returned));
  if (cell->async)
    g_assert_false (o->callback_in_call);
  /* A call its guard answered before the operation completed: its task,
   * the operation's too, completes when the operation does. */
  g_assert_true (g_task_get_completed (o->returned) || cell->id == CELL_BRIDGE ||
                 g_cancellable_is_cancelled (g_task_get_cancellable (o->returned)));
}

/* Waits, up to 60 s, for every task of @b to be finalized and the private
 * contexts and descriptors to come back to @n_contexts and @n_fds. */
static void
assert_nothing_kept (Behaviour *b,
                     guint      n_contexts,
                     guint      n_fds)
{
  gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;

  while (g_get_monotonic_time () < deadline &&
         (g_atomic_int_get (&b->tasks_alive) != 0 ||
          sa_get_n_contexts () > n_contexts || test_count_fds () > n_fds))
    {
      while (g_main_context_iteration (NULL, FALSE))
        ;
      g_usleep (2000);
    }
  g_assert_cmpint (g_atomic_int_get (&b->tasks_alive), ==, 0);
  g_assert_cmpuint (sa_get_n_contexts (), <=, n_contexts);
  if (test_count_fds () > n_fds)
    {
      g_autoptr(GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
      const char *name;

      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *path = g_build_filename ("/proc/self/fd", name, NULL);
          g_autofree char *target = g_file_read_link (path, NULL);

          g_test_message ("fd %s: %s", name, target);
        }
    }
  g_assert_cmpuint (test_count_fds (), <=, n_fds);
}

/* --- situations ------------------------------------------------------------ */

static gboolean
skip_unless (gboolean    applies,
             const char *why)
{
  if (!applies)
    g_test_skip (why);
  return !applies;
}

static void
situation_value (const Cell *cell)
{
  for (Form form = FORM_VALUE; form <= FORM_INT; form++)
    {
      g_autoptr(SaDispatcher) d = dispatcher_for (cell);
      g_autoptr(GError) error = NULL;
      g_autofree char *got = NULL;
      Outcome o = { 0 };
      Behaviour b;
      g_autoptr(SaOperation) op = NULL;
      CallArgs a;

      if (cell->id == CELL_BRIDGE && form != FORM_VALUE)
        continue;   /* a bridge hands back the GIO call's own result */

      behaviour_init (&b, form);
      op = operation_new (cell, &b);
      a = (CallArgs) { cell, d, op, NULL, &o, 0 };
      call_in_cell (&a);
      assert_delivered_once (cell, &o);
      g_assert_cmpint (b.runs, ==, 1);

      got = read_result (cell, &o, form, &error);
      g_assert_no_error (error);
      g_test_message ("%s: %s", form_names[form], got);
      g_assert_cmpstr (got, ==, expected_value (form));

      /* One result, one read: a second read says so. */
      if (cell->id != CELL_BRIDGE)
        {
          g_autofree char *again = read_result (cell, &o, form, &error);

          g_assert_null (again);
          g_assert_error (error, SA_ERROR, SA_ERROR_FAILED);
        }

      /* The _sync forms read the same forms. */
      if (!cell->async && cell->lock)
        {
          g_autoptr(SaLock) lock = sa_lock_new (d);
          g_autoptr(GError) sync_error = NULL;
          GValue value = G_VALUE_INIT;
          g_autofree char *p = NULL;

          switch (form)
            {
            case FORM_VALUE:
              g_assert_true (sa_lock_call_sync_value (lock, "key", op, NULL, &value, &sync_error));
              g_assert_cmpstr (g_value_get_string (&value), ==, "v");
              g_value_unset (&value);
              break;
            case FORM_POINTER:
              p = sa_lock_call_sync_pointer (lock, "key", op, NULL, &sync_error);
              g_assert_cmpstr (p, ==, "p");
              break;
            case FORM_BOOLEAN:
              g_assert_true (sa_lock_call_sync_boolean (lock, "key", op, NULL, &sync_error));
              break;
            case FORM_INT:
              g_assert_cmpint (sa_lock_call_sync_int (lock, "key", op, NULL, &sync_error), ==, 42);
              break;
            default:
              g_assert_not_reached ();
            }
          g_assert_no_error (sync_error);
        }
      else if (!cell->async && cell->id != CELL_BRIDGE)
        {
          g_autoptr(GError) sync_error = NULL;
          GValue value = G_VALUE_INIT;
          g_autofree char *p = NULL;

          switch (form)
            {
            case FORM_VALUE:
              g_assert_true (sa_dispatcher_call_sync_value (d, op, NULL, &value, &sync_error));
              g_assert_cmpstr (g_value_get_string (&value), ==, "v");
              g_value_unset (&value);
              break;
            case FORM_POINTER:
              p = sa_dispatcher_call_sync_pointer (d, op, NULL, &sync_error);
              g_assert_cmpstr (p, ==, "p");
              break;
            case FORM_BOOLEAN:
              g_assert_true (sa_dispatcher_call_sync_boolean (d, op, NULL, &sync_error));
              break;
            case FORM_INT:
              g_assert_cmpint (sa_dispatcher_call_sync_int (d, op, NULL, &sync_error), ==, 42);
              break;
            default:
              g_assert_not_reached ();
            }
          g_assert_no_error (sync_error);
        }

      outcome_clear (&o);
      g_clear_object (&op);
      assert_nothing_kept (&b, G_MAXUINT, G_MAXUINT);
      behaviour_clear (&b);
    }
}

static void
situation_error (const Cell *cell)
{
  g_autoptr(SaDispatcher) d = dispatcher_for (cell);
  g_autoptr(GError) error = NULL;
  g_autofree char *got = NULL;
  Outcome o = { 0 };
  Behaviour b;
  g_autoptr(SaOperation) op = NULL;
  CallArgs a;

  behaviour_init (&b, FORM_ERROR);
  op = operation_new (cell, &b);
  a = (CallArgs) { cell, d, op, NULL, &o, 0 };
  call_in_cell (&a);
  assert_delivered_once (cell, &o);

  got = read_result (cell, &o, FORM_VALUE, &error);
  g_assert_null (got);
  g_assert_error (error, TEST_ERROR, 42);
  g_assert_cmpstr (error->message, ==, "boom 42");

  outcome_clear (&o);
  g_clear_object (&op);
  assert_nothing_kept (&b, G_MAXUINT, G_MAXUINT);
  behaviour_clear (&b);
}

static void
situation_no_result (const Cell *cell)
{
  g_autoptr(SaDispatcher) d = NULL;
  g_autoptr(GError) error = NULL;
  Outcome o = { 0 };
  Behaviour b;
  g_autoptr(SaOperation) op = NULL;
  CallArgs a;

  if (skip_unless (cell->blocking, "only a blocking body returns: a non-blocking "
                                   "operation that never completes is the timeout's case"))
    return;

  d = dispatcher_for (cell);
  behaviour_init (&b, FORM_NONE);
  op = operation_new (cell, &b);
  a = (CallArgs) { cell, d, op, NULL, &o, 0 };
  call_in_cell (&a);
  assert_delivered_once (cell, &o);
  g_assert_null (read_result (cell, &o, FORM_POINTER, &error));
  g_assert_error (error, SA_ERROR, SA_ERROR_NO_RESULT);
  g_assert_nonnull (strstr (error->message, "contract"));

  outcome_clear (&o);
  g_clear_object (&op);
  assert_nothing_kept (&b, G_MAXUINT, G_MAXUINT);
  behaviour_clear (&b);
}

static void
situation_cancel_before (const Cell *cell)
{
  g_autoptr(SaDispatcher) d = dispatcher_for (cell);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  Outcome o = { 0 };
  Behaviour b;
  g_autoptr(SaOperation) op = NULL;
  CallArgs a;

  behaviour_init (&b, FORM_VALUE);
  op = operation_new (cell, &b);
  g_cancellable_cancel (cancellable);
  a = (CallArgs) { cell, d, op, cancellable, &o, 0 };
  call_in_cell (&a);
  assert_delivered_once (cell, &o);
  g_assert_null (read_result (cell, &o, FORM_VALUE, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (b.runs, ==, 0);

  outcome_clear (&o);
  behaviour_clear (&b);
}

/* The caller's cancellable fires after the callback, before the read (a
 * window closed in the callback): the read gives G_IO_ERROR_CANCELLED, as
 * a GTask's own read does, and the operation's task and its unread result
 * are freed. */
static void
situation_cancel_after_callback (const Cell *cell)
{
  for (Form form = FORM_VALUE; form <= FORM_INT; form++)
    {
      g_autoptr(SaDispatcher) d = dispatcher_for (cell);
      g_autoptr(GCancellable) cancellable = g_cancellable_new ();
      g_autoptr(GError) error = NULL;
      g_autofree char *got = NULL;
      Outcome o = { 0 };
      Behaviour b;
      g_autoptr(SaOperation) op = NULL;
      CallArgs a;

      if (cell->id == CELL_BRIDGE && form != FORM_VALUE)
        continue;   /* a bridge hands back the GIO call's own result */

      behaviour_init (&b, form);
      op = operation_new (cell, &b);
      a = (CallArgs) { cell, d, op, cancellable, &o, 0 };
      call_in_cell (&a);
      assert_delivered_once (cell, &o);
      g_cancellable_cancel (cancellable);
      got = read_result (cell, &o, form, &error);
      g_assert_null (got);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

      outcome_clear (&o);
      g_clear_object (&op);
      assert_nothing_kept (&b, G_MAXUINT, G_MAXUINT);
      behaviour_clear (&b);
    }
}

typedef struct
{
  Behaviour    *b;
  GCancellable *cancellable;
} CancelWhenRunning;

static gpointer
cancel_when_running (gpointer data)
{
  CancelWhenRunning *c = data;

  while (g_atomic_int_get (&c->b->runs) == 0)
    g_usleep (1000);
  g_cancellable_cancel (c->cancellable);

  return NULL;
}

/* Cancellation or timeout while the body runs: the body's cancellable
 * fires; a caller that is not running the body is answered at once (the
 * body is still blocked on its gate then), one that is, when it returns.
 * The late result is dropped and freed. */
static void
ended_while_running (const Cell *cell,
                     gboolean    by_timeout)
{
  g_autoptr(SaDispatcher) d = dispatcher_for (cell);
  g_autoptr(GCancellable) cancellable = by_timeout ? NULL : g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  Outcome o = { 0 };
  Behaviour b;
  g_autoptr(SaOperation) op = NULL;
  CancelWhenRunning c;
  GThread *canceller = NULL;
  gboolean caller_runs_body = cell->id == CELL_SYNC_BLOCKING || cell->id == CELL_LOCK_SYNC_BLOCKING;
  guint n_contexts, n_fds;
  gint64 start;
  gint op_finalized;
  CallArgs a;

  /* Counted once this thread has its private context. */
  {
    g_autoptr(SaBridge) warm = sa_bridge_new (NULL, 0);
    g_autoptr(GTask) t = g_task_new (NULL, NULL, sa_bridge_callback, warm);
    g_autoptr(GAsyncResult) r = NULL;

    g_task_return_boolean (t, TRUE);
    r = sa_bridge_wait (warm, NULL);
  }
  /* A lock's sync caller waits at one depth and runs the execution at the
   * next: that context too, kept for reuse. */
  if (cell->lock && !cell->async)
    {
      g_autoptr(SaLock) lock = sa_lock_new (NULL);
      Behaviour w;
      g_autoptr(SaOperation) warm_op = NULL;

      behaviour_init (&w, FORM_BOOLEAN);
      warm_op = operation_new (cell, &w);
      g_assert_true (sa_lock_call_sync_boolean (lock, "warm", warm_op, NULL, NULL));
      g_clear_object (&warm_op);
      behaviour_clear (&w);
    }
  n_contexts = sa_get_n_contexts ();
  n_fds = test_count_fds ();

  behaviour_init (&b, FORM_POINTER);
  b.gated = TRUE;
  b.honour_cancel = caller_runs_body;
  op = operation_new (cell, &b);
  if (by_timeout)
    sa_dispatcher_set_timeout (d, 100);

  c = (CancelWhenRunning) { &b, cancellable };
  if (!by_timeout)
    canceller = g_thread_new ("canceller", cancel_when_running, &c);

  a = (CallArgs) { cell, d, op, cancellable, &o, by_timeout ? 100 : 0 };
  start = g_get_monotonic_time ();
  call_in_cell (&a);
  if (canceller != NULL)
    g_thread_join (canceller);
  assert_delivered_once (cell, &o);

  g_assert_null (read_result (cell, &o, FORM_VALUE, &error));
  if (by_timeout)
    {
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
      g_assert_cmpint (g_get_monotonic_time () - start, >=, 100 * 1000);
    }
  else
    {
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    }
  /* Answered while the body was still held: at once. */
  if (!caller_runs_body)
    g_assert_false (b.open);

  /* The late result arrives and goes nowhere. The private contexts and
   * descriptors counted are this thread's: a worker keeps its own for as
   * long as it lives, which its pool decides. */
  behaviour_open (&b);
  outcome_clear (&o);
  test_watch_finalize (op, &op_finalized);
  g_clear_object (&op);
  if (cell->async)
    assert_nothing_kept (&b, G_MAXUINT, G_MAXUINT);
  else
    assert_nothing_kept (&b, n_contexts, n_fds);
  g_assert_cmpint (g_atomic_int_get (&o.n_callbacks), ==, 1);

  /* The operation goes once every call of it is over, the body's too. */
  while (!g_atomic_int_get (&op_finalized))
    {
      g_assert_cmpint (g_get_monotonic_time () - start, <, 30 * G_USEC_PER_SEC);
      while (g_main_context_iteration (NULL, FALSE))
        ;
      g_usleep (1000);
    }
  /* A body that ran saw its cancellable fire (its handlers run in the
   * cancelling thread, the body's after the library's). A body still
   * queued when the timeout passed never runs: the timeout counts from
   * the call, and a loaded machine may start a worker later than that. */
  if (by_timeout && g_atomic_int_get (&b.runs) == 0)
    g_test_message ("the timeout passed before the body started: it did not run");
  else
    g_assert_cmpint (g_atomic_int_get (&b.saw_cancel), ==, 1);
  behaviour_clear (&b);
}

static void
situation_cancel_during (const Cell *cell)
{
  ended_while_running (cell, FALSE);
}

static void
situation_timeout (const Cell *cell)
{
  ended_while_running (cell, TRUE);
}

/* What a body binds to its thread-default context is serviced: the
 * caller's own, or the worker's, never the library's private one. */
static void
situation_thread_default (const Cell *cell)
{
  g_autoptr(SaDispatcher) d = NULL;
  Outcome o = { 0 };
  Behaviour b;
  g_autoptr(SaOperation) op = NULL;
  CallArgs a;

  if (skip_unless (cell->blocking, "a non-blocking operation starts on the context that "
                                   "drives it: the private one of a sync caller, by design"))
    return;

  d = dispatcher_for (cell);
  behaviour_init (&b, FORM_BOOLEAN);
  b.bind_idle = TRUE;
  op = operation_new (cell, &b);
  a = (CallArgs) { cell, d, op, NULL, &o, 0 };
  call_in_cell (&a);
  assert_delivered_once (cell, &o);

  /* This thread has pushed nothing, nor has a pool worker. */
  g_assert_null (b.body_context);
  while (!g_atomic_int_get (&b.idle_ran))
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpint (b.idle_ran, ==, 1);

  outcome_clear (&o);
  g_clear_object (&op);
  assert_nothing_kept (&b, G_MAXUINT, G_MAXUINT);
  behaviour_clear (&b);
}

/* A blocking body that calls a blocking operation and a GIO one, on a
 * dispatcher whose pool may have a single thread: no wait for a thread
 * its own kind holds. */
typedef struct
{
  SaDispatcher *dispatcher;
  TestFile     *file;    /* made once: g_file_open_tmp() is not thread-safe */
} Nested;

static void
nested_run (SaOperation  *op,
            GTask        *task,
            GCancellable *cancellable,
            gpointer      data)
{
  Nested *nested = data;
  SaDispatcher *d = nested->dispatcher;
  TestFile *tf = nested->file;
  g_autoptr(SaOperation) load = test_op_load_file (tf->file, FALSE, NULL);
  g_autoptr(SaOperation) load_blocking = test_op_load_file (tf->file, TRUE, NULL);
  g_autoptr(GTask) t1 = sa_dispatcher_call (d, load, SA_CALL_MODE_AUTO, NULL, NULL, NULL);
  g_autoptr(GTask) t2 = sa_dispatcher_call (d, load_blocking, SA_CALL_MODE_AUTO, NULL, NULL, NULL);
  GValue v1 = G_VALUE_INIT, v2 = G_VALUE_INIT;
  gboolean ok;

  ok = test_finish_value (t1, &v1, NULL) && test_finish_value (t2, &v2, NULL) &&
       g_strcmp0 (g_value_get_string (&v1), tf->contents) == 0 &&
       g_strcmp0 (g_value_get_string (&v2), tf->contents) == 0;
  g_value_unset (&v1);
  g_value_unset (&v2);
  g_task_return_boolean (task, ok);
}

static void
situation_nesting (const Cell *cell)
{
  g_autoptr(SaDispatcher) d = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(SaOperation) op = NULL;
  Outcome o[8] = { { 0 } };
  CallArgs a[8];
  Nested nested;

  if (skip_unless (cell->blocking, "nesting is a blocking body's question"))
    return;

  d = dispatcher_for (cell);
  nested = (Nested) { d, test_file_new ("nested contents") };
  op = sa_operation_new_blocking (nested_run, &nested, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (o); i++)
    {
      a[i] = (CallArgs) { cell, d, op, NULL, &o[i], 0 };
      if (cell->async)
        g_idle_add (call_from_loop, &a[i]);
      else
        make_call (&a[i]);
    }
  for (guint i = 0; i < G_N_ELEMENTS (o); i++)
    {
      while (g_atomic_int_get (&o[i].n_callbacks) == 0)
        g_main_context_iteration (NULL, TRUE);
      assert_delivered_once (cell, &o[i]);
      if (cell->lock)
        g_assert_true (sa_lock_call_finish_boolean (g_task_get_source_object (o[i].returned),
                                                    G_ASYNC_RESULT (o[i].returned), &error));
      else
        g_assert_true (test_finish_boolean (o[i].returned, &error));
      g_assert_no_error (error);
      outcome_clear (&o[i]);
    }
  g_clear_object (&op);
  test_file_free (nested.file);
}

/* sa_continue() on the call's task: for an async caller, never inside
 * the call, even on a task already complete. */
static void
continue_func (GTask    *previous,
               GTask    *next,
               gpointer  data)
{
  GError *error = NULL;
  g_autofree char *s = g_task_propagate_pointer (previous, &error);

  if (s == NULL)
    g_task_return_error (next, error);
  else
    g_task_return_int (next, (gssize) strlen (s));
}

static void
situation_continue (const Cell *cell)
{
  g_autoptr(SaDispatcher) d = NULL;
  g_autoptr(GTask) next = NULL;
  g_autoptr(GError) error = NULL;
  Outcome o = { 0 };
  Outcome after = { 0 };
  Behaviour b;
  g_autoptr(SaOperation) op = NULL;
  CallArgs a;

  if (skip_unless (cell->id != CELL_BRIDGE && !cell->lock, "sa_continue() continues the dispatcher's tasks"))
    return;

  d = dispatcher_for (cell);
  behaviour_init (&b, FORM_POINTER);
  op = operation_new (cell, &b);
  a = (CallArgs) { cell, d, op, NULL, &o, 0 };
  call_in_cell (&a);

  /* From the caller's own place: main() for a sync caller, a callback of
   * the loop for an async one; the task is complete in both. */
  if (cell->async)
    {
      GMainContext *context = g_main_context_default ();

      g_assert_true (g_main_context_acquire (context));
      after.in_call = TRUE;
      next = sa_continue (o.returned, continue_func, NULL, NULL, outcome_cb, &after);
      after.in_call = FALSE;
      g_main_context_release (context);
      g_assert_cmpint (after.n_callbacks, ==, 0);
      while (g_atomic_int_get (&after.n_callbacks) == 0)
        g_main_context_iteration (NULL, TRUE);
    }
  else
    {
      next = sa_continue (o.returned, continue_func, NULL, NULL, outcome_cb, &after);
    }
  g_assert_cmpint (after.n_callbacks, ==, 1);
  g_assert_false (after.callback_in_call);
  g_assert_cmpint (test_finish_int (next, &error), ==, 1);
  g_assert_no_error (error);

  outcome_clear (&o);
  g_clear_object (&after.handed);
  g_clear_object (&op);
  assert_nothing_kept (&b, G_MAXUINT, G_MAXUINT);
  behaviour_clear (&b);
}

/* Reads @task as a library's foo_finish() does, with g_task_propagate_*()
 * in @form; returns the value as a string, NULL with @error set. */
static char *
propagate (GTask   *task,
           Form     form,
           GError **error)
{
  GValue value = G_VALUE_INIT;
  char *ret = NULL;
  GError *local_error = NULL;

  switch (form)
    {
    case FORM_VALUE:
    case FORM_ERROR:
      if (g_task_propagate_value (task, &value, error))
        {
          ret = g_value_dup_string (&value);
          g_value_unset (&value);
        }
      return ret;
    case FORM_POINTER:
      return g_task_propagate_pointer (task, error);
    case FORM_BOOLEAN:
      {
        gboolean b = g_task_propagate_boolean (task, &local_error);

        if (local_error != NULL)
          g_propagate_error (error, local_error);
        return local_error == NULL ? g_strdup (b ? "TRUE" : "FALSE") : NULL;
      }
    case FORM_INT:
      {
        gssize i = g_task_propagate_int (task, &local_error);

        if (local_error != NULL)
          g_propagate_error (error, local_error);
        return local_error == NULL ? g_strdup_printf ("%" G_GSSIZE_FORMAT, i) : NULL;
      }
    default:
      g_assert_not_reached ();
    }
}

/* The same with the finish functions of @d. */
static char *
finish_form (SaDispatcher  *d,
             GAsyncResult  *result,
             Form           form,
             GError       **error)
{
  GValue value = G_VALUE_INIT;
  GError *local_error = NULL;
  char *ret = NULL;

  switch (form)
    {
    case FORM_VALUE:
    case FORM_ERROR:
      if (sa_dispatcher_call_finish_value (d, result, &value, error))
        {
          ret = g_value_dup_string (&value);
          g_value_unset (&value);
        }
      return ret;
    case FORM_POINTER:
      return sa_dispatcher_call_finish_pointer (d, result, error);
    case FORM_BOOLEAN:
      {
        gboolean b = sa_dispatcher_call_finish_boolean (d, result, &local_error);

        if (local_error != NULL)
          g_propagate_error (error, local_error);
        return local_error == NULL ? g_strdup (b ? "TRUE" : "FALSE") : NULL;
      }
    case FORM_INT:
      {
        gssize i = sa_dispatcher_call_finish_int (d, result, &local_error);

        if (local_error != NULL)
          g_propagate_error (error, local_error);
        return local_error == NULL ? g_strdup_printf ("%" G_GSSIZE_FORMAT, i) : NULL;
      }
    default:
      g_assert_not_reached ();
    }
}

/* sa_dispatcher_call_full(): the call's task carries the library's
 * source object (or NULL), its tag and its priority, with or without a
 * guard, and g_task_propagate_*() reads it in the form the operation
 * returned, as the dispatcher's finish functions do. */
static void
situation_gio_style (const Cell *cell)
{
  g_autoptr(GObject) source = NULL;

  if (skip_unless (cell->id != CELL_BRIDGE && !cell->lock,
                   "sa_dispatcher_call_full() is the dispatcher's"))
    return;

  source = g_object_new (G_TYPE_OBJECT, NULL);
  for (Form form = FORM_VALUE; form <= FORM_ERROR; form++)
    for (guint variant = 0; variant < 8; variant++)
      {
        gboolean with_source = variant & 1;
        gboolean guarded = variant & 2;
        gboolean by_finish = variant & 4;
        g_autoptr(SaDispatcher) d = dispatcher_for (cell);
        g_autoptr(GCancellable) cancellable = guarded ? g_cancellable_new () : NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *got = NULL;
        Outcome o = { 0 };
        Behaviour b;
        g_autoptr(SaOperation) op = NULL;
        CallArgs a;

        if (guarded)
          sa_dispatcher_set_timeout (d, 60000);
        behaviour_init (&b, form);
        op = operation_new (cell, &b);
        a = (CallArgs) { cell, d, op, cancellable, &o, 0, TRUE,
                         with_source ? source : NULL, G_PRIORITY_LOW };
        call_in_cell (&a);
        assert_delivered_once (cell, &o);

        g_assert_true (o.handed_source == a.source_object);
        g_assert_true (g_task_get_source_object (o.returned) == a.source_object);
        g_assert_true (g_task_is_valid (o.handed, a.source_object));
        g_assert_true (g_async_result_is_tagged (o.handed, library_do_async));
        /* An async caller's task keeps its user data, as GIO's do. */
        if (cell->async)
          g_assert_true (g_async_result_get_user_data (o.handed) == &o);
        g_assert_cmpint (g_task_get_priority (o.returned), ==, G_PRIORITY_LOW);

        if (by_finish)
          {
            /* The dispatcher's own reads, whatever the source object. */
            got = finish_form (d, o.handed, form, &error);
          }
        else
          got = propagate (o.returned, form, &error);

        if (form == FORM_ERROR)
          {
            g_assert_null (got);
            g_assert_error (error, TEST_ERROR, 42);
          }
        else
          {
            g_assert_no_error (error);
            g_assert_cmpstr (got, ==, expected_value (form));
          }

        outcome_clear (&o);
        g_clear_object (&op);
        assert_nothing_kept (&b, G_MAXUINT, G_MAXUINT);
        behaviour_clear (&b);
      }
}

typedef struct
{
  const char *name;
  void (*run) (const Cell *cell);
} Situation;

static void
data_released (gpointer data)
{
  g_atomic_int_set (&((Behaviour *) data)->data_released, 1);
}

/* The caller drops its operation once the call is made, as it may: the
 * operation and its data live until the call's task is released. */
static void
situation_operation_dropped (const Cell *cell)
{
  g_autoptr(SaDispatcher) d = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *got = NULL;
  Outcome o = { 0 };
  Behaviour b;
  SaOperation *op;
  CallArgs a;

  if (skip_unless (cell->async, "a sync caller holds its operation until the call returns, "
                                "complete"))
    return;

  d = dispatcher_for (cell);
  behaviour_init (&b, FORM_VALUE);
  b.gated = TRUE;
  op = cell->blocking ? sa_operation_new_blocking (blocking_run, &b, data_released)
                      : sa_operation_new_non_blocking (non_blocking_start, &b, data_released);
  a = (CallArgs) { cell, d, op, NULL, &o, 0 };
  g_idle_add (call_from_loop, &a);
  /* A pool thread's start wakes no one here. */
  while (g_atomic_int_get (&b.runs) == 0)
    {
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
    }
  g_object_unref (op);
  behaviour_open (&b);
  while (g_atomic_int_get (&o.n_callbacks) == 0)
    g_main_context_iteration (NULL, TRUE);
  assert_delivered_once (cell, &o);
  g_assert_cmpint (g_atomic_int_get (&b.completed_after_release), ==, 0);

  got = read_result (cell, &o, FORM_VALUE, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (got, ==, "v");

  outcome_clear (&o);
  assert_nothing_kept (&b, G_MAXUINT, G_MAXUINT);
  g_assert_cmpint (g_atomic_int_get (&b.data_released), ==, 1);
  behaviour_clear (&b);
}

static const Situation situations[] = {
  { "value",           situation_value },
  { "error",           situation_error },
  { "no-result",       situation_no_result },
  { "cancel-before",   situation_cancel_before },
  { "cancel-during",   situation_cancel_during },
  { "cancel-after-callback", situation_cancel_after_callback },
  { "timeout",         situation_timeout },
  { "thread-default",  situation_thread_default },
  { "nesting",         situation_nesting },
  { "continue",        situation_continue },
  { "gio-style",       situation_gio_style },
  { "operation-dropped", situation_operation_dropped },
};

typedef struct
{
  const Situation *situation;
  const Cell      *cell;
} Case;

static void
run_case (gconstpointer data)
{
  const Case *c = data;

  c->situation->run (c->cell);
}

/* --- offload: GTask's guarantees in every offload cell --------------------
 *
 * A blocking body run for an async caller, in each way the library offers:
 * the dispatcher's pool (elastic, bounded, with a guard), GTask's pool, an
 * SaLock waiter, sa_dispatcher_run_in_thread(), and a library's private
 * context (a non-blocking operation that offloads a blocking helper, called
 * by sync callers). Each case is /contract/offload/SITUATION/CELL. */

typedef enum
{
  OFF_POOL,
  OFF_BOUNDED,
  OFF_GUARDED,          /* a timeout and a cancellable: the guard's path */
  OFF_GTASK,
  OFF_LOCK,
  OFF_RUN_IN_THREAD,
  OFF_PRIVATE,          /* a library's private context, from sync callers */
} OffloadCellId;

static const char * const offload_cell_names[] = {
  "pool", "bounded", "guarded", "gtask-pool", "lock", "run-in-thread", "private-context",
};

typedef enum
{
  ON_FREE_NOTHING,
  ON_FREE_SYNC_CALL,    /* the data's destroy notify makes a sync call */
  ON_FREE_ITERATE,      /* the data's destroy notify iterates its context */
} OnFree;

/* When a body given up returns: after its caller's callback began. */
typedef enum
{
  RETURN_ANY,
  RETURN_IN_CALLBACK,     /* and is handed back before the callback ends */
  RETURN_WITH_CALLBACK,   /* racing the rest of the callback's dispatch */
  RETURN_AFTER_COMPLETION,/* its task's completion dispatched before the
                           * call is given up; handed back as the callback
                           * runs */
} ReturnInCallback;

/* One call's watch: where and when its finalizers ran. */
typedef struct
{
  OffloadCellId  cell;
  SaDispatcher  *dispatcher;
  OnFree         on_free;
  GThread       *caller;         /* the thread whose context completes the call */
  gint           body_returned;  /* atomic: the body's last act */
  gint           n_freed;        /* atomic: task, result, data */
  gint           wrong_thread;   /* atomic: finalizers run on another thread */
  gint           too_early;      /* atomic: finalizers run before the body returned */
  gint           n_callbacks;    /* atomic */
  gint           context_freed;  /* atomic */
  gint           sync_call_ok;
  gint           idle_ran;
  gboolean       no_callback;    /* the caller passes none: waits for completion */
  gboolean       no_tail;        /* the body returns as soon as it completes */
  gboolean       give_up;        /* the caller cancels once the body started */
  gboolean       keep_iterating; /* and iterates until everything is freed */
  gboolean       keep_task;      /* and keeps the task, until it completes */
  gboolean       continues;      /* a continuation follows the call, which
                                  * its timeout gives up, running or queued */
  ReturnInCallback return_in_callback;
  gint           in_callback;    /* atomic: the caller's callback began */
  gint           task_returned;  /* atomic: the body returned its task */
  gint           data_freed;     /* atomic: the last to be freed */
  gboolean       kept_completed;
  gint           started;        /* atomic: the body started */
  gssize         value;          /* read with g_task_propagate_int() */
  GError        *error;
} Watch;

/* Whether this is the library's drain thread, named so by it. */
static gboolean
on_drain_thread (void)
{
  char name[17] = "";

  (void) prctl (PR_GET_NAME, name);
  return g_str_equal (name, "sa-drain");
}

static void
watch_freed (Watch *w)
{
  /* A call of no callback, or one given up, is released by its caller's
   * context, or by the drain thread when its caller may have stopped
   * iterating. */
  if (g_thread_self () != w->caller &&
      !((w->no_callback || w->give_up) && on_drain_thread ()))
    g_atomic_int_inc (&w->wrong_thread);
  /* A call given up while queued never runs its body. */
  if (!g_atomic_int_get (&w->body_returned) && (g_atomic_int_get (&w->started) || !w->give_up))
    g_atomic_int_inc (&w->too_early);
  g_atomic_int_inc (&w->n_freed);
}

static void
watch_task_finalized (gpointer  data,
                      GObject  *where_the_object_was)
{
  watch_freed (data);
}

static void
watch_result_free (gpointer data)
{
  watch_freed (data);
}

static gboolean
set_flag_cb (gpointer data)
{
  *(gint *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* A non-blocking operation that offloads a blocking helper with
 * sa_dispatcher_call_async() and completes with its result: what a
 * library writes, run on its sync callers' private contexts. */
static void
helper_done (GObject      *source,
             GAsyncResult *result,
             gpointer      data)
{
  GTask *task = data;
  GError *error = NULL;
  gssize v = sa_dispatcher_call_finish_int (SA_DISPATCHER (source), result, &error);

  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, v == 42);
  g_object_unref (task);
}

static void
int_body (SaOperation  *op,
          GTask        *task,
          GCancellable *cancellable,
          gpointer      data)
{
  g_task_return_int (task, 42);
}

static void
offloading_start (SaOperation  *op,
                  GTask        *task,
                  GCancellable *cancellable,
                  gpointer      data)
{
  SaOperation *helper = data;

  sa_dispatcher_call_async (g_task_get_source_object (task), helper, NULL, helper_done,
                            g_object_ref (task));
}

static void
watch_data_free (gpointer data)
{
  Watch *w = data;

  if (w->on_free == ON_FREE_SYNC_CALL)
    {
      /* Needs a thread of the same pool: one is idle by now. */
      g_autoptr(SaOperation) helper = sa_operation_new_blocking (int_body, NULL, NULL);
      g_autoptr(SaOperation) op = sa_operation_new_non_blocking (offloading_start,
                                                                 g_object_ref (helper),
                                                                 g_object_unref);
      g_autoptr(GError) error = NULL;

      w->sync_call_ok = sa_dispatcher_call_sync_boolean (w->dispatcher, op, NULL, &error);
      g_assert_no_error (error);
    }
  else if (w->on_free == ON_FREE_ITERATE)
    {
      GMainContext *context = g_main_context_ref_thread_default ();
      GSource *idle = g_idle_source_new ();

      g_source_set_callback (idle, set_flag_cb, &w->idle_ran, NULL);
      g_source_attach (idle, context);
      g_source_unref (idle);
      for (guint i = 0; i < 100 && !w->idle_ran; i++)
        g_main_context_iteration (context, FALSE);
      g_main_context_unref (context);
    }
  watch_freed (w);
  g_atomic_int_set (&w->data_freed, TRUE);
}

static void
watch_body (SaOperation  *op,
            GTask        *task,
            GCancellable *cancellable,
            gpointer      data)
{
  Watch *w = data;

  g_object_weak_ref (G_OBJECT (task), watch_task_finalized, w);
  g_atomic_int_set (&w->started, TRUE);
  if (w->return_in_callback != RETURN_ANY && w->return_in_callback != RETURN_AFTER_COMPLETION)
    test_wait_for_count (&w->in_callback, TRUE);
  else if (w->give_up)
    g_usleep (5000);   /* its caller gives the call up meanwhile */
  if (w->cell == OFF_LOCK)
    g_task_return_int (task, 42);   /* a lock's result goes to its callers */
  else
    g_task_return_pointer (task, w, watch_result_free);   /* never read */
  g_atomic_int_set (&w->task_returned, TRUE);
  if (w->return_in_callback == RETURN_AFTER_COMPLETION)
    test_wait_for_count (&w->in_callback, TRUE);
  /* The body's tail: nothing of the call may be freed before it ends. */
  if (!w->no_tail)
    g_usleep (2000);
  g_atomic_int_set (&w->body_returned, TRUE);
}

static void
watch_run_in_thread (SaOperation  *op,
                     GTask        *task,
                     GCancellable *cancellable,
                     gpointer      data)
{
  watch_body (op, task, cancellable, data);
}

static void
offload_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      data)
{
  Watch *w = data;

  g_atomic_int_set (&w->in_callback, TRUE);
  if (w->return_in_callback == RETURN_IN_CALLBACK ||
      w->return_in_callback == RETURN_AFTER_COMPLETION)
    {
      test_wait_for_count (&w->body_returned, TRUE);
      g_usleep (20000);   /* and its thread hands the call back */
    }
  g_atomic_int_inc (&w->n_callbacks);
}

/* How many finalizers a call of @cell has: its task, its unread result
 * and its data's destroy notify (a lock reads its result). */
static gint
expected_freed (OffloadCellId cell)
{
  return cell == OFF_LOCK ? 2 : 3;
}

/* Makes @w's call on this thread, whose thread-default context completes
 * it; for OFF_PRIVATE, a sync call that offloads on its private context. */
static void
offload_call (Watch        *w,
              GCancellable *cancellable)
{
  g_autoptr(SaOperation) op = NULL;

  if (w->cell == OFF_RUN_IN_THREAD)
    {
      sa_dispatcher_run_in_thread (w->dispatcher, watch_run_in_thread, w, watch_data_free,
                                   cancellable, offload_cb, w);
      return;
    }

  op = sa_operation_new_blocking (watch_body, w, watch_data_free);
  switch (w->cell)
    {
    case OFF_LOCK:
      {
        g_autoptr(SaLock) lock = sa_lock_new (w->dispatcher);

        sa_lock_call_async (lock, "key", op, cancellable, offload_cb, w);
      }
      break;
    case OFF_PRIVATE:
      {
        g_autoptr(SaOperation) outer = sa_operation_new_non_blocking (offloading_start,
                                                                      g_steal_pointer (&op),
                                                                      g_object_unref);
        g_autoptr(GError) error = NULL;

        g_assert_false (sa_dispatcher_call_sync_boolean (w->dispatcher, outer, cancellable, &error));
        g_assert_no_error (error);   /* the helper's result is a pointer: FALSE */
        g_atomic_int_inc (&w->n_callbacks);
      }
      break;
    default:
      sa_dispatcher_call_async (w->dispatcher, op, cancellable, offload_cb, w);
      break;
    }
}

static SaDispatcher *
offload_dispatcher (OffloadCellId cell)
{
  SaDispatcher *d = sa_dispatcher_new ();

  if (cell == OFF_BOUNDED)
    sa_dispatcher_set_max_threads (d, 1);
  else if (cell == OFF_GTASK)
    sa_dispatcher_set_gtask_pool (d, TRUE);
  else if (cell == OFF_GUARDED)
    sa_dispatcher_set_timeout (d, 600000);

  return d;
}

/* A thread that pushes a context of its own, calls, iterates until the
 * callback has run, then unrefs its context and exits: the common
 * pattern of a worker, a test or a command-line tool. */
/* With no callback (@w->no_callback), the call's task is what it waits
 * for: it iterates until the task reads as completed, then drops it. */
/* Makes @w's call and returns its task: a lock's caller's, for OFF_LOCK. */
static GTask *
task_call (Watch               *w,
           GCancellable        *cancellable,
           GAsyncReadyCallback  callback)
{
  g_autoptr(SaOperation) op = sa_operation_new_blocking (watch_body, w, watch_data_free);
  g_autoptr(SaLock) lock = NULL;

  if (w->cell != OFF_LOCK)
    return sa_dispatcher_call (w->dispatcher, op, SA_CALL_MODE_ASYNC, cancellable,
                               callback, callback != NULL ? w : NULL);
  lock = sa_lock_new (w->dispatcher);
  return sa_lock_call (lock, "key", op, SA_CALL_MODE_ASYNC, cancellable,
                       callback, callback != NULL ? w : NULL);
}

/* Passes the call's error on. */
static void
pass_error_on (GTask    *previous,
               GTask    *next,
               gpointer  data)
{
  GError *error = NULL;

  g_task_propagate_pointer (previous, &error);
  g_assert_nonnull (error);
  g_task_return_error (next, error);
}

static gpointer
own_context_caller (gpointer data)
{
  Watch *w = data;
  g_autoptr(GCancellable) cancellable = w->cell == OFF_GUARDED || w->give_up ? g_cancellable_new ()
                                                                             : NULL;
  GMainContext *context;
  GTask *task;

  w->caller = g_thread_self ();
  if (w->cell == OFF_PRIVATE)
    {
      offload_call (w, NULL);   /* the library's context: its own to free */
      return NULL;
    }

  context = g_main_context_new ();
  g_main_context_push_thread_default (context);
  test_watch_context_free (context, &w->context_freed);
  if (!w->no_callback)
    {
      g_autoptr(GTask) kept = NULL;

      if (w->keep_task)
        kept = task_call (w, cancellable, offload_cb);
      else if (w->continues)
        {
          g_autoptr(GTask) call = task_call (w, NULL, NULL);

          g_object_unref (sa_continue (call, pass_error_on, NULL, NULL, offload_cb, w));
        }
      else
        offload_call (w, cancellable);
      if (w->give_up && !w->continues)
        {
          test_wait_for_count (&w->started, TRUE);
          /* The task's completion is dispatched here first. */
          if (w->return_in_callback == RETURN_AFTER_COMPLETION)
            {
              gint64 until = g_get_monotonic_time () + 20000;

              test_wait_for_count (&w->task_returned, TRUE);
              while (g_get_monotonic_time () < until)
                g_main_context_iteration (context, FALSE);
            }
          g_cancellable_cancel (cancellable);
        }
      while (!g_atomic_int_get (&w->n_callbacks))
        g_main_context_iteration (context, TRUE);
      /* The late completion's dispatch here races its claim by the drain
       * thread: either may win, once. */
      while (w->keep_iterating && g_atomic_int_get (&w->n_freed) < expected_freed (w->cell))
        {
          g_main_context_iteration (context, FALSE);
          g_thread_yield ();
        }
      /* A task its caller keeps completes on its context, late, even when
       * the caller iterates only well after the body returned. */
      if (kept != NULL)
        {
          gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

          test_wait_for_count (&w->body_returned, TRUE);
          g_usleep (20000);

          while (!g_task_get_completed (kept) && g_get_monotonic_time () < deadline)
            g_main_context_iteration (context, FALSE);
          w->kept_completed = g_task_get_completed (kept);
        }
    }
  else
    {
      task = task_call (w, cancellable, NULL);
      if (w->give_up)
        {
          test_wait_for_count (&w->started, TRUE);
          g_cancellable_cancel (cancellable);
        }
      while (!g_task_get_completed (task))
        g_main_context_iteration (context, TRUE);
      g_object_unref (task);
    }
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);

  return NULL;
}

/* Runs @n calls of @cell, one thread each, @on_free on each call's data;
 * then everything is freed, on the caller's thread, after the body. */
static void
offload_release (OffloadCellId cell,
                 OnFree        on_free,
                 guint         n)
{
  g_autoptr(SaDispatcher) d = offload_dispatcher (cell);
  Watch *watches = g_new0 (Watch, n);
  guint n_contexts, n_fds;

  /* The pool's threads and GTask's exist, and a first call's one-time
   * allocations are made, before counting. */
  {
    Watch warm = { cell, d, ON_FREE_NOTHING };

    g_thread_join (g_thread_new ("warm", own_context_caller, &warm));
    while (g_atomic_int_get (&warm.n_freed) < expected_freed (cell))
      g_usleep (1000);
    /* GTask's worker frees the context a moment later, into @warm. */
    if (cell == OFF_GTASK)
      test_wait_for_count (&warm.context_freed, TRUE);
  }
  n_contexts = sa_get_n_contexts ();
  n_fds = test_count_fds ();

  for (guint i = 0; i < n; i++)
    {
      watches[i] = (Watch) { cell, d, on_free };
      g_thread_join (g_thread_new ("caller", own_context_caller, &watches[i]));
    }

  for (guint i = 0; i < n; i++)
    {
      Watch *w = &watches[i];

      /* Freed by the callback's own dispatch, before the thread exited. */
      g_assert_cmpint (g_atomic_int_get (&w->n_callbacks), ==, 1);
      g_assert_cmpint (g_atomic_int_get (&w->n_freed), ==, expected_freed (cell));
      g_assert_cmpint (g_atomic_int_get (&w->wrong_thread), ==, 0);
      g_assert_cmpint (g_atomic_int_get (&w->too_early), ==, 0);
      /* GTask's worker holds its carrier, and so the context, until a
       * moment after the callback, as it holds a task of
       * g_task_run_in_thread(): it frees the context then. */
      if (cell == OFF_GTASK)
        test_wait_for_count (&w->context_freed, TRUE);
      if (cell != OFF_PRIVATE)
        g_assert_true (g_atomic_int_get (&w->context_freed));
      if (on_free == ON_FREE_SYNC_CALL)
        g_assert_true (w->sync_call_ok);
      if (on_free == ON_FREE_ITERATE)
        g_assert_true (w->idle_ran);
    }
  /* So it holds a private context a destroy notify's sync call offloaded
   * from, for a moment after that call returned. */
  for (guint i = 0; cell == OFF_GTASK && i < 5000 && sa_get_n_contexts () > n_contexts; i++)
    g_usleep (1000);
  g_assert_cmpuint (sa_get_n_contexts (), <=, n_contexts);
  g_assert_cmpuint (test_count_fds (), <=, n_fds);
  g_free (watches);
}

static void
offload_situation_release (OffloadCellId cell)
{
  offload_release (cell, ON_FREE_NOTHING, 20);
}

/* A call of no callback whose caller stops iterating once its task reads
 * as completed, while the body is still in its tail: everything is freed
 * after the body returned, on no pool thread, with the context. */
static void
count_cb_int (GObject      *source,
              GAsyncResult *result,
              gpointer      data)
{
  g_atomic_int_inc ((gint *) data);
}

static void
counted_body (SaOperation  *op,
              GTask        *task,
              GCancellable *cancellable,
              gpointer      data)
{
  g_task_return_int (task, 42);
  g_atomic_int_inc ((gint *) data);
}

/* @n calls of @d whose callbacks wait, undispatched, on the main thread's
 * default context, which it holds meanwhile: beyond a few, a pool thread
 * leaves the check of a body's result to its caller's context (see
 * docs/threading.md). */
typedef struct
{
  SaOperation *counted;
  gint         n_returned;
  gint         n_delivered;
  guint        n;
} InFlight;

static void
in_flight_start (InFlight     *f,
                 SaDispatcher *d,
                 guint         n)
{
  *f = (InFlight) { .n = n };
  f->counted = sa_operation_new_blocking (counted_body, &f->n_returned, NULL);
  g_assert_true (g_main_context_acquire (NULL));
  for (guint i = 0; i < n; i++)
    sa_dispatcher_call_async (d, f->counted, NULL, count_cb_int, &f->n_delivered);
  test_wait_for_count (&f->n_returned, (gint) n);
}

/* Each of them called back once. */
static void
in_flight_finish (InFlight *f)
{
  test_iterate_for_count (NULL, &f->n_delivered, (gint) f->n);
  g_assert_cmpint (f->n_delivered, ==, (gint) f->n);
  g_main_context_release (NULL);
  g_clear_object (&f->counted);
}

/* Waits for each of @n calls to have freed its task, result, data and
 * context, after its body, on its caller's thread or the drain thread;
 * then for the descriptors to come back to @n_fds (the drain thread ends
 * once it holds nothing). Frees @watches. */
static void
watches_assert_released (Watch         *watches,
                         guint          n,
                         OffloadCellId  cell,
                         guint          n_fds)
{
  for (guint i = 0; i < n; i++)
    {
      Watch *w = &watches[i];
      gint expected;

      /* A call given up while queued never runs its body: only its data
       * is freed then. Whether it ran is known once its data is freed. */
      test_wait_for_count (&w->data_freed, TRUE);
      expected = g_atomic_int_get (&w->started) ? expected_freed (cell) : 1;
      test_wait_for_count (&w->n_freed, expected);
      test_wait_for_count (&w->context_freed, TRUE);
      g_assert_cmpint (g_atomic_int_get (&w->n_freed), ==, expected);
      g_assert_true (g_atomic_int_get (&w->context_freed));
      g_assert_cmpint (g_atomic_int_get (&w->wrong_thread), ==, 0);
      g_assert_cmpint (g_atomic_int_get (&w->too_early), ==, 0);
    }
  for (guint i = 0; i < 1000 && test_count_fds () > n_fds; i++)
    g_usleep (10000);
  g_assert_cmpuint (test_count_fds (), <=, n_fds);
  g_free (watches);
}

/* With @in_flight calls of this thread's whose callbacks wait meanwhile
 * (InFlight). */
static void
offload_no_callback (OffloadCellId cell,
                     guint         in_flight,
                     gboolean      give_up)
{
  g_autoptr(SaDispatcher) d = NULL;
  InFlight f;
  Watch *watches;
  guint n = 20, n_fds;

  if (skip_unless (cell != OFF_RUN_IN_THREAD && cell != OFF_PRIVATE,
                   "returns no task to wait for, or is a sync call"))
    return;

  d = offload_dispatcher (cell);
  in_flight_start (&f, d, in_flight);
  watches = g_new0 (Watch, n);
  n_fds = test_count_fds ();
  for (guint i = 0; i < n; i++)
    {
      /* With no tail, a body returns before its completion is dispatched. */
      watches[i] = (Watch) { cell, d, ON_FREE_NOTHING, .no_callback = TRUE,
                             .no_tail = in_flight > 0, .give_up = give_up };
      g_thread_join (g_thread_new ("caller", own_context_caller, &watches[i]));
    }
  watches_assert_released (watches, n, cell, n_fds);
  in_flight_finish (&f);
}

static void
offload_situation_no_callback (OffloadCellId cell)
{
  offload_no_callback (cell, 0, FALSE);
}

static void
offload_situation_no_callback_many (OffloadCellId cell)
{
  offload_no_callback (cell, 24, FALSE);
}

/* Given up by its caller's cancellable while the body runs, the call's
 * task completes with the late result, which is all its caller waits for. */
static void
offload_situation_no_callback_given_up (OffloadCellId cell)
{
  offload_no_callback (cell, 0, TRUE);
}

/* A call with a callback, given up by its caller's cancellable while the
 * body runs: the caller iterates until its callback (CANCELLED), then
 * drops its context and exits before the body returns. The late result,
 * the task, the data and the context are freed once the body returned,
 * without the caller's context being iterated again. */
typedef enum
{
  GIVEN_UP_LEAVES,      /* drops its context after its callback */
  GIVEN_UP_ITERATES,    /* iterates on, racing the drain thread */
  GIVEN_UP_KEEPS_TASK,  /* keeps the task and waits for its completion */
  GIVEN_UP_CONTINUES,   /* a continuation's callback, then it leaves */
  GIVEN_UP_MANY,        /* leaves, with more than a few callbacks of the
                         * process waiting: the body returns as its
                         * callback runs, which its thread does not check */
  GIVEN_UP_COMPLETED,   /* leaves; given up once its task's completion was
                         * dispatched, the body hands it back as its
                         * callback runs */
} GivenUp;

static void
offload_given_up (OffloadCellId cell,
                  GivenUp       how)
{
  g_autoptr(SaDispatcher) d = NULL;
  InFlight f;
  Watch *watches;
  guint n = 20, n_fds;

  if (skip_unless (cell != OFF_PRIVATE, "a sync call: the caller waits for no callback") ||
      skip_unless ((how != GIVEN_UP_KEEPS_TASK && how != GIVEN_UP_CONTINUES) ||
                   cell != OFF_RUN_IN_THREAD,
                   "returns no task to keep or follow"))
    return;

  d = offload_dispatcher (cell);
  if (how == GIVEN_UP_CONTINUES)
    sa_dispatcher_set_timeout (d, 2);   /* the body takes 5 ms */
  in_flight_start (&f, d, how == GIVEN_UP_MANY ? 24 : 0);
  watches = g_new0 (Watch, n);
  n_fds = test_count_fds ();
  for (guint i = 0; i < n; i++)
    {
      /* With no tail, the body's thread hands the call back as soon as
       * its completion is queued, for a dispatch to race. */
      watches[i] = (Watch) { cell, d, ON_FREE_NOTHING, .give_up = TRUE,
                             .keep_iterating = how == GIVEN_UP_ITERATES,
                             .no_tail = how != GIVEN_UP_LEAVES,
                             .keep_task = how == GIVEN_UP_KEEPS_TASK,
                             .continues = how == GIVEN_UP_CONTINUES };
      if (how == GIVEN_UP_MANY)
        watches[i].return_in_callback = i % 2 ? RETURN_IN_CALLBACK : RETURN_WITH_CALLBACK;
      else if (how == GIVEN_UP_COMPLETED)
        watches[i].return_in_callback = RETURN_AFTER_COMPLETION;
      g_thread_join (g_thread_new ("caller", own_context_caller, &watches[i]));
    }
  for (guint i = 0; i < n; i++)
    {
      g_assert_cmpint (g_atomic_int_get (&watches[i].n_callbacks), ==, 1);
      g_assert_true (watches[i].kept_completed == watches[i].keep_task);
    }
  watches_assert_released (watches, n, cell, n_fds);
  in_flight_finish (&f);
}

static void
offload_situation_given_up (OffloadCellId cell)
{
  offload_given_up (cell, GIVEN_UP_LEAVES);
}

static void
offload_situation_given_up_iterating (OffloadCellId cell)
{
  offload_given_up (cell, GIVEN_UP_ITERATES);
}

static void
offload_situation_given_up_kept (OffloadCellId cell)
{
  offload_given_up (cell, GIVEN_UP_KEEPS_TASK);
}

static void
offload_situation_given_up_continued (OffloadCellId cell)
{
  offload_given_up (cell, GIVEN_UP_CONTINUES);
}

static void
offload_situation_given_up_many (OffloadCellId cell)
{
  offload_given_up (cell, GIVEN_UP_MANY);
}

static void
offload_situation_given_up_completed (OffloadCellId cell)
{
  offload_given_up (cell, GIVEN_UP_COMPLETED);
}

static void
offload_situation_destroy_sync_call (OffloadCellId cell)
{
  offload_release (cell, ON_FREE_SYNC_CALL, 5);
}

static void
offload_situation_finalizer_iterates (OffloadCellId cell)
{
  offload_release (cell, ON_FREE_ITERATE, 5);
}

/* g_task_propagate_int() on the call's task gives the body's int, with
 * a guard too (run_in_thread's documented reading). */
static void
propagate_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      data)
{
  Watch *w = data;

  w->value = g_task_propagate_int (G_TASK (result), &w->error);
  g_atomic_int_inc (&w->n_callbacks);
}

static void
offload_situation_propagate (OffloadCellId cell)
{
  g_autoptr(SaDispatcher) d = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  Watch w = { cell };

  if (skip_unless (cell != OFF_LOCK && cell != OFF_PRIVATE,
                   "read with the lock's finish functions, or through the library's operation"))
    return;

  d = offload_dispatcher (cell);
  sa_dispatcher_set_timeout (d, 600000);
  g_assert_true (g_main_context_acquire (NULL));
  if (cell == OFF_RUN_IN_THREAD)
    sa_dispatcher_run_in_thread (d, int_body, NULL, NULL, cancellable, propagate_cb, &w);
  else
    {
      g_autoptr(SaOperation) op = sa_operation_new_blocking (int_body, NULL, NULL);

      sa_dispatcher_call_async (d, op, cancellable, propagate_cb, &w);
    }
  test_iterate_until (NULL, &w.n_callbacks);
  g_main_context_release (NULL);
  g_assert_no_error (w.error);
  g_assert_cmpint (w.value, ==, 42);
}

/* Many calls in flight, their completions piling up on the caller's
 * context while it does not iterate: every other body returns without
 * completing its task. Each call is answered once, the right way, and
 * freed. */
typedef struct
{
  guint   index;
  gint    n_callbacks;
  gssize  value;
  GError *error;
  gint    freed;
  gint    ran;      /* atomic */
} BurstCall;

static void
burst_body (SaOperation  *op,
            GTask        *task,
            GCancellable *cancellable,
            gpointer      data)
{
  BurstCall *b = data;

  if (b->index % 2 == 0)
    g_task_return_int (task, (gssize) b->index);
  g_atomic_int_set (&b->ran, TRUE);
}

static void
burst_data_free (gpointer data)
{
  g_atomic_int_inc (&((BurstCall *) data)->freed);
}

static void
burst_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      data)
{
  BurstCall *b = data;

  if (SA_IS_LOCK (source))
    b->value = sa_lock_call_finish_int (SA_LOCK (source), result, &b->error);
  else
    b->value = g_task_propagate_int (G_TASK (result), &b->error);
  b->n_callbacks++;
}

static void
offload_situation_burst (OffloadCellId cell)
{
  g_autoptr(SaDispatcher) d = NULL;
  g_autoptr(SaLock) lock = NULL;
  g_autoptr(GCancellable) cancellable = NULL;
  BurstCall calls[100];
  guint done = 0;

  if (skip_unless (cell != OFF_PRIVATE, "a library's sync callers wait for one call each"))
    return;

  d = offload_dispatcher (cell);
  if (cell == OFF_GUARDED)
    cancellable = g_cancellable_new ();
  if (cell == OFF_LOCK)
    lock = sa_lock_new (d);
  g_assert_true (g_main_context_acquire (NULL));
  for (guint i = 0; i < G_N_ELEMENTS (calls); i++)
    {
      calls[i] = (BurstCall) { i };
      if (cell == OFF_RUN_IN_THREAD)
        sa_dispatcher_run_in_thread (d, burst_body, &calls[i], burst_data_free, cancellable,
                                     burst_cb, &calls[i]);
      else
        {
          g_autoptr(SaOperation) op = sa_operation_new_blocking (burst_body, &calls[i],
                                                                 burst_data_free);
          g_autofree char *key = g_strdup_printf ("%u", i);

          if (lock != NULL)
            sa_lock_call_async (lock, key, op, cancellable, burst_cb, &calls[i]);
          else
            sa_dispatcher_call_async (d, op, cancellable, burst_cb, &calls[i]);
        }
    }
  /* The bodies run and complete while this context is not iterated. */
  for (guint i = 0; i < G_N_ELEMENTS (calls); i++)
    while (!g_atomic_int_get (&calls[i].ran))
      g_usleep (1000);
  while (done < G_N_ELEMENTS (calls))
    {
      g_main_context_iteration (NULL, TRUE);
      for (done = 0; done < G_N_ELEMENTS (calls) && calls[done].n_callbacks > 0; done++)
        ;
    }
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_main_context_release (NULL);

  for (guint i = 0; i < G_N_ELEMENTS (calls); i++)
    {
      g_assert_cmpint (calls[i].n_callbacks, ==, 1);
      if (i % 2 == 0)
        {
          g_assert_no_error (calls[i].error);
          g_assert_cmpint (calls[i].value, ==, (gssize) i);
        }
      else
        g_assert_error (calls[i].error, SA_ERROR, SA_ERROR_NO_RESULT);
      g_clear_error (&calls[i].error);
      if (cell != OFF_LOCK)
        g_assert_cmpint (g_atomic_int_get (&calls[i].freed), ==, 1);
    }
}

/* GLib's test_priority (gio/tests/task.c), on the dispatcher's pool with
 * one thread: bodies queued behind a busy one start, and their callbacks
 * run, in priority order; a priority set on the returned task before the
 * caller's context runs again is its callback's. */
typedef struct
{
  GMutex   lock;
  GString *bodies;
  GString *callbacks;
} Order;

typedef struct
{
  Order *order;
  char   name;
} Named;

static void
named_body (SaOperation  *op,
            GTask        *task,
            GCancellable *cancellable,
            gpointer      data)
{
  Named *n = data;

  g_mutex_lock (&n->order->lock);
  g_string_append_c (n->order->bodies, n->name);
  g_mutex_unlock (&n->order->lock);
  g_task_return_boolean (task, TRUE);
}

static void
named_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      data)
{
  Named *n = data;

  g_string_append_c (n->order->callbacks, n->name);
}


static void
offload_situation_priority (OffloadCellId cell)
{
  g_autoptr(SaDispatcher) d = NULL;
  g_autoptr(GCancellable) cancellable = NULL;
  g_autoptr(SaOperation) blocker = NULL;
  TestGate gate;
  Order order = { 0 };
  Named names[] = { { &order, 'D' }, { &order, 'L' }, { &order, 'H' }, { &order, 'd' }, { &order, 'x' } };
  const int priorities[] = { G_PRIORITY_DEFAULT, G_PRIORITY_LOW, G_PRIORITY_HIGH,
                             G_PRIORITY_DEFAULT, G_PRIORITY_DEFAULT };
  GTask *tasks[G_N_ELEMENTS (names)];
  gint blocker_done = 0;
  TestGate marker_gate;
  g_autoptr(SaOperation) marker = NULL;
  gint marker_done = 0;

  if (skip_unless (cell == OFF_POOL || cell == OFF_BOUNDED || cell == OFF_GUARDED,
                   "the dispatcher's pool, with one thread, for sa_dispatcher_call_full()"))
    return;

  order.bodies = g_string_new (NULL);
  order.callbacks = g_string_new (NULL);
  d = offload_dispatcher (cell);
  sa_dispatcher_set_max_threads (d, 1);
  if (cell == OFF_GUARDED)
    cancellable = g_cancellable_new ();
  g_mutex_init (&order.lock);
  test_gate_init (&gate, 1);
  blocker = test_op_gated (&gate);
  test_gate_init (&marker_gate, 1);
  marker = test_op_gated (&marker_gate);
  g_assert_true (g_main_context_acquire (NULL));

  g_object_unref (sa_dispatcher_call (d, blocker, SA_CALL_MODE_ASYNC, NULL, count_cb_int, &blocker_done));
  while (g_atomic_int_get (&gate.waiting) == 0)
    g_usleep (1000);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autoptr(SaOperation) op = sa_operation_new_blocking (named_body, &names[i], NULL);

      tasks[i] = sa_dispatcher_call_full (d, op, SA_CALL_MODE_ASYNC, NULL, library_do_async,
                                          priorities[i], cancellable, named_cb, &names[i]);
    }
  /* Before this context runs again: 'x' calls back first, 'd' last. */
  g_task_set_priority (tasks[4], G_PRIORITY_HIGH - 1);
  g_task_set_priority (tasks[3], G_PRIORITY_LOW + 1);

  /* Every body runs before any callback can. */
  test_gate_open (&gate);
  for (;;)
    {
      g_mutex_lock (&order.lock);
      if (order.bodies->len == G_N_ELEMENTS (names))
        break;
      g_mutex_unlock (&order.lock);
      g_usleep (1000);
    }
  g_mutex_unlock (&order.lock);
  /* A body records itself before it returns its task, and the pool's one
   * thread hands the call back after: that thread takes a marker's body
   * only once it has handed the last call back. */
  g_object_unref (sa_dispatcher_call (d, marker, SA_CALL_MODE_ASYNC, NULL, count_cb_int, &marker_done));
  while (g_atomic_int_get (&marker_gate.waiting) == 0)
    g_usleep (1000);
  test_gate_open (&marker_gate);
  while (order.callbacks->len < G_N_ELEMENTS (names) || !blocker_done || !marker_done)
    g_main_context_iteration (NULL, TRUE);
  g_main_context_release (NULL);

  g_assert_cmpstr (order.bodies->str, ==, "HDdxL");
  g_assert_cmpstr (order.callbacks->str, ==, "xHDLd");

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    g_object_unref (tasks[i]);
  g_string_free (order.bodies, TRUE);
  g_string_free (order.callbacks, TRUE);
  g_mutex_clear (&order.lock);
  g_clear_object (&blocker);
  test_gate_clear (&gate);
  g_clear_object (&marker);
  test_gate_clear (&marker_gate);
}

typedef struct
{
  const char *name;
  void (*run) (OffloadCellId cell);
} OffloadSituation;

static const OffloadSituation offload_situations[] = {
  { "release",             offload_situation_release },
  { "destroy-sync-call",   offload_situation_destroy_sync_call },
  { "finalizer-iterates",  offload_situation_finalizer_iterates },
  { "no-callback",         offload_situation_no_callback },
  { "no-callback-many",    offload_situation_no_callback_many },
  { "no-callback-given-up", offload_situation_no_callback_given_up },
  { "given-up",            offload_situation_given_up },
  { "given-up-iterating",  offload_situation_given_up_iterating },
  { "given-up-kept",       offload_situation_given_up_kept },
  { "given-up-continued",  offload_situation_given_up_continued },
  { "given-up-many",       offload_situation_given_up_many },
  { "given-up-completed",  offload_situation_given_up_completed },
  { "propagate",           offload_situation_propagate },
  { "priority",            offload_situation_priority },
  { "burst",               offload_situation_burst },
};

typedef struct
{
  const OffloadSituation *situation;
  OffloadCellId           cell;
} OffloadCase;

static void
run_offload_case (gconstpointer data)
{
  const OffloadCase *c = data;

  c->situation->run (c->cell);
}

/* Creates what GLib and the library create once per process (GTask's
 * pool and its manager's context, the timer thread), so that descriptor
 * counts taken in a case see only that case. */
static void
warm_up (void)
{
  g_autoptr(SaDispatcher) d = sa_dispatcher_new ();
  Behaviour b;
  g_autoptr(SaOperation) op = NULL;

  behaviour_init (&b, FORM_BOOLEAN);
  op = operation_new (&cells[CELL_SYNC_BLOCKING], &b);
  sa_dispatcher_set_timeout (d, 60000);
  g_assert_true (sa_dispatcher_call_sync_boolean (d, op, NULL, NULL));
  sa_dispatcher_set_timeout (d, 0);
  {
    Outcome o = { 0 };

    sa_dispatcher_call_async (d, op, NULL, outcome_cb, &o);
    while (g_atomic_int_get (&o.n_callbacks) == 0)
      g_main_context_iteration (NULL, TRUE);
    outcome_clear (&o);
  }
  g_clear_object (&op);
  assert_nothing_kept (&b, G_MAXUINT, G_MAXUINT);
  behaviour_clear (&b);
}

int
main (int   argc,
      char *argv[])
{
  static Case cases[G_N_ELEMENTS (situations) * G_N_ELEMENTS (cells)];
  static OffloadCase offload_cases[G_N_ELEMENTS (offload_situations) *
                                   G_N_ELEMENTS (offload_cell_names)];
  guint n = 0, n_offload = 0;

  g_test_init (&argc, &argv, NULL);
  warm_up ();

  for (guint s = 0; s < G_N_ELEMENTS (offload_situations); s++)
    for (guint c = 0; c < G_N_ELEMENTS (offload_cell_names); c++)
      {
        g_autofree char *path = g_strdup_printf ("/contract/offload/%s/%s",
                                                 offload_situations[s].name,
                                                 offload_cell_names[c]);

        offload_cases[n_offload] = (OffloadCase) { &offload_situations[s], c };
        g_test_add_data_func (path, &offload_cases[n_offload++], run_offload_case);
      }

  for (guint s = 0; s < G_N_ELEMENTS (situations); s++)
    for (guint c = 0; c < G_N_ELEMENTS (cells); c++)
      {
        g_autofree char *path = g_strdup_printf ("/contract/%s/%s",
                                                 situations[s].name, cells[c].name);

        cases[n] = (Case) { &situations[s], &cells[c] };
        g_test_add_data_func (path, &cases[n++], run_case);
      }

  return g_test_run ();
}
