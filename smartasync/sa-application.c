/* sa-application.c: tie calls to an application's and a window's lifetime
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "sa-application.h"
#include "sa-call-task-private.h"
#include "sa-task-private.h"

/* An application's calls live in two lifetimes: a window's (closing it
 * cancels what it started) and the application's (it must not quit while
 * a call is pending). Both helpers are GIO-only, so they serve GTK,
 * libadwaita and headless GApplications alike. */

/* An object's cancellable, in its qdata. */
static SA_DEFINE_QUARK (sa-object-cancellable, object_cancellable)

static void
object_disposed (gpointer  data,
                 GObject  *where_the_object_was)
{
  g_cancellable_cancel (G_CANCELLABLE (data));
}

/**
 * sa_object_get_cancellable:
 * @object: (type GObject.Object): a [class@GObject.Object], such as a
 *   `GtkWindow` or a widget
 *
 * Gets the cancellable that is cancelled when @object is disposed: pass it
 * to the calls that @object starts, and closing a window (which disposes
 * it, whoever still holds a reference) cancels whatever it has in flight.
 *
 * Every call on the same object returns the same cancellable, which
 * @object owns; the calls it is passed to take their own references, so
 * it outlives @object as long as they need it. Call this on the thread
 * that owns @object (the main thread for a widget).
 *
 * Returns: (transfer none): @object's cancellable
 *
 * Since: 1.0
 */
GCancellable *
sa_object_get_cancellable (gpointer object)
{
  GCancellable *cancellable;

  g_return_val_if_fail (G_IS_OBJECT (object), NULL);

  cancellable = g_object_get_qdata (object, object_cancellable_quark ());
  if (cancellable == NULL)
    {
      cancellable = g_cancellable_new ();
      /* Cancelled at dispose (weak references are notified there), freed
       * at finalize with the rest of @object's data. */
      g_object_weak_ref (object, object_disposed, cancellable);
      g_object_set_qdata_full (object, object_cancellable_quark (),
                               cancellable, g_object_unref);
    }

  return cancellable;
}

typedef struct
{
  GApplication *application;
  gulong        handler_id;
  gboolean      passed_on;   /* to a hook of the call's */
} Hold;

static void
hold_release (Hold *hold)
{
  g_application_release (hold->application);
  g_object_unref (hold->application);
  g_free (hold);
}

static void
hold_free (gpointer  data,
           GClosure *closure)
{
  Hold *hold = data;

  if (!hold->passed_on)
    hold_release (hold);
}

static void
callback_ran (GTask    *task,
              gpointer  data)
{
}

static void
hook_done (gpointer data)
{
  hold_release (data);
}

static void
task_completed (GTask      *task,
                GParamSpec *pspec,
                Hold       *hold)
{
  /* A dispatcher's call may complete its task before the caller's
   * callback (its body's thread handing the callback back): the hold then
   * passes to a hook of the call's, released after that callback. */
  if (_sa_call_task_on_delivered (task, callback_ran, hold, hook_done))
    hold->passed_on = TRUE;
  /* Disconnecting frees @hold, which releases the application, unless it
   * passed on. */
  g_signal_handler_disconnect (task, hold->handler_id);
}

/**
 * sa_application_hold_task:
 * @application: a [class@Gio.Application]
 * @task: a [class@Gio.Task], such as the one [method@Sa.Dispatcher.call]
 *   returns
 *
 * Holds @application (`g_application_hold()`) until @task completes, so
 * that the application does not quit under a pending call, even when its
 * last window has closed. The hold is released on the task's context
 * right after its callback has run, or when @task is finalized without
 * completing; a task that has already completed is not held for.
 *
 * A hold keeps an application from quitting because it has nothing left
 * to do: it does not stop [method@Gio.Application.quit], which ends
 * `g_application_run()` at once, holds or not (GIO's rule). A call still
 * pending then is not waited for, and its callback runs only if the
 * application's context is iterated again. To quit once the calls have
 * answered, release the application's own hold (or close its last window)
 * rather than call `g_application_quit()`; to quit at once, cancel the
 * calls first ([func@Sa.object_get_cancellable] does it for a window's).
 *
 * Call this on the thread that runs @application.
 *
 * Since: 1.0
 */
void
sa_application_hold_task (GApplication *application,
                          GTask        *task)
{
  Hold *hold;

  g_return_if_fail (G_IS_APPLICATION (application));
  g_return_if_fail (G_IS_TASK (task));

  if (g_task_get_completed (task))
    return;

  hold = g_new0 (Hold, 1);
  hold->application = g_object_ref (application);
  g_application_hold (application);
  hold->handler_id = g_signal_connect_data (task, "notify::completed",
                                            G_CALLBACK (task_completed), hold,
                                            hold_free, 0);
}
