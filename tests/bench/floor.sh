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
# The safe floor: the same work as deployctl's default deploy, still without its bookkeeping:
# with DUMP=1 migrate first dumps the database (pg_dump, as deploy_db_backup); with CANDIDATE=1
# switch first starts the release beside the live one on a side port and polls its health (as
# deploy_candidate_check), then stops it.
set -euo pipefail
app=/srv/sample
with_dump=${DUMP:-0} with_candidate=${CANDIDATE:-0}

as_app() {
  runuser -u sample -- env -i HOME=/home/sample PATH=/usr/bin:/bin RAILS_ENV=production "$@" >/dev/null
}

healthy() { # COMMIT [PORT]
  for _ in $(seq 120); do
    curl -fs "http://127.0.0.1:${2:-3000}/up" | grep -q "$1" && return 0
    sleep 0.25
  done
  return 1
}

# The database of config/production.yml (ruby: the app's own YAML), password in the environment only.
dump() {
  ruby -ryaml -e 'd = YAML.load_file("config/production.yml")["database"]
    ENV["PGPASSWORD"] = d["password"].to_s
    exec("pg_dump", "--format=custom", "--no-owner", "--no-privileges", "-h", d["host"], "-p", d["port"].to_s,
         "-U", d["username"], "-f", ARGV[0], d["name"])' "$app/floor.dump"
}

# The release on a side port, as the service would run it, until it answers with its commit.
candidate() {
  local release=$app/releases/$1
  systemd-run --quiet --unit sample-floor-candidate --uid sample --gid sample -p WorkingDirectory="$release" \
    -E PORT=13000 -E RAILS_ENV=production /usr/bin/bundle exec puma -C config/puma.rb
  healthy "$(cat "$release/REVISION")" 13000 || { systemctl stop sample-floor-candidate; return 1; }
  systemctl stop sample-floor-candidate
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
  if ((with_dump)); then dump; fi
  as_app bin/rails db:migrate
  ;;
switch)
  if ((with_candidate)); then candidate "$2"; fi
  ln -sfn "releases/$2" "$app/current.tmp" && mv -T "$app/current.tmp" "$app/current"
  systemctl restart sample
  healthy "$(cat "$app/releases/$2/REVISION")"
  ;;
*)
  echo "usage: floor.sh stage REF ID | migrate ID | switch ID" >&2
  exit 2
  ;;
esac
