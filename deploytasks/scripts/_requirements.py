# Hash of the requirements (following -r/-c includes) and the interpreter version.
import re


def _requirement_files(path, seen):
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
            yield from _requirement_files(os.path.join(os.path.dirname(path), match.group(2)), seen)


def requirements_digest(path, python_version=None):
    version = python_version or "%d.%d.%d" % sys.version_info[:3]
    digest = hashlib.sha256(("python %s\n" % version).encode())
    for name, content in _requirement_files(path, []):
        digest.update(os.path.basename(name).encode() + b"\0" + content + b"\0")
    return digest.hexdigest()


def read_stamp(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return None
