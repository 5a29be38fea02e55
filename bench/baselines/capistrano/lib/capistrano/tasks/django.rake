# Python/Django/gunicorn steps for the example project.

def venv_bin(name)
  fetch(:venv_path).join("bin", name.to_s)
end

namespace :python do
  desc "Create the shared virtualenv (once)"
  task :create_venv do
    on roles(:app) do
      unless test("[ -x #{venv_bin(:python)} ]")
        execute fetch(:venv_python), "-m", "venv", fetch(:venv_path)
      end
    end
  end

  desc "Install requirements.txt into the shared virtualenv"
  task pip_install: :create_venv do
    on roles(:app) do
      within release_path do
        execute venv_bin(:pip), "install", "-r", "requirements.txt"
      end
    end
  end
end

namespace :django do
  desc "Apply database migrations"
  task :migrate do
    on roles(:db) do
      within release_path do
        execute venv_bin(:python), "manage.py", "migrate", "--noinput"
      end
    end
  end

  desc "Collect static files into shared/staticfiles"
  task :collectstatic do
    on roles(:web) do
      within release_path do
        execute venv_bin(:python), "manage.py", "collectstatic", "--noinput"
      end
    end
  end
end

namespace :gunicorn do
  desc "Reload gunicorn (HUP via its pidfile), or start it if it is not running"
  task :restart do
    on roles(:app) do
      pid = fetch(:gunicorn_pid)
      if test("[ -f #{pid} ] && kill -0 $(cat #{pid}) 2>/dev/null")
        execute :kill, "-HUP", "$(cat #{pid})"
      else
        within current_path do
          # --chdir names the `current` symlink, so that a HUP picks up the new release.
          execute venv_bin(:gunicorn), "mysite.wsgi",
                  "--chdir", current_path,
                  "--bind", fetch(:gunicorn_bind),
                  "--workers", fetch(:gunicorn_workers),
                  "--pid", pid,
                  "--error-logfile", fetch(:gunicorn_log), "--capture-output",
                  "--daemon"
        end
      end
    end
  end
end
