# syntax=docker/dockerfile:1
# switchyard container image (see deploy/README.md).
#   docker build -t switchyard .
#   docker run --rm --read-only -p 8080:8080 -v "$PWD/my.yaml:/etc/switchyard/switchyard.yaml:ro" \
#     switchyard -c /etc/switchyard/switchyard.yaml
# or give the whole file in SWITCHYARD_CONFIG_YAML (a path in SWITCHYARD_CONFIG works too).
#
# Stage 1 builds the npm package exactly as `npm pack` makes it (JavaScript in dist/, the files
# listed in package.json "files") and installs its production dependencies next to it.
# Stage 2 is that directory on a clean Node image: no dev dependencies, no TypeScript sources,
# no npm run at start. scripts/check-image-files.ts checks that the copies here match the
# package's file list. At start the entry point re-executes Node once (same pid) with its V8 heap
# flags (src/runtime/heap-flags.ts; SWITCHYARD_HEAP_FLAGS replaces them).
# Both stages use the same base: change the two FROM lines together (pin a digest for reproducible builds).
FROM node:24-slim AS build
WORKDIR /src
# Dependencies first, cached while only the sources change. --ignore-scripts: the `node` dev
# dependency's installer would fetch a second Node binary that this stage does not use.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json README.md ./
COPY scripts/build-dist.ts scripts/
COPY bin/ bin/
COPY src/ src/
COPY conf/switchyard.yaml conf/
RUN node scripts/build-dist.ts \
 && npm pack --ignore-scripts --pack-destination /tmp \
 && mkdir /app \
 && tar -xzf /tmp/switchyard-*.tgz -C /app --strip-components=1 \
 && cp package-lock.json /app/ \
 && cd /app \
 && npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
# root-owned and not writable by the user that runs: the code cannot be changed at run time
COPY --from=build /app /app
# numeric, so Kubernetes runAsNonRoot can verify it (1000 is the image's "node" user)
USER 1000:1000
EXPOSE 8080 9090
# Node handles TERM (graceful stop within shutdown_timeout), INT, QUIT and HUP (reload) itself,
# also as PID 1; it starts no other programs, so there are no orphans to reap (add --init if you like).
STOPSIGNAL SIGTERM
# no curl in slim images: Node's fetch asks the admin listener (set admin.listen to 127.0.0.1:9090,
# or point SWITCHYARD_HEALTH_URL elsewhere)
ENV SWITCHYARD_HEALTH_URL=http://127.0.0.1:9090/healthz
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.SWITCHYARD_HEALTH_URL,{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# logs go to stdout; nothing is written to disk unless pid_file / --pid-file points at a writable
# path (mount a tmpfs, e.g. /run/switchyard), so --read-only works
ENTRYPOINT ["node", "/app/bin/switchyard.js"]
