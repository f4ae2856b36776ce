# Shared pieces of the benchmark scripts (sourced, not run). A script sets
# BENCH_NAME (the tag of its messages) before sourcing this.

say() { printf '%s [%s] %s\n' "$(date -u +%H:%M:%S)" "${BENCH_NAME:-bench}" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Installs the Debian packages that are missing (non-interactive).
need_packages() {
    local missing="" p
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing="$missing $p"
        fi
    done
    [ -z "$missing" ] && return 0
    say "installing missing Debian packages:$missing"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "not root and no sudo; install as root:$missing"
        sudo="sudo -n"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    $sudo apt-get install -y -qq --no-install-recommends $missing </dev/null
}

# Sets NGINX to the nginx binary there is (any Debian flavour of nginx),
# installing nginx-light only when there is none.
bench_find_nginx() {
    NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
    if [ ! -x "$NGINX" ]; then
        need_packages nginx-light
        NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
    fi
    [ -x "$NGINX" ] || die "nginx not found after installing nginx-light"
}

# stop_pid PID SECONDS: SIGTERM, then SIGKILL if it is still there.
stop_pid() {
    local pid=$1 i=0
    kill -TERM "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null && [ "$i" -lt $(($2 * 10)) ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# A free TCP port on 127.0.0.1 (the kernel picks one; a small race remains).
bench_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
        echo $((20000 + $$ % 20000))
}

# bench_nginx_start DIR PORT BODY: nginx answering every request with BODY.
bench_nginx_start() {
    dir=$1 port=$2 body=$3
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    client_body_buffer_size 64k;
    server {
        listen 127.0.0.1:$port;
        location / {
            default_type application/json;
            return 200 '$body';
        }
    }
}
NGINX
    nginx_bin=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
    "$nginx_bin" -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" >"$dir/stdout.log" 2>&1 &
    BENCH_NGINX_PID=$!
    for _ in $(seq 1 50); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0
        sleep 0.1
    done
    cat "$dir/error.log" >&2
    die "nginx did not start"
}

# bench_wrk OUT DURATION URL SCRIPT: one wrk run with latency percentiles;
# its output goes to OUT.
bench_wrk() {
    out=$1 dur=$2 url=$3 script=$4
    wrk -t1 -c"${BENCH_CONNECTIONS:-64}" -d"$dur" --timeout 10s --latency -s "$script" "$url" >"$out" 2>&1
}

# Numbers out of a wrk output: rps, p50 and p99 in ms, non-2xx count.
bench_rps() { awk '/^Requests\/sec:/ {print $2}' "$1"; }
bench_pct() { # FILE PERCENT -> milliseconds
    awk -v p="$2%" '$1 == p {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; printf "%.2f", v}' "$1"
}
bench_errors() { awk '/Non-2xx/ {print $5}' "$1" | grep . || echo 0; }
bench_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }

bench_machine() {
    printf -- '- machine: %s cores, %s; %s\n' "$(nproc)" \
        "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)" "$(uname -r)"
    printf -- '- load average at start: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
    printf -- '- date: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
