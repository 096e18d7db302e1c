# Every image this project builds, for amd64 and arm64, with `docker buildx bake` (see
# docs/deploying.md#images-for-amd64-and-arm64). Tags and build contexts are the ones
# docker-compose.yml uses.
#   docker buildx bake --push                                 both platforms, to a registry
#   docker buildx bake --load --set '*.platform=linux/arm64'   one platform, into local Docker
# REGISTRY prefixes every tag, e.g. REGISTRY=ghcr.io/you/ docker buildx bake --push.

variable "REGISTRY" {
  default = ""
}

group "default" {
  targets = ["app", "frontend", "loadgen"]
}

# Every base image (python:3.11-slim-bookworm, nginxinc/nginx-unprivileged, locustio/locust) is
# published for both platforms.
target "_multi-arch" {
  platforms = ["linux/amd64", "linux/arm64"]
}

# The three Python services and init-db.
target "app" {
  inherits   = ["_multi-arch"]
  context    = "."
  dockerfile = "Dockerfile"
  tags       = ["${REGISTRY}tracing-demo/app:0.1.0"]
}

# nginx with the page.
target "frontend" {
  inherits   = ["_multi-arch"]
  context    = "frontend"
  dockerfile = "Dockerfile"
  tags       = ["${REGISTRY}tracing-demo/frontend:0.1.0"]
}

# Locust with the demo's shoppers.
target "loadgen" {
  inherits   = ["_multi-arch"]
  context    = "loadgen"
  dockerfile = "Dockerfile"
  tags       = ["${REGISTRY}tracing-demo/loadgen:0.1.0"]
}
