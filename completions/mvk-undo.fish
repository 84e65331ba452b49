complete -c mvk-undo -l app -d 'The app to roll back' -r
complete -c mvk-undo -l to -d 'Roll back to this release (from the history) instead of the one before the live one' -r
complete -c mvk-undo -l restore-spec -d 'Docker Swarm: put back on its slot\'s service the spec that this deploy record (FILE) kept in `swarm.previous_spec` (mvk-healthwait --swarm updated the service), and write the record of that release, for `| mvk-healthwait --swarm | mvk-swap`. The service keeps its current environment; a live slot\'s service is refused (exit 4)' -r -F
complete -c mvk-undo -l state-dir -d 'Directory holding <app>/state.json and <app>/lock' -r -F
complete -c mvk-undo -l blue-port -d 'Host port of the blue slot' -r
complete -c mvk-undo -l green-port -d 'Host port of the green slot' -r
complete -c mvk-undo -l container-port -d 'Port the app listens on inside the container' -r
complete -c mvk-undo -l hosts -d 'Roll back (or with --list: list) these hosts over SSH instead, comma-separated as ssh takes them: A-Z a-z 0-9 . _ @ -, never starting with -; then only --app, --to, --pull, --parallel and --list are taken' -r
complete -c mvk-undo -l parallel -d 'With --hosts: how many hosts roll back at once, in waves' -r
complete -c mvk-undo -l cause -d 'The failed deploy\'s release record that made this rollback necessary; its `error` is kept as `rollback.cause` (mvk-deploy passes it)' -r -F
complete -c mvk-undo -l list -d 'Print the release history as JSON Lines, newest first, and change nothing'
complete -c mvk-undo -l pull -d 'Pull the image by its recorded repo:tag when it is no longer on this host (credentials from the Docker config, as for mvk-build --push)'
complete -c mvk-undo -s q -l quiet -d 'Print no progress on stderr (errors are still printed)'
complete -c mvk-undo -l dry-run -d 'Print the record of where the undo would go (mvk-rollback alone) and change nothing; exit 1 when there is nothing to go back to'
complete -c mvk-undo -l tethered -d 'Stdin ending before the undo does interrupts it as SIGTERM would (how mvk-undo --hosts runs it over SSH: an interrupted run, or a lost connection, interrupts the undo there)'
complete -c mvk-undo -l live -d 'Print the live release (nothing before the first deploy) and change nothing: how the deploy scripts ask, instead of reading JSON themselves'
