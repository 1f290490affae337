/* sa-dispatcher.c: the SaDispatcher object: its properties and counters, the choice of cell, and the public calls
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "sa-call-task-private.h"
#include "sa-cell-private.h"
#include "sa-context.h"
#include "sa-dispatcher.h"
#include "sa-dispatcher-private.h"
#include "sa-enum-types.h"
#include "sa-error.h"
#include "sa-operation-private.h"
#include "sa-pool-private.h"

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
 * caller is a sync caller. A thread that pushes a context of its own
 * owns it, as GLib defines ownership, and is an async caller while it is
 * pushed: its calls return pending tasks that complete when it iterates
 * that context; [enum@Sa.CallMode.SYNC] gives it results directly.
 * [property@Sa.Dispatcher:mode] and the mode of a call override the
 * detection.
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
 * [method@Sa.Dispatcher.call_async] with the `call_finish` functions and
 * the `call_sync` functions.
 *
 * ## One contract in every cell
 *
 * A caller does not need to know which cell its call takes: every
 * situation ends the same way in each of them.
 *
 * | situation | every cell gives |
 * |-----------|------------------|
 * | a value | the value, through the callback, the returned task, the finish functions and the sync functions, in the `g_task_return_*()` form the operation used: pointer, boolean, int or [struct@GObject.Value] |
 * | an error | the same domain, code and message |
 * | a blocking body returns without completing its task | `SA_ERROR_NO_RESULT`, naming the operation |
 * | cancelled before the call | `G_IO_ERROR_CANCELLED`; the operation does not run |
 * | cancelled while running | the operation's cancellable fires; the caller gets `G_IO_ERROR_CANCELLED` at once, or, when the caller is the thread running the body (a sync caller's blocking operation), when the body returns |
 * | a timeout | `G_IO_ERROR_TIMED_OUT` after [property@Sa.Dispatcher:timeout], with the operation's cancellable cancelled; a sync caller's blocking body is cancelled at the timeout and the caller is answered when it returns |
 * | a late result, after a timeout or a cancellation | dropped and freed: no task, context, descriptor or memory is kept |
 * | reading the result | once: the task handed to the callback is the task returned; a second read fails with `SA_ERROR_FAILED` |
 * | a blocking body's thread-default context | its caller's own (a sync caller), or the worker's (an async caller); never the library's private one, so what the body binds there keeps working |
 * | nesting | a blocking body that calls anything runs a blocking operation inline and waits on its own private context for the rest; with a bounded pool, a pool thread that waits lets the pool run one more, so nothing waits for a thread its own kind holds |
 * | the callback | runs exactly once; for an async caller never inside the call |
 *
 * ## Reading results
 *
 * Read a call's result with the finish function of the form the operation
 * completed with: [method@Sa.Dispatcher.call_finish_value] (or
 * [method@Sa.Dispatcher.call_finish], which returns a new value),
 * [method@Sa.Dispatcher.call_finish_pointer],
 * [method@Sa.Dispatcher.call_finish_boolean] or
 * [method@Sa.Dispatcher.call_finish_int]. Reading one form as another is
 * a programmer error.
 *
 * The call's task is the operation's own task, in every cell: the one
 * returned, the one handed to the callback and the one the body
 * completes. So `g_task_propagate_pointer()`, `_boolean()`, `_int()` and
 * `_value()` read it as well, in the form the operation returned, as a
 * library's `foo_finish()` does (see [method@Sa.Dispatcher.call_full]).
 * They differ from the finish functions in two ways: they do not enforce
 * the read-once rule beyond GTask's own, and an async caller's call given
 * up at its timeout reads as `G_IO_ERROR_CANCELLED` with them (its task's
 * cancellable was cancelled), as `G_IO_ERROR_TIMED_OUT` with the finish
 * functions. A sync caller's task is complete when it is returned: it
 * reads as `G_IO_ERROR_TIMED_OUT` either way.
 *
 * ## What a sync call leaves behind
 *
 * Before a sync call returns, what its operation left ready on the
 * private context has run (without blocking, at most 100 iterations), as
 * a hand-written helper that empties its context does: GDBus, for one,
 * frees a signal subscription's user data that way. An operation owns the
 * sources it adds; one that is not ready (a timeout not due, a watch with
 * nothing to read) stays on the context: it may be dispatched during a
 * later sync call of the same thread at the same depth. When the thread
 * exits or at [func@Sa.reset_contexts], a context with such a source left
 * goes to the library's drain thread, which runs it when it becomes ready
 * and then frees the context: see "What a sync wait leaves behind" in
 * the threading guide (`docs/threading.md`).
 *
 * ## Timeouts and cancellation
 *
 * With [property@Sa.Dispatcher:timeout] set, a call that has not completed
 * in time is given up: the operation's cancellable is cancelled and the
 * caller gets `G_IO_ERROR_TIMED_OUT` at once, even when the operation can
 * never complete (because it waits for a context that nobody iterates,
 * for instance the global default context while the main thread is
 * blocked in a sync call). The caller's cancellable ends a call the same
 * way, with `G_IO_ERROR_CANCELLED`. An async caller's callback then runs
 * with the call's task while the operation may still hold it: the task
 * completes when the operation does, and that late completion is dropped
 * on the caller's context, where the call's references are released
 * (`g_task_get_completed()` is %FALSE in the callback, as ever, and may
 * stay so after it). For a blocking body, once nothing but the library
 * holds the task, the library's drain thread drops it instead, so that a
 * caller may stop iterating its context once its callback has run. A
 * non-blocking operation that lets go of the task of a call with a
 * timeout or a cancellable without completing it is
 * answered `SA_ERROR_NO_RESULT` once the caller has let go of it too. A
 * sync call given up that way leaves its private context to the
 * library's drain thread, one for the whole process, which iterates it
 * until the late completion has run, empties it and frees it; the
 * thread's next sync call gets a new context. An operation that never
 * completes its task keeps it, and so that context, for as long as it
 * does, without a thread of its own.
 *
 * ## Threads
 *
 * All methods are safe from any thread. Blocking operations of async
 * callers run on a pool of the dispatcher's own, bounded by
 * [property@Sa.Dispatcher:max-threads]. A blocking operation that calls a
 * blocking operation runs it directly on its worker; one that calls a
 * non-blocking one waits on the worker's private context, and while it
 * waits the pool may run one more thread. So nested calls never wait for
 * a thread that their own kind holds.
 *
 * The pool is the dispatcher's own, not GTask's, because GIO runs its own
 * blocking work (file I/O behind `g_file_load_contents_async()`, for one)
 * with `g_task_run_in_thread()`: bodies that hold every thread of GTask's
 * pool while waiting for such work stall until GTask grows its pool, by
 * one thread at a time. [property@Sa.Dispatcher:gtask-pool] still runs
 * blocking operations with `g_task_run_in_thread()` for those who want
 * them there.
 *
 * A blocking body run for an async caller keeps the guarantees of
 * `g_task_run_in_thread()`, on either pool:
 *
 * - the callback runs on the caller's thread-default context, after the
 *   body has returned, at the task's priority (a body that returned
 *   without completing its task is answered `SA_ERROR_NO_RESULT` there);
 * - everything the call holds (the task, an unread result, the
 *   operation and its data) is released on the caller's context, in the
 *   dispatch that runs the callback, or in a later one when the callback
 *   ran at a timeout or a cancellation before the body returned: no
 *   destroy notify, finalizer or callback runs on a pool thread or inside
 *   a source's `prepare()` or `check()`. So a context unreffed right after
 *   its last callback is freed, with its descriptor;
 * - queued bodies start in the order of their tasks' priorities, first
 *   in first out within one: give a call its priority with
 *   [method@Sa.Dispatcher.call_full]. A `g_task_set_priority()` on the
 *   returned task later is read when the body returns the task, as GTask
 *   reads it, so it reaches the callback only if it comes first, and it
 *   never moves the body in the queue (with
 *   [property@Sa.Dispatcher:gtask-pool] it is not read);
 * - nothing holds back a queued body while a thread is idle or may be
 *   started.
 *
 * The caller's thread never busy-waits. A pool thread may spin for a
 * while for the next call before it sleeps: see
 * [property@Sa.Dispatcher:busy-wait], off by default, and what it costs
 * and saves in the performance guide (`docs/performance.md`).
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

  GMutex       pool_lock;       /* guards creating and resizing the pool */
  gint         gtask_pool;      /* atomic gboolean */
  SaPool      *pool;            /* atomic once created */
  guint        max_threads;     /* atomic */
  guint        timeout_ms;      /* atomic */
  gint         mode;            /* atomic SaCallMode */
  gint         debug;           /* atomic gboolean */
  gint         busy_wait;       /* atomic gboolean */

  guint64      n_calls[SA_N_CELLS];  /* atomic */
};

G_DEFINE_FINAL_TYPE (SaDispatcher, sa_dispatcher, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_MODE,
  PROP_MAX_THREADS,
  PROP_TIMEOUT,
  PROP_DEBUG,
  PROP_GTASK_POOL,
  PROP_BUSY_WAIT,
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
    return _sa_operation_is_blocking (operation) ? SA_CELL_ASYNC_BLOCKING : SA_CELL_ASYNC_NON_BLOCKING;
  else
    return _sa_operation_is_blocking (operation) ? SA_CELL_SYNC_BLOCKING : SA_CELL_SYNC_NON_BLOCKING;
}

static inline gboolean
uses_gtask_pool (SaDispatcher *self)
{
  return g_atomic_int_get (&self->gtask_pool) && g_atomic_int_get (&self->max_threads) == 0;
}

SaPool *
_sa_dispatcher_get_pool (SaDispatcher *self)
{
  SaPool *pool;

  if (uses_gtask_pool (self))
    return NULL;

  pool = g_atomic_pointer_get (&self->pool);
  if G_LIKELY (pool != NULL)
    return pool;

  g_mutex_lock (&self->pool_lock);
  if ((pool = self->pool) == NULL)
    {
      pool = _sa_pool_new_full (self->max_threads, _sa_cell_offload_job);
      _sa_pool_set_busy_wait (pool, g_atomic_int_get (&self->busy_wait));
      g_atomic_pointer_set (&self->pool, pool);
    }
  g_mutex_unlock (&self->pool_lock);

  return pool;
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
env_flag (const char *name)
{
  const char *value = g_getenv (name);

  return value != NULL && *value != '\0' && g_strcmp0 (value, "0") != 0;
}

static void
sa_dispatcher_finalize (GObject *object)
{
  SaDispatcher *self = SA_DISPATCHER (object);

  /* Calls of sa_dispatcher_call_full() with another source object may
   * still be queued: the pool runs them, as they need nothing of the
   * dispatcher. The last reference may be dropped on one of the pool's
   * own threads, which therefore must not wait for the pool. */
  if (self->pool != NULL)
    _sa_pool_free (self->pool);
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

    case PROP_GTASK_POOL:
      g_value_set_boolean (value, sa_dispatcher_get_gtask_pool (self));
      break;

    case PROP_BUSY_WAIT:
      g_value_set_boolean (value, sa_dispatcher_get_busy_wait (self));
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

    case PROP_GTASK_POOL:
      sa_dispatcher_set_gtask_pool (self, g_value_get_boolean (value));
      break;

    case PROP_BUSY_WAIT:
      sa_dispatcher_set_busy_wait (self, g_value_get_boolean (value));
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
   * at most, so that, say, a database with four connections gets exactly
   * four threads; calls beyond the limit wait in a queue. 0 is the
   * default policy: as many as `g_task_run_in_thread()` runs (10, or twice
   * the processors if that is more), plus one for each of the pool's
   * threads that waits inside a nested sync call.
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
   * SaDispatcher:gtask-pool:
   *
   * Whether blocking operations of async callers run through
   * `g_task_run_in_thread()`, on the pool that GTask shares with GIO's own
   * work, rather than on the dispatcher's pool, when
   * [property@Sa.Dispatcher:max-threads] is 0. See "Threads" above for
   * why the dispatcher's pool is the default.
   *
   * Since: 1.0
   */
  properties[PROP_GTASK_POOL] =
    g_param_spec_boolean ("gtask-pool", NULL, NULL,
                          FALSE,
                          (G_PARAM_READWRITE |
                           G_PARAM_EXPLICIT_NOTIFY |
                           G_PARAM_STATIC_STRINGS));

  /**
   * SaDispatcher:busy-wait:
   *
   * Whether a thread of the dispatcher's pool that has just run a body
   * spins for up to 50 µs for the caller's next call before it sleeps
   * (spinning less after spins in vain, down to one chance in 64). Off by
   * default; `docs/performance.md` says what it saves and costs. The
   * caller's thread never spins. Defaults to whether the environment variable
   * `SA_BUSY_WAIT` is set (to anything but `0`) when the dispatcher is
   * created.
   *
   * Since: 1.0
   */
  properties[PROP_BUSY_WAIT] =
    g_param_spec_boolean ("busy-wait", NULL, NULL,
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
  self->debug = env_flag ("SA_DEBUG");
  self->busy_wait = env_flag ("SA_BUSY_WAIT");
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

  /* A pool not made yet is made with the limit in force then. */
  if (self->pool != NULL)
    _sa_pool_set_max_threads (self->pool, max_threads);
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
 * sa_dispatcher_get_gtask_pool:
 * @self: a [class@Sa.Dispatcher]
 *
 * Gets [property@Sa.Dispatcher:gtask-pool].
 *
 * Returns: whether blocking operations run with `g_task_run_in_thread()`
 *
 * Since: 1.0
 */
gboolean
sa_dispatcher_get_gtask_pool (SaDispatcher *self)
{
  g_return_val_if_fail (SA_IS_DISPATCHER (self), FALSE);

  return g_atomic_int_get (&self->gtask_pool);
}

/**
 * sa_dispatcher_set_gtask_pool:
 * @self: a [class@Sa.Dispatcher]
 * @gtask_pool: whether to run blocking operations with
 *   `g_task_run_in_thread()`
 *
 * Sets [property@Sa.Dispatcher:gtask-pool], for calls made from now on.
 *
 * Since: 1.0
 */
void
sa_dispatcher_set_gtask_pool (SaDispatcher *self,
                              gboolean      gtask_pool)
{
  g_return_if_fail (SA_IS_DISPATCHER (self));

  gtask_pool = !!gtask_pool;
  if (g_atomic_int_exchange (&self->gtask_pool, gtask_pool) != gtask_pool)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_GTASK_POOL]);
}

/**
 * sa_dispatcher_get_busy_wait:
 * @self: a [class@Sa.Dispatcher]
 *
 * Gets [property@Sa.Dispatcher:busy-wait].
 *
 * Returns: whether the pool's threads spin for the next call
 *
 * Since: 1.0
 */
gboolean
sa_dispatcher_get_busy_wait (SaDispatcher *self)
{
  g_return_val_if_fail (SA_IS_DISPATCHER (self), FALSE);

  return g_atomic_int_get (&self->busy_wait);
}

/**
 * sa_dispatcher_set_busy_wait:
 * @self: a [class@Sa.Dispatcher]
 * @busy_wait: whether the pool's threads spin for the next call
 *
 * Sets [property@Sa.Dispatcher:busy-wait].
 *
 * Since: 1.0
 */
void
sa_dispatcher_set_busy_wait (SaDispatcher *self,
                             gboolean      busy_wait)
{
  g_return_if_fail (SA_IS_DISPATCHER (self));

  busy_wait = !!busy_wait;
  g_mutex_lock (&self->pool_lock);
  if (g_atomic_int_exchange (&self->busy_wait, busy_wait) == busy_wait)
    {
      g_mutex_unlock (&self->pool_lock);
      return;
    }
  if (self->pool != NULL)
    _sa_pool_set_busy_wait (self->pool, busy_wait);
  g_mutex_unlock (&self->pool_lock);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BUSY_WAIT]);
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
 * the caller's thread-default context. @callback is handed this same
 * task. Read its result once, with the finish function that matches the
 * `g_task_return_*()` the operation used:
 * [method@Sa.Dispatcher.call_finish_pointer],
 * [method@Sa.Dispatcher.call_finish_boolean],
 * [method@Sa.Dispatcher.call_finish_int] or
 * [method@Sa.Dispatcher.call_finish_value]. A second read fails with
 * `SA_ERROR_FAILED`.
 *
 * The caller owns the returned reference and may drop it at once: the
 * call goes on, @callback still runs, and the result is freed unread.
 *
 * This is [method@Sa.Dispatcher.call_full] with @self as the source
 * object, `sa_dispatcher_call` as the source tag and an I/O priority of
 * `G_PRIORITY_DEFAULT`.
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
  return sa_dispatcher_call_full (self, operation, mode, self, sa_dispatcher_call,
                                  G_PRIORITY_DEFAULT, cancellable, callback, user_data);
}

/**
 * sa_dispatcher_call_full:
 * @self: a [class@Sa.Dispatcher]
 * @operation: the [class@Sa.Operation] to carry out
 * @mode: [enum@Sa.CallMode.AUTO] to follow [property@Sa.Dispatcher:mode],
 *   or a mode for this call
 * @source_object: (nullable) (type GObject): the source object of the
 *   call's task, or %NULL
 * @source_tag: (nullable): the source tag of the call's task, or %NULL
 * @io_priority: the I/O priority of the call, as in GIO (`G_PRIORITY_DEFAULT`
 *   for most calls)
 * @cancellable: (nullable): a [class@Gio.Cancellable]
 * @callback: (scope async) (nullable) (closure user_data): called once
 *   with the result: before this function returns for a sync caller, on
 *   the caller's thread-default context for an async caller
 * @user_data: data for @callback
 *
 * [method@Sa.Dispatcher.call] in the form a library uses to implement
 * GIO-style API on an operation written once: the call's task, the one
 * returned and the one handed to @callback, has @source_object (%NULL
 * stays %NULL), @source_tag and @io_priority, whatever the cell, the
 * cancellable or the timeout. So `g_task_is_valid (result, source_object)`
 * and `g_async_result_is_tagged (result, source_tag)` hold, and
 * `g_task_propagate_pointer()`, `_boolean()`, `_int()` or `_value()` read
 * the result in the form the operation returned it:
 *
 * ```c
 * void
 * foo_do_async (Foo *self, int io_priority, GCancellable *cancellable,
 *               GAsyncReadyCallback callback, gpointer user_data)
 * {
 *   g_autoptr(SaOperation) op = foo_do_operation_new (self);
 *
 *   g_object_unref (sa_dispatcher_call_full (self->dispatcher, op, SA_CALL_MODE_ASYNC,
 *                                            self, foo_do_async, io_priority,
 *                                            cancellable, callback, user_data));
 * }
 *
 * gboolean
 * foo_do_finish (Foo *self, GAsyncResult *result, GError **error)
 * {
 *   g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
 *   g_return_val_if_fail (g_async_result_is_tagged (result, foo_do_async), FALSE);
 *
 *   return g_task_propagate_boolean (G_TASK (result), error);
 * }
 *
 * gboolean
 * foo_do_sync (Foo *self, GCancellable *cancellable, GError **error)
 * {
 *   g_autoptr(SaOperation) op = foo_do_operation_new (self);
 *   g_autoptr(GTask) task = sa_dispatcher_call_full (self->dispatcher, op, SA_CALL_MODE_SYNC,
 *                                                    self, foo_do_async, G_PRIORITY_DEFAULT,
 *                                                    cancellable, NULL, NULL);
 *
 *   return foo_do_finish (self, G_ASYNC_RESULT (task), error);
 * }
 * ```
 *
 * For an async caller, the task's user data
 * ([method@Gio.AsyncResult.get_user_data]) is @user_data, as for a task
 * of GIO's own; a sync caller's task is complete when it is returned, and
 * @callback gets @user_data as its argument.
 *
 * @io_priority is the task's priority ([method@Gio.Task.set_priority]):
 * @callback is dispatched at it on the caller's context, and a blocking
 * operation queued for a worker thread starts before those of lower
 * priority, in the order of the calls within one priority.
 *
 * The `sa_dispatcher_call_finish*()` functions of @self read the result
 * as well, whatever its source object, under the read-once rule of
 * [method@Sa.Dispatcher.call]. A call given up at its timeout reads as
 * `G_IO_ERROR_TIMED_OUT` with those; with `g_task_propagate_*()`, an
 * async caller's reads as `G_IO_ERROR_CANCELLED`, since its task's
 * cancellable was cancelled, and a sync caller's as
 * `G_IO_ERROR_TIMED_OUT`.
 *
 * Returns: (transfer full): the call's task
 *
 * Since: 1.0
 */
GTask *
sa_dispatcher_call_full (SaDispatcher        *self,
                         SaOperation         *operation,
                         SaCallMode           mode,
                         gpointer             source_object,
                         gpointer             source_tag,
                         int                  io_priority,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  SaCallOrigin origin = { self, source_object, source_tag, io_priority };
  guint timeout_ms;
  GTask *task;
  SaCell cell;

  g_return_val_if_fail (SA_IS_DISPATCHER (self), NULL);
  g_return_val_if_fail (SA_IS_OPERATION (operation), NULL);
  g_return_val_if_fail (mode <= SA_CALL_MODE_ASYNC, NULL);
  g_return_val_if_fail (source_object == NULL || G_IS_OBJECT (source_object), NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);

  cell = choose_cell (self, operation, mode);
  __atomic_fetch_add (&self->n_calls[cell], 1, __ATOMIC_RELAXED);

  if G_UNLIKELY (g_atomic_int_get (&self->debug))
    trace_call (self, operation, cell);

  timeout_ms = g_atomic_int_get (&self->timeout_ms);
  switch (cell)
    {
    case SA_CELL_SYNC_NON_BLOCKING:
      task = _sa_cell_sync_non_blocking (&origin, operation, cancellable, timeout_ms,
                                     callback, user_data);
      break;
    case SA_CELL_SYNC_BLOCKING:
      task = _sa_cell_sync_blocking (&origin, operation, cancellable, timeout_ms,
                                 callback, user_data);
      break;
    case SA_CELL_ASYNC_NON_BLOCKING:
      task = _sa_cell_async_non_blocking (&origin, operation, cancellable, timeout_ms,
                                      callback, user_data);
      break;
    case SA_CELL_ASYNC_BLOCKING:
      task = _sa_cell_async_blocking (&origin, operation, cancellable, timeout_ms,
                                  callback, user_data);
      break;
    default:
      g_assert_not_reached ();
    }

  return task;
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
 * one of the `sa_dispatcher_call_finish*()` functions.
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

/* Whether @result is the task of a call of @self: sa_dispatcher_call()'s
 * source object and tag, or another's marked with @self. */
static inline gboolean
is_call_result (SaDispatcher *self,
                GAsyncResult *result)
{
  if (!G_IS_TASK (result))
    return FALSE;

  if (g_task_is_valid (result, self) && g_task_get_source_tag (G_TASK (result)) == sa_dispatcher_call)
    return TRUE;

  return _sa_call_task_get_dispatcher (G_TASK (result)) == self;
}

/* The checks of every finish function, in the order of the lock's: the
 * object, the result and @error, then (in the function) the output. */
#define RETURN_IF_NOT_A_CALL(self, result, error, val) G_STMT_START {   \
    g_return_val_if_fail (SA_IS_DISPATCHER (self), val);               \
    g_return_val_if_fail (is_call_result (self, result), val);         \
    g_return_val_if_fail (error == NULL || *error == NULL, val);       \
  } G_STMT_END

/**
 * sa_dispatcher_call_finish:
 * @self: a [class@Sa.Dispatcher]
 * @result: the [iface@Gio.AsyncResult] of a call of @self
 * @error: return location for a [struct@GLib.Error]
 *
 * Finishes a call made with [method@Sa.Dispatcher.call_async] or
 * [method@Sa.Dispatcher.call], for an operation that completes with
 * `g_task_return_value()` (as operations written in other languages do)
 * or fails. [method@Sa.Dispatcher.call_finish_value] does the same into
 * a value the caller provides; an operation that completes with another
 * `g_task_return_*()` is read with the matching finish function.
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
  GValue *value;

  RETURN_IF_NOT_A_CALL (self, result, error, NULL);

  value = g_new0 (GValue, 1);
  if (!_sa_call_task_read (result, SA_RESULT_VALUE, value, error))
    g_clear_pointer (&value, g_free);

  return value;
}

/**
 * sa_dispatcher_call_finish_value:
 * @self: a [class@Sa.Dispatcher]
 * @result: the [iface@Gio.AsyncResult] of a call of @self
 * @value: (out caller-allocates): an empty [struct@GObject.Value] to take
 *   the result
 * @error: return location for a [struct@GLib.Error]
 *
 * Finishes a call of an operation that completes with
 * `g_task_return_value()`: the form for bindings, which own @value.
 * Reading a result given in another form is a programmer error, reported
 * with a critical by GLib and an `SA_ERROR_FAILED` error.
 *
 * Returns: %TRUE with @value set; %FALSE with @error set if the
 *   operation failed, was cancelled or timed out
 *
 * Since: 1.0
 */
gboolean
sa_dispatcher_call_finish_value (SaDispatcher  *self,
                                 GAsyncResult  *result,
                                 GValue        *value,
                                 GError       **error)
{
  RETURN_IF_NOT_A_CALL (self, result, error, FALSE);
  g_return_val_if_fail (value != NULL, FALSE);

  return _sa_call_task_read (result, SA_RESULT_VALUE, value, error);
}

/**
 * sa_dispatcher_call_finish_pointer:
 * @self: a [class@Sa.Dispatcher]
 * @result: the [iface@Gio.AsyncResult] of a call of @self
 * @error: return location for a [struct@GLib.Error]
 *
 * Finishes a call of an operation that completes with
 * `g_task_return_pointer()`. Reading a result given in another form is
 * a programmer error.
 *
 * Returns: (transfer full) (nullable): the pointer the operation
 *   returned, now the caller's; %NULL with @error set if the operation
 *   failed, was cancelled or timed out
 *
 * Since: 1.0
 */
gpointer
sa_dispatcher_call_finish_pointer (SaDispatcher  *self,
                                   GAsyncResult  *result,
                                   GError       **error)
{
  gpointer ret = NULL;

  RETURN_IF_NOT_A_CALL (self, result, error, NULL);

  if (!_sa_call_task_read (result, SA_RESULT_POINTER, &ret, error))
    return NULL;

  return ret;
}

/**
 * sa_dispatcher_call_finish_boolean:
 * @self: a [class@Sa.Dispatcher]
 * @result: the [iface@Gio.AsyncResult] of a call of @self
 * @error: return location for a [struct@GLib.Error]
 *
 * Finishes a call of an operation that completes with
 * `g_task_return_boolean()`.
 *
 * Returns: the boolean the operation returned; %FALSE with @error set if
 *   the operation failed, was cancelled or timed out
 *
 * Since: 1.0
 */
gboolean
sa_dispatcher_call_finish_boolean (SaDispatcher  *self,
                                   GAsyncResult  *result,
                                   GError       **error)
{
  gboolean ret = FALSE;

  RETURN_IF_NOT_A_CALL (self, result, error, FALSE);

  if (!_sa_call_task_read (result, SA_RESULT_BOOLEAN, &ret, error))
    return FALSE;

  return ret;
}

/**
 * sa_dispatcher_call_finish_int:
 * @self: a [class@Sa.Dispatcher]
 * @result: the [iface@Gio.AsyncResult] of a call of @self
 * @error: return location for a [struct@GLib.Error]
 *
 * Finishes a call of an operation that completes with
 * `g_task_return_int()`.
 *
 * Returns: the integer the operation returned; -1 with @error set if the
 *   operation failed, was cancelled or timed out
 *
 * Since: 1.0
 */
gssize
sa_dispatcher_call_finish_int (SaDispatcher  *self,
                               GAsyncResult  *result,
                               GError       **error)
{
  gssize ret = -1;

  RETURN_IF_NOT_A_CALL (self, result, error, -1);

  if (!_sa_call_task_read (result, SA_RESULT_INT, &ret, error))
    return -1;

  return ret;
}

/* A sync call, its task read as the finish functions read it. */
static gboolean
call_sync_read (SaDispatcher  *self,
                SaOperation   *operation,
                GCancellable  *cancellable,
                SaResultForm   form,
                gpointer       out,
                GError       **error)
{
  g_autoptr(GTask) task = sa_dispatcher_call (self, operation, SA_CALL_MODE_SYNC,
                                              cancellable, NULL, NULL);

  return _sa_call_task_read (G_ASYNC_RESULT (task), form, out, error);
}

/* The checks of every sync function, in the order of the lock's. */
#define RETURN_IF_BAD_SYNC_CALL(self, operation, cancellable, error, val) G_STMT_START { \
    g_return_val_if_fail (SA_IS_DISPATCHER (self), val);                                \
    g_return_val_if_fail (SA_IS_OPERATION (operation), val);                            \
    g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), val);  \
    g_return_val_if_fail (error == NULL || *error == NULL, val);                        \
  } G_STMT_END

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
 * [method@Sa.Dispatcher.call_finish] does; the `_sync_pointer`,
 * `_sync_boolean`, `_sync_int` and `_sync_value` forms read the other
 * forms.
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
  GValue *value;

  RETURN_IF_BAD_SYNC_CALL (self, operation, cancellable, error, NULL);

  value = g_new0 (GValue, 1);
  if (!call_sync_read (self, operation, cancellable, SA_RESULT_VALUE, value, error))
    g_clear_pointer (&value, g_free);

  return value;
}

/**
 * sa_dispatcher_call_sync_value:
 * @self: a [class@Sa.Dispatcher]
 * @operation: the [class@Sa.Operation] to carry out
 * @cancellable: (nullable): a [class@Gio.Cancellable]
 * @value: (out caller-allocates): an empty [struct@GObject.Value] to take
 *   the result
 * @error: return location for a [struct@GLib.Error]
 *
 * [method@Sa.Dispatcher.call_sync], into a value the caller provides.
 *
 * Returns: %TRUE with @value set; %FALSE with @error set
 *
 * Since: 1.0
 */
gboolean
sa_dispatcher_call_sync_value (SaDispatcher  *self,
                               SaOperation   *operation,
                               GCancellable  *cancellable,
                               GValue        *value,
                               GError       **error)
{
  RETURN_IF_BAD_SYNC_CALL (self, operation, cancellable, error, FALSE);
  g_return_val_if_fail (value != NULL, FALSE);

  return call_sync_read (self, operation, cancellable, SA_RESULT_VALUE, value, error);
}

/**
 * sa_dispatcher_call_sync_pointer:
 * @self: a [class@Sa.Dispatcher]
 * @operation: the [class@Sa.Operation] to carry out
 * @cancellable: (nullable): a [class@Gio.Cancellable]
 * @error: return location for a [struct@GLib.Error]
 *
 * [method@Sa.Dispatcher.call_sync] for an operation that completes with
 * `g_task_return_pointer()`.
 *
 * Returns: (transfer full) (nullable): the pointer; %NULL with @error set
 *
 * Since: 1.0
 */
gpointer
sa_dispatcher_call_sync_pointer (SaDispatcher  *self,
                                 SaOperation   *operation,
                                 GCancellable  *cancellable,
                                 GError       **error)
{
  gpointer ret = NULL;

  RETURN_IF_BAD_SYNC_CALL (self, operation, cancellable, error, NULL);

  if (!call_sync_read (self, operation, cancellable, SA_RESULT_POINTER, &ret, error))
    return NULL;

  return ret;
}

/**
 * sa_dispatcher_call_sync_boolean:
 * @self: a [class@Sa.Dispatcher]
 * @operation: the [class@Sa.Operation] to carry out
 * @cancellable: (nullable): a [class@Gio.Cancellable]
 * @error: return location for a [struct@GLib.Error]
 *
 * [method@Sa.Dispatcher.call_sync] for an operation that completes with
 * `g_task_return_boolean()`.
 *
 * Returns: the boolean; %FALSE with @error set
 *
 * Since: 1.0
 */
gboolean
sa_dispatcher_call_sync_boolean (SaDispatcher  *self,
                                 SaOperation   *operation,
                                 GCancellable  *cancellable,
                                 GError       **error)
{
  gboolean ret = FALSE;

  RETURN_IF_BAD_SYNC_CALL (self, operation, cancellable, error, FALSE);

  if (!call_sync_read (self, operation, cancellable, SA_RESULT_BOOLEAN, &ret, error))
    return FALSE;

  return ret;
}

/**
 * sa_dispatcher_call_sync_int:
 * @self: a [class@Sa.Dispatcher]
 * @operation: the [class@Sa.Operation] to carry out
 * @cancellable: (nullable): a [class@Gio.Cancellable]
 * @error: return location for a [struct@GLib.Error]
 *
 * [method@Sa.Dispatcher.call_sync] for an operation that completes with
 * `g_task_return_int()`.
 *
 * Returns: the integer; -1 with @error set
 *
 * Since: 1.0
 */
gssize
sa_dispatcher_call_sync_int (SaDispatcher  *self,
                             SaOperation   *operation,
                             GCancellable  *cancellable,
                             GError       **error)
{
  gssize ret = -1;

  RETURN_IF_BAD_SYNC_CALL (self, operation, cancellable, error, -1);

  if (!call_sync_read (self, operation, cancellable, SA_RESULT_INT, &ret, error))
    return -1;

  return ret;
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
 * dispatcher's pool, or GTask's when [property@Sa.Dispatcher:gtask-pool]
 * is set and [property@Sa.Dispatcher:max-threads] is 0) and hands its
 * result to @callback on the caller's context, after @func returned, with
 * the guarantees of `g_task_run_in_thread()` (see "Threads" in
 * [class@Sa.Dispatcher]); @func_data_destroy runs there too. Finish with
 * the `sa_dispatcher_call_finish*()` function of the form @func completed
 * its task with; `g_task_propagate_*()` reads it too, with the two
 * differences "Reading results" in [class@Sa.Dispatcher] gives (no
 * read-once rule of its own, and a call given up at its timeout reads as
 * `G_IO_ERROR_CANCELLED`).
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
