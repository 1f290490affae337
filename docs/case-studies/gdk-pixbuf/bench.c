/* bench.c: gdk-pixbuf's asynchronous round trips, from a main loop
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * bench round N [CASE]
 *                  gdk_pixbuf_save_to_stream_async() and
 *                  gdk_pixbuf_animation_new_from_stream_async() of a small
 *                  and a large image, N round trips each: every callback
 *                  finishes its call and starts the next, inside a
 *                  GMainLoop. Prints "case us-per-call cpu-us-per-call"
 *                  for the fastest of 5 batches of N (N / 50 + 1 for the
 *                  large image); CASE runs that case alone.
 * bench loader N   gdk_pixbuf_new_from_stream() as gdk-pixbuf writes it
 *                  (a loop of g_input_stream_read()) against one
 *                  non-blocking operation over gdk_pixbuf_new_from_stream_async()
 *                  run for a sync caller, from a memory and a file stream.
 *
 * It links whichever libgdk_pixbuf-2.0 LD_LIBRARY_PATH names, so that
 * bench.py runs the same binary on the baseline and on the port.
 */

#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <gio/gio.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <smartasync.h>

static GdkPixbuf *
make_image (int width, int height)
{
  GdkPixbuf *pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, width, height);
  guchar *pixels = gdk_pixbuf_get_pixels (pixbuf);
  int rowstride = gdk_pixbuf_get_rowstride (pixbuf);

  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        guchar *p = pixels + y * rowstride + x * 3;

        p[0] = x * 255 / width;
        p[1] = y * 255 / height;
        p[2] = (x * y) & 0xff;
      }
  return pixbuf;
}

static GBytes *
encode (GdkPixbuf *pixbuf)
{
  GError *error = NULL;
  char *buffer;
  gsize size;

  if (!gdk_pixbuf_save_to_buffer (pixbuf, &buffer, &size, "png", &error, NULL))
    g_error ("%s", error->message);
  return g_bytes_new_take (buffer, size);
}

static double
cpu_us (void)
{
  struct rusage usage;

  getrusage (RUSAGE_SELF, &usage);
  return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e6 +
         usage.ru_utime.tv_usec + usage.ru_stime.tv_usec;
}

/* One case's round trips: each callback finishes a call and starts the next. */
typedef struct {
  GMainLoop *loop;
  GdkPixbuf *pixbuf;   /* the image saved (save cases) */
  GBytes    *encoded;  /* the image loaded (animation cases) */
  guint      n_left;
} RoundTrips;

static void start_save (RoundTrips *rt);
static void start_animation (RoundTrips *rt);

static void
saved (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RoundTrips *rt = user_data;
  GError *error = NULL;

  if (!gdk_pixbuf_save_to_stream_finish (result, &error))
    g_error ("%s", error->message);
  if (--rt->n_left > 0)
    start_save (rt);
  else
    g_main_loop_quit (rt->loop);
}

static void
start_save (RoundTrips *rt)
{
  GOutputStream *stream = g_memory_output_stream_new_resizable ();

  gdk_pixbuf_save_to_stream_async (rt->pixbuf, stream, "png", NULL, saved, rt, NULL);
  g_object_unref (stream);
}

static void
loaded (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RoundTrips *rt = user_data;
  GError *error = NULL;
  GdkPixbufAnimation *animation;

  animation = gdk_pixbuf_animation_new_from_stream_finish (result, &error);
  if (animation == NULL)
    g_error ("%s", error->message);
  g_object_unref (animation);
  if (--rt->n_left > 0)
    start_animation (rt);
  else
    g_main_loop_quit (rt->loop);
}

static void
start_animation (RoundTrips *rt)
{
  GInputStream *stream = g_memory_input_stream_new_from_bytes (rt->encoded);

  gdk_pixbuf_animation_new_from_stream_async (stream, NULL, loaded, rt);
  g_object_unref (stream);
}

static gboolean
start_first (gpointer user_data)
{
  RoundTrips *rt = user_data;

  if (rt->pixbuf != NULL)
    start_save (rt);
  else
    start_animation (rt);
  return G_SOURCE_REMOVE;
}

#define N_BATCHES 5

/* Runs N_BATCHES batches of @n round trips and prints the fastest batch's
 * time per call, with its processor time: the batch least disturbed by
 * the other programs of a shared machine. */
static void
run_round_trips (const char *name, GdkPixbuf *pixbuf, GBytes *encoded, guint n)
{
  double best = G_MAXDOUBLE, best_cpu = 0;

  for (guint batch = 0; batch < N_BATCHES; batch++)
    {
      RoundTrips rt = { g_main_loop_new (NULL, FALSE), pixbuf, encoded, n };
      gint64 start;
      double cpu_start, us;

      g_idle_add (start_first, &rt);
      start = g_get_monotonic_time ();
      cpu_start = cpu_us ();
      g_main_loop_run (rt.loop);
      us = (double) (g_get_monotonic_time () - start) / n;
      if (us < best)
        {
          best = us;
          best_cpu = (cpu_us () - cpu_start) / n;
        }
      g_main_loop_unref (rt.loop);
    }
  g_print ("%s %.2f %.2f\n", name, best, best_cpu);
}

/* The stream loader as one non-blocking operation: its _async, run on the
 * caller's context (the private one, for a sync caller). */
static void
new_from_stream_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  GError *error = NULL;
  GdkPixbuf *pixbuf = gdk_pixbuf_new_from_stream_finish (result, &error);

  if (pixbuf == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, pixbuf, g_object_unref);
  g_object_unref (task);
}

static void
new_from_stream_start (SaOperation *op, GTask *task, GCancellable *cancellable, gpointer stream)
{
  gdk_pixbuf_new_from_stream_async (stream, cancellable, new_from_stream_done,
                                    g_object_ref (task));
}

static GInputStream *
open_stream (GBytes *encoded, GFile *file)
{
  GError *error = NULL;
  GInputStream *stream;

  if (file == NULL)
    return g_memory_input_stream_new_from_bytes (encoded);
  stream = G_INPUT_STREAM (g_file_read (file, NULL, &error));
  if (stream == NULL)
    g_error ("%s", error->message);
  return stream;
}

static void
load_once (GBytes *encoded, GFile *file, gboolean one_op)
{
  GInputStream *stream = open_stream (encoded, file);
  GError *error = NULL;
  GdkPixbuf *pixbuf;

  if (one_op)
    {
      SaOperation *op = sa_operation_new_non_blocking (new_from_stream_start,
                                                       g_object_ref (stream),
                                                       g_object_unref);
      GTask *task = sa_dispatcher_call_full (sa_dispatcher_get_default (), op,
                                             SA_CALL_MODE_SYNC, stream,
                                             gdk_pixbuf_new_from_stream_async,
                                             G_PRIORITY_DEFAULT, NULL, NULL, NULL);

      pixbuf = g_task_propagate_pointer (task, &error);
      g_object_unref (task);
      g_object_unref (op);
    }
  else
    {
      pixbuf = gdk_pixbuf_new_from_stream (stream, NULL, &error);
    }
  if (pixbuf == NULL)
    g_error ("%s", error->message);
  g_object_unref (pixbuf);
  g_object_unref (stream);
}

/* As run_round_trips(), for a sync caller's loads, one after the other. */
static void
run_loader (const char *name, GBytes *encoded, GFile *file, gboolean one_op, guint n)
{
  double best = G_MAXDOUBLE, best_cpu = 0;

  for (guint batch = 0; batch < N_BATCHES; batch++)
    {
      gint64 start = g_get_monotonic_time ();
      double cpu_start = cpu_us ();
      double us;

      for (guint i = 0; i < n; i++)
        load_once (encoded, file, one_op);
      us = (double) (g_get_monotonic_time () - start) / n;
      if (us < best)
        {
          best = us;
          best_cpu = (cpu_us () - cpu_start) / n;
        }
    }
  g_print ("%s %.2f %.2f\n", name, best, best_cpu);
}

int
main (int argc, char **argv)
{
  GdkPixbuf *small = make_image (16, 16);
  GdkPixbuf *large = make_image (1024, 768);
  GBytes *small_png = encode (small);
  GBytes *large_png = encode (large);
  guint n = argc > 2 ? g_ascii_strtoull (argv[2], NULL, 10) : 100;

  /* BENCH_GTASK_POOL=1: the dispatcher's blocking work on GTask's pool. */
  if (g_getenv ("BENCH_GTASK_POOL") != NULL)
    sa_dispatcher_set_gtask_pool (sa_dispatcher_get_default (), TRUE);

  if (argc > 1 && strcmp (argv[1], "loader") == 0)
    {
      char *path = NULL;
      int fd = g_file_open_tmp ("bench-pixbuf-XXXXXX.png", &path, NULL);
      GFile *file;

      g_assert (fd >= 0);
      close (fd);
      g_assert (g_file_set_contents (path, g_bytes_get_data (large_png, NULL),
                                     g_bytes_get_size (large_png), NULL));
      file = g_file_new_for_path (path);
      run_loader ("loader-twin-memory-small", small_png, NULL, FALSE, n);
      run_loader ("loader-one-op-memory-small", small_png, NULL, TRUE, n);
      run_loader ("loader-twin-memory-large", large_png, NULL, FALSE, n / 50 + 1);
      run_loader ("loader-one-op-memory-large", large_png, NULL, TRUE, n / 50 + 1);
      run_loader ("loader-twin-file-large", NULL, file, FALSE, n / 50 + 1);
      run_loader ("loader-one-op-file-large", NULL, file, TRUE, n / 50 + 1);
      g_unlink (path);
      g_object_unref (file);
      g_free (path);
    }
  else
    {
      const char *only = argc > 3 ? argv[3] : NULL;

#define RUN(name, pixbuf, encoded, n) \
      if (only == NULL || strcmp (only, name) == 0) \
        run_round_trips (name, pixbuf, encoded, n)
      RUN ("save-small", small, NULL, n);
      RUN ("animation-small", NULL, small_png, n);
      RUN ("save-large", large, NULL, n / 50 + 1);
      RUN ("animation-large", NULL, large_png, n / 50 + 1);
#undef RUN
    }

  g_bytes_unref (small_png);
  g_bytes_unref (large_png);
  g_object_unref (small);
  g_object_unref (large);
  return 0;
}
