# syntax=docker/dockerfile:1
# Switchboard's container image. Build: docker build -t switchboard .
# Run:   docker run -p 3000:3000 -v switchboard-data:/data switchboard
# The build stage installs everything and runs scripts/stage.sh (build the
# web apps, drop the dev dependencies, assemble the runtime tree); the
# runtime stage is that tree on Node 20 slim, nothing else. The same script
# runs in test/integration/staged-image.test.ts, without Docker.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
# dependencies first, so a source change reuses the installed layer
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN sh scripts/stage.sh /out

FROM ${NODE_IMAGE} AS runtime
ARG NODE_IMAGE
ARG VERSION=0.1.0
# docker build --build-arg REVISION=$(git rev-parse HEAD) records the commit
ARG REVISION=unknown
LABEL org.opencontainers.image.title="Switchboard" \
      org.opencontainers.image.description="Self-hostable customer-service chat platform with a fair, capacity-aware agent allocation engine" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"

# Listen on every interface inside the container; the embedded store lives
# in the /data volume. Everything else is the same environment as npm start.
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data

WORKDIR /app
# The program belongs to root and is read-only to the user it runs as; only
# /data is the user's (the official image's unprivileged "node", uid 1000).
COPY --from=build /out /app
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000

# /healthz answers 200 while the database answers (503 otherwise).
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# node runs as PID 1 (exec form, no shell in between): SIGTERM reaches the
# handler in src/main.ts, which drains requests, closes the broker and the
# store, and exits 0. It spawns no children, so no zombie reaper is needed
# (run with --init, or init: true in compose, if you prefer one anyway).
STOPSIGNAL SIGTERM
CMD ["node", "bin/switchboard.js", "serve"]
