"""init's look at the project's URLconf, read statically (no import): a health-check route the project already has,
which proves more than the admin's login page (it is the project's own code, and it may report the revision)."""
import ast
import os
import re

HEALTH_ROUTE = re.compile(r"(?:-/)?(?:health|healthz|healthcheck|health-check|livez|readyz|ping)/?")


def health_path(root, urlconf, roots=("",)) -> str:
    """'/health/' (say) when `urlconf` (ROOT_URLCONF, a dotted module in `root` or one of its import `roots`) routes
    a health-check-like path, directly or through include()s whose prefixes are literal, else ''."""
    seen = set()

    def scan(module, prefix):
        path = module_file(root, module, roots)
        if not path or path in seen:
            return ""
        seen.add(path)
        try:
            with open(path, encoding="utf-8") as handle:
                tree = ast.parse(handle.read(), path)
        except (OSError, SyntaxError, ValueError):
            return ""
        for call in ast.walk(tree):
            route = literal_route(call)
            if route is None:
                continue
            included = included_module(call.args[1]) if len(call.args) > 1 else None
            if included:
                found = scan(included, prefix + route)
                if found:
                    return found
            elif HEALTH_ROUTE.fullmatch(route) and not route.endswith("-"):
                return "/" + prefix + route
        return ""

    return scan(urlconf, "") if urlconf else ""


def literal_route(node):
    """The route of a path()/re_path()/url() call whose first argument is a string (a regex's ^ and $ dropped)."""
    if not (isinstance(node, ast.Call) and call_name(node.func) in ("path", "re_path", "url") and node.args):
        return None
    first = node.args[0]
    if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
        return None
    route = first.value
    if call_name(node.func) != "path":
        route = route.removeprefix("^").removesuffix("$")
        if re.search(r"[\\()\[\]?*+{}|]", route):  # a real regex: no fixed path to ask
            return None
    return route


def included_module(node):
    if isinstance(node, ast.Call) and call_name(node.func) == "include" and node.args:
        first = node.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value
    return None


def call_name(func) -> str:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def module_file(root, module, roots=("",)) -> str:
    """The file of a dotted module in the project, looked for in each of its import `roots` (directories relative to
    `root` that are on sys.path: "" for the project's own, "src" for a src/ layout), else ""."""
    for where in roots:
        base = os.path.join(root, where, *module.split("."))
        for path in (base + ".py", os.path.join(base, "__init__.py")):
            if os.path.isfile(path):
                return path
    return ""
