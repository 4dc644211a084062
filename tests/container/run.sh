#!/usr/bin/env bash
# Builds the Action's image and runs it the way GitHub's runner runs a Docker action, on a
# machine that reaches Debian's archive and the Python package index but not Docker Hub.
#
#   tests/container/run.sh [all] [PYTEST_ARGS...]  daemon, base image, build, then the container
#                                                  tests (tests/container, marker `container`)
#   tests/container/run.sh image                   daemon, base image, build; prints the tag
#   tests/container/run.sh stop                    stops a dockerd that this script started
#
# Needs root when something is missing (apt-get, dockerd, debootstrap). Every failure exits
# non-zero with the reason: in CI this step is never skipped.
#
# Environment:
#   DRIFTGATE_IMAGE_TAG        tag of the Action's image (default driftgate:test)
#   DRIFTGATE_CONTAINER_CACHE  where the base image's tarball is kept between runs
#                              (default ${XDG_CACHE_HOME:-$HOME/.cache}/driftgate/container)
#   DRIFTGATE_DOCKERD_TIMEOUT  seconds to wait for a dockerd we start (default 60)
#   DRIFTGATE_DOCKERD_STORAGE  storage driver of a dockerd we start (default vfs; see
#                              docs/container.md for overlay2, much faster where it works)
#   DRIFTGATE_BASE_RELEASE     Debian release of the base image (default trixie: the release
#                              of the official python:3.13-slim image, Python 3.13)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
IMAGE=${DRIFTGATE_IMAGE_TAG:-driftgate:test}
CACHE_DIR=${DRIFTGATE_CONTAINER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/driftgate/container}
# The daemon's pid and log live in the checkout's gitignored .driftgate/ (and outside the
# build context: .dockerignore is an allow-list).
STATE_DIR=$ROOT/.driftgate/container
DOCKERD_TIMEOUT=${DRIFTGATE_DOCKERD_TIMEOUT:-60}
DOCKERD_STORAGE=${DRIFTGATE_DOCKERD_STORAGE:-vfs}
# The stand-in for the official slim Python image has what that has and no more: Python with its
# venv module (python3-venv), the CA store; no git (the Dockerfile brings git's core, and
# counts it among the layers it adds).
BASE_PACKAGES=python3,python3-venv,ca-certificates
# The release the official slim Python image the Dockerfile defaults to is built on, whatever
# release the host runs: debootstrap knows releases newer than its own, and the host's mirror
# serves them.
BASE_RELEASE=${DRIFTGATE_BASE_RELEASE:-trixie}

log() { printf '[container %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  printf '[container] FAILED: %s\n' "$*" >&2
  exit 1
}
# The last lines of a log file, to show with a failure.
tail_of() { sed 's/^/    | /' < <(tail -n "${2:-40}" "$1") >&2; }
# dockerd's log without its chatter (info lines): what says why it failed.
dockerd_log_tail() { sed 's/^/    | /' < <(grep -v 'level=info' "$1" | tail -n 25) >&2; }

need_root() {
  [[ $(id -u) == 0 ]] || die "$1 needs root (run this script as root, or start it once by hand)"
}

apt_updated=false
apt_install() {
  need_root "installing $*"
  if [[ $apt_updated == false ]]; then
    log "apt-get update"
    apt-get update -qq >"$STATE_DIR/apt.log" 2>&1 || {
      tail_of "$STATE_DIR/apt.log"
      die "apt-get update failed"
    }
    apt_updated=true
  fi
  log "installing Debian packages: $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
    >>"$STATE_DIR/apt.log" 2>&1 || {
    tail_of "$STATE_DIR/apt.log"
    die "apt-get install $* failed"
  }
}

# ------------------------------------------------------------------------------ the daemon

daemon_answers() { docker info >/dev/null 2>&1; }

ensure_daemon() {
  if daemon_answers; then
    log "docker daemon answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
    return
  fi
  # The docker client may be installed without an engine (it is on these machines): check
  # for the daemon itself. Debian's docker.io brings dockerd, containerd and runc.
  command -v dockerd >/dev/null 2>&1 || apt_install docker.io
  command -v docker >/dev/null 2>&1 || die "docker.io is installed but there is no docker client"
  need_root "starting dockerd"

  # vfs: works on any filesystem, overlay-on-overlay included (slow and disk-hungry, so the
  # images stay small). No iptables and no bridge: these machines have no netfilter to
  # program; containers use --network host instead.
  local log_file=$STATE_DIR/dockerd.log
  log "starting dockerd, storage driver $DOCKERD_STORAGE (log: $log_file)"
  # A pid file left by a daemon that died would stop the new one from starting.
  if [[ -f /var/run/docker.pid ]] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    rm -f /var/run/docker.pid
  fi
  setsid nohup dockerd --storage-driver="$DOCKERD_STORAGE" --iptables=false --bridge=none \
    >"$log_file" 2>&1 </dev/null &
  echo $! >"$STATE_DIR/dockerd.pid"

  local deadline=$((SECONDS + DOCKERD_TIMEOUT))
  until daemon_answers; do
    if ! kill -0 "$(cat "$STATE_DIR/dockerd.pid")" 2>/dev/null; then
      dockerd_log_tail "$log_file"
      die "dockerd exited while starting (its log above; all of it in $log_file)"
    fi
    if ((SECONDS >= deadline)); then
      dockerd_log_tail "$log_file"
      die "dockerd did not answer within ${DOCKERD_TIMEOUT}s (its log above; all of it in $log_file)"
    fi
    sleep 0.5
  done
  log "dockerd answers after $((SECONDS - deadline + DOCKERD_TIMEOUT))s"
}

stop_daemon() {
  local pid_file=$STATE_DIR/dockerd.pid
  if [[ ! -f $pid_file ]]; then
    log "no dockerd started by this script"
    return
  fi
  local pid
  pid=$(cat "$pid_file")
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping dockerd (pid $pid)"
    kill -TERM "$pid"
    # dockerd stops its containers and its containerd first; give it time.
    for _ in $(seq 1 60); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -0 "$pid" 2>/dev/null && die "dockerd (pid $pid) did not stop within 30s"
  fi
  rm -f "$pid_file"
}

# ------------------------------------------------------------------------------ the base image

# The host's Debian release and the archive its apt is configured with: the base image comes
# from the same mirror (whatever this machine's sources say).
host_release() {
  # shellcheck disable=SC1091  # the host's file, read at run time
  (. /etc/os-release && echo "${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}")
}

# The archive serving `release`: the one the host's apt lists for it, else the one that serves
# the host's own release (a mirror of Debian's archive serves every release).
host_mirror() {
  local release=$1 own
  own=$(host_release)
  # shellcheck disable=SC2016  # $(...) here is apt's template syntax, not the shell's
  apt-get indextargets --no-release-info --format '$(REPO_URI) $(RELEASE) $(TARGET_OF)' |
    awk -v r="$release" -v own="$own" '
      $3 != "deb" { next }
      $2 == r { print $1; found = 1; exit }
      $2 == own && fallback == "" { fallback = $1 }
      END { if (!found && fallback != "") print fallback }'
}

# CA certificates this host added to its trust store (a TLS-inspecting proxy's, say): the
# base image trusts them too, so that pip and uv reach the package index from `docker build`
# the way they do from the host.
local_cas() { find /usr/local/share/ca-certificates -type f -name '*.crt' 2>/dev/null | sort; }

ensure_base_image() {
  local release=$BASE_RELEASE arch key tag
  arch=$(dpkg --print-architecture)
  # The image is rebuilt when anything that goes into it changes.
  key=$(
    {
      echo "$release $arch $BASE_PACKAGES v1"
      local_cas | xargs -r cat
    } | sha256sum | cut -c1-16
  )
  tag=driftgate-base:$release
  BASE_IMAGE=$tag

  if [[ $(docker image inspect --format '{{index .Config.Labels "driftgate.base-key"}}' "$tag" 2>/dev/null) == "$key" ]]; then
    log "base image $tag is up to date"
    return
  fi

  # Cached between runs, outside the checkout (CI clones afresh each time): a tarball that
  # `docker import` turns back into the image in seconds if the daemon's storage was wiped.
  local tarball=$CACHE_DIR/debian-$release-$arch-$key.tar
  if [[ ! -s $tarball ]]; then
    build_base_tarball "$release" "$tarball"
  fi
  log "importing $tarball as $tag"
  # An imported image has no configuration: give it what Debian's official image has.
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change "LABEL driftgate.base-key=$key" \
    --change 'CMD ["bash"]' \
    "$tarball" "$tag" >/dev/null
}

build_base_tarball() {
  local release=$1 tarball=$2 mirror rootfs
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
  need_root "debootstrap"
  mirror=$(host_mirror "$release")
  [[ -n $mirror ]] || die "no apt source for $release in this machine's apt configuration"

  mkdir -p "$CACHE_DIR"
  rootfs=$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")
  # shellcheck disable=SC2064  # expand now: the trap must remove this very folder
  trap "rm -rf '$rootfs'" EXIT
  log "debootstrap $release (minbase + $BASE_PACKAGES) from $mirror"
  if ! debootstrap --variant=minbase --include="$BASE_PACKAGES" "$release" "$rootfs" "$mirror" \
    >"$STATE_DIR/debootstrap.log" 2>&1; then
    tail_of "$STATE_DIR/debootstrap.log"
    die "debootstrap failed (log: $STATE_DIR/debootstrap.log)"
  fi

  local ca
  while read -r ca; do
    [[ -n $ca ]] && cp "$ca" "$rootfs/usr/local/share/ca-certificates/"
  done < <(local_cas)
  chroot "$rootfs" update-ca-certificates >/dev/null 2>&1 || die "update-ca-certificates failed in the base"

  # What the official images leave out too: package lists and caches, docs, man pages,
  # translations; and this host's resolver and name (docker provides its own at run time).
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/cache/debconf/*-old \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
    "$rootfs"/usr/share/locale/* "$rootfs"/var/log/* "$rootfs"/tmp/*
  : >"$rootfs/etc/resolv.conf"
  echo localhost >"$rootfs/etc/hostname"

  tar --numeric-owner -C "$rootfs" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf "$rootfs"
  trap - EXIT
  log "base tarball $(du -h "$tarball" | cut -f1) at $tarball"
}

# ------------------------------------------------------------------------------ the Action's image

docker_build() {
  local build_log=$1
  shift
  # --network host: the build stage installs from the package index through the host's network
  # (no bridge here).
  docker build --network host --build-arg "BASE_IMAGE=$BASE_IMAGE" "$@" "$ROOT" >>"$build_log" 2>&1 || {
    tail_of "$build_log" 60
    die "docker build failed (log: $build_log)"
  }
}

build_image() {
  local build_log=$STATE_DIR/build.log start=$SECONDS
  : >"$build_log"
  log "building $IMAGE from $ROOT/Dockerfile on $BASE_IMAGE"
  # The build stage gets a tag of its own: an untagged stage is a dangling image, which the
  # prune below would take, and its cached dependency layers with it.
  docker_build "$build_log" --target build --tag "$IMAGE-build"
  docker_build "$build_log" --tag "$IMAGE"
  # Each source change leaves the previous image's layers behind, and with vfs every layer is
  # a full copy of the file system: drop those (only images built on our base carry its label).
  docker image prune --force --filter label=driftgate.base-key >/dev/null
  log "built $IMAGE in $((SECONDS - start))s ($(docker image inspect --format '{{.Size}}' "$IMAGE" |
    awk '{ printf "%.0f MB", $1 / 1e6 }'))"
}

ensure_image() {
  ensure_daemon
  ensure_base_image
  build_image
}

# ------------------------------------------------------------------------------ scenarios

# The scenarios are pytest tests (tests/container/test_*.py, marker `container`) that run the
# image through harness.py the way the runner does: adding one is adding a test there.
run_scenarios() {
  local uv=(uv)
  command -v uv >/dev/null 2>&1 || uv=(python3 -m uv)
  log "running the container scenarios"
  cd "$ROOT"
  # The base and the cache too: the size test compares the image with its base, and the
  # scenarios keep what they fetch (another Python) where this script keeps its tarball.
  DRIFTGATE_CONTAINER_TESTS=1 DRIFTGATE_IMAGE="$IMAGE" DRIFTGATE_BASE_IMAGE="$BASE_IMAGE" \
    DRIFTGATE_CONTAINER_CACHE="$CACHE_DIR" \
    "${uv[@]}" run --frozen pytest tests/container -m container "$@"
}

main() {
  mkdir -p "$STATE_DIR"
  local command=${1:-all}
  case $command in
  all | -*)
    if [[ $# -gt 0 && $1 == all ]]; then shift; fi
    ensure_image
    run_scenarios "$@"
    ;;
  image)
    ensure_image
    echo "$IMAGE"
    ;;
  stop) stop_daemon ;;
  *) die "unknown command '$command' (all, image, stop)" ;;
  esac
}

main "$@"
