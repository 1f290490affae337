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
 * stay so after it). A non-blocking operation that lets go of the task of
 * a call with a timeout or a cancellable without completing it is
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
 * while for the next call before it sleeps, which saves a wake-up per
 * call in streams of short calls: see [property@Sa.Dispatcher:busy-wait],
 * off by default.
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

/* Words used below. The *call's task* is the GTask a caller gets: the one
 * returned and the one handed to its callback, always the same. It is
 * the task handed to the body too: one task per call, in every cell. */
static SA_DEFINE_QUARK (sa-result-read, result_read)
/* The dispatcher of a call's task that carries another source object or
 * tag than sa_dispatcher_call()'s, for its finish functions. */
static SA_DEFINE_QUARK (sa-dispatcher, dispatcher)

/* The error of a guard that answered a call, on its task, for the
 * dispatcher's finish functions. */
static SA_DEFINE_QUARK (sa-guard-error, guard_error)

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

/* --- async calls answered through the library's callback -------------- */

/* An SaCall is an async call whose caller's callback the library runs: a
 * blocking body on a pool, whose caller's callback must come after the
 * body returned, or any call with a guard (a timeout or the caller's
 * cancellable), which may answer before the operation does.
 * Invariants:
 * - the call's task is made on the caller's context with call_done() as
 *   its callback and the caller's user data as its data, and handed to
 *   the body with the SaCall in its qdata (put there by the thread that
 *   takes a queued call without a guard): GTask queues its completion to
 *   that context, from whichever thread completes it;
 * - @state goes from RUNNING to BODY_RETURNED (the body's thread, after
 *   the body, as its last act on the call) or to CALLBACK_WAITING
 *   (call_done(), first): the second of the two completes the call, on
 *   the caller's context (call_complete()); a call with no body to wait
 *   for starts at BODY_RETURNED;
 * - a body that returned without completing its task is completed with
 *   SA_ERROR_NO_RESULT before BODY_RETURNED, by its thread, which looks
 *   for the task's completion on the caller's context; when it does not
 *   look (@unconfirmed), call_confirm() does, on the caller's context, one
 *   priority below the task's and so after the completion the body
 *   queued (once more if the call came after the source's check, which
 *   the completion could not precede), and completes the call after
 *   call_done();
 * - the caller's callback runs once (CALL_DELIVERED, caller's context
 *   only): at call_complete(), or at the guard's answer if it comes first;
 * - every reference the call holds is dropped on the caller's context:
 *   the task's at call_complete(), the rest with the last reference to
 *   the call (its own, dropped there, or a guard answer's, in its idle);
 *   no pool thread drops any;
 * - a non-blocking operation may drop its task without completing it:
 *   the call then holds the task by a toggle reference, whose last-one
 *   notification completes it with SA_ERROR_NO_RESULT. */
typedef enum
{
  CALL_RUNNING,
  CALL_BODY_RETURNED,
  CALL_CALLBACK_WAITING,
} CallState;

/* The caller's context's marks of a call, in one byte of their own. */
typedef enum
{
  CALL_DELIVERED    = 1 << 0,   /* the caller's callback ran */
  CALL_TOGGLE       = 1 << 1,   /* @task is held by a toggle reference */
  CALL_DONE_SEEN    = 1 << 2,   /* unconfirmed: call_done() ran */
  CALL_CONFIRM_SEEN = 1 << 3,   /* unconfirmed: call_confirm() ran */
  CALL_COUNTED      = 1 << 4,   /* in n_unanswered */
  CALL_GUARDED      = 1 << 5,   /* a GuardedCall */
  CALL_DEFERRED     = 1 << 6,   /* unconfirmed: call_confirm() came early once */
  CALL_HOOKED       = 1 << 7,   /* @task carries AnswerHooks */
} CallFlags;

/* Small, as one is held per offloaded call: 40 bytes, the pool's queue
 * link included. The caller's user data is the task's. */
typedef struct
{
  SaPoolLink           link;        /* the pool's, while queued */
  GTask               *task;        /* the call's task, until call_complete() */
  GAsyncReadyCallback  callback;
  SaOperation         *operation;
  gint                 state;       /* atomic CallState */
  guint8               unconfirmed; /* BODY_RETURNED by a thread that did not
                                     * look for the task's completion */
  guint8               flags;       /* CallFlags */
  guint8               guarded;     /* CALL_GUARDED, for the body's thread:
                                     * never written after the call is made */
} SaCall;

/* A call with a guard, which may answer from another thread before the
 * task exists, and outlive call_complete() in its answer's idle. */
typedef struct
{
  SaCall           call;
  gatomicrefcount  ref_count;       /* its own, and each guard answer's */
  int              priority;        /* of the guard's answer */
  SaGuard         *guard;           /* closed at call_complete() */
  GMainContext    *context;         /* the task's (unowned: the task holds it) */
} GuardedCall;

static inline GuardedCall *
call_guarded (SaCall *call)
{
  return (call->flags & CALL_GUARDED) ? (GuardedCall *) call : NULL;
}

static inline GMainContext *
call_context (SaCall *call)
{
  return g_task_get_context (call->task);
}

/* Offloaded calls whose caller's callback has not run yet, all contexts
 * together: while few, a pool thread looks for a body's completion on its
 * context, a walk of that context's sources; while many, their
 * completions may be piling up there, and the walk would cost as much
 * each time, so the caller's context checks after them instead. */
static gint n_unanswered;
#define FIND_LIMIT 16

static void call_done (GObject      *source_object,
                       GAsyncResult *result,
                       gpointer      data);

/* The SaCall of a call's task: its callback data is the caller's, as
 * g_async_result_get_user_data() must give. */
static SA_DEFINE_QUARK (sa-call, call)

static GTask *
call_new_task (SaCall       *call,
               const Origin *origin,
               GCancellable *cancellable,
               gpointer      user_data)
{
  GTask *task = new_task (origin, cancellable, call_done, user_data);

  g_object_set_qdata (G_OBJECT (task), call_quark (), call);

  return task;
}

/* What runs once the caller's callback has, for what must follow it
 * (sa_continue(), sa_application_hold_task()) where the task's completion
 * does not: a guard's answer comes before it, and a callback handed back
 * by the body's thread after it. A guarded call's task carries a list of
 * them from the start, another call's from the moment call_done() sees
 * the callback must wait; under answer_lock. */
typedef struct
{
  GSList       *hooks;                /* (element-type AnswerHook) */
  gboolean      answered;
  GCancellable *caller_cancellable;   /* the task's is the guard's */
} AnswerHooks;

typedef struct
{
  SaAnswerFunc   func;
  gpointer       data;
  GDestroyNotify destroy;
} AnswerHook;

static GMutex answer_lock;
static SA_DEFINE_QUARK (sa-answer-hooks, answer_hooks)

static void
answer_hook_free (gpointer data)
{
  AnswerHook *hook = data;

  if (hook->destroy != NULL)
    hook->destroy (hook->data);
  g_free (hook);
}

static void
answer_hooks_free (gpointer data)
{
  AnswerHooks *hooks = data;

  g_slist_free_full (hooks->hooks, answer_hook_free);
  g_clear_object (&hooks->caller_cancellable);
  g_free (hooks);
}

/* On the caller's context, once the caller's callback has run. */
static void
answer_hooks_run (GTask *task)
{
  AnswerHooks *hooks = g_object_get_qdata (G_OBJECT (task), answer_hooks_quark ());
  GSList *list;

  if (hooks == NULL)
    return;
  g_mutex_lock (&answer_lock);
  hooks->answered = TRUE;
  list = g_steal_pointer (&hooks->hooks);
  g_mutex_unlock (&answer_lock);

  list = g_slist_reverse (list);
  for (GSList *l = list; l != NULL; l = l->next)
    {
      AnswerHook *hook = l->data;

      hook->func (task, hook->data);
    }
  g_slist_free_full (list, answer_hook_free);
}

gboolean
_sa_dispatcher_on_delivered (GTask          *task,
                          SaAnswerFunc    func,
                          gpointer        data,
                          GDestroyNotify  destroy)
{
  AnswerHooks *hooks = g_object_get_qdata (G_OBJECT (task), answer_hooks_quark ());
  AnswerHook *hook;

  if (hooks == NULL)
    return FALSE;

  g_mutex_lock (&answer_lock);
  if (hooks->answered)
    {
      g_mutex_unlock (&answer_lock);
      return FALSE;
    }
  hook = g_new (AnswerHook, 1);
  *hook = (AnswerHook) { func, data, destroy };
  hooks->hooks = g_slist_prepend (hooks->hooks, hook);
  g_mutex_unlock (&answer_lock);

  return TRUE;
}

GCancellable *
_sa_dispatcher_get_cancellable (GTask *task)
{
  AnswerHooks *hooks = g_object_get_qdata (G_OBJECT (task), answer_hooks_quark ());

  return hooks != NULL ? hooks->caller_cancellable : g_task_get_cancellable (task);
}

gboolean
_sa_dispatcher_answered (GTask *task)
{
  return g_object_get_qdata (G_OBJECT (task), guard_error_quark ()) != NULL;
}

static void
call_free (SaCall *call)
{
  g_assert (call->task == NULL);
  g_object_unref (call->operation);
  g_free (call);
}

static GuardedCall *
guarded_ref (GuardedCall *gcall)
{
  g_atomic_ref_count_inc (&gcall->ref_count);
  return gcall;
}

static void
guarded_unref (gpointer data)
{
  GuardedCall *gcall = data;

  if (!g_atomic_ref_count_dec (&gcall->ref_count))
    return;

  g_assert (gcall->guard == NULL);
  call_free (&gcall->call);
}

/* Drops the call's own reference. */
static void
call_release (SaCall *call)
{
  GuardedCall *gcall = call_guarded (call);

  if (gcall != NULL)
    guarded_unref (gcall);
  else
    call_free (call);
}

/* g_async_result_get_user_data() of a GTask, without the interface's
 * type checks and lookup on each call. */
static gpointer
task_user_data (GTask *task)
{
  static GAsyncResultIface *iface;

  if G_UNLIKELY (g_atomic_pointer_get (&iface) == NULL)
    g_atomic_pointer_set (&iface, G_ASYNC_RESULT_GET_IFACE (task));

  return g_atomic_pointer_get (&iface)->get_user_data ((GAsyncResult *) task);
}

/* Runs the caller's callback, once, on the caller's context. A guard that
 * fired first gives its error to the finish functions; the task's own
 * cancellable, cancelled by the guard, gives g_task_propagate_*() theirs. */
static void
call_deliver (SaCall *call)
{
  GuardedCall *gcall = call_guarded (call);
  gboolean answered = FALSE;

  if (call->flags & CALL_DELIVERED)
    return;
  call->flags |= CALL_DELIVERED;

  if (gcall != NULL && gcall->guard != NULL && !_sa_guard_disarm (gcall->guard))
    {
      g_object_set_qdata_full (G_OBJECT (call->task), guard_error_quark (),
                               _sa_guard_error (gcall->guard, sa_operation_get_name (call->operation)),
                               (GDestroyNotify) g_error_free);
      answered = TRUE;
    }
  if (call->callback != NULL)
    call->callback (g_task_get_source_object (call->task), G_ASYNC_RESULT (call->task),
                    task_user_data (call->task));
  /* After the callback, as GTask notifies completion after it. */
  if (answered || (call->flags & CALL_HOOKED))
    answer_hooks_run (call->task);
}

static void
call_task_toggled (gpointer  data,
                   GObject  *object,
                   gboolean  is_last)
{
  SaCall *call = data;

  /* Dropped by everyone else before it was completed: a completion
   * holds a reference until call_done() has let this one go. */
  if (is_last)
    g_task_return_error (G_TASK (object), _sa_operation_new_no_result_error (call->operation));
}

/* On the caller's context, once the body returned and GTask called back:
 * the caller's callback if the guard did not answer, then every
 * reference of the call, in this same dispatch. */
static void
call_complete (SaCall *call)
{
  GuardedCall *gcall = call_guarded (call);
  GTask *task;

  if (call->flags & CALL_COUNTED)
    g_atomic_int_add (&n_unanswered, -1);
  call_deliver (call);
  if (gcall != NULL)
    g_clear_pointer (&gcall->guard, _sa_guard_close);
  task = g_steal_pointer (&call->task);
  if (call->flags & CALL_TOGGLE)
    g_object_remove_toggle_ref (G_OBJECT (task), call_task_toggled, call);
  else
    g_object_unref (task);
  call_release (call);
}

static void
call_done (GObject      *source_object,
           GAsyncResult *result,
           gpointer      data)
{
  SaCall *call = g_object_get_qdata (G_OBJECT (result), call_quark ());

  /* The body's thread has yet to say that the body returned: it will
   * complete the call then. GTask marks the task completed on return from
   * here, before the caller's callback: what must follow that can wait. */
  if (g_atomic_int_compare_and_exchange (&call->state, CALL_RUNNING, CALL_CALLBACK_WAITING))
    {
      if (!(call->flags & CALL_HOOKED))
        {
          call->flags |= CALL_HOOKED;
          g_object_set_qdata_full (G_OBJECT (call->task), answer_hooks_quark (),
                                   g_new0 (AnswerHooks, 1), answer_hooks_free);
        }
      return;
    }

  /* Body returned, unconfirmed: call_confirm() comes after this. */
  if (call->unconfirmed)
    {
      call->flags |= CALL_DONE_SEEN;
      if (!(call->flags & CALL_CONFIRM_SEEN))
        return;
    }

  call_complete (call);
}

/* On the caller's context, for a call whose body's thread did not look
 * for the task's completion: at a priority below the task's, so that a
 * completion queued by the body came first, in the usual case; else it
 * is looked for here. */
static void call_attach_confirm (SaCall *call,
                                 int     priority);
static int  confirm_priority    (SaCall *call);

static void
call_confirm (SaCall *call)
{
  if (call->flags & CALL_DONE_SEEN)
    {
      call->flags |= CALL_CONFIRM_SEEN;
      call_complete (call);
      return;
    }

  /* Handed over after this source's last check: a completion the body
   * queued then is dispatched before the next one can run. */
  if (!(call->flags & CALL_DEFERRED))
    {
      call->flags |= CALL_DEFERRED;
      call_attach_confirm (call, confirm_priority (call));
      return;
    }

  call->flags |= CALL_CONFIRM_SEEN;
  if (g_main_context_find_source_by_funcs_user_data (call_context (call), &g_idle_funcs,
                                                     call->task) == NULL)
    /* Never returned: call_done() completes the call from this. */
    g_task_return_error (call->task, _sa_operation_new_no_result_error (call->operation));
}

static gboolean
call_complete_cb (gpointer data)
{
  call_complete (data);

  return G_SOURCE_REMOVE;
}

static gboolean
call_answer_cb (gpointer data)
{
  call_deliver (data);

  return G_SOURCE_REMOVE;
}

/* Where the guard fired: the caller's context, or a cancelling thread. */
static void
call_guard_fired (SaGuard  *guard,
                  gpointer  data)
{
  GuardedCall *gcall = data;
  GSource *source = g_idle_source_new ();

  g_source_set_priority (source, gcall->priority);
  g_source_set_static_name (source, "[smartasync] guard's answer");
  g_source_set_callback (source, call_answer_cb, guarded_ref (gcall), guarded_unref);
  g_source_attach (source, gcall->context);
  g_source_unref (source);
}

/* A new call and its task, made on the caller's context. */
static SaCall *
call_new (const Origin        *origin,
          SaOperation         *operation,
          GCancellable        *cancellable,
          guint                timeout_ms,
          GAsyncReadyCallback  callback,
          gpointer             user_data,
          CallState            state)
{
  GCancellable *caller_cancellable = cancellable;
  GuardedCall *gcall = NULL;
  SaCall *call;

  if G_LIKELY (!_sa_guard_needed (cancellable, TRUE, timeout_ms))
    call = g_new (SaCall, 1);
  else
    call = &(gcall = g_new (GuardedCall, 1))->call;
  *call = (SaCall) {
    .callback = callback,
    .operation = g_object_ref (operation),
    .state = state,
    .guarded = gcall != NULL,
  };
  if (gcall == NULL)
    {
      call->task = call_new_task (call, origin, cancellable, user_data);
      return call;
    }

  call->flags |= CALL_GUARDED;
  g_atomic_ref_count_init (&gcall->ref_count);
  gcall->priority = origin->priority;
  gcall->context = g_main_context_get_thread_default ();
  if (gcall->context == NULL)
    gcall->context = g_main_context_default ();
  /* The task is made with the guard's cancellable, which the guard
   * cancels when it fires (so that GTask reads it as cancelled), and
   * which is the caller's when there is no timeout. The guard may fire
   * at once, before the task exists: its answer comes from an idle. */
  gcall->guard = _sa_guard_new (cancellable, TRUE, timeout_ms, gcall->context,
                                call_guard_fired, gcall, NULL);
  call->task = call_new_task (call, origin, gcall->guard->cancellable, user_data);
  {
    AnswerHooks *hooks = g_new0 (AnswerHooks, 1);

    if (caller_cancellable != NULL)
      hooks->caller_cancellable = g_object_ref (caller_cancellable);
    call->flags |= CALL_HOOKED;
    g_object_set_qdata_full (G_OBJECT (call->task), answer_hooks_quark (), hooks,
                             answer_hooks_free);
  }

  return call;
}

/* Async caller, non-blocking operation, with a guard: the operation
 * completes the call's task on the caller's context; the guard may answer
 * first. */
static GTask *
call_async_non_blocking_guarded (const Origin        *origin,
                                 SaOperation         *operation,
                                 GCancellable        *cancellable,
                                 guint                timeout_ms,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  SaCall *call = call_new (origin, operation, cancellable, timeout_ms, callback, user_data,
                           CALL_BODY_RETURNED);
  GTask *task = g_object_ref (call->task);   /* the caller's */

  /* The call's own reference becomes a toggle one. */
  call->flags |= CALL_TOGGLE;
  g_object_add_toggle_ref (G_OBJECT (task), call_task_toggled, call);
  g_object_unref (task);

  if (!g_task_return_error_if_cancelled (task))
    start_non_blocking (operation, task, g_task_get_cancellable (task));

  return task;
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
  GTask *task;

  if (_sa_guard_needed (cancellable, TRUE, timeout_ms))
    return call_async_non_blocking_guarded (origin, operation, cancellable, timeout_ms,
                                            callback, user_data);

  /* The common case needs nothing but the one task. */
  task = new_task (origin, cancellable, callback, user_data);
  if (cancellable == NULL || !g_task_return_error_if_cancelled (task))
    start_non_blocking (operation, task, cancellable);

  return task;
}

/* After the body, on its thread: hands the call to the caller's context,
 * where call_complete_cb() completes it. */
static void
call_hand_back (SaCall *call)
{
  GSource *source = g_idle_source_new ();

  g_source_set_priority (source, g_task_get_priority (call->task));
  g_source_set_static_name (source, "[smartasync] callback after the body");
  g_source_set_callback (source, call_complete_cb, call, NULL);
  g_source_attach (source, call_context (call));
  g_source_unref (source);
}

/* Runs a blocking body for an async caller, on a pool thread of either
 * pool, on the call's task. */
static void
offload_run (SaCall *call)
{
  GTask *task = call->task;
  GCancellable *cancellable = g_task_get_cancellable (task);

  if (cancellable == NULL || !g_task_return_error_if_cancelled (task))
    run_blocking (call->operation, task, cancellable);

  if (g_atomic_int_get (&call->state) != CALL_RUNNING)
    return;   /* call_done() ran: the task was returned */

  if (g_atomic_int_get (&n_unanswered) > FIND_LIMIT)
    {
      call->unconfirmed = TRUE;   /* published by the state's change */
      return;
    }

  /* A task returned from this thread has its completion queued on its
   * context, with the task as its user data (see g_task_attach_source()),
   * until call_done() has run, which marks the state first: so neither
   * found nor marked means never returned. */
  if (g_main_context_find_source_by_funcs_user_data (call_context (call), &g_idle_funcs, task) == NULL &&
      g_atomic_int_get (&call->state) == CALL_RUNNING)
    g_task_return_error (task, _sa_operation_new_no_result_error (call->operation));
}

/* Calls whose body's thread did not look for their task's completion,
 * confirmed together by one source on their context: a batch that a
 * thread fills, at one priority, until the source is dispatched, so that
 * a burst of calls pays for few sources. A thread keeps its last batch,
 * not the source: a source must not outlive its context in other hands. */
typedef struct
{
  gatomicrefcount ref_count;   /* its source's, the filling thread's */
  GMutex          lock;
  GMainContext   *context;     /* unowned: its calls' tasks hold it */
  int             priority;
  GPtrArray      *calls;       /* NULL once dispatched: it takes no more */
} Batch;

typedef struct
{
  GSource source;
  Batch  *batch;
} ConfirmSource;

static void
batch_unref (gpointer data)
{
  Batch *batch = data;

  if (!g_atomic_ref_count_dec (&batch->ref_count))
    return;

  /* Dispatched before: its calls held the context it was attached to. */
  g_assert (batch->calls == NULL);
  g_mutex_clear (&batch->lock);
  g_free (batch);
}

static gboolean
confirm_prepare (GSource *source,
                 gint    *timeout)
{
  *timeout = -1;
  return TRUE;
}

static gboolean
confirm_dispatch (GSource     *source,
                  GSourceFunc  callback,
                  gpointer     user_data)
{
  Batch *batch = ((ConfirmSource *) source)->batch;
  GPtrArray *calls;

  g_mutex_lock (&batch->lock);
  calls = g_steal_pointer (&batch->calls);
  g_mutex_unlock (&batch->lock);
  for (guint i = 0; i < calls->len; i++)
    call_confirm (calls->pdata[i]);
  g_ptr_array_unref (calls);

  return G_SOURCE_REMOVE;
}

static void
confirm_finalize (GSource *source)
{
  batch_unref (((ConfirmSource *) source)->batch);
}

static GSourceFuncs confirm_funcs = {
  confirm_prepare, NULL, confirm_dispatch, confirm_finalize, NULL, NULL,
};

/* This thread's batch being filled, a reference. */
static GPrivate confirm_batch = G_PRIVATE_INIT (batch_unref);

static void
call_attach_confirm (SaCall *call,
                     int     priority)
{
  Batch *batch = g_private_get (&confirm_batch);
  GMainContext *context = call_context (call);
  ConfirmSource *source;
  gboolean added = FALSE;

  if (batch != NULL)
    {
      g_mutex_lock (&batch->lock);
      if (batch->calls != NULL && batch->context == context && batch->priority == priority)
        {
          g_ptr_array_add (batch->calls, call);
          added = TRUE;
        }
      g_mutex_unlock (&batch->lock);
      if (added)
        return;
    }

  batch = g_new (Batch, 1);
  g_atomic_ref_count_init (&batch->ref_count);
  g_mutex_init (&batch->lock);
  batch->context = context;
  batch->priority = priority;
  batch->calls = g_ptr_array_new ();
  g_ptr_array_add (batch->calls, call);
  source = (ConfirmSource *) g_source_new (&confirm_funcs, sizeof (ConfirmSource));
  g_atomic_ref_count_inc (&batch->ref_count);
  source->batch = batch;
  g_source_set_priority (&source->source, priority);
  g_source_set_static_name (&source->source, "[smartasync] bodies returned");
  g_source_attach (&source->source, context);
  g_source_unref (&source->source);
  g_private_replace (&confirm_batch, batch);
}

static int
confirm_priority (SaCall *call)
{
  int priority = g_task_get_priority (call->task);

  return priority < G_MAXINT ? priority + 1 : priority;
}

/* After offload_run(): the last act on the call, whereafter the caller's
 * context may free it. */
static void
offload_hand_over (SaCall *call)
{
  gboolean unconfirmed = call->unconfirmed;
  int priority;

  if (!unconfirmed)
    {
      if (!g_atomic_int_compare_and_exchange (&call->state, CALL_RUNNING, CALL_BODY_RETURNED))
        call_hand_back (call);
      return;
    }

  /* Read before the change: afterwards the call may be gone, unless the
   * source below is still to come, which only this thread adds. */
  priority = confirm_priority (call);
  if (!g_atomic_int_compare_and_exchange (&call->state, CALL_RUNNING, CALL_BODY_RETURNED))
    {
      call->unconfirmed = FALSE;   /* call_done() ran: it waits for us */
      call_hand_back (call);
      return;
    }
  call_attach_confirm (call, priority);
}

/* A job of the dispatcher's pool: an SaCall. One with no guard has no
 * SaCall in its task's qdata until this thread puts it there, so that a
 * queued call costs no GData: nothing can complete its task before its
 * body runs (no guard, no cancellable), so call_done() cannot look for
 * its SaCall earlier. */
static void
offload_func (gpointer data)
{
  SaCall *call = data;

  _sa_pool_job_caller_idle ();
  if (!call->guarded)
    g_object_set_qdata (G_OBJECT (call->task), call_quark (), call);
  offload_run (call);
  offload_hand_over (call);
}

/* A body on GTask's pool runs on a carrier task of the library's, made on
 * the caller's context: its completion there says that the body returned,
 * as the hand-back of the dispatcher's pool does, and it is released in
 * its own dispatch. */
static void
carrier_func (GTask        *carrier,
              gpointer      source_object,
              gpointer      task_data,
              GCancellable *cancellable)
{
  offload_run (task_data);
  g_task_return_boolean (carrier, TRUE);
}

static void
carrier_done (GObject      *source_object,
              GAsyncResult *result,
              gpointer      data)
{
  SaCall *call = data;

  if (!g_atomic_int_compare_and_exchange (&call->state, CALL_RUNNING, CALL_BODY_RETURNED))
    call_complete (call);
  else if (call->unconfirmed)
    call_attach_confirm (call, confirm_priority (call));
}

static void
run_on_gtask_pool (SaCall *call)
{
  GTask *carrier = g_task_new (NULL, NULL, carrier_done, call);

  g_task_set_priority (carrier, g_task_get_priority (call->task));
  g_task_set_task_data (carrier, call, NULL);
  g_task_run_in_thread (carrier, carrier_func);
  g_object_unref (carrier);
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
      pool = _sa_pool_new_full (self->max_threads, offload_func);
      _sa_pool_set_busy_wait (pool, g_atomic_int_get (&self->busy_wait));
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

/* Async caller, blocking operation: the body runs on a worker, on the
 * call's task; the caller's callback runs after it returned. */
static GTask *
call_async_blocking (SaDispatcher        *self,
                     const Origin        *origin,
                     SaOperation         *operation,
                     GCancellable        *cancellable,
                     guint                timeout_ms,
                     GAsyncReadyCallback  callback,
                     gpointer             user_data)
{
  SaCall *call;
  GTask *task;
  SaPool *pool = uses_gtask_pool (self) ? NULL : get_pool (self);

  /* The common case: no guard, the dispatcher's pool (see offload_func()). */
  if G_LIKELY (pool != NULL && !_sa_guard_needed (cancellable, TRUE, timeout_ms))
    {
      call = g_new (SaCall, 1);
      *call = (SaCall) {
        .task = new_task (origin, NULL, call_done, user_data),
        .callback = callback,
        .operation = g_object_ref (operation),
        .state = CALL_RUNNING,
        .flags = CALL_COUNTED,
      };
      task = g_object_ref (call->task);   /* the caller's */
      g_atomic_int_inc (&n_unanswered);
      _sa_pool_push_data (pool, call, origin->priority);
      return task;
    }

  call = call_new (origin, operation, cancellable, timeout_ms, callback, user_data,
                   CALL_RUNNING);
  task = g_object_ref (call->task);   /* the caller's */
  call->flags |= CALL_COUNTED;
  g_atomic_int_inc (&n_unanswered);
  /* Cancelled before the call: answered without a thread. */
  if (g_task_return_error_if_cancelled (task))
    g_atomic_int_set (&call->state, CALL_BODY_RETURNED);
  else if (pool != NULL)
    _sa_pool_push_data (pool, call, origin->priority);
  else
    run_on_gtask_pool (call);

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
   * spins for up to 50 µs for the caller's next call before it sleeps.
   * Off by default: it saves a wake-up of a few microseconds per call in
   * a stream of short calls (bodies of up to about 20 µs) and costs up
   * to 50 µs of processor time each time no call comes (spinning less
   * after spins in vain, down to one chance in 64). The caller's thread
   * never spins. Defaults to whether the environment variable
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

/* The task that holds the result of @result, a call's task, for reading
 * once: the call's task itself. NULL with @error set when the call's
 * guard answered it, or it was read already. */
GTask *
_sa_dispatcher_result_task (GAsyncResult  *result,
                            GError       **error)
{
  GTask *task = G_TASK (result);
  const GError *guard_error;

  if (g_object_get_qdata (G_OBJECT (task), result_read_quark ()) != NULL)
    {
      g_set_error_literal (error, SA_ERROR, SA_ERROR_FAILED,
                           "The result of this call was read already");
      return NULL;
    }
  g_object_set_qdata (G_OBJECT (task), result_read_quark (), GINT_TO_POINTER (TRUE));

  if G_UNLIKELY ((guard_error = g_object_get_qdata (G_OBJECT (task), guard_error_quark ())) != NULL)
    {
      g_propagate_error (error, g_error_copy (guard_error));
      return NULL;
    }

  return g_object_ref (task);
}

GTask *
_sa_dispatcher_unwrap (GTask *task)
{
  const GError *guard_error = g_object_get_qdata (G_OBJECT (task), guard_error_quark ());
  GTask *failed;

  if G_LIKELY (guard_error == NULL)
    return g_object_ref (task);

  /* Answered by its guard: a task of the guard's error stands for it. */
  failed = g_task_new (g_task_get_source_object (task), NULL, NULL, NULL);
  _sa_task_set_tag (failed, g_task_get_source_tag (task));
  g_task_return_error (failed, g_error_copy (guard_error));

  return failed;
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
 * dispatcher's pool, or GTask's with [property@Sa.Dispatcher:gtask-pool])
 * and hands its result to @callback on the caller's context, after @func
 * returned, with the guarantees of `g_task_run_in_thread()` (see
 * "Threads" in [class@Sa.Dispatcher]); @func_data_destroy runs there too.
 * Finish with the `sa_dispatcher_call_finish*()` function or the
 * `g_task_propagate_*()` function of the form @func completed its task
 * with.
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
