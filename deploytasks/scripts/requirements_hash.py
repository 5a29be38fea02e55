# Hash of the requirements (following -r/-c includes) and the interpreter version,
# and whether the venv's install stamp matches it.
import re


def collect(path, seen):
    path = os.path.abspath(path)
    if path in seen:
        return
    if not os.path.isfile(path):
        fail("requirements file %s not found: set deploytasks.requirements to your requirements file" % path)
    seen.append(path)
    with open(path, "rb") as handle:
        content = handle.read()
    yield path, content
    for line in content.decode("utf-8", "replace").splitlines():
        match = re.match(r"^\s*(-r|--requirement|-c|--constraint)\s*=?\s*(\S+)", line)
        if match:
            yield from collect(os.path.join(os.path.dirname(path), match.group(2)), seen)


digest = hashlib.sha256(("python %d.%d.%d\n" % sys.version_info[:3]).encode())
for path, content in collect(PARAMS["requirements"], []):
    digest.update(os.path.basename(path).encode() + b"\0" + content + b"\0")
hexdigest = digest.hexdigest()
stamp = None
if PARAMS.get("stamp") and os.path.exists(PARAMS["stamp"]):
    with open(PARAMS["stamp"]) as handle:
        stamp = handle.read().strip()
emit({"hash": hexdigest, "python": "%d.%d.%d" % sys.version_info[:3], "stamp": stamp,
      "venv_ok": bool(PARAMS.get("venv_python")) and os.path.exists(PARAMS["venv_python"])})
