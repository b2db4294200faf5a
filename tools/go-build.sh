# Sourced by the tools/*/build.sh scripts, which build dev tools from the Go module proxy into a
# per-machine cache: their command line, the machine's Go, one build per machine at a time, the stamp
# that says a cached build is current, and the build's way into the cache.
# Each script defines `current` (exit 0 if its cached build is present and matches its stamp).

# build_mode OUTPUT [ARG]: `--print` prints OUTPUT, `--check` exits with `current`'s status, no
# argument goes on to build; anything else is a usage error ($BUILD_USAGE: the script's own arguments).
build_mode() {
  local output="$1"
  shift
  case "$*" in
    --print) echo "$output"; exit 0 ;;
    --check) current; exit $? ;;
    "") ;;
    *) echo "usage: $0 ${BUILD_USAGE:-}[--print|--check]" >&2; exit 2 ;;
  esac
}

# stamp_of LDFLAGS FILE...: the stamp of a build from these files (go.mod, go.sum) with these link flags.
stamp_of() {
  { cat "${@:2}"; echo "CGO_ENABLED=0 -trimpath $1"; } | sha256sum | cut -d' ' -f1
}

# stamp_matches FILE STAMP: FILE holds STAMP.
stamp_matches() {
  [[ -f "$1" && "$(cat "$1")" == "$2" ]]
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

# start_build CACHE_DIR WHAT: announce the build, start its clock, and make $BUILD_TMP, a fresh
# directory in CACHE_DIR for its outputs (removed when the script exits); export the Go settings
# every build here uses, on top of the machine's GOFLAGS.
start_build() {
  BUILD_TMP="$(mktemp -d "$1/build.XXXXXX")" && chmod 755 "$BUILD_TMP"
  trap 'rm -rf "$BUILD_TMP"' EXIT
  BUILD_START=$(date +%s)
  echo ">> building $2" >&2
  export CGO_ENABLED=0 GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
  export GOFLAGS="${GOFLAGS:-} -p=${BUILD_JOBS:-2} -mod=readonly -trimpath"
}

# install_build BIN_DIR STAMP_FILE STAMP NAME...: check that the build made each NAME in $BUILD_TMP,
# move them into BIN_DIR (replacing older ones; the stamp is removed first, so a build stopped halfway
# is not current), then write STAMP.
install_build() {
  local bin_dir="$1" stamp_file="$2" stamp="$3" f
  shift 3
  for f in "$@"; do [[ -f "$BUILD_TMP/$f" ]] || { echo "build produced no $f" >&2; exit 1; }; done
  rm -f "$stamp_file"
  mkdir -p "$bin_dir"
  for f in "$@"; do mv -f "$BUILD_TMP/$f" "$bin_dir/$f"; done
  echo "$stamp" > "$stamp_file"
  echo ">> built in $(( $(date +%s) - BUILD_START ))s:" >&2
  (cd "$bin_dir" && ls -l "$@" >&2)
}
