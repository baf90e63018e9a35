#!/usr/bin/env bash
# The practical floor: the same deploy (fetch, export, link, config, make deploy,
# migrate, switch, restart, health check) as one script over one SSH session,
# with none of deployctl's safety. Reads the config file on stdin.
# Usage: floor.sh REF RELEASE_ID
set -euo pipefail
ref=$1 id=$2 app=/srv/sample
config=$(cat)
cd "$app"
git --git-dir=repo fetch --quiet --prune origin
commit=$(git --git-dir=repo rev-parse "$ref^{commit}")
release=$app/releases/$id
mkdir "$release"
git --git-dir=repo archive "$commit" | tar -x -C "$release"
echo "$commit" > "$release/REVISION"
for dir in log tmp/pids tmp/cache tmp/sockets storage; do
  rm -rf "${release:?}/$dir"; mkdir -p "$(dirname "$release/$dir")"; ln -s "$app/shared/$dir" "$release/$dir"
done
chown -R sample:sample "$release"
install -m 0640 -o root -g sample /dev/stdin "$release/config/production.yml" <<<"$config"
cd "$release"
runuser -u sample -- env -i HOME=/home/sample PATH=/usr/bin:/bin RAILS_ENV=production make deploy >/dev/null
runuser -u sample -- env -i HOME=/home/sample PATH=/usr/bin:/bin RAILS_ENV=production bin/rails db:migrate >/dev/null
ln -sfn "releases/$id" "$app/current.tmp" && mv -T "$app/current.tmp" "$app/current"
systemctl restart sample
for _ in $(seq 120); do
  curl -fs http://127.0.0.1:3000/up | grep -q "$commit" && exit 0
  sleep 0.25
done
exit 1
