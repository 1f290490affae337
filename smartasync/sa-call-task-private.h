/* sa-call-task-private.h: the call's task, its SaCall record, its single completion and its reading (not installed)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "sa-dispatcher.h"
#include "sa-guard-private.h"
#include "sa-pool-private.h"
#include "sa-task-private.h"

G_BEGIN_DECLS

/* What a call's task carries for its caller, in every cell: the source
 * object, the source tag and the I/O priority of sa_dispatcher_call_full(). */
typedef struct
{
  SaDispatcher *dispatcher;
  gpointer      source_object;
  gpointer      source_tag;
  int           priority;
} SaCallOrigin;

/* Marks a call's task with the dispatcher whose finish functions read
 * it, where its source object or tag is not sa_dispatcher_call()'s. */
void          _sa_call_task_set_dispatcher (GTask        *task,
                                            SaDispatcher *dispatcher);
/* That dispatcher, or NULL. */
SaDispatcher *_sa_call_task_get_dispatcher (GTask        *task);

/* The call's task: the one returned, handed to the callback and to the
 * body, in every cell. Inline: every call makes one. */
static inline GTask *
_sa_call_task_new (const SaCallOrigin  *origin,
                   GCancellable        *cancellable,
                   GAsyncReadyCallback  callback,
                   gpointer             user_data)
{
  GTask *task = g_task_new (origin->source_object, cancellable, callback, user_data);

  _sa_task_set_tag (task, origin->source_tag);
  if (origin->priority != G_PRIORITY_DEFAULT)
    g_task_set_priority (task, origin->priority);
  if G_UNLIKELY (origin->source_object != origin->dispatcher ||
                 origin->source_tag != sa_dispatcher_call)
    _sa_call_task_set_dispatcher (task, origin->dispatcher);

  return task;
}

/* --- the SaCall record: a call whose caller's callback the library runs - */

/* See sa-call-task.c for its invariants. */
typedef enum
{
  SA_CALL_RUNNING,
  SA_CALL_BODY_RETURNED,
  SA_CALL_CALLBACK_WAITING,
} SaCallState;

/* The caller's context's marks of a call, in one byte of their own. */
typedef enum
{
  SA_CALL_DELIVERED    = 1 << 0,   /* the caller's callback ran */
  SA_CALL_TOGGLE       = 1 << 1,   /* @task is held by a toggle reference */
  SA_CALL_DONE_SEEN    = 1 << 2,   /* unconfirmed: call_done() ran */
  SA_CALL_CONFIRM_SEEN = 1 << 3,   /* unconfirmed: confirm() of sa-hand-back.c ran */
  SA_CALL_COUNTED      = 1 << 4,   /* in the count of undelivered offloads */
  SA_CALL_GUARDED      = 1 << 5,   /* a GuardedCall */
  SA_CALL_DEFERRED     = 1 << 6,   /* unconfirmed: confirm() came early once */
  SA_CALL_HOOKED       = 1 << 7,   /* @task carries hooks run after delivery */
} SaCallFlags;

/* One is held per offloaded call: 40 bytes, the pool's queue link
 * included. The caller's user data is the task's. */
typedef struct
{
  SaPoolLink           link;        /* the pool's, while queued */
  GTask               *task;        /* the call's task, until _sa_call_complete() */
  GAsyncReadyCallback  callback;
  SaOperation         *operation;
  gint                 state;       /* atomic SaCallState */
  guint8               unconfirmed; /* BODY_RETURNED by a thread that did not
                                     * look for the task's completion */
  guint8               flags;       /* SaCallFlags */
  guint8               guarded;     /* SA_CALL_GUARDED, for the body's thread:
                                     * never written after the call is made */
} SaCall;

/* A new call in @state and its task, made on the caller's context; with a
 * guard when @cancellable or @timeout_ms asks for one. */
SaCall  *_sa_call_new                (const SaCallOrigin  *origin,
                                      SaOperation         *operation,
                                      GCancellable        *cancellable,
                                      guint                timeout_ms,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data,
                                      SaCallState          state);
/* An offload with no guard for the dispatcher's pool, counted among the
 * undelivered: its task has no SaCall in its qdata until the body's
 * thread puts it there (_sa_call_task_set_call()), so that a queued call
 * costs no GData; nothing can complete its task before its body runs. */
SaCall  *_sa_call_new_queued         (const SaCallOrigin  *origin,
                                      SaOperation         *operation,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data);
/* On the body's thread, before the body: the SaCall into its task's
 * qdata, for call_done(). */
void     _sa_call_task_set_call      (SaCall              *call);
/* The call's own reference to its task becomes a toggle one, whose
 * last-one notification completes the task with SA_ERROR_NO_RESULT; the
 * caller holds a reference of its own already. */
void     _sa_call_hold_by_toggle     (SaCall              *call);
/* Offloaded calls whose caller's callback has not run yet, all contexts
 * together: while at most SA_CALL_FIND_LIMIT, a pool thread looks for a
 * body's completion on its context; beyond, the caller's context
 * confirms it (sa-hand-back.c; why, in docs/performance.md). Atomic. */
G_GNUC_INTERNAL extern gint _sa_call_n_undelivered;
#define SA_CALL_FIND_LIMIT 16

/* Counts @call among the undelivered offloads, until _sa_call_complete(). */
static inline void
_sa_call_count_undelivered (SaCall *call)
{
  call->flags |= SA_CALL_COUNTED;
  g_atomic_int_inc (&_sa_call_n_undelivered);
}

/* Whether so many offloads wait for their callback that a pool thread
 * should not walk its caller's context for a body's completion. */
static inline gboolean
_sa_call_many_undelivered (void)
{
  return g_atomic_int_get (&_sa_call_n_undelivered) > SA_CALL_FIND_LIMIT;
}
/* On the caller's context, once the body returned and GTask called back:
 * the caller's callback unless the guard gave it first, then every
 * reference of the call, in this same dispatch. */
void     _sa_call_complete           (SaCall              *call);
/* Frees the record of a call that call_done() completed while its batch's
 * confirm() was still to come (SA_CALL_DONE_SEEN): that confirm(), or the
 * batch's source finalized undispatched with its context. */
void     _sa_call_release_kept       (SaCall              *call);

static inline GMainContext *
_sa_call_get_context (SaCall *call)
{
  return g_task_get_context (call->task);
}

/* GTask's completion of @task, queued on its context by a return from
 * another thread with the task as its user data (g_task_attach_source()),
 * until it is dispatched; NULL before it is queued and once it ran. */
static inline GSource *
_sa_task_find_completion (GTask *task)
{
  return g_main_context_find_source_by_funcs_user_data (g_task_get_context (task), &g_idle_funcs,
                                                        task);
}

/* On the body's thread, for a call whose task completed before its body
 * returned: attaches @source, which completes the call, to the caller's
 * context and returns TRUE; FALSE, attaching nothing, when its caller
 * passed no callback, so that call_done() delivered it already, or when
 * it was given up and delivered: nothing of it is left for the caller's
 * context, and _sa_call_complete() may then run on another thread. The
 * look and the attach are one step for the guard's delivery, which may
 * withdraw @source and complete the call itself. */
gboolean _sa_call_attach_hand_back   (SaCall              *call,
                                      GSource             *source);
/* Whether the call was given up and its caller's callback has run, which
 * the caller's context may wait for alone. */
gboolean _sa_call_given_up           (SaCall              *call);
/* On the body's thread, after the body: its change of the state to
 * BODY_RETURNED, as _sa_hand_back()'s last act on the call; FALSE when
 * call_done() changed it first. A call given up and delivered has its
 * late completion claimed by the drain thread then. */
gboolean _sa_call_set_body_returned  (SaCall              *call);

typedef enum
{
  SA_BODY_RETURNED_CHANGED,     /* BODY_RETURNED, unconfirmed */
  SA_BODY_RETURNED_DONE_FIRST,  /* call_done() changed it first */
  SA_BODY_RETURNED_GIVEN_UP,    /* given up and delivered first: left
                                 * RUNNING, no longer unconfirmed */
} SaBodyReturned;

/* As _sa_call_set_body_returned(), for a call whose body's thread did not
 * look for its task's completion: a call given up first is left to be
 * looked for (_sa_call_return_if_never_returned()), as its caller's
 * context may confirm it no more; otherwise the guard's delivery, on that
 * context, completes it there, ahead of its confirm batch. */
SaBodyReturned _sa_call_set_unconfirmed_returned (SaCall        *call);
/* On the body's thread, after the body: answers SA_ERROR_NO_RESULT for a
 * task its body never returned. */
void     _sa_call_return_if_never_returned (SaCall         *call);

/* --- what follows a call's callback ------------------------------------- */

typedef void (*SaDeliveredFunc) (GTask    *task,
                                 gpointer  data);

/* Runs @func (@task, @data) on the caller's context right after the
 * caller's callback of @task's call, then @destroy (@data), where that
 * callback and the task's completion part: a call given up before it, a
 * callback handed back by the body's thread after it. FALSE, keeping
 * nothing, when they do not part, or the callback ran already (see
 * _sa_call_task_given_up() for a call given up). */
gboolean _sa_call_task_on_delivered  (GTask               *task,
                                      SaDeliveredFunc      func,
                                      gpointer             data,
                                      GDestroyNotify       destroy);
/* The caller's cancellable of @task's call (its task has the guard's). */
GCancellable *_sa_call_task_get_cancellable (GTask *task);
/* Whether a guard gave @task's call up: its caller has the guard's error. */
gboolean _sa_call_task_given_up      (GTask               *task);
/* For a continuation of @task: the task its function reads with
 * g_task_propagate_*(): @task itself, a new reference, or a new task of
 * the guard's error when its guard gave the call up. */
GTask   *_sa_call_task_unwrap        (GTask               *task);

/* --- reading a result --------------------------------------------------- */

/* The g_task_return_*() a result was given with, and so is read with. */
typedef enum
{
  SA_RESULT_NONE,
  SA_RESULT_POINTER,
  SA_RESULT_BOOLEAN,
  SA_RESULT_INT,
  SA_RESULT_VALUE,
} SaResultForm;

/* The read-once rule of the dispatcher's and the lock's finish functions:
 * marks @result read; FALSE with SA_ERROR_FAILED when it was already. */
gboolean _sa_result_mark_read        (GAsyncResult        *result,
                                      GError             **error);
/* g_task_propagate_*() of @form into @out: a gpointer, a gboolean, a
 * gssize, or an empty GValue. */
gboolean _sa_task_read               (GTask               *task,
                                      SaResultForm         form,
                                      gpointer             out,
                                      GError             **error);
/* The reader of a call's task, in one order: read once
 * (_sa_result_mark_read()), then the guard's error of a call given up,
 * then the operation's result in @form (_sa_task_read()). */
gboolean _sa_call_task_read          (GAsyncResult        *result,
                                      SaResultForm         form,
                                      gpointer             out,
                                      GError             **error);
/* The call's task of @result, a new reference, read under the rule of
 * _sa_call_task_read(): NULL with @error set when it was read already or
 * its guard gave the call up. */
GTask   *_sa_call_task_take          (GAsyncResult        *result,
                                      GError             **error);

G_END_DECLS
