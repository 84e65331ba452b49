# shellcheck shell=bash
# What mvk-deploy and mvk-undo share: finding the app and its env file, the app's deploy
# lock, the run's log directory, and reading a pipeline's PIPESTATUS. Sourced, never run.

# A progress line on stderr, prefixed with the script's name (as the tools do).
mvk_say() {
  printf '%s: %s\n' "$MVK_SCRIPT" "$*" >&2
}

# mvk_die CODE MESSAGE: an error on stderr, and the exit code of DESIGN.md §2.
mvk_die() {
  local code=$1
  shift
  printf '%s: error: %s\n' "$MVK_SCRIPT" "$*" >&2
  exit "$code"
}

# mvk_init LABEL ARGS...: reads the configuration, takes the deploy lock and makes the log dir.
#
# The app is `--app NAME` among ARGS, else $MVK_APP; it is checked before any path is built
# from it. Its env file ($MVK_CONFIG, else /etc/mvk/<app>.env when it exists) is parsed, never
# executed: `mvk-healthwait --print-env` reads it with the grammar of systemd's
# EnvironmentFile= (what the units see) and prints the pairs NUL-separated, which are exported
# one by one, so a value is only ever a value. MVK_* variables already in the environment (not
# empty) win over the file. (Not $MVK_ENV_FILE: that is mvk-healthwait's --env-file, the app
# container's own variables.)
#
# Everything the script creates is private (umask 077): the app's state directory and its
# deploys/ records (which may quote the app's output) are rwx------/rw-------.
#
# The deploy lock is `<state-dir>/<app>/deploy.lock`, held (flock) until the script exits. It is
# not the tools' own `<state-dir>/<app>/lock`, which each tool takes briefly: holding that one
# here would make the tools wait on us. A busy lock fails at once with exit 4, or after
# $MVK_LOCK_WAIT seconds of waiting.
#
# Sets MVK_APP (exported), MVK_STATE, MVK_LOG (the run's log dir).
mvk_init() {
  local label=$1
  shift
  umask 077
  local arg want_app='' app=''
  for arg in "$@"; do
    if [ -n "$want_app" ]; then
      app=$arg
      want_app=
    fi
    case $arg in
      --app) want_app=1 ;;
      --app=*) app=${arg#--app=} ;;
    esac
  done
  app=${app:-${MVK_APP:-}}
  [ -z "$app" ] || mvk_check_app "$app"

  local file=${MVK_CONFIG:-}
  if [ -n "$file" ]; then
    [ -r "$file" ] || mvk_die 2 "cannot read the env file $file (MVK_CONFIG)"
  elif [ -n "$app" ] && [ -e "/etc/mvk/$app.env" ]; then
    file=/etc/mvk/$app.env
  fi
  [ -z "$file" ] || mvk_load_env "$file"
  app=${app:-${MVK_APP:-}}
  [ -n "$app" ] || mvk_die 2 "which app? set MVK_APP (or pass --app NAME, or MVK_CONFIG naming an env file that sets it)"
  mvk_check_app "$app"
  export MVK_APP=$app
  [[ ${MVK_LOCK_WAIT:-0} =~ ^[0-9]+([.][0-9]+)?$ ]] ||
    mvk_die 2 "MVK_LOCK_WAIT is \`$MVK_LOCK_WAIT\`, not a number of seconds"

  MVK_STATE=${MVK_STATE_DIR:-/var/lib/mvk}/$app
  mvk_private_dir "$MVK_STATE"
  mvk_lock "$MVK_STATE/deploy.lock"

  if [ -n "${MVK_LOG_DIR:-}" ]; then
    MVK_LOG=$MVK_LOG_DIR
    mkdir -p "$MVK_LOG" || mvk_die 4 "cannot create the log directory $MVK_LOG (MVK_LOG_DIR)"
  else
    local base n=1
    base=$MVK_STATE/deploys/$(date -u +%Y%m%dT%H%M%SZ)-$label
    mvk_private_dir "$MVK_STATE/deploys"
    # Records written by older versions were world-readable.
    chmod 0700 "$MVK_STATE/deploys" || mvk_die 4 "cannot make $MVK_STATE/deploys private"
    MVK_LOG=$base
    until mkdir "$MVK_LOG" 2>/dev/null; do
      n=$((n + 1))
      [ "$n" -le 100 ] || mvk_die 4 "cannot create a log directory under $MVK_STATE/deploys"
      MVK_LOG=$base.$n
    done
  fi
}

# mvk_check_app NAME: exit 2 unless NAME is an app name (as the tools check it).
mvk_check_app() {
  [[ $1 =~ ^[a-z0-9][a-z0-9_-]{0,62}$ ]] ||
    mvk_die 2 "\`${1//[^[:print:]]/?}\` is not a valid app name: use 1 to 63 of a-z, 0-9, _ and -, starting with a letter or digit"
}

# mvk_load_env FILE: exports the variables of the env file FILE (see mvk_init), except MVK_*
# already set and not empty. Variables that steer bash itself are refused.
mvk_load_env() {
  local file=$1 pair name
  local -a pairs
  mapfile -d '' -t pairs < <(mvk-healthwait --quiet --print-env "$file")
  # The parser's own message (naming the line, never its content) is already on stderr.
  wait "$!" || mvk_die 2 "the env file $file cannot be read (see above); nothing was changed"
  for pair in "${pairs[@]}"; do
    name=${pair%%=*}
    case $name in
      BASH* | SHELLOPTS | IFS | ENV | PS4 | CDPATH | GLOBIGNORE | POSIXLY_CORRECT | PATH | LD_*)
        mvk_die 2 "the env file $file sets $name, which would change how this script runs: remove it" ;;
    esac
    [[ $name == MVK_* && -n ${!name:-} ]] || export "$name=${pair#*=}"
  done
}

# mvk_private_dir DIR: creates DIR (rwx------) if missing, and refuses one that is a symlink,
# not ours, or writable by others: files in it are created as root by name.
mvk_private_dir() {
  local dir=$1 mode
  # umask 077 (mvk_init): rwx------, parents included.
  mkdir -p "$dir" || mvk_die 4 "cannot create $dir"
  if [ ! -d "$dir" ] || [ -L "$dir" ] || [ ! -O "$dir" ]; then
    mvk_die 4 "$dir is not a directory of this user's (a symlink?); refusing to write in it"
  fi
  mode=$(stat -c %a "$dir") || mvk_die 4 "cannot stat $dir"
  (((8#$mode & 8#022) == 0)) ||
    mvk_die 4 "$dir is writable by others (mode $mode): make it 0700 (chmod go-w)"
}

# mvk_lock FILE: holds the deploy lock for the rest of the script (and its children). FILE is
# rw------- in a directory mvk_private_dir checked: flock needs only a file one can open, so no
# other user can take it. Its holder line is cleared when the script exits.
mvk_lock() {
  local file=$1 wait=${MVK_LOCK_WAIT:-0}
  [ ! -L "$file" ] || mvk_die 4 "the deploy lock $file is a symlink; refusing to follow it"
  # Created if missing, never truncated: the file says who holds the lock.
  : >>"$file" || mvk_die 4 "cannot create the deploy lock $file"
  if [ ! -f "$file" ] || [ ! -O "$file" ]; then
    mvk_die 4 "the deploy lock $file is not a file of this user's"
  fi
  chmod 0600 "$file" || mvk_die 4 "cannot make the deploy lock $file private"
  exec {MVK_LOCK_FD}<"$file" || mvk_die 4 "cannot open the deploy lock $file"
  local took=0
  if [ "$wait" = 0 ]; then
    flock --nonblock "$MVK_LOCK_FD" && took=1
  else
    mvk_say "waiting up to ${wait}s for the deploy lock of $MVK_APP"
    flock --wait "$wait" "$MVK_LOCK_FD" && took=1
  fi
  if [ "$took" = 0 ]; then
    local holder pid
    holder=$(head -n 1 "$file" 2>/dev/null || true)
    holder=${holder//[^[:print:]]/?}
    if [[ $holder =~ \(pid\ ([0-9]+)\) ]] && pid=${BASH_REMATCH[1]} && ! kill -0 "$pid" 2>/dev/null; then
      holder="$holder; pid $pid is no longer running, so a process it started holds the lock (fuser $file)"
    fi
    mvk_die 4 "another deploy of $MVK_APP holds the deploy lock ($file: ${holder:-holder unknown}); nothing was changed." \
      "Run again when it is done, or set MVK_LOCK_WAIT=SECONDS to wait for it"
  fi
  MVK_LOCK_FILE=$file
  trap mvk_unlock EXIT
  printf '%s (pid %s) since %s\n' "$MVK_SCRIPT" "$$" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$file"
}

# Clears the holder line as the script exits (the kernel releases the lock itself).
mvk_unlock() {
  : >"$MVK_LOCK_FILE" 2>/dev/null || true
}

# The release live now, by the app's state (empty before the first deploy).
mvk_live() {
  mvk-rollback --live
}

# mvk_failed STATUS...: reads the PIPESTATUS of `tool | tee | tool | tee | … | tool` and sets
# MVK_FAILED to the index of the first tool that failed (-1 when all succeeded) and
# MVK_FAILED_CODE to its exit code. The first failure is the cause: the steps after it only
# pass its record on (exit 3).
# shellcheck disable=SC2034 # globals for the calling script
mvk_failed() {
  local i=0 status
  MVK_FAILED=-1
  MVK_FAILED_CODE=0
  for status in "$@"; do
    if [ $((i % 2)) -eq 0 ] && [ "$status" -ne 0 ]; then
      MVK_FAILED=$((i / 2))
      MVK_FAILED_CODE=$status
      return
    fi
    i=$((i + 1))
  done
  # Every tool succeeded: a failed tee means a record could not be logged.
  for status in "$@"; do
    if [ "$status" -ne 0 ]; then
      mvk_say "warning: could not write every step's record into $MVK_LOG"
      return
    fi
  done
}

# mvk_exit_code CODE: a tool's exit code as the script's (DESIGN.md §2); a tool that could
# not run at all (127, not installed) is the environment, anything else unknown a failure.
mvk_exit_code() {
  case $1 in
    0 | 1 | 2 | 3 | 4 | 130) echo "$1" ;;
    126 | 127) echo 4 ;;
    *) echo 1 ;;
  esac
}

# mvk_hook EVENT RECORD [NAME=VALUE...]: runs the app's hooks for EVENT (pre-deploy,
# post-deploy, post-rollback, failed): the executables named EVENT or EVENT.<anything> in
# $MVK_HOOKS_DIR (default /etc/mvk/<app>.hooks/), in name order, with RECORD on stdin and, in
# their environment, MVK_HOOK_EVENT, MVK_APP, MVK_RECORDS (the run's record directory),
# MVK_PREVIOUS_RELEASE (live before the run, exported by the script), MVK_RELEASE (the
# record's) and the NAME=VALUE
# pairs (MVK_OUTCOME, MVK_EXIT_CODE, MVK_FAILED_STEP). Each runs under the deploy lock (held
# by this script; the hook does not inherit it) for at most $MVK_HOOK_TIMEOUT seconds (60),
# its output on stderr. A hook must be owned by root (or the user running this) and writable
# by no one else, as must its directory: it runs with this script's rights. Returns 1 when
# any hook failed, timed out or was refused, each reported on stderr; 0 without hooks.
mvk_hook() {
  local event=$1 record=$2
  shift 2
  local dir=${MVK_HOOKS_DIR:-/etc/mvk/$MVK_APP.hooks}
  [ -d "$dir" ] || return 0
  local limit=${MVK_HOOK_TIMEOUT:-60}
  [[ $limit =~ ^[1-9][0-9]*$ ]] || mvk_die 2 "MVK_HOOK_TIMEOUT is \`$limit\`, not a number of seconds"
  local hook name code release='' failed=0
  if [ "$record" != /dev/null ]; then
    release=$(jq -r '.release // empty' <"$record" 2>/dev/null || true)
  fi
  mvk_hook_trusted "$dir" || return 1
  for hook in "$dir/$event" "$dir/$event".*; do
    [ -e "$hook" ] || continue
    name=${hook##*/}
    # Packaging and editor leftovers are not hooks.
    case $name in *.dpkg-* | *.ucf-* | *~ | *.swp) continue ;; esac
    if ! mvk_hook_trusted "$hook" || ! [ -x "$hook" ]; then
      mvk_say "warning: $event hook $hook refused: it must be an executable file owned by root, writable by no one else"
      failed=1
      continue
    fi
    mvk_say "running the $event hook $name"
    code=0
    (
      # shellcheck disable=SC2163 # NAME=VALUE pairs, exported as such
      export MVK_HOOK_EVENT="$event" MVK_RECORDS="$MVK_LOG" MVK_RELEASE="$release" "$@"
      exec timeout --kill-after=5 "$limit" "$hook"
    ) <"$record" >&2 {MVK_LOCK_FD}>&- || code=$?
    if [ "$code" -eq 124 ] || [ "$code" -eq 137 ]; then
      mvk_say "warning: the $event hook $name did not finish within ${limit}s (MVK_HOOK_TIMEOUT): stopped"
      failed=1
    elif [ "$code" -ne 0 ]; then
      mvk_say "warning: the $event hook $name failed (exit $code)"
      failed=1
    fi
  done
  return "$failed"
}

# mvk_hook_trusted PATH: PATH (followed if a link) is owned by root or by us, and neither its
# group nor others may write it.
mvk_hook_trusted() {
  local owner mode
  read -r owner mode < <(stat -L -c '%u %a' "$1" 2>/dev/null || echo "- 0")
  if [ "$owner" != 0 ] && [ "$owner" != "$(id -u)" ]; then
    mvk_say "warning: $1 belongs to uid $owner: hooks there are not run"
    return 1
  fi
  if (((8#$mode & 8#022) != 0)); then
    mvk_say "warning: $1 is writable by group or others (mode $mode): hooks there are not run"
    return 1
  fi
}
