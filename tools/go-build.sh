# Sourced by the tools/*/build.sh scripts, which build dev tools from the Go module proxy into a
# per-machine cache: their command line, the machine's Go, and one build per machine at a time.
# Each script defines `current` (exit 0 if its cached build is present and matches its stamp).

# build_mode OUTPUT [ARG]: `--print` prints OUTPUT, `--check` exits with `current`'s status, no
# argument goes on to build; anything else is a usage error.
build_mode() {
  case "${2:-}" in
    --print) echo "$1"; exit 0 ;;
    --check) current; exit $? ;;
    "") ;;
    *) echo "usage: $0 [--print|--check]" >&2; exit 2 ;;
  esac
}

# find_go PURPOSE: the Go to build with ($GO, then PATH, then /usr/local/go/bin/go). It runs with the
# machine's own GOPROXY and GOTOOLCHAIN settings; no registry address is written in this repository.
find_go() {
  local g
  for g in "${GO:-}" "$(command -v go || true)" /usr/local/go/bin/go; do
    [[ -n "$g" && -x "$g" ]] && { echo "$g"; return 0; }
  done
  echo "no Go found (PATH, /usr/local/go/bin/go or \$GO): install Go >= 1.24 to build $1" >&2
  return 1
}

# lock_cache DIR: create DIR and hold its lock (fd 9) until the script exits, so two `make` runs on
# one machine build once; the caller checks `current` again after it.
lock_cache() {
  mkdir -p "$1"
  exec 9>"$1/.lock"
  flock 9
}
