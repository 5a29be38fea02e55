"""deploytasks for your servers. Copy this file to fabfile.py next to manage.py, set the six values, write
production's settings in deploy/production/.env (from deploy/production/.env.example; git-ignored, and never
the project's own .env, which `inv` and manage.py load on your laptop), then:

    fab -H deploy@prod.example.com setup      # once: server layout, checks, uploads deploy/production/.env
    fab -H deploy@prod.example.com deploy     # every time
    fab -H deploy@prod.example.com rollback   # code *and* schema back to the previous release
    fab -H deploy@prod.example.com backup     # verified dump on the server + checksum-verified local copy
    fab -H deploy@prod.example.com shared.diff   # production's .env here vs the server's (names, never values)
    fab -H deploy@prod.example.com shared.push   # upload it (0600; the server's previous copy kept as .bak)
    fab --list                                 # everything else

Host keys are verified against ~/.ssh/known_hosts (and UserKnownHostsFile from ~/.ssh/config);
an unknown host is refused. The values can instead live in pyproject.toml under [tool.deploytasks],
which `inv` reads too (it wins over this file; fabric.yaml and env vars such as
FABRIC_DEPLOYTASKS_BRANCH=release win over both: see the README's "Configuration").
"""
from deploytasks.remote import ns

ns.configure({
    "deploytasks": {
        # 1. the deploy directory on the server (releases/, shared/, current, backups/ go here)
        "path": "/srv/mysite",
        # 2. where the server fetches the code from (it keeps a mirror in {path}/repo);
        #    servers that cannot reach it: "strategy": "upload" sends a `git archive` from here instead
        "repo": "git@github.com:example/mysite.git",
        # 3. what `fab deploy` ships unless given --revision
        "branch": "main",
        # 4. how the app server picks up the new release. For gunicorn started with
        #    `--chdir {path}/current --pid {path}/shared/gunicorn.pid`, a HUP reloads the new code
        #    with no failed requests (workers are replaced gracefully):
        "reload": "kill -HUP $(cat /srv/mysite/shared/gunicorn.pid)",
        # 5. how to start it when nothing runs yet (the first deploy; or whenever the reload fails), run in
        #    {path}. Here gunicorn itself with production's settings, started in the release so that it reads the
        #    project's gunicorn.conf.py (again from the new release on every HUP); with systemd instead:
        #    "start": "sudo -S systemctl start mysite" (or "reload": "sudo -S systemctl reload-or-restart mysite")
        "start": "set -a && . ./shared/.env && set +a && cd current && exec .venv/bin/gunicorn --daemon"
                 " --chdir /srv/mysite/current --pid /srv/mysite/shared/gunicorn.pid --bind 127.0.0.1:8000 mysite.wsgi",
        # 6. a URL the server can GET after the switch; a JSON "revision" in its answer is compared
        #    with the deployed commit, so a reload that kept the old code is caught and rolled back
        "healthcheck": "http://127.0.0.1:8000/health/",
        # where production's shared files come from on this machine (default: deploy/<host as typed>/<name>)
        "shared_sources": {".env": "deploy/production/.env"},

        # Optional, with their defaults:
        # "python": "python3",                 # interpreter the venvs are built with
        # "keep_releases": 5,
        # "keep_backups": 10,
        # "shared_files": [".env"],            # linked from {path}/shared into every release
        # "shared_dirs": ["media"],
        # "requirements": "requirements.txt",
        # "reload_timeout": 60,                # seconds reload/start may take (then killed: the deploy switches back)
        # "accept_new_hosts": False,           # True: trust unknown host keys on first use
    },
})
