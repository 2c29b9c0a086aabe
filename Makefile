# Thin façade over `cargo xtask`: every target here is one xtask command, which prints each
# command it runs. `make help` lists targets and variables.

CARGO ?= cargo
DOCKER ?= docker
BUILD_VARIANT ?= production
IMAGE ?=
TAG ?=
VERSION ?=
COMMIT_SHA ?=
PLATFORMS ?=
LIBC ?=
REGISTRY ?=
# ENGINE=none: no Docker engine; the native build, the image assembled by the tool (an OCI
# layout and an archive under target/xtask/image/; with REGISTRY, pushed by skopeo).
ENGINE ?=
DOCKER_BUILD_FLAGS ?=
# A token for private git dependencies: `cargo xtask docker build` reads it from the
# environment and passes it only as the BuildKit secret `git_token` (never a build argument).
GH_PAT ?=
export GH_PAT

# Only the variables that are set become flags, so the xtask's defaults apply otherwise.
docker_args = --docker "$(DOCKER)" \
	$(if $(IMAGE),--image "$(IMAGE)") \
	$(if $(TAG),--tag "$(TAG)") \
	$(if $(VERSION),--version "$(VERSION)") \
	$(if $(COMMIT_SHA),--commit "$(COMMIT_SHA)") \
	$(if $(REGISTRY),--registry "$(REGISTRY)") \
	$(if $(LIBC),--libc "$(LIBC)") \
	$(if $(ENGINE),--engine "$(ENGINE)") \
	$(if $(filter 1 true yes,$(SMOKE)),--smoke) \
	$(if $(strip $(DOCKER_BUILD_FLAGS)),--docker-flags="$(DOCKER_BUILD_FLAGS)")

.PHONY: help build build.production test bench docker.build.dev docker.build.optimized ci-optims

help: ## this list
	@echo "targets:"
	@grep -E '^[a-z.-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | awk -F'\t' '{printf "  %-24s %s\n", $$1, $$2}'
	@echo "variables (docker targets):"
	@echo "  BUILD_VARIANT       production (default) or development   [docker.build.optimized]"
	@echo "  PLATFORMS           comma-separated: linux/amd64,linux/arm64 (default for production)"
	@echo "  LIBC                gnu (default) or musl: static binaries, every platform in one cargo-zigbuild run"
	@echo "  IMAGE, TAG          image name (default: the service binary) and tag (default: the variant)"
	@echo "  VERSION, COMMIT_SHA what the binary reports on /version (default: package version, git HEAD)"
	@echo "  REGISTRY            push each platform there and join them into one manifest list"
	@echo "  SMOKE=1             run this machine's image first: the service must answer health and version"
	@echo "  ENGINE=none         no Docker engine: native build, image assembled by the tool (OCI layout, docker-load archive; skopeo pushes)"
	@echo "  DOCKER              the docker client (default: docker)"
	@echo "  DOCKER_BUILD_FLAGS  extra docker build flags, e.g. '--network host --cache-from reg/img:tag'"
	@echo "  GH_PAT              token for private git dependencies (a BuildKit secret, never a build arg)"

build: ## native debug build (cargo xtask build --variant dev)
	$(CARGO) xtask build --variant dev

build.production: ## optimized binaries for every target into dist/
	$(CARGO) xtask build --variant production

test: ## every test (the README's test command)
	$(CARGO) test --workspace

bench: ## compare build times against the saved baseline
	$(CARGO) xtask bench --compare

ci-optims: ## regenerate ci_optims/ after a dependency change
	$(CARGO) xtask ci-optims sync

docker.build.dev: ## image for linux/amd64, development variant: the fastest to build
	$(CARGO) xtask docker build --variant development $(if $(PLATFORMS),--platforms "$(PLATFORMS)") $(docker_args)

docker.build.optimized: ## release image(s): BUILD_VARIANT, PLATFORMS built in parallel; pushed and joined with REGISTRY
	$(CARGO) xtask docker build --variant "$(BUILD_VARIANT)" $(if $(PLATFORMS),--platforms "$(PLATFORMS)") $(docker_args)
