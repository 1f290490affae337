/* test-dispatcher.c: the four cells and their invariants, on real GIO
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "test-util.h"

static const char *true_argv[] = { "true", NULL };
static const char *false_argv[] = { "false", NULL };
static const char *sleep_argv[] = { "sleep", "30", NULL };

typedef struct
{
  gint          n_callbacks;   /* atomic */
  GThread      *thread;
  GMainContext *context;
  gboolean      during_call;
  GAsyncResult *result;
} CallbackProbe;

static gboolean in_call;

static void
probe_callback (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  CallbackProbe *cp = user_data;

  g_assert_true (SA_IS_DISPATCHER (source));
  g_atomic_int_inc (&cp->n_callbacks);
  cp->thread = g_thread_self ();
  cp->context = g_main_context_get_thread_default ();
  cp->during_call = in_call;
  g_set_object (&cp->result, result);
}

static void
callback_probe_clear (CallbackProbe *cp)
{
  g_clear_object (&cp->result);
}

static GTask *
call_probed (SaDispatcher  *dispatcher,
             SaOperation   *op,
             SaCallMode     mode,
             GCancellable  *cancellable,
             CallbackProbe *cp)
{
  GTask *task;

  in_call = TRUE;
  task = sa_dispatcher_call (dispatcher, op, mode, cancellable, probe_callback, cp);
  in_call = FALSE;

  return task;
}

static char *
task_string (GTask   *task,
             GError **error)
{
  GValue value = G_VALUE_INIT;
  char *ret;

  if (!test_finish_value (task, &value, error))
    return NULL;
  ret = g_value_dup_string (&value);
  g_value_unset (&value);

  return ret;
}

/* Runs @func inside a GMainLoop on the global default context, which
 * makes the main thread an async caller. */
typedef struct
{
  GMainLoop *loop;
  GFunc      func;
  gpointer   data;
} InLoop;

static gboolean
in_loop_cb (gpointer user_data)
{
  InLoop *il = user_data;

  il->func (il->loop, il->data);

  return G_SOURCE_REMOVE;
}

static void
run_in_loop (GFunc    func,
             gpointer data)
{
  InLoop il = { g_main_loop_new (NULL, FALSE), func, data };

  g_idle_add (in_loop_cb, &il);
  g_main_loop_run (il.loop);
  g_main_loop_unref (il.loop);
}

/* --- detection ---------------------------------------------------------- */

static void
detect_in_loop (gpointer loop,
                gpointer data)
{
  g_autoptr(SaOperation) nb = test_op_resolve (FALSE, NULL);
  g_autoptr(SaOperation) b = test_op_resolve (TRUE, NULL);
  SaDispatcher *d = sa_dispatcher_get_default ();

  g_assert_true (sa_caller_is_async ());
  g_assert_cmpint (sa_dispatcher_choose_cell (d, nb, SA_CALL_MODE_AUTO), ==, SA_CELL_ASYNC_NON_BLOCKING);
  g_assert_cmpint (sa_dispatcher_choose_cell (d, b, SA_CALL_MODE_AUTO), ==, SA_CELL_ASYNC_BLOCKING);
  g_assert_cmpint (sa_dispatcher_choose_cell (d, nb, SA_CALL_MODE_SYNC), ==, SA_CELL_SYNC_NON_BLOCKING);
  g_main_loop_quit (loop);
}

static gpointer
detect_thread (gpointer data)
{
  return GINT_TO_POINTER (sa_caller_is_async ());
}

static void
test_detect (void)
{
  g_autoptr(SaOperation) nb = test_op_resolve (FALSE, NULL);
  g_autoptr(SaOperation) b = test_op_resolve (TRUE, NULL);
  SaDispatcher *d = sa_dispatcher_get_default ();

  /* main() before any loop: a sync caller. */
  g_assert_false (sa_caller_is_async ());
  g_assert_cmpint (sa_dispatcher_choose_cell (d, nb, SA_CALL_MODE_AUTO), ==, SA_CELL_SYNC_NON_BLOCKING);
  g_assert_cmpint (sa_dispatcher_choose_cell (d, b, SA_CALL_MODE_AUTO), ==, SA_CELL_SYNC_BLOCKING);
  g_assert_cmpint (sa_dispatcher_choose_cell (d, b, SA_CALL_MODE_ASYNC), ==, SA_CELL_ASYNC_BLOCKING);

  /* Inside a loop: async. After it: sync again (nothing cached). */
  run_in_loop (detect_in_loop, NULL);
  g_assert_false (sa_caller_is_async ());

  /* A thread that owns a context of its own is async. */
  {
    g_autoptr(GMainContext) ctx = g_main_context_new ();

    g_main_context_push_thread_default (ctx);
    g_assert_true (sa_caller_is_async ());
    g_main_context_pop_thread_default (ctx);
    g_assert_false (sa_caller_is_async ());
  }
}

static gboolean
detect_in_idle (gpointer data)
{
  int *seen = data;

  *seen = sa_caller_is_async ();

  return G_SOURCE_REMOVE;
}

/* Iterates @context from inside the running code, without pushing it, and
 * says what the detection said in one of its callbacks. */
static int
detect_in_iteration_of (GMainContext *context)
{
  g_autoptr(GSource) idle = g_idle_source_new ();
  int seen = -1;

  g_source_set_callback (idle, detect_in_idle, &seen, NULL);
  g_source_attach (idle, context);
  while (seen == -1)
    g_main_context_iteration (context, TRUE);

  return seen;
}

static gpointer
detect_iterating_thread (gpointer data)
{
  g_autoptr(GMainContext) context = g_main_context_new ();

  /* Dispatching a source of a context it iterates but never pushed: the
   * thread-default context is the global one, which this thread does
   * not own, so a sync caller. */
  return GINT_TO_POINTER (detect_in_iteration_of (context));
}

static void
detect_in_callback (gpointer loop,
                    gpointer data)
{
  g_autoptr(GMainContext) own = g_main_context_new ();

  /* Dispatching a source of the thread-default context: async. */
  g_assert_nonnull (g_main_current_source ());
  g_assert_true (sa_caller_is_async ());

  /* A context pushed and iterated from inside this callback: async in
   * its callbacks too. */
  g_main_context_push_thread_default (own);
  g_assert_cmpint (detect_in_iteration_of (own), ==, TRUE);
  g_main_context_pop_thread_default (own);

  g_main_loop_quit (loop);
}

static void
test_detect_in_callback (void)
{
  GThread *thread = g_thread_new ("iterating", detect_iterating_thread, NULL);

  g_assert_cmpint (GPOINTER_TO_INT (g_thread_join (thread)), ==, FALSE);
  run_in_loop (detect_in_callback, NULL);
}

static void
detect_while_thread_checks (gpointer loop,
                            gpointer data)
{
  /* The main thread is async now; a plain thread at the same moment is
   * a sync caller: detection is per thread. */
  GThread *thread = g_thread_new ("detect", detect_thread, NULL);

  g_assert_true (sa_caller_is_async ());
  g_assert_false (GPOINTER_TO_INT (g_thread_join (thread)));
  g_main_loop_quit (loop);
}

static void
test_detect_per_thread (void)
{
  run_in_loop (detect_while_thread_checks, NULL);
}

/* A worker that pushes a context of its own owns it, as GLib defines
 * ownership: it is an async caller while the context is pushed, and gets
 * a pending task, which completes when it iterates that context. The
 * SYNC mode gives it the result directly. */
static gpointer
pushed_context_thread (gpointer data)
{
  TestFile *tf = data;
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(SaOperation) op = test_op_load_file (tf->file, FALSE, NULL);
  g_autoptr(GTask) pending = NULL;
  g_autoptr(GTask) direct = NULL;
  GValue value = G_VALUE_INIT;

  g_assert_false (sa_caller_is_async ());
  g_main_context_push_thread_default (context);
  g_assert_true (sa_caller_is_async ());

  pending = sa_dispatcher_call (sa_dispatcher_get_default (), op, SA_CALL_MODE_AUTO,
                                NULL, NULL, NULL);
  g_assert_false (g_task_get_completed (pending));
  while (!g_task_get_completed (pending))
    g_main_context_iteration (context, TRUE);
  g_assert_true (test_finish_value (pending, &value, NULL));
  g_assert_cmpstr (g_value_get_string (&value), ==, tf->contents);
  g_value_unset (&value);

  direct = sa_dispatcher_call (sa_dispatcher_get_default (), op, SA_CALL_MODE_SYNC,
                               NULL, NULL, NULL);
  g_assert_true (g_task_get_completed (direct));
  g_assert_true (test_finish_value (direct, &value, NULL));
  g_assert_cmpstr (g_value_get_string (&value), ==, tf->contents);
  g_value_unset (&value);

  g_main_context_pop_thread_default (context);
  g_assert_false (sa_caller_is_async ());

  return NULL;
}

static void
test_detect_pushed_context (void)
{
  TestFile *tf = test_file_new ("pushed");

  g_thread_join (g_thread_new ("pushed", pushed_context_thread, tf));
  test_file_free (tf);
}

/* --- sync caller -------------------------------------------------------- */

static gboolean
flag_idle (gpointer data)
{
  g_atomic_int_set ((gint *) data, TRUE);
  return G_SOURCE_REMOVE;
}

static void
check_sync_string (SaOperation *op,
                   const char  *expected,
                   SaCell       cell)
{
  SaDispatcher *d = sa_dispatcher_get_default ();
  CallbackProbe cp = { 0 };
  guint64 before = sa_dispatcher_get_n_calls (d, cell);
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *got = NULL;
  gint default_ran = FALSE;
  guint idle_id;

  /* An application callback waiting on the default context must not run
   * during a sync call. */
  idle_id = g_idle_add (flag_idle, &default_ran);

  task = call_probed (d, op, SA_CALL_MODE_AUTO, NULL, &cp);

  g_assert_cmpuint (sa_dispatcher_get_n_calls (d, cell), ==, before + 1);
  g_assert_true (g_task_get_completed (task));
  g_assert_cmpint (cp.n_callbacks, ==, 1);
  g_assert_true (cp.during_call);
  g_assert_true (cp.result == G_ASYNC_RESULT (task));
  g_assert_true (cp.thread == g_thread_self ());
  g_assert_false (default_ran);
  got = task_string (task, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (got, ==, expected);

  g_source_remove (idle_id);
  callback_probe_clear (&cp);
}

static void
test_sync_non_blocking_file (void)
{
  TestFile *tf = test_file_new ("contents of a real file");
  TestProbe probe = { 0 };
  g_autoptr(SaOperation) op = test_op_load_file (tf->file, FALSE, &probe);

  check_sync_string (op, "contents of a real file", SA_CELL_SYNC_NON_BLOCKING);
  g_assert_cmpint (probe.runs, ==, 1);
  g_assert_true (probe.thread == g_thread_self ());
  /* It started on a private context, not the default one. */
  g_assert_nonnull (probe.context);
  g_assert_true (probe.context != g_main_context_default ());
  g_assert_true (probe.was_async);

  test_file_free (tf);
}

static void
test_sync_blocking_file (void)
{
  TestFile *tf = test_file_new ("blocking read");
  TestProbe probe = { 0 };
  g_autoptr(SaOperation) op = test_op_load_file (tf->file, TRUE, &probe);

  check_sync_string (op, "blocking read", SA_CELL_SYNC_BLOCKING);
  g_assert_cmpint (probe.runs, ==, 1);
  /* A direct call: same thread, and a sync caller inside. */
  g_assert_true (probe.thread == g_thread_self ());
  g_assert_false (probe.was_async);

  test_file_free (tf);
}

static void
test_sync_socket (void)
{
  TestServer *server = test_server_new ();

  for (guint blocking = 0; blocking < 2; blocking++)
    {
      g_autoptr(SaOperation) op = test_op_socket_read (test_server_get_port (server), blocking, NULL);

      check_sync_string (op, "hello from smartasync",
                         blocking ? SA_CELL_SYNC_BLOCKING : SA_CELL_SYNC_NON_BLOCKING);
    }

  test_server_free (server);
}

static void
test_sync_resolver (void)
{
  for (guint blocking = 0; blocking < 2; blocking++)
    {
      g_autoptr(SaOperation) op = test_op_resolve (blocking, NULL);
      g_autoptr(GTask) task = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *address = NULL;

      task = sa_dispatcher_call (sa_dispatcher_get_default (), op, SA_CALL_MODE_AUTO, NULL, NULL, NULL);
      address = task_string (task, &error);
      g_assert_no_error (error);
      g_assert_true (g_str_equal (address, "127.0.0.1") || g_str_equal (address, "::1"));
    }
}

static void
test_sync_subprocess (void)
{
  SaDispatcher *d = sa_dispatcher_get_default ();

  for (guint blocking = 0; blocking < 2; blocking++)
    {
      g_autoptr(SaOperation) ok = test_op_subprocess (true_argv, blocking, NULL);
      g_autoptr(SaOperation) bad = test_op_subprocess (false_argv, blocking, NULL);
      g_autoptr(GTask) t1 = NULL;
      g_autoptr(GTask) t2 = NULL;
      g_autoptr(GError) error = NULL;

      t1 = sa_dispatcher_call (d, ok, SA_CALL_MODE_AUTO, NULL, NULL, NULL);
      g_assert_true (test_finish_boolean (t1, &error));
      g_assert_no_error (error);

      t2 = sa_dispatcher_call (d, bad, SA_CALL_MODE_AUTO, NULL, NULL, NULL);
      g_assert_false (test_finish_boolean (t2, &error));
      g_assert_error (error, G_SPAWN_EXIT_ERROR, 1);
    }
}

/* --- async caller ------------------------------------------------------- */

typedef struct
{
  SaOperation   *op;
  CallbackProbe  cp;
  GTask         *task;
  gboolean       pending_after_call;
} AsyncCase;

static void
async_case_in_loop (gpointer loop,
                    gpointer data)
{
  AsyncCase *ac = data;

  ac->task = call_probed (sa_dispatcher_get_default (), ac->op, SA_CALL_MODE_AUTO, NULL, &ac->cp);
  /* Never called back from inside the call. */
  g_assert_cmpint (g_atomic_int_get (&ac->cp.n_callbacks), ==, 0);
  ac->pending_after_call = !g_task_get_completed (ac->task);

  test_iterate_until (NULL, &ac->cp.n_callbacks);
  g_main_loop_quit (loop);
}

static void
run_async_case (AsyncCase *ac)
{
  run_in_loop (async_case_in_loop, ac);
  /* Drain: a second callback would show up here. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_true (ac->pending_after_call);
  g_assert_cmpint (ac->cp.n_callbacks, ==, 1);
  g_assert_false (ac->cp.during_call);
  g_assert_true (ac->cp.thread == g_thread_self ());
  g_assert_true (ac->cp.context == NULL || ac->cp.context == g_main_context_default ());
}

static void
test_async_non_blocking (void)
{
  TestFile *tf = test_file_new ("async contents");
  TestProbe probe = { 0 };
  AsyncCase ac = { test_op_load_file (tf->file, FALSE, &probe) };
  g_autoptr(GError) error = NULL;
  GValue *value;

  run_async_case (&ac);
  /* Started on the caller's own context, on the caller's thread. */
  g_assert_true (probe.thread == g_thread_self ());
  g_assert_true (probe.context == NULL);
  value = sa_dispatcher_call_finish (sa_dispatcher_get_default (), ac.cp.result, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_value_get_string (value), ==, "async contents");
  g_boxed_free (G_TYPE_VALUE, value);

  g_object_unref (ac.task);
  g_object_unref (ac.op);
  callback_probe_clear (&ac.cp);
  test_file_free (tf);
}

static void
test_async_blocking (void)
{
  TestFile *tf = test_file_new ("read on a worker");
  TestProbe probe = { 0 };
  AsyncCase ac = { test_op_load_file (tf->file, TRUE, &probe) };
  g_autoptr(GError) error = NULL;
  g_autofree char *got = NULL;

  run_async_case (&ac);
  /* Ran on another thread, as a sync caller there. */
  g_assert_cmpint (probe.runs, ==, 1);
  g_assert_true (probe.thread != g_thread_self ());
  g_assert_false (probe.was_async);
  got = task_string (G_TASK (ac.cp.result), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (got, ==, "read on a worker");

  g_object_unref (ac.task);
  g_object_unref (ac.op);
  callback_probe_clear (&ac.cp);
  test_file_free (tf);
}

/* --- errors in every cell ----------------------------------------------- */

typedef struct
{
  SaCallMode mode;
  gboolean   blocking;
  SaCell     cell;
} CellCase;

static const CellCase all_cells[] = {
  { SA_CALL_MODE_SYNC,  FALSE, SA_CELL_SYNC_NON_BLOCKING },
  { SA_CALL_MODE_SYNC,  TRUE,  SA_CELL_SYNC_BLOCKING },
  { SA_CALL_MODE_ASYNC, FALSE, SA_CELL_ASYNC_NON_BLOCKING },
  { SA_CALL_MODE_ASYNC, TRUE,  SA_CELL_ASYNC_BLOCKING },
};

/* Calls @op in the cell of @cc from the main thread and waits for the
 * callback, iterating the default context for the async cells. */
static GAsyncResult *
call_in_cell (SaDispatcher   *d,
              SaOperation    *op,
              const CellCase *cc,
              GCancellable   *cancellable)
{
  CallbackProbe cp = { 0 };
  g_autoptr(GTask) task = NULL;
  GAsyncResult *result;

  g_assert_cmpint (sa_dispatcher_choose_cell (d, op, cc->mode), ==, cc->cell);
  task = call_probed (d, op, cc->mode, cancellable, &cp);
  if (cc->mode == SA_CALL_MODE_SYNC)
    g_assert_cmpint (cp.n_callbacks, ==, 1);
  else
    g_assert_cmpint (cp.n_callbacks, ==, 0);
  test_iterate_until (NULL, &cp.n_callbacks);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpint (cp.n_callbacks, ==, 1);
  result = g_steal_pointer (&cp.result);

  return result;
}

static void
test_errors_every_cell (void)
{
  SaDispatcher *d = sa_dispatcher_get_default ();

  for (guint i = 0; i < G_N_ELEMENTS (all_cells); i++)
    {
      TestProbe probe = { 0 };
      g_autoptr(SaOperation) op = test_op_fail (all_cells[i].blocking, &probe);
      g_autoptr(GAsyncResult) result = call_in_cell (d, op, &all_cells[i], NULL);
      g_autoptr(GError) error = NULL;

      g_assert_null (sa_dispatcher_call_finish (d, result, &error));
      g_assert_error (error, TEST_ERROR, 42);
      g_assert_cmpstr (error->message, ==, "boom 42");
      g_assert_cmpint (probe.runs, ==, 1);
    }
}

/* --- cancellation ------------------------------------------------------- */

static void
test_cancel_before (void)
{
  SaDispatcher *d = sa_dispatcher_get_default ();

  for (guint i = 0; i < G_N_ELEMENTS (all_cells); i++)
    {
      TestProbe probe = { 0 };
      g_autoptr(SaOperation) op = test_op_subprocess (true_argv, all_cells[i].blocking, &probe);
      g_autoptr(GCancellable) cancellable = g_cancellable_new ();
      g_autoptr(GAsyncResult) result = NULL;
      g_autoptr(GError) error = NULL;

      g_cancellable_cancel (cancellable);
      result = call_in_cell (d, op, &all_cells[i], cancellable);
      g_assert_null (sa_dispatcher_call_finish (d, result, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      /* The operation was never run. */
      g_assert_cmpint (probe.runs, ==, 0);
    }
}

static void
test_cancel_during (void)
{
  SaDispatcher *d = sa_dispatcher_get_default ();

  for (guint i = 0; i < G_N_ELEMENTS (all_cells); i++)
    {
      TestProbe probe = { 0 };
      g_autoptr(SaOperation) op = test_op_subprocess (sleep_argv, all_cells[i].blocking, &probe);
      g_autoptr(GCancellable) cancellable = g_cancellable_new ();
      g_autoptr(GAsyncResult) result = NULL;
      g_autoptr(GError) error = NULL;
      GThread *canceller = test_cancel_later (cancellable, 100);
      gint64 start = g_get_monotonic_time ();

      result = call_in_cell (d, op, &all_cells[i], cancellable);
      g_thread_join (canceller);
      g_assert_null (sa_dispatcher_call_finish (d, result, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      g_assert_cmpint (probe.runs, ==, 1);
      /* `sleep 30` was interrupted, not waited for. */
      g_assert_cmpint (g_get_monotonic_time () - start, <, 20 * G_USEC_PER_SEC);
    }
}

/* --- modes -------------------------------------------------------------- */

static void
sync_mode_in_loop (gpointer loop,
                   gpointer data)
{
  TestFile *tf = data;
  g_autoptr(SaOperation) op = test_op_load_file (tf->file, FALSE, NULL);
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *got = NULL;
  gint outer_ran = FALSE;
  guint id = g_idle_add (flag_idle, &outer_ran);

  g_assert_true (sa_caller_is_async ());
  task = sa_dispatcher_call (sa_dispatcher_get_default (), op, SA_CALL_MODE_SYNC, NULL, NULL, NULL);
  /* Complete on return, and the running loop was not re-entered. */
  g_assert_true (g_task_get_completed (task));
  g_assert_false (outer_ran);
  got = task_string (task, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (got, ==, tf->contents);

  g_source_remove (id);
  g_main_loop_quit (loop);
}

static void
test_mode_sync_in_loop (void)
{
  TestFile *tf = test_file_new ("sync inside a loop");

  run_in_loop (sync_mode_in_loop, tf);
  test_file_free (tf);
}

static void
test_mode_async_from_sync (void)
{
  TestFile *tf = test_file_new ("async from main()");
  SaDispatcher *d = sa_dispatcher_get_default ();
  const CellCase cc = { SA_CALL_MODE_ASYNC, FALSE, SA_CELL_ASYNC_NON_BLOCKING };
  g_autoptr(SaOperation) op = test_op_load_file (tf->file, FALSE, NULL);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *got = NULL;

  g_assert_false (sa_caller_is_async ());
  result = call_in_cell (d, op, &cc, NULL);
  got = task_string (G_TASK (result), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (got, ==, "async from main()");
  test_file_free (tf);
}

static void
test_mode_dispatcher_property (void)
{
  g_autoptr(SaDispatcher) d = sa_dispatcher_new ();
  g_autoptr(SaOperation) op = test_op_resolve (FALSE, NULL);
  SaCallMode mode;

  g_assert_cmpint (sa_dispatcher_get_mode (d), ==, SA_CALL_MODE_AUTO);
  sa_dispatcher_set_mode (d, SA_CALL_MODE_ASYNC);
  g_object_get (d, "mode", &mode, NULL);
  g_assert_cmpint (mode, ==, SA_CALL_MODE_ASYNC);
  /* AUTO on the call follows the dispatcher; SYNC on the call wins. */
  g_assert_cmpint (sa_dispatcher_choose_cell (d, op, SA_CALL_MODE_AUTO), ==, SA_CELL_ASYNC_NON_BLOCKING);
  g_assert_cmpint (sa_dispatcher_choose_cell (d, op, SA_CALL_MODE_SYNC), ==, SA_CELL_SYNC_NON_BLOCKING);
  sa_dispatcher_set_mode (d, SA_CALL_MODE_SYNC);
  g_assert_cmpint (sa_dispatcher_choose_cell (d, op, SA_CALL_MODE_AUTO), ==, SA_CELL_SYNC_NON_BLOCKING);
  g_assert_cmpint (sa_dispatcher_choose_cell (d, op, SA_CALL_MODE_ASYNC), ==, SA_CELL_ASYNC_NON_BLOCKING);
}

/* --- nesting ------------------------------------------------------------ */

typedef struct
{
  TestFile     *tf;
  GMainContext *outer_context;
  GMainContext *inner_context;
  SaCell        inner_cell;
  GThread      *thread;
} NestData;

/* A non-blocking operation that, from a callback of its own work, makes a
 * SYNC call of another non-blocking operation. */
static void
nest_outer_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  NestData *nd = g_task_get_task_data (task);
  TestProbe probe = { 0 };
  g_autoptr(SaOperation) inner = test_op_load_file (nd->tf->file, FALSE, &probe);
  g_autoptr(GError) error = NULL;
  GValue *value;

  g_assert_true (g_subprocess_wait_check_finish (G_SUBPROCESS (source), result, &error));
  nd->outer_context = g_main_context_get_thread_default ();
  value = sa_dispatcher_call_sync (sa_dispatcher_get_default (), inner, NULL, &error);
  if (value == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  nd->inner_context = probe.context;
  g_task_return_value (task, value);
  g_boxed_free (G_TYPE_VALUE, value);
}

static void
nest_outer_start (SaOperation  *op,
                  GTask        *task,
                  GCancellable *cancellable,
                  gpointer      user_data)
{
  g_autoptr(GSubprocess) proc = g_subprocess_newv (true_argv, G_SUBPROCESS_FLAGS_NONE, NULL);

  g_task_set_task_data (task, user_data, NULL);
  g_subprocess_wait_check_async (proc, cancellable, nest_outer_cb, g_object_ref (task));
}

static void
test_nested_sync_in_sync (void)
{
  NestData nd = { test_file_new ("nested") };
  g_autoptr(SaOperation) outer = sa_operation_new_non_blocking (nest_outer_start, &nd, NULL);
  g_autoptr(GError) error = NULL;
  GValue *value;

  value = sa_dispatcher_call_sync (sa_dispatcher_get_default (), outer, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_value_get_string (value), ==, "nested");
  /* Each level iterated a private context of its own. */
  g_assert_nonnull (nd.outer_context);
  g_assert_nonnull (nd.inner_context);
  g_assert_true (nd.outer_context != nd.inner_context);
  g_assert_true (nd.outer_context != g_main_context_default ());

  g_boxed_free (G_TYPE_VALUE, value);
  test_file_free (nd.tf);
}

/* A blocking operation that makes an AUTO call of a non-blocking one. */
static void
nest_blocking_run (SaOperation  *op,
                   GTask        *task,
                   GCancellable *cancellable,
                   gpointer      user_data)
{
  NestData *nd = user_data;
  g_autoptr(SaOperation) inner = test_op_load_file (nd->tf->file, FALSE, NULL);
  g_autoptr(GTask) inner_task = NULL;
  g_autoptr(GError) error = NULL;
  char *got;

  nd->thread = g_thread_self ();
  nd->inner_cell = sa_dispatcher_choose_cell (sa_dispatcher_get_default (), inner, SA_CALL_MODE_AUTO);
  inner_task = sa_dispatcher_call (sa_dispatcher_get_default (), inner, SA_CALL_MODE_AUTO, cancellable, NULL, NULL);
  got = task_string (inner_task, &error);
  if (got == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, got, g_free);
}

static void
nested_async_blocking_in_loop (gpointer loop,
                               gpointer data)
{
  NestData *nd = data;
  g_autoptr(SaOperation) op = sa_operation_new_blocking (nest_blocking_run, nd, NULL);
  CallbackProbe cp = { 0 };
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *got = NULL;

  task = call_probed (sa_dispatcher_get_default (), op, SA_CALL_MODE_AUTO, NULL, &cp);
  test_iterate_until (NULL, &cp.n_callbacks);
  got = test_finish_pointer (G_TASK (cp.result), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (got, ==, "worker nests");
  callback_probe_clear (&cp);
  g_main_loop_quit (loop);
}

static void
test_nested_async_blocking_calls_non_blocking (void)
{
  NestData nd = { test_file_new ("worker nests") };

  run_in_loop (nested_async_blocking_in_loop, &nd);
  /* On the worker, the inner call ran to completion on the worker's own
   * private context. */
  g_assert_true (nd.thread != g_thread_self ());
  g_assert_cmpint (nd.inner_cell, ==, SA_CELL_SYNC_NON_BLOCKING);
  test_file_free (nd.tf);
}

static void
nested_sync_blocking_in_loop (gpointer loop,
                              gpointer data)
{
  NestData *nd = data;
  g_autoptr(SaOperation) op = sa_operation_new_blocking (nest_blocking_run, nd, NULL);
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *got = NULL;

  /* SYNC from inside the loop: the blocking body runs on this thread, and
   * its AUTO call is a sync caller's even though this thread owns the
   * default context. */
  task = sa_dispatcher_call (sa_dispatcher_get_default (), op, SA_CALL_MODE_SYNC, NULL, NULL, NULL);
  got = test_finish_pointer (task, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (got, ==, "main nests");
  g_main_loop_quit (loop);
}

static void
test_nested_sync_blocking_in_loop (void)
{
  NestData nd = { test_file_new ("main nests") };

  run_in_loop (nested_sync_blocking_in_loop, &nd);
  g_assert_true (nd.thread == g_thread_self ());
  g_assert_cmpint (nd.inner_cell, ==, SA_CELL_SYNC_NON_BLOCKING);
  test_file_free (nd.tf);
}

/* A non-blocking operation that chains an AUTO call: async inside. */
static void
chain_inner_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  char *got = task_string (G_TASK (result), &error);

  if (got == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, got, g_free);
}

static void
chain_start (SaOperation  *op,
             GTask        *task,
             GCancellable *cancellable,
             gpointer      user_data)
{
  NestData *nd = user_data;
  g_autoptr(SaOperation) inner = test_op_load_file (nd->tf->file, FALSE, NULL);
  g_autoptr(GTask) inner_task = NULL;

  nd->inner_cell = sa_dispatcher_choose_cell (sa_dispatcher_get_default (), inner, SA_CALL_MODE_AUTO);
  inner_task = sa_dispatcher_call (sa_dispatcher_get_default (), inner, SA_CALL_MODE_AUTO,
                                   cancellable, chain_inner_cb, g_object_ref (task));
}

static void
test_nested_chain_in_sync (void)
{
  NestData nd = { test_file_new ("chained") };
  g_autoptr(SaOperation) op = sa_operation_new_non_blocking (chain_start, &nd, NULL);
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *got = NULL;

  /* A sync caller; inside the operation the private context is owned, so
   * the inner call is an async one that the operation chains. */
  task = sa_dispatcher_call (sa_dispatcher_get_default (), op, SA_CALL_MODE_AUTO, NULL, NULL, NULL);
  got = test_finish_pointer (task, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (got, ==, "chained");
  g_assert_cmpint (nd.inner_cell, ==, SA_CELL_ASYNC_NON_BLOCKING);
  test_file_free (nd.tf);
}

/* --- callback exactly once --------------------------------------------- */

static void
count_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_atomic_int_inc ((gint *) user_data);
}

static void
callbacks_in_loop (gpointer loop,
                   gpointer data)
{
  TestFile *tf = data;
  const guint n = 200;
  gint count = 0;
  g_autoptr(SaDispatcher) d = sa_dispatcher_new ();

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(SaOperation) op = NULL;
      SaCallMode mode = (i % 3 == 0) ? SA_CALL_MODE_SYNC : SA_CALL_MODE_AUTO;

      switch (i % 4)
        {
        case 0: op = test_op_load_file (tf->file, FALSE, NULL); break;
        case 1: op = test_op_load_file (tf->file, TRUE, NULL); break;
        case 2: op = test_op_fail (FALSE, NULL); break;
        default: op = test_op_fail (TRUE, NULL); break;
        }
      g_object_unref (sa_dispatcher_call (d, op, mode, NULL, count_cb, &count));
    }

  while ((guint) g_atomic_int_get (&count) < n)
    g_main_context_iteration (NULL, TRUE);
  /* Let anything late show up. */
  for (guint i = 0; i < 50; i++)
    g_main_context_iteration (NULL, FALSE);
  g_assert_cmpint (count, ==, n);

  {
    guint64 total = 0;

    for (guint c = 0; c < SA_N_CELLS; c++)
      total += sa_dispatcher_get_n_calls (d, c);
    g_assert_cmpuint (total, ==, n);
    g_assert_cmpuint (sa_dispatcher_get_n_calls (d, SA_CELL_ASYNC_BLOCKING), >, 0);
    g_assert_cmpuint (sa_dispatcher_get_n_calls (d, SA_CELL_SYNC_BLOCKING), >, 0);
  }
  g_main_loop_quit (loop);
}

static void
test_callback_exactly_once (void)
{
  TestFile *tf = test_file_new ("count me");

  run_in_loop (callbacks_in_loop, tf);
  test_file_free (tf);
}

/* --- properties --------------------------------------------------------- */

typedef struct
{
  gint current;
  gint peak;
} Concurrency;

static void
concurrent_run (SaOperation  *op,
                GTask        *task,
                GCancellable *cancellable,
                gpointer      user_data)
{
  Concurrency *c = user_data;
  gint now = g_atomic_int_add (&c->current, 1) + 1;
  gint peak;
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;

  while ((peak = g_atomic_int_get (&c->peak)) < now &&
         !g_atomic_int_compare_and_exchange (&c->peak, peak, now))
    ;
  proc = g_subprocess_new (G_SUBPROCESS_FLAGS_NONE, &error, "sleep", "0.1", NULL);
  g_subprocess_wait_check (proc, cancellable, &error);
  g_atomic_int_add (&c->current, -1);
  if (error != NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

static void
max_threads_in_loop (gpointer loop,
                     gpointer data)
{
  g_autoptr(SaDispatcher) d = sa_dispatcher_new ();
  Concurrency c = { 0 };
  g_autoptr(SaOperation) op = sa_operation_new_blocking (concurrent_run, &c, NULL);
  gint count = 0;
  guint max_threads;

  g_object_set (d, "max-threads", 2, NULL);
  g_object_get (d, "max-threads", &max_threads, NULL);
  g_assert_cmpuint (max_threads, ==, 2);

  for (guint i = 0; i < 8; i++)
    sa_dispatcher_call_async (d, op, NULL, count_cb, &count);
  while (g_atomic_int_get (&count) < 8)
    g_main_context_iteration (NULL, TRUE);

  g_assert_cmpint (c.peak, ==, 2);
  g_main_loop_quit (loop);
}

static void
test_max_threads (void)
{
  run_in_loop (max_threads_in_loop, NULL);
}

static void
test_timeout_sync (void)
{
  g_autoptr(SaDispatcher) d = sa_dispatcher_new ();

  sa_dispatcher_set_timeout (d, 200);
  g_assert_cmpuint (sa_dispatcher_get_timeout (d), ==, 200);

  for (guint blocking = 0; blocking < 2; blocking++)
    {
      g_autoptr(SaOperation) slow = test_op_subprocess (sleep_argv, blocking, NULL);
      g_autoptr(SaOperation) fast = test_op_subprocess (true_argv, blocking, NULL);
      g_autoptr(GError) error = NULL;
      gint64 start = g_get_monotonic_time ();

      if (!blocking)
        {
          /* Non-blocking: given up after the timeout, `sleep` killed. */
          g_assert_false (test_call_sync_bool (d, slow, NULL, &error));
          g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
          g_assert_nonnull (strstr (error->message, "200 ms"));
          g_assert_cmpint (g_get_monotonic_time () - start, <, 10 * G_USEC_PER_SEC);
          g_clear_error (&error);
        }

      /* A call that completes in time is not affected: a timeout long
       * enough for a spawn on a loaded machine under valgrind. */
      sa_dispatcher_set_timeout (d, 60 * 1000);
      g_assert_true (test_call_sync_bool (d, fast, NULL, &error));
      g_assert_no_error (error);
      sa_dispatcher_set_timeout (d, 200);
    }
}

/* An operation that can only complete on the global default context,
 * which nobody iterates while the main thread is in a sync call. */
static gboolean
complete_on_default (gpointer user_data)
{
  g_task_return_boolean (user_data, TRUE);
  return G_SOURCE_REMOVE;
}

static void
stuck_start (SaOperation  *op,
             GTask        *task,
             GCancellable *cancellable,
             gpointer      user_data)
{
  GSource *source = g_idle_source_new ();

  g_source_set_callback (source, complete_on_default, g_object_ref (task), g_object_unref);
  g_source_attach (source, g_main_context_default ());
  g_source_unref (source);
}

/* A start that keeps its thread past the timeout, then returns a value. */
static void
busy_start (SaOperation  *operation,
            GTask        *task,
            GCancellable *cancellable,
            gpointer      user_data)
{
  g_usleep (150 * G_TIME_SPAN_MILLISECOND);
  g_task_return_int (task, 42);
}

/* A sync call of @op with @timeout_ms, called back once; its int. */
static gssize
sync_call_int (SaDispatcher  *d,
               SaOperation   *op,
               guint          timeout_ms,
               GError       **error)
{
  g_autoptr(GTask) task = NULL;
  CallbackProbe cp = { 0 };
  gssize value;

  sa_dispatcher_set_timeout (d, timeout_ms);
  task = call_probed (d, op, SA_CALL_MODE_SYNC, NULL, &cp);
  g_assert_cmpint (cp.n_callbacks, ==, 1);
  value = sa_dispatcher_call_finish_int (d, G_ASYNC_RESULT (task), error);
  callback_probe_clear (&cp);

  return value;
}

/* A sync caller's non-blocking operation whose start keeps the thread
 * past the timeout, so that the timeout cannot be dispatched before its
 * result: the result came late, and the caller gets TIMED_OUT. */
static void
test_timeout_busy_start (void)
{
  g_autoptr(SaDispatcher) d = sa_dispatcher_new ();
  g_autoptr(SaOperation) op = sa_operation_new_non_blocking (busy_start, NULL, NULL);
  g_autoptr(GError) error = NULL;

  sa_operation_set_name (op, "busy");
  g_assert_cmpint (sync_call_int (d, op, 50, &error), ==, -1);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_cmpstr (error->message, ==, "Operation “busy” did not complete within 50 ms");
  g_clear_error (&error);

  /* Within the timeout, the value. */
  g_assert_cmpint (sync_call_int (d, op, 60 * 1000, &error), ==, 42);
  g_assert_no_error (error);
}

static void
test_timeout_never_completes (void)
{
  g_autoptr(SaDispatcher) d = sa_dispatcher_new ();
  g_autoptr(SaOperation) op = sa_operation_new_non_blocking (stuck_start, NULL, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GTask) task = NULL;
  CallbackProbe cp = { 0 };

  sa_operation_set_name (op, "needs-the-default-context");
  sa_dispatcher_set_timeout (d, 100);
  task = call_probed (d, op, SA_CALL_MODE_SYNC, NULL, &cp);
  g_assert_cmpint (cp.n_callbacks, ==, 1);
  g_assert_true (cp.result == G_ASYNC_RESULT (task));
  g_assert_null (sa_dispatcher_call_finish (d, G_ASYNC_RESULT (task), &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_cmpstr (error->message, ==,
                   "Operation “needs-the-default-context” did not complete within 100 ms");

  /* Now let the stuck work finish: its late result is dropped on the
   * drain thread, and the callback is not called again. The next call
   * needs no timeout (under valgrind a spawn takes longer than 100 ms). */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  sa_dispatcher_set_timeout (d, 0);
  {
    g_autoptr(SaOperation) other = test_op_subprocess (true_argv, FALSE, NULL);

    g_assert_true (test_call_sync_bool (d, other, NULL, NULL));
  }
  g_assert_cmpint (cp.n_callbacks, ==, 1);
  callback_probe_clear (&cp);
}

static void
drop_start (SaOperation  *op,
            GTask        *task,
            GCancellable *cancellable,
            gpointer      user_data)
{
  test_watch_finalize (task, user_data);   /* and lets the task go */
}

/* A non-blocking operation lets go of its task without completing it, in
 * an async call with a guard (@data: a timeout, else a cancellable): once
 * the caller has let go of it too, the library answers SA_ERROR_NO_RESULT
 * once, before the guard fires, completing the task (so GLib 2.76 and
 * later see no task finalized without a result), and frees it, the
 * operation and the dispatcher. */
static void
test_dropped_task (gconstpointer data)
{
  gboolean with_timeout = GPOINTER_TO_INT (data);
  SaDispatcher *d = sa_dispatcher_new ();
  gint op_task_freed = 0, call_freed = 0, dispatcher_freed = 0;
  SaOperation *op = sa_operation_new_non_blocking (drop_start, &op_task_freed, NULL);
  GCancellable *cancellable = with_timeout ? NULL : g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  CallbackProbe cp = { 0 };
  GTask *task;

  g_assert_true (g_main_context_acquire (NULL));
  if (with_timeout)
    sa_dispatcher_set_timeout (d, 600000);
  task = call_probed (d, op, SA_CALL_MODE_ASYNC, cancellable, &cp);
  test_watch_finalize (task, &call_freed);
  test_watch_finalize (d, &dispatcher_freed);
  g_object_unref (task);
  g_object_unref (d);
  test_iterate_until (NULL, &cp.n_callbacks);
  g_assert_false (cp.during_call);
  g_assert_false (test_finish_boolean (cp.result, &error));
  g_assert_error (error, SA_ERROR, SA_ERROR_NO_RESULT);
  callback_probe_clear (&cp);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpint (cp.n_callbacks, ==, 1);
  g_assert_true (g_atomic_int_get (&op_task_freed));
  g_assert_true (g_atomic_int_get (&call_freed));
  g_assert_true (g_atomic_int_get (&dispatcher_freed));
  g_clear_object (&cancellable);
  g_object_unref (op);
  g_main_context_release (NULL);
}

static void
timeout_async_in_loop (gpointer loop,
                       gpointer data)
{
  g_autoptr(SaDispatcher) d = sa_dispatcher_new ();
  gboolean blocking = GPOINTER_TO_INT (data);
  g_autoptr(SaOperation) op = test_op_subprocess (sleep_argv, blocking, NULL);
  CallbackProbe cp = { 0 };
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;

  sa_dispatcher_set_timeout (d, 150);
  task = call_probed (d, op, SA_CALL_MODE_AUTO, NULL, &cp);
  test_iterate_until (NULL, &cp.n_callbacks);
  g_assert_null (sa_dispatcher_call_finish (d, cp.result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  /* The operation was cancelled: its own task completes too, and the
   * callback does not run a second time. */
  while (!g_task_get_completed (task))
    g_main_context_iteration (NULL, TRUE);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpint (cp.n_callbacks, ==, 1);
  callback_probe_clear (&cp);
  g_main_loop_quit (loop);
}

static void
test_timeout_async (void)
{
  run_in_loop (timeout_async_in_loop, GINT_TO_POINTER (FALSE));
  run_in_loop (timeout_async_in_loop, GINT_TO_POINTER (TRUE));
}

static void
test_timeout_cancel_still_cancels (void)
{
  g_autoptr(SaDispatcher) d = sa_dispatcher_new ();
  g_autoptr(SaOperation) op = test_op_subprocess (sleep_argv, FALSE, NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  GThread *canceller;

  /* With a timeout, the caller's own cancellable still yields CANCELLED. */
  sa_dispatcher_set_timeout (d, 20000);
  canceller = test_cancel_later (cancellable, 100);
  g_assert_false (test_call_sync_bool (d, op, cancellable, &error));
  g_thread_join (canceller);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

/* --- leftover sources --------------------------------------------------- */

static gint leftover_fired;
static gint leftover_destroyed;

static gboolean
leftover_cb (gpointer data)
{
  g_atomic_int_inc (&leftover_fired);
  return G_SOURCE_CONTINUE;
}

static void
leftover_destroy (gpointer data)
{
  g_atomic_int_inc (&leftover_destroyed);
}

static void
leftover_start (SaOperation  *op,
                GTask        *task,
                GCancellable *cancellable,
                gpointer      user_data)
{
  /* Adds a 50 ms timer to the thread-default (private) context and never
   * removes it, then completes at once. */
  GSource *timer = g_timeout_source_new (50);

  g_source_set_callback (timer, leftover_cb, NULL, leftover_destroy);
  g_source_attach (timer, g_main_context_get_thread_default ());
  g_source_unref (timer);
  g_task_return_boolean (task, TRUE);
}

static void
wait_cb_bool (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (g_subprocess_wait_check_finish (G_SUBPROCESS (source), result, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, g_steal_pointer (&error));
}

static void
wait_start (SaOperation  *op,
            GTask        *task,
            GCancellable *cancellable,
            gpointer      user_data)
{
  g_autoptr(GSubprocess) proc = g_subprocess_new (G_SUBPROCESS_FLAGS_NONE, NULL, "sleep", "0.3", NULL);

  g_subprocess_wait_check_async (proc, cancellable, wait_cb_bool, g_object_ref (task));
}

static void
test_leftover_sources (void)
{
  SaDispatcher *d = sa_dispatcher_get_default ();
  g_autoptr(SaOperation) leave = sa_operation_new_non_blocking (leftover_start, NULL, NULL);
  g_autoptr(SaOperation) wait = sa_operation_new_non_blocking (wait_start, NULL, NULL);

  sa_reset_contexts ();
  g_assert_true (test_call_sync_bool (d, leave, NULL, NULL));
  g_assert_cmpint (leftover_fired, ==, 0);

  /* Nobody iterates the private context between sync calls: the timer
   * does not fire, however long the thread does something else. */
  g_usleep (150 * 1000);
  g_assert_cmpint (leftover_fired, ==, 0);

  /* A later sync call on this thread iterates the context, and the timer
   * fires during it. */
  g_assert_true (test_call_sync_bool (d, wait, NULL, NULL));
  g_assert_cmpint (leftover_fired, >, 0);
  g_assert_cmpint (leftover_destroyed, ==, 0);

  /* Let go with the timer pending, the context goes to the drain thread,
   * which runs the timer as it re-arms, at most 100 times, then drops the
   * context: the timer, which does not hold the context, is destroyed
   * with it. */
  sa_reset_contexts ();
  g_assert_cmpint (test_wait_for_count (&leftover_destroyed, 1), ==, 1);
}


/* --- debug and counters ------------------------------------------------- */

static void
test_debug_trace (void)
{
  g_autoptr(SaDispatcher) d = sa_dispatcher_new ();
  g_autoptr(SaOperation) op = test_op_subprocess (true_argv, TRUE, NULL);
  gboolean debug;

  g_assert_false (sa_dispatcher_get_debug (d));
  g_object_set (d, "debug", TRUE, NULL);
  g_object_get (d, "debug", &debug, NULL);
  g_assert_true (debug);

  g_test_expect_message ("Sa", G_LOG_LEVEL_MESSAGE,
                         "*“true”*sync caller, blocking operation: direct call*");
  g_assert_true (test_call_sync_bool (d, op, NULL, NULL));
  g_test_assert_expected_messages ();

  /* The environment variable turns it on for dispatchers created then. */
  g_setenv ("SA_DEBUG", "1", TRUE);
  {
    g_autoptr(SaDispatcher) traced = sa_dispatcher_new ();
    g_assert_true (sa_dispatcher_get_debug (traced));
  }
  g_setenv ("SA_DEBUG", "0", TRUE);
  {
    g_autoptr(SaDispatcher) quiet = sa_dispatcher_new ();
    g_assert_false (sa_dispatcher_get_debug (quiet));
  }
  g_unsetenv ("SA_DEBUG");
}

static void
test_counters (void)
{
  g_autoptr(SaDispatcher) d = sa_dispatcher_new ();
  g_autoptr(SaOperation) nb = test_op_subprocess (true_argv, FALSE, NULL);
  g_autoptr(SaOperation) b = test_op_subprocess (true_argv, TRUE, NULL);
  static const char *names[SA_N_CELLS] = {
    "n-sync-non-blocking", "n-sync-blocking", "n-async-non-blocking", "n-async-blocking",
  };
  guint64 expected[SA_N_CELLS] = { 3, 2, 0, 1 };
  gint done = 0;

  for (guint i = 0; i < 3; i++)
    g_assert_true (test_call_sync_bool (d, nb, NULL, NULL));
  for (guint i = 0; i < 2; i++)
    g_assert_true (test_call_sync_bool (d, b, NULL, NULL));
  sa_dispatcher_call_async (d, b, NULL, count_cb, &done);
  test_iterate_until (NULL, &done);

  for (guint c = 0; c < SA_N_CELLS; c++)
    {
      guint64 n;

      g_object_get (d, names[c], &n, NULL);
      g_assert_cmpuint (n, ==, expected[c]);
      g_assert_cmpuint (sa_dispatcher_get_n_calls (d, c), ==, expected[c]);
    }
}

/* --- contract violations by operations ---------------------------------- */

static void
forgetful_run (SaOperation  *op,
               GTask        *task,
               GCancellable *cancellable,
               gpointer      user_data)
{
  /* Returns without completing the task. */
}

static void
test_blocking_without_result (void)
{
  g_autoptr(SaOperation) op = sa_operation_new_blocking (forgetful_run, NULL, NULL);
  g_autoptr(GError) error = NULL;

  sa_operation_set_name (op, "forgetful");
  g_assert_null (sa_dispatcher_call_sync (sa_dispatcher_get_default (), op, NULL, &error));
  g_assert_error (error, SA_ERROR, SA_ERROR_NO_RESULT);
  g_assert_nonnull (strstr (error->message, "forgetful"));
}

/* A subclass, the way Python and JavaScript implement operations. */
typedef struct { SaOperation parent; gint runs; } TestCounter;
typedef struct { SaOperationClass parent_class; } TestCounterClass;
GType test_counter_get_type (void);
G_DEFINE_TYPE (TestCounter, test_counter, SA_TYPE_OPERATION)

static void
test_counter_run (SaOperation  *op,
                  GTask        *task,
                  GCancellable *cancellable)
{
  g_task_return_int (task, ++((TestCounter *) op)->runs);
}

static void
test_counter_class_init (TestCounterClass *klass)
{
  SA_OPERATION_CLASS (klass)->run = test_counter_run;
}

static void
test_counter_init (TestCounter *self)
{
}

static void
test_subclass (void)
{
  g_autoptr(SaOperation) op = g_object_new (test_counter_get_type (), "kind", SA_OPERATION_KIND_BLOCKING, NULL);
  g_autoptr(SaOperation) wrong_kind = g_object_new (test_counter_get_type (), NULL);
  g_autoptr(GTask) t1 = NULL;
  g_autoptr(GTask) t2 = NULL;
  g_autoptr(GTask) t3 = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (sa_operation_get_kind (op), ==, SA_OPERATION_KIND_BLOCKING);
  g_assert_cmpstr (sa_operation_get_name (op), ==, "TestCounter");
  t1 = sa_dispatcher_call (sa_dispatcher_get_default (), op, SA_CALL_MODE_AUTO, NULL, NULL, NULL);
  g_assert_cmpint (test_finish_int (t1, &error), ==, 1);
  t2 = sa_dispatcher_call (sa_dispatcher_get_default (), op, SA_CALL_MODE_AUTO, NULL, NULL, NULL);
  g_assert_cmpint (test_finish_int (t2, &error), ==, 2);
  g_assert_no_error (error);

  /* Non-blocking by default, and it does not implement start(). */
  t3 = sa_dispatcher_call (sa_dispatcher_get_default (), wrong_kind, SA_CALL_MODE_AUTO, NULL, NULL, NULL);
  g_assert_cmpint (test_finish_int (t3, &error), ==, -1);
  g_assert_error (error, SA_ERROR, SA_ERROR_NOT_IMPLEMENTED);
}

/* --- helpers: thread bridge, default, lifetime -------------------------- */

static void
square_run (SaOperation  *op,
            GTask        *task,
            GCancellable *cancellable,
            gpointer      user_data)
{
  gint n = GPOINTER_TO_INT (user_data);

  g_task_return_int (task, n * n);
}

static void
run_in_thread_in_loop (gpointer loop,
                       gpointer data)
{
  CallbackProbe cp = { 0 };
  g_autoptr(GError) error = NULL;

  in_call = TRUE;
  sa_dispatcher_run_in_thread (sa_dispatcher_get_default (), square_run, GINT_TO_POINTER (12), NULL,
                               NULL, probe_callback, &cp);
  in_call = FALSE;
  test_iterate_until (NULL, &cp.n_callbacks);
  g_assert_false (cp.during_call);
  g_assert_true (cp.thread == g_thread_self ());
  g_assert_cmpint (test_finish_int (G_TASK (cp.result), &error), ==, 144);
  g_assert_no_error (error);
  callback_probe_clear (&cp);
  g_main_loop_quit (loop);
}

static void
test_run_in_thread (void)
{
  run_in_loop (run_in_thread_in_loop, NULL);
}

static gpointer
default_thread (gpointer data)
{
  return sa_dispatcher_get_default ();
}

static void
test_default (void)
{
  SaDispatcher *d = sa_dispatcher_get_default ();
  GThread *thread = g_thread_new ("default", default_thread, NULL);

  g_assert_true (SA_IS_DISPATCHER (d));
  g_assert_true (d == sa_dispatcher_get_default ());
  g_assert_true (d == g_thread_join (thread));
}

static void
finalized_notify (gpointer  data,
                  GObject  *where_the_object_was)
{
  /* May run on a worker thread, which dropped the last reference. */
  g_atomic_int_set ((gint *) data, TRUE);
  g_main_context_wakeup (NULL);
}

static void
dropped_in_loop (gpointer loop,
                 gpointer data)
{
  SaDispatcher *d = sa_dispatcher_new ();
  g_autoptr(SaOperation) op = test_op_subprocess (true_argv, TRUE, NULL);
  gint done = 0;
  gint finalized = FALSE;

  sa_dispatcher_set_max_threads (d, 1);
  g_object_weak_ref (G_OBJECT (d), finalized_notify, &finalized);
  sa_dispatcher_call_async (d, op, NULL, count_cb, &done);
  sa_dispatcher_call_async (d, op, NULL, count_cb, &done);
  /* Dropped while both calls are pending: they finish, and only then is
   * the dispatcher freed. */
  g_object_unref (d);
  g_assert_false (g_atomic_int_get (&finalized));
  while (g_atomic_int_get (&done) < 2)
    g_main_context_iteration (NULL, TRUE);
  test_iterate_until (NULL, &finalized);
  g_main_loop_quit (loop);
}

static void
test_dropped_while_pending (void)
{
  run_in_loop (dropped_in_loop, NULL);
}

/* Calls of sa_dispatcher_call_full() whose source object is not the
 * dispatcher do not hold it: dropped while they are queued, it is freed,
 * and they run and answer all the same. */
static void
full_int_run (SaOperation  *op,
              GTask        *task,
              GCancellable *cancellable,
              gpointer      data)
{
  g_task_return_int (task, 42);
}

static void
full_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      data)
{
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (g_task_propagate_int (G_TASK (result), &error), ==, 42);
  g_assert_no_error (error);
  g_atomic_int_inc ((gint *) data);
}

static void
test_full_outlives_dispatcher (void)
{
  SaDispatcher *d = sa_dispatcher_new ();
  g_autoptr(GObject) source = g_object_new (G_TYPE_OBJECT, NULL);
  g_autoptr(SaOperation) op = sa_operation_new_blocking (full_int_run, NULL, NULL);
  gint done = 0, finalized = 0;

  sa_dispatcher_set_max_threads (d, 1);
  test_watch_finalize (d, &finalized);
  g_assert_true (g_main_context_acquire (NULL));
  for (guint i = 0; i < 20; i++)
    g_object_unref (sa_dispatcher_call_full (d, op, SA_CALL_MODE_ASYNC, source, full_cb,
                                             G_PRIORITY_DEFAULT, NULL, full_cb, &done));
  g_object_unref (d);
  test_iterate_until (NULL, &finalized);
  while (g_atomic_int_get (&done) < 20)
    g_main_context_iteration (NULL, TRUE);
  g_main_context_release (NULL);
}

/* --- bad input ---------------------------------------------------------- */

static void
test_bad_input (void)
{
  g_autoptr(SaOperation) op = test_op_resolve (FALSE, NULL);
  g_autoptr(GObject) not_a_dispatcher = g_object_new (G_TYPE_OBJECT, NULL);
  SaDispatcher *d = sa_dispatcher_get_default ();
  GTask *task;

#define EXPECT_CRITICAL(expr) G_STMT_START { \
    g_test_expect_message ("Sa", G_LOG_LEVEL_CRITICAL, "*assertion*failed*"); \
    expr; \
    g_test_assert_expected_messages (); \
  } G_STMT_END

  EXPECT_CRITICAL (task = sa_dispatcher_call (NULL, op, SA_CALL_MODE_AUTO, NULL, NULL, NULL); g_assert_null (task));
  EXPECT_CRITICAL (task = sa_dispatcher_call ((SaDispatcher *) not_a_dispatcher, op, SA_CALL_MODE_AUTO, NULL, NULL, NULL); g_assert_null (task));
  EXPECT_CRITICAL (task = sa_dispatcher_call (d, NULL, SA_CALL_MODE_AUTO, NULL, NULL, NULL); g_assert_null (task));
  EXPECT_CRITICAL (task = sa_dispatcher_call (d, (SaOperation *) not_a_dispatcher, SA_CALL_MODE_AUTO, NULL, NULL, NULL); g_assert_null (task));
  EXPECT_CRITICAL (task = sa_dispatcher_call (d, op, 17, NULL, NULL, NULL); g_assert_null (task));
  EXPECT_CRITICAL (task = sa_dispatcher_call (d, op, SA_CALL_MODE_AUTO, (GCancellable *) not_a_dispatcher, NULL, NULL); g_assert_null (task));
  EXPECT_CRITICAL (g_assert_null (sa_dispatcher_call_sync (NULL, op, NULL, NULL)));
  EXPECT_CRITICAL (g_assert_null (sa_dispatcher_call_sync (d, NULL, NULL, NULL)));
  EXPECT_CRITICAL (sa_dispatcher_call_async (NULL, op, NULL, NULL, NULL));
  EXPECT_CRITICAL (g_assert_null (sa_dispatcher_call_finish (d, NULL, NULL)));
  EXPECT_CRITICAL (g_assert_null (sa_dispatcher_call_finish (d, (GAsyncResult *) not_a_dispatcher, NULL)));
  EXPECT_CRITICAL (sa_dispatcher_set_mode (NULL, SA_CALL_MODE_SYNC));
  EXPECT_CRITICAL (sa_dispatcher_set_mode (d, 42));
  EXPECT_CRITICAL (g_assert_cmpuint (sa_dispatcher_get_n_calls (d, SA_N_CELLS), ==, 0));
  EXPECT_CRITICAL (sa_dispatcher_run_in_thread (d, NULL, NULL, NULL, NULL, NULL, NULL));
  EXPECT_CRITICAL (g_assert_null (sa_operation_new_blocking (NULL, NULL, NULL)));
  EXPECT_CRITICAL (g_assert_null (sa_operation_new_non_blocking (NULL, NULL, NULL)));
  EXPECT_CRITICAL (g_assert_null (sa_operation_get_name (NULL)));
  EXPECT_CRITICAL (sa_operation_run (op, NULL, NULL));
  EXPECT_CRITICAL (g_assert_null (sa_bridge_new ((GCancellable *) not_a_dispatcher, 0)));
  EXPECT_CRITICAL (g_assert_null (sa_continue (NULL, NULL, NULL, NULL, NULL, NULL)));

#undef EXPECT_CRITICAL
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/dispatcher/detect/caller", test_detect);
  g_test_add_func ("/dispatcher/detect/per-thread", test_detect_per_thread);
  g_test_add_func ("/dispatcher/detect/in-callback", test_detect_in_callback);
  g_test_add_func ("/dispatcher/detect/pushed-context", test_detect_pushed_context);
  g_test_add_func ("/dispatcher/sync-caller/non-blocking/file", test_sync_non_blocking_file);
  g_test_add_func ("/dispatcher/sync-caller/blocking/file", test_sync_blocking_file);
  g_test_add_func ("/dispatcher/sync-caller/socket", test_sync_socket);
  g_test_add_func ("/dispatcher/sync-caller/resolver", test_sync_resolver);
  g_test_add_func ("/dispatcher/sync-caller/spawn", test_sync_subprocess);
  g_test_add_func ("/dispatcher/async-caller/non-blocking/file", test_async_non_blocking);
  g_test_add_func ("/dispatcher/async-caller/blocking/file", test_async_blocking);
  g_test_add_func ("/dispatcher/errors/every-cell", test_errors_every_cell);
  g_test_add_func ("/dispatcher/cancel/before", test_cancel_before);
  g_test_add_func ("/dispatcher/cancel/during", test_cancel_during);
  g_test_add_func ("/dispatcher/mode/sync-in-loop", test_mode_sync_in_loop);
  g_test_add_func ("/dispatcher/mode/async-from-sync", test_mode_async_from_sync);
  g_test_add_func ("/dispatcher/mode/dispatcher-property", test_mode_dispatcher_property);
  g_test_add_func ("/dispatcher/nested/sync-in-sync", test_nested_sync_in_sync);
  g_test_add_func ("/dispatcher/nested/async-blocking-calls-non-blocking", test_nested_async_blocking_calls_non_blocking);
  g_test_add_func ("/dispatcher/nested/sync-blocking-in-loop", test_nested_sync_blocking_in_loop);
  g_test_add_func ("/dispatcher/nested/chain-in-sync", test_nested_chain_in_sync);
  g_test_add_func ("/dispatcher/callback-exactly-once", test_callback_exactly_once);
  g_test_add_func ("/dispatcher/max-threads", test_max_threads);
  g_test_add_func ("/dispatcher/timeout/sync", test_timeout_sync);
  g_test_add_func ("/dispatcher/timeout/never-completes", test_timeout_never_completes);
  g_test_add_func ("/dispatcher/timeout/busy-start", test_timeout_busy_start);
  g_test_add_func ("/dispatcher/timeout/async", test_timeout_async);
  g_test_add_func ("/dispatcher/timeout/cancel", test_timeout_cancel_still_cancels);
  g_test_add_func ("/dispatcher/leftover-sources", test_leftover_sources);
  g_test_add_func ("/dispatcher/debug", test_debug_trace);
  g_test_add_func ("/dispatcher/counters", test_counters);
  g_test_add_func ("/dispatcher/operation/no-result", test_blocking_without_result);
  g_test_add_data_func ("/dispatcher/operation/dropped-task/timeout", GINT_TO_POINTER (TRUE),
                        test_dropped_task);
  g_test_add_data_func ("/dispatcher/operation/dropped-task/cancellable", GINT_TO_POINTER (FALSE),
                        test_dropped_task);
  g_test_add_func ("/dispatcher/operation/subclass", test_subclass);
  g_test_add_func ("/dispatcher/run-in-thread", test_run_in_thread);
  g_test_add_func ("/dispatcher/default", test_default);
  g_test_add_func ("/dispatcher/dropped-while-pending", test_dropped_while_pending);
  g_test_add_func ("/dispatcher/full-outlives-dispatcher", test_full_outlives_dispatcher);
  g_test_add_func ("/dispatcher/bad-input", test_bad_input);

  return g_test_run ();
}
