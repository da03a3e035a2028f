#!/usr/bin/python3
"""openapi-json.py - docs/openapi.yaml as a C file holding its JSON text.

The HTTP API serves the document at /api/v1/openapi.json; the YAML file is
the one people edit (a test keeps it and the router in step).  Usage:
openapi-json.py IN.yaml OUT.c
"""
import json
import sys

import yaml


def main():
    src, out = sys.argv[1], sys.argv[2]
    with open(src, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=True,
                      sort_keys=False)
    # a C string literal, split in lines of at most 76 characters
    esc = text.replace("\\", "\\\\").replace('"', '\\"')
    lines = [esc[i:i + 76] for i in range(0, len(esc), 76)]
    # never end a line in the middle of an escape sequence
    fixed, carry = [], ""
    for ln in lines:
        ln = carry + ln
        carry = ""
        k = len(ln) - len(ln.rstrip("\\"))
        if k % 2:
            carry, ln = "\\", ln[:-1]
        fixed.append(ln)
    if carry:
        fixed.append(carry)
    with open(out + ".tmp", "w", encoding="ascii") as f:
        f.write("/* generated from %s by scripts/openapi-json.py */\n" % src)
        f.write("extern const char dto_openapi_json[];\n")
        f.write("const char dto_openapi_json[] =\n")
        for ln in fixed:
            f.write('    "%s"\n' % ln)
        f.write("    ;\n")
    import os
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
