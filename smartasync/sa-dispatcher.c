/* sa-dispatcher.c: carries out an operation in the cell its caller needs
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "sa-bridge-private.h"
#include "sa-collector-private.h"
#include "sa-context.h"
#include "sa-context-private.h"
#include "sa-dispatcher.h"
#include "sa-dispatcher-private.h"
#include "sa-enum-types.h"
#include "sa-error.h"
#include "sa-guard-private.h"
#include "sa-operation-private.h"
#include "sa-pool-private.h"
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
 * a programmer error. Do not use `g_task_propagate_*()` on the call's
 * task: where an async call has a timeout or a cancellable, or its body
 * ran on GTask's pool, the call's task carries the operation's task
 * rather than its result, and only the finish functions read through it.
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
 * ## Timeouts and cancellation
 *
 * With [property@Sa.Dispatcher:timeout] set, a call that has not completed
 * in time is given up: the operation's cancellable is cancelled and the
 * caller gets `G_IO_ERROR_TIMED_OUT` at once, even when the operation can
 * never complete (because it waits for a context that nobody iterates,
 * for instance the global default context while the main thread is
 * blocked in a sync call). The caller's cancellable ends a call the same
 * way, with `G_IO_ERROR_CANCELLED`. The operation's task, whenever it
 * completes, is dropped. A sync call given up that way leaves its private
 * context to a drain thread of the library, which iterates it until the
 * late completion has run and then frees it; the thread's next sync call
 * gets a new context. An operation that never completes its task keeps
 * it, and so that context, for as long as it does.
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
 * An async caller's context takes back the tasks of its blocking calls on
 * a later pass than their callbacks, from one source per context, at a
 * priority of `G_PRIORITY_DEFAULT`; the same source answers a body
 * that returned without completing its task.
 *
 * Short bodies are served without waking threads: a context whose source
 * has nothing to release while it waits for the reply of a call it made
 * spins for up to 50 µs for it before the context polls, and the pool
 * thread that replied to a waiting context spins as long for its next
 * call. Either side that waits in vain spins less for a while, down to one
 * chance in 64, so callers of long bodies pay at most 50 µs of processor
 * time per side every 64 calls, and the context's other sources wait as
 * long at most.
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

/* Words used below. The *call's task* is the GTask a caller gets: the one
 * returned and the one handed to its callback, always the same. The
 * *operation's task* is the one handed to the body. They are one task
 * unless the call needs them apart: an async call with a guard (a timeout
 * or the caller's cancellable, which must be able to end the call before
 * the body does), and a body run by g_task_run_in_thread(), which calls
 * back whether or not the body completed its task (the operation's task
 * is then made on the worker, so that the worker sees at once whether the
 * body completed it). The call's task is then a *relay*: it completes
 * with an error of its own, or carries the operation's task, from which
 * the finish functions read the result in the form the body gave it. */
typedef enum
{
  NOT_A_RELAY,
  RELAY,
  GUARDED_RELAY,  /* a relay with a guard: its task data is an SaCall */
} RelayKind;

static SA_DEFINE_QUARK (sa-relay-kind, relay_kind)
static SA_DEFINE_QUARK (sa-result-read, result_read)
/* The dispatcher of a call's task that carries another source object or
 * tag than sa_dispatcher_call()'s, for its finish functions. */
static SA_DEFINE_QUARK (sa-dispatcher, dispatcher)

static inline RelayKind
relay_kind (GTask *task)
{
  return GPOINTER_TO_INT (g_object_get_qdata (G_OBJECT (task), relay_kind_quark ()));
}

static inline gboolean
is_relay (GTask *task)
{
  return relay_kind (task) != NOT_A_RELAY;
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

/* What a call's task carries for its caller, in every cell: the source
 * object, the source tag and the I/O priority of sa_dispatcher_call_full(). */
typedef struct
{
  SaDispatcher *dispatcher;
  gpointer      source_object;
  gpointer      source_tag;
  int           priority;
} Origin;

static GTask *
new_task (const Origin        *origin,
          GCancellable        *cancellable,
          GAsyncReadyCallback  callback,
          gpointer             user_data)
{
  GTask *task = g_task_new (origin->source_object, cancellable, callback, user_data);

  _sa_task_set_tag (task, origin->source_tag);
  if (origin->priority != G_PRIORITY_DEFAULT)
    g_task_set_priority (task, origin->priority);
  /* Not sa_dispatcher_call()'s: its finish functions must know it. */
  if G_UNLIKELY (origin->source_object != origin->dispatcher ||
                 origin->source_tag != sa_dispatcher_call)
    g_object_set_qdata (G_OBJECT (task), dispatcher_quark (), origin->dispatcher);

  return task;
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

static void
return_no_result (gpointer data)
{
  StartArgs *args = data;

  g_task_return_error (args->task, _sa_operation_new_no_result_error (args->operation));
}

static void
blocking_done (GObject      *source_object,
               GAsyncResult *result,
               gpointer      user_data)
{
  *(GTask **) user_data = g_object_ref (G_TASK (result));
}

/* Runs a blocking body on this thread, from a dispatch of its private
 * context, on an operation's task made there: the task calls back inside
 * the body's g_task_return_*(), so a body that returned without completing
 * it is known at once. The private context is only iterated, not
 * thread-default, while the body runs: the body sees the thread-default
 * context of its caller, or of its worker, and what it binds there is
 * serviced. Returns the operation's task, complete, or NULL with
 * NO_RESULT. */
static GTask *
run_blocking_here (const Origin *origin,
                   SaOperation  *operation,
                   GCancellable *cancellable,
                   GError      **error)
{
  GSource *kick;
  GMainContext *context = _sa_context_enter (&kick);
  GTask *done = NULL;
  GTask *task = new_task (origin, cancellable, blocking_done, &done);
  StartArgs args = { operation, task, cancellable };

  g_main_context_pop_thread_default (context);
  /* The body runs in the first iteration, and whatever it left ready in
   * the ones after; a body that completed nothing by then never will. */
  _sa_context_kick (kick, run_from_kick, &args);
  while (done == NULL && g_main_context_iteration (context, FALSE))
    ;
  if (done == NULL)
    {
      /* The body left its task unreturned: the library returns it, on this
       * context, so that GLib 2.76 and later see no task finalized without
       * a result. */
      _sa_context_kick (kick, return_no_result, &args);
      while (done == NULL && g_main_context_iteration (context, FALSE))
        ;
      g_clear_object (&done);
      g_propagate_error (error, _sa_operation_new_no_result_error (operation));
    }
  _sa_context_unkick (kick);
  _sa_context_leave_popped (context, kick);
  g_object_unref (task);

  return done;
}

/* A completed task holding @error, completed on the private context, so
 * that the caller's context is not touched. */
static GTask *
completed_error_task (const Origin *origin,
                      GError       *error)
{
  SaBridge bridge;
  g_autoptr(GTask) task = NULL;
  GAsyncResult *result;

  _sa_bridge_init (&bridge, NULL, 0, FALSE, NULL);
  task = new_task (origin, NULL, sa_bridge_callback, &bridge);
  g_task_return_error (task, error);
  result = _sa_bridge_wait (&bridge, NULL);
  g_assert (result == G_ASYNC_RESULT (task));
  _sa_bridge_clear (&bridge);

  return G_TASK (result);
}

/* Hands a sync call's outcome to the caller: a task, complete. */
static GTask *
sync_outcome (const Origin        *origin,
              GTask               *task,
              GError              *error,
              GAsyncReadyCallback  callback,
              gpointer             user_data)
{
  if (task == NULL)
    task = completed_error_task (origin, error);

  if (callback != NULL)
    callback (origin->source_object, G_ASYNC_RESULT (task), user_data);

  return task;
}

static SaBridge *
sync_bridge_open (SaBridge     *on_stack,
                  GCancellable *cancellable,
                  guint         timeout_ms,
                  SaOperation  *operation)
{
  /* Without a guard the wait ends only with the result, so the bridge
   * cannot outlive the call's frame. */
  if (!_sa_bridge_needs_heap (cancellable, timeout_ms))
    {
      _sa_bridge_init (on_stack, cancellable, 0, FALSE, NULL);
      return on_stack;
    }

  return _sa_bridge_new_full (cancellable, timeout_ms, FALSE,
                              sa_operation_get_name (operation));
}

static void
sync_bridge_close (SaBridge *bridge,
                   SaBridge *on_stack)
{
  if (bridge == on_stack)
    _sa_bridge_clear (bridge);
  else
    sa_bridge_unref (bridge);
}

/* Sync caller, non-blocking operation: started from a dispatch of the
 * private context and waited for there; a guard that fires abandons it. */
static GTask *
call_sync_non_blocking (SaDispatcher        *self,
                        const Origin        *origin,
                        SaOperation         *operation,
                        GCancellable        *cancellable,
                        guint                timeout_ms,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  SaBridge on_stack;
  SaBridge *bridge = sync_bridge_open (&on_stack, cancellable, timeout_ms, operation);
  g_autoptr(GTask) task = new_task (origin, bridge->cancellable, sa_bridge_callback, bridge);
  StartArgs args = { operation, task, bridge->cancellable };
  GError *error = NULL;
  GTask *result;

  /* A heap bridge lives as long as the task may call it back. */
  if (bridge != &on_stack)
    _sa_bridge_attach (bridge, task);

  if (!g_task_return_error_if_cancelled (task))
    _sa_context_kick (bridge->kick, start_from_kick, &args);
  result = G_TASK (_sa_bridge_wait (bridge, &error));
  sync_bridge_close (bridge, &on_stack);

  return sync_outcome (origin, result, error, callback, user_data);
}

/* Sync caller, blocking operation: a direct call on this thread. A
 * timeout fires on the timer thread, since this one is busy with the
 * body: it cancels the body's cancellable, and the call reports it when
 * the body returns. */
static GTask *
call_sync_blocking (SaDispatcher        *self,
                    const Origin        *origin,
                    SaOperation         *operation,
                    GCancellable        *cancellable,
                    guint                timeout_ms,
                    GAsyncReadyCallback  callback,
                    gpointer             user_data)
{
  SaGuard *guard = NULL;
  GCancellable *op_cancellable = cancellable;
  GError *error = NULL;
  GTask *task = NULL;

  if (timeout_ms != 0)
    {
      guard = _sa_guard_new (cancellable, FALSE, timeout_ms, NULL, NULL, NULL, NULL);
      op_cancellable = guard->cancellable;
    }

  if (!g_cancellable_set_error_if_cancelled (op_cancellable, &error))
    task = run_blocking_here (origin, operation, op_cancellable, &error);

  if (guard != NULL)
    {
      if (!_sa_guard_disarm (guard))
        {
          g_clear_object (&task);
          g_clear_error (&error);
          error = _sa_guard_error (guard, sa_operation_get_name (operation));
        }
      _sa_guard_close (guard);
    }

  return sync_outcome (origin, task, error, callback, user_data);
}

/* The state of a relay with a guard, in its task data: the relay is the
 * library's own, never handed to a body. */
typedef struct
{
  SaOperation *operation;
  SaGuard     *guard;
  GTask       *relay;      /* (unowned) the task whose data this is */
} SaCall;

static void
sa_call_free (gpointer data)
{
  SaCall *call = data;

  g_clear_object (&call->operation);
  g_assert (call->guard == NULL);
  g_free (call);
}

/* Completes @relay with the outcome of the operation's @task, unless its
 * guard answered first; in one place for every relay. */
static void
relay_complete (GTask   *relay,
                GTask   *task,
                GError  *error)
{
  /* An error is the relay's own, so that every read form sees it. */
  if (error == NULL && g_task_had_error (task))
    g_task_propagate_pointer (task, &error);

  if (error != NULL)
    g_task_return_error (relay, error);
  else
    g_task_return_pointer (relay, g_object_ref (task), g_object_unref);
}

static SaCall *
relay_get_call (GTask *relay)
{
  return g_task_get_task_data (relay);
}

/* Whether the result of @relay is still the operation's to give; closes
 * its guard if it has one. */
static gboolean
relay_claim (GTask *relay)
{
  SaCall *call;
  gboolean claimed;

  if (relay_kind (relay) != GUARDED_RELAY)
    return TRUE;

  call = relay_get_call (relay);
  if (call->guard == NULL)
    return FALSE;   /* claimed before */
  claimed = _sa_guard_disarm (call->guard);
  g_clear_pointer (&call->guard, _sa_guard_close);

  return claimed;
}

static void
relay_guard_fired (SaGuard  *guard,
                   gpointer  data)
{
  GTask *relay = data;
  SaCall *call = relay_get_call (relay);

  g_task_return_error (relay, _sa_guard_error (guard, sa_operation_get_name (call->operation)));
}

static GTask *
relay_new (const Origin        *origin,
           SaOperation         *operation,
           GCancellable        *cancellable,
           guint                timeout_ms,
           GAsyncReadyCallback  callback,
           gpointer             user_data)
{
  GTask *relay;
  SaCall *call;

  if (!_sa_guard_needed (cancellable, TRUE, timeout_ms))
    {
      /* The operation alone, for the worker: no call state to allocate. */
      relay = new_task (origin, cancellable, callback, user_data);
      g_object_set_qdata (G_OBJECT (relay), relay_kind_quark (), GINT_TO_POINTER (RELAY));
      g_task_set_task_data (relay, g_object_ref (operation), g_object_unref);
      return relay;
    }

  relay = new_task (origin, cancellable, callback, user_data);
  g_object_set_qdata (G_OBJECT (relay), relay_kind_quark (), GINT_TO_POINTER (GUARDED_RELAY));

  call = g_new0 (SaCall, 1);
  call->operation = g_object_ref (operation);
  call->relay = relay;
  g_task_set_task_data (relay, call, sa_call_free);
  /* The guard holds the relay until it is closed, when the outcome is in. */
  call->guard = _sa_guard_new (cancellable, TRUE, timeout_ms, g_task_get_context (relay),
                               relay_guard_fired, g_object_ref (relay), g_object_unref);

  return relay;
}

static inline gboolean
relay_has_call (GTask *relay)
{
  return relay_kind (relay) == GUARDED_RELAY;
}

static SaOperation *
relay_get_operation (GTask *relay)
{
  return relay_has_call (relay) ? relay_get_call (relay)->operation : g_task_get_task_data (relay);
}

static GCancellable *
relay_get_op_cancellable (GTask *relay)
{
  return relay_has_call (relay) ? relay_get_call (relay)->guard->cancellable
                                : g_task_get_cancellable (relay);
}

/* Whether the guard of @relay answered already (cancelled before the
 * call, or while it was queued). */
static gboolean
relay_answered (GTask *relay)
{
  return relay_has_call (relay) &&
         _sa_guard_get_state (relay_get_call (relay)->guard) != SA_GUARD_ARMED;
}

/* An async caller's call with a guard: the operation's task, made on the
 * caller's context, completes there, and is relayed unless the guard
 * answered first. This one for a task handed to a non-blocking operation,
 * which may drop it: the task holds its relay until it is freed
 * (op_task_freed()). */
static void
started_task_done (GObject      *source_object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  GTask *relay = user_data;

  if (relay_claim (relay))
    relay_complete (relay, G_TASK (result), NULL);
}

/* The same for a task that the pool always completes: @user_data is a
 * reference to the relay. */
static void
op_task_done (GObject      *source_object,
              GAsyncResult *result,
              gpointer      user_data)
{
  started_task_done (source_object, result, user_data);
  g_object_unref (user_data);
}

static SA_DEFINE_QUARK (sa-relay, relay)

/* On the caller's context, never inside a cancellable's handler, where
 * closing the guard would wait for itself. */
static gboolean
relay_dropped_task (gpointer data)
{
  GTask *relay = data;

  if (relay_claim (relay))
    g_task_return_error (relay, _sa_operation_new_no_result_error (relay_get_operation (relay)));

  return G_SOURCE_REMOVE;
}

/* A non-blocking operation's task is freed, on any thread. One that was
 * dropped without being completed reaches the caller as
 * SA_ERROR_NO_RESULT, unless the guard answered first. */
static void
op_task_freed (gpointer data)
{
  GTask *relay = data;
  GSource *source;

  if (relay_get_call (relay)->guard == NULL)
    {
      g_object_unref (relay);   /* completed and claimed */
      return;
    }

  source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, relay_dropped_task, relay, g_object_unref);
  g_source_attach (source, g_task_get_context (relay));
  g_source_unref (source);
}

static GTask *
call_async_non_blocking (SaDispatcher        *self,
                         const Origin        *origin,
                         SaOperation         *operation,
                         GCancellable        *cancellable,
                         guint                timeout_ms,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  GTask *relay;
  g_autoptr(GTask) task = NULL;
  GCancellable *op_cancellable;

  if (!_sa_guard_needed (cancellable, TRUE, timeout_ms))
    {
      /* The common case needs nothing but the one task. */
      task = new_task (origin, cancellable, callback, user_data);
      if (cancellable == NULL || !g_task_return_error_if_cancelled (task))
        start_non_blocking (operation, task, cancellable);
      return g_steal_pointer (&task);
    }

  relay = relay_new (origin, operation, cancellable, timeout_ms, callback, user_data);
  if (relay_answered (relay))
    {
      relay_claim (relay);   /* cancelled before the call: not run */
      return relay;
    }
  op_cancellable = relay_get_op_cancellable (relay);
  task = new_task (origin, op_cancellable, started_task_done, relay);
  g_object_set_qdata_full (G_OBJECT (task), relay_quark (), g_object_ref (relay), op_task_freed);
  start_non_blocking (operation, task, op_cancellable);

  return relay;
}

/* The body of an async caller's blocking operation on GTask's pool
 * (gtask-pool): run on an operation's task of the worker's, then relayed.
 * On the dispatcher's own pool, offload_func() runs it instead. */
static void
worker_run (GTask *relay)
{
  SaOperation *operation = relay_get_operation (relay);
  GCancellable *op_cancellable = relay_get_op_cancellable (relay);
  Origin origin = {
    g_object_get_qdata (G_OBJECT (relay), dispatcher_quark ()),
    g_task_get_source_object (relay), g_task_get_source_tag (relay), g_task_get_priority (relay),
  };

  if (origin.dispatcher == NULL)
    origin.dispatcher = origin.source_object;
  g_autoptr(GTask) task = NULL;
  GError *error = NULL;

  if (relay_answered (relay))
    {
      relay_claim (relay);   /* answered while queued: the body does not run */
      return;
    }

  if (!g_cancellable_set_error_if_cancelled (op_cancellable, &error))
    task = run_blocking_here (&origin, operation, op_cancellable, &error);

  if (relay_claim (relay))
    relay_complete (relay, task, error);
  else
    g_clear_error (&error);
}

static void
thread_func (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  /* @task is the relay itself, or a carrier of it when the relay must be
   * free to complete before the worker is done (it has a guard). */
  if (is_relay (task))
    worker_run (task);
  else
    worker_run (task_data);
}

/* A body on the dispatcher's pool runs on an operation's task made on the
 * caller's context: the call's task itself, or the one relayed to it when
 * the call has a guard. The task data is the operation until the body
 * runs, held by the job, not by the task; then the collector of the
 * caller's context answers the task if the body did not. A task whose
 * cancellable was cancelled while it was queued is answered so, without
 * running the body. */
static void
offload_func (GTask        *task,
              gpointer      source_object,
              gpointer      task_data,
              GCancellable *cancellable)
{
  SaOperation *operation = task_data;

  g_task_set_task_data (task, NULL, NULL);
  if (cancellable == NULL || !g_task_return_error_if_cancelled (task))
    run_blocking (operation, task, cancellable);
  _sa_pool_job_finishing ();
  if (_sa_collector_add (g_object_ref (task), operation))
    _sa_pool_job_caller_idle ();
}

/* Queues @operation's body on @pool, to run on @task (the job's reference,
 * taken over), whose context is told to expect its hand-over. */
static void
push_offload (SaPool      *pool,
              GTask       *task,
              SaOperation *operation)
{
  g_task_set_task_data (task, g_object_ref (operation), NULL);
  _sa_collector_expect (g_task_get_context (task));
  _sa_pool_push (pool, task, offload_func);
}

/* The dispatcher's own pool, made on first use; NULL for GTask's. */
static SaPool *
get_pool (SaDispatcher *self)
{
  SaPool *pool = g_atomic_pointer_get (&self->pool);

  if G_LIKELY (pool != NULL)
    return pool;

  if (g_atomic_int_get (&self->gtask_pool) && g_atomic_int_get (&self->max_threads) == 0)
    return NULL;

  g_mutex_lock (&self->pool_lock);
  if ((pool = self->pool) == NULL)
    {
      pool = _sa_pool_new (self->max_threads);
      g_atomic_pointer_set (&self->pool, pool);
    }
  g_mutex_unlock (&self->pool_lock);

  return pool;
}

static inline gboolean
uses_gtask_pool (SaDispatcher *self)
{
  return g_atomic_int_get (&self->gtask_pool) && g_atomic_int_get (&self->max_threads) == 0;
}

static GTask *call_async_blocking_relayed (SaDispatcher        *self,
                             const Origin        *origin,
                                           SaOperation         *operation,
                                           GCancellable        *cancellable,
                                           guint                timeout_ms,
                                           GAsyncReadyCallback  callback,
                                           gpointer             user_data);

/* Async caller, blocking operation: the body runs on a worker. */
static GTask *
call_async_blocking (SaDispatcher        *self,
                     const Origin        *origin,
                     SaOperation         *operation,
                     GCancellable        *cancellable,
                     guint                timeout_ms,
                     GAsyncReadyCallback  callback,
                     gpointer             user_data)
{
  GTask *task;

  if (!_sa_guard_needed (cancellable, TRUE, timeout_ms) && !uses_gtask_pool (self))
    {
      /* The common case: one task, straight to the pool. */
      task = new_task (origin, NULL, callback, user_data);
      push_offload (get_pool (self), g_object_ref (task), operation);
      return task;
    }

  return call_async_blocking_relayed (self, origin, operation, cancellable, timeout_ms,
                                      callback, user_data);
}

/* With a guard, or on GTask's pool: through a relay (see the top). */
static GTask *
call_async_blocking_relayed (SaDispatcher        *self,
                             const Origin        *origin,
                             SaOperation         *operation,
                             GCancellable        *cancellable,
                             guint                timeout_ms,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  GTask *relay = relay_new (origin, operation, cancellable, timeout_ms, callback, user_data);
  SaPool *pool;

  if (relay_answered (relay))
    {
      relay_claim (relay);   /* cancelled before the call: not run */
      return relay;
    }

  if (!uses_gtask_pool (self) && (pool = get_pool (self)) != NULL)
    {
      GCancellable *op_cancellable = relay_get_op_cancellable (relay);
      GTask *task = new_task (origin, op_cancellable, op_task_done, g_object_ref (relay));

      push_offload (pool, task, operation);
    }
  else if (!relay_has_call (relay))
    {
      g_task_run_in_thread (relay, thread_func);
    }
  else
    {
      g_autoptr(GTask) carrier = g_task_new (NULL, NULL, NULL, NULL);

      g_task_set_task_data (carrier, g_object_ref (relay), g_object_unref);
      g_task_run_in_thread (carrier, thread_func);
    }

  return relay;
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
 * @io_priority is the task's priority ([method@Gio.Task.set_priority]):
 * @callback is dispatched at it on the caller's context, and a blocking
 * operation queued for a worker thread starts before those of lower
 * priority, in the order of the calls within one priority.
 *
 * The `sa_dispatcher_call_finish*()` functions of @self read the result
 * as well, whatever its source object, under the read-once rule of
 * [method@Sa.Dispatcher.call]. A call given up at its timeout reads as
 * `G_IO_ERROR_TIMED_OUT` with those, and as `G_IO_ERROR_CANCELLED` with
 * `g_task_propagate_*()`, since its task's cancellable was cancelled.
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
  Origin origin = { self, source_object, source_tag, io_priority };
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
      task = call_sync_non_blocking (self, &origin, operation, cancellable, timeout_ms,
                                     callback, user_data);
      break;
    case SA_CELL_SYNC_BLOCKING:
      task = call_sync_blocking (self, &origin, operation, cancellable, timeout_ms,
                                 callback, user_data);
      break;
    case SA_CELL_ASYNC_NON_BLOCKING:
      task = call_async_non_blocking (self, &origin, operation, cancellable, timeout_ms,
                                      callback, user_data);
      break;
    case SA_CELL_ASYNC_BLOCKING:
      task = call_async_blocking (self, &origin, operation, cancellable, timeout_ms,
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

/* The task that holds the result of @result, a call's task of @self, for
 * reading once: the call's task itself or the operation's task a relay
 * carries. NULL with @error set when the call failed or was read. */
GTask *
_sa_dispatcher_result_task (GAsyncResult  *result,
                            GError       **error)
{
  GTask *task = G_TASK (result);

  if (g_object_get_qdata (G_OBJECT (task), result_read_quark ()) != NULL)
    {
      g_set_error_literal (error, SA_ERROR, SA_ERROR_FAILED,
                           "The result of this call was read already");
      return NULL;
    }
  g_object_set_qdata (G_OBJECT (task), result_read_quark (), GINT_TO_POINTER (TRUE));

  if (!is_relay (task))
    return g_object_ref (task);

  /* A relay's error is its own; its value is the operation's task. */
  return g_task_propagate_pointer (task, error);
}

GTask *
_sa_dispatcher_unwrap (GTask *task)
{
  if (!is_relay (task) || g_task_had_error (task))
    return g_object_ref (task);

  return _sa_dispatcher_result_task (G_ASYNC_RESULT (task), NULL);
}

gpointer
_sa_dispatcher_plain_tag (GTask *task)
{
  return g_task_get_source_tag (task);
}

static inline GTask *
begin_read (SaDispatcher  *self,
            GAsyncResult  *result,
            GError       **error)
{
  return _sa_dispatcher_result_task (result, error);
}

static inline gboolean
is_call_result (SaDispatcher *self,
                GAsyncResult *result)
{
  if (!G_IS_TASK (result))
    return FALSE;

  if (g_task_is_valid (result, self) && g_task_get_source_tag (G_TASK (result)) == sa_dispatcher_call)
    return TRUE;

  return g_object_get_qdata (G_OBJECT (result), dispatcher_quark ()) == self;
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
  g_autoptr(GTask) task = NULL;

  g_return_val_if_fail (SA_IS_DISPATCHER (self), NULL);
  g_return_val_if_fail (is_call_result (self, result), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if ((task = begin_read (self, result, error)) == NULL)
    return NULL;

  return _sa_task_propagate_new_value (task, error);
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
  g_autoptr(GTask) task = NULL;

  g_return_val_if_fail (SA_IS_DISPATCHER (self), FALSE);
  g_return_val_if_fail (is_call_result (self, result), FALSE);
  g_return_val_if_fail (value != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if ((task = begin_read (self, result, error)) == NULL)
    return FALSE;

  return _sa_task_propagate_value (task, value, error);
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
  g_autoptr(GTask) task = NULL;

  g_return_val_if_fail (SA_IS_DISPATCHER (self), NULL);
  g_return_val_if_fail (is_call_result (self, result), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if ((task = begin_read (self, result, error)) == NULL)
    return NULL;

  return g_task_propagate_pointer (task, error);
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
  g_autoptr(GTask) task = NULL;

  g_return_val_if_fail (SA_IS_DISPATCHER (self), FALSE);
  g_return_val_if_fail (is_call_result (self, result), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if ((task = begin_read (self, result, error)) == NULL)
    return FALSE;

  return g_task_propagate_boolean (task, error);
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
  g_autoptr(GTask) task = NULL;

  g_return_val_if_fail (SA_IS_DISPATCHER (self), -1);
  g_return_val_if_fail (is_call_result (self, result), -1);
  g_return_val_if_fail (error == NULL || *error == NULL, -1);

  if ((task = begin_read (self, result, error)) == NULL)
    return -1;

  return g_task_propagate_int (task, error);
}

static GTask *
call_sync_task (SaDispatcher *self,
                SaOperation  *operation,
                GCancellable *cancellable)
{
  return sa_dispatcher_call (self, operation, SA_CALL_MODE_SYNC, cancellable, NULL, NULL);
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
  g_autoptr(GTask) task = NULL;

  g_return_val_if_fail (SA_IS_DISPATCHER (self), NULL);
  g_return_val_if_fail (SA_IS_OPERATION (operation), NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  task = call_sync_task (self, operation, cancellable);

  return sa_dispatcher_call_finish (self, G_ASYNC_RESULT (task), error);
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
  g_autoptr(GTask) task = NULL;

  g_return_val_if_fail (SA_IS_DISPATCHER (self), FALSE);
  g_return_val_if_fail (SA_IS_OPERATION (operation), FALSE);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), FALSE);
  g_return_val_if_fail (value != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  task = call_sync_task (self, operation, cancellable);

  return sa_dispatcher_call_finish_value (self, G_ASYNC_RESULT (task), value, error);
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
  g_autoptr(GTask) task = NULL;

  g_return_val_if_fail (SA_IS_DISPATCHER (self), NULL);
  g_return_val_if_fail (SA_IS_OPERATION (operation), NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  task = call_sync_task (self, operation, cancellable);

  return sa_dispatcher_call_finish_pointer (self, G_ASYNC_RESULT (task), error);
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
  g_autoptr(GTask) task = NULL;

  g_return_val_if_fail (SA_IS_DISPATCHER (self), FALSE);
  g_return_val_if_fail (SA_IS_OPERATION (operation), FALSE);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  task = call_sync_task (self, operation, cancellable);

  return sa_dispatcher_call_finish_boolean (self, G_ASYNC_RESULT (task), error);
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
  g_autoptr(GTask) task = NULL;

  g_return_val_if_fail (SA_IS_DISPATCHER (self), -1);
  g_return_val_if_fail (SA_IS_OPERATION (operation), -1);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), -1);
  g_return_val_if_fail (error == NULL || *error == NULL, -1);

  task = call_sync_task (self, operation, cancellable);

  return sa_dispatcher_call_finish_int (self, G_ASYNC_RESULT (task), error);
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
