"""`inv TASK --help` for tasks with positional arguments.

Invoke's parser hands a `--help` that follows a task to the task's first missing positional argument,
so the task would run with "--help" as, say, its file name. These wrappers answer with the help instead.
"""
import functools
import textwrap

from invoke.parser import ParserContext


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
    """Invoke's parser hands `--help` after a task to the task's first missing positional argument."""
    body = task_obj.body

    @functools.wraps(body)
    def with_help(c, *args, **kwargs):
        if any(value in ("-h", "--help") for value in (*args, *kwargs.values())):
            return _print_task_help(name, task_obj, program)
        return body(c, *args, **kwargs)

    task_obj.body = with_help




def answer_help_in(collection, program="inv"):
    """Apply answer_help to every task of a collection (and its sub-collections) that takes positionals."""
    for name in collection.task_names:
        task_obj = collection[name]
        if task_obj.positional:
            answer_help(name, task_obj, program)
