# syntax=docker/dockerfile:1
# The broker's image: built with the dev dependencies, run with the runtime files only
# (dist/, drizzle/, the production node_modules/) as an unprivileged user.
#   docker build -t message-broker .            (compose.yaml builds and runs it with Redis and MariaDB)
#   docker run --rm message-broker --help       (arguments go to dist/supervisor.js)
# Configuration: MB_* variables (MB_REDIS_URL, MB_DATABASE_URL, …) or a config file
# mounted and named with --config. Its working directory, /var/lib/message-broker, holds
# the volumes certs/, data/ and logs/ (the config's relative defaults point there).
# The checks of this file are test/deploy/dockerfile.test.ts (no hadolint on the CI host).

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/copy-runtime-files.mjs scripts/
COPY src/ src/
# tsc, then the Lua scripts, views and portal assets beside the compiled code.
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /opt/message-broker
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /build/dist/ dist/
COPY drizzle/ drizzle/
RUN groupadd --system --gid 10001 mb \
  && useradd --system --uid 10001 --gid mb --home-dir /var/lib/message-broker --shell /usr/sbin/nologin mb \
  && install -d -o mb -g mb -m 0700 /var/lib/message-broker /var/lib/message-broker/certs /var/lib/message-broker/data \
  && install -d -o mb -g mb -m 0750 /var/lib/message-broker/logs \
  && ln -s /opt/message-broker/dist/cli.js /usr/local/bin/mb

USER mb:mb
WORKDIR /var/lib/message-broker
# Redis and MariaDB are services of their own here: never start embedded ones.
ENV MB_REDIS_EMBEDDED=never \
    MB_DATABASE_EMBEDDED=never
EXPOSE 8443
VOLUME ["/var/lib/message-broker/certs", "/var/lib/message-broker/data", "/var/lib/message-broker/logs"]

# Liveness over the broker's own HTTPS port (no curl in the slim image). /healthz needs
# no client certificate; the probe sends nothing, so the server certificate is not checked.
# start-period: the first start creates the CA (RSA-4096) and applies the migrations.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["node", "-e", "require('node:https').get({host:'127.0.0.1',port:process.env.MB_SERVER_PORT||8443,path:'/healthz',rejectUnauthorized:false,timeout:4000},(r)=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"]

# SIGTERM is the graceful shutdown (stop accepting, drain requests and actors, exit 0);
# give it time: docker stop -t 45, compose's stop_grace_period.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/opt/message-broker/dist/supervisor.js"]
CMD []
