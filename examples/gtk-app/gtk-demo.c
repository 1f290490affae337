/* gtk-demo.c: a GTK 4 application and a command-line tool, one set of operations
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   gtk-demo                     the window: three buttons, three operations
 *   gtk-demo --cli               the same operations from main(), no loop
 *   gtk-demo --self-test OUT.png presses the buttons, checks the results,
 *                                measures the main loop, saves a screenshot,
 *                                closes the window mid-operation
 *
 * Both modes call the operations with the same line, sa_dispatcher_call():
 * from main() it returns the finished task, from a button's handler a
 * pending one whose callback runs on the main loop.
 */

#include <gtk/gtk.h>
#include <smartasync.h>

#include "demo-operations.h"

typedef enum
{
  JOB_QUERY,
  JOB_HASH,
  JOB_LIST,
  N_JOBS
} Job;

static const char * const job_names[N_JOBS] = { "query", "hash", "list" };
static const char * const job_titles[N_JOBS] = {
  "Query a million rows (sqlite3, blocking)",
  "Hash a 64 MiB file (blocking)",
  "List a directory (GIO, non-blocking)",
};

static char *data_dir;
static char *list_dir;

static SaOperation *
job_operation_new (Job job)
{
  switch (job)
    {
    case JOB_QUERY:
      return demo_query_new (data_dir);
    case JOB_HASH:
      return demo_hash_new (data_dir);
    case JOB_LIST:
      return demo_list_new (list_dir);
    case N_JOBS:
    default:
      g_assert_not_reached ();
    }
}

/* What the self-test reads: every call's outcome, as its callback saw it. */
typedef struct
{
  guint     n_pending;
  char     *results[N_JOBS];
  GError   *errors[N_JOBS];
  gint64    started[N_JOBS];
  gint64    finished[N_JOBS];
} Outcomes;

static Outcomes outcomes;

/* The main loop's pulse: a 10 ms timeout, and the window's frame clock. */
#define TICK_MS 10
static gint64 last_tick;
static gint64 longest_tick_gap;
static gint64 last_frame;
static gint64 longest_frame_gap;

static gboolean
pulse_tick (gpointer user_data)
{
  gint64 now = g_get_monotonic_time ();

  if (last_tick != 0)
    longest_tick_gap = MAX (longest_tick_gap, now - last_tick);
  last_tick = now;
  return G_SOURCE_CONTINUE;
}

static gboolean
pulse_frame (GtkWidget     *widget,
             GdkFrameClock *clock,
             gpointer       user_data)
{
  gint64 now = gdk_frame_clock_get_frame_time (clock);

  if (last_frame != 0)
    longest_frame_gap = MAX (longest_frame_gap, now - last_frame);
  last_frame = now;
  return G_SOURCE_CONTINUE;
}

static void
pulse_reset (void)
{
  last_tick = longest_tick_gap = 0;
  last_frame = longest_frame_gap = 0;
}

#define DEMO_TYPE_WINDOW (demo_window_get_type ())
G_DECLARE_FINAL_TYPE (DemoWindow, demo_window, DEMO, WINDOW, GtkApplicationWindow)

struct _DemoWindow
{
  GtkApplicationWindow parent_instance;

  GtkWidget *buttons[N_JOBS];
  GtkWidget *spinners[N_JOBS];
  GtkWidget *results[N_JOBS];
};

G_DEFINE_FINAL_TYPE (DemoWindow, demo_window, GTK_TYPE_APPLICATION_WINDOW)

/* One call from a button: the window is held weakly, so that a result
 * arriving after the window closed touches nothing. */
typedef struct
{
  GWeakRef window;
  Job      job;
} JobCall;

static void
job_call_free (JobCall *call)
{
  g_weak_ref_clear (&call->window);
  g_free (call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (JobCall, job_call_free)

static void
job_done (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(JobCall) call = user_data;
  g_autoptr(DemoWindow) self = g_weak_ref_get (&call->window);
  g_autoptr(GError) error = NULL;
  g_autofree char *line = sa_dispatcher_call_finish_pointer (SA_DISPATCHER (source), result,
                                                            &error);
  Job job = call->job;

  /* Called on the main loop, exactly once per call. */
  outcomes.n_pending--;
  outcomes.finished[job] = g_get_monotonic_time ();
  g_clear_pointer (&outcomes.results[job], g_free);
  g_clear_error (&outcomes.errors[job]);
  outcomes.results[job] = g_strdup (line);
  outcomes.errors[job] = error != NULL ? g_error_copy (error) : NULL;

  if (self == NULL)
    return;

  gtk_spinner_stop (GTK_SPINNER (self->spinners[job]));
  gtk_widget_set_sensitive (self->buttons[job], TRUE);
  gtk_label_set_text (GTK_LABEL (self->results[job]), line != NULL ? line : error->message);
}

static void
job_clicked (GtkButton  *button,
             DemoWindow *self)
{
  GtkApplication *application = gtk_window_get_application (GTK_WINDOW (self));
  Job job = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (button), "job"));
  g_autoptr(SaOperation) op = job_operation_new (job);
  g_autoptr(GTask) task = NULL;
  JobCall *call = g_new0 (JobCall, 1);

  g_weak_ref_init (&call->window, self);
  call->job = job;
  outcomes.n_pending++;
  outcomes.started[job] = g_get_monotonic_time ();

  /* A button's handler runs in the main loop: an async caller. Blocking
   * operations go to a worker, the GIO one starts here; job_done() runs on
   * this loop. Closing the window cancels the call; the application stays
   * up until it has answered. */
  task = sa_dispatcher_call (sa_dispatcher_get_default (), op, SA_CALL_MODE_AUTO,
                             sa_object_get_cancellable (self), job_done, call);
  sa_application_hold_task (G_APPLICATION (application), task);

  gtk_widget_set_sensitive (self->buttons[job], FALSE);
  gtk_spinner_start (GTK_SPINNER (self->spinners[job]));
  gtk_label_set_text (GTK_LABEL (self->results[job]), "running...");
}

static void
demo_window_class_init (DemoWindowClass *klass)
{
}

static void
demo_window_init (DemoWindow *self)
{
  GtkWidget *grid = gtk_grid_new ();
  GtkWidget *intro = gtk_label_new (NULL);

  gtk_window_set_title (GTK_WINDOW (self), "smartasync demo");
  gtk_window_set_default_size (GTK_WINDOW (self), 720, -1);

  gtk_grid_set_row_spacing (GTK_GRID (grid), 12);
  gtk_grid_set_column_spacing (GTK_GRID (grid), 12);
  gtk_widget_set_margin_start (grid, 18);
  gtk_widget_set_margin_end (grid, 18);
  gtk_widget_set_margin_top (grid, 18);
  gtk_widget_set_margin_bottom (grid, 18);

  gtk_label_set_markup (GTK_LABEL (intro),
                        "Each button runs an operation through <tt>sa_dispatcher_call()</tt>. "
                        "The window keeps drawing while they run; <tt>gtk-demo --cli</tt> "
                        "runs the same operations with no main loop.");
  gtk_label_set_wrap (GTK_LABEL (intro), TRUE);
  gtk_label_set_xalign (GTK_LABEL (intro), 0);
  gtk_grid_attach (GTK_GRID (grid), intro, 0, 0, 3, 1);

  for (Job job = 0; job < N_JOBS; job++)
    {
      self->buttons[job] = gtk_button_new_with_label (job_titles[job]);
      g_object_set_data (G_OBJECT (self->buttons[job]), "job", GINT_TO_POINTER (job));
      g_signal_connect (self->buttons[job], "clicked", G_CALLBACK (job_clicked), self);
      self->spinners[job] = gtk_spinner_new ();
      self->results[job] = gtk_label_new ("—");
      gtk_label_set_xalign (GTK_LABEL (self->results[job]), 0);
      gtk_label_set_selectable (GTK_LABEL (self->results[job]), TRUE);
      gtk_widget_set_hexpand (self->results[job], TRUE);

      gtk_grid_attach (GTK_GRID (grid), self->buttons[job], 0, job + 1, 1, 1);
      gtk_grid_attach (GTK_GRID (grid), self->spinners[job], 1, job + 1, 1, 1);
      gtk_grid_attach (GTK_GRID (grid), self->results[job], 2, job + 1, 1, 1);
    }

  gtk_window_set_child (GTK_WINDOW (self), grid);
  gtk_widget_add_tick_callback (GTK_WIDGET (self), pulse_frame, NULL, NULL);
}

/* --- the self-test, driven by the window's own signals ------------------ */

static char *self_test_png;
static gboolean self_test_failed;
static DemoWindow *self_test_window;  /* (unowned) until it closes */

/* The main loop may stall for scheduling and its own drawing, never for
 * the work: a stall is bounded by half of what the query takes (what it
 * would block the loop for), and by at least 250 ms on a loaded machine. */
#define STALL_BOUND_MIN_MS 250

static void
self_test_check (gboolean    ok,
                 const char *what)
{
  g_print ("%s - %s\n", ok ? "ok" : "not ok", what);
  if (!ok)
    self_test_failed = TRUE;
}

static gboolean
save_screenshot (GtkWidget   *widget,
                 const char  *path,
                 GError     **error)
{
  g_autoptr(GdkPaintable) paintable = gtk_widget_paintable_new (widget);
  GtkSnapshot *snapshot = gtk_snapshot_new ();
  int width = gtk_widget_get_width (widget);
  int height = gtk_widget_get_height (widget);
  g_autoptr(GskRenderNode) node = NULL;
  g_autoptr(GdkTexture) texture = NULL;

  gdk_paintable_snapshot (paintable, snapshot, width, height);
  node = gtk_snapshot_free_to_node (snapshot);
  if (node == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "The window drew nothing");
      return FALSE;
    }
  texture = gsk_renderer_render_texture (gtk_native_get_renderer (GTK_NATIVE (widget)),
                                         node, &GRAPHENE_RECT_INIT (0, 0, width, height));
  if (!gdk_texture_save_to_png (texture, path))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Cannot write %s", path);
      return FALSE;
    }
  return TRUE;
}

static void self_test_close_mid_operation (void);

static gboolean
self_test_after_close_started (gpointer user_data)
{
  g_print ("# closing the window with the query in flight\n");
  gtk_window_close (GTK_WINDOW (self_test_window));
  self_test_window = NULL;
  return G_SOURCE_REMOVE;
}

static void
self_test_close_mid_operation (void)
{
  g_clear_pointer (&outcomes.results[JOB_QUERY], g_free);
  g_clear_error (&outcomes.errors[JOB_QUERY]);
  g_signal_emit_by_name (self_test_window->buttons[JOB_QUERY], "clicked");
  self_test_check (outcomes.n_pending == 1, "the query is pending");
  /* Long enough for the worker to be inside sqlite3, far shorter than the query. */
  g_timeout_add (100, self_test_after_close_started, NULL);
}

static void
self_test_after_paint (GdkFrameClock *clock,
                       gpointer       user_data)
{
  g_autoptr(GError) error = NULL;

  g_signal_handlers_disconnect_by_func (clock, self_test_after_paint, user_data);
  self_test_check (save_screenshot (GTK_WIDGET (self_test_window), self_test_png, &error),
                   "screenshot saved");
  if (error != NULL)
    g_print ("# %s\n", error->message);
  else
    g_print ("# screenshot: %s\n", self_test_png);
  self_test_close_mid_operation ();
}

static void
self_test_naive_query (void)
{
  g_autoptr(SaOperation) op = demo_query_new (data_dir);
  g_autoptr(GError) error = NULL;
  g_autoptr(GTask) task = NULL;
  g_autofree char *line = NULL;
  gint64 start = g_get_monotonic_time ();

  /* The contrast: the same query forced onto the loop thread. */
  task = sa_dispatcher_call (sa_dispatcher_get_default (), op, SA_CALL_MODE_SYNC,
                             NULL, NULL, NULL);
  line = sa_dispatcher_call_finish_pointer (sa_dispatcher_get_default (),
                                            G_ASYNC_RESULT (task), &error);
  self_test_check (line != NULL && g_strcmp0 (line, outcomes.results[JOB_QUERY]) == 0,
                   "the query on the loop thread gives the same line");
  g_print ("# the same query on the loop thread blocks it for %.0f ms\n",
           (g_get_monotonic_time () - start) / 1000.0);
}

static gboolean
self_test_all_done (gpointer user_data)
{
  GdkFrameClock *clock;
  double stall_ms = (longest_tick_gap - TICK_MS * 1000) / 1000.0;
  double frame_ms = longest_frame_gap / 1000.0;
  double bound_ms;

  if (outcomes.n_pending > 0)
    return G_SOURCE_CONTINUE;

  for (Job job = 0; job < N_JOBS; job++)
    {
      g_autofree char *what = g_strdup_printf ("%s gave a result", job_names[job]);

      self_test_check (outcomes.results[job] != NULL, what);
      if (outcomes.errors[job] != NULL)
        g_print ("# %s: %s\n", job_names[job], outcomes.errors[job]->message);
      g_print ("result %s: %s\n", job_names[job], outcomes.results[job]);
      g_print ("# %s took %.0f ms\n", job_names[job],
               (outcomes.finished[job] - outcomes.started[job]) / 1000.0);
    }
  g_print ("figure main-loop-longest-stall %.1f ms (longest gap between %d ms ticks, less %d ms)\n",
           stall_ms, TICK_MS, TICK_MS);
  g_print ("figure frame-clock-longest-interval %.1f ms\n", frame_ms);
  bound_ms = MAX (STALL_BOUND_MIN_MS,
                  (outcomes.finished[JOB_QUERY] - outcomes.started[JOB_QUERY]) / 2000.0);
  g_print ("# bound: %.0f ms\n", bound_ms);
  self_test_check (stall_ms < bound_ms,
                   "the main loop was never blocked for half the query's time while the operations ran");

  self_test_naive_query ();

  /* The screenshot once the results have been drawn. */
  clock = gtk_widget_get_frame_clock (GTK_WIDGET (self_test_window));
  g_signal_connect (clock, "after-paint", G_CALLBACK (self_test_after_paint), NULL);
  gtk_widget_queue_draw (GTK_WIDGET (self_test_window));
  return G_SOURCE_REMOVE;
}

static gboolean
self_test_press_buttons (gpointer user_data)
{
  pulse_reset ();
  for (Job job = 0; job < N_JOBS; job++)
    g_signal_emit_by_name (self_test_window->buttons[job], "clicked");
  self_test_check (outcomes.n_pending == N_JOBS, "three calls pending, none finished inside the click");
  g_timeout_add (50, self_test_all_done, NULL);
  return G_SOURCE_REMOVE;
}

/* --- the application ---------------------------------------------------- */

static void
activate (GtkApplication *application,
          gpointer        user_data)
{
  DemoWindow *window = g_object_new (DEMO_TYPE_WINDOW, "application", application, NULL);

  gtk_window_present (GTK_WINDOW (window));
  if (self_test_png != NULL)
    {
      self_test_window = window;
      /* Once the window is up and its frame clock ticks. */
      g_timeout_add (300, self_test_press_buttons, NULL);
    }
}

static void
shutdown (GApplication *application,
          gpointer      user_data)
{
  if (self_test_png == NULL)
    return;

  /* The application was held until the cancelled call had answered. */
  self_test_check (outcomes.n_pending == 0, "no call pending when the application quits");
  self_test_check (g_error_matches (outcomes.errors[JOB_QUERY], G_IO_ERROR, G_IO_ERROR_CANCELLED),
                   "closing the window cancelled the query in flight");
}

static int
run_cli (void)
{
  int status = 0;

  /* main() runs no loop: a sync caller. Each call returns its finished task. */
  for (Job job = 0; job < N_JOBS; job++)
    {
      g_autoptr(SaOperation) op = job_operation_new (job);
      g_autoptr(GError) error = NULL;
      SaDispatcher *dispatcher = sa_dispatcher_get_default ();
      g_autoptr(GTask) task = sa_dispatcher_call (dispatcher, op, SA_CALL_MODE_AUTO,
                                                  NULL, NULL, NULL);
      g_autofree char *line = sa_dispatcher_call_finish_pointer (dispatcher,
                                                                 G_ASYNC_RESULT (task),
                                                                 &error);

      if (line != NULL)
        g_print ("result %s: %s\n", job_names[job], line);
      else
        {
          g_printerr ("%s: %s\n", job_names[job], error->message);
          status = 1;
        }
    }
  return status;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GOptionContext) context = g_option_context_new ("— smartasync in a GTK application");
  g_autoptr(GError) error = NULL;
  gboolean cli = FALSE;
  int status;
  GOptionEntry entries[] = {
    { "cli", 0, 0, G_OPTION_ARG_NONE, &cli, "Run the operations from the command line", NULL },
    { "data-dir", 0, 0, G_OPTION_ARG_FILENAME, &data_dir, "Where the table and the file are made", "DIR" },
    { "list-dir", 0, 0, G_OPTION_ARG_FILENAME, &list_dir, "The directory to list", "DIR" },
    { "self-test", 0, 0, G_OPTION_ARG_FILENAME, &self_test_png, "Test the window, save a screenshot", "PNG" },
    { NULL }
  };

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (data_dir == NULL)
    data_dir = g_build_filename (g_get_user_cache_dir (), "smartasync-demo", NULL);
  if (list_dir == NULL)
    list_dir = g_strdup ("/usr/share");
  if (g_mkdir_with_parents (data_dir, 0755) != 0)
    {
      g_printerr ("Cannot create %s\n", data_dir);
      return 1;
    }

  if (cli)
    {
      status = run_cli ();
    }
  else
    {
      g_autoptr(GtkApplication) application =
        gtk_application_new ("org.smartasync.Demo", G_APPLICATION_NON_UNIQUE);

      g_signal_connect (application, "activate", G_CALLBACK (activate), NULL);
      g_signal_connect (application, "shutdown", G_CALLBACK (shutdown), NULL);
      g_timeout_add (TICK_MS, pulse_tick, NULL);
      status = g_application_run (G_APPLICATION (application), 1, argv);
      if (self_test_png != NULL && self_test_failed)
        status = 1;
    }

  for (Job job = 0; job < N_JOBS; job++)
    {
      g_free (outcomes.results[job]);
      g_clear_error (&outcomes.errors[job]);
    }
  g_free (data_dir);
  g_free (list_dir);
  g_free (self_test_png);
  return status;
}
