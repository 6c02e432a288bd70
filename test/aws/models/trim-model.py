#!/usr/bin/env python3
"""Trim a botocore service model to the operations a test needs.

    python3 test/aws/models/trim-model.py SERVICE-2.JSON OPERATION... > trimmed.json

Keeps the metadata, the named operations and every shape they reach (input, output,
errors, members, list members, map keys and values), without documentation strings.
test/aws/models/securitylake-2018-05-10.json was made from botocore's
botocore/data/securitylake/2018-05-10/service-2.json (boto/botocore, Apache-2.0;
see README.md there for the commit) with:

    python3 test/aws/models/trim-model.py service-2.json \
        CreateCustomLogSource DeleteCustomLogSource CreateDataLake ListLogSources
"""
import json
import sys


def strip_docs(node):
    if isinstance(node, dict):
        return {k: strip_docs(v) for k, v in node.items() if k != "documentation"}
    if isinstance(node, list):
        return [strip_docs(v) for v in node]
    return node


def reachable(shapes, roots):
    seen = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        shape = shapes[name]
        refs = [m["shape"] for m in shape.get("members", {}).values()]
        for key in ("member", "key", "value"):
            if key in shape:
                refs.append(shape[key]["shape"])
        todo.extend(refs)
    return seen


def main():
    model = json.load(open(sys.argv[1]))
    wanted = sys.argv[2:]
    ops = {name: model["operations"][name] for name in wanted}
    roots = set()
    for op in ops.values():
        for key in ("input", "output"):
            if key in op:
                roots.add(op[key]["shape"])
        roots.update(e["shape"] for e in op.get("errors", []))
    shapes = reachable(model["shapes"], roots)
    out = {
        "version": model["version"],
        "metadata": model["metadata"],
        "operations": strip_docs(ops),
        "shapes": strip_docs({k: model["shapes"][k] for k in sorted(shapes)}),
    }
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
