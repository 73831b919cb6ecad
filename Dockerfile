# syntax=docker/dockerfile:1
# tusport in a container. Build: docker build -t tusport .   Run: see docs/CONTAINER.md.
#
# test/e2e/container.test.ts reads this file and replays it without a Docker engine: the build
# stage's npm pack, the runtime stage's COPY lines and `npm ci --omit=dev` in a clean directory,
# then ENTRYPOINT + CMD as an unprivileged user, an upload, HEALTHCHECK's command and STOPSIGNAL. It knows the
# RUN lines below one by one and fails on a new one until it is taught it: keep them few.

# ---- build: compile TypeScript and pack exactly what `npm publish` would ship ----------------
FROM node:24-slim AS build
WORKDIR /build
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY . .
# `npm pack` runs prepack (a clean `npm run build`) and keeps the package's `files`; unpacked it
# is the image's application directory, so the image and the npm package cannot drift apart.
RUN npm pack --pack-destination /tmp && tar -xzf /tmp/tusport-*.tgz -C /build

# ---- runtime: production dependencies only, non-root ------------------------------------------
FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /build/package/ ./
# The lockfile pins the production dependencies to what the tests ran against.
COPY package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --no-audit --no-fund
COPY docker/tusport.yaml /etc/tusport/tusport.yaml
RUN mkdir -p /data && chown node:node /data

# The application stays root-owned and read-only for the server; it writes only to /data (store
# directories and the hook outbox, relative to the working directory in the default config).
USER node
WORKDIR /data
VOLUME ["/data"]

# Config: the default file below, or mount yours over it (or elsewhere and set TUSPORT_CONFIG).
# Environment overrides any key: TUSPORT_HOST, TUSPORT_PORT, TUSPORT__<KEY>__<KEY>=value.
ENV TUSPORT_CONFIG=/etc/tusport/tusport.yaml \
    TUSPORT_HOST=0.0.0.0 \
    TUSPORT_PORT=1080
EXPOSE 1080

# No curl in the slim image: Node's fetch. Follows TUSPORT_PORT; a port set only in a mounted
# config file needs TUSPORT_PORT set to match (or this check fails).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.TUSPORT_PORT || 1080}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# tusport stops accepting on SIGTERM, lets in-flight requests finish for server.shutdownTimeout
# (8 s in the default config, under `docker stop`'s 10 s before SIGKILL) and exits 0. Node runs
# as PID 1 and handles the signal itself; `docker run --init` (compose: init: true) adds a reaper
# for the children of command hooks.
STOPSIGNAL SIGTERM
# `docker run tusport` serves; `docker run tusport --version` / `token ...` / `cleanup` run the CLI.
ENTRYPOINT ["node", "/app/bin/tusport.js"]
CMD ["serve"]
