complete -c mvk-init -l server-name -d 'Host name the site answers to (nginx server_name); repeatable, the first is the URL mvk-verify checks' -r
complete -c mvk-init -l tls-cert -d 'Certificate chain for https (with --tls-key); without both, an existing Let\'s Encrypt certificate of the first name (/etc/letsencrypt/live/NAME/) is used' -r -F
complete -c mvk-init -l tls-key -d 'Private key of --tls-cert' -r -F
complete -c mvk-init -l http-listen -d 'Where the site listens for http: PORT or ADDRESS:PORT' -r
complete -c mvk-init -l https-listen -d 'Where the site listens for https (with a certificate): PORT or ADDRESS:PORT' -r
complete -c mvk-init -l metrics-port -d 'Loopback port on which nginx serves the live release\'s /metrics to Prometheus [default: the blue port + 2]' -r
complete -c mvk-init -l prometheus-url -d 'The Prometheus that mvk-alerts@APP.timer asks (written to the env file)' -r
complete -c mvk-init -l root -d 'Write under this directory instead of / (an image, a test): nothing is validated against the running nginx, reloaded or started; the timers are enabled in it (links in its etc/systemd/system/timers.target.wants/) when its units are installed there' -r -F
complete -c mvk-init -l blue-port -d 'Host port of the blue slot' -r
complete -c mvk-init -l green-port -d 'Host port of the green slot' -r
complete -c mvk-init -l container-port -d 'Port the app listens on inside the container' -r
complete -c mvk-init -l state-dir -d 'Directory holding <app>/state.json and <app>/lock' -r -F
complete -c mvk-init -l dry-run -d 'Print what would be written (and the differences), write nothing'
complete -c mvk-init -s q -l quiet -d 'Print no progress on stderr (errors are still printed)'
complete -c mvk-init -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mvk-init -s V -l version -d 'Print version'
