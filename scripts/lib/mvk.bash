# shellcheck shell=bash
# What the scripts share: finding the app and its env file, the app's deploy lock, the run's
# log directory, reading a pipeline's PIPESTATUS, hooks, and the host loop of mvk-rollout and
# mvk-undo --hosts. Sourced, never run.

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
# empty) win over the file. (Not $MVK_ENV_FILE: that is the tools' --env-file, the app container's
# own variables.)
#
# Everything the script creates is private (umask 077): the app's state directory and its
# deploys/ records (which may quote the app's output) are rwx------/rw-------.
#
# The deploy lock is `<state-dir>/<app>/deploy.lock`, held (flock) until the script exits. It is
# not the tools' own `<state-dir>/<app>/lock`, which each tool takes briefly: holding that one
# here would make the tools wait on us. A busy lock fails at once with exit 4, or after
# $MVK_LOCK_WAIT seconds of waiting.
#
# mvk_init_fleet (mvk-rollout, mvk-undo --hosts, which change other hosts over SSH) takes
# `<state-dir>/<app>/fleet.lock` instead: two such runs from one machine exclude each other,
# and the machine may be one of the hosts, whose own mvk-deploy/mvk-undo then takes deploy.lock.
#
# Sets MVK_APP (exported), MVK_STATE, MVK_LOG (the run's log dir).
mvk_init() {
  mvk_start deploy.lock "$@"
}

# mvk_init_fleet LABEL ARGS...: mvk_init holding fleet.lock.
mvk_init_fleet() {
  mvk_start fleet.lock "$@"
}

# mvk_start LOCK LABEL ARGS...: mvk_init with the lock file named LOCK.
mvk_start() {
  local lock=$1 label=$2
  shift 2
  mvk_configure "$@"
  [[ ${MVK_LOCK_WAIT:-0} =~ ^[0-9]+([.][0-9]+)?$ ]] ||
    mvk_die 2 "MVK_LOCK_WAIT is \`$MVK_LOCK_WAIT\`, not a number of seconds"

  MVK_STATE=${MVK_STATE_DIR:-/var/lib/mvk}/$MVK_APP
  mvk_private_dir "$MVK_STATE"
  mvk_lock "$MVK_STATE/$lock"

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

# mvk_configure ARGS...: the first half of mvk_init, for what changes nothing (a listing):
# the app (checked) and its env file, with umask 077. Sets MVK_APP (exported), and clears
# the variables of mvk-rollback's --to, --list, --cause and --restore-spec.
mvk_configure() {
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
  # What mvk-rollback does is the scripts' to say (--to, --list, --cause): the variables of
  # those options, left in the environment or set by the env file, would turn a rollback into
  # a listing (its history piped into mvk-healthwait) or send it elsewhere.
  unset MVK_TO MVK_LIST MVK_CAUSE MVK_RESTORE_SPEC
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

# Clears the holder line as the script exits (the kernel releases the lock itself), and ends
# the tether's watcher.
mvk_unlock() {
  : >"$MVK_LOCK_FILE" 2>/dev/null || true
  [ -z "${MVK_TETHER_PID:-}" ] || kill "$MVK_TETHER_PID" 2>/dev/null || true
}

# mvk_tether: from here on, the end of stdin (what is left of it) interrupts this script as a
# SIGTERM would (mvk-deploy --tethered): mvk-rollout holds it open while the deploy runs.
mvk_tether() {
  (
    # Not the deploy lock, not the output: only stdin.
    exec {MVK_LOCK_FD}<&- >/dev/null 2>&1
    while IFS= read -r _; do :; done
    kill -s TERM "$$"
    # Named: a background job's stdin would be /dev/null.
  ) <&0 &
  MVK_TETHER_PID=$!
}

# The release live now, by the app's state (empty before the first deploy).
mvk_live() {
  mvk-rollback --live
}

# mvk_forward_signals: from here on a SIGINT or SIGTERM to the script is passed on to the
# pipeline mvk_run runs, and the script goes on to report and exits 130. Without it, bash runs
# no trap while a foreground pipeline runs, and a signal sent to the script alone (`kill PID`,
# systemd's stop of the main process) never reached the tools: the script died at once, 143,
# and the deploy went on without it.
MVK_SIGNAL='' MVK_WOKEN='' MVK_FORWARDING=''
MVK_JOBS=()
mvk_forward_signals() {
  MVK_FORWARDING=1
  trap 'mvk_on_signal INT' INT
  trap 'mvk_on_signal TERM' TERM
}

# The signal to the process group of every job running (MVK_JOBS).
mvk_on_signal() {
  local job
  MVK_SIGNAL=$1
  MVK_WOKEN=1
  for job in "${MVK_JOBS[@]}"; do
    kill -s "$1" -- "-$job" 2>/dev/null || true
  done
}

# shellcheck disable=SC2034 # MVK_STATUS is for the calling script
# mvk_run FUNC [ARGS...]: runs `FUNC ARGS...`, a function running one pipeline of tools that
# ends with `mvk_piped "${PIPESTATUS[@]}"`, and sets MVK_STATUS to that PIPESTATUS. The pipeline runs in
# a process group of its own, to which a caught signal is passed (once the tools run, they
# undo their half-done work and pass their records on, exit 130); the script waits for it to
# end either way. Returns 1, starting nothing, once the script was interrupted.
mvk_run() {
  [ -z "$MVK_SIGNAL" ] || return 1
  MVK_STATUS_FILE=$(mktemp) || mvk_die 4 "cannot create a temporary file"
  set -m
  (
    set +e
    # Outlives the signal, to pass the statuses on; its children get the default handling.
    trap : INT TERM
    "$@"
  ) &
  MVK_JOBS=("$!")
  set +m
  mvk_wait_jobs
  read -r -a MVK_STATUS <"$MVK_STATUS_FILE" || MVK_STATUS=(1)
  rm -f "$MVK_STATUS_FILE"
}

# mvk_wait_jobs: waits until every job of MVK_JOBS is over, passing a signal that came while
# they were being started on to them, and empties MVK_JOBS.
mvk_wait_jobs() {
  local job
  [ -z "$MVK_SIGNAL" ] || mvk_on_signal "$MVK_SIGNAL"
  for job in "${MVK_JOBS[@]}"; do
    # `wait` returns early when a trap ran: wait again until the job is over.
    while :; do
      MVK_WOKEN=
      wait "$job" || true
      [ -n "$MVK_WOKEN" ] || break
    done
  done
  MVK_JOBS=()
}

# mvk_piped STATUS...: the last command of an mvk_run pipeline function, with its PIPESTATUS.
mvk_piped() {
  echo "$*" >"$MVK_STATUS_FILE"
}

# mvk_step IN OUT TOOL ARGS...: for mvk_run, one tool reading the record IN and writing its
# record into OUT (`mvk_run mvk_step IN OUT TOOL ARGS...`; its exit code is MVK_STATUS).
mvk_step() {
  local in=$1 out=$2
  shift 2
  "$@" <"$in" >"$out"
  mvk_piped "$?"
}

# mvk_tee FILE: tee into FILE, deaf to SIGINT and SIGTERM: it logs a step's record and passes
# it on, and must outlive the signal that makes the step write its last record (it ends with
# its input). The ignoring survives exec.
mvk_tee() {
  trap '' INT TERM
  exec tee "$1"
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

# mvk_withdraw RECORD: after a swap that failed or was interrupted before nginx's reload, the
# healthy candidate RECORD names runs on, unrouted, in the idle slot: it is removed, or
# stopped again if it was a rollback's stopped container (`mvk-healthwait --withdraw`, which
# leaves anything live, already running before or not ours), so a failed run leaves nothing
# half-done.
mvk_withdraw() {
  mvk-healthwait --withdraw "$1" ||
    mvk_say "warning: the candidate that did not go live could not be removed (see above); it takes no traffic"
}

# mvk_exit_code CODE: a tool's exit code as the script's (DESIGN.md §2); a tool that could
# not run at all (127, not installed) is the environment, anything else unknown a failure.
mvk_exit_code() {
  case $1 in
    0 | 1 | 2 | 3 | 4 | 130) echo "$1" ;;
    # Killed by SIGTERM before it could handle it: interrupted too.
    143) echo 130 ;;
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

# Several hosts over SSH (mvk-rollout, mvk-undo --hosts). Each host keeps its own env file,
# state, deploy lock, nginx and hooks: these functions only run the one-host scripts there and
# gather what they print. The hosts are checked first (mvk_fleet_check), then changed in waves
# (mvk_fleet_run); after the first failure the hosts already changed are put back, newest first
# (mvk_fleet_revert). What became of each host is in mvk_fleet_outcome, mvk_fleet_code and
# mvk_fleet_took (not MVK_*: a global array named MVK_OUTCOME hid the hooks' variable);
# mvk_fleet_finish prints it.
declare -gA mvk_fleet_outcome=() mvk_fleet_code=() mvk_fleet_took=()

# mvk_hosts LIST: the comma-separated LIST into MVK_HOSTS_LIST, exit 2 on a bad one. A name is
# one ssh takes (an ssh_config alias, user@host) that cannot be read as an option: it starts
# with a letter, digit or _ and holds only A-Z a-z 0-9 . _ @ -; none is listed twice. Also
# splits $MVK_SSH (default `ssh`) into MVK_SSH_CMD.
mvk_hosts() {
  local list=$1 host shown
  local -A seen=()
  [[ $list != *$'\n'* ]] || mvk_die 2 "--hosts holds a line break: give one comma-separated line"
  IFS=, read -r -a MVK_HOSTS_LIST <<<"$list"
  [ ${#MVK_HOSTS_LIST[@]} -gt 0 ] || mvk_die 2 "--hosts names no host"
  for host in "${MVK_HOSTS_LIST[@]}"; do
    shown=${host//[^[:print:]]/?}
    [ -n "$host" ] || mvk_die 2 "--hosts has an empty name: \`${list//[^[:print:]]/?}\`"
    [[ $host != -* ]] || mvk_die 2 "the host \`$shown\` starts with \`-\`: refused (ssh would read it as an option)"
    [[ $host =~ ^[A-Za-z0-9_][A-Za-z0-9._@-]{0,252}$ ]] ||
      mvk_die 2 "\`$shown\` is not a host name: use A-Z a-z 0-9 . _ @ -, starting with a letter, digit or _"
    [ -z "${seen[$host]:-}" ] || mvk_die 2 "the host $host is listed twice"
    seen[$host]=1
  done
  read -r -a MVK_SSH_CMD <<<"${MVK_SSH:-ssh}"
  [ ${#MVK_SSH_CMD[@]} -gt 0 ] || mvk_die 2 "MVK_SSH is empty"
}

# mvk_parallel N: how many hosts change at once (MVK_PARALLEL_N), exit 2 unless 1 to 999.
mvk_parallel() {
  [[ $1 =~ ^[1-9][0-9]{0,2}$ ]] ||
    mvk_die 2 "--parallel is \`${1//[^[:print:]]/?}\`: give how many hosts change at once (1 or more)"
  MVK_PARALLEL_N=$1
}

# mvk_on HOST COMMAND...: COMMAND on HOST over $MVK_SSH; ssh exits 255 when it cannot reach
# it. BatchMode is always on: stdin may be a record, there is no one to ask for a password.
# The remote shell reads COMMAND: only checked names may go into it.
mvk_on() {
  local host=$1
  shift
  "${MVK_SSH_CMD[@]}" -o BatchMode=yes -- "$host" "$@"
}

# mvk_elapsed START: seconds since START (from `date +%s.%N`), to the millisecond.
mvk_elapsed() {
  local now
  now=$(date +%s.%N)
  awk -v a="$1" -v b="$now" 'BEGIN { printf "%.3f", b - a }'
}

# mvk_fleet_line HOST: the host's JSON line; its record the last one it printed (HOST.json, or
# HOST-revert.json once it was put back), null if none.
mvk_fleet_line() {
  local host=$1 file=$MVK_LOG/$1.json record=null
  [ ! -s "$MVK_LOG/$host-revert.json" ] || file=$MVK_LOG/$host-revert.json
  if [ -s "$file" ] && jq -e '.' "$file" >/dev/null 2>&1; then
    record=$(jq -c '.' "$file")
  fi
  jq -cn --arg host "$host" --arg outcome "${mvk_fleet_outcome[$host]:-not-reached}" \
    --argjson code "${mvk_fleet_code[$host]:-null}" --argjson seconds "${mvk_fleet_took[$host]:-null}" \
    --argjson record "$record" \
    '{host: $host, outcome: $outcome, exit_code: $code, seconds: $seconds, record: $record}'
}

# mvk_fleet_finish CODE: every host's line on stdout, a summary titled $MVK_FLEET_WHAT on
# stderr, and exit CODE.
mvk_fleet_finish() {
  local host
  for host in "${MVK_HOSTS_LIST[@]}"; do
    mvk_fleet_line "$host"
  done
  mvk_say "summary of $MVK_FLEET_WHAT:"
  for host in "${MVK_HOSTS_LIST[@]}"; do
    printf '%s:   %-24s %-16s exit %-4s %ss\n' "$MVK_SCRIPT" "$host" "${mvk_fleet_outcome[$host]:-not-reached}" \
      "${mvk_fleet_code[$host]:--}" "${mvk_fleet_took[$host]:--}" >&2
  done
  exit "$1"
}

# mvk_fleet_check CHECK: `CHECK HOST` for every host, in order, before anything changes. CHECK
# returns 0 when the host is ready, 255 when ssh could not reach it, else an exit code of
# DESIGN.md §2 after saying why. The first host not ready ends the script with that code (4 for
# 255; outcome unreachable for 4, failed otherwise); nothing was changed on any host.
mvk_fleet_check() {
  local check=$1 host status
  for host in "${MVK_HOSTS_LIST[@]}"; do
    status=0
    "$check" "$host" || status=$?
    [ "$status" -ne 0 ] || continue
    if [ "$status" -eq 255 ]; then
      mvk_say "error: cannot reach $host over SSH (${MVK_SSH_CMD[*]})"
      status=4
    fi
    mvk_fleet_code[$host]=$(mvk_exit_code "$status")
    if [ "${mvk_fleet_code[$host]}" -eq 4 ]; then
      mvk_fleet_outcome[$host]=unreachable
    else
      mvk_fleet_outcome[$host]=failed
    fi
    mvk_say "$host is not ready: nothing was changed on any host"
    mvk_fleet_finish "${mvk_fleet_code[$host]}"
  done
}

# mvk_fleet_run STEP OUTCOME: `STEP HOST` for every host, in waves of $MVK_PARALLEL_N (a wave
# always runs to its end); its stdout, the host's record, into $MVK_LOG/HOST.json. A host whose
# STEP succeeded gets OUTCOME and joins MVK_SWITCHED; one that failed (its own script put it
# back as it was) is failed, or unreachable (exit 4) when ssh lost it; a wave with a failure is
# the last. MVK_FLEET_FAILED: the exit code of the first host that failed, 0 if none.
mvk_fleet_run() {
  local step=$1 ok=$2 w host status secs
  local -a wave
  MVK_SWITCHED=()
  MVK_FLEET_FAILED=0
  for ((w = 0; w < ${#MVK_HOSTS_LIST[@]}; w += MVK_PARALLEL_N)); do
    wave=("${MVK_HOSTS_LIST[@]:w:MVK_PARALLEL_N}")
    [ -z "$MVK_SIGNAL" ] || break
    # With mvk_forward_signals, each host in a process group of its own (its ssh is not cut
    # by a Ctrl-C to the script's), which the signal is passed on to.
    [ -z "$MVK_FORWARDING" ] || set -m
    for host in "${wave[@]}"; do
      mvk_fleet_timed "$step" "$host" &
      MVK_JOBS+=("$!")
    done
    set +m
    mvk_wait_jobs
    for host in "${wave[@]}"; do
      status='' secs=''
      read -r status secs <"$MVK_LOG/$host.status" || true
      rm -f "$MVK_LOG/$host.status"
      status=${status:-255}
      mvk_fleet_took[$host]=${secs:-0}
      if [ "$status" -eq 0 ]; then
        mvk_fleet_outcome[$host]=$ok
        mvk_fleet_code[$host]=0
        MVK_SWITCHED+=("$host")
        continue
      fi
      if [ "$status" -eq 255 ]; then
        mvk_fleet_outcome[$host]=unreachable
        mvk_fleet_code[$host]=4
        mvk_say "error: lost $host over SSH (exit 255)"
      else
        mvk_fleet_outcome[$host]=failed
        mvk_fleet_code[$host]=$(mvk_exit_code "$status")
        mvk_say "error: $host failed (exit $status); see its record and its own log there"
      fi
      [ "$MVK_FLEET_FAILED" -ne 0 ] || MVK_FLEET_FAILED=${mvk_fleet_code[$host]}
    done
    [ "$MVK_FLEET_FAILED" -eq 0 ] || break
  done
  # Interrupted between waves: the hosts not reached are never touched.
  [ -z "$MVK_SIGNAL" ] || [ "$MVK_FLEET_FAILED" -ne 0 ] || MVK_FLEET_FAILED=130
}

# mvk_tethered HOST COMMAND...: COMMAND on HOST (for mvk_fleet_run) with the file $MVK_TETHER
# on stdin, which is then held open until COMMAND ends: the command there (mvk-deploy
# --tethered) takes the end of its stdin before its own for an interrupt. A SIGINT or SIGTERM
# to this host's job ends it, and so does this script dying; ssh itself runs in a process
# group of its own, so that it still brings back what the command printed.
mvk_tethered() {
  local host=$1 fifo=$MVK_LOG/$1.in ssh hold status woken
  shift
  rm -f "$fifo"
  mkfifo -m 0600 "$fifo" || return 4
  set -m
  mvk_on "$host" "$@" <"$fifo" &
  ssh=$!
  set +m
  exec {hold}>"$fifo"
  rm -f "$fifo"
  trap 'exec {hold}>&-; woken=1' INT TERM
  cat "$MVK_TETHER" >&"$hold" || true
  while :; do
    woken=
    status=0
    wait "$ssh" || status=$?
    [ -n "$woken" ] || break
  done
  return "$status"
}

# mvk_fleet_timed STEP HOST: `STEP HOST >HOST.json`; "EXIT SECONDS" into $MVK_LOG/HOST.status.
mvk_fleet_timed() {
  local step=$1 host=$2 start status=0
  start=$(date +%s.%N)
  "$step" "$host" >"$MVK_LOG/$host.json" || status=$?
  echo "$status $(mvk_elapsed "$start")" >"$MVK_LOG/$host.status"
}

# mvk_fleet_switched: the hosts of MVK_SWITCHED as --hosts takes them (web1,web2), for the
# command an interrupted run suggests.
mvk_fleet_switched() {
  local IFS=,
  echo "${MVK_SWITCHED[*]:-…}"
}

# mvk_fleet_revert STEP OUTCOME FAILED: puts the hosts of MVK_SWITCHED back, newest first,
# with `STEP HOST` (its record into $MVK_LOG/HOST-revert.json); each gets OUTCOME, or FAILED
# (STEP says loudly that this host may be left on what the run gave it), and STEP's exit code.
mvk_fleet_revert() {
  local step=$1 ok=$2 bad=$3 i host start status
  for ((i = ${#MVK_SWITCHED[@]} - 1; i >= 0; i--)); do
    host=${MVK_SWITCHED[$i]}
    start=$(date +%s.%N)
    status=0
    "$step" "$host" </dev/null >"$MVK_LOG/$host-revert.json" || status=$?
    mvk_fleet_took[$host]=$(awk -v a="${mvk_fleet_took[$host]}" -v b="$(mvk_elapsed "$start")" 'BEGIN { printf "%.3f", a + b }')
    if [ "$status" -eq 0 ]; then
      mvk_fleet_outcome[$host]=$ok
    else
      mvk_fleet_outcome[$host]=$bad
    fi
    mvk_fleet_code[$host]=$status
  done
}
