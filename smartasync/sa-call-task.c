/* sa-call-task.c: the call's task: made once per call, completed once through its SaCall, read once
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "sa-bridge-private.h"
#include "sa-call-task-private.h"
#include "sa-drain-thread-private.h"
#include "sa-error.h"
#include "sa-operation-private.h"
#include "sa-task-private.h"

/* The *call's task* is the GTask a caller gets: the one returned and the
 * one handed to its callback, always the same. It is the task handed to
 * the body too: one task per call, in every cell. */
static SA_DEFINE_QUARK (sa-result-read, result_read)
/* The dispatcher of a call's task that carries another source object or
 * tag than sa_dispatcher_call()'s, for its finish functions. */
static SA_DEFINE_QUARK (sa-dispatcher, dispatcher)

/* The error of a guard that gave a call up, on its task, for the
 * dispatcher's finish functions. */
static SA_DEFINE_QUARK (sa-guard-error, guard_error)

void
_sa_call_task_set_dispatcher (GTask        *task,
                              SaDispatcher *dispatcher)
{
  g_object_set_qdata (G_OBJECT (task), dispatcher_quark (), dispatcher);
}

SaDispatcher *
_sa_call_task_get_dispatcher (GTask *task)
{
  return g_object_get_qdata (G_OBJECT (task), dispatcher_quark ());
}

/* --- SaCall: async calls whose callback the library runs --------------- */

/* An SaCall is an async call whose caller's callback the library runs: a
 * blocking body on a pool, whose caller's callback must come after the
 * body returned, or any call with a guard (a timeout or the caller's
 * cancellable), which may be given up before the operation completes.
 * Invariants:
 * - the call's task is made on the caller's context with call_done() as
 *   its callback and the caller's user data as its data, and handed to
 *   the body with the SaCall in its qdata (put there by the thread that
 *   takes a queued call without a guard): GTask queues its completion to
 *   that context, from whichever thread completes it;
 * - @state goes from RUNNING to BODY_RETURNED (the body's thread, after
 *   the body, as its last act on the call) or to CALLBACK_WAITING
 *   (call_done(), first): the second of the two completes the call, on
 *   the caller's context (_sa_call_complete()); a call with no body to wait
 *   for starts at BODY_RETURNED;
 * - a body that returned without completing its task is completed with
 *   SA_ERROR_NO_RESULT before BODY_RETURNED, by its thread, which looks
 *   for the task's completion on the caller's context; when it does not
 *   look (@unconfirmed), confirm() of sa-hand-back.c does, on the
 *   caller's context, one priority below the task's and so after the
 *   completion the body queued (once more if the call came after the
 *   source's check, which the completion could not precede); a
 *   call_done() that comes first completes the call and leaves its record
 *   to that batch, which frees it when dispatched or finalized;
 * - the caller's callback runs once (SA_CALL_DELIVERED, caller's context
 *   only): at _sa_call_complete(), or when the guard gives the call up, if
 *   that comes first (call_given_up_cb()); a call of no callback is
 *   delivered in call_done(), with its task's completion;
 * - every reference the call holds is dropped on the caller's context:
 *   the task's at _sa_call_complete(), the rest with the last reference
 *   to the call (its own, dropped there, or its guard's, in the idle of
 *   call_guard_fired()); no pool thread drops any; a call of no callback
 *   whose body returned after call_done() is completed on the drain
 *   thread instead (_sa_call_attach_hand_back()), and so is a call given up and
 *   delivered before its body returned, whose caller may have stopped
 *   iterating too: the drain thread withdraws its task's completion from
 *   the caller's context (claim_late()), unless call_done() took
 *   the record first; while someone else holds or watches the task, it
 *   tries again later;
 * - a non-blocking operation may drop its task without completing it:
 *   the call then holds the task by a toggle reference, whose last-one
 *   notification completes it with SA_ERROR_NO_RESULT. */

/* A call with a guard, which may fire in another thread before the task
 * exists, and outlive _sa_call_complete() in its idle. */
typedef struct
{
  SaCall           call;
  gatomicrefcount  ref_count;       /* its own, and each idle of its guard's */
  int              priority;        /* of its guard's idle */
  SaGuard         *guard;           /* closed at _sa_call_complete() */
  GMainContext    *context;         /* the task's (unowned: the task holds it) */
  gint             delivered_early; /* atomic: call_given_up_cb() delivered it */
  GSource         *handed_back;     /* (unowned) under late_lock: the source
                                     * of hand_back() on the caller's context,
                                     * undispatched while the call is not
                                     * delivered */
} GuardedCall;

static inline GuardedCall *
call_guarded (SaCall *call)
{
  return (call->flags & SA_CALL_GUARDED) ? (GuardedCall *) call : NULL;
}

/* See sa-call-task-private.h. */
gint _sa_call_n_undelivered;

static void call_done (GObject      *source_object,
                       GAsyncResult *result,
                       gpointer      data);

/* The SaCall of a call's task: its callback data is the caller's, as
 * g_async_result_get_user_data() must give. */
static SA_DEFINE_QUARK (sa-call, call)

static GTask *
call_new_task (SaCall             *call,
               const SaCallOrigin *origin,
               GCancellable       *cancellable,
               gpointer            user_data)
{
  GTask *task = _sa_call_task_new (origin, cancellable, call_done, user_data);

  g_object_set_qdata (G_OBJECT (task), call_quark (), call);

  return task;
}

/* What runs once the caller's callback has, for what must follow it
 * (sa_continue(), sa_application_hold_task()) where the task's completion
 * does not: a call given up is delivered before it, and a callback handed back
 * by the body's thread after it. A guarded call's task carries a list of
 * them from the start, another call's from the moment call_done() sees
 * the callback must wait; under hooks_lock. */
typedef struct
{
  GSList       *hooks;                /* (element-type DeliveredHook) */
  gboolean      delivered;
  GCancellable *caller_cancellable;   /* the task's is the guard's */
} DeliveredHooks;

typedef struct
{
  SaDeliveredFunc  func;
  gpointer         data;
  GDestroyNotify   destroy;
} DeliveredHook;

static GMutex hooks_lock;
static SA_DEFINE_QUARK (sa-delivered-hooks, delivered_hooks)

static void
delivered_hook_free (gpointer data)
{
  DeliveredHook *hook = data;

  if (hook->destroy != NULL)
    hook->destroy (hook->data);
  g_free (hook);
}

static void
delivered_hooks_free (gpointer data)
{
  DeliveredHooks *hooks = data;

  g_slist_free_full (hooks->hooks, delivered_hook_free);
  g_clear_object (&hooks->caller_cancellable);
  g_free (hooks);
}

/* On the caller's context, once the caller's callback has run. */
static void
delivered_hooks_run (GTask *task)
{
  DeliveredHooks *hooks = g_object_get_qdata (G_OBJECT (task), delivered_hooks_quark ());
  GSList *list;

  if (hooks == NULL)
    return;
  g_mutex_lock (&hooks_lock);
  hooks->delivered = TRUE;
  list = g_steal_pointer (&hooks->hooks);
  g_mutex_unlock (&hooks_lock);

  list = g_slist_reverse (list);
  for (GSList *l = list; l != NULL; l = l->next)
    {
      DeliveredHook *hook = l->data;

      hook->func (task, hook->data);
    }
  g_slist_free_full (list, delivered_hook_free);
}

gboolean
_sa_call_task_on_delivered (GTask           *task,
                            SaDeliveredFunc  func,
                            gpointer         data,
                            GDestroyNotify   destroy)
{
  DeliveredHooks *hooks = g_object_get_qdata (G_OBJECT (task), delivered_hooks_quark ());
  DeliveredHook *hook;

  if (hooks == NULL)
    return FALSE;

  g_mutex_lock (&hooks_lock);
  if (hooks->delivered)
    {
      g_mutex_unlock (&hooks_lock);
      return FALSE;
    }
  hook = g_new (DeliveredHook, 1);
  *hook = (DeliveredHook) { func, data, destroy };
  hooks->hooks = g_slist_prepend (hooks->hooks, hook);
  g_mutex_unlock (&hooks_lock);

  return TRUE;
}

GCancellable *
_sa_call_task_get_cancellable (GTask *task)
{
  DeliveredHooks *hooks = g_object_get_qdata (G_OBJECT (task), delivered_hooks_quark ());

  return hooks != NULL ? hooks->caller_cancellable : g_task_get_cancellable (task);
}

gboolean
_sa_call_task_given_up (GTask *task)
{
  return g_object_get_qdata (G_OBJECT (task), guard_error_quark ()) != NULL;
}

static void
call_free (SaCall *call)
{
  g_assert (call->task == NULL);
  g_clear_object (&call->operation);
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
  gboolean given_up = FALSE;

  if (call->flags & SA_CALL_DELIVERED)
    return;
  call->flags |= SA_CALL_DELIVERED;

  if (gcall != NULL && gcall->guard != NULL && !_sa_guard_disarm (gcall->guard))
    {
      g_object_set_qdata_full (G_OBJECT (call->task), guard_error_quark (),
                               _sa_guard_error (gcall->guard, sa_operation_get_name (call->operation)),
                               (GDestroyNotify) g_error_free);
      given_up = TRUE;
    }
  if (call->callback != NULL)
    call->callback (g_task_get_source_object (call->task), G_ASYNC_RESULT (call->task),
                    task_user_data (call->task));
  /* After the callback, as GTask notifies completion after it. */
  if (given_up || (call->flags & SA_CALL_HOOKED))
    delivered_hooks_run (call->task);
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

/* _sa_call_complete() but for the record itself, which keeps no reference. */
static void
call_complete_kept (SaCall *call)
{
  GuardedCall *gcall = call_guarded (call);
  GTask *task;

  if (call->flags & SA_CALL_COUNTED)
    g_atomic_int_add (&_sa_call_n_undelivered, -1);
  call_deliver (call);
  if (gcall != NULL)
    g_clear_pointer (&gcall->guard, _sa_guard_close);
  task = g_steal_pointer (&call->task);
  if (call->flags & SA_CALL_TOGGLE)
    g_object_remove_toggle_ref (G_OBJECT (task), call_task_toggled, call);
  else
    g_object_unref (task);
  g_clear_object (&call->operation);
}

void
_sa_call_complete (SaCall *call)
{
  call_complete_kept (call);
  call_release (call);
}

void
_sa_call_release_kept (SaCall *call)
{
  call_release (call);
}

/* Held by whoever takes a guarded call's record from its task's qdata:
 * call_done(), or the drain thread, which withdraws the task's completion
 * under it, while that source cannot have been freed. */
static GMutex late_lock;
/* On a task whose completion the drain thread withdrew. */
static SA_DEFINE_QUARK (sa-late-withdrawn, late_withdrawn)

static void
call_done (GObject      *source_object,
           GAsyncResult *result,
           gpointer      data)
{
  gboolean needs_hooks;
  SaCall *call;

  /* Only a guarded call has a cancellable, and only one may be claimed
   * by the drain thread. */
  if (g_task_get_cancellable (G_TASK (result)) == NULL)
    call = g_object_get_qdata (G_OBJECT (result), call_quark ());
  else
    {
      g_mutex_lock (&late_lock);
      call = g_object_steal_qdata (G_OBJECT (result), call_quark ());
      /* Claimed by the drain thread, which withdrew this very dispatch's
       * source and dropped the reference its callback drops after this. */
      if (call == NULL && g_object_get_qdata (G_OBJECT (result), late_withdrawn_quark ()) != NULL)
        g_object_ref (result);
      g_mutex_unlock (&late_lock);
      if (call == NULL)
        return;   /* claim_late() completes it */
    }

  /* With no callback, the call is delivered with its task's completion,
   * which its caller may wait for alone: the guard settled, what follows
   * run, before the body's thread may see CALLBACK_WAITING. */
  if (call->callback == NULL)
    call_deliver (call);

  /* The body's thread has yet to say that the body returned: it will
   * complete the call then. GTask marks the task completed on return from
   * here, before the caller's callback: what must follow that can wait.
   * Read before the change: a call the body's thread may then complete on
   * the drain thread (_sa_call_attach_hand_back()) has no callback or has
   * hooks. */
  needs_hooks = call->callback != NULL && !(call->flags & SA_CALL_HOOKED);
  if (g_atomic_int_compare_and_exchange (&call->state, SA_CALL_RUNNING, SA_CALL_CALLBACK_WAITING))
    {
      if (needs_hooks)
        {
          call->flags |= SA_CALL_HOOKED;
          g_object_set_qdata_full (G_OBJECT (call->task), delivered_hooks_quark (),
                                   g_new0 (DeliveredHooks, 1), delivered_hooks_free);
        }
      return;
    }

  /* Body returned, unconfirmed, its batch's confirm() still to come: the
   * call completes here, as a caller may stop iterating now, and leaves
   * its record to that batch. */
  if (call->unconfirmed && !(call->flags & SA_CALL_CONFIRM_SEEN))
    {
      call->flags |= SA_CALL_DONE_SEEN;
      call_complete_kept (call);
      return;
    }

  _sa_call_complete (call);
}

/* For the body's thread: reads @guarded, not the caller's context's
 * @flags. */
gboolean
_sa_call_given_up (SaCall *call)
{
  return call->guarded && g_atomic_int_get (&((GuardedCall *) call)->delivered_early);
}

gboolean
_sa_call_attach_hand_back (SaCall  *call,
                           GSource *source)
{
  gboolean given_up;

  /* call_done() delivered a call of no callback before it let the body's
   * thread see CALLBACK_WAITING. */
  if (call->callback == NULL)
    return FALSE;
  if (!call->guarded)
    {
      g_source_attach (source, _sa_call_get_context (call));
      return TRUE;
    }

  /* A call given up was delivered before: its caller may have stopped
   * iterating. One given up later finds @source there (call_given_up_cb()). */
  g_mutex_lock (&late_lock);
  given_up = _sa_call_given_up (call);
  if (!given_up)
    {
      /* Before the attach, after which @source may free the call. */
      ((GuardedCall *) call)->handed_back = source;
      g_source_attach (source, _sa_call_get_context (call));
    }
  g_mutex_unlock (&late_lock);

  return !given_up;
}

/* Whether anything but the call, GTask's completion (two references)
 * and the drain thread's claim can still see @task: a reference of its
 * own (a caller that kept the task, a continuation) or a handler of
 * notify::completed. Its completion then stays on its context, for
 * whoever waits for it there, as GTask's would. */
static gboolean
task_watched (GTask *task)
{
  static guint notify_id;
  static GQuark completed;

  if G_UNLIKELY (g_atomic_int_get (&notify_id) == 0)
    {
      completed = g_quark_from_static_string ("completed");
      g_atomic_int_set (&notify_id, g_signal_lookup ("notify", G_TYPE_OBJECT));
    }

  return g_atomic_int_get ((gint *) &G_OBJECT (task)->ref_count) > 4 ||
         g_signal_has_handler_pending (task, g_atomic_int_get (&notify_id), completed, TRUE);
}

/* A claim put off while its task is watched, tried again later: a weak
 * reference meanwhile, so that a watcher that lets go without the drain
 * thread finalizes the task itself, on its own thread. */
typedef struct
{
  GTask    *task;       /* the first try's reference, then NULL */
  GWeakRef  later;
  guint     delay_ms;
} LateClaim;

static gboolean claim_late_cb (gpointer data);

static gboolean
claim_again_cb (gpointer data)
{
  _sa_drain_run (claim_late_cb, data);

  return G_SOURCE_REMOVE;
}

static void
late_claim_free (LateClaim *claim)
{
  g_weak_ref_clear (&claim->later);
  g_free (claim);
}

/* Takes @task's call from its completion, which it withdraws from the
 * caller's context, unless the completion has run (or is under way past
 * call_done()'s take), or the task is watched (*@watched). Under
 * late_lock, while that source cannot have been freed. */
static SaCall *
withdraw_completion (GTask    *task,
                     gboolean *watched)
{
  GSource *completion;
  SaCall *call = NULL;

  *watched = FALSE;
  g_mutex_lock (&late_lock);
  /* Still queued, or in a dispatch whose call_done() waits for the lock:
   * alive either way while the call's record is in the task. */
  completion = _sa_task_find_completion (task);
  if (completion != NULL && g_object_get_qdata (G_OBJECT (task), call_quark ()) != NULL)
    {
      *watched = task_watched (task);
      if (!*watched)
        call = g_object_steal_qdata (G_OBJECT (task), call_quark ());
    }
  if (call != NULL)
    {
      g_source_destroy (completion);
      g_object_set_qdata (G_OBJECT (task), late_withdrawn_quark (), GINT_TO_POINTER (TRUE));
    }
  g_mutex_unlock (&late_lock);

  return call;
}

static gboolean
claim_late_cb (gpointer data)
{
  LateClaim *claim = data;
  GTask *task = g_steal_pointer (&claim->task);
  gboolean watched;
  SaCall *call;

  if (task == NULL)
    task = g_weak_ref_get (&claim->later);
  if (task == NULL)
    {
      late_claim_free (claim);   /* finalized: completed on its context */
      return G_SOURCE_REMOVE;
    }

  call = withdraw_completion (task, &watched);

  /* A watcher may let go without iterating the context (a continuation
   * fired from a later idle, say): looked at again, less and less often. */
  if (watched)
    {
      g_weak_ref_set (&claim->later, task);
      g_object_unref (task);
      claim->delay_ms = MIN (claim->delay_ms * 2, 1000);
      _sa_timer_run_later (claim->delay_ms, claim_again_cb, claim);
      return G_SOURCE_REMOVE;
    }

  if (call != NULL)
    {
      _sa_call_complete (call);
      /* GTask's completion idle drops a reference that g_task_return()
       * took when it is dispatched (complete_in_idle_cb(), GLib 2.36 to
       * 2.84): withdrawn, that reference is dropped here, and a dispatch
       * already under way takes one more in call_done() to make up for
       * its own. */
      g_object_unref (task);
    }
  g_object_unref (task);
  late_claim_free (claim);

  return G_SOURCE_REMOVE;
}

/* Hands the late completion of a call given up to the drain thread, with
 * a reference to its @task: it withdraws the completion from the caller's
 * context and completes the call there, unless call_done() ran first. */
static void
claim_late (GTask *task)
{
  LateClaim *claim = g_new (LateClaim, 1);

  claim->task = task;
  g_weak_ref_init (&claim->later, NULL);
  claim->delay_ms = 5;
  _sa_drain_run (claim_late_cb, claim);
}

gboolean
_sa_call_set_body_returned (SaCall *call)
{
  GTask *given_up = NULL;
  gboolean changed;

  if (!call->guarded)
    return g_atomic_int_compare_and_exchange (&call->state, SA_CALL_RUNNING, SA_CALL_BODY_RETURNED);

  /* Its task taken before the change, after which call_done() may free
   * the call; with the guard's delivery shut out meanwhile, which claims
   * the late completion itself if it comes after the change. */
  g_mutex_lock (&late_lock);
  if (_sa_call_given_up (call))
    given_up = g_object_ref (call->task);
  changed = g_atomic_int_compare_and_exchange (&call->state, SA_CALL_RUNNING, SA_CALL_BODY_RETURNED);
  g_mutex_unlock (&late_lock);

  if (!changed)
    g_clear_object (&given_up);   /* not the last: the call holds its task */
  else if (given_up != NULL)
    claim_late (given_up);

  return changed;
}

/* The state's change of an unconfirmed call, by its body's thread. */
SaBodyReturned
_sa_call_set_unconfirmed_returned (SaCall *call)
{
  SaBodyReturned returned = SA_BODY_RETURNED_CHANGED;

  /* Looked at with the change, under the lock under which the guard's
   * delivery marks the call given up and reads the state: one of the two
   * sees the other. */
  if (call->guarded)
    g_mutex_lock (&late_lock);
  if (_sa_call_given_up (call))
    {
      call->unconfirmed = FALSE;
      returned = SA_BODY_RETURNED_GIVEN_UP;
    }
  else if (!g_atomic_int_compare_and_exchange (&call->state, SA_CALL_RUNNING, SA_CALL_BODY_RETURNED))
    {
      call->unconfirmed = FALSE;   /* call_done() ran: it waits for us */
      returned = SA_BODY_RETURNED_DONE_FIRST;
    }
  if (call->guarded)
    g_mutex_unlock (&late_lock);

  return returned;
}

void
_sa_call_return_if_never_returned (SaCall *call)
{
  GTask *task = call->task;

  /* Its completion is queued until call_done() has run, which marks the
   * state first: so neither found nor marked means never returned. */
  if (_sa_task_find_completion (task) == NULL && g_atomic_int_get (&call->state) == SA_CALL_RUNNING)
    g_task_return_error (task, _sa_operation_new_no_result_error (call->operation));
}

/* In the guard's delivery, on the caller's context, for a call whose body
 * returned unconfirmed and whose confirm batch, still to come on this
 * context, holds its record: its late completion is withdrawn and done
 * here, with the record left to that batch, unless @task (a reference of
 * our own) is watched. */
static void
given_up_complete_unconfirmed (SaCall *call,
                               GTask  *task)
{
  gboolean watched;

  /* Never returned by its body: answered in an idle, as its cancellable
   * is cancelled, and withdrawn with it. */
  if (_sa_task_find_completion (task) == NULL)
    g_task_return_error (task, _sa_operation_new_no_result_error (call->operation));

  if (withdraw_completion (task, &watched) != NULL)
    {
      call->flags |= SA_CALL_DONE_SEEN;
      call_complete_kept (call);
      g_object_unref (task);   /* GTask's completion's, withdrawn */
    }
  g_object_unref (task);
}

static gboolean
call_given_up_cb (gpointer data)
{
  GuardedCall *gcall = data;
  gboolean in_batch = FALSE;
  GSource *handed_back = NULL;
  GTask *late = NULL;
  /* Delivered already by the dispatch that completes the call, which may
   * be the caller of this one (a callback that iterates its context). */
  gboolean delivered = gcall->call.flags & SA_CALL_DELIVERED;

  call_deliver (&gcall->call);
  /* Under the lock under which the body's thread reads it and hands the
   * call back (_sa_hand_back()): one of the two claims the late
   * completion. An offload handed back before is not complete yet while
   * its task is here, and no other thread may clear it meanwhile. */
  g_mutex_lock (&late_lock);
  g_atomic_int_set (&gcall->delivered_early, TRUE);
  if ((gcall->call.flags & SA_CALL_COUNTED) && gcall->call.task != NULL &&
      g_atomic_int_get (&gcall->call.state) == SA_CALL_BODY_RETURNED)
    {
      late = g_object_ref (gcall->call.task);
      in_batch = gcall->call.unconfirmed && !(gcall->call.flags & SA_CALL_CONFIRM_SEEN);
    }
  /* Handed back, after call_done(), to this context before this mark: its
   * source comes later than this dispatch, which completes the call. */
  else if (!delivered && gcall->call.task != NULL && gcall->handed_back != NULL)
    {
      handed_back = g_steal_pointer (&gcall->handed_back);
      g_source_destroy (handed_back);
    }
  g_mutex_unlock (&late_lock);
  if (handed_back != NULL)
    _sa_call_complete (&gcall->call);
  else if (in_batch)
    given_up_complete_unconfirmed (&gcall->call, late);
  else if (late != NULL)
    claim_late (late);

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
  g_source_set_static_name (source, "[smartasync] call given up");
  g_source_set_callback (source, call_given_up_cb, guarded_ref (gcall), guarded_unref);
  g_source_attach (source, gcall->context);
  g_source_unref (source);
}

SaCall *
_sa_call_new (const SaCallOrigin  *origin,
              SaOperation         *operation,
              GCancellable        *cancellable,
              guint                timeout_ms,
              GAsyncReadyCallback  callback,
              gpointer             user_data,
              SaCallState          state)
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

  call->flags |= SA_CALL_GUARDED;
  g_atomic_ref_count_init (&gcall->ref_count);
  gcall->priority = origin->priority;
  gcall->delivered_early = FALSE;
  gcall->handed_back = NULL;
  gcall->context = g_main_context_get_thread_default ();
  if (gcall->context == NULL)
    gcall->context = g_main_context_default ();
  /* The task is made with the guard's cancellable, which the guard
   * cancels when it fires (so that GTask reads it as cancelled), and
   * which is the caller's when there is no timeout. The guard may fire
   * at once, before the task exists: the call is given up from an idle. */
  gcall->guard = _sa_guard_new (cancellable, TRUE, timeout_ms, gcall->context,
                                call_guard_fired, gcall, NULL);
  call->task = call_new_task (call, origin, gcall->guard->cancellable, user_data);
  {
    DeliveredHooks *hooks = g_new0 (DeliveredHooks, 1);

    if (caller_cancellable != NULL)
      hooks->caller_cancellable = g_object_ref (caller_cancellable);
    call->flags |= SA_CALL_HOOKED;
    g_object_set_qdata_full (G_OBJECT (call->task), delivered_hooks_quark (), hooks,
                             delivered_hooks_free);
  }

  return call;
}

SaCall *
_sa_call_new_queued (const SaCallOrigin  *origin,
                     SaOperation         *operation,
                     GAsyncReadyCallback  callback,
                     gpointer             user_data)
{
  SaCall *call = g_new (SaCall, 1);

  *call = (SaCall) {
    .task = _sa_call_task_new (origin, NULL, call_done, user_data),
    .callback = callback,
    .operation = g_object_ref (operation),
    .state = SA_CALL_RUNNING,
    .flags = SA_CALL_COUNTED,
  };
  g_atomic_int_inc (&_sa_call_n_undelivered);

  return call;
}

void
_sa_call_task_set_call (SaCall *call)
{
  g_object_set_qdata (G_OBJECT (call->task), call_quark (), call);
}

void
_sa_call_hold_by_toggle (SaCall *call)
{
  call->flags |= SA_CALL_TOGGLE;
  g_object_add_toggle_ref (G_OBJECT (call->task), call_task_toggled, call);
  g_object_unref (call->task);
}

/* --- reading ------------------------------------------------------------ */

/* The entry of result_read_quark(): NULL before the read, HELD_READ
 * after it; or the operation a non-blocking body's task holds, tagged
 * HELD_READ once read. */
#define HELD_READ ((guintptr) 1)

static void
held_operation_release (gpointer data)
{
  g_object_unref ((gpointer) ((guintptr) data & ~HELD_READ));
}

void
_sa_operation_hold_in_task (SaOperation *self,
                            GTask       *task)
{
  g_object_set_qdata_full (G_OBJECT (task), result_read_quark (), g_object_ref (self),
                           held_operation_release);
}

gboolean
_sa_result_mark_read (GAsyncResult  *result,
                      GError       **error)
{
  gpointer held = g_object_get_qdata (G_OBJECT (result), result_read_quark ());

  if (((guintptr) held & HELD_READ) != 0)
    {
      g_set_error_literal (error, SA_ERROR, SA_ERROR_FAILED,
                           "The result of this call was read already: it is read once");
      return FALSE;
    }
  if (held == NULL)
    g_object_set_qdata (G_OBJECT (result), result_read_quark (), GUINT_TO_POINTER (HELD_READ));
  else
    g_object_replace_qdata (G_OBJECT (result), result_read_quark (), held,
                            (gpointer) ((guintptr) held | HELD_READ), held_operation_release,
                            NULL);

  return TRUE;
}

gboolean
_sa_task_read (GTask         *task,
               SaResultForm   form,
               gpointer       out,
               GError       **error)
{
  GError *local_error = NULL;

  switch (form)
    {
    case SA_RESULT_POINTER:
      *(gpointer *) out = g_task_propagate_pointer (task, &local_error);
      break;

    case SA_RESULT_BOOLEAN:
      *(gboolean *) out = g_task_propagate_boolean (task, &local_error);
      break;

    case SA_RESULT_INT:
      *(gssize *) out = g_task_propagate_int (task, &local_error);
      break;

    case SA_RESULT_VALUE:
      return _sa_task_propagate_value (task, out, error);

    case SA_RESULT_NONE:
    default:
      g_assert_not_reached ();
    }

  if G_UNLIKELY (local_error != NULL)
    {
      g_propagate_error (error, local_error);
      return FALSE;
    }

  return TRUE;
}

/* The guard's error of a call given up, for its caller's read. */
static inline gboolean
propagate_given_up (GTask   *task,
                    GError **error)
{
  const GError *guard_error = g_object_get_qdata (G_OBJECT (task), guard_error_quark ());

  if G_LIKELY (guard_error == NULL)
    return FALSE;

  g_propagate_error (error, g_error_copy (guard_error));
  return TRUE;
}

gboolean
_sa_call_task_read (GAsyncResult  *result,
                    SaResultForm   form,
                    gpointer       out,
                    GError       **error)
{
  if (!_sa_result_mark_read (result, error) || propagate_given_up (G_TASK (result), error))
    return FALSE;

  return _sa_task_read (G_TASK (result), form, out, error);
}

GTask *
_sa_call_task_take (GAsyncResult  *result,
                    GError       **error)
{
  if (!_sa_result_mark_read (result, error) || propagate_given_up (G_TASK (result), error))
    return NULL;

  return g_object_ref (G_TASK (result));
}

GTask *
_sa_call_task_unwrap (GTask *task)
{
  const GError *guard_error = g_object_get_qdata (G_OBJECT (task), guard_error_quark ());
  SaBridge bridge;
  GTask *failed;

  if G_LIKELY (guard_error == NULL)
    return g_object_ref (task);

  /* Given up by its guard: a task of the guard's error stands for it,
   * completed on the private context, so that its completion holds no
   * context of the caller's. */
  _sa_bridge_init (&bridge, NULL, 0, FALSE, NULL);
  failed = g_task_new (g_task_get_source_object (task), NULL, sa_bridge_callback, &bridge);
  _sa_task_set_tag (failed, g_task_get_source_tag (task));

  return _sa_bridge_return_error (&bridge, failed, g_error_copy (guard_error));
}
