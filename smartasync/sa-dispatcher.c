/* sa-dispatcher.c: carries out an operation in the cell its caller needs
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "sa-bridge-private.h"
#include "sa-context.h"
#include "sa-context-private.h"
#include "sa-dispatcher.h"
#include "sa-dispatcher-private.h"
#include "sa-enum-types.h"
#include "sa-error.h"
#include "sa-operation-private.h"
#include "sa-task-private.h"

/**
 * SaDispatcher:
 *
 * Decides, at every call, how an [class@Sa.Operation] is carried out for
 * the thread that calls, and carries it out:
 *
 * | caller | operation    | what happens |
 * |--------|--------------|--------------|
 * | sync   | non-blocking | runs to completion on the calling thread's private [struct@GLib.MainContext], pushed as thread-default and iterated until the operation completes; the result is there when the call returns |
 * | sync   | blocking     | a direct call on the calling thread |
 * | async  | non-blocking | started on the caller's thread-default context; a pending [class@Gio.Task] is returned |
 * | async  | blocking     | run on a worker thread; a pending [class@Gio.Task] is returned and its callback runs on the caller's context |
 *
 * An *async caller* is a thread that owns its thread-default main context
 * (the global default one when none is pushed): it is inside a
 * [struct@GLib.MainLoop], a [class@Gio.Application] or a GTK callback, or
 * has acquired the context. Any other thread is a *sync caller*: `main()`
 * of a command-line tool before any loop runs, a [struct@GLib.Thread], a
 * [class@Gio.Task] or [struct@GLib.ThreadPool] worker. This is decided
 * afresh at every call, on the calling thread, by
 * [func@Sa.caller_is_async]; nothing is cached, so any thread may call at
 * any time. Inside the body of a blocking operation run by the library, a
 * caller is a sync caller. [property@Sa.Dispatcher:mode] and the mode of a
 * call override the detection.
 *
 * The private context of a sync call belongs to the calling thread and to
 * the nesting depth of the call; it is reused by every later sync call at
 * that depth and freed when the thread exits or at
 * [func@Sa.reset_contexts]. The caller's own context and the global
 * default context are never iterated by a sync call, so no outer main
 * loop is re-entered and no unrelated callback of the application runs
 * meanwhile. A sync call made from inside another one's operation gets a
 * context of its own.
 *
 * [method@Sa.Dispatcher.call] is the smart call: it returns a
 * [class@Gio.Task] that holds the result already for a sync caller and is
 * pending for an async caller. The conventional GIO forms are
 * [method@Sa.Dispatcher.call_async], [method@Sa.Dispatcher.call_finish]
 * and [method@Sa.Dispatcher.call_sync].
 *
 * A callback, when given, runs exactly once: for an async caller on its
 * thread-default context, never from inside the call itself; for a sync
 * caller before the call returns. Errors reach the caller unchanged
 * (domain, code and message). A cancellable is honoured in every cell:
 * cancelled before the call, the operation is not run at all and the
 * result is `G_IO_ERROR_CANCELLED`; cancelled while it runs, the
 * operation is handed the cancellation, and the result is
 * `G_IO_ERROR_CANCELLED` even if it completes anyway.
 *
 * ## Sources left behind
 *
 * An operation owns the sources it adds. One that a non-blocking
 * operation leaves attached to the private context after completing (a
 * timeout it never removed, say) stays on that context: it is not
 * dispatched while the thread does anything else, it may be dispatched
 * during a later sync call of the same thread at the same depth, and it
 * is destroyed with the context, when the thread exits or at
 * [func@Sa.reset_contexts].
 *
 * ## Timeouts
 *
 * With [property@Sa.Dispatcher:timeout] set, a call that has not completed
 * in time is given up: the operation's cancellable is cancelled and the
 * caller gets `G_IO_ERROR_TIMED_OUT` at once, even when the operation can
 * never complete (because it waits for a context that nobody iterates,
 * for instance the global default context while the main thread is
 * blocked in a sync call). The task that carries the timeout error is then
 * a new one, handed to the callback and, in a sync call, returned; the
 * operation's own task, whenever it completes, is dropped.
 *
 * ## Threads
 *
 * All methods are safe from any thread. [property@Sa.Dispatcher:max-threads]
 * set to a number gives the dispatcher a pool of its own of that many
 * threads for blocking operations; 0 uses the pool of
 * `g_task_run_in_thread()`. A blocking operation that calls a blocking
 * operation from its worker thread runs it directly on that worker, so
 * nested blocking calls never wait for a free pool thread.
 *
 * ## Debugging
 *
 * With [property@Sa.Dispatcher:debug] set, or the environment variable
 * `SA_DEBUG` set (to anything but `0`) when the dispatcher is created, each
 * call logs a message in the `Sa` log domain saying which cell it took.
 * Counters of calls per cell are kept always
 * ([method@Sa.Dispatcher.get_n_calls]).
 *
 * Since: 1.0
 */
struct _SaDispatcher
{
  GObject      parent_instance;

  GMutex       pool_lock;
  GThreadPool *pool;            /* atomic once created */
  guint        max_threads;     /* atomic */
  guint        timeout_ms;      /* atomic */
  gint         mode;            /* atomic SaCallMode */
  gint         debug;           /* atomic gboolean */

  guint64      n_calls[SA_N_CELLS];  /* atomic */
};

G_DEFINE_FINAL_TYPE (SaDispatcher, sa_dispatcher, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_MODE,
  PROP_MAX_THREADS,
  PROP_TIMEOUT,
  PROP_DEBUG,
  PROP_N_SYNC_NON_BLOCKING,
  PROP_N_SYNC_BLOCKING,
  PROP_N_ASYNC_NON_BLOCKING,
  PROP_N_ASYNC_BLOCKING,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static const char * const cell_names[SA_N_CELLS] = {
  [SA_CELL_SYNC_NON_BLOCKING]  = "sync caller, non-blocking operation: private context",
  [SA_CELL_SYNC_BLOCKING]      = "sync caller, blocking operation: direct call",
  [SA_CELL_ASYNC_NON_BLOCKING] = "async caller, non-blocking operation: caller's context",
  [SA_CELL_ASYNC_BLOCKING]     = "async caller, blocking operation: worker thread",
};

/* A call that needs state beyond its task: one that runs on a thread (the
 * worker needs the operation) or one with a timeout. Owned by the
 * operation's task, as qdata: the task data is the operation's own. */
typedef struct
{
  SaOperation         *operation;
  GAsyncReadyCallback  callback;
  gpointer             user_data;
  GCancellable        *caller_cancellable;
  gulong               cancelled_id;
  GSource             *timeout_source;
  guint                timeout_ms;
  gboolean             delivered;
} SaCall;

static GQuark
sa_call_quark (void)
{
  static GQuark quark;

  /* Idempotent: a race only looks the same string up twice. */
  if G_UNLIKELY (quark == 0)
    quark = g_quark_from_static_string ("sa-call");

  return quark;
}

static inline SaCall *
sa_call_get (GTask *task)
{
  return g_object_get_qdata (G_OBJECT (task), sa_call_quark ());
}

static void
sa_call_disarm (SaCall *call)
{
  if (call->timeout_source != NULL)
    {
      g_source_destroy (call->timeout_source);
      g_clear_pointer (&call->timeout_source, g_source_unref);
    }

  if (call->cancelled_id != 0)
    {
      g_cancellable_disconnect (call->caller_cancellable, call->cancelled_id);
      call->cancelled_id = 0;
    }
}

static void
sa_call_free (gpointer data)
{
  SaCall *call = data;

  sa_call_disarm (call);
  g_clear_object (&call->caller_cancellable);
  g_clear_object (&call->operation);
  g_free (call);
}

static inline gboolean
is_blocking (SaOperation *operation)
{
  return _sa_operation_get_kind (operation) == SA_OPERATION_KIND_BLOCKING;
}

static inline gboolean
caller_is_async (SaDispatcher *self,
                 SaCallMode    mode)
{
  if (mode == SA_CALL_MODE_AUTO)
    mode = g_atomic_int_get (&self->mode);

  if (mode == SA_CALL_MODE_SYNC)
    return FALSE;
  else if (mode == SA_CALL_MODE_ASYNC)
    return TRUE;
  else
    return sa_caller_is_async ();
}

gboolean
_sa_dispatcher_caller_is_async (SaDispatcher *self,
                                SaCallMode    mode)
{
  return caller_is_async (self, mode);
}

static inline SaCell
choose_cell (SaDispatcher *self,
             SaOperation  *operation,
             SaCallMode    mode)
{
  if (caller_is_async (self, mode))
    return is_blocking (operation) ? SA_CELL_ASYNC_BLOCKING : SA_CELL_ASYNC_NON_BLOCKING;
  else
    return is_blocking (operation) ? SA_CELL_SYNC_BLOCKING : SA_CELL_SYNC_NON_BLOCKING;
}

static void
run_blocking (SaOperation  *operation,
              GTask        *task,
              GCancellable *cancellable)
{
  gboolean was_blocking = _sa_context_set_blocking (TRUE);

  SA_OPERATION_GET_CLASS (operation)->run (operation, task, cancellable);
  _sa_context_set_blocking (was_blocking);
}

static void
start_non_blocking (SaOperation  *operation,
                    GTask        *task,
                    GCancellable *cancellable)
{
  /* Most callers are not inside a blocking body: then there is no mark
   * to lift and put back. */
  if G_LIKELY (!_sa_context_is_blocking ())
    {
      SA_OPERATION_GET_CLASS (operation)->start (operation, task, cancellable);
      return;
    }

  _sa_context_set_blocking (FALSE);
  SA_OPERATION_GET_CLASS (operation)->start (operation, task, cancellable);
  _sa_context_set_blocking (TRUE);
}

typedef struct
{
  SaOperation  *operation;
  GTask        *task;
  GCancellable *cancellable;
} StartArgs;

static void
start_from_kick (gpointer data)
{
  StartArgs *args = data;

  start_non_blocking (args->operation, args->task, args->cancellable);
}

static void
run_from_kick (gpointer data)
{
  StartArgs *args = data;

  run_blocking (args->operation, args->task, args->cancellable);
}

/* Runs a task's completion on the private context, so that the task is
 * complete (its callback has run) without touching the caller's context. */
static GTask *
completed_error_task (SaDispatcher *self,
                      GError       *error)
{
  SaBridge *bridge = _sa_bridge_new_full (NULL, 0, FALSE, NULL);
  g_autoptr(GTask) task = g_task_new (self, NULL, sa_bridge_callback, bridge);
  GAsyncResult *result;

  _sa_task_set_tag (task, sa_dispatcher_call);
  _sa_bridge_attach (bridge, task);
  sa_bridge_unref (bridge);
  g_task_return_error (task, error);
  result = sa_bridge_wait (bridge, NULL);
  g_assert (result == G_ASYNC_RESULT (task));

  return G_TASK (result);
}

static GTask *
call_sync (SaDispatcher        *self,
           SaOperation         *operation,
           SaCell               cell,
           GCancellable        *cancellable,
           GAsyncReadyCallback  callback,
           gpointer             user_data)
{
  guint timeout_ms = g_atomic_int_get (&self->timeout_ms);
  g_autoptr(GError) error = NULL;
  SaBridge on_stack;
  SaBridge *bridge;
  StartArgs args;
  GCancellable *op_cancellable;
  GTask *task;
  GAsyncResult *result;

  if (timeout_ms == 0)
    {
      /* Without a timeout the wait ends only with the result, so the
       * bridge cannot outlive this frame. */
      bridge = &on_stack;
      _sa_bridge_init (bridge, cancellable, 0, FALSE, NULL);
    }
  else
    {
      bridge = _sa_bridge_new_full (cancellable, timeout_ms, FALSE,
                                    sa_operation_get_name (operation));
    }
  op_cancellable = bridge->cancellable;
  task = g_task_new (self, op_cancellable, sa_bridge_callback, bridge);
  _sa_task_set_tag (task, sa_dispatcher_call);
  /* With a timeout, the task keeps the bridge alive for as long as it may
   * call it back, even after the wait gave up on it. */
  if (timeout_ms != 0)
    _sa_bridge_attach (bridge, task);

  if (!g_task_return_error_if_cancelled (task))
    {
      /* Run or started from a dispatch of the private context: a task
       * the operation completes at once then calls back at once, with no
       * idle source and no poll. */
      args = (StartArgs) { operation, task, op_cancellable };
      if (cell == SA_CELL_SYNC_BLOCKING)
        {
          /* The body runs in the first iteration, and whatever it left
           * ready in the ones after; a body that completed nothing by
           * then never will. */
          _sa_context_kick (bridge->kick, run_from_kick, &args);
          if (!_sa_bridge_drain (bridge))
            g_task_return_new_error (task, SA_ERROR, SA_ERROR_NO_RESULT,
                                     "Blocking operation “%s” returned without completing its task",
                                     sa_operation_get_name (operation));
        }
      else
        {
          _sa_context_kick (bridge->kick, start_from_kick, &args);
        }
    }

  /* The wait withdraws the kick if it ended first (a timeout), before
   * @args goes. */
  result = _sa_bridge_wait (bridge, &error);
  if (bridge == &on_stack)
    _sa_bridge_clear (bridge);
  else
    sa_bridge_unref (bridge);
  g_object_unref (task);

  if (result == NULL)
    result = G_ASYNC_RESULT (completed_error_task (self, g_steal_pointer (&error)));

  if (callback != NULL)
    callback (G_OBJECT (self), result, user_data);

  return G_TASK (result);
}

static void
timed_task_done (GObject      *source_object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  SaCall *call = sa_call_get (G_TASK (result));

  if (call->delivered)
    return;   /* the timeout answered already */

  call->delivered = TRUE;
  sa_call_disarm (call);

  if (call->callback != NULL)
    call->callback (source_object, result, call->user_data);
}

static gboolean
timeout_cb (gpointer user_data)
{
  GTask *task = user_data;
  SaCall *call = sa_call_get (task);
  g_autoptr(GTask) timed_out = NULL;

  g_clear_pointer (&call->timeout_source, g_source_unref);
  if (call->delivered)
    return G_SOURCE_REMOVE;

  call->delivered = TRUE;
  g_cancellable_cancel (g_task_get_cancellable (task));

  timed_out = g_task_new (g_task_get_source_object (task), NULL,
                          call->callback, call->user_data);
  _sa_task_set_tag (timed_out, sa_dispatcher_call);
  g_task_return_new_error (timed_out, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                           "Operation “%s” did not complete within %u ms",
                           sa_operation_get_name (call->operation),
                           call->timeout_ms);

  return G_SOURCE_REMOVE;
}

static void
caller_cancelled_cb (GCancellable *caller_cancellable,
                     gpointer      user_data)
{
  g_cancellable_cancel (user_data);
}

/* A call bound for a worker carries its operation to it: as an SaCall when
 * it has one (a timeout), otherwise, to spare two allocations per call, in
 * the task data, which is cleared before the operation's body runs and so
 * is still the operation's own to use there. The reference taken here is
 * the worker's to drop (the body always runs, cancelled or not): one
 * atomic operation on each side of the hop, where the operation object is
 * shared by every call in flight. */
static void
carry_operation (GTask       *task,
                 SaOperation *operation)
{
  g_task_set_task_data (task, g_object_ref (operation), NULL);
}

static SaOperation *
take_operation (GTask *task)
{
  SaOperation *operation = g_task_get_task_data (task);

  if (operation != NULL)
    {
      g_task_set_task_data (task, NULL, NULL);
      return operation;   /* carry_operation()'s reference */
    }

  return g_object_ref (sa_call_get (task)->operation);
}

static void
thread_func (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  g_autoptr(SaOperation) operation = take_operation (task);

  run_blocking (operation, task, cancellable);
}

static void
pool_func (gpointer data,
           gpointer pool_data)
{
  g_autoptr(GTask) task = data;
  g_autoptr(SaOperation) operation = take_operation (task);

  if (!g_task_return_error_if_cancelled (task))
    run_blocking (operation, task, g_task_get_cancellable (task));
}

static GThreadPool *
get_pool (SaDispatcher *self)
{
  if (g_atomic_int_get (&self->max_threads) == 0)
    return NULL;

  return g_atomic_pointer_get (&self->pool);
}

static GTask *
call_async (SaDispatcher        *self,
            SaOperation         *operation,
            SaCell               cell,
            GCancellable        *cancellable,
            GAsyncReadyCallback  callback,
            gpointer             user_data)
{
  guint timeout_ms = g_atomic_int_get (&self->timeout_ms);
  g_autoptr(GCancellable) own_cancellable = NULL;
  GCancellable *op_cancellable = cancellable;
  GThreadPool *pool;
  SaCall *call = NULL;
  GTask *task;

  if (timeout_ms == 0 && cell == SA_CELL_ASYNC_NON_BLOCKING)
    {
      /* The common case needs nothing but the task. */
      task = g_task_new (self, cancellable, callback, user_data);
      _sa_task_set_tag (task, sa_dispatcher_call);
      if (cancellable == NULL || !g_task_return_error_if_cancelled (task))
        start_non_blocking (operation, task, cancellable);
      return task;
    }

  if (timeout_ms == 0)
    {
      /* A blocking operation, bound for a worker. */
      task = g_task_new (self, cancellable, callback, user_data);
    }
  else
    {
      call = g_new0 (SaCall, 1);
      call->operation = g_object_ref (operation);
      call->callback = callback;
      call->user_data = user_data;
      call->timeout_ms = timeout_ms;

      /* The operation gets a cancellable of its own, cancelled by the
       * caller's and by the timeout. */
      own_cancellable = g_cancellable_new ();
      op_cancellable = own_cancellable;
      task = g_task_new (self, op_cancellable, timed_task_done, NULL);
      g_object_set_qdata_full (G_OBJECT (task), sa_call_quark (), call, sa_call_free);

      if (cancellable != NULL)
        {
          call->caller_cancellable = g_object_ref (cancellable);
          call->cancelled_id = g_cancellable_connect (cancellable,
                                                      G_CALLBACK (caller_cancelled_cb),
                                                      g_object_ref (op_cancellable),
                                                      g_object_unref);
        }

      call->timeout_source = g_timeout_source_new (timeout_ms);
      g_source_set_name (call->timeout_source, "[smartasync] call timeout");
      g_source_set_callback (call->timeout_source, timeout_cb,
                             g_object_ref (task), g_object_unref);
      g_source_attach (call->timeout_source, g_task_get_context (task));
    }

  _sa_task_set_tag (task, sa_dispatcher_call);

  if (op_cancellable != NULL && g_task_return_error_if_cancelled (task))
    return task;

  if (cell == SA_CELL_ASYNC_NON_BLOCKING)
    {
      start_non_blocking (operation, task, op_cancellable);
      return task;
    }

  /* From here on the worker's body runs, cancelled or not, and drops
   * what is carried to it. */
  if (call == NULL)
    carry_operation (task, operation);
  if ((pool = get_pool (self)) != NULL)
    g_thread_pool_push (pool, g_object_ref (task), NULL);
  else
    g_task_run_in_thread (task, thread_func);

  return task;
}

static void
trace_call (SaDispatcher *self,
            SaOperation  *operation,
            SaCell        cell)
{
  g_message ("dispatcher %p: “%s” on thread %p: %s",
             self, sa_operation_get_name (operation),
             (gpointer) g_thread_self (), cell_names[cell]);
}

static gboolean
env_debug (void)
{
  const char *value = g_getenv ("SA_DEBUG");

  return value != NULL && *value != '\0' && g_strcmp0 (value, "0") != 0;
}

static void
sa_dispatcher_finalize (GObject *object)
{
  SaDispatcher *self = SA_DISPATCHER (object);

  /* Every task holds the dispatcher, so no call is pending here. The last
   * reference may be dropped on one of the pool's own threads, which
   * therefore must not wait for the pool. */
  if (self->pool != NULL)
    g_thread_pool_free (self->pool, FALSE, FALSE);
  g_mutex_clear (&self->pool_lock);

  G_OBJECT_CLASS (sa_dispatcher_parent_class)->finalize (object);
}

static void
sa_dispatcher_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  SaDispatcher *self = SA_DISPATCHER (object);

  switch (prop_id)
    {
    case PROP_MODE:
      g_value_set_enum (value, sa_dispatcher_get_mode (self));
      break;

    case PROP_MAX_THREADS:
      g_value_set_uint (value, sa_dispatcher_get_max_threads (self));
      break;

    case PROP_TIMEOUT:
      g_value_set_uint (value, sa_dispatcher_get_timeout (self));
      break;

    case PROP_DEBUG:
      g_value_set_boolean (value, sa_dispatcher_get_debug (self));
      break;

    case PROP_N_SYNC_NON_BLOCKING:
    case PROP_N_SYNC_BLOCKING:
    case PROP_N_ASYNC_NON_BLOCKING:
    case PROP_N_ASYNC_BLOCKING:
      g_value_set_uint64 (value, sa_dispatcher_get_n_calls (self, prop_id - PROP_N_SYNC_NON_BLOCKING));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
sa_dispatcher_set_property (GObject      *object,
                            guint         prop_id,
                            const GValue *value,
                            GParamSpec   *pspec)
{
  SaDispatcher *self = SA_DISPATCHER (object);

  switch (prop_id)
    {
    case PROP_MODE:
      sa_dispatcher_set_mode (self, g_value_get_enum (value));
      break;

    case PROP_MAX_THREADS:
      sa_dispatcher_set_max_threads (self, g_value_get_uint (value));
      break;

    case PROP_TIMEOUT:
      sa_dispatcher_set_timeout (self, g_value_get_uint (value));
      break;

    case PROP_DEBUG:
      sa_dispatcher_set_debug (self, g_value_get_boolean (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
sa_dispatcher_class_init (SaDispatcherClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  static const char * const counter_names[SA_N_CELLS] = {
    "n-sync-non-blocking", "n-sync-blocking", "n-async-non-blocking", "n-async-blocking",
  };

  object_class->finalize = sa_dispatcher_finalize;
  object_class->get_property = sa_dispatcher_get_property;
  object_class->set_property = sa_dispatcher_set_property;

  /**
   * SaDispatcher:mode:
   *
   * How calls whose own mode is [enum@Sa.CallMode.AUTO] are carried out:
   * `AUTO` detects the caller at each call, `SYNC` and `ASYNC` override
   * the detection for every call.
   *
   * Since: 1.0
   */
  properties[PROP_MODE] =
    g_param_spec_enum ("mode", NULL, NULL,
                       SA_TYPE_CALL_MODE,
                       SA_CALL_MODE_AUTO,
                       (G_PARAM_READWRITE |
                        G_PARAM_EXPLICIT_NOTIFY |
                        G_PARAM_STATIC_STRINGS));

  /**
   * SaDispatcher:max-threads:
   *
   * The number of threads that run blocking operations for async callers
   * at most. 0 uses the shared pool of `g_task_run_in_thread()`; a number
   * gives the dispatcher a pool of its own, so that, say, a database with
   * four connections gets exactly four threads. Calls beyond the limit
   * wait in a queue.
   *
   * Since: 1.0
   */
  properties[PROP_MAX_THREADS] =
    g_param_spec_uint ("max-threads", NULL, NULL,
                       0, G_MAXINT, 0,
                       (G_PARAM_READWRITE |
                        G_PARAM_EXPLICIT_NOTIFY |
                        G_PARAM_STATIC_STRINGS));

  /**
   * SaDispatcher:timeout:
   *
   * How long a call may take, in milliseconds, before it is given up
   * with `G_IO_ERROR_TIMED_OUT` and its operation cancelled; 0 for no
   * limit. See "Timeouts" above.
   *
   * Since: 1.0
   */
  properties[PROP_TIMEOUT] =
    g_param_spec_uint ("timeout", NULL, NULL,
                       0, G_MAXUINT, 0,
                       (G_PARAM_READWRITE |
                        G_PARAM_EXPLICIT_NOTIFY |
                        G_PARAM_STATIC_STRINGS));

  /**
   * SaDispatcher:debug:
   *
   * Whether each call logs which cell it took. Defaults to whether the
   * environment variable `SA_DEBUG` is set.
   *
   * Since: 1.0
   */
  properties[PROP_DEBUG] =
    g_param_spec_boolean ("debug", NULL, NULL,
                          FALSE,
                          (G_PARAM_READWRITE |
                           G_PARAM_EXPLICIT_NOTIFY |
                           G_PARAM_STATIC_STRINGS));

  /**
   * SaDispatcher:n-sync-non-blocking:
   *
   * The number of calls that took the sync caller, non-blocking operation
   * cell. Not notified.
   *
   * Since: 1.0
   */
  /**
   * SaDispatcher:n-sync-blocking:
   *
   * The number of calls that took the sync caller, blocking operation
   * cell. Not notified.
   *
   * Since: 1.0
   */
  /**
   * SaDispatcher:n-async-non-blocking:
   *
   * The number of calls that took the async caller, non-blocking
   * operation cell. Not notified.
   *
   * Since: 1.0
   */
  /**
   * SaDispatcher:n-async-blocking:
   *
   * The number of calls that took the async caller, blocking operation
   * cell. Not notified.
   *
   * Since: 1.0
   */
  for (guint i = 0; i < SA_N_CELLS; i++)
    properties[PROP_N_SYNC_NON_BLOCKING + i] =
      g_param_spec_uint64 (counter_names[i], NULL, NULL,
                           0, G_MAXUINT64, 0,
                           (G_PARAM_READABLE |
                            G_PARAM_EXPLICIT_NOTIFY |
                            G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
sa_dispatcher_init (SaDispatcher *self)
{
  g_mutex_init (&self->pool_lock);
  self->debug = env_debug ();
}

/**
 * sa_dispatcher_new:
 *
 * Creates a dispatcher of one's own, to set a mode, a thread limit or a
 * timeout for some operations without changing the default one.
 *
 * Returns: (transfer full): a new [class@Sa.Dispatcher]
 *
 * Since: 1.0
 */
SaDispatcher *
sa_dispatcher_new (void)
{
  return g_object_new (SA_TYPE_DISPATCHER, NULL);
}

/**
 * sa_dispatcher_get_default:
 *
 * Gets the process-wide dispatcher, created on first use with the
 * default settings. Safe from any thread.
 *
 * Returns: (transfer none): the default [class@Sa.Dispatcher]
 *
 * Since: 1.0
 */
SaDispatcher *
sa_dispatcher_get_default (void)
{
  static SaDispatcher *default_dispatcher;

  if (g_once_init_enter (&default_dispatcher))
    g_once_init_leave (&default_dispatcher, sa_dispatcher_new ());

  return default_dispatcher;
}

/**
 * sa_dispatcher_get_mode:
 * @self: a [class@Sa.Dispatcher]
 *
 * Gets [property@Sa.Dispatcher:mode].
 *
 * Returns: the mode of calls that do not set their own
 *
 * Since: 1.0
 */
SaCallMode
sa_dispatcher_get_mode (SaDispatcher *self)
{
  g_return_val_if_fail (SA_IS_DISPATCHER (self), SA_CALL_MODE_AUTO);

  return g_atomic_int_get (&self->mode);
}

/**
 * sa_dispatcher_set_mode:
 * @self: a [class@Sa.Dispatcher]
 * @mode: a [enum@Sa.CallMode]
 *
 * Sets [property@Sa.Dispatcher:mode]. Calls already made are not
 * affected.
 *
 * Since: 1.0
 */
void
sa_dispatcher_set_mode (SaDispatcher *self,
                        SaCallMode    mode)
{
  g_return_if_fail (SA_IS_DISPATCHER (self));
  g_return_if_fail (mode <= SA_CALL_MODE_ASYNC);

  if ((SaCallMode) g_atomic_int_exchange (&self->mode, mode) != mode)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MODE]);
}

/**
 * sa_dispatcher_get_max_threads:
 * @self: a [class@Sa.Dispatcher]
 *
 * Gets [property@Sa.Dispatcher:max-threads].
 *
 * Returns: the thread limit, or 0 for the shared pool
 *
 * Since: 1.0
 */
guint
sa_dispatcher_get_max_threads (SaDispatcher *self)
{
  g_return_val_if_fail (SA_IS_DISPATCHER (self), 0);

  return g_atomic_int_get (&self->max_threads);
}

/**
 * sa_dispatcher_set_max_threads:
 * @self: a [class@Sa.Dispatcher]
 * @max_threads: the number of threads, or 0 for the shared pool
 *
 * Sets [property@Sa.Dispatcher:max-threads]. Blocking operations already
 * queued run in the pool they were queued in.
 *
 * Since: 1.0
 */
void
sa_dispatcher_set_max_threads (SaDispatcher *self,
                               guint         max_threads)
{
  g_return_if_fail (SA_IS_DISPATCHER (self));
  g_return_if_fail (max_threads <= G_MAXINT);

  g_mutex_lock (&self->pool_lock);
  if (max_threads == self->max_threads)
    {
      g_mutex_unlock (&self->pool_lock);
      return;
    }

  if (max_threads > 0)
    {
      if (self->pool == NULL)
        {
          /* Not exclusive: threads are borrowed from GLib's shared set
           * and the pool only bounds how many run at once. Creating a
           * non-exclusive pool cannot fail. */
          GThreadPool *pool = g_thread_pool_new (pool_func, NULL, (gint) max_threads, FALSE, NULL);

          g_atomic_pointer_set (&self->pool, pool);
        }
      else
        {
          g_thread_pool_set_max_threads (self->pool, (gint) max_threads, NULL);
        }
    }
  g_atomic_int_set (&self->max_threads, max_threads);
  g_mutex_unlock (&self->pool_lock);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MAX_THREADS]);
}

/**
 * sa_dispatcher_get_timeout:
 * @self: a [class@Sa.Dispatcher]
 *
 * Gets [property@Sa.Dispatcher:timeout].
 *
 * Returns: the timeout in milliseconds, or 0 for none
 *
 * Since: 1.0
 */
guint
sa_dispatcher_get_timeout (SaDispatcher *self)
{
  g_return_val_if_fail (SA_IS_DISPATCHER (self), 0);

  return g_atomic_int_get (&self->timeout_ms);
}

/**
 * sa_dispatcher_set_timeout:
 * @self: a [class@Sa.Dispatcher]
 * @timeout_ms: the timeout in milliseconds, or 0 for none
 *
 * Sets [property@Sa.Dispatcher:timeout], for calls made from now on.
 *
 * Since: 1.0
 */
void
sa_dispatcher_set_timeout (SaDispatcher *self,
                           guint         timeout_ms)
{
  g_return_if_fail (SA_IS_DISPATCHER (self));

  if ((guint) g_atomic_int_exchange (&self->timeout_ms, timeout_ms) != timeout_ms)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TIMEOUT]);
}

/**
 * sa_dispatcher_get_debug:
 * @self: a [class@Sa.Dispatcher]
 *
 * Gets [property@Sa.Dispatcher:debug].
 *
 * Returns: whether calls are traced
 *
 * Since: 1.0
 */
gboolean
sa_dispatcher_get_debug (SaDispatcher *self)
{
  g_return_val_if_fail (SA_IS_DISPATCHER (self), FALSE);

  return g_atomic_int_get (&self->debug);
}

/**
 * sa_dispatcher_set_debug:
 * @self: a [class@Sa.Dispatcher]
 * @debug: whether to trace calls
 *
 * Sets [property@Sa.Dispatcher:debug].
 *
 * Since: 1.0
 */
void
sa_dispatcher_set_debug (SaDispatcher *self,
                         gboolean      debug)
{
  g_return_if_fail (SA_IS_DISPATCHER (self));

  debug = !!debug;
  if (g_atomic_int_exchange (&self->debug, debug) != debug)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DEBUG]);
}

/**
 * sa_dispatcher_get_n_calls:
 * @self: a [class@Sa.Dispatcher]
 * @cell: a [enum@Sa.Cell]
 *
 * Gets how many calls of @self took @cell so far. Safe from any thread.
 *
 * Returns: the number of calls
 *
 * Since: 1.0
 */
guint64
sa_dispatcher_get_n_calls (SaDispatcher *self,
                           SaCell        cell)
{
  g_return_val_if_fail (SA_IS_DISPATCHER (self), 0);
  g_return_val_if_fail (cell < SA_N_CELLS, 0);

  return __atomic_load_n (&self->n_calls[cell], __ATOMIC_RELAXED);
}

/**
 * sa_dispatcher_choose_cell:
 * @self: a [class@Sa.Dispatcher]
 * @operation: a [class@Sa.Operation]
 * @mode: the mode of the call
 *
 * Tells which cell a call of @operation with @mode made now, on this
 * thread, would take. Nothing is run.
 *
 * Returns: the cell
 *
 * Since: 1.0
 */
SaCell
sa_dispatcher_choose_cell (SaDispatcher *self,
                           SaOperation  *operation,
                           SaCallMode    mode)
{
  g_return_val_if_fail (SA_IS_DISPATCHER (self), SA_CELL_SYNC_NON_BLOCKING);
  g_return_val_if_fail (SA_IS_OPERATION (operation), SA_CELL_SYNC_NON_BLOCKING);
  g_return_val_if_fail (mode <= SA_CALL_MODE_ASYNC, SA_CELL_SYNC_NON_BLOCKING);

  return choose_cell (self, operation, mode);
}

/**
 * sa_dispatcher_call:
 * @self: a [class@Sa.Dispatcher]
 * @operation: the [class@Sa.Operation] to carry out
 * @mode: [enum@Sa.CallMode.AUTO] to follow [property@Sa.Dispatcher:mode],
 *   or a mode for this call
 * @cancellable: (nullable): a [class@Gio.Cancellable]
 * @callback: (scope async) (nullable) (closure user_data): called once
 *   with the result: before this function returns for a sync caller, on
 *   the caller's thread-default context for an async caller
 * @user_data: data for @callback
 *
 * The smart call: carries out @operation in the cell that the calling
 * thread and the operation's kind call for (see [class@Sa.Dispatcher]).
 *
 * For a sync caller the returned task holds the result already (its
 * callback has run); for an async caller it is pending and completes on
 * the caller's thread-default context. Read the result with
 * `g_task_propagate_pointer()` and its siblings, matching the
 * `g_task_return_*()` the operation used, or with
 * [method@Sa.Dispatcher.call_finish]. The caller owns the returned
 * reference and may drop it at once: the call goes on and @callback still
 * runs. With a [property@Sa.Dispatcher:timeout] and @callback, read the
 * result from the task handed to @callback (see "Timeouts").
 *
 * Returns: (transfer full): the call's task
 *
 * Since: 1.0
 */
GTask *
sa_dispatcher_call (SaDispatcher        *self,
                    SaOperation         *operation,
                    SaCallMode           mode,
                    GCancellable        *cancellable,
                    GAsyncReadyCallback  callback,
                    gpointer             user_data)
{
  SaCell cell;

  g_return_val_if_fail (SA_IS_DISPATCHER (self), NULL);
  g_return_val_if_fail (SA_IS_OPERATION (operation), NULL);
  g_return_val_if_fail (mode <= SA_CALL_MODE_ASYNC, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);

  cell = choose_cell (self, operation, mode);
  __atomic_fetch_add (&self->n_calls[cell], 1, __ATOMIC_RELAXED);

  if G_UNLIKELY (g_atomic_int_get (&self->debug))
    trace_call (self, operation, cell);

  if (cell == SA_CELL_SYNC_NON_BLOCKING || cell == SA_CELL_SYNC_BLOCKING)
    return call_sync (self, operation, cell, cancellable, callback, user_data);
  else
    return call_async (self, operation, cell, cancellable, callback, user_data);
}

/**
 * sa_dispatcher_call_async:
 * @self: a [class@Sa.Dispatcher]
 * @operation: the [class@Sa.Operation] to carry out
 * @cancellable: (nullable): a [class@Gio.Cancellable]
 * @callback: (scope async) (nullable) (closure user_data): called once,
 *   on the caller's thread-default context, with the result
 * @user_data: data for @callback
 *
 * Carries out @operation as for an async caller, whatever the calling
 * thread: a non-blocking operation is started on the thread-default
 * context, a blocking one runs on a worker thread. The caller must iterate
 * its thread-default context for @callback to run; in it, call
 * [method@Sa.Dispatcher.call_finish].
 *
 * Since: 1.0
 */
void
sa_dispatcher_call_async (SaDispatcher        *self,
                          SaOperation         *operation,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (SA_IS_DISPATCHER (self));
  g_return_if_fail (SA_IS_OPERATION (operation));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = sa_dispatcher_call (self, operation, SA_CALL_MODE_ASYNC, cancellable, callback, user_data);
  g_object_unref (task);
}

/**
 * sa_dispatcher_call_finish:
 * @self: a [class@Sa.Dispatcher]
 * @result: the [iface@Gio.AsyncResult] of a call of @self
 * @error: return location for a [struct@GLib.Error]
 *
 * Finishes a call made with [method@Sa.Dispatcher.call_async] or
 * [method@Sa.Dispatcher.call], for an operation that completes with
 * `g_task_return_value()` (as operations written in other languages do)
 * or fails. An operation that completes with another `g_task_return_*()`
 * is read with the matching `g_task_propagate_*()` on @result instead.
 *
 * Returns: (transfer full): a new [struct@GObject.Value] with the result,
 *   to free with `g_boxed_free (G_TYPE_VALUE, value)`; %NULL with @error
 *   set if the operation failed, was cancelled or timed out
 *
 * Since: 1.0
 */
GValue *
sa_dispatcher_call_finish (SaDispatcher  *self,
                           GAsyncResult  *result,
                           GError       **error)
{
  g_return_val_if_fail (SA_IS_DISPATCHER (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return _sa_task_propagate_new_value (G_TASK (result), error);
}

/**
 * sa_dispatcher_call_sync:
 * @self: a [class@Sa.Dispatcher]
 * @operation: the [class@Sa.Operation] to carry out
 * @cancellable: (nullable): a [class@Gio.Cancellable]
 * @error: return location for a [struct@GLib.Error]
 *
 * Carries out @operation as for a sync caller, whatever the calling
 * thread, and returns when it has completed: a blocking operation is
 * called directly, a non-blocking one runs on the calling thread's private
 * context. Called from inside a running main loop, that loop is not
 * iterated meanwhile. Reads the result as
 * [method@Sa.Dispatcher.call_finish] does.
 *
 * Returns: (transfer full): a new [struct@GObject.Value] with the result;
 *   %NULL with @error set if the operation failed
 *
 * Since: 1.0
 */
GValue *
sa_dispatcher_call_sync (SaDispatcher  *self,
                         SaOperation   *operation,
                         GCancellable  *cancellable,
                         GError       **error)
{
  g_autoptr(GTask) task = NULL;

  g_return_val_if_fail (SA_IS_DISPATCHER (self), NULL);
  g_return_val_if_fail (SA_IS_OPERATION (operation), NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  task = sa_dispatcher_call (self, operation, SA_CALL_MODE_SYNC, cancellable, NULL, NULL);

  return sa_dispatcher_call_finish (self, G_ASYNC_RESULT (task), error);
}

/**
 * sa_dispatcher_run_in_thread:
 * @self: a [class@Sa.Dispatcher]
 * @func: (scope notified) (closure func_data) (destroy func_data_destroy):
 *   a blocking function that completes its task before returning
 * @func_data: data for @func
 * @func_data_destroy: (nullable): frees @func_data
 * @cancellable: (nullable): a [class@Gio.Cancellable]
 * @callback: (scope async) (nullable) (closure user_data): called once,
 *   on the caller's thread-default context, with the result
 * @user_data: data for @callback
 *
 * The thread bridge: runs any blocking function on a worker thread (the
 * dispatcher's own pool when [property@Sa.Dispatcher:max-threads] is set)
 * and hands its result to @callback on the caller's context. Finish with
 * [method@Sa.Dispatcher.call_finish] or `g_task_propagate_*()`.
 *
 * Since: 1.0
 */
void
sa_dispatcher_run_in_thread (SaDispatcher        *self,
                             SaOperationFunc      func,
                             gpointer             func_data,
                             GDestroyNotify       func_data_destroy,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_autoptr(SaOperation) operation = NULL;

  g_return_if_fail (SA_IS_DISPATCHER (self));
  g_return_if_fail (func != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  operation = sa_operation_new_blocking (func, func_data, func_data_destroy);
  sa_dispatcher_call_async (self, operation, cancellable, callback, user_data);
}
