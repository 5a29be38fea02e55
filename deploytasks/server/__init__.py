"""The code deploytasks runs on the target side (a server, or the laptop's project venv).

Standard library only, no module-level side effects: the client ships it as a zip (see deploytasks/bundle.py)
and `runner` runs one entry point per command. Modules that need Django import it themselves, so only the
Django entries load it."""
