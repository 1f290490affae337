/* service.h: answers HTTP paths from sqlite3, the handler written once
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <libsoup/soup.h>
#include <smartasync.h>

G_BEGIN_DECLS

/* How a request is carried out; the path's first segment names it. The
 * last three are the baselines that the benchmark compares with. */
typedef enum
{
  SERVICE_SMARTASYNC,  /* /sa/...:      the service's dispatcher, identical requests share
                        * one query (SaLock) */
  SERVICE_NO_LOCK,     /* /nolock/...:  the service's dispatcher, one query per request */
  SERVICE_DEFAULT,     /* /default/...: the default dispatcher, one query per request */
  SERVICE_GTASK,       /* /gtask/...:  g_task_run_in_thread(), written out by hand */
  SERVICE_NAIVE,       /* /naive/...:  the query on the loop thread */
} ServiceMode;

typedef struct _Service Service;

/* Opens (creates on first use) the table of items in @db_path. */
Service  *service_new            (const char           *db_path,
                                  GError              **error);
/* Closes every connection; no request may be in flight. */
void      service_free           (Service              *self);

/* The handler. @path is "/MODE/item/ID" or "/MODE/scan/CATEGORY" (MODE
 * as above; a path without one is /sa/). Completes with
 * the JSON answer: read it with service_answer_finish(). From a sync caller (main(), a thread) the
 * returned task is complete; from a loop callback it is pending and
 * @callback runs on the caller's context. */
GTask    *service_answer         (Service              *self,
                                  const char           *path,
                                  GCancellable         *cancellable,
                                  GAsyncReadyCallback   callback,
                                  gpointer              user_data);

/* Reads the answer from the task service_answer() returned or handed to
 * its callback: the JSON, or NULL with @error set. */
char     *service_answer_finish  (GAsyncResult         *result,
                                  GError              **error);

/* Serves GET requests on 127.0.0.1:@port (0: a free one), on the
 * thread-default context. Returns the server, and the port in @out_port. */
SoupServer *service_listen       (Service              *self,
                                  guint16               port,
                                  guint16              *out_port,
                                  GError              **error);

/* Counters, safe from any thread. */
guint     service_get_n_queries  (Service              *self);
guint     service_get_n_requests (Service              *self);
SaLock   *service_get_lock       (Service              *self);

/* For tests: while closed, every query waits before it starts. */
void      service_set_gate       (Service              *self,
                                  gboolean              open);
guint     service_get_n_at_gate  (Service              *self);

G_END_DECLS
