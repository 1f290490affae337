/* test-sync-wait.c: what a sync wait leaves behind on its private context
 *
 * Every way of waiting as a sync caller (SaBridge, the dispatcher's sync
 * cell, a sync caller of SaLock) against what an operation may queue on
 * the thread-default context it started on: a GDBus signal subscription
 * that it drops when it ends (GDBus frees its user data from an idle),
 * a chain of idles, a descriptor with data to read, an idle that re-arms
 * for ever, a timer not due yet, a watch holding a task made on the
 * context when the contexts are reset.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "test-util.h"

#include <glib-unix.h>
#include <glib/gstdio.h>
#include <unistd.h>

/* The most iterations a wait spends on what its call left ready:
 * SA_CONTEXT_FLUSH_MAX of sa-context-private.h, as documented. */
#define FLUSH_MAX 100

typedef enum
{
  CELL_BRIDGE,         /* sa_bridge_new () … sa_bridge_wait () */
  CELL_DISPATCHER,     /* sa_dispatcher_call () of a sync caller */
  CELL_LOCK,           /* sa_lock_call_sync () */
  N_CELLS
} Cell;

static const char * const cell_names[] = { "bridge", "dispatcher", "lock" };

typedef enum
{
  LEFT_DBUS_SUBSCRIPTION,  /* subscribes, calls the bus, unsubscribes in the reply */
  LEFT_IDLE_CHAIN,         /* an idle that adds an idle that adds an idle */
  LEFT_FD_READY,           /* a low-priority watch on a pipe with a byte to read */
  LEFT_REARMING_IDLE,      /* an idle that never removes itself */
  LEFT_TIMER_NOT_DUE,      /* a timeout of an hour */
  LEFT_WATCH_HOLDS_TASK,   /* a watch on a pipe written to after a reset, holding a
                            * task made on the context: source → task → context */
  N_LEFTS
} Left;

static const char * const left_names[] = {
  "dbus-subscription", "idle-chain", "fd-ready", "rearming-idle", "timer-not-due",
  "watch-holds-task",
};

typedef struct
{
  Left             left;
  GDBusConnection *bus;
  GObject         *object;       /* the caller's: each queued thing holds it */
  gint             finalized;    /* atomic */
  guint            subscription;
  guint            n_rearmed;    /* dispatches of the re-arming idle */
  GSource         *left_source;  /* (nullable) the re-arming idle, the timer */
  gint             pipe[2];      /* the watch's, read end closed by it */
} Case;

/* --- the operation, written once as GIO's _async/_finish pair ----------- */

static void
signal_cb (GDBusConnection *connection,
           const char      *sender,
           const char      *path,
           const char      *interface,
           const char      *member,
           GVariant        *parameters,
           gpointer         user_data)
{
}

static void
get_id_done (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Case *c = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);

  g_dbus_connection_signal_unsubscribe (c->bus, c->subscription);
  c->subscription = 0;
  if (reply == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

static gboolean
chain_idle (gpointer data)
{
  GObject *object = data;
  guint depth = GPOINTER_TO_UINT (g_object_get_data (object, "depth"));

  if (depth < 3)
    {
      g_object_set_data (object, "depth", GUINT_TO_POINTER (depth + 1));
      GSource *next = g_idle_source_new ();

      /* On the context that runs this one, the call's private context. */
      g_source_set_callback (next, chain_idle, g_object_ref (object), g_object_unref);
      g_source_attach (next, g_source_get_context (g_main_current_source ()));
      g_source_unref (next);
    }

  return G_SOURCE_REMOVE;
}

/* Reads its byte, closes the pipe, and is done. */
static gboolean
fd_readable (gint         fd,
             GIOCondition condition,
             gpointer     data)
{
  char byte;

  g_assert_cmpint (read (fd, &byte, 1), ==, 1);
  g_assert_true (g_close (fd, NULL));
  return G_SOURCE_REMOVE;
}

static gboolean
rearming_idle (gpointer data)
{
  Case *c = data;

  c->n_rearmed++;
  return G_SOURCE_CONTINUE;
}

static gboolean
not_due (gpointer data)
{
  g_assert_not_reached ();
  return G_SOURCE_REMOVE;
}

static GSource *
attach_here (GSource     *source,
             GSourceFunc  func,
             gpointer     data,
             gboolean     hold_object,
             Case        *c)
{
  if (hold_object)
    g_source_set_callback (source, func, g_object_ref (c->object), g_object_unref);
  else
    g_source_set_callback (source, func, data, NULL);
  g_source_attach (source, g_main_context_get_thread_default ());

  return source;
}

/* Queues on the thread-default context what @c->left says, and completes
 * with TRUE (the D-Bus case: once the bus has answered). */
static void
leave_async (Case                *c,
             GCancellable        *cancellable,
             GAsyncReadyCallback  callback,
             gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);

  g_task_set_task_data (task, c, NULL);
  switch (c->left)
    {
    case LEFT_DBUS_SUBSCRIPTION:
      c->subscription = g_dbus_connection_signal_subscribe (c->bus, NULL, "org.example.SyncWait",
                                                            "Changed", "/org/example/SyncWait",
                                                            NULL, G_DBUS_SIGNAL_FLAGS_NONE,
                                                            signal_cb, g_object_ref (c->object),
                                                            g_object_unref);
      g_dbus_connection_call (c->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                              "org.freedesktop.DBus", "GetId", NULL, G_VARIANT_TYPE ("(s)"),
                              G_DBUS_CALL_FLAGS_NONE, -1, cancellable, get_id_done,
                              g_steal_pointer (&task));
      return;

    case LEFT_IDLE_CHAIN:
      g_source_unref (attach_here (g_idle_source_new (), chain_idle, NULL, TRUE, c));
      break;

    case LEFT_FD_READY:
      {
        gint fds[2];
        GSource *watch;

        g_assert_true (g_unix_open_pipe (fds, FD_CLOEXEC, NULL));
        g_assert_cmpint (write (fds[1], "x", 1), ==, 1);
        g_assert_true (g_close (fds[1], NULL));
        watch = g_unix_fd_source_new (fds[0], G_IO_IN);
        g_source_set_callback (watch, G_SOURCE_FUNC (fd_readable), g_object_ref (c->object), g_object_unref);
        /* Below the call's completion: dispatched after it. */
        g_source_set_priority (watch, G_PRIORITY_LOW);
        g_source_attach (watch, g_main_context_get_thread_default ());
        /* Ready only once a poll() has seen the byte. */
        g_source_unref (watch);
      }
      break;

    case LEFT_REARMING_IDLE:
      c->left_source = attach_here (g_idle_source_new (), rearming_idle, c, FALSE, c);
      break;

    case LEFT_TIMER_NOT_DUE:
      c->left_source = attach_here (g_timeout_source_new_seconds (3600), not_due, NULL, TRUE, c);
      break;

    case LEFT_WATCH_HOLDS_TASK:
      {
        /* Made on the private context; holds the caller's object. */
        GTask *held = g_task_new (NULL, NULL, NULL, NULL);
        GSource *watch;

        g_task_set_task_data (held, g_object_ref (c->object), g_object_unref);
        g_assert_true (g_unix_open_pipe (c->pipe, FD_CLOEXEC, NULL));
        watch = g_unix_fd_source_new (c->pipe[0], G_IO_IN);
        g_source_set_callback (watch, G_SOURCE_FUNC (fd_readable), held, g_object_unref);
        g_source_attach (watch, g_main_context_get_thread_default ());
        g_source_unref (watch);
      }
      break;

    case N_LEFTS:
    default:
      g_assert_not_reached ();
    }

  g_task_return_boolean (task, TRUE);
}

static gboolean
leave_finish (GAsyncResult  *result,
              GError       **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* --- the same operation for the dispatcher and the lock ----------------- */

static void
relay_done (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  if (leave_finish (result, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
leave_start (SaOperation  *op,
             GTask        *task,
             GCancellable *cancellable,
             gpointer      user_data)
{
  leave_async (user_data, cancellable, relay_done, g_object_ref (task));
}

/* --- the matrix --------------------------------------------------------- */

static gboolean
call_in (Cell     cell,
         Case    *c,
         GError **error)
{
  g_autoptr(SaOperation) op = sa_operation_new_non_blocking (leave_start, c, NULL);

  switch (cell)
    {
    case CELL_BRIDGE:
      {
        g_autoptr(SaBridge) bridge = sa_bridge_new (NULL, 0);
        g_autoptr(GAsyncResult) result = NULL;

        leave_async (c, sa_bridge_get_cancellable (bridge), sa_bridge_callback, bridge);
        result = sa_bridge_wait (bridge, error);
        return result != NULL && leave_finish (result, error);
      }

    case CELL_DISPATCHER:
      return test_call_sync_bool (sa_dispatcher_get_default (), op, NULL, error);

    case CELL_LOCK:
      {
        g_autoptr(SaLock) lock = sa_lock_new (NULL);

        return sa_lock_call_sync_boolean (lock, "k", op, NULL, error);
      }

    case N_CELLS:
    default:
      g_assert_not_reached ();
    }
}

static GDBusConnection *session_bus;

static void
test_leaves (gconstpointer data)
{
  guint index = GPOINTER_TO_UINT (data);
  Cell cell = index / N_LEFTS;
  Case c = { .left = index % N_LEFTS, .bus = session_bus };
  g_autoptr(GError) error = NULL;
  guint n_contexts = sa_get_n_contexts ();

  c.object = g_object_new (G_TYPE_OBJECT, NULL);
  test_watch_finalize (c.object, &c.finalized);

  /* A plain thread with no context of its own: a sync caller. */
  g_assert_false (sa_caller_is_async ());
  g_assert_true (call_in (cell, &c, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (c.subscription, ==, 0);

  switch (c.left)
    {
    case LEFT_DBUS_SUBSCRIPTION:
    case LEFT_IDLE_CHAIN:
    case LEFT_FD_READY:
      /* What the call queued has run: the caller's object is the
       * caller's alone again, with no later sync call. */
      g_object_unref (c.object);
      g_assert_true (g_atomic_int_get (&c.finalized));
      break;

    case LEFT_REARMING_IDLE:
      /* Bounded: the call returned, the source ran, and stays. */
      g_assert_cmpuint (c.n_rearmed, >=, 1);
      g_assert_cmpuint (c.n_rearmed, <=, FLUSH_MAX + 1);
      g_assert_false (g_source_is_destroyed (c.left_source));
      g_source_destroy (c.left_source);
      g_clear_pointer (&c.left_source, g_source_unref);
      g_object_unref (c.object);
      g_assert_true (g_atomic_int_get (&c.finalized));
      break;

    case LEFT_TIMER_NOT_DUE:
      /* A timer not due stays, with what it holds, until it is due or
       * destroyed (its callback would abort). */
      g_object_unref (c.object);
      g_assert_false (g_atomic_int_get (&c.finalized));
      g_assert_false (g_source_is_destroyed (c.left_source));
      g_source_destroy (c.left_source);
      g_clear_pointer (&c.left_source, g_source_unref);
      g_assert_true (g_atomic_int_get (&c.finalized));
      break;

    case LEFT_WATCH_HOLDS_TASK:
      /* Let go with the watch pending: it still runs once ready, and
       * then the task, the caller's object and the context are freed. */
      sa_reset_contexts ();
      g_object_unref (c.object);
      g_assert_false (g_atomic_int_get (&c.finalized));
      g_assert_cmpint (write (c.pipe[1], "x", 1), ==, 1);
      g_assert_cmpint (test_wait_for_count (&c.finalized, TRUE), ==, TRUE);
      g_assert_true (g_close (c.pipe[1], NULL));
      g_assert_cmpuint (test_wait_for_n_contexts (0), ==, 0);
      break;

    case N_LEFTS:
    default:
      g_assert_not_reached ();
    }

  /* The thread's private contexts were reused, not replaced. */
  g_assert_cmpuint (sa_get_n_contexts (), <=, MAX (n_contexts, 2));
}

/* Later sync calls of the same thread see none of it either: the GDBus
 * case, repeated, leaves no source on the thread's private context. */
static void
test_dbus_repeated (void)
{
  for (guint i = 0; i < 50; i++)
    {
      Case c = { .left = LEFT_DBUS_SUBSCRIPTION, .bus = session_bus };
      g_autoptr(GError) error = NULL;

      c.object = g_object_new (G_TYPE_OBJECT, NULL);
      test_watch_finalize (c.object, &c.finalized);
      g_assert_true (call_in (i % N_CELLS, &c, &error));
      g_assert_no_error (error);
      g_object_unref (c.object);
      g_assert_true (g_atomic_int_get (&c.finalized));
    }
}

/* The dispatcher's sync blocking cell: the body sees its caller's own
 * thread-default context, but what it attaches to its task's context
 * (as g_task_attach_source() does) goes to the private one, and has run
 * when the call returns. */
static gboolean
task_source_cb (gpointer data)
{
  return G_SOURCE_REMOVE;
}

static void
attach_run (SaOperation  *op,
            GTask        *task,
            GCancellable *cancellable,
            gpointer      user_data)
{
  g_autoptr(GSource) idle = g_idle_source_new ();

  g_source_set_priority (idle, G_PRIORITY_LOW);
  g_source_set_callback (idle, task_source_cb, g_object_ref (user_data), g_object_unref);
  g_source_attach (idle, g_task_get_context (task));
  g_task_return_boolean (task, TRUE);
}

static void
test_blocking_body_task_source (void)
{
  GObject *object = g_object_new (G_TYPE_OBJECT, NULL);
  g_autoptr(SaOperation) op = sa_operation_new_blocking (attach_run, object, NULL);
  g_autoptr(GError) error = NULL;
  gint finalized;

  test_watch_finalize (object, &finalized);
  g_assert_true (test_call_sync_bool (sa_dispatcher_get_default (), op, NULL, &error));
  g_assert_no_error (error);
  g_object_unref (object);
  g_assert_true (g_atomic_int_get (&finalized));
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GTestDBus) bus = NULL;
  g_autoptr(GError) error = NULL;
  int ret;

  g_test_init (&argc, &argv, NULL);

  /* A session bus of the test's own, on a private dbus-daemon. */
  bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (bus);
  session_bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  g_assert_no_error (error);

  for (guint cell = 0; cell < N_CELLS; cell++)
    for (guint left = 0; left < N_LEFTS; left++)
      {
        g_autofree char *path = g_strdup_printf ("/sync-wait/leaves-nothing-ready/%s/%s",
                                                 cell_names[cell], left_names[left]);

        g_test_add_data_func (path, GUINT_TO_POINTER (cell * N_LEFTS + left), test_leaves);
      }
  g_test_add_func ("/sync-wait/leaves-nothing-ready/dbus-repeated", test_dbus_repeated);
  g_test_add_func ("/sync-wait/leaves-nothing-ready/blocking-body-task-source",
                   test_blocking_body_task_source);

  ret = g_test_run ();

  g_dbus_connection_close_sync (session_bus, NULL, NULL);
  g_clear_object (&session_bus);
  g_test_dbus_down (bus);

  return ret;
}
