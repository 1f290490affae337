/* test-context.c: per-thread private contexts: reuse, threads, reset, polls
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "test-util.h"

#include <glib-unix.h>
#include <glib/gstdio.h>
#include <fcntl.h>
#include <unistd.h>

static const char *true_argv[] = { "true", NULL };

static void
immediate_start (SaOperation  *op,
                 GTask        *task,
                 GCancellable *cancellable,
                 gpointer      user_data)
{
  g_task_return_boolean (task, TRUE);
}

static void
test_reused (void)
{
  TestProbe p1 = { 0 }, p2 = { 0 };
  g_autoptr(SaOperation) op1 = test_op_subprocess (true_argv, FALSE, &p1);
  g_autoptr(SaOperation) op2 = test_op_subprocess (true_argv, FALSE, &p2);
  guint n;

  sa_reset_contexts ();
  g_assert_cmpuint (test_wait_for_n_contexts (0), ==, 0);

  g_assert_true (test_call_sync_bool (sa_dispatcher_get_default (), op1, NULL, NULL));
  n = sa_get_n_contexts ();
  g_assert_cmpuint (n, ==, 1);
  for (guint i = 0; i < 100; i++)
    g_assert_true (test_call_sync_bool (sa_dispatcher_get_default (), op2, NULL, NULL));

  /* Every call ran on the same private context: no context per call. */
  g_assert_true (p1.context == p2.context);
  g_assert_cmpuint (sa_get_n_contexts (), ==, n);

  sa_reset_contexts ();
  g_assert_cmpuint (test_wait_for_n_contexts (0), ==, 0);
}

static gpointer
one_call_thread (gpointer data)
{
  g_autoptr(SaOperation) op = test_op_subprocess (true_argv, FALSE, NULL);
  g_autoptr(GError) error = NULL;

  if (!test_call_sync_bool (sa_dispatcher_get_default (), op, NULL, &error))
    return g_steal_pointer (&error);

  return NULL;
}

static void
test_threads_exit (void)
{
  const guint n_threads = 1000;
  const guint batch = 50;
  guint peak = 0;

  sa_reset_contexts ();
  g_assert_cmpuint (test_wait_for_n_contexts (0), ==, 0);

  /* 1000 short-lived threads, 50 alive at a time, each makes one sync
   * call and exits. */
  for (guint done = 0; done < n_threads; done += batch)
    {
      GThread *threads[50];

      for (guint i = 0; i < batch; i++)
        threads[i] = g_thread_new ("one-call", one_call_thread, NULL);
      peak = MAX (peak, sa_get_n_contexts ());
      for (guint i = 0; i < batch; i++)
        {
          GError *error = g_thread_join (threads[i]);

          g_assert_no_error (error);
        }
    }

  /* Counted as they were freed, not assumed. */
  g_test_message ("peak %u private contexts alive; after joining all threads: %u",
                  peak, test_wait_for_n_contexts (0));
  g_assert_cmpuint (peak, >, 0);
  g_assert_cmpuint (test_wait_for_n_contexts (0), ==, 0);
}

/* sa_reset_contexts() from inside an operation, on the same thread and on
 * another one at the same time. */
static void
reset_inside_start (SaOperation  *op,
                    GTask        *task,
                    GCancellable *cancellable,
                    gpointer      user_data)
{
  sa_reset_contexts ();
  g_task_return_boolean (task, TRUE);
}

static gpointer
reset_loop_thread (gpointer data)
{
  gint *stop = data;

  while (!g_atomic_int_get (stop))
    {
      sa_reset_contexts ();
      g_thread_yield ();
    }

  return NULL;
}

/* A file that is always there: the test program itself. */
static GFile *
tf_self (void)
{
  static GFile *self;

  if (self == NULL)
    self = g_file_new_for_path ("/proc/self/stat");
  return self;
}

static void
test_reset_while_used (void)
{
  g_autoptr(SaOperation) op = sa_operation_new_non_blocking (reset_inside_start, NULL, NULL);
  g_autoptr(SaOperation) other = test_op_load_file (tf_self (), FALSE, NULL);
  gint stop = FALSE;
  GThread *resetter;

  for (guint i = 0; i < 20; i++)
    g_assert_true (test_call_sync_bool (sa_dispatcher_get_default (), op, NULL, NULL));

  resetter = g_thread_new ("reset", reset_loop_thread, &stop);
  for (guint i = 0; i < 200; i++)
    {
      GValue *value = sa_dispatcher_call_sync (sa_dispatcher_get_default (), other, NULL, NULL);

      g_assert_nonnull (value);
      g_boxed_free (G_TYPE_VALUE, value);
    }
  g_atomic_int_set (&stop, TRUE);
  g_thread_join (resetter);

  sa_reset_contexts ();
  g_assert_cmpuint (test_wait_for_n_contexts (0), ==, 0);
}

/* Another thread owns the global default context (it runs the
 * application's loop); a sync call on this thread neither pushes nor
 * iterates that context and just works. */
typedef struct
{
  GMainLoop *loop;
  gint       running;
} Owner;

static gboolean
mark_running (gpointer data)
{
  Owner *owner = data;

  g_atomic_int_set (&owner->running, TRUE);
  return G_SOURCE_REMOVE;
}

static gpointer
owner_thread (gpointer data)
{
  Owner *owner = data;

  g_idle_add (mark_running, owner);
  g_main_loop_run (owner->loop);

  return NULL;
}

static gboolean
quit_idle (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

static void
test_foreign_owner (void)
{
  Owner owner = { g_main_loop_new (NULL, FALSE), FALSE };
  GThread *thread = g_thread_new ("owner", owner_thread, &owner);
  TestFile *tf = test_file_new ("default context owned elsewhere");
  TestProbe probe = { 0 };
  g_autoptr(SaOperation) op = test_op_load_file (tf->file, FALSE, &probe);
  g_autoptr(GError) error = NULL;
  GValue *value;

  while (!g_atomic_int_get (&owner.running))
    g_thread_yield ();
  g_assert_false (g_main_context_is_owner (g_main_context_default ()));
  g_assert_false (sa_caller_is_async ());

  value = sa_dispatcher_call_sync (sa_dispatcher_get_default (), op, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_value_get_string (value), ==, tf->contents);
  g_assert_true (probe.context != g_main_context_default ());
  g_assert_true (probe.thread == g_thread_self ());

  g_idle_add (quit_idle, owner.loop);
  g_thread_join (thread);
  g_main_loop_unref (owner.loop);
  g_boxed_free (G_TYPE_VALUE, value);
  test_file_free (tf);
}

/* The poll function of a private context, counting its calls. */
static gint n_polls;

static gint
counting_poll (GPollFD *fds,
               guint    n_fds,
               gint     timeout)
{
  g_atomic_int_inc (&n_polls);

  return g_poll (fds, n_fds, timeout);
}

static void
install_counting_poll (SaOperation  *op,
                       GTask        *task,
                       GCancellable *cancellable,
                       gpointer      user_data)
{
  /* Started from a dispatch of the call's private context, which is the
   * thread-default context here. */
  g_main_context_set_poll_func (g_main_context_get_thread_default (), counting_poll);
  g_task_return_boolean (task, TRUE);
}

static gboolean
return_true_idle (gpointer data)
{
  g_task_return_boolean (data, TRUE);

  return G_SOURCE_REMOVE;
}

static void
complete_from_idle (SaOperation  *op,
                    GTask        *task,
                    GCancellable *cancellable,
                    gpointer      user_data)
{
  g_autoptr(GSource) idle = g_idle_source_new ();

  /* On the call's context, the thread-default one here. */
  g_source_set_callback (idle, return_true_idle, g_object_ref (task), g_object_unref);
  g_source_attach (idle, g_main_context_get_thread_default ());
}

static gpointer
no_poll_thread (gpointer data)
{
  g_autoptr(SaOperation) install = sa_operation_new_non_blocking (install_counting_poll, NULL, NULL);
  g_autoptr(SaOperation) at_once = sa_operation_new_non_blocking (immediate_start, NULL, NULL);
  g_autoptr(SaOperation) blocking = sa_operation_new_blocking (immediate_start, NULL, NULL);
  g_autoptr(SaOperation) later = sa_operation_new_non_blocking (complete_from_idle, NULL, NULL);
  SaDispatcher *d = sa_dispatcher_get_default ();

  g_assert_true (test_call_sync_bool (d, install, NULL, NULL));

  /* An operation that completes at once: the call runs it from the
   * private context's kick and never polls. */
  g_atomic_int_set (&n_polls, 0);
  for (guint i = 0; i < 1000; i++)
    g_assert_true (test_call_sync_bool (d, at_once, NULL, NULL));
  g_assert_cmpint (g_atomic_int_get (&n_polls), ==, 0);

  /* A blocking one, whose body completes its task: run from the kick
   * too, it is called back at once, with nothing left to poll for. */
  for (guint i = 0; i < 1000; i++)
    g_assert_true (test_call_sync_bool (d, blocking, NULL, NULL));
  g_assert_cmpint (g_atomic_int_get (&n_polls), ==, 0);

  /* One that completes in a later iteration is waited for by iterations
   * that poll: the counter sees them. */
  for (guint i = 0; i < 10; i++)
    g_assert_true (test_call_sync_bool (d, later, NULL, NULL));
  g_assert_cmpint (g_atomic_int_get (&n_polls), >=, 10);

  return NULL;
}

/* This test asserts a GLib internal, not an API promise: when and whether
 * GMainContext calls its poll function (gmain.c). It holds on GLib 2.74 and
 * 2.84 (both run in CI); it is the one test of the suites that does. */
static void
test_no_poll_at_once (void)
{
  /* A thread of its own: its private context, and the poll function
   * installed on it, go with it. */
  g_thread_join (g_thread_new ("no-poll", no_poll_thread, NULL));
}

static void
test_fds_flat (void)
{
  g_autoptr(SaOperation) op = sa_operation_new_non_blocking (immediate_start, NULL, NULL);
  guint before, after;

  g_assert_true (test_call_sync_bool (sa_dispatcher_get_default (), op, NULL, NULL));
  before = test_count_fds ();
  for (guint i = 0; i < 100000; i++)
    g_assert_true (test_call_sync_bool (sa_dispatcher_get_default (), op, NULL, NULL));
  after = test_count_fds ();
  g_test_message ("open fds before 100000 sync calls: %u, after: %u", before, after);
  g_assert_cmpuint (after, ==, before);
}

/* The threads of the process; with @name, those of that name only. */
static guint
count_threads (const char *name)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/task", 0, NULL);
  const char *tid;
  guint n = 0;

  g_assert_nonnull (dir);
  while ((tid = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename ("/proc/self/task", tid, "comm", NULL);
      g_autofree char *comm = NULL;

      /* A thread that exits meanwhile has no name to read. */
      if (name == NULL)
        n++;
      else if (g_file_get_contents (path, &comm, NULL, NULL) && g_str_equal (g_strchomp (comm), name))
        n++;
    }

  return n;
}

/* Waits, up to 10 s, for the library's drain thread to exit, as it does
 * once it has nothing to drain. Returns the threads of the process. */
static guint
wait_for_no_drain_thread (void)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (count_threads ("sa-drain") > 0 && g_get_monotonic_time () < deadline)
    g_usleep (1000);
  g_assert_cmpuint (count_threads ("sa-drain"), ==, 0);

  return count_threads (NULL);
}

static guint
wait_for_n_fds (guint n)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (test_count_fds () > n && g_get_monotonic_time () < deadline)
    g_usleep (1000);

  return test_count_fds ();
}

/* A sync call given up at its timeout, whose operation completes later
 * from another thread, on threads that then exit or whose contexts are
 * reset: the late results are freed, and with them every context and
 * descriptor. */
typedef struct
{
  GMutex  lock;
  GCond   cond;
  gint    open;
  GPtrArray *tasks;   /* the stuck operations' tasks, completed late */
} Late;

static void
late_start (SaOperation  *op,
            GTask        *task,
            GCancellable *cancellable,
            gpointer      data)
{
  Late *late = data;

  /* Ignores its cancellable: completes only when the test says so. */
  g_mutex_lock (&late->lock);
  g_ptr_array_add (late->tasks, g_object_ref (task));
  g_cond_broadcast (&late->cond);
  g_mutex_unlock (&late->lock);
}

static gpointer
late_thread (gpointer data)
{
  Late *late = data;
  g_autoptr(SaDispatcher) d = sa_dispatcher_new ();
  g_autoptr(SaOperation) op = sa_operation_new_non_blocking (late_start, late, NULL);
  g_autoptr(GError) error = NULL;

  sa_dispatcher_set_timeout (d, 50);
  g_assert_false (test_call_sync_bool (d, op, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);

  return NULL;
}

static void
late_result (gboolean reset)
{
  Late late = { .tasks = g_ptr_array_new_with_free_func (g_object_unref) };
  guint n_contexts, n_fds;
  GThread *threads[5];

  g_mutex_init (&late.lock);
  g_cond_init (&late.cond);

  /* One call first, completed late: what stays for the process (the
   * timer's thread and its context) is there before counting, whichever
   * test runs first. */
  g_thread_join (g_thread_new ("late", late_thread, &late));
  g_task_return_boolean (g_ptr_array_index (late.tasks, 0), TRUE);
  g_ptr_array_set_size (late.tasks, 0);

  sa_reset_contexts ();
  n_contexts = test_wait_for_n_contexts (0);
  wait_for_no_drain_thread ();
  n_fds = test_count_fds ();

  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("late", late_thread, &late);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);
  if (reset)
    sa_reset_contexts ();

  /* The threads are gone; their calls complete now, from this one. */
  g_assert_cmpuint (late.tasks->len, ==, G_N_ELEMENTS (threads));
  for (guint i = 0; i < late.tasks->len; i++)
    g_task_return_boolean (g_ptr_array_index (late.tasks, i), TRUE);
  g_ptr_array_set_size (late.tasks, 0);

  g_assert_cmpuint (test_wait_for_n_contexts (n_contexts), ==, n_contexts);
  for (guint i = 0; i < 1000 && test_count_fds () > n_fds; i++)
    g_usleep (10000);
  g_assert_cmpuint (test_count_fds (), <=, n_fds);

  g_ptr_array_unref (late.tasks);
  g_mutex_clear (&late.lock);
  g_cond_clear (&late.cond);
}

static void
test_late_result_thread_exit (void)
{
  late_result (FALSE);
}

static void
test_late_result_reset (void)
{
  late_result (TRUE);
}

/* Abandoned calls: many calls given up at a timeout or a cancellation,
 * whose operations complete late or never, share one drain thread; each
 * context is freed once its late result has come, and one whose operation
 * never completes stays, with no thread of its own. */

typedef enum
{
  ABANDON_BRIDGE,       /* sa_bridge_wait () gives up */
  ABANDON_DISPATCHER,   /* a sync call of the dispatcher gives up */
  N_ABANDON_CELLS
} AbandonCell;

typedef enum
{
  ABANDON_AT_TIMEOUT,
  ABANDON_AT_CANCEL,
  N_ABANDON_WAYS
} AbandonWay;

static const char * const abandon_cell_names[] = { "bridge", "dispatcher" };
static const char * const abandon_way_names[] = { "timeout", "cancel" };

#define N_ABANDONED 300

/* Keeps each task it is given, ignoring its cancellable: the test
 * completes it, late, or not at all. Cancels @cancel_once_started, the
 * caller's cancellable, once the call has started. */
typedef struct
{
  GPtrArray    *kept;
  GCancellable *cancel_once_started;
} Keeper;

static void
keep (Keeper *keeper,
      GTask  *task)
{
  g_ptr_array_add (keeper->kept, task);
  if (keeper->cancel_once_started != NULL)
    g_cancellable_cancel (keeper->cancel_once_started);
}

static void
keep_start (SaOperation  *op,
            GTask        *task,
            GCancellable *cancellable,
            gpointer      data)
{
  keep (data, g_object_ref (task));
}

static void
keep_async (Keeper              *keeper,
            GCancellable        *cancellable,
            GAsyncReadyCallback  callback,
            gpointer             user_data)
{
  keep (keeper, g_task_new (NULL, cancellable, callback, user_data));
}

static void
abandon_one (AbandonCell   cell,
             AbandonWay    way,
             SaDispatcher *dispatcher,
             SaOperation  *op,
             Keeper       *keeper)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  guint timeout_ms = way == ABANDON_AT_TIMEOUT ? 1 : 0;

  keeper->cancel_once_started = way == ABANDON_AT_CANCEL ? cancellable : NULL;
  if (cell == ABANDON_BRIDGE)
    {
      g_autoptr(SaBridge) bridge = sa_bridge_new (cancellable, timeout_ms);

      keep_async (keeper, sa_bridge_get_cancellable (bridge), sa_bridge_callback, bridge);
      g_assert_null (sa_bridge_wait (bridge, &error));
    }
  else
    {
      sa_dispatcher_set_timeout (dispatcher, timeout_ms);
      g_assert_false (test_call_sync_bool (dispatcher, op, cancellable, &error));
    }
  keeper->cancel_once_started = NULL;
  if (way == ABANDON_AT_TIMEOUT)
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  else
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static void
test_abandoned_share_a_thread (gconstpointer data)
{
  guint index = GPOINTER_TO_UINT (data);
  AbandonCell cell = index / N_ABANDON_WAYS;
  AbandonWay way = index % N_ABANDON_WAYS;
  g_autoptr(GPtrArray) kept = g_ptr_array_new_with_free_func (g_object_unref);
  Keeper keeper = { kept, NULL };
  g_autoptr(SaDispatcher) dispatcher = sa_dispatcher_new ();
  g_autoptr(SaOperation) op = sa_operation_new_non_blocking (keep_start, &keeper, NULL);
  g_autoptr(SaOperation) immediate = sa_operation_new_non_blocking (immediate_start, NULL, NULL);
  guint n_threads, n_contexts, n_fds, peak_threads = 0;

  /* One call first, completed late: the library's threads that stay (the
   * timer's) are there before counting. */
  abandon_one (cell, way, dispatcher, op, &keeper);
  g_task_return_boolean (kept->pdata[0], TRUE);
  g_ptr_array_set_size (kept, 0);
  sa_reset_contexts ();
  n_contexts = test_wait_for_n_contexts (0);
  n_threads = wait_for_no_drain_thread ();
  n_fds = test_count_fds ();

  for (guint i = 0; i < N_ABANDONED; i++)
    {
      abandon_one (cell, way, dispatcher, op, &keeper);
      peak_threads = MAX (peak_threads, count_threads (NULL));
    }
  g_test_message ("threads: %u before %u abandoned calls, at most %u with them",
                  n_threads, N_ABANDONED, peak_threads);
  g_assert_cmpuint (kept->len, ==, N_ABANDONED);
  /* One drain thread for them all. */
  g_assert_cmpuint (peak_threads, <=, n_threads + 1);
  /* Each abandoned context counts, beside the one the thread uses now
   * (the call has no timeout: a slow start would give it up). */
  sa_dispatcher_set_timeout (dispatcher, 0);
  g_assert_true (test_call_sync_bool (dispatcher, immediate, NULL, NULL));
  g_assert_cmpuint (sa_get_n_contexts (), ==, n_contexts + N_ABANDONED + 1);

  /* Half of them complete late: their contexts are freed, with their fds. */
  for (guint i = 0; i < N_ABANDONED / 2; i++)
    g_task_return_boolean (kept->pdata[i], TRUE);
  g_ptr_array_remove_range (kept, 0, N_ABANDONED / 2);
  g_assert_cmpuint (test_wait_for_n_contexts (n_contexts + N_ABANDONED / 2 + 1), ==,
                    n_contexts + N_ABANDONED / 2 + 1);

  /* The others never complete: their contexts stay, still with no thread
   * each. */
  g_assert_cmpuint (count_threads (NULL), <=, n_threads + 1);
  g_assert_cmpuint (count_threads ("sa-drain"), ==, 1);
  g_assert_cmpuint (sa_get_n_contexts (), ==, n_contexts + N_ABANDONED / 2 + 1);

  /* Until they do, at last: then nothing is left, not even the thread. */
  for (guint i = 0; i < kept->len; i++)
    g_task_return_boolean (kept->pdata[i], TRUE);
  g_ptr_array_set_size (kept, 0);
  sa_reset_contexts ();
  g_assert_cmpuint (test_wait_for_n_contexts (n_contexts), ==, n_contexts);
  g_assert_cmpuint (wait_for_no_drain_thread (), <=, n_threads);
  g_assert_cmpuint (wait_for_n_fds (n_fds), <=, n_fds);
}

/* Leftovers that hold their context: a call leaves a source on its
 * private context that holds a task made on that context (source → task
 * → context), then its thread exits or the contexts are reset. Dropping
 * the thread's reference never frees such a context by itself: the
 * source still runs once ready (the drain thread runs it), and then the
 * task, the context and its descriptor are freed. The sources are watches
 * on pipes the test writes to once the thread has let go, so nothing
 * depends on timing; one row leaves a short timer instead. */

typedef enum
{
  LEFT_SYNC_TIMER,        /* a sync call completes, leaving a timer holding a task */
  LEFT_SYNC_WATCH,        /* the same, with a watch on a pipe */
  LEFT_BRIDGE_TIMEOUT,    /* a bridge gives up at its timeout; the call completes from a watch */
  LEFT_BRIDGE_CANCEL,     /* the same, at the caller's cancellation */
  N_LEFT_CELLS
} LeftCell;

typedef enum
{
  LET_GO_THREAD_EXIT,
  LET_GO_RESET,
  LET_GO_NONE,            /* the thread goes on: only a given-up bridge lets go */
  N_LET_GO_WAYS
} LetGoWay;

static const char * const left_cell_names[] = { "sync-timer", "sync-watch", "bridge-timeout", "bridge-cancel" };
static const char * const let_go_way_names[] = { "thread-exit", "reset", "none" };

#define N_LEFT_CALLS 3

typedef struct
{
  LeftCell      cell;
  gint          pipes[N_LEFT_CALLS][2];
  gint          next;          /* the pipe of the next call */
  gint          finalized;     /* atomic: tasks held by leftovers, finalized */
  gint          results_freed; /* atomic: late results freed */
  GCancellable *cancel_once_started;
} Left;

static void
left_task_finalized (gpointer  data,
                     GObject  *where_the_object_was)
{
  g_atomic_int_inc ((gint *) data);
}

/* The leftover's callback: completes the task it holds, if it is the
 * operation's (the bridge cells' late result), once. */
static gboolean
left_fire (gpointer data)
{
  GTask *task = data;

  if (g_object_get_data (G_OBJECT (task), "left") != NULL)
    {
      Left *left = g_object_get_data (G_OBJECT (task), "left");
      GObject *result = g_object_new (G_TYPE_OBJECT, NULL);

      g_object_weak_ref (result, left_task_finalized, &left->results_freed);
      g_task_return_pointer (task, result, g_object_unref);
    }

  return G_SOURCE_REMOVE;
}

static gboolean
left_fire_fd (gint          fd,
              GIOCondition  condition,
              gpointer      data)
{
  return left_fire (data);
}

static void
left_start (SaOperation  *op,
            GTask        *task,
            GCancellable *cancellable,
            gpointer      data)
{
  Left *left = data;
  gboolean sync_cell = left->cell == LEFT_SYNC_TIMER || left->cell == LEFT_SYNC_WATCH;
  /* Made on the private context, the thread-default one now. */
  GTask *held = sync_cell ? g_task_new (NULL, NULL, NULL, NULL) : g_object_ref (task);
  GSource *source;

  g_assert_true (g_task_get_context (held) != g_main_context_default ());
  g_object_weak_ref (G_OBJECT (held), left_task_finalized, &left->finalized);
  if (left->cell == LEFT_SYNC_TIMER)
    {
      source = g_timeout_source_new (50);
      g_source_set_callback (source, left_fire, held, g_object_unref);
    }
  else
    {
      source = g_unix_fd_source_new (left->pipes[left->next++][0], G_IO_IN);
      g_source_set_callback (source, (GSourceFunc) (void (*) (void)) left_fire_fd, held, g_object_unref);
    }
  g_source_attach (source, g_main_context_get_thread_default ());
  g_source_unref (source);

  if (sync_cell)
    g_task_return_boolean (task, TRUE);
  else
    g_object_set_data (G_OBJECT (task), "left", left);   /* completes late, from the watch */
  if (left->cancel_once_started != NULL)
    g_cancellable_cancel (left->cancel_once_started);
}

typedef struct
{
  Left         *left;
  SaDispatcher *dispatcher;
  SaOperation  *op;
} LeftCall;

static gpointer
left_call (gpointer data)
{
  LeftCall *call = data;
  Left *left = call->left;
  g_autoptr(GError) error = NULL;

  if (left->cell == LEFT_SYNC_TIMER || left->cell == LEFT_SYNC_WATCH)
    {
      g_assert_true (test_call_sync_bool (call->dispatcher, call->op, NULL, &error));
      g_assert_no_error (error);
    }
  else
    {
      g_autoptr(GCancellable) cancellable = g_cancellable_new ();
      gboolean at_timeout = left->cell == LEFT_BRIDGE_TIMEOUT;
      g_autoptr(SaBridge) bridge = sa_bridge_new (cancellable, at_timeout ? 1 : 0);

      /* An async caller: the bridge's context is pushed, and owned. */
      left->cancel_once_started = at_timeout ? NULL : cancellable;
      sa_dispatcher_call_async (call->dispatcher, call->op, sa_bridge_get_cancellable (bridge),
                                sa_bridge_callback, bridge);
      g_assert_null (sa_bridge_wait (bridge, &error));
      left->cancel_once_started = NULL;
      if (at_timeout)
        g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
      else
        g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    }

  return NULL;
}

static void
test_leftover_holds_context (gconstpointer data)
{
  guint index = GPOINTER_TO_UINT (data);
  LetGoWay way = index % N_LET_GO_WAYS;
  Left left = { .cell = index / N_LET_GO_WAYS };
  g_autoptr(SaDispatcher) dispatcher = sa_dispatcher_new ();
  g_autoptr(SaOperation) op = sa_operation_new_non_blocking (left_start, &left, NULL);
  g_autoptr(SaOperation) immediate = sa_operation_new_non_blocking (immediate_start, NULL, NULL);
  LeftCall call = { &left, dispatcher, op };
  gboolean bridge_cell = left.cell == LEFT_BRIDGE_TIMEOUT || left.cell == LEFT_BRIDGE_CANCEL;
  guint n_contexts, n_fds;

  /* What stays for the process (the timer's thread, its context) is
   * there before counting. */
  g_assert_true (test_call_sync_bool (dispatcher, immediate, NULL, NULL));
  sa_reset_contexts ();
  n_contexts = test_wait_for_n_contexts (0);
  wait_for_no_drain_thread ();
  n_fds = test_count_fds ();

  for (guint i = 0; i < N_LEFT_CALLS; i++)
    g_assert_true (g_unix_open_pipe (left.pipes[i], FD_CLOEXEC, NULL));

  for (guint i = 0; i < N_LEFT_CALLS; i++)
    {
      if (way == LET_GO_THREAD_EXIT)
        g_thread_join (g_thread_new ("left", left_call, &call));
      else
        left_call (&call);
    }
  if (way == LET_GO_RESET)
    sa_reset_contexts ();

  /* Let go (by the given-up bridge alone, with LET_GO_NONE): now the
   * leftovers become ready. */
  if (left.cell != LEFT_SYNC_TIMER)
    for (guint i = 0; i < N_LEFT_CALLS; i++)
      g_assert_cmpint (write (left.pipes[i][1], "x", 1), ==, 1);

  g_assert_cmpint (test_wait_for_count (&left.finalized, N_LEFT_CALLS), ==, N_LEFT_CALLS);
  if (bridge_cell)
    g_assert_cmpint (test_wait_for_count (&left.results_freed, N_LEFT_CALLS), ==, N_LEFT_CALLS);
  if (way == LET_GO_NONE)
    {
      /* The contexts given up were freed; the thread has one, new. */
      g_assert_cmpuint (test_wait_for_n_contexts (n_contexts + 1), <=, n_contexts + 1);
      sa_reset_contexts ();
    }
  g_assert_cmpuint (test_wait_for_n_contexts (n_contexts), ==, n_contexts);
  wait_for_no_drain_thread ();
  for (guint i = 0; i < N_LEFT_CALLS; i++)
    {
      g_close (left.pipes[i][0], NULL);
      g_close (left.pipes[i][1], NULL);
    }
  g_assert_cmpuint (wait_for_n_fds (n_fds), <=, n_fds);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/context/reused", test_reused);
  g_test_add_func ("/context/threads-exit", test_threads_exit);
  g_test_add_func ("/context/reset-while-used", test_reset_while_used);
  g_test_add_func ("/context/foreign-owner", test_foreign_owner);
  g_test_add_func ("/context/fds-flat", test_fds_flat);
  g_test_add_func ("/context/late-result/thread-exit", test_late_result_thread_exit);
  g_test_add_func ("/context/late-result/reset", test_late_result_reset);
  g_test_add_func ("/context/no-poll-at-once", test_no_poll_at_once);
  for (guint cell = 0; cell < N_ABANDON_CELLS; cell++)
    for (guint way = 0; way < N_ABANDON_WAYS; way++)
      {
        g_autofree char *path = g_strdup_printf ("/context/abandoned-share-a-thread/%s/%s",
                                                 abandon_cell_names[cell], abandon_way_names[way]);

        g_test_add_data_func (path, GUINT_TO_POINTER (cell * N_ABANDON_WAYS + way),
                              test_abandoned_share_a_thread);
      }

  for (guint cell = 0; cell < N_LEFT_CELLS; cell++)
    for (guint way = 0; way < N_LET_GO_WAYS; way++)
      {
        g_autofree char *path = NULL;

        /* A sync call's leftovers stay the thread's while it goes on. */
        if (way == LET_GO_NONE && (cell == LEFT_SYNC_TIMER || cell == LEFT_SYNC_WATCH))
          continue;
        path = g_strdup_printf ("/context/leftover-holds-context/%s/%s",
                                left_cell_names[cell], let_go_way_names[way]);

        g_test_add_data_func (path, GUINT_TO_POINTER (cell * N_LET_GO_WAYS + way),
                              test_leftover_holds_context);
      }

  return g_test_run ();
}
