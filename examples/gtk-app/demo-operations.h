/* demo-operations.h: the three operations of the GTK demo, written once
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <smartasync.h>

G_BEGIN_DECLS

/* Each operation completes with g_task_return_pointer() of a string (free
 * it with g_free()), the line that the window and the command line show. */

/* Blocking: a grouping query over a table of a million rows in sqlite3
 * (about half a second), created in @data_dir on first use. */
SaOperation *demo_query_new (const char *data_dir);

/* Blocking: the SHA-256 of a 64 MiB file, created in @data_dir on first use. */
SaOperation *demo_hash_new  (const char *data_dir);

/* Non-blocking: lists @directory with GIO's asynchronous enumerator. */
SaOperation *demo_list_new  (const char *directory);

G_END_DECLS
