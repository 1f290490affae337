/* test-util.c: real GIO operations and fixtures shared by the tests
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "test-util.h"

G_DEFINE_QUARK (sa-test-error-quark, test_error)

TestFile *
test_file_new (const char *contents)
{
  TestFile *tf = g_new0 (TestFile, 1);
  g_autoptr(GError) error = NULL;
  int fd;

  fd = g_file_open_tmp ("sa-test-XXXXXX", &tf->path, &error);
  g_assert_no_error (error);
  close (fd);
  g_file_set_contents (tf->path, contents, -1, &error);
  g_assert_no_error (error);
  tf->file = g_file_new_for_path (tf->path);
  tf->contents = g_strdup (contents);

  return tf;
}

void
test_file_free (TestFile *tf)
{
  g_unlink (tf->path);
  g_free (tf->path);
  g_free (tf->contents);
  g_object_unref (tf->file);
  g_free (tf);
}

static void
probe_record (TestProbe *probe)
{
  if (probe == NULL)
    return;
  g_atomic_int_inc (&probe->runs);
  probe->thread = g_thread_self ();
  probe->context = g_main_context_get_thread_default ();
  probe->was_async = sa_caller_is_async ();
}

static void
return_string (GTask      *task,
               const char *string)
{
  GValue value = G_VALUE_INIT;

  g_value_init (&value, G_TYPE_STRING);
  g_value_set_string (&value, string);
  g_task_return_value (task, &value);
  g_value_unset (&value);
}

/* --- file --------------------------------------------------------------- */

typedef struct
{
  GFile     *file;
  TestProbe *probe;
} FileData;

static void
file_data_free (gpointer data)
{
  FileData *fd = data;

  g_object_unref (fd->file);
  g_free (fd);
}

static void
load_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;

  if (!g_file_load_contents_finish (G_FILE (source), result, &contents, NULL, NULL, &error))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    return_string (task, contents);
}

static void
load_start (SaOperation  *op,
            GTask        *task,
            GCancellable *cancellable,
            gpointer      user_data)
{
  FileData *fd = user_data;

  probe_record (fd->probe);
  g_file_load_contents_async (fd->file, cancellable, load_cb, g_object_ref (task));
}

static void
load_run (SaOperation  *op,
          GTask        *task,
          GCancellable *cancellable,
          gpointer      user_data)
{
  FileData *fd = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;

  probe_record (fd->probe);
  if (!g_file_load_contents (fd->file, cancellable, &contents, NULL, NULL, &error))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    return_string (task, contents);
}

SaOperation *
test_op_load_file (GFile     *file,
                   gboolean   blocking,
                   TestProbe *probe)
{
  FileData *fd = g_new0 (FileData, 1);
  SaOperation *op;

  fd->file = g_object_ref (file);
  fd->probe = probe;
  if (blocking)
    op = sa_operation_new_blocking (load_run, fd, file_data_free);
  else
    op = sa_operation_new_non_blocking (load_start, fd, file_data_free);
  sa_operation_set_name (op, "load-file");

  return op;
}

/* --- subprocess --------------------------------------------------------- */

typedef struct
{
  GStrv      argv;
  TestProbe *probe;
} SpawnData;

static void
spawn_data_free (gpointer data)
{
  SpawnData *sd = data;

  g_strfreev (sd->argv);
  g_free (sd);
}

/* A child is never left behind: on cancellation it is killed, and the
 * operation completes only once it has been reaped (GLib sends the signal
 * from its worker thread, so the wait, not the kill, says it is gone). */
static void
kill_child (GCancellable *cancellable,
            gpointer      proc)
{
  g_subprocess_force_exit (proc);
}

static void
watch_child (GSubprocess         *proc,
             GCancellable        *cancellable,
             GAsyncReadyCallback  callback,
             GTask               *task)
{
  g_subprocess_wait_check_async (proc, NULL, callback, g_object_ref (task));
  if (cancellable != NULL)
    g_cancellable_connect (cancellable, G_CALLBACK (kill_child),
                           g_object_ref (proc), g_object_unref);
}

static gboolean
child_finish (GSubprocess   *proc,
              GAsyncResult  *result,
              GTask         *task,
              GError       **error)
{
  gboolean ok = g_subprocess_wait_check_finish (proc, result, error);

  if (g_task_return_error_if_cancelled (task))
    {
      g_clear_error (error);
      return FALSE;
    }
  if (!ok)
    g_task_return_error (task, g_steal_pointer (error));

  return ok;
}

static void
wait_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (child_finish (G_SUBPROCESS (source), result, task, &error))
    g_task_return_boolean (task, TRUE);
}

static void
spawn_start (SaOperation  *op,
             GTask        *task,
             GCancellable *cancellable,
             gpointer      user_data)
{
  SpawnData *sd = user_data;
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;

  probe_record (sd->probe);
  proc = g_subprocess_newv ((const char * const *) sd->argv, G_SUBPROCESS_FLAGS_NONE, &error);
  if (proc == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  watch_child (proc, cancellable, wait_cb, task);
}

static void
spawn_run (SaOperation  *op,
           GTask        *task,
           GCancellable *cancellable,
           gpointer      user_data)
{
  SpawnData *sd = user_data;
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;

  probe_record (sd->probe);
  proc = g_subprocess_newv ((const char * const *) sd->argv, G_SUBPROCESS_FLAGS_NONE, &error);
  if (proc == NULL || !g_subprocess_wait_check (proc, cancellable, &error))
    {
      if (proc != NULL)
        {
          /* Killed from GLib's worker thread: wait until it is reaped. */
          g_subprocess_force_exit (proc);
          g_subprocess_wait (proc, NULL, NULL);
        }
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_task_return_boolean (task, TRUE);
}

SaOperation *
test_op_subprocess (const char * const *argv,
                    gboolean            blocking,
                    TestProbe          *probe)
{
  SpawnData *sd = g_new0 (SpawnData, 1);
  SaOperation *op;

  sd->argv = g_strdupv ((char **) argv);
  sd->probe = probe;
  if (blocking)
    op = sa_operation_new_blocking (spawn_run, sd, spawn_data_free);
  else
    op = sa_operation_new_non_blocking (spawn_start, sd, spawn_data_free);
  sa_operation_set_name (op, argv[0]);

  return op;
}

/* --- socket ------------------------------------------------------------- */

typedef struct
{
  guint16    port;
  TestProbe *probe;
} SocketData;

static void
read_line_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;

  line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result, NULL, &error);
  if (line == NULL && error == NULL)
    error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT, "Connection closed early");
  if (error != NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    return_string (task, line);
}

static void
connect_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) conn = NULL;
  g_autoptr(GDataInputStream) in = NULL;

  conn = g_socket_client_connect_to_host_finish (G_SOCKET_CLIENT (source), result, &error);
  if (conn == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  in = g_data_input_stream_new (g_io_stream_get_input_stream (G_IO_STREAM (conn)));
  /* The stream keeps the connection's input open; the connection itself
   * rides along as task data until the line has arrived. */
  g_task_set_task_data (task, g_object_ref (conn), g_object_unref);
  g_data_input_stream_read_line_async (in, G_PRIORITY_DEFAULT, g_task_get_cancellable (task),
                                       read_line_cb, g_object_ref (task));
}

static void
socket_start (SaOperation  *op,
              GTask        *task,
              GCancellable *cancellable,
              gpointer      user_data)
{
  SocketData *sd = user_data;
  g_autoptr(GSocketClient) client = g_socket_client_new ();

  probe_record (sd->probe);
  g_socket_client_connect_to_host_async (client, "127.0.0.1", sd->port, cancellable,
                                         connect_cb, g_object_ref (task));
}

static void
socket_run (SaOperation  *op,
            GTask        *task,
            GCancellable *cancellable,
            gpointer      user_data)
{
  SocketData *sd = user_data;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) conn = NULL;
  g_autoptr(GDataInputStream) in = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;

  probe_record (sd->probe);
  conn = g_socket_client_connect_to_host (client, "127.0.0.1", sd->port, cancellable, &error);
  if (conn != NULL)
    {
      in = g_data_input_stream_new (g_io_stream_get_input_stream (G_IO_STREAM (conn)));
      line = g_data_input_stream_read_line_utf8 (in, NULL, cancellable, &error);
    }
  if (error != NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    return_string (task, line);
}

SaOperation *
test_op_socket_read (guint16    port,
                     gboolean   blocking,
                     TestProbe *probe)
{
  SocketData *sd = g_new0 (SocketData, 1);
  SaOperation *op;

  sd->port = port;
  sd->probe = probe;
  if (blocking)
    op = sa_operation_new_blocking (socket_run, sd, g_free);
  else
    op = sa_operation_new_non_blocking (socket_start, sd, g_free);
  sa_operation_set_name (op, "socket-read");

  return op;
}

/* --- resolver ----------------------------------------------------------- */

static void
resolve_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  GList *addresses;
  g_autofree char *first = NULL;

  addresses = g_resolver_lookup_by_name_finish (G_RESOLVER (source), result, &error);
  if (addresses == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  first = g_inet_address_to_string (addresses->data);
  g_resolver_free_addresses (addresses);
  return_string (task, first);
}

static void
resolve_start (SaOperation  *op,
               GTask        *task,
               GCancellable *cancellable,
               gpointer      user_data)
{
  g_autoptr(GResolver) resolver = g_resolver_get_default ();

  probe_record (user_data);
  g_resolver_lookup_by_name_async (resolver, "localhost", cancellable, resolve_cb, g_object_ref (task));
}

static void
resolve_run (SaOperation  *op,
             GTask        *task,
             GCancellable *cancellable,
             gpointer      user_data)
{
  g_autoptr(GResolver) resolver = g_resolver_get_default ();
  g_autoptr(GError) error = NULL;
  GList *addresses;
  g_autofree char *first = NULL;

  probe_record (user_data);
  addresses = g_resolver_lookup_by_name (resolver, "localhost", cancellable, &error);
  if (addresses == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  first = g_inet_address_to_string (addresses->data);
  g_resolver_free_addresses (addresses);
  return_string (task, first);
}

SaOperation *
test_op_resolve (gboolean   blocking,
                 TestProbe *probe)
{
  SaOperation *op;

  if (blocking)
    op = sa_operation_new_blocking (resolve_run, probe, NULL);
  else
    op = sa_operation_new_non_blocking (resolve_start, probe, NULL);
  sa_operation_set_name (op, "resolve-localhost");

  return op;
}

/* --- failure ------------------------------------------------------------ */

static gboolean
fail_idle (gpointer user_data)
{
  GTask *task = user_data;

  g_task_return_new_error (task, TEST_ERROR, 42, "boom %d", 42);

  return G_SOURCE_REMOVE;
}

static void
fail_start (SaOperation  *op,
            GTask        *task,
            GCancellable *cancellable,
            gpointer      user_data)
{
  GSource *source = g_idle_source_new ();

  probe_record (user_data);
  g_source_set_callback (source, fail_idle, g_object_ref (task), g_object_unref);
  g_source_attach (source, g_main_context_get_thread_default ());
  g_source_unref (source);
}

static void
fail_run (SaOperation  *op,
          GTask        *task,
          GCancellable *cancellable,
          gpointer      user_data)
{
  probe_record (user_data);
  fail_idle (task);
}

SaOperation *
test_op_fail (gboolean   blocking,
              TestProbe *probe)
{
  SaOperation *op;

  if (blocking)
    op = sa_operation_new_blocking (fail_run, probe, NULL);
  else
    op = sa_operation_new_non_blocking (fail_start, probe, NULL);
  sa_operation_set_name (op, "fail");

  return op;
}

/* --- server ------------------------------------------------------------- */

struct _TestServer
{
  GThread      *thread;
  GMainContext *context;
  GMainLoop    *loop;
  guint16       port;
  gint          ready;
  GMutex        lock;
  GCond         cond;
};

static gboolean
incoming_cb (GSocketService    *service,
             GSocketConnection *connection,
             GObject           *source_object,
             gpointer           user_data)
{
  static const char greeting[] = "hello from smartasync\n";
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (connection));

  g_output_stream_write_all (out, greeting, sizeof greeting - 1, NULL, NULL, NULL);
  g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);

  return TRUE;
}

static gpointer
server_thread (gpointer data)
{
  TestServer *server = data;
  g_autoptr(GSocketService) service = NULL;
  g_autoptr(GInetAddress) loopback = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GSocketAddress) effective = NULL;
  g_autoptr(GError) error = NULL;

  g_main_context_push_thread_default (server->context);

  service = g_socket_service_new ();
  loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  address = g_inet_socket_address_new (loopback, 0);
  g_socket_listener_add_address (G_SOCKET_LISTENER (service), address,
                                 G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                 NULL, &effective, &error);
  g_assert_no_error (error);
  g_signal_connect (service, "incoming", G_CALLBACK (incoming_cb), NULL);
  g_socket_service_start (service);

  g_mutex_lock (&server->lock);
  server->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
  server->ready = TRUE;
  g_cond_signal (&server->cond);
  g_mutex_unlock (&server->lock);

  g_main_loop_run (server->loop);

  g_socket_service_stop (service);
  g_socket_listener_close (G_SOCKET_LISTENER (service));
  g_main_context_pop_thread_default (server->context);

  return NULL;
}

TestServer *
test_server_new (void)
{
  TestServer *server = g_new0 (TestServer, 1);

  g_mutex_init (&server->lock);
  g_cond_init (&server->cond);
  server->context = g_main_context_new ();
  server->loop = g_main_loop_new (server->context, FALSE);
  server->thread = g_thread_new ("test-server", server_thread, server);

  g_mutex_lock (&server->lock);
  while (!server->ready)
    g_cond_wait (&server->cond, &server->lock);
  g_mutex_unlock (&server->lock);

  return server;
}

guint16
test_server_get_port (TestServer *server)
{
  return server->port;
}

static gboolean
quit_cb (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

void
test_server_free (TestServer *server)
{
  GSource *source = g_idle_source_new ();

  g_source_set_callback (source, quit_cb, server->loop, NULL);
  g_source_attach (source, server->context);
  g_source_unref (source);
  g_thread_join (server->thread);

  g_main_loop_unref (server->loop);
  g_main_context_unref (server->context);
  g_mutex_clear (&server->lock);
  g_cond_clear (&server->cond);
  g_free (server);
}

/* --- misc --------------------------------------------------------------- */

typedef struct
{
  GCancellable *cancellable;
  guint         delay_ms;
} CancelLater;

static gpointer
cancel_later_thread (gpointer data)
{
  CancelLater *cl = data;

  g_usleep (cl->delay_ms * 1000);
  g_cancellable_cancel (cl->cancellable);
  g_object_unref (cl->cancellable);
  g_free (cl);

  return NULL;
}

GThread *
test_cancel_later (GCancellable *cancellable,
                   guint         delay_ms)
{
  CancelLater *cl = g_new0 (CancelLater, 1);

  cl->cancellable = g_object_ref (cancellable);
  cl->delay_ms = delay_ms;

  return g_thread_new ("cancel-later", cancel_later_thread, cl);
}

void
test_iterate_until (GMainContext *context,
                    const gint   *flag)
{
  while (!g_atomic_int_get (flag))
    g_main_context_iteration (context, TRUE);
}

guint
test_wait_for_n_contexts (guint n)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (sa_get_n_contexts () > n && g_get_monotonic_time () < deadline)
    g_usleep (1000);

  return sa_get_n_contexts ();
}

gint
test_wait_for_count (const gint *counter,
                     gint        n)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (g_atomic_int_get (counter) < n && g_get_monotonic_time () < deadline)
    g_usleep (1000);

  return g_atomic_int_get (counter);
}

gint
test_iterate_for_count (GMainContext *context,
                        const gint   *counter,
                        gint          n)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (g_atomic_int_get (counter) < n && g_get_monotonic_time () < deadline)
    {
      while (g_main_context_iteration (context, FALSE))
        ;
      g_usleep (1000);
    }

  return g_atomic_int_get (counter);
}

gboolean
test_call_sync_bool (SaDispatcher  *dispatcher,
                     SaOperation   *operation,
                     GCancellable  *cancellable,
                     GError       **error)
{
  g_autoptr(GTask) task = sa_dispatcher_call (dispatcher, operation, SA_CALL_MODE_SYNC,
                                              cancellable, NULL, NULL);

  g_assert_true (g_task_get_completed (task));

  return test_finish_boolean (task, error);
}

/* --- sleep, returning a value ------------------------------------------ */

typedef struct
{
  char *seconds;
  gint *saw_cancel;
} SleepData;

static void
sleep_data_free (gpointer data)
{
  SleepData *sd = data;

  g_free (sd->seconds);
  g_free (sd);
}

static void
sleep_wait_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  SleepData *sd = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;

  if (!child_finish (G_SUBPROCESS (source), result, task, &error))
    {
      if (sd->saw_cancel != NULL && g_cancellable_is_cancelled (g_task_get_cancellable (task)))
        g_atomic_int_set (sd->saw_cancel, TRUE);
      return;
    }
  text = g_strdup_printf ("slept %s", sd->seconds);
  return_string (task, text);
}

static void
sleep_start (SaOperation  *op,
             GTask        *task,
             GCancellable *cancellable,
             gpointer      user_data)
{
  SleepData *sd = user_data;
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;

  proc = g_subprocess_new (G_SUBPROCESS_FLAGS_NONE, &error, "sleep", sd->seconds, NULL);
  if (proc == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_task_set_task_data (task, sd, NULL);
  watch_child (proc, cancellable, sleep_wait_cb, task);
}

SaOperation *
test_op_sleep (const char *seconds,
               gint       *saw_cancel)
{
  SleepData *sd = g_new0 (SleepData, 1);
  SaOperation *op;

  sd->seconds = g_strdup (seconds);
  sd->saw_cancel = saw_cancel;
  op = sa_operation_new_non_blocking (sleep_start, sd, sleep_data_free);
  sa_operation_set_name (op, "sleep");

  return op;
}

/* --- gated blocking function ------------------------------------------- */

void
test_gate_init (TestGate *gate,
                gint      value)
{
  memset (gate, 0, sizeof *gate);
  g_mutex_init (&gate->lock);
  g_cond_init (&gate->cond);
  gate->value = value;
}

void
test_gate_open (TestGate *gate)
{
  g_mutex_lock (&gate->lock);
  gate->open = TRUE;
  g_cond_broadcast (&gate->cond);
  g_mutex_unlock (&gate->lock);
}

void
test_gate_clear (TestGate *gate)
{
  g_mutex_clear (&gate->lock);
  g_cond_clear (&gate->cond);
}

static void
gated_run (SaOperation  *op,
           GTask        *task,
           GCancellable *cancellable,
           gpointer      user_data)
{
  TestGate *gate = user_data;
  GValue value = G_VALUE_INIT;

  g_atomic_int_inc (&gate->runs);
  g_atomic_int_inc (&gate->waiting);
  g_mutex_lock (&gate->lock);
  while (!gate->open)
    g_cond_wait (&gate->cond, &gate->lock);
  g_mutex_unlock (&gate->lock);
  g_atomic_int_add (&gate->waiting, -1);

  g_value_init (&value, G_TYPE_INT);
  g_value_set_int (&value, gate->value);
  g_task_return_value (task, &value);
}

SaOperation *
test_op_gated (TestGate *gate)
{
  SaOperation *op = sa_operation_new_blocking (gated_run, gate, NULL);

  sa_operation_set_name (op, "gated");

  return op;
}

/* --- immediate ---------------------------------------------------------- */

typedef struct
{
  char *value;
  gint *runs;
} ImmediateData;

static void
immediate_data_free (gpointer data)
{
  ImmediateData *id = data;

  g_free (id->value);
  g_free (id);
}

static void
immediate_start (SaOperation  *op,
                 GTask        *task,
                 GCancellable *cancellable,
                 gpointer      user_data)
{
  ImmediateData *id = user_data;

  if (id->runs != NULL)
    g_atomic_int_inc (id->runs);
  return_string (task, id->value);
}

SaOperation *
test_op_immediate (const char *value,
                   gint       *runs)
{
  ImmediateData *id = g_new0 (ImmediateData, 1);
  SaOperation *op;

  id->value = g_strdup (value);
  id->runs = runs;
  op = sa_operation_new_non_blocking (immediate_start, id, immediate_data_free);
  sa_operation_set_name (op, "immediate");

  return op;
}

void
test_return_int (GTask *task,
                 gint   v)
{
  GValue value = G_VALUE_INIT;

  g_value_init (&value, G_TYPE_INT);
  g_value_set_int (&value, v);
  g_task_return_value (task, &value);
}

static void
mark_finalized (gpointer  data,
                GObject  *where_the_object_was)
{
  g_atomic_int_set ((gint *) data, TRUE);
}

void
test_watch_finalize (gpointer  object,
                     gint     *finalized)
{
  g_atomic_int_set (finalized, FALSE);
  g_object_weak_ref (G_OBJECT (object), mark_finalized, finalized);
}

static gboolean
never_dispatched (gpointer data)
{
  g_assert_not_reached ();
  return G_SOURCE_CONTINUE;
}

static void
mark_freed (gpointer data)
{
  g_atomic_int_set ((gint *) data, TRUE);
}

void
test_watch_context_free (GMainContext *context,
                         gint         *freed)
{
  g_autoptr(GSource) sentinel = g_timeout_source_new_seconds (3600);

  g_atomic_int_set (freed, FALSE);
  /* Destroyed, and so notified, when the context is freed. */
  g_source_set_callback (sentinel, never_dispatched, freed, mark_freed);
  g_source_attach (sentinel, context);
}

guint
test_count_fds (void)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  guint n = 0;

  g_assert_nonnull (dir);
  while (g_dir_read_name (dir) != NULL)
    n++;

  return n;
}
