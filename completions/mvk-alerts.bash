_mvk__alerts() {
    local i cur prev opts cmd
    COMPREPLY=()
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        cur="$2"
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
    fi
    prev="$3"
    cmd=""
    opts=""

    for i in "${COMP_WORDS[@]:0:COMP_CWORD}"
    do
        case "${cmd},${i}" in
            ",$1")
                cmd="mvk__alerts"
                ;;
            mvk__alerts,check)
                cmd="mvk__alerts__subcmd__check"
                ;;
            mvk__alerts,dashboard)
                cmd="mvk__alerts__subcmd__dashboard"
                ;;
            mvk__alerts,help)
                cmd="mvk__alerts__subcmd__help"
                ;;
            mvk__alerts,rules)
                cmd="mvk__alerts__subcmd__rules"
                ;;
            mvk__alerts,scrape-config)
                cmd="mvk__alerts__subcmd__scrape__subcmd__config"
                ;;
            mvk__alerts__subcmd__help,check)
                cmd="mvk__alerts__subcmd__help__subcmd__check"
                ;;
            mvk__alerts__subcmd__help,dashboard)
                cmd="mvk__alerts__subcmd__help__subcmd__dashboard"
                ;;
            mvk__alerts__subcmd__help,help)
                cmd="mvk__alerts__subcmd__help__subcmd__help"
                ;;
            mvk__alerts__subcmd__help,rules)
                cmd="mvk__alerts__subcmd__help__subcmd__rules"
                ;;
            mvk__alerts__subcmd__help,scrape-config)
                cmd="mvk__alerts__subcmd__help__subcmd__scrape__subcmd__config"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        mvk__alerts)
            opts="-q -h -V --metrics-url --prometheus --replay --watch --every --metrics-path --alertmanager --textfile-dir --prometheus-version --app --window --error-ratio --error-for --latency-quantile --latency-threshold --latency-for --down-for --min-requests --requests-metric --duration-metric --status-label --error-status --canary --error-margin --latency-factor --env-file --quiet --help --version check rules scrape-config dashboard help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --metrics-url)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --prometheus)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --replay)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --watch)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --metrics-path)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --alertmanager)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --textfile-dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --prometheus-version)
                    COMPREPLY=($(compgen -W "2 3" -- "${cur}"))
                    return 0
                    ;;
                --app)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --window)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --error-ratio)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --error-for)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --latency-quantile)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --latency-threshold)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --latency-for)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --down-for)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --min-requests)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --requests-metric)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --duration-metric)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --status-label)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --error-status)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --error-margin)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --latency-factor)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --env-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        mvk__subcmd__alerts__subcmd__check)
            opts="-q -h --metrics-url --prometheus --replay --watch --every --metrics-path --alertmanager --textfile-dir --prometheus-version --app --window --error-ratio --error-for --latency-quantile --latency-threshold --latency-for --down-for --min-requests --requests-metric --duration-metric --status-label --error-status --canary --error-margin --latency-factor --env-file --quiet --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --metrics-url)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --prometheus)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --replay)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --watch)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --metrics-path)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --alertmanager)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --textfile-dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --prometheus-version)
                    COMPREPLY=($(compgen -W "2 3" -- "${cur}"))
                    return 0
                    ;;
                --app)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --window)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --error-ratio)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --error-for)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --latency-quantile)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --latency-threshold)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --latency-for)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --down-for)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --min-requests)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --requests-metric)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --duration-metric)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --status-label)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --error-status)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --error-margin)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --latency-factor)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --env-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        mvk__subcmd__alerts__subcmd__dashboard)
            opts="-h --app --window --error-ratio --error-for --latency-quantile --latency-threshold --latency-for --down-for --min-requests --requests-metric --duration-metric --status-label --error-status --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --app)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --window)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --error-ratio)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --error-for)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --latency-quantile)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --latency-threshold)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --latency-for)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --down-for)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --min-requests)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --requests-metric)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --duration-metric)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --status-label)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --error-status)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        mvk__subcmd__alerts__subcmd__help)
            opts="check rules scrape-config dashboard help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        mvk__subcmd__alerts__subcmd__help__subcmd__check)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        mvk__subcmd__alerts__subcmd__help__subcmd__dashboard)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        mvk__subcmd__alerts__subcmd__help__subcmd__help)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        mvk__subcmd__alerts__subcmd__help__subcmd__rules)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        mvk__subcmd__alerts__subcmd__help__subcmd__scrape__subcmd__config)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        mvk__subcmd__alerts__subcmd__rules)
            opts="-h --app --window --error-ratio --error-for --latency-quantile --latency-threshold --latency-for --down-for --min-requests --requests-metric --duration-metric --status-label --error-status --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --app)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --window)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --error-ratio)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --error-for)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --latency-quantile)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --latency-threshold)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --latency-for)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --down-for)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --min-requests)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --requests-metric)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --duration-metric)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --status-label)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --error-status)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        mvk__subcmd__alerts__subcmd__scrape__subcmd__config)
            opts="-h --app --target --scrape-interval --metrics-path --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --app)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --target)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --scrape-interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --metrics-path)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
    esac
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _mvk__alerts -o nosort -o bashdefault -o default mvk-alerts
else
    complete -F _mvk__alerts -o bashdefault -o default mvk-alerts
fi
