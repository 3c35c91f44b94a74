# holdfast image: Node.js 24 LTS, the built CLI, production dependencies only.
# Build: docker build -t holdfast .      Run: docker run holdfast resolver --help
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
COPY cli ./cli
COPY common ./common
COPY resolver ./resolver
COPY publisher ./publisher
COPY snapshot ./snapshot
COPY bench ./bench
# `npm ci` runs `prepare`, which compiles TypeScript into dist/; then drop dev dependencies.
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:24-bookworm-slim
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/bin ./bin
COPY --from=build /app/dist ./dist
COPY demo ./demo
# Binding port 53 needs CAP_NET_BIND_SERVICE (granted by the DaemonSet); nothing else runs as root.
USER node
ENTRYPOINT ["node", "/app/bin/holdfast"]
CMD ["resolver", "--help"]
