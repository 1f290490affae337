/* sa-lock.c: singleflight: concurrent callers share one execution
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "sa-bridge-private.h"
#include "sa-context-private.h"
#include "sa-call-task-private.h"
#include "sa-dispatcher-private.h"
#include "sa-drain-thread-private.h"
#include "sa-error.h"
#include "sa-guard-private.h"
#include "sa-lock.h"
#include "sa-operation-private.h"
#include "sa-task-private.h"

/**
 * SaLock:
 *
 * A singleflight lock: concurrent callers of the same work share one execution
 * and all receive its result, the `SmartLock` of the Python library.
 *
 * Callers name a key (a string; %NULL is the one default key). The first
 * caller for a key starts an execution of its [class@Sa.Operation]
 * through the lock's [class@Sa.Dispatcher]; callers for the same key that
 * arrive while it is in flight join it, whatever operation they pass, and
 * so must all expect the same kind of result. Once it has completed, the
 * next call starts a new execution: a lock is not a cache.
 *
 * ## Where things run
 *
 * An execution runs in the cell of the caller that starts it, as a call
 * of the dispatcher from that caller would:
 *
 * - started by an async caller, a non-blocking operation is started on
 *   that caller's thread-default context and completes there; that
 *   context must go on being iterated until the execution ends, as a
 *   running main loop's is, even after that caller left it while others
 *   wait. A blocking operation runs on a worker thread; while its starter
 *   waits, its callers are answered on the starter's context. A starter
 *   that leaves (by its cancellable) needs that context no more once its
 *   own callback ran, whether the others wait or leave too: they are
 *   answered from the library's drain thread, and the operation's late
 *   result, once nobody waits, is released there (docs/threading.md). A
 *   starter with no cancellable cannot leave.
 *   Either operation that completes at once still completes in a later
 *   iteration of the starter's context, so the callers issued before the
 *   loop iterates all join it.
 * - started by a sync caller, it runs on that caller's thread before its
 *   call returns: a blocking operation is called directly (with the
 *   caller's own thread-default context), a non-blocking one runs on the
 *   thread's private context. Inside the body of a blocking operation a
 *   caller is a sync caller, so a body on a dispatcher with
 *   [property@Sa.Dispatcher:max-threads] 1 that calls the lock runs the
 *   execution in its own thread and never waits for the pool it holds.
 *
 * Each caller is called back on its own thread-default context (a sync
 * caller: before its call returns, from its private context), exactly
 * once. A caller never joins an execution that only its own thread can
 * carry forward: a sync caller does not join an execution that completes
 * on a context no other thread holds (iterates) at the time, such as one
 * it owns or one left by an async call that nobody iterates yet, nor a
 * blocking one while it is itself inside a blocking body (the execution
 * may wait for the pool thread it holds), and no caller joins an
 * execution that a sync caller runs on the same thread. It starts an execution of its own instead, which nobody else
 * joins. So every waiter can always be served.
 *
 * ## Results
 *
 * The operation completes its task with any `g_task_return_*()`. Each
 * caller gets a task of its own; read it once (a second read is an
 * `SA_ERROR_FAILED` error), with the
 * [method@Sa.Lock.call_finish] form that matches the operation's
 * `g_task_return_*()`: [method@Sa.Lock.call_finish_value] (or
 * [method@Sa.Lock.call_finish], for bindings), `_boolean`, `_int` or
 * `_pointer`. The `_sync` forms read the same way. Read a caller's task
 * only with these functions, in a continuation ([func@Sa.continue]) too:
 * `g_task_propagate_*()` on it gets the lock's own record of the result.
 *
 * - A [struct@GObject.Value], a boolean and an int are copied to every
 *   caller (`g_value_copy()`: a new reference for an object, a copy for a
 *   boxed type or a string). Return objects and boxed types with
 *   `g_task_return_value()` when an execution may have several callers.
 * - A pointer (`g_task_return_pointer()`) cannot be copied: it is handed
 *   to the caller of an execution that had exactly one caller when it
 *   completed. When it reached more than one, each of them gets
 *   `SA_ERROR_NOT_SHAREABLE` from the `_pointer` form instead, and the
 *   pointer is freed with the function the operation gave, once the last
 *   of those callers' tasks is freed, on the thread that frees it.
 * - An error reaches every caller as its own copy, same domain, code and
 *   message. An operation that fails to complete its task reaches every
 *   caller as the dispatcher reports it (`SA_ERROR_NO_RESULT`).
 *
 * The result is read from the operation once, in the form of the first
 * caller that reads it; a caller that then asks for another form gets an
 * `SA_ERROR_FAILED` error. A first read in a form that does not match the
 * operation's `g_task_return_*()` is a programmer error, as it is with
 * `GTask`: the value forms report it (GLib's critical and an
 * `SA_ERROR_FAILED` error), the `_boolean`, `_int` and `_pointer` forms
 * cannot tell, and read what is there.
 *
 * ## Cancellation, reset and timeout
 *
 * A caller's cancellable detaches only that caller, which gets
 * `G_IO_ERROR_CANCELLED` at once (a sync caller that runs the execution
 * itself: when it returns); the execution goes on while any caller
 * remains. When the last caller leaves, the execution is forgotten (a
 * later caller starts a new one) and its own cancellable is cancelled.
 * [method@Sa.Lock.reset] forgets and cancels every execution that runs,
 * joinable or not, and fails each of their callers still waiting with
 * `G_IO_ERROR_CANCELLED`. The
 * dispatcher's [property@Sa.Dispatcher:timeout] applies to each
 * execution: when it passes, every caller still waiting gets
 * `G_IO_ERROR_TIMED_OUT` (a sync caller that runs a blocking execution
 * itself: when its body returns; the others on time, and a later caller
 * starts a new execution). Each of these reaches each caller exactly once,
 * and never after its result. A forgotten execution runs on until its
 * operation returns; its result is then dropped and freed. A blocking
 * execution of an async starter with a cancellable needs that starter's
 * context no more once it is answered, however (its cancellable, a reset
 * or the timeout); one whose starter has no cancellable holds it, as a
 * dispatcher call given up does, until its body returns.
 *
 * All methods are safe from any thread. The lock holds itself alive
 * while an execution runs.
 *
 * Since: 1.0
 */

/*
 * The state machine. An execution is one run of an operation for a key:
 *
 *   RUNNING    in the lock's running queue, which a reset empties, and
 *              listed under its key (unless it was started beside a listed
 *              one that its caller could not join, or a timeout unlisted
 *              it); callers join it, and leave it by cancellation
 *   RUNNING -> FORGOTTEN  its last caller left, or reset: it is unlisted,
 *              its cancellable fires, reset fails the callers still there
 *   RUNNING -> DONE       its task completed: unlisted, every caller still
 *              there gets the outcome
 *   FORGOTTEN -> DONE     its task completed: the outcome is dropped
 *
 * A caller is a slot in its execution's array of waiters, holding its
 * task; whoever empties the slot, under the lock's mutex, completes the
 * caller's task, exactly once. The cancellation handler of a caller with a
 * cancellable is disconnected where its task is delivered: in the task's
 * callback (async caller) or after the wait (sync caller), never inside
 * the handler.
 */

typedef enum
{
  EXECUTION_RUNNING,
  EXECUTION_FORGOTTEN,
  EXECUTION_DONE,
} ExecutionState;

typedef struct _Execution Execution;

struct _SaLock
{
  GObject       parent_instance;

  SaDispatcher *dispatcher;
  GMutex        mutex;
  GHashTable   *executions;   /* (nullable key) → (unowned) RUNNING Execution,
                               * guarded by mutex */
  Execution    *recent;       /* (nullable) (unowned) the listed execution last
                               * joined, guarded by mutex: callers of one key
                               * come in runs, which then skip the hash */
  GQueue        running;      /* (element-type Execution) (unowned) every
                               * RUNNING execution, listed or not, guarded by
                               * mutex: what a reset reaches */

  guint64       n_executions; /* written under mutex, read atomically */
  guint64       n_coalesced;  /* written under mutex, read atomically */
};

G_DEFINE_FINAL_TYPE (SaLock, sa_lock, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_DISPATCHER,
  PROP_N_EXECUTIONS,
  PROP_N_COALESCED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

struct _Execution
{
  gatomicrefcount  ref_count;   /* its run's (until execution_done()) and
                                 * each Waiter's */
  SaLock          *lock;
  char            *key;
  GCancellable    *cancellable; /* the operation's: fires when forgotten */
  gboolean         blocking;
  GThread         *driver;      /* the sync caller running it, or NULL */
  GMainContext    *context;     /* (nullable) where an async caller's
                                 * execution completes; with operation set,
                                 * where its callers are answered while
                                 * its starter waits, guarded by
                                 * lock->mutex then */
  SaOperation     *operation;   /* (nullable) a blocking execution of an
                                 * async caller: the starter's operation,
                                 * run by a dispatcher call that completes
                                 * on the drain thread's shared context */

  /* Guarded by lock->mutex. */
  ExecutionState   state;
  gboolean         listed;      /* in lock->executions */
  GList            running_link; /* in lock->running while RUNNING */
  GPtrArray       *waiters;     /* (element-type GTask) (nullable elements):
                                 * a slot per caller, emptied when it is
                                 * finished; NULL once DONE or reset */
  guint            n_waiting;   /* slots not yet emptied */
  GError          *timed_out;   /* (nullable) the deadline's error, once it
                                 * passed: every caller's outcome */
  GSource         *delivery;    /* (nullable) (unowned) the idle on context
                                 * that delivers the completed call of
                                 * operation; whoever clears it delivers */
  GTask           *holder;      /* (nullable) the completed operation's
                                 * task, written before delivery is set */
  gboolean         given_up;    /* that call was given up: delivered from
                                 * its callback, not its release */
  GError          *error;       /* (nullable) or its error */
};

/* A caller with a cancellable: what its handler needs to find its slot,
 * and what its delivery needs to disconnect it. Held by join() until the
 * handler is connected and by the delivery. */
typedef struct
{
  gatomicrefcount      ref_count;
  Execution           *execution;   /* (nullable) until joined */
  guint                slot;
  GCancellable        *cancellable;
  gulong               cancelled_id; /* guarded by lock->mutex */
  gboolean             delivered;    /* guarded by lock->mutex */
  GAsyncReadyCallback  callback;
  gpointer             user_data;
} Waiter;

/* The outcome of an execution that succeeded, shared by the callers it
 * reached: the operation's completed task, read once, in the form the
 * first reader asks for, and copied from there to each reader. */

static const char * const form_names[] = {
  [SA_RESULT_NONE] = "nothing",
  [SA_RESULT_POINTER] = "a pointer",
  [SA_RESULT_BOOLEAN] = "a boolean",
  [SA_RESULT_INT] = "an int",
  [SA_RESULT_VALUE] = "a GValue",
};

typedef struct
{
  gint             ref_count;   /* atomic: one per caller it reached, and
                                 * the delivery's */
  GMutex           mutex;
  GTask           *task;        /* the operation's, completed */
  guint            n_reached;   /* callers it was delivered to */
  SaResultForm     form;        /* guarded by mutex: how task was read */
  gboolean         boolean;
  gssize           integer;
  GValue           value;
} Outcome;

/* --- outcome ------------------------------------------------------------ */

/* Returns the outcome with a reference for each of the @n_reached callers,
 * taken at once before it is shared, and one for the delivery. */
static Outcome *
outcome_new (GTask *task,
             guint  n_reached)
{
  Outcome *self = g_new0 (Outcome, 1);

  self->ref_count = (gint) n_reached + 1;
  g_mutex_init (&self->mutex);
  self->task = g_object_ref (task);
  self->n_reached = n_reached;

  return self;
}

static void
outcome_unref (gpointer data)
{
  Outcome *self = data;

  if (!g_atomic_int_dec_and_test (&self->ref_count))
    return;

  if (G_IS_VALUE (&self->value))
    g_value_unset (&self->value);
  g_object_unref (self->task);   /* frees an unread pointer, by its own free func */
  g_mutex_clear (&self->mutex);
  g_free (self);
}

/* Reads the operation's result once, in @form. */
static gboolean
outcome_take (Outcome       *self,
              SaResultForm   form,
              GError       **error)
{
  gpointer out;

  switch (form)
    {
    case SA_RESULT_BOOLEAN:
      out = &self->boolean;
      break;

    case SA_RESULT_INT:
      out = &self->integer;
      break;

    case SA_RESULT_VALUE:
      out = &self->value;
      break;

    case SA_RESULT_POINTER:
    case SA_RESULT_NONE:
    default:
      g_assert_not_reached ();
    }

  if (!_sa_task_read (self->task, form, out, error))
    return FALSE;

  self->form = form;
  return TRUE;
}

/* Hands one reader its copy of the result in @form: *(gboolean *) @out,
 * *(gssize *) @out, a GValue to initialize at @out, or *(gpointer *) @out. */
static gboolean
outcome_read (Outcome       *self,
              SaResultForm   form,
              gpointer       out,
              GError       **error)
{
  gboolean ok = TRUE;

  if (form == SA_RESULT_POINTER)
    {
      if (self->n_reached > 1)
        {
          g_set_error (error, SA_ERROR, SA_ERROR_NOT_SHAREABLE,
                       "A pointer result cannot be shared by the %u callers of one execution: "
                       "return it with g_task_return_value()", self->n_reached);
          return FALSE;
        }
      /* One caller, one read: its task can be read only once. */
      return _sa_task_read (self->task, SA_RESULT_POINTER, out, error);
    }

  g_mutex_lock (&self->mutex);
  if (self->form == SA_RESULT_NONE)
    ok = outcome_take (self, form, error);
  else if (self->form != form)
    {
      g_set_error (error, SA_ERROR, SA_ERROR_FAILED,
                   "The result was read as %s by another caller, not as %s: "
                   "every caller of a key must read it in the same form",
                   form_names[self->form], form_names[form]);
      ok = FALSE;
    }
  if (ok)
    {
      switch (form)
        {
        case SA_RESULT_BOOLEAN:
          *(gboolean *) out = self->boolean;
          break;

        case SA_RESULT_INT:
          *(gssize *) out = self->integer;
          break;

        case SA_RESULT_VALUE:
          g_value_init (out, G_VALUE_TYPE (&self->value));
          g_value_copy (&self->value, out);
          break;

        case SA_RESULT_POINTER:
        case SA_RESULT_NONE:
        default:
          g_assert_not_reached ();
        }
    }
  g_mutex_unlock (&self->mutex);

  return ok;
}

/* --- execution ---------------------------------------------------------- */

/* @may_leave: the starter has a cancellable. */
static Execution *
execution_new (SaLock      *lock,
               const char  *key,
               SaOperation *operation,
               gboolean     async_caller,
               gboolean     may_leave)
{
  Execution *exec = g_new0 (Execution, 1);

  g_atomic_ref_count_init (&exec->ref_count);
  exec->lock = g_object_ref (lock);
  exec->key = g_strdup (key);
  exec->cancellable = g_cancellable_new ();
  exec->blocking = _sa_operation_get_kind (operation) == SA_OPERATION_KIND_BLOCKING;
  if (async_caller)
    exec->context = g_main_context_ref_thread_default ();
  else
    exec->driver = g_thread_self ();
  /* Freed where the execution is: on a caller's side. */
  if (async_caller && exec->blocking && may_leave)
    exec->operation = g_object_ref (operation);
  exec->state = EXECUTION_RUNNING;
  exec->running_link.data = exec;
  exec->waiters = g_ptr_array_new ();

  return exec;
}

static Execution *
execution_ref (Execution *exec)
{
  g_atomic_ref_count_inc (&exec->ref_count);
  return exec;
}

static void
execution_unref (Execution *exec)
{
  if (!g_atomic_ref_count_dec (&exec->ref_count))
    return;

  g_assert (!exec->listed);
  g_assert (exec->state != EXECUTION_RUNNING);
  g_assert (exec->n_waiting == 0);
  if (exec->waiters != NULL)
    g_ptr_array_unref (exec->waiters);   /* empty slots only */
  g_assert (exec->delivery == NULL);
  g_assert (exec->holder == NULL && exec->error == NULL);
  g_clear_pointer (&exec->context, g_main_context_unref);
  g_clear_object (&exec->operation);
  g_clear_error (&exec->timed_out);
  g_object_unref (exec->cancellable);
  g_free (exec->key);
  g_object_unref (exec->lock);
  g_free (exec);
}

/* Whether another thread holds @context now: this one can acquire a
 * context it holds itself, or one that nobody holds. */
static gboolean
held_by_another_thread (GMainContext *context)
{
  if (!g_main_context_acquire (context))
    return TRUE;

  g_main_context_release (context);
  return FALSE;
}

/* Whether a caller on this thread can wait for @exec without carrying it
 * forward itself. */
static gboolean
execution_can_serve (Execution *exec,
                     gboolean   async_caller)
{
  if (exec->driver != NULL)
    return exec->driver != g_thread_self ();

  if (async_caller)
    return TRUE;

  /* A sync caller waits without iterating its contexts, so the execution's
   * must be held (iterated) by another thread (none once a blocking one's
   * starter left); and inside a blocking body it may hold the pool thread
   * a blocking execution needs. */
  return (exec->context == NULL || held_by_another_thread (exec->context)) &&
         !(exec->blocking && _sa_context_is_blocking ());
}

/* Under the mutex. */
static void
execution_unlist (Execution *exec)
{
  if (exec->listed)
    {
      g_hash_table_remove (exec->lock->executions, exec->key);
      exec->listed = FALSE;
    }
  if (exec->lock->recent == exec)
    exec->lock->recent = NULL;
}

/* Under the mutex: RUNNING -> FORGOTTEN or DONE, out of the lock's
 * running executions and of its key table. */
static void
execution_stop_running (Execution      *exec,
                        ExecutionState  state)
{
  g_assert (exec->state == EXECUTION_RUNNING);
  exec->state = state;
  g_queue_unlink (&exec->lock->running, &exec->running_link);
  execution_unlist (exec);
}

/* Under the mutex: RUNNING -> FORGOTTEN or DONE. Returns the waiters'
 * array, whose tasks are the caller's to complete and drop. */
static GPtrArray *
execution_close (Execution      *exec,
                 ExecutionState  state)
{
  GPtrArray *waiters = exec->waiters;

  execution_stop_running (exec, state);
  exec->waiters = NULL;
  exec->n_waiting = 0;

  return waiters;
}

/* Under the mutex, once a blocking execution of an async starter with a
 * cancellable delivers no more to its starter's context: returns its
 * reference to that context, to drop outside the mutex. */
static GMainContext *
execution_let_go_context (Execution *exec)
{
  return exec->operation != NULL ? g_steal_pointer (&exec->context) : NULL;
}

/* Under the mutex: empties @slot; returns its task, or NULL if it was
 * finished already. Sets *@forgotten when that was the last caller. */
static GTask *
execution_leave (Execution *exec,
                 guint      slot,
                 gboolean  *forgotten)
{
  GTask *task;

  *forgotten = FALSE;
  if (exec->state != EXECUTION_RUNNING || exec->waiters->pdata[slot] == NULL)
    return NULL;

  task = exec->waiters->pdata[slot];
  exec->waiters->pdata[slot] = NULL;
  if (--exec->n_waiting == 0)
    {
      /* Nobody is left to want the result: only empty slots remain. */
      execution_stop_running (exec, EXECUTION_FORGOTTEN);
      *forgotten = TRUE;
    }

  return task;
}

static void
return_cancelled (GTask      *task,
                  const char *message)
{
  g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "%s", message);
  g_object_unref (task);
}

/* The execution completed with exec->holder or exec->error: every caller
 * still there gets the outcome. Called once; releases the run's reference. */
static void
execution_deliver (Execution *exec)
{
  SaLock *self = exec->lock;
  g_autoptr(GMainContext) context = NULL;
  g_autoptr(GTask) holder = NULL;
  g_autoptr(GError) error = NULL;
  Outcome *outcome = NULL;
  GPtrArray *waiters = NULL;
  guint n_reached = 0;

  g_mutex_lock (&self->mutex);
  if (exec->state == EXECUTION_RUNNING)
    {
      n_reached = exec->n_waiting;
      waiters = execution_close (exec, EXECUTION_DONE);
    }
  else
    {
      exec->state = EXECUTION_DONE;
    }
  context = execution_let_go_context (exec);
  holder = g_steal_pointer (&exec->holder);
  error = g_steal_pointer (&exec->error);
  if (exec->timed_out != NULL)
    {
      g_clear_error (&error);
      error = g_error_copy (exec->timed_out);
    }
  g_mutex_unlock (&self->mutex);

  if (n_reached > 0 && error == NULL)
    {
      if (g_task_had_error (holder))
        g_task_propagate_boolean (holder, &error);
      else
        outcome = outcome_new (holder, n_reached);
    }

  /* Taken out under the mutex, each caller is ours alone to complete. */
  for (guint i = 0; waiters != NULL && i < waiters->len; i++)
    {
      GTask *task = waiters->pdata[i];

      if (task == NULL)
        continue;
      if (outcome != NULL)
        g_task_return_pointer (task, outcome, outcome_unref);   /* its reference */
      else
        g_task_return_error (task, g_error_copy (error));
      g_object_unref (task);
    }

  g_clear_pointer (&waiters, g_ptr_array_unref);
  g_clear_pointer (&outcome, outcome_unref);
  execution_unref (exec);   /* its run's reference */
}

/* The execution's task completed: called once, by the dispatcher, on the
 * starter's context or thread. */
static void
execution_done (GObject      *source_object,
                GAsyncResult *result,
                gpointer      user_data)
{
  Execution *exec = user_data;

  /* The call's task, unless its guard gave the call up. */
  exec->holder = _sa_call_task_take (result, &exec->error);
  execution_deliver (exec);
}

/* Returns the idle, owned by @context. */
static GSource *
attach_idle (GMainContext   *context,
             const char     *name,
             GSourceFunc     func,
             gpointer        data,
             GDestroyNotify  destroy)
{
  GSource *idle = g_idle_source_new ();

  g_source_set_static_name (idle, name);
  g_source_set_callback (idle, func, data, destroy);
  g_source_attach (idle, context);
  g_source_unref (idle);

  return idle;
}

/* Takes the pending delivery of @exec, if any, under the mutex: the
 * caller then delivers (execution_withdrawn()). Returns a reference. */
static GSource *
execution_take_delivery (Execution *exec)
{
  GSource *delivery = exec->delivery;

  exec->delivery = NULL;
  return delivery != NULL ? g_source_ref (delivery) : NULL;
}

/* Outside the mutex: destroys @delivery, taken by
 * execution_take_delivery(), and delivers in its place. */
static void
execution_withdrawn (Execution *exec,
                     GSource   *delivery)
{
  g_source_destroy (delivery);
  g_source_unref (delivery);
  execution_deliver (exec);
}

/* The delivery of a blocking execution on its starter's context. */
static gboolean
execution_delivery_cb (gpointer user_data)
{
  Execution *exec = user_data;
  gboolean ours;

  g_mutex_lock (&exec->lock->mutex);
  ours = exec->delivery != NULL;
  exec->delivery = NULL;
  g_mutex_unlock (&exec->lock->mutex);

  if (ours)
    execution_deliver (exec);

  return G_SOURCE_REMOVE;
}

/* On the drain thread: delivers a blocking execution's outcome, or hands
 * the delivery to the starter's context while the starter waits, as an
 * execution that completed there: the callers issued before that context
 * iterates all join it. Once the starter left, no context of a caller
 * that left is needed. */
static void
execution_schedule_delivery (Execution *exec)
{
  gboolean deliver_here = TRUE;

  g_mutex_lock (&exec->lock->mutex);
  if (exec->state == EXECUTION_RUNNING && exec->context != NULL)
    {
      exec->delivery = attach_idle (exec->context, "[smartasync] SaLock delivery",
                                    execution_delivery_cb, execution_ref (exec),
                                    (GDestroyNotify) execution_unref);
      deliver_here = FALSE;
    }
  g_mutex_unlock (&exec->lock->mutex);

  if (deliver_here)
    execution_deliver (exec);
}

/* A blocking execution's dispatcher call completed, on the drain thread.
 * Its outcome waits for the call to let go of the operation and its task
 * (execution_call_released()), so that they are freed where the callers
 * are; unless the call was given up at its timeout, while the body runs
 * on. */
static void
execution_done_blocking (GObject      *source_object,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  Execution *exec = user_data;

  exec->given_up = _sa_call_task_given_up (G_TASK (result));
  exec->holder = _sa_call_task_take (result, &exec->error);
  if (exec->given_up)
    execution_schedule_delivery (exec);
}

/* A blocking execution's body, for the operation of its dispatcher call:
 * the starter's operation runs in it. */
static void
execution_body (SaOperation  *call_operation,
                GTask        *task,
                GCancellable *cancellable,
                gpointer      user_data)
{
  Execution *exec = user_data;

  _sa_operation_run_body (exec->operation, task, cancellable);
}

/* In a dispatch of its own on the drain's context, after the one that
 * released the call: nothing of the call is held there any more (GTask
 * holds its task until its completion's dispatch ends), so what the
 * callers drop is freed on their side. */
static gboolean
execution_call_gone_cb (gpointer user_data)
{
  Execution *exec = user_data;
  gboolean deliver = !exec->given_up;

  /* Dropped first, so that the last reference is a caller's: until its
   * delivery, the run's holds the execution. */
  execution_unref (exec);   /* the call operation's */
  _sa_drain_release_shared ();
  if (deliver)
    execution_schedule_delivery (exec);

  return G_SOURCE_REMOVE;
}

/* The dispatcher call of a blocking execution let go of its operation, on
 * the drain thread, after its callback. */
static void
execution_call_released (gpointer user_data)
{
  (void) attach_idle (_sa_drain_get_shared (), "[smartasync] SaLock call released",
                      execution_call_gone_cb, user_data, NULL);
}

/* --- waiter ------------------------------------------------------------- */

static Waiter *
waiter_new (GCancellable        *cancellable,
            GAsyncReadyCallback  callback,
            gpointer             user_data)
{
  Waiter *waiter = g_new0 (Waiter, 1);

  /* One reference for join(), one for the delivery. */
  g_atomic_ref_count_init (&waiter->ref_count);
  g_atomic_ref_count_inc (&waiter->ref_count);
  waiter->cancellable = g_object_ref (cancellable);
  waiter->callback = callback;
  waiter->user_data = user_data;

  return waiter;
}

static void
waiter_unref (Waiter *waiter)
{
  if (!g_atomic_ref_count_dec (&waiter->ref_count))
    return;

  g_assert (waiter->cancelled_id == 0);
  g_clear_pointer (&waiter->execution, execution_unref);
  g_object_unref (waiter->cancellable);
  g_free (waiter);
}

static void
waiter_cancelled_cb (GCancellable *cancellable,
                     gpointer      user_data)
{
  Waiter *waiter = user_data;
  Execution *exec = waiter->execution;
  GMainContext *context = NULL;
  GSource *delivery = NULL;
  gboolean forgotten;
  GTask *task;

  g_mutex_lock (&exec->lock->mutex);
  task = execution_leave (exec, waiter->slot, &forgotten);
  /* A blocking execution's starter that leaves takes its context along:
   * the others are delivered without it, by whoever withdraws a pending
   * delivery there, or from the drain thread. */
  if (task != NULL && waiter->slot == 0)
    {
      context = execution_let_go_context (exec);
      delivery = execution_take_delivery (exec);
    }
  g_mutex_unlock (&exec->lock->mutex);

  if (forgotten)
    g_cancellable_cancel (exec->cancellable);
  if (delivery != NULL)
    execution_withdrawn (exec, delivery);
  g_clear_pointer (&context, g_main_context_unref);
  /* Inside the handler of its own cancellable: GTask calls it back later. */
  if (task != NULL)
    return_cancelled (task, "Operation was cancelled");
}

/* After join() put @waiter in its slot. The handler runs at once if the
 * cancellable is cancelled already. */
static void
waiter_connect (Waiter *waiter)
{
  GMutex *mutex = &waiter->execution->lock->mutex;
  gboolean delivered;
  gulong id;

  id = g_cancellable_connect (waiter->cancellable, G_CALLBACK (waiter_cancelled_cb), waiter, NULL);

  g_mutex_lock (mutex);
  delivered = waiter->delivered;
  if (!delivered)
    waiter->cancelled_id = id;
  g_mutex_unlock (mutex);

  /* Delivered (by another thread) before the handler was recorded. */
  if (delivered && id != 0)
    g_cancellable_disconnect (waiter->cancellable, id);
}

/* Where the caller's task is delivered, outside any emission of its
 * cancellable: drops the handler. */
static void
waiter_disconnect (Waiter *waiter)
{
  GMutex *mutex;
  gulong id;

  if (waiter->execution == NULL)
    return;   /* never joined, never connected */

  mutex = &waiter->execution->lock->mutex;
  g_mutex_lock (mutex);
  waiter->delivered = TRUE;
  id = waiter->cancelled_id;
  waiter->cancelled_id = 0;
  g_mutex_unlock (mutex);

  /* Waits for a handler running on another thread to return. */
  if (id != 0)
    g_cancellable_disconnect (waiter->cancellable, id);
}

/* An async caller's task callback, for a caller with a cancellable. */
static void
waiter_delivered_cb (GObject      *source_object,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  Waiter *waiter = user_data;

  waiter_disconnect (waiter);
  if (waiter->callback != NULL)
    waiter->callback (source_object, result, waiter->user_data);
  waiter_unref (waiter);
}

/* --- joining and starting ----------------------------------------------- */

static guint
key_hash (gconstpointer key)
{
  return key != NULL ? g_str_hash (key) : 0;
}

static gboolean
key_equal (gconstpointer a,
           gconstpointer b)
{
  return g_strcmp0 (a, b) == 0;
}

/* Puts the caller whose task is @task (transfer full: the slot's) in the
 * execution for @key that can serve it, or in a new one. Returns the new
 * execution, with its run's reference, for the caller to start; NULL when
 * it joined one. */
static Execution *
join (SaLock      *self,
      const char  *key,
      SaOperation *operation,
      GTask       *task,
      Waiter      *waiter,
      gboolean     async_caller)
{
  Execution *exec;
  Execution *start = NULL;

  g_mutex_lock (&self->mutex);
  exec = self->recent;
  if (exec == NULL || !key_equal (exec->key, key))
    exec = g_hash_table_lookup (self->executions, key);
  if (exec != NULL && execution_can_serve (exec, async_caller))
    {
      self->recent = exec;
      __atomic_store_n (&self->n_coalesced, self->n_coalesced + 1, __ATOMIC_RELAXED);
    }
  else
    {
      start = exec = execution_new (self, key, operation, async_caller, waiter != NULL);
      g_queue_push_tail_link (&self->running, &exec->running_link);
      /* Beside one this caller cannot join, it is its own alone. */
      if (!g_hash_table_contains (self->executions, key))
        {
          g_hash_table_insert (self->executions, exec->key, exec);
          exec->listed = TRUE;
          self->recent = exec;
        }
      __atomic_store_n (&self->n_executions, self->n_executions + 1, __ATOMIC_RELAXED);
    }
  if (waiter != NULL)
    {
      waiter->execution = execution_ref (exec);
      waiter->slot = exec->waiters->len;
    }
  g_ptr_array_add (exec->waiters, task);
  exec->n_waiting++;
  g_mutex_unlock (&self->mutex);

  if (waiter != NULL)
    waiter_connect (waiter);

  return start;
}

/* On the drain thread: a blocking execution's dispatcher call, made on
 * the shared context, which only the drain thread may hold. */
static gboolean
execution_start_on_drain (gpointer user_data)
{
  Execution *exec = user_data;
  GMainContext *context = _sa_drain_get_shared ();
  SaOperation *call_operation;

  /* The call's operation holds the execution until the call is released. */
  call_operation = sa_operation_new_blocking (execution_body, execution_ref (exec),
                                              execution_call_released);
  sa_operation_set_name (call_operation, sa_operation_get_name (exec->operation));
  g_main_context_push_thread_default (context);
  g_object_unref (sa_dispatcher_call (exec->lock->dispatcher, call_operation, SA_CALL_MODE_ASYNC,
                                      exec->cancellable, execution_done_blocking, exec));
  g_main_context_pop_thread_default (context);
  g_object_unref (call_operation);

  return G_SOURCE_REMOVE;
}

/* Starts @exec for an async caller on its thread-default context; or,
 * a blocking one whose starter may leave (it has a cancellable: it holds
 * exec->operation), from the drain thread's shared context, held until
 * its call is released, so that its completion needs no context of a
 * caller that left (execution_done_blocking()). */
static void
execution_start_async (Execution   *exec,
                       SaOperation *operation)
{
  if (exec->operation == NULL)
    {
      g_object_unref (sa_dispatcher_call (exec->lock->dispatcher, operation, SA_CALL_MODE_ASYNC,
                                          exec->cancellable, execution_done, exec));
      return;
    }

  _sa_drain_hold_shared ();
  _sa_drain_run (execution_start_on_drain, exec);
}

/* The dispatcher's timeout for the joiners of a blocking execution that a
 * sync caller runs on its own thread: the caller hears it when its body
 * returns, they on time, from the timer thread. */
typedef struct
{
  Execution *exec;
  char      *name;   /* the operation's, for the error */
} Deadline;

static void
deadline_free (gpointer data)
{
  Deadline *deadline = data;

  execution_unref (deadline->exec);
  g_free (deadline->name);
  g_free (deadline);
}

/* Fails every caller but the starter at once, and the starter when its
 * body returns; unlists the execution: a later caller starts a new one. */
static void
deadline_passed (SaGuard  *guard,
                 gpointer  data)
{
  Deadline *deadline = data;
  Execution *exec = deadline->exec;
  g_autoptr(GPtrArray) tasks = g_ptr_array_new ();
  gboolean timed_out = FALSE;
  gboolean forgotten = FALSE;

  g_mutex_lock (&exec->lock->mutex);
  /* The starter hears it too, when its body returns. */
  if (exec->state == EXECUTION_RUNNING)
    {
      exec->timed_out = _sa_guard_error (guard, deadline->name);
      timed_out = TRUE;
    }
  for (guint slot = 1; exec->state == EXECUTION_RUNNING && slot < exec->waiters->len; slot++)
    {
      gboolean last;
      GTask *task = execution_leave (exec, slot, &last);

      if (task != NULL)
        g_ptr_array_add (tasks, task);
      forgotten |= last;
    }
  execution_unlist (exec);
  g_mutex_unlock (&exec->lock->mutex);

  /* The body's cancellable fires at the timeout, as in every cell. */
  if (forgotten || timed_out)
    g_cancellable_cancel (exec->cancellable);
  for (guint i = 0; i < tasks->len; i++)
    {
      g_task_return_error (tasks->pdata[i], _sa_guard_error (guard, deadline->name));
      g_object_unref (tasks->pdata[i]);
    }
}

/* Runs @exec to completion in the sync caller's own cell. */
static void
execution_run_sync (Execution   *exec,
                    SaOperation *operation)
{
  guint timeout_ms = sa_dispatcher_get_timeout (exec->lock->dispatcher);
  SaGuard *guard = NULL;

  if (exec->blocking && timeout_ms != 0)
    {
      Deadline *deadline = g_new (Deadline, 1);

      deadline->exec = execution_ref (exec);
      deadline->name = g_strdup (sa_operation_get_name (operation));
      guard = _sa_guard_new (NULL, FALSE, timeout_ms, NULL, deadline_passed, deadline, deadline_free);
    }

  g_object_unref (sa_dispatcher_call (exec->lock->dispatcher, operation, SA_CALL_MODE_SYNC,
                                      exec->cancellable, execution_done, exec));
  g_clear_pointer (&guard, _sa_guard_close);
}

/* Returns the caller's task if @return_task; otherwise its only
 * reference is its slot's. */
static GTask *
call_async (SaLock              *self,
            const char          *key,
            SaOperation         *operation,
            GCancellable        *cancellable,
            GAsyncReadyCallback  callback,
            gpointer             user_data,
            gboolean             return_task)
{
  Waiter *waiter = NULL;
  Execution *start;
  GTask *task;

  if (cancellable == NULL)
    {
      task = g_task_new (self, NULL, callback, user_data);
    }
  else
    {
      waiter = waiter_new (cancellable, callback, user_data);
      task = g_task_new (self, cancellable, waiter_delivered_cb, waiter);
    }
  _sa_task_set_tag (task, sa_lock_call);

  if (waiter != NULL && g_task_return_error_if_cancelled (task))
    {
      waiter_unref (waiter);   /* join()'s */
      if (return_task)
        return task;
      g_object_unref (task);
      return NULL;
    }

  /* Once joined, a task that is not returned is the delivery's alone. */
  start = join (self, key, operation, return_task ? g_object_ref (task) : task, waiter, TRUE);
  if (waiter != NULL)
    waiter_unref (waiter);
  if (start != NULL)
    execution_start_async (start, operation);

  return return_task ? task : NULL;
}

static GTask *
call_sync (SaLock              *self,
           const char          *key,
           SaOperation         *operation,
           GCancellable        *cancellable,
           GAsyncReadyCallback  callback,
           gpointer             user_data)
{
  Waiter *waiter = NULL;
  SaBridge bridge;
  Execution *start = NULL;
  GAsyncResult *result;
  GTask *task;

  /* The wait ends only with the task's result: the bridge cannot outlive
   * this frame. The task completes on the bridge's private context. */
  _sa_bridge_init (&bridge, NULL, 0, FALSE, NULL);
  task = g_task_new (self, cancellable, sa_bridge_callback, &bridge);
  _sa_task_set_tag (task, sa_lock_call);

  /* An execution run here sees the caller's own thread-default context,
   * not the bridge's. */
  g_main_context_pop_thread_default (bridge.context);

  if (cancellable == NULL || !g_task_return_error_if_cancelled (task))
    {
      if (cancellable != NULL)
        waiter = waiter_new (cancellable, NULL, NULL);
      start = join (self, key, operation, g_object_ref (task), waiter, FALSE);
    }
  if (start != NULL)
    execution_run_sync (start, operation);

  g_main_context_push_thread_default (bridge.context);
  result = _sa_bridge_wait (&bridge, NULL);
  g_assert (result == G_ASYNC_RESULT (task));
  g_object_unref (result);
  _sa_bridge_clear (&bridge);

  if (waiter != NULL)
    {
      waiter_disconnect (waiter);
      waiter_unref (waiter);   /* join()'s */
      waiter_unref (waiter);   /* the delivery's */
    }

  if (callback != NULL)
    callback (G_OBJECT (self), G_ASYNC_RESULT (task), user_data);

  return task;
}

/* --- reading ----------------------------------------------------------- */

/* Reads this caller's result in @form into @out (see outcome_read()). */
static gboolean
read_result (SaLock        *self,
             GAsyncResult  *result,
             SaResultForm   form,
             gpointer       out,
             GError       **error)
{
  Outcome *outcome;
  gboolean ok;

  /* GTask can hand a result out once: a second read is an error rather
   * than its critical. */
  if (!_sa_result_mark_read (result, error))
    return FALSE;

  outcome = g_task_propagate_pointer (G_TASK (result), error);
  if (outcome == NULL)
    return FALSE;

  ok = outcome_read (outcome, form, out, error);
  outcome_unref (outcome);

  return ok;
}

/* The checks of every finish function, in the order of the dispatcher's:
 * the object, the result and @error, then (in the function) the output. */
#define RETURN_IF_NOT_A_CALL(self, result, error, val) G_STMT_START {            \
    g_return_val_if_fail (SA_IS_LOCK (self), val);                              \
    g_return_val_if_fail (g_task_is_valid (result, self), val);                 \
    g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == sa_lock_call, val); \
    g_return_val_if_fail (error == NULL || *error == NULL, val);                \
  } G_STMT_END

/* --- GObject ------------------------------------------------------------ */

static void
sa_lock_finalize (GObject *object)
{
  SaLock *self = SA_LOCK (object);

  /* Executions hold the lock: none is in flight here. */
  g_assert (g_hash_table_size (self->executions) == 0);
  g_assert (g_queue_is_empty (&self->running));
  g_clear_object (&self->dispatcher);
  g_hash_table_unref (self->executions);
  g_mutex_clear (&self->mutex);

  G_OBJECT_CLASS (sa_lock_parent_class)->finalize (object);
}

static void
sa_lock_get_property (GObject    *object,
                      guint       prop_id,
                      GValue     *value,
                      GParamSpec *pspec)
{
  SaLock *self = SA_LOCK (object);

  switch (prop_id)
    {
    case PROP_DISPATCHER:
      g_value_set_object (value, self->dispatcher);
      break;

    case PROP_N_EXECUTIONS:
      g_value_set_uint64 (value, sa_lock_get_n_executions (self));
      break;

    case PROP_N_COALESCED:
      g_value_set_uint64 (value, sa_lock_get_n_coalesced (self));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
sa_lock_set_property (GObject      *object,
                      guint         prop_id,
                      const GValue *value,
                      GParamSpec   *pspec)
{
  SaLock *self = SA_LOCK (object);

  switch (prop_id)
    {
    case PROP_DISPATCHER:
      self->dispatcher = g_value_dup_object (value);
      if (self->dispatcher == NULL)
        self->dispatcher = g_object_ref (sa_dispatcher_get_default ());
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
sa_lock_class_init (SaLockClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = sa_lock_finalize;
  object_class->get_property = sa_lock_get_property;
  object_class->set_property = sa_lock_set_property;

  /**
   * SaLock:dispatcher:
   *
   * The dispatcher that runs the executions; the default one when %NULL
   * is given at construction.
   *
   * Since: 1.0
   */
  properties[PROP_DISPATCHER] =
    g_param_spec_object ("dispatcher", NULL, NULL,
                         SA_TYPE_DISPATCHER,
                         (G_PARAM_READWRITE |
                          G_PARAM_CONSTRUCT_ONLY |
                          G_PARAM_STATIC_STRINGS));

  /**
   * SaLock:n-executions:
   *
   * How many executions were started. Not notified.
   *
   * Since: 1.0
   */
  properties[PROP_N_EXECUTIONS] =
    g_param_spec_uint64 ("n-executions", NULL, NULL,
                         0, G_MAXUINT64, 0,
                         (G_PARAM_READABLE |
                          G_PARAM_EXPLICIT_NOTIFY |
                          G_PARAM_STATIC_STRINGS));

  /**
   * SaLock:n-coalesced:
   *
   * How many calls joined an execution already in flight instead of
   * starting one. Not notified.
   *
   * Since: 1.0
   */
  properties[PROP_N_COALESCED] =
    g_param_spec_uint64 ("n-coalesced", NULL, NULL,
                         0, G_MAXUINT64, 0,
                         (G_PARAM_READABLE |
                          G_PARAM_EXPLICIT_NOTIFY |
                          G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
sa_lock_init (SaLock *self)
{
  g_mutex_init (&self->mutex);
  self->executions = g_hash_table_new (key_hash, key_equal);
}

/**
 * sa_lock_new:
 * @dispatcher: (nullable): the [class@Sa.Dispatcher] to run executions
 *   with, or %NULL for the default one
 *
 * Creates a lock.
 *
 * Returns: (transfer full): a new [class@Sa.Lock]
 *
 * Since: 1.0
 */
SaLock *
sa_lock_new (SaDispatcher *dispatcher)
{
  g_return_val_if_fail (dispatcher == NULL || SA_IS_DISPATCHER (dispatcher), NULL);

  return g_object_new (SA_TYPE_LOCK, "dispatcher", dispatcher, NULL);
}

/**
 * sa_lock_get_dispatcher:
 * @self: a [class@Sa.Lock]
 *
 * Gets [property@Sa.Lock:dispatcher].
 *
 * Returns: (transfer none): the dispatcher that runs the executions
 *
 * Since: 1.0
 */
SaDispatcher *
sa_lock_get_dispatcher (SaLock *self)
{
  g_return_val_if_fail (SA_IS_LOCK (self), NULL);

  return self->dispatcher;
}

/**
 * sa_lock_get_n_executions:
 * @self: a [class@Sa.Lock]
 *
 * Gets [property@Sa.Lock:n-executions].
 *
 * Returns: the number of executions started
 *
 * Since: 1.0
 */
guint64
sa_lock_get_n_executions (SaLock *self)
{
  g_return_val_if_fail (SA_IS_LOCK (self), 0);

  return __atomic_load_n (&self->n_executions, __ATOMIC_RELAXED);
}

/**
 * sa_lock_get_n_coalesced:
 * @self: a [class@Sa.Lock]
 *
 * Gets [property@Sa.Lock:n-coalesced].
 *
 * Returns: the number of calls that joined an execution in flight
 *
 * Since: 1.0
 */
guint64
sa_lock_get_n_coalesced (SaLock *self)
{
  g_return_val_if_fail (SA_IS_LOCK (self), 0);

  return __atomic_load_n (&self->n_coalesced, __ATOMIC_RELAXED);
}

/**
 * sa_lock_get_n_in_flight:
 * @self: a [class@Sa.Lock]
 *
 * Gets how many executions callers can join now, one per key at most.
 * An execution that is forgotten (its callers all left, or a reset) and
 * runs on until its operation returns is not counted, nor one that a
 * caller started beside one it could not join.
 *
 * Returns: the number of executions in flight
 *
 * Since: 1.0
 */
guint
sa_lock_get_n_in_flight (SaLock *self)
{
  guint n;

  g_return_val_if_fail (SA_IS_LOCK (self), 0);

  g_mutex_lock (&self->mutex);
  n = g_hash_table_size (self->executions);
  g_mutex_unlock (&self->mutex);

  return n;
}

/**
 * sa_lock_call:
 * @self: a [class@Sa.Lock]
 * @key: (nullable): the key that names the work; %NULL is the default key
 * @operation: the [class@Sa.Operation] to run if no execution for @key
 *   that this caller can join is in flight
 * @mode: [enum@Sa.CallMode.AUTO] to follow the dispatcher, or a mode for
 *   this call
 * @cancellable: (nullable): a [class@Gio.Cancellable] for this caller
 * @callback: (scope async) (nullable) (closure user_data): called once
 *   with this caller's result: before this function returns for a sync
 *   caller, on the caller's thread-default context for an async caller
 * @user_data: data for @callback
 *
 * The smart call: joins the execution in flight for @key, or starts one
 * (see [class@Sa.Lock] for where it runs). For a sync caller the returned
 * task holds the result already; for an async caller it is pending and
 * completes on the caller's thread-default context. Either way it is
 * this caller's own task, the one @callback gets: read it once, with the
 * [method@Sa.Lock.call_finish] form that matches the operation's result.
 *
 * Returns: (transfer full): this caller's task
 *
 * Since: 1.0
 */
GTask *
sa_lock_call (SaLock              *self,
              const char          *key,
              SaOperation         *operation,
              SaCallMode           mode,
              GCancellable        *cancellable,
              GAsyncReadyCallback  callback,
              gpointer             user_data)
{
  g_return_val_if_fail (SA_IS_LOCK (self), NULL);
  g_return_val_if_fail (SA_IS_OPERATION (operation), NULL);
  g_return_val_if_fail (mode <= SA_CALL_MODE_ASYNC, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);

  if (_sa_dispatcher_caller_is_async (self->dispatcher, mode))
    return call_async (self, key, operation, cancellable, callback, user_data, TRUE);
  else
    return call_sync (self, key, operation, cancellable, callback, user_data);
}

/**
 * sa_lock_call_async:
 * @self: a [class@Sa.Lock]
 * @key: (nullable): the key that names the work
 * @operation: the [class@Sa.Operation] to run if no execution for @key
 *   that this caller can join is in flight
 * @cancellable: (nullable): a [class@Gio.Cancellable] for this caller
 * @callback: (scope async) (nullable) (closure user_data): called once, on
 *   the caller's thread-default context, with this caller's result
 * @user_data: data for @callback
 *
 * Joins or starts the execution for @key as an async caller, whatever the
 * calling thread. Finish with the [method@Sa.Lock.call_finish] form that
 * matches the operation's result.
 *
 * Since: 1.0
 */
void
sa_lock_call_async (SaLock              *self,
                    const char          *key,
                    SaOperation         *operation,
                    GCancellable        *cancellable,
                    GAsyncReadyCallback  callback,
                    gpointer             user_data)
{
  g_return_if_fail (SA_IS_LOCK (self));
  g_return_if_fail (SA_IS_OPERATION (operation));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  call_async (self, key, operation, cancellable, callback, user_data, FALSE);
}

/**
 * sa_lock_call_finish:
 * @self: a [class@Sa.Lock]
 * @result: the [iface@Gio.AsyncResult] of a call of @self
 * @error: return location for a [struct@GLib.Error]
 *
 * Finishes a call of [method@Sa.Lock.call_async] or [method@Sa.Lock.call]
 * whose operation completes with `g_task_return_value()`, as
 * [method@Sa.Lock.call_finish_value] does, into a new value: the form
 * for bindings.
 *
 * Returns: (transfer full): this caller's own copy of the result, to free
 *   with `g_boxed_free (G_TYPE_VALUE, value)`; %NULL with @error set if the
 *   execution failed, or this caller was cancelled, or the lock was reset
 *
 * Since: 1.0
 */
GValue *
sa_lock_call_finish (SaLock        *self,
                     GAsyncResult  *result,
                     GError       **error)
{
  GValue *value;

  RETURN_IF_NOT_A_CALL (self, result, error, NULL);

  value = g_new0 (GValue, 1);
  if (!read_result (self, result, SA_RESULT_VALUE, value, error))
    g_clear_pointer (&value, g_free);

  return value;
}

/**
 * sa_lock_call_finish_value:
 * @self: a [class@Sa.Lock]
 * @result: the [iface@Gio.AsyncResult] of a call of @self
 * @value: (out caller-allocates): an uninitialized [struct@GObject.Value]
 *   that receives this caller's own copy of the result
 * @error: return location for a [struct@GLib.Error]
 *
 * Finishes a call whose operation completes with `g_task_return_value()`.
 *
 * Returns: %TRUE with @value initialized (free it with `g_value_unset()`);
 *   %FALSE with @error set if the execution failed, this caller was
 *   cancelled or timed out, or the lock was reset
 *
 * Since: 1.0
 */
gboolean
sa_lock_call_finish_value (SaLock        *self,
                           GAsyncResult  *result,
                           GValue        *value,
                           GError       **error)
{
  RETURN_IF_NOT_A_CALL (self, result, error, FALSE);
  g_return_val_if_fail (value != NULL && !G_IS_VALUE (value), FALSE);

  return read_result (self, result, SA_RESULT_VALUE, value, error);
}

/**
 * sa_lock_call_finish_boolean:
 * @self: a [class@Sa.Lock]
 * @result: the [iface@Gio.AsyncResult] of a call of @self
 * @error: return location for a [struct@GLib.Error]
 *
 * Finishes a call whose operation completes with
 * `g_task_return_boolean()`.
 *
 * Returns: the result; %FALSE with @error set if the execution failed,
 *   this caller was cancelled or timed out, or the lock was reset
 *
 * Since: 1.0
 */
gboolean
sa_lock_call_finish_boolean (SaLock        *self,
                             GAsyncResult  *result,
                             GError       **error)
{
  gboolean ret = FALSE;

  RETURN_IF_NOT_A_CALL (self, result, error, FALSE);

  if (!read_result (self, result, SA_RESULT_BOOLEAN, &ret, error))
    return FALSE;

  return ret;
}

/**
 * sa_lock_call_finish_int:
 * @self: a [class@Sa.Lock]
 * @result: the [iface@Gio.AsyncResult] of a call of @self
 * @error: return location for a [struct@GLib.Error]
 *
 * Finishes a call whose operation completes with `g_task_return_int()`.
 *
 * Returns: the result; -1 with @error set if the execution failed, this
 *   caller was cancelled or timed out, or the lock was reset
 *
 * Since: 1.0
 */
gssize
sa_lock_call_finish_int (SaLock        *self,
                         GAsyncResult  *result,
                         GError       **error)
{
  gssize ret = -1;

  RETURN_IF_NOT_A_CALL (self, result, error, -1);

  if (!read_result (self, result, SA_RESULT_INT, &ret, error))
    return -1;

  return ret;
}

/**
 * sa_lock_call_finish_pointer:
 * @self: a [class@Sa.Lock]
 * @result: the [iface@Gio.AsyncResult] of a call of @self
 * @error: return location for a [struct@GLib.Error]
 *
 * Finishes a call whose operation completes with
 * `g_task_return_pointer()`. A pointer cannot be copied: it is handed over
 * only when this caller was the one caller its execution reached; when
 * the execution reached several, each gets `SA_ERROR_NOT_SHAREABLE` and
 * the pointer is freed by the operation's free function. Operations whose
 * executions may be shared return with `g_task_return_value()`.
 *
 * Returns: (transfer full) (nullable): the result; %NULL with @error set
 *   on failure
 *
 * Since: 1.0
 */
gpointer
sa_lock_call_finish_pointer (SaLock        *self,
                             GAsyncResult  *result,
                             GError       **error)
{
  gpointer ret = NULL;

  RETURN_IF_NOT_A_CALL (self, result, error, NULL);

  if (!read_result (self, result, SA_RESULT_POINTER, &ret, error))
    return NULL;

  return ret;
}

/* A sync call's own task, complete. */
static GTask *
call_sync_task (SaLock       *self,
                const char   *key,
                SaOperation  *operation,
                GCancellable *cancellable)
{
  return call_sync (self, key, operation, cancellable, NULL, NULL);
}

/* The checks of every sync function, in the order of the dispatcher's. */
#define RETURN_IF_BAD_SYNC_CALL(self, operation, cancellable, error, val) G_STMT_START { \
    g_return_val_if_fail (SA_IS_LOCK (self), val);                                      \
    g_return_val_if_fail (SA_IS_OPERATION (operation), val);                            \
    g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), val);  \
    g_return_val_if_fail (error == NULL || *error == NULL, val);                        \
  } G_STMT_END

/**
 * sa_lock_call_sync:
 * @self: a [class@Sa.Lock]
 * @key: (nullable): the key that names the work
 * @operation: the [class@Sa.Operation] to run if no execution for @key
 *   that this caller can join is in flight
 * @cancellable: (nullable): a [class@Gio.Cancellable] for this caller
 * @error: return location for a [struct@GLib.Error]
 *
 * Joins or starts the execution for @key as a sync caller, whatever the
 * calling thread, and waits for the result on this thread's private
 * context; an execution it starts runs on this thread. Reads the result as
 * [method@Sa.Lock.call_finish] does.
 *
 * Returns: (transfer full): this caller's own copy of the result; %NULL
 *   with @error set on failure
 *
 * Since: 1.0
 */
GValue *
sa_lock_call_sync (SaLock        *self,
                   const char    *key,
                   SaOperation   *operation,
                   GCancellable  *cancellable,
                   GError       **error)
{
  g_autoptr(GTask) task = NULL;
  GValue *value;

  RETURN_IF_BAD_SYNC_CALL (self, operation, cancellable, error, NULL);

  task = call_sync_task (self, key, operation, cancellable);
  value = g_new0 (GValue, 1);
  if (!read_result (self, G_ASYNC_RESULT (task), SA_RESULT_VALUE, value, error))
    g_clear_pointer (&value, g_free);

  return value;
}

/**
 * sa_lock_call_sync_value:
 * @self: a [class@Sa.Lock]
 * @key: (nullable): the key that names the work
 * @operation: the [class@Sa.Operation] to run if no execution for @key
 *   that this caller can join is in flight
 * @cancellable: (nullable): a [class@Gio.Cancellable] for this caller
 * @value: (out caller-allocates): an uninitialized [struct@GObject.Value]
 *   that receives this caller's own copy of the result
 * @error: return location for a [struct@GLib.Error]
 *
 * [method@Sa.Lock.call_sync] for an operation that completes with
 * `g_task_return_value()`, read as [method@Sa.Lock.call_finish_value]
 * does.
 *
 * Returns: %TRUE with @value initialized; %FALSE with @error set on
 *   failure
 *
 * Since: 1.0
 */
gboolean
sa_lock_call_sync_value (SaLock        *self,
                         const char    *key,
                         SaOperation   *operation,
                         GCancellable  *cancellable,
                         GValue        *value,
                         GError       **error)
{
  g_autoptr(GTask) task = NULL;

  RETURN_IF_BAD_SYNC_CALL (self, operation, cancellable, error, FALSE);
  g_return_val_if_fail (value != NULL && !G_IS_VALUE (value), FALSE);

  task = call_sync_task (self, key, operation, cancellable);

  return read_result (self, G_ASYNC_RESULT (task), SA_RESULT_VALUE, value, error);
}

/**
 * sa_lock_call_sync_boolean:
 * @self: a [class@Sa.Lock]
 * @key: (nullable): the key that names the work
 * @operation: the [class@Sa.Operation] to run if no execution for @key
 *   that this caller can join is in flight
 * @cancellable: (nullable): a [class@Gio.Cancellable] for this caller
 * @error: return location for a [struct@GLib.Error]
 *
 * [method@Sa.Lock.call_sync] for an operation that completes with
 * `g_task_return_boolean()`.
 *
 * Returns: the result; %FALSE with @error set on failure
 *
 * Since: 1.0
 */
gboolean
sa_lock_call_sync_boolean (SaLock        *self,
                           const char    *key,
                           SaOperation   *operation,
                           GCancellable  *cancellable,
                           GError       **error)
{
  g_autoptr(GTask) task = NULL;
  gboolean ret = FALSE;

  RETURN_IF_BAD_SYNC_CALL (self, operation, cancellable, error, FALSE);

  task = call_sync_task (self, key, operation, cancellable);
  if (!read_result (self, G_ASYNC_RESULT (task), SA_RESULT_BOOLEAN, &ret, error))
    return FALSE;

  return ret;
}

/**
 * sa_lock_call_sync_int:
 * @self: a [class@Sa.Lock]
 * @key: (nullable): the key that names the work
 * @operation: the [class@Sa.Operation] to run if no execution for @key
 *   that this caller can join is in flight
 * @cancellable: (nullable): a [class@Gio.Cancellable] for this caller
 * @error: return location for a [struct@GLib.Error]
 *
 * [method@Sa.Lock.call_sync] for an operation that completes with
 * `g_task_return_int()`.
 *
 * Returns: the result; -1 with @error set on failure
 *
 * Since: 1.0
 */
gssize
sa_lock_call_sync_int (SaLock        *self,
                       const char    *key,
                       SaOperation   *operation,
                       GCancellable  *cancellable,
                       GError       **error)
{
  g_autoptr(GTask) task = NULL;
  gssize ret = -1;

  RETURN_IF_BAD_SYNC_CALL (self, operation, cancellable, error, -1);

  task = call_sync_task (self, key, operation, cancellable);
  if (!read_result (self, G_ASYNC_RESULT (task), SA_RESULT_INT, &ret, error))
    return -1;

  return ret;
}

/**
 * sa_lock_call_sync_pointer:
 * @self: a [class@Sa.Lock]
 * @key: (nullable): the key that names the work
 * @operation: the [class@Sa.Operation] to run if no execution for @key
 *   that this caller can join is in flight
 * @cancellable: (nullable): a [class@Gio.Cancellable] for this caller
 * @error: return location for a [struct@GLib.Error]
 *
 * [method@Sa.Lock.call_sync] for an operation that completes with
 * `g_task_return_pointer()`, read as [method@Sa.Lock.call_finish_pointer]
 * does.
 *
 * Returns: (transfer full) (nullable): the result; %NULL with @error set
 *   on failure
 *
 * Since: 1.0
 */
gpointer
sa_lock_call_sync_pointer (SaLock        *self,
                           const char    *key,
                           SaOperation   *operation,
                           GCancellable  *cancellable,
                           GError       **error)
{
  g_autoptr(GTask) task = NULL;
  gpointer ret = NULL;

  RETURN_IF_BAD_SYNC_CALL (self, operation, cancellable, error, NULL);

  task = call_sync_task (self, key, operation, cancellable);
  if (!read_result (self, G_ASYNC_RESULT (task), SA_RESULT_POINTER, &ret, error))
    return NULL;

  return ret;
}

/**
 * sa_lock_reset:
 * @self: a [class@Sa.Lock]
 *
 * Forgets every execution that runs, cancels it, and fails each of its
 * callers still waiting with `G_IO_ERROR_CANCELLED`, exactly once: those
 * that callers can join, and those they cannot any more (one a caller
 * started beside an execution it could not join, one whose timeout
 * passed while its sync caller runs its body). The executions run on
 * until their operations return, and their results are dropped; a call
 * made after this starts a new execution. Safe from any thread, including
 * from inside an operation or a callback.
 *
 * Since: 1.0
 */
void
sa_lock_reset (SaLock *self)
{
  g_autoptr(GPtrArray) executions = NULL;
  g_autoptr(GPtrArray) deliveries = NULL;   /* (element-type GSource) (nullable elements) */
  g_autoptr(GPtrArray) contexts = NULL;     /* (element-type GMainContext) */
  g_autoptr(GPtrArray) tasks = NULL;

  g_return_if_fail (SA_IS_LOCK (self));

  executions = g_ptr_array_new_with_free_func ((GDestroyNotify) execution_unref);
  deliveries = g_ptr_array_new ();
  contexts = g_ptr_array_new_with_free_func ((GDestroyNotify) g_main_context_unref);
  tasks = g_ptr_array_new ();

  g_mutex_lock (&self->mutex);
  /* Every running execution, listed under its key or not (one started
   * beside an execution its caller could not join, one a timeout
   * unlisted): each is closed here, so the queue empties. */
  while (self->running.head != NULL)
    {
      Execution *exec = self->running.head->data;
      GPtrArray *waiters = execution_close (exec, EXECUTION_FORGOTTEN);
      GMainContext *context = execution_let_go_context (exec);

      g_ptr_array_add (deliveries, execution_take_delivery (exec));
      if (context != NULL)
        g_ptr_array_add (contexts, context);

      for (guint i = 0; i < waiters->len; i++)
        if (waiters->pdata[i] != NULL)
          g_ptr_array_add (tasks, waiters->pdata[i]);
      g_ptr_array_unref (waiters);
      g_ptr_array_add (executions, execution_ref (exec));
    }
  g_assert (g_hash_table_size (self->executions) == 0);
  self->recent = NULL;
  g_mutex_unlock (&self->mutex);

  for (guint i = 0; i < executions->len; i++)
    {
      Execution *exec = executions->pdata[i];

      g_cancellable_cancel (exec->cancellable);
      /* A completed execution's result, dropped: its delivery needs its
       * starter's context no more. */
      if (deliveries->pdata[i] != NULL)
        execution_withdrawn (exec, deliveries->pdata[i]);
    }
  for (guint i = 0; i < tasks->len; i++)
    return_cancelled (tasks->pdata[i], "Cancelled by a reset of the lock");
}
