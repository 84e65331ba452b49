complete -c mvk-swap -l textfile-dir -d 'Also writes mvk_deploy_<app>.prom here (the live release, last deploy and rollback times, deploy count and duration), for node_exporter\'s textfile collector' -r -F
complete -c mvk-swap -l drain -d 'Longest wait for requests in flight to the old release to finish' -r
complete -c mvk-swap -l stop-timeout -d 'How long the old container gets to exit after SIGTERM before SIGKILL' -r
complete -c mvk-swap -l keep-images -d 'How many of the newest releases keep their images (the live one included)' -r
complete -c mvk-swap -l weight -d 'Send N % (1-99) of requests to the candidate and keep the live release on the rest (a canary; run again to move it); 0 takes the canary out and removes its container' -r
complete -c mvk-swap -l maintenance -d 'Send every request to the maintenance page (on) or back to the live release (off); needs --app and no record' -r -f -a "on\t''
off\t''"
complete -c mvk-swap -l app -d 'The app, for --maintenance' -r
complete -c mvk-swap -l max-fails -d 'Failed attempts within --fail-timeout after which nginx stops sending requests to the live release for --fail-timeout and uses the backups (0: never)' -r
complete -c mvk-swap -l fail-timeout -d 'Window for --max-fails, and how long a failed release is left out' -r
complete -c mvk-swap -l maintenance-page -d 'HTML page the maintenance server answers with (UTF-8, at most 1 MiB) [default: a plain built-in page]' -r -F
complete -c mvk-swap -l keepalive -d 'Idle connections each nginx worker keeps open to the app (`keepalive N` in the upstream; the site must proxy with HTTP/1.1 and `Connection ""`), 0: a new connection per request' -r
complete -c mvk-swap -l retry-after -d 'The maintenance page\'s Retry-After' -r
complete -c mvk-swap -l env-file -d 'KEY=VALUE lines for the app\'s environment, read as systemd\'s EnvironmentFile= reads them (quotes, `\\` continuations, `#` comments); the values are secrets: they never appear in the record, on stderr or in printed logs (shown as ***)' -r -F
complete -c mvk-swap -l upstream-file -d 'Upstream file owned by mvk-swap [default: /etc/nginx/mvk/<app>.upstream]' -r -F
complete -c mvk-swap -l upstream-name -d 'Name of the upstream block [default: the app name]' -r
complete -c mvk-swap -l nginx -d 'The nginx binary' -r -F
complete -c mvk-swap -l nginx-conf -d 'nginx\'s main config file, passed as `-c` [default: nginx\'s own]' -r -F
complete -c mvk-swap -l state-dir -d 'Directory holding <app>/state.json and <app>/lock' -r -F
complete -c mvk-swap -l blue-port -d 'Host port of the blue slot' -r
complete -c mvk-swap -l green-port -d 'Host port of the green slot' -r
complete -c mvk-swap -l container-port -d 'Port the app listens on inside the container' -r
complete -c mvk-swap -l handover -d 'Who tells nginx\'s workers from before the reload to stop taking connections: quick, mvk-swap as soon as the new workers run (SIGQUIT, a worker\'s graceful shutdown); nginx, its master, about 100 ms later (until then the old workers take most new connections)' -r -f -a "quick\t''
nginx\t''"
complete -c mvk-swap -l keep-warm -d 'Keep the previous release running as nginx\'s first backup instead of stopping it (instant failover; costs the memory of a second running release)'
complete -c mvk-swap -l sticky -d 'With --weight: keep each client on one side of the canary, by client address (`hash $remote_addr consistent`; nginx then allows no backup servers)'
complete -c mvk-swap -s q -l quiet -d 'Print no progress on stderr (errors are still printed)'
complete -c mvk-swap -l timings -d 'Print on stderr when each phase of the step ended and how long it took (where a swap spends its time), even with --quiet'
complete -c mvk-swap -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mvk-swap -s V -l version -d 'Print version'
