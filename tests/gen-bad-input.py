#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Generates test-bad-input.c from Sa-1.gir: every public function and
method, called with NULL, and with an instance of the wrong type, for each
instance or object parameter that may not be NULL, must give a critical and
no crash. New API is covered without anyone having to remember to add it.

usage: gen-bad-input.py Sa-1.gir output.c
"""

import sys
import xml.etree.ElementTree as ET

NS = {"c": "http://www.gtk.org/introspection/c/1.0",
      "g": "http://www.gtk.org/introspection/core/1.0"}
C = "{%s}" % NS["c"]

gir_path, out_path = sys.argv[1:3]
namespace = ET.parse(gir_path).getroot().find("g:namespace", NS)

classes = {c.get("name") for c in namespace.findall("g:class", NS)}
records = {r.get("name") for r in namespace.findall("g:record", NS)}
# Types whose instances can be type-checked: a plain GObject is the wrong one.
checkable = {"Dispatcher", "Operation", "Lock", "Gio.Task", "Gio.AsyncResult",
             "Gio.Cancellable", "GObject.Object"}

# A valid value for a parameter that is not under test, by C type.
VALID = {
    "SaDispatcher*": "sa_dispatcher_get_default ()",
    "SaOperation*": "sa_operation_new_non_blocking (noop_func, NULL, NULL)",
    "SaLock*": "sa_lock_new (NULL)",
    "SaBridge*": "sa_bridge_new (NULL, 0)",
    "GTask*": "g_task_new (NULL, NULL, NULL, NULL)",
    "GAsyncResult*": "G_ASYNC_RESULT (g_task_new (NULL, NULL, NULL, NULL))",
    "SaOperationFunc": "noop_func",
    "SaContinuationFunc": "noop_continuation",
    "const char*": "\"key\"",
}


def callables():
    for kind in ("class", "record", "interface"):
        for owner in namespace.findall("g:" + kind, NS):
            for tag in ("method", "constructor", "function"):
                for node in owner.findall("g:" + tag, NS):
                    yield node
    for node in namespace.findall("g:function", NS):
        yield node


def params_of(node):
    out = []
    params = node.find("g:parameters", NS)
    if params is None:
        return out
    for p in params:
        t = p.find("g:type", NS)
        out.append({
            "instance": p.tag.endswith("instance-parameter"),
            "name": p.get("name"),
            "gtype": t.get("name") if t is not None else None,
            "ctype": (t.get(C + "type") or "").replace("const gchar*", "const char*") if t is not None else "",
            "nullable": p.get("nullable") == "1" or p.get("allow-none") == "1",
        })
    return out


def default(param):
    if param["nullable"]:
        return "NULL"
    ctype = param["ctype"]
    if ctype in VALID:
        return VALID[ctype]
    if ctype.endswith("*") or ctype in ("gpointer", "GAsyncReadyCallback", "GDestroyNotify"):
        return "NULL"
    return "0"


tests = []
bodies = []
seen = set()
for node in callables():
    ident = node.get(C + "identifier")
    if ident is None or ident in seen:
        continue
    seen.add(ident)
    params = params_of(node)
    throws = node.get("throws") == "1"
    ret = node.find("g:return-value/g:type", NS)
    returns = ret is not None and ret.get("name") != "none"
    for i, target in enumerate(params):
        pointer_like = target["ctype"].endswith("*") or target["ctype"] in ("SaOperationFunc", "SaContinuationFunc")
        if target["nullable"] or not pointer_like:
            continue
        variants = [("null", "NULL")]
        if target["gtype"] in checkable or target["gtype"] in classes - records:
            variants.append(("wrong-type", "(gpointer) g_object_new (G_TYPE_OBJECT, NULL)"))
        for vname, value in variants:
            args = [value if j == i else default(p) for j, p in enumerate(params)]
            if throws:
                args.append("NULL")
            fname = "bad_%s_%s_%s" % (ident, target["name"], vname.replace("-", "_"))
            path = "/bad-input/%s/%s/%s" % (ident, target["name"], vname)
            bodies.append("""static void
%s (void)
{
  if (g_test_subprocess ())
    {
      %s;
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*CRITICAL*");
}
""" % (fname, ("if (%s (%s)) { }" if returns else "%s (%s)") % (ident, ", ".join(args))))
            tests.append((path, fname))

with open(out_path, "w", encoding="utf-8") as out:
    out.write("""/* test-bad-input.c: generated from Sa-1.gir by gen-bad-input.py; do not edit.
 *
 * Each case calls one public function with NULL, or an instance of the
 * wrong type, for one parameter that may not be NULL, in a subprocess: it
 * must print a critical (fatal in tests, so the subprocess aborts) and not
 * crash (a crash prints no critical).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <smartasync.h>

static void
noop_func (SaOperation  *operation,
           GTask        *task,
           GCancellable *cancellable,
           gpointer      user_data)
{
}

static void
noop_continuation (GTask    *previous,
                   GTask    *next,
                   gpointer  user_data)
{
}

""")
    out.write("\n".join(bodies))
    out.write("""
int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  /* Referenced so that neither helper is unused where no case needs it. */
  (void) noop_func;
  (void) noop_continuation;

""")
    for path, fname in tests:
        out.write("  g_test_add_func (\"%s\", %s);\n" % (path, fname))
    out.write("""
  g_test_message ("%d public functions, %d bad-input cases");

  return g_test_run ();
}
""" % (len({t[0].split('/')[2] for t in tests}), len(tests)))
print("%d cases over %d functions" % (len(tests), len({t[0].split('/')[2] for t in tests})))
