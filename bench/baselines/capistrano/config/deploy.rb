# Capistrano 3 deploy of the example Django project, written the way the
# Capistrano docs lay a deploy out: releases/<timestamp>, current -> release,
# shared/ for what survives releases, custom tasks hooked into the flow.
# The benchmark passes everything site-specific through BENCH_* variables
# (see bench/baselines.py); a real project would hard-code them here.
lock "~> 3.17"

set :application, "mysite"
set :repo_url, ENV.fetch("BENCH_REPO_URL")
set :branch, ENV.fetch("BENCH_BRANCH", "main")
set :deploy_to, ENV.fetch("BENCH_DEPLOY_TO")
set :keep_releases, 5
# Where Capistrano uploads its git ssh wrapper (default /tmp).
set :tmp_dir, -> { "#{fetch(:deploy_to)}/tmp" }

# Airbrussh output; the full log goes to a file of our choosing.
set :format_options, command_output: true, color: false, truncate: false,
                     log_file: ENV.fetch("BENCH_CAP_LOG", "log/capistrano.log")

# Survive releases: collected static files, uploads, pidfiles, logs.
# (STATIC_ROOT and MEDIA_ROOT default to <release>/staticfiles and <release>/media.)
append :linked_dirs, "staticfiles", "media", "tmp/pids", "log"

# The SQLite database lives in shared/ and is found through DATABASE_URL.
set :default_env, {
  "DATABASE_URL" => "sqlite:///#{ENV.fetch("BENCH_DEPLOY_TO")}/shared/db.sqlite3",
  "SECRET_KEY" => ENV.fetch("BENCH_SECRET_KEY", "bench-capistrano-not-a-real-secret-0123456789abcdef"),
  "DEBUG" => "false",
  "ALLOWED_HOSTS" => ENV.fetch("BENCH_ALLOWED_HOSTS", "127.0.0.2,localhost,127.0.0.1"),
}

# One virtualenv for all releases, created on the first deploy.
set :venv_path, -> { shared_path.join("venv") }
set :venv_python, ENV.fetch("BENCH_PYTHON", "python3")

set :gunicorn_bind, ENV.fetch("BENCH_BIND", "127.0.0.2:8000")
set :gunicorn_workers, 2
set :gunicorn_pid, -> { shared_path.join("tmp/pids/gunicorn.pid") }
set :gunicorn_log, -> { shared_path.join("log/gunicorn.log") }

after "deploy:updated", "python:pip_install"
after "deploy:updated", "django:migrate"
after "deploy:updated", "django:collectstatic"
after "deploy:publishing", "gunicorn:restart"
