"""`inv TASK --help` for tasks with positional arguments.

Invoke's parser hands a `--help` that follows a task to the task's first missing positional argument,
so the task would run with "--help" as, say, its file name, and a task with two positionals
(`migrations.migrate APP TARGET`) would fail to parse: the second one is missing. These wrappers answer
with the help instead.
"""
import functools
import textwrap

from invoke.parser import Argument, ParserContext

HELP_FLAGS = ("-h", "--help")


class _Positional(Argument):
    """A positional argument that counts as given once `--help` took the place of one of its task's
    positionals, so the parser does not fail on the positionals after it."""

    def __init__(self, siblings, **options):
        super().__init__(**options)
        self.siblings = siblings
        siblings.append(self)

    @property
    def value(self):
        if self.raw_value is None and any(other.raw_value in HELP_FLAGS for other in self.siblings):
            return "--help"
        return super().value

    @value.setter
    def value(self, arg):
        self.set_value(arg, cast=True)


def _help_aware(arguments):
    """A task's arguments, its positionals replaced by ones that know when `--help` took a positional's place."""
    siblings = []
    return [_Positional(siblings, names=arg.names, kind=arg.kind, default=arg.default, help=arg.help,
                        positional=True, optional=arg.optional, incrementable=arg.incrementable,
                        attr_name=arg.attr_name)
            if arg.positional else arg
            for arg in arguments]


def _print_task_help(name, task_obj, program):
    """Invoke's per-task help, for `inv TASK --help` when the parser gave --help to a positional argument."""
    print(f"Usage: {program} [--core-opts] {name} [--options] [other tasks here ...]\n")
    print("Docstring:\n  " + (task_obj.__doc__ or "none").strip() + "\n")
    print("Options:")
    tuples = ParserContext(name=name, args=task_obj.get_arguments()).help_tuples()
    width = max(len(flag) for flag, _ in tuples)
    for flag, text in tuples:
        lines = textwrap.wrap(text or "", width=max(30, 76 - width)) or [""]
        print(f"  {flag:<{width}}   {lines[0]}".rstrip())
        for line in lines[1:]:
            print(" " * (width + 5) + line)
    print()


def answer_help(name, task_obj, program="inv"):
    """Invoke has no hook for this: the task's body and its argument list are wrapped in place (public
    attributes of `invoke.Task`, so the task stays the object the collection and the decorators know)."""
    body = task_obj.body
    get_arguments = task_obj.get_arguments
    helps = dict(task_obj.help)

    @functools.wraps(body)
    def with_help(c, *args, **kwargs):
        if any(value in HELP_FLAGS for value in (*args, *kwargs.values())):
            return _print_task_help(name, task_obj, program)
        return body(c, *args, **kwargs)

    @functools.wraps(get_arguments)
    def arguments(*args, **kwargs):
        task_obj.help = dict(helps)  # Invoke's get_arguments consumes the help texts; the printed help asks again
        return _help_aware(get_arguments(*args, **kwargs))

    task_obj.body = with_help
    task_obj.get_arguments = arguments


def answer_help_in(collection, program="inv"):
    """Apply answer_help to every task of a collection (and its sub-collections) that takes positionals."""
    for name in collection.task_names:
        task_obj = collection[name]
        if task_obj.positional:
            answer_help(name, task_obj, program)
