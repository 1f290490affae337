/* sa-lock.c: singleflight: concurrent callers share one execution
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "sa-bridge-private.h"
#include "sa-dispatcher-private.h"
#include "sa-lock.h"
#include "sa-task-private.h"

/**
 * SaLock:
 *
 * Singleflight: concurrent callers of the same work share one execution
 * and all receive its result, the `SmartLock` of the Python library.
 *
 * Callers name a key (a string; %NULL is the one default key). The first
 * caller for a key starts an execution of its [class@Sa.Operation],
 * through the lock's [class@Sa.Dispatcher]; callers for the same key that
 * arrive while it is in flight join it, whatever operation they pass.
 * Once it has completed, the next call starts a new execution: a lock is
 * not a cache.
 *
 * ## Results
 *
 * An operation run under a lock completes with `g_task_return_value()` (or
 * fails). Every caller gets a task of its own, completed with its own copy
 * of that [struct@GObject.Value] (`g_value_copy()`: a new reference for an
 * object, a copy for a boxed type or a string), or with its own copy of
 * the error, same domain, code and message. Read it with
 * [method@Sa.Lock.call_finish] or `g_task_propagate_value()`.
 *
 * ## Callers
 *
 * Callers may be on any thread, sync or async, in any mix; each is called
 * back on its own thread-default context, exactly once. A sync caller
 * waits on its own thread's private context, never on another thread's:
 * one that joins an execution started by an async caller on the main
 * thread blocks until the result arrives, without iterating the main
 * context.
 *
 * An execution started by an async caller runs on that caller's context
 * (so an operation that completes at once still completes in a later
 * iteration, and callers issued before the loop iterates all join it);
 * that context must go on being iterated until the execution ends, as a
 * running main loop's is. An execution started by a sync caller runs on
 * the lock's executor thread, so that it goes on even when its first
 * caller leaves.
 *
 * ## Cancellation and reset
 *
 * A caller's cancellable detaches only that caller, which gets
 * `G_IO_ERROR_CANCELLED`; the execution goes on while any caller remains.
 * When every caller of an execution has cancelled, the execution's own
 * cancellable is cancelled. [method@Sa.Lock.reset] cancels every
 * execution in flight and fails every caller still waiting with
 * `G_IO_ERROR_CANCELLED`, exactly once; a later call starts afresh. An
 * execution that fails with nobody left waiting is dropped silently.
 *
 * All methods are safe from any thread.
 *
 * Since: 1.0
 */
typedef struct _Execution Execution;

struct _SaLock
{
  GObject       parent_instance;

  SaDispatcher *dispatcher;
  GMutex        mutex;
  GHashTable   *executions;   /* (nullable key) → Execution, guarded by mutex */
  Execution    *recent;       /* (nullable) (unowned) the execution last joined,
                               * while it is in the table; guarded by mutex.
                               * Callers of one key come in runs: the run
                               * after the first skips hashing the key. */

  guint64       n_executions; /* atomic */
  guint64       n_coalesced;  /* atomic */
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
  gatomicrefcount  ref_count;
  SaLock          *lock;
  char            *key;
  GCancellable    *cancellable;
  GQueue           waiters;      /* (element-type Waiter), guarded by lock->mutex */
  /* Callers with no cancellable: nothing but their task, chained through
   * its task data (see plain_push()); guarded by lock->mutex. */
  GTask           *plain_head;
  GTask           *plain_tail;
};

typedef struct
{
  gatomicrefcount  ref_count;
  GTask           *task;
  GCancellable    *cancellable;
  gulong           cancelled_id;  /* guarded by lock->mutex */
  Execution       *execution;
  GList            link;          /* in execution->waiters, guarded by lock->mutex */
  gint             done;          /* atomic: finished exactly once */
} Waiter;

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

  g_assert (g_queue_is_empty (&exec->waiters));
  g_assert (exec->plain_head == NULL);
  g_object_unref (exec->cancellable);
  g_object_unref (exec->lock);
  g_free (exec->key);
  g_free (exec);
}

static Waiter *
waiter_ref (Waiter *waiter)
{
  g_atomic_ref_count_inc (&waiter->ref_count);
  return waiter;
}

static void
waiter_unref (gpointer data)
{
  Waiter *waiter = data;

  if (!g_atomic_ref_count_dec (&waiter->ref_count))
    return;

  g_clear_pointer (&waiter->execution, execution_unref);
  g_clear_object (&waiter->cancellable);
  g_object_unref (waiter->task);
  g_free (waiter);
}

/* Claims the right to finish @waiter: true for exactly one caller. Drops
 * the cancellation handler, unless we are inside it. */
static gboolean
waiter_claim (Waiter   *waiter,
              gboolean  in_handler)
{
  SaLock *self = waiter->execution->lock;
  gulong id;

  if (!g_atomic_int_compare_and_exchange (&waiter->done, 0, 1))
    return FALSE;

  if (in_handler || waiter->cancellable == NULL)
    return TRUE;

  g_mutex_lock (&self->mutex);
  id = waiter->cancelled_id;
  waiter->cancelled_id = 0;
  g_mutex_unlock (&self->mutex);

  /* Outside the mutex: a handler running now on another thread takes it. */
  if (id != 0)
    g_cancellable_disconnect (waiter->cancellable, id);

  return TRUE;
}

static void
waiter_cancelled_cb (GCancellable *cancellable,
                     gpointer      user_data)
{
  Waiter *waiter = user_data;
  Execution *exec = waiter->execution;
  SaLock *self = exec->lock;
  gboolean last = FALSE;

  if (!waiter_claim (waiter, TRUE))
    return;

  g_mutex_lock (&self->mutex);
  if (waiter->link.data != NULL)
    {
      g_queue_unlink (&exec->waiters, &waiter->link);
      waiter->link.data = NULL;
      /* Callers with no cancellable never leave. */
      last = g_queue_is_empty (&exec->waiters) && exec->plain_head == NULL;
      waiter_unref (waiter);   /* the queue's reference; the handler holds one */
    }
  g_mutex_unlock (&self->mutex);

  /* Nobody is left to want the result. */
  if (last)
    g_cancellable_cancel (exec->cancellable);

  g_task_return_new_error (waiter->task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                           "Operation was cancelled");
}

/* Takes every waiter of @exec out of its queue; the caller owns them. */
static GList *
execution_steal_waiters (Execution *exec)
{
  GList *stolen = NULL;
  GList *link;

  while ((link = g_queue_pop_head_link (&exec->waiters)) != NULL)
    {
      Waiter *waiter = link->data;

      link->data = NULL;
      stolen = g_list_prepend (stolen, waiter);
    }

  return stolen;
}

/* A caller with no cancellable cannot leave its execution early, so it
 * needs no Waiter: its own task, which the lock created and nobody else
 * has seen the data of, links to the next one through its task data. A
 * waiter then weighs its GTask and nothing more. FIFO, under the mutex. */
static void
plain_push (Execution *exec,
            GTask     *task)
{
  g_task_set_task_data (task, NULL, NULL);
  if (exec->plain_tail != NULL)
    g_task_set_task_data (exec->plain_tail, task, NULL);
  else
    exec->plain_head = task;
  exec->plain_tail = task;
}

/* Takes the chain out of @exec; the caller owns the tasks' references. */
static GTask *
plain_steal (Execution *exec)
{
  GTask *head = exec->plain_head;

  exec->plain_head = exec->plain_tail = NULL;

  return head;
}

/* Unlinks @task, hands back the next one, and leaves the task data empty
 * before the caller sees the task. */
static GTask *
plain_next (GTask *task)
{
  GTask *next = g_task_get_task_data (task);

  g_task_set_task_data (task, NULL, NULL);

  return next;
}

static void
execution_done (GObject      *source_object,
                GAsyncResult *result,
                gpointer      user_data)
{
  Execution *exec = user_data;
  SaLock *self = exec->lock;
  GValue value = G_VALUE_INIT;
  g_autoptr(GError) error = NULL;
  GTask *plain;
  gboolean ok;
  GList *waiters;

  {
    g_autoptr(GTask) holder = _sa_dispatcher_result_task (result, &error);

    ok = holder != NULL && g_task_propagate_value (holder, &value, &error);
  }

  g_mutex_lock (&self->mutex);
  if (self->recent == exec)
    self->recent = NULL;
  if (g_hash_table_lookup (self->executions, exec->key) == exec)
    g_hash_table_remove (self->executions, exec->key);
  waiters = execution_steal_waiters (exec);
  plain = plain_steal (exec);
  g_mutex_unlock (&self->mutex);

  /* Taken out under the mutex, each caller is ours alone to finish. */
  while (plain != NULL)
    {
      GTask *task = plain;

      plain = plain_next (task);
      if (ok)
        g_task_return_value (task, &value);
      else
        g_task_return_error (task, g_error_copy (error));
      g_object_unref (task);
    }

  for (GList *l = waiters; l != NULL; l = l->next)
    {
      Waiter *waiter = l->data;

      if (waiter_claim (waiter, FALSE))
        {
          if (ok)
            g_task_return_value (waiter->task, &value);
          else
            g_task_return_error (waiter->task, g_error_copy (error));
        }
      waiter_unref (waiter);
    }
  g_list_free (waiters);

  if (ok)
    g_value_unset (&value);
  execution_unref (exec);
}

static void
execution_start (Execution   *exec,
                 SaOperation *operation)
{
  g_autoptr(GTask) task = NULL;

  task = sa_dispatcher_call (exec->lock->dispatcher, operation, SA_CALL_MODE_ASYNC,
                             exec->cancellable, execution_done, execution_ref (exec));
}

/* The executor thread runs executions that sync callers start. */
typedef struct
{
  Execution   *exec;
  SaOperation *operation;
} StartData;

static gboolean
executor_start_cb (gpointer user_data)
{
  StartData *data = user_data;

  execution_start (data->exec, data->operation);

  return G_SOURCE_REMOVE;
}

static void
start_data_free (gpointer user_data)
{
  StartData *data = user_data;

  execution_unref (data->exec);
  g_object_unref (data->operation);
  g_free (data);
}

static gpointer
executor_thread (gpointer user_data)
{
  GMainContext *context = user_data;
  GMainLoop *loop = g_main_loop_new (context, FALSE);

  g_main_context_push_thread_default (context);
  g_main_loop_run (loop);   /* for the life of the process */

  return NULL;
}

static GMainContext *
executor_context (void)
{
  static GMainContext *context;

  if (g_once_init_enter (&context))
    {
      GMainContext *ctx = g_main_context_new ();

      g_thread_unref (g_thread_new ("sa-lock-executor", executor_thread, ctx));
      g_once_init_leave (&context, ctx);
    }

  return context;
}

/* Adds the caller whose task is @task to the execution for @key, creating
 * and starting one if none is in flight. A caller with a cancellable gets
 * a Waiter, which its cancellation can take out of the execution; one
 * without is just its task. */
static void
join (SaLock       *self,
      const char   *key,
      SaOperation  *operation,
      GTask        *task,
      GCancellable *cancellable,
      gboolean      async_caller)
{
  Execution *exec;
  Waiter *waiter = NULL;
  gboolean start = FALSE;
  gulong id = 0;

  if (cancellable != NULL)
    {
      waiter = g_new0 (Waiter, 1);
      g_atomic_ref_count_init (&waiter->ref_count);
      waiter->task = g_object_ref (task);
      waiter->cancellable = g_object_ref (cancellable);
    }

  g_mutex_lock (&self->mutex);
  exec = self->recent;
  if (exec == NULL || g_strcmp0 (exec->key, key) != 0)
    exec = g_hash_table_lookup (self->executions, key);
  if (exec == NULL)
    {
      exec = g_new0 (Execution, 1);
      g_atomic_ref_count_init (&exec->ref_count);
      exec->lock = g_object_ref (self);
      exec->key = g_strdup (key);
      exec->cancellable = g_cancellable_new ();
      g_queue_init (&exec->waiters);
      g_hash_table_insert (self->executions, exec->key, exec);   /* the table's reference */
      start = TRUE;
      __atomic_fetch_add (&self->n_executions, 1, __ATOMIC_RELAXED);
    }
  else
    {
      __atomic_fetch_add (&self->n_coalesced, 1, __ATOMIC_RELAXED);
    }
  self->recent = exec;
  if (waiter == NULL)
    {
      plain_push (exec, g_object_ref (task));
    }
  else
    {
      waiter->execution = execution_ref (exec);
      waiter->link.data = waiter_ref (waiter);
      g_queue_push_tail_link (&exec->waiters, &waiter->link);
    }
  g_mutex_unlock (&self->mutex);

  if (waiter != NULL)
    {
      /* Runs the handler at once if already cancelled, and returns 0. */
      id = g_cancellable_connect (cancellable, G_CALLBACK (waiter_cancelled_cb),
                                  waiter_ref (waiter), waiter_unref);
      if (id != 0)
        {
          gboolean finished;

          g_mutex_lock (&self->mutex);
          finished = g_atomic_int_get (&waiter->done);
          if (!finished)
            waiter->cancelled_id = id;
          g_mutex_unlock (&self->mutex);

          /* Finished before the handler was recorded: nobody else will
           * drop it. */
          if (finished)
            g_cancellable_disconnect (cancellable, id);
        }
      waiter_unref (waiter);
    }

  if (!start)
    return;

  if (async_caller)
    {
      execution_start (exec, operation);
    }
  else
    {
      StartData *data = g_new0 (StartData, 1);

      data->exec = execution_ref (exec);
      data->operation = g_object_ref (operation);
      g_main_context_invoke_full (executor_context (), G_PRIORITY_DEFAULT,
                                  executor_start_cb, data, start_data_free);
    }
}

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

static void
table_value_free (gpointer data)
{
  execution_unref (data);
}

static void
sa_lock_finalize (GObject *object)
{
  SaLock *self = SA_LOCK (object);

  /* Executions hold the lock: none is in flight here. */
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
  self->executions = g_hash_table_new_full (key_hash, key_equal, NULL, table_value_free);
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
 * Gets how many executions are in flight now, one per key at most.
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
 * @operation: the [class@Sa.Operation] to run if no execution for @key is
 *   in flight; it completes with `g_task_return_value()`
 * @mode: [enum@Sa.CallMode.AUTO] to follow the dispatcher, or a mode for
 *   this call
 * @cancellable: (nullable): a [class@Gio.Cancellable] for this caller
 * @callback: (scope async) (nullable) (closure user_data): called once
 *   with this caller's result: before this function returns for a sync
 *   caller, on the caller's thread-default context for an async caller
 * @user_data: data for @callback
 *
 * The smart call: joins the execution in flight for @key, or starts one.
 * For a sync caller the returned task holds the result already; for an
 * async caller it is pending and completes on the caller's thread-default
 * context. Either way it is this caller's own task: read it with
 * [method@Sa.Lock.call_finish] or `g_task_propagate_value()`. Until it
 * completes, its task data belongs to the lock; leave it alone.
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
  gboolean async_caller;
  SaBridge *bridge = NULL;
  GTask *task;

  g_return_val_if_fail (SA_IS_LOCK (self), NULL);
  g_return_val_if_fail (SA_IS_OPERATION (operation), NULL);
  g_return_val_if_fail (mode <= SA_CALL_MODE_ASYNC, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);

  async_caller = _sa_dispatcher_caller_is_async (self->dispatcher, mode);

  if (async_caller)
    {
      task = g_task_new (self, cancellable, callback, user_data);
    }
  else
    {
      /* A sync caller waits for its own task on its private context. */
      bridge = _sa_bridge_new_full (NULL, 0, FALSE, NULL);
      task = g_task_new (self, cancellable, sa_bridge_callback, bridge);
      _sa_bridge_attach (bridge, task);
    }
  _sa_task_set_tag (task, sa_lock_call);

  if (cancellable == NULL || !g_task_return_error_if_cancelled (task))
    join (self, key, operation, task, cancellable, async_caller);

  if (bridge != NULL)
    {
      GAsyncResult *result = sa_bridge_wait (bridge, NULL);

      g_assert (result == G_ASYNC_RESULT (task));
      g_object_unref (result);
      sa_bridge_unref (bridge);
      if (callback != NULL)
        callback (G_OBJECT (self), G_ASYNC_RESULT (task), user_data);
    }

  return task;
}

/**
 * sa_lock_call_async:
 * @self: a [class@Sa.Lock]
 * @key: (nullable): the key that names the work
 * @operation: the [class@Sa.Operation] to run if no execution for @key is
 *   in flight
 * @cancellable: (nullable): a [class@Gio.Cancellable] for this caller
 * @callback: (scope async) (nullable) (closure user_data): called once, on
 *   the caller's thread-default context, with this caller's result
 * @user_data: data for @callback
 *
 * Joins or starts the execution for @key as an async caller, whatever the
 * calling thread. Finish with [method@Sa.Lock.call_finish].
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

  g_object_unref (sa_lock_call (self, key, operation, SA_CALL_MODE_ASYNC,
                                cancellable, callback, user_data));
}

/**
 * sa_lock_call_finish:
 * @self: a [class@Sa.Lock]
 * @result: the [iface@Gio.AsyncResult] handed to the callback
 * @error: return location for a [struct@GLib.Error]
 *
 * Finishes a call of [method@Sa.Lock.call_async] or [method@Sa.Lock.call].
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
  g_return_val_if_fail (SA_IS_LOCK (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return _sa_task_propagate_new_value (G_TASK (result), error);
}

/**
 * sa_lock_call_sync:
 * @self: a [class@Sa.Lock]
 * @key: (nullable): the key that names the work
 * @operation: the [class@Sa.Operation] to run if no execution for @key is
 *   in flight
 * @cancellable: (nullable): a [class@Gio.Cancellable] for this caller
 * @error: return location for a [struct@GLib.Error]
 *
 * Joins or starts the execution for @key as a sync caller, whatever the
 * calling thread, and waits for the result on this thread's private
 * context.
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

  g_return_val_if_fail (SA_IS_LOCK (self), NULL);
  g_return_val_if_fail (SA_IS_OPERATION (operation), NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  task = sa_lock_call (self, key, operation, SA_CALL_MODE_SYNC, cancellable, NULL, NULL);

  return sa_lock_call_finish (self, G_ASYNC_RESULT (task), error);
}

/**
 * sa_lock_reset:
 * @self: a [class@Sa.Lock]
 *
 * Cancels every execution in flight and fails every caller still waiting
 * with `G_IO_ERROR_CANCELLED`, exactly once each. The executions finish in
 * their own time, with nobody left to tell; a call made after this starts
 * a new execution. Safe from any thread, including from inside an
 * operation or a callback.
 *
 * Since: 1.0
 */
void
sa_lock_reset (SaLock *self)
{
  GPtrArray *executions;
  GPtrArray *plain;
  GList *waiters = NULL;
  GHashTableIter iter;
  gpointer value;

  g_return_if_fail (SA_IS_LOCK (self));

  executions = g_ptr_array_new_with_free_func ((GDestroyNotify) execution_unref);
  plain = g_ptr_array_new ();

  g_mutex_lock (&self->mutex);
  self->recent = NULL;
  g_hash_table_iter_init (&iter, self->executions);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Execution *exec = value;

      waiters = g_list_concat (execution_steal_waiters (exec), waiters);
      for (GTask *task = plain_steal (exec); task != NULL; )
        {
          GTask *next = plain_next (task);

          g_ptr_array_add (plain, task);
          task = next;
        }
      g_ptr_array_add (executions, exec);   /* takes the table's reference */
      g_hash_table_iter_steal (&iter);
    }
  g_mutex_unlock (&self->mutex);

  for (guint i = 0; i < executions->len; i++)
    g_cancellable_cancel (((Execution *) g_ptr_array_index (executions, i))->cancellable);

  for (guint i = 0; i < plain->len; i++)
    {
      GTask *task = g_ptr_array_index (plain, i);

      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                               "Cancelled by a reset of the lock");
      g_object_unref (task);
    }
  g_ptr_array_unref (plain);
  for (GList *l = waiters; l != NULL; l = l->next)
    {
      Waiter *waiter = l->data;

      if (waiter_claim (waiter, FALSE))
        g_task_return_new_error (waiter->task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                 "Cancelled by a reset of the lock");
      waiter_unref (waiter);
    }
  g_list_free (waiters);
  g_ptr_array_unref (executions);
}
