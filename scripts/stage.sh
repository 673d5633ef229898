#!/bin/sh
# Builds the container image's runtime tree into OUT, from a checkout whose
# dependencies are installed in full (`npm ci`, dev dependencies included):
#
#   1. build the web apps (Vite, a dev dependency) into web/dist;
#   2. drop the dev dependencies (`npm prune --omit=dev`);
#   3. copy what `switchboard serve` runs into OUT: package.json, the lockfile,
#      bin/, src/ (TypeScript, loaded by tsx at start: no compile step),
#      web/dist/ and the production node_modules/.
#
# The Dockerfile's build stage runs this and the runtime stage copies OUT
# as it is; test/integration/staged-image.test.ts runs it too and starts the
# server from OUT, so a runtime that still needs a build tool or a dev
# dependency fails there, without a container engine.
set -eu

out=${1:?usage: scripts/stage.sh OUT_DIR}
cd "$(dirname "$0")/.."

node scripts/build-web.mjs
npm prune --omit=dev --no-audit --no-fund

mkdir -p "$out/web"
cp -R package.json package-lock.json bin src "$out/"
cp -R web/dist "$out/web/dist"
# moved, not copied: the pruned tree is the bulk of the image, and nothing
# in this checkout needs it once the web apps are built
mv node_modules "$out/node_modules"
echo "staged the runtime tree in $out"
