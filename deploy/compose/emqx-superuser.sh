#!/bin/sh
# compose.yaml's emqx-setup: makes "switchboard" (password MQTT_PASSWORD) a
# superuser of EMQX's built-in database, so the replicas' own connection
# skips the authorizer (they publish on every conversation and read the
# shared subscription). Adds the user, or updates its password when it
# exists, then exits 0; any other answer fails the setup and the replicas
# do not start.
set -eu

login=$(curl -fsS -X POST "$EMQX_API/login" -H 'content-type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$EMQX_DASHBOARD_PASSWORD\"}")
token=$(printf '%s' "$login" | sed -n 's/.*"token" *: *"\([^"]*\)".*/\1/p')
[ -n "$token" ] || { echo "emqx-setup: no token in the login answer" >&2; exit 1; }

users="$EMQX_API/authentication/password_based%3Abuilt_in_database/users"
status=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$users" \
  -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d "{\"user_id\":\"switchboard\",\"password\":\"$MQTT_PASSWORD\",\"is_superuser\":true}")
case "$status" in
  201) echo "emqx-setup: created the superuser switchboard" ;;
  409)
    curl -fsS -o /dev/null -X PUT "$users/switchboard" \
      -H "authorization: Bearer $token" -H 'content-type: application/json' \
      -d "{\"password\":\"$MQTT_PASSWORD\",\"is_superuser\":true}"
    echo "emqx-setup: updated the superuser switchboard" ;;
  *) echo "emqx-setup: adding the superuser answered HTTP $status" >&2; exit 1 ;;
esac
