"""tracebacks.exception_line: the one line a failed Python process's output is told by."""
from deploytasks.server.tracebacks import exception_line

SETTINGS_TYPO = '''Traceback (most recent call last):
  File "/srv/site/releases/20261207T070000Z/manage.py", line 22, in <module>
    main()
  File "/srv/site/shared/venvs/ab12/lib/python3.11/site-packages/django/conf/__init__.py", line 81, in __getattr__
    self._setup(name)
  File "/srv/site/releases/20261207T070000Z/newsroom/settings/production.py", line 3, in <module>
    DEBUG = Flase
            ^^^^^
NameError: name 'Flase' is not defined
'''

DATABASE_DOWN = '''Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/psycopg/connection.py", line 119, in connect
    raise last_ex.with_traceback(None)
psycopg.OperationalError: connection failed: connection to server at "127.0.0.1", port 5433 failed: Connection refused
\tIs the server running on that host and accepting TCP/IP connections?

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/django/db/backends/base/base.py", line 279, in ensure_connection
    self.connect()
  File "/venv/lib/python3.11/site-packages/psycopg/connection.py", line 119, in connect
    raise last_ex.with_traceback(None)
django.db.utils.OperationalError: connection failed: connection to server at "127.0.0.1", port 5433 failed: Connection refused
\tIs the server running on that host and accepting TCP/IP connections?
'''


def test_a_settings_typo_is_told_with_its_file_and_line():
    assert exception_line(SETTINGS_TYPO) == "NameError: name 'Flase' is not defined (newsroom/settings/production.py:3)"


def test_a_database_error_keeps_the_host_and_port_and_the_drivers_hint_and_names_no_library_file():
    assert exception_line(DATABASE_DOWN) == (
        'django.db.utils.OperationalError: connection failed: connection to server at "127.0.0.1", port 5433 failed: '
        "Connection refused Is the server running on that host and accepting TCP/IP connections?")


def test_no_traceback_is_none_and_a_bare_exception_is_its_own_line():
    assert exception_line("bash: line 1: foo: command not found\n") is None
    assert exception_line("Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\nKeyboardInterrupt\n") \
        == "KeyboardInterrupt (x.py:1)"
