complete -c mvk-deploy -l app -d 'The app this release is for; also the image repository unless --repo is given' -r
complete -c mvk-deploy -l context -d 'The build context directory' -r -F
complete -c mvk-deploy -s f -l file -d 'The Dockerfile [default: Dockerfile in the context]; relative to the current directory, as with `docker build -f`, and may lie outside the context' -r -F
complete -c mvk-deploy -l build-arg -d 'A build-time variable (repeatable); a bare KEY takes its value from the environment. Build args are visible in the image history: no secrets' -r
complete -c mvk-deploy -l build-target -l target -d 'The stage of a multi-stage Dockerfile to build (`--target` to docker build; MVK_TARGET is mvk-alerts\' scrape target)' -r
complete -c mvk-deploy -l builder -d 'Which of the engine\'s builders runs the build: auto is BuildKit where the engine offers it (API 1.39+, over its Unix socket) unless a base image comes from a registry the Docker config has credentials for, else the classic builder' -r -f -a "auto\t'BuildKit where the engine offers it and the base images need no registry credentials, else the classic builder'
buildkit\t'The engine\'s BuildKit (labels cost no step; a rebuild of an unchanged context is all cache hits)'
classic\t'The engine\'s classic builder (deprecated by Docker). It gets the labels in a copy of the Dockerfile, where they take one step, unless the context holds a .dockerignore that does not leave itself out, the --build-target stage is not found, the Dockerfile\'s last line continues, or a value has a quote, `$`, backslash, space or non-ASCII character: then they take one step each'"
complete -c mvk-deploy -l release -d 'The release id and image tag [default: git short SHA of the context, else UTC time]' -r
complete -c mvk-deploy -l repo -d 'The image repository, with the registry to push to [default: the app name]' -r
complete -c mvk-deploy -l max-size -d 'Largest acceptable image size (100MB, 50MiB, bytes)' -r
complete -c mvk-deploy -l container-port -d 'Port the app listens on inside the container; the image must EXPOSE it' -r
complete -c mvk-deploy -l image -d 'Instead of building: pull this image built elsewhere (CI), by digest (`repo@sha256:…`) or tag, with the Docker config\'s credentials, and record it pinned by digest; the release is --release, else its mvk.release or org.opencontainers.image.revision label, else the digest\'s first 12 hex digits. The options of a build here (context, --file, --build-arg, --build-target, --no-cache, --repo, --push) conflict with it on the command line; set in the environment (an env file that also configures builds here) they are left unused' -r
complete -c mvk-deploy -l no-cache -d 'Build every step afresh, without the build cache'
complete -c mvk-deploy -l strict -d 'Fail (exit 1) when an image check fails, instead of warning'
complete -c mvk-deploy -l push -d 'Push the image to the registry named in --repo (credentials from the Docker config)'
complete -c mvk-deploy -s q -l quiet -d 'Print no progress on stderr (errors are still printed)'
complete -c mvk-deploy -l built -d 'Deploy a release built and pushed elsewhere: its mvk-build --push record on stdin, the image pulled by digest when missing (first argument only; then only --tethered and --app are read)'
complete -c mvk-deploy -l tethered -d 'With --built, right after it: the record is the first line on stdin, and stdin ending before the deploy does interrupts it as SIGTERM would (how mvk-rollout runs it over SSH: an interrupted rollout, or a lost connection, interrupts the deploy there)'
