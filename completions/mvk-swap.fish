complete -c mvk-swap -l drain -d 'Longest wait for requests in flight to the old release to finish' -r
complete -c mvk-swap -l stop-timeout -d 'How long the old container gets to exit after SIGTERM before SIGKILL' -r
complete -c mvk-swap -l keep-images -d 'How many of the newest releases keep their images (the live one included)' -r
complete -c mvk-swap -l upstream-file -d 'Upstream file owned by mvk-swap [default: /etc/nginx/mvk/<app>.upstream]' -r -F
complete -c mvk-swap -l upstream-name -d 'Name of the upstream block [default: the app name]' -r
complete -c mvk-swap -l nginx -d 'The nginx binary' -r -F
complete -c mvk-swap -l nginx-conf -d 'nginx\'s main config file, passed as `-c` [default: nginx\'s own]' -r -F
complete -c mvk-swap -l state-dir -d 'Directory holding <app>/state.json and <app>/lock' -r -F
complete -c mvk-swap -l blue-port -d 'Host port of the blue slot' -r
complete -c mvk-swap -l green-port -d 'Host port of the green slot' -r
complete -c mvk-swap -l container-port -d 'Port the app listens on inside the container' -r
complete -c mvk-swap -s q -l quiet -d 'Print no progress on stderr (errors are still printed)'
complete -c mvk-swap -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mvk-swap -s V -l version -d 'Print version'
