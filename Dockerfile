# ferry serve in a container (docs/deploy.md#docker):
#
#   docker build -t ferry --build-arg VERSION=$(git describe --always) .
#   docker run -d -p 8080:8080 -v ferry-data:/data \
#     -v $PWD/ferry.yaml:/etc/ferry/ferry.yaml:ro -e FERRY_API_TOKEN=... ferry
#
# The config must set `store: /data/ferry.db` (the volume) and
# server.tokens: the server listens on 0.0.0.0, which ferry refuses
# without an API token.

# Build: a static binary (the SQLite driver is pure Go, so no cgo), with
# the time zone database built in for schedules with a timezone:.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -tags timetzdata \
      -ldflags "-s -w -X github.com/ferry-dev/ferry/internal/cli.Version=${VERSION}" \
      -o /out/ferry ./cmd/ferry \
 && mkdir -p /out/data

# Run: no shell, no package manager; CA certificates for HTTPS systems.
# 65532 is distroless's "nonroot" user; numeric, so runAsNonRoot can check it.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ferry /usr/local/bin/ferry
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/ferry", "serve", "--listen", "0.0.0.0:8080", "-c", "/etc/ferry/ferry.yaml"]
