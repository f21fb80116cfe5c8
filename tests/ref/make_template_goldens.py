#!/usr/bin/env python3
"""Render tests/data/template_cases.json with jinja2 configured exactly as Hugging Face
transformers' apply_chat_template configures it, into tests/golden/template/cases.json.

Environment (transformers/utils/chat_template_utils.py):
  ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                extensions=[AssistantTracker, jinja2.ext.loopcontrols])
  filters["tojson"] = json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
  globals: raise_exception(msg) -> TemplateError(msg), strftime_now(fmt) -> now.strftime(fmt)
strftime_now sees 2025-12-17 12:00 here (the date the shared HF fixtures were rendered on).

Each case: {"name", "template", "vars"?}; variables are the file's "defaults" updated
with the case's "vars". The golden holds, per name, {"output": text} or
{"error": message, "error_type": class name, "phase": "parse" | "render", "line": n}.

Usage: python3 tests/ref/make_template_goldens.py   (installs jinja2 with pip if missing)
"""
import json
import os
import subprocess
import sys
from datetime import datetime

try:
    import jinja2
except ImportError:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "jinja2"])
    import jinja2

from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CASES = os.path.join(ROOT, "tests", "data", "template_cases.json")
OUT = os.path.join(ROOT, "tests", "golden", "template", "cases.json")
NOW = datetime(2025, 12, 17, 12, 0, 0)


class AssistantTracker(Extension):
    # HF's {% generation %} ... {% endgeneration %}: renders its body (the real one
    # also records assistant-token offsets, which do not change the text).
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return NOW.strftime(fmt)


def make_env():
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(env, case, defaults):
    variables = dict(defaults)
    variables.update(case.get("vars", {}))
    try:
        tpl = env.from_string(case["template"])
    except Exception as e:  # syntax errors, unknown filters/tests, break outside loop
        # only jinja2's own errors carry a template line; a Python SyntaxError (such as
        # 'break' outside a loop) points into the generated code
        line = getattr(e, "lineno", None) if isinstance(e, jinja2.TemplateSyntaxError) else None
        return {"error": str(e), "error_type": type(e).__name__, "phase": "parse", "line": line}
    try:
        return {"output": tpl.render(**variables)}
    except Exception as e:
        return {"error": str(e), "error_type": type(e).__name__, "phase": "render"}


def main():
    with open(CASES, encoding="utf-8") as f:
        data = json.load(f)
    env = make_env()
    out = {}
    for case in data["cases"]:
        name = case["name"]
        if name in out:
            sys.exit(f"duplicate case name {name!r}")
        out[name] = render(env, case, data["defaults"])
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"jinja2": jinja2.__version__, "cases": out}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    n_err = sum(1 for v in out.values() if "error" in v)
    print(f"{len(out)} cases ({n_err} expected errors) -> {os.path.relpath(OUT, ROOT)} (jinja2 {jinja2.__version__})")


if __name__ == "__main__":
    main()
