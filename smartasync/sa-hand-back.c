/* sa-hand-back.c: hands an offloaded call whose body returned back to its caller's context
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "sa-drain-thread-private.h"
#include "sa-hand-back-private.h"
#include "sa-operation-private.h"

static void attach_confirm (SaCall       *call,
                            GMainContext *context,
                            int           priority);

static int
confirm_priority (SaCall *call)
{
  int priority = g_task_get_priority (call->task);

  return priority < G_MAXINT ? priority + 1 : priority;
}

/* On the caller's context, for a call whose body's thread did not look
 * for the task's completion: at a priority below the task's, so that a
 * completion queued by the body came first, in the usual case; else it
 * is looked for here. */
static void
confirm (SaCall *call)
{
  if (call->flags & SA_CALL_DONE_SEEN)
    {
      _sa_call_release_kept (call);   /* completed by call_done() */
      return;
    }

  /* Handed over after this source's last check: a completion the body
   * queued then is dispatched before the next one can run. */
  if (!(call->flags & SA_CALL_DEFERRED))
    {
      call->flags |= SA_CALL_DEFERRED;
      attach_confirm (call, _sa_call_get_context (call), confirm_priority (call));
      return;
    }

  call->flags |= SA_CALL_CONFIRM_SEEN;
  if (_sa_task_find_completion (call->task) == NULL)
    /* Never returned: call_done() completes the call from this. */
    g_task_return_error (call->task, _sa_operation_new_no_result_error (call->operation));
}

static gboolean
call_complete_cb (gpointer data)
{
  _sa_call_complete (data);

  return G_SOURCE_REMOVE;
}

/* On the body's thread, once call_done() ran: hands the call to the
 * caller's context, where call_complete_cb() completes it; or, for a call
 * with no callback, whose caller may have stopped iterating once its task
 * read as completed, or one given up, to the drain thread (as GTask's
 * worker drops a task of no callback), never to this thread. */
static void
hand_back (SaCall *call)
{
  GSource *source = g_idle_source_new ();

  g_source_set_priority (source, g_task_get_priority (call->task));
  g_source_set_static_name (source, "[smartasync] callback after the body");
  g_source_set_callback (source, call_complete_cb, call, NULL);
  if (!_sa_call_attach_hand_back (call, source))
    _sa_drain_run (call_complete_cb, call);
  g_source_unref (source);
}

/* Calls whose body's thread did not look for their task's completion,
 * confirmed together by one source on their context: a batch that a
 * thread fills, at one priority, until the source is dispatched. A thread
 * keeps its last batch, not the source: a source must not outlive its
 * context in other hands. */
struct _SaConfirmBatch
{
  gatomicrefcount ref_count;   /* its source's, the filling thread's */
  GMutex          lock;
  GMainContext   *context;     /* unowned: its calls' tasks hold it */
  int             priority;
  GPtrArray      *calls;       /* NULL once dispatched: it takes no more */
};

typedef struct
{
  GSource         source;
  SaConfirmBatch *batch;
} ConfirmSource;

void
_sa_confirm_batch_unref (SaConfirmBatch *batch)
{
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
  SaConfirmBatch *batch = ((ConfirmSource *) source)->batch;
  GPtrArray *calls;

  g_mutex_lock (&batch->lock);
  calls = g_steal_pointer (&batch->calls);
  g_mutex_unlock (&batch->lock);
  for (guint i = 0; i < calls->len; i++)
    confirm (calls->pdata[i]);
  g_ptr_array_unref (calls);

  return G_SOURCE_REMOVE;
}

/* Undispatched, with its context: each call in it was completed by
 * call_done() (any other still holds its task, which holds the context). */
static void
confirm_finalize (GSource *source)
{
  SaConfirmBatch *batch = ((ConfirmSource *) source)->batch;
  GPtrArray *calls;

  g_mutex_lock (&batch->lock);
  calls = g_steal_pointer (&batch->calls);
  g_mutex_unlock (&batch->lock);
  if (calls != NULL)
    {
      for (guint i = 0; i < calls->len; i++)
        _sa_call_release_kept (calls->pdata[i]);
      g_ptr_array_unref (calls);
    }
  _sa_confirm_batch_unref (batch);
}

static GSourceFuncs confirm_funcs = {
  confirm_prepare, NULL, confirm_dispatch, confirm_finalize, NULL, NULL,
};

/* Adds @call to the batch this thread fills (a reference in its
 * SaThreadStorage) if it fits, else to a new one, on @context, its task's. */
static void
attach_confirm (SaCall       *call,
                GMainContext *context,
                int           priority)
{
  SaThreadStorage *storage = _sa_thread_storage_get ();
  SaConfirmBatch *batch = storage->confirm_batch;
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

  batch = g_new (SaConfirmBatch, 1);
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
  g_clear_pointer (&storage->confirm_batch, _sa_confirm_batch_unref);
  storage->confirm_batch = batch;
  _sa_thread_storage_hold_exit ();
}

void
_sa_hand_back_confirm (SaCall *call)
{
  attach_confirm (call, _sa_call_get_context (call), confirm_priority (call));
}

/* The last act of the body's thread on the call, whereafter the caller's
 * context may free it. */
void
_sa_hand_back (SaCall *call)
{
  gboolean unconfirmed = call->unconfirmed;
  GMainContext *context;
  int priority;

  if (!unconfirmed)
    {
      if (!_sa_call_set_body_returned (call))
        hand_back (call);
      return;
    }

  /* Taken before the change: afterwards call_done() may complete the
   * call, and release its task and the context with it, at any moment;
   * the record stays until its batch is dispatched or finalized. */
  priority = confirm_priority (call);
  context = g_main_context_ref (_sa_call_get_context (call));
  switch (_sa_call_set_unconfirmed_returned (call))
    {
    case SA_BODY_RETURNED_CHANGED:
      attach_confirm (call, context, priority);
      break;
    case SA_BODY_RETURNED_DONE_FIRST:
      hand_back (call);
      break;
    case SA_BODY_RETURNED_GIVEN_UP:
      _sa_call_return_if_never_returned (call);
      if (!_sa_call_set_body_returned (call))
        hand_back (call);
      break;
    default:
      g_assert_not_reached ();
    }
  g_main_context_unref (context);
}
