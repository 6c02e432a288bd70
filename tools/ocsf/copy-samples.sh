#!/bin/sh
# Copy a representative set of real OCSF events from ../shared/ocsf-examples into
# test/ocsf/samples/<version>/ and write test/ocsf/samples/manifest.json, so the
# round-trip tests run in CI without ../shared.
#
#   tools/ocsf/copy-samples.sh [EXAMPLES_DIR] [SCHEMA_DIR] [OUT_DIR (default test/ocsf/samples)]
#
# Every file that parses as JSON (one event, an array of events, or NDJSON) is taken;
# files that do not (comments, trailing commas) are reported and skipped. Identical
# events are kept once. An event whose metadata.version is 1.1.0 or earlier goes to
# samples/1.1.0, any later one to samples/1.3.0 (the manifest keeps the declared
# version: some say 1.4.0 or 1.5.0). Each file holds one event, byte-for-byte as in the
# source when the source file held just that event.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
examples=${1:-$repo/../shared/ocsf-examples}
schema=${2:-$repo/../shared/ocsf-schema}
out=${3:-$repo/test/ocsf/samples}
[ -d "$examples" ] || { echo "no examples at $examples" >&2; exit 1; }
rm -rf "$out/1.1.0" "$out/1.3.0"
mkdir -p "$out/1.1.0" "$out/1.3.0"
exec python3 - "$examples" "$schema" "$out" "$here/gen.py" <<'PY'
import hashlib, importlib.util, json, os, re, sys
examples, schema_dir, out, gen_path = sys.argv[1:5]
spec = importlib.util.spec_from_file_location("gen", gen_path)
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)
classes = {v: {c["uid"]: c for c in gen.Schema(os.path.join(schema_dir, v)).classes()}
           for v in ("1.1.0", "1.3.0")}

def version_key(v):
    nums = [int(n) for n in re.findall(r"\d+", str(v))[:3]]
    return tuple(nums + [0] * (3 - len(nums)))

def concatenated(text):
    """Documents written one after another (NDJSON, or pretty-printed in a row)."""
    decoder, pos, docs = json.JSONDecoder(), 0, []
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            return docs
        doc, pos = decoder.raw_decode(text, pos)
        docs.append(doc)

def repaired(text):
    """The examples' markdown habits: `// comment` at line ends, trailing commas."""
    text = re.sub(r'[ \t]+//[^"\n]*$', "", text, flags=re.M)
    return re.sub(r",(\s*[}\]])", r"\1", text)

def events_of(text):
    """[(event, byte_exact)]; raises JSONDecodeError if nothing sensible parses."""
    try:
        doc = json.loads(text)
        return [(doc, True)] if isinstance(doc, dict) else [(e, False) for e in doc]
    except json.JSONDecodeError as whole_error:
        for candidate in (text, repaired(text)):
            try:
                return [(d, False) for d in concatenated(candidate)]
            except json.JSONDecodeError:
                pass
        raise whole_error

def notes_of(event, declared, cls):
    """What a strict pipeline will trip over: the lead's tests read these."""
    notes = []
    if cls is None:
        notes.append("class not in this version")
    if version_key(declared) > (1, 3, 0):
        notes.append("metadata.version later than 1.3.0")
    t = event.get("time")
    if isinstance(t, (int, float)) and abs(t) < 100000000000:
        notes.append("time looks like epoch seconds")
    if not isinstance(t, int):
        notes.append("time is not an integer")
    return notes

manifest, seen, skipped = [], set(), []
for root, dirs, files in sorted(os.walk(examples)):
    dirs.sort()
    for name in sorted(files):
        path = os.path.join(root, name)
        rel = os.path.relpath(path, examples)
        text = open(path, encoding="utf-8").read()
        try:
            events = events_of(text)
        except (json.JSONDecodeError, ValueError) as e:
            skipped.append(f"{rel}: not JSON ({e.msg} at line {e.lineno})")
            continue
        for i, (event, whole) in enumerate(events):
            if not isinstance(event, dict) or not isinstance(event.get("class_uid"), int):
                skipped.append(f"{rel}: not an OCSF event")
                continue
            digest = hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            declared = (event.get("metadata") or {}).get("version")
            target = "1.1.0" if version_key(declared) <= (1, 1, 0) else "1.3.0"
            stem = re.sub(r"[^a-z0-9]+", "-", os.path.splitext(rel)[0].lower().replace("/samples/", "/")).strip("-")
            stem = stem.replace("mappings-markdown-", "").replace("mappings-", "")
            fname = f"{stem}{'-' + str(i) if len(events) > 1 else ''}.json"
            with open(os.path.join(out, target, fname), "w", encoding="utf-8") as f:
                f.write(text if whole else json.dumps(event, indent=2, ensure_ascii=False) + "\n")
            cls = classes[target].get(event["class_uid"])
            names = {a["name"] for a in cls["attrs"]} if cls else set()
            manifest.append({
                "file": f"{target}/{fname}", "source": rel, "class_uid": event["class_uid"],
                "class_name": cls["name"] if cls else None,
                "declared_version": declared, "ocsf_version": target,
                "class_exists": cls is not None,
                "top_level_not_in_class": sorted(k for k in event if k not in names),
                "notes": notes_of(event, declared, cls),
                "exact_copy": whole,
            })
manifest.sort(key=lambda m: m["file"])
with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as f:
    json.dump({"generated_by": "tools/ocsf/copy-samples.sh", "samples": manifest,
               "skipped": sorted(skipped)}, f, indent=1, ensure_ascii=False)
    f.write("\n")
print(f"{len(manifest)} samples, {len(skipped)} skipped", file=sys.stderr)
for s in skipped:
    print("skipped", s, file=sys.stderr)
PY
