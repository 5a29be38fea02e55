"""The settings-only start-up (backups, a restore's safety dump and its warm command): manage.py run for what it
sets up (DJANGO_SETTINGS_MODULE, a .env loader, sys.path) but with no command, so settings and database
connections work and the app registry is not loaded (a third of a Django start-up).

manage.py gets a stand-in for django.core.management whose execute_from_command_line does nothing: importing the
real package (URL resolvers, HTTP responses, serializers) took 18 ms of the 85 ms to the settings and django.db
here, before the backup's pg_dump and the restore's safety dump could start. Any other name manage.py takes from it
(call_command, ...) loads the real package; its submodules import as usual (the stand-in has the package's path),
and the real package is loaded after them."""
import importlib
import importlib.util
import runpy
import sys
import types

NAME = "django.core.management"


def no_command(argv=None):
    """execute_from_command_line as manage.py calls it here."""


def set_up(manage_py):
    """Run manage.py against the stand-in; afterwards django.core.management is the real package or not loaded."""
    import django.core

    stub = types.ModuleType(NAME)
    stub.__path__ = list(importlib.util.find_spec(NAME).submodule_search_locations)
    stub.execute_from_command_line = no_command

    def real(attribute):
        if sys.modules.get(NAME) is stub:
            del sys.modules[NAME]
        module = importlib.import_module(NAME)
        module.execute_from_command_line = no_command
        return getattr(module, attribute)

    stub.__getattr__ = real
    sys.modules[NAME] = django.core.management = stub
    try:
        runpy.run_path(manage_py, run_name="__main__")
    finally:
        if sys.modules.get(NAME) is stub:
            del sys.modules[NAME], django.core.management
            children = {key.rpartition(".")[2]: module for key, module in list(sys.modules.items())
                        if key.rpartition(".")[0] == NAME}
            if children:  # manage.py imported submodules: the real package holds them from now on
                package = importlib.import_module(NAME)
                for child, module in children.items():
                    setattr(package, child, module)
