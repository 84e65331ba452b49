# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_mvk_alerts_global_optspecs
    string join \n metrics-url= prometheus= replay= watch= every= metrics-path= alertmanager= textfile-dir= prometheus-version= app= window= error-ratio= error-for= latency-quantile= latency-threshold= latency-for= down-for= min-requests= requests-metric= duration-metric= status-label= error-status= canary error-margin= latency-factor= env-file= q/quiet h/help V/version
end

function __fish_mvk_alerts_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_mvk_alerts_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_mvk_alerts_using_subcommand
    set -l cmd (__fish_mvk_alerts_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -l metrics-url -d 'Scrape this metrics endpoint every --every for --watch [needs --app]' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -l prometheus -d 'Have this Prometheus evaluate the same expressions (HTTP API) [needs --app]' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -l replay -d 'Evaluate a recorded scrape history, JSON Lines: {"ts": SECONDS, "metrics": TEXT or null}, each line at most 32 MiB [needs --app]' -r -F
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -l watch -d 'How long to scrape (or query) before answering; stops early when an alert fires [default: 60s, or one query with --prometheus]' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -l every -d 'Time between two scrapes (or queries), each followed by an evaluation' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -l metrics-path -d 'Path of the metrics endpoint on the record\'s live slot' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -l alertmanager -d 'Post firing and resolved alerts to this Alertmanager (API v2)' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -l textfile-dir -d 'Also write mvk_alerts_<app>.prom here, for node_exporter\'s textfile collector' -r -F
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -l prometheus-version -d 'Evaluate as this Prometheus major version does: 2 (as 2.42) or 3 (they differ at the edges of rate windows)' -r -f -a "2\t'2.x (2.42, as Debian 12 ships it): ranges and lookback closed on the left; `rate` caps the extrapolation at the counter\'s zero point before the half-interval rule; `.` in a regex does not match a newline'
3\t'3.x: ranges open on the left; the zero-point cap after the half-interval rule (prometheus#13725); `.` matches any character; tiny bucket count noise ignored'"
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -l app -d 'The app: the value of the `job` label the rules select' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -l window -d 'Rate window of HighErrorRate and HighLatency' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -l error-ratio -d 'HighErrorRate fires above this share of failed requests' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -l error-for -d 'How long the error share must stay above --error-ratio' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -l latency-quantile -d 'Which latency quantile HighLatency watches' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -l latency-threshold -d 'HighLatency fires when the quantile is above this' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -l latency-for -d 'How long the latency must stay above --latency-threshold' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -l down-for -d 'How long scrapes must fail before ServiceDown fires' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -l min-requests -d 'Only fire HighErrorRate and HighLatency with at least this many requests in the window [default: 20 when gating a release record, else no minimum]' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -l requests-metric -d 'Counter of requests, labelled with the status' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -l duration-metric -d 'Histogram of request durations in seconds (its `_bucket` series are read)' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -l status-label -d 'The label holding the response status' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -l error-status -d 'Regex (anchored, RE2 syntax) of the statuses that count as failed' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -l error-margin -d 'With --canary: the canary\'s error share may exceed the live release\'s by at most this' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -l latency-factor -d 'With --canary: the canary\'s latency quantile may be at most this many times the live release\'s (not applied below 25 ms)' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -l env-file -d 'KEY=VALUE lines for the app\'s environment, read as systemd\'s EnvironmentFile= reads them (quotes, `\\` continuations, `#` comments); the values are secrets: they never appear in the record, on stderr or in printed logs (shown as ***)' -r -F
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -l canary -d 'Compare the canary with the live release over --watch (the record from `mvk-swap --weight` on stdin); exit 1 when the canary is worse or has too few requests'
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -s q -l quiet -d 'Print no progress on stderr (errors are still printed)'
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -s V -l version -d 'Print version'
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -f -a "check" -d 'Evaluate the alerts (what a bare `mvk-alerts` does)'
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -f -a "rules" -d 'Print the alerts as a Prometheus rule file'
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -f -a "scrape-config" -d 'Print the Prometheus scrape job the rules expect'
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -f -a "dashboard" -d 'Print a Grafana dashboard (JSON model) graphing the rules\' own expressions, with the live release and deploys (mvk-swap --textfile-dir metrics)'
complete -c mvk-alerts -n "__fish_mvk_alerts_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand check" -l metrics-url -d 'Scrape this metrics endpoint every --every for --watch [needs --app]' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand check" -l prometheus -d 'Have this Prometheus evaluate the same expressions (HTTP API) [needs --app]' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand check" -l replay -d 'Evaluate a recorded scrape history, JSON Lines: {"ts": SECONDS, "metrics": TEXT or null}, each line at most 32 MiB [needs --app]' -r -F
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand check" -l watch -d 'How long to scrape (or query) before answering; stops early when an alert fires [default: 60s, or one query with --prometheus]' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand check" -l every -d 'Time between two scrapes (or queries), each followed by an evaluation' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand check" -l metrics-path -d 'Path of the metrics endpoint on the record\'s live slot' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand check" -l alertmanager -d 'Post firing and resolved alerts to this Alertmanager (API v2)' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand check" -l textfile-dir -d 'Also write mvk_alerts_<app>.prom here, for node_exporter\'s textfile collector' -r -F
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand check" -l prometheus-version -d 'Evaluate as this Prometheus major version does: 2 (as 2.42) or 3 (they differ at the edges of rate windows)' -r -f -a "2\t'2.x (2.42, as Debian 12 ships it): ranges and lookback closed on the left; `rate` caps the extrapolation at the counter\'s zero point before the half-interval rule; `.` in a regex does not match a newline'
3\t'3.x: ranges open on the left; the zero-point cap after the half-interval rule (prometheus#13725); `.` matches any character; tiny bucket count noise ignored'"
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand check" -l app -d 'The app: the value of the `job` label the rules select' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand check" -l window -d 'Rate window of HighErrorRate and HighLatency' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand check" -l error-ratio -d 'HighErrorRate fires above this share of failed requests' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand check" -l error-for -d 'How long the error share must stay above --error-ratio' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand check" -l latency-quantile -d 'Which latency quantile HighLatency watches' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand check" -l latency-threshold -d 'HighLatency fires when the quantile is above this' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand check" -l latency-for -d 'How long the latency must stay above --latency-threshold' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand check" -l down-for -d 'How long scrapes must fail before ServiceDown fires' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand check" -l min-requests -d 'Only fire HighErrorRate and HighLatency with at least this many requests in the window [default: 20 when gating a release record, else no minimum]' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand check" -l requests-metric -d 'Counter of requests, labelled with the status' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand check" -l duration-metric -d 'Histogram of request durations in seconds (its `_bucket` series are read)' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand check" -l status-label -d 'The label holding the response status' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand check" -l error-status -d 'Regex (anchored, RE2 syntax) of the statuses that count as failed' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand check" -l error-margin -d 'With --canary: the canary\'s error share may exceed the live release\'s by at most this' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand check" -l latency-factor -d 'With --canary: the canary\'s latency quantile may be at most this many times the live release\'s (not applied below 25 ms)' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand check" -l env-file -d 'KEY=VALUE lines for the app\'s environment, read as systemd\'s EnvironmentFile= reads them (quotes, `\\` continuations, `#` comments); the values are secrets: they never appear in the record, on stderr or in printed logs (shown as ***)' -r -F
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand check" -l canary -d 'Compare the canary with the live release over --watch (the record from `mvk-swap --weight` on stdin); exit 1 when the canary is worse or has too few requests'
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand check" -s q -l quiet -d 'Print no progress on stderr (errors are still printed)'
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand rules" -l app -d 'The app: the value of the `job` label the rules select' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand rules" -l window -d 'Rate window of HighErrorRate and HighLatency' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand rules" -l error-ratio -d 'HighErrorRate fires above this share of failed requests' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand rules" -l error-for -d 'How long the error share must stay above --error-ratio' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand rules" -l latency-quantile -d 'Which latency quantile HighLatency watches' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand rules" -l latency-threshold -d 'HighLatency fires when the quantile is above this' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand rules" -l latency-for -d 'How long the latency must stay above --latency-threshold' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand rules" -l down-for -d 'How long scrapes must fail before ServiceDown fires' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand rules" -l min-requests -d 'Only fire HighErrorRate and HighLatency with at least this many requests in the window [default: 20 when gating a release record, else no minimum]' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand rules" -l requests-metric -d 'Counter of requests, labelled with the status' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand rules" -l duration-metric -d 'Histogram of request durations in seconds (its `_bucket` series are read)' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand rules" -l status-label -d 'The label holding the response status' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand rules" -l error-status -d 'Regex (anchored, RE2 syntax) of the statuses that count as failed' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand rules" -s h -l help -d 'Print help'
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand scrape-config" -l app -d 'The app: the scrape job\'s name, which the rules select' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand scrape-config" -l target -d 'Where the app answers: HOST:PORT; repeatable' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand scrape-config" -l scrape-interval -d 'How often Prometheus scrapes' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand scrape-config" -l metrics-path -d 'The path of the metrics endpoint' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand scrape-config" -s h -l help -d 'Print help'
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand dashboard" -l app -d 'The app: the value of the `job` label the rules select' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand dashboard" -l window -d 'Rate window of HighErrorRate and HighLatency' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand dashboard" -l error-ratio -d 'HighErrorRate fires above this share of failed requests' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand dashboard" -l error-for -d 'How long the error share must stay above --error-ratio' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand dashboard" -l latency-quantile -d 'Which latency quantile HighLatency watches' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand dashboard" -l latency-threshold -d 'HighLatency fires when the quantile is above this' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand dashboard" -l latency-for -d 'How long the latency must stay above --latency-threshold' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand dashboard" -l down-for -d 'How long scrapes must fail before ServiceDown fires' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand dashboard" -l min-requests -d 'Only fire HighErrorRate and HighLatency with at least this many requests in the window [default: 20 when gating a release record, else no minimum]' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand dashboard" -l requests-metric -d 'Counter of requests, labelled with the status' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand dashboard" -l duration-metric -d 'Histogram of request durations in seconds (its `_bucket` series are read)' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand dashboard" -l status-label -d 'The label holding the response status' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand dashboard" -l error-status -d 'Regex (anchored, RE2 syntax) of the statuses that count as failed' -r
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand dashboard" -s h -l help -d 'Print help'
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand help; and not __fish_seen_subcommand_from check rules scrape-config dashboard help" -f -a "check" -d 'Evaluate the alerts (what a bare `mvk-alerts` does)'
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand help; and not __fish_seen_subcommand_from check rules scrape-config dashboard help" -f -a "rules" -d 'Print the alerts as a Prometheus rule file'
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand help; and not __fish_seen_subcommand_from check rules scrape-config dashboard help" -f -a "scrape-config" -d 'Print the Prometheus scrape job the rules expect'
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand help; and not __fish_seen_subcommand_from check rules scrape-config dashboard help" -f -a "dashboard" -d 'Print a Grafana dashboard (JSON model) graphing the rules\' own expressions, with the live release and deploys (mvk-swap --textfile-dir metrics)'
complete -c mvk-alerts -n "__fish_mvk_alerts_using_subcommand help; and not __fish_seen_subcommand_from check rules scrape-config dashboard help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
