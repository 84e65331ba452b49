# shellcheck shell=bash
# What scripts/demo and scripts/bench.d/deploy share: a private nginx on a free loopback port
# laid out as DESIGN.md §3 describes a site, the demo app's build context, reading hey's
# summary, and removing one app's containers and images. Sourced, never run.

# A loopback port nothing listens on, and none handed out before by this shell.
sandbox_ports=" "
sandbox_free_port() {
  local port low
  # Below the kernel's ephemeral range: a port in it can be taken as the local port of a load
  # test's client connection before the container or nginx given it binds it.
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range || low=32768
  [ "$low" -gt 12000 ] || low=12000
  while :; do
    port=$((10000 + RANDOM % (low - 10000)))
    case $sandbox_ports in *" $port "*) continue ;; esac
    if [ -z "$(ss -Hltn "sport = :$port")" ]; then
      sandbox_ports+="$port "
      echo "$port"
      return
    fi
  done
}

# sandbox_nginx DIR APP PORT UPSTREAM_PORT: starts nginx (as a child of this shell) listening
# on 127.0.0.1:PORT, with its config, pid file and logs in DIR, including DIR/APP.upstream
# (routed to 127.0.0.1:UPSTREAM_PORT until a swap rewrites it) and proxying to it. Sets
# SANDBOX_NGINX_PID, and SANDBOX_NGINX_CONF and SANDBOX_UPSTREAM (the files).
sandbox_nginx() {
  local dir=$1 app=$2 port=$3 upstream_port=$4
  # Workers run as nobody when nginx starts as root: they must reach their temp paths.
  chmod 755 "$dir"
  SANDBOX_UPSTREAM=$dir/$app.upstream
  SANDBOX_NGINX_CONF=$dir/nginx.conf
  printf 'upstream %s {\n    server 127.0.0.1:%s;\n}\n' "$app" "$upstream_port" >"$SANDBOX_UPSTREAM"
  cat >"$SANDBOX_NGINX_CONF" <<EOF
daemon off;
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    include $SANDBOX_UPSTREAM;
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://$app;
            proxy_read_timeout 60s;
        }
    }
}
EOF
  nginx -c "$SANDBOX_NGINX_CONF" -e "$dir/nginx-error.log" &
  SANDBOX_NGINX_PID=$!
  local _
  for _ in $(seq 200); do
    [ -n "$(ss -Hltn "sport = :$port")" ] && return 0
    kill -0 "$SANDBOX_NGINX_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "nginx did not start on 127.0.0.1:$port: $(cat "$dir/nginx-error.log" 2>/dev/null)" >&2
  return 1
}

# sandbox_stop_nginx PID: a graceful stop, waited for.
sandbox_stop_nginx() {
  [ -n "$1" ] || return 0
  kill -QUIT "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# sandbox_context DIR [UNIQUE]: the demo app's build context (its Dockerfile and static
# binary), with the version a build argument: `--build-arg VERSION=v2` answers "demo v2".
# UNIQUE (e.g. the app name) goes into the image, so no other run's build shares its image id.
sandbox_context() {
  local dir=$1 unique=${2:-}
  mkdir -p "$dir"
  cp tests/demo-app/Dockerfile "$dir/Dockerfile"
  # An ARG cannot share the name of an ENV set before it, hence VERSION.
  # shellcheck disable=SC2016 # a Dockerfile line, expanded by the build
  printf 'ARG VERSION=dev\nENV DEMO_VERSION=$VERSION\n' >>"$dir/Dockerfile"
  [ -z "$unique" ] || printf 'ENV SANDBOX=%s\n' "$unique" >>"$dir/Dockerfile"
  cp "$(scripts/demo-app-binary)" "$dir/demo-app"
}

# sandbox_hey_counts FILE: "REQUESTS FAILED REQUESTS_PER_SECOND" from hey's summary, where
# FAILED counts every answer but 200 and every error (refused, reset, timed out).
sandbox_hey_counts() {
  awk '
    /Requests\/sec/ { rps = $2 }
    /Status code distribution/ { section = "status"; next }
    /Error distribution/ { section = "error"; next }
    section == "status" && /\[[0-9]+\]/ { answers += $2; if ($1 != "[200]") bad += $2 }
    section == "error" && match($0, /\[[0-9]+\]/) { errors += substr($0, RSTART + 1, RLENGTH - 2) }
    END { printf "%d %d %.0f\n", answers + errors, bad + errors, rps }
  ' "$1"
}

# sandbox_remove_app APP: removes the app's containers (by label or `<app>-` name) and its
# images: the tags of its repository (an image another repository also tags keeps that tag)
# and its untagged images labelled mvk.app=APP. Nothing else.
sandbox_remove_app() {
  local app=$1
  {
    docker ps -aq --filter "label=mvk.app=$app"
    docker ps -aq --filter "name=^/$app-"
  } | sort -u | xargs -r docker rm -f -v >/dev/null 2>&1 || true
  {
    docker images --format '{{.Repository}}:{{.Tag}}' "$app"
    docker images -q --no-trunc --filter dangling=true --filter "label=mvk.app=$app"
  } | grep -v ':<none>$' | sort -u | xargs -r docker rmi >/dev/null 2>&1 || true
}
