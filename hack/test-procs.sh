# test-procs.sh - how the tests find, and stop, the processes they started.
# shellcheck shell=bash
# Source it; do not run it.
#
# The machine is shared: another test run, a demo or another person's easel
# may be running beside ours, so nothing here looks processes up by name.
# Instead every process a test run starts carries two environment variables,
# which children inherit through fork, exec, chroot, setsid, double forks and
# Python subprocesses alike:
#
#   EASEL_TEST_RUN=<tag>             one hack/run-tests.sh invocation
#   EASEL_TEST_SCENARIO=<tag>/<name> one scenario or test program of that run
#
# and /proc/PID/environ shows the environment a process was started with.
# Servers can hide it: Redis (and PostgreSQL's backends) rewrite that memory
# for their process titles, so hack/services.sh records the servers' pids
# (with start times, so a reused pid is never mistaken for them) in files.
#
# Everything here runs in the calling shell (a helper process would carry
# the tag and find itself), but for one grep that runs without the tags.

# tp_new_tag: prints a tag unique to this machine and moment
tp_new_tag() {
  local r
  r=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
  printf '%s-%s-%s\n' "$(date -u +%Y%m%dT%H%M%S)" "$$" "$r"
}

# tp_starttime PID: the process's start time in clock ticks since boot
# (field 22 of /proc/PID/stat), or nothing when it is gone
tp_starttime() {
  local st rest
  read -r st 2>/dev/null </proc/"$1"/stat || return 1
  rest=${st##*) }            # the name in parentheses may hold spaces
  # shellcheck disable=SC2086
  set -- $rest
  printf '%s\n' "${20}"
}

# tp_alive PID: the process exists and is not a zombie
tp_alive() {
  local st rest
  read -r st 2>/dev/null </proc/"$1"/stat || return 1
  rest=${st##*) }
  [ "${rest:0:1}" != Z ] && [ "${rest:0:1}" != X ]
}

# tp_cmdline PID: its command line, arguments separated by spaces
tp_cmdline() {
  local a out=""
  while IFS= read -r -d '' a; do out+="${out:+ }$a"; done 2>/dev/null </proc/"$1"/cmdline
  printf '%s\n' "${out:-?}"
}

# tp_has VAR=VALUE PID: the process was started with exactly VAR=VALUE
tp_has() {
  local kv
  while IFS= read -r -d '' kv; do
    [ "$kv" = "$1" ] && return 0
  done 2>/dev/null </proc/"$2"/environ
  return 1
}

# tp_tagged VAR=VALUE: prints the pids of live processes started with
# VAR=VALUE, leaving out the calling shell and its ancestors (which carry
# the tag because they started the rest).
tp_tagged() {
  local kv=$1 p key val skip=" " f pid found
  p=$BASHPID
  while [ -n "$p" ] && [ "$p" != 0 ]; do
    skip+="$p "
    val=
    while read -r key val; do [ "$key" = PPid: ] && break; val=; done 2>/dev/null </proc/"$p"/status
    p=$val
  done
  # One grep reads every environment (a read builtin per process is too
  # slow on a loaded machine); env removes the tags from grep's own, so it
  # cannot list itself, and the subshell around it has exited, so is not
  # alive, by the time the list is read.
  found=$(env -u EASEL_TEST_RUN -u EASEL_TEST_SCENARIO \
            grep -lzxF -e "$kv" /proc/[0-9]*/environ 2>/dev/null)
  for f in $found; do
    pid=${f#/proc/}; pid=${pid%/environ}
    [[ "$skip" == *" $pid "* ]] && continue
    tp_alive "$pid" && printf '%s\n' "$pid"
  done
  return 0
}

# tp_stop PID...: SIGTERM, up to 1.5 s to exit, then SIGKILL and up to 3 s
# more. Only for pids known to be ours.
tp_stop() {
  tp_signal_wait TERM 15 "$@" && return 0
  tp_signal_wait KILL 30 "$@"
}
# tp_signal_wait SIG TENTHS PID...: sends SIG to those alive, then waits up
# to TENTHS tenths of a second for all to be gone; 0 when they are
tp_signal_wait() {
  local sig=$1 n=$2 p i; shift 2
  for p in "$@"; do tp_alive "$p" && kill -s "$sig" "$p" 2>/dev/null; done
  for ((i = 0; i <= n; i++)); do
    for p in "$@"; do tp_alive "$p" && break; p=; done
    [ -z "$p" ] && return 0
    [ "$i" -lt "$n" ] && sleep 0.1
  done
  return 1
}

# tp_sweep VAR=VALUE [LOG]: stops every process started with VAR=VALUE (and
# what they start while being stopped), naming each in LOG (default
# stderr). Returns 0 when there was nothing to stop, 1 when there was.
tp_sweep() {
  local kv=$1 log=${2:-} p rc=0
  local -a pids
  for _ in 1 2 3 4 5; do
    mapfile -t pids < <(tp_tagged "$kv")
    [ ${#pids[@]} -eq 0 ] && break
    rc=1
    for p in "${pids[@]}"; do
      if [ -n "$log" ]; then printf '  stopping pid %s: %s\n' "$p" "$(tp_cmdline "$p")" >>"$log"
      else printf '  stopping pid %s: %s\n' "$p" "$(tp_cmdline "$p")" >&2; fi
    done
    tp_stop "${pids[@]}"
  done
  return $rc
}

# tp_services_alive FILE [FIRST]: the lines ("PID STARTTIME WHAT") of FILE,
# written by hack/services.sh, from line FIRST (default 1) on, whose process
# is still running as that same process (its start time matches)
tp_services_alive() {
  local pid start what n=0
  [ -f "$1" ] || return 0
  while read -r pid start what; do
    n=$((n + 1))
    [ "$n" -ge "${2:-1}" ] && [ -n "$pid" ] && [ "$(tp_starttime "$pid")" = "$start" ] &&
      tp_alive "$pid" && printf '%s %s %s\n' "$pid" "$start" "$what"
  done <"$1"
  return 0
}
