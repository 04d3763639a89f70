"""Facet's plugin host: runs the event functions of the plugin files given
as arguments (Facet gives each file its own host process).

Reads events from stdin, one JSON object per line:
    {"id": "<outbox id>", "plugin": "<file name>", "event": "on_score_complete", "data": {...}}
and calls `<event>(data)` of that plugin's module. Writes to stdout, one
JSON object per line:
    {"imported": "<file name>"}                        the module loaded
    {"import_error": "<traceback>", "plugin": "..."}   it did not
    {"start": "<id>"}                                  a call begins
    {"id": "<id>", "ok": true}                         it returned
    {"id": "<id>", "skipped": true}                    no such function
    {"id": "<id>", "error": "<traceback>"}             it raised
Whatever the plugins print goes to stderr (file descriptor 1 is moved
there), so it cannot break these lines.
"""
import importlib.util
import json
import os
import sys
import traceback


def main():
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def send(message):
        out.write(json.dumps(message) + "\n")
        out.flush()

    modules = {}
    for path in sys.argv[1:]:
        name = os.path.basename(path)
        folder = os.path.dirname(os.path.abspath(path))
        if folder not in sys.path:
            sys.path.insert(0, folder)
        module_name = "facet_plugin_" + os.path.splitext(name)[0]
        try:
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        except BaseException:
            send({"import_error": traceback.format_exc(), "plugin": name})
            continue
        modules[name] = module
        send({"imported": name})

    for line in sys.stdin:
        if not line.strip():
            continue
        message = json.loads(line)
        ident = message["id"]
        module = modules.get(message["plugin"])
        if module is None:
            send({"id": ident, "error": "the plugin did not load"})
            continue
        send({"start": ident})
        function = getattr(module, message["event"], None)
        if not callable(function):
            send({"id": ident, "skipped": True})
            continue
        try:
            function(message["data"])
        except BaseException:
            kind, value, tb = sys.exc_info()
            # Without this host's own frame.
            lines = traceback.format_exception(kind, value, tb.tb_next)
            send({"id": ident, "error": "".join(lines)})
        else:
            send({"id": ident, "ok": True})


main()
