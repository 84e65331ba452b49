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
# The app is `--app NAME` among ARGS, else $MVK_APP. Its env file ($MVK_CONFIG, else
# /etc/mvk/<app>.env when it exists) is sourced with every variable exported, so it configures
# every tool; MVK_* variables already in the environment (not empty) win over the file. (Not
# $MVK_ENV_FILE: that is mvk-healthwait's --env-file, the app container's own variables.)
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

  local file=${MVK_CONFIG:-}
  if [ -n "$file" ]; then
    [ -r "$file" ] || mvk_die 2 "cannot read the env file $file (MVK_CONFIG)"
  elif [ -n "$app" ] && [ -e "/etc/mvk/$app.env" ]; then
    file=/etc/mvk/$app.env
  fi
  if [ -n "$file" ]; then
    local name
    local -A given=()
    # Set and not empty: an empty variable says nothing, as for the tools.
    while read -r name; do
      [ -z "${!name}" ] || given[$name]=${!name}
    done < <(compgen -e | grep '^MVK_' || true)
    set -a
    # shellcheck disable=SC1090 # the app's env file, chosen at run time
    source "$file" || mvk_die 2 "the env file $file failed to load"
    set +a
    for name in "${!given[@]}"; do
      export "$name=${given[$name]}"
    done
  fi
  app=${app:-${MVK_APP:-}}
  [ -n "$app" ] || mvk_die 2 "which app? set MVK_APP (or pass --app NAME, or MVK_CONFIG naming an env file that sets it)"
  [[ $app =~ ^[a-z0-9][a-z0-9_-]{0,62}$ ]] ||
    mvk_die 2 "\`$app\` is not a valid app name: use 1 to 63 of a-z, 0-9, _ and -, starting with a letter or digit"
  export MVK_APP=$app
  [[ ${MVK_LOCK_WAIT:-0} =~ ^[0-9]+([.][0-9]+)?$ ]] ||
    mvk_die 2 "MVK_LOCK_WAIT is \`$MVK_LOCK_WAIT\`, not a number of seconds"

  MVK_STATE=${MVK_STATE_DIR:-/var/lib/mvk}/$app
  mkdir -p "$MVK_STATE" || mvk_die 4 "cannot create $MVK_STATE"
  mvk_lock "$MVK_STATE/deploy.lock"

  if [ -n "${MVK_LOG_DIR:-}" ]; then
    MVK_LOG=$MVK_LOG_DIR
    mkdir -p "$MVK_LOG" || mvk_die 4 "cannot create the log directory $MVK_LOG (MVK_LOG_DIR)"
  else
    local base n=1
    base=$MVK_STATE/deploys/$(date -u +%Y%m%dT%H%M%SZ)-$label
    mkdir -p "$MVK_STATE/deploys" || mvk_die 4 "cannot create $MVK_STATE/deploys"
    MVK_LOG=$base
    until mkdir "$MVK_LOG" 2>/dev/null; do
      n=$((n + 1))
      [ "$n" -le 100 ] || mvk_die 4 "cannot create a log directory under $MVK_STATE/deploys"
      MVK_LOG=$base.$n
    done
  fi
}

# mvk_lock FILE: holds the deploy lock for the rest of the script (and its children).
mvk_lock() {
  local file=$1 wait=${MVK_LOCK_WAIT:-0}
  # Opened read-write, not truncated: the file says who holds the lock.
  exec {MVK_LOCK_FD}<>"$file" || mvk_die 4 "cannot open the deploy lock $file"
  local took=0
  if [ "$wait" = 0 ]; then
    flock --nonblock "$MVK_LOCK_FD" && took=1
  else
    mvk_say "waiting up to ${wait}s for the deploy lock of $MVK_APP"
    flock --wait "$wait" "$MVK_LOCK_FD" && took=1
  fi
  if [ "$took" = 0 ]; then
    local holder
    holder=$(head -n 1 "$file" 2>/dev/null || true)
    mvk_die 4 "another deploy of $MVK_APP holds the deploy lock ($file: ${holder:-holder unknown}); nothing was changed." \
      "Run again when it is done, or set MVK_LOCK_WAIT=SECONDS to wait for it"
  fi
  printf '%s (pid %s) since %s\n' "$MVK_SCRIPT" "$$" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$file"
}

# The release live now, by the app's state (empty before the first deploy). At most one line
# of `mvk-rollback --list` is live; sed reads them all, so the tool never meets a closed pipe.
mvk_live() {
  mvk-rollback --list | sed -n 's/^{"release":"\([^"\\]*\)".*"live":true}$/\1/p'
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
