/* smartasync.h: write an operation once, call it from any caller
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#define SA_INSIDE
# include "sa-version.h"
# include "sa-version-macros.h"
# include "sa-types.h"
# include "sa-enum-types.h"
# include "sa-error.h"
# include "sa-context.h"
# include "sa-bridge.h"
# include "sa-operation.h"
# include "sa-dispatcher.h"
# include "sa-lock.h"
# include "sa-continuation.h"
# include "sa-application.h"
#undef SA_INSIDE
