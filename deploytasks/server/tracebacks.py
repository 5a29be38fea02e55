"""Why a Python process failed, in one line, from the traceback it printed: the last exception with the lines its
message continues on (a database driver's hint), and where the project's own code raised it (a settings typo's
file and line); a library's frames are not named."""
import re

FRAME = re.compile(r'^File "([^"]+)", line (\d+)')
EXCEPTION = re.compile(r"^(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?::\s|:?$)")
LIBRARIES = ("/site-packages/", "/dist-packages/", "/lib/python3", "<frozen", "<string>", ".pyz/")
MESSAGE_LINES = 3


def exception_line(text):
    """The traceback's exception as one line, or None when `text` holds no traceback."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    if not starts:
        return None
    block = lines[starts[-1]:]
    frames = [i for i, line in enumerate(block) if FRAME.match(line)]
    after = frames[-1] + 1 if frames else 1
    found = next((i for i in range(after, len(block)) if EXCEPTION.match(block[i])), None)
    if found is None:
        return block[-1]
    message = " ".join(block[found:found + MESSAGE_LINES])
    where = FRAME.match(block[frames[-1]]) if frames else None
    if where and not any(part in where.group(1) for part in LIBRARIES):
        message += " (%s:%s)" % ("/".join(where.group(1).split("/")[-3:]), where.group(2))
    return message
