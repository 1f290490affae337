/* service.c: answers HTTP paths from sqlite3, the handler written once
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * service_query() is the blocking work: a sqlite3 query on a connection
 * of the pool. service_answer() is the handler, and the only place that
 * knows about callers: through SaLock and a dispatcher with as many
 * threads as the service allows queries at once, the query runs on one of
 * them when the server's loop calls, and right there when main() or a
 * thread calls.
 */

#include <errno.h>
#include <glib/gstdio.h>
#include <sqlite3.h>

#include "service.h"

#define N_ITEMS 100000
/* The service's own threads for queries, which also bounds its connections. */
#define N_THREADS 4

struct _Service
{
  char         *db_path;
  GAsyncQueue  *connections;  /* (element-type sqlite3) idle connections */
  SaDispatcher *dispatcher;   /* max-threads N_THREADS */
  SaLock       *lock;         /* on dispatcher */
  gint          n_queries;    /* atomic */
  gint          n_requests;   /* atomic */

  GMutex        gate_mutex;
  GCond         gate_cond;
  gboolean      gate_closed;  /* guarded by gate_mutex */
  guint         n_at_gate;    /* guarded by gate_mutex */
};

typedef enum
{
  QUERY_ITEM,
  QUERY_SCAN,
} QueryKind;

typedef struct
{
  Service   *service;
  QueryKind  kind;
  gint64     arg;
} Query;

static gboolean
create_table (const char  *path,
              GError     **error)
{
  g_autofree char *partial = g_strconcat (path, ".partial", NULL);
  sqlite3 *db = NULL;
  char *message = NULL;
  int rc;

  g_unlink (partial);
  rc = sqlite3_open (partial, &db);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec (db,
                       "PRAGMA journal_mode = OFF;"
                       "PRAGMA synchronous = OFF;"
                       "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                       "                    category INTEGER NOT NULL, price INTEGER NOT NULL);"
                       "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                       "                        WHERE i < " G_STRINGIFY (N_ITEMS) ")"
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

Service *
service_new (const char  *db_path,
             GError     **error)
{
  Service *self;

  if (!g_file_test (db_path, G_FILE_TEST_EXISTS) && !create_table (db_path, error))
    return NULL;

  self = g_new0 (Service, 1);
  self->db_path = g_strdup (db_path);
  self->connections = g_async_queue_new ();
  self->dispatcher = sa_dispatcher_new ();
  sa_dispatcher_set_max_threads (self->dispatcher, N_THREADS);
  self->lock = sa_lock_new (self->dispatcher);
  g_mutex_init (&self->gate_mutex);
  g_cond_init (&self->gate_cond);
  return self;
}

void
service_free (Service *self)
{
  sqlite3 *db;

  while ((db = g_async_queue_try_pop (self->connections)) != NULL)
    sqlite3_close (db);
  g_async_queue_unref (self->connections);
  g_object_unref (self->lock);
  g_object_unref (self->dispatcher);
  g_mutex_clear (&self->gate_mutex);
  g_cond_clear (&self->gate_cond);
  g_free (self->db_path);
  g_free (self);
}

/* A connection is used by one thread at a time: taken, used, given back. */
static sqlite3 *
connection_take (Service  *self,
                 GError  **error)
{
  sqlite3 *db = g_async_queue_try_pop (self->connections);

  if (db == NULL &&
      sqlite3_open_v2 (self->db_path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                       NULL) != SQLITE_OK)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Cannot open %s: %s",
                   self->db_path, sqlite3_errmsg (db));
      sqlite3_close (db);
      return NULL;
    }
  return db;
}

static void
gate_pass (Service *self)
{
  g_mutex_lock (&self->gate_mutex);
  self->n_at_gate++;
  while (self->gate_closed)
    g_cond_wait (&self->gate_cond, &self->gate_mutex);
  self->n_at_gate--;
  g_mutex_unlock (&self->gate_mutex);
}

/* The blocking work: one query, its answer as JSON. */
static char *
service_query (Service      *self,
               QueryKind     kind,
               gint64        arg,
               GError      **error)
{
  sqlite3 *db;
  sqlite3_stmt *stmt = NULL;
  char *json = NULL;
  int rc;

  gate_pass (self);
  g_atomic_int_inc (&self->n_queries);

  db = connection_take (self, error);
  if (db == NULL)
    return NULL;

  if (kind == QUERY_ITEM)
    rc = sqlite3_prepare_v2 (db, "SELECT name, category, price FROM items WHERE id = ?1",
                             -1, &stmt, NULL);
  else
    rc = sqlite3_prepare_v2 (db, "SELECT count (*), sum (price), max (name) FROM items"
                                 " WHERE category = ?1",
                             -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_int64 (stmt, 1, arg);
  if (rc == SQLITE_OK)
    rc = sqlite3_step (stmt);

  if (rc == SQLITE_ROW && kind == QUERY_ITEM)
    json = g_strdup_printf ("{\"id\": %" G_GINT64_FORMAT ", \"name\": \"%s\", "
                            "\"category\": %d, \"price\": %d}\n",
                            arg, sqlite3_column_text (stmt, 0),
                            sqlite3_column_int (stmt, 1), sqlite3_column_int (stmt, 2));
  else if (rc == SQLITE_ROW)
    json = g_strdup_printf ("{\"category\": %" G_GINT64_FORMAT ", \"count\": %d, "
                            "\"total\": %" G_GINT64_FORMAT ", \"last\": \"%s\"}\n",
                            arg, sqlite3_column_int (stmt, 0),
                            (gint64) sqlite3_column_int64 (stmt, 1),
                            sqlite3_column_text (stmt, 2) != NULL
                              ? (const char *) sqlite3_column_text (stmt, 2) : "");
  else if (rc == SQLITE_DONE)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "No item %" G_GINT64_FORMAT, arg);
  else
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Query failed: %s", sqlite3_errmsg (db));

  sqlite3_finalize (stmt);
  g_async_queue_push (self->connections, db);
  return json;
}

static void
query_complete (GTask  *task,
                char   *json,
                GError *error)
{
  if (json != NULL)
    {
      GValue value = G_VALUE_INIT;

      g_value_init (&value, G_TYPE_STRING);
      g_value_take_string (&value, json);
      g_task_return_value (task, &value);
      g_value_unset (&value);
    }
  else
    g_task_return_error (task, error);
}

/* The operation, written once: a blocking body. */
static void
query_run (SaOperation  *operation,
           GTask        *task,
           GCancellable *cancellable,
           gpointer      user_data)
{
  Query *query = user_data;
  GError *error = NULL;
  char *json = service_query (query->service, query->kind, query->arg, &error);

  query_complete (task, json, error);
}

/* The baseline written by hand: the same body for g_task_run_in_thread(). */
static void
gtask_thread (GTask        *task,
              gpointer      source_object,
              gpointer      task_data,
              GCancellable *cancellable)
{
  Query *query = task_data;
  GError *error = NULL;
  char *json = service_query (query->service, query->kind, query->arg, &error);

  query_complete (task, json, error);
}

static gboolean
parse_path (const char   *path,
            ServiceMode  *mode,
            QueryKind    *kind,
            gint64       *arg,
            GError      **error)
{
  static const char * const modes[] = { "sa", "nolock", "default", "gtask", "naive" };
  g_auto(GStrv) parts = g_strsplit (path[0] == '/' ? path + 1 : path, "/", 4);
  guint n = g_strv_length (parts);
  guint first = 0;
  char *end = NULL;

  *mode = SERVICE_SMARTASYNC;
  for (guint i = 0; n == 3 && i < G_N_ELEMENTS (modes); i++)
    if (g_str_equal (parts[0], modes[i]))
      {
        *mode = i;
        first = 1;
      }

  if (n - first == 2 && g_str_equal (parts[first], "item"))
    *kind = QUERY_ITEM;
  else if (n - first == 2 && g_str_equal (parts[first], "scan"))
    *kind = QUERY_SCAN;
  else
    goto bad_path;

  errno = 0;
  *arg = g_ascii_strtoll (parts[first + 1], &end, 10);
  if (errno != 0 || end == parts[first + 1] || *end != '\0')
    goto bad_path;
  return TRUE;

bad_path:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               "Not a path of this service: %s (try /item/42 or /scan/7)", path);
  return FALSE;
}

GTask *
service_answer (Service             *self,
                const char          *path,
                GCancellable        *cancellable,
                GAsyncReadyCallback  callback,
                gpointer             user_data)
{
  g_autoptr(SaOperation) op = NULL;
  g_autoptr(GError) error = NULL;
  Query *query = g_new0 (Query, 1);
  ServiceMode mode;
  GTask *task;

  g_atomic_int_inc (&self->n_requests);
  query->service = self;
  if (!parse_path (path, &mode, &query->kind, &query->arg, &error))
    {
      g_free (query);
      task = g_task_new (NULL, cancellable, callback, user_data);
      g_task_return_error (task, g_steal_pointer (&error));
      return task;
    }

  switch (mode)
    {
    case SERVICE_SMARTASYNC:
      /* Identical requests in flight share one query: the key is the query. */
      {
        g_autofree char *key = g_strdup_printf ("%d/%" G_GINT64_FORMAT, query->kind, query->arg);

        op = sa_operation_new_blocking (query_run, query, g_free);
        return sa_lock_call (self->lock, key, op, SA_CALL_MODE_AUTO, cancellable,
                             callback, user_data);
      }

    case SERVICE_NO_LOCK:
      op = sa_operation_new_blocking (query_run, query, g_free);
      return sa_dispatcher_call (self->dispatcher, op, SA_CALL_MODE_AUTO,
                                 cancellable, callback, user_data);

    case SERVICE_DEFAULT:
      op = sa_operation_new_blocking (query_run, query, g_free);
      return sa_dispatcher_call (sa_dispatcher_get_default (), op, SA_CALL_MODE_AUTO,
                                 cancellable, callback, user_data);

    case SERVICE_GTASK:
      task = g_task_new (NULL, cancellable, callback, user_data);
      g_task_set_task_data (task, query, g_free);
      g_task_run_in_thread (task, gtask_thread);
      return task;

    case SERVICE_NAIVE:
    default:
      {
        GError *query_error = NULL;
        char *json = service_query (self, query->kind, query->arg, &query_error);

        g_free (query);
        task = g_task_new (NULL, cancellable, callback, user_data);
        query_complete (task, json, query_error);
        return task;
      }
    }
}

char *
service_answer_finish (GAsyncResult  *result,
                       GError       **error)
{
  g_autoptr(GObject) source = g_async_result_get_source_object (result);
  GValue value = G_VALUE_INIT;
  GValue *shared;
  char *json;

  /* Each way of carrying a request out has its own reader. */
  if (SA_IS_LOCK (source))
    {
      shared = sa_lock_call_finish (SA_LOCK (source), result, error);
      if (shared == NULL)
        return NULL;
      json = g_value_dup_string (shared);
      g_boxed_free (G_TYPE_VALUE, shared);
      return json;
    }
  if (SA_IS_DISPATCHER (source) ?
      !sa_dispatcher_call_finish_value (SA_DISPATCHER (source), result, &value, error) :
      !g_task_propagate_value (G_TASK (result), &value, error))
    return NULL;
  json = g_value_dup_string (&value);
  g_value_unset (&value);
  return json;
}

/* --- the server ---------------------------------------------------------- */

static void
answered (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(SoupServerMessage) msg = user_data;
  g_autoptr(GError) error = NULL;
  char *json = service_answer_finish (result, &error);

  /* On the server's loop: the reply goes out from here. */
  if (json != NULL)
    {
      soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
      soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE,
                                        json, strlen (json));
    }
  else
    {
      guint status = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND) ||
                     g_error_matches (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT)
                     ? SOUP_STATUS_NOT_FOUND : SOUP_STATUS_INTERNAL_SERVER_ERROR;
      g_autofree char *body = g_strdup_printf ("%s\n", error->message);

      soup_server_message_set_status (msg, status, NULL);
      soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_COPY,
                                        body, strlen (body));
    }
  soup_server_message_unpause (msg);
}

static void
handle_request (SoupServer        *server,
                SoupServerMessage *msg,
                const char        *path,
                GHashTable        *query,
                gpointer           user_data)
{
  Service *self = user_data;
  g_autoptr(GTask) task = NULL;

  if (soup_server_message_get_method (msg) != SOUP_METHOD_GET)
    {
      soup_server_message_set_status (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, NULL);
      return;
    }

  /* A loop callback: an async caller. The message waits, paused, for its answer. */
  soup_server_message_pause (msg);
  task = service_answer (self, path, NULL, answered, g_object_ref (msg));
}

/* The counters, for a benchmark that runs the service in another process. */
static void
handle_stats (SoupServer        *server,
              SoupServerMessage *msg,
              const char        *path,
              GHashTable        *query,
              gpointer           user_data)
{
  Service *self = user_data;
  g_autofree char *body = g_strdup_printf ("{\"requests\": %u, \"queries\": %u, "
                                           "\"executions\": %" G_GUINT64_FORMAT ", "
                                           "\"coalesced\": %" G_GUINT64_FORMAT "}\n",
                                           service_get_n_requests (self),
                                           service_get_n_queries (self),
                                           sa_lock_get_n_executions (self->lock),
                                           sa_lock_get_n_coalesced (self->lock));

  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY,
                                    body, strlen (body));
}

SoupServer *
service_listen (Service  *self,
                guint16   port,
                guint16  *out_port,
                GError  **error)
{
  g_autoptr(SoupServer) server = soup_server_new ("server-header", "smartasync-demo ", NULL);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, port);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GSocket) socket = NULL;

  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, error);
  if (socket == NULL)
    return NULL;
  /* A burst of clients connects at once: room for them in the accept queue. */
  g_socket_set_listen_backlog (socket, 256);
  if (!g_socket_bind (socket, address, TRUE, error) ||
      !g_socket_listen (socket, error))
    return NULL;

  soup_server_add_handler (server, NULL, handle_request, self, NULL);
  soup_server_add_handler (server, "/stats", handle_stats, self, NULL);
  if (!soup_server_listen_socket (server, socket, 0, error))
    return NULL;

  bound = g_socket_get_local_address (socket, error);
  if (bound == NULL)
    return NULL;
  if (out_port != NULL)
    *out_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  return g_steal_pointer (&server);
}

guint
service_get_n_queries (Service *self)
{
  return (guint) g_atomic_int_get (&self->n_queries);
}

guint
service_get_n_requests (Service *self)
{
  return (guint) g_atomic_int_get (&self->n_requests);
}

SaLock *
service_get_lock (Service *self)
{
  return self->lock;
}

void
service_set_gate (Service  *self,
                  gboolean  open)
{
  g_mutex_lock (&self->gate_mutex);
  self->gate_closed = !open;
  g_cond_broadcast (&self->gate_cond);
  g_mutex_unlock (&self->gate_mutex);
}

guint
service_get_n_at_gate (Service *self)
{
  guint n;

  g_mutex_lock (&self->gate_mutex);
  n = self->n_at_gate;
  g_mutex_unlock (&self->gate_mutex);
  return n;
}
