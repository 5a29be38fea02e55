# The benchmark's "server": the throwaway OpenSSH sshd of tests/sshd.py on a
# loopback address, reached with its throwaway key and known_hosts file.
server ENV.fetch("BENCH_SSH_HOST", "127.0.0.2"),
       port: Integer(ENV.fetch("BENCH_SSH_PORT")),
       user: ENV.fetch("BENCH_SSH_USER", "root"),
       roles: %w[app db web]

set :ssh_options, {
  keys: [ENV.fetch("BENCH_SSH_KEY")],
  keys_only: true,
  use_agent: false,
  auth_methods: %w[publickey],
  user_known_hosts_file: ENV.fetch("BENCH_KNOWN_HOSTS"),
  global_known_hosts_file: "/dev/null",
  verify_host_key: :always,
  forward_agent: false,
  non_interactive: true,
}
