complete -c mvk-verify -l url -d 'Check this base URL instead of the record\'s live slot (http://127.0.0.1:<swap.live.port>)' -r
complete -c mvk-verify -l check -d 'A check: the path, the status expected (default 200) and a regex the body must match; repeatable' -r
complete -c mvk-verify -l checks -d 'A JSON list of checks: [{"path", "status", "body_regex", "max_ms", "method", "headers"}]' -r -F
complete -c mvk-verify -l timeout -d 'Time allowed for each request' -r
complete -c mvk-verify -l retries -d 'Tries again this many times while a check fails' -r
complete -c mvk-verify -l retry-delay -d 'Pause before trying a failed check again' -r
complete -c mvk-verify -l max-latency -d 'Fails a check answered slower than this (a --checks entry\'s max_ms wins)' -r
complete -c mvk-verify -l header -d 'A request header for every check (e.g. \'Host: shop.example.com\'); repeatable' -r
complete -c mvk-verify -l min-cert-days -d 'For https: fails a check when the server certificate expires in fewer days' -r
complete -c mvk-verify -l ca-file -d 'For https: trusts the CA certificates in this PEM file instead of the system\'s' -r -F
complete -c mvk-verify -l textfile-dir -d 'Also writes mvk_verify_<app>.prom here, for node_exporter\'s textfile collector' -r -F
complete -c mvk-verify -l app -d 'The app, naming the textfile [default: the record\'s app]' -r
complete -c mvk-verify -s q -l quiet -d 'Print no progress on stderr (errors are still printed)'
complete -c mvk-verify -s h -l help -d 'Print help'
complete -c mvk-verify -s V -l version -d 'Print version'
