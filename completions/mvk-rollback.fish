complete -c mvk-rollback -l app -d 'The app to roll back' -r
complete -c mvk-rollback -l to -d 'Roll back to this release (from the history) instead of the one before the live one' -r
complete -c mvk-rollback -l cause -d 'The failed deploy\'s release record that made this rollback necessary; its `error` is kept as `rollback.cause` (mvk-deploy passes it)' -r -F
complete -c mvk-rollback -l restore-spec -d 'Docker Swarm: put back on its slot\'s service the spec that this deploy record (FILE) kept in `swarm.previous_spec` (mvk-healthwait --swarm updated the service), and write the record of that release, for `| mvk-healthwait --swarm | mvk-swap`. The service keeps its current environment; a live slot\'s service is refused (exit 4)' -r -F
complete -c mvk-rollback -l state-dir -d 'Directory holding <app>/state.json and <app>/lock' -r -F
complete -c mvk-rollback -l blue-port -d 'Host port of the blue slot' -r
complete -c mvk-rollback -l green-port -d 'Host port of the green slot' -r
complete -c mvk-rollback -l container-port -d 'Port the app listens on inside the container' -r
complete -c mvk-rollback -l list -d 'Print the release history as JSON Lines, newest first, and change nothing'
complete -c mvk-rollback -l live -d 'Print the live release (nothing before the first deploy) and change nothing: how the deploy scripts ask, instead of reading JSON themselves'
complete -c mvk-rollback -l pull -d 'Pull the image by its recorded repo:tag when it is no longer on this host (credentials from the Docker config, as for mvk-build --push)'
complete -c mvk-rollback -s q -l quiet -d 'Print no progress on stderr (errors are still printed)'
complete -c mvk-rollback -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mvk-rollback -s V -l version -d 'Print version'
