#!/usr/bin/env python3
"""Write the corpora of invalid and valid OCSF events the pipeline tests use.

  tools/ocsf/gen-adversarial.py --write          test/ocsf/invalid/invalid.json and
                                                  test/ocsf/valid/valid.json (committed)
  tools/ocsf/gen-adversarial.py --large DIR      the big cases (> 1 MiB strings, 100k-element
                                                  arrays): DIR/invalid-large.json and
                                                  DIR/valid-large.json, at test time
  tools/ocsf/gen-adversarial.py --check [--schema-dir D]
                                                  run the reference validator below over all
                                                  cases (needs ../shared/ocsf-schema)

Each case: {"name", "ocsf_version", "class_uid" (the source's class), "event" (a JSON
value) or "event_text" (raw JSON text: duplicate keys, escapes jsonb refuses),
"reason_contains" (invalid only), "stage"} where stage is "validate" (lands in
dead_letter with that reason) or "insert" (PostgreSQL's jsonb refuses the text itself),
and, for a few, "only_if": "strict_nested" (a required attribute of a nested object other than
metadata's: checked only when the source asks for it) or "declared_profiles" (a profile's
required attribute, checked only when the event lists the profile in metadata.profiles):
without that option such an event is valid (--check verifies both).
Paths in reasons: dotted attribute names, array indexes in brackets: observables[1].type_id.
Deterministic; standard library only.
"""
import argparse
import copy
import importlib.util
import json
import math
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TIME = 1732752000000            # 2024-11-28T00:00:00Z in epoch milliseconds
MIB = 1024 * 1024
MAX_VALUE_BYTES = MIB           # Security Lake: data pages <= 1 MB, a value must fit one
MAX_JSON_DEPTH = 64


def base_event(class_uid=3002, version="1.1.0"):
    """A minimal event of the class that passes strict validation."""
    category = class_uid // 1000
    activity = 1
    event = {
        "class_uid": class_uid, "category_uid": category, "activity_id": activity,
        "type_uid": class_uid * 100 + activity, "severity_id": 1, "time": TIME,
        "metadata": {"version": version,
                     "product": {"name": "securitylake tests", "vendor_name": "securitylake"}},
    }
    extra = {
        3002: {"user": {"name": "alice", "uid": "u-1"}},
        4001: {"dst_endpoint": {"ip": "192.0.2.10", "port": 443},
               "src_endpoint": {"ip": "198.51.100.7", "port": 51514}},
        2004: {"finding_info": {"title": "Suspicious login", "uid": "f-1"}},
        6003: {"actor": {"user": {"name": "alice"}}, "api": {"operation": "PutObject"},
               "src_endpoint": {"ip": "198.51.100.7"}},
        1007: {"actor": {"user": {"name": "root"}}, "device": {"type_id": 1, "hostname": "h1"},
               "process": {"pid": 42, "name": "sshd"}},
    }
    event.update(copy.deepcopy(extra.get(class_uid, {})))
    return event


PATH_RE = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_path(path):
    return [int(i) if i else k for k, i in PATH_RE.findall(path)]


def with_value(event, path, value):
    event = copy.deepcopy(event)
    keys = parse_path(path)
    node = event
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value
    return event


def without(event, path):
    event = copy.deepcopy(event)
    keys = parse_path(path)
    node = event
    for k in keys[:-1]:
        node = node[k]
    del node[keys[-1]]
    return event


def nested(depth, leaf, kind="object"):
    value = leaf
    for _ in range(depth):
        value = {"a": value} if kind == "object" else [value]
    return value


def invalid(name, event, reason, cls=3002, version="1.1.0", **extra):
    case = {"name": name, "ocsf_version": version, "class_uid": cls}
    if isinstance(event, str) and extra.pop("raw", False):
        case["event_text"] = event
    else:
        case["event"] = event
    case["reason_contains"] = reason
    case["stage"] = extra.pop("stage", "validate")
    case.update(extra)
    return case


def invalid_cases():
    b = base_event()
    obs = [{"name": "src_ip", "type_id": 2, "value": "198.51.100.7"},
           {"name": "user", "type_id": 4, "value": "alice"}]
    bo = with_value(b, "observables", obs)
    loc = with_value(b, "src_endpoint", {"ip": "198.51.100.7", "location": {"coordinates": [1.5, 2.5]}})
    cases = [
        invalid("class_uid of another class", with_value(b, "class_uid", 4001), "class_uid"),
        invalid("class_uid as a string", with_value(b, "class_uid", "3002"), "expected integer at class_uid"),
        invalid("class_uid written 3002.0", with_value(b, "class_uid", 3002.5), "expected integer at class_uid"),
        invalid("class_uid null", with_value(b, "class_uid", None), "missing required attribute class_uid"),
    ]
    for path in ("class_uid", "category_uid", "activity_id", "type_uid", "severity_id", "time",
                 "metadata", "metadata.version", "metadata.product", "metadata.product.vendor_name",
                 "user"):
        cases.append(invalid(f"missing {path}", without(b, path), f"missing required attribute {path}"))
    cases += [
        invalid("time null", with_value(b, "time", None), "missing required attribute time"),
        invalid("missing finding_info (2004)", without(base_event(2004), "finding_info"),
                "missing required attribute finding_info", cls=2004),
        invalid("missing finding_info.uid (2004)", without(base_event(2004), "finding_info.uid"),
                "missing required attribute finding_info.uid", cls=2004, only_if="strict_nested"),
        invalid("missing api (6003)", without(base_event(6003), "api"), "missing required attribute api", cls=6003),
        invalid("missing api.operation (6003)", without(base_event(6003), "api.operation"),
                "missing required attribute api.operation", cls=6003, only_if="strict_nested"),
        invalid("missing dst_endpoint (4001)", without(base_event(4001), "dst_endpoint"),
                "missing required attribute dst_endpoint", cls=4001),
        invalid("missing process (1007)", without(base_event(1007), "process"),
                "missing required attribute process", cls=1007),
        invalid("missing metadata.version (1.3.0)", without(base_event(3002, "1.3.0"), "metadata.version"),
                "missing required attribute metadata.version", version="1.3.0"),
        invalid("cloud profile declared but cloud missing", with_value(b, "metadata.profiles", ["cloud"]),
                "missing required attribute cloud", only_if="declared_profiles"),
        invalid("observable without type_id", with_value(bo, "observables[1]", {"name": "x", "value": "y"}),
                "missing required attribute observables[1].type_id", only_if="strict_nested"),
        # string / fraction / range in integers and longs
        invalid("activity_id as a string", with_value(b, "activity_id", "1"), "expected integer at activity_id"),
        invalid("severity_id as a word", with_value(b, "severity_id", "high"), "expected integer at severity_id"),
        invalid("severity_id true", with_value(b, "severity_id", True), "expected integer at severity_id"),
        invalid("activity_id fractional", with_value(b, "activity_id", 1.5), "expected integer at activity_id"),
        invalid("type_uid fractional", with_value(b, "type_uid", 300201.5), "expected long at type_uid"),
        invalid("time fractional", with_value(b, "time", TIME + 0.5), "expected long at time"),
        invalid("severity_id above int32", with_value(b, "severity_id", 2147483648), "out of range at severity_id"),
        invalid("activity_id below int32", with_value(b, "activity_id", -2147483649), "out of range at activity_id"),
        invalid("type_uid beyond int64", with_value(b, "type_uid", 9223372036854775808), "out of range at type_uid"),
        invalid("type_uid far beyond int64", with_value(b, "type_uid", 10 ** 30), "out of range at type_uid"),
        invalid("session.created_time beyond int64", with_value(b, "session", {"created_time": -(10 ** 19)}),
                "out of range at session.created_time"),
        invalid("port as a string", with_value(b, "src_endpoint", {"port": "443"}),
                "expected integer at src_endpoint.port"),
        invalid("observable type_id above int32", with_value(bo, "observables[0].type_id", 4294967296),
                "out of range at observables[0].type_id"),
        invalid("metadata.logged_time as a word", with_value(b, "metadata.logged_time", "now"),
                "expected long at metadata.logged_time"),
        invalid("metadata.logged_time fractional", with_value(b, "metadata.logged_time", 1.25),
                "expected long at metadata.logged_time"),
        # floats
        invalid("coordinate 1e400 (infinite as a double)", "", "not finite"),
        invalid("coordinate as a string", with_value(loc, "src_endpoint.location.coordinates[0]", "NaN"),
                "expected number at src_endpoint.location.coordinates[0]"),
        invalid("cvss base_score 1e309 (2002)", "", "not finite", cls=2002),
        # time
        invalid("time in epoch seconds", with_value(b, "time", TIME // 1000), "time"),
        invalid("time in epoch microseconds", with_value(b, "time", TIME * 1000), "time"),
        invalid("time in epoch nanoseconds", with_value(b, "time", TIME * 1000000), "time"),
        invalid("time negative", with_value(b, "time", -1), "time"),
        invalid("time zero", with_value(b, "time", 0), "time"),
        invalid("time in the year 3000", with_value(b, "time", 32503680000000), "time"),
        invalid("time as an RFC 3339 string", with_value(b, "time", "2024-11-28T00:00:00Z"), "expected long at time"),
        invalid("time_dt not a date-time", with_value(b, "time_dt", "yesterday"), "time_dt"),
        invalid("time_dt as a boolean", with_value(b, "time_dt", True), "time_dt"),
        invalid("time_dt without a time zone", with_value(b, "time_dt", "2024-11-28T00:00:00"), "time_dt"),
        # wrong shapes at every level
        invalid("event is an array", [b], "expected object"),
        invalid("event is a string", "event", "expected object"),
        invalid("event is null", None, "expected object"),
        invalid("object where a string is expected", with_value(b, "message", {"a": 1}), "expected string at message"),
        invalid("number where a string is expected", with_value(b, "user.name", 42), "expected string at user.name"),
        invalid("array where an object is expected", with_value(b, "user", [b["user"]]), "expected object at user"),
        invalid("string where an object is expected", with_value(b, "metadata", "1.1.0"), "expected object at metadata"),
        invalid("string where metadata.product is expected", with_value(b, "metadata.product", "AWS"),
                "expected object at metadata.product"),
        invalid("number where metadata.version is expected", with_value(b, "metadata.version", 110),
                "expected string at metadata.version"),
        invalid("object where an array is expected", with_value(b, "observables", obs[0]), "expected array at observables"),
        invalid("scalar where an array is expected", with_value(b, "metadata.profiles", "cloud"),
                "expected array at metadata.profiles"),
        invalid("array of arrays of strings", with_value(b, "metadata.profiles", [["cloud"]]),
                "expected string at metadata.profiles[0]"),
        invalid("number in an array of strings", with_value(b, "metadata.labels", ["a", 1]),
                "expected string at metadata.labels[1]"),
        invalid("array where an array element object is expected", with_value(b, "observables", [obs]),
                "expected object at observables[0]"),
        invalid("number as an array element object", with_value(b, "observables", [1]), "expected object at observables[0]"),
        invalid("string in a nested integer", with_value(b, "user.account", {"type_id": "x"}),
                "expected integer at user.account.type_id"),
        invalid("string in an integer inside an array element", with_value(bo, "observables[1].type_id", "x"),
                "expected integer at observables[1].type_id"),
        invalid("string where a boolean is expected", with_value(b, "is_mfa", "true"), "expected boolean at is_mfa"),
        invalid("number where a boolean is expected", with_value(b, "is_remote", 1), "expected boolean at is_remote"),
        invalid("object where an ip is expected", with_value(b, "src_endpoint", {"ip": {"v4": "1.2.3.4"}}),
                "expected string at src_endpoint.ip"),
        invalid("unmapped as a string", with_value(b, "unmapped", "x=1"), "expected object at unmapped"),
        invalid("unmapped as an array", with_value(b, "unmapped", [1]), "expected object at unmapped"),
        invalid("osint as an object (1.3.0)", with_value(base_event(3002, "1.3.0"), "osint", {"type_id": 1, "value": "x"}),
                "expected array at osint", version="1.3.0"),
        # nesting
        invalid("1000-deep objects in a vendor field", with_value(b, "x_vendor", nested(1000, 1)), "too deep"),
        invalid("1000-deep arrays in a vendor field", with_value(b, "x_vendor", nested(1000, 1, "array")), "too deep"),
        invalid("1000-deep objects in unmapped", with_value(b, "unmapped", {"deep": nested(1000, "x")}), "too deep"),
        invalid("1000-deep arrays in a json_t field", with_value(b, "enrichments", [
            {"name": "e", "value": "v", "data": nested(1000, 0, "array")}]), "too deep"),
        # duplicate keys: jsonb keeps the last one
        invalid("duplicate class_uid, last one wrong",
                json.dumps(b)[:-1] + ', "class_uid": 4001}', "class_uid", raw=True),
        invalid("duplicate time, last one in seconds",
                json.dumps(b)[:-1] + f', "time": {TIME // 1000}}}', "time", raw=True),
        # text jsonb refuses before anything of ours runs
        invalid("NUL escape in a value", json.dumps(b)[:-1] + ', "message": "a\\u0000b"}',
                "unsupported Unicode escape sequence", raw=True, stage="insert"),
        invalid("NUL escape in a key", json.dumps(b)[:-1] + ', "x\\u0000y": 1}',
                "unsupported Unicode escape sequence", raw=True, stage="insert"),
        invalid("lone high surrogate", json.dumps(b)[:-1] + ', "message": "\\ud800"}',
                "Unicode low surrogate must follow a high surrogate", raw=True, stage="insert"),
        invalid("lone low surrogate", json.dumps(b)[:-1] + ', "message": "\\udc00x"}',
                "Unicode low surrogate must follow a high surrogate", raw=True, stage="insert"),
    ]
    # Numbers Python's json cannot write: raw text.
    for case in cases:
        if case["name"].startswith("coordinate 1e400"):
            del case["event"]
            case["event_text"] = json.dumps(loc).replace("1.5", "1e400")
            case["reason_contains"] = "not finite"
        if case["name"].startswith("cvss base_score"):
            del case["event"]
            ev = with_value(base_event(2002), "vulnerabilities",
                            [{"cve": {"uid": "CVE-2024-0001", "cvss": [{"base_score": 7.5, "version": "3.1"}]}}])
            ev = with_value(ev, "finding_info", {"title": "t", "uid": "f"})
            case["event_text"] = json.dumps(ev).replace("7.5", "1e309")
            case["reason_contains"] = "not finite"
    return cases


def valid_cases():
    b = base_event()
    full = with_value(b, "observables", [{"name": "src_endpoint.ip", "type_id": 2, "value": "198.51.100.7"}, None])
    full.update({
        "message": "Ünïcödé ✓ 🛡️ \u202eevil\u202c",
        "time_dt": "2024-11-28T00:00:00.000Z",
        "src_endpoint": {"ip": "2001:db8::1", "port": 65535, "location": {"coordinates": [-122.4, 37.8]}},
        "is_mfa": True, "is_remote": False, "status_id": None, "logon_type_id": 2,
        "session": {"created_time": TIME - 1, "is_remote": True},
        "unmapped": {"k": "v", "n": 1, "nested": {"a": [1, 2]}},
        "x_vendor": {"ключ": "значение", "": "empty key", "a.b": 1, "emoji 🔑": [True, None]},
        "enrichments": [{"name": "geo", "value": "x", "data": {"any": ["json", 1, None]}}],
    })
    full["metadata"]["profiles"] = ["host"]
    full["metadata"]["labels"] = []
    full["user"]["account"] = {"type_id": 10, "uid": "123456789012"}
    full["actor"] = {"process": {"pid": 2147483647, "parent_process": {"pid": 1, "name": "init"}}}
    v13 = base_event(3002, "1.3.0")
    v13["osint"] = [{"type_id": 1, "value": "198.51.100.7"}]
    v13["metadata"]["profiles"] = ["osint"]
    cases = [
        {"name": "minimal 3002", "ocsf_version": "1.1.0", "class_uid": 3002, "event": b},
        {"name": "3002 with objects, arrays, unicode, vendor fields, nulls", "ocsf_version": "1.1.0",
         "class_uid": 3002, "event": full},
        {"name": "type_uid at the edge of int64 is still a long", "ocsf_version": "1.1.0", "class_uid": 3002,
         "event": with_value(b, "metadata.logged_time", 9223372036854775807)},
        {"name": "time_dt as epoch milliseconds (documented coercion)", "ocsf_version": "1.1.0",
         "class_uid": 3002, "event": with_value(b, "time_dt", TIME)},
        {"name": "cloud profile declared with cloud", "ocsf_version": "1.1.0", "class_uid": 3002,
         "event": with_value(with_value(b, "metadata.profiles", ["cloud"]), "cloud", {"provider": "AWS", "region": "us-east-1"})},
        {"name": "duplicate class_uid, last one right", "ocsf_version": "1.1.0", "class_uid": 3002,
         "event_text": json.dumps(with_value(b, "class_uid", 4001))[:-1] + ', "class_uid": 3002}'},
        {"name": "vendor key that collides with a flattened path", "ocsf_version": "1.1.0", "class_uid": 3002,
         "event": dict(b, x={"a": 1}, **{"x.a": 2})},
        {"name": "minimal 3002 (1.3.0, osint)", "ocsf_version": "1.3.0", "class_uid": 3002, "event": v13},
    ]
    for cls in (4001, 2004, 6003, 1007):
        for version in ("1.1.0", "1.3.0"):
            cases.append({"name": f"minimal {cls} ({version})", "ocsf_version": version, "class_uid": cls,
                          "event": base_event(cls, version)})
    return cases


def large_cases():
    b = base_event()
    labels = ["x"] * 100000
    bad_labels = labels[:-1] + [7]
    return ([
        invalid("message of 1.5 MiB", with_value(b, "message", "m" * (3 * MIB // 2)), "too large"),
        invalid("vendor key of 1.1 MiB", dict(b, **{"k" * (MIB + MIB // 10): 1}), "too large"),
        invalid("vendor value of 2 MiB", with_value(b, "x_vendor", {"blob": "b" * (2 * MIB)}), "too large"),
        invalid("100k labels, the last a number", with_value(b, "metadata.labels", bad_labels),
                "expected string at metadata.labels[99999]"),
    ], [
        {"name": "100k labels", "ocsf_version": "1.1.0", "class_uid": 3002,
         "event": with_value(b, "metadata.labels", labels)},
        {"name": "100k vendor array elements", "ocsf_version": "1.1.0", "class_uid": 3002,
         "event": with_value(b, "x_vendor", list(range(100000)))},
    ])


# ---- reference validator (documents the rules; --check runs it) -------------------------

class Validator:
    """Default rules: required attributes at the top level and inside metadata; with
    strict_nested, in every object; with declared_profiles, a profile's required
    attributes when the event lists the profile. datetime_t: RFC 3339 with a zone, or
    epoch milliseconds (the pipeline's documented coercion)."""

    def __init__(self, schema_dir, version):
        spec = importlib.util.spec_from_file_location("gen", os.path.join(HERE, "gen.py"))
        gen = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(gen)
        schema = gen.Schema(os.path.join(schema_dir, version))
        self.objects = {n: {a["name"]: a for a in o["attrs"]} for n, o in schema.objects().items()}
        self.classes = {c["uid"]: {a["name"]: a for a in c["attrs"]} for c in schema.classes()}

    def validate(self, event, source_class, only_if=None):
        self.strict_nested = only_if == "strict_nested"
        self.declared_profiles = only_if == "declared_profiles"
        errors = []
        if not isinstance(event, dict):
            return ["expected object at the event root"]
        if json_depth(event) > MAX_JSON_DEPTH:
            return [f"too deep: nesting beyond {MAX_JSON_DEPTH} levels"]
        cls = event.get("class_uid")
        if isinstance(cls, int) and not isinstance(cls, bool) and cls != source_class:
            errors.append(f"class_uid {cls} is not the source's class {source_class}")
        profiles = (event.get("metadata") or {}).get("profiles") if isinstance(event.get("metadata"), dict) else None
        self.profiles = set(p for p in profiles if isinstance(p, str)) if isinstance(profiles, list) else set()
        self.check_object(event, self.classes[source_class], "", errors)
        t = event.get("time")
        if isinstance(t, int) and not isinstance(t, bool) and not 946684800000 <= t < 4102444800000:
            errors.append(f"time {t} is not epoch milliseconds between 2000 and 2100")
        for key, value in event.items():
            if len(json.dumps(value, ensure_ascii=False).encode()) > MAX_VALUE_BYTES or len(key.encode()) > MAX_VALUE_BYTES:
                errors.append(f"too large: a value above {MAX_VALUE_BYTES} bytes at {key[:40]}")
        return errors

    def check_object(self, value, attrs, path, errors):
        for name, a in attrs.items():
            p = f"{path}.{name}" if path else name
            v = value.get(name)
            if v is None:
                top = "." not in p or p.startswith("metadata.")
                if a["req"] != "required" or not (top or self.strict_nested):
                    continue
                if a["profile"] is None or (self.declared_profiles and a["profile"] in self.profiles):
                    errors.append(f"missing required attribute {p}")
                continue
            if a["is_array"]:
                if not isinstance(v, list):
                    errors.append(f"expected array at {p}")
                    continue
                for i, e in enumerate(v):
                    if e is not None:
                        self.check_value(e, a, f"{p}[{i}]", errors)
            else:
                self.check_value(v, a, p, errors)

    def check_value(self, v, a, p, errors):
        col = a["col"].replace("OCSF_COL_", "")
        is_int = isinstance(v, int) and not isinstance(v, bool)
        if col in ("INT32", "INT64"):
            word = "integer" if col == "INT32" else "long"
            bits = 31 if col == "INT32" else 63
            if not is_int:
                errors.append(f"expected {word} at {p}")
            elif not -2 ** bits <= v < 2 ** bits:
                errors.append(f"out of range at {p}")
        elif col == "BOOLEAN" and not isinstance(v, bool):
            errors.append(f"expected boolean at {p}")
        elif col == "DOUBLE":
            if not (is_int or isinstance(v, float)):
                errors.append(f"expected number at {p}")
            elif not math.isfinite(float(v)):
                errors.append(f"not finite at {p}")
        elif col == "STRING" and not isinstance(v, str):
            errors.append(f"expected string at {p}")
        elif col == "TIMESTAMP_MS" and not (is_int or (isinstance(v, str) and RFC3339.match(v))):
            errors.append(f"expected an RFC 3339 date-time at {p}")
        elif col in ("OBJECT", "MAP") and not isinstance(v, dict):
            errors.append(f"expected object at {p}")
        elif col == "OBJECT":
            self.check_object(v, self.objects[a["object"]], p, errors)


RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def json_depth(v):
    depth, stack = 0, [(v, 1)]
    while stack:
        node, d = stack.pop()
        depth = max(depth, d)
        if isinstance(node, dict):
            stack.extend((x, d + 1) for x in node.values())
        elif isinstance(node, list):
            stack.extend((x, d + 1) for x in node)
    return depth


def event_of(case):
    if "event_text" in case:
        return json.loads(case["event_text"], parse_constant=lambda c: float(c))
    return case["event"]


def check(schema_dir, invalid_list, valid_list):
    validators = {v: Validator(schema_dir, v) for v in ("1.1.0", "1.3.0")}
    failures = 0
    for case in invalid_list:
        if case["stage"] != "validate":
            continue
        validator = validators[case["ocsf_version"]]
        if case.get("only_if") and validator.validate(event_of(case), case["class_uid"]):
            failures += 1
            print(f"FAIL invalid {case['name']!r}: rejected even without {case['only_if']}")
        errors = validator.validate(event_of(case), case["class_uid"], case.get("only_if"))
        if not errors or case["reason_contains"] not in errors[0]:
            failures += 1
            print(f"FAIL invalid {case['name']!r}: expected {case['reason_contains']!r}, got {errors}")
        elif len(errors) > 1:
            print(f"note {case['name']!r}: {len(errors)} errors: {errors}")
    for case in valid_list:
        errors = [e for mode in (None, "strict_nested", "declared_profiles")
                  for e in validators[case["ocsf_version"]].validate(event_of(case), case["class_uid"], mode)]
        if errors:
            failures += 1
            print(f"FAIL valid {case['name']!r}: {errors}")
    print(f"{len(invalid_list)} invalid, {len(valid_list)} valid cases, {failures} failures")
    return failures


def write(path, cases):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("[\n" + ",\n".join(json.dumps(c, ensure_ascii=False) for c in cases) + "\n]\n")


def main():
    sys.setrecursionlimit(20000)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--large", metavar="DIR")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--schema-dir", default=os.path.join(REPO, "..", "shared", "ocsf-schema"))
    ap.add_argument("--out-dir", default=os.path.join(REPO, "test", "ocsf"),
                    help="where --write puts invalid/ and valid/ (default test/ocsf)")
    args = ap.parse_args()
    inv, val = invalid_cases(), valid_cases()
    if args.write:
        write(os.path.join(args.out_dir, "invalid", "invalid.json"), inv)
        write(os.path.join(args.out_dir, "valid", "valid.json"), val)
    if args.large:
        big_inv, big_val = large_cases()
        write(os.path.join(args.large, "invalid-large.json"), big_inv)
        write(os.path.join(args.large, "valid-large.json"), big_val)
    if args.check:
        big_inv, big_val = large_cases()
        sys.exit(1 if check(args.schema_dir, inv + big_inv, val + big_val) else 0)


if __name__ == "__main__":
    main()
