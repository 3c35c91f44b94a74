# holdfast: Node.js 24 LTS, the built `holdfast` command with its production
# dependencies, and the tools the resolver's node setup runs (ip, iptables).
#   docker build --build-arg REVISION=$(git rev-parse HEAD) -t holdfast:0.1.0 .
#   docker run --rm holdfast:0.1.0 resolver --help
# Deployed by deploy/ (deploy/README.md).

FROM node:24-bookworm-slim AS build
WORKDIR /app
# What `npm ci` reads, and every directory tsconfig.json includes (tsc compiles them all).
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
COPY cli ./cli
COPY common ./common
COPY resolver ./resolver
COPY publisher ./publisher
COPY snapshot ./snapshot
COPY bench ./bench
# As CI does (.ci/run): `npm ci` installs and runs `prepare`, which builds dist/; then the
# development dependencies are removed.
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="holdfast" \
      org.opencontainers.image.description="Node-local DNS cache for Kubernetes that keeps answering when the control plane does not" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/node:24-bookworm-slim"
# The resolver's node setup: ip (iproute2) for its interface and addresses, iptables (both
# the nft and the legacy backend) for the NOTRACK rules.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iproute2 iptables \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/bin ./bin
# The command's code; the benchmarks (dist/bench) stay behind.
COPY --from=build /app/dist/cli ./dist/cli
COPY --from=build /app/dist/common ./dist/common
COPY --from=build /app/dist/resolver ./dist/resolver
COPY --from=build /app/dist/publisher ./dist/publisher
COPY --from=build /app/dist/snapshot ./dist/snapshot
# Not root by default (the publisher runs so). The resolver's DaemonSet runs it as root
# with two capabilities, for reasons given there.
USER 65532:65532
ENTRYPOINT ["node", "/app/bin/holdfast"]
CMD ["--help"]
