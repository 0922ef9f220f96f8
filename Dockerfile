# modelpipe container image. Built from the repository root:
#   docker build -t modelpipe:0.1.0 .
# Its ENTRYPOINT and CMD are the Deployment's command and args (src/deploy/manifests.ts);
# test/deploy/dockerfile.test.ts checks they stay identical. See deploy/README.md.

# ---- build: compile TypeScript with the dev dependencies ----
FROM node:20-bookworm-slim AS build
WORKDIR /app
# Native modules (better-sqlite3, lmdb) fall back to compiling when no prebuilt binary fits.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json .npmrc ./
RUN npm ci
COPY tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
COPY test ./test
COPY bench ./bench
COPY examples ./examples
RUN npx tsc -p . && node scripts/copy-assets.mjs

# ---- runtime: production dependencies only, non-root, tini as PID 1 ----
FROM node:20-bookworm-slim
# tini forwards SIGTERM to node (which drains, then exits) and reaps zombies.
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src
RUN groupadd --gid 10001 modelpipe && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin modelpipe \
  && mkdir -p /models /var/cache/modelpipe && chown modelpipe:modelpipe /var/cache/modelpipe
# Every setting is a MODELPIPE_* variable (any `serve` flag --foo-bar is MODELPIPE_FOO_BAR).
# The model: mount a directory holding one *.onnx file at /models, or set
# MODELPIPE_MODEL to an http(s) URL (downloaded once into MODELPIPE_DOWNLOAD_DIR).
ENV MODELPIPE_MODEL=/models \
    MODELPIPE_LISTEN=0.0.0.0:8080 \
    MODELPIPE_GRPC_LISTEN=0.0.0.0:8081 \
    MODELPIPE_DOWNLOAD_DIR=/var/cache/modelpipe \
    MODELPIPE_LOG_LEVEL=info
USER 10001:10001
EXPOSE 8080 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.MODELPIPE_LISTEN||':8080').split(':').pop()+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/dist/src/cli/main.js"]
CMD ["serve"]
