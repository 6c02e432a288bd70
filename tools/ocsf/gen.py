#!/usr/bin/env python3
"""Generate src/ocsf/ocsf_schema_<version>.c from the published OCSF schema.

Usage: tools/ocsf/gen.py [--schema-dir ../shared/ocsf-schema] [--out-dir src/ocsf]
                         [--versions 1.1.0,1.3.0] [--leaf-counts]

Reads, for each version, dictionary.json (types and attributes), objects/ (with
`extends` and `$include`), events/ (classes with `extends` and `$include`), profiles/
and categories.json, resolves them the way the OCSF server does, and writes one C
file per version: static const arrays of objects and classes, each with its
attributes already merged (dictionary + extends chain + includes + profiles +
datetime siblings). Objects are referenced by name, never expanded: the depth cut is
applied when a Parquet schema is built (src/ocsf/ocsf_parquet.c).

Output is deterministic (everything sorted by name / uid). Standard library only.
"""
import argparse
import copy
import glob
import json
import os
import re
import sys

NAME_RE = re.compile(r"^[a-z0-9_]+$")
REQUIREMENTS = {"optional": "OCSF_OPTIONAL", "recommended": "OCSF_RECOMMENDED",
                "required": "OCSF_REQUIRED"}


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def deep_merge(base, over):
    """over wins; nested dicts are merged (the OCSF server's attribute merge)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class Schema:
    def __init__(self, root):
        self.root = root
        self.dictionary = load_json(os.path.join(root, "dictionary.json"))
        self.types = self.dictionary["types"]["attributes"]
        self.dict_attrs = self.dictionary["attributes"]
        self.categories = load_json(os.path.join(root, "categories.json"))["attributes"]
        self.profiles = {}
        for path in sorted(glob.glob(os.path.join(root, "profiles", "*.json"))):
            p = load_json(path)
            self.profiles[p["name"]] = p
        self.raw_objects = {}
        for path in sorted(glob.glob(os.path.join(root, "objects", "*.json"))):
            o = load_json(path)
            self.raw_objects[o["name"]] = o
        self.raw_classes = {}
        for path in sorted(glob.glob(os.path.join(root, "events", "**", "*.json"), recursive=True)):
            c = load_json(path)
            self.raw_classes[c["name"]] = c

    # -- includes ---------------------------------------------------------------
    def included_attributes(self, includes):
        """Attributes of $include files, tagged with their profile (if a profile)."""
        merged, profiles = {}, []
        for rel in includes:
            inc = load_json(os.path.join(self.root, rel))
            profile = inc.get("name") if inc.get("meta") == "profile" else None
            if profile:
                profiles.append(profile)
            for name, attr in inc.get("attributes", {}).items():
                attr = dict(attr)
                if profile and "profile" not in attr:
                    attr["profile"] = profile
                merged[name] = deep_merge(merged.get(name, {}), attr)
        return merged, profiles

    def own_attributes(self, raw):
        attrs = dict(raw.get("attributes", {}))
        includes = attrs.pop("$include", [])
        included, inc_profiles = self.included_attributes(includes)
        out = included
        for name, attr in attrs.items():
            out[name] = deep_merge(out.get(name, {}), attr)
        return out, list(raw.get("profiles") or []) + inc_profiles

    def resolve(self, raws, name, seen=()):
        """(attributes, profiles) of a class or object with its extends chain."""
        raw = raws[name]
        if name in seen:
            raise SystemExit(f"extends cycle at {name}")
        parent = raw.get("extends")
        if parent and parent in raws:
            attrs, profiles = self.resolve(raws, parent, seen + (name,))
        else:
            attrs, profiles = {}, []
        own, own_profiles = self.own_attributes(raw)
        for aname, attr in own.items():
            attrs[aname] = deep_merge(attrs.get(aname, {}), attr)
        for p in own_profiles:
            if p not in profiles:
                profiles.append(p)
        return attrs, profiles

    def category_of(self, name):
        raw = self.raw_classes[name]
        while "category" not in raw and raw.get("extends") in self.raw_classes:
            raw = self.raw_classes[raw["extends"]]
        return raw.get("category", "other")

    # -- types ------------------------------------------------------------------
    def base_type(self, t):
        while t in self.types and self.types[t].get("type"):
            t = self.types[t]["type"]
        return t

    def column(self, aname, attr, where):
        """(ocsf_type, object_name, coltype) of a resolved attribute."""
        t = attr.get("type")
        if t is None:
            raise SystemExit(f"{where}.{aname}: no type")
        if t == "object":          # the generic, attribute-less object
            return "object_t", "object", "OCSF_COL_MAP"
        if t not in self.types:
            if t not in self.raw_objects:
                raise SystemExit(f"{where}.{aname}: unknown type {t}")
            return "object_t", t, "OCSF_COL_OBJECT"
        if t == "datetime_t":
            return t, None, "OCSF_COL_TIMESTAMP_MS"
        base = self.base_type(t)
        col = {"boolean_t": "OCSF_COL_BOOLEAN", "integer_t": "OCSF_COL_INT32",
               "long_t": "OCSF_COL_INT64", "float_t": "OCSF_COL_DOUBLE",
               "string_t": "OCSF_COL_STRING", "json_t": "OCSF_COL_JSON"}.get(base)
        if col is None:
            raise SystemExit(f"{where}.{aname}: no column type for {t} ({base})")
        return t, None, col

    # -- finishing --------------------------------------------------------------
    def finish(self, attrs, profiles, where):
        """Add profile attributes, datetime siblings; merge with the dictionary."""
        for p in profiles:
            if p not in self.profiles:
                continue
            for aname, attr in self.profiles[p].get("attributes", {}).items():
                if aname not in attrs:
                    attrs[aname] = dict(attr, profile=p)
        out = {}
        for aname, attr in attrs.items():
            if aname not in self.dict_attrs:
                raise SystemExit(f"{where}.{aname}: not in dictionary")
            out[aname] = deep_merge(self.dict_attrs[aname], attr)
        if "datetime" in profiles or where.startswith("object "):
            for aname, attr in list(out.items()):
                if attr.get("type") == "timestamp_t" and aname + "_dt" not in out:
                    out[aname + "_dt"] = {"type": "datetime_t", "is_array": attr.get("is_array", False),
                                          "requirement": "optional", "profile": "datetime"}
        rows = []
        for aname in sorted(out):
            attr = out[aname]
            if not NAME_RE.match(aname):
                raise SystemExit(f"{where}.{aname}: field name is not [a-z0-9_]")
            ocsf_type, obj, col = self.column(aname, attr, where)
            if aname == "unmapped":
                col = "OCSF_COL_MAP"
            req = attr.get("requirement") or "optional"
            if req not in REQUIREMENTS:
                raise SystemExit(f"{where}.{aname}: requirement {req}")
            rows.append({"name": aname, "ocsf_type": ocsf_type, "object": obj, "col": col,
                         "is_array": bool(attr.get("is_array")), "req": req,
                         "profile": attr.get("profile")})
        return rows

    def objects(self):
        out = {}
        for name in sorted(self.raw_objects):
            attrs, profiles = self.resolve(self.raw_objects, name)
            out[name] = {"caption": self.raw_objects[name].get("caption", name),
                         "attrs": self.finish(attrs, profiles, "object " + name)}
        return out

    def classes(self):
        out = []
        for name, raw in self.raw_classes.items():
            if "uid" not in raw and name != "base_event":
                continue            # abstract category classes (iam, network, ...)
            cat = self.category_of(name)
            cat_uid = self.categories[cat]["uid"] if cat in self.categories else 0
            uid = cat_uid * 1000 + raw.get("uid", 0)
            attrs, profiles = self.resolve(self.raw_classes, name)
            out.append({"uid": uid, "name": name, "caption": raw.get("caption", name),
                        "category_uid": cat_uid, "category": cat,
                        "profiles": sorted(set(profiles)),
                        "attrs": self.finish(attrs, profiles, "class " + name)})
        out.sort(key=lambda c: c["uid"])
        uids = [c["uid"] for c in out]
        if len(uids) != len(set(uids)):
            raise SystemExit("duplicate class uid")
        return out


def c_str(s):
    if s is None:
        return "NULL"
    return json.dumps(s, ensure_ascii=True)   # JSON string syntax is valid C here


def emit(schema, version):
    ident = version.replace(".", "_")
    objects = schema.objects()
    classes = schema.classes()
    index = {name: i for i, name in enumerate(objects)}
    lines = [f"/* Generated by tools/ocsf/gen.py from the OCSF schema {version}. Do not edit. */",
             '#include "ocsf/ocsf.h"', ""]

    def attr_array(sym, attrs):
        lines.append(f"static const ocsf_attr {sym}[] = {{")
        for a in attrs:
            obj_index = index[a["object"]] if a["col"] == "OCSF_COL_OBJECT" else -1
            lines.append(f"\t{{{c_str(a['name'])}, {c_str(a['ocsf_type'])}, {c_str(a['object'])}, "
                         f"{obj_index}, {a['col']}, {REQUIREMENTS[a['req']]}, "
                         f"{'true' if a['is_array'] else 'false'}, {c_str(a['profile'])}}},")
        lines.append("};")

    for name, o in objects.items():
        if o["attrs"]:
            attr_array(f"obj_{name}", o["attrs"])
    for c in classes:
        attr_array(f"class_{c['name']}", c["attrs"])
        lines.append(f"static const char *const profiles_{c['name']}[] = {{"
                     + ", ".join(c_str(p) for p in c["profiles"]) + (", " if c["profiles"] else "")
                     + "NULL};")
    lines.append("")
    lines.append(f"static const ocsf_object objects_{ident}[] = {{")
    for name, o in objects.items():
        arr = f"obj_{name}" if o["attrs"] else "NULL"
        lines.append(f"\t{{{c_str(name)}, {c_str(o['caption'])}, {arr}, {len(o['attrs'])}}},")
    lines.append("};")
    lines.append(f"static const ocsf_class classes_{ident}[] = {{")
    for c in classes:
        lines.append(f"\t{{{c['uid']}, {c_str(c['name'])}, {c_str(c['caption'])}, {c['category_uid']}, "
                     f"{c_str(c['category'])}, class_{c['name']}, {len(c['attrs'])}, "
                     f"profiles_{c['name']}}},")
    lines.append("};")
    lines.append(f"extern const ocsf_version ocsf_schema_{ident};")
    lines.append(f"const ocsf_version ocsf_schema_{ident} = {{{c_str(version)}, classes_{ident}, "
                 f"{len(classes)}, objects_{ident}, {len(objects)}}};")
    return "\n".join(lines) + "\n", classes, objects


def leaf_counts(schema, max_depth=3, max_same_object=2):
    """Leaf columns per class under the depth cut: an independent re-implementation of
    src/ocsf/ocsf_parquet.c, which regen.test.mjs compares with the C builder."""
    objects = {name: o["attrs"] for name, o in schema.objects().items()}

    def count(attrs, path):
        total = 0
        for a in attrs:
            if a["col"] == "OCSF_COL_OBJECT":
                if len(path) + 1 > max_depth or path.count(a["object"]) >= max_same_object:
                    continue
                total += count(objects[a["object"]], path + (a["object"],))  # 0: no group
            else:
                total += 2 if a["col"] == "OCSF_COL_MAP" else 1          # map: key + value
        return total

    return {c["uid"]: count(c["attrs"], ()) for c in schema.classes()}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(here))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--schema-dir", default=os.path.join(repo, "..", "shared", "ocsf-schema"))
    ap.add_argument("--out-dir", default=os.path.join(repo, "src", "ocsf"))
    ap.add_argument("--versions", default="1.1.0,1.3.0")
    ap.add_argument("--leaf-counts", action="store_true",
                    help="print {version: {class_uid: leaves}} at the default depth cut, write nothing")
    args = ap.parse_args()
    if args.leaf_counts:
        print(json.dumps({v: leaf_counts(Schema(os.path.join(args.schema_dir, v)))
                          for v in args.versions.split(",")}, sort_keys=True))
        return
    for version in args.versions.split(","):
        schema = Schema(os.path.join(args.schema_dir, version))
        text, classes, objects = emit(schema, version)
        path = os.path.join(args.out_dir, f"ocsf_schema_{version.replace('.', '_')}.c")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"{path}: {len(classes)} classes, {len(objects)} objects", file=sys.stderr)


if __name__ == "__main__":
    main()
