# streamshare gateway image.
#
#   docker build -t streamshare .
#   docker run -p 8080:8080 \
#     -e STREAMSHARE_KAFKA_BROKERS=kafka:9092 \
#     -e STREAMSHARE_SIGNING_KEYS=/run/secrets/signing-keys.json \
#     -e STREAMSHARE_GATEWAY_SECRET=... \
#     -v ./signing-keys.json:/run/secrets/signing-keys.json:ro streamshare
#
# The image runs with NODE_ENV=production, and then the gateway refuses to start
# without real key material (it never generates development keys in production):
#   STREAMSHARE_SIGNING_KEYS    path of a JWK Set file with the private signing keys
#                               (`streamshare keys generate` prints one)
#   STREAMSHARE_GATEWAY_SECRET  at least 32 characters; keys cursor MACs, so every
#                               instance of one deployment needs the same value
# For a local demo, NODE_ENV=development + STREAMSHARE_DEV_STATE_DIR=/state (a volume)
# generates both once (see deploy/docker-compose.yml).
#
# Listeners: 8080 partner (data plane, 0.0.0.0), 8081 admin (binds 127.0.0.1 unless
# STREAMSHARE_ADMIN_HOST is set; publish it only to trusted networks).

# --- build: compile TypeScript -------------------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- runtime: production dependencies + compiled output ------------------------
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY policies ./policies
# Application files stay root-owned (read-only for the process). /state is the only
# writable place: development state when NODE_ENV=development; a named volume mounted
# there inherits this ownership.
RUN mkdir -m 0700 /state && chown node:node /state
USER node
EXPOSE 8080 8081
# Liveness of the process only (no curl in slim images); /livez never depends on Kafka.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.STREAMSHARE_ADMIN_PORT||8081)+'/livez').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form: node is PID 1 and receives SIGTERM itself (graceful shutdown), no npm or shell.
CMD ["node", "dist/main.js"]
