complete -c mvk-healthwait -l health-path -d 'Path the health probe GETs on the candidate' -r
complete -c mvk-healthwait -l health-header -d 'Header sent with every probe, `Name: value` (repeatable), e.g. `X-Forwarded-Proto: https`' -r
complete -c mvk-healthwait -l interval -d 'Time between probes' -r
complete -c mvk-healthwait -l confirm-interval -d 'Time between probes once one has succeeded, until --successes answers in a row (at most --interval): the streak is the same, confirmed without a whole interval per answer' -r
complete -c mvk-healthwait -l successes -d 'Consecutive 2xx answers that make the candidate healthy' -r
complete -c mvk-healthwait -l health-timeout -l timeout -d 'Give up when the candidate is not healthy after this long (also `--timeout`; its own name keeps MVK_HEALTH_TIMEOUT apart from mvk-verify\'s per-request MVK_TIMEOUT)' -r
complete -c mvk-healthwait -l before -d 'Run this first in a one-off container of the new image (migrations); if it fails, nothing is started. A command line split on white space, or a JSON array of strings; no shell. As with `docker run IMAGE CMD…`, the image\'s ENTRYPOINT stays.' -r
complete -c mvk-healthwait -l env-file -d 'KEY=VALUE lines for the app\'s environment, read as systemd\'s EnvironmentFile= reads them (quotes, `\\` continuations, `#` comments); the values are secrets: they never appear in the record, on stderr or in printed logs (shown as ***)' -r -F
complete -c mvk-healthwait -l print-env -d 'Print the variables of this env file as KEY=VALUE, each ended by a NUL byte, and do nothing else: how mvk-deploy and mvk-undo read /etc/mvk/<app>.env without executing it' -r -F
complete -c mvk-healthwait -l withdraw -d 'Withdraw the candidate that the release record in FILE names, when its swap did not put it live (failed or interrupted before nginx\'s reload), and do nothing else: how mvk-deploy and mvk-undo leave no unrouted candidate behind. Only that container (name and id), labelled as this app\'s candidate slot, never in the live slot: one new for the release is removed, a reused one the wait started is stopped again, one that already ran is left; gone already is fine. Prints no record' -r -F
complete -c mvk-healthwait -l bind -d 'Host address the slot\'s port is published on' -r
complete -c mvk-healthwait -l blue-port -d 'Host port of the blue slot' -r
complete -c mvk-healthwait -l green-port -d 'Host port of the green slot' -r
complete -c mvk-healthwait -l container-port -d 'Port the app listens on inside the container' -r
complete -c mvk-healthwait -l state-dir -d 'Directory holding <app>/state.json and <app>/lock' -r -F
complete -c mvk-healthwait -l upstream-file -d 'Upstream file owned by mvk-swap [default: /etc/nginx/mvk/<app>.upstream]' -r -F
complete -c mvk-healthwait -l upstream-name -d 'Name of the upstream block [default: the app name]' -r
complete -c mvk-healthwait -l nginx -d 'The nginx binary' -r -F
complete -c mvk-healthwait -l nginx-conf -d 'nginx\'s main config file, passed as `-c` [default: nginx\'s own]' -r -F
complete -c mvk-healthwait -l no-init -d 'Run the app as PID 1 itself, without Docker\'s init (tini), in the candidate and the --before one-off. By default the init is PID 1: an app with no SIGTERM handler (which a PID 1 ignores) then stops at once on `docker stop` instead of after mvk-swap\'s --stop-timeout, and zombies are reaped; an app with a handler still drains'
complete -c mvk-healthwait -l keep-failed -d 'Keep a failed candidate for debugging (stopped if it crashed; never restarted)'
complete -c mvk-healthwait -l pull -d 'When the record\'s image is not on this host, pull it by the digest mvk-build --push recorded (build.digest) and tag it as the record names it: how a release built once reaches each host of a rollout (credentials from the Docker config, as for mvk-build --push). Without a digest in the record the image must already be here'
complete -c mvk-healthwait -l swarm -d 'Deploy into Docker Swarm: the idle slot is the service `<app>-<slot>` (one task on this node, published in host mode on the slot\'s port), created, or updated stop-first with Swarm rolling a failed update back itself; its task is then probed as a candidate container is. The engine must be a Swarm manager; Swarm pulls the image (by the record\'s build.digest when there is one), so --pull is not needed; --before and --keep-failed are refused (exit 2)'
complete -c mvk-healthwait -s q -l quiet -d 'Print no progress on stderr (errors are still printed)'
complete -c mvk-healthwait -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mvk-healthwait -s V -l version -d 'Print version'
