/* demo-operations.c: the three operations of the GTK demo, written once
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Nothing here knows who calls: the window calls from its main loop (the
 * blocking ones run on a worker thread), the command line from main()
 * (they run right there), and each gets the same string back.
 */

#include <errno.h>
#include <glib/gstdio.h>
#include <sqlite3.h>

#include "demo-operations.h"

#define N_ROWS       1000000
#define FILE_SIZE    (64 * 1024 * 1024)
#define CHUNK_SIZE   (1024 * 1024)

/* Guards the creation of the data files, which two operations may want at once. */
static GMutex prepare_mutex;

static gboolean
prepare_database (const char  *path,
                  GError     **error)
{
  g_autofree char *partial = g_strconcat (path, ".partial", NULL);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&prepare_mutex);
  sqlite3 *db = NULL;
  char *message = NULL;
  int rc;

  if (g_file_test (path, G_FILE_TEST_EXISTS))
    return TRUE;

  g_unlink (partial);
  rc = sqlite3_open (partial, &db);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec (db,
                       "PRAGMA journal_mode = OFF;"
                       "PRAGMA synchronous = OFF;"
                       "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                       "                    category INTEGER NOT NULL, price INTEGER NOT NULL);"
                       "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                       "                        WHERE i < " G_STRINGIFY (N_ROWS) ")"
                       "INSERT INTO items SELECT i, printf ('item-%08d', (i * 7919) % 1000003),"
                       "                         i % 97, (i * 31) % 10007 FROM n;",
                       NULL, NULL, &message);
  if (rc != SQLITE_OK)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Cannot create %s: %s",
                   path, message != NULL ? message : sqlite3_errmsg (db));
      sqlite3_free (message);
      sqlite3_close (db);
      return FALSE;
    }
  sqlite3_close (db);

  if (g_rename (partial, path) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "Cannot create %s: %s", path, g_strerror (saved_errno));
      return FALSE;
    }
  return TRUE;
}

/* sqlite3 calls this every few thousand instructions; non-zero interrupts. */
static int
query_progress (void *cancellable)
{
  return g_cancellable_is_cancelled (cancellable);
}

static void
query_run (SaOperation  *operation,
           GTask        *task,
           GCancellable *cancellable,
           gpointer      data_dir)
{
  g_autofree char *path = g_build_filename (data_dir, "items.sqlite", NULL);
  g_autoptr(GError) error = NULL;
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  char *line = NULL;
  int rc;

  if (!prepare_database (path, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  rc = sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_progress_handler (db, 1000, query_progress, cancellable);
      rc = sqlite3_prepare_v2 (db,
                               "SELECT substr (name, 6, 3) AS prefix, count (*), sum (price)"
                               " FROM items GROUP BY prefix ORDER BY 3 DESC LIMIT 1",
                               -1, &stmt, NULL);
    }
  if (rc == SQLITE_OK)
    rc = sqlite3_step (stmt);

  if (rc == SQLITE_ROW)
    line = g_strdup_printf ("busiest prefix %s: %d items, total price %" G_GINT64_FORMAT,
                            (const char *) sqlite3_column_text (stmt, 0),
                            sqlite3_column_int (stmt, 1),
                            (gint64) sqlite3_column_int64 (stmt, 2));
  else if (rc == SQLITE_INTERRUPT || g_cancellable_is_cancelled (cancellable))
    g_cancellable_set_error_if_cancelled (cancellable, &error);
  else
    g_set_error (&error, G_IO_ERROR, G_IO_ERROR_FAILED, "Query failed: %s", sqlite3_errmsg (db));

  sqlite3_finalize (stmt);
  sqlite3_close (db);

  if (line != NULL)
    g_task_return_pointer (task, line, g_free);
  else
    g_task_return_error (task, g_steal_pointer (&error));
}

SaOperation *
demo_query_new (const char *data_dir)
{
  SaOperation *op = sa_operation_new_blocking (query_run, g_strdup (data_dir), g_free);

  sa_operation_set_name (op, "demo-query");
  return op;
}

static gboolean
prepare_file (const char  *path,
              GError     **error)
{
  g_autofree char *partial = g_strconcat (path, ".partial", NULL);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&prepare_mutex);
  g_autofree guint32 *chunk = NULL;
  g_autoptr(GRand) rand = NULL;
  FILE *out;
  gboolean ok = TRUE;

  if (g_file_test (path, G_FILE_TEST_EXISTS))
    return TRUE;

  out = g_fopen (partial, "wb");
  if (out == NULL)
    {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "Cannot create %s: %s", partial, g_strerror (saved_errno));
      return FALSE;
    }

  /* The same pseudo-random bytes every time, so the same hash. */
  rand = g_rand_new_with_seed (42);
  chunk = g_new (guint32, CHUNK_SIZE / sizeof (guint32));
  for (gsize written = 0; ok && written < FILE_SIZE; written += CHUNK_SIZE)
    {
      for (gsize i = 0; i < CHUNK_SIZE / sizeof (guint32); i++)
        chunk[i] = g_rand_int (rand);
      ok = fwrite (chunk, 1, CHUNK_SIZE, out) == CHUNK_SIZE;
    }
  ok = (fclose (out) == 0) && ok;

  if (!ok || g_rename (partial, path) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Cannot create %s", path);
      return FALSE;
    }
  return TRUE;
}

static void
hash_run (SaOperation  *operation,
          GTask        *task,
          GCancellable *cancellable,
          gpointer      data_dir)
{
  g_autofree char *path = g_build_filename (data_dir, "random.bin", NULL);
  g_autoptr(GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autoptr(GError) error = NULL;
  g_autoptr(GFile) file = NULL;
  g_autoptr(GFileInputStream) stream = NULL;
  g_autofree guchar *buffer = g_malloc (CHUNK_SIZE);
  goffset total = 0;
  gssize n;

  if (!prepare_file (path, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  /* GIO's blocking API: this body runs where it is called. */
  file = g_file_new_for_path (path);
  stream = g_file_read (file, cancellable, &error);
  while (stream != NULL &&
         (n = g_input_stream_read (G_INPUT_STREAM (stream), buffer, CHUNK_SIZE,
                                   cancellable, &error)) > 0)
    {
      g_checksum_update (checksum, buffer, n);
      total += n;
    }

  if (error != NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task,
                           g_strdup_printf ("sha256 %.16s... of %" G_GOFFSET_FORMAT " MiB",
                                            g_checksum_get_string (checksum),
                                            total / (1024 * 1024)),
                           g_free);
}

SaOperation *
demo_hash_new (const char *data_dir)
{
  SaOperation *op = sa_operation_new_blocking (hash_run, g_strdup (data_dir), g_free);

  sa_operation_set_name (op, "demo-hash");
  return op;
}

/* The listing's state, from the enumerator's start to its last batch. */
typedef struct
{
  GTask        *task;
  GCancellable *cancellable;
  guint         n_entries;
  guint         n_directories;
} Listing;

static void
listing_free (Listing *listing)
{
  g_clear_object (&listing->task);
  g_clear_object (&listing->cancellable);
  g_free (listing);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Listing, listing_free)

static void next_files_done (GObject *source, GAsyncResult *result, gpointer user_data);

static void
enumerate_done (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(Listing) listing = user_data;
  g_autoptr(GError) error = NULL;
  GCancellable *cancellable;
  g_autoptr(GFileEnumerator) enumerator =
    g_file_enumerate_children_finish (G_FILE (source), result, &error);

  if (enumerator == NULL)
    {
      g_task_return_error (listing->task, g_steal_pointer (&error));
      return;
    }
  cancellable = listing->cancellable;
  g_file_enumerator_next_files_async (enumerator, 64, G_PRIORITY_DEFAULT,
                                      cancellable, next_files_done,
                                      g_steal_pointer (&listing));
}

static void
next_files_done (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(Listing) listing = user_data;
  g_autoptr(GError) error = NULL;
  GCancellable *cancellable;
  GFileEnumerator *enumerator = G_FILE_ENUMERATOR (source);
  GList *infos = g_file_enumerator_next_files_finish (enumerator, result, &error);

  if (error != NULL)
    {
      g_task_return_error (listing->task, g_steal_pointer (&error));
      return;
    }
  if (infos == NULL)
    {
      g_task_return_pointer (listing->task,
                             g_strdup_printf ("%u entries, %u directories",
                                              listing->n_entries, listing->n_directories),
                             g_free);
      return;
    }

  for (GList *l = infos; l != NULL; l = l->next)
    {
      listing->n_entries++;
      if (g_file_info_get_file_type (l->data) == G_FILE_TYPE_DIRECTORY)
        listing->n_directories++;
    }
  g_list_free_full (infos, g_object_unref);

  cancellable = listing->cancellable;
  g_file_enumerator_next_files_async (enumerator, 64, G_PRIORITY_DEFAULT,
                                      cancellable, next_files_done,
                                      g_steal_pointer (&listing));
}

static void
list_start (SaOperation  *operation,
            GTask        *task,
            GCancellable *cancellable,
            gpointer      directory)
{
  g_autoptr(GFile) file = g_file_new_for_path (directory);
  Listing *listing = g_new0 (Listing, 1);

  listing->task = g_object_ref (task);
  listing->cancellable = cancellable != NULL ? g_object_ref (cancellable) : NULL;
  g_file_enumerate_children_async (file,
                                   G_FILE_ATTRIBUTE_STANDARD_NAME ","
                                   G_FILE_ATTRIBUTE_STANDARD_TYPE,
                                   G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, G_PRIORITY_DEFAULT,
                                   cancellable, enumerate_done, listing);
}

SaOperation *
demo_list_new (const char *directory)
{
  SaOperation *op = sa_operation_new_non_blocking (list_start, g_strdup (directory), g_free);

  sa_operation_set_name (op, "demo-list");
  return op;
}
