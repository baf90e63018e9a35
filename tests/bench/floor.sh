#!/usr/bin/env bash
# The practical floor: the work of a deploy as plain bash, with none of deployctl's
# safety. deploy_speed.py runs it in deployctl's shape, one SSH session per host per
# phase: stage on every host at once, migrate on the first host, switch on every host at once.
#   floor.sh stage REF ID   fetch into the mirror, export REF's commit into releases/ID, link
#                           the shared dirs, write the config (read on stdin), chown, make deploy;
#                           prints "staged". When REF's commit is live already: only checks the
#                           health URL, prints "live".
#   floor.sh migrate ID     bin/rails db:migrate in releases/ID
#   floor.sh switch ID      point current at releases/ID, restart, poll the health URL until
#                           it shows the commit
set -euo pipefail
app=/srv/sample

as_app() {
  runuser -u sample -- env -i HOME=/home/sample PATH=/usr/bin:/bin RAILS_ENV=production "$@" >/dev/null
}

healthy() {
  for _ in $(seq 120); do
    curl -fs http://127.0.0.1:3000/up | grep -q "$1" && return 0
    sleep 0.25
  done
  return 1
}

case $1 in
stage)
  ref=$2 release=$app/releases/$3
  config=$(cat)
  cd "$app"
  git --git-dir=repo fetch --quiet --prune origin
  commit=$(git --git-dir=repo rev-parse "$ref^{commit}")
  if [[ $(cat current/REVISION 2>/dev/null) == "$commit" ]]; then
    healthy "$commit"
    echo live
    exit
  fi
  mkdir "$release"
  git --git-dir=repo archive "$commit" | tar -x -C "$release"
  echo "$commit" >"$release/REVISION"
  for dir in log tmp/pids tmp/cache tmp/sockets storage; do
    rm -rf "${release:?}/$dir"
    mkdir -p "$(dirname "$release/$dir")"
    ln -s "$app/shared/$dir" "$release/$dir"
  done
  chown -R sample:sample "$release"
  install -m 0640 -o root -g sample /dev/stdin "$release/config/production.yml" <<<"$config"
  cd "$release"
  as_app make deploy
  echo staged
  ;;
migrate)
  cd "$app/releases/$2"
  as_app bin/rails db:migrate
  ;;
switch)
  ln -sfn "releases/$2" "$app/current.tmp" && mv -T "$app/current.tmp" "$app/current"
  systemctl restart sample
  healthy "$(cat "$app/releases/$2/REVISION")"
  ;;
*)
  echo "usage: floor.sh stage REF ID | migrate ID | switch ID" >&2
  exit 2
  ;;
esac
