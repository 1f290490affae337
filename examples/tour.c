/* tour.c: the same four operations, called by a sync caller and by an
 * async caller; each line says which cell the call took and how long it
 * took.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <smartasync.h>

#include <glib/gstdio.h>

/* --- four operations, each written once --------------------------------- */

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

/* Non-blocking: read a file with GIO's asynchronous API. */
static void
load_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize length;

  if (!g_file_load_contents_finish (G_FILE (source), result, &contents, &length, NULL, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  {
    g_autofree char *text = g_strdup_printf ("%" G_GSIZE_FORMAT " bytes", length);
    return_string (task, text);
  }
}

static void
load_start (SaOperation  *op,
            GTask        *task,
            GCancellable *cancellable,
            gpointer      file)
{
  g_file_load_contents_async (file, cancellable, load_cb, g_object_ref (task));
}

/* Non-blocking: resolve a name with GResolver. */
static void
resolve_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  GList *addresses = g_resolver_lookup_by_name_finish (G_RESOLVER (source), result, &error);
  g_autofree char *first = NULL;

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

  g_resolver_lookup_by_name_async (resolver, "localhost", cancellable, resolve_cb, g_object_ref (task));
}

/* Blocking: read a file and checksum it, synchronously. */
static void
checksum_run (SaOperation  *op,
              GTask        *task,
              GCancellable *cancellable,
              gpointer      file)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *sum = NULL;
  gsize length;

  if (!g_file_load_contents (file, cancellable, &contents, &length, NULL, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  sum = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) contents, length);
  sum[16] = '\0';
  return_string (task, sum);
}

/* Blocking: run a program and wait for its output. */
static void
uname_run (SaOperation  *op,
           GTask        *task,
           GCancellable *cancellable,
           gpointer      user_data)
{
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;

  proc = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, "uname", "-sr", NULL);
  if (proc == NULL || !g_subprocess_communicate_utf8 (proc, NULL, cancellable, &out, NULL, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  return_string (task, g_strstrip (out));
}

/* --- the tour ------------------------------------------------------------ */

#define N_OPS 4

typedef struct
{
  SaDispatcher *dispatcher;
  SaOperation  *ops[N_OPS];
  guint64       before[SA_N_CELLS];
  gint64        start[N_OPS];
  guint         pending;
  GMainLoop    *loop;
  gboolean      failed;
} Tour;

static const char *
cell_name (SaCell cell)
{
  switch (cell)
    {
    case SA_CELL_SYNC_NON_BLOCKING:  return "sync caller,  non-blocking op: private context";
    case SA_CELL_SYNC_BLOCKING:      return "sync caller,  blocking op:     direct call";
    case SA_CELL_ASYNC_NON_BLOCKING: return "async caller, non-blocking op: caller's loop";
    case SA_CELL_ASYNC_BLOCKING:     return "async caller, blocking op:     worker thread";
    default:                         g_assert_not_reached ();
    }
}

static void
snapshot (Tour *tour)
{
  for (guint c = 0; c < SA_N_CELLS; c++)
    tour->before[c] = sa_dispatcher_get_n_calls (tour->dispatcher, c);
}

/* Which cell the last call took: the counter that moved. */
static SaCell
cell_taken (Tour *tour)
{
  for (guint c = 0; c < SA_N_CELLS; c++)
    if (sa_dispatcher_get_n_calls (tour->dispatcher, c) != tour->before[c])
      {
        tour->before[c] = sa_dispatcher_get_n_calls (tour->dispatcher, c);
        return c;
      }
  g_assert_not_reached ();
}

static void
report (Tour         *tour,
        guint         i,
        SaCell        cell,
        GAsyncResult *result)
{
  g_autoptr(GError) error = NULL;
  GValue *value = sa_dispatcher_call_finish (tour->dispatcher, result, &error);
  gint64 elapsed = g_get_monotonic_time () - tour->start[i];

  if (value == NULL)
    {
      g_print ("  %-18s %-46s failed: %s\n", sa_operation_get_name (tour->ops[i]),
               cell_name (cell), error->message);
      tour->failed = TRUE;
      return;
    }
  g_print ("  %-18s %-46s %7" G_GINT64_FORMAT " us  -> %s\n",
           sa_operation_get_name (tour->ops[i]), cell_name (cell), elapsed,
           g_value_get_string (value));
  g_boxed_free (G_TYPE_VALUE, value);
}

typedef struct
{
  Tour  *tour;
  guint  i;
  SaCell cell;
} AsyncCall;

static void
async_done (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  AsyncCall *call = user_data;
  Tour *tour = call->tour;

  report (tour, call->i, call->cell, result);
  g_free (call);
  if (--tour->pending == 0)
    g_main_loop_quit (tour->loop);
}

static gboolean
async_part (gpointer user_data)
{
  Tour *tour = user_data;

  g_print ("async caller (inside a GMainLoop: each call returns a pending GTask):\n");
  for (guint i = 0; i < N_OPS; i++)
    {
      AsyncCall *call = g_new0 (AsyncCall, 1);
      g_autoptr(GTask) task = NULL;

      call->tour = tour;
      call->i = i;
      tour->start[i] = g_get_monotonic_time ();
      task = sa_dispatcher_call (tour->dispatcher, tour->ops[i], SA_CALL_MODE_AUTO,
                                 NULL, async_done, call);
      call->cell = cell_taken (tour);
      tour->pending++;
    }

  return G_SOURCE_REMOVE;
}

int
main (int   argc,
      char *argv[])
{
  Tour tour = { 0 };
  g_autofree char *path = NULL;
  g_autoptr(GFile) file = NULL;
  g_autoptr(GError) error = NULL;
  int fd;

  fd = g_file_open_tmp ("smartasync-tour-XXXXXX", &path, &error);
  if (fd < 0 || !g_file_set_contents (path, "Write an operation once; call it from any caller.\n", -1, &error))
    {
      g_printerr ("tour: %s\n", error->message);
      return 1;
    }
  g_close (fd, NULL);
  file = g_file_new_for_path (path);

  tour.dispatcher = sa_dispatcher_get_default ();
  tour.ops[0] = sa_operation_new_non_blocking (load_start, g_object_ref (file), g_object_unref);
  tour.ops[1] = sa_operation_new_non_blocking (resolve_start, NULL, NULL);
  tour.ops[2] = sa_operation_new_blocking (checksum_run, g_object_ref (file), g_object_unref);
  tour.ops[3] = sa_operation_new_blocking (uname_run, NULL, NULL);
  sa_operation_set_name (tour.ops[0], "load file");
  sa_operation_set_name (tour.ops[1], "resolve localhost");
  sa_operation_set_name (tour.ops[2], "sha256 of file");
  sa_operation_set_name (tour.ops[3], "run uname -sr");

  g_print ("smartasync %s tour: four operations, each written once\n\n", SA_VERSION_S);

  snapshot (&tour);
  g_print ("sync caller (main(), no loop running: each call returns the result):\n");
  for (guint i = 0; i < N_OPS; i++)
    {
      g_autoptr(GTask) task = NULL;

      tour.start[i] = g_get_monotonic_time ();
      task = sa_dispatcher_call (tour.dispatcher, tour.ops[i], SA_CALL_MODE_AUTO, NULL, NULL, NULL);
      report (&tour, i, cell_taken (&tour), G_ASYNC_RESULT (task));
    }
  g_print ("\n");

  tour.loop = g_main_loop_new (NULL, FALSE);
  g_idle_add (async_part, &tour);
  g_main_loop_run (tour.loop);
  g_main_loop_unref (tour.loop);

  for (guint i = 0; i < N_OPS; i++)
    g_object_unref (tour.ops[i]);
  g_unlink (path);

  g_print ("\nprivate contexts alive: %u (one per thread that made a sync call)\n",
           sa_get_n_contexts ());

  return tour.failed ? 1 : 0;
}
